"""The command line: train, evaluate, sweep, report; errors name the field."""

import json

import pytest

from expressivity.cli import main


def test_train_evaluate_report(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["train", "--cell", "gru", "--language", "anbn", "--train-min", "1", "--train-max",
               "3", "--epochs", "2", "--hidden-size", "3", "--out", str(out)])  # fmt: skip
    assert rc == 0
    row = json.loads(capsys.readouterr().out)
    assert row["status"] == "done"
    rc = main(["evaluate", row["model_path"], "--language", "anbn", "--train-max", "3",
               "--n-max", "9"])  # fmt: skip
    assert rc == 0 and "frontier" in json.loads(capsys.readouterr().out)
    assert main(["report", "--store", str(out / "results.sqlite")]) == 0
    assert "| anbn | gru |" in capsys.readouterr().out


def test_evaluate_released_network(capsys, weiss_dir):
    ref = str(weiss_dir / "anbn_lstm.npz")
    assert main(["evaluate", ref, "--weiss2018", "--language", "anbn", "--n-max", "150"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["max_accepted_n"] >= 150


def test_sweep_local(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('[sweep]\nname = "t"\n[base]\nlanguage = "anbn"\ntrain_min = 1\ntrain_max = 2\n'
                    'epochs = 1\nhidden_size = 2\n[grid]\ncell = ["lstm", "elman-tanh"]\n')  # fmt: skip
    assert main(["sweep", str(spec), "--local", "--out", str(tmp_path)]) == 0
    assert "2 ran" in capsys.readouterr().out
    assert main(["sweep", str(spec), "--local", "--out", str(tmp_path)]) == 0
    assert "0 ran, 2 already finished" in capsys.readouterr().out


@pytest.mark.parametrize(
    "toml, field",
    [('cell = "lstm"\nlanguage = "anbn"\nbogus = 1\n', "bogus"),
     ('cell = "lstm"\nlanguage = "anbn"\nepochs = "many"\n', "epochs"),
     ('cell = "lstm"\nlanguage = "anbn"\nhidden_size = -3\n', "hidden_size"),
     ('cell = "lstm"\nlanguage = "anbn"\ntrain_min = 4\ntrain_max = 1\n', "train_max")],
)  # fmt: skip
def test_bad_spec_file_names_field(tmp_path, capsys, toml, field):
    p = tmp_path / "bad.toml"
    p.write_text(toml)
    assert main(["train", str(p), "--out", str(tmp_path)]) == 2
    assert field in capsys.readouterr().err


def test_corrupt_store_is_an_error(tmp_path, capsys):
    bad = tmp_path / "r.sqlite"
    bad.write_bytes(b"x" * 4096)
    assert main(["report", "--store", str(bad)]) == 2
    assert "corrupt" in capsys.readouterr().err and bad.read_bytes() == b"x" * 4096
