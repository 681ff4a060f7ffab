"""The command line as a new user meets it: help, defaults that learn, models that remember
their run, reports that do not pool settings, languages in every form, and clear errors."""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pytest
from handbuilt import counting_lstm as _counting_lstm
from handbuilt import parity_gru as _parity_gru

import expressivity as ex
from expressivity.cli import _parser, main
from expressivity.experiments.report import markdown_report, safe_filename, write_report
from expressivity.experiments.spec import RunSpec
from expressivity.experiments.store import ResultsStore
from expressivity.languages import AlphabetError, DFAError, RegexError, UnknownLanguageError
from expressivity.languages.resolve import language_from_arg


def _err(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# ---------------------------------------------------------------------- help
def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_top_level_help_lists_every_subcommand(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    subs = _subparsers(_parser())
    assert set(subs) >= {"train", "evaluate", "sweep", "report", "reproduce", "extract",
                         "counters"}  # fmt: skip
    for name in subs:
        line = next(x for x in out.splitlines() if x.strip().startswith(name + " "))
        assert len(line.split(maxsplit=1)[1]) > 10, f"{name} has no one-line description"


def test_every_flag_has_help():
    for name, sp in _subparsers(_parser()).items():
        for a in sp._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help and a.help != argparse.SUPPRESS, f"{name} {a.option_strings or a.dest}"


def test_name_flags_list_valid_names(capsys):
    from expressivity.cells import list_cells

    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for cell in list_cells():
        assert cell in out
    for name in ("anbn", "dyck-K", "dyck-K-M", "shuffle-K", "tomita-3", "weiss2018",
                 "suzgun2019", "recognition", "fixedI.F", "eXmY", "cuda", "auto"):  # fmt: skip
        assert name in out, name
    assert main(["extract", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for form in ("regex:", "dfa:", "constraint:", "grammar:", "lstar", "quantize"):
        assert form in out, form


# ---------------------------------------------------------------------- train / evaluate
def test_readme_train_learns_and_evaluate_agrees(tmp_path, capsys):
    out = tmp_path / "one"
    rc = main(["train", "--cell", "lstm", "--language", "anbn", "--train-max", "30",
               "--epochs", "100", "--out", str(out)])  # fmt: skip
    assert rc == 0
    row = json.loads(capsys.readouterr().out)
    m = row["metrics"]
    assert row["status"] == "done" and m["frontier"] >= 30 and m["accuracy_train"] == 1.0
    # the model remembers its run: no language, range or protocol needed
    assert main(["evaluate", row["model_path"]]) == 0
    ev = json.loads(capsys.readouterr().out)
    for k in ("frontier", "max_accepted_n", "first_near_miss_accepted_n", "n_max_evaluated"):
        assert ev[k] == m[k], k
    info = ex.Network.read_metadata(row["model_path"])["training"]
    assert info["language"] == "anbn" and info["train_max"] == 30 and info["train_min"] == 1
    assert info["protocol"] == "weiss2018" and info["lr"] == 0.01 and info["clip"] == 5.0


def test_evaluate_by_length_language_agrees_and_takes_globs(tmp_path, capsys):
    out = tmp_path / "r"
    rows = []
    for seed in ("0", "1"):
        rc = main(["train", "--cell", "gru", "--language", "tomita-3", "--protocol", "recognition",
                   "--train-max", "4", "--epochs", "2", "--hidden-size", "3", "--seed", seed,
                   "--out", str(out)])  # fmt: skip
        assert rc == 0
        rows.append(json.loads(capsys.readouterr().out))
    assert main(["evaluate", str(out / "models" / "*.npz")]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert len(ev) == 2
    for row in rows:
        got = ev[row["model_path"]]
        assert got["frontier"] == row["metrics"]["frontier"]
        assert got["accuracy"] == row["metrics"]["accuracy"]
    # flags still override the model's own settings
    assert main(["evaluate", rows[0]["model_path"], "--n-max", "6"]) == 0
    assert json.loads(capsys.readouterr().out)["frontier"] <= 6


def test_evaluate_glob_without_match_is_an_error(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "*.npz"), "--language", "anbn"]) == 2
    assert "no model file matches" in _err(capsys)


def test_train_spec_file_keeps_runspec_defaults(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('cell = "gru"\nlanguage = "anbn"\ntrain_max = 2\nepochs = 1\nhidden_size = 2\n')
    assert main(["train", str(spec), "--out", str(tmp_path / "o")]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["spec_hash"] == RunSpec(cell="gru", language="anbn", train_max=2, epochs=1,
                                       hidden_size=2).spec_hash  # fmt: skip


# ---------------------------------------------------------------------- bad flag values
@pytest.mark.parametrize(
    "argv, flag",
    [
        (["sweep", "x.toml", "--workers", "-2"], "--workers"),
        (["sweep", "x.toml", "--workers", "0"], "--workers"),
        (["reproduce", "weiss2018", "--workers", "0"], "--workers"),
        (["reproduce", "weiss2018", "--seeds", "0"], "--seeds"),
        (["evaluate", "m.npz", "--train-max", "-1"], "--train-max"),
        (["evaluate", "m.npz", "--far", "-5"], "--far"),
        (["evaluate", "m.npz", "--n-max", "x"], "--n-max"),
        (["extract", "m.npz", "--language", "parity", "--time-limit", "nan"], "--time-limit"),
        (["extract", "m.npz", "--language", "parity", "--time-limit", "0"], "--time-limit"),
        (["extract", "m.npz", "--language", "parity", "--k", "0"], "--k"),
        (["counters", "m.npz", "--language", "anbn", "--n-train", "0"], "--n-train"),
        (["train", "--cell", "lstm", "--language", "anbn", "--lr", "nan"], "--lr"),
        (["train", "--cell", "lstm", "--language", "anbn", "--lr", "0"], "--lr"),
        (["train", "--cell", "lstm", "--language", "anbn", "--lr", "inf"], "--lr"),
        (["train", "--cell", "lstm", "--language", "anbn", "--clip", "-1"], "--clip"),
        (["train", "--cell", "lstm", "--language", "anbn", "--epochs", "0"], "--epochs"),
        (["train", "--cell", "lstm", "--language", "anbn", "--hidden-size", "0"], "--hidden-size"),
        (["train", "--cell", "lstm", "--language", "anbn", "--target-accuracy", "1.5"],
         "--target-accuracy"),
        (["train", "--cell", "lstm", "--language", "anbn", "--precision", "float7"],
         "--precision"),
        (["train", "--cell", "lstn", "--language", "anbn"], "--cell"),
    ],
)  # fmt: skip
def test_bad_flag_values_are_refused(tmp_path, capsys, argv, flag):
    assert main(argv) == 2
    err = _err(capsys)
    assert flag in err and "error" in err
    assert not (tmp_path / "results").exists()


def test_unreachable_scheduler_is_named_quickly(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text('[base]\ncell = "gru"\nlanguage = "anbn"\n')
    out = tmp_path / "o"
    argv = ["sweep", str(spec), "--scheduler", "tcp://127.0.0.1:1", "--out", str(out)]
    assert main(argv) == 2
    assert "no dask scheduler answers" in _err(capsys) and not out.exists()
    assert main(["sweep", str(spec), "--scheduler", "nohost:x", "--out", str(out)]) == 2
    assert "HOST:PORT" in _err(capsys)


def test_extract_max_len_too_large_is_refused(tmp_path, capsys):
    f = _parity_gru().save(tmp_path / "p.npz")
    rc = main(["extract", str(f), "--language", "parity", "--max-len", "1000000",
               "--out", str(tmp_path / "o")])  # fmt: skip
    assert rc == 2
    err = _err(capsys)
    last = err.strip().splitlines()[-1]  # a first-compile notice may come before it
    assert last.startswith("expressivity: error: --max-len 1000000") and "or less" in last


# ---------------------------------------------------------------------- model files
def _fake_weiss_npz(path, rng) -> None:
    H, E = 2, 3
    arrays = {"alphabet": np.array("ab"), "cell": np.array("lstm"),
              "threshold": np.array(0.005, dtype=np.float32),
              "embedding": rng.normal(size=(E, 3)), "W_out": rng.normal(size=(3, H)),
              "b_out": rng.normal(size=3), "h0": np.zeros(H), "c0": np.zeros(H)}  # fmt: skip
    for g in "ifoc":
        arrays |= {f"W_{g}": rng.normal(size=(H, E)), f"U_{g}": rng.normal(size=(H, H)),
                   f"b_{g}": rng.normal(size=H)}  # fmt: skip
    np.savez(path, **{k: v.astype(np.float32) if v.dtype.kind == "f" else v
                      for k, v in arrays.items()})  # fmt: skip


def test_released_network_loads_without_flag(tmp_path, capsys, rng):
    f = tmp_path / "released.npz"
    _fake_weiss_npz(f, rng)
    rc = main(["evaluate", str(f), "--language", "anbn", "--n-max", "12", "--far", "0"])
    assert rc == 0
    captured = capsys.readouterr()
    assert "frontier" in json.loads(captured.out)
    assert "released Weiss et al." in captured.err and "__meta__" not in captured.err


def test_text_file_as_model_never_mentions_pickle(tmp_path, capsys):
    f = tmp_path / "model.npz"
    f.write_text("hello, I am text\n" * 20)
    for cmd in (["evaluate", str(f), "--language", "anbn"],
                ["extract", str(f), "--language", "parity"],
                ["counters", str(f), "--language", "anbn"]):  # fmt: skip
        assert main(cmd) == 2
        err = _err(capsys)
        last = err.strip().splitlines()[-1]
        assert last.startswith("expressivity: error:") and "not a .npz (zip) archive" in last
        assert "pickle" not in err.lower()


def test_folder_as_model_is_named(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path), "--language", "anbn"]) == 2
    assert "is a folder" in _err(capsys)


def test_save_training_metadata_round_trip(tmp_path):
    net = _parity_gru()
    f = net.save(tmp_path / "n.npz", training={"language": "parity", "train_max": 7})
    assert ex.Network.read_metadata(f)["training"] == {"language": "parity", "train_max": 7}
    assert "training" not in ex.Network.read_metadata(net.save(tmp_path / "m.npz"))
    assert ex.Network.load(f).accepts(["bb"])[0]


# ---------------------------------------------------------------------- stores and folders
def test_report_refuses_a_missing_store(tmp_path, capsys):
    store = tmp_path / "nope" / "results.sqlite"
    assert main(["report", "--store", str(store)]) == 2
    assert "does not exist" in _err(capsys)
    assert not store.exists() and not store.parent.exists()
    with pytest.raises(FileNotFoundError):
        markdown_report(store)
    assert not store.exists()


def test_folder_as_store_is_not_called_corrupt(tmp_path, capsys):
    for argv in (["report", "--store", str(tmp_path)],
                 ["train", "--cell", "gru", "--language", "anbn", "--store", str(tmp_path),
                  "--out", str(tmp_path / "o")]):  # fmt: skip
        assert main(argv) == 2
        err = _err(capsys)
        assert "is a folder" in err and "corrupt" not in err


def test_output_that_is_a_file_is_named(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "--cell", "gru", "--language", "anbn", "--out", str(f)]) == 2
    err = _err(capsys)
    assert "is a file, not a folder" in err and "corrupt" not in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_output_is_not_called_corrupt(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(["train", "--cell", "gru", "--language", "anbn", "--out", str(ro)]) == 2
        err = _err(capsys)
        assert "cannot be written" in err and "corrupt" not in err
    finally:
        ro.chmod(0o700)


# ---------------------------------------------------------------------- report
def _curves(n: int) -> dict:
    return {"n": list(range(n)), "correct": [True] * n}


def test_report_groups_by_whole_spec_but_seed(tmp_path):
    store = tmp_path / "r.sqlite"
    with ResultsStore(store) as st:
        for lr in (0.01, 0.02):
            for seed in (0, 1):
                s = RunSpec(cell="lstm", language="anbn", train_max=3, lr=lr, seed=seed)
                st.record(s, {"status": "done", "metrics": {"frontier": 5 if lr == 0.01 else 1},
                              "curves": _curves(6)})  # fmt: skip
        s = RunSpec(cell="lstm", language="anbn", train_max=3, precision="float16")
        st.record(s, {"status": "done", "metrics": {"frontier": 2}, "curves": _curves(6)})
    text = markdown_report(store)
    summary = text.split("## Summary over seeds")[1].split("## Per seed")[0]
    rows = [line for line in summary.splitlines() if line.startswith("| anbn")]
    assert len(rows) == 3
    assert summary.splitlines()[2].startswith("| language | cell | precision | protocol | settings")
    by = {r.split("|")[5].strip() + "/" + r.split("|")[3].strip(): r for r in rows}
    assert "| 2 | 100% |" in by["lr=0.01/float32"] and "| 2 | 0% |" in by["lr=0.02/float32"]
    assert "| 1 |" in by["lr=0.001/float16"]
    assert "Settings shared by every run" in text and "train_max=3" in text
    per_seed = text.split("## Per seed")[1]
    assert "float16" in per_seed and "lr=0.02" in per_seed


class _CraftedSpec:
    """A spec whose language is a path: what a crafted store could hold."""

    def __init__(self, language: str):
        self.d = RunSpec(cell="lstm", language="anbn", train_max=3).to_dict() | {
            "language": language
        }
        self.spec_hash = "f" * 16

    def to_dict(self) -> dict:
        return dict(self.d)

    def label(self) -> str:
        return "crafted"


def test_report_never_writes_outside_its_folder(tmp_path, capsys):
    store = tmp_path / "r.sqlite"
    with ResultsStore(store) as st:
        st.record(_CraftedSpec("../../X"), {"status": "done", "metrics": {"frontier": 1},
                                            "curves": _curves(4)})  # fmt: skip
    out = tmp_path / "a" / "b" / "rep"
    assert main(["report", "--store", str(store), "--out", str(out)]) == 0
    capsys.readouterr()
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    outside = [p for p in written if not str(p).startswith(os.path.join("a", "b", "rep"))]
    assert [str(p) for p in outside] == ["r.sqlite"]
    assert not (tmp_path / "a" / "X.png").exists()
    assert any(p.suffix == ".png" for p in out.iterdir())
    assert write_report(store, out).parent == out


def test_safe_filename():
    assert safe_filename("anbn") == "anbn" and safe_filename("dyck-2-5") == "dyck-2-5"
    for bad in ("../../X", "/etc/passwd", "a/b", "..", "", "regex:(ab)*", "x\x00y"):
        s = safe_filename(bad)
        assert s and "/" not in s and "\x00" not in s and not s.startswith(".")
    assert safe_filename("a/b") != safe_filename("a_b")


# ---------------------------------------------------------------------- languages in every form
def test_language_from_arg_forms(tmp_path):
    assert language_from_arg("anbn").name == "anbn"
    assert language_from_arg("dyck-4").alphabet == "()[]{}<>"
    lang = language_from_arg("regex:(ab)*", alphabet="ab")
    assert lang.contains("abab") and not lang.contains("aba")
    lang = language_from_arg("constraint:#a = 2 * #b", alphabet="ab")
    assert lang.contains("aba") and not lang.contains("ab")
    assert language_from_arg("grammar:S -> a S b | ε").contains("aabb")
    table = {"alphabet": "ab", "start": 0, "accepting": [True, False],
             "table": [[0, 1], [1, 0]]}  # fmt: skip
    (tmp_path / "t.json").write_text(json.dumps(table))
    for text in (f"dfa:{tmp_path / 't.json'}", str(tmp_path / "t.json")):
        lang = language_from_arg(text)
        assert lang.contains("abb") and not lang.contains("ab")
    nested = {"alphabet": "ab", "start": "e", "accepting": ["e"],
              "transitions": {"e": {"a": "e", "b": "o"}, "o": {"a": "o", "b": "e"}}}  # fmt: skip
    (tmp_path / "n.json").write_text(json.dumps({"dfa": table} | {"x": 1}))
    (tmp_path / "d.json").write_text(json.dumps(nested))
    assert language_from_arg(f"dfa:{tmp_path / 'd.json'}").contains("bab")
    assert language_from_arg(f"dfa:{tmp_path / 'n.json'}").contains("bb")


@pytest.mark.parametrize(
    "text, alphabet, exc, words",
    [
        ("nosuch", None, UnknownLanguageError, ["nosuch", "regex:"]),
        ("regex:(ab", "ab", RegexError, ["(ab"]),
        ("constraint:#a = #b", None, AlphabetError, ["alphabet"]),
        ("anbn", "abc", AlphabetError, ["'ab'", "'abc'"]),
        ("dfa:missing.json", None, FileNotFoundError, ["missing.json"]),
        ("", None, UnknownLanguageError, ["regex:"]),
    ],
)  # fmt: skip
def test_language_from_arg_errors(text, alphabet, exc, words):
    with pytest.raises(exc) as info:
        language_from_arg(text, alphabet)
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize(
    "content",
    ["{", "[1, 2]", '{"alphabet": "ab"}', '{"alphabet": "ab", "table": [[0.5]], "accepting": [1]}',
     '{"alphabet": "ab", "table": [[0, 1]], "accepting": [true, false]}',
     "[" * 100_000 + "]" * 100_000],
)  # fmt: skip
def test_bad_dfa_files_are_dfa_errors(tmp_path, content):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(DFAError, match="bad.json"):
        language_from_arg(f"dfa:{f}")


def test_extract_takes_a_regex_and_its_own_dfa_file(tmp_path, capsys):
    f = _parity_gru().save(tmp_path / "p.npz")
    rc = main(["extract", str(f), "--language", "regex:(a|ba*b)*", "--out", str(tmp_path / "o")])
    assert rc == 0
    assert "equivalent to the language's minimal DFA" in capsys.readouterr().out
    (rec,) = (tmp_path / "o").glob("*.json")
    rc = main(["extract", str(f), "--language", f"dfa:{rec}", "--out", str(tmp_path / "o2")])
    assert rc == 0
    assert "equivalent to the language's minimal DFA" in capsys.readouterr().out


def test_regex_over_another_alphabet_is_named(tmp_path, capsys):
    f = _parity_gru().save(tmp_path / "p.npz")
    assert main(["extract", str(f), "--language", "regex:(01)*", "--out", str(tmp_path)]) == 2
    assert "alphabet mismatch" in _err(capsys)


def test_counters_take_a_constraint(tmp_path, capsys):
    f = _counting_lstm().save(tmp_path / "c.npz")
    rc = main(["counters", str(f), "--language", "constraint:#a = #b", "--alphabet", "ab",
               "--n-train", "20", "--n-max", "60"])  # fmt: skip
    err = capsys.readouterr()
    assert rc == 0, err.err
    assert "counting unit(s)" in err.out and "constraint:#a = #b" in err.out


def test_errors_are_one_line_with_exit_2(tmp_path, capsys):
    assert main(["report", "--store", str(tmp_path / "x.sqlite")]) == 2
    err = _err(capsys)
    assert err.startswith("expressivity: error: ") and err.count("\n") == 1


def test_released_networks_evaluate_as_reproduce_does(weiss_dir, capsys):
    from expressivity.evaluate import evaluate_counting
    from expressivity.languages import get_language

    f = weiss_dir / "anbn_lstm.npz"
    assert main(["evaluate", str(f), "--language", "anbn"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = evaluate_counting(ex.load_weiss2018(f), get_language("anbn"), 297, n_min=1, far=1980,
                             train_max=99).metrics  # fmt: skip
    assert got["frontier"] == want["frontier"] and got["max_accepted_n"] == want["max_accepted_n"]


def test_released_dynet_file_needs_its_alphabet(weiss_dir, capsys):
    f = weiss_dir / "original" / "anbn_LSTM.data"
    if not f.exists():
        pytest.skip(f"{f.name} not in the reference folder")
    assert main(["evaluate", str(f), "--weiss2018", "--language", "anbn"]) == 2
    err = _err(capsys)
    assert "--alphabet" in err and "pickle" not in err.lower()
    argv = ["evaluate", str(f), "--weiss2018", "--alphabet", "ab", "--language", "anbn",
            "--n-max", "120", "--far", "0"]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["frontier"] >= 99


def test_network_load_names_what_the_file_is(tmp_path, rng):
    text = tmp_path / "t.npz"
    text.write_text("not numbers\n" * 10)
    released = tmp_path / "released.npz"
    _fake_weiss_npz(released, rng)
    for f, words in ((text, "not a .npz archive"), (released, "load_weiss2018"),
                     (tmp_path, "a folder")):  # fmt: skip
        for read in (ex.Network.load, ex.Network.read_metadata):
            with pytest.raises(ValueError) as info:
                read(f)
            assert words in str(info.value) and "pickle" not in str(info.value)
