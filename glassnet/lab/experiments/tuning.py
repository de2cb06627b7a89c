"""Hyperparameter search: random vs grid, then a finer grid around the best (SPEC §12, exercise 15).

A digits MLP is tuned with ``glassnet.tune`` over the learning rate, the optimizer (Adam, or SGD with
momentum 0.9), the batch size and the hidden width.
A coarse grid and a random search get the same number of trials and the same ranges (the grid takes
the ends, and for the learning rate also the middle, of the random search's ranges). The argument for random search (Bergstra &
Bengio 2012): when few hyperparameters matter, a grid of k values per axis tries only k distinct
values of the one that matters, while n random trials try n distinct values of every axis.

The random search is repeated with several seeds (different draws); then a fine grid around the
random search's best (learning rate ×½, ×1, ×2 and neighbouring batch sizes) refines it, and the two
winners are retrained and scored on held-out TEST data that no search saw. With Optuna installed
(full run), its TPE search with the same budget is shown for comparison.
"""

from __future__ import annotations

import numpy as np

from ... import backend, datasets, layers, optimizers
from ...models import Sequential
from ..experiment import Experiment


def build_model(params: dict):
    """The trial model (top-level, so worker processes can unpickle it)."""
    model = Sequential([layers.Input(shape=(64,)), layers.Dense(int(params.get("units", 64)), activation="relu"),
                        layers.Dense(10, activation="softmax")])
    rate = params["learning_rate"]
    optimizer = optimizers.SGD(rate, momentum=0.9) if params.get("optimizer", "adam") == "sgd" else \
        optimizers.Adam(rate)
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _log_grid(low: float, high: float, count: int) -> list:
    return [float(v) for v in np.geomspace(low, high, count)]


class TuningExperiment(Experiment):
    name = "tuning"
    title = "Hyperparameter search: random vs grid"
    claim = "Random search finds a configuration at least as good as a coarse grid with the same budget."
    criterion = ("Objective: validation accuracy after the last epoch. The coarse grid takes 3 log-spaced learning "
                 "rates (the ends and middle of the range), both optimizers, and the two ends of the batch-size and "
                 "width ranges; random search draws the same number of trials from the same ranges (learning rate "
                 "log-uniform). The noise σ is the standard deviation of the grid winner's validation accuracy "
                 "when it is retrained with different seeds. Supported when the median, over the random-search "
                 "repetitions (different draws), of (best random − best grid) is ≥ −σ (at least as good within "
                 "the "
                 "noise); refuted when random search is worse by more than σ. The fine grid and the test accuracy "
                 "of both winners are reported, not judged.")
    parameters = {"lr_range": [1e-3, 1e-1], "lr_points": 3, "batch_sizes": [32, 64, 128], "grid_batch_sizes": [32, 128],
                  "units": [16, 32, 64], "grid_units": [16, 64], "optimizers": ["adam", "sgd"], "epochs": 10,
                  "repeats": 5, "noise_seeds": 5, "n_jobs": 1, "max_train": None, "optuna": True}
    quick_parameters = {"grid_batch_sizes": [32], "batch_sizes": [32], "epochs": 5, "repeats": 3, "max_train": 400,
                        "noise_seeds": 3,
                        "optuna": False}

    def run(self, lab):
        from ...tune import LogUniform, tune

        p = lab.params
        (x_rest, y_rest), (x_test, y_test) = datasets.load_digits(return_split=True, seed=lab.seed)
        x_train, x_val, y_train, y_val = datasets.train_test_split(x_rest / 16.0, y_rest, test_size=0.25,
                                                                   stratify=y_rest, seed=lab.seed + 1)
        x_test = x_test / 16.0
        x_train, y_train = lab.limit(x_train, y_train, p["max_train"], sample=True)
        data = (x_train, y_train, x_val, y_val)
        low, high = (float(v) for v in p["lr_range"])
        grid_space = {"learning_rate": _log_grid(low, high, p["lr_points"]), "batch_size": list(p["grid_batch_sizes"]),
                      "optimizer": list(p["optimizers"]), "units": list(p["grid_units"])}
        budget = int(np.prod([len(v) for v in grid_space.values()]))
        random_space = {"learning_rate": LogUniform(low, high), "batch_size": list(p["batch_sizes"]),
                        "optimizer": list(p["optimizers"]), "units": list(p["units"])}
        common = {"objective": "val_accuracy", "epochs": p["epochs"], "n_jobs": p["n_jobs"], "verbose": 0}
        lab.progress(f"digits MLP: {len(x_train)} training, {len(x_val)} validation, {len(x_test)} test samples; "
                     f"budget {budget} trials per search")

        grid = tune(build_model, grid_space, data, strategy="grid", seed=lab.seed, **common)
        lab.progress(f"coarse grid: best val accuracy {grid.best_value:.4f} with {grid.best_params}")
        randoms = []
        for r in range(int(p["repeats"])):
            result = tune(build_model, random_space, data, strategy="random", trials=budget,
                          seed=lab.seed + 1000 * (r + 1), **common)
            randoms.append(result)
            lab.progress(f"random search {r + 1}: best val accuracy {result.best_value:.4f} with "
                         f"learning_rate {result.best_params['learning_rate']:.3g}, "
                         f"batch {result.best_params['batch_size']}, {result.best_params['optimizer']}, "
                         f"{result.best_params['units']} units")
        first = randoms[0]
        best = first.best_params
        batches = sorted(int(b) for b in p["batch_sizes"])
        position = batches.index(int(best["batch_size"]))
        fine_space = {"learning_rate": [best["learning_rate"] * f for f in (0.5, 1.0, 2.0)],
                      "batch_size": batches[max(0, position - 1):position + 2], "optimizer": best["optimizer"],
                      "units": best["units"]}
        fine = tune(build_model, fine_space, data, strategy="grid", seed=lab.seed + 99, **common)
        lab.progress(f"fine grid around the random search's best: {len(fine.trials)} trials, best val accuracy "
                     f"{fine.best_value:.4f}")
        searches = {"coarse grid": grid, **{f"random #{r + 1}": res for r, res in enumerate(randoms)},
                    "fine grid": fine}
        if p["optuna"]:
            try:
                optuna_result = tune(build_model, random_space, data, strategy="optuna", trials=budget,
                                     seed=lab.seed, **common)
                searches["optuna (TPE)"] = optuna_result
                lab.progress(f"optuna: best val accuracy {optuna_result.best_value:.4f}")
            except ImportError:
                lab.note("Optuna is not installed: the Bayesian search was skipped (pip install 'glassnet[tune]').")

        def retrain(params, offset):
            """(validation accuracy, test accuracy) of ``params`` trained after set_seed(seed + offset)."""
            backend.set_seed(lab.seed + offset)
            model = build_model(params)
            model.fit(x_train, y_train, epochs=p["epochs"], batch_size=int(params["batch_size"]), verbose=0)
            return tuple(float(model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"])
                         for x, y in ((x_val, y_val), (x_test, y_test)))

        # how much the validation accuracy of ONE configuration moves with the seed alone
        repeats = [retrain(grid.best_params, 700 + k)[0] for k in range(int(p["noise_seeds"]))]
        noise = float(np.std(repeats, ddof=1))
        lab.progress(f"seed-to-seed spread of the grid winner's val accuracy: σ = {noise:.4f} "
                     f"({len(repeats)} seeds: {', '.join(f'{v:.4f}' for v in repeats)})")

        final = fine if fine.best_value >= first.best_value else first
        results = {
            "budget": budget, "epochs": p["epochs"],
            "grid_best": float(grid.best_value), "grid_best_params": grid.best_params,
            "random_best": [float(r.best_value) for r in randoms],
            "random_best_params": [r.best_params for r in randoms],
            "random_minus_grid": [float(r.best_value) - float(grid.best_value) for r in randoms],
            "grid_distinct_learning_rates": len({t["params"]["learning_rate"] for t in grid.trials}),
            "random_distinct_learning_rates": len({t["params"]["learning_rate"] for t in first.trials}),
            "fine_best": float(fine.best_value), "fine_best_params": fine.best_params,
            "seed_noise_std": noise, "seed_noise_runs": repeats,
            "test_accuracy_grid_winner": retrain(grid.best_params, 500)[1],
            "test_accuracy_final_winner": retrain(final.best_params, 500)[1],
            "final_winner_from": "fine grid" if final is fine else "random search",
            "trials_run": {label: len(result.trials) for label, result in searches.items()},
            "failed_trials": {label: len(result.failed) for label, result in searches.items()},
        }
        if "optuna (TPE)" in searches:
            results["optuna_best"] = float(searches["optuna (TPE)"].best_value)
        lab.progress(f"test accuracy: coarse-grid winner {results['test_accuracy_grid_winner']:.4f}, "
                     f"final winner ({results['final_winner_from']}) {results['test_accuracy_final_winner']:.4f}")

        lab.figure("random_search", first.plot(title="random search #1: validation accuracy"),
                   "Random search: each trial's validation accuracy, best so far, and accuracy by learning rate")
        from ... import plot

        figure = plot._figure()
        axis = figure.add_subplot()
        for k, (label, result) in enumerate(searches.items()):
            ok = [t for t in result.trials if t["status"] == "ok"]
            values = np.maximum.accumulate([t["objective"] for t in sorted(ok, key=lambda t: t["index"])])
            axis.step(np.arange(1, len(values) + 1), values, where="post", label=label,
                      linestyle="-" if "random" not in label else "--")
        axis.set_xlabel("trials used")
        axis.set_ylabel("best validation accuracy so far")
        axis.set_title("Best configuration found against the budget")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        lab.figure("best_so_far", figure, "Best validation accuracy found after each trial, per search")
        rows = []
        for label, result in searches.items():
            params = result.best_params or {}
            rows.append([label, len(result.trials), len(result.failed), result.best_value,
                         params.get("learning_rate"), params.get("batch_size"), params.get("optimizer"),
                         params.get("units")])
        lab.table("Searches", ["search", "trials", "failed", "best val accuracy", "learning rate", "batch size",
                               "optimizer", "units"], rows)
        columns = ["learning rate", "batch size", "optimizer", "units", "val accuracy"]
        for title, result in (("Coarse grid trials", grid), ("Random search #1 trials", first)):
            lab.table(title, columns, [[t["params"][k] for k in ("learning_rate", "batch_size", "optimizer", "units")]
                                       + [t["objective"]] for t in result.ranked()])
        lab.note("result.table() of random search #1:\n" + first.table())
        return results

    def verdict(self, results):
        differences = [float(d) for d in results["random_minus_grid"]]
        median = float(np.median(differences))
        noise = float(results["seed_noise_std"])
        supported = median >= -noise
        wins = sum(d >= -noise for d in differences)
        explanation = (f"Best validation accuracy with {int(results['budget'])} trials: coarse grid "
                       f"{float(results['grid_best']):.4f}; random search "
                       + ", ".join(f"{float(v):.4f}" for v in results["random_best"])
                       + f" — median difference {median:+.4f} against a seed-to-seed spread σ = {noise:.4f} of one "
                       f"configuration, so random search is "
                       + ("at least as good (within the noise)" if supported else "worse by more than the noise")
                       + f"; at least as good in {wins} of {len(differences)} repetitions. The grid tried "
                       f"{results['grid_distinct_learning_rates']} distinct learning rates, random search "
                       f"{results['random_distinct_learning_rates']}.")
        if results.get("seed_noise_runs"):
            explanation += (f" Retrained with other seeds, the grid winner averages "
                            f"{float(np.mean(results['seed_noise_runs'])):.4f} (a search's best score is the luckiest "
                            f"of its draws).")
        explanation += (f" The fine grid around the random search's best reached {float(results['fine_best']):.4f}"
                        + (f"; Optuna's TPE {float(results['optuna_best']):.4f}" if "optuna_best" in results else "")
                        + f". Test accuracy: coarse-grid winner {float(results['test_accuracy_grid_winner']):.4f}, "
                        f"final winner ({results['final_winner_from']}) "
                        f"{float(results['test_accuracy_final_winner']):.4f}.")
        return supported, explanation


EXPERIMENT = TuningExperiment()
