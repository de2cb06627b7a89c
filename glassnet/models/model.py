"""``Model``: a layer that can be trained — compile, fit, evaluate, predict, summary, save.

Subclass it and write ``call()`` (PyTorch/Keras subclassing), or use :class:`Sequential`.
One training step (``train_on_batch`` and each batch of ``fit``)::

    y_pred = model(x, training=True)
    loss   = compiled_loss(y, y_pred, sample_weight) + Σ model.losses   (regularization)
    loss.backward()
    optimizer.apply(gradients, trainable_weights)
"""

from __future__ import annotations

import copy
import json

import numpy as np

from .. import backend, checkpoint, losses as losses_module, metrics as metrics_module, optimizers
from ..callbacks import BackupAndRestore, CallbackList, History, ProgbarLogger
from ..errors import FileFormatError, GlassnetError, InputError, ShapeError
from ..layers.base import Layer
from ..tensor import Tensor, no_grad
from .. import training as data
from ..training import pythonify_logs, unpack_x_y_sample_weight
from .compile_utils import MultiOutputLoss, per_output

WHOLE_EPOCH_SHUFFLE_MAX_BYTES = 4 << 20
"""``fit(shuffle=True)`` copies a data set up to this size in shuffled order once per epoch (cheap; each
batch is then a view). A larger one is never copied whole: each batch's samples are gathered when the
batch is due (``x[order[batch]]``), which also leaves the batch in cache for its forward pass."""


def _map_compile_arg(fn, value, serialized: bool = False):
    """Apply ``fn`` to each loss/metric in a compile argument that may be one item, a list (of lists)
    or a dict keyed by output name. ``serialized``: a dict with 'class_name' is one serialized item."""
    if value is None:
        return None
    if isinstance(value, dict) and not (serialized and "class_name" in value):
        return {k: _map_compile_arg(fn, v, serialized) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_compile_arg(fn, v, serialized) for v in value]
    return fn(value)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _output_tracker(name: str, output_index: int):
    """The running mean of one output's loss."""
    tracker = metrics_module.Mean(name=name)
    tracker._output_index = output_index
    return tracker


def _metric_identifiers(metrics, names: list, what: str, weighted: bool) -> list:
    """``[(output index, identifier, weighted)]`` for a ``compile`` metrics argument: a list for every
    output, or per output (a dict by output name, or a list of lists / None)."""
    if isinstance(metrics, dict) or (len(names) > 1 and metrics and isinstance(metrics, (list, tuple))
                                     and all(isinstance(m, (list, tuple)) or m is None for m in metrics)):
        return [(k, m, weighted) for k, ms in enumerate(per_output(metrics, names, what)) for m in _as_list(ms)]
    return [(k, m, weighted) for k in range(len(names)) for m in _as_list(metrics)]


def _unique_log_name(name: str, prefix: str, weighted: bool, taken: set) -> str:
    """The name a metric is logged under (Keras 3): ``prefix + name``; a weighted metric whose name is
    taken becomes ``prefix + 'weighted_' + name``; a name still taken gets ``_1``, ``_2``, ..."""
    candidate = prefix + name
    if candidate in taken and weighted:
        candidate = f"{prefix}weighted_{name}"
    unique, index = candidate, 1
    while unique in taken:
        unique, index = f"{candidate}_{index}", index + 1
    taken.add(unique)
    return unique


def _metric_weights(sample_weight, mask):
    """A metric's per-sample (or per-step) weights: the sample weights, times the output's mask when it
    has one (padded steps count for nothing, as in the loss)."""
    if mask is None:
        return sample_weight
    mask = np.asarray(getattr(mask, "data", mask), dtype=np.float64)
    if sample_weight is None:
        return mask
    weights = np.asarray(sample_weight, dtype=np.float64)
    weights = weights.reshape(weights.shape + (1,) * (mask.ndim - weights.ndim)) if weights.ndim < mask.ndim \
        else weights
    return weights * mask


class Model(Layer):
    """Base class of trainable models (see module docstring).

    ``Model(inputs, outputs)`` builds a functional model (:class:`~glassnet.models.functional.Functional`);
    ``class MyModel(Model)`` with a ``call`` method builds a subclassed one.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and ("inputs" in kwargs or "outputs" in kwargs or len(args) >= 2):
            from .functional import Functional

            return object.__new__(Functional)
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.loss = None
        self.compiled_loss = None
        self._metric_identifiers = []
        self._metrics = None
        self._loss_tracker = None
        self._output_loss_trackers = []
        self._compile_config = None

    # ----------------------------------------------------------------- compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, steps_per_execution=None, jit_compile=None, auto_scale_loss=None):
        """Configure training: optimizer (name or object), loss (name, function or Loss), metrics.

        ``run_eagerly``, ``steps_per_execution``, ``jit_compile`` and ``auto_scale_loss`` are accepted
        for Keras compatibility and ignored (glassnet always runs eagerly on NumPy).
        """
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        names = self._output_names()
        if len(names) > 1:
            self.compiled_loss = MultiOutputLoss(loss, loss_weights, names) if loss is not None else None
            self._loss_scale = 1.0
        else:
            if isinstance(loss, (list, tuple)) and len(loss) == 1:
                loss = loss[0]
            if isinstance(loss_weights, (list, tuple)) and len(loss_weights) == 1:
                loss_weights = loss_weights[0]
            self.compiled_loss = losses_module.get(loss) if loss is not None else None
            self._loss_scale = 1.0 if loss_weights is None else float(loss_weights)
        # (output index, identifier, weighted): `metrics` ignore sample/class weights, `weighted_metrics`
        # use them (Keras); both respect the outputs' masks.
        self._metric_identifiers = (_metric_identifiers(metrics, names, "metrics", weighted=False)
                                    + _metric_identifiers(weighted_metrics, names, "weighted_metrics", weighted=True))
        for _, identifier, _ in self._metric_identifiers:  # unknown names fail here, not after a training step
            if isinstance(identifier, str):
                metrics_module.check_name(identifier)
        self._metrics = None
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._output_loss_trackers = []  # one per output that has a loss (an output with loss=None has none)
        if isinstance(self.compiled_loss, MultiOutputLoss):
            self._output_loss_trackers = [_output_tracker(f"{name}_loss", k) for k, (name, single) in
                                          enumerate(zip(names, self.compiled_loss.losses)) if single is not None]
        self.compiled = True
        self._compile_config = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights,
                                "weighted_metrics": weighted_metrics}

    def _require_compiled(self, what: str, custom_step: bool = False) -> None:
        """Compiled, and with a loss unless a custom step (which may compute its own) does the work."""
        if not self.compiled or (self.compiled_loss is None and not custom_step):
            raise GlassnetError(f"You must compile the model with a loss before calling {what}(): "
                                "model.compile(optimizer='adam', loss='mse').")

    def _output_names(self) -> list:
        """One name per model output (a single output needs no name)."""
        structure = getattr(self, "_output_structure", None)
        if isinstance(structure, dict):
            return list(structure)
        if isinstance(structure, list) and len(structure) > 1:
            names = [t.node.layer.name for t in structure]
            return names if len(set(names)) == len(names) else [f"output_{i}" for i in range(len(names))]
        return ["output"]

    @property
    def metrics_names(self) -> list:
        names = ["loss"]
        if self._metrics:
            names += [m.name for m in self._metrics]
        return names

    @property
    def metrics(self) -> list:
        trackers = [self._loss_tracker] if self._loss_tracker else []
        return trackers + list(self._output_loss_trackers) + list(self._metrics or [])

    def _resolve_metrics(self, y_true, y_pred) -> None:
        """Metric objects, chosen from the first batch's shapes; named ``<output>_<metric>`` with several outputs."""
        if self._metrics is not None:
            return
        multi = isinstance(self.compiled_loss, MultiOutputLoss)
        metrics, taken = [], {"loss"} | {t.name for t in self._output_loss_trackers}
        for k, identifier, weighted in self._metric_identifiers:
            loss = self.compiled_loss.losses[k] if multi else self.compiled_loss
            from_logits = bool(getattr(loss, "from_logits", False))
            targets, predictions = (y_true[k], y_pred[k]) if multi else (y_true, y_pred)
            metric = metrics_module.resolve(identifier, targets, predictions, from_logits=from_logits)
            prefix = f"{self.compiled_loss.names[k]}_" if multi else ""
            metric.name = _unique_log_name(metric.name, prefix, weighted, taken)
            metric._output_index, metric._weighted = k, weighted
            metrics.append(metric)
        self._metrics = metrics

    def reset_metrics(self) -> None:
        for metric in self.metrics:
            metric.reset_state()

    def _logs(self) -> dict:
        logs = {"loss": float(self._loss_tracker.result())}
        for tracker in self._output_loss_trackers:
            logs[tracker.name] = float(tracker.result())
        for metric in self._metrics or []:
            logs[metric.name] = float(metric.result())
        return logs

    # ----------------------------------------------------------------- building
    def build(self, input_shape=None) -> None:
        """Create the weights of a subclassed model's layers by running ``call`` once on zeros of
        ``input_shape`` (batch axis may be None), as Keras does; needed to load a saved model."""
        if input_shape is None:
            raise ValueError(f"Model '{self.name}': build() needs an input shape, e.g. model.build((None, 8)).")
        self.built = True
        self._build_input_shape = input_shape
        if type(self).call is Layer.call:
            return
        from ..layers.base import _CallContext, _zeros_for

        saved = (_CallContext.training, _CallContext.depth, _CallContext.losses)
        _CallContext.training, _CallContext.depth, _CallContext.losses = False, 0, []
        try:  # a private forward pass: nothing it records may reach an enclosing call
            with no_grad():
                self(_zeros_for(input_shape, self.dtype), training=False)
        finally:
            _CallContext.training, _CallContext.depth, _CallContext.losses = saved

    def _maybe_build(self, inputs) -> None:
        if type(self).build is Model.build:  # subclassed: the real forward pass that follows builds the layers
            from ..layers.base import _shapes_of

            self._build_input_shape = _shapes_of(inputs, batch_none=True)
            self.built = True
        else:
            super()._maybe_build(inputs)

    def _ensure_built(self, x) -> None:
        if not self.built:
            sample = data.map_structure(lambda a: a[:1], x)
            with no_grad():
                self(sample, training=False)

    # ----------------------------------------------------------------- data preparation
    def _target_dtype_is_int(self) -> bool:
        return isinstance(self.compiled_loss, getattr(losses_module, "SparseCategoricalCrossentropy", ()))

    def _prepare_x(self, x, name: str = "x"):
        if data.is_nested_number_list(x):  # [[0, 1], [1, 0]]: one array, not a list of inputs
            x = data.to_array(x, name, self.dtype)
        arrays = data.map_structure(lambda a: data.to_array(a, name, self.dtype), x)
        for array in data.flatten_structure(arrays):
            data.check_finite(array, name)
        return arrays

    def _prepare_y(self, y, name: str = "y"):
        if isinstance(self.compiled_loss, MultiOutputLoss):
            names = self.compiled_loss.names
            if isinstance(y, dict):
                missing = [n for n in names if n not in y]
                if missing:
                    raise InputError(f"{name} has no targets for outputs {missing} (keys: {sorted(y)}).")
                y = [y[n] for n in names]
            if not isinstance(y, (list, tuple)) or len(y) != len(names):
                raise InputError(f"The model has {len(names)} outputs ({', '.join(names)}): give {name} as a list "
                                 f"or dict of {len(names)} arrays.")
            return [self._prepare_y_array(v, f"{name}[{n!r}]") for v, n in zip(y, names)]
        return self._prepare_y_array(y, name)

    def _prepare_y_array(self, y, name: str):
        array = data.to_array(y, name, self.dtype, allow_int=True)
        if array.dtype.kind == "b":
            array = array.astype(self.dtype)
        if array.dtype.kind in "iu" and not self._target_dtype_is_int():
            array = array.astype(self.dtype)
        data.check_finite(array, name)
        return array

    def _prepare_sample_weight(self, sample_weight, name: str = "sample_weight"):
        """One array of weights, or (several outputs) a dict by output name / a list of arrays: one
        array (or None) per output, in output order."""
        if sample_weight is None:
            return None
        if isinstance(self.compiled_loss, MultiOutputLoss) and (
                isinstance(sample_weight, dict) or (isinstance(sample_weight, (list, tuple))
                                                    and not data.is_nested_number_list(sample_weight))):
            names = self.compiled_loss.names
            return [None if sw is None else self._prepare_sample_weight(sw, f"{name}[{output!r}]")
                    for output, sw in zip(names, per_output(sample_weight, names, name))]
        array = data.to_array(sample_weight, name, self.dtype)
        data.check_finite(array, name)
        if (array < 0).any():
            raise InputError(f"{name} must be non-negative, got a minimum of {array.min()}.")
        return array

    def _prepare(self, x, y, sample_weight=None, name_suffix: str = "", allow_missing_y: bool = False):
        """x, y and sample_weight checked and converted; y may be None only with ``allow_missing_y`` (a
        custom train_step/test_step that needs no targets)."""
        x = self._prepare_x(x, "x" + name_suffix)
        y = None if y is None and allow_missing_y else self._prepare_y(y, "y" + name_suffix)
        sw = self._prepare_sample_weight(sample_weight, "sample_weight" + name_suffix)
        named = {"x" + name_suffix: data.flatten_structure(x)[0]}
        if y is not None:
            named["y" + name_suffix] = data.flatten_structure(y)[0]
        for k, weights in enumerate(sw if isinstance(sw, list) else [sw]):
            if weights is not None:
                named[f"sample_weight{name_suffix}" + (f"[{k}]" if isinstance(sw, list) else "")] = weights
        data.check_lengths(named)
        return x, y, sw

    def _output_sample(self, x):
        """The model's output for the first sample of ``x`` (inference mode, no graph)."""
        with no_grad():
            return self(data.map_structure(lambda a: a[:1], x), training=False)

    def _with_class_weight(self, x, y, sample_weight, class_weight):
        """``sample_weight`` times ``class_weight[label]``; keys are checked against the output's classes."""
        if isinstance(self.compiled_loss, MultiOutputLoss):
            raise InputError("class_weight is only supported for models with one output (as in Keras); use "
                             "sample_weight for several outputs.")
        sample = self._output_sample(x)
        num_classes = None
        if isinstance(sample, Tensor) and sample.ndim >= 2:
            num_classes = max(int(sample.shape[-1]), 2)  # one sigmoid unit: classes 0 and 1
        weights = losses_module.class_weight_to_sample_weight(y, class_weight, num_classes=num_classes)
        return data.combine_weights(sample_weight, weights.astype(self.dtype))

    def _check_targets(self, x, y, name: str) -> None:
        """Run a built-in loss's target checks on all of ``y`` at once, against a dummy prediction of
        the model's output shape (custom losses are left to check their own targets)."""
        loss = self.compiled_loss
        if isinstance(loss, MultiOutputLoss):
            for k, (single, target) in enumerate(zip(loss.losses, y)):
                if single is not None and type(single).__module__ == losses_module.__name__:
                    self._check_target_array(single, x, target, f"{name}[{loss.names[k]!r}]", output_index=k)
            return
        if type(loss).__module__ != losses_module.__name__:
            return
        self._check_target_array(loss, x, y, name)

    def _check_target_array(self, loss, x, y, name: str, output_index=None) -> None:
        sample = self._output_sample(x)
        if output_index is not None:
            sample = data.flatten_structure(sample)[output_index]
        if not isinstance(sample, Tensor):
            return
        import warnings

        chunk = max(1, 2 ** 20 // max(1, int(np.prod(sample.shape[1:]))))
        with no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for start in range(0, len(y), chunk):
                yb = y[start:start + chunk]
                dummy = np.full((len(yb),) + tuple(sample.shape[1:]), 0.5, dtype=sample.dtype)
                try:
                    loss(yb, dummy)
                except (InputError, ShapeError) as error:  # indices in the message count from `start`
                    where = name if start == 0 else f"{name}[{start}:{start + len(yb)}]"
                    raise type(error)(f"{where}: {error}") from None

    # ----------------------------------------------------------------- one step
    def _forward_loss(self, x, y, sample_weight, training: bool):
        y_pred = self(x, training=training)
        if isinstance(self.compiled_loss, MultiOutputLoss):
            y_pred = data.flatten_structure(y_pred)
        return y_pred, self._loss_of(y, y_pred, sample_weight)

    def _loss_of(self, y, y_pred, sample_weight):
        """The compiled loss (times its weight) plus the activity and weight penalties of the last call."""
        loss = self.compiled_loss(y, y_pred, sample_weight=sample_weight)
        if self._loss_scale != 1.0:
            loss = loss * self._loss_scale
        extra = self._activity_losses + [w.regularizer(w) for w in self._regularized]
        for penalty in extra:
            loss = loss + penalty
        return loss

    # ----------------------------------------------------------------- steps a subclass may override (Keras)
    def train_step(self, data):
        """One optimization step on one batch; returns the logs (metric name → value). ``fit`` calls it
        for every batch when a subclass overrides it ("customizing what happens in fit"): ``data`` is
        ``(x, y)``, ``(x, y, sample_weight)``, or ``x`` alone when fit got no targets. An override writes
        the step PyTorch-style — ``self.zero_grad()``; ``y_pred = self(x, training=True)``;
        ``loss = self.compute_loss(y=y, y_pred=y_pred)``; ``loss.backward()``;
        ``self.optimizer.apply([w.grad for w in ws], ws)`` with ``ws = self.trainable_weights`` — and
        returns ``{m.name: m.result() for m in self.metrics}`` or its own dict."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        self._train_step(x, y, sample_weight, self._refresh_weight_lists())
        return self._logs()

    def test_step(self, data):
        """Loss and metrics on one batch in inference mode (``evaluate`` and fit's validation call it
        when a subclass overrides it); returns the logs."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred, loss = self._forward_loss(x, y, sample_weight, training=False)
        self._update_metrics(y, y_pred, loss, sample_weight)
        return self._logs()

    def predict_step(self, data):
        """The outputs for one batch (``predict`` calls it when a subclass overrides it)."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training: bool = True):
        """The compiled loss of ``y_pred`` against ``y``, plus the regularization penalties of the
        model's last call (a Tensor to call ``backward()`` on)."""
        self._require_compiled("compute_loss")
        if isinstance(self.compiled_loss, MultiOutputLoss):
            y_pred = data.flatten_structure(y_pred)
        self._regularized = [w for w in self.weights if w.regularizer is not None]
        return self._loss_of(y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None) -> dict:
        """Update the compiled metrics (not the loss) with one batch and return all current results."""
        self._update_compiled_metrics(y, y_pred, sample_weight)
        return self._logs()

    def get_metrics_result(self) -> dict:
        """The current value of every metric (the loss tracker included), as Python floats."""
        return self._logs()

    def _overrides(self, step: str) -> bool:
        """True when a subclass replaced ``train_step``, ``test_step`` or ``predict_step``."""
        return getattr(type(self), step) is not getattr(Model, step)

    def _train_step(self, x, y, sample_weight, trainable, gradient_hooks=None, step=None) -> None:
        y_pred, loss = self._forward_loss(x, y, sample_weight, training=True)
        if not trainable:  # everything frozen: the step only computes the loss and metrics (Keras warns too)
            import warnings

            warnings.warn(f"Model '{self.name}' does not have any trainable weights: fit computes its loss and "
                          "metrics but changes nothing. Set layer.trainable = True (and compile again) to train.",
                          stacklevel=3)
            self._update_metrics(y, y_pred, loss, sample_weight)
            return
        for w in trainable:
            w.grad = None
        loss.backward()
        pairs = [(w.grad, w) for w in trainable if w.grad is not None]
        if gradient_hooks is not None:  # a CallbackList, only when some callback implements the hook
            stopping = self.stop_training
            gradient_hooks.on_train_batch_gradients(step, {"loss": float(loss.data)})
            if self.stop_training and not stopping:  # a callback refused this update (e.g. non-finite)
                pairs = None
        if pairs is not None:
            self.optimizer.apply([g for g, _ in pairs], [w for _, w in pairs])
        self._update_metrics(y, y_pred, loss, sample_weight)

    def _update_metrics(self, y, y_pred, loss, sample_weight) -> None:
        multi = isinstance(self.compiled_loss, MultiOutputLoss)
        count = len(y[0]) if multi else len(y)
        self._loss_tracker.update_state(float(loss.data), sample_weight=count)
        if multi:
            for tracker in self._output_loss_trackers:
                tracker.update_state(self.compiled_loss.last_values[tracker._output_index], sample_weight=count)
        if self._metrics is None or self._metrics:  # [] once resolved: no metrics compiled
            self._update_compiled_metrics(y, y_pred, sample_weight)

    def _update_compiled_metrics(self, y, y_pred, sample_weight) -> None:
        if isinstance(self.compiled_loss, MultiOutputLoss):
            outputs = data.flatten_structure(y_pred)
            predictions = [p.data for p in outputs]
            self._resolve_metrics(y, predictions)
            targets = y
        else:
            outputs = [y_pred]
            predictions = [y_pred.data if isinstance(y_pred, Tensor) else y_pred]
            self._resolve_metrics(y, predictions[0])
            targets = [y]
        masks = [getattr(out, "_keras_mask", None) for out in outputs]
        for metric in self._metrics:
            k = metric._output_index
            own = sample_weight[k] if isinstance(sample_weight, list) else sample_weight  # per output, or one
            weights = _metric_weights(own if metric._weighted else None, masks[k])
            metric.update_state(targets[k], predictions[k], sample_weight=weights)

    def _resolve_metrics_for(self, x, y) -> None:
        """Create the metric objects now (normally done on the first batch), from the output shapes."""
        if self._metrics is not None:
            return
        sample = self._output_sample(x)
        targets = data.map_structure(lambda a: a[:1], y)
        if isinstance(self.compiled_loss, MultiOutputLoss):
            self._resolve_metrics(targets, [p.data for p in data.flatten_structure(sample)])
        else:
            self._resolve_metrics(targets, sample.data)

    def _refresh_weight_lists(self):
        weights = self.weights
        self._regularized = [w for w in weights if w.regularizer is not None]
        return [w for w in weights if w.requires_grad]

    # ----------------------------------------------------------------- fit
    def fit(self, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto", callbacks=None,
            validation_split: float = 0.0, validation_data=None, shuffle: bool = True, class_weight=None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq: int = 1, checkpoint_dir=None, checkpoint_every=None,
            resume: bool = False):
        """Train for ``epochs`` epochs on (x, y) in mini-batches; returns a :class:`History`.

        Logs per epoch: ``loss``, each metric, ``val_loss``/``val_<metric>`` when validating, and
        ``learning_rate``. All data checks happen before the first step.

        ``checkpoint_dir``: write a checkpoint (weights, optimizer state, random generators, position
        and data order — see :mod:`glassnet.checkpoint`) at every epoch end and, with
        ``checkpoint_every=n``, every ``n`` optimizer steps; ``resume=True`` continues from the latest
        one exactly (the same final weights as an uninterrupted run). Ctrl-C finishes the current step,
        writes a checkpoint if configured, and returns the History so far. A
        :class:`~glassnet.callbacks.BackupAndRestore` callback stands for ``checkpoint_dir=its backup_dir,
        resume=True`` (Keras' way of asking for the same).
        """
        custom_step = self._overrides("train_step")
        self._require_compiled("fit", custom_step)
        batch_size = data.check_batch_size(batch_size)
        backups = [c for c in callbacks or () if isinstance(c, BackupAndRestore)]
        if backups:
            if len(backups) > 1 or checkpoint_dir is not None:
                raise InputError("Give fit either checkpoint_dir=... or one BackupAndRestore callback: both name "
                                 "the folder training is backed up to and resumed from.")
            settings = backups[0].fit_arguments()
            checkpoint_dir, resume = settings["checkpoint_dir"], settings["resume"]
            checkpoint_every = settings["checkpoint_every"] if checkpoint_every is None else checkpoint_every
        if resume and checkpoint_dir is None:
            raise InputError("fit(resume=True) needs checkpoint_dir=... (the folder the checkpoints are in).")
        if checkpoint_every is not None and (isinstance(checkpoint_every, bool)
                                             or not isinstance(checkpoint_every, (int, np.integer))
                                             or checkpoint_every <= 0):
            raise InputError(f"checkpoint_every must be a positive number of steps, got {checkpoint_every!r}.")
        if y is None and not custom_step:
            raise InputError("fit() needs targets y (or a train_step of your own that does without them).")
        x, y, sample_weight = self._prepare(x, y, sample_weight, allow_missing_y=custom_step)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                received = (f"a {type(validation_data).__name__} of {len(validation_data)} items"
                            if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
                raise InputError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                                 f"got {received}.")
            x_val, y_val, sw_val = self._prepare(validation_data[0], validation_data[1],
                                                 validation_data[2] if len(validation_data) == 3 else None,
                                                 name_suffix="_val", allow_missing_y=self._overrides("test_step"))
            validation = (x_val, y_val, sw_val)
        elif validation_split:
            (x, y, sample_weight), (x_val, y_val, sw_val) = data.split_validation([x, y, sample_weight],
                                                                                 validation_split)
            validation = (x_val, y_val, sw_val)
        else:
            validation = None
        if validation is not None and validation[1] is None and not self._overrides("test_step"):
            raise InputError("Validation needs targets: give validation_data=(x_val, y_val), or write a test_step "
                             "of your own that does without them.")
        self._ensure_built(x)
        if class_weight is not None:  # after the split: class weights apply to training samples only (Keras)
            sample_weight = self._with_class_weight(x, y, sample_weight, class_weight)
        # Check every target now (labels in range, one-hot vs sparse...): a bad label in the last batch
        # or in the validation data must not stop training after work was done.
        if y is not None:
            self._check_targets(x, y, "y")
        if validation is not None and validation[1] is not None:
            self._check_targets(validation[0], validation[1], "y_val")
        n = len(data.flatten_structure(x if y is None else y)[0])
        steps = data.num_batches(n, batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, int(steps_per_epoch))
        verbose = 1 if verbose == "auto" else int(verbose)

        history = History()
        # Keras order: the progress bar first, the user's callbacks, then History (so it records any
        # values a callback adds to the epoch logs).
        callback_objects = ([ProgbarLogger(verbose)] if verbose else []) + list(callbacks or []) + [history]
        callback_list = CallbackList(callback_objects, model=self, epochs=epochs, steps=steps, verbose=verbose,
                                     batch_size=batch_size, samples=n)
        want_batch_logs = callback_list.wants("on_train_batch_end")
        want_batch_begin = callback_list.wants("on_train_batch_begin")
        gradient_hooks = callback_list if callback_list.wants("on_train_batch_gradients") else None
        self.stop_training = False
        self.history = history
        trainable = self._refresh_weight_lists()
        if custom_step and y is not None and self.compiled_loss is not None:
            self._resolve_metrics_for(x, y)  # so that self.metrics lists the compiled metrics from the start
        restored = None
        if resume and y is not None:
            self._resolve_metrics_for(x, y)  # the metric objects must exist to receive their running totals
            restored = checkpoint.load_checkpoint(self, checkpoint_dir)
            if restored is not None and restored.order is not None and (
                    len(restored.order) != n or not np.array_equal(np.sort(restored.order), np.arange(n))):
                raise FileFormatError(f"The checkpoint in {str(checkpoint_dir)!r} holds a sample order of "
                                      f"{len(restored.order)} entries that is not a permutation of the {n} "
                                      "training samples given to fit: was it written for other data?")
        rng = backend.rng()

        def save(epoch, next_step, order):
            checkpoint.save_checkpoint(self, checkpoint_dir, epoch, next_step, order,
                                       {"logs": history.history, "epochs": history.epoch})

        callback_list.on_train_begin()
        start_epoch = initial_epoch
        if restored is not None:
            start_epoch = restored.epoch
            history.history = {k: list(v) for k, v in restored.history.get("logs", {}).items()}
            history.epoch = list(restored.history.get("epochs", []))
        logs = {}
        data_bytes = sum(a.nbytes for a in data.flatten_structure((x, y, sample_weight)) if a is not None)
        with data.InterruptCatcher() as interrupt:
            for epoch in range(start_epoch, epochs):
                resuming = restored is not None and epoch == restored.epoch and restored.step > 0
                if resuming:
                    checkpoint.restore_metrics(self, restored.metric_states)
                else:
                    self.reset_metrics()
                callback_list.on_epoch_begin(epoch)
                order, gather = None, False  # gather: each batch's samples picked when due (large data)
                x_epoch, y_epoch, sw_epoch = x, y, sample_weight
                if shuffle:
                    order = restored.order if resuming and restored.order is not None else rng.permutation(n)
                    gather = data_bytes > WHOLE_EPOCH_SHUFFLE_MAX_BYTES
                    if not gather:
                        x_epoch = data.map_structure(lambda a: a[order], x)
                        y_epoch = None if y is None else data.map_structure(lambda a: a[order], y)
                        sw_epoch = data.take(sample_weight, order)
                for step in range(restored.step if resuming else 0, steps):
                    if want_batch_begin:
                        callback_list.on_train_batch_begin(step)
                    batch = slice(step * batch_size, (step + 1) * batch_size)
                    if gather:
                        batch = order[batch]
                    xb = data.map_structure(lambda a: a[batch], x_epoch)
                    yb = None if y_epoch is None else data.map_structure(lambda a: a[batch], y_epoch)
                    swb = data.take(sw_epoch, batch)
                    if custom_step:
                        step_logs = pythonify_logs(self.train_step(data.pack_x_y_sample_weight(xb, yb, swb)))
                    else:
                        self._train_step(xb, yb, swb, trainable, gradient_hooks, step)
                    if want_batch_logs:
                        callback_list.on_train_batch_end(step, dict(step_logs) if custom_step else self._logs())
                    if interrupt.requested:
                        if checkpoint_dir is not None:
                            save(epoch, step + 1, order)
                        self.stop_training = True
                        break
                    if checkpoint_every and self.optimizer.iterations % checkpoint_every == 0 and step + 1 < steps:
                        save(epoch, step + 1, order)
                    if self.stop_training:
                        break
                if interrupt.requested:  # the epoch is unfinished: no epoch-end logs for it
                    break
                logs = dict(step_logs) if custom_step else self._logs()
                if validation is not None and (epoch + 1) % validation_freq == 0:
                    callback_list.on_test_begin()
                    val_logs = self._evaluate_arrays(*validation, validation_batch_size or batch_size,
                                                     callback_list)
                    callback_list.on_test_end(val_logs)
                    logs.update({"val_" + k: v for k, v in val_logs.items()})
                logs["learning_rate"] = float(self.optimizer.learning_rate)
                callback_list.on_epoch_end(epoch, logs)
                if checkpoint_dir is not None:
                    save(epoch + 1, 0, None)
                if self.stop_training:
                    break
        callback_list.on_train_end(logs)
        if not interrupt.requested:
            for backup in backups:
                backup.training_completed()
        return history

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One gradient step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        x, y, sample_weight = self._prepare(x, y, sample_weight)
        self._ensure_built(x)
        if class_weight is not None:
            sample_weight = self._with_class_weight(x, y, sample_weight, class_weight)
        self.reset_metrics()
        self._train_step(x, y, sample_weight, self._refresh_weight_lists())
        return self._format_result(self._logs(), return_dict)

    # ----------------------------------------------------------------- evaluate / predict
    def _evaluate_arrays(self, x, y, sample_weight, batch_size, callbacks=None) -> dict:
        self._regularized = [w for w in self.weights if w.regularizer is not None]
        tracker = self._loss_tracker
        saved_metrics = self._metrics
        saved_output_trackers = self._output_loss_trackers
        # Evaluation uses fresh metric states so it never disturbs the running training metrics.
        self._loss_tracker = metrics_module.Mean(name="loss")
        self._output_loss_trackers = [_output_tracker(t.name, t._output_index) for t in saved_output_trackers]
        if saved_metrics is not None:
            self._metrics = [_fresh_copy(m) for m in saved_metrics]
        custom_step = self._overrides("test_step")
        logs = {}
        try:
            if custom_step:
                self.reset_metrics()  # metrics of the subclass's own (the compiled ones are fresh copies already)
            n = len(data.flatten_structure(x if y is None else y)[0])
            with no_grad():
                for step in range(data.num_batches(n, batch_size)):
                    batch = slice(step * batch_size, (step + 1) * batch_size)
                    xb = data.map_structure(lambda a: a[batch], x)
                    yb = None if y is None else data.map_structure(lambda a: a[batch], y)
                    swb = data.take(sample_weight, batch)
                    if callbacks is not None and callbacks.wants("on_test_batch_begin"):
                        callbacks.on_test_batch_begin(step)
                    if custom_step:
                        logs = pythonify_logs(self.test_step(data.pack_x_y_sample_weight(xb, yb, swb)))
                    else:
                        y_pred, loss = self._forward_loss(xb, yb, swb, training=False)
                        self._update_metrics(yb, y_pred, loss, swb)
                    if callbacks is not None and callbacks.wants("on_test_batch_end"):
                        callbacks.on_test_batch_end(step, dict(logs) if custom_step else self._logs())
            return logs if custom_step else self._logs()
        finally:
            evaluated_metrics = self._metrics
            self._loss_tracker = tracker
            self._output_loss_trackers = saved_output_trackers
            self._metrics = saved_metrics if saved_metrics is not None else None
            if saved_metrics is None and evaluated_metrics is not None:
                self._metrics = [_fresh_copy(m) for m in evaluated_metrics]

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict: bool = False):
        """Loss and metrics on (x, y), in inference mode. Returns a float, a list, or a dict."""
        custom_step = self._overrides("test_step")
        self._require_compiled("evaluate", custom_step)
        batch_size = data.check_batch_size(batch_size)
        x, y, sample_weight = self._prepare(x, y, sample_weight, allow_missing_y=custom_step)
        self._ensure_built(x)
        callback_list = CallbackList(list(callbacks or []), model=self)
        callback_list.on_test_begin()
        logs = self._evaluate_arrays(x, y, sample_weight, batch_size, callback_list)
        callback_list.on_test_end(logs)
        verbose = 1 if verbose == "auto" else int(verbose)
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()), flush=True)
        return self._format_result(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        x, y, sample_weight = self._prepare(x, y, sample_weight)
        self._ensure_built(x)
        logs = self._evaluate_arrays(x, y, sample_weight, len(data.flatten_structure(y)[0]))
        return self._format_result(logs, return_dict)

    @staticmethod
    def _format_result(logs: dict, return_dict: bool):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None) -> np.ndarray:
        """Outputs for ``x`` in inference mode, batch by batch, as a NumPy array."""
        batch_size = data.check_batch_size(batch_size)
        x = self._prepare_x(x)
        self._ensure_built(x)
        n = len(data.flatten_structure(x)[0])
        outputs = []
        custom_step = self._overrides("predict_step")
        with no_grad():
            for step in range(data.num_batches(n, batch_size)):
                batch = slice(step * batch_size, (step + 1) * batch_size)
                xb = data.map_structure(lambda a: a[batch], x)
                out = self.predict_step(data.pack_x_y_sample_weight(xb)) if custom_step else self(xb, training=False)
                outputs.append(data.map_structure(lambda t: np.asarray(getattr(t, "data", t)), out))
        return data.concatenate_structures(outputs)

    def predict_on_batch(self, x) -> np.ndarray:
        x = self._prepare_x(x)
        with no_grad():
            return data.map_structure(lambda t: t.data, self(x, training=False))

    # ----------------------------------------------------------------- inspection
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested: bool = False,
                show_trainable: bool = False) -> None:
        """Print the Keras-style table: layer (type), output shape, parameter count, then totals."""
        from ..summary import summary_text

        text = summary_text(self)
        (print_fn or print)(text)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        from ..errors import UnknownNameError

        raise UnknownNameError("layer", name, [layer.name for layer in layers])

    # ----------------------------------------------------------------- serialisation
    def to_json(self, **kwargs) -> str:
        """The model's architecture as JSON (no weights); rebuild with ``models.model_from_json``."""
        from .. import layers

        return json.dumps(layers.serialize(self), **kwargs)

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        if cls is Model and isinstance(config, dict) and {"layers", "nodes", "inputs", "outputs"} <= config.keys():
            from .functional import Functional  # Model.from_config(functional.get_config()), as in Keras

            return Functional.from_config(config, custom_objects)
        if cls.call is Layer.call:  # the bare Model class: nothing to run (a subclass's own class is needed)
            raise FileFormatError(f"Cannot rebuild a bare '{cls.__name__}' from a config: it has no call(). A "
                                  "subclassed model loads with its class: custom_objects={'MyModel': MyModel}.")
        return cls(**config)

    def get_compile_config(self):
        """The compile arguments as JSON-able values (losses/metrics may be per-output lists or dicts)."""
        if not self.compiled:
            return None
        from .. import losses as L, metrics as M

        return {"optimizer": optimizers.serialize(self.optimizer),
                "loss": _map_compile_arg(lambda v: v if isinstance(v, str) else L.serialize(v), self.loss),
                **{key: _map_compile_arg(lambda v: v if isinstance(v, str) else M.serialize(v),
                                         self._compile_config.get(key)) for key in ("metrics", "weighted_metrics")},
                "loss_weights": self._compile_config.get("loss_weights")}

    def compile_from_config(self, config, custom_objects=None) -> None:
        from .. import losses as L, metrics as M

        def loss_from(value):
            if isinstance(value, str):
                return L.get(value) if not custom_objects or value not in custom_objects else custom_objects[value]
            return L.deserialize(value, custom_objects)

        optimizer = optimizers.deserialize(config["optimizer"], custom_objects)
        loss = _map_compile_arg(loss_from, config.get("loss"), serialized=True)
        metrics, weighted_metrics = (
            _map_compile_arg(lambda m: m if isinstance(m, str) else M.deserialize(m, custom_objects),
                             config.get(key), serialized=True) for key in ("metrics", "weighted_metrics"))
        self.compile(optimizer=optimizer, loss=loss, metrics=metrics, loss_weights=config.get("loss_weights"),
                     weighted_metrics=weighted_metrics)

    def save(self, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Save architecture, weights and (if compiled) optimizer state to one ``.glassnet`` zip file."""
        from ..io import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        from ..io import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, allow_nonfinite: bool = False) -> None:
        from ..io import load_weights

        load_weights(self, filepath, allow_nonfinite=allow_nonfinite)


def _fresh_copy(metric):
    """An independent copy of ``metric`` with its state reset (works for metrics wrapping unregistered
    functions, which cannot go through get_config/from_config)."""
    clone = copy.deepcopy(metric)
    clone.reset_state()
    return clone
