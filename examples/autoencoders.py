"""Dense and convolutional autoencoders on the 8×8 digits; reports the reconstruction error
(mean squared error per pixel on the test set) against two baselines.

    python examples/autoencoders.py
"""

from __future__ import annotations

import numpy as np

import glassnet as gn
from glassnet import layers


def dense_autoencoder(code_size: int = 12) -> gn.Sequential:
    """64 → 32 → code → 32 → 64 (sigmoid: pixels are scaled to [0, 1])."""
    return gn.Sequential([gn.Input(shape=(64,)), layers.Dense(32, activation="relu"),
                          layers.Dense(code_size, activation="relu", name="code"),
                          layers.Dense(32, activation="relu"), layers.Dense(64, activation="sigmoid")],
                         name="dense_autoencoder")


def conv_autoencoder() -> gn.Sequential:
    """8×8×1 → conv/pool → 4×4×8 code → transposed conv → 8×8×1."""
    return gn.Sequential([gn.Input(shape=(8, 8, 1)),
                          layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
                          layers.Conv2D(8, 3, padding="same", activation="relu", name="code"),
                          layers.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu"),
                          layers.Conv2D(1, 3, padding="same", activation="sigmoid")], name="conv_autoencoder")


def main(quick: bool = False, seed: int = 0, verbose: int = 0) -> dict:
    (x_train, _), (x_test, _) = gn.datasets.load_digits(images=True, return_split=True, seed=seed)
    x_train, x_test = x_train / 16.0, x_test / 16.0
    if quick:
        x_train = x_train[:300]
    epochs = 10 if quick else 60
    results = {"baseline_mean_image": float(np.mean((x_test - x_train.mean(axis=0)) ** 2))}
    for name, model, flat in (("dense", dense_autoencoder(), True), ("conv", conv_autoencoder(), False)):
        gn.set_seed(seed)
        train = x_train.reshape(len(x_train), -1) if flat else x_train
        test = x_test.reshape(len(x_test), -1) if flat else x_test
        model.compile(optimizer=gn.optimizers.Adam(3e-3), loss="mse")
        history = model.fit(train, train, epochs=epochs, batch_size=32, verbose=verbose)
        reconstruction = model.predict(test, verbose=0)
        results[name] = {"test_mse": float(np.mean((reconstruction - test) ** 2)), "params": model.count_params(),
                         "train_loss": history.history["loss"]}
    return results


if __name__ == "__main__":
    results = main(verbose=0)
    print(f"baseline (predict the mean image): MSE {results['baseline_mean_image']:.4f}")
    for name in ("dense", "conv"):
        print(f"{name} autoencoder: test reconstruction MSE {results[name]['test_mse']:.4f} "
              f"({results[name]['params']:,} parameters)")
