"""Package-level promises: light imports, and a wheel and repository that stand alone."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import expressivity

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


# ------------------------------------------------------------------ packaging
ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_subpackage_is_found_by_package_discovery():
    """A folder of modules without ``__init__.py`` is left out of the wheel by discovery."""
    setuptools = pytest.importorskip("setuptools")

    found = set(setuptools.find_packages(where=str(ROOT), include=["expressivity*"]))
    with_modules = {
        ".".join(d.relative_to(ROOT).parts)
        for d in (ROOT / "expressivity").rglob("*")
        if d.is_dir() and "__pycache__" not in d.parts and any(d.glob("*.py"))
    }
    assert with_modules <= found, sorted(with_modules - found)
    for sub in ("kernels", "training", "experiments", "languages", "analysis"):
        assert f"expressivity.{sub}" in found


def test_version_and_typing_marker_have_one_source():
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "expressivity.__version__"}
    assert isinstance(expressivity.__version__, str) and expressivity.__version__.count(".") >= 2
    assert (ROOT / "expressivity" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["expressivity"]


def test_requires_python_is_what_the_code_needs():
    """The code imports tomllib (3.11+); requires-python and ruff's target say so."""
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py311"


def test_torch_extra_is_a_range_and_interop_packages_are_tested():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert all("==" not in r for r in extras["torch"]), extras["torch"]
    test = " ".join(extras["test"])
    assert "aalpy" in test and "automata-lib" in test


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    return [ROOT / p for p in out.stdout.decode().split("\0") if p]


def test_no_path_of_this_machine_in_tracked_files():
    """Code, tests, docs and notebook outputs name no folder of the machine they were made on
    (the folder that holds the checkout, the home folder)."""
    machine = {str(ROOT.parent), str(Path.home())} - {os.sep, ""}
    bad = []
    for f in _tracked_files():
        if not f.is_file() or f.stat().st_size > 5_000_000:
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for m in machine:
            if m + os.sep in text:
                line = text[: text.index(m + os.sep)].count("\n") + 1
                bad.append(f"{f.relative_to(ROOT)}:{line}: {m + os.sep}")
    assert not bad, bad
