"""The lab's building blocks: an :class:`Experiment` states a claim and how to test it; a
:class:`LabRun` is one seeded run of it that collects numbers, tables and figures for the report.

An experiment declares::

    name        "perceptron"                       (the command-line name)
    title       "Perceptron and linear separability"
    claim       what deep-learning courses say
    criterion   which measured outcome supports the claim, and which refutes it
    parameters  defaults of the full run;   quick_parameters  overrides for --quick (< 60 s)

and implements ``run(lab) -> dict`` (the measured numbers) and ``verdict(results) -> (supported,
explanation)``, computed only from those numbers — never hard-coded.
"""

from __future__ import annotations

import time

import numpy as np

from .. import backend


class Experiment:
    """Base class of lab experiments (see the module docstring)."""

    name = ""
    title = ""
    claim = ""
    criterion = ""
    parameters: dict = {}
    quick_parameters: dict = {}
    uses_data = False  # True: accepts --data PATH (image files), falling back to the bundled digits
    one_blas_thread = False  # True: small matrices only — the run holds OpenBLAS to one thread (fastest)

    def settings(self, quick: bool, overrides: dict | None = None) -> dict:
        params = dict(self.parameters)
        if quick:
            params.update(self.quick_parameters)
        params.update(overrides or {})
        return params

    def run(self, lab: "LabRun") -> dict:
        raise NotImplementedError

    def verdict(self, results: dict) -> tuple:
        """``(supported: bool, explanation: str)`` from the measured ``results``."""
        raise NotImplementedError


class LabRun:
    """One run of an experiment: its parameters and seed, progress output, and the collected
    tables and figures (matplotlib Figures, saved as PNG by the report writer)."""

    def __init__(self, experiment: Experiment, params: dict, seed: int, quick: bool, data=None, verbose: int = 1):
        self.experiment = experiment
        self.params = params
        self.seed = int(seed)
        self.quick = bool(quick)
        self.data = data
        self.verbose = verbose
        self.tables: list = []
        self.figures: list = []
        self.notes: list = []
        self.started = time.perf_counter()
        backend.set_seed(self.seed)
        self.rng = np.random.default_rng(self.seed)

    def progress(self, message: str) -> None:
        """One line of progress (with the elapsed time)."""
        if self.verbose:
            elapsed = time.perf_counter() - self.started
            print(f"[{self.experiment.name} {elapsed:5.1f}s] {message}", flush=True)

    def table(self, title: str, columns: list, rows: list, caption: str = "") -> None:
        """A table for the report: ``rows`` are lists of values in ``columns`` order."""
        self.tables.append({"title": title, "columns": list(columns), "rows": [list(r) for r in rows],
                            "caption": caption})

    def figure(self, name: str, figure, caption: str = "") -> None:
        """A matplotlib Figure for the report, saved as ``<name>.png``."""
        self.figures.append({"name": name, "figure": figure, "caption": caption})

    def note(self, text: str) -> None:
        self.notes.append(text)

    def digits(self, limit=None, sample: bool = False) -> tuple:
        """The bundled digits, split with the run's seed, pixels scaled to [0, 1]:
        ``((x_train, y_train), (x_val, y_val))`` with at most ``limit`` training samples (:meth:`limit`)."""
        from .. import datasets

        (x_train, y_train), (x_val, y_val) = datasets.load_digits(return_split=True, seed=self.seed)
        return self.limit(x_train / 16.0, y_train, limit, sample), (x_val / 16.0, y_val)

    def limit(self, x, y, limit, sample: bool = False) -> tuple:
        """At most ``limit`` of the samples (None or 0: all): the first ones, or with ``sample=True`` a
        random subset drawn from the run's generator, kept in their original order."""
        if not limit or len(x) <= limit:
            return x, y
        if not sample:
            return x[:limit], y[:limit]
        keep = np.sort(self.rng.choice(len(x), size=limit, replace=False))
        return x[keep], y[keep]

    def reseed(self, offset: int = 0) -> None:
        """Reset glassnet's global generator to ``seed + offset`` (e.g. the same initial weights per arm)."""
        backend.set_seed(self.seed + offset)
