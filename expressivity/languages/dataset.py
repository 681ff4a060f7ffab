"""Integer-coded datasets with per-step targets for the three heads, and their builder.

Heads: ``accept`` uses :attr:`Dataset.labels`; ``next-symbol`` uses
:attr:`Dataset.next_symbol` (the actual next symbol, ``END`` = ``len(alphabet)`` at the
end, ``-1`` padding); ``next-set`` uses :attr:`Dataset.next_set` (allowed next symbols
under the language after every prefix, all False in padding and after a prefix that no
member starts with).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .base import Language
from .errors import NoSuchStringError
from .symbols import check_alphabet, decode_batch

__all__ = ["Dataset", "make_dataset", "KINDS"]

#: names of the values of :attr:`Dataset.kinds`
KINDS = ("positive", "random", "near-miss", "other")
_FIELDS = ("symbols", "lengths", "labels", "next_symbol", "next_set", "kinds")


@dataclass
class Dataset:
    """A padded, integer-coded set of strings with labels and per-step targets.

    Attributes
    ----------
    alphabet : str
    symbols : int32 (N, T_max)  -- zero beyond each length
    lengths : int64 (N,)
    labels : bool (N,)  -- membership
    next_symbol : int32 (N, T_max+1)  -- symbol t for t < len, END (= len(alphabet))
        at t = len, -1 after
    next_set : bool (N, T_max+1, len(alphabet)+1)  -- allowed next symbols after each prefix
    kinds : int8 (N,)  -- index into :data:`KINDS` (how the row was made)

    Examples
    --------
    >>> import numpy as np
    >>> from expressivity.languages import get_language
    >>> ds = Dataset.from_words(get_language("anbn"), ["ab", "ba"])
    >>> ds.labels.tolist(), ds.next_symbol[0].tolist()
    ([True, False], [0, 1, 2])
    """

    alphabet: str
    symbols: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    next_symbol: np.ndarray
    next_set: np.ndarray
    kinds: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        check_alphabet(self.alphabet)
        n = len(self.lengths)
        if self.kinds is None:
            self.kinds = np.full(n, KINDS.index("other"), dtype=np.int8)
        t = self.symbols.shape[1] if self.symbols.ndim == 2 else -1
        k = len(self.alphabet)
        expect = {
            "symbols": ((n, t), np.int32),
            "lengths": ((n,), np.int64),
            "labels": ((n,), np.bool_),
            "next_symbol": ((n, t + 1), np.int32),
            "next_set": ((n, t + 1, k + 1), np.bool_),
            "kinds": ((n,), np.int8),
        }
        for name, (shape, dtype) in expect.items():
            arr = getattr(self, name)
            if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != dtype:
                got = (getattr(arr, "shape", None), getattr(arr, "dtype", type(arr).__name__))
                raise ValueError(f"Dataset.{name} must be {np.dtype(dtype)} {shape}, got {got}")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_codes(
        cls,
        lang: Language,
        codes: np.ndarray,
        lengths: np.ndarray,
        kinds: np.ndarray | None = None,
    ) -> Dataset:
        """Label padded int codes with ``lang`` (membership, next symbols, next sets)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        t_max = int(lengths.max()) if len(lengths) else 0
        codes = np.ascontiguousarray(np.asarray(codes)[:, :t_max], dtype=np.int32)
        steps = np.arange(t_max)[None, :]
        codes = np.where(steps < lengths[:, None], codes, 0).astype(np.int32)
        labels = lang.contains_codes(codes, lengths)
        next_set = lang.next_sets(codes, lengths)
        k = lang.n_symbols
        next_symbol = np.full((len(lengths), t_max + 1), -1, dtype=np.int32)
        next_symbol[:, :t_max] = np.where(steps < lengths[:, None], codes, -1)
        next_symbol[np.arange(len(lengths)), lengths] = k
        if kinds is None:
            kinds = np.full(len(lengths), KINDS.index("other"), dtype=np.int8)
        return cls(
            lang.alphabet, codes, lengths, labels, next_symbol, next_set, kinds.astype(np.int8)
        )

    @classmethod
    def from_words(cls, lang: Language, words: Sequence[str]) -> Dataset:
        """Label a list of strings with ``lang``."""
        codes, lengths = lang.encode_batch(words)
        return cls.from_codes(lang, codes, lengths)

    @classmethod
    def concat(cls, parts: Iterable[Dataset]) -> Dataset:
        """Concatenate datasets over the same alphabet (re-padded to the longest)."""
        parts = list(parts)
        if not parts:
            raise ValueError("concat needs at least one Dataset")
        alpha = parts[0].alphabet
        if any(p.alphabet != alpha for p in parts):
            raise ValueError("cannot concatenate datasets over different alphabets")
        t = max(p.symbols.shape[1] for p in parts)
        k = len(alpha)

        def pad(a: np.ndarray, width: int, fill) -> np.ndarray:
            extra = [(0, 0), (0, width - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
            return np.pad(a, extra, constant_values=fill)

        return cls(
            alpha,
            np.concatenate([pad(p.symbols, t, 0) for p in parts]),
            np.concatenate([p.lengths for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([pad(p.next_symbol, t + 1, -1) for p in parts]),
            np.concatenate([pad(p.next_set, t + 1, False) for p in parts]).reshape(
                -1, t + 1, k + 1
            ),
            np.concatenate([p.kinds for p in parts]),
        )

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def words(self) -> list[str]:
        """The strings, decoded."""
        return decode_batch(self.symbols, self.lengths, self.alphabet)

    @property
    def t_max(self) -> int:
        """Padded length (columns of :attr:`symbols`)."""
        return self.symbols.shape[1]

    def __getitem__(self, index) -> Dataset:
        """Subset by index array, boolean mask or slice (re-padded to the subset's longest)."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        lengths = self.lengths[idx]
        t = int(lengths.max()) if len(idx) else 0
        return Dataset(
            self.alphabet,
            self.symbols[idx, :t],
            lengths,
            self.labels[idx],
            self.next_symbol[idx, : t + 1],
            self.next_set[idx, : t + 1],
            self.kinds[idx],
        )

    def split_by_length(self, max_train_len: int) -> tuple[Dataset, Dataset]:
        """``(train, test)``: rows with length ``<= max_train_len`` and the longer ones.

        Examples
        --------
        >>> import numpy as np
        >>> from expressivity.languages import get_language, make_dataset
        >>> ds = make_dataset(get_language("dyck-1"), np.random.default_rng(0), lengths=range(0, 9))
        >>> tr, te = ds.split_by_length(4)
        >>> int(tr.lengths.max()), int(te.lengths.min())
        (4, 6)
        """
        return self[self.lengths <= max_train_len], self[self.lengths > max_train_len]

    def stratified_indices(
        self, rng: np.random.Generator, per_group: int, by_label: bool = True
    ) -> np.ndarray:
        """Indices of at most ``per_group`` random rows per length (and per label), sorted."""
        keys = self.lengths * 2 + self.labels if by_label else self.lengths
        out = []
        for key in np.unique(keys):
            rows = np.flatnonzero(keys == key)
            take = min(per_group, len(rows))
            out.append(rng.choice(rows, size=take, replace=False))
        return np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)

    def stratified(
        self, rng: np.random.Generator, per_group: int, by_label: bool = True
    ) -> Dataset:
        """Subset with at most ``per_group`` rows per length (and label).

        See :meth:`stratified_indices`.
        """
        return self[self.stratified_indices(rng, per_group, by_label)]

    def by_length(self) -> dict[int, np.ndarray]:
        """Map each length to the indices of its rows."""
        return {int(v): np.flatnonzero(self.lengths == v) for v in np.unique(self.lengths)}

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path) -> None:
        """Save as compressed ``.npz`` (no pickle)."""
        np.savez_compressed(
            path, alphabet=np.array(self.alphabet), **{f: getattr(self, f) for f in _FIELDS}
        )

    @classmethod
    def load(cls, path: str | Path) -> Dataset:
        """Load a dataset written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as z:
            missing = [f for f in ("alphabet", *_FIELDS) if f not in z]
            if missing:
                raise ValueError(f"{path}: not a Dataset file (missing {missing})")
            return cls(str(z["alphabet"]), *(z[f] for f in _FIELDS))


def make_dataset(
    lang: Language,
    rng: np.random.Generator,
    lengths: Iterable[int] | None = None,
    ns: Iterable[int] | None = None,
    positives_per_length: int = 100,
    negatives: Sequence[str] = ("near-miss", "random"),
    balance: bool = True,
    negatives_per_length: int | None = None,
    edits: int = 2,
) -> Dataset:
    """Sample a labelled dataset stratified by length (or by size ``n``).

    For every length (``lengths``, or ``lang.length_of_n(n)`` for ``ns``) that has
    members, ``positives_per_length`` uniform positives are drawn. Negatives per length
    are ``negatives_per_length`` if given, else as many as the positives of that length
    when ``balance`` (so lengths without members get none), else
    ``positives_per_length``; they are split evenly over the ``negatives`` kinds (a kind
    that has no string at a length hands its share to the others). Deterministic given
    ``rng``.

    Examples
    --------
    >>> import numpy as np
    >>> from expressivity.languages import get_language
    >>> ds = make_dataset(get_language("anbn"), np.random.default_rng(0), ns=range(1, 4),
    ...                   positives_per_length=2)
    >>> len(ds), int(ds.labels.sum()), sorted(set(ds.lengths.tolist()))
    (12, 6, [2, 4, 6])
    """
    if (lengths is None) == (ns is None):
        raise ValueError("give exactly one of lengths= or ns=")
    for kind in negatives:
        if kind not in ("near-miss", "random"):
            raise ValueError(f"unknown negative kind {kind!r}; use 'near-miss' or 'random'")
    lens = [int(v) for v in lengths] if lengths is not None else [lang.length_of_n(n) for n in ns]
    codes: list[np.ndarray] = []
    lens_out: list[np.ndarray] = []
    kinds: list[np.ndarray] = []

    def add(block: np.ndarray, length: int, kind: str) -> None:
        codes.append(block)
        lens_out.append(np.full(len(block), length, dtype=np.int64))
        kinds.append(np.full(len(block), KINDS.index(kind), dtype=np.int8))

    for length in lens:
        n_pos = positives_per_length if lang.has_length(length) else 0
        if n_pos:
            add(lang.sample_positive_codes(rng, length, n_pos), length, "positive")
        if negatives_per_length is not None:
            n_neg = negatives_per_length
        else:
            n_neg = n_pos if balance else positives_per_length
        if n_neg == 0 or not negatives:
            continue
        shares = [
            n_neg // len(negatives) + (i < n_neg % len(negatives)) for i in range(len(negatives))
        ]
        failed: list[str] = []
        carry = 0
        for kind, share in zip(negatives, shares):
            want = share + carry
            try:
                add(
                    lang.sample_negative_codes(rng, length, want, kind=kind, edits=edits),
                    length,
                    kind,
                )
                carry = 0
            except NoSuchStringError:
                failed.append(kind)
                carry = want
        if carry:
            for kind in negatives:
                if kind in failed:
                    continue
                try:
                    add(
                        lang.sample_negative_codes(rng, length, carry, kind=kind, edits=edits),
                        length,
                        kind,
                    )
                    break
                except NoSuchStringError:
                    continue
    if not codes:
        raise NoSuchStringError(f"no strings could be sampled for {lang.name} at lengths {lens}")
    t = max(lens_out_i.max(initial=0) for lens_out_i in lens_out)
    padded = np.zeros((sum(len(c) for c in codes), t), dtype=np.int32)
    row = 0
    for c in codes:
        padded[row : row + len(c), : c.shape[1]] = c
        row += len(c)
    return Dataset.from_codes(lang, padded, np.concatenate(lens_out), np.concatenate(kinds))
