"""Formal languages, samplers, datasets and the DFA type (``expressivity.languages``).

Examples
--------
>>> import numpy as np
>>> from expressivity.languages import get_language
>>> lang = get_language("anbn")
>>> lang.contains("aabb"), sorted(lang.next_symbols("aab"))
(True, ['b'])
"""

from .base import Language
from .constraints import from_constraints
from .dataset import KINDS, Dataset, make_dataset
from .dfa import DFA
from .errors import (
    AlphabetError,
    ConstraintError,
    DFAError,
    GrammarError,
    GraphvizNotFoundError,
    NoSuchStringError,
    RegexError,
    UnknownLanguageError,
)
from .grammar import from_grammar
from .regex import from_regex
from .registry import get_language, list_languages, register_language
from .regular import RegularLanguage, from_dfa
from .resolve import language_from_arg
from .symbols import END

__all__ = [
    "END",
    "DFA",
    "KINDS",
    "AlphabetError",
    "ConstraintError",
    "DFAError",
    "Dataset",
    "GrammarError",
    "GraphvizNotFoundError",
    "Language",
    "NoSuchStringError",
    "RegexError",
    "RegularLanguage",
    "UnknownLanguageError",
    "from_constraints",
    "from_dfa",
    "from_grammar",
    "from_regex",
    "get_language",
    "language_from_arg",
    "list_languages",
    "make_dataset",
    "register_language",
]
