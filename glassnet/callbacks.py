"""Callbacks: objects whose hooks ``fit``/``evaluate``/``predict`` call at fixed points.

Hooks (all optional): on_train_begin/end, on_epoch_begin/end(epoch, logs),
on_train_batch_begin/end(batch, logs), on_test_begin/end, on_test_batch_begin/end,
on_predict_begin/end, on_predict_batch_begin/end, and glassnet's
on_train_batch_gradients(batch, logs) (after ``backward``, before the optimizer update — see
below). ``self.model`` is set before training and a callback may stop training with
``self.model.stop_training = True``. ``on_batch_begin/end`` are
Keras's old names of the train-batch hooks and still work.

Epoch logs hold ``loss``, each metric, ``val_*`` when validating, and ``learning_rate``.

=============================  ==================================================================
``History``                    ``history.history[key]`` — one value per epoch (fit adds it)
``ProgbarLogger``              the progress bar of ``verbose=1`` / the lines of ``verbose=2``
``EarlyStopping``              stop after ``patience`` epochs without improvement of ``monitor``
``ModelCheckpoint``            save the model (or weights) each epoch, or only when ``monitor`` improves
``BackupAndRestore``           exact resume after a crash: fit's ``checkpoint_dir`` + ``resume=True``, Keras-style
``LearningRateScheduler``      ``lr ← schedule(epoch, lr)`` at each epoch begin
``ReduceLROnPlateau``          ``lr ← max(lr·factor, min_lr)`` after ``patience`` epochs on a plateau
``CSVLogger``                  one CSV row per epoch
``TerminateOnNaN``             stop as soon as a batch loss is NaN or ±inf
``LambdaCallback``             hooks from plain functions
``TensorBoard``                event files (scalars, weight histograms) through ``tensorboardX``
=============================  ==================================================================

"Improvement" (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau) in ``mode='min'`` means
``value < best − min_delta``, in ``'max'`` ``value > best + min_delta``; ``'auto'`` chooses ``max`` for
accuracy-like metrics (accuracy, auc, precision, recall, f1, r2) and ``min`` for losses and errors.
"""

from __future__ import annotations

import csv
import inspect
import itertools
import math
import numbers
import os
import time
import warnings

import numpy as np

from .progbar import Progbar


class Callback:
    """Base class; override the hooks you need."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass  # Keras 2 name of on_train_batch_begin
    def on_batch_end(self, batch, logs=None): pass  # Keras 2 name of on_train_batch_end

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_train_batch_gradients(self, batch, logs=None):
        """glassnet only (``fit``): after ``loss.backward()``, before the optimizer update; every trainable
        weight holds its ``.grad``; ``logs = {'loss': float}``. Setting ``self.model.stop_training = True``
        here stops training WITHOUT applying this batch's update (diagnostics use it to refuse
        non-finite updates)."""

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


_HOOKS = [name for name in vars(Callback) if name.startswith("on_")]
_INDEXED = {name for name in _HOOKS if "batch" in name or "epoch" in name}  # hooks taking (index, logs)
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _overrides(callback, hook: str) -> bool:
    """True if ``callback`` does something in ``hook``: a subclass method, or a function set on the
    instance (LambdaCallback), or — for the train-batch hooks — their Keras 2 alias."""
    method = getattr(callback, hook, None)
    if method is None:
        return False
    if getattr(method, "__func__", method) is not vars(Callback)[hook]:
        return True
    return hook in _ALIASES and _overrides(callback, _ALIASES[hook])


class CallbackList:
    """Calls a hook on every callback that overrides it (skipping the no-op base methods)."""

    def __init__(self, callbacks=None, model=None, **params):
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if model is not None:
                callback.set_model(model)
            callback.set_params(params)
        self._active = {hook: [getattr(c, hook) for c in self.callbacks if _overrides(c, hook)]
                        for hook in _HOOKS}

    def wants(self, hook: str) -> bool:
        """True if some callback overrides ``hook`` (lets the loop skip building logs)."""
        return bool(self._active[hook])

    def _call(self, hook: str, *args):
        # Like Keras, every hook receives a logs dict ({} when the loop has none); batch hooks get it
        # as a keyword, so LambdaCallback functions written for Keras work unchanged.
        if hook in _INDEXED:
            index, logs = args[0], (args[1] if len(args) > 1 else None)
            logs = {} if logs is None else logs
            keyword = "batch" in hook
            for method in self._active[hook]:
                method(index, logs=logs) if keyword else method(index, logs)
        else:
            logs = {} if not args or args[0] is None else args[0]
            for method in self._active[hook]:
                method(logs)

    def __getattr__(self, hook):
        if hook in _HOOKS:
            return lambda *args: self._call(hook, *args)
        raise AttributeError(hook)


class History(Callback):
    """Records the epoch logs: ``history.history['loss']``, ``['val_accuracy']``... and ``history.epoch``."""

    def __init__(self):
        super().__init__()
        self.history: dict = {}
        self.epoch: list = []

    def on_train_begin(self, logs=None):
        self.epoch = []  # Keras keeps `history` across fits of the same model only per fit call
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress bar with the running loss and metrics (verbose 1),
    or one line per epoch (verbose 2)."""

    def __init__(self, verbose: int = 1):
        super().__init__()
        self.verbose = verbose
        self.progbar = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            print(f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}", flush=True)
        self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose)
        self._seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self.verbose == 1 and self.progbar is not None:
            if batch + 1 < (self.params.get("steps") or 0):
                self.progbar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.progbar is not None:
            self.progbar.update(self.params.get("steps") or self._seen, logs, finalize=True)


# ============================================================================ helpers
def _say(message: str) -> None:
    print(message, flush=True)


def _count(owner: str, name: str, value) -> int:
    """``value`` as an integer ≥ 0, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{owner}: {name} must be an integer >= 0, got {value!r}.")
    return int(value)


def _number(owner: str, name: str, value, minimum=None) -> float:
    """``value`` as a finite float (optionally ≥ minimum), or a clear error."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray)) or np.ndim(value) != 0:
        raise TypeError(f"{owner}: {name} must be a number, got {value!r} of type {type(value).__name__}.")
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{owner}: {name} must be a finite number{bound}, got {value}.")
    return value


def _scalar(value):
    """A log value as a float, or None when it is not a single number (strings, arrays)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)):
        return None
    if np.ndim(value) != 0:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


# Metric names whose larger values are better (mode='auto' maximises them); the rest are minimised.
_MAX_TOKENS = {"acc", "accuracy", "auc", "precision", "recall", "f1", "fbeta", "r2", "iou", "similarity"}
_MIN_TOKENS = {"loss", "error", "mse", "mae", "mape", "msle", "rmse", "crossentropy", "ce", "hinge", "logcosh",
               "kld", "divergence", "poisson", "huber"}


def _metric_direction(metric):
    """'max' / 'min' for a metric object, or None when it says nothing about its direction."""
    from . import metrics as M

    declared = getattr(metric, "direction", None) or getattr(metric, "_direction", None)  # Keras: "up"/"down"
    if declared in ("up", "max"):
        return "max"
    if declared in ("down", "min"):
        return "min"
    if isinstance(metric, (M.Accuracy, M.BinaryAccuracy, M.CategoricalAccuracy, M.SparseCategoricalAccuracy,
                           M.TopKCategoricalAccuracy, M.SparseTopKCategoricalAccuracy, M.Precision, M.Recall,
                           M.FBetaScore, M.AUC, M.R2Score)):
        return "max"
    if isinstance(metric, M.Mean) and type(metric).__module__ == M.__name__ and type(metric) is not M.MeanMetricWrapper:
        return "min"  # the loss tracker, errors and cross-entropies
    return None


def monitor_direction(monitor: str, model=None):
    """Whether ``monitor`` should be maximised (``'max'``) or minimised (``'min'``); None if unknown.

    ``val_`` is ignored; ``loss`` is minimised; a metric of the compiled model decides by its class
    (accuracy, precision, recall, F1, AUC, R² → max; errors, cross-entropies → min); otherwise the
    words of the name decide (``'val_top3_acc'`` → max, ``'val_mean_error'`` → min).
    """
    name = monitor.removeprefix("val_")
    if name == "loss":
        return "min"
    for metric in getattr(model, "metrics", None) or []:
        if getattr(metric, "name", None) == name:
            direction = _metric_direction(metric)
            if direction is not None:
                return direction
    tokens = set(name.lower().replace("-", "_").split("_"))
    if tokens & _MIN_TOKENS:
        return "min"
    if tokens & _MAX_TOKENS or "acc" in name.lower():  # Keras's own rule: 'acc' anywhere means maximise
        return "max"
    return None


def _check_learning_rate_settable(model, owner: str) -> None:
    """Fail at the start of training (not epochs later) if the optimizer's rate cannot be set."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(f"{owner} needs a compiled model whose optimizer has a learning_rate.")
    try:
        optimizer.learning_rate = optimizer.learning_rate  # a no-op for a float rate; refused for a schedule
    except TypeError as error:
        raise TypeError(f"{owner}: {error}") from None


# ============================================================================ monitoring
class MonitorCallback(Callback):
    """Base of the callbacks that watch one log value (``monitor``) and track its best value.

    ``mode``: ``'min'``, ``'max'`` or ``'auto'`` (:func:`monitor_direction`). A value improves on
    ``reference`` when ``value < reference − min_delta`` (min) or ``value > reference + min_delta``
    (max); NaN never improves; a reference of None is beaten by any number.
    """

    _fallback_direction = None  # what 'auto' uses for a name it cannot classify (None: raise)

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        owner = type(self).__name__
        if not isinstance(monitor, str):
            raise TypeError(f"{owner}: monitor must be the name of a log entry such as 'val_loss', got {monitor!r}.")
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{owner} mode {mode!r} is unknown, fallback to auto mode.", stacklevel=3)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = None if baseline is None else _number(owner, "baseline", baseline)
        self.min_delta = abs(_number(owner, "min_delta", min_delta))
        self.monitor_op = None  # np.less or np.greater once the direction is known

    def _set_monitor_op(self) -> None:
        direction = self.mode if self.mode != "auto" else monitor_direction(self.monitor, self.model)
        if direction is None:
            direction = self._fallback_direction
        if direction is None:
            raise ValueError(f"{type(self).__name__} received monitor={self.monitor!r} but cannot tell whether "
                             "it should be maximised or minimised. Pass mode='max' to keep the highest value or "
                             "mode='min' to keep the lowest.")
        self.monitor_op = np.greater if direction == "max" else np.less

    def _is_improvement(self, value, reference) -> bool:
        if self.monitor_op is None:
            self._set_monitor_op()
        value = float(value)
        if math.isnan(value):
            return False
        if reference is None:
            return True
        if self.monitor_op is np.greater:
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def _monitor_value(self, logs):
        """``logs[monitor]`` as a float, or None with a warning listing the keys that exist."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__} is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}", stacklevel=3)
            return None
        return float(value)


# ============================================================================ EarlyStopping
class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras 3 rules).

    At each epoch end (from ``start_from_epoch`` on): ``wait += 1``; an improvement on the best value
    (by more than ``min_delta``) records it and resets ``wait`` to 0 — unless ``baseline`` is set and
    not beaten; otherwise, once ``wait >= patience`` (and epoch > 0), training stops.
    ``restore_best_weights=True`` puts back the weights of the best epoch when training ends, whether
    this callback stopped it or not (the best epoch may not be the last).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, None, min_delta)
        self.patience = _count("EarlyStopping", "patience", patience)
        self.verbose = verbose
        self.baseline = None if baseline is None else _number("EarlyStopping", "baseline", baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = _count("EarlyStopping", "start_from_epoch", start_from_epoch)
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = 0  # an instance can be reused for several fits
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # nothing better seen yet: these are the best
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _say(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _say(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


# ============================================================================ ModelCheckpoint
class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save``) or its weights (``model.save_weights``) during training.

    ``filepath`` is a ``str.format`` template filled with ``epoch`` (1-based), any log key and, when
    saving every ``save_freq`` batches, ``batch`` (1-based): ``"ckpt-{epoch:02d}-{val_loss:.4f}.glassnet"``.
    ``save_best_only=True`` saves only when ``monitor`` improves on the best value so far (starting
    from ``initial_value_threshold`` if given), so a fixed filepath always holds the best model.
    Files are written atomically (temporary file, then rename): a crash never leaves half a file.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold, 0)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, numbers.Integral)
                                     or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: unrecognized save_freq {save_freq!r}; expected 'epoch' or a "
                             "positive number of batches.")
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        if save_freq != "epoch":  # only then does fit need to build logs after every batch
            self.on_train_batch_end = self._on_train_batch_end

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save_model(epoch, None, logs)

    def _on_train_batch_end(self, batch, logs=None):
        if batch <= self._last_batch_seen:  # a new epoch started
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            self._save_model(self._current_epoch, batch, logs)

    def _file_path(self, epoch, batch, logs) -> str:
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in fields:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(f"ModelCheckpoint could not fill the filepath {self.filepath!r}: there is no "
                           f"{error} in the logs. Available keys: {', '.join(fields)}.") from None
        except (ValueError, IndexError) as error:
            raise ValueError(f"ModelCheckpoint could not fill the filepath {self.filepath!r}: {error}.") from None

    def _should_save(self, epoch, logs, filepath) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                _say(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available; saving anyway. Available "
                          f"metrics are: {','.join(logs or {})}", stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _say(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {float(current):.5f}, "
                     f"saving model to {filepath}")
            self.best = float(current)
            return True
        if self.verbose > 0:
            _say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch, batch, logs) -> None:
        filepath = self._file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint: the filepath {filepath!r} is an existing directory; give a "
                                    "file name such as 'checkpoints/model-{epoch:02d}.glassnet'.")
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)


class BackupAndRestore(Callback):
    """Keras' fault-tolerance callback: ``fit(..., callbacks=[BackupAndRestore(backup_dir)])`` backs up the
    whole training state and, when a backup is there, continues from it exactly.

    It is ``fit(checkpoint_dir=backup_dir, checkpoint_every=save_freq, resume=True)`` (see
    :mod:`glassnet.checkpoint`: weights, optimizer state, every random generator, epoch and step, data
    order and running metrics), written at every epoch end and, with ``save_freq=n``, every ``n`` optimizer
    steps. When fit finishes (all epochs, or stopped by a callback such as EarlyStopping) the backup is
    deleted (``delete_checkpoint=True``, as Keras) so the next run starts afresh; after Ctrl-C or a crash it
    stays, to be resumed. ``ModelCheckpoint`` instead saves the model itself (with its optimizer state),
    for keeping the best or every epoch's model.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint: bool = True):
        super().__init__()
        if backup_dir is None or not os.fspath(backup_dir):
            raise ValueError("BackupAndRestore needs a backup_dir (a folder for the backup).")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, numbers.Integral)
                                     or save_freq < 1):
            raise ValueError(f"BackupAndRestore: unrecognized save_freq {save_freq!r}; expected 'epoch' or a "
                             "positive number of steps.")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = bool(delete_checkpoint)

    def fit_arguments(self) -> dict:
        """The fit arguments this callback stands for."""
        return {"checkpoint_dir": self.backup_dir, "resume": True,
                "checkpoint_every": None if self.save_freq == "epoch" else int(self.save_freq)}

    def training_completed(self) -> None:
        """Called by fit when it ran to its end (not interrupted): drop the backup."""
        from .checkpoint import checkpoint_path

        if self.delete_checkpoint and os.path.exists(checkpoint_path(self.backup_dir)):
            os.remove(checkpoint_path(self.backup_dir))


# ============================================================================ learning rate
def _takes_two_arguments(fn):
    """True if ``fn(a, b)`` is a valid call, False if only ``fn(a)`` is, None if unknown."""
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2


class LearningRateScheduler(Callback):
    """At each epoch begin, ``optimizer.learning_rate ← schedule(epoch, lr)`` (epoch 0-based, ``lr`` the
    current rate). ``schedule(epoch)`` works too — e.g. a :mod:`glassnet.schedules` object, or
    ``schedules.step_decay(0.01, 0.5, 10)``. The rate of each epoch is in ``history['learning_rate']``.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler needs a function schedule(epoch, lr) -> new lr, got "
                            f"{schedule!r}.")
        self.schedule = schedule
        self.verbose = verbose
        self._two_arguments = _takes_two_arguments(schedule)

    def _new_rate(self, epoch: int, lr: float) -> float:
        if self._two_arguments is None:  # signature unknown: try the (epoch, lr) form first, as Keras does
            try:
                value = self.schedule(epoch, lr)
            except TypeError:
                value = self.schedule(epoch)
        else:
            value = self.schedule(epoch, lr) if self._two_arguments else self.schedule(epoch)
        if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, np.generic)) \
                or np.ndim(value) != 0:
            raise ValueError(f"The output of the LearningRateScheduler schedule should be a float; at epoch {epoch} "
                             f"it returned {value!r}.")
        value = float(value)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"The LearningRateScheduler schedule returned the learning rate {value} at epoch "
                             f"{epoch}; it must be a finite number >= 0.")
        return value

    def on_train_begin(self, logs=None):
        _check_learning_rate_settable(self.model, "LearningRateScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        lr = self._new_rate(epoch, float(optimizer.learning_rate))
        optimizer.learning_rate = lr
        if self.verbose > 0:
            _say(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved (by ``min_delta``) for
    ``patience`` epochs: ``lr ← max(lr·factor, min_lr)``; then wait ``cooldown`` epochs before
    counting again. The rate never goes below ``min_lr``.
    """

    _fallback_direction = "min"  # Keras: anything but an accuracy is minimised

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, None, min_delta)
        factor = _number("ReduceLROnPlateau", "factor", factor)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        if factor < 0.0:
            raise ValueError(f"ReduceLROnPlateau needs a factor in [0, 1). Received factor={factor}")
        self.factor = factor
        self.patience = _count("ReduceLROnPlateau", "patience", patience)
        self.verbose = verbose
        self.cooldown = _count("ReduceLROnPlateau", "cooldown", cooldown)
        self.min_lr = _number("ReduceLROnPlateau", "min_lr", min_lr, minimum=0.0)
        self._reset()

    def _reset(self) -> None:
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()
        _check_learning_rate_settable(self.model, "ReduceLROnPlateau")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)  # the rate this epoch used
        current = self._monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > self.min_lr:
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        _say(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# ============================================================================ logging
def _csv_value(value):
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0):
        return "[" + ", ".join(map(str, np.asarray(value).ravel().tolist())) + "]"
    return value


class CSVLogger(Callback):
    """Write one row per epoch (``epoch`` 0-based, then the log keys in sorted order) to a CSV file.

    ``append=True`` continues an existing file under its header (which is written only once). If
    later epochs log new keys (validation every 2nd epoch), the file is rewritten with the wider
    header and ``NA`` in the earlier rows.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be a single character, got {separator!r}.")
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = bool(append)
        self.keys = None
        self.writer = None
        self.csv_file = None
        self.append_header = True

    def _read_rows(self) -> list:
        with open(self.filename, newline="", encoding="utf-8") as f:
            return list(csv.reader(f, delimiter=self.sep))

    def on_train_begin(self, logs=None):
        header = None
        if self.append and os.path.isfile(self.filename) and os.path.getsize(self.filename) > 0:
            rows = self._read_rows()
            header = rows[0] if rows else None
        self._close()
        folder = os.path.dirname(os.path.abspath(self.filename))
        os.makedirs(folder, exist_ok=True)
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self.keys = header[1:] if header and header[0] == "epoch" else None  # continue under the old header
        self.append_header = header is None
        self.writer = None

    def _widen(self, new_keys: list) -> None:
        """Rewrite the file with ``new_keys`` added to the header (``NA`` in the rows written before)."""
        self._close()
        rows = self._read_rows() if os.path.isfile(self.filename) else []
        self.keys = self.keys + new_keys
        if rows:
            rows = [["epoch"] + self.keys] + [row + ["NA"] * len(new_keys) for row in rows[1:]]
            with open(self.filename, "w", newline="", encoding="utf-8") as f:
                csv.writer(f, delimiter=self.sep).writerows(rows)
        self.csv_file = open(self.filename, "a", newline="", encoding="utf-8")
        self.append_header = not rows
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None or self.csv_file.closed:  # used outside fit's on_train_begin
            self.on_train_begin()
        if self.keys is None:
            self.keys = sorted(logs)
        new_keys = sorted(k for k in logs if k not in self.keys)
        if new_keys:
            self._widen(new_keys)
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys, delimiter=self.sep)
            if self.append_header:
                self.writer.writeheader()
                self.append_header = False
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def _close(self) -> None:
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None

    def on_train_end(self, logs=None):
        self._close()


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or ±inf (``raise_error=True``: raise RuntimeError
    instead, skipping the other callbacks' end-of-training hooks)."""

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                               "Terminating training immediately.")
        _say(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback made of plain functions, one per hook::

        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]),
                       on_train_batch_end=lambda batch, logs: ...,
                       on_test_end=lambda logs: ...)      # any other hook by keyword

    ``on_epoch_*(epoch, logs)``, ``on_train_*(logs)``, ``on_*_batch_*(batch, logs=...)`` (logs by keyword).
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        for name in kwargs:
            if name not in _HOOKS:
                from .errors import UnknownNameError

                raise UnknownNameError("callback hook", name, _HOOKS)
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end, "on_train_begin": on_train_begin,
                 "on_train_end": on_train_end, "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end, **kwargs}
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(f"LambdaCallback: {name} must be a function, got {fn!r}.")
            setattr(self, name, fn)


# ============================================================================ TensorBoard
_WRITER_IDS = itertools.count()


def _summary_writer_class():
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ImportError("The TensorBoard callback writes its event files with the tensorboardX package, which is "
                          "not installed: pip install 'glassnet[tensorboard]'") from None
    return SummaryWriter


def _weight_image(values: np.ndarray):
    """A weight as a grayscale (H, W, 1) image in [0, 1] (biases a 1×n strip, kernels wider than tall),
    or None for weights of more than two (non-unit) axes."""
    values = np.squeeze(values)
    if values.ndim == 1:
        values = values[None, :]
    elif values.ndim == 2:
        if values.shape[0] > values.shape[1]:
            values = values.T
    else:
        return None
    values = values.astype(np.float64)
    low, high = np.nanmin(values), np.nanmax(values)
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return np.nan_to_num(scaled)[:, :, None]


class TensorBoard(Callback):
    """Write TensorBoard event files (with ``tensorboardX``; ``tensorboard --logdir logs`` shows them).

    Keras's layout and tags: ``log_dir/train`` gets ``epoch_loss``, ``epoch_<metric>``,
    ``epoch_learning_rate`` at step = epoch; ``log_dir/validation`` gets the ``val_*`` values under the
    same tags (``epoch_loss``...), so TensorBoard draws train and validation on one chart.

    * ``histogram_freq=k``: a histogram of every weight (tag ``<weight path>/histogram``, e.g.
      ``dense/kernel/histogram``) every k epochs (epochs 0, k, 2k...).
    * ``update_freq``: ``'epoch'``, or ``'batch'``/an integer n: also ``batch_<key>`` every n batches.
    * ``write_graph=True``: the model's ``summary()`` table and JSON architecture as text (Text tab).
    * ``write_images=True``: each 1-D/2-D weight as a grayscale image.
    * ``write_steps_per_second=True``: ``epoch_steps_per_second``.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=False, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        self._writer_class = _summary_writer_class()
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = _count("TensorBoard", "histogram_freq", histogram_freq)
        self.write_graph = bool(write_graph)
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, numbers.Integral)
                                       or update_freq < 1):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive integer, got "
                             f"{update_freq!r}.")
        self.update_freq = update_freq
        if profile_batch not in (0, None, "0", (0, 0)):
            raise ValueError("TensorBoard: profiling is not available in glassnet (as with Keras's numpy and torch "
                             f"backends). Received profile_batch={profile_batch!r} (must be 0).")
        if embeddings_freq or embeddings_metadata:
            raise NotImplementedError("TensorBoard: the embedding projector (embeddings_freq, embeddings_metadata) "
                                      "is not supported by glassnet.")
        self._writers = {}
        self._training = False
        self._global_train_batch = 0
        self._epoch_start = (time.perf_counter(), 0)
        if update_freq != "epoch":  # only then does fit need to build logs after every batch
            self.on_train_batch_end = self._on_train_batch_end

    # ---------------------------------------------------------------- writers
    def _writer(self, which: str):
        """The SummaryWriter of ``log_dir/<which>`` ('train' or 'validation'), created on first use."""
        if which not in self._writers:
            suffix = f".{os.getpid()}.{next(_WRITER_IDS)}.glassnet"  # several writers in one second never collide
            self._writers[which] = self._writer_class(os.path.join(self.log_dir, which), filename_suffix=suffix)
        return self._writers[which]

    def _write_scalars(self, which: str, values: dict, prefix: str, step: int) -> None:
        writer = None
        for name, value in values.items():
            number = _scalar(value)
            if number is None:
                continue
            writer = writer or self._writer(which)
            writer.add_scalar(prefix + name, number, global_step=int(step))

    def _close_writers(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    # ---------------------------------------------------------------- hooks
    def on_train_begin(self, logs=None):
        self._training = True
        self._global_train_batch = 0
        if self.write_graph:
            self._write_model_description()

    def on_train_end(self, logs=None):
        self._training = False
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        self._epoch_start = (time.perf_counter(), int(getattr(optimizer, "iterations", 0) or 0))

    def _on_train_batch_end(self, batch, logs=None):
        self._global_train_batch += 1
        if self._global_train_batch % self.update_freq == 0:
            self._write_scalars("train", logs or {}, "batch_", self._global_train_batch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if "learning_rate" not in train and optimizer is not None and hasattr(optimizer, "learning_rate"):
            train["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second:
            start, iterations = self._epoch_start
            steps = int(getattr(optimizer, "iterations", 0) or 0) - iterations
            train["steps_per_second"] = steps / max(time.perf_counter() - start, 1e-12)
        self._write_scalars("train", train, "epoch_", epoch)
        self._write_scalars("validation", validation, "epoch_", epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._log_weights(epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if logs and optimizer is not None and hasattr(optimizer, "iterations"):
            step = int(optimizer.iterations)
            values = {f"evaluation_{name}_vs_iterations": value for name, value in logs.items()}
            self._write_scalars("validation", values, "", step)
        if not self._training:  # model.evaluate(callbacks=[tensorboard]): nothing else will close the files
            self._close_writers()

    # ---------------------------------------------------------------- weights and model
    def _log_weights(self, epoch: int) -> None:
        writer = self._writer("train")
        seen = set()
        for weight in self.model.weights:
            name = str(getattr(weight, "path", None) or getattr(weight, "name", "weight")).replace(":", "_")
            tag, n = name, 1
            while tag in seen:  # two weights with one path would merge into one chart
                tag, n = f"{name}_{n}", n + 1
            seen.add(tag)
            values = np.asarray(weight.data)
            finite = values[np.isfinite(values)]  # a diverged weight still shows its finite part
            if finite.size:
                writer.add_histogram(f"{tag}/histogram", finite.astype(np.float64), global_step=epoch)
            if self.write_images:
                image = _weight_image(values)
                if image is not None:
                    writer.add_image(f"{tag}/image", image, global_step=epoch, dataformats="HWC")

    def _write_model_description(self) -> None:
        writer = self._writer("train")
        lines = []
        try:
            self.model.summary(print_fn=lines.append)
        except Exception as error:  # an unbuilt model has no table yet; the graph is a nicety, not a failure
            lines = [f"(summary unavailable: {error})"]
        text = "\n".join("    " + line for line in "\n".join(lines).splitlines())  # preformatted in markdown
        writer.add_text("model/summary", text, global_step=0)
        try:
            writer.add_text("model/config", "    " + self.model.to_json(), global_step=0)
        except Exception as error:
            warnings.warn(f"TensorBoard: the model's architecture could not be written as JSON ({error}).",
                          stacklevel=2)


def __getattr__(name):
    """``glassnet.callbacks.GradientMonitor`` and ``NaNGuard`` live in glassnet.diagnostics (imported lazily:
    the diagnostics build on the callbacks)."""
    if name in ("GradientMonitor", "NaNGuard"):
        from . import diagnostics

        return getattr(diagnostics, name)
    raise AttributeError(f"module 'glassnet.callbacks' has no attribute {name!r}")
