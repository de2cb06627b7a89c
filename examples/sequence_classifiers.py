"""LSTM and GRU sequence classifiers: each 8×8 digit is read as a sequence of 8 rows of 8 pixels.

    python examples/sequence_classifiers.py
"""

from __future__ import annotations

import glassnet as gn
from glassnet import layers


def build_model(cell: str = "lstm", units: int = 64) -> gn.Sequential:
    recurrent = {"lstm": layers.LSTM, "gru": layers.GRU}[cell]
    return gn.Sequential([gn.Input(shape=(8, 8)), recurrent(units, dropout=0.1),
                          layers.Dense(10, activation="softmax")], name=f"digits_{cell}")


def main(quick: bool = False, seed: int = 0, verbose: int = 0) -> dict:
    (x_train, y_train), (x_test, y_test) = gn.datasets.load_digits(images=True, return_split=True, seed=seed)
    x_train, x_test = x_train[..., 0] / 16.0, x_test[..., 0] / 16.0  # (N, time=8 rows, features=8 pixels)
    if quick:
        x_train, y_train = x_train[:300], y_train[:300]
    results = {}
    for cell in ("lstm", "gru"):
        gn.set_seed(seed)
        model = build_model(cell)
        model.compile(optimizer=gn.optimizers.Adam(5e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=2 if quick else 25, batch_size=32, verbose=verbose)
        loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
        results[cell] = {"test_loss": loss, "test_accuracy": accuracy, "params": model.count_params()}
    return results


if __name__ == "__main__":
    for cell, result in main(verbose=2).items():
        print(f"{cell.upper()}: test accuracy {result['test_accuracy']:.4f}, {result['params']:,} parameters")
