"""A small ResNet built with the functional API: residual blocks ``y = relu(x + F(x))`` where
F is conv-BN-ReLU-conv-BN, and a 1×1 projection on the shortcut when the width changes.

    python examples/resnet_digits.py
"""

from __future__ import annotations

import glassnet as gn
from glassnet import layers


def residual_block(x, filters: int):
    """relu(shortcut(x) + BN(conv(relu(BN(conv(x))))))."""
    shortcut = x
    if x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, use_bias=False)(x)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    y = layers.ReLU()(layers.BatchNormalization()(y))
    y = layers.BatchNormalization()(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y))
    return layers.ReLU()(layers.add([shortcut, y]))


def build_model() -> gn.Model:
    inputs = gn.Input(shape=(8, 8, 1), name="image")
    x = residual_block(inputs, 16)
    x = residual_block(x, 16)
    x = layers.MaxPooling2D()(x)
    x = residual_block(x, 32)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(10, activation="softmax", name="digit")(x)
    return gn.Model(inputs, outputs, name="resnet_digits")


def main(quick: bool = False, seed: int = 0, verbose: int = 0) -> dict:
    gn.set_seed(seed)
    (x_train, y_train), (x_test, y_test) = gn.datasets.load_digits(images=True, return_split=True, seed=seed)
    x_train, x_test = x_train / 16.0, x_test / 16.0
    if quick:
        x_train, y_train = x_train[:300], y_train[:300]
    model = build_model()
    model.compile(optimizer=gn.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=2 if quick else 20, batch_size=32, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"test_loss": loss, "test_accuracy": accuracy, "history": history.history, "model": model}


if __name__ == "__main__":
    results = main(verbose=1)
    results["model"].summary()
    print(f"test accuracy: {results['test_accuracy']:.4f}")
