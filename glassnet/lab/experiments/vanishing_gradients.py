"""Vanishing gradients in deep networks (SPEC §11, exercise 19): per-layer gradient norms of a 20-layer
MLP with sigmoid, tanh, ReLU (He), ReLU + batch normalisation and residual (skip) connections.

Backpropagation through layer k multiplies the gradient by diag(f'(Z_k))·W_kᵀ. With the sigmoid,
f' ≤ 0.25, so after 20 layers the first layer's gradient is ~0.25^20 ≈ 1e-12 of the last one's.
Fixes: ReLU (f' = 1 where active) with He initialisation, batch normalisation (re-centres and re-scales
each layer's pre-activations), and residual connections h_{k+1} = h_k + F(h_k), whose Jacobian
I + ∂F/∂h gives the gradient an identity path to every layer.
"""

from __future__ import annotations

import warnings

import numpy as np

from ... import diagnostics, initializers, layers, optimizers, plot
from ...models import Model, Sequential
from ..experiment import Experiment

ARMS = ("sigmoid", "tanh", "relu_he", "relu_bn", "residual_relu", "residual_sigmoid")
FIXES = ("relu_he", "relu_bn", "residual_relu")
LABELS = {"sigmoid": "sigmoid (Glorot)", "tanh": "tanh (Glorot)", "relu_he": "ReLU (He)",
          "relu_bn": "ReLU + BatchNorm (He)", "residual_relu": "residual ReLU",
          "residual_sigmoid": "residual sigmoid"}


def build(arm: str, depth: int, width: int, n_features: int, n_classes: int):
    """The arm's network: ``depth`` hidden Dense layers named dense_1…dense_depth, then ``output``."""
    if arm in ("sigmoid", "tanh", "relu_he", "relu_bn"):
        activation = "relu" if arm.startswith("relu") else arm
        init = "he_normal" if arm.startswith("relu") else "glorot_uniform"
        stack = [layers.Input(shape=(n_features,))]
        for i in range(depth):
            if arm == "relu_bn":  # Dense → BatchNorm → ReLU (the bias is redundant before BN)
                stack += [layers.Dense(width, use_bias=False, kernel_initializer=init, name=f"dense_{i + 1}"),
                          layers.BatchNormalization(name=f"bn_{i + 1}"),
                          layers.Activation("relu", name=f"relu_{i + 1}")]
            else:
                stack.append(layers.Dense(width, activation=activation, kernel_initializer=init,
                                          name=f"dense_{i + 1}"))
        stack.append(layers.Dense(n_classes, activation="softmax", name="output"))
        return Sequential(stack, name=arm)
    # residual: a linear projection to `width`, then h ← h + f(W·h + b) for the other depth−1 layers
    activation = "relu" if arm == "residual_relu" else "sigmoid"
    # ReLU branches: He scaled by 1/depth (Fixup-style) so the sum of depth branches does not blow up the
    # forward signal; sigmoid branches: the Keras default.
    init = (initializers.VarianceScaling(scale=2.0 / depth, mode="fan_in", distribution="truncated_normal")
            if activation == "relu" else "glorot_uniform")
    inputs = layers.Input(shape=(n_features,))
    h = layers.Dense(width, name="dense_1")(inputs)
    for i in range(1, depth):
        h = layers.add([h, layers.Dense(width, activation=activation, kernel_initializer=init,
                                        name=f"dense_{i + 1}")(h)])
    outputs = layers.Dense(n_classes, activation="softmax", name="output")(h)
    return Model(inputs, outputs, name=arm)


class VanishingGradientsExperiment(Experiment):
    name = "vanishing-gradients"
    title = "Vanishing gradients in deep networks"
    claim = ("Deep sigmoid networks suffer from vanishing gradients — the layers near the input receive almost no "
             "gradient — and ReLU (with He initialisation), batch normalisation and residual connections fix it.")
    criterion = ("Twenty-layer MLPs (width 32) on digits, SGD with momentum. Supported when the first hidden layer's "
                 "gradient norm of the sigmoid net, averaged over the first steps, is below 1e-3 of the output "
                 "layer's, while for ReLU (He), ReLU + BatchNorm and the residual ReLU net that ratio is at least "
                 "1e-2, and each of those three ends training with a lower training loss than the sigmoid net. "
                 "tanh and a residual sigmoid net are measured and reported.")
    parameters = {"arms": ARMS, "depth": 20, "width": 32, "train_samples": None, "epochs": 10, "batch_size": 32,
                  "learning_rate": 0.01, "momentum": 0.9, "first_steps": 5}
    quick_parameters = {"train_samples": 480, "epochs": 4}
    one_blas_thread = True

    def run(self, lab):
        p = lab.params
        (X_train, y_train), (X_val, y_val) = lab.digits(p["train_samples"])
        lab.progress(f"digits: {len(X_train)} training samples; {p['depth']} hidden layers × {p['width']} units")
        dense_names = [f"dense_{i + 1}" for i in range(p["depth"])] + ["output"]
        results = {"arms": {}, "depth": p["depth"], "first_steps": p["first_steps"]}
        histories, monitors, first_norms = {}, {}, {}
        for k, arm in enumerate(p["arms"]):
            lab.reseed(100 + k)
            model = build(arm, p["depth"], p["width"], X_train.shape[1], 10)
            model.compile(optimizers.SGD(p["learning_rate"], momentum=p["momentum"]),
                          "sparse_categorical_crossentropy", metrics=["accuracy"])
            monitor = diagnostics.GradientMonitor(every=1, warn=False)
            lab.reseed(1)  # the same batches for every arm
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                history = model.fit(X_train, y_train, epochs=p["epochs"], batch_size=p["batch_size"], verbose=0,
                                    validation_data=(X_val, y_val), callbacks=[monitor])
            flow = monitor.history
            first = slice(0, p["first_steps"])
            norms = np.array([np.nanmean(flow.series(name, "grad_norm")[first]) for name in dense_names])
            ratio = float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan")
            last_record = np.array([flow.series(name, "grad_norm")[-1] for name in dense_names])
            arm_result = {
                "first_layer_grad_norm": float(norms[0]), "output_grad_norm": float(norms[-1]),
                "first_to_last_ratio": ratio, "grad_norms_first_steps": norms,
                "final_first_to_last_ratio": float(last_record[0] / last_record[-1]) if last_record[-1] > 0
                else float("nan"),
                "initial_loss": float(history.history["loss"][0]), "final_loss": float(history.history["loss"][-1]),
                "final_val_accuracy": float(history.history["val_accuracy"][-1]),
                "vanishing_warnings": sorted({d["layer"] for d in monitor.diagnostics if d["problem"] == "vanishing"}),
                "non_finite": bool(monitor.guard is not None and monitor.guard.report is not None),
            }
            results["arms"][arm] = arm_result
            histories[LABELS[arm]] = history
            monitors[arm] = monitor
            first_norms[arm] = norms
            lab.progress(f"{LABELS[arm]:22s}: ‖∇W1‖/‖∇W_out‖ = {ratio:.2e} over the first {p['first_steps']} steps; "
                         f"final loss {arm_result['final_loss']:.3f}, val accuracy "
                         f"{arm_result['final_val_accuracy']:.3f}")

        lab.table("Gradient flow and training per architecture",
                  ["network", "‖∇W‖ first hidden layer", "‖∇W‖ output layer", "ratio (first steps)",
                   "ratio (last step)", "final train loss", "final val accuracy", "layers flagged 'vanishing'"],
                  [[LABELS[a], r["first_layer_grad_norm"], r["output_grad_norm"], r["first_to_last_ratio"],
                    r["final_first_to_last_ratio"], r["final_loss"], r["final_val_accuracy"],
                    len(r["vanishing_warnings"])] for a, r in results["arms"].items()],
                  f"Gradient norms averaged over the first {p['first_steps']} training steps (GradientMonitor). "
                  f"SGD({p['learning_rate']:g}, momentum {p['momentum']:g}), {p['epochs']} epochs. The last column "
                  "counts the layers GradientMonitor's vanishing-gradient detector named.")

        figure = plot._figure(figsize=(7.5, 4.4))
        axis = figure.add_subplot()
        for arm, norms in first_norms.items():
            axis.plot(np.arange(1, len(norms) + 1), norms, marker="o", markersize=3, label=LABELS[arm])
        axis.set_yscale("log")
        axis.set_xticks(np.arange(1, len(dense_names) + 1, 2))
        axis.set_xlabel(f"layer (1 = first hidden, {len(dense_names)} = output)")
        axis.set_ylabel(f"‖∂L/∂W‖, mean of the first {p['first_steps']} steps")
        axis.set_title("gradient norm per layer")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        lab.figure("gradient_norms_per_layer", figure, "Per-layer gradient norms at the start of training: the "
                                                       "sigmoid net's gradient dies out towards the input")
        if "sigmoid" in monitors:
            lab.figure("gradient_flow_sigmoid",
                       plot.plot_gradient_flow(monitors["sigmoid"], layers=["dense_1", f"dense_{p['depth'] // 2}",
                                                                            f"dense_{p['depth']}", "output"],
                                               title="deep sigmoid net: gradient norms over training"),
                       "plot_gradient_flow of the sigmoid net (selected layers)")
        lab.figure("training_curves", plot.plot_comparison(histories, metric=["loss", "val_accuracy"],
                                                           title="training curves"),
                   "Training loss and validation accuracy per architecture")
        return results

    def verdict(self, results):
        arms = results["arms"]
        sigmoid = arms["sigmoid"]
        fixes = [a for a in FIXES if a in arms]
        vanishes = sigmoid["first_to_last_ratio"] < 1e-3
        flow_ok = [a for a in fixes if arms[a]["first_to_last_ratio"] >= 1e-2]
        trains = [a for a in fixes if arms[a]["final_loss"] < sigmoid["final_loss"]]
        supported = bool(vanishes and fixes and len(flow_ok) == len(trains) == len(fixes))
        explanation = (f"First/output gradient-norm ratio: sigmoid {sigmoid['first_to_last_ratio']:.1e} "
                       f"({'below' if vanishes else 'NOT below'} 1e-3); "
                       + ", ".join(f"{LABELS[a]} {arms[a]['first_to_last_ratio']:.1e}" for a in fixes)
                       + f" ({len(flow_ok)}/{len(fixes)} ≥ 1e-2). Final training loss: sigmoid "
                       f"{sigmoid['final_loss']:.3f} vs " + ", ".join(f"{LABELS[a]} {arms[a]['final_loss']:.3f}"
                                                                     for a in fixes)
                       + f" ({len(trains)}/{len(fixes)} lower).")
        extra = [a for a in ("tanh", "residual_sigmoid") if a in arms]
        if extra:
            explanation += " Also measured: " + ", ".join(
                f"{LABELS[a]} ratio {arms[a]['first_to_last_ratio']:.1e}, loss {arms[a]['final_loss']:.3f}"
                for a in extra) + "."
        return supported, explanation


EXPERIMENT = VanishingGradientsExperiment()
