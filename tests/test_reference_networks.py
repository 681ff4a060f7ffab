"""The released Weiss et al. (2018) networks: one way to find them, and the authors' own files.

Tests that read the networks take the ``weiss_dir`` fixture and skip, saying how
to get them, when ``EXPRESSIVITY_REFERENCE_DIR`` is unset.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import expressivity as ex
from expressivity.interop import (
    REFERENCE_ENV,
    find_reference,
    load_weiss2018,
    read_dynet_text,
    reference_dir,
)

NAMES = [("anbn", "ab", "lstm"), ("anbn", "ab", "gru"), ("anbncn", "abc", "lstm"),
         ("anbncn", "abc", "gru")]  # fmt: skip


def test_reference_dir_unset_says_how_to_get_them(monkeypatch):
    monkeypatch.delenv(REFERENCE_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=REFERENCE_ENV) as err:
        reference_dir()
    assert "tech-srl/counting_dimensions" in str(err.value)


def test_explicit_folder_wins_over_the_variable(monkeypatch, tmp_path):
    (tmp_path / "weiss2018").mkdir()
    monkeypatch.setenv(REFERENCE_ENV, str(tmp_path / "elsewhere"))
    assert find_reference("weiss2018", tmp_path) == tmp_path / "weiss2018"
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        reference_dir()  # the variable names a folder that does not exist
    monkeypatch.setenv(REFERENCE_ENV, str(tmp_path))
    assert reference_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="anbn_lstm.npz"):
        find_reference("weiss2018/anbn_lstm.npz")


@pytest.mark.parametrize("lang, alphabet, cell", NAMES)
def test_original_file_equals_converted_bit_for_bit(weiss_dir, lang, alphabet, cell):
    original = weiss_dir / "original" / f"{lang}_{cell.upper()}.data"
    if not original.exists():
        pytest.skip(f"the authors' file {original.name} is not in {original.parent}")
    a = load_weiss2018(original, alphabet=alphabet)
    b = ex.load_weiss2018(weiss_dir / f"{lang}_{cell}.npz")
    assert (a.cell, a.alphabet, a.threshold) == (b.cell, b.alphabet, b.threshold)
    for got, want in ((a.source_params, b.source_params), (a.params, b.params)):
        assert sorted(got) == sorted(want)
        for k in want:
            assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
            assert got[k].tobytes() == want[k].tobytes(), k  # bit for bit
    # every array of the file, the unused ones included, equals the .npz in float32
    raw = read_dynet_text(original)
    with np.load(weiss_dir / f"{lang}_{cell}.npz") as z:
        assert raw[0].tobytes() == z["embedding"].tobytes()  # with the end marker's column
        assert raw[1].tobytes() == z["W_out"].tobytes()
        gates = "ifoc" if cell == "lstm" else "zrh"
        for j, g in enumerate(gates):
            for i, name in enumerate("WUb"):
                assert raw[3 + 3 * j + i].tobytes() == z[f"{name}_{g}"].tobytes(), (name, g)


def test_data_file_needs_its_alphabet(tmp_path):
    with pytest.raises(ValueError, match="alphabet='ab'"):
        load_weiss2018(tmp_path / "anbn_LSTM.data")


def _write_lstm(path, V=3, H=2, E=2):
    """A well-formed Weiss-layout LSTM in DyNet's text format (small sizes)."""
    shapes = [(E, V), (V, H), (V,)] + [(H, E), (H, H), (H,)] * 4 + [(H,), (H,)]
    lines = []
    for k, s in enumerate(shapes[1:], start=1):
        lines += [f"#Parameter# /_{k} {{{','.join(map(str, s))}}} 1 ZERO_GRAD",
                  " ".join(["+1.5e-01"] * int(np.prod(s)))]  # fmt: skip
    lines += [f"#LookupParameter# /_0 {{{E},{V}}} 1 ZERO_GRAD", " ".join(["-2e-01"] * (E * V))]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_small_data_file_loads(tmp_path):
    net = load_weiss2018(_write_lstm(tmp_path / "m.data"), alphabet="ab")
    assert net.cell == "lstm" and net.hidden_size == 2 and net.alphabet == "ab"
    assert net.params["embedding"].shape == (2, 2)  # the end marker's column dropped


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda ls: ls[:1] + ["junk"] + ls[2:], "line 2: values of /_1"),
        (lambda ls: ls[:1] + ["1 2"] + ls[2:], r"line 2: /_1 \{3,2\} needs 6"),
        (lambda ls: ["# hello"] + ls, "line 1: expected a header"),
        (lambda ls: ls[:-1], "without a line of values"),
        (lambda ls: ls[2:], "without gaps"),
        (lambda ls: ls[:1] + ["nan " * 6] + ls[2:], "some not finite"),
    ],
)
def test_malformed_data_files_name_file_and_line(tmp_path, edit, message):
    path = _write_lstm(tmp_path / "bad.data")
    path.write_text("\n".join(edit(path.read_text().splitlines())) + "\n")
    with pytest.raises(ValueError, match=message) as err:
        load_weiss2018(path, alphabet="ab")
    assert "bad.data" in str(err.value)


def test_wrong_alphabet_is_refused(tmp_path):
    path = _write_lstm(tmp_path / "m.data")
    with pytest.raises(ValueError, match="need 4 columns"):
        load_weiss2018(path, alphabet="abc")


def test_reproduce_says_once_that_the_comparison_is_skipped(monkeypatch, tmp_path, caplog):
    from expressivity.experiments import reproduce

    monkeypatch.delenv(REFERENCE_ENV, raising=False)
    monkeypatch.setattr(reproduce, "weiss2018_specs", lambda *a, **k: [])  # no training
    caplog.set_level(logging.WARNING, logger="expressivity")
    report = reproduce.reproduce_weiss2018(tmp_path, quick=True, executor="serial", progress=None)
    said = [r for r in caplog.records if "comparison skipped" in r.getMessage()]
    assert len(said) == 1 and REFERENCE_ENV in said[0].getMessage()
    assert "comparison skipped" in report.read_text()


def test_reproduce_reads_the_authors_files_as_published(weiss_dir, tmp_path):
    from expressivity.experiments.reproduce import evaluate_references

    original = weiss_dir / "original" / "anbn_LSTM.data"
    if not original.exists():
        pytest.skip(f"the authors' file {original.name} is not in {original.parent}")
    for sub, src in (("data", original), ("npz", weiss_dir / "anbn_lstm.npz")):
        (tmp_path / sub / "weiss2018").mkdir(parents=True)
        (tmp_path / sub / "weiss2018" / src.name).write_bytes(src.read_bytes())
    (a,) = evaluate_references(quick=True, directory=tmp_path / "data")
    (b,) = evaluate_references(quick=True, directory=tmp_path / "npz")
    assert a["metrics"] == b["metrics"] and a["metrics"]["max_accepted_n"] > 99
