"""Every example in examples/ runs (in its quick mode: fewer samples and epochs) and learns something.

The full runs, with the accuracies the examples print, are recorded in examples/README.md.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

pytest.importorskip("sklearn")

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["cnn_digits", "resnet_digits", "transformer_classifier"])
def test_image_classifiers_beat_chance(name):
    results = load(name).main(quick=True)
    assert results["test_accuracy"] > 0.2  # ten classes: chance is 0.1
    losses = results["history"]["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_lstm_and_gru_classifiers():
    results = load("sequence_classifiers").main(quick=True)
    for cell in ("lstm", "gru"):
        assert results[cell]["test_accuracy"] > 0.2
    assert results["lstm"]["params"] == 4 * (64 * (8 + 64) + 64) + 65 * 10  # Keras' LSTM count, one bias


def test_autoencoders_learn_to_reconstruct():
    results = load("autoencoders").main(quick=True)
    for name in ("dense", "conv"):
        losses = results[name]["train_loss"]
        assert losses[-1] < 0.7 * losses[0]
        assert np.isfinite(results[name]["test_mse"])


def test_gan_moves_samples_towards_the_modes():
    results = load("gan_2d").main(quick=True)
    before, after = results["before"], results["after"]
    assert after["mean_distance_to_mode"] < 0.75 * before["mean_distance_to_mode"]
    assert after["fraction_near_a_mode"] > before["fraction_near_a_mode"]
