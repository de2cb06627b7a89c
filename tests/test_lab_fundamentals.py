"""Lab experiments on the fundamentals: forward-backward, activations, initializers, vanishing-gradients,
exploding-gradients, regularization.

Each experiment runs once in quick mode (module-scoped fixtures); the tests check the three report files,
that the verdict is the experiment's own verdict function applied to the saved numbers, and the measured
facts the experiment is about. Fabricated results check that a refuted claim reads NOT supported.
"""

import copy

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from glassnet import lab
from lab_helpers import check_report as _check_report, run_quick as _run  # noqa: E402


def _refuted(name, results):
    supported, explanation = lab.get(name).verdict(results)
    assert supported is False
    assert explanation
    return explanation


# ============================================================================ forward-backward
@pytest.fixture(scope="module")
def forward_backward_run(tmp_path_factory):
    return _run("forward-backward", tmp_path_factory)


def test_forward_backward_quick(forward_backward_run):
    summary, folder = forward_backward_run
    results = _check_report("forward-backward", summary, folder)
    assert summary["verdict"]["supported"] is True
    # the course's numbers (SPEC §1), by hand and through glassnet's explain mode
    np.testing.assert_allclose(results["hand_Z1"], [-0.301989, -0.156122, 0.942224, 0.447158], atol=6e-7)
    np.testing.assert_allclose(results["explain_Z1"], [-0.301989, -0.156122, 0.942224, 0.447158], atol=6e-7)
    assert round(results["hand_A2"], 6) == 0.494641
    assert round(results["explain_A2"], 6) == 0.494641
    # L = −log(A2) for y = 1; and the chain rule's ∂L/∂Z2 equals the shortcut A2 − y
    assert results["explain_loss"] == pytest.approx(-np.log(0.494641), abs=1e-5)
    assert results["dZ2_hand"] == pytest.approx(results["dZ2_shortcut_A2_minus_y"], rel=1e-12)
    for part in ("single", "batch"):
        for name in ("W1", "b1", "W2", "b2"):
            assert results[part][name]["hand_vs_autodiff"] < 1e-10
            assert results[part][name]["hand_vs_numeric"] < 1e-6
    assert results["gradcheck_passed"] is True
    # dead ReLU units (Z1 < 0 for units 1 and 2) get exactly zero gradient in W1 and b1
    b1 = np.asarray(results["single"]["b1"]["hand"])
    assert b1[0] == 0.0 and b1[1] == 0.0 and abs(b1[2]) > 0.1
    assert "Z1 = [-0.301989, -0.156122, 0.942224, 0.447158]" in results["explain_text"]


def test_forward_backward_refuted(forward_backward_run):
    summary, _ = forward_backward_run
    results = copy.deepcopy(summary["results"])
    results["explain_A2"] = 0.51
    results["A2_abs_error_explain"] = abs(0.51 - 0.494641)
    assert "0.510000" in _refuted("forward-backward", results)
    results = copy.deepcopy(summary["results"])
    results["batch"]["W1"]["hand_vs_autodiff"] = 0.3  # a wrong backward pass
    _refuted("forward-backward", results)
    results = copy.deepcopy(summary["results"])
    results["gradcheck_passed"] = False
    assert "FAILED" in _refuted("forward-backward", results)


# ============================================================================ activations
@pytest.fixture(scope="module")
def activations_run(tmp_path_factory):
    return _run("activations", tmp_path_factory)


def test_activations_quick(activations_run):
    summary, folder = activations_run
    results = _check_report("activations", summary, folder)
    arms = results["arms"]
    assert list(arms) == ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish"]
    sigmoid = arms["sigmoid"]
    # the deep sigmoid net hardly learns and its first layer gets a tiny fraction of the output's gradient
    assert sigmoid["epochs_to_target"] is None
    assert sigmoid["first_to_last_grad_ratio"] < 1e-2
    for name in ("relu", "leaky_relu", "elu", "selu"):
        assert arms[name]["epochs_to_target"] is not None
        assert arms[name]["final_val_accuracy"] > sigmoid["final_val_accuracy"] + 0.3
        assert arms[name]["first_to_last_grad_ratio"] > 100 * sigmoid["first_to_last_grad_ratio"]
        assert arms[name]["mean_saturated_fraction"] is None  # not a saturating activation
    assert arms["relu"]["mean_dead_fraction"] is not None and 0.0 <= arms["relu"]["mean_dead_fraction"] <= 1.0
    assert sigmoid["mean_saturated_fraction"] is not None
    assert len(sigmoid["first_step_grad_norms"]) == results["depth"] + 1
    assert summary["verdict"]["supported"] is True
    assert {f["file"] for f in summary["figures"]} >= {"activation_functions.png", "training_curves.png"}


def test_activations_refuted(activations_run):
    summary, _ = activations_run
    results = copy.deepcopy(summary["results"])
    # sigmoid as fast as ReLU: the claim's "faster" fails
    results["arms"]["sigmoid"]["epochs_to_target"] = 1
    assert "Faster than sigmoid: 0/6" in _refuted("activations", results)
    results = copy.deepcopy(summary["results"])
    results["arms"]["gelu"]["final_val_accuracy"] = 0.0
    _refuted("activations", results)


# ============================================================================ initializers
@pytest.fixture(scope="module")
def initializers_run(tmp_path_factory):
    return _run("initializers", tmp_path_factory)


def test_initializers_quick(initializers_run):
    summary, folder = initializers_run
    results = _check_report("initializers", summary, folder)
    sym = results["symmetry"]
    # zero / constant init: every hidden unit of a layer has exactly the same weights after training
    for scheme in ("zeros", "constant"):
        assert sym[scheme]["unit_spread"] == [0.0, 0.0]
        assert sym[scheme]["distinct_units"] == [1, 1]
    assert sym["zeros"]["kernel_moved"] == [0.0, 0.0]      # tanh(0) = 0: the hidden kernels get no gradient
    assert max(sym["constant"]["kernel_moved"]) > 1e-2     # constant init learns, but symmetrically
    for scheme in ("small", "glorot", "he"):
        assert min(sym[scheme]["unit_spread"]) > 1e-3
        assert sym[scheme]["distinct_units"] == [16, 16]
    scale = results["scale"]
    assert scale["tanh"]["glorot"]["well_scaled"] and scale["relu"]["he"]["well_scaled"]
    assert scale["tanh"]["small"]["last_to_first"] < 1e-3 and scale["relu"]["small"]["last_to_first"] < 1e-3
    assert scale["relu"]["large"]["last_to_first"] > 1e3                         # explodes
    assert scale["tanh"]["large"]["saturated_last"] > 0.5                        # saturates
    assert scale["relu"]["glorot"]["last_to_first"] < 0.25                       # Glorot is not enough for ReLU
    assert scale["tanh"]["zeros"]["last_std"] == 0.0
    conv = results["convergence"]
    assert conv["zeros"]["epochs_to_target"] is None
    for scheme in ("glorot", "he", "lecun"):
        assert conv[scheme]["epochs_to_target"] is not None
        assert conv[scheme]["final_val_accuracy"] > conv["zeros"]["final_val_accuracy"] + 0.3
    assert summary["verdict"]["supported"] is True


def test_initializers_refuted(initializers_run):
    summary, _ = initializers_run
    results = copy.deepcopy(summary["results"])
    results["symmetry"]["constant"]["max_spread"] = 0.2  # symmetry broken by a constant init
    assert "do NOT stay" in _refuted("initializers", results)
    results = copy.deepcopy(summary["results"])
    results["scale"]["relu"]["he"]["well_scaled"] = False
    _refuted("initializers", results)


# ============================================================================ vanishing-gradients
@pytest.fixture(scope="module")
def vanishing_run(tmp_path_factory):
    return _run("vanishing-gradients", tmp_path_factory)


def test_vanishing_gradients_quick(vanishing_run):
    summary, folder = vanishing_run
    results = _check_report("vanishing-gradients", summary, folder)
    arms = results["arms"]
    assert list(arms) == ["sigmoid", "tanh", "relu_he", "relu_bn", "residual_relu", "residual_sigmoid"]
    # the key fact: deep sigmoid net's first layer gets < 1e-3 of the output layer's gradient norm
    assert arms["sigmoid"]["first_to_last_ratio"] < 1e-3
    for name in ("relu_he", "relu_bn", "residual_relu"):
        assert arms[name]["first_to_last_ratio"] > 1e-2
        assert arms[name]["first_to_last_ratio"] > 1e6 * arms["sigmoid"]["first_to_last_ratio"]
        assert arms[name]["final_loss"] < arms["sigmoid"]["final_loss"]
        assert not arms[name]["non_finite"]
    # skip connections rescue even a sigmoid network's gradient flow
    assert arms["residual_sigmoid"]["first_to_last_ratio"] > 1e3 * arms["sigmoid"]["first_to_last_ratio"]
    # GradientMonitor's detector names the sigmoid net's early layers, and none of the fixed nets'
    assert "dense_1" in arms["sigmoid"]["vanishing_warnings"]
    assert arms["relu_bn"]["vanishing_warnings"] == [] and arms["residual_relu"]["vanishing_warnings"] == []
    assert len(arms["sigmoid"]["grad_norms_first_steps"]) == results["depth"] + 1
    assert summary["verdict"]["supported"] is True


def test_vanishing_gradients_refuted(vanishing_run):
    summary, _ = vanishing_run
    results = copy.deepcopy(summary["results"])
    results["arms"]["sigmoid"]["first_to_last_ratio"] = 0.5
    assert "NOT below" in _refuted("vanishing-gradients", results)
    results = copy.deepcopy(summary["results"])
    results["arms"]["relu_bn"]["first_to_last_ratio"] = 1e-9
    _refuted("vanishing-gradients", results)


# ============================================================================ exploding-gradients
@pytest.fixture(scope="module")
def exploding_run(tmp_path_factory):
    return _run("exploding-gradients", tmp_path_factory)


def test_exploding_gradients_quick(exploding_run):
    summary, folder = exploding_run
    results = _check_report("exploding-gradients", summary, folder)
    arms = results["arms"]
    assert list(arms) == ["none", "clipvalue", "clipnorm", "global_clipnorm"]
    none = arms["none"]
    assert none["non_finite"] is True and none["non_finite_step"] is not None and none["non_finite_step"] < 10
    assert none["final_epoch_loss"] is None
    assert none["max_grad_norm"] > 1e10
    for name in ("clipvalue", "clipnorm", "global_clipnorm"):
        assert arms[name]["non_finite"] is False
        assert arms[name]["loss_ratio"] < 0.5
        assert arms[name]["first_loss"] == pytest.approx(none["first_loss"], rel=1e-6)  # same start
        assert arms[name]["steps_run"] > none["steps_run"]
    assert summary["verdict"]["supported"] is True


def test_exploding_gradients_is_deterministic(exploding_run, tmp_path):
    summary, _ = exploding_run
    again = lab.run("exploding-gradients", quick=True, out=str(tmp_path), verbose=0)
    assert again["results"] == summary["results"]


def test_exploding_gradients_refuted(exploding_run):
    summary, _ = exploding_run
    results = copy.deepcopy(summary["results"])
    results["arms"]["clipnorm"].update(non_finite=True, non_finite_step=3, loss_ratio=None)
    assert "clipnorm non-finite at step 3" in _refuted("exploding-gradients", results)
    results = copy.deepcopy(summary["results"])
    results["arms"]["none"].update(non_finite=False, non_finite_step=None, loss_ratio=0.1)
    assert "stayed finite" in _refuted("exploding-gradients", results)


# ============================================================================ regularization
@pytest.fixture(scope="module")
def regularization_run(tmp_path_factory):
    return _run("regularization", tmp_path_factory)


def test_regularization_quick(regularization_run):
    summary, folder = regularization_run
    results = _check_report("regularization", summary, folder)
    assert list(results["tasks"]) == ["digits", "noisy"]
    for arms in results["tasks"].values():
        assert list(arms) == ["none", "l1", "l2", "dropout_0.2", "dropout_0.5", "early_stopping", "batch_norm"]
        none = arms["none"]
        # the unregularised wide MLP overfits the 200 training samples
        assert none["train_accuracy"] >= 0.97
        assert none["accuracy_gap"] > 0.05 and none["loss_gap"] > 0.1
        # weight penalties shrink the weights; L1 drives many of them to (almost) zero
        assert arms["l1"]["kernel_norm"] < none["kernel_norm"] and arms["l2"]["kernel_norm"] < none["kernel_norm"]
        assert arms["l1"]["near_zero_fraction"] > 5 * none["near_zero_fraction"]
        # early stopping follows the unregularised run (same weights and batches) and keeps its best epoch
        assert arms["early_stopping"]["val_loss"] <= none["val_loss"] + 1e-6
        assert arms["early_stopping"]["epochs"] <= none["epochs"]
        for arm in arms.values():
            assert arm["accuracy_gap"] == pytest.approx(arm["train_accuracy"] - arm["val_accuracy"])
            assert arm["loss_gap"] == pytest.approx(arm["val_loss"] - arm["train_loss"])
            assert 0.0 <= arm["test_accuracy"] <= 1.0
            assert arm["smaller_accuracy_gap"] == (arm is not none and arm["accuracy_gap"] < none["accuracy_gap"])


def test_regularization_verdict_follows_the_majority(regularization_run):
    summary, _ = regularization_run
    results = copy.deepcopy(summary["results"])
    for arms in results["tasks"].values():  # every regulariser narrows the gap on every task
        for name, arm in arms.items():
            arm["smaller_accuracy_gap"] = name != "none"
    assert lab.get("regularization").verdict(results)[0] is True
    for name in ("l1", "l2", "dropout_0.2", "dropout_0.5"):  # 4 of 6 no longer narrow it on digits
        results["tasks"]["digits"][name]["smaller_accuracy_gap"] = False
    assert "digits: accuracy gap" in _refuted("regularization", results)
    assert "smaller for 2/6 arms" in _refuted("regularization", results)
