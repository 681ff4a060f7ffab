"""Package-level promises of architecture.md."""

import subprocess
import sys

HEAVY = ("numba.cuda", "dask", "distributed", "matplotlib", "graphviz", "torch")


def test_import_stays_light():
    """`import expressivity` (and its training, languages and analysis packages) loads
    none of numba.cuda, dask, matplotlib, graphviz or torch: they load where they are used."""
    code = (
        "import sys, expressivity, expressivity.training, expressivity.languages, "
        "expressivity.analysis\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        f"or m.startswith('numba.cuda'))\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
