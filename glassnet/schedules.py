"""Learning-rate schedules: objects ``schedule(step) -> lr`` passed as an optimizer's ``learning_rate``.

An optimizer evaluates its schedule once per update, at its 0-based step counter
(``optimizer.iterations`` before the update), so ``schedule(0)`` is the rate of the first step::

    sgd = glassnet.optimizers.SGD(learning_rate=glassnet.schedules.ExponentialDecay(0.1, 1000, 0.96))

Keras schedules (same names, arguments, defaults and values):

=========================  ======================================================================
``ExponentialDecay``        lr0 · rate^(t/decay_steps)         (exponent floored if ``staircase``)
``InverseTimeDecay``        lr0 / (1 + rate · t/decay_steps)    (floored if ``staircase``)
``PiecewiseConstantDecay``  values[i] for boundaries[i−1] < t ≤ boundaries[i]
``PolynomialDecay``         (lr0 − lr_end)(1 − t/T)^power + lr_end   (t ≤ T, or T grows if ``cycle``)
``CosineDecay``             linear warm-up to ``warmup_target``, then lr·((1−α)(1+cos(π t/T))/2 + α)
``CosineDecayRestarts``     SGDR: cosine decays over periods T0, T0·t_mul, T0·t_mul², ...
=========================  ======================================================================

glassnet additions (PyTorch values where PyTorch has them):

=========================  ======================================================================
``StepDecay``               lr0 · drop^⌊t/steps_per_drop⌋                  (torch ``StepLR``)
``CosineAnnealing``         lr_min + (lr0 − lr_min)(1 + cos(π t/T))/2       (torch ``CosineAnnealingLR``)
``LinearWarmup``            linear ramp for ``warmup_steps``, then any schedule (torch ``LinearLR``)
``CyclicalLearningRate``    triangular / triangular2 / exp_range cycles     (torch ``CyclicLR``)
``OneCycle``                1cycle policy, with ``momentum(t)``             (torch ``OneCycleLR``)
=========================  ======================================================================

Per-EPOCH functions for the ``LearningRateScheduler(fn(epoch, lr))`` callback: :func:`step_decay`,
:func:`exponential_decay_fn`, :func:`cosine_annealing_fn`.

Every schedule has ``get_config``/``from_config`` and a registered name, so optimizers carrying one
save and load; ``rates(steps)`` gives the learning rates at many steps at once (for plotting).
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from .errors import UnknownNameError
from .saving import Registry
from .saving import deserialize as _deserialize
from .saving import serialize as _serialize

REGISTRY = Registry("learning-rate schedule")


# ============================================================================ argument checks
def _real(owner: str, name: str, value, *, minimum=None, strict: bool = False, maximum=None) -> float:
    """``value`` as a finite float (optionally ≥ / > minimum and ≤ maximum), or a clear error."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray)) or np.ndim(value) != 0:
        raise TypeError(f"{owner}: {name} must be a number, got {value!r} of type {type(value).__name__}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {name} must be finite, got {value}.")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(f"{owner}: {name} must be {relation} {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{owner}: {name} must be <= {maximum}, got {value}.")
    return value


def _plain(value):
    """A JSON-friendly Python number (ints stay ints)."""
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value


def _check_step(step) -> float:
    if isinstance(step, bool) or not isinstance(step, (numbers.Real, np.ndarray)) or np.ndim(step) != 0:
        raise TypeError(f"A learning-rate schedule takes a step number, got {step!r} of type "
                        f"{type(step).__name__} (use .rates(steps) for many steps).")
    step = float(step)
    if not step >= 0 or not math.isfinite(step):
        raise ValueError(f"A learning-rate schedule takes a step >= 0, got {step}.")
    return step


# ============================================================================ base class
class LearningRateSchedule:
    """Base class. A schedule is called with the 0-based optimizer step and returns a float.

    Subclasses write ``_rate(step)`` (``step`` a float ≥ 0, already checked) and ``get_config``;
    a Keras-style subclass that overrides ``__call__`` directly works too.
    """

    def __call__(self, step) -> float:
        return float(self._rate(_check_step(step)))

    def _rate(self, step: float) -> float:
        raise NotImplementedError(f"Learning-rate schedule {type(self).__name__} must implement "
                                  "_rate(step) or __call__(step).")

    def rates(self, steps) -> np.ndarray:
        """The learning rates at each of ``steps`` (e.g. ``np.arange(1000)``), for plotting.

        (Not called ``values``: Keras's ``PiecewiseConstantDecay`` uses that name for its argument.)
        """
        return np.array([self(s) for s in np.asarray(steps).ravel()], dtype=np.float64).reshape(np.shape(steps))

    def get_config(self) -> dict:
        raise NotImplementedError(f"Learning-rate schedule {type(self).__name__} must implement get_config() "
                                  "to be saved.")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        try:
            config = self.get_config()
        except NotImplementedError:
            return f"<{type(self).__name__}>"
        args = ", ".join(f"{k}={v!r}" for k, v in config.items() if k != "name")
        return f"{type(self).__name__}({args})"


# ============================================================================ Keras schedules
@REGISTRY.register("ExponentialDecay", "exponential_decay")
class ExponentialDecay(LearningRateSchedule):
    """``lr0 · decay_rate^(t / decay_steps)``; with ``staircase=True`` the exponent is ⌊t/decay_steps⌋.

    ``decay_steps=1`` gives PyTorch's ``ExponentialLR(gamma=decay_rate)``.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False,
                 name: str = "ExponentialDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _real(owner, "initial_learning_rate", initial_learning_rate, minimum=0.0)
        self.decay_steps = _real(owner, "decay_steps", decay_steps, minimum=0.0, strict=True)
        self.decay_rate = _real(owner, "decay_rate", decay_rate, minimum=0.0, strict=True)
        self.staircase = bool(staircase)
        self.name = name

    def _rate(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


@REGISTRY.register("InverseTimeDecay", "inverse_time_decay")
class InverseTimeDecay(LearningRateSchedule):
    """``lr0 / (1 + decay_rate · t / decay_steps)``; ``staircase=True`` floors t/decay_steps."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase: bool = False,
                 name: str = "InverseTimeDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _real(owner, "initial_learning_rate", initial_learning_rate, minimum=0.0)
        self.decay_steps = _real(owner, "decay_steps", decay_steps, minimum=0.0, strict=True)
        self.decay_rate = _real(owner, "decay_rate", decay_rate, minimum=0.0)
        self.staircase = bool(staircase)
        self.name = name

    def _rate(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate / (1.0 + self.decay_rate * p)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


@REGISTRY.register("PiecewiseConstantDecay", "piecewise_constant_decay")
class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` for t ≤ boundaries[0], ``values[i]`` for boundaries[i−1] < t ≤ boundaries[i],
    ``values[-1]`` for t > boundaries[-1] (boundaries strictly increasing, one fewer than values)."""

    def __init__(self, boundaries, values, name: str = "PiecewiseConstant"):
        owner = type(self).__name__
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"{owner}: boundaries must have one element fewer than values, got "
                             f"{len(boundaries)} boundaries {boundaries} and {len(values)} values {values}.")
        for i, b in enumerate(boundaries):
            _real(owner, f"boundaries[{i}]", b)
        for i, v in enumerate(values):
            _real(owner, f"values[{i}]", v, minimum=0.0)
        if any(b >= a for b, a in itertools.pairwise(boundaries)):
            raise ValueError(f"{owner}: boundaries must be strictly increasing, got {boundaries}.")
        self.boundaries = [_plain(b) for b in boundaries]
        self.values = [float(v) for v in values]
        self.name = name

    def _rate(self, step):
        # number of boundaries strictly below t = index of the interval (b_{i-1}, b_i] holding t
        return self.values[int(np.searchsorted(self.boundaries, step, side="left"))]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


@REGISTRY.register("PolynomialDecay", "polynomial_decay")
class PolynomialDecay(LearningRateSchedule):
    """``(lr0 − end_learning_rate)·(1 − t/T)^power + end_learning_rate`` with T = ``decay_steps``.

    Without ``cycle`` t stops at T (the rate stays at ``end_learning_rate``); with ``cycle`` T becomes
    the first multiple of ``decay_steps`` ≥ t (T = decay_steps at t = 0), so the decay restarts.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle: bool = False, name: str = "PolynomialDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _real(owner, "initial_learning_rate", initial_learning_rate, minimum=0.0)
        self.decay_steps = _real(owner, "decay_steps", decay_steps, minimum=0.0, strict=True)
        self.end_learning_rate = _real(owner, "end_learning_rate", end_learning_rate, minimum=0.0)
        self.power = _real(owner, "power", power, minimum=0.0, strict=True)
        self.cycle = bool(cycle)
        self.name = name

    def _rate(self, step):
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * (1.0 - p) ** self.power \
            + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


def _cosine_factor(fraction: float) -> float:
    """(1 + cos(π·fraction)) / 2: 1 at fraction 0, 0 at fraction 1."""
    return 0.5 * (1.0 + math.cos(math.pi * fraction))


@REGISTRY.register("CosineDecay", "cosine_decay")
class CosineDecay(LearningRateSchedule):
    """Keras 3 cosine decay with optional linear warm-up.

    Without ``warmup_target``: ``lr0·((1 − α)·(1 + cos(π·min(t, T)/T))/2 + α)``, T = ``decay_steps``.
    With ``warmup_target``: for t < W = ``warmup_steps`` the rate goes linearly from lr0 to
    ``warmup_target`` (``lr0 + (target − lr0)·t/W``), then decays as above from ``warmup_target``
    over the next T steps (at step t − W) and stays at ``α·warmup_target``.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name: str = "CosineDecay",
                 warmup_target=None, warmup_steps=0):
        owner = type(self).__name__
        self.initial_learning_rate = _real(owner, "initial_learning_rate", initial_learning_rate, minimum=0.0)
        self.decay_steps = _real(owner, "decay_steps", decay_steps, minimum=0.0, strict=True)
        self.alpha = _real(owner, "alpha", alpha, minimum=0.0)
        self.warmup_target = None if warmup_target is None else _real(owner, "warmup_target", warmup_target,
                                                                      minimum=0.0)
        self.warmup_steps = _real(owner, "warmup_steps", warmup_steps, minimum=0.0)
        self.name = name

    def _decayed(self, step: float, start: float) -> float:
        fraction = min(step, self.decay_steps) / self.decay_steps
        return start * ((1.0 - self.alpha) * _cosine_factor(fraction) + self.alpha)

    def _rate(self, step):
        if self.warmup_target is None:
            return self._decayed(step, self.initial_learning_rate)
        if step < self.warmup_steps:
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * (
                step / self.warmup_steps)
        return self._decayed(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


@REGISTRY.register("CosineDecayRestarts", "cosine_decay_restarts")
class CosineDecayRestarts(LearningRateSchedule):
    """SGDR (Loshchilov & Hutter 2017): cosine decay from lr0 to α·lr0 over T0 = ``first_decay_steps``,
    then a restart; period i lasts T0·t_mul^i steps and starts at lr0·m_mul^i::

        lr = lr0 · ((1 − α)·m_mul^i·(1 + cos(π·t_i/T_i))/2 + α),   t_i = steps since restart i

    Equals PyTorch's ``CosineAnnealingWarmRestarts(T_0=T0, T_mult=t_mul, eta_min=α·lr0)`` when m_mul = 1.
    The restart index is found exactly (no float log rounding at the restart steps). ``t_mul`` must be
    ≥ 1 (Keras also accepts t_mul < 1, whose periods shrink to nothing).
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name: str = "SGDRDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _real(owner, "initial_learning_rate", initial_learning_rate, minimum=0.0)
        self.first_decay_steps = _real(owner, "first_decay_steps", first_decay_steps, minimum=0.0, strict=True)
        self.t_mul = _real(owner, "t_mul", t_mul, minimum=1.0)
        self.m_mul = _real(owner, "m_mul", m_mul, minimum=0.0)
        self.alpha = _real(owner, "alpha", alpha, minimum=0.0)
        self.name = name

    def _periods_before(self, i: int) -> float:
        """Length, in units of T0, of the first i periods: 1 + t_mul + ... + t_mul^(i−1)."""
        return float(i) if self.t_mul == 1.0 else (self.t_mul ** i - 1.0) / (self.t_mul - 1.0)

    def restart_index(self, step) -> int:
        """The 0-based index of the period that holds ``step``."""
        fraction = _check_step(step) / self.first_decay_steps
        if self.t_mul == 1.0:
            i = math.floor(fraction)
        else:
            i = math.floor(math.log1p(fraction * (self.t_mul - 1.0)) / math.log(self.t_mul))
            while self._periods_before(i + 1) <= fraction:  # repair float rounding of the log
                i += 1
            while i > 0 and self._periods_before(i) > fraction:
                i -= 1
        return i

    def _rate(self, step):
        i = self.restart_index(step)
        fraction = (step / self.first_decay_steps - self._periods_before(i)) / self.t_mul ** i
        decayed = (1.0 - self.alpha) * self.m_mul ** i * _cosine_factor(fraction) + self.alpha
        return self.initial_learning_rate * decayed

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul, "m_mul": self.m_mul,
                "alpha": self.alpha, "name": self.name}


# ============================================================================ glassnet additions
@REGISTRY.register("StepDecay", "step_decay")
class StepDecay(LearningRateSchedule):
    """``lr0 · drop^⌊t / steps_per_drop⌋`` (PyTorch ``StepLR(step_size=steps_per_drop, gamma=drop)``).

    Per epoch: ``StepDecay(0.01, 0.5, 10)(10) == 0.005``.
    """

    def __init__(self, initial_learning_rate, drop, steps_per_drop, name: str = "StepDecay"):
        owner = type(self).__name__
        self.initial_learning_rate = _real(owner, "initial_learning_rate", initial_learning_rate, minimum=0.0)
        self.drop = _real(owner, "drop", drop, minimum=0.0, strict=True)
        self.steps_per_drop = _real(owner, "steps_per_drop", steps_per_drop, minimum=0.0, strict=True)
        self.name = name

    def _rate(self, step):
        return self.initial_learning_rate * self.drop ** math.floor(step / self.steps_per_drop)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "drop": self.drop,
                "steps_per_drop": self.steps_per_drop, "name": self.name}


@REGISTRY.register("CosineAnnealing", "cosine_annealing")
class CosineAnnealing(LearningRateSchedule):
    """``eta_min + (lr0 − eta_min)·(1 + cos(π t / T_max))/2`` — PyTorch ``CosineAnnealingLR``'s closed form.

    As in PyTorch the formula is not clamped: after ``T_max`` the rate rises again (period 2·T_max).
    Use :class:`CosineDecay` (Keras) to hold the final rate, or :class:`CosineDecayRestarts` to restart.
    Per epoch: ``CosineAnnealing(0.01, 50)(25) == 0.005``.
    """

    def __init__(self, initial_learning_rate, T_max, eta_min=0.0, name: str = "CosineAnnealing"):
        owner = type(self).__name__
        self.initial_learning_rate = _real(owner, "initial_learning_rate", initial_learning_rate, minimum=0.0)
        self.T_max = _real(owner, "T_max", T_max, minimum=0.0, strict=True)
        self.eta_min = _real(owner, "eta_min", eta_min, minimum=0.0)
        self.name = name

    def _rate(self, step):
        return self.eta_min + (self.initial_learning_rate - self.eta_min) * _cosine_factor(step / self.T_max)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "T_max": self.T_max,
                "eta_min": self.eta_min, "name": self.name}


@REGISTRY.register("LinearWarmup", "linear_warmup")
class LinearWarmup(LearningRateSchedule):
    """A linear warm-up in front of any schedule (or constant rate) ``schedule``::

        t < W:   start + (target − start)·t/W      target = schedule(0), W = warmup_steps
        t ≥ W:   schedule(t − W)                   (the inner schedule starts after the warm-up)

    ``start`` is ``start_learning_rate`` if given, else ``start_factor·target``. Around a constant this is
    PyTorch's ``LinearLR(start_factor, end_factor=1, total_iters=W)``. ``warmup_steps=0`` is no warm-up.
    """

    def __init__(self, schedule, warmup_steps, start_factor=0.0, start_learning_rate=None,
                 name: str = "LinearWarmup"):
        owner = type(self).__name__
        if isinstance(schedule, (dict, str)):
            schedule = deserialize(schedule)
        if not callable(schedule):
            schedule = _real(owner, "schedule (a schedule or a constant learning rate)", schedule, minimum=0.0)
        self.schedule = schedule
        self.warmup_steps = _real(owner, "warmup_steps", warmup_steps, minimum=0.0)
        self.start_factor = _real(owner, "start_factor", start_factor, minimum=0.0)
        if start_learning_rate is not None:
            if start_factor != 0.0:
                raise ValueError(f"{owner}: give start_factor or start_learning_rate, not both "
                                 f"(got start_factor={start_factor}, start_learning_rate={start_learning_rate}).")
            start_learning_rate = _real(owner, "start_learning_rate", start_learning_rate, minimum=0.0)
        self.start_learning_rate = start_learning_rate
        self.name = name

    def _inner(self, step: float) -> float:
        return float(self.schedule(step)) if callable(self.schedule) else self.schedule

    def _rate(self, step):
        if step >= self.warmup_steps:
            return self._inner(step - self.warmup_steps)
        target = self._inner(0)
        start = self.start_factor * target if self.start_learning_rate is None else self.start_learning_rate
        return start + (target - start) * (step / self.warmup_steps)

    def get_config(self):
        schedule = serialize(self.schedule) if callable(self.schedule) else self.schedule
        return {"schedule": schedule, "warmup_steps": self.warmup_steps,
                "start_factor": self.start_factor, "start_learning_rate": self.start_learning_rate,
                "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("schedule"), (dict, str)):
            config["schedule"] = deserialize(config["schedule"], custom_objects)
        return cls(**config)


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


@REGISTRY.register("CyclicalLearningRate", "cyclical_learning_rate")
class CyclicalLearningRate(LearningRateSchedule):
    """Cyclical learning rates (Smith 2017): triangles between ``base_lr`` and ``max_lr``, half-period
    ``step_size`` (the first step is at ``base_lr``, the peak at t = step_size)::

        cycle = ⌊1 + t/(2s)⌋,   x = |t/s − 2·cycle + 1|,   lr = base + (max − base)·max(0, 1 − x)·scale
        scale = 1 (triangular),  1/2^(cycle−1) (triangular2),  gamma^t (exp_range)

    Same values as PyTorch ``CyclicLR(base_lr, max_lr, step_size_up=step_size, mode, gamma)``.
    """

    def __init__(self, base_lr, max_lr, step_size=2000, mode: str = "triangular", gamma=1.0,
                 name: str = "CyclicalLearningRate"):
        owner = type(self).__name__
        self.base_lr = _real(owner, "base_lr", base_lr, minimum=0.0)
        self.max_lr = _real(owner, "max_lr", max_lr, minimum=0.0)
        self.step_size = _real(owner, "step_size", step_size, minimum=0.0, strict=True)
        if mode not in _CYCLIC_MODES:
            raise UnknownNameError(f"{owner} mode", mode, _CYCLIC_MODES)
        self.mode = mode
        self.gamma = _real(owner, "gamma", gamma, minimum=0.0, strict=True)
        self.name = name

    def _rate(self, step):
        cycle = math.floor(1.0 + step / (2.0 * self.step_size))
        x = 1.0 + step / (2.0 * self.step_size) - cycle  # position in the cycle, in [0, 1)
        height = 2.0 * x if x <= 0.5 else 2.0 * (1.0 - x)  # = max(0, 1 − |t/s − 2·cycle + 1|)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1.0 / 2.0 ** (cycle - 1)
        else:
            scale = self.gamma ** step
        return self.base_lr + (self.max_lr - self.base_lr) * height * scale

    def get_config(self):
        return {"base_lr": self.base_lr, "max_lr": self.max_lr, "step_size": self.step_size,
                "mode": self.mode, "gamma": self.gamma, "name": self.name}


_ANNEAL_STRATEGIES = ("cos", "linear")


@REGISTRY.register("OneCycle", "one_cycle")
class OneCycle(LearningRateSchedule):
    """The 1cycle policy (Smith & Topin 2018), the learning rates of PyTorch's ``OneCycleLR``.

    With initial = max_lr/div_factor and min = initial/final_div_factor, N = ``total_steps``, p = ``pct_start``:

    * two phases (default): initial → max_lr over steps 0..pN−1, then max_lr → min until step N−1;
    * ``three_phase``: initial → max_lr → initial (symmetric, ending at 2pN−2), then initial → min.

    Each phase interpolates ``anneal_strategy='cos'`` (end + (start − end)(1 + cos(π·pct))/2) or
    ``'linear'``. ``momentum(t)`` cycles inversely between ``max_momentum`` and ``base_momentum`` (for SGD
    momentum or Adam's β1; the three-phase schedule holds max_momentum in its last phase). With
    ``cycle_momentum=True`` an optimizer using this schedule as its learning rate sets its momentum (or β1)
    to ``momentum(t)`` before each step, as PyTorch's ``OneCycleLR(cycle_momentum=True)`` does.
    After step N−1 the final rate is held (PyTorch raises instead), and a warm-up phase that ends at step 0
    (pct_start·N = 1) starts at max_lr (PyTorch divides by zero there).
    """

    def __init__(self, max_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
                 anneal_strategy: str = "cos", three_phase: bool = False, base_momentum=0.85,
                 max_momentum=0.95, cycle_momentum: bool = True, name: str = "OneCycle"):
        owner = type(self).__name__
        self.max_lr = _real(owner, "max_lr", max_lr, minimum=0.0)
        if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
            raise ValueError(f"{owner}: total_steps must be a positive integer, got {total_steps!r}.")
        self.total_steps = int(total_steps)
        self.pct_start = _real(owner, "pct_start", pct_start, minimum=0.0, maximum=1.0)
        self.div_factor = _real(owner, "div_factor", div_factor, minimum=0.0, strict=True)
        self.final_div_factor = _real(owner, "final_div_factor", final_div_factor, minimum=0.0, strict=True)
        if anneal_strategy not in _ANNEAL_STRATEGIES:
            raise UnknownNameError(f"{owner} anneal_strategy", anneal_strategy, _ANNEAL_STRATEGIES)
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)
        self.base_momentum = _real(owner, "base_momentum", base_momentum, minimum=0.0)
        self.max_momentum = _real(owner, "max_momentum", max_momentum, minimum=0.0)
        self.cycle_momentum = bool(cycle_momentum)
        self.name = name

        initial = self.max_lr / self.div_factor
        low = initial / self.final_div_factor
        up_end = self.pct_start * self.total_steps - 1.0
        # (end step, start lr, end lr, start momentum, end momentum) per phase
        if self.three_phase:
            self._phases = [(up_end, initial, self.max_lr, self.max_momentum, self.base_momentum),
                            (2.0 * self.pct_start * self.total_steps - 2.0, self.max_lr, initial,
                             self.base_momentum, self.max_momentum),
                            (self.total_steps - 1.0, initial, low, self.max_momentum, self.max_momentum)]
        else:
            self._phases = [(up_end, initial, self.max_lr, self.max_momentum, self.base_momentum),
                            (self.total_steps - 1.0, self.max_lr, low, self.base_momentum, self.max_momentum)]

    def _anneal(self, start: float, end: float, fraction: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) * _cosine_factor(fraction)
        return start + (end - start) * fraction

    def _interpolate(self, step: float, lr: bool) -> float:
        step = min(step, self.total_steps - 1.0)
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(self._phases):
            if step <= end or i == len(self._phases) - 1:
                fraction = (step - start) / (end - start) if end != start else 1.0  # a 1-step warm-up
                return self._anneal(lr0, lr1, fraction) if lr else self._anneal(m0, m1, fraction)
            start = end
        raise AssertionError("unreachable")

    def _rate(self, step):
        return self._interpolate(step, lr=True)

    def momentum(self, step) -> float:
        """The momentum (or Adam β1) for ``step``: high when the learning rate is low, and vice versa."""
        return float(self._interpolate(_check_step(step), lr=False))

    def momenta(self, steps) -> np.ndarray:
        """``momentum`` at each of ``steps``."""
        return np.array([self.momentum(s) for s in np.asarray(steps).ravel()]).reshape(np.shape(steps))

    def get_config(self):
        return {"max_lr": self.max_lr, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor,
                "anneal_strategy": self.anneal_strategy, "three_phase": self.three_phase,
                "base_momentum": self.base_momentum, "max_momentum": self.max_momentum,
                "cycle_momentum": self.cycle_momentum, "name": self.name}


# ============================================================================ per-epoch functions
def _per_epoch(schedule: LearningRateSchedule, name: str):
    """``fn(epoch, lr=None) -> schedule(epoch)`` for the ``LearningRateScheduler`` callback."""

    def fn(epoch, lr=None):
        return schedule(epoch)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Learning rate of ``epoch`` (the current ``lr`` is ignored): {schedule!r}."
    fn.schedule = schedule
    return fn


def step_decay(initial_lr, drop=0.5, epochs_drop=10):
    """``fn(epoch, lr) = initial_lr · drop^⌊epoch/epochs_drop⌋`` (``step_decay(0.01, 0.5, 10)(10, _) = 0.005``)."""
    return _per_epoch(StepDecay(initial_lr, drop, epochs_drop), "step_decay")


def exponential_decay_fn(initial_lr, k=0.1):
    """``fn(epoch, lr) = initial_lr · e^(−k·epoch)``."""
    k = _real("exponential_decay_fn", "k", k)
    return _per_epoch(ExponentialDecay(initial_lr, decay_steps=1.0, decay_rate=math.exp(-k)),
                      "exponential_decay_fn")


def cosine_annealing_fn(initial_lr, T, lr_min=0.0):
    """``fn(epoch, lr) = lr_min + (initial_lr − lr_min)(1 + cos(π·epoch/T))/2``
    (``cosine_annealing_fn(0.01, 50)(25, _) = 0.005``)."""
    return _per_epoch(CosineAnnealing(initial_lr, T, lr_min), "cosine_annealing_fn")


# ============================================================================ names and configs
def get(identifier):
    """A schedule (or a float learning rate) from a schedule, a number, a config dict or a callable."""
    if identifier is None:
        return None
    if isinstance(identifier, bool):
        raise TypeError(f"Could not interpret learning rate {identifier!r}.")
    if isinstance(identifier, numbers.Real):
        return float(identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = REGISTRY.lookup(identifier)
        raise TypeError(f"The schedule {identifier!r} needs arguments: pass {cls.__name__}(...) or a config "
                        f"{{'class_name': '{cls.__name__}', 'config': {{...}}}}.")
    if callable(identifier):
        return identifier
    raise TypeError(f"Could not interpret learning-rate schedule {identifier!r}: expected a schedule, a number "
                    "or a config dict.")


def serialize(schedule):
    """``{"class_name": ..., "config": {...}}`` for a schedule (custom ones must be registered)."""
    return _serialize(schedule, REGISTRY)


def deserialize(config, custom_objects=None):
    return _deserialize(config, REGISTRY, custom_objects)


def names() -> list[str]:
    return [n for n in REGISTRY.names() if n == n.lower()]


__all__ = [
    "REGISTRY",
    "CosineAnnealing",
    "CosineDecay",
    "CosineDecayRestarts",
    "CyclicalLearningRate",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "LinearWarmup",
    "OneCycle",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "StepDecay",
    "cosine_annealing_fn",
    "deserialize",
    "exponential_decay_fn",
    "get",
    "names",
    "serialize",
    "step_decay",
]
