"""Activation functions in a deep MLP (SPEC §2, exercise 4): convergence speed, final accuracy and
per-layer gradient norms of the same network with eight activations, from the same initial weights.

Why it matters: backpropagation multiplies, layer after layer, by f'(Z) (and by the weights). For the
sigmoid f' = σ(1−σ) ≤ 0.25, so through k layers the gradient shrinks roughly like 0.25^k; the ReLU
family has f' = 1 for positive inputs and does not saturate there.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ... import diagnostics, layers, optimizers, plot
from ...models import Sequential
from ..experiment import Experiment

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish")
RELU_FAMILY = ("relu", "leaky_relu", "elu", "selu", "gelu", "swish")


def epochs_to_reach(values, target: float):
    """First epoch (1-based) at which ``values`` ≥ ``target``, or None if never."""
    hits = np.flatnonzero(np.asarray(values, dtype=np.float64) >= target)
    return int(hits[0]) + 1 if hits.size else None


def _epochs_key(epochs):
    return math.inf if epochs is None else epochs


def build_mlp(activation: str, depth: int, width: int, n_features: int, n_classes: int):
    """``depth`` hidden Dense(width, activation) layers (Glorot-uniform, the Keras default) and a softmax."""
    return Sequential([layers.Input(shape=(n_features,))]
                      + [layers.Dense(width, activation=activation, name=f"hidden_{i + 1}") for i in range(depth)]
                      + [layers.Dense(n_classes, activation="softmax", name="output")])


class ActivationsExperiment(Experiment):
    name = "activations"
    title = "Activation functions in a deep network"
    claim = ("ReLU-family activations train deep networks faster than sigmoid (and, courses add, tanh) because "
             "they do not saturate: their derivative is 1 for positive inputs, while σ' ≤ 0.25 shrinks the "
             "gradient at every layer.")
    criterion = ("The same deep MLP (digits, Adam, identical initial weights) is trained with each activation. "
                 "Supported when EVERY ReLU-family arm (relu, leaky_relu, elu, selu, gelu, swish) reaches the target "
                 "validation accuracy in fewer epochs than the sigmoid arm (never reaching counts as infinitely "
                 "slow), ends with a higher validation accuracy than sigmoid, and has a larger first-layer / "
                 "output-layer gradient-norm ratio at the first step than sigmoid. Any ReLU-family arm failing one "
                 "of these refutes it. tanh is measured and reported but not part of the verdict.")
    parameters = {"activations": ACTIVATIONS, "depth": 8, "width": 64, "train_samples": None, "epochs": 30,
                  "batch_size": 32, "learning_rate": 1e-3, "target_accuracy": 0.8}
    quick_parameters = {"depth": 6, "width": 32, "train_samples": 400, "epochs": 8, "learning_rate": 3e-3,
                        "target_accuracy": 0.7}
    one_blas_thread = True

    def run(self, lab):
        p = lab.params
        (X_train, y_train), (X_val, y_val) = lab.digits(p["train_samples"])
        steps_per_epoch = math.ceil(len(X_train) / p["batch_size"])
        lab.progress(f"digits: {len(X_train)} training / {len(X_val)} validation samples; MLP with {p['depth']} "
                     f"hidden layers of {p['width']} units")

        lab.reseed(0)
        initial = build_mlp("linear", p["depth"], p["width"], X_train.shape[1], 10).get_weights()
        results = {"arms": {}, "target_accuracy": p["target_accuracy"], "depth": p["depth"]}
        histories, first_step_norms = {}, {}
        for activation in p["activations"]:
            lab.reseed(1)  # same shuffling for every arm
            model = build_mlp(activation, p["depth"], p["width"], X_train.shape[1], 10)
            model.set_weights(initial)
            model.compile(optimizers.Adam(p["learning_rate"]), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            # every = steps per epoch: one record at the first batch of each epoch (step 0 = initial weights)
            monitor = diagnostics.GradientMonitor(every=steps_per_epoch, warn=False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                history = model.fit(X_train, y_train, epochs=p["epochs"], batch_size=p["batch_size"], verbose=0,
                                    validation_data=(X_val, y_val), callbacks=[monitor])
            flow = monitor.history
            weighted = [name for name in flow.layer_names if flow.layers[name]["has_weights"]]
            norms = np.array([flow.series(name, "grad_norm")[0] for name in weighted])
            hidden = [name for name in weighted if name.startswith("hidden_")]
            saturated = [flow.series(name, "saturated_fraction")[0] for name in hidden]
            dead = [flow.series(name, "dead_fraction")[0] for name in hidden]
            val_acc = history.history["val_accuracy"]
            arm = {
                "epochs_to_target": epochs_to_reach(val_acc, p["target_accuracy"]),
                "final_val_accuracy": float(val_acc[-1]),
                "best_val_accuracy": float(np.max(val_acc)),
                "final_train_loss": float(history.history["loss"][-1]),
                "first_step_grad_norms": norms,
                "first_to_last_grad_ratio": float(norms[0] / norms[-1]) if norms[-1] > 0 else math.nan,
                "mean_saturated_fraction": float(np.nanmean(saturated)) if np.any(np.isfinite(saturated)) else None,
                "mean_dead_fraction": float(np.nanmean(dead)) if np.any(np.isfinite(dead)) else None,
                "vanishing_warnings": sum(1 for d in monitor.diagnostics if d["problem"] == "vanishing"),
            }
            results["arms"][activation] = arm
            histories[activation] = history
            first_step_norms[activation] = norms
            lab.progress(f"{activation:10s}: target {p['target_accuracy']:.2f} reached at epoch "
                         f"{arm['epochs_to_target'] or 'never'}, final val accuracy {arm['final_val_accuracy']:.3f}, "
                         f"first/last-layer gradient ratio {arm['first_to_last_grad_ratio']:.2e}")

        lab.table("Activations compared (same network, data, initial weights and optimizer)",
                  ["activation", f"epochs to val acc ≥ {p['target_accuracy']}", "final val accuracy",
                   "best val accuracy", "final train loss", "‖∇W first layer‖ / ‖∇W output‖ (step 0)",
                   "saturated fraction (step 0)", "dead ReLU fraction (step 0)"],
                  [[a, r["epochs_to_target"] or "never", r["final_val_accuracy"], r["best_val_accuracy"],
                    r["final_train_loss"], r["first_to_last_grad_ratio"],
                    "—" if r["mean_saturated_fraction"] is None else r["mean_saturated_fraction"],
                    "—" if r["mean_dead_fraction"] is None else r["mean_dead_fraction"]]
                   for a, r in results["arms"].items()],
                  f"{p['depth']} hidden layers × {p['width']} units, Adam({p['learning_rate']:g}), batch "
                  f"{p['batch_size']}, {p['epochs']} epochs. Saturated: |tanh| > 0.99 or σ outside [0.01, 0.99]; "
                  "dead: ReLU units that are 0 for the whole batch (GradientMonitor).")

        lab.figure("activation_functions", plot.plot_activations(list(p["activations"]), x_range=(-4.0, 4.0),
                                                                  title="f(x) and f'(x) (autodiff)"),
                   "The activations and their derivatives: σ' never exceeds 0.25; the ReLU family has slope 1 "
                   "for x > 0")
        lab.figure("training_curves", plot.plot_comparison(histories, metric=["loss", "val_accuracy"],
                                                           title="training loss and validation accuracy"),
                   "Training curves of every activation from the same initial weights")
        figure = plot._figure(figsize=(7.0, 4.2))
        axis = figure.add_subplot()
        for activation, norms in first_step_norms.items():
            axis.plot(np.arange(1, len(norms) + 1), norms, marker="o", markersize=3, label=activation)
        axis.set_yscale("log")
        axis.set_xticks(np.arange(1, p["depth"] + 2))
        axis.set_xlabel("layer (1 = first hidden, last = output)")
        axis.set_ylabel("‖∂L/∂W‖ at the first step")
        axis.set_title("gradient norm per layer before training")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, ncol=2)
        lab.figure("gradient_norms", figure, "Per-layer gradient norms at step 0: the sigmoid network's "
                                             "gradient shrinks towards the input")
        return results

    def verdict(self, results):
        arms = results["arms"]
        sigmoid = arms["sigmoid"]
        family = [a for a in RELU_FAMILY if a in arms]
        sigmoid_epochs = _epochs_key(sigmoid["epochs_to_target"])
        faster = [a for a in family if _epochs_key(arms[a]["epochs_to_target"]) < sigmoid_epochs]
        better = [a for a in family if arms[a]["final_val_accuracy"] > sigmoid["final_val_accuracy"]]
        flows = [a for a in family if arms[a]["first_to_last_grad_ratio"] > sigmoid["first_to_last_grad_ratio"]]
        supported = bool(family) and len(faster) == len(better) == len(flows) == len(family)
        epochs = {a: arms[a]["epochs_to_target"] for a in family}
        text = (f"sigmoid reached {results['target_accuracy']:.2f} validation accuracy "
                f"{'never' if sigmoid['epochs_to_target'] is None else 'at epoch ' + str(sigmoid['epochs_to_target'])}"
                f" (final {sigmoid['final_val_accuracy']:.3f}, first/output gradient ratio "
                f"{sigmoid['first_to_last_grad_ratio']:.1e}); ReLU family epochs to target {epochs}, final accuracy "
                f"{min(arms[a]['final_val_accuracy'] for a in family):.3f}–"
                f"{max(arms[a]['final_val_accuracy'] for a in family):.3f}, gradient ratios "
                f"{min(arms[a]['first_to_last_grad_ratio'] for a in family):.1e}–"
                f"{max(arms[a]['first_to_last_grad_ratio'] for a in family):.1e}. "
                f"Faster than sigmoid: {len(faster)}/{len(family)}; more accurate: {len(better)}/{len(family)}; "
                f"better gradient flow: {len(flows)}/{len(family)}.")
        saturated = sigmoid.get("mean_saturated_fraction")
        if saturated is not None:
            text += (f" Sigmoid units saturated at the first step: {saturated:.1%}"
                     + (" — so the shrinking gradient comes from σ' ≤ 0.25 at every layer rather than from "
                        "saturated units." if saturated < 0.05 else "."))
        if "tanh" in arms:
            tanh = arms["tanh"]
            family_best = min(_epochs_key(arms[a]["epochs_to_target"]) for a in family)
            tanh_epochs = _epochs_key(tanh["epochs_to_target"])
            text += (f" tanh (not in the verdict): target at epoch {tanh['epochs_to_target'] or 'never'}, final "
                     f"{tanh['final_val_accuracy']:.3f} — "
                     + ("as fast as the fastest ReLU-family arm or faster, so the 'tanh' half of the course "
                        "statement is not borne out here (zero-centred, f'(0) = 1)." if tanh_epochs <= family_best
                        else "slower than the fastest ReLU-family arm."))
        return supported, text


EXPERIMENT = ActivationsExperiment()
