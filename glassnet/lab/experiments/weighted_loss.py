"""Class weights on imbalanced data (SPEC §3, exercise 18).

A binary task where the positive class is rare (make_classification with weights=[0.95, 0.05]). The
same MLP trains from the same initial weights and mini-batch order with ``class_weight={0: 1, 1: w}``
for several w; ``class_weight`` multiplies each sample's loss by its class's weight::

    L = Σ_i c[y_i]·ℓ(y_i, ŷ_i) / N

so w > 1 makes a missed positive cost w times a false alarm. w = N_negative / N_positive ("balanced")
gives both classes the same total weight. Predictions use the 0.5 threshold; precision and recall
per class come from glassnet.metrics.classification_report on a stratified test set.
"""

from __future__ import annotations

import numpy as np

from ... import datasets, layers, metrics, optimizers, plot
from ...models import Sequential
from ..experiment import Experiment


def build_mlp(n_features: int, units: int) -> Sequential:
    return Sequential([layers.Input(shape=(n_features,)), layers.Dense(units, activation="relu"),
                       layers.Dense(1, activation="sigmoid")])


class WeightedLossExperiment(Experiment):
    name = "weighted-loss"
    title = "Class weights on imbalanced data"
    claim = "Up-weighting the rare class raises its recall (at some cost in precision)."
    criterion = ("Supported when the rare class's test recall with the largest class weight (the 'balanced' "
                 "weight N_negative/N_positive) exceeds its recall without class weights by at least 0.05; "
                 "refuted otherwise. The change in the rare class's precision is reported alongside (the claim "
                 "expects it to fall).")
    parameters = {"n_samples": 3000, "n_features": 20, "rare_fraction": 0.05, "class_sep": 0.8, "units": 32,
                  "epochs": 30, "batch_size": 32, "learning_rate": 1e-3, "weights": [1, 2, 5, 10, "balanced"]}
    quick_parameters = {"n_samples": 1500, "epochs": 30, "weights": [1, 5, "balanced"]}

    def run(self, lab):
        p = lab.params
        X, y = datasets.make_classification(n_samples=p["n_samples"], n_features=p["n_features"], n_informative=4,
                                            n_redundant=2, weights=[1.0 - p["rare_fraction"], p["rare_fraction"]],
                                            flip_y=0.0, class_sep=p["class_sep"], random_state=lab.seed)
        x_train, x_test, y_train, y_test = datasets.train_test_split(X, y, test_size=0.3, stratify=y, seed=lab.seed)
        mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-7
        x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        n_pos, n_neg = int(y_train.sum()), int(len(y_train) - y_train.sum())
        balanced = n_neg / n_pos
        lab.progress(f"{len(y_train)} training samples ({n_pos} rare), {len(y_test)} test samples "
                     f"({int(y_test.sum())} rare); balanced weight {balanced:.1f}")
        lab.reseed(1)
        weights = build_mlp(p["n_features"], p["units"]).get_weights()

        results = {"n_train": len(y_train), "n_rare_train": n_pos, "n_rare_test": int(y_test.sum()),
                   "balanced_weight": balanced, "runs": []}
        for w in p["weights"]:
            w = balanced if w == "balanced" else float(w)
            model = build_mlp(p["n_features"], p["units"])
            model.set_weights(weights)
            model.compile(optimizers.Adam(p["learning_rate"]), "binary_crossentropy")
            lab.reseed(2)
            model.fit(x_train, y_train, epochs=p["epochs"], batch_size=p["batch_size"], verbose=0,
                      class_weight={0: 1.0, 1: w})
            predicted = (model.predict(x_test, verbose=0)[:, 0] >= 0.5).astype(np.int64)
            report = metrics.classification_report(y_test, predicted, labels=[0, 1], output_dict=True)
            run = {"weight": w, "rare_recall": report["1"]["recall"], "rare_precision": report["1"]["precision"],
                   "rare_f1": report["1"]["f1-score"], "common_recall": report["0"]["recall"],
                   "common_precision": report["0"]["precision"], "accuracy": float((predicted == y_test).mean()),
                   "predicted_rare": int(predicted.sum())}
            results["runs"].append(run)
            lab.progress(f"class weight {w:5.2f}: rare recall {run['rare_recall']:.3f}, precision "
                         f"{run['rare_precision']:.3f}, accuracy {run['accuracy']:.3f}")

        runs = results["runs"]
        figure = plot._figure()
        axis = figure.add_subplot()
        ws = [r["weight"] for r in runs]
        for key, label in (("rare_recall", "rare-class recall"), ("rare_precision", "rare-class precision"),
                           ("rare_f1", "rare-class F1"), ("accuracy", "accuracy")):
            axis.plot(ws, [r[key] for r in runs], marker="o", label=label)
        axis.set_xscale("log")
        axis.set_xlabel("weight of the rare class (log scale)")
        axis.set_ylabel("test score")
        axis.set_ylim(-0.02, 1.02)
        axis.set_title("Up-weighting the rare class")
        axis.grid(alpha=0.3, which="both")
        axis.legend()
        lab.figure("precision_recall", figure, "Rare-class precision, recall and F1 against its class weight")
        lab.table("Per-class precision and recall", ["rare-class weight", "rare recall", "rare precision", "rare F1",
                                                     "common recall", "common precision", "accuracy",
                                                     "predicted rare"],
                  [[r["weight"], r["rare_recall"], r["rare_precision"], r["rare_f1"], r["common_recall"],
                    r["common_precision"], r["accuracy"], r["predicted_rare"]] for r in runs],
                  f"Test set: {len(y_test)} samples, {int(y_test.sum())} of the rare class; threshold 0.5.")
        return results

    def verdict(self, results):
        runs = results["runs"]
        base = min(runs, key=lambda r: float(r["weight"]))
        top = max(runs, key=lambda r: float(r["weight"]))
        gain = float(top["rare_recall"]) - float(base["rare_recall"])
        cost = float(base["rare_precision"]) - float(top["rare_precision"])
        supported = float(top["weight"]) > float(base["weight"]) and gain >= 0.05
        explanation = (f"Rare-class recall {float(base['rare_recall']):.3f} with weight {float(base['weight']):g} → "
                       f"{float(top['rare_recall']):.3f} with weight {float(top['weight']):.2f} "
                       f"({gain:+.3f}); its precision {float(base['rare_precision']):.3f} → "
                       f"{float(top['rare_precision']):.3f} "
                       + ("(undefined without weights: the unweighted model never predicted the rare class)."
                          if int(base["predicted_rare"]) == 0 else
                          f"(a cost of {cost:.3f})." if cost > 0 else "(no cost in precision).")
                       + f" Accuracy {float(base['accuracy']):.3f} → {float(top['accuracy']):.3f}.")
        return supported, explanation


EXPERIMENT = WeightedLossExperiment()
