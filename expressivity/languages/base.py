"""The :class:`Language` base class: the interface every language offers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._kernels import DELETE, INSERT, REPLACE, apply_edits
from .dfa import DFA, _check_codes
from .errors import NoSuchStringError
from .symbols import END, check_alphabet, decode, decode_batch, encode, encode_batch

__all__ = ["Language"]

_EXHAUSTIVE_NEGATIVES = 1 << 14  # below this many strings of a length, draw negatives exactly
_BYTES_PER_SYMBOL = 16  # a sampled symbol: int32 code, decoded char array, the str, temporaries


def _int(value, name: str, minimum: int | None = 0) -> int:
    """``value`` as an int (``TypeError`` for bool, float, str...; ``ValueError`` below minimum)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r:.40}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _ints(values, name: str) -> list[int]:
    """An int or a sequence of ints as a list (no truncation of floats, no str)."""
    if isinstance(values, (int, np.integer)) and not isinstance(values, (bool, np.bool_)):
        return [int(values)]
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, range, np.ndarray)):
        raise TypeError(f"{name} must be an int or a list of ints, got {values!r:.60}")
    return [_int(v, name, None) for v in values]


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {rng!r:.40}"
        )


def _check_alloc(count: int, length: int, what: str) -> None:
    """Refuse (``ValueError``) ``count`` words of ``length`` whose memory exceeds this machine's."""
    import os

    try:
        have = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return
    need = int(count) * (int(length) + 1) * _BYTES_PER_SYMBOL
    if need > have:
        raise ValueError(
            f"{what}: {count:,} word(s) of length {length:,} need about {need / 2**30:,.1f} GiB, "
            f"more than this machine's {have / 2**30:,.1f} GiB; ask for fewer or shorter words"
        )


class Language:
    """A formal language over a finite alphabet of single-character symbols.

    Subclasses implement four int-coded hooks: ``_member(codes, lengths)``,
    ``_next_masks(codes, lengths)``, ``_sample_codes(rng, length, count)`` and
    ``has_length(length)``; optionally ``_counters(codes)``, ``dfa()``,
    ``positive_of_n`` / ``near_misses`` and ``length_of_n``.

    The *size* ``n`` of a member is the language's natural parameter: ``n`` in
    ``a^n b^n``, the number of bracket pairs for Dyck and shuffle languages, and the
    length itself for every other language.

    Examples
    --------
    >>> from expressivity.languages import get_language
    >>> lang = get_language("anbn")
    >>> lang.contains("aabb"), sorted(lang.next_symbols("aab"))
    (True, ['b'])
    """

    #: whether the language is regular (then :meth:`dfa` works)
    is_regular: bool = False
    #: number of ground-truth counters (0 = none)
    n_counters: int = 0

    def __init__(self, name: str, alphabet: str) -> None:
        self.name = name
        self.alphabet = check_alphabet(alphabet)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, alphabet={self.alphabet!r})"

    @property
    def n_symbols(self) -> int:
        """``len(alphabet)``; also the integer code of :data:`END`."""
        return len(self.alphabet)

    # ------------------------------------------------------------------ hooks
    def _member(self, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _next_masks(self, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _sample_codes(self, rng: np.random.Generator, length: int, count: int) -> np.ndarray:
        raise NotImplementedError

    def has_length(self, length: int) -> bool:
        """Whether the language has at least one member of this length."""
        raise NotImplementedError

    def _counters(self, codes: np.ndarray) -> np.ndarray | None:
        return None

    def length_of_n(self, n: int) -> int:
        """Length of the members of size ``n`` (the identity unless the language says so)."""
        return int(n)

    # ------------------------------------------------------------------ coding
    def encode(self, word: str) -> np.ndarray:
        """``int32`` codes of ``word`` (``AlphabetError`` naming a foreign symbol).

        Examples
        --------
        >>> from expressivity.languages import get_language
        >>> get_language("anbn").encode("ab").tolist()
        [0, 1]
        """
        return encode(word, self.alphabet)

    def decode(self, ints) -> str:
        """Inverse of :meth:`encode`."""
        return decode(ints, self.alphabet)

    def encode_batch(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Padded ``int32`` codes ``(N, T_max)`` and ``int64`` lengths (``TypeError`` for non-str)."""
        if isinstance(words, (str, bytes)) or not isinstance(words, (Sequence, np.ndarray)):
            raise TypeError(
                f"words must be a list of str, got {type(words).__name__} {words!r:.60}"
            )
        for i, w in enumerate(words):
            if not isinstance(w, str):
                raise TypeError(f"word {i} is {type(w).__name__} {w!r:.60}; words must be str")
        return encode_batch(words, self.alphabet)

    # ------------------------------------------------------------------ membership
    def contains(self, word: str) -> bool:
        """Whether ``word`` is in the language.

        Examples
        --------
        >>> from expressivity.languages import get_language
        >>> get_language("dyck-2").contains("([])")
        True
        """
        codes = self.encode(word)
        return bool(self._member(codes[None, :], np.array([len(codes)], dtype=np.int64))[0])

    def contains_batch(self, words: Sequence[str]) -> np.ndarray:
        """Vectorised membership: ``bool`` array, one entry per word.

        Examples
        --------
        >>> from expressivity.languages import get_language
        >>> get_language("anbn").contains_batch(["ab", "ba", ""]).tolist()
        [True, False, True]
        """
        codes, lengths = self.encode_batch(words)
        return self._member(codes, lengths)

    def contains_codes(self, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Membership of integer-coded, padded words (the fast path for large batches)."""
        codes, lengths = _check_codes(codes, lengths, self.n_symbols)
        return self._member(codes, lengths)

    # ------------------------------------------------------------------ next symbols
    def next_sets(self, codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Allowed-next masks after every prefix: ``bool (N, T+1, len(alphabet)+1)``.

        Row ``t`` is the mask after the first ``t`` symbols (``END`` last); rows past a
        word's length, and every row after a prefix that no member starts with, are
        all False.
        """
        codes, lengths = _check_codes(codes, lengths, self.n_symbols)
        return self._next_masks(codes, lengths)

    def next_symbols_mask(self, prefix: str) -> np.ndarray:
        """``bool`` mask of length ``len(alphabet)+1`` (``END`` last) of allowed next symbols.

        Examples
        --------
        >>> from expressivity.languages import get_language
        >>> get_language("anbn").next_symbols_mask("ab").tolist()
        [False, False, True]
        """
        codes = self.encode(prefix)
        masks = self._next_masks(codes[None, :], np.array([len(codes)], dtype=np.int64))
        return masks[0, len(codes)].copy()

    def next_symbols(self, prefix: str) -> frozenset[str]:
        """The symbols (and possibly :data:`END`) that can follow ``prefix`` in some member.

        Examples
        --------
        >>> from expressivity.languages import get_language
        >>> sorted(get_language("anbn").next_symbols("a"))
        ['a', 'b']
        """
        mask = self.next_symbols_mask(prefix)
        syms = [*self.alphabet, END]
        return frozenset(s for s, m in zip(syms, mask) if m)

    # ------------------------------------------------------------------ counters
    def counters(self, word: str) -> np.ndarray | None:
        """Counter values after every prefix: ``float64 (len(word)+1, n_counters)``, or ``None``.

        Examples
        --------
        >>> from expressivity.languages import get_language
        >>> get_language("anbn").counters("aab")[:, 0].tolist()
        [0.0, 1.0, 2.0, 1.0]
        """
        return self._counters(self.encode(word))

    # ------------------------------------------------------------------ enumeration
    def enumerate(self, max_len: int) -> list[str]:
        """All members of length ``<= max_len``, by length then alphabet order.

        Examples
        --------
        >>> from expressivity.languages import get_language
        >>> get_language("dyck-1").enumerate(4)
        ['', '()', '(())', '()()']
        """
        max_len = _int(max_len, "max_len")
        k = self.n_symbols
        prefixes = np.zeros((1, 0), dtype=np.int32)
        out: list[str] = []
        for length in range(max_len + 1):
            if prefixes.shape[0] == 0:
                break
            lengths = np.full(prefixes.shape[0], length, dtype=np.int64)
            masks = self._next_masks(prefixes, lengths)[:, length, :]
            out.extend(decode_batch(prefixes[masks[:, k]], lengths[masks[:, k]], self.alphabet))
            if length == max_len:
                break
            rows, syms = np.nonzero(masks[:, :k])
            prefixes = np.concatenate([prefixes[rows], syms[:, None].astype(np.int32)], axis=1)
        return out

    # ------------------------------------------------------------------ positives
    def sample_positive_codes(
        self, rng: np.random.Generator, length: int, count: int
    ) -> np.ndarray:
        """``count`` uniform members of exactly ``length`` as an ``int32 (count, length)`` array."""
        _check_rng(rng)
        length, count = _int(length, "length", None), _int(count, "count", None)
        if length < 0 or count < 0:
            raise ValueError(f"length and count must be >= 0, got {length}, {count}")
        _check_alloc(count, length, f"{self.name}: sampling")
        if not self.has_length(length):
            raise NoSuchStringError(f"{self.name} has no member of length {length}")
        return self._sample_codes(rng, int(length), int(count))

    def sample_positive(
        self,
        rng: np.random.Generator,
        n: int | Sequence[int] | None = None,
        length: int | Sequence[int] | None = None,
        count: int = 1,
    ) -> list[str]:
        """Uniformly sampled members, by size ``n`` or by ``length`` (give exactly one).

        An int fixes every sample; a sequence draws each sample's value uniformly from
        it (values without members are skipped). Within a length the draw is uniform
        over the members of that length.

        Examples
        --------
        >>> import numpy as np
        >>> from expressivity.languages import get_language
        >>> get_language("anbn").sample_positive(np.random.default_rng(0), n=2, count=2)
        ['aabb', 'aabb']
        """
        if (n is None) == (length is None):
            raise ValueError("give exactly one of n= or length=")
        _check_rng(rng)
        count = _int(count, "count")
        values = _ints(n if length is None else length, "n" if length is None else "length")
        lens = [self.length_of_n(v) if length is None else v for v in values]
        lens = [v for v in lens if v >= 0 and self.has_length(v)]
        if not lens:
            what = "n" if length is None else "length"
            raise NoSuchStringError(f"{self.name} has no member with {what} in {list(values)}")
        _check_alloc(count, max(lens) if lens else 0, f"{self.name}: sampling")
        choice = np.asarray(lens)[rng.integers(0, len(lens), size=count)]
        out: list[str] = [""] * count
        for v in np.unique(choice):
            idx = np.flatnonzero(choice == v)
            codes = self._sample_codes(rng, int(v), len(idx))
            words = decode_batch(codes, np.full(len(idx), v), self.alphabet)
            for i, w in zip(idx, words):
                out[i] = w
        return out

    def positive_of_n(self, n: int) -> str:
        """The canonical member of size ``n`` (counter languages only)."""
        raise NotImplementedError(f"{self.name} has no canonical member of size n")

    def near_misses(self, n: int) -> list[str]:
        """Canonical near misses of size ``n`` (counter languages only), e.g. a^n b^(n±1)."""
        raise NotImplementedError(f"{self.name} has no canonical near misses")

    # ------------------------------------------------------------------ negatives
    def sample_negative_codes(
        self,
        rng: np.random.Generator,
        length: int,
        count: int,
        kind: str = "random",
        edits: int = 1,
        max_rounds: int = 200,
    ) -> np.ndarray:
        """``count`` non-members of exactly ``length`` as ``int32 (count, length)``.

        ``kind="random"``: uniform over the non-members of that length (exact for short
        lengths, rejection sampling otherwise). ``kind="near-miss"``: a uniform member
        with 1..``edits`` random insert/delete/replace edits, rejected while it is still
        a member.
        """
        k = self.n_symbols
        _check_rng(rng)
        length, count = _int(length, "length", None), _int(count, "count", None)
        edits = _int(edits, "edits", None)
        if kind not in ("random", "near-miss"):
            raise ValueError(f"unknown negative kind {kind!r}; use 'random' or 'near-miss'")
        if length < 0 or count < 0 or edits < 1:
            raise ValueError(
                f"need length >= 0, count >= 0, edits >= 1; got {length}, {count}, {edits}"
            )
        if count == 0:
            return np.zeros((0, length), dtype=np.int32)
        if kind == "random" and k**length <= _EXHAUSTIVE_NEGATIVES:
            allw = _all_strings(k, length)
            neg = allw[~self._member(allw, np.full(len(allw), length, dtype=np.int64))]
            if len(neg) == 0:
                raise NoSuchStringError(f"every string of length {length} is in {self.name}")
            return neg[rng.integers(0, len(neg), size=count)]
        got: list[np.ndarray] = []
        have = tried = 0
        for _ in range(max_rounds):
            rate = max(have / tried, 1e-3) if tried else 0.5
            batch = int(min(1_000_000, max(16, 1.2 * (count - have) / rate)))
            tried += batch
            if kind == "random":
                cand = rng.integers(0, k, size=(batch, length), dtype=np.int32)
            else:
                cand = self._near_miss_candidates(rng, length, batch, edits)
            if len(cand):
                cand = cand[~self._member(cand, np.full(len(cand), length, dtype=np.int64))]
                got.append(cand)
                have += len(cand)
            if have >= count:
                return np.concatenate(got)[:count]
        raise NoSuchStringError(
            f"could not find {count} {kind} negatives of length {length} for {self.name} "
            f"(found {have} in {max_rounds} rounds)"
        )

    def _near_miss_candidates(self, rng, length: int, batch: int, edits: int) -> np.ndarray:
        k = self.n_symbols
        n_ops = rng.integers(1, edits + 1, size=batch)
        kinds = [INSERT, DELETE, REPLACE] if k > 1 else [INSERT, DELETE]
        ops = np.asarray(kinds, dtype=np.int8)[rng.integers(0, len(kinds), size=(batch, edits))]
        ops[np.arange(edits)[None, :] >= n_ops[:, None]] = -1
        delta = (ops == INSERT).astype(np.int64) - (ops == DELETE)
        src_len = length - delta.sum(axis=1)
        before = src_len[:, None] + np.cumsum(delta, axis=1) - delta
        feasible = (src_len >= 0) & ~(((ops == DELETE) | (ops == REPLACE)) & (before < 1)).any(
            axis=1
        )
        out = []
        for ls in np.unique(src_len[feasible]):
            if not self.has_length(int(ls)):
                continue
            rows = np.flatnonzero(feasible & (src_len == ls))
            src = self._sample_codes(rng, int(ls), len(rows))
            out.append(apply_edits(rng, src, ops[rows], k, length))
        if not out:
            return np.zeros((0, length), dtype=np.int32)
        res = np.concatenate(out)
        return res[rng.permutation(len(res))]

    def sample_negative(
        self,
        rng: np.random.Generator,
        lengths: int | Sequence[int],
        kind: str = "random",
        edits: int = 1,
        count: int = 1,
    ) -> list[str]:
        """Non-members: uniform random strings or near misses (see :meth:`sample_negative_codes`).

        ``lengths`` is an int or a sequence; each sample's length is drawn uniformly from it.

        Examples
        --------
        >>> import numpy as np
        >>> from expressivity.languages import get_language
        >>> rng = np.random.default_rng(0)
        >>> w = get_language("anbn").sample_negative(rng, 6, "near-miss", count=3)
        >>> [len(x) for x in w], bool(get_language("anbn").contains_batch(w).any())
        ([6, 6, 6], False)
        """
        _check_rng(rng)
        count = _int(count, "count")
        lens = _ints(lengths, "lengths")
        if not lens:
            raise ValueError("lengths must not be empty")
        _check_alloc(count, max(lens) if lens else 0, f"{self.name}: sampling")
        choice = np.asarray(lens)[rng.integers(0, len(lens), size=count)]
        out: list[str] = [""] * count
        for v in np.unique(choice):
            idx = np.flatnonzero(choice == v)
            codes = self.sample_negative_codes(rng, int(v), len(idx), kind=kind, edits=edits)
            for i, w in zip(idx, decode_batch(codes, np.full(len(idx), v), self.alphabet)):
                out[i] = w
        return out

    # ------------------------------------------------------------------ regular
    def dfa(self) -> DFA:
        """The minimal complete DFA (sink counted); ``ValueError`` if not regular."""
        raise ValueError(f"language {self.name!r} is not regular: it has no DFA")


def _all_strings(k: int, length: int) -> np.ndarray:
    """All ``k**length`` strings of a length, in lexicographic order, as ``int32`` rows."""
    if length == 0:
        return np.zeros((1, 0), dtype=np.int32)
    grid = np.indices((k,) * length).reshape(length, -1).T
    return np.ascontiguousarray(grid, dtype=np.int32)
