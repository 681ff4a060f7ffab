"""Logging, progress bars and the first-compile notice (issue 12)."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

import numba
import numpy as np
import pytest

from expressivity import _progress


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def compile_log():
    """Records of ``expressivity.compile``, the notice forgotten before and after."""
    logger = logging.getLogger("expressivity.compile")
    h = _Records()
    logger.addHandler(h)
    old = logger.level
    logger.setLevel(logging.INFO)
    _progress._reset_notice()
    yield h.lines
    logger.removeHandler(h)
    logger.setLevel(old)
    _progress._reset_notice()


def _fresh_kernel(tmp_path, monkeypatch):
    """A disk-cached njit function of 'this package', cached in an empty folder."""
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba-cache"))

    def bump(x):
        return x + np.int64(1)

    bump.__module__ = "expressivity._fake_kernels"
    return numba.njit(cache=True)(bump)


def test_listener_announces_the_first_compile_once(tmp_path, monkeypatch, compile_log):
    _progress.install_compile_listener()
    assert _progress.install_compile_listener() is _progress.install_compile_listener()
    kernel = _fresh_kernel(tmp_path, monkeypatch)
    monkeypatch.setattr(_progress, "_dispatchers", lambda: [kernel])
    assert kernel(np.int64(1)) == 2
    assert len(compile_log) == 1
    assert compile_log[0].startswith("compiling kernels, once: about ")
    kernel(np.float64(1.0))  # another specialisation: no second line
    assert len(compile_log) == 1


def test_listener_ignores_functions_outside_the_package(tmp_path, monkeypatch, compile_log):
    _progress.install_compile_listener()
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "c"))

    def user_fn(x):
        return x * np.int64(2)

    numba.njit(cache=True)(user_fn)(np.int64(3))
    assert compile_log == []


def test_compile_notice_cold_then_warm(tmp_path, monkeypatch, compile_log):
    kernel = _fresh_kernel(tmp_path, monkeypatch)
    monkeypatch.setattr(_progress, "_dispatchers", lambda: [kernel])
    assert _progress.cached_kernel_state(import_kernels=False) == (1, 1)
    line = _progress.compile_notice(import_kernels=False)
    assert line is not None and line.startswith("compiling kernels, once: about ")
    assert compile_log == [line]
    assert _progress.compile_notice(import_kernels=False) is None  # once per process
    _progress._reset_notice()
    kernel(np.int64(1))  # compiled and cached on disk
    assert _progress.cached_kernel_state(import_kernels=False) == (1, 0)
    assert _progress.compile_notice(import_kernels=False) is None


def test_progress_bar_off_when_not_interactive(monkeypatch):
    monkeypatch.delenv("EXPRESSIVITY_PROGRESS", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    bar = _progress.progress_bar(range(3), desc="x")
    assert bar.disable and list(bar) == [0, 1, 2]
    monkeypatch.setenv("EXPRESSIVITY_PROGRESS", "1")
    assert not _progress.progress_bar(range(3), file=io.StringIO()).disable
    monkeypatch.setenv("EXPRESSIVITY_PROGRESS", "0")
    assert _progress.progress_bar(range(3)).disable


def test_log_info_is_silent_by_default_and_shown_when_configured():
    code = (
        "import logging, sys\n"
        "from expressivity import _progress\n"
        "_progress.log_info('silent line')\n"
        "_progress.configure_logging()\n"
        "_progress.configure_logging()\n"
        "_progress.log_info('shown line')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == ""
    assert out.stderr == "shown line\n"


def test_library_defaults_do_not_print():
    """No library function defaults to ``print`` as its progress callback."""
    import inspect

    from expressivity.experiments import reproduce, sweep, variants

    for fn in (sweep.run_sweep, reproduce.reproduce_weiss2018, variants.reproduce_variants):
        assert inspect.signature(fn).parameters["progress"].default is not print, fn.__name__


def test_epoch_and_run_bars_follow_the_records(monkeypatch):
    monkeypatch.setenv("EXPRESSIVITY_PROGRESS", "1")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    seen = []
    cb, bar = _progress.epoch_progress(seen.append, 10, "training gru")
    assert not bar.disable
    cb(0, {"epoch": 3, "loss": 0.25})
    cb(0, {"epoch": 5, "loss": 0.125, "val_accuracy": 1.0})
    assert bar.n == 5 and [r["epoch"] for r in seen] == [3, 5]
    bar.close()
    assert "training gru" in sys.stderr.getvalue()
    lines = []
    step = _progress.counting_progress(lines.append, 2, "sweep")
    step("[1/2] a")
    step("[2/2] b")
    assert lines == ["[1/2] a", "[2/2] b"]
    silent = _progress.counting_progress(None, 2, "sweep")
    silent("not shown")  # advances the bar only
    monkeypatch.setenv("EXPRESSIVITY_PROGRESS", "0")
    add = lines.append
    assert _progress.counting_progress(add, 5) is add  # no bar: the callback itself
