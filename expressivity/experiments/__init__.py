"""Experiments: run specs, the results store, sweeps, reports and reproductions.

Imported lazily by the CLI; importing it does not import dask or matplotlib.

Examples
--------
>>> from expressivity.experiments import RunSpec
>>> RunSpec(cell="gru", language="anbn").protocol
'weiss2018'
"""

from expressivity.experiments.spec import RunSpec, SpecError, load_specs, parse_specs
from expressivity.experiments.store import ResultsStore, StoreBusyError, StoreError
from expressivity.experiments.sweep import local_cluster, run_sweep

__all__ = [
    "ResultsStore",
    "RunSpec",
    "SpecError",
    "StoreBusyError",
    "StoreError",
    "load_specs",
    "local_cluster",
    "parse_specs",
    "run_sweep",
]
