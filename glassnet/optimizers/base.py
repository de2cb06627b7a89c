"""The ``Optimizer`` base class: gradient clipping, decoupled weight decay, learning-rate
schedules, per-variable state ("slots"), constraints, and (de)serialisation of all of it.

A new optimizer only declares its slots and writes ``update_step`` (in-place NumPy on
``variable.data``), about twenty lines — see ``sgd.py`` or ``adam.py``. Optional hooks:
``prepare_step()`` (once per step, before the per-variable updates), ``state_scalars`` (names of
float attributes saved with the slots, e.g. Nadam's momentum product) and ``cycled_momentum`` (the
attribute a one-cycle schedule drives, e.g. ``"momentum"`` or ``"beta_1"``).

One step, for gradients g of variables w (Keras order):

1. clip: ``clipnorm`` (each g scaled by min(1, c/‖g‖)) or ``global_clipnorm`` (all g scaled by
   min(1, c/‖g‖_global)), then ``clipvalue`` (g clipped to [−v, v]);
2. momentum cycling: if the learning rate is a schedule with ``momentum(step)`` and
   ``cycle_momentum=True`` (``OneCycle``), ``setattr(self, cycled_momentum, schedule.momentum(t))``
   (PyTorch's ``OneCycleLR(cycle_momentum=True)``); then ``prepare_step()``;
3. decoupled weight decay: ``w −= lr·weight_decay·w``;
4. the optimizer's own ``update_step(g, w, lr)``;
5. ``iterations += 1``; constraints are applied to the updated weights.

The learning rate of step t (0-based ``iterations``) is ``learning_rate(t)`` for a schedule.
"""

from __future__ import annotations

import functools
import inspect
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import backend
from ..errors import UnknownNameError
from ..tensor import Tensor


def _is_parameter_iterable(obj) -> bool:
    if isinstance(obj, (str, bytes, dict)) or isinstance(obj, Tensor) or callable(obj):
        return False
    return hasattr(obj, "__iter__")


class Optimizer:
    """Base class. Arguments common to every optimizer (Keras names):

    learning_rate: float or schedule (a callable ``step -> lr`` with ``get_config``).
    weight_decay: decoupled decay factor (None/0 = off).
    clipnorm, clipvalue, global_clipnorm: gradient clipping (see module docstring).

    PyTorch style is accepted too: ``SGD(model.parameters(), lr=0.1)`` then ``opt.step()``.
    """

    default_learning_rate = 0.001
    #: attribute set to ``schedule.momentum(t)`` before each step when the schedule cycles momentum
    #: (SGD/RMSprop: "momentum", the Adam family: "beta_1"); None = this optimizer has nothing to cycle
    cycled_momentum = None
    #: names of float attributes that are optimizer state (saved by get_state, restored by set_state)
    state_scalars: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            cls.__init__ = _torch_positional_lr(init)

    def __init__(self, learning_rate=None, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, lr=None, **kwargs):
        if kwargs:
            bad = sorted(kwargs)[0]
            valid = [p for p in inspect.signature(type(self).__init__).parameters if p not in ("self", "kwargs")]
            valid += ["learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "name"]
            raise TypeError(str(UnknownNameError(f"argument to {type(self).__name__}", bad, valid)))
        self._params = None
        if learning_rate is not None and _is_parameter_iterable(learning_rate):
            self._params = list(learning_rate)
            learning_rate = None
        if learning_rate is None:
            learning_rate = lr if lr is not None else self.default_learning_rate
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError("Only one of clipnorm and global_clipnorm can be set (clipnorm clips each variable, "
                             "global_clipnorm the whole model).")
        for arg_name, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if value is not None and not float(value) > 0:
                raise ValueError(f"{arg_name} must be a positive number, got {value!r}.")
        self.name = name or type(self).__name__.lower()
        self.weight_decay = None if weight_decay in (None, 0, 0.0) else float(weight_decay)
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.clipvalue = None if clipvalue is None else float(clipvalue)
        self.global_clipnorm = None if global_clipnorm is None else float(global_clipnorm)
        self._check_momentum_cycling(learning_rate)
        self._learning_rate = learning_rate if callable(learning_rate) else float(learning_rate)
        self.iterations = 0
        self._variables: list = []
        self._index: dict = {}
        self._slots: dict = {name: [] for name in self.slot_names()}

    # ----------------------------------------------------------------- learning rate
    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule is evaluated at ``iterations``)."""
        if callable(self._learning_rate):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if callable(self._learning_rate) and not callable(value):
            raise TypeError("This optimizer's learning rate is a schedule; it cannot be set to a number. "
                            "Create the optimizer with a float learning rate to change it between epochs.")
        self._check_momentum_cycling(value)
        self._learning_rate = value if callable(value) else float(value)
        self._add_missing_slots()  # e.g. SGD(momentum=0) given a momentum-cycling schedule needs its buffer

    lr = learning_rate

    @property
    def cycles_momentum(self) -> bool:
        """True when the learning-rate schedule asks to drive this optimizer's momentum (or β1)."""
        return self.cycled_momentum is not None and _asks_momentum_cycling(self._learning_rate)

    def _check_momentum_cycling(self, schedule) -> None:
        if self.cycled_momentum is None and _asks_momentum_cycling(schedule):
            raise ValueError(f"{type(self).__name__} has no momentum or beta_1 for the schedule "
                             f"{type(schedule).__name__} to cycle; create the schedule with cycle_momentum=False.")

    def _cycle_momentum(self) -> None:
        if self.cycles_momentum:
            setattr(self, self.cycled_momentum, float(self._learning_rate.momentum(self.iterations)))

    def prepare_step(self) -> None:
        """Called once per step, after momentum cycling and before ``update_step`` of each variable
        (for state shared by all variables, e.g. Nadam's momentum product). Override if needed."""

    # ----------------------------------------------------------------- state
    def slot_names(self) -> tuple:
        """Names of the per-variable state arrays this optimizer keeps."""
        return ()

    def initial_slot_value(self, slot_name: str) -> float:
        return 0.0

    def build(self, variables) -> None:
        """Create state for variables not seen before (called automatically)."""
        for variable in variables:
            if id(variable) in self._index:
                continue
            self._index[id(variable)] = len(self._variables)
            self._variables.append(variable)
            for slot_name in self.slot_names():
                self._slots[slot_name].append(
                    np.full_like(variable.data, self.initial_slot_value(slot_name)))

    def _add_missing_slots(self) -> None:
        """Create (at their initial value) slots that ``slot_names()`` now lists but were not built."""
        for slot_name in self.slot_names():
            if slot_name not in self._slots:
                self._slots[slot_name] = [np.full_like(v.data, self.initial_slot_value(slot_name))
                                          for v in self._variables]

    def slot(self, slot_name: str, variable) -> np.ndarray:
        if type(variable) is _Piece:  # the matching piece of the slot (parallel updates)
            return self._slots[slot_name][self._index[id(variable.variable)]].reshape(-1)[variable.span]
        return self._slots[slot_name][self._index[id(variable)]]

    def scratch(self, variable, index: int = 0) -> np.ndarray:
        """Work array number ``index`` (0, 1, ...) shaped like ``variable``: each index is one buffer
        shared by all variables, never saved."""
        buffers = self.__dict__.setdefault("_scratch_buffers", {})
        if type(variable) is _Piece:  # each worker thread has its own buffers
            index = (threading.get_ident(), index)
        buffer = buffers.get(index)
        size = variable.data.size
        if buffer is None or buffer.size < size or buffer.dtype != variable.data.dtype:
            buffer = np.empty(max(size, buffer.size if buffer is not None else 0), dtype=variable.data.dtype)
            buffers[index] = buffer
        return buffer[:size].reshape(variable.data.shape)

    @property
    def variables(self) -> list:
        return list(self._variables)

    def get_state(self) -> dict:
        """``{"iterations": t, "slots": {name: [arrays in variable order]}, "scalars": {name: float}}``
        (for saving; ``scalars`` holds the attributes named by ``state_scalars``)."""
        return {"iterations": int(self.iterations),
                "slots": {name: [a.copy() for a in arrays] for name, arrays in self._slots.items()},
                "scalars": {name: float(getattr(self, name)) for name in self.state_scalars}}

    def set_state(self, state: dict, variables=None) -> None:
        """Restore what :meth:`get_state` returned; ``variables`` in the same order as when saved."""
        if variables is not None:
            self.build(variables)
        self.iterations = int(state.get("iterations", 0))
        for name, value in (state.get("scalars") or {}).items():
            if name in self.state_scalars:  # a missing scalar (older state) keeps its current value
                setattr(self, name, float(value))
        for name, arrays in state.get("slots", {}).items():
            if name not in self._slots:
                continue
            if len(arrays) != len(self._slots[name]):
                raise ValueError(f"Optimizer state has {len(arrays)} '{name}' slots but the optimizer tracks "
                                 f"{len(self._slots[name])} variables.")
            for target, value in zip(self._slots[name], arrays):
                if target.shape != np.shape(value):
                    raise ValueError(f"Optimizer slot '{name}' of shape {np.shape(value)} does not match the "
                                     f"variable shape {target.shape}.")
                target[...] = value

    # ----------------------------------------------------------------- stepping
    def step(self, params=None) -> None:
        """PyTorch-style update of ``params`` (or the ones given at construction) from their ``.grad``."""
        params = self._params if params is None else list(params)
        if params is None:
            raise ValueError("step() needs the parameters: optimizer.step(model.parameters()).")
        pairs = [(p.grad, p) for p in params if p.grad is not None]
        self.apply([g for g, _ in pairs], [p for _, p in pairs])

    def zero_grad(self, params=None) -> None:
        params = self._params if params is None else params
        for p in params or ():
            p.grad = None

    def apply_gradients(self, grads_and_vars) -> None:
        """Keras-style update from ``[(gradient, variable), ...]``."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        self.apply([g for g, _ in pairs], [v for _, v in pairs])

    def apply(self, grads, variables) -> None:
        """One optimization step (see the module docstring for the order of operations)."""
        variables = list(variables)
        if len(self._index) < len(variables) or any(id(v) not in self._index for v in variables):
            self.build(variables)
        learning_rate = self.learning_rate
        grads = [self._as_gradient(g, v) for g, v in zip(grads, variables)]
        grads = self.clip_gradients(grads)
        self._cycle_momentum()
        self.prepare_step()
        decay = learning_rate * self.weight_decay if self.weight_decay else 0.0
        self._update_all(grads, variables, learning_rate, decay)
        self.iterations += 1
        for v in variables:
            if getattr(v, "constraint", None) is not None:
                v.data[...] = v.constraint(v.data)

    def _update_all(self, grads, variables, learning_rate: float, decay: float) -> None:
        """Decay and ``update_step`` for every variable — split across threads for large models.

        Every update rule is element-wise, so the flattened parameters are cut into one contiguous
        range of elements per thread (pieces of variables); each element sees exactly the same
        operations as in one thread, so the result is bit-for-bit the same.
        """
        total = sum(v.data.size for v in variables)
        threads = min(backend.num_threads(), total // PARALLEL_MIN_ELEMENTS) if total >= 2 * PARALLEL_MIN_ELEMENTS else 1
        if threads < 2 or self.compiled_update() or any(not v.data.flags.c_contiguous for v in variables):
            _update_pieces(self, list(zip(grads, variables)), learning_rate, decay)
            return
        bounds = [total * k // threads for k in range(threads + 1)]
        work = [[] for _ in range(threads)]
        offset = 0
        for g, v in zip(grads, variables):
            size = v.data.size
            flat_g = g.reshape(-1)
            for k in range(threads):
                start, stop = max(bounds[k], offset), min(bounds[k + 1], offset + size)
                if start < stop:
                    piece = _Piece(v, start - offset, stop - offset)
                    work[k].append((flat_g[piece.span], piece))
            offset += size
        pool = _thread_pool(threads - 1)
        futures = [pool.submit(_update_pieces, self, pieces, learning_rate, decay) for pieces in work[1:]]
        _update_pieces(self, work[0], learning_rate, decay)
        for future in futures:
            future.result()

    def compiled_update(self) -> bool:
        """True when ``update_step`` runs as one compiled pass (:mod:`glassnet.accel`): it is then cheaper
        than handing half of it to another thread (MLP benchmark, Adam: 0.28 ms on one thread, 0.57 ms
        split in two)."""
        return False

    @staticmethod
    def _as_gradient(g, variable) -> np.ndarray:
        g = g.data if isinstance(g, Tensor) else np.asarray(g)
        if g.dtype != variable.data.dtype:
            g = g.astype(variable.data.dtype)
        if g.shape != variable.data.shape:
            raise ValueError(f"Gradient of shape {g.shape} does not match variable "
                             f"{getattr(variable, 'path', '')!r} of shape {variable.data.shape}.")
        return g

    def clip_gradients(self, grads: list) -> list:
        """Apply clipnorm / global_clipnorm, then clipvalue. Returns new arrays (inputs untouched)."""
        if self.clipnorm is not None:
            clipped = []
            for g in grads:
                norm = math.sqrt(float(np.dot(g.ravel(), g.ravel())))
                clipped.append(g * (self.clipnorm / norm) if norm > self.clipnorm else g)
            grads = clipped
        elif self.global_clipnorm is not None:
            norm = global_norm(grads)
            if norm > self.global_clipnorm:
                scale = self.global_clipnorm / norm
                grads = [g * scale for g in grads]
        if self.clipvalue is not None:
            grads = [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def update_step(self, gradient: np.ndarray, variable, learning_rate: float) -> None:
        """Update ``variable.data`` in place from ``gradient``. Override."""
        raise NotImplementedError

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict:
        from .. import saving

        lr = self._learning_rate
        return {"name": self.name,
                "learning_rate": saving.serialize(lr, _schedules_registry()) if callable(lr) else lr,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm, "clipvalue": self.clipvalue,
                "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, (dict, str)):
            from .. import saving

            config["learning_rate"] = saving.deserialize(lr, _schedules_registry(), custom_objects)
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} learning_rate={self.learning_rate:g} iterations={self.iterations}>"


def _torch_positional_lr(init):
    """PyTorch order ``SGD(params, 0.1)``: the number after the parameters is the learning rate (not the
    subclass's second argument, e.g. SGD's momentum); further positional options must be keywords."""

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        if len(args) >= 2 and _is_parameter_iterable(args[0]):
            if len(args) > 2:
                raise TypeError(f"{type(self).__name__}(params, lr, ...): after the learning rate, pass options "
                                "by keyword (e.g. momentum=0.9); their order differs from PyTorch's.")
            if kwargs.get("lr") is not None or kwargs.get("learning_rate") is not None:
                raise TypeError(f"{type(self).__name__}: the learning rate was given twice.")
            args, kwargs = (args[0],), {**kwargs, "lr": args[1]}
        init(self, *args, **kwargs)

    return wrapper


def _asks_momentum_cycling(schedule) -> bool:
    """A schedule with ``momentum(step)`` and a true ``cycle_momentum`` attribute (e.g. ``OneCycle``)."""
    return bool(getattr(schedule, "cycle_momentum", False)) and callable(getattr(schedule, "momentum", None))


PARALLEL_MIN_ELEMENTS = 65_536  # below this many parameters per thread, threads cost more than they save
_POOL = None


def _thread_pool(workers: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers < workers:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="glassnet-optimizer")
    return _POOL


class _Piece:
    """A contiguous range of a variable's flattened elements, updated by one thread."""

    __slots__ = ("variable", "span", "data")

    def __init__(self, variable, start: int, stop: int):
        self.variable = variable
        self.span = slice(start, stop)
        self.data = variable.data.reshape(-1)[start:stop]  # a view: updates land in the variable


def _update_pieces(optimizer, pairs, learning_rate: float, decay: float) -> None:
    for g, v in pairs:
        if decay:
            v.data *= 1.0 - decay
        optimizer.update_step(g, v, learning_rate)


def global_norm(grads) -> float:
    """‖g‖ over all gradients together: √(Σ_i ‖g_i‖²)."""
    return math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))


def _schedules_registry():
    try:
        from ..schedules import REGISTRY
    except ImportError:  # schedules not available
        from ..saving import Registry

        return Registry("learning-rate schedule")
    return REGISTRY
