"""Execute every notebook in notebooks/ at the quick size (one test per notebook).

Skipped when nbclient, nbformat or ipykernel is missing. A notebook whose
metadata says ``expressivity.needs_reference_networks`` is skipped, with a message
saying how to get them, when ``EXPRESSIVITY_REFERENCE_DIR`` is unset (the one
documented way to find the released networks); the others run without them
(02-weiss2018 then skips its comparison and says so once).
The kernel runs in a temporary folder, so the results a notebook writes under
its working directory stay out of the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_quick_size(
    path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nb = nbformat.read(path, as_version=4)
    needs = nb.metadata.get("expressivity", {}).get("needs_reference_networks", False)
    if needs and not os.environ.get("EXPRESSIVITY_REFERENCE_DIR"):
        pytest.skip(
            f"{path.stem} needs the released networks: set EXPRESSIVITY_REFERENCE_DIR to the "
            "folder holding weiss2018/ (see the README, 'The released networks')"
        )
    # the kernel inherits this process's environment
    monkeypatch.setenv("EXPRESSIVITY_NOTEBOOK_SIZE", "quick")
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors, errors
    text = [o.get("text", "") for o in _outputs(nb)]
    assert any("quick" in t for t in text), "the notebook did not report SIZE = quick"
    # no path of this machine in what the notebook shows (its saved outputs are the same)
    for t in text:
        assert str(tmp_path) not in t and str(ROOT) not in t, t
    if "weiss2018" in path.stem and not os.environ.get("EXPRESSIVITY_REFERENCE_DIR"):
        said = [t for t in text if "comparison skipped" in t]
        assert len(said) == 1 and "EXPRESSIVITY_REFERENCE_DIR" in said[0], said
