"""The ``glassnet`` command: help texts, a short training run and its run folder, argument errors,
and the default run's test accuracy."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

import glassnet as gn
from glassnet import cli

pytest.importorskip("sklearn")
try:
    import matplotlib  # noqa: F401  (curves are drawn only when it is installed)
    HAS_MATPLOTLIB = True
except ImportError:
    HAS_MATPLOTLIB = False

OPTIONS = ("--dataset", "--hidden", "--activation", "--optimizer", "--lr", "--epochs", "--batch-size", "--seed",
           "--out")


def test_top_level_help_in_a_subprocess():
    done = subprocess.run([sys.executable, "-m", "glassnet.cli", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0
    assert "usage: glassnet" in done.stdout and "train" in done.stdout


def test_train_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in OPTIONS:
        assert option in text
    assert "(default: 50)" in text  # epochs
    assert "default: None" not in text


def test_no_command_prints_help(capsys):
    assert cli.main([]) == 0
    assert "train" in capsys.readouterr().out


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert gn.__version__ in capsys.readouterr().out


def test_short_run_writes_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "--epochs", "3", "--out", str(out), "--verbose", "0", "--hidden", "32",
                     "--seed", "1"]) == 0
    assert capsys.readouterr().out == ""  # --verbose 0 is silent
    pictures = {"loss.png", "accuracy.png"} if HAS_MATPLOTLIB else set()
    assert {p.name for p in out.iterdir()} == {"model.glassnet", "history.csv", "metrics.json"} | pictures
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    assert float(rows[3][1]) < float(rows[1][1])  # the loss went down
    assert float(rows[1][-1]) == pytest.approx(1e-3)
    for png in pictures:
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"test", "settings", "classification_report"}
    assert 0 <= metrics["test"]["accuracy"] <= 1 and metrics["test"]["loss"] > 0
    assert metrics["settings"]["epochs"] == 3 and metrics["settings"]["hidden"] == [32]
    assert "precision" in metrics["classification_report"]

    model = gn.load_model(out / "model.glassnet")
    assert [type(layer).__name__ for layer in model.layers] == ["Normalization", "Dense", "Dropout", "Dense"]
    x, y = gn.datasets.load_digits()
    predictions = model.predict(x[:20], verbose=0)
    assert predictions.shape == (20, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    # the saved model evaluates to the accuracy written in metrics.json (same test split)
    (_, _), (x_test, y_test) = cli._load_task("digits", 0.2, 1)
    assert model.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"] == pytest.approx(
        metrics["test"]["accuracy"])


def test_verbose_run_prints_progress_results_and_report(tmp_path, capsys):
    assert cli.main(["train", "--dataset", "iris", "--epochs", "2", "--out", str(tmp_path / "iris"),
                     "--verbose", "2", "--hidden", "8", "--optimizer", "sgd", "--lr", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "Epoch 2/2" in text and "Total params" in text and "Test results" in text
    assert "precision" in text and "Run folder" in text


def test_binary_and_regression_datasets(tmp_path):
    assert cli.main(["train", "--dataset", "moons", "--epochs", "2", "--hidden", "8", "--out",
                     str(tmp_path / "moons"), "--verbose", "0"]) == 0
    model = gn.load_model(tmp_path / "moons" / "model.glassnet")
    assert model.layers[-1].units == 1
    assert cli.main(["train", "--dataset", "regression", "--epochs", "2", "--hidden", "8", "--dropout", "0",
                     "--out", str(tmp_path / "reg"), "--verbose", "0"]) == 0
    metrics = json.loads((tmp_path / "reg" / "metrics.json").read_text())
    assert "mae" in metrics["test"] and metrics["classification_report"] is None
    assert (tmp_path / "reg" / "mae.png").exists() == HAS_MATPLOTLIB


@pytest.mark.parametrize("argv, words", [
    (["train", "--hidden", "12,x"], "--hidden"),
    (["train", "--hidden", "0"], "positive"),
    (["train", "--hidden", "-5"], "--hidden"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "two"], "--epochs"),
    (["train", "--batch-size", "-1"], "--batch-size"),
    (["train", "--lr", "0"], "--lr"),
    (["train", "--lr", "nan"], "--lr"),
    (["train", "--dropout", "1"], "--dropout"),
    (["train", "--validation-split", "1.5"], "--validation-split"),
    (["train", "--test-size", "0"], "--test-size"),
    (["train", "--dataset", "mnist"], "--dataset"),
    (["train", "--verbose", "3"], "--verbose"),
    (["train", "--bogus"], "unrecognized"),
    (["fly"], "invalid choice"),
])
def test_bad_arguments_are_usage_errors(argv, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "usage:" in error and words in error


@pytest.mark.parametrize("argv, words", [
    (["--optimizer", "adma"], "Did you mean 'adam'"),
    (["--activation", "rleu"], "Did you mean 'relu'"),
])
def test_unknown_names_are_reported_without_a_traceback(argv, words, tmp_path, capsys):
    assert cli.main(["train", "--epochs", "1", "--out", str(tmp_path / "x"), "--verbose", "0"] + argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("glassnet: error:") and words in error and "Traceback" not in error


def test_default_run_reaches_96_percent_test_accuracy(tmp_path):
    """The documented default (`glassnet train`: digits, 256-128 ReLU MLP, Adam, 50 epochs)."""
    out = tmp_path / "default"
    assert cli.main(["train", "--out", str(out), "--verbose", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["epochs"] == 50 and metrics["settings"]["hidden"] == [256, 128]
    assert metrics["test"]["accuracy"] >= 0.96
