"""expressivity: the formal expressivity of small recurrent networks under finite precision.

Fused numba kernels for the cells of ``docs/cells.md`` under an explicit
precision model, formal languages (:mod:`expressivity.languages`), training and
experiments, and analysis (:mod:`expressivity.analysis`).

Examples
--------
>>> import numpy as np
>>> import expressivity as ex
>>> net = ex.Network.create("lstm", alphabet="ab", hidden_size=4, head="next-symbol",
...                         rng=np.random.default_rng(0))
>>> net.states(["aabb"])[0].shape
(5, 8)
"""

from expressivity import _threads  # noqa: F401  (threading policy, before any kernel runs)
from expressivity._progress import install_compile_listener
from expressivity.cells import CELLS, CellSpec, Gate, get_cell, list_cells
from expressivity.network import Network
from expressivity.precision import Precision, parse_precision

__version__ = "0.1.0"

install_compile_listener()  # one line on the first compile of a kernel (see _progress)

__all__ = [
    "CELLS",
    "CellSpec",
    "Gate",
    "Network",
    "Precision",
    "get_cell",
    "list_cells",
    "load_weiss2018",
    "parse_precision",
]


def load_weiss2018(path, precision="float32", alphabet=None):
    """Load a network released with Weiss, Goldberg & Yahav (2018); see :mod:`expressivity.interop`."""
    from expressivity.interop import load_weiss2018 as _load

    return _load(path, precision=precision, alphabet=alphabet)
