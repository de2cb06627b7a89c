"""The ``glassnet`` command.

``glassnet train`` trains a multilayer perceptron on a bundled dataset (digits by default), prints
test metrics and a classification report, and writes a run folder::

    runs/<dataset>-<time>/model.glassnet   the trained model (load with glassnet.load_model)
                          history.csv      per-epoch loss / metrics / learning rate
                          metrics.json     test results and the settings used
                          loss.png, accuracy.png   training curves (when matplotlib is installed)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

CLASSIFICATION_DATASETS = ("digits", "iris", "wine", "breast_cancer", "moons", "circles", "classification")
REGRESSION_DATASETS = ("diabetes", "regression")


def _hidden_sizes(text: str) -> list:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated integers like 128,64; got {text!r}.")
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("--hidden sizes must be positive.")
    return sizes


def _number(kind, low=None, high=None, low_open=False, high_open=True, what="value"):
    """An argparse type: ``kind(text)`` within [low, high) (ends open or closed as asked)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be {'an integer' if kind is int else 'a number'}, "
                                             f"got {text!r}.") from None
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high or value != value:
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
            raise argparse.ArgumentTypeError(f"{what} must lie in {bounds}, got {text}.")
        return value

    return parse


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except ``None`` ones (whose meaning the help text explains)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="glassnet",
        description="glassnet: deep learning on NumPy that lets you see inside. "
                    "Run 'glassnet train' to train a network on bundled data.")
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser(
        "train", help="train an MLP on a bundled dataset and write a run folder",
        description="Train a multilayer perceptron on a bundled dataset (scikit-learn's), show a progress bar, "
                    "print test loss/accuracy and a classification report, and save the model, the history "
                    "(CSV) and loss/accuracy curves (PNG) in a run folder.",
        formatter_class=_HelpFormatter)
    train.add_argument("--dataset", default="digits", choices=CLASSIFICATION_DATASETS + REGRESSION_DATASETS,
                       help="bundled dataset to train on")
    train.add_argument("--hidden", type=_hidden_sizes, default=[256, 128],
                       help="hidden layer sizes, comma-separated (e.g. 256,128)")
    train.add_argument("--activation", default="relu", help="hidden activation (any glassnet activation name)")
    train.add_argument("--optimizer", default="adam", help="optimizer name (sgd, adam, rmsprop, ...)")
    train.add_argument("--lr", type=_number(float, 0, None, low_open=True, what="--lr"), default=1e-3,
                       help="learning rate")
    train.add_argument("--epochs", type=_number(int, 1, what="--epochs"), default=50, help="training epochs")
    train.add_argument("--batch-size", type=_number(int, 1, what="--batch-size"), default=64,
                       help="mini-batch size")
    train.add_argument("--dropout", type=_number(float, 0, 1, what="--dropout"), default=0.2,
                       help="dropout rate after each hidden layer")
    train.add_argument("--validation-split", type=_number(float, 0, 1, what="--validation-split"), default=0.1,
                       help="fraction of the training data held out for validation (0 for none)")
    train.add_argument("--test-size", type=_number(float, 0, 1, low_open=True, what="--test-size"), default=0.2,
                       help="fraction of the data used as test set")
    train.add_argument("--seed", type=int, default=0, help="random seed (data split, initialisation, shuffling)")
    train.add_argument("--out", default=None, help="run folder (default: runs/<dataset>-<timestamp>)")
    train.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="0 silent, 1 progress bar, "
                                                                                   "2 one line per epoch")
    lab = commands.add_parser(
        "lab", help="run the lab's experiments (claims from deep-learning courses, tested)",
        description="Reproducible experiments that test what deep-learning courses claim; each run writes "
                    "results.json, report.md and a self-contained report.html.")
    lab_commands = lab.add_subparsers(dest="lab_command", metavar="LAB_COMMAND")
    lab_commands.add_parser("list", help="list the experiments and their claims")
    lab_run = lab_commands.add_parser("run", help="run one experiment (or 'all')",
                                      formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    lab_run.add_argument("name", help="experiment name (see 'glassnet lab list') or 'all'")
    lab_run.add_argument("--quick", action="store_true", help="a shorter run (under a minute per experiment)")
    lab_run.add_argument("--seed", type=int, default=0, help="random seed")
    lab_run.add_argument("--out", default=os.path.join("runs", "lab"), help="folder for the reports")
    lab_run.add_argument("--data", default=None,
                         help="image data for the image experiments: an MNIST/Fashion-MNIST IDX folder, CIFAR-10 "
                              "batches, .npz or .csv (default: the bundled digits)")
    return parser


def _load_task(dataset: str, test_size: float, seed: int):
    from . import datasets

    if dataset in ("moons", "circles"):
        kwargs = {"n_samples": 1000, "noise": 0.2 if dataset == "moons" else 0.1, "random_state": seed}
    elif dataset == "classification":
        kwargs = {"n_samples": 1000, "n_features": 20, "random_state": seed}
    elif dataset == "regression":
        kwargs = {"n_samples": 1000, "n_features": 20, "noise": 10.0, "random_state": seed}
    else:
        kwargs = {}
    return datasets.load(dataset, return_split=True, test_size=test_size, seed=seed, **kwargs)


def build_model(input_dim: int, hidden: list, activation: str, dropout: float, output_units: int,
                output_activation, x_train):
    from . import layers, models

    normalization = layers.Normalization(name="standardize")
    normalization.adapt(x_train)
    stack = [layers.Input(shape=(input_dim,)), normalization]
    for units in hidden:
        stack.append(layers.Dense(units, activation=activation))
        if dropout:
            stack.append(layers.Dropout(dropout))
    stack.append(layers.Dense(output_units, activation=output_activation, name="output"))
    return models.Sequential(stack, name="mlp")


def train(args) -> dict:
    """Run ``glassnet train`` with parsed arguments; returns the test results."""
    import glassnet
    from . import metrics, optimizers

    glassnet.set_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = _load_task(args.dataset, args.test_size, args.seed)
    regression = args.dataset in REGRESSION_DATASETS
    if regression:
        y_train = y_train.reshape(len(y_train), -1).astype(np.float32)
        y_test = y_test.reshape(len(y_test), -1).astype(np.float32)
        output_units, output_activation, loss, metric_names = y_train.shape[1], None, "mse", ["mae"]
    else:
        classes = int(max(y_train.max(), y_test.max())) + 1
        if classes == 2:
            output_units, output_activation, loss = 1, "sigmoid", "binary_crossentropy"
            y_train = y_train.astype(np.float32).reshape(-1, 1)
            y_test = y_test.astype(np.float32).reshape(-1, 1)
        else:
            output_units, output_activation, loss = classes, "softmax", "sparse_categorical_crossentropy"
        metric_names = ["accuracy"]

    model = build_model(x_train.shape[1], args.hidden, args.activation, args.dropout, output_units,
                        output_activation, x_train)
    optimizer = optimizers.get(args.optimizer)
    optimizer.learning_rate = args.lr
    model.compile(optimizer=optimizer, loss=loss, metrics=metric_names)
    if args.verbose:
        print(f"glassnet {glassnet.__version__}: training on '{args.dataset}' "
              f"({len(x_train)} train / {len(x_test)} test samples, {x_train.shape[1]} features)")
        model.summary()

    started = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_split=args.validation_split, verbose=args.verbose)
    seconds = time.perf_counter() - started

    results = model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)
    results["train_seconds"] = round(seconds, 3)
    say = print if args.verbose else (lambda *_, **__: None)  # --verbose 0 is silent (results go to files)
    say(f"\nTest results ({len(x_test)} samples): " + ", ".join(f"{k} = {v:.4f}" for k, v in results.items()
                                                                     if k != "train_seconds")
          + f"  (training took {seconds:.1f} s)")
    report = None
    if not regression:
        predictions = model.predict(x_test, batch_size=256, verbose=0)
        labels = (predictions[:, 0] >= 0.5).astype(int) if output_units == 1 else predictions.argmax(axis=1)
        report = metrics.classification_report(y_test.reshape(-1).astype(int), labels, digits=4)
        say("\nClassification report (test set):\n" + report)

    out = args.out or os.path.join("runs", f"{args.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")
    os.makedirs(out, exist_ok=True)
    model.save(os.path.join(out, "model.glassnet"))
    _write_history_csv(history.history, os.path.join(out, "history.csv"))
    settings = {k: v for k, v in vars(args).items() if k not in ("func", "command")}
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump({"test": results, "settings": settings, "classification_report": report}, f, indent=2)
    written = ["model.glassnet", "history.csv", "metrics.json"]
    try:
        from . import plot

        for key in ("loss", "accuracy", "mae"):
            if key in history.history:
                plot.plot_history(history, key, to_file=os.path.join(out, f"{key}.png"))
                written.append(f"{key}.png")
    except ImportError:
        say("(matplotlib is not installed: no curves drawn; pip install 'glassnet[plot]')")
    say(f"\nRun folder: {out}  ({', '.join(written)})")
    return results


def _write_history_csv(history: dict, path: str) -> None:
    keys = list(history)
    epochs = len(next(iter(history.values()))) if history else 0
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch"] + keys)
        for epoch in range(epochs):
            writer.writerow([epoch + 1] + [f"{history[k][epoch]:.6g}" for k in keys])


def run_lab(args, parser) -> int:
    from . import lab

    if args.lab_command == "list":
        for name, title, claim in lab.list_experiments():
            print(f"{name:<22} {title}\n{'':<22} {claim}")
        return 0
    if args.lab_command == "run":
        summaries = lab.run(args.name, quick=args.quick, seed=args.seed, out=args.out, data=args.data)
        if args.name == "all":
            print("\n".join(f"{name:<22} {'supported' if s['verdict']['supported'] else 'NOT supported'}"
                            for name, s in summaries.items()))
        return 0
    parser.parse_args(["lab", "--help"])
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from .errors import GlassnetError

    try:
        if args.command == "train":
            train(args)
        elif args.command == "lab":
            return run_lab(args, parser)
    except (GlassnetError, ImportError) as error:
        print(f"glassnet: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
