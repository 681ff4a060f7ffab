"""Networks from elsewhere: PyTorch modules and the networks of Weiss et al. (2018).

torch is optional: it is imported only inside :func:`from_torch`.

The released networks are not part of this package. They are found in one way:
an explicit folder, else the environment variable ``EXPRESSIVITY_REFERENCE_DIR``,
naming the folder that holds ``weiss2018/`` (:func:`reference_dir`,
:func:`find_reference`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from expressivity.network import Network

__all__ = [
    "HOW_TO_GET",
    "REFERENCE_ENV",
    "WEISS2018_ALPHABETS",
    "find_reference",
    "find_weiss2018",
    "from_torch",
    "load_weiss2018",
    "read_dynet_text",
    "reference_dir",
    "released_weiss2018",
]

#: the environment variable naming the folder that holds ``weiss2018/``
REFERENCE_ENV = "EXPRESSIVITY_REFERENCE_DIR"

#: how to get the released networks (said by every error and warning about them)
HOW_TO_GET = (
    "the networks released with Weiss et al. (2018) are not shipped with expressivity: put the "
    "*.data files of the folder trained_rnns/ of the public repository "
    "tech-srl/counting_dimensions in <folder>/weiss2018/ and set "
    f"{REFERENCE_ENV}=<folder> (README: 'The released networks of Weiss et al. (2018)')"
)


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy().copy()


def from_torch(
    module,
    alphabet: str,
    head: str = "accept",
    readout=None,
    embedding=None,
    precision: str = "float32",
    threshold: float | None = None,
    h0=None,
    c0=None,
) -> Network:
    """Import a one-layer PyTorch ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``.

    ``nn.LSTM`` becomes ``lstm`` (PyTorch's gate order i, f, g, o; its two biases
    per gate are added). ``nn.GRU`` becomes ``gru-reset-after``: PyTorch keeps the
    old state with ``z``, so its update-gate rows are negated (``σ(−a) = 1 − σ(a)``),
    and ``b_hn`` becomes ``d_h``. ``nn.RNN`` becomes ``elman-tanh`` or ``elman-relu``.

    Parameters
    ----------
    module : torch.nn.LSTM | torch.nn.GRU | torch.nn.RNN
        One layer, unidirectional, no projection.
    alphabet : str
        Symbol ``k`` is fed as one-hot vector ``e_k`` (then ``input_size`` must
        equal ``len(alphabet)``), or through ``embedding``.
    head : str
        Readout head of the new network.
    readout : torch.nn.Linear, optional
        ``hidden_size -> output size of the head``. Without it the readout is zero.
    embedding : torch.nn.Embedding, optional
        ``num_embeddings >= len(alphabet)``; row ``k`` embeds symbol ``k``.
    h0, c0 : array-like, optional
        Initial states (default zero, as in PyTorch).

    Examples
    --------
    >>> import torch  # doctest: +SKIP
    >>> net = from_torch(torch.nn.GRU(2, 4), "ab")  # doctest: +SKIP
    >>> net.cell  # doctest: +SKIP
    'gru-reset-after'
    """
    try:
        import torch.nn as nn
    except ImportError as err:  # pragma: no cover - exercised only without torch
        raise ImportError("from_torch needs PyTorch: pip install 'expressivity[torch]'") from err
    if not isinstance(module, (nn.LSTM, nn.GRU, nn.RNN)):
        raise TypeError(f"from_torch takes nn.LSTM, nn.GRU or nn.RNN, got {type(module).__name__}")
    if module.num_layers != 1 or module.bidirectional or getattr(module, "proj_size", 0):
        raise ValueError("from_torch supports one unidirectional layer without projection")
    H = module.hidden_size
    w_ih, w_hh = _np(module.weight_ih_l0), _np(module.weight_hh_l0)
    if module.bias:
        b_ih, b_hh = _np(module.bias_ih_l0), _np(module.bias_hh_l0)
    else:
        b_ih, b_hh = np.zeros(w_ih.shape[0]), np.zeros(w_hh.shape[0])
    p: dict[str, np.ndarray] = {}
    if isinstance(module, nn.LSTM):
        cell = "lstm"
        for k, g in enumerate("ifco"):  # torch order i, f, g (our c), o
            sl = slice(k * H, (k + 1) * H)
            p[f"W_{g}"], p[f"U_{g}"], p[f"b_{g}"] = w_ih[sl], w_hh[sl], b_ih[sl] + b_hh[sl]
    elif isinstance(module, nn.GRU):
        cell = "gru-reset-after"
        r, z, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
        p["W_r"], p["U_r"], p["b_r"] = w_ih[r], w_hh[r], b_ih[r] + b_hh[r]
        p["W_z"], p["U_z"], p["b_z"] = -w_ih[z], -w_hh[z], -(b_ih[z] + b_hh[z])
        p["W_h"], p["U_h"], p["b_h"], p["d_h"] = w_ih[n], w_hh[n], b_ih[n], b_hh[n]
    else:
        cell = {"RNN_TANH": "elman-tanh", "RNN_RELU": "elman-relu"}[module.mode]
        p["W_h"], p["U_h"], p["b_h"] = w_ih, w_hh, b_ih + b_hh
    V = len(alphabet)
    if embedding is not None:
        E = _np(embedding.weight)  # (num_embeddings, E)
        if E.shape[0] < V:
            raise ValueError(f"embedding has {E.shape[0]} rows, fewer than {V} symbols")
        p["embedding"] = E[:V].T.copy()
    if module.input_size != (p["embedding"].shape[0] if embedding is not None else V):
        raise ValueError(
            f"module.input_size is {module.input_size}, but the input is "
            + ("the embedding" if embedding is not None else f"one-hot over {V} symbols")
        )
    O = 1 if head == "accept" else V + 1
    if readout is not None:
        p["W_out"], p["b_out"] = _np(readout.weight), _np(readout.bias)
    else:
        p["W_out"], p["b_out"] = np.zeros((O, H)), np.zeros(O)
    p["h0"] = np.zeros(H) if h0 is None else np.asarray(h0, dtype=np.float64)
    if cell == "lstm":
        p["c0"] = np.zeros(H) if c0 is None else np.asarray(c0, dtype=np.float64)
    return Network.from_params(
        cell, alphabet, p, head=head, precision=precision, threshold=threshold
    )


def reference_dir(directory: str | Path | None = None) -> Path:
    """The folder of released networks: ``directory``, else ``$EXPRESSIVITY_REFERENCE_DIR``.

    The folder holds one sub-folder per source (``weiss2018/``).

    Parameters
    ----------
    directory : str or Path, optional
        An explicit folder; when given the environment is not read.

    Returns
    -------
    Path
        The folder, which exists.

    Raises
    ------
    FileNotFoundError
        When neither is given, or the folder does not exist; the message says how
        to get the networks.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     reference_dir(d) == Path(d)
    True
    """
    if directory is None:
        env = os.environ.get(REFERENCE_ENV, "").strip()
        if not env:
            raise FileNotFoundError(f"{REFERENCE_ENV} is not set; {HOW_TO_GET}")
        directory, origin = env, f"{REFERENCE_ENV}={env}"
    else:
        origin = f"the folder {str(directory)!r}"
    d = Path(directory).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"{origin} is not a folder; {HOW_TO_GET}")
    return d


def find_reference(name: str, directory: str | Path | None = None) -> Path:
    """A released network or folder by its name under :func:`reference_dir`.

    Parameters
    ----------
    name : str
        Relative path, e.g. ``"weiss2018"`` or ``"weiss2018/anbn_lstm.npz"``.
    directory : str or Path, optional
        An explicit folder (else ``$EXPRESSIVITY_REFERENCE_DIR``).

    Raises
    ------
    FileNotFoundError
        When the folder is not set or ``name`` is not in it; the message says how
        to get the networks.

    Examples
    --------
    >>> net = load_weiss2018(find_reference("weiss2018/anbn_lstm.npz"))  # doctest: +SKIP
    """
    path = reference_dir(directory) / name
    if not path.exists():
        raise FileNotFoundError(f"no released network {name!r} in {path.parent}; {HOW_TO_GET}")
    return path


#: a DyNet text-format header: ``#Parameter# /_K {d1,d2} ...`` or ``#LookupParameter# ...``
_HEADER = re.compile(r"^#(Lookup)?Parameter#\s+/_(\d+)\s+\{(\d+(?:,\d+)*)\}")


def read_dynet_text(path: str | Path) -> list[np.ndarray]:
    """Read a DyNet text-format model (``.data``): its parameters, ordered by index ``/_K``.

    Each parameter is a header line ``#Parameter# /_K {d1,d2} ...`` (or
    ``#LookupParameter#``) followed by one line of ``d1*d2`` values in
    column-major order. Values are read as float64 and rounded to float32.

    Raises
    ------
    ValueError
        On a malformed file; the message names the file and the line.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "m.data"
    ...     _ = p.write_text("#Parameter# /_0 {2,2} 65 ZERO_GRAD\\n1 2 3 4\\n")
    ...     read_dynet_text(p)[0]
    array([[1., 3.],
           [2., 4.]], dtype=float32)
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a DyNet text file (not ASCII text: {err})") from None
    found: dict[int, np.ndarray] = {}
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        m = _HEADER.match(lines[i])
        if m is None:
            raise ValueError(
                f"{path}, line {i + 1}: expected a header '#Parameter# /_K {{d1,d2}} ...', "
                f"got {lines[i][:60]!r}"
            )
        k = int(m.group(2))
        dims = tuple(int(d) for d in m.group(3).split(","))
        if k in found:
            raise ValueError(f"{path}, line {i + 1}: parameter /_{k} appears twice")
        if i + 1 >= len(lines):
            raise ValueError(f"{path}, line {i + 1}: header of /_{k} without a line of values")
        try:
            vals = np.array(lines[i + 1].split(), dtype=np.float64)
        except ValueError:
            raise ValueError(f"{path}, line {i + 2}: values of /_{k} are not all numbers") from None
        if vals.size != int(np.prod(dims)) or not np.all(np.isfinite(vals)):
            raise ValueError(
                f"{path}, line {i + 2}: /_{k} {{{m.group(3)}}} needs {int(np.prod(dims))} "
                f"finite values, got {vals.size}"
                + ("" if np.all(np.isfinite(vals)) else " (some not finite)")
            )
        found[k] = vals.reshape(dims, order="F").astype(np.float32)
        i += 2
    if sorted(found) != list(range(len(found))) or not found:
        raise ValueError(
            f"{path}: parameter indices must be /_0 ... /_N without gaps, got {sorted(found)}"
        )
    return [found[k] for k in range(len(found))]


#: each cell with its gates in the order of the authors' files
_WEISS_GATES = (("lstm", "ifoc"), ("gru", "zrh"))
#: the acceptance threshold of the released code
_WEISS_THRESHOLD = np.float32(0.005)


def _weiss_from_data(path: Path, alphabet: str) -> dict:
    """The arrays of an authors' ``.data`` file in the layout of the converted ``.npz``."""
    arrays = read_dynet_text(path)
    n = len(arrays)
    # embedding, W_out, b_out, three per gate, h0 (and c0 for the LSTM)
    sizes = {3 + 3 * len(g) + (2 if kind == "lstm" else 1): (kind, g) for kind, g in _WEISS_GATES}
    if n not in sizes:
        raise ValueError(
            f"{path}: {n} parameters; a Weiss et al. LSTM has 17 (/_0 ... /_16), a GRU 13"
        )
    kind, gates = sizes[n]
    n_gates, extra = len(gates), 2 if kind == "lstm" else 1
    V = len(alphabet) + 1
    emb, W_out, b_out = arrays[0], arrays[1], arrays[2]
    if emb.ndim != 2 or emb.shape[1] != V:
        raise ValueError(
            f"{path}: the embedding /_0 has shape {emb.shape}, but alphabet {alphabet!r} "
            f"and the end marker need {V} columns"
        )
    E = emb.shape[0]
    H = W_out.shape[1] if W_out.ndim == 2 else -1
    want = [(V, H), (V,)] + [(H, E), (H, H), (H,)] * n_gates + [(H,)] * extra
    for k, (a, shape) in enumerate(zip(arrays[1:], want), start=1):
        if a.shape != shape:
            raise ValueError(f"{path}: parameter /_{k} has shape {a.shape}, expected {shape}")
    data: dict = {
        "alphabet": alphabet,
        "cell": kind,
        "threshold": _WEISS_THRESHOLD,
        "embedding": emb,
        "W_out": W_out,
        "b_out": b_out,
    }
    for j, g in enumerate(gates):
        data[f"W_{g}"], data[f"U_{g}"], data[f"b_{g}"] = arrays[3 + 3 * j : 6 + 3 * j]
    data["h0"] = arrays[3 + 3 * n_gates]
    if kind == "lstm":
        data["c0"] = arrays[4 + 3 * n_gates]
    return data


def load_weiss2018(
    path: str | Path, precision: str = "float32", alphabet: str | None = None
) -> Network:
    """Load a network released with Weiss, Goldberg & Yahav (2018).

    Reads either the authors' own files as published (``trained_rnns/*.data`` in
    the public repository tech-srl/counting_dimensions, DyNet's text format;
    ``alphabet`` is then required, ``"ab"`` or ``"abc"``: the ``.meta`` pickles
    beside them are never read) or a converted ``.npz`` (float32 arrays
    ``alphabet``, ``cell``, ``threshold``, ``embedding``, ``W_out``, ``b_out``,
    per gate ``W_g``, ``U_g``, ``b_g``, ``h0`` and ``c0``). Both give the same
    network bit for bit.

    The LSTM is ``lstm`` exactly. The GRU's released code never applies its reset
    gate and keeps the old state with ``z``; it is loaded as ``gru-no-reset``
    (its unused ``W_r``, ``U_r``, ``b_r`` are dropped). The embedding's last
    column (the end marker, never read as input) is dropped too, and ``h0`` is
    clipped to [-1, 1] as the released code uses it. Head: ``next-symbol`` with
    the released threshold (0.005).

    Parameters
    ----------
    path : str or Path
        A ``.data`` or ``.npz`` file (see :func:`find_reference`).
    precision : str
        Precision of the loaded network.
    alphabet : str, optional
        The alphabet of a ``.data`` file (required there); for a ``.npz`` it
        must match the stored one when given.

    Raises
    ------
    ValueError
        On a malformed file (the message names the file and line) or a missing
        or mismatched alphabet.

    Examples
    --------
    >>> net = load_weiss2018(find_reference("weiss2018/anbn_lstm.npz"))  # doctest: +SKIP
    >>> bool(net.accepts(["a" * 150 + "b" * 150])[0])  # doctest: +SKIP
    True
    >>> orig = load_weiss2018("trained_rnns/anbn_LSTM.data", alphabet="ab")  # doctest: +SKIP
    """
    path = Path(path)
    if path.suffix == ".data":
        if not isinstance(alphabet, str) or not alphabet:
            raise ValueError(
                f"{path}: the authors' .data files do not store their alphabet; pass "
                "alphabet='ab' (a^n b^n) or alphabet='abc' (a^n b^n c^n)"
            )
        data = _weiss_from_data(path, alphabet)
    else:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        if alphabet is not None and str(data.get("alphabet")) != alphabet:
            raise ValueError(
                f"{path}: stores alphabet {str(data.get('alphabet'))!r}, not {alphabet!r}"
            )
    try:
        alphabet = str(data.pop("alphabet"))
        kind = str(data.pop("cell"))
        threshold = float(data.pop("threshold"))
    except KeyError as err:
        raise ValueError(f"{path}: not a Weiss et al. network file (missing {err})") from None
    V = len(alphabet)
    data["embedding"] = data["embedding"][:, :V]
    data["h0"] = np.clip(data["h0"], -1, 1)
    if kind == "gru":
        cell = "gru-no-reset"
        for k in ("W_r", "U_r", "b_r"):
            data.pop(k, None)
    elif kind == "lstm":
        cell = "lstm"
    else:
        raise ValueError(f"{path}: unknown cell {kind!r}")
    params = {k: np.asarray(v, dtype=np.float64) for k, v in data.items()}
    return Network.from_params(
        cell, alphabet, params, head="next-symbol", precision=precision, threshold=threshold
    )


#: the languages of the released networks and their alphabets
WEISS2018_ALPHABETS = {"anbn": "ab", "anbncn": "abc"}


def find_weiss2018(language: str, cell: str, directory: str | Path | None = None) -> Path:
    """The file of a released network: ``weiss2018/{language}_{cell}.npz``, else ``…_{CELL}.data``.

    The converted ``.npz`` is preferred; else the authors' file as published
    (DyNet text), both under :func:`reference_dir`.

    Parameters
    ----------
    language : {"anbn", "anbncn"}
    cell : {"lstm", "gru"}
    directory : str or Path, optional
        The folder holding ``weiss2018/`` (else ``$EXPRESSIVITY_REFERENCE_DIR``).

    Raises
    ------
    ValueError
        For another language or cell.
    FileNotFoundError
        When the folder is not set or holds neither file; the message says how to
        get them.

    Examples
    --------
    >>> find_weiss2018("anbn", "lstm").name  # doctest: +SKIP
    'anbn_lstm.npz'
    """
    if language not in WEISS2018_ALPHABETS or cell not in ("lstm", "gru"):
        raise ValueError(
            f"the released networks are {sorted(WEISS2018_ALPHABETS)} x ['gru', 'lstm'], "
            f"got language {language!r}, cell {cell!r}"
        )
    folder = find_reference("weiss2018", directory)
    names = (f"{language}_{cell}.npz", f"{language}_{cell.upper()}.data")
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"neither {names[0]} nor {names[1]} is in {folder}; {HOW_TO_GET}")


def released_weiss2018(
    language: str, cell: str, directory: str | Path | None = None, precision: str = "float32"
) -> Network:
    """One of the four released networks, by language and cell (see :func:`find_weiss2018`).

    Parameters
    ----------
    language : {"anbn", "anbncn"}
    cell : {"lstm", "gru"}
    directory : str or Path, optional
        The folder holding ``weiss2018/`` (else ``$EXPRESSIVITY_REFERENCE_DIR``).
    precision : str
        Precision of the loaded network.

    Raises
    ------
    ValueError, FileNotFoundError
        As :func:`find_weiss2018`.

    Examples
    --------
    >>> lstm = released_weiss2018("anbn", "lstm")  # doctest: +SKIP
    >>> lstm.cell  # doctest: +SKIP
    'lstm'
    """
    path = find_weiss2018(language, cell, directory)
    return load_weiss2018(path, precision=precision, alphabet=WEISS2018_ALPHABETS[language])
