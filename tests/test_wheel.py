"""The wheel, as a user gets it: built from the sources, installed into a fresh venv, run elsewhere.

Marked ``wheel``: it builds the wheel, installs it with its dependencies into a
plain venv (no system site-packages, so the editable install of the checkout
cannot shadow it; the dependencies come from the package index pip is set up
with) and compiles the kernels cold there, which takes minutes. It runs only when
asked for, as ``.ci/run`` does::

    python -m pytest -m wheel tests/test_wheel.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import expressivity

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
#: what the build reads (package discovery finds the subpackages in expressivity/)
SOURCES = ("pyproject.toml", "README.md", "expressivity")
IGNORE = shutil.ignore_patterns("__pycache__", "*.py[cod]", "*.nbi", "*.nbc", "*.egg-info")


def _run(args, cwd, env, timeout):
    res = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert res.returncode == 0, (
        f"{args} exited {res.returncode}:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    )
    return res


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """(python of a fresh venv holding the wheel, a working folder outside the checkout, env)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"  # a clean copy: no build/ leftovers or caches of the checkout
    src.mkdir()
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=IGNORE)
        else:
            shutil.copy2(p, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUMBA_CACHE_DIR")}
    env.pop("NUMBA_ENABLE_CUDASIM", None)  # a user's environment, not the tests'
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base / "dist", src],
         base, env, 900)  # fmt: skip
    (wheel,) = (base / "dist").glob("expressivity-*.whl")
    assert wheel.name.startswith(f"expressivity-{expressivity.__version__}-")
    _run([sys.executable, "-m", "venv", base / "venv"], base, env, 300)
    py = base / "venv" / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", wheel], base, env, 1800)
    work = base / "work"  # outside the checkout: nothing of it on the path
    work.mkdir()
    env["PATH"] = f"{py.parent}{os.pathsep}{env.get('PATH', '')}"
    return py, work, env


def test_installed_wheel_imports_all_packages(venv):
    py, work, env = venv
    code = (
        "import expressivity, expressivity.languages, expressivity.analysis, "
        "expressivity.kernels, expressivity.training, expressivity.experiments, "
        "expressivity.cli, importlib.metadata as md, pathlib\n"
        "p = pathlib.Path(expressivity.__file__).parent\n"
        "print(p)\n"
        "print((p / 'py.typed').exists(), md.version('expressivity') == expressivity.__version__)"
    )
    out = _run([py, "-c", code], work, env, 300).stdout.split()
    assert Path(out[0]).is_relative_to(py.parents[1]), out  # the venv's copy, not the checkout
    assert not Path(out[0]).is_relative_to(ROOT)
    assert out[1:] == ["True", "True"], out


def test_installed_wheel_trains_and_reproduces(venv):
    py, work, env = venv
    cli = py.parent / "expressivity"
    _run([cli, "--help"], work, env, 300)
    _run([cli, "train", "--cell", "gru", "--language", "anbn", "--train-max", "3",
          "--epochs", "2", "--hidden-size", "3", "--out", "one"], work, env, 1200)  # fmt: skip
    assert list((work / "one").rglob("*.npz")), "train wrote no model"
    res = _run([cli, "reproduce", "weiss2018", "--quick"], work, env, 1800)
    report = work / "results" / "weiss2018-quick" / "report.md"
    assert report.exists(), res.stdout[-2000:]
    if not os.environ.get("EXPRESSIVITY_REFERENCE_DIR"):
        said = (res.stdout + res.stderr).count("comparison skipped")
        assert said >= 1 and "comparison skipped" in report.read_text()
