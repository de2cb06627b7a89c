"""Exploding gradients and gradient clipping (SPEC §4, exercises 9 and 20): a regression MLP with large
initial weights and a large learning rate, trained without clipping and with ``clipvalue``, ``clipnorm``
and ``global_clipnorm``.

Clipping rewrites the gradient g before the update (SGD: w ← w − lr·g):

    clipvalue c         g_i ← min(max(g_i, −c), c)            element-wise
    clipnorm c          g_k ← g_k · min(1, c/‖g_k‖)             each weight tensor k separately
    global_clipnorm c   g_k ← g_k · min(1, c/‖g‖), ‖g‖² = Σ_k ‖g_k‖²   the whole model at once (direction kept)

so no step can be larger than lr·c per element / per tensor / in total, whatever the raw gradient.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ... import callbacks, datasets, diagnostics, initializers, layers, optimizers, plot
from ...models import Sequential
from ..experiment import Experiment

ARMS = ("none", "clipvalue", "clipnorm", "global_clipnorm")


class StepLoss(callbacks.Callback):
    """Each training step's own batch loss, recovered from fit's running mean (equal batch sizes):
    loss_k = k·mean_k − (k−1)·mean_(k−1)."""

    def on_train_begin(self, logs=None):
        self.losses = []

    def on_epoch_begin(self, epoch, logs=None):
        self._previous = 0.0

    def on_train_batch_end(self, batch, logs=None):
        mean = float((logs or {}).get("loss", math.nan))
        with np.errstate(all="ignore"):
            self.losses.append((batch + 1) * mean - batch * self._previous)
        self._previous = mean


def build(depth: int, width: int, n_features: int, std: float):
    init = initializers.RandomNormal(stddev=std)
    return Sequential([layers.Input(shape=(n_features,))]
                      + [layers.Dense(width, activation="relu", kernel_initializer=init, name=f"dense_{i + 1}")
                         for i in range(depth)]
                      + [layers.Dense(1, kernel_initializer=init, name="output")])


class ExplodingGradientsExperiment(Experiment):
    name = "exploding-gradients"
    title = "Exploding gradients and gradient clipping"
    claim = ("When gradients explode (large initial weights, a large learning rate), training diverges; gradient "
             "clipping (clipvalue, clipnorm, global_clipnorm) keeps it stable.")
    criterion = ("The same ReLU MLP (weights N(0, 1²)), data (unscaled regression targets) and SGD learning rate are "
                 "trained without clipping and with each clipping option (threshold 1). Supported when the unclipped "
                 "run diverges — the NaN guard stops it on a non-finite value, or its final loss exceeds its first "
                 "loss — while every clipped run stays finite to the end and ends with an epoch loss below half of "
                 "its first-step loss. A clipped run that diverges or fails to halve the loss refutes it; so does an "
                 "unclipped run that trains fine.")
    parameters = {"arms": ARMS, "samples": 1024, "features": 10, "noise": 10.0, "depth": 4, "width": 32,
                  "init_std": 1.0, "learning_rate": 0.01, "clip": 1.0, "epochs": 30, "batch_size": 32}
    quick_parameters = {"samples": 256, "epochs": 10}
    one_blas_thread = True

    def run(self, lab):
        p = lab.params
        X, y = datasets.make_regression(p["samples"], p["features"], noise=p["noise"], random_state=lab.seed)
        lab.progress(f"regression: {len(X)} samples, targets with std {y.std():.1f} (not rescaled); "
                     f"{p['depth']} ReLU layers, weights N(0, {p['init_std']:g}²), SGD lr {p['learning_rate']:g}")
        lab.reseed(0)
        initial = build(p["depth"], p["width"], X.shape[1], p["init_std"]).get_weights()
        results = {"arms": {}, "target_std": float(y.std())}
        step_losses, step_norms, histories = {}, {}, {}
        for arm in p["arms"]:
            options = {} if arm == "none" else {arm: p["clip"]}
            model = build(p["depth"], p["width"], X.shape[1], p["init_std"])
            model.set_weights(initial)
            model.compile(optimizers.SGD(p["learning_rate"], **options), "mse")
            guard = diagnostics.NaNGuard(warn=False)
            monitor = diagnostics.GradientMonitor(every=1, warn=False, detect=False, guard=guard)
            recorder = StepLoss()
            lab.reseed(1)  # the same batches for every arm
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                history = model.fit(X, y, epochs=p["epochs"], batch_size=p["batch_size"], verbose=0,
                                    callbacks=[monitor, recorder])
            flow = monitor.history
            norms = np.sqrt(np.sum([np.nan_to_num(flow.series(name, "grad_norm"), nan=0.0) ** 2
                                    for name in flow.layer_names if flow.layers[name]["has_weights"]], axis=0))
            losses = np.asarray(recorder.losses, dtype=np.float64)
            report = guard.report
            epoch_losses = np.asarray(history.history.get("loss", []), dtype=np.float64)
            finite = report is None and bool(np.all(np.isfinite(losses)))
            final = float(epoch_losses[-1]) if epoch_losses.size else math.nan
            arm_result = {
                "clip": None if arm == "none" else p["clip"],
                "non_finite": report is not None,
                "non_finite_step": None if report is None else int(report["step"]),
                "non_finite_layer": None if report is None else report["layer"],
                "non_finite_stage": None if report is None else report["values"]["stage"],
                "steps_run": len(losses),
                "first_loss": float(losses[0]),
                "final_epoch_loss": final if finite else None,
                "last_finite_loss": float(losses[np.isfinite(losses)][-1]) if np.any(np.isfinite(losses)) else None,
                "loss_ratio": (final / float(losses[0])) if finite else None,
                "max_grad_norm": float(np.nanmax(norms)) if norms.size else math.nan,
                "first_grad_norm": float(norms[0]) if norms.size else math.nan,
                "epoch_losses": epoch_losses,
            }
            results["arms"][arm] = arm_result
            step_losses[arm], step_norms[arm] = losses, norms
            histories[arm] = history
            if report is not None:
                lab.progress(f"{arm:15s}: NON-FINITE at step {report['step']} (layer {report['layer']}, "
                             f"{report['values']['stage']}); gradient norm reached {arm_result['max_grad_norm']:.3g}")
            else:
                lab.progress(f"{arm:15s}: finite; loss {arm_result['first_loss']:.4g} → {final:.4g} "
                             f"(×{arm_result['loss_ratio']:.3g}); largest raw gradient norm "
                             f"{arm_result['max_grad_norm']:.3g}")

        lab.table("Each arm (same initial weights, data and batches)",
                  ["clipping", "non-finite?", "at step", "where", "steps run", "first-step loss", "final epoch loss",
                   "final / first", "largest raw ‖g‖"],
                  [[a if a == "none" else f"{a}={p['clip']:g}", "yes" if r["non_finite"] else "no",
                    "—" if r["non_finite_step"] is None else r["non_finite_step"],
                    "—" if r["non_finite_layer"] is None else f"{r['non_finite_layer']} ({r['non_finite_stage']})",
                    r["steps_run"], r["first_loss"], "—" if r["final_epoch_loss"] is None else r["final_epoch_loss"],
                    "—" if r["loss_ratio"] is None else r["loss_ratio"], r["max_grad_norm"]]
                   for a, r in results["arms"].items()],
                  "Raw gradient norms are measured before clipping (GradientMonitor). A non-finite run is stopped by "
                  "NaNGuard, which restores the last finite weights.")

        figure = plot._figure(figsize=(10.0, 4.0))
        left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
        for arm, losses in step_losses.items():
            norms = step_norms[arm]
            ok = np.isfinite(losses) & (losses > 0)
            marker = "x" if results["arms"][arm]["non_finite"] else None
            left.plot(np.flatnonzero(ok), losses[ok], marker=marker, label=arm)
            ok = np.isfinite(norms) & (norms > 0)
            right.plot(np.flatnonzero(ok), norms[ok], marker=marker, label=arm)
        for axis, label in ((left, "batch loss (MSE)"), (right, "raw global gradient norm ‖g‖")):
            axis.set_yscale("log")
            axis.set_xscale("symlog", linthresh=10)  # the first steps, where the unclipped run blows up, stay visible
            axis.set_xlabel("training step (linear to 10, then log)")
            axis.set_ylabel(label)
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
        left.set_title("loss per step")
        right.set_title("gradient norm per step (before clipping)")
        lab.figure("loss_and_gradient_norms", figure, "Without clipping the gradient norm explodes and the run goes "
                                                      "non-finite within a few steps; clipped runs keep learning")
        return results

    def verdict(self, results):
        arms = results["arms"]
        none = arms["none"]
        diverged = none["non_finite"] or (none["loss_ratio"] is not None and none["loss_ratio"] > 1.0)
        clipped = [a for a in arms if a != "none"]
        stable = [a for a in clipped if not arms[a]["non_finite"] and arms[a]["loss_ratio"] is not None
                  and arms[a]["loss_ratio"] < 0.5]
        supported = bool(diverged and clipped and len(stable) == len(clipped))
        if none["non_finite"]:
            first = f"the unclipped run went non-finite at step {none['non_finite_step']} ({none['non_finite_layer']})"
        elif none["loss_ratio"] is not None:
            first = f"the unclipped run stayed finite, final/first loss {none['loss_ratio']:.3g}"
        else:
            first = "the unclipped run had no finite loss"
        parts = []
        for a in clipped:
            r = arms[a]
            if r["non_finite"]:
                parts.append(f"{a} non-finite at step {r['non_finite_step']}")
            else:
                parts.append(f"{a} final/first loss {r['loss_ratio']:.3g}")
        explanation = (f"{first}; clipped runs: " + ", ".join(parts)
                       + f" ({len(stable)}/{len(clipped)} finite with the loss at least halved).")
        return supported, explanation


EXPERIMENT = ExplodingGradientsExperiment()
