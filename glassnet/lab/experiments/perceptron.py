"""Perceptron and linear separability (SPEC §1, exercise 1)."""

from __future__ import annotations

import numpy as np

from ... import datasets, layers, optimizers, plot
from ...models import Sequential
from ...perceptron import Perceptron
from ..experiment import Experiment

GATES = ("and", "or", "nand", "xor")


class PerceptronExperiment(Experiment):
    name = "perceptron"
    title = "Perceptron and linear separability"
    claim = ("A single perceptron learns AND, OR and NAND, which are linearly separable, but never XOR; "
             "a network with one hidden layer learns XOR.")
    criterion = ("Supported when the perceptron makes zero errors on AND, OR and NAND within 10 epochs (lr 0.1), "
                 "still makes at least one error in every one of its epochs on XOR, and the one-hidden-layer "
                 "MLP classifies all four XOR inputs correctly.")
    parameters = {"learning_rate": 0.1, "epochs": 1000, "mlp_hidden": 4, "mlp_epochs": 800, "mlp_learning_rate": 0.05}
    quick_parameters = {"epochs": 200, "mlp_epochs": 400}

    def run(self, lab):
        p = lab.params
        results = {"gates": {}}
        curves = {}
        for gate in GATES:
            X, y = datasets.logic_gate(gate)
            model = Perceptron(learning_rate=p["learning_rate"], epochs=p["epochs"]).fit(X, y)
            errors = np.asarray(model.errors_)
            zero = np.flatnonzero(errors == 0)
            results["gates"][gate] = {"first_zero_error_epoch": int(zero[0]) + 1 if zero.size else None,
                                      "min_errors": int(errors.min()), "final_errors": int(errors[-1]),
                                      "accuracy": float(model.score(X, y))}
            curves[gate] = errors
            lab.figure(f"boundary_{gate}", plot.plot_decision_boundary(model, X, y, resolution=120,
                                                                       title=f"perceptron on {gate.upper()}"),
                       f"Perceptron decision boundary for {gate.upper()}")
            lab.progress(f"perceptron on {gate.upper()}: minimum errors per epoch {errors.min()}")

        X, y = datasets.logic_gate("xor")
        lab.reseed(1)
        mlp = Sequential([layers.Input(shape=(2,)), layers.Dense(p["mlp_hidden"], activation="tanh"),
                          layers.Dense(1, activation="sigmoid")])
        mlp.compile(optimizers.Adam(p["mlp_learning_rate"]), "binary_crossentropy", metrics=["accuracy"])
        history = mlp.fit(X, y, epochs=p["mlp_epochs"], batch_size=4, verbose=0, shuffle=False)
        predictions = (mlp.predict(X, verbose=0)[:, 0] >= 0.5).astype(int)
        results["mlp_xor_accuracy"] = float((predictions == y).mean())
        results["mlp_final_loss"] = float(history.history["loss"][-1])
        lab.progress(f"MLP ({p['mlp_hidden']} tanh units) on XOR: accuracy {results['mlp_xor_accuracy']:.2f}")
        lab.figure("boundary_mlp_xor", plot.plot_decision_boundary(mlp, X, y, resolution=120,
                                                                   title="one-hidden-layer MLP on XOR"),
                   "The MLP's decision region for XOR is not a half-plane")

        figure = plot._figure()
        axis = figure.add_subplot()
        for gate, errors in curves.items():
            axis.plot(np.arange(1, len(errors) + 1), errors, label=gate.upper())
        axis.set_xscale("log")
        axis.set_xlabel("epoch")
        axis.set_ylabel("misclassified samples")
        axis.set_title("Perceptron errors per epoch")
        axis.legend()
        lab.figure("perceptron_errors", figure, "Errors per epoch: AND/OR/NAND reach 0, XOR never does")
        lab.table("Perceptron per gate", ["gate", "first epoch with 0 errors", "min errors per epoch",
                                          "final accuracy"],
                  [[g.upper(), r["first_zero_error_epoch"] or "never", r["min_errors"], r["accuracy"]]
                   for g, r in results["gates"].items()])
        return results

    def verdict(self, results):
        gates = results["gates"]
        separable = all(gates[g]["first_zero_error_epoch"] is not None and gates[g]["first_zero_error_epoch"] <= 10
                        for g in ("and", "or", "nand"))
        xor_fails = gates["xor"]["min_errors"] >= 1
        mlp_solves = results["mlp_xor_accuracy"] == 1.0
        explanation = (f"AND/OR/NAND converged by epochs "
                       f"{[gates[g]['first_zero_error_epoch'] for g in ('and', 'or', 'nand')]}; XOR's fewest errors "
                       f"in an epoch: {gates['xor']['min_errors']}; MLP accuracy on XOR: "
                       f"{results['mlp_xor_accuracy']:.2f}.")
        return separable and xor_fails and mlp_solves, explanation


EXPERIMENT = PerceptronExperiment()
