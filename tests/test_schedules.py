"""Learning-rate schedules: PyTorch parity step by step, Keras closed forms, SPEC check values,
configs, use as an optimizer's learning rate, and argument validation."""

import json
import math
import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet import schedules
from glassnet.errors import UnknownNameError
from glassnet.schedules import (
    CosineAnnealing,
    CosineDecay,
    CosineDecayRestarts,
    CyclicalLearningRate,
    ExponentialDecay,
    InverseTimeDecay,
    LinearWarmup,
    OneCycle,
    PiecewiseConstantDecay,
    PolynomialDecay,
    StepDecay,
)


# ====================================================================== PyTorch parity
def torch_trajectory(make_scheduler, steps, lr=0.1, momentum=0.9):
    """(lr, momentum) that a PyTorch optimizer uses at each of ``steps`` steps under a scheduler."""
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr, momentum=momentum)
    scheduler = make_scheduler(optimizer, torch.optim.lr_scheduler)
    rates, momenta = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            rates.append(optimizer.param_groups[0]["lr"])
            momenta.append(optimizer.param_groups[0]["momentum"])
            optimizer.step()
            scheduler.step()
    return np.array(rates), np.array(momenta)


def test_step_decay_matches_torch_steplr():
    expected, _ = torch_trajectory(lambda o, s: s.StepLR(o, step_size=7, gamma=0.3), 40, lr=0.2)
    np.testing.assert_allclose(StepDecay(0.2, 0.3, 7).rates(np.arange(40)), expected, rtol=1e-12)


def test_exponential_decay_matches_torch_exponentiallr():
    expected, _ = torch_trajectory(lambda o, s: s.ExponentialLR(o, gamma=0.9), 40, lr=0.05)
    np.testing.assert_allclose(ExponentialDecay(0.05, decay_steps=1, decay_rate=0.9).rates(np.arange(40)),
                               expected, rtol=1e-12)


def test_cosine_annealing_matches_torch_cosineannealinglr():
    # 0..T as required, and on to 3T: PyTorch's (and our) formula is not clamped past T_max
    expected, _ = torch_trajectory(lambda o, s: s.CosineAnnealingLR(o, T_max=20, eta_min=0.001), 61, lr=0.1)
    ours = CosineAnnealing(0.1, T_max=20, eta_min=0.001).rates(np.arange(61))
    np.testing.assert_allclose(ours[:21], expected[:21], rtol=1e-12)
    np.testing.assert_allclose(ours, expected, rtol=1e-10)
    assert ours[20] == pytest.approx(0.001) and ours[40] == pytest.approx(0.1)


@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_cosine_decay_restarts_matches_torch_warm_restarts(t_mult):
    lr0, eta_min, steps = 0.1, 0.002, 150
    expected, _ = torch_trajectory(
        lambda o, s: s.CosineAnnealingWarmRestarts(o, T_0=6, T_mult=t_mult, eta_min=eta_min), steps, lr=lr0)
    schedule = CosineDecayRestarts(lr0, first_decay_steps=6, t_mul=t_mult, m_mul=1.0, alpha=eta_min / lr0)
    np.testing.assert_allclose(schedule.rates(np.arange(steps)), expected, rtol=1e-10)
    restarts = np.flatnonzero(expected == lr0)  # every restart is exactly back at lr0
    assert len(restarts) >= 3
    assert all(schedule(int(t)) == pytest.approx(lr0, rel=1e-15) for t in restarts)


@pytest.mark.parametrize("anneal_strategy", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("total_steps,pct_start", [(50, 0.3), (37, 0.25)])
def test_one_cycle_matches_torch_onecyclelr(anneal_strategy, three_phase, total_steps, pct_start):
    expected_lr, expected_momentum = torch_trajectory(
        lambda o, s: s.OneCycleLR(o, max_lr=0.4, total_steps=total_steps, pct_start=pct_start,
                                  anneal_strategy=anneal_strategy, three_phase=three_phase, div_factor=20.0,
                                  final_div_factor=100.0, base_momentum=0.8, max_momentum=0.93),
        total_steps)
    schedule = OneCycle(0.4, total_steps, pct_start=pct_start, div_factor=20.0, final_div_factor=100.0,
                        anneal_strategy=anneal_strategy, three_phase=three_phase, base_momentum=0.8,
                        max_momentum=0.93)
    steps = np.arange(total_steps)
    np.testing.assert_allclose(schedule.rates(steps), expected_lr, rtol=1e-12)
    np.testing.assert_allclose(schedule.momenta(steps), expected_momentum, rtol=1e-12)
    peak = schedule.rates(steps).max()
    assert peak <= 0.4 * (1 + 1e-12)
    if float(pct_start * total_steps).is_integer():  # otherwise the peak falls between two steps
        assert peak == pytest.approx(0.4)
    assert schedule(total_steps + 10) == schedule(total_steps - 1) == pytest.approx(0.4 / 20 / 100)


def test_one_cycle_default_momenta_and_shape():
    schedule = OneCycle(1.0, 100)
    assert schedule(0) == pytest.approx(1.0 / 25) and schedule.momentum(0) == pytest.approx(0.95)
    peak = int(np.argmax(schedule.rates(np.arange(100))))
    assert peak == 29 and schedule.momentum(peak) == pytest.approx(0.85)
    assert schedule(99) == pytest.approx(1.0 / 25 / 1e4)


@pytest.mark.parametrize("mode,gamma", [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.97)])
def test_cyclical_learning_rate_matches_torch_cycliclr(mode, gamma):
    expected, _ = torch_trajectory(
        lambda o, s: s.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=5, mode=mode, gamma=gamma,
                                cycle_momentum=False), 47)
    schedule = CyclicalLearningRate(0.01, 0.1, step_size=5, mode=mode, gamma=gamma)
    np.testing.assert_allclose(schedule.rates(np.arange(47)), expected, rtol=1e-12)
    assert schedule(0) == pytest.approx(0.01) and schedule(5) == pytest.approx(0.01 + 0.09 * (gamma ** 5))


def test_linear_warmup_matches_torch_linearlr():
    expected, _ = torch_trajectory(lambda o, s: s.LinearLR(o, start_factor=0.25, total_iters=8), 20, lr=0.1)
    np.testing.assert_allclose(LinearWarmup(0.1, 8, start_factor=0.25).rates(np.arange(20)), expected,
                               rtol=1e-12)


def test_linear_warmup_around_a_schedule_shifts_it():
    inner = ExponentialDecay(0.2, decay_steps=1, decay_rate=0.5)
    schedule = LinearWarmup(inner, warmup_steps=4)
    np.testing.assert_allclose(schedule.rates(np.arange(4)), [0.0, 0.05, 0.1, 0.15])
    for t in range(4, 10):  # after the warm-up the inner schedule starts from its own step 0
        assert schedule(t) == inner(t - 4)
    from_start = LinearWarmup(0.1, 10, start_learning_rate=0.02)
    assert from_start(0) == pytest.approx(0.02) and from_start(5) == pytest.approx(0.06)
    assert from_start(10) == 0.1
    assert LinearWarmup(0.1, 0)(0) == 0.1  # zero warm-up steps: no warm-up


# ====================================================================== Keras closed forms
def test_piecewise_constant_decay_keras_docstring_example():
    schedule = PiecewiseConstantDecay([100000, 110000], [1.0, 0.5, 0.1])
    for step, expected in [(0, 1.0), (100000, 1.0), (100001, 0.5), (110000, 0.5), (110001, 0.1), (10**7, 0.1)]:
        assert schedule(step) == expected


def test_polynomial_decay_closed_form_and_cycle():
    schedule = PolynomialDecay(0.1, 10000, end_learning_rate=0.01, power=0.5)
    for t in [0, 2500, 9999]:
        assert schedule(t) == pytest.approx((0.1 - 0.01) * (1 - t / 10000) ** 0.5 + 0.01, rel=1e-12)
    assert schedule(10000) == pytest.approx(0.01) and schedule(50000) == pytest.approx(0.01)
    cycling = PolynomialDecay(1.0, 10, end_learning_rate=0.0, power=1.0, cycle=True)
    # decay_steps grows to the first multiple of 10 that is >= t (10 at t=0)
    np.testing.assert_allclose(cycling.rates([0, 5, 10, 11, 15, 20, 25]),
                               [1.0, 0.5, 0.0, 1 - 11 / 20, 0.25, 0.0, 1 - 25 / 30])


def test_exponential_and_inverse_time_decay_staircase():
    exponential = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.96, staircase=True)
    assert [exponential(t) for t in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.096, 0.1 * 0.96 ** 2])
    assert ExponentialDecay(0.1, 10, 0.96)(5) == pytest.approx(0.1 * 0.96 ** 0.5)
    inverse = InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [inverse(t) for t in (0, 9, 10, 35)] == pytest.approx([0.1, 0.1, 0.1 / 1.5, 0.1 / 2.5])
    assert InverseTimeDecay(0.1, 1.0, 0.5)(3) == pytest.approx(0.1 / 2.5)


def test_cosine_decay_with_and_without_warmup():
    plain = CosineDecay(0.1, decay_steps=1000, alpha=0.1)
    assert plain(0) == pytest.approx(0.1) and plain(500) == pytest.approx(0.1 * (0.9 * 0.5 + 0.1))
    assert plain(1000) == pytest.approx(0.01) and plain(5000) == pytest.approx(0.01)  # clamped
    assert CosineDecay(0.1, 1000, warmup_steps=500)(250) == plain.initial_learning_rate * (  # no target: no warm-up
        0.5 * (1 + math.cos(math.pi * 0.25)))
    # the Keras docstring example: warm up 0 -> 0.1 over 1000 steps, then decay over 1000 steps
    warm = CosineDecay(0.0, 1000, warmup_target=0.1, warmup_steps=1000)
    np.testing.assert_allclose(warm.rates([0, 250, 500, 1000, 1500, 2000, 3000]),
                               [0.0, 0.025, 0.05, 0.1, 0.05, 0.0, 0.0], atol=1e-15)


def test_cosine_decay_restarts_m_mul_and_exact_restart_index():
    schedule = CosineDecayRestarts(1.0, 10, t_mul=3.0, m_mul=0.5, alpha=0.1)
    starts = [0, 10, 40, 130, 400]  # periods of 10, 30, 90, 270 steps
    for i, t in enumerate(starts):
        assert schedule.restart_index(t) == i and schedule.restart_index(t - 1 if t else 0) == max(i - 1, 0)
        assert schedule(t) == pytest.approx(0.9 * 0.5 ** i + 0.1, rel=1e-12)
    assert schedule(25) == pytest.approx(0.9 * 0.5 * 0.5 * (1 + math.cos(math.pi * 15 / 30)) + 0.1)


# ====================================================================== SPEC check values and per-epoch functions
def test_spec_check_values():
    assert StepDecay(0.01, 0.5, 10)(10) == pytest.approx(0.005)
    assert CosineAnnealing(0.01, 50)(25) == pytest.approx(0.005)
    assert schedules.step_decay(0.01, 0.5, 10)(10, 0.01) == pytest.approx(0.005)
    assert schedules.cosine_annealing_fn(0.01, 50)(25, 0.01) == pytest.approx(0.005)


def test_per_epoch_functions():
    step = schedules.step_decay(0.01, 0.5, 10)
    assert [step(e, 123.0) for e in (0, 9, 10, 19, 20, 35)] == pytest.approx(
        [0.01, 0.01, 0.005, 0.005, 0.0025, 0.00125])
    exponential = schedules.exponential_decay_fn(0.1, k=0.2)
    for epoch in range(8):
        assert exponential(epoch, 0.0) == pytest.approx(0.1 * math.exp(-0.2 * epoch), rel=1e-12)
    cosine = schedules.cosine_annealing_fn(0.01, 50, lr_min=0.001)
    assert cosine(0, 1.0) == pytest.approx(0.01) and cosine(50, 1.0) == pytest.approx(0.001)
    assert cosine(25) == pytest.approx(0.0055)  # the current lr argument is optional


def test_rates_keeps_the_shape_of_steps():
    values = StepDecay(1.0, 0.5, 2).rates(np.arange(6).reshape(2, 3))
    assert values.shape == (2, 3) and values.dtype == np.float64
    np.testing.assert_allclose(values, [[1, 1, 0.5], [0.5, 0.25, 0.25]])


# ====================================================================== configs
ALL_SCHEDULES = [
    ExponentialDecay(0.1, 100, 0.9, staircase=True),
    InverseTimeDecay(0.1, 50, 0.5),
    PiecewiseConstantDecay([10, 20], [0.1, 0.05, 0.01]),
    PolynomialDecay(0.1, 30, end_learning_rate=0.001, power=2.0, cycle=True),
    CosineDecay(0.0, 40, alpha=0.05, warmup_target=0.1, warmup_steps=10),
    CosineDecayRestarts(0.1, 10, t_mul=2.0, m_mul=0.8, alpha=0.01),
    StepDecay(0.1, 0.5, 15),
    CosineAnnealing(0.1, 25, eta_min=0.001),
    LinearWarmup(CosineDecay(0.1, 50), 5, start_factor=0.1),
    LinearWarmup(0.05, 5, start_learning_rate=0.001),
    CyclicalLearningRate(0.001, 0.01, 8, mode="exp_range", gamma=0.99),
    OneCycle(0.5, 60, pct_start=0.2, anneal_strategy="linear", three_phase=True),
]


@pytest.mark.parametrize("schedule", ALL_SCHEDULES, ids=lambda s: type(s).__name__)
def test_config_round_trip(schedule):
    steps = np.arange(0, 80, 3)
    config = json.loads(json.dumps(schedule.get_config()))
    rebuilt = type(schedule).from_config(config)
    assert rebuilt.get_config() == schedule.get_config()
    np.testing.assert_array_equal(rebuilt.rates(steps), schedule.rates(steps))
    via_json = schedules.deserialize(json.loads(json.dumps(schedules.serialize(schedule))))
    assert type(via_json) is type(schedule)
    np.testing.assert_array_equal(via_json.rates(steps), schedule.rates(steps))
    # and inside an optimizer's config
    optimizer = gn.optimizers.SGD(learning_rate=schedule)
    optimizer.iterations = 7
    loaded = gn.optimizers.SGD.from_config(json.loads(json.dumps(optimizer.get_config())))
    loaded.iterations = 7
    assert type(loaded._learning_rate) is type(schedule) and loaded.learning_rate == optimizer.learning_rate


def test_registry_names_and_get():
    for name in ["exponential_decay", "cosine_decay_restarts", "one_cycle", "cyclical_learning_rate",
                 "linear_warmup", "step_decay", "cosine_annealing", "OneCycle", "PolynomialDecay"]:
        assert name in schedules.REGISTRY
    schedule = StepDecay(0.1, 0.5, 3)
    assert schedules.get(schedule) is schedule
    assert schedules.get(0.3) == 0.3 and schedules.get(None) is None
    rebuilt = schedules.get({"class_name": "step_decay", "config": {"initial_learning_rate": 0.1, "drop": 0.5,
                                                                     "steps_per_drop": 3}})
    assert isinstance(rebuilt, StepDecay) and rebuilt(3) == pytest.approx(0.05)
    with pytest.raises(TypeError, match="needs arguments"):
        schedules.get("exponential_decay")
    with pytest.raises(UnknownNameError, match="one_cycle"):
        schedules.get({"class_name": "one_cycl", "config": {}})


# ====================================================================== inside an optimizer
def test_optimizer_evaluates_the_schedule_at_each_step():
    schedule = ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    optimizer = gn.optimizers.SGD(learning_rate=schedule)
    w = gn.Parameter(np.zeros(3))
    expected = np.zeros(3)
    for step in range(5):
        assert optimizer.iterations == step
        assert optimizer.learning_rate == schedule(step) == pytest.approx(0.1 * 0.5 ** step)
        gradient = np.array([1.0, -2.0, 0.5])
        before = w.data.copy()
        optimizer.apply([gradient], [w])
        np.testing.assert_allclose(w.data - before, -schedule(step) * gradient, rtol=1e-12)
        expected -= schedule(step) * gradient
    np.testing.assert_allclose(w.data, expected, rtol=1e-12)


def test_one_cycle_momentum_can_drive_sgd_momentum():
    schedule = OneCycle(0.1, 20)
    optimizer = gn.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    w = gn.Parameter(np.zeros(1))
    used = []
    for _ in range(20):
        optimizer.momentum = schedule.momentum(optimizer.iterations)
        used.append((optimizer.learning_rate, optimizer.momentum))
        optimizer.apply([np.ones(1)], [w])
    lrs, momenta = np.array(used).T
    assert np.argmax(lrs) == np.argmin(momenta) == 5
    assert momenta[0] == pytest.approx(0.95) and momenta.min() == pytest.approx(0.85)


# ====================================================================== validation
@pytest.mark.parametrize("make,error,match", [
    (lambda: ExponentialDecay(0.1, 0, 0.9), ValueError, "decay_steps must be > 0"),
    (lambda: ExponentialDecay(0.1, 10, -0.9), ValueError, "decay_rate"),
    (lambda: ExponentialDecay("0.1", 10, 0.9), TypeError, "initial_learning_rate must be a number"),
    (lambda: ExponentialDecay(float("nan"), 10, 0.9), ValueError, "finite"),
    (lambda: InverseTimeDecay(0.1, -1, 0.5), ValueError, "decay_steps"),
    (lambda: PiecewiseConstantDecay([10, 20], [0.1, 0.01]), ValueError, "one element fewer"),
    (lambda: PiecewiseConstantDecay([20, 10], [0.1, 0.05, 0.01]), ValueError, "strictly increasing"),
    (lambda: PolynomialDecay(0.1, 100, power=0), ValueError, "power"),
    (lambda: CosineDecay(0.1, 0), ValueError, "decay_steps"),
    (lambda: CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-5), ValueError, "warmup_steps"),
    (lambda: CosineDecayRestarts(0.1, 10, t_mul=0.5), ValueError, "t_mul"),
    (lambda: StepDecay(0.1, 0.5, 0), ValueError, "steps_per_drop"),
    (lambda: StepDecay(0.1, True, 10), TypeError, "drop"),
    (lambda: CosineAnnealing(0.1, 0), ValueError, "T_max"),
    (lambda: LinearWarmup(0.1, 5, start_factor=0.5, start_learning_rate=0.01), ValueError, "not both"),
    (lambda: LinearWarmup("fast", 5), UnknownNameError, "learning-rate schedule"),
    (lambda: CyclicalLearningRate(0.01, 0.1, mode="triangle"), UnknownNameError, "triangular"),
    (lambda: CyclicalLearningRate(0.01, 0.1, step_size=0), ValueError, "step_size"),
    (lambda: OneCycle(0.1, 0), ValueError, "total_steps must be a positive integer"),
    (lambda: OneCycle(0.1, 10.5), ValueError, "total_steps"),
    (lambda: OneCycle(0.1, 100, pct_start=1.5), ValueError, "pct_start"),
    (lambda: OneCycle(0.1, 100, anneal_strategy="cosine"), UnknownNameError, "'cos'"),
])
def test_bad_arguments_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_steps_raise_clear_errors():
    schedule = StepDecay(0.1, 0.5, 10)
    with pytest.raises(ValueError, match="step >= 0"):
        schedule(-1)
    with pytest.raises(TypeError, match="step number"):
        schedule("3")
    with pytest.raises(TypeError, match="rates"):
        schedule(np.arange(3))


def test_optimizers_schedules_is_the_keras_home_of_the_schedules(tmp_path):
    from glassnet.optimizers.schedules import ExponentialDecay  # Keras: keras.optimizers.schedules

    keras_names = ["CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay",
                   "LearningRateSchedule", "PiecewiseConstantDecay", "PolynomialDecay", "serialize", "deserialize"]
    for name in keras_names:  # the same objects, not copies
        assert getattr(gn.optimizers.schedules, name) is getattr(schedules, name)
    lr = gn.optimizers.schedules.ExponentialDecay(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5)
    assert isinstance(lr, ExponentialDecay)
    w = gn.Parameter(np.ones(3, dtype="float32"))
    sgd = gn.optimizers.SGD(learning_rate=lr)
    moved = []
    for _ in range(4):  # gradient 1: each step moves w by the step's rate 0.1·0.5^(t/2)
        before = w.data.copy()
        w.grad = np.ones(3, dtype="float32")
        sgd.step([w])
        moved.append(float((before - w.data)[0]))
    np.testing.assert_allclose(moved, [0.1 * 0.5 ** (t / 2) for t in range(4)], rtol=1e-5)
    model = gn.Sequential([gn.Input(shape=(2,)), gn.layers.Dense(1)])
    model.compile(optimizer=gn.optimizers.Adam(gn.optimizers.schedules.CosineDecay(0.01, 100)), loss="mse")
    model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / "m.glassnet")
    restored = gn.load_model(tmp_path / "m.glassnet").optimizer._learning_rate
    assert type(restored) is schedules.CosineDecay
    assert restored.get_config() == model.optimizer._learning_rate.get_config()
