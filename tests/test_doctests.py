"""The docstring examples of every module run and print what they say.

Modules are imported by their package names (``expressivity.languages.x``), not
as files, so that no package is imported twice.
"""

import doctest
import importlib
import pkgutil

import pytest

import expressivity
import expressivity.analysis
import expressivity.languages


def _modules():
    names = set()
    for pkg in (expressivity, expressivity.languages, expressivity.analysis):
        names.add(pkg.__name__)
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            names.add(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    module = importlib.import_module(name)
    res = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                          verbose=False)  # fmt: skip
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples failed in {name}"
