"""Logging, progress bars and the first-compile notice.

The library never prints. It logs through ``logging.getLogger("expressivity")``
and its children (``expressivity.experiments``, ``expressivity.compile``, ...),
silent until the application configures logging (the ``expressivity`` command
shows INFO on stderr; in Python, ``logging.basicConfig(level=logging.INFO)`` or
:func:`configure_logging`). Long work (training epochs, sweeps, extraction over
many words) shows a ``tqdm`` progress bar in terminals and notebooks and none
when the output is not interactive (a file, a pipe, CI, a dask worker);
``EXPRESSIVITY_PROGRESS=0`` switches bars off, ``=1`` on.

numba compiles the kernels on first use and caches them on disk; the first run
therefore spends minutes compiling. :func:`compile_notice` says so once, before
the work starts, and a listener on numba's ``numba:compile`` event says so when
a kernel of this package compiles in this process for the first time.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
import threading
from collections.abc import Iterable
from typing import Any

__all__ = [
    "LOGGER_NAME",
    "SECONDS_PER_KERNEL",
    "cached_kernel_state",
    "compile_notice",
    "configure_logging",
    "counting_progress",
    "epoch_progress",
    "get_logger",
    "install_compile_listener",
    "log_info",
    "progress_bar",
    "progress_enabled",
]

LOGGER_NAME = "expressivity"
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())

#: rough cost of compiling one cached kernel of this package on a 2-core machine:
#: measured, the cold first run of ``reproduce weiss2018 --quick`` compiled the 52
#: kernels it counts in 168 s in all (AMD EPYC, 2 cores, 2026-11-30)
SECONDS_PER_KERNEL = 3.2

_ENV = "EXPRESSIVITY_PROGRESS"


def get_logger(name: str = "") -> logging.Logger:
    """The package logger, or its child ``expressivity.<name>``.

    Examples
    --------
    >>> get_logger("experiments").name
    'expressivity.experiments'
    """
    if not name or name == LOGGER_NAME:
        return logging.getLogger(LOGGER_NAME)
    if name.startswith(LOGGER_NAME + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


def log_info(line: str) -> None:
    """Log one progress line at INFO on ``expressivity.experiments`` (the default
    ``progress`` of sweeps and reproductions; shown by the CLI, silent otherwise)."""
    logging.getLogger(f"{LOGGER_NAME}.experiments").info("%s", line)


def progress_enabled() -> bool | None:
    """``EXPRESSIVITY_PROGRESS``: False for ``0/false/off/no``, True for ``1/true/on/yes``,
    else None (tqdm decides: on in a terminal or a notebook, off otherwise)."""
    val = os.environ.get(_ENV, "").strip().lower()
    if val in ("0", "false", "off", "no"):
        return False
    if val in ("1", "true", "on", "yes"):
        return True
    return None


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _interactive() -> bool:
    flag = progress_enabled()
    if flag is not None:
        return flag
    if _in_notebook():
        return True
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


def _tqdm_class() -> Any:
    """tqdm's notebook widget in Jupyter when ipywidgets is there, else the text bar."""
    if _in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm as notebook_tqdm

            return notebook_tqdm
        except ImportError:  # the text bar works in a notebook too (no warning)
            pass
    from tqdm.std import tqdm

    return tqdm


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str | None = None,
    unit: str = "it",
    leave: bool = False,
    **kwargs: Any,
) -> Any:
    """A ``tqdm`` progress bar, shown only in an interactive terminal or a notebook.

    Parameters
    ----------
    iterable, total, desc, unit, leave, **kwargs
        As for ``tqdm``. The bar is disabled (a no-op that still iterates) when
        stderr is not a terminal and no notebook runs, or with
        ``EXPRESSIVITY_PROGRESS=0``.

    Examples
    --------
    >>> sum(progress_bar(range(3), desc="demo"))
    3
    """
    return _tqdm_class()(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        leave=leave,
        disable=not _interactive(),
        dynamic_ncols=True,
        **kwargs,
    )


def counting_progress(progress: Any, total: int, desc: str | None = None, unit: str = "run") -> Any:
    """Wrap a line callback (or None) so that each call also advances a progress bar.

    Returns ``progress`` itself when no bar would show (not interactive, or
    ``total <= 1``); the bar closes itself after ``total`` calls.

    Examples
    --------
    >>> lines = []
    >>> step = counting_progress(lines.append, 2, "demo")
    >>> step("one"); step("two"); lines
    ['one', 'two']
    """
    if total <= 1 or not _interactive():
        return progress
    bar = progress_bar(total=total, desc=desc, unit=unit)

    def step(line: str) -> None:
        if progress:
            progress(line)
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return step


def epoch_progress(progress: Any, epochs: int, desc: str = "epochs") -> tuple[Any, Any]:
    """``(callback, bar)`` for a training loop: ``callback(p, record)`` moves the bar to
    ``record["epoch"]`` (loss and validation accuracy as its postfix) and passes the
    record on to ``progress(record)`` when given. Close the bar when done.

    Examples
    --------
    >>> seen = []
    >>> cb, bar = epoch_progress(seen.append, 3)
    >>> cb(0, {"epoch": 1, "loss": 0.5}); bar.close(); seen
    [{'epoch': 1, 'loss': 0.5}]
    """
    bar = progress_bar(total=int(epochs), desc=desc, unit="epoch")

    def callback(_p: int, rec: dict) -> None:
        if not bar.disable:
            bar.update(max(0, int(rec.get("epoch", bar.n + 1)) - bar.n))
            post = {"loss": f"{rec['loss']:.4g}"} if "loss" in rec else {}
            if "val_accuracy" in rec:
                post["acc"] = f"{rec['val_accuracy']:.3f}"
            bar.set_postfix(post, refresh=False)
        if progress is not None:
            progress(rec)

    return callback, bar


class _TqdmStreamHandler(logging.Handler):
    """Writes log records through ``tqdm.write`` so that they do not break a bar; the
    stream is ``sys.stderr`` as it is when the record is written, unless one is given."""

    def __init__(self, stream: Any = None) -> None:
        super().__init__()
        self._stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            stream = self._stream if self._stream is not None else sys.stderr
            tqdm.write(self.format(record), file=stream)
            stream.flush()
        except Exception:  # pragma: no cover - logging must not raise
            self.handleError(record)


def configure_logging(level: int = logging.INFO, stream: Any = None) -> logging.Handler:
    """Show the package's log records at ``level`` on ``stream`` (default stderr).

    Idempotent: a second call adjusts the level of the handler it added. Used by
    the ``expressivity`` command; in a script or notebook,
    ``logging.basicConfig(level=logging.INFO)`` works as well.

    Examples
    --------
    >>> h = configure_logging()                               # doctest: +SKIP
    """
    logger = logging.getLogger(LOGGER_NAME)
    for h in logger.handlers:
        if isinstance(h, _TqdmStreamHandler):
            h.setLevel(level)
            logger.setLevel(level)
            return h
    handler = _TqdmStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(level)
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


def _visible(logger: logging.Logger, level: int) -> bool:
    """Whether a record at ``level`` reaches a real handler (not only NullHandler)."""
    if not logger.isEnabledFor(level):
        return False
    lg: logging.Logger | None = logger
    while lg is not None:
        if any(not isinstance(h, logging.NullHandler) and h.level <= level for h in lg.handlers):
            return True
        lg = lg.parent if lg.propagate else None
    return False


# ---------------------------------------------------------------------- first compile
_state = {"noticed": False, "listener": None}
_lock = threading.Lock()


def _kernel_modules() -> None:
    """Import the CPU kernel modules (not the CUDA ones), so that their kernels are seen."""
    try:
        kernels = importlib.import_module(f"{LOGGER_NAME}.kernels")
    except ImportError:  # pragma: no cover - partial installs
        return
    for m in pkgutil.iter_modules(kernels.__path__):
        if "cuda" not in m.name:
            try:
                importlib.import_module(f"{kernels.__name__}.{m.name}")
            except Exception:  # pragma: no cover - a broken optional module
                continue


def _dispatchers() -> list[Any]:
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    seen: dict[int, Any] = {}
    for name, mod in list(sys.modules.items()):
        if not (name == LOGGER_NAME or name.startswith(LOGGER_NAME + ".")) or mod is None:
            continue
        for obj in list(vars(mod).values()):
            if isinstance(obj, Dispatcher) and not isinstance(
                getattr(obj, "_cache", None), (NullCache, type(None))
            ):
                seen[id(obj)] = obj
    return list(seen.values())


def cached_kernel_state(import_kernels: bool = True) -> tuple[int, int]:
    """``(n_kernels, n_cold)``: the disk-cached kernels of this package that are loaded,
    and how many of them will compile before they run.

    A kernel is cold when its on-disk cache index is stale (its source changed) or
    when no kernel of the package has a cache yet (a fresh install). Kernels with
    no index in an otherwise warm cache run only inside other kernels and are
    never cached on their own: they are not counted.
    """
    if import_kernels:
        _kernel_modules()
    n_total = n_valid = n_stale = 0
    for d in _dispatchers():
        n_total += 1
        if d.overloads:  # already compiled (or loaded) in this process
            n_valid += 1
            continue
        try:
            cache_file = d._cache._cache_file
            exists = os.path.exists(cache_file._index_path)
            entries = cache_file._load_index() if exists else {}
        except Exception:  # numba internals changed: do not guess
            continue
        if entries:
            n_valid += 1
        elif exists:
            n_stale += 1
    if n_total and n_valid == 0:
        return n_total, n_total
    return n_total, n_stale


def _estimate(n_cold: int) -> int:
    secs = n_cold * SECONDS_PER_KERNEL
    return int(round(secs, -1)) if secs >= 60 else max(5, int(round(secs)))


def _notice_text(n_cold: int) -> str:
    return f"compiling kernels, once: about {_estimate(n_cold)} s (cached on disk afterwards)"


def compile_notice(import_kernels: bool = True) -> str | None:
    """Log (INFO, ``expressivity.compile``) one line when kernels will compile.

    Checks the on-disk cache of the package's kernels (see
    :func:`cached_kernel_state`); returns the line logged, or None when the cache
    is warm or the line was already given in this process.

    Examples
    --------
    >>> compile_notice()                 # doctest: +SKIP
    'compiling kernels, once: about 300 s (cached on disk afterwards)'
    """
    with _lock:
        if _state["noticed"]:
            return None
    _, n_cold = cached_kernel_state(import_kernels)
    if n_cold == 0:
        return None
    with _lock:
        if _state["noticed"]:
            return None
        _state["noticed"] = True
    text = _notice_text(n_cold)
    get_logger("compile").info("%s", text)
    return text


def _make_listener() -> Any:
    from numba.core import event

    class _FirstCompile(event.Listener):
        """On the first compile of one of the package's kernels in this process: one line
        (logged when logging shows INFO, else a one-line status bar when interactive)."""

        def __init__(self) -> None:
            self.depth = 0
            self.bar = None

        def on_start(self, ev: Any) -> None:
            self.depth += 1
            if self.depth != 1 or _state["noticed"]:
                return
            disp = (ev.data or {}).get("dispatcher")
            module = getattr(getattr(disp, "py_func", None), "__module__", "") or ""
            if not (module == LOGGER_NAME or module.startswith(LOGGER_NAME + ".")):
                return
            if getattr(disp, "_cache", None) is None or type(disp._cache).__name__ == "NullCache":
                return
            with _lock:
                if _state["noticed"]:
                    return
                _state["noticed"] = True
            try:
                _, n_cold = cached_kernel_state(import_kernels=False)
            except Exception:  # pragma: no cover - never break a compile
                n_cold = 1
            text = _notice_text(max(n_cold, 1))
            logger = get_logger("compile")
            if _visible(logger, logging.INFO) or not _interactive():
                logger.info("%s", text)
            else:
                self.bar = progress_bar(total=None, desc=text, bar_format="{desc} {elapsed}",
                                        leave=True)  # fmt: skip

        def on_end(self, ev: Any) -> None:
            self.depth = max(0, self.depth - 1)
            if self.depth == 0 and self.bar is not None:
                self.bar.close()
                self.bar = None

    return _FirstCompile()


def install_compile_listener() -> Any:
    """Register (once) the ``numba:compile`` listener that announces the first compile.

    Returns the listener. Cheap: it acts only when one of this package's
    disk-cached kernels really compiles (not when it loads from the cache).
    """
    with _lock:
        if _state["listener"] is None:
            from numba.core import event

            listener = _make_listener()
            event.register("numba:compile", listener)
            _state["listener"] = listener
        return _state["listener"]


def _reset_notice() -> None:
    """Forget that the notice was given (tests)."""
    with _lock:
        _state["noticed"] = False
