"""A network as an AALpy system under learning (SUL); AALpy is optional and imported on use.

``pip install aalpy`` (or ``expressivity[aalpy]``) to use this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._util import as_rng, head_rules

__all__ = ["aalpy_lstar", "network_sul"]

_SUL_CLASS: Any = None


def _require_aalpy() -> Any:
    try:
        import aalpy.base
    except ImportError as err:
        raise ImportError(
            "the AALpy adapter needs the optional package 'aalpy': pip install aalpy "
            "(or pip install 'expressivity[aalpy]')"
        ) from err
    return aalpy.base


def _init(self, net: Any) -> None:
    type(self).__mro__[1].__init__(self)
    self.net = net
    self.alphabet = str(net.alphabet)
    self._h0 = np.asarray(net.initial_state())[None, :]
    self._state = self._h0
    self._alive = True


def _pre(self) -> None:
    self._state = self._h0
    self._alive = True


def _post(self) -> None:
    self._state = self._h0
    self._alive = True


def _accepting_now(self) -> bool:
    end_ok, _ = head_rules(self.net, np.asarray(self.net.readout(self._state)))
    return bool(self._alive and end_ok[0])


def _step(self, letter: str | None) -> bool:
    """Read one symbol (``None``: read nothing) and return whether the prefix is accepted."""
    if letter is not None:
        if letter not in self.alphabet:
            raise ValueError(f"unknown symbol {letter!r}: alphabet is {self.alphabet!r}")
        s = self.alphabet.index(letter)
        _, allowed = head_rules(self.net, np.asarray(self.net.readout(self._state)))
        self._alive = self._alive and bool(allowed[0, s])
        self._state = np.asarray(self.net.step(self._state, np.array([s], dtype=np.int64)))
    return _accepting_now(self)


def _query(self, word: Any) -> list[bool]:
    """Acceptance of every non-empty prefix of ``word`` (or of the empty word), in one call."""
    w = "".join(word)
    states = np.asarray(self.net.states([w])[0])
    end_ok, allowed = head_rules(self.net, np.asarray(self.net.readout(states)))
    codes = [self.alphabet.index(c) for c in w]
    alive = np.ones(len(w) + 1, dtype=bool)
    for t, s in enumerate(codes):
        alive[t + 1] = alive[t] and allowed[t, s]
    acc = alive & end_ok
    self.num_queries += 1
    self.num_steps += len(w)
    return [bool(acc[0])] if not w else [bool(x) for x in acc[1:]]


def network_sul(net: Any) -> Any:
    """Wrap a network as an ``aalpy.base.SUL`` whose outputs are prefix acceptance.

    ``reset``/``pre``/``post`` go back to the initial state, ``step(symbol)``
    reads one symbol, ``query(word)`` answers all prefixes with one kernel call.

    Examples
    --------
    >>> sul = network_sul(net)                      # doctest: +SKIP
    >>> sul.query(list("abb"))                      # doctest: +SKIP
    [True, False, True]
    """
    global _SUL_CLASS
    base = _require_aalpy()
    if _SUL_CLASS is None:
        _SUL_CLASS = type(
            "NetworkSUL",
            (base.SUL,),
            {
                "__init__": _init,
                "pre": _pre,
                "post": _post,
                "reset": _pre,
                "step": _step,
                "query": _query,
                "__doc__": "A network as an AALpy SUL (see network_sul).",
            },
        )
    return _SUL_CLASS(net)


def aalpy_lstar(
    net: Any,
    *,
    walk_steps: int = 5000,
    reset_prob: float = 0.1,
    rng: np.random.Generator | None = None,
) -> Any:
    """Black-box L* with AALpy (random-walk equivalence oracle); returns our DFA type.

    Examples
    --------
    >>> dfa = aalpy_lstar(net, walk_steps=2000)     # doctest: +SKIP
    """
    _require_aalpy()
    import random

    from aalpy.learning_algs import run_Lstar
    from aalpy.oracles import RandomWalkEqOracle

    from ._dfa import dfa_class

    rng = as_rng(rng)
    sul = network_sul(net)
    alphabet = list(str(net.alphabet))
    oracle = RandomWalkEqOracle(alphabet, sul, num_steps=walk_steps, reset_prob=reset_prob)
    # AALpy draws from the global ``random`` module: seed it from rng, then restore it
    saved = random.getstate()
    random.seed(int(rng.integers(0, 2**31)))
    try:
        model = run_Lstar(alphabet, sul, oracle, automaton_type="dfa", print_level=0)
    finally:
        random.setstate(saved)
    return dfa_class().from_aalpy(model)
