"""Optimizers compared on an image classifier (SPEC §4, exercise 13).

Nine optimizers train the same small CNN (Conv2D → MaxPooling2D → Flatten → Dense → Dense) from the
same initial weights, on the same mini-batch order, each with its Keras default learning rate unless
``learning_rates`` overrides it. Speed is measured two ways from the validation accuracy curve::

    epochs_to_target = min{ e : val_accuracy(e) ≥ target }        (None when never reached)
    accuracy_at_budget = val_accuracy(budget_epochs)

The full run also tunes the learning rate of plain SGD and of Adam on a small grid, since "Adam is
faster" with default rates is partly "Adam's default rate is better chosen".
"""

from __future__ import annotations

import time

import numpy as np

from ... import datasets, layers, optimizers, plot
from ...models import Sequential
from ..experiment import Experiment

# name → (optimizer class, constructor arguments other than the learning rate)
OPTIMIZERS = {
    "SGD": (optimizers.SGD, {}),
    "SGD+momentum": (optimizers.SGD, {"momentum": 0.9}),
    "Nesterov": (optimizers.SGD, {"momentum": 0.9, "nesterov": True}),
    "Adagrad": (optimizers.Adagrad, {}),
    "RMSprop": (optimizers.RMSprop, {}),
    "Adadelta": (optimizers.Adadelta, {}),
    "Adam": (optimizers.Adam, {}),
    "AdamW": (optimizers.AdamW, {}),
    "Nadam": (optimizers.Nadam, {}),
}
ADAM_FAMILY = ("Adam", "AdamW", "Nadam")


def load_image_data(lab, max_train: int, max_val: int):
    """``(x_train, y_train), (x_val, y_val), description`` from ``lab.data`` (image files read by
    ``glassnet.datasets.load_images``) or the bundled 8×8 digits; pixels scaled to [0, 1],
    channels-last, at most ``max_train`` / ``max_val`` samples (a seeded random subset)."""
    if lab.data is not None:
        from ...datasets import load_images  # the file readers (glassnet/datasets/files.py)

        loaded = load_images(lab.data)
        if isinstance(loaded, dict):
            loaded = (loaded["x_train"], loaded["y_train"]), (loaded["x_test"], loaded["y_test"])
        first, second = loaded[0], loaded[1]
        if isinstance(first, (tuple, list)):  # ((x_train, y_train), (x_test, y_test))
            (x_train, y_train), (x_val, y_val) = first, second
        else:  # (x, y): hold out a stratified fifth
            x_train, x_val, y_train, y_val = datasets.train_test_split(
                np.asarray(first), np.asarray(second), test_size=0.2, stratify=np.asarray(second), seed=lab.seed)
        description = str(lab.data)
    else:
        (x_train, y_train), (x_val, y_val) = datasets.load_digits(images=True, return_split=True, seed=lab.seed)
        description = "bundled 8×8 digits"
    x_train, x_val = _as_images(x_train), _as_images(x_val)
    scale = max(float(np.max(x_train)), 1.0)  # 16 for the digits, 255 for 8-bit images
    x_train, x_val = x_train / scale, x_val / scale
    y_train, y_val = np.asarray(y_train).astype(np.int64).ravel(), np.asarray(y_val).astype(np.int64).ravel()
    train = _subset(lab.rng, len(x_train), max_train)
    val = _subset(lab.rng, len(x_val), max_val)
    return (x_train[train], y_train[train]), (x_val[val], y_val[val]), description


def _as_images(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x[..., None] if x.ndim == 3 else x  # (N, H, W) → (N, H, W, 1)


def _subset(rng, n: int, limit) -> np.ndarray:
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=int(limit), replace=False))


def build_cnn(input_shape, num_classes: int, filters: int, units: int) -> Sequential:
    return Sequential([layers.Input(shape=tuple(input_shape)),
                       layers.Conv2D(filters, 3, padding="same", activation="relu"),
                       layers.MaxPooling2D(2), layers.Flatten(),
                       layers.Dense(units, activation="relu"),
                       layers.Dense(num_classes, activation="softmax")])


def epochs_to_target(curve, target: float):
    """First (1-based) epoch whose value reaches ``target``, or None."""
    hits = np.flatnonzero(np.asarray(curve) >= target)
    return int(hits[0]) + 1 if hits.size else None


def _epochs_key(value):
    return np.inf if value is None else value


class OptimizersExperiment(Experiment):
    name = "optimizers"
    title = "Optimizers on an image classifier"
    claim = "Adaptive optimizers (the Adam family) converge faster than plain SGD."
    criterion = ("Nine optimizers train the same CNN from the same initial weights, each with its Keras default "
                 "learning rate. Supported when each of Adam, AdamW and Nadam reaches the target validation "
                 "accuracy (0.90; 0.85 in quick mode) in strictly fewer epochs than plain SGD (never reaching it "
                 "counts as infinitely many), and has a higher validation accuracy than plain SGD after the fixed "
                 "budget of epochs (5; 3 in quick mode). Refuted otherwise. The full run also tunes SGD's and Adam's "
                 "learning rates on a small grid: reported, not judged.")
    parameters = {"epochs": 20, "batch_size": 32, "target_accuracy": 0.90, "budget_epochs": 5, "filters": 8,
                  "units": 32, "max_train": 2000, "max_val": 500, "learning_rates": {},
                  "tune_learning_rates": True, "sgd_grid": [0.01, 0.03, 0.1, 0.3], "adam_grid": [3e-4, 1e-3, 3e-3]}
    quick_parameters = {"epochs": 10, "target_accuracy": 0.85, "budget_epochs": 3, "max_train": 800, "max_val": 300,
                        "tune_learning_rates": False}
    uses_data = True

    def _train(self, lab, name, learning_rate, weights, data, p):
        cls, kwargs = OPTIMIZERS[name]
        (x_train, y_train), (x_val, y_val) = data
        model = build_cnn(x_train.shape[1:], p["num_classes"], p["filters"], p["units"])
        model.set_weights(weights)
        optimizer = cls(learning_rate=learning_rate, **kwargs) if learning_rate is not None else cls(**kwargs)
        model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
        lab.reseed(2)  # the same mini-batch order for every arm
        started = time.perf_counter()
        history = model.fit(x_train, y_train, epochs=p["epochs"], batch_size=p["batch_size"], verbose=0,
                            validation_data=(x_val, y_val))
        seconds = time.perf_counter() - started
        h = history.history
        summary = {"learning_rate": float(optimizer.learning_rate),
                   "final_val_accuracy": float(h["val_accuracy"][-1]),
                   "best_val_accuracy": float(np.max(h["val_accuracy"])),
                   "epochs_to_target": epochs_to_target(h["val_accuracy"], p["target_accuracy"]),
                   "accuracy_at_budget": float(h["val_accuracy"][min(p["budget_epochs"], p["epochs"]) - 1]),
                   "final_loss": float(h["loss"][-1]), "final_val_loss": float(h["val_loss"][-1]),
                   "seconds_per_epoch": seconds / p["epochs"],
                   "val_accuracy_curve": [float(v) for v in h["val_accuracy"]]}
        return summary, history

    def run(self, lab):
        p = dict(lab.params)
        train, val, description = load_image_data(lab, p["max_train"], p["max_val"])
        p["num_classes"] = int(max(train[1].max(), val[1].max())) + 1
        lab.progress(f"data: {description}: {len(train[0])} training and {len(val[0])} validation images "
                     f"of shape {train[0].shape[1:]}, {p['num_classes']} classes")
        lab.reseed(1)
        weights = build_cnn(train[0].shape[1:], p["num_classes"], p["filters"], p["units"]).get_weights()

        results = {"data": description, "n_train": len(train[0]), "n_val": len(val[0]),
                   "target_accuracy": p["target_accuracy"], "budget_epochs": p["budget_epochs"],
                   "epochs": p["epochs"], "adam_family": list(ADAM_FAMILY), "optimizers": {}}
        histories = {}
        for name in OPTIMIZERS:
            summary, history = self._train(lab, name, p["learning_rates"].get(name), weights, (train, val), p)
            results["optimizers"][name] = summary
            histories[name] = history
            reached = summary["epochs_to_target"]
            lab.progress(f"{name:13s} lr {summary['learning_rate']:g}: final val accuracy "
                         f"{summary['final_val_accuracy']:.3f}, target reached "
                         f"{'at epoch ' + str(reached) if reached else 'never'}")

        lab.figure("optimizer_curves", plot.plot_comparison(histories, metric=["val_accuracy", "loss"],
                                                           title="Same CNN, same initial weights"),
                   "Validation accuracy and training loss per epoch, one curve per optimizer")
        lab.table("Optimizers", ["optimizer", "learning rate", "final val accuracy", "best val accuracy",
                                 f"epochs to {p['target_accuracy']:.2f}", f"val accuracy after {p['budget_epochs']}",
                                 "final train loss", "s / epoch"],
                  [[name, r["learning_rate"], r["final_val_accuracy"], r["best_val_accuracy"],
                    r["epochs_to_target"] or "never", r["accuracy_at_budget"], r["final_loss"],
                    r["seconds_per_epoch"]] for name, r in results["optimizers"].items()],
                  "Each optimizer with its Keras default learning rate (unless overridden).")
        stuck = [name for name, r in results["optimizers"].items()
                 if r["best_val_accuracy"] < 2.0 / p["num_classes"]]
        if stuck:
            lab.note(f"{', '.join(stuck)} barely left chance level: with the Keras default learning rate "
                     f"(e.g. Adadelta's 0.001, Adagrad's 0.001) they move the weights very little.")

        if p["tune_learning_rates"]:
            results["tuned"] = {}
            rows = []
            for name, grid in (("SGD", p["sgd_grid"]), ("Adam", p["adam_grid"])):
                runs = {}
                for lr in grid:
                    summary, _ = self._train(lab, name, float(lr), weights, (train, val), p)
                    runs[float(lr)] = summary
                    rows.append([name, float(lr), summary["final_val_accuracy"], summary["epochs_to_target"] or "never",
                                 summary["accuracy_at_budget"]])
                best_lr = min(runs, key=lambda lr: (_epochs_key(runs[lr]["epochs_to_target"]),
                                                    -runs[lr]["accuracy_at_budget"]))
                results["tuned"][name] = {"best_learning_rate": best_lr, **{k: runs[best_lr][k] for k in (
                    "epochs_to_target", "accuracy_at_budget", "final_val_accuracy")}}
                lab.progress(f"tuned {name}: best lr {best_lr:g}, target reached at epoch "
                             f"{runs[best_lr]['epochs_to_target']}")
            lab.table("Learning rate tuned for SGD and Adam", ["optimizer", "learning rate", "final val accuracy",
                                                               f"epochs to {p['target_accuracy']:.2f}",
                                                               f"val accuracy after {p['budget_epochs']}"], rows,
                      "The same comparison after choosing each optimizer's learning rate from a small grid.")
        return results

    def verdict(self, results):
        runs = results["optimizers"]
        sgd = runs["SGD"]
        faster = {name: _epochs_key(runs[name]["epochs_to_target"]) < _epochs_key(sgd["epochs_to_target"])
                  for name in results["adam_family"]}
        ahead = {name: runs[name]["accuracy_at_budget"] > sgd["accuracy_at_budget"] for name in results["adam_family"]}
        supported = all(faster.values()) and all(ahead.values())

        def reached(run):
            return f"epoch {run['epochs_to_target']}" if run["epochs_to_target"] else "never"

        explanation = (f"Epochs to {results['target_accuracy']:.2f} validation accuracy: plain SGD "
                       f"{reached(sgd)}; " + ", ".join(f"{n} {reached(runs[n])}" for n in results["adam_family"])
                       + f". Validation accuracy after {results['budget_epochs']} epochs: SGD "
                       f"{sgd['accuracy_at_budget']:.3f}; "
                       + ", ".join(f"{n} {runs[n]['accuracy_at_budget']:.3f}" for n in results["adam_family"]) + ".")
        if "SGD+momentum" in runs:
            momentum = _epochs_key(runs["SGD+momentum"]["epochs_to_target"])
            slowest_adam = max(_epochs_key(runs[n]["epochs_to_target"]) for n in results["adam_family"])
            explanation += (f" SGD with momentum 0.9 (not adaptive) reached it at {reached(runs['SGD+momentum'])}"
                            + (", no later than the slowest of the Adam family: momentum alone closes the gap."
                               if momentum <= slowest_adam else "."))
        tuned = results.get("tuned")
        if tuned:
            sgd_first = _epochs_key(tuned["SGD"]["epochs_to_target"]) <= _epochs_key(tuned["Adam"]["epochs_to_target"])
            explanation += (f" With tuned learning rates: SGD (lr {tuned['SGD']['best_learning_rate']:g}) "
                            f"{reached(tuned['SGD'])}, Adam (lr {tuned['Adam']['best_learning_rate']:g}) "
                            f"{reached(tuned['Adam'])}"
                            + (" — tuned, plain SGD is no slower: the gap above comes from the default rates."
                               if sgd_first else " — Adam stays faster after tuning."))
        return supported, explanation


EXPERIMENT = OptimizersExperiment()
