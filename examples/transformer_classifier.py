"""A small Transformer classifier: each 8×8 digit is a sequence of 8 row-tokens; a linear
embedding plus a learned position embedding feed a TransformerEncoder block, then mean pooling
over the tokens and a softmax layer.

It also shows a custom layer: ``AddPositions`` adds one learned vector per position.

    python examples/transformer_classifier.py
"""

from __future__ import annotations

import glassnet as gn
from glassnet import layers


class AddPositions(layers.Layer):
    """x + P, with P a learned (time, features) table: the position embedding for continuous tokens."""

    def build(self, input_shape):
        self.positions = self.add_weight(tuple(input_shape[1:]), initializer="random_normal", name="positions")
        self.built = True

    def call(self, inputs):
        return inputs + self.positions

    def compute_output_shape(self, input_shape):
        return input_shape


def build_model(d_model: int = 32, heads: int = 4) -> gn.Model:
    tokens = gn.Input(shape=(8, 8), name="rows")
    x = AddPositions()(layers.Dense(d_model)(tokens))
    x = layers.TransformerEncoder(num_heads=heads, ff_dim=64, dropout=0.1)(x)
    x = layers.GlobalAveragePooling1D()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return gn.Model(tokens, outputs, name="digits_transformer")


def main(quick: bool = False, seed: int = 0, verbose: int = 0) -> dict:
    gn.set_seed(seed)
    (x_train, y_train), (x_test, y_test) = gn.datasets.load_digits(images=True, return_split=True, seed=seed)
    x_train, x_test = x_train[..., 0] / 16.0, x_test[..., 0] / 16.0
    if quick:
        x_train, y_train = x_train[:300], y_train[:300]
    model = build_model()
    model.compile(optimizer=gn.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=6 if quick else 40, batch_size=32, verbose=verbose)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {"test_loss": loss, "test_accuracy": accuracy, "history": history.history, "model": model}


if __name__ == "__main__":
    results = main(verbose=2)
    results["model"].summary()
    print(f"test accuracy: {results['test_accuracy']:.4f}")
