"""Execute every notebook in notebooks/ at the quick size (one test per notebook).

Skipped when nbclient, nbformat or ipykernel is missing, and a notebook that
needs the released networks is skipped when ``shared/reference-networks/weiss2018``
is not beside the checkout.
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REFERENCE_NETWORKS = ROOT.parent / "shared" / "reference-networks"  # as in conftest.py


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_quick_size(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the kernel inherits this process's environment
    monkeypatch.setenv("EXPRESSIVITY_NOTEBOOK_SIZE", "quick")
    released = REFERENCE_NETWORKS / "weiss2018"
    if released.is_dir():
        monkeypatch.setenv("EXPRESSIVITY_REFERENCE_DIR", str(released))
    elif "assert REF is not None" in path.read_text():  # the notebook needs them
        pytest.skip(f"{path.stem} needs the released networks; not found at {released}")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors
    assert any(
        "quick" in o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    ), "the notebook did not report SIZE = quick"
