"""The README runs as written, from a clone with nothing beside it.

Its python blocks run in a fresh interpreter, its bash commands in a shell, both
in a temporary folder holding a copy of ``examples/`` (the commands' paths are
relative to the root of a clone). Not run here: ``pip install`` and
``python -m pytest`` (what CI itself runs, ``.ci/run``; the wheel, installed
into a fresh venv, is ``tests/test_wheel.py``) and the download of the released
networks. The section on the released networks runs only where
``EXPRESSIVITY_REFERENCE_DIR`` is set, and skips, saying how to get them, where
it is not.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: the section whose code needs the released networks (its bash block downloads them)
RELEASED = "The released networks"


def _blocks() -> list[tuple[str, str, str]]:
    """(section heading, language, code) of every fenced block of the README."""
    blocks, heading, lang, code = [], "", None, []
    for line in README.read_text().splitlines():
        if lang is None and line.startswith("## "):
            heading = line[3:].strip()
        elif lang is None and line.startswith("```"):
            lang, code = line[3:].strip(), []
        elif lang is not None and line.startswith("```"):
            blocks.append((heading, lang, "\n".join(code) + "\n"))
            lang = None
        elif lang is not None:
            code.append(line)
    return blocks


def _commands() -> list[str]:
    """The README's shell commands that a test runs, once each, in order."""
    out: list[str] = []
    for heading, lang, code in _blocks():
        if lang != "bash" or heading.startswith(RELEASED):
            continue
        for line in code.splitlines():
            for part in line.split(" && "):
                cmd = part.split("  #", 1)[0].strip()  # a trailing comment is not the command
                if not cmd or cmd.startswith("#") or cmd.startswith("pip "):
                    continue
                if "python -m pytest" in cmd or cmd in out:
                    continue
                out.append(cmd)
    return out


#: the README's first command, which tests/test_wheel.py runs as written with the installed
#: wheel, from a folder outside the checkout (CI runs it: ``pytest -m wheel``)
WHEEL_RUNS = "expressivity reproduce weiss2018 --quick"


def test_the_wheel_test_runs_the_readme_first_command():
    assert WHEEL_RUNS in _commands()
    words = ", ".join(f'"{w}"' for w in WHEEL_RUNS.split()[1:])  # its argv in test_wheel.py
    assert words in (ROOT / "tests" / "test_wheel.py").read_text()


PYTHON = [(h, code) for h, lang, code in _blocks() if lang == "python"]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A working folder laid out like the root of a clone, without the package sources."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_readme_has_the_blocks_this_test_runs():
    headings = [h for h, _ in PYTHON]
    assert any(h == "A taste" for h in headings), headings
    assert any(h.startswith(RELEASED) for h in headings), headings
    assert any(c.startswith("expressivity train ") for c in _commands()), _commands()
    assert "../shared" not in README.read_text()  # nothing beside the clone


@pytest.mark.parametrize("heading, code", PYTHON, ids=[f"python-{i}" for i in range(len(PYTHON))])
def test_python_block_runs(heading: str, code: str, clone: Path):
    if heading.startswith(RELEASED) and not os.environ.get("EXPRESSIVITY_REFERENCE_DIR"):
        pytest.skip(
            f"README section {heading!r} needs the released networks: set "
            "EXPRESSIVITY_REFERENCE_DIR (the section says how to get them)"
        )
    res = subprocess.run([sys.executable, "-c", code], cwd=clone, env=_env(),
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, f"{heading}:\n{res.stderr[-3000:]}"


def _json(stdout: str) -> dict:
    m = re.search(r"^\{.*^\}", stdout, re.S | re.M)
    assert m, stdout[-2000:]
    return json.loads(m.group(0))


def test_command_line_runs_as_written(clone: Path):
    exe = shutil.which("expressivity")
    if exe is None:
        pytest.skip("the `expressivity` command is not on PATH (pip install -e . puts it there)")
    seen: dict[str, str] = {}
    for cmd in _commands():
        if cmd == WHEEL_RUNS:
            continue  # run as written, from outside any checkout, by tests/test_wheel.py
        assert cmd.startswith("expressivity "), f"a README command this test cannot run: {cmd}"
        res = subprocess.run(["bash", "-c", cmd], cwd=clone, env=_env(), capture_output=True,
                             text=True, timeout=900)  # fmt: skip
        assert res.returncode == 0, f"{cmd}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        seen[cmd.split()[1]] = res.stdout
    # the README's train command learns its training range, and evaluate reports the same
    trained = _json(seen["train"])["metrics"]
    assert trained["frontier"] >= trained["train_max"], trained
    assert _json(seen["evaluate"])["frontier"] == trained["frontier"]
    assert "| anbn |" in seen["report"]
