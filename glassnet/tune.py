"""Hyperparameter search: random, grid, or Bayesian (Optuna) — in this process, in worker
processes, or as Ray tasks.

>>> def build(params):
...     model = glassnet.Sequential([glassnet.layers.Dense(params["units"], activation="relu"),
...                                  glassnet.layers.Dense(3)])
...     model.compile(optimizer=glassnet.optimizers.Adam(params["learning_rate"]),
...                   loss=glassnet.losses.SparseCategoricalCrossentropy(from_logits=True),
...                   metrics=["accuracy"])
...     return model
>>> result = glassnet.tune(build, {"units": [8, 32], "learning_rate": LogUniform(1e-4, 1e-1),
...                                "batch_size": [16, 64]}, (x, y), trials=20)
>>> result.best_params, result.best_value
>>> print(result.table())

**The search space** maps each name to a list of values (a choice), a single value (fixed), or a
distribution: :class:`Choice`, :class:`Uniform`, :class:`LogUniform`, :class:`IntRange`. Every
strategy accepts every kind, except that ``"grid"`` needs finite ones (lists, Choice, IntRange).

**What a trial does.** ``glassnet.set_seed(seed + trial_index)``, then
``model = build_fn(params)`` (a compiled model), then ``model.fit(x_train, y_train,
validation_data=(x_val, y_val), epochs=..., batch_size=..., verbose=0, **fit_kwargs)``. The trial's
metrics are the *last epoch's* logs (``loss``, ``val_loss``, ``val_accuracy``...) and its objective
is ``metrics[objective]``. Convention for training settings: ``params`` always go whole to
``build_fn``; in addition, the keys ``"epochs"`` and ``"batch_size"``, when present, override
``tune``'s ``epochs``/``batch_size`` for that trial's ``fit``. Everything else (learning rate,
optimizer, layer sizes...) is ``build_fn``'s job. A trial that raises, or whose objective is not a
finite number, is recorded with ``status="failed"`` and its error; the search goes on.

**Reproducibility.** The same ``seed`` gives the same trials (random and grid) and, because each
trial seeds glassnet itself, the same results — whichever backend ran them. Optuna's proposals are
reproducible with ``n_jobs=1`` (in parallel they depend on which trial finishes first).

**Parallel trials.** ``n_jobs > 1`` (``-1``: one per CPU) runs trials in worker processes of a
``concurrent.futures.ProcessPoolExecutor`` started with the ``"spawn"`` method (fresh interpreters:
safe with threads and on every OS). ``build_fn``, the data and ``fit_kwargs`` are pickled once per
worker, so ``build_fn`` must be picklable: a function defined at the top level of an importable
module (or of a script guarded by ``if __name__ == "__main__":``) — not a lambda, a nested function,
or a function typed into an interactive session. Each worker gets ``cpu_count // n_jobs`` BLAS
threads (unless ``OMP_NUM_THREADS`` & co. are already set) so the workers do not oversubscribe the
CPUs. ``backend="ray"`` runs the same trials as Ray tasks (at most ``n_jobs`` at a time, ``-1``:
no limit): on the cluster at ``ray_address`` or, when Ray is not initialised, on a local instance
started for the call and shut down after it. There ``build_fn`` is serialised with Ray's
cloudpickle, so lambdas and closures also work; glassnet must be installed on the Ray workers.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import pickle
import random as _py_random
import sys
import time
import traceback
import uuid
import warnings

import numpy as np

from . import backend as _backend
from .errors import InputError, UnknownNameError

__all__ = ["tune", "TuneResult", "Choice", "Uniform", "LogUniform", "IntRange"]

STRATEGIES = ("random", "grid", "optuna")
BACKENDS = ("local", "ray")


# ============================================================================ distributions
class Distribution:
    """Base class of the search-space distributions."""

    finite = False

    def sample(self, rng: np.random.Generator):
        raise NotImplementedError

    def values(self) -> list:
        raise InputError(f"{self!r} is continuous: grid search needs finite choices "
                         f"(a list, Choice or IntRange). Use strategy='random' or 'optuna'.")

    def suggest(self, trial, name: str):
        raise NotImplementedError

    def get_config(self) -> dict:
        return {"class_name": type(self).__name__, "config": dict(self.__dict__)}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__ == other.__dict__


class Choice(Distribution):
    """One of ``values``, each equally likely (a plain list in the space means the same)."""

    finite = True

    def __init__(self, values):
        values = list(values)
        if not values:
            raise InputError("Choice needs at least one value, got an empty list.")
        self.values_ = values

    def sample(self, rng):
        return self.values_[int(rng.integers(len(self.values_)))]

    def values(self) -> list:
        return list(self.values_)

    def suggest(self, trial, name):
        if all(v is None or isinstance(v, (bool, int, float, str)) for v in self.values_):
            return trial.suggest_categorical(name, self.values_)
        # Optuna stores only plain values: choose an index for anything else (tuples, objects...)
        return self.values_[trial.suggest_categorical(name, list(range(len(self.values_))))]

    def get_config(self):
        return {"class_name": "Choice", "config": {"values": [_jsonable(v) for v in self.values_]}}

    def __repr__(self):
        return f"Choice({self.values_!r})"


class Uniform(Distribution):
    """A float drawn uniformly from [low, high]."""

    def __init__(self, low: float, high: float):
        self.low, self.high = _bounds(self, low, high)

    def sample(self, rng):
        return float(rng.uniform(self.low, self.high))

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high)


class LogUniform(Distribution):
    """A float whose logarithm is uniform: ``exp(U(log low, log high))`` (for learning rates)."""

    def __init__(self, low: float, high: float):
        self.low, self.high = _bounds(self, low, high)
        if self.low <= 0:
            raise InputError(f"LogUniform needs 0 < low < high, got low={low!r}.")

    def sample(self, rng):
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high, log=True)


class IntRange(Distribution):
    """An integer in ``low, low + step, ..., high`` (both ends included, like Optuna's ``suggest_int``)."""

    finite = True

    def __init__(self, low: int, high: int, step: int = 1):
        if any(isinstance(v, bool) or int(v) != v for v in (low, high, step)):
            raise InputError(f"IntRange needs integers, got low={low!r}, high={high!r}, step={step!r}.")
        self.low, self.high, self.step = int(low), int(high), int(step)
        if self.step < 1 or self.low > self.high:
            raise InputError(f"IntRange needs low <= high and step >= 1, got low={low}, high={high}, step={step}.")

    def sample(self, rng):
        return self.low + self.step * int(rng.integers((self.high - self.low) // self.step + 1))

    def values(self) -> list:
        return list(range(self.low, self.high + 1, self.step))

    def suggest(self, trial, name):
        return trial.suggest_int(name, self.low, self.high, step=self.step)


def _bounds(dist, low, high):
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        raise InputError(f"{type(dist).__name__} needs numbers, got low={low!r}, high={high!r}.") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise InputError(f"{type(dist).__name__} needs finite low < high, got low={low}, high={high}.")
    return low, high


def _distribution(name: str, spec) -> Distribution:
    """A space entry → a Distribution: lists/tuples/ranges → Choice, a single value → Choice([value])."""
    if isinstance(spec, Distribution):
        return spec
    if isinstance(spec, (list, tuple, range)):
        if len(spec) == 0:
            raise InputError(f"The search space entry {name!r} is an empty list; give at least one value.")
        return Choice(spec)
    if isinstance(spec, (dict, set)):
        raise InputError(f"The search space entry {name!r} is a {type(spec).__name__}; give a list of values or "
                         f"a Choice/Uniform/LogUniform/IntRange.")
    return Choice([spec])


def _space(space) -> dict:
    if not isinstance(space, dict) or not space:
        raise InputError(f"space must be a non-empty dict name → values or distribution, got {space!r}.")
    return {str(name): _distribution(str(name), spec) for name, spec in space.items()}


# ============================================================================ proposers
class _ListProposer:
    """Trials known in advance (grid and random search)."""

    def __init__(self, params_list: list):
        self.params_list, self.next_index = params_list, 0

    @property
    def total(self) -> int:
        return len(self.params_list)

    def ask(self):
        if self.next_index >= len(self.params_list):
            return None
        index = self.next_index
        self.next_index += 1
        return index, self.params_list[index]

    def tell(self, record: dict) -> None:
        pass


def _grid(space: dict, trials) -> list:
    axes = [dist.values() for dist in space.values()]
    size = math.prod(len(a) for a in axes)
    if trials is not None and trials < size:
        warnings.warn(f"The grid has {size} combinations; trials={trials} runs only the first {trials}.",
                      stacklevel=3)
    limit = size if trials is None else min(size, trials)
    names = list(space)
    return [dict(zip(names, combo)) for combo in itertools.islice(itertools.product(*axes), limit)]


def _random(space: dict, trials: int, seed: int) -> list:
    """``trials`` random draws. When every entry is finite, the draws are distinct combinations
    (at most all of them, in random order)."""
    rng = np.random.default_rng(seed)
    names = list(space)
    if all(dist.finite for dist in space.values()):
        axes = [dist.values() for dist in space.values()]
        sizes = [len(a) for a in axes]
        size = math.prod(sizes)
        count = min(trials, size)
        if size <= 1_000_000:
            flat = rng.permutation(size)[:count]
        else:  # huge grid: reject repeats
            seen, flat = set(), []
            while len(flat) < count:
                k = int(rng.integers(size))
                if k not in seen:
                    seen.add(k)
                    flat.append(k)
        out = []
        for k in flat:
            combo = np.unravel_index(int(k), sizes)
            out.append({n: axis[int(i)] for n, axis, i in zip(names, axes, combo)})
        return out
    return [{n: dist.sample(rng) for n, dist in space.items()} for _ in range(trials)]


class _OptunaProposer:
    """Bayesian search (Optuna's TPE sampler, seeded) through its ask-and-tell interface."""

    def __init__(self, space: dict, trials: int, seed: int, direction: str):
        optuna = _import_optuna()
        self.optuna, self.space, self.total = optuna, space, trials
        sampler = optuna.samplers.TPESampler(seed=seed)
        self.study = optuna.create_study(direction="minimize" if direction == "min" else "maximize", sampler=sampler)
        self.asked, self.open = 0, {}

    def ask(self):
        if self.asked >= self.total:
            return None
        trial = self.study.ask()
        params = {name: dist.suggest(trial, name) for name, dist in self.space.items()}
        index = self.asked
        self.asked += 1
        self.open[index] = trial
        return index, params

    def tell(self, record: dict) -> None:
        trial = self.open.pop(record["index"])
        if record["status"] == "ok":
            self.study.tell(trial, record["objective"])
        else:
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)


def _import_optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError("strategy='optuna' needs Optuna, which is not installed: pip install 'glassnet[tune]' "
                          "(or pip install optuna).") from None
    return optuna


# ============================================================================ one trial
def _jsonable(value):
    """Plain Python for JSON: NumPy scalars → numbers, tuples → lists, anything else → its repr."""
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


def _run_trial(build_fn, params: dict, data: tuple, index: int, settings: dict) -> dict:
    """Seed, build, fit, and read the last epoch's logs. Never raises (except KeyboardInterrupt):
    a failure is returned as ``status="failed"`` with the error."""
    from .layers.base import clear_session

    record = {"index": index, "params": params, "status": "ok", "objective": None, "metrics": {},
              "history": {}, "duration": 0.0, "error": None}
    start = time.perf_counter()
    try:
        _backend.set_seed(settings["seed"] + index)
        clear_session()
        model = build_fn(dict(params))
        if not hasattr(model, "fit"):
            raise InputError(f"build_fn must return a compiled model, it returned {type(model).__name__}.")
        x_train, y_train, x_val, y_val = data
        fit_args = {"epochs": settings["epochs"], "batch_size": settings["batch_size"], "verbose": 0,
                    "validation_data": (x_val, y_val)}
        fit_args.update({k: params[k] for k in ("epochs", "batch_size") if k in params})
        fit_args.update(settings["fit_kwargs"])
        history = model.fit(x_train, y_train, **fit_args)
        logs = getattr(history, "history", history) or {}
        record["history"] = {k: [float(v) for v in values] for k, values in logs.items()}
        record["metrics"] = {k: values[-1] for k, values in record["history"].items() if values}
        objective = settings["objective"]
        if objective not in record["metrics"]:
            raise InputError(f"The objective {objective!r} is not in the training logs; they hold "
                             f"{sorted(record['metrics'])}. Pass objective= one of those (validation metrics "
                             f"are 'val_' + the name given to compile()).")
        value = record["metrics"][objective]
        record["objective"] = value
        if not math.isfinite(value):
            record["status"] = "failed"
            record["error"] = f"the objective {objective} is {value} (training diverged)"
    except Exception as exc:  # recorded, not fatal
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc(limit=8)
    record["duration"] = time.perf_counter() - start
    record["params"] = {k: _jsonable(v) if isinstance(v, np.generic) else v for k, v in params.items()}
    return record


# ============================================================================ executors
class _InlineExecutor:
    """n_jobs=1: trials run here, one after another; glassnet's random state is restored afterwards."""

    def __init__(self, build_fn, data, settings):
        self.build_fn, self.data, self.settings, self.done = build_fn, data, settings, []
        self.saved = (_backend.get_rng_state(), np.random.get_state(), _py_random.getstate())

    def submit(self, index, params):
        self.done.append(_run_trial(self.build_fn, params, self.data, index, self.settings))

    def wait_one(self):
        return self.done.pop(0)

    def close(self):
        rng_state, np_state, py_state = self.saved
        _backend.set_rng_state(rng_state)
        np.random.set_state(np_state)
        _py_random.setstate(py_state)


_WORKER: dict = {}


def _init_worker(build_fn, data, settings):
    _WORKER.update(build_fn=build_fn, data=data, settings=settings)


def _worker_trial(index, params):
    return _run_trial(_WORKER["build_fn"], params, _WORKER["data"], index, _WORKER["settings"])


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                     "NUMEXPR_NUM_THREADS")


@contextlib.contextmanager
def _worker_threads(n_jobs: int):
    """Limit BLAS threads in the workers we spawn (they inherit the environment), unless the user did."""
    if any(v in os.environ for v in _THREAD_VARIABLES):
        yield
        return
    threads = str(max(1, (os.cpu_count() or 1) // n_jobs))
    for v in _THREAD_VARIABLES:
        os.environ[v] = threads
    try:
        yield
    finally:
        for v in _THREAD_VARIABLES:
            os.environ.pop(v, None)


def _check_picklable(what: str, obj, hint: str) -> None:
    try:
        pickle.dumps(obj)
    except Exception as exc:
        raise InputError(f"{what} cannot be sent to worker processes ({type(exc).__name__}: {exc}). {hint}") from None


class _ProcessExecutor:
    def __init__(self, build_fn, data, settings, n_jobs: int, context: str):
        _check_picklable("build_fn", build_fn, "With n_jobs > 1 it must be picklable: define it at the top level of a "
                         "module (not a lambda, a nested function or in an interactive session), or use n_jobs=1.")
        _check_picklable("fit_kwargs", settings["fit_kwargs"], "Pass picklable callbacks, or use n_jobs=1.")
        self.threads = _worker_threads(n_jobs)
        self.threads.__enter__()
        try:
            self.pool = futures.ProcessPoolExecutor(
                max_workers=n_jobs, mp_context=multiprocessing.get_context(context), initializer=_init_worker,
                initargs=(build_fn, data, settings))
        except BaseException:
            self.threads.__exit__(None, None, None)
            raise
        self.pending = {}

    def submit(self, index, params):
        self.pending[self.pool.submit(_worker_trial, index, params)] = (index, params)

    def wait_one(self):
        done, _ = futures.wait(list(self.pending), return_when=futures.FIRST_COMPLETED)
        future = min(done, key=lambda f: self.pending[f][0])
        index, params = self.pending.pop(future)
        try:
            return future.result()
        except Exception as exc:  # the worker died (out of memory, killed...) or could not start
            return _failed(index, params, exc)

    def close(self):
        try:
            self.pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self.threads.__exit__(None, None, None)


def _failed(index, params, exc) -> dict:
    return {"index": index, "params": params, "status": "failed", "objective": None, "metrics": {}, "history": {},
            "duration": 0.0, "error": f"{type(exc).__name__}: {exc}"}


_RAY_CACHE: dict = {}


def _ray_trial(blob: bytes, key: str, driver_path: list, index: int, params: dict) -> dict:
    """A Ray task: unpickle (build_fn, data, settings) once per worker process, then run a trial.
    The driver's sys.path is added first so that build_fn's module imports as it did there."""
    if key not in _RAY_CACHE:
        for entry in driver_path:
            if entry not in sys.path and os.path.isdir(entry or "."):
                sys.path.append(entry)
        from ray import cloudpickle

        _RAY_CACHE.clear()
        _RAY_CACHE[key] = cloudpickle.loads(blob)
    build_fn, data, settings = _RAY_CACHE[key]
    return _run_trial(build_fn, params, data, index, settings)


class _RayExecutor:
    def __init__(self, build_fn, data, settings, ray_address, n_jobs: int | None, verbose: int):
        try:
            import ray
            from ray import cloudpickle
        except ImportError:
            raise ImportError("backend='ray' needs Ray, which is not installed: pip install 'glassnet[ray]' "
                              "(or pip install ray).") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            import logging

            options = {"include_dashboard": False, "log_to_driver": verbose >= 2,
                       "logging_level": logging.WARNING if verbose >= 2 else logging.ERROR}
            if ray_address is not None:
                ray.init(address=ray_address, **options)
            else:
                ray.init(num_cpus=n_jobs, **options)
        elif ray_address is not None and verbose:
            print(f"[tune] Ray is already initialised; using it rather than ray_address={ray_address!r}.")
        blob = cloudpickle.dumps((build_fn, data, settings))
        self.blob = ray.put(blob)
        self.key = uuid.uuid4().hex
        self.path = list(sys.path)
        self.task = ray.remote(num_cpus=1, max_retries=0)(_ray_trial)
        self.pending = {}

    def submit(self, index, params):
        ref = self.task.remote(self.blob, self.key, self.path, index, params)
        self.pending[ref] = (index, params)

    def wait_one(self):
        done, _ = self.ray.wait(list(self.pending), num_returns=1)
        ref = done[0]
        index, params = self.pending.pop(ref)
        try:
            return self.ray.get(ref)
        except Exception as exc:  # the task's worker crashed
            return _failed(index, params, exc)

    def close(self):
        for ref in self.pending:
            self.ray.cancel(ref, force=True)
        self.pending.clear()
        if self.started:
            self.ray.shutdown()


# ============================================================================ the result
class TuneResult:
    """What :func:`tune` found.

    trials: one dict per trial, in trial order: ``index``, ``params``, ``objective`` (the value of
        the objective metric after the last epoch, or None), ``metrics`` (every last-epoch log),
        ``history`` (every log per epoch), ``duration`` (seconds), ``status`` ('ok' or 'failed') and
        ``error`` (a one-line message, or None; failed trials also carry a ``traceback``).
    best_trial / best_params / best_value / best_index: of the best 'ok' trial (None if every trial failed).
    objective, direction ('min' or 'max'), strategy, backend, seed, space: how the search ran.
    """

    def __init__(self, trials: list, objective: str, direction: str, strategy: str = "random",
                 backend: str = "local", seed: int = 0, space: dict | None = None):
        self.trials = sorted(trials, key=lambda t: t["index"])
        self.objective, self.direction, self.strategy = objective, direction, strategy
        self.backend, self.seed, self.space = backend, seed, dict(space or {})
        ok = [t for t in self.trials if t["status"] == "ok"]
        sign = 1.0 if direction == "min" else -1.0
        self.best_trial = min(ok, key=lambda t: (sign * t["objective"], t["index"])) if ok else None

    @property
    def best_params(self):
        return None if self.best_trial is None else dict(self.best_trial["params"])

    @property
    def best_value(self):
        return None if self.best_trial is None else self.best_trial["objective"]

    @property
    def best_index(self):
        return None if self.best_trial is None else self.best_trial["index"]

    @property
    def failed(self) -> list:
        return [t for t in self.trials if t["status"] != "ok"]

    def ranked(self) -> list:
        """The trials best first (failed ones last, in trial order)."""
        sign = 1.0 if self.direction == "min" else -1.0
        ok = sorted((t for t in self.trials if t["status"] == "ok"), key=lambda t: (sign * t["objective"], t["index"]))
        return ok + self.failed

    def __len__(self):
        return len(self.trials)

    def __repr__(self):
        best = "none" if self.best_trial is None else f"{self.best_value:.6g} with {self.best_params}"
        return (f"TuneResult({len(self.trials)} trials, {len(self.failed)} failed, {self.strategy} search, "
                f"best {self.objective} ({self.direction}) = {best})")

    # ------------------------------------------------------------------------ views
    def _param_names(self) -> list:
        names = list(self.space)
        for t in self.trials:
            names += [k for k in t["params"] if k not in names]
        return names

    def table(self, max_rows: int | None = None) -> str:
        """The trials as a text table, sorted by the objective (best first; failed trials last)."""
        names = self._param_names()
        header = ["rank", "trial", *names, self.objective, "time (s)", "status"]
        rows = []
        for rank, t in enumerate(self.ranked(), 1):
            ok = t["status"] == "ok"
            value = "" if t["objective"] is None else f"{t['objective']:.6g}"
            status = "ok" if ok else ("failed: " + (t["error"] or "")[:60])
            rows.append([str(rank) if ok else "-", str(t["index"]), *(_short(t["params"].get(n, "")) for n in names),
                         value, f"{t['duration']:.2f}", status])
        if max_rows is not None:
            rows = rows[:max_rows]
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        title = (f"{self.strategy} search, {len(self.trials)} trials, objective {self.objective} "
                 f"({'lower' if self.direction == 'min' else 'higher'} is better)")
        return "\n".join([title, line(header), line(["-" * w for w in widths]), *map(line, rows)])

    def to_dataframe(self):
        """A pandas DataFrame: one row per trial (trial order), the params, objective, every metric,
        duration, status and error."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("TuneResult.to_dataframe() needs pandas: pip install pandas.") from None
        names = self._param_names()
        rows = []
        for t in self.trials:
            row = {"trial": t["index"], **{n: t["params"].get(n) for n in names}, "objective": t["objective"]}
            for k, v in t["metrics"].items():
                row[k if k not in row else f"metric_{k}"] = v
            row.update(duration=t["duration"], status=t["status"], error=t["error"])
            rows.append(row)
        return pd.DataFrame(rows)

    def to_dict(self) -> dict:
        return {"objective": self.objective, "direction": self.direction, "strategy": self.strategy,
                "backend": self.backend, "seed": self.seed,
                "space": {k: v.get_config() for k, v in self.space.items()},
                "best_index": self.best_index, "best_params": _jsonable(self.best_params),
                "best_value": self.best_value,
                "trials": [_jsonable({k: v for k, v in t.items() if k != "traceback"}) for t in self.trials]}

    def to_json(self, path=None, indent: int = 2) -> str:
        """The whole search as JSON (values that are not plain JSON are written as their repr);
        also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=True)
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    @classmethod
    def from_json(cls, text_or_path) -> "TuneResult":
        """Read back what :meth:`to_json` wrote (a JSON string or a file path)."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            with open(text, encoding="utf-8") as f:
                text = f.read()
        d = json.loads(text)
        classes = {"Choice": lambda c: Choice(c["values"]), "Uniform": lambda c: Uniform(**c),
                   "LogUniform": lambda c: LogUniform(**c), "IntRange": lambda c: IntRange(**c)}
        space = {k: classes[v["class_name"]](v["config"]) for k, v in d.get("space", {}).items()}
        return cls(d["trials"], d["objective"], d["direction"], d.get("strategy", "random"),
                   d.get("backend", "local"), d.get("seed", 0), space)

    def plot(self, to_file=None, show: bool = False, title: str | None = None):
        """The objective of each trial with the best so far; when one or two parameters are numeric
        and vary, a second panel shows the objective against them. Returns the matplotlib Figure."""
        from .plot import _figure, _finish

        ok = [t for t in self.trials if t["status"] == "ok"]
        numeric = self._numeric_params(ok)
        panels = 2 if 1 <= len(numeric) <= 2 else 1
        fig = _figure(figsize=(6.0 * panels, 4.0))
        ax = fig.add_subplot(1, panels, 1)
        idx = np.array([t["index"] for t in ok], dtype=float)
        values = np.array([t["objective"] for t in ok], dtype=float)
        if ok:
            ax.scatter(idx, values, s=22, label="trial", zorder=3)
            best = np.minimum.accumulate(values) if self.direction == "min" else np.maximum.accumulate(values)
            ax.step(idx, best, where="post", color="C1", label="best so far")
            ax.scatter([self.best_index], [self.best_value], marker="*", s=160, color="C3", zorder=4, label="best")
        failed = [t["index"] for t in self.failed]
        if failed:
            for k, i in enumerate(failed):
                ax.axvline(i, color="0.75", linestyle=":", linewidth=1, label="failed" if k == 0 else None)
        ax.set_xlabel("trial")
        ax.set_ylabel(self.objective)
        ax.set_title(title or f"{self.strategy} search: {self.objective} ({self.direction})")
        ax.legend(loc="best", fontsize="small")
        if panels == 2:
            ax2 = fig.add_subplot(1, 2, 2)
            px = np.array([t["params"][numeric[0]] for t in ok], dtype=float)
            if len(numeric) == 1:
                ax2.scatter(px, values, s=22)
                ax2.scatter([self.best_params[numeric[0]]], [self.best_value], marker="*", s=160, color="C3")
                ax2.set_ylabel(self.objective)
            else:
                py = np.array([t["params"][numeric[1]] for t in ok], dtype=float)
                points = ax2.scatter(px, py, c=values, s=36, cmap="viridis_r" if self.direction == "min" else "viridis")
                fig.colorbar(points, ax=ax2, label=self.objective)
                ax2.scatter([self.best_params[numeric[0]]], [self.best_params[numeric[1]]], marker="*", s=200,
                            facecolor="none", edgecolor="C3", linewidths=1.5)
                ax2.set_ylabel(numeric[1])
                if self._log_scale(numeric[1], py):
                    ax2.set_yscale("log")
            ax2.set_xlabel(numeric[0])
            if self._log_scale(numeric[0], px):
                ax2.set_xscale("log")
            ax2.set_title(f"{self.objective} by parameter")
        return _finish(fig, to_file, show)

    def _numeric_params(self, ok: list) -> list:
        names = []
        for name in self._param_names():
            vals = [t["params"].get(name) for t in ok]
            if vals and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) \
                    and len(set(vals)) > 1:
                names.append(name)
        return names

    def _log_scale(self, name: str, values: np.ndarray) -> bool:
        if isinstance(self.space.get(name), LogUniform):
            return True
        return bool(values.size and values.min() > 0 and values.max() / values.min() >= 100)


def _short(value, width: int = 14) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[:width - 1] + "…"


# ============================================================================ direction
_LOWER_IS_BETTER = ("loss", "error", "crossentropy", "mse", "mae", "mape", "msle", "rmse", "hinge", "divergence",
                    "poisson", "cosh", "false_positives", "false_negatives", "perplexity")
_HIGHER_IS_BETTER = ("accuracy", "acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "score",
                     "true_positives", "true_negatives", "similarity", "specificity", "sensitivity")


def objective_direction(objective: str) -> str:
    """'min' for losses and errors, 'max' for accuracy/AUC/precision/recall/F1/IoU/R²...; raises
    if the name says neither."""
    base = str(objective).lower()
    base = base[4:] if base.startswith("val_") else base
    if any(word in base for word in _LOWER_IS_BETTER):
        return "min"
    if any(word in base for word in _HIGHER_IS_BETTER):
        return "max"
    raise InputError(f"Cannot tell whether the objective {objective!r} should be minimised or maximised; "
                     f"pass direction='min' or direction='max'.")


def _direction(direction, objective: str) -> str:
    if direction is None:
        return objective_direction(objective)
    key = str(direction).lower()
    aliases = {"min": "min", "minimize": "min", "minimise": "min", "max": "max", "maximize": "max",
               "maximise": "max"}
    if key not in aliases:
        raise UnknownNameError("direction", direction, ["min", "max", "minimize", "maximize"])
    return aliases[key]


# ============================================================================ data
def _split_data(data, validation_split: float, seed: int) -> tuple:
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 4):
        length = f" of length {len(data)}" if isinstance(data, (tuple, list)) else ""
        raise InputError(f"data must be (x_train, y_train, x_val, y_val) or (x, y), got {type(data).__name__}{length}.")
    if len(data) == 4:
        return tuple(data)
    x, y = data
    if not isinstance(x, np.ndarray):
        raise InputError("data=(x, y) can be split only when x is one array; for dict or list inputs pass "
                         "(x_train, y_train, x_val, y_val).")
    from .datasets.preprocessing import train_test_split

    y = np.asarray(y)
    stratify = None
    if y.ndim == 1 and y.dtype.kind in "iu" and len(y):
        counts = np.bincount(y - y.min())
        if counts[counts > 0].min() >= 2:
            stratify = y
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=validation_split, stratify=stratify, seed=seed)
    return x_train, y_train, x_val, y_val


# ============================================================================ tune()
def tune(build_fn, space: dict, data, strategy: str = "random", trials: int | None = None, n_jobs: int = 1,
         backend: str = "local", objective: str = "val_loss", direction: str | None = None, epochs: int = 10,
         batch_size: int | None = None, seed: int = 0, fit_kwargs: dict | None = None, ray_address: str | None = None,
         verbose: int = 1, validation_split: float = 0.2, mp_context: str = "spawn") -> TuneResult:
    """Search hyperparameters: call ``build_fn(params)`` for each trial, train, and keep the best.

    build_fn: ``params → compiled model`` (picklable when ``n_jobs > 1``, see the module docstring).
    space: name → list of values, single value, or :class:`Choice`/:class:`Uniform`/:class:`LogUniform`/
        :class:`IntRange`. ``"epochs"``/``"batch_size"`` entries also go to ``fit``.
    data: ``(x_train, y_train, x_val, y_val)``, or ``(x, y)`` split once (seeded, stratified for class
        labels) keeping ``validation_split`` for validation.
    strategy: ``"random"`` (distinct combinations when the space is finite), ``"grid"`` (every
        combination, in order), ``"optuna"`` (TPE, needs ``pip install 'glassnet[tune]'``).
    trials: how many trials; default 20 for random/optuna and the whole grid for grid (a smaller
        number runs the first combinations, with a warning).
    n_jobs: trials at a time (worker processes, or Ray tasks); ``-1`` = one per CPU. 1 = in this process.
    backend: ``"local"`` or ``"ray"`` (``ray_address`` to join a cluster; ``pip install 'glassnet[ray]'``).
    objective / direction: the last-epoch log to optimise; ``direction=None`` is 'min' for losses and
        errors and 'max' for accuracy, AUC, precision, recall...
    epochs, batch_size, fit_kwargs: passed to ``fit`` (``verbose=0`` and ``validation_data`` are set).
    seed: trial ``i`` runs after ``glassnet.set_seed(seed + i)``; random/optuna proposals use ``seed`` too.
    verbose: 0 silent, 1 one line per trial, 2 also Ray's logs.
    Returns a :class:`TuneResult`.
    """
    if not callable(build_fn):
        raise InputError(f"build_fn must be a function params → compiled model, got {type(build_fn).__name__}.")
    strategy_key = str(strategy).lower()
    if strategy_key not in STRATEGIES:
        raise UnknownNameError("search strategy", strategy, STRATEGIES)
    backend_key = str(backend).lower()
    if backend_key not in BACKENDS:
        raise UnknownNameError("tune backend", backend, BACKENDS)
    if trials is not None and (isinstance(trials, bool) or int(trials) != trials or trials < 1):
        raise InputError(f"trials must be a positive integer, got {trials!r}.")
    if isinstance(n_jobs, bool) or int(n_jobs) != n_jobs or n_jobs == 0 or n_jobs < -1:
        raise InputError(f"n_jobs must be a positive integer or -1 (one per CPU), got {n_jobs!r}.")
    unlimited = n_jobs == -1
    n_jobs = (os.cpu_count() or 1) if unlimited else int(n_jobs)
    if mp_context not in multiprocessing.get_all_start_methods():
        raise UnknownNameError("multiprocessing start method", mp_context, multiprocessing.get_all_start_methods())
    space = _space(space)
    direction = _direction(direction, objective)
    data = _split_data(data, validation_split, seed)
    if fit_kwargs is not None and not isinstance(fit_kwargs, dict):
        raise InputError(f"fit_kwargs must be a dict of fit() arguments, got {type(fit_kwargs).__name__}.")
    reserved = {"x", "y", "validation_data", "validation_split"} & set(fit_kwargs or {})
    if reserved:
        raise InputError(f"fit_kwargs may not set {sorted(reserved)}: tune() passes the data itself.")
    settings = {"objective": objective, "epochs": int(epochs), "batch_size": batch_size, "seed": int(seed),
                "fit_kwargs": dict(fit_kwargs or {})}

    quiet = contextlib.ExitStack()
    if strategy_key == "grid":
        proposer = _ListProposer(_grid(space, trials))
    elif strategy_key == "random":
        proposer = _ListProposer(_random(space, 20 if trials is None else int(trials), int(seed)))
    else:
        quiet.enter_context(_quiet_optuna())
        proposer = _OptunaProposer(space, 20 if trials is None else int(trials), int(seed), direction)

    records, best = [], None
    with quiet:
        if backend_key == "ray":
            executor = _RayExecutor(build_fn, data, settings, ray_address, None if unlimited else n_jobs, verbose)
            parallel = proposer.total if unlimited else n_jobs
        elif n_jobs > 1:
            parallel = min(n_jobs, proposer.total)
            executor = _ProcessExecutor(build_fn, data, settings, parallel, mp_context)
        else:
            executor, parallel = _InlineExecutor(build_fn, data, settings), 1
        try:
            pending = 0
            while True:
                while pending < parallel:
                    item = proposer.ask()
                    if item is None:
                        break
                    executor.submit(*item)
                    pending += 1
                if not pending:
                    break
                record = executor.wait_one()
                pending -= 1
                proposer.tell(record)
                records.append(record)
                if record["status"] == "ok" and (best is None or (record["objective"] < best if direction == "min"
                                                                  else record["objective"] > best)):
                    best = record["objective"]
                if verbose:
                    _report(record, len(records), proposer.total, objective, best)
        finally:
            executor.close()
    result = TuneResult(records, objective, direction, strategy_key, backend_key, int(seed), space)
    if result.best_trial is None and records:
        warnings.warn(f"Every trial failed; the first error: {result.trials[0]['error']}", stacklevel=2)
    return result


def _report(record: dict, done: int, total: int, objective: str, best) -> None:
    params = ", ".join(f"{k}={_short(v)}" for k, v in record["params"].items())
    if record["status"] == "ok":
        outcome = f"{objective}={record['objective']:.5g}"
    else:
        outcome = f"failed ({(record['error'] or '')[:80]})"
    best_text = "" if best is None else f"  best={best:.5g}"
    print(f"[tune] trial {record['index']} ({done}/{total})  {params}  → {outcome}  "
          f"({record['duration']:.1f} s){best_text}", flush=True)


@contextlib.contextmanager
def _quiet_optuna():
    optuna = _import_optuna()
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


# ``glassnet.tune`` is this function once exported; keep the distributions reachable from it too
# (glassnet.tune.Choice, glassnet.tune.LogUniform...), whichever of the module or the function it names.
for _name in ("Choice", "Uniform", "LogUniform", "IntRange", "TuneResult", "Distribution", "objective_direction"):
    setattr(tune, _name, globals()[_name])
del _name
