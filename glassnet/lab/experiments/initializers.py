"""Weight initialisation (SPEC §6, exercises 3 and 16): symmetry, activation scale through depth, and
convergence speed for zeros, small and large random, Glorot, He and LeCun initialisation.

(a) Symmetry: if every unit of a hidden layer starts with the same weights, every unit computes the same
    output and receives the same gradient, so they stay identical forever — the layer is one unit.
(b) Scale: with Var(W) = c / fan_in each layer multiplies the activation variance by about c·E[f'²]…:
    too small vanishes (σ → 0), too large explodes (ReLU) or saturates (tanh). Glorot (Var = 2/(fan_in +
    fan_out)) keeps tanh layers at a steady scale, He (Var = 2/fan_in) compensates ReLU halving the variance.
(c) Convergence: the same MLP trained from each scheme.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ... import datasets, initializers, layers, optimizers, plot
from ...models import Sequential
from ..experiment import Experiment

SCHEMES = ("zeros", "small", "large", "glorot", "he", "lecun")


def make_initializer(scheme: str, small_std: float, large_std: float, seed=None):
    """The Keras initializer of ``scheme`` (normal variants; Keras truncates them at 2σ and rescales)."""
    table = {
        "zeros": lambda: initializers.Zeros(),
        "constant": lambda: initializers.Constant(0.1),
        "small": lambda: initializers.RandomNormal(stddev=small_std, seed=seed),
        "large": lambda: initializers.RandomNormal(stddev=large_std, seed=seed),
        "glorot": lambda: initializers.GlorotNormal(seed=seed),
        "he": lambda: initializers.HeNormal(seed=seed),
        "lecun": lambda: initializers.LecunNormal(seed=seed),
    }
    return table[scheme]()


def describe(scheme: str, small_std: float, large_std: float) -> str:
    return {"zeros": "W = 0", "constant": "W = 0.1", "small": f"N(0, {small_std:g}²)",
            "large": f"N(0, {large_std:g}²)", "glorot": "Var = 2/(fan_in+fan_out)", "he": "Var = 2/fan_in",
            "lecun": "Var = 1/fan_in"}[scheme]


def unit_spread(kernel: np.ndarray, bias: np.ndarray) -> float:
    """max over units j of max |w_j − w_0| (the incoming weight vectors — kernel columns — and biases):
    0 exactly when all units of the layer are identical."""
    return float(max(np.max(np.abs(kernel - kernel[:, :1])), np.max(np.abs(bias - bias[0]))))


def epochs_to_reach(values, target: float):
    hits = np.flatnonzero(np.asarray(values, dtype=np.float64) >= target)
    return int(hits[0]) + 1 if hits.size else None


class InitializersExperiment(Experiment):
    name = "initializers"
    title = "Weight initialisation: symmetry, activation scale and convergence"
    claim = ("Initialising all weights of a layer to zero (or to any constant) never breaks the symmetry between its "
             "units; Glorot (for tanh) and He (for ReLU) initialisation keep activations well scaled through a deep "
             "network, where too-small weights make them vanish and too-large ones explode or saturate.")
    criterion = ("Supported when (a) after training, the hidden units of the zero- and constant-initialised networks "
                 "still have identical incoming weights (max difference between units exactly 0 in every hidden "
                 "layer) while every random scheme's units differ (> 1e-3); and (b) at initialisation of a 10-layer "
                 "network, Glorot with tanh and He with ReLU are 'well scaled' (last-layer activation std within a "
                 "factor 4 of the first layer's and < 10% saturated units), while small N(0, 0.01²) and large "
                 "N(0, 1²) weights are not well scaled with either activation. Convergence speed (c) is reported.")
    parameters = {
        "small_std": 0.01, "large_std": 1.0,
        # (a) symmetry: moons, 2 hidden tanh layers
        "sym_samples": 400, "sym_width": 16, "sym_epochs": 60, "sym_learning_rate": 0.01,
        # (b) scale: N(0, 1) inputs through `scale_depth` square layers
        "scale_depth": 10, "scale_width": 256, "scale_batch": 512,
        # (c) convergence: digits, relu MLP
        "conv_depth": 5, "conv_width": 64, "conv_samples": None, "conv_epochs": 20, "conv_learning_rate": 1e-3,
        "target_accuracy": 0.8,
    }
    quick_parameters = {"sym_samples": 200, "sym_epochs": 25, "scale_batch": 256, "conv_depth": 4,
                        "conv_samples": 600, "conv_epochs": 8, "target_accuracy": 0.7}
    one_blas_thread = True

    # ------------------------------------------------------------------ (a) symmetry
    def _symmetry(self, lab, results):
        p = lab.params
        X, y = datasets.make_moons(p["sym_samples"], noise=0.2, random_state=lab.seed)
        y = y.astype(np.float64)
        arms = ("zeros", "constant", "small", "glorot", "he")
        out = {}
        for scheme in arms:
            lab.reseed(10)  # the same draws for every random scheme (they differ only by the scale)
            inits = [make_initializer(scheme, p["small_std"], p["large_std"]) for _ in range(3)]
            model = Sequential([layers.Input(shape=(2,)),
                                layers.Dense(p["sym_width"], activation="tanh", kernel_initializer=inits[0], name="h1"),
                                layers.Dense(p["sym_width"], activation="tanh", kernel_initializer=inits[1], name="h2"),
                                layers.Dense(1, activation="sigmoid", kernel_initializer=inits[2], name="output")])
            model.compile(optimizers.Adam(p["sym_learning_rate"]), "binary_crossentropy", metrics=["accuracy"])
            before = model.get_weights()
            history = model.fit(X, y, epochs=p["sym_epochs"], batch_size=32, verbose=0)
            after = model.get_weights()
            spreads = [unit_spread(after[2 * k], after[2 * k + 1]) for k in range(2)]
            moved = [float(np.max(np.abs(after[2 * k] - before[2 * k]))) for k in range(2)]
            distinct = [len(np.unique(np.round(after[2 * k].T, 12), axis=0)) for k in range(2)]
            out[scheme] = {"unit_spread": spreads, "max_spread": max(spreads), "kernel_moved": moved,
                           "distinct_units": distinct, "accuracy": float(history.history["accuracy"][-1])}
            lab.progress(f"symmetry, {scheme:8s}: max difference between units {max(spreads):.3g}, "
                         f"hidden kernels moved by up to {max(moved):.3g}, distinct units {distinct}, "
                         f"train accuracy {out[scheme]['accuracy']:.3f}")
        results["symmetry"] = out
        lab.table("(a) Symmetry: hidden units after training (moons, 2 hidden tanh layers)",
                  ["init", "max |w_j − w_0| layer 1", "layer 2", "distinct units (l1, l2)",
                   "max change of hidden kernels", "train accuracy"],
                  [[s, r["unit_spread"][0], r["unit_spread"][1], f"{r['distinct_units'][0]}, {r['distinct_units'][1]}",
                    max(r["kernel_moved"]), r["accuracy"]] for s, r in out.items()],
                  f"{p['sym_width']} units per hidden layer, Adam({p['sym_learning_rate']:g}), {p['sym_epochs']} "
                  "epochs. Zero init with tanh: the hidden outputs are 0, so the hidden kernels get no gradient at "
                  "all; constant init: they learn, but every unit learns the same thing.")

    # ------------------------------------------------------------------ (b) activation scale at init
    def _scale(self, lab, results):
        p = lab.params
        width, depth = p["scale_width"], p["scale_depth"]
        x = lab.rng.standard_normal((p["scale_batch"], width))
        out, curves = {}, {}
        for activation in ("tanh", "relu"):
            out[activation] = {}
            for scheme in SCHEMES:
                lab.reseed(20)
                model = Sequential([layers.Input(shape=(width,))]
                                   + [layers.Dense(width, activation=activation,
                                                   kernel_initializer=make_initializer(scheme, p["small_std"],
                                                                                       p["large_std"]))
                                      for _ in range(depth)])
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    outputs = [a.astype(np.float64) for _, a in plot.layer_outputs(model, x)]
                stds = np.array([a.std() for a in outputs])
                if activation == "tanh":
                    saturated = [float(np.mean(np.abs(a) > 0.99)) for a in outputs]
                else:
                    saturated = [0.0] * len(outputs)
                ratio = float(stds[-1] / stds[0]) if stds[0] > 0 else math.nan
                well = bool(np.isfinite(ratio) and 0.25 <= ratio <= 4.0 and saturated[-1] < 0.1)
                out[activation][scheme] = {"std_per_layer": stds, "first_std": float(stds[0]),
                                           "last_std": float(stds[-1]), "last_to_first": ratio,
                                           "saturated_last": saturated[-1], "well_scaled": well}
                curves[(activation, scheme)] = stds
            lab.progress(f"scale, {activation}: last-layer std " + ", ".join(
                f"{s} {out[activation][s]['last_std']:.2g}" for s in SCHEMES))
        results["scale"] = out
        rows = []
        for activation in ("tanh", "relu"):
            for scheme in SCHEMES:
                r = out[activation][scheme]
                rows.append([activation, scheme, describe(scheme, p["small_std"], p["large_std"]), r["first_std"],
                             r["last_std"], r["last_to_first"], r["saturated_last"],
                             "yes" if r["well_scaled"] else "no"])
        lab.table(f"(b) Activation std through {depth} layers of {width} units at initialisation (inputs N(0, 1))",
                  ["activation", "init", "weights", "std layer 1", f"std layer {depth}", "ratio", "saturated (last)",
                   "well scaled"], rows,
                  "Well scaled: last/first std ratio in [0.25, 4] and < 10% of tanh units with |a| > 0.99. "
                  "Zeros: every activation is 0 (ratio undefined). With square layers fan_in = fan_out, so "
                  "Glorot and LeCun coincide.")
        figure = plot._figure(figsize=(10.0, 4.0))
        for k, activation in enumerate(("tanh", "relu")):
            axis = figure.add_subplot(1, 2, k + 1)
            for scheme in SCHEMES:
                stds = curves[(activation, scheme)]
                if np.all(stds > 0) and np.all(np.isfinite(stds)):
                    axis.plot(np.arange(1, depth + 1), stds, marker="o", markersize=3, label=scheme,
                              linestyle="--" if scheme == "lecun" else "-")  # LeCun = Glorot for square layers
            axis.set_yscale("log")
            axis.set_xlabel("layer")
            axis.set_ylabel("std of the activations")
            axis.set_title(f"{activation}, {depth} layers × {width}")
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
        lab.figure("activation_scale", figure, "Activation std per layer at initialisation: small weights vanish, "
                                               "large ones explode (ReLU) or saturate (tanh); Glorot/He stay steady")

    # ------------------------------------------------------------------ (c) convergence
    def _convergence(self, lab, results):
        p = lab.params
        (X_train, y_train), (X_val, y_val) = lab.digits(p["conv_samples"])
        out, histories = {}, {}
        for scheme in SCHEMES:
            lab.reseed(30)
            model = Sequential([layers.Input(shape=(64,))]
                               + [layers.Dense(p["conv_width"], activation="relu",
                                               kernel_initializer=make_initializer(scheme, p["small_std"],
                                                                                   p["large_std"]))
                                  for _ in range(p["conv_depth"])]
                               + [layers.Dense(10, activation="softmax",
                                               kernel_initializer=make_initializer(scheme, p["small_std"],
                                                                                   p["large_std"]))])
            model.compile(optimizers.Adam(p["conv_learning_rate"]), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            lab.reseed(31)
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                history = model.fit(X_train, y_train, epochs=p["conv_epochs"], batch_size=32, verbose=0,
                                    validation_data=(X_val, y_val))
            val = history.history["val_accuracy"]
            out[scheme] = {"epochs_to_target": epochs_to_reach(val, p["target_accuracy"]),
                           "final_val_accuracy": float(val[-1]), "final_loss": float(history.history["loss"][-1]),
                           "initial_loss": float(history.history["loss"][0])}
            histories[scheme] = history
            lab.progress(f"convergence, {scheme:6s}: val accuracy {p['target_accuracy']} at epoch "
                         f"{out[scheme]['epochs_to_target'] or 'never'}, final {out[scheme]['final_val_accuracy']:.3f}")
        results["convergence"] = out
        lab.table(f"(c) Convergence on digits ({p['conv_depth']} hidden ReLU layers × {p['conv_width']}, "
                  f"Adam({p['conv_learning_rate']:g}))",
                  ["init", f"epochs to val acc ≥ {p['target_accuracy']}", "final val accuracy", "first-epoch loss",
                   "final loss"],
                  [[s, r["epochs_to_target"] or "never", r["final_val_accuracy"], r["initial_loss"], r["final_loss"]]
                   for s, r in out.items()],
                  "Every layer (output included) uses the scheme; the same data order for all.")
        figure = plot.plot_comparison(histories, metric=["loss", "val_accuracy"],
                                      title="training from each initialisation")
        figure.axes[0].set_yscale("log")
        lab.figure("convergence", figure, "Training curves per initialisation scheme (loss on a log scale)")

    def run(self, lab):
        results = {}
        self._symmetry(lab, results)
        self._scale(lab, results)
        self._convergence(lab, results)
        return results

    def verdict(self, results):
        sym = results["symmetry"]
        constant_arms = [s for s in ("zeros", "constant") if s in sym]
        random_arms = [s for s in sym if s not in constant_arms]
        symmetric = all(sym[s]["max_spread"] == 0.0 for s in constant_arms) and bool(constant_arms)
        broken = all(min(sym[s]["unit_spread"]) > 1e-3 for s in random_arms) and bool(random_arms)
        scale = results["scale"]
        good = scale["tanh"]["glorot"]["well_scaled"] and scale["relu"]["he"]["well_scaled"]
        naive_bad = not any(scale[a][s]["well_scaled"] for a in ("tanh", "relu") for s in ("small", "large"))
        supported = bool(symmetric and broken and good and naive_bad)
        conv = results.get("convergence", {})
        conv_text = ""
        if conv:
            conv_text = " Epochs to the accuracy target: " + ", ".join(
                f"{s} {r['epochs_to_target'] or 'never'}" for s, r in conv.items()) + "."
        explanation = (
            "(a) max difference between hidden units after training: "
            + ", ".join(f"{s} {sym[s]['max_spread']:.3g}" for s in sym)
            + f" — constant inits {'stay' if symmetric else 'do NOT stay'} symmetric, random inits "
            f"{'all' if broken else 'do not all'} break symmetry. (b) last/first-layer activation std: tanh+Glorot "
            f"{scale['tanh']['glorot']['last_to_first']:.2f}, ReLU+He {scale['relu']['he']['last_to_first']:.2f} "
            f"({'both' if good else 'not both'} well scaled); small weights "
            f"{scale['tanh']['small']['last_to_first']:.1e} (tanh) / {scale['relu']['small']['last_to_first']:.1e} "
            f"(ReLU), large {scale['relu']['large']['last_to_first']:.1e} (ReLU) and "
            f"{scale['tanh']['large']['saturated_last']:.0%} saturated (tanh)"
            f"{'' if naive_bad else ' — but a naive scale came out well scaled'}.{conv_text}")
        return supported, explanation


EXPERIMENT = InitializersExperiment()
