"""The documentation: the guides cover the registries, the API reference builds
without a warning, and nothing cites the design folder outside the repository."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _tracked_files() -> list[Path]:
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    out = subprocess.run(
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [ROOT / p for p in out.split("\0") if p]


def test_no_tracked_file_cites_the_design_folder():
    needle = ("shared/" + "design").encode()  # split, so that this file does not match
    offenders = [
        str(p.relative_to(ROOT))
        for p in _tracked_files()
        if p.is_file() and needle in p.read_bytes()
    ]
    assert not offenders, f"cite docs/ instead of the design folder in: {offenders}"


def test_cited_docs_exist():
    """Every ``docs/<name>.md`` that a tracked text file cites is in the repository."""
    cited: dict[str, set[str]] = {}
    for p in _tracked_files():
        if p.suffix not in {".py", ".md", ".ipynb", ".toml", ".rst"} or not p.is_file():
            continue
        text = p.read_text(encoding="utf-8", errors="replace")
        for ref in re.findall(r"\bdocs/[\w./-]+?\.md\b", text):
            cited.setdefault(ref, set()).add(str(p.relative_to(ROOT)))
    missing = {ref: sorted(by) for ref, by in cited.items() if not (ROOT / ref).is_file()}
    assert not missing, f"cited but missing: {missing}"


def test_readme_and_contributing_point_to_the_guides():
    for name in ("README.md", "CONTRIBUTING.md"):
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "docs/cells.md" in text, f"{name} does not point to docs/cells.md"


def _builtin_registry() -> dict:
    """Registry names as a fresh interpreter sees them (tests may register more)."""
    code = (
        "import json\n"
        "from expressivity.cells import list_cells\n"
        "from expressivity.languages import list_languages\n"
        "from expressivity.protocols import PROTOCOLS\n"
        "print(json.dumps({'cells': list_cells(), 'languages': "
        "list_languages(templates=True), 'protocols': list(PROTOCOLS)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return json.loads(out.stdout)


def test_guides_document_every_registry_name():
    reg = _builtin_registry()
    cells = (DOCS / "cells.md").read_text(encoding="utf-8")
    languages = (DOCS / "languages.md").read_text(encoding="utf-8")
    missing = [c for c in reg["cells"] if f"`{c}`" not in cells]
    assert not missing, f"docs/cells.md does not document the cells {missing}"
    # templates are written with bare parameter names: dyck-{k}-{m} -> dyck-k-m
    names = [re.sub(r"\{(\w+)\}", r"\1", t) for t in reg["languages"]]
    missing = [n for n in names if f"`{n}`" not in languages]
    assert not missing, f"docs/languages.md does not document the languages {missing}"
    missing = [p for p in reg["protocols"] if f"`{p}`" not in languages]
    assert not missing, f"docs/languages.md does not document the protocols {missing}"


def test_guides_link_only_to_existing_files():
    for guide in ("cells.md", "languages.md", "architecture.md"):
        text = (DOCS / guide).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            assert (DOCS / target).exists(), f"docs/{guide} links to a missing {target}"


@pytest.mark.slow
def test_api_reference_builds_without_warnings(tmp_path):
    missing = [m for m in ("sphinx", "myst_parser") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[docs]'")
    cmd = [
        sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
        "-d", str(tmp_path / "doctrees"), str(DOCS / "api"), str(tmp_path / "html"),
    ]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert res.returncode == 0, f"sphinx failed:\n{res.stdout}\n{res.stderr}"
    html = tmp_path / "html"
    for page in ("cells", "languages", "architecture"):
        assert (html / f"{page}.html").is_file()
    for pkg in ("", ".languages", ".analysis", ".training", ".experiments"):
        page = html / "reference" / f"expressivity{pkg}.html"
        assert page.is_file(), f"no API page {page.name}"
    # the guides are rendered, not just included as empty pages
    assert "gru-reset-after" in (html / "cells.html").read_text(encoding="utf-8")
    # autodoc found the public objects
    text = (html / "reference" / "expressivity.html").read_text(encoding="utf-8")
    assert 'id="expressivity.Network"' in text
