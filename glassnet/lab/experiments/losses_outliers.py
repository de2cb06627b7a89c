"""Regression with outliers under MSE, MAE, Huber and quantile losses (SPEC §3, exercise 17).

A 1-feature linear problem (make_regression) whose training targets are corrupted: a fraction of
them, chosen at random, get a large one-sided offset (``outlier_scale`` × the std of y). The same
linear model y = w·x + b trains from the same initial weights under each loss; we compare the fitted
w, b with the true line and the RMSE on a CLEAN test set. What each loss estimates (per residual e):

    MSE        e²                 → the conditional mean: pulled toward the outliers
    MAE        |e|                → the conditional median: ignores how far the outliers are
    Huber(δ)   e²/2 if |e| ≤ δ, else δ(|e| − δ/2)   → quadratic near 0, linear beyond δ
    quantile   max(q·e, (q − 1)·e), q = 0.5         → the median, like MAE (half of it)

Targets are centred by their median and scaled by 1.4826 × their median absolute deviation (≈ the
std on clean data; outliers hardly move either while they are fewer than half), so Huber's δ = 1 is in
units of the typical spread. Training is full-batch Adam, so each fit is the loss's minimiser (the MSE
fit is checked against the closed-form least-squares line).
"""

from __future__ import annotations

import numpy as np

from ... import datasets, layers, losses, optimizers, plot
from ...models import Sequential
from ..experiment import Experiment


def make_losses(delta: float):
    return {"MSE": losses.MeanSquaredError(), "MAE": losses.MeanAbsoluteError(),
            "Huber": losses.Huber(delta=delta), "quantile 0.5": losses.Quantile(quantile=0.5)}


def corrupt(y: np.ndarray, fraction: float, scale: float, rng) -> tuple:
    """A copy of ``y`` with ``round(fraction·N)`` random entries shifted by +scale·std(y); and their indices."""
    y = y.copy()
    count = round(fraction * len(y))
    index = rng.choice(len(y), size=count, replace=False) if count else np.zeros(0, dtype=int)
    y[index] += scale * np.std(y)
    return y, index


class LossesOutliersExperiment(Experiment):
    name = "losses-outliers"
    title = "Robust losses and outliers"
    claim = "MAE and Huber are robust to outliers; MSE is not."
    criterion = ("At the main outlier fraction (10% of the training targets shifted by 10 standard deviations), "
                 "supported when the MSE-trained line's RMSE on clean test data is at least twice the RMSE of both "
                 "the MAE- and the Huber-trained lines; refuted when it is less than twice either of them.")
    parameters = {"n_samples": 500, "noise": 10.0, "bias": 20.0, "outlier_fraction": 0.10, "outlier_scale": 10.0,
                  "fractions": [0.0, 0.05, 0.10, 0.20, 0.30], "huber_delta": 1.0, "epochs": 500,
                  "batch_size": None, "learning_rate": 0.05}
    quick_parameters = {"fractions": [0.0, 0.10], "epochs": 300}

    def run(self, lab):
        p = lab.params
        X, y, coef = datasets.make_regression(n_samples=p["n_samples"], n_features=1, n_informative=1,
                                              noise=p["noise"], bias=p["bias"], coef=True, random_state=lab.seed)
        true_slope, true_intercept = float(np.ravel(coef)[0]), float(p["bias"])
        x_train, x_test, y_train, y_test = datasets.train_test_split(X, y, test_size=0.3, seed=lab.seed)
        lab.progress(f"y = {true_slope:.2f}·x + {true_intercept:.2f} + noise (σ {p['noise']}); "
                     f"{len(x_train)} training, {len(x_test)} clean test samples")
        lab.reseed(1)
        model = Sequential([layers.Input(shape=(1,)), layers.Dense(1)])
        weights = model.get_weights()
        fractions = sorted({float(f) for f in p["fractions"]} | {float(p["outlier_fraction"])})

        def fit(loss, y_corrupt):
            center = float(np.median(y_corrupt))
            scale = 1.4826 * float(np.median(np.abs(y_corrupt - center))) or 1.0  # MAD: ≈ std for clean data
            net = Sequential([layers.Input(shape=(1,)), layers.Dense(1)])
            net.set_weights(weights)
            net.compile(optimizers.Adam(p["learning_rate"]), loss)
            lab.reseed(2)
            history = net.fit(x_train, (y_corrupt - center) / scale, epochs=p["epochs"],
                              batch_size=p["batch_size"] or len(x_train), verbose=0)
            kernel, bias = net.get_weights()
            slope = float(kernel.ravel()[0]) * scale
            intercept = float(bias.ravel()[0]) * scale + center
            prediction = slope * x_test[:, 0] + intercept
            return {"slope": slope, "intercept": intercept,
                    "test_rmse": float(np.sqrt(np.mean((prediction - y_test) ** 2))),
                    "test_mae": float(np.mean(np.abs(prediction - y_test))),
                    "final_training_loss": float(history.history["loss"][-1])}

        results = {"true_slope": true_slope, "true_intercept": true_intercept, "noise": p["noise"],
                   "outlier_fraction": float(p["outlier_fraction"]), "by_fraction": {}}
        main = None
        for fraction in fractions:
            y_corrupt, index = corrupt(y_train, fraction, p["outlier_scale"], np.random.default_rng(lab.seed + 7))
            fits = {name: fit(loss, y_corrupt) for name, loss in make_losses(p["huber_delta"]).items()}
            results["by_fraction"][repr(fraction)] = fits
            lab.progress(f"{fraction:.0%} outliers: clean-test RMSE " + ", ".join(
                f"{name} {r['test_rmse']:.2f}" for name, r in fits.items()))
            if fraction == float(p["outlier_fraction"]):
                main, main_y, main_index = fits, y_corrupt, index
        results["main"] = main
        # the closed-form least-squares line on the same corrupted data: where MSE training should end up
        ols_slope, ols_intercept = np.polyfit(x_train[:, 0].astype(np.float64), main_y.astype(np.float64), 1)
        results["least_squares"] = {"slope": float(ols_slope), "intercept": float(ols_intercept)}

        # figures: the data with the fitted lines; clean-test RMSE against the outlier fraction
        figure = plot._figure()
        axis = figure.add_subplot()
        clean = np.setdiff1d(np.arange(len(x_train)), main_index)
        axis.scatter(x_train[clean, 0], main_y[clean], s=8, color="0.6", label="training data")
        axis.scatter(x_train[main_index, 0], main_y[main_index], s=14, color="C4", marker="x", label="outliers")
        grid = np.linspace(x_train.min(), x_train.max(), 2)
        axis.plot(grid, true_slope * grid + true_intercept, "k--", linewidth=1.5, label="true line")
        for name, r in main.items():
            axis.plot(grid, r["slope"] * grid + r["intercept"], linewidth=1.5, label=f"{name}")
        axis.set_xlabel("x")
        axis.set_ylabel("y")
        axis.set_title(f"Fitted lines with {float(p['outlier_fraction']):.0%} outliers")
        axis.legend(fontsize=8)
        lab.figure("fits", figure, "Training data (outliers marked) and the line each loss fitted")
        if len(fractions) > 1:
            figure = plot._figure()
            axis = figure.add_subplot()
            for name in main:
                axis.plot([100 * f for f in fractions], [results["by_fraction"][repr(f)][name]["test_rmse"]
                                                         for f in fractions], marker="o", label=name)
            axis.axhline(p["noise"], color="0.5", linestyle=":", label="noise σ (best possible)")
            axis.set_xlabel("outliers in the training targets (%)")
            axis.set_ylabel("RMSE on clean test data")
            axis.set_title("How far each loss is pulled by outliers")
            axis.grid(alpha=0.3)
            axis.legend()
            lab.figure("rmse_vs_fraction", figure, "Clean-test RMSE against the fraction of corrupted targets")

        lab.table(f"Fits with {float(p['outlier_fraction']):.0%} outliers",
                  ["loss", "slope", "intercept", "clean-test RMSE", "clean-test MAE"],
                  [["true line", true_slope, true_intercept, p["noise"], "—"],
                   ["least squares (closed form)", float(ols_slope), float(ols_intercept), "—", "—"]]
                  + [[name, r["slope"], r["intercept"], r["test_rmse"], r["test_mae"]] for name, r in main.items()])
        lab.table("Clean-test RMSE by outlier fraction", ["outlier fraction"] + list(main),
                  [[f"{f:.0%}"] + [results["by_fraction"][repr(f)][n]["test_rmse"] for n in main]
                   for f in fractions])
        return results

    def verdict(self, results):
        main = results["main"]
        mse = float(main["MSE"]["test_rmse"])
        robust = max(float(main["MAE"]["test_rmse"]), float(main["Huber"]["test_rmse"]))
        supported = mse >= 2.0 * robust
        explanation = (f"With {float(results['outlier_fraction']):.0%} outliers, clean-test RMSE: MSE {mse:.2f}, "
                       f"MAE {float(main['MAE']['test_rmse']):.2f}, Huber {float(main['Huber']['test_rmse']):.2f}, "
                       f"quantile 0.5 {float(main['quantile 0.5']['test_rmse']):.2f} (noise σ "
                       f"{float(results['noise']):g}); MSE is {mse / robust:.1f}× the worse robust loss. "
                       f"Fitted intercepts: MSE {float(main['MSE']['intercept']):.1f}, MAE "
                       f"{float(main['MAE']['intercept']):.1f}, Huber {float(main['Huber']['intercept']):.1f} "
                       f"(true {float(results['true_intercept']):.1f}).")
        return supported, explanation


EXPERIMENT = LossesOutliersExperiment()
