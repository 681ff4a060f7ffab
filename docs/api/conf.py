"""Sphinx configuration of the API reference (``python -m sphinx -W -b html docs/api OUT``).

The reference is built from the numpydoc docstrings (autodoc + napoleon); the
guides ``docs/cells.md``, ``docs/languages.md`` and ``docs/architecture.md`` are
included through myst-parser.
"""

import expressivity

project = "expressivity"
author = "the expressivity authors"
copyright = "the expressivity authors"  # noqa: A001
version = release = expressivity.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# autodoc: public names (``__all__``) in source order; type hints in the description
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_preserve_defaults = True

# napoleon: numpydoc sections; "Attributes" as fields, so that an attribute that
# autodoc also documents (a property) is not described twice
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_ivar = True
napoleon_use_rtype = False

# MyST: heading anchors for links between the guides
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"expressivity {release}"
