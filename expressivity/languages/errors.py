"""Exception types of :mod:`expressivity.languages`.

Every error is a subclass of a built-in ``ValueError`` or ``KeyError`` so callers can
catch the broad class, and carries a message naming the offending input.
"""

from __future__ import annotations

__all__ = [
    "AlphabetError",
    "ConstraintError",
    "DFAError",
    "GrammarError",
    "GraphvizNotFoundError",
    "NoSuchStringError",
    "RegexError",
    "UnknownLanguageError",
]


class AlphabetError(ValueError):
    """A symbol outside the alphabet, or a malformed alphabet."""


class DFAError(ValueError):
    """A malformed DFA: missing transition, unknown state, bad alphabet, ..."""


class RegexError(ValueError):
    """A regular expression that does not parse."""


class GrammarError(ValueError):
    """A context-free grammar that does not parse or is unusable."""


class ConstraintError(ValueError):
    """A counting constraint that does not parse or uses unknown names."""


class NoSuchStringError(ValueError):
    """No string with the requested property exists (e.g. no member of that length)."""


class UnknownLanguageError(KeyError, ValueError):
    """A language name that is not registered (a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` executable is not installed; use ``DFA.to_dot()`` instead."""
