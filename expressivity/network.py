"""The :class:`Network`: one cell, an optional embedding, a readout head, a precision.

Examples
--------
>>> import numpy as np
>>> import expressivity as ex
>>> net = ex.Network.create("gru", alphabet="ab", hidden_size=4, head="accept",
...                         precision="float64", rng=np.random.default_rng(0))
>>> [s.shape for s in net.states(["aab", ""])]
[(4, 4), (1, 4)]
>>> net.with_precision("float16").precision.name
'float16'
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from expressivity import heads as _heads
from expressivity.batching import (
    FORWARD_MAX_WIDTH,
    Chunked,
    chunk,
    chunk_width,
    encode_words,
    workspace,
)
from expressivity.cells import CellSpec, get_cell
from expressivity.kernels.cpu import NATIVE
from expressivity.params import (
    ParameterError,
    UnknownCellError,
    check_memory,
    expected_shapes,
    init_params,
    pack,
    validate_params,
)
from expressivity.precision import Precision, parse_precision

__all__ = ["Network"]

_FORMAT = "expressivity-network-1"


class Network:
    """A recurrent network under an explicit finite-precision model.

    Use :meth:`create` (random initialisation), :meth:`from_params` (given
    weights), :meth:`load`, :meth:`from_torch` or
    :func:`expressivity.load_weiss2018` rather than the constructor.

    Attributes
    ----------
    cell : str
        Registry name of the cell (see :func:`expressivity.list_cells`).
    alphabet : str
        Input symbols, in order.
    hidden_size, state_size : int
        ``H``, and the size of the state vector analysis sees (``2H`` for the LSTM).
    head : {"accept", "next-symbol", "next-set"}
    precision : Precision
    threshold : float
        The head's acceptance threshold.
    params : dict[str, np.ndarray]
        The parameters, rounded to the precision, in its carrier dtype (read-only).
    """

    def __init__(
        self, spec: CellSpec, alphabet: str, params: dict, head: str, precision, threshold
    ):
        self.spec = spec
        self.alphabet = alphabet
        self.head = head
        self.precision: Precision = parse_precision(precision)
        self.threshold = _heads.check_threshold(threshold)
        _heads.check_precision(head, params["W_out"].shape[0], self.precision, self.threshold)
        self.hidden_size = int(params["h0"].shape[0])
        self.embedding_size = int(params["embedding"].shape[0]) if "embedding" in params else None
        self._source = params  # float64, as given
        self._load(params)

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        cell: str,
        alphabet: str,
        hidden_size: int,
        head: str = "accept",
        precision: str | Precision = "float32",
        rng: np.random.Generator | None = None,
        embedding_size: int | None = None,
        threshold: float | None = None,
    ) -> Network:
        """A randomly initialised network (uniform ±1/sqrt(H), zero initial state).

        Examples
        --------
        >>> import numpy as np
        >>> net = Network.create("lstm", "ab", 3, head="next-symbol", rng=np.random.default_rng(1))
        >>> net.params["W_out"].shape, net.state_size
        ((3, 3), 6)
        """
        spec, alphabet, head = _check_basics(cell, alphabet, head)
        if not _is_int(hidden_size) or hidden_size < 1:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
        if embedding_size is not None and (not _is_int(embedding_size) or embedding_size < 1):
            raise ValueError(f"embedding_size must be a positive integer, got {embedding_size!r}")
        if rng is None:
            raise TypeError("create needs rng=np.random.default_rng(seed): no global seeding")
        hidden_size = int(hidden_size)
        embedding_size = None if embedding_size is None else int(embedding_size)
        shapes = expected_shapes(
            spec,
            len(alphabet),
            hidden_size,
            _heads.output_size(head, len(alphabet)),
            embedding_size,
        )
        check_memory(shapes, f"hidden_size={hidden_size}")
        # fail on the format before drawing weights (same checks as the constructor)
        _heads.check_precision(
            head,
            _heads.output_size(head, len(alphabet)),
            parse_precision(precision),
            _heads.check_threshold(_threshold(head, threshold)),
        )
        params = init_params(shapes, hidden_size, rng)
        return cls(spec, alphabet, params, head, precision, _threshold(head, threshold))

    @classmethod
    def from_params(
        cls,
        cell: str,
        alphabet: str,
        params: dict,
        head: str = "accept",
        precision: str | Precision = "float64",
        threshold: float | None = None,
    ) -> Network:
        """A network with the given weights (names and shapes of ``docs/cells.md``).

        ``params`` holds the cell's parameters, ``h0`` (and ``c0``), ``W_out``,
        ``b_out`` and, optionally, ``embedding`` (E x len(alphabet)). The hidden
        size is read from ``h0``. Weights are rounded to ``precision``.

        Examples
        --------
        >>> import numpy as np
        >>> H, p = 1, {"W_h": np.ones((1, 2)), "U_h": np.ones((1, 1)), "b_h": np.zeros(1),
        ...            "h0": np.zeros(1), "W_out": np.ones((1, 1)), "b_out": np.zeros(1)}
        >>> net = Network.from_params("elman-relu", "ab", p)
        >>> net.states(["aa"])[0][:, 0].tolist()
        [0.0, 1.0, 2.0]
        """
        spec, alphabet, head = _check_basics(cell, alphabet, head)
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
        if "h0" not in params:
            raise ParameterError(
                f"params must hold at least 'h0'; got keys {sorted(map(str, params))}"
            )
        H = _leading_size(params, "h0", 1, "(H,): the initial hidden state")
        E = _leading_size(params, "embedding", 2, "(E, V)") if "embedding" in params else None
        shapes = expected_shapes(spec, len(alphabet), H, _heads.output_size(head, len(alphabet)), E)
        p = validate_params(params, shapes, spec.name)
        return cls(spec, alphabet, p, head, precision, _threshold(head, threshold))

    def with_precision(self, precision: str | Precision) -> Network:
        """The same weights in another format (rounded from the weights as given)."""
        return Network(self.spec, self.alphabet, self._source, self.head, precision, self.threshold)

    def with_params(self, params: dict) -> Network:
        """The same network with new weights (same names and shapes).

        Unlike :meth:`from_params` the weights may be non-finite: training uses it on
        the weights of an update it then reports as diverged.
        """
        shapes = {k: v.shape for k, v in self._source.items()}
        p = validate_params(params, shapes, self.spec.name, finite=False)
        return Network(self.spec, self.alphabet, p, self.head, self.precision, self.threshold)

    def _load(self, params: dict) -> None:
        prec = self.precision
        self._params = {}
        for k, v in params.items():
            a = prec.round(np.array(v, dtype=np.float64))
            a.flags.writeable = False
            self._params[k] = a
        self._packed = pack(
            self.spec, self._params, len(self.alphabet), self.hidden_size, prec.carrier
        )
        self._cfg = self.spec.config()
        self._prec_code = NATIVE if prec.is_native else prec.code

    # ------------------------------------------------------------------ properties
    @property
    def cell(self) -> str:
        return self.spec.name

    @property
    def params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    @property
    def source_params(self) -> dict[str, np.ndarray]:
        """The weights as given (float64), before rounding to the precision."""
        return {k: v.copy() for k, v in self._source.items()}

    @property
    def state_size(self) -> int:
        return self.spec.state_size(self.hidden_size)

    @property
    def n_outputs(self) -> int:
        return self._params["W_out"].shape[0]

    def __repr__(self) -> str:
        emb = f", embedding_size={self.embedding_size}" if self.embedding_size else ""
        return (
            f"Network({self.cell!r}, alphabet={self.alphabet!r}, hidden_size={self.hidden_size}"
            f"{emb}, head={self.head!r}, precision={self.precision.name!r})"
        )

    # ------------------------------------------------------------------ running
    def encode(self, words: Sequence) -> tuple[np.ndarray, np.ndarray]:
        """Integer-code words (see :func:`expressivity.batching.encode_words`)."""
        return encode_words(_check_words(words), self.alphabet)

    def initial_state(self) -> np.ndarray:
        """The initial state vector (``h0``, or ``concat(h0, c0)`` for the LSTM)."""
        if self.spec.has_cell_state:
            return np.concatenate([self._params["h0"], self._params["c0"]])
        return self._params["h0"].copy()

    def _check_symbols(self, symbols: np.ndarray, lengths: np.ndarray) -> None:
        if symbols.ndim != 2 or lengths.ndim != 1 or symbols.shape[0] != lengths.shape[0]:
            raise ValueError(
                f"symbols must be (N, T) and lengths (N,); got {symbols.shape} and {lengths.shape}"
            )
        if symbols.dtype.kind not in "iu" or lengths.dtype.kind not in "iu":
            raise TypeError("symbols and lengths must be integer arrays")
        if len(lengths) and (lengths.min() < 0 or lengths.max() > symbols.shape[1]):
            raise ValueError("lengths must lie between 0 and symbols.shape[1]")
        if symbols.size and (symbols.min() < 0 or symbols.max() >= len(self.alphabet)):
            raise ValueError(
                f"symbol codes must lie in [0, {len(self.alphabet)}) for alphabet {self.alphabet!r}"
            )

    def run(
        self,
        symbols: np.ndarray,
        lengths: np.ndarray,
        state0: np.ndarray | None = None,
        forward=None,
        width: int | None = None,
        scratch: bool = False,
    ):
        """Run the kernel on integer-coded words; returns the chunked trajectories.

        Parameters
        ----------
        symbols : (N, T) int array, lengths : (N,) int array
        state0 : (N, S) initial states, default the network's own
        forward : the kernel driver (default :func:`expressivity.kernels.cpu.forward`;
            :func:`expressivity.kernels.cuda.forward_cuda` passes the GPU's)
        width : lanes per chunk (default: chosen for the CPU's threads)
        scratch : put the trajectories in this thread's reusable workspace
            (:func:`expressivity.batching.workspace`) instead of fresh arrays:
            they stay valid only until the next such call, and rows of ``gates``
            and ``aux`` past a chunk's longest word are undefined. For callers
            that read the states at once (``states``, ``outputs``, ``accepts``):
            large fresh arrays cost a page fault per 4 KiB on every call.

        Returns
        -------
        (batch, traj) where ``batch`` is a :class:`~expressivity.batching.Chunked`
        and ``traj`` a dict of arrays ``states`` (C, T+1, S, L), ``gates``
        (C, T, G, H, L), ``aux`` (C, T, H, L).
        """
        if forward is None:
            from expressivity.kernels.cpu import forward

        symbols = np.asarray(symbols)
        lengths = np.asarray(lengths)
        self._check_symbols(symbols, lengths)
        batch = chunk(
            symbols.astype(np.int32, copy=False), lengths.astype(np.int64, copy=False), width
        )
        C, T, L = batch.symbols.shape
        S, H, G = self.state_size, self.hidden_size, len(self.spec.gates)
        dt = self.precision.carrier
        shapes = ((C, T + 1, S, L), (C, T, G, H, L), (C, T, H, L))
        if scratch:
            sizes = [int(np.prod(sh)) for sh in shapes]
            buf = workspace(sum(sizes), dt)
            cut = np.cumsum([0] + sizes)
            states, gates, aux = (buf[a:b].reshape(sh) for a, b, sh in zip(cut, cut[1:], shapes))
        else:
            states = np.empty(shapes[0], dtype=dt)
            gates, aux = np.zeros(shapes[1], dtype=dt), np.zeros(shapes[2], dtype=dt)
        if state0 is None:
            states[:, 0] = self.initial_state()[None, :, None]
        else:
            s0 = np.asarray(state0)
            if s0.shape != (len(lengths), S):
                raise ValueError(f"state0 must have shape {(len(lengths), S)}, got {s0.shape}")
            _check_finite(s0, "state0")
            states[:, 0] = np.moveaxis(batch.to_lanes(self.precision.round(s0)), 1, 2)
        pk = self._packed
        forward(
            batch.symbols, batch.lengths, pk["XW"], pk["U"], pk["bias"], pk["d"],
            self._cfg, self._prec_code, states, gates, aux,
        )  # fmt: skip
        return batch, {"states": states, "gates": gates, "aux": aux}

    def _forward_only(self, symbols, lengths):
        """:meth:`run` into the workspace, in the wide chunks that suit a forward pass."""
        width = chunk_width(max(len(lengths), 1), FORWARD_MAX_WIDTH)
        return self.run(symbols, lengths, width=width, scratch=True)

    def _per_word(self, batch: Chunked, arr: np.ndarray, rows_extra: int) -> list[np.ndarray]:
        """(C, T', K, L) -> list over words of (len + rows_extra, K) (views into one buffer)."""
        return batch.per_word(arr, rows_extra)

    def states(self, words: Sequence) -> list[np.ndarray]:
        """State after each prefix: one (len(word)+1, S) array per word.

        Row 0 is the initial state. For the LSTM the state is ``concat(h, c)``.

        Examples
        --------
        >>> import numpy as np
        >>> net = Network.create("mgu", "ab", 2, rng=np.random.default_rng(0))
        >>> net.states(["abba"])[0].shape
        (5, 2)
        """
        words = _check_words(words)
        if len(words) == 0:
            return []
        batch, traj = self._forward_only(*self.encode(words))
        return self._per_word(batch, traj["states"], 1)

    def _probabilities(self, batch: Chunked, states: np.ndarray):
        h = states[:, :, : self.hidden_size, :]
        z = _heads.logits(self._params["W_out"], self._params["b_out"], h, self.precision)
        return z, _heads.probabilities(self.head, z, self.precision)

    def outputs(self, words: Sequence) -> list[np.ndarray]:
        """Head probabilities after each prefix: one (len(word)+1, O) array per word.

        Row ``t`` predicts symbol ``t``; the last row predicts the end marker.
        """
        words = _check_words(words)
        if len(words) == 0:
            return []
        batch, traj = self._forward_only(*self.encode(words))
        _, p = self._probabilities(batch, traj["states"])
        return self._per_word(batch, p, 1)

    def trace(self, words: Sequence, state0: np.ndarray | None = None):
        """States and head probabilities after each prefix, from one forward pass.

        Parameters
        ----------
        words : list of str
        state0 : (N, S) array, optional
            The state each word starts from (default: the network's initial
            state). A state this network reached along some word ``u`` makes the
            result that of ``u + word``, bit for bit (how
            :mod:`expressivity.prefixes` shares prefixes).

        Returns
        -------
        (states, outputs): two lists with one (len(word)+1, S) and one
        (len(word)+1, O) array per word, as :meth:`states` and :meth:`outputs`.

        Raises
        ------
        ValueError
            For a ``state0`` of the wrong shape or with non-finite values.

        Examples
        --------
        >>> import numpy as np
        >>> net = Network.create("gru", "ab", 3, rng=np.random.default_rng(0))
        >>> s, o = net.trace(["ab"])
        >>> s2, o2 = net.trace(["b"], state0=s[0][1:2])
        >>> bool(np.array_equal(o2[0], o[0][1:]))
        True
        """
        words = _check_words(words)
        if len(words) == 0:
            return [], []
        symbols, lengths = self.encode(words)
        if state0 is None:
            batch, traj = self._forward_only(symbols, lengths)
        else:
            width = chunk_width(max(len(lengths), 1), FORWARD_MAX_WIDTH)
            batch, traj = self.run(symbols, lengths, state0=state0, width=width, scratch=True)
        _, p = self._probabilities(batch, traj["states"])
        return (
            self._per_word(batch, traj["states"], 1),
            self._per_word(batch, p, 1),
        )

    def accepts(self, words: Sequence) -> np.ndarray:
        """The head's acceptance decision for each word (bool array)."""
        words = _check_words(words)
        if len(words) == 0:
            return np.zeros(0, dtype=bool)
        return self.accepts_encoded(*self.encode(words))

    def accepts_encoded(self, symbols: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """:meth:`accepts` on integer-coded words (N, T) with lengths (N,)."""
        if len(lengths) == 0:
            return np.zeros(0, dtype=bool)
        batch, traj = self._forward_only(symbols, lengths)
        _, p = self._probabilities(batch, traj["states"])
        acc = _heads.accepts(self.head, p, batch.symbols, batch.lengths, self.threshold)
        return batch.from_lanes(acc)

    def step(self, states: np.ndarray, symbols: np.ndarray, return_gates: bool = False):
        """One step from many states at once: (N, S) states, (N,) symbols -> (N, S).

        With ``return_gates`` also a dict gate name -> (N, H) activations.
        """
        states = np.asarray(states)
        symbols = np.asarray(symbols).reshape(-1, 1)
        if states.ndim != 2:
            raise ValueError(f"states must be (N, {self.state_size}), got {states.shape}")
        n = len(symbols)
        batch, traj = self.run(symbols, np.ones(n, dtype=np.int64), state0=states)
        nxt = batch.from_lanes(np.moveaxis(traj["states"][:, 1], 2, 1))
        if not return_gates:
            return nxt
        g = batch.from_lanes(np.moveaxis(traj["gates"][:, 0], 3, 1))  # (N, G, H)
        return nxt, {gate.name: g[:, k] for k, gate in enumerate(self.spec.gates)}

    def readout(self, states: np.ndarray) -> np.ndarray:
        """Head probabilities (N, O) for state vectors (N, S) (or, for the LSTM, (N, H))."""
        states = np.asarray(states)
        widths = sorted({self.state_size, self.hidden_size})
        if states.ndim != 2 or states.shape[1] not in widths:
            raise ValueError(
                f"readout needs states of shape (N, {' or '.join(map(str, widths))}) for this "
                f"{self.cell} network (hidden_size={self.hidden_size}), got {states.shape}"
            )
        if states.dtype.kind not in "fiu":
            raise TypeError(f"states must be real numbers, got dtype {states.dtype}")
        _check_finite(states, "states")
        h = self.precision.round(states[:, : self.hidden_size]).T[None, None]  # (1, 1, H, N)
        z = _heads.logits(self._params["W_out"], self._params["b_out"], h, self.precision)
        return _heads.probabilities(self.head, z, self.precision)[0, 0].T

    # ------------------------------------------------------------------ gradients
    def loss_and_grad(self, words: Sequence, targets=None) -> tuple[float, dict[str, np.ndarray]]:
        """Loss of the head on ``words`` and its gradient for every parameter.

        ``targets``: for ``accept``, one label per word (bool); for
        ``next-set``, one (len(word)+1, len(alphabet)+1) boolean array per word;
        for ``next-symbol``, None (the word itself, then the end marker).
        The loss is summed over positions and averaged over words.
        """
        symbols, lengths = self.encode(words)
        N, T = symbols.shape
        if self.head == "next-symbol":
            if targets is not None:
                raise ValueError("the next-symbol head takes its targets from the words")
            tgt = np.full((N, T + 1), -1, dtype=np.int64)
            tgt[:, :T] = np.where(np.arange(T)[None] < lengths[:, None], symbols, -1)
            tgt[np.arange(N), lengths] = len(self.alphabet)
        elif self.head == "accept":
            tgt = np.asarray(targets)
            if tgt.shape != (N,):
                raise ValueError(f"accept head needs one label per word ({N}), got {tgt.shape}")
        else:
            if targets is None or len(targets) != N:
                raise ValueError("next-set head needs one (len+1, O) target array per word")
            tgt = np.zeros((N, T + 1, self.n_outputs), dtype=bool)
            for n, t in enumerate(targets):
                t = np.asarray(t)
                if t.dtype != np.bool_:
                    t = self._check_targets(t[None], (1, t.shape[0] - 1 if t.ndim else 0))[0]
                    t = t.astype(bool)
                if t.shape != (lengths[n] + 1, self.n_outputs):
                    raise ValueError(
                        f"target {n} has shape {t.shape}, expected {(lengths[n] + 1, self.n_outputs)}"
                    )
                tgt[n, : lengths[n] + 1] = t
        return self.loss_and_grad_encoded(symbols, lengths, tgt)

    def loss_and_grad_encoded(self, symbols, lengths, targets) -> tuple[float, dict]:
        """:meth:`loss_and_grad` on integer-coded words.

        ``targets``: ``next-symbol`` (N, T+1) int (-1: none), ``accept`` (N,)
        labels, ``next-set`` (N, T+1, O) booleans (the dataset arrays).
        """
        from expressivity.gradients import backward

        symbols, lengths = np.asarray(symbols), np.asarray(lengths)
        self._check_symbols(symbols, lengths)
        if len(lengths) == 0:
            raise ValueError(
                "loss_and_grad needs at least one word (the loss is a mean over words)"
            )
        targets = self._check_targets(targets, symbols.shape)
        batch, traj = self.run(symbols, lengths)
        return backward(self, batch, traj, targets)

    def loss_encoded(self, symbols, lengths, targets) -> float:
        """The loss of :meth:`loss_and_grad_encoded` without the gradient (forward only).

        Examples
        --------
        >>> import numpy as np
        >>> net = Network.create("gru", "ab", 3, head="accept", rng=np.random.default_rng(0))
        >>> sym, lens = net.encode(["ab", "b"])
        >>> y = np.array([True, False])
        >>> bool(np.isclose(net.loss_encoded(sym, lens, y), net.loss_and_grad_encoded(sym, lens, y)[0]))
        True
        """
        from expressivity.gradients import chunk_targets

        if len(lengths) == 0:
            return float("nan")
        symbols, lengths = np.asarray(symbols), np.asarray(lengths)
        self._check_symbols(symbols, lengths)
        targets = self._check_targets(targets, symbols.shape)
        batch, traj = self._forward_only(symbols, lengths)
        z, prob = self._probabilities(batch, traj["states"])
        tgt = chunk_targets(self.head, batch, np.asarray(targets))
        loss, _ = _heads.loss_and_dlogits(
            self.head, z, prob, tgt, batch.lengths, batch.n, self.precision
        )
        return loss

    def _check_targets(self, targets, shape) -> np.ndarray:
        """The targets of :meth:`loss_and_grad_encoded`, checked (shape, values); never cast."""
        N, T = shape
        t = np.asarray(targets)
        if self.head == "next-symbol":
            want, what = (N, T + 1), "int next-symbol codes (-1: none)"
            ok_vals = np.arange(-1, self.n_outputs)
        elif self.head == "accept":
            want, what, ok_vals = (N,), "labels 0/1 (or bool)", np.array([0, 1])
        else:
            want, what = (N, T + 1, self.n_outputs), "0/1 (or bool) next-set flags"
            ok_vals = np.array([0, 1])
        if t.shape != want:
            raise ValueError(
                f"{self.head} head needs targets of shape {want} ({what}), got {t.shape}"
            )
        if t.dtype == np.bool_:
            return t
        if t.dtype.kind not in "iuf":
            raise TypeError(f"{self.head} targets must be {what}, got dtype {t.dtype}")
        bad = ~np.isin(t, ok_vals)  # NaN is in no set
        if bad.any():
            vals = np.unique(t[bad])[:5].tolist()
            raise ValueError(
                f"{self.head} targets must be {what} (values in {ok_vals.min()}..{ok_vals.max()}), "
                f"got {vals} ({int(bad.sum())} entries)"
            )
        return t

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, training: dict | None = None) -> Path:
        """Write weights (as given, float64) and metadata (JSON) to one .npz file.

        ``training``: a JSON-able dict stored beside the metadata (the run spec:
        language, protocol, training range...), read back by :meth:`read_metadata`.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = (
                path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
            )
        meta = {
            "format": _FORMAT,
            "cell": self.cell,
            "alphabet": self.alphabet,
            "head": self.head,
            "precision": self.precision.name,
            "threshold": self.threshold,
        }
        if training is not None:
            meta["training"] = dict(training)
        arrays = {f"param/{k}": v for k, v in self._source.items()}
        np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)
        return path

    @staticmethod
    def read_metadata(path: str | Path) -> dict:
        """The JSON metadata of a file written by :meth:`save` (``"training"``: the run, if saved)."""
        _check_archive(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["__meta__"]))
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"{path}: not a readable expressivity network file ({err})") from err
        if not isinstance(meta, dict):
            raise ValueError(f"{path}: network metadata is not a JSON object")
        return meta

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Read a network written by :meth:`save` (no pickle involved)."""
        if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
            if not hasattr(path, "read"):  # a file object is fine
                raise TypeError(
                    f"path must be a str, a path or a file, got {type(path).__name__} {path!r:.60}"
                )
        _check_archive(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["__meta__"]))
                params = {k[len("param/") :]: z[k] for k in z.files if k.startswith("param/")}
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"{path}: not a readable expressivity network file ({err})") from err
        except RecursionError:
            raise ValueError(f"{path}: its metadata (JSON) is nested too deeply") from None
        if not isinstance(meta, dict):
            raise ValueError(
                f"{path}: its metadata must be a JSON object, got a {type(meta).__name__}"
            )
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path}: unknown network format {meta.get('format')!r}")
        keys = ("cell", "alphabet", "head", "precision", "threshold")
        missing = [k for k in keys if k not in meta]
        if missing:
            raise ValueError(f"{path}: its metadata lacks {missing} (expected {list(keys)})")
        try:
            _heads.check_threshold(meta["threshold"])  # saved: never null (no default here)
            return cls.from_params(
                *(meta[k] for k in keys[:2]), params, *(meta[k] for k in keys[2:])
            )
        except (ValueError, TypeError, KeyError) as err:
            msg = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise type(err)(f"{path}: {msg}") from err

    @classmethod
    def from_torch(cls, module, alphabet: str, **kwargs) -> Network:
        """Import a PyTorch ``nn.LSTM``, ``nn.GRU`` (as ``gru-reset-after``) or ``nn.RNN``.

        See :func:`expressivity.interop.from_torch` for the arguments.
        """
        from expressivity.interop import from_torch

        return from_torch(module, alphabet, **kwargs)


def _check_words(words) -> list:
    """``words`` as a list of words (str, or sequences of one-character str); ``TypeError``."""
    if isinstance(words, (str, bytes)) or not isinstance(words, (Sequence, np.ndarray)):
        raise TypeError(
            f"words must be a list of str, got {type(words).__name__} {words!r:.60}"
            + ("; not a single string: wrap it in a list" if isinstance(words, str) else "")
        )
    words = list(words)
    for i, w in enumerate(words):
        if isinstance(w, str):
            continue
        if not isinstance(w, (list, tuple)) or not all(isinstance(c, str) for c in w):
            raise TypeError(
                f"word {i} is {type(w).__name__} {w!r:.60}; words must be str (or lists of "
                "one-character str)"
            )
    return words


def _check_finite(a: np.ndarray, what: str) -> None:
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = a[~np.isfinite(a)]
        raise ValueError(f"{what} holds {bad.size} non-finite value(s) ({float(bad[0])!r})")


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _leading_size(params: dict, name: str, ndim: int, shape: str) -> int:
    """First dimension of ``params[name]``, which must be an ``ndim``-D real array."""
    a = np.asarray(params[name])
    if a.ndim != ndim or a.dtype.kind not in "fiu" or a.shape[0] < 1:
        raise ValueError(
            f"parameter {name!r} must be a {ndim}-D float array of shape {shape}, "
            f"got {type(params[name]).__name__} of shape {a.shape} (dtype {a.dtype})"
        )
    return int(a.shape[0])


def _check_archive(path) -> None:
    """Name what a file is when it is not a :meth:`Network.save` archive (never a pickle hint)."""
    import os
    import zipfile

    if not isinstance(path, (str, os.PathLike)):
        return  # a file object: np.load says what is wrong
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{path}: a folder, not a network file")
    if p.is_file() and not zipfile.is_zipfile(p):
        raise ValueError(f"{path}: not a network file (not a .npz archive written by Network.save)")
    if p.is_file():
        with zipfile.ZipFile(p) as z:
            names = set(z.namelist())
        if "__meta__.npy" not in names and {"alphabet.npy", "cell.npy"} <= names:
            raise ValueError(
                f"{path}: a released Weiss et al. (2018) network; load it with "
                "expressivity.load_weiss2018 (the CLI: --weiss2018)"
            )


def _check_basics(cell, alphabet, head):
    if not isinstance(cell, str):
        raise TypeError(f"cell must be a cell name (str), got {type(cell).__name__} {cell!r:.60}")
    try:
        spec = get_cell(cell)
    except KeyError as err:
        raise UnknownCellError(err.args[0] if err.args else f"unknown cell {cell!r}") from None
    if not isinstance(alphabet, str) or not alphabet:
        raise ValueError(f"alphabet must be a non-empty string of symbols, got {alphabet!r}")
    if len(set(alphabet)) != len(alphabet):
        raise ValueError(f"alphabet {alphabet!r} repeats a symbol")
    if not isinstance(head, str) or head not in _heads.HEADS:
        raise ValueError(f"unknown head {head!r}; heads are {', '.join(_heads.HEADS)}")
    return spec, alphabet, head


def _threshold(head, threshold):
    return _heads.DEFAULT_THRESHOLDS[head] if threshold is None else threshold
