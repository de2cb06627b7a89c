"""The lab: deep-learning course claims run as small seeded experiments, each writing a report.

    glassnet lab list
    glassnet lab run optimizers --quick --seed 0 --out runs/lab
    glassnet lab run all --quick

or from Python: ``glassnet.lab.run("optimizers", quick=True)``. Each run writes ``results.json``,
``report.md`` and a self-contained ``report.html`` into ``<out>/<experiment>/``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time

from ..blas import SINGLE_THREADED_BLAS
from ..errors import UnknownNameError
from .experiment import Experiment, LabRun
from .report import write_report

# name → module (in glassnet.lab.experiments) defining the Experiment subclass ``EXPERIMENT``
_MODULES = {
    "perceptron": "perceptron",
    "forward-backward": "forward_backward",
    "activations": "activations",
    "initializers": "initializers",
    "vanishing-gradients": "vanishing_gradients",
    "exploding-gradients": "exploding_gradients",
    "optimizers": "optimizers",
    "lr-schedules": "lr_schedules",
    "regularization": "regularization",
    "losses-outliers": "losses_outliers",
    "weighted-loss": "weighted_loss",
    "batch-size": "batch_size",
    "tuning": "tuning",
}


def names() -> list:
    """Every experiment name, in teaching order."""
    return list(_MODULES)


def get(name: str) -> Experiment:
    """The experiment called ``name`` (unknown names suggest the closest)."""
    if name not in _MODULES:
        raise UnknownNameError("lab experiment", name, list(_MODULES) + ["all"])
    module = importlib.import_module(f"{__name__}.experiments.{_MODULES[name]}")
    return module.EXPERIMENT


def list_experiments() -> list:
    """``[(name, title, claim), ...]`` for every experiment."""
    return [(name, get(name).title, get(name).claim) for name in names()]


def run(name: str, quick: bool = False, seed: int = 0, out: str | None = None, data=None, verbose: int = 1,
        **overrides) -> dict:
    """Run experiment ``name`` (or ``"all"``); write its report into ``out/<name>/``; return its
    summary (the contents of results.json) — or, for ``"all"``, a dict of summaries."""
    if name == "all":
        return {each: run(each, quick=quick, seed=seed, out=out, data=data, verbose=verbose) for each in names()}
    experiment = get(name)
    params = experiment.settings(quick, overrides)
    lab = LabRun(experiment, params, seed=seed, quick=quick, data=data if experiment.uses_data else None,
                 verbose=verbose)
    lab.progress(f"{experiment.title} ({'quick' if quick else 'full'} run, seed {seed})")
    started = time.perf_counter()
    with SINGLE_THREADED_BLAS if experiment.one_blas_thread else contextlib.nullcontext():
        results = experiment.run(lab)
    supported, explanation = experiment.verdict(results)
    duration = time.perf_counter() - started
    folder = os.path.join(out or os.path.join("runs", "lab"), name)
    summary = write_report(lab, results, supported, explanation, folder, duration)
    lab.progress(f"verdict: {'supported' if supported else 'NOT supported'} — {explanation}")
    lab.progress(f"report: {os.path.join(folder, 'report.html')}")
    return summary


__all__ = ["Experiment", "LabRun", "names", "get", "list_experiments", "run"]
