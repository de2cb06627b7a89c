"""Lab experiments about training: optimizers, lr-schedules, losses-outliers, weighted-loss, batch-size, tuning.

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


# ============================================================================ optimizers
@pytest.fixture(scope="module")
def optimizers_run(tmp_path_factory):
    return _run("optimizers", tmp_path_factory)


def test_optimizers_quick(optimizers_run):
    summary, folder = optimizers_run
    results = _check_report("optimizers", summary, folder)
    runs = results["optimizers"]
    assert list(runs) == ["SGD", "SGD+momentum", "Nesterov", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW",
                          "Nadam"]
    assert results["data"] == "bundled 8×8 digits" and summary["data"] is None
    # Adam is well ahead of plain SGD (both at their Keras default rates) after the same few epochs
    assert runs["Adam"]["accuracy_at_budget"] > runs["SGD"]["accuracy_at_budget"] + 0.2
    assert runs["Adam"]["epochs_to_target"] is not None
    assert runs["SGD+momentum"]["epochs_to_target"] is not None
    # Adadelta at Keras' default lr=0.001 hardly leaves chance level
    assert runs["Adadelta"]["best_val_accuracy"] < 0.3
    # Adam and AdamW (decay 0.004 × lr 0.001 per step is tiny) from the same weights and batch order nearly agree
    assert abs(runs["Adam"]["final_val_accuracy"] - runs["AdamW"]["final_val_accuracy"]) <= 0.02
    for run in runs.values():
        assert len(run["val_accuracy_curve"]) == results["epochs"]
        assert run["best_val_accuracy"] == max(run["val_accuracy_curve"])


def test_optimizers_reads_image_files(tmp_path):
    from glassnet import datasets

    x, y = datasets.load_digits(images=True)
    path = tmp_path / "digits.npz"
    np.savez(path, x=(x[..., 0] * 16).clip(0, 255).astype(np.uint8), y=y)  # (N, 8, 8) uint8 images
    summary = lab.run("optimizers", quick=True, out=str(tmp_path / "out"), data=str(path), verbose=0,
                      epochs=2, max_train=150, max_val=80)
    results = summary["results"]
    assert summary["data"] == str(path) and results["data"] == str(path)
    assert "--data" in summary["command"]
    assert results["n_train"] == 150 and results["n_val"] == 80
    assert all(len(r["val_accuracy_curve"]) == 2 for r in results["optimizers"].values())


def test_optimizers_verdict_refuted():
    experiment = lab.get("optimizers")
    fast = {"epochs_to_target": 2, "accuracy_at_budget": 0.93}
    slow = {"epochs_to_target": None, "accuracy_at_budget": 0.40}
    results = {"target_accuracy": 0.9, "budget_epochs": 5, "adam_family": ["Adam", "AdamW", "Nadam"],
               "optimizers": {"SGD": fast, "SGD+momentum": fast, "Adam": slow, "AdamW": slow, "Nadam": slow}}
    supported, explanation = experiment.verdict(results)
    assert supported is False and "never" in explanation
    # and the mirror image is supported
    results["optimizers"].update(SGD=slow, Adam=fast, AdamW=fast, Nadam=fast)
    assert experiment.verdict(results)[0] is True


# ============================================================================ lr-schedules
@pytest.fixture(scope="module")
def schedules_run(tmp_path_factory):
    return _run("lr-schedules", tmp_path_factory)


def test_lr_schedules_quick(schedules_run):
    summary, folder = schedules_run
    results = _check_report("lr-schedules", summary, folder)
    arms, lr0 = results["arms"], results["lr0"]
    assert list(arms) == ["constant", "step decay", "exponential", "cosine", "warm restarts", "one-cycle",
                          "cyclical", "plateau"]
    # the learning rate each arm used in its last epoch: decaying schedules end far below the peak
    assert arms["constant"]["epoch_learning_rates"] == [lr0] * results["epochs"]
    for arm in ("step decay", "exponential", "cosine", "one-cycle"):
        assert arms[arm]["epoch_learning_rates"][-1] < lr0 / 2, arm
    assert arms["one-cycle"]["epoch_learning_rates"][-1] < lr0 / 100
    # at a high common peak, annealing ends at a much lower training loss than staying there
    assert arms["cosine"]["final_loss"] < 0.7 * arms["constant"]["final_loss"]
    # the LR finder: its suggestion lies inside the sweep, where the smoothed loss falls
    finder = results["finder"]
    assert 1e-4 < finder["suggestion"] < 10.0
    assert finder["slope_at_suggestion"] < 0
    assert finder["smoothed_loss_at_suggestion"] < finder["smoothed_loss_at_start"]
    # the constant arm of the grid also tried the suggested rate
    assert repr(float(finder["suggestion"])) in results["grid"]["constant"]
    for arm, best in results["best"].items():
        assert best["final_loss"] == min(results["grid"][arm].values())


def test_lr_schedules_verdict_refuted():
    experiment = lab.get("lr-schedules")
    finder = {"suggestion": 0.1, "best_lr": 1.0, "slope_at_suggestion": -0.3, "initial_loss": 2.3,
              "final_loss_at_suggestion": 0.05}
    arms = {arm: {"final_loss": 0.05} for arm in ("constant", "cosine", "one-cycle")}
    results = {"lr0": 0.3, "epochs": 8, "arms": arms, "finder": finder,
               "best": {"constant": {"learning_rate": 0.1, "final_loss": 0.010},
                        "cosine": {"learning_rate": 0.3, "final_loss": 0.050},
                        "one-cycle": {"learning_rate": 0.3, "final_loss": 0.020}}}
    supported, explanation = experiment.verdict(results)
    assert supported is False and "not 10% below" in explanation
    good = copy.deepcopy(results)
    good["best"]["one-cycle"]["final_loss"] = 0.005
    assert experiment.verdict(good)[0] is True
    rising = copy.deepcopy(good)  # schedules win, but the finder's suggestion sits where the loss rises
    rising["finder"]["slope_at_suggestion"] = 0.2
    assert experiment.verdict(rising)[0] is False


# ============================================================================ losses-outliers
@pytest.fixture(scope="module")
def outliers_run(tmp_path_factory):
    return _run("losses-outliers", tmp_path_factory)


def test_losses_outliers_quick(outliers_run):
    summary, folder = outliers_run
    results = _check_report("losses-outliers", summary, folder)
    main, noise = results["main"], results["noise"]
    assert set(main) == {"MSE", "MAE", "Huber", "quantile 0.5"}
    # MSE training reached the least-squares line of the corrupted data (a closed form)
    ls = results["least_squares"]
    assert main["MSE"]["slope"] == pytest.approx(ls["slope"], rel=0.02, abs=0.5)
    assert main["MSE"]["intercept"] == pytest.approx(ls["intercept"], rel=0.02, abs=0.5)
    # ... which the outliers pulled away; MAE stays near the noise floor on clean test data
    assert main["MSE"]["test_rmse"] > 2 * main["MAE"]["test_rmse"]
    assert main["MAE"]["test_rmse"] < 1.5 * noise
    # MAE and the 0.5 quantile (pinball) loss have the same minimiser: the median line
    assert main["MAE"]["slope"] == pytest.approx(main["quantile 0.5"]["slope"], abs=0.5)
    assert main["MAE"]["intercept"] == pytest.approx(main["quantile 0.5"]["intercept"], abs=0.5)
    # without outliers every loss fits the line equally well
    clean = results["by_fraction"]["0.0"]
    assert all(0.8 * noise < r["test_rmse"] < 1.2 * noise for r in clean.values())


def test_losses_outliers_verdict_refuted():
    experiment = lab.get("losses-outliers")
    fit = {"test_rmse": 10.0, "intercept": 20.0}
    results = {"outlier_fraction": 0.1, "noise": 10.0, "true_intercept": 20.0,
               "main": {"MSE": dict(fit, test_rmse=12.0), "MAE": fit, "Huber": fit, "quantile 0.5": fit}}
    supported, explanation = experiment.verdict(results)
    assert supported is False and "MSE 12.00" in explanation
    results["main"]["MSE"]["test_rmse"] = 40.0
    assert experiment.verdict(results)[0] is True


# ============================================================================ weighted-loss
@pytest.fixture(scope="module")
def weighted_run(tmp_path_factory):
    return _run("weighted-loss", tmp_path_factory)


def test_weighted_loss_quick(weighted_run):
    summary, folder = weighted_run
    results = _check_report("weighted-loss", summary, folder)
    runs = sorted(results["runs"], key=lambda r: r["weight"])
    assert runs[0]["weight"] == 1.0
    assert runs[-1]["weight"] == pytest.approx(results["balanced_weight"])
    assert results["balanced_weight"] > 10  # a 95 / 5 split
    # up-weighting makes the model predict the rare class more often, raising its recall and costing accuracy
    predicted = [r["predicted_rare"] for r in runs]
    assert predicted == sorted(predicted) and predicted[-1] > predicted[0]
    assert runs[-1]["rare_recall"] > runs[0]["rare_recall"] + 0.2
    assert runs[-1]["accuracy"] < runs[0]["accuracy"]
    assert runs[-1]["common_recall"] < runs[0]["common_recall"]


def test_weighted_loss_verdict_refuted():
    experiment = lab.get("weighted-loss")
    base = {"weight": 1.0, "rare_recall": 0.50, "rare_precision": 0.8, "accuracy": 0.96, "predicted_rare": 20}
    results = {"runs": [base, dict(base, weight=19.0, rare_recall=0.52, rare_precision=0.7)]}
    supported, explanation = experiment.verdict(results)
    assert supported is False and "+0.020" in explanation
    results["runs"][1]["rare_recall"] = 0.8
    assert experiment.verdict(results)[0] is True


# ============================================================================ batch-size
@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    return _run("batch-size", tmp_path_factory)


def test_batch_size_quick(batch_run):
    summary, folder = batch_run
    results = _check_report("batch-size", summary, folder)
    batches, rates = results["batch_sizes"], results["learning_rates"]
    assert batches == [8, 32, 128]
    cells = {b: {c["learning_rate"]: c for c in results["cells"][str(b)]} for b in batches}
    # a big batch takes a sixteenth of the steps per epoch: much faster epochs
    assert results["seconds_per_epoch"]["8"] > 3 * results["seconds_per_epoch"]["128"]
    # the largest rate of the grid diverges with batch 8 but trains well with batch 128
    top = max(rates)
    assert cells[8][top]["val_accuracy"] < 0.3
    assert cells[128][top]["val_accuracy"] > 0.8
    # the best rate per batch size is the cell with the highest validation accuracy
    for b in batches:
        best = results["best_learning_rate"][str(b)]
        assert cells[b][best]["val_accuracy"] == max(c["val_accuracy"] for c in cells[b].values())
    assert results["best_learning_rate"]["128"] >= results["best_learning_rate"]["8"]


def test_batch_size_verdict_refuted():
    experiment = lab.get("batch-size")
    results = {"batch_sizes": [8, 32, 128], "best_learning_rate": {"8": 1.0, "32": 0.3, "128": 0.1}}
    supported, explanation = experiment.verdict(results)
    assert supported is False and "does not grow" in explanation
    results["best_learning_rate"] = {"8": 0.1, "32": 0.3, "128": 0.1}  # not monotone either
    assert experiment.verdict(results)[0] is False
    results["best_learning_rate"] = {"8": 0.1, "32": 0.3, "128": 1.0}
    assert experiment.verdict(results)[0] is True


# ============================================================================ tuning
@pytest.fixture(scope="module")
def tuning_run(tmp_path_factory):
    return _run("tuning", tmp_path_factory)


def test_tuning_quick(tuning_run):
    summary, folder = tuning_run
    results = _check_report("tuning", summary, folder)
    budget = results["budget"]
    assert budget == 3 * 2 * 2 * 1  # 3 learning rates × 2 optimizers × 2 widths × 1 batch size
    trials = results["trials_run"]
    assert trials["coarse grid"] == budget
    assert [trials[f"random #{k + 1}"] for k in range(len(results["random_best"]))] == [budget] * 3
    assert trials["fine grid"] == 3  # ×½, ×1, ×2 the best learning rate
    # the grid spends its budget on 3 learning rates; random search tries a new one every trial
    assert results["grid_distinct_learning_rates"] == 3
    assert results["random_distinct_learning_rates"] == budget
    assert results["random_minus_grid"] == pytest.approx([r - results["grid_best"] for r in results["random_best"]])
    # the same configuration retrained with other seeds does not score the same: the noise the verdict allows for
    assert results["seed_noise_std"] > 0
    assert len(set(results["seed_noise_runs"])) > 1
    assert 0.5 < results["test_accuracy_grid_winner"] <= 1.0


def test_tuning_verdict_refuted():
    experiment = lab.get("tuning")
    results = {"budget": 12, "grid_best": 0.97, "random_best": [0.90, 0.91, 0.95],
               "random_minus_grid": [-0.07, -0.06, -0.02], "seed_noise_std": 0.01,
               "grid_distinct_learning_rates": 3, "random_distinct_learning_rates": 12, "fine_best": 0.95,
               "test_accuracy_grid_winner": 0.96, "test_accuracy_final_winner": 0.94,
               "final_winner_from": "fine grid"}
    supported, explanation = experiment.verdict(results)
    assert supported is False and "worse by more than the noise" in explanation
    results.update(random_best=[0.965, 0.975, 0.97], random_minus_grid=[-0.005, 0.005, 0.0])
    assert experiment.verdict(results)[0] is True
