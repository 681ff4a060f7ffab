"""The three training protocols of ``docs/languages.md``, as data builders and evaluators.

===============  =============  ==============================================================
name             head           training data
===============  =============  ==============================================================
``weiss2018``    next-symbol    positives only (softmax over alphabet + end marker, threshold
                                0.005 acceptance; Weiss, Goldberg & Yahav 2018)
``suzgun2019``   next-set       positives only, targets are the allowed next sets (sigmoids,
                                threshold 0.5; Suzgun et al. 2019)
``recognition``  accept         balanced positives and negatives (half near misses, half random
                                strings) per length (Butoi et al. 2025, Delétang et al. 2023)
===============  =============  ==============================================================

The training range is a range of ``n`` for counter languages that have one
member per size (``anbn``...; ``unit="n"``), else a range of lengths
(``unit="length"``).

Examples
--------
>>> import numpy as np
>>> from expressivity.languages import get_language
>>> p = get_protocol("weiss2018")
>>> ds = p.training_data(get_language("anbn"), np.random.default_rng(0), 0, 3)
>>> ds.words, p.head
(['', 'ab', 'aabb', 'aaabbb'], 'next-symbol')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from expressivity.evaluate import EvalResult, evaluate_by_length, evaluate_counting

__all__ = ["PROTOCOLS", "Protocol", "get_protocol", "has_sizes", "targets_for"]


def has_sizes(lang) -> bool:
    """Whether ``lang`` has exactly one member per size n (``a^n b^n``, ``a^n b^n c^n``...).

    Such languages are trained and evaluated by n (``positive_of_n``,
    ``near_misses``); every other language by length.
    """
    try:
        lang.positive_of_n(1)
        lang.near_misses(1)
    except NotImplementedError:
        return False
    length = lang.length_of_n(3)
    return sum(len(w) == length for w in lang.enumerate(length)) == 1


def targets_for(head: str, ds) -> np.ndarray:
    """The dataset array a head trains on (``next_symbol``, ``labels`` or ``next_set``).

    A ``next-symbol`` head learns to predict its words, so it refuses a dataset
    with negatives (``ValueError``).
    """
    if head == "next-symbol":
        neg = int(np.count_nonzero(~np.asarray(ds.labels, dtype=bool)))
        if neg:
            raise ValueError(
                f"a next-symbol head trains on positives only (it learns to predict its words), "
                f"but the dataset has {neg} negative(s) of {len(ds.labels)}; use positives "
                "(ds[ds.labels]) or the accept head"
            )
        return ds.next_symbol
    if head == "accept":
        return ds.labels
    if head == "next-set":
        return ds.next_set
    raise ValueError(f"unknown head {head!r}")


@dataclass(frozen=True)
class Protocol:
    """A training protocol: head, default threshold, data and evaluation.

    Attributes
    ----------
    name : str
    head : str
    threshold : float
    positives_only : bool
    default_train : tuple[int, int]
        Default training range when the language has sizes (n) / has only lengths.
    """

    name: str
    head: str
    threshold: float
    positives_only: bool

    def unit(self, lang) -> str:
        """``"n"`` for counter languages with sizes, else ``"length"``."""
        return "n" if has_sizes(lang) else "length"

    def training_data(self, lang, rng: np.random.Generator, lo: int, hi: int, per_value: int = 1):
        """The training set for sizes (or lengths) ``lo..hi`` inclusive.

        ``per_value`` samples per n/length (a counter language has only one
        member per n, so duplicates are dropped for positives-only protocols).
        """
        from expressivity.languages import Dataset, make_dataset

        if lo < 0 or hi < lo:
            raise ValueError(f"training range must satisfy 0 <= lo <= hi, got [{lo}, {hi}]")
        if self.unit(lang) == "n" and self.positives_only:
            return Dataset.from_words(lang, [lang.positive_of_n(n) for n in range(lo, hi + 1)])
        negatives = () if self.positives_only else ("near-miss", "random")
        where = {"ns" if self.unit(lang) == "n" else "lengths": range(lo, hi + 1)}
        ds = make_dataset(lang, rng, positives_per_length=per_value, negatives=negatives, **where)
        if self.positives_only:
            ds = ds[ds.labels]
            # positives of short lengths repeat; keep each word once
            _, first = np.unique(np.array(ds.words, dtype=object), return_index=True)
            ds = ds[np.sort(first)]
        return ds

    def validation_data(self, lang, rng: np.random.Generator, lo: int, hi: int, per_value: int = 1):
        """Words on which early stopping measures accuracy: the training range with negatives.

        For positives-only protocols near misses (and random negatives) are
        added, so that accepting everything does not count as correct.
        """
        from expressivity.languages import Dataset

        if self.unit(lang) == "n":
            words = []
            for n in range(lo, hi + 1):
                words.append(lang.positive_of_n(n))
                words.extend(lang.near_misses(n))
            return Dataset.from_words(lang, words)
        return get_protocol("recognition").training_data(lang, rng, lo, hi, max(per_value, 2))

    def evaluate(
        self,
        net,
        lang,
        rng: np.random.Generator,
        train_max: int,
        eval_max: int,
        far: int | None = None,
        per_length: int = 10,
        train_min: int = 0,
    ) -> EvalResult:
        """Evaluate far beyond training, from ``train_min``: by n (counter languages) or by length."""
        if self.unit(lang) == "n":
            return evaluate_counting(
                net, lang, eval_max, n_min=train_min, far=far, train_max=train_max
            )
        return evaluate_by_length(
            net,
            lang,
            rng,
            range(train_min, eval_max + 1),
            per_length=per_length,
            train_max=train_max,
        )


PROTOCOLS: dict[str, Protocol] = {
    "weiss2018": Protocol("weiss2018", "next-symbol", 0.005, True),
    "suzgun2019": Protocol("suzgun2019", "next-set", 0.5, True),
    "recognition": Protocol("recognition", "accept", 0.5, False),
}


def get_protocol(name: str) -> Protocol:
    """A protocol by name (``weiss2018``, ``suzgun2019``, ``recognition``)."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise KeyError(f"unknown protocol {name!r}; protocols are {', '.join(PROTOCOLS)}") from None
