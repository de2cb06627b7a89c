"""Regularisation against overfitting (SPEC §7, exercises 5 and 7): a wide MLP on a small training set,
without regularisation and with L1, L2, Dropout(0.2), Dropout(0.5), EarlyStopping and BatchNormalization.

Overfitting is measured by the train/validation gap, in accuracy (train acc − val acc) and in loss
(val loss − train loss, the data cross-entropy only — L1/L2 penalties are not counted), both computed in
inference mode (dropout off, batch norm on its moving statistics) after training. Model selection
(early stopping) uses the validation split only; the test split is never used to choose anything and
only gives the final numbers. Two tasks: the 8×8 digits (200 training samples) and a noisy synthetic
task (200 samples, 50 features of which 10 informative, 5% flipped labels).
"""

from __future__ import annotations

import warnings

import numpy as np

from ... import callbacks, datasets, layers, optimizers, plot, regularizers
from ...models import Sequential
from ..experiment import Experiment

ARMS = ("none", "l1", "l2", "dropout_0.2", "dropout_0.5", "early_stopping", "batch_norm")
TASKS = ("digits", "noisy")


def load_task(task: str, seed: int, n_train: int, n_val: int, n_test: int):
    """(train, val, test) splits of ``task``, features scaled with the training statistics only."""
    if task == "digits":
        X, y = datasets.load_digits()
        X = X / 16.0
        n_classes = 10
    else:
        n_classes = 4
        X, y = datasets.make_classification(n_train + n_val + n_test, 50, n_informative=10, n_redundant=10,
                                            n_classes=n_classes, n_clusters_per_class=1, flip_y=0.05,
                                            class_sep=1.0, random_state=seed)
    order = np.random.default_rng(seed).permutation(len(X))
    tr, va = order[:n_train], order[n_train:n_train + n_val]
    te = order[n_train + n_val:n_train + n_val + n_test]
    if task != "digits":
        mean, std = X[tr].mean(axis=0), X[tr].std(axis=0)
        X = datasets.standardize(X, mean=mean, std=std)
    return (X[tr], y[tr]), (X[va], y[va]), (X[te], y[te]), n_classes


def build(arm: str, n_features: int, n_classes: int, width: int, depth: int, l1: float, l2: float):
    """The wide MLP with the arm's regulariser (EarlyStopping is a callback, not a layer)."""
    reg = {"l1": regularizers.L1(l1), "l2": regularizers.L2(l2)}.get(arm)
    stack = [layers.Input(shape=(n_features,))]
    for _ in range(depth):
        if arm == "batch_norm":
            stack += [layers.Dense(width, use_bias=False), layers.BatchNormalization(), layers.Activation("relu")]
        else:
            stack.append(layers.Dense(width, activation="relu", kernel_regularizer=reg))
        if arm.startswith("dropout_"):
            stack.append(layers.Dropout(float(arm.split("_")[1])))
    stack.append(layers.Dense(n_classes, activation="softmax", kernel_regularizer=reg))
    return Sequential(stack)


def scores(model, X, y) -> tuple:
    """(accuracy, mean cross-entropy) in inference mode — the data loss only, no penalty terms."""
    probabilities = np.asarray(model.predict(X, verbose=0), dtype=np.float64)
    picked = np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1.0)
    return float(np.mean(probabilities.argmax(axis=1) == y)), float(np.mean(-np.log(picked)))


class RegularizationExperiment(Experiment):
    name = "regularization"
    title = "Regularisation and overfitting"
    claim = ("Regularisation — L1/L2 weight penalties, dropout, early stopping, batch normalisation — reduces "
             "overfitting: it shrinks the gap between training and validation performance.")
    criterion = ("A wide MLP (2×256 ReLU, Adam) is trained on 200 samples of each task without regularisation and "
                 "with L1(1e-3), L2(1e-3), Dropout 0.2, Dropout 0.5, EarlyStopping (val_loss, patience 10, best "
                 "weights) and BatchNormalization, from the same initial weights; gaps are averaged over repeats "
                 "(different training subsets). Supported when, on every task, more than half of the six "
                 "regularised arms have a smaller accuracy gap (train accuracy − validation accuracy) than 'none'. "
                 "The loss gap (validation − training cross-entropy) is reported alongside; the test split is never "
                 "used for any choice.")
    parameters = {"tasks": TASKS, "arms": ARMS, "repeats": 5, "train_samples": 200, "val_samples": 400,
                  "test_samples": 1000, "width": 256, "depth": 2, "epochs": 100, "batch_size": 32,
                  "learning_rate": 1e-3, "l1": 1e-3, "l2": 1e-3, "patience": 10}
    quick_parameters = {"repeats": 1, "width": 64, "epochs": 30, "patience": 5}
    one_blas_thread = True

    def run(self, lab):
        p = lab.params
        results = {"tasks": {}}
        histories_to_plot = {}
        for t, task in enumerate(p["tasks"]):
            per_arm = {arm: [] for arm in p["arms"]}
            for r in range(p["repeats"]):
                seed = lab.seed * 1000 + 10 * t + r
                (Xtr, ytr), (Xva, yva), (Xte, yte), n_classes = load_task(
                    task, seed, p["train_samples"], p["val_samples"], p["test_samples"])
                lab.reseed(10 * t + r)
                initial = build("none", Xtr.shape[1], n_classes, p["width"], p["depth"], p["l1"], p["l2"]).get_weights()
                for arm in p["arms"]:
                    model = build(arm, Xtr.shape[1], n_classes, p["width"], p["depth"], p["l1"], p["l2"])
                    if arm != "batch_norm":  # same Dense weights for every arm (BN has other weight shapes)
                        model.set_weights(initial)
                    model.compile(optimizers.Adam(p["learning_rate"]), "sparse_categorical_crossentropy",
                                  metrics=["accuracy"])
                    extra = ([callbacks.EarlyStopping(monitor="val_loss", patience=p["patience"],
                                                      restore_best_weights=True)] if arm == "early_stopping" else [])
                    lab.reseed(500 + 10 * t + r)  # the same batches (and dropout draws) for every arm
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        history = model.fit(Xtr, ytr, epochs=p["epochs"], batch_size=p["batch_size"], verbose=0,
                                            validation_data=(Xva, yva), validation_batch_size=len(Xva),
                                            callbacks=extra)
                    train_acc, train_loss = scores(model, Xtr, ytr)
                    val_acc, val_loss = scores(model, Xva, yva)
                    test_acc, test_loss = scores(model, Xte, yte)
                    kernels = [np.asarray(w.data, dtype=np.float64).ravel() for w in model.weights
                               if w.name == "kernel"]
                    flat = np.concatenate(kernels)
                    per_arm[arm].append({"train_accuracy": train_acc, "val_accuracy": val_acc,
                                         "test_accuracy": test_acc, "train_loss": train_loss, "val_loss": val_loss,
                                         "test_loss": test_loss, "accuracy_gap": train_acc - val_acc,
                                         "loss_gap": val_loss - train_loss, "epochs": len(history.history["loss"]),
                                         "kernel_norm": float(np.sqrt(flat @ flat)),
                                         "near_zero_fraction": float(np.mean(np.abs(flat) < 1e-3))})
                    if r == 0:
                        histories_to_plot.setdefault(task, {})[arm] = history
            summary = {}
            for arm, runs in per_arm.items():
                summary[arm] = {key: float(np.mean([run[key] for run in runs])) for key in runs[0]}
                summary[arm]["accuracy_gap_per_repeat"] = [run["accuracy_gap"] for run in runs]
            base = summary["none"]
            for arm, s in summary.items():
                s["smaller_accuracy_gap"] = arm != "none" and s["accuracy_gap"] < base["accuracy_gap"]
                s["smaller_loss_gap"] = arm != "none" and s["loss_gap"] < base["loss_gap"]
            results["tasks"][task] = summary
            lab.progress(f"{task}: accuracy gap none {base['accuracy_gap']:.3f}; "
                         + ", ".join(f"{a} {s['accuracy_gap']:.3f}" for a, s in summary.items() if a != "none"))
            lab.table(f"{task}: train/validation gap per arm (mean of {p['repeats']} repeat(s))",
                      ["arm", "train acc", "val acc", "accuracy gap", "smaller than none?", "train loss", "val loss",
                       "loss gap", "smaller than none?", "test acc", "‖W‖ (kernels)", "|w| < 1e-3", "epochs run"],
                      [[a, s["train_accuracy"], s["val_accuracy"], s["accuracy_gap"],
                        "—" if a == "none" else ("yes" if s["smaller_accuracy_gap"] else "no"), s["train_loss"],
                        s["val_loss"], s["loss_gap"],
                        "—" if a == "none" else ("yes" if s["smaller_loss_gap"] else "no"),
                        s["test_accuracy"], s["kernel_norm"], s["near_zero_fraction"], f"{s['epochs']:g}"]
                       for a, s in summary.items()],
                      f"{p['train_samples']} training, {p['val_samples']} validation, {p['test_samples']} test "
                      f"samples; {p['depth']}×{p['width']} ReLU MLP, Adam({p['learning_rate']:g}), up to "
                      f"{p['epochs']} epochs. All numbers in inference mode after training; losses are the data "
                      "cross-entropy (no penalty). The test split is only reported, never used to choose.")

        figure = plot._figure(figsize=(10.0, 4.2))
        width = 0.38
        for k, task in enumerate(results["tasks"]):
            axis = figure.add_subplot(1, len(results["tasks"]), k + 1)
            summary = results["tasks"][task]
            names = list(summary)
            positions = np.arange(len(names))
            axis.bar(positions - width / 2, [summary[a]["accuracy_gap"] for a in names], width, label="accuracy gap")
            axis.bar(positions + width / 2, [summary[a]["loss_gap"] / 10 for a in names], width,
                     label="loss gap / 10")
            axis.axhline(summary["none"]["accuracy_gap"], color="tab:blue", linestyle=":", linewidth=0.8)
            axis.set_xticks(positions, names, rotation=35, ha="right", fontsize=8)
            axis.set_title(f"{task}: train − validation gap")
            axis.grid(alpha=0.3, axis="y")
            axis.legend(fontsize=8)
        lab.figure("gaps", figure, "Train/validation gaps per arm (dotted: the accuracy gap without regularisation)")
        for task, histories in histories_to_plot.items():
            lab.figure(f"curves_{task}", plot.plot_comparison(histories, metric=["accuracy", "val_accuracy"],
                                                              title=f"{task}: training and validation accuracy"),
                       f"{task}: accuracy curves of the first repeat (training accuracy as fit logs it: with dropout "
                       "active)")
        return results

    def verdict(self, results):
        parts, supported = [], bool(results["tasks"])
        for task, summary in results["tasks"].items():
            arms = [a for a in summary if a != "none"]
            acc = [a for a in arms if summary[a]["smaller_accuracy_gap"]]
            loss = [a for a in arms if summary[a]["smaller_loss_gap"]]
            majority = len(acc) > len(arms) / 2
            supported = supported and majority
            parts.append(f"{task}: accuracy gap without regularisation {summary['none']['accuracy_gap']:.3f}; "
                         f"smaller for {len(acc)}/{len(arms)} arms ({', '.join(acc) or 'none'}), loss gap smaller "
                         f"for {len(loss)}/{len(arms)} ({', '.join(loss) or 'none'})"
                         + ("" if majority else " — not a majority"))
        return supported, "; ".join(parts) + "."


EXPERIMENT = RegularizationExperiment()
