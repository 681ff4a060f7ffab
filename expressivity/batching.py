"""Words to integer arrays, and integer arrays to the kernels' chunk-major layout.

The kernels take lanes in chunks of ``L`` (see :mod:`expressivity.kernels.cpu`).
A :class:`Chunked` batch remembers the permutation that sorted the words by
length (so each chunk stops at its longest word) and maps results back.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["Chunked", "chunk", "encode_words", "workspace"]

#: a thread keeps its workspace up to this size; larger requests get fresh arrays
WORKSPACE_MAX_BYTES = 256 * 1024 * 1024
_WORKSPACE = threading.local()


def workspace(n: int, dtype) -> np.ndarray:
    """A 1-D array of ``n`` elements from this thread's reusable buffer (one per dtype).

    Its contents are undefined, and it is overwritten by the next request of the
    same thread: for trajectories that a call reads before it returns. Reusing
    the pages avoids the page faults that a fresh large array costs on every
    call (a third of ``Network.states``'s time at hidden size 32).

    Examples
    --------
    >>> a = workspace(10, np.float32)
    >>> a.shape, a.dtype.name, workspace(5, np.float32).base is a.base
    ((10,), 'float32', True)
    """
    dt = np.dtype(dtype)
    if n * dt.itemsize > WORKSPACE_MAX_BYTES:
        return np.empty(n, dtype=dt)
    bufs = getattr(_WORKSPACE, "bufs", None)
    if bufs is None:
        bufs = _WORKSPACE.bufs = {}
    buf = bufs.get(dt.str)
    if buf is None or buf.size < n:
        grow = 2 * (0 if buf is None else buf.size)
        cap = WORKSPACE_MAX_BYTES // dt.itemsize
        buf = bufs[dt.str] = np.empty(max(n, min(grow, cap)), dtype=dt)
    return buf[:n]


def encode_words(words: Sequence, alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer-code words over ``alphabet``; pad with 0.

    Parameters
    ----------
    words : sequence of str (or of sequences of single-character symbols)
    alphabet : str
        The symbols in order; symbol ``alphabet[k]`` becomes ``k``.

    Returns
    -------
    symbols : (N, T) int32, padded with 0 beyond each length
    lengths : (N,) int64

    Raises
    ------
    ValueError
        If a word holds a symbol outside the alphabet (the message names both).

    Examples
    --------
    >>> s, n = encode_words(["ab", ""], "ab")
    >>> s.tolist(), n.tolist()
    ([[0, 1], [0, 0]], [2, 0])
    """
    if isinstance(words, str):
        raise TypeError("words must be a sequence of words, not a single string; wrap it in a list")
    if len(words) and all(type(w) is str for w in words):
        return _encode_strings(list(words), alphabet)
    index = {a: k for k, a in enumerate(alphabet)}
    lengths = np.array([len(w) for w in words], dtype=np.int64)
    T = int(lengths.max()) if len(words) else 0
    symbols = np.zeros((len(words), T), dtype=np.int32)
    for n, w in enumerate(words):
        try:
            symbols[n, : len(w)] = [index[a] for a in w]
        except KeyError as err:
            raise ValueError(
                f"symbol {err.args[0]!r} in word {n} ({w!r}) is not in the alphabet {alphabet!r}"
            ) from None
        except TypeError:
            raise TypeError(
                f"word {n} is {type(w).__name__}, expected a string of symbols"
            ) from None
    return symbols, lengths


def _encode_strings(words: list[str], alphabet: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`encode_words` for a list of ``str``: all words at once through a code table."""
    lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    T = int(lengths.max())
    symbols = np.zeros((len(words), T), dtype=np.int32)
    codes = np.frombuffer("".join(words).encode("utf-32-le"), dtype=np.uint32)
    if codes.size == 0:
        return symbols, lengths
    points = np.frombuffer(alphabet.encode("utf-32-le"), dtype=np.uint32)
    table = np.full(int(max(codes.max(), points.max())) + 1, -1, dtype=np.int32)
    table[points[::-1]] = np.arange(len(alphabet), dtype=np.int32)[::-1]  # first occurrence wins
    flat = table[codes]
    bad = np.flatnonzero(flat < 0)
    if bad.size:
        n = int(np.searchsorted(np.cumsum(lengths), bad[0], side="right"))
        sym = chr(int(codes[bad[0]]))
        raise ValueError(
            f"symbol {sym!r} in word {n} ({words[n]!r}) is not in the alphabet {alphabet!r}"
        )
    rows = np.repeat(np.arange(len(words)), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    symbols[rows, np.arange(codes.size) - starts] = flat
    return symbols, lengths


@dataclass
class Chunked:
    """A batch in chunk-major layout.

    Attributes
    ----------
    symbols : (C, T, L) int32
    lengths : (C, L) int64 (0 for padding lanes)
    order : (N,) int64, lane ``i`` (flattened ``c * L + l``) holds word ``order[i]``
    n : number of real words
    """

    symbols: np.ndarray
    lengths: np.ndarray
    order: np.ndarray
    n: int

    @property
    def n_chunks(self) -> int:
        return self.lengths.shape[0]

    @property
    def width(self) -> int:
        return self.lengths.shape[1]

    @property
    def steps(self) -> int:
        return self.symbols.shape[1]

    def to_lanes(self, values: np.ndarray) -> np.ndarray:
        """Per-word values (N, ...) -> chunk layout (C, L, ...) (padding lanes zero)."""
        out = np.zeros((self.n_chunks * self.width,) + values.shape[1:], dtype=values.dtype)
        out[: self.n] = values[self.order]
        return out.reshape((self.n_chunks, self.width) + values.shape[1:])

    def from_lanes(self, values: np.ndarray) -> np.ndarray:
        """Lane-major values (C, L, ...) -> per-word order (N, ...)."""
        flat = values.reshape((-1,) + values.shape[2:])[: self.n]
        out = np.empty_like(flat)
        out[self.order] = flat
        return out

    def per_word(self, arr: np.ndarray, rows_extra: int) -> list[np.ndarray]:
        """Trajectories (C, T', K, L) -> one (length + rows_extra, K) array per word.

        The words' rows are gathered into one contiguous buffer (only the rows
        each word has), and each word's array is a view into it.
        """
        C, T1, K, L = arr.shape
        rows = np.minimum(self.lengths.reshape(-1)[: self.n] + rows_extra, T1)
        offsets = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(rows, out=offsets[1:])
        buf = np.empty((int(offsets[-1]), K), dtype=arr.dtype)
        _gather_rows(arr, rows, offsets, buf)
        out: list = [None] * self.n
        starts, ends = offsets[:-1].tolist(), offsets[1:].tolist()
        for i, j in enumerate(self.order.tolist()):
            out[j] = buf[starts[i] : ends[i]]
        return out


@numba.njit(cache=True)
def _gather_rows(arr, rows, offsets, out):
    """out[offsets[i] + t, k] = arr[c, t, k, l] for lane i = c*L + l and t < rows[i]."""
    C, T1, K, L = arr.shape
    n = rows.shape[0]
    for c in range(C):
        for t in range(T1):
            for l in range(L):
                i = c * L + l
                if i < n and t < rows[i]:
                    o = offsets[i] + t
                    for k in range(K):
                        out[o, k] = arr[c, t, k, l]


#: widest chunk for training (forward + backward): 256 lanes was no faster there
MAX_WIDTH = 128
#: widest chunk for forward-only runs (``states``, ``outputs``, ``accepts``):
#: 256 lanes ran the LSTM forward 5-16% faster than 128 at H = 8..128, one thread
FORWARD_MAX_WIDTH = 256


def chunk_width(n: int, most: int = MAX_WIDTH) -> int:
    """Lanes per chunk: up to ``most``, and at least as many chunks as threads when it pays.

    Wider chunks run the lane loops longer (128 measured 10-20% faster than 64 at
    hidden sizes 8-128, bench/bench_cells.py sizes); words are sorted by length
    first, so a chunk's padding stays small.

    Examples
    --------
    >>> import numba
    >>> numba.set_num_threads(1)
    >>> chunk_width(1000), chunk_width(1000, FORWARD_MAX_WIDTH), chunk_width(5)
    (128, 256, 5)
    >>> numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    """
    threads = numba.get_num_threads()
    per_thread = -(-n // max(threads, 1))
    if per_thread <= 8:
        return max(1, min(n, 8)) if n < 16 else 8
    return int(min(most, -(-per_thread // 8) * 8))


def chunk(symbols: np.ndarray, lengths: np.ndarray, width: int | None = None) -> Chunked:
    """Sort words by length (longest first) and cut them into chunks of lanes.

    Parameters
    ----------
    symbols : (N, T) int32
    lengths : (N,) int64
    width : lanes per chunk (default :func:`chunk_width`)

    Examples
    --------
    >>> b = chunk(np.array([[0, 0], [1, 0]], np.int32), np.array([1, 2]))
    >>> b.lengths.tolist()
    [[2, 1]]
    """
    n = len(lengths)
    L = width or chunk_width(max(n, 1))
    C = max(1, -(-n // L))
    order = np.argsort(-lengths, kind="stable")
    T = symbols.shape[1]
    lanes = np.zeros((C * L, T), dtype=np.int32)
    lanes[:n] = symbols[order]
    lens = np.zeros(C * L, dtype=np.int64)
    lens[:n] = lengths[order]
    sym = np.ascontiguousarray(lanes.reshape(C, L, T).transpose(0, 2, 1))
    return Chunked(sym, lens.reshape(C, L), order, n)
