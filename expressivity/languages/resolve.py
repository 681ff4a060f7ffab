"""One language from one piece of text: a registry name, a regex, a DFA file, a constraint.

The command line (``--language``) and scripts name a language in one of these forms:

===================================  =====================================================
form                                 meaning
===================================  =====================================================
``anbn``, ``dyck-4``, ``tomita-3``   a registered name, parametric ones included
                                     (:func:`~expressivity.languages.list_languages`)
``regex:(ab)*``                      a regular expression (:func:`from_regex`; the
                                     alphabet is the given one, else the pattern's symbols)
``dfa:path/to/dfa.json``             a DFA in a JSON file (any path ending in ``.json``
                                     that exists works without the prefix); see below
``constraint:#a = 2 * #b``           a counting constraint (:func:`from_constraints`);
                                     needs the alphabet
``grammar:S -> a S b | ε``           a context-free grammar (:func:`from_grammar`); rules
                                     separated by ``;`` or newlines
===================================  =====================================================

A DFA file holds either the table form that ``expressivity extract`` writes
(``{"alphabet": "ab", "start": 0, "accepting": [true, false], "table": [[1, 0], [1, 1]]}``,
``-1`` for a missing transition; an ``extract`` record, with that object under
``"dfa"``, works too) or the dict form of :meth:`DFA.from_dict` with nested
transitions (``{"alphabet": "ab", "start": "q", "accepting": ["q"],
"transitions": {"q": {"a": "q"}}}``; missing transitions go to a rejecting sink).

Examples
--------
>>> language_from_arg("anbn").name
'anbn'
>>> language_from_arg("regex:(ab)*").contains("abab")
True
>>> lang = language_from_arg("constraint:#a = 2 * #b", alphabet="ab")
>>> lang.contains("aab"), lang.contains("ab")
(True, False)
>>> language_from_arg("regex:(ab", alphabet="ab")
Traceback (most recent call last):
...
expressivity.languages.errors.RegexError: ...
"""

from __future__ import annotations

import json
from pathlib import Path

from .base import Language
from .errors import AlphabetError, DFAError, UnknownLanguageError

__all__ = ["LANGUAGE_FORMS", "language_from_arg"]

#: the accepted forms, one line each (for help texts and error messages)
LANGUAGE_FORMS = (
    "a registered name (anbn, anbncn, dyck-K, dyck-K-M, shuffle-K, tomita-1..7, parity, "
    "majority, ...)",
    "regex:PATTERN (e.g. 'regex:(ab)*')",
    "dfa:FILE.json (or any existing FILE.json)",
    "constraint:EXPR with an alphabet (e.g. 'constraint:#a = 2 * #b')",
    "grammar:RULES (e.g. 'grammar:S -> a S b | ε')",
)

_PREFIXES = ("regex:", "dfa:", "constraint:", "grammar:")
#: largest DFA JSON file read (bytes)
_MAX_JSON = 50_000_000


def language_from_arg(text: str, alphabet: str | None = None) -> Language:
    """The language that ``text`` names (see the module docstring for the forms).

    Parameters
    ----------
    text : str
        ``NAME``, ``regex:PATTERN``, ``dfa:FILE.json`` (or an existing ``FILE.json``),
        ``constraint:EXPR`` or ``grammar:RULES``.
    alphabet : str, optional
        The symbols, in order. Needed by ``constraint:``; for the other forms it
        must equal the language's own alphabet when given (a regex and a grammar
        take it as their alphabet).

    Returns
    -------
    Language

    Raises
    ------
    UnknownLanguageError
        An unknown registry name (the message lists the forms).
    RegexError, ConstraintError, GrammarError, DFAError, AlphabetError
        Text of that form that does not parse, or an alphabet that does not fit.
    FileNotFoundError
        ``dfa:FILE`` where FILE does not exist.
    TypeError
        ``text`` or ``alphabet`` is not a string.

    Examples
    --------
    >>> language_from_arg("dyck-4").alphabet
    '()[]{}<>'
    >>> language_from_arg("regex:a*b", alphabet="abc").alphabet
    'abc'
    """
    if not isinstance(text, str):
        raise TypeError(f"a language must be given as a string, got {type(text).__name__}")
    if alphabet is not None and (not isinstance(alphabet, str) or not alphabet):
        raise TypeError(f"alphabet must be a non-empty string, got {alphabet!r}")
    body = text.strip()
    if not body:
        raise UnknownLanguageError(f"empty language name; give one of: {'; '.join(LANGUAGE_FORMS)}")
    kind, _, rest = body.partition(":")
    kind = kind.strip().lower() + ":"
    if kind == "regex:":
        from .regex import from_regex

        return from_regex(rest, alphabet, name=body)
    if kind == "constraint:":
        from .constraints import from_constraints

        if alphabet is None:
            raise AlphabetError(
                f"language {body!r}: a constraint needs its alphabet (--alphabet, e.g. 'ab')"
            )
        return from_constraints(alphabet, rest, name=body)
    if kind == "grammar:":
        from .grammar import from_grammar

        rules = "\n".join(r.strip() for r in rest.split(";") if r.strip())
        return from_grammar(rules, alphabet, name=body)
    if kind == "dfa:" or (body.endswith(".json") and Path(body).is_file()):
        path = Path(rest if kind == "dfa:" else body)
        lang = _from_dfa_file(path)
        return _check_alphabet(lang, alphabet, body)
    from .registry import get_language

    try:
        lang = get_language(body)
    except UnknownLanguageError as err:
        raise UnknownLanguageError(f"{err}; other forms: {'; '.join(LANGUAGE_FORMS[1:])}") from None
    return _check_alphabet(lang, alphabet, body)


def _check_alphabet(lang: Language, alphabet: str | None, text: str) -> Language:
    if alphabet is not None and alphabet != lang.alphabet:
        raise AlphabetError(
            f"language {text!r} has the alphabet {lang.alphabet!r}, but {alphabet!r} was given "
            "(leave the alphabet out, or give the language's own)"
        )
    return lang


def _from_dfa_file(path: Path) -> Language:
    """A regular language from a DFA JSON file (table form or nested dict form)."""
    from .dfa import DFA
    from .regular import RegularLanguage

    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"DFA file {path} {what}")
    if path.stat().st_size > _MAX_JSON:
        raise DFAError(f"DFA file {path}: larger than {_MAX_JSON} bytes")
    try:
        doc = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DFAError(f"DFA file {path}: not valid JSON ({err})") from None
    except RecursionError:
        raise DFAError(f"DFA file {path}: JSON nested too deeply") from None
    if isinstance(doc, dict) and isinstance(doc.get("dfa"), dict) and "alphabet" not in doc:
        doc = doc["dfa"]  # an `expressivity extract` record
    if not isinstance(doc, dict) or "alphabet" not in doc:
        raise DFAError(
            f"DFA file {path}: expected a JSON object with 'alphabet', 'start', 'accepting' and "
            "'table' or 'transitions'"
        )
    try:
        if "table" in doc:
            import numpy as np

            table = np.asarray(doc["table"])
            accepting = np.asarray(doc["accepting"])
            if table.dtype.kind not in "iu" or table.ndim != 2:
                raise DFAError("'table' must be a list of lists of integers (-1: missing)")
            if accepting.dtype != bool or accepting.shape != (table.shape[0],):
                raise DFAError(
                    f"'accepting' must be {table.shape[0]} booleans, one per row of 'table'"
                )
            start = doc.get("start", 0)
            if isinstance(start, bool) or not isinstance(start, int):
                raise DFAError(f"'start' must be a row index, got {start!r}")
            dfa = DFA.from_table(doc["alphabet"], table, accepting, start)
        elif isinstance(doc.get("transitions"), dict):
            trans = {
                str(s): {str(c): str(t) for c, t in row.items()}
                for s, row in doc["transitions"].items()
                if isinstance(row, dict)
            }
            if len(trans) != len(doc["transitions"]):
                raise DFAError("'transitions' must map each state to {symbol: state}")
            acc = doc.get("accepting", [])
            if not isinstance(acc, list):
                raise DFAError(f"'accepting' must be a list of states, got {acc!r}")
            spec = {"alphabet": doc["alphabet"], "start": str(doc.get("start", "")),
                    "accepting": [str(s) for s in acc], "transitions": trans}  # fmt: skip
            dfa = DFA.from_dict(spec, complete=True)
        else:
            raise DFAError("needs 'table' (rows of target indices) or 'transitions'")
    except DFAError as err:
        raise DFAError(f"DFA file {path}: {err}") from None
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise DFAError(f"DFA file {path}: malformed DFA ({type(err).__name__}: {err})") from None
    return RegularLanguage(f"dfa:{path.name}", dfa)
