"""The ``extract`` and ``counters`` subcommands, on hand-built and released networks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from handbuilt import K
from handbuilt import counting_lstm as _counting_lstm
from handbuilt import parity_gru as _parity_gru

import expressivity as ex
from expressivity.cli import main
from expressivity.languages import get_language
from expressivity.languages.dfa import DFA


@pytest.fixture(scope="module")
def parity_file(tmp_path_factory) -> Path:
    return _parity_gru().save(tmp_path_factory.mktemp("nets") / "parity.npz")


@pytest.fixture(scope="module")
def counter_file(tmp_path_factory) -> Path:
    return _counting_lstm().save(tmp_path_factory.mktemp("nets") / "counter.npz")


@pytest.mark.parametrize("method", ["kmeans", "quantize", "lstar"])
def test_extract_recovers_parity(parity_file, tmp_path, capsys, method):
    out = tmp_path / "ext"
    rc = main(["extract", str(parity_file), "--language", "parity", "--method", method,
               "--out", str(out)])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "states: 2 (minimal DFA: 2)" in text
    assert "equivalent to the language's minimal DFA" in text
    assert "time:" in text and "accuracy by length" in text
    rec = json.loads((out / f"parity-{method}.json").read_text())
    assert rec["n_states"] == 2 and rec["equivalent"] is True and rec["counterexample"] is None
    assert rec["fidelity"] == 1.0
    d = rec["dfa"]
    dfa = DFA.from_table(d["alphabet"], np.array(d["table"]), np.array(d["accepting"]), d["start"])
    assert DFA.equivalent(dfa, get_language("parity").dfa()) is None
    dot = (out / f"parity-{method}.dot").read_text()
    assert dot.lstrip().startswith("digraph")
    if shutil.which("dot"):
        assert (out / f"parity-{method}.svg").stat().st_size > 0
        assert (out / f"parity-{method}.png").read_bytes()[:4] == b"\x89PNG"


def test_extract_against_non_regular_language(parity_file, tmp_path, capsys):
    rc = main(["extract", str(parity_file), "--language", "anbn", "--out", str(tmp_path)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "not comparable (the language is not regular)" in text


def test_extract_wrong_language_is_an_error(parity_file, tmp_path, capsys):
    rc = main(["extract", str(parity_file), "--language", "tomita-1", "--out", str(tmp_path)])
    assert rc == 2
    assert "alphabet mismatch" in capsys.readouterr().err


def test_extract_non_equivalent_gives_counterexample(tmp_path, capsys):
    # parity of b's read as a DFA over {a, b}; scored against "even number of a's" it is wrong
    net = _parity_gru()
    p = {k: v.copy() for k, v in net.source_params.items()}
    p["W_z"] = np.array([[K, -K]])  # now 'a' flips and 'b' keeps: even number of a's
    f = ex.Network.from_params("gru", alphabet="ab", params=p, head="accept").save(
        tmp_path / "even_a.npz"
    )
    rc = main(["extract", str(f), "--language", "parity", "--out", str(tmp_path / "o")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "NOT equivalent; shortest counterexample 'a'" in text
    rec = json.loads((tmp_path / "o" / "parity-kmeans.json").read_text())
    assert rec["equivalent"] is False and rec["counterexample"] == "a"


def test_bad_model_files(tmp_path, capsys):
    assert main(["extract", str(tmp_path / "missing.npz"), "--language", "parity"]) == 2
    assert "does not exist" in capsys.readouterr().err
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    assert main(["counters", str(tmp_path / "other.npz"), "--language", "anbn"]) == 2
    assert "neither an expressivity network" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_text("not a zip")
    assert main(["counters", str(tmp_path / "junk.npz"), "--language", "anbn"]) == 2
    assert "not a readable" in capsys.readouterr().err


def test_counters_table(counter_file, capsys):
    rc = main(["counters", str(counter_file), "--language", "anbn", "--n-train", "40",
               "--n-max", "400"])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| c0 ")]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == "0" and float(cells[2]) == pytest.approx(1.0)
    assert cells[6] == "yes" and cells[7] == "yes"  # counts, linear to n_max
    assert "1 counting unit(s)" in text


def test_counters_without_ground_truth_is_an_error(parity_file, capsys):
    assert main(["counters", str(parity_file), "--language", "parity"]) == 2
    assert "counters" in capsys.readouterr().err


def test_released_weiss_network_detected(capsys, weiss_dir):
    rc = main(["counters", str(weiss_dir / "anbn_lstm.npz"), "--language", "anbn", "--n-train", "99",
               "--n-max", "400"])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "(lstm, hidden 10, float32)" in text
    counters = [line for line in text.splitlines() if "| yes |" in line]
    assert len(counters) >= 1
    assert "breaks after counter None" not in text  # a start-up transient is not a break
