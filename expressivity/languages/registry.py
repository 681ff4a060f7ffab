"""The language registry: ``get_language``, ``list_languages``, ``register_language``.

Names may be parametric: a registered template such as ``"dyck-{k}"`` matches
``dyck-3`` and calls its factory with ``k=3`` (placeholders match non-negative ints).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .base import Language
from .counting import BlockLanguage, Majority
from .dyck import Dyck, Shuffle
from .errors import UnknownLanguageError
from .tomita import TOMITA_NAMES, parity, tomita

__all__ = ["get_language", "list_languages", "register_language"]

Factory = Callable[..., Language]

_templates: dict[str, tuple[re.Pattern, Factory]] = {}
_examples: dict[str, list[str]] = {}
_cache: dict[str, Language] = {}


def _compile(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)
    rx = "".join(
        re.escape(p) if i % 2 == 0 else f"(?P<{p}>0|[1-9][0-9]*)" for i, p in enumerate(parts)
    )
    return re.compile(rx + r"\Z")


def register_language(
    name: str,
    factory: Factory | Language,
    *,
    examples: list[str] | None = None,
    overwrite: bool = False,
) -> None:
    """Register a language (or a family) under ``name``.

    Parameters
    ----------
    name : str
        A plain name, or a template with ``{param}`` placeholders (``"mylang-{k}"``).
    factory : Language or callable
        A :class:`Language` instance, or a callable taking the placeholders as int
        keyword arguments and returning one.
    examples : list of str, optional
        Concrete names listed by :func:`list_languages` for a template.
    overwrite : bool
        Replace an existing registration instead of raising ``ValueError``.

    Examples
    --------
    >>> from expressivity.languages import from_regex
    >>> register_language("ab-star", from_regex("(ab)*", name="ab-star"), overwrite=True)
    >>> get_language("ab-star").contains("abab")
    True
    """
    if name in _templates and not overwrite:
        raise ValueError(f"language {name!r} is already registered (pass overwrite=True)")
    if isinstance(factory, Language) or (
        not isinstance(factory, type) and hasattr(factory, "contains_codes")
    ):
        lang = factory
        factory = lambda: lang  # noqa: E731
    elif not callable(factory):
        raise TypeError(f"factory must be a Language or a callable, got {type(factory).__name__}")
    _templates[name] = (_compile(name), factory)
    _examples[name] = list(examples) if examples is not None else ([] if "{" in name else [name])
    for key in [k for k in _cache if _compile(name).match(k)]:
        del _cache[key]


def get_language(name: str) -> Language:
    """The registered language called ``name`` (instances are cached and shared).

    Raises
    ------
    UnknownLanguageError
        (a ``KeyError`` and ``ValueError``) for an unknown name, listing the known ones.

    Examples
    --------
    >>> get_language("dyck-2-5").name, get_language("shuffle-2").alphabet
    ('dyck-2-5', '()[]')
    """
    if not isinstance(name, str):
        raise TypeError(f"language name must be a str, got {type(name).__name__}")
    if name in _cache:
        return _cache[name]
    for template, (rx, factory) in _templates.items():
        m = rx.match(name)
        if m:
            try:
                lang = factory(**{k: int(v) for k, v in m.groupdict().items()})
            except ValueError as exc:
                raise UnknownLanguageError(
                    f"bad parameters in language name {name!r}: {exc}"
                ) from exc
            if template != name:
                lang.name = name
            _cache[name] = lang
            return lang
    raise UnknownLanguageError(
        f"unknown language {name!r}; known: {', '.join(list_languages(templates=True))}"
    )


def list_languages(templates: bool = False) -> list[str]:
    """Names of the registered languages.

    By default every returned name resolves with :func:`get_language` (families are
    represented by example instances such as ``dyck-2``); ``templates=True`` lists
    the raw names and templates (``"dyck-{k}"``).

    Examples
    --------
    >>> "tomita-3" in list_languages(), "dyck-{k}" in list_languages(templates=True)
    (True, True)
    """
    if templates:
        return list(_templates)
    return [ex for t in _templates for ex in _examples[t]]


def _register_builtins() -> None:
    register_language("anbn", lambda: BlockLanguage(2))
    register_language("anbncn", lambda: BlockLanguage(3))
    register_language("anbncndn", lambda: BlockLanguage(4))
    register_language("dyck-{k}", lambda k: Dyck(k), examples=["dyck-1", "dyck-2", "dyck-3"])
    register_language(
        "dyck-{k}-{m}", lambda k, m: Dyck(k, m), examples=["dyck-1-4", "dyck-2-3", "dyck-2-5"]
    )
    register_language("shuffle-{k}", lambda k: Shuffle(k), examples=["shuffle-2", "shuffle-3"])
    register_language("majority", Majority)
    register_language("parity", parity)
    for t in TOMITA_NAMES:
        register_language(t, lambda t=t: tomita(t))


_register_builtins()
