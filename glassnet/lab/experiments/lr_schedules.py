"""Learning-rate schedules and the LR range test (SPEC §5, exercise 14).

One MLP on the digits trains from the same initial weights and the same mini-batch order under SGD
(momentum 0.9) with each schedule, all peaking at the same rate lr0 and evaluated per step over the
whole run of T = epochs × steps-per-epoch steps::

    constant        lr0
    step decay      lr0 · 0.5^⌊t / (T/4)⌋
    exponential     lr0 · 0.01^(t/T)
    cosine          lr0 · (1 + cos(π t/T)) / 2
    warm restarts   SGDR, periods T/7, 2T/7, 4T/7
    one-cycle       lr0/25 → lr0 (first 30%) → lr0/25e4, momentum cycled 0.95 → 0.85 → 0.95
    cyclical        triangular2 between lr0/10 and lr0, 4 cycles
    plateau         lr0, halved by ReduceLROnPlateau after 2 epochs without a lower val_loss

A schedule that peaks at a rate far too small or far too large for constant training is easy to
beat, so the verdict compares each of constant / cosine / one-cycle at its BEST peak rate from a grid
(the constant rate also at the LR finder's suggestion), after a fixed budget of epochs. The LR finder
(glassnet.lr_finder) sweeps the rate exponentially on the same initial model.
"""

from __future__ import annotations

import math

import numpy as np

from ... import callbacks, layers, optimizers, plot, schedules
from ...lr_finder import lr_finder
from ...models import Sequential
from ..experiment import Experiment

ARMS = ("constant", "step decay", "exponential", "cosine", "warm restarts", "one-cycle", "cyclical", "plateau")
GRID_ARMS = ("constant", "cosine", "one-cycle")


def make_schedule(arm: str, lr0: float, total_steps: int):
    """The learning rate (a float or a glassnet.schedules object) of ``arm`` peaking at ``lr0``."""
    if arm in ("constant", "plateau"):
        return lr0
    if arm == "step decay":
        return schedules.StepDecay(lr0, 0.5, max(1, total_steps // 4))
    if arm == "exponential":
        return schedules.ExponentialDecay(lr0, total_steps, 0.01)
    if arm == "cosine":
        return schedules.CosineDecay(lr0, total_steps)
    if arm == "warm restarts":
        return schedules.CosineDecayRestarts(lr0, total_steps / 7.0, t_mul=2.0)
    if arm == "one-cycle":
        return schedules.OneCycle(lr0, total_steps)
    if arm == "cyclical":
        return schedules.CyclicalLearningRate(lr0 / 10.0, lr0, step_size=total_steps / 8.0, mode="triangular2")
    raise ValueError(f"unknown arm {arm!r}")


def _finite(value) -> float:
    """A loss as a float, with NaN (diverged) as +inf so it loses every comparison."""
    value = float(value)
    return value if math.isfinite(value) else math.inf


def build_mlp(units: int) -> Sequential:
    return Sequential([layers.Input(shape=(64,)), layers.Dense(units, activation="relu"),
                       layers.Dense(10, activation="softmax")])


class LRSchedulesExperiment(Experiment):
    name = "lr-schedules"
    title = "Learning-rate schedules and the LR finder"
    claim = ("A well-chosen schedule (e.g. one-cycle or cosine) reaches a better final loss than a constant "
             "learning rate, and the LR finder's suggestion lies where the loss falls.")
    criterion = ("Final loss = training loss on the whole training set after a fixed budget of epochs (8; 5 in "
                 "quick mode). Constant, cosine and one-cycle are each run at every peak rate of a grid, and the "
                 "constant rate also at the LR finder's suggestion; supported when the better of cosine and "
                 "one-cycle, each at its best rate, ends at least 10% below the constant rate at ITS best rate, "
                 "AND the LR finder's suggestion lies on the falling part of its curve: the smoothed loss has a "
                 "negative slope there, the suggestion is below the rate of the minimum loss, and training at the "
                 "suggested constant rate brings the training loss below half its initial value. The full run "
                 "repeats the grid with a long budget (20 epochs), reported but not judged.")
    parameters = {"lr0": 0.3, "epochs": 8, "long_epochs": 20, "batch_size": 32, "units": 64, "max_train": None,
                  "grid": [0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.45, 0.7], "finder_steps": 100,
                  "finder_start_lr": 1e-4, "finder_end_lr": 10.0, "plateau_patience": 1, "plateau_factor": 0.5}
    quick_parameters = {"epochs": 5, "long_epochs": None, "max_train": 500, "grid": [0.1, 0.2, 0.3, 0.45, 0.7]}

    def run(self, lab):
        p = lab.params
        (x_train, y_train), (x_val, y_val) = lab.digits(p["max_train"], sample=True)
        steps_per_epoch = math.ceil(len(x_train) / p["batch_size"])
        total = steps_per_epoch * p["epochs"]
        lab.progress(f"digits MLP: {len(x_train)} training samples, {steps_per_epoch} steps per epoch, "
                     f"{total} steps in {p['epochs']} epochs")
        lab.reseed(1)
        weights = build_mlp(p["units"]).get_weights()

        def train(arm, lr0, epochs=p["epochs"]):
            steps = steps_per_epoch * epochs
            model = build_mlp(p["units"])
            model.set_weights(weights)
            model.compile(optimizers.SGD(make_schedule(arm, lr0, steps), momentum=0.9),
                          "sparse_categorical_crossentropy", metrics=["accuracy"])
            extra = [callbacks.ReduceLROnPlateau(monitor="val_loss", factor=p["plateau_factor"],
                                                 patience=p["plateau_patience"], min_lr=lr0 / 1000.0)] \
                if arm == "plateau" else []
            lab.reseed(2)  # the same mini-batch order for every arm
            history = model.fit(x_train, y_train, epochs=epochs, batch_size=p["batch_size"], verbose=0,
                                validation_data=(x_val, y_val), callbacks=extra)
            train_loss = model.evaluate(x_train, y_train, verbose=0, return_dict=True)["loss"]
            h = history.history
            return {"final_loss": _finite(train_loss), "final_val_loss": _finite(h["val_loss"][-1]),
                    "final_val_accuracy": float(h["val_accuracy"][-1]),
                    "epoch_learning_rates": [float(v) for v in h["learning_rate"]]}, history

        results = {"lr0": p["lr0"], "epochs": p["epochs"], "total_steps": total, "arms": {}}
        histories, curves = {}, {}
        for arm in ARMS:
            summary, history = train(arm, p["lr0"])
            results["arms"][arm] = summary
            histories[arm] = history
            lab.progress(f"{arm:13s} peak lr {p['lr0']:g}: final training loss {summary['final_loss']:.4g}, "
                         f"val accuracy {summary['final_val_accuracy']:.3f}")
        for arm in ARMS:
            if arm == "plateau":
                rates = results["arms"][arm]["epoch_learning_rates"]
                curves[arm] = lambda t, rates=rates: rates[min(int(t) // steps_per_epoch, len(rates) - 1)]
            else:
                curves[arm] = make_schedule(arm, p["lr0"], total)

        # the LR range test on the same initial model
        model = build_mlp(p["units"])
        model.set_weights(weights)
        model.compile(optimizers.SGD(p["lr0"], momentum=0.9), "sparse_categorical_crossentropy")
        initial_loss = _finite(model.evaluate(x_train, y_train, verbose=0, return_dict=True)["loss"])
        lab.reseed(4)
        finder = lr_finder(model, x_train, y_train, start_lr=p["finder_start_lr"], end_lr=p["finder_end_lr"],
                           steps=p["finder_steps"], batch_size=p["batch_size"])
        f = {"suggestion": finder.suggestion, "best_lr": finder.best_lr, "diverged": finder.diverged,
             "steps": len(finder.learning_rates), "initial_loss": initial_loss}
        if finder.suggestion is not None:
            i = finder.suggestion_index
            count = int(np.flatnonzero(np.isfinite(finder.smoothed_losses))[-1]) + 1
            slopes = np.gradient(finder.smoothed_losses[:count], np.log(finder.learning_rates[:count]))
            f.update(slope_at_suggestion=float(slopes[i]), smoothed_loss_at_start=float(finder.smoothed_losses[0]),
                     smoothed_loss_at_suggestion=float(finder.smoothed_losses[i]),
                     smoothed_loss_minimum=float(np.nanmin(finder.smoothed_losses[:count])),
                     final_loss_at_suggestion=train("constant", float(finder.suggestion))[0]["final_loss"])
            lab.progress(f"LR finder: suggestion {finder.suggestion:.3g} (minimum at {finder.best_lr:.3g}); "
                         f"a constant rate there ends at loss {f['final_loss_at_suggestion']:.4g} "
                         f"(initial {initial_loss:.4g})")
        results["finder"] = f

        def grid_search(epochs, reuse):
            """{arm: {rate: final loss}} for constant / cosine / one-cycle over the grid (+ the suggestion)."""
            grid = {}
            for arm in GRID_ARMS:
                grid[arm] = {}
                rates = [float(r) for r in p["grid"]]
                if arm == "constant" and f["suggestion"] is not None:
                    rates = sorted(set(rates) | {float(f["suggestion"])})
                for lr in rates:
                    if lr in reuse.get(arm, {}):
                        grid[arm][repr(lr)] = reuse[arm][lr]
                    else:
                        grid[arm][repr(lr)] = train(arm, lr, epochs)[0]["final_loss"]
            return grid

        def best_of(grid):
            return {arm: {"learning_rate": float(min(values, key=values.get)), "final_loss": min(values.values())}
                    for arm, values in grid.items()}

        reuse = {arm: {float(p["lr0"]): results["arms"][arm]["final_loss"]} for arm in GRID_ARMS}
        if f["suggestion"] is not None:
            reuse["constant"][float(f["suggestion"])] = f["final_loss_at_suggestion"]
        results["grid"] = grid_search(p["epochs"], reuse)
        results["best"] = best_of(results["grid"])
        lab.progress("best over the grid: " + ", ".join(
            f"{arm} {b['final_loss']:.4g} at {b['learning_rate']:.3g}" for arm, b in results["best"].items()))
        if p["long_epochs"]:
            results["long_epochs"] = p["long_epochs"]
            results["long_grid"] = grid_search(p["long_epochs"], {})
            results["long_best"] = best_of(results["long_grid"])
            lab.progress(f"best over the grid with {p['long_epochs']} epochs: " + ", ".join(
                f"{arm} {b['final_loss']:.4g} at {b['learning_rate']:.3g}" for arm, b in results["long_best"].items()))

        # figures and tables
        lab.figure("schedules", plot.plot_schedule(curves, steps=total, title=f"Learning rate per step "
                                                                              f"(peak {p['lr0']:g})"),
                   "Each schedule's learning rate at every optimizer step (plateau: as ReduceLROnPlateau set it)")
        lab.figure("loss_curves", plot.plot_comparison(histories, metric=["loss", "val_accuracy"],
                                                       title="SGD + momentum, same initial weights"),
                   "Training loss and validation accuracy per epoch")
        figure = plot._figure()
        axis = figure.add_subplot()
        budgets = [("grid", p["epochs"], "-")] + ([("long_grid", p["long_epochs"], ":")] if p["long_epochs"] else [])
        for key, epochs, style in budgets:
            for k, arm in enumerate(GRID_ARMS):
                lrs = [float(r) for r in results[key][arm]]
                axis.plot(lrs, [min(v, 1e3) for v in results[key][arm].values()], marker="o", linestyle=style,
                          color=f"C{k}", label=f"{arm}, {epochs} epochs")
        if f["suggestion"] is not None:
            axis.axvline(f["suggestion"], color="0.5", linestyle="--", linewidth=1, label="LR finder suggestion")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("peak learning rate")
        axis.set_ylabel("final training loss")
        axis.set_title("Final loss against the peak learning rate")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=8)
        lab.figure("grid", figure, "Each schedule at each peak rate: compare the lowest point of each curve")
        lab.figure("lr_finder", finder.plot(), "LR range test on the initial model (SGD, momentum 0.9)")
        lab.table("Schedules at the same peak rate", ["schedule", "final training loss", "final val loss",
                                                      "final val accuracy", "learning rate in the last epoch"],
                  [[arm, r["final_loss"], r["final_val_loss"], r["final_val_accuracy"], r["epoch_learning_rates"][-1]]
                   for arm, r in results["arms"].items()], f"Peak learning rate {p['lr0']:g}, {p['epochs']} epochs.")
        for key, epochs, _ in budgets:
            rates = sorted({float(r) for arm in GRID_ARMS for r in results[key][arm]})
            lab.table(f"Final training loss per peak rate ({epochs} epochs)",
                      ["schedule"] + [f"{r:.3g}" for r in rates],
                      [[arm] + [results[key][arm].get(repr(r), "—") for r in rates] for arm in GRID_ARMS])
        lab.table("LR finder", ["quantity", "value"], [[k, "None" if v is None else v] for k, v in f.items()])
        return results

    def verdict(self, results):
        best = results["best"]
        constant = float(best["constant"]["final_loss"])
        scheduled = {arm: float(best[arm]["final_loss"]) for arm in ("cosine", "one-cycle")}
        winner = min(scheduled, key=scheduled.get)
        schedule_wins = scheduled[winner] <= 0.9 * constant
        f = results["finder"]
        if f.get("suggestion") is None:
            finder_ok, finder_text = False, "the LR finder gave no suggestion"
        else:
            falling = float(f["slope_at_suggestion"]) < 0
            before_minimum = f["best_lr"] is not None and float(f["suggestion"]) < float(f["best_lr"])
            trains = float(f["final_loss_at_suggestion"]) < 0.5 * float(f["initial_loss"])
            finder_ok = falling and before_minimum and trains
            finder_text = (f"the LR finder suggested {float(f['suggestion']):.3g} (slope of the smoothed loss there "
                           f"{float(f['slope_at_suggestion']):.3g}; minimum loss at {float(f['best_lr']):.3g}); "
                           f"a constant rate there took the training loss from {float(f['initial_loss']):.3g} to "
                           f"{float(f['final_loss_at_suggestion']):.3g}")

        def describe(b):
            return ", ".join(f"{arm} {float(b[arm]['final_loss']):.3g} (at {float(b[arm]['learning_rate']):.3g})"
                             for arm in GRID_ARMS)

        explanation = (f"Best final training loss after {int(results['epochs'])} epochs: {describe(best)}; "
                       f"{winner} is {'at least 10% below' if schedule_wins else 'not 10% below'} the best constant "
                       f"rate. At the common peak {float(results['lr0']):g}: "
                       + ", ".join(f"{arm} {float(r['final_loss']):.3g}" for arm, r in results["arms"].items())
                       + f". Finally, {finder_text}.")
        if "long_best" in results:
            long_best = results["long_best"]
            long_winner = min(float(long_best[a]["final_loss"]) for a in ("cosine", "one-cycle"))
            still = long_winner <= 0.9 * float(long_best["constant"]["final_loss"])
            explanation += (f" With a long budget ({int(results['long_epochs'])} epochs): {describe(long_best)} — "
                            + ("the schedules still win." if still else
                               "the advantage is gone once the network can fit its training set."))
        return schedule_wins and finder_ok, explanation


EXPERIMENT = LRSchedulesExperiment()
