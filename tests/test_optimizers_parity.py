"""Every optimizer against torch.optim: 50-step parameter trajectories on a small two-layer classifier
with a regression head (four parameter tensors of different shapes, float64, gradients from glassnet's
autodiff), clipping against torch.nn.utils, one-cycle momentum / β1 cycling against OneCycleLR, the
SPEC facts (Adam/Adagrad first steps, AdamW decay), configs, string names, and exact resumption
through get_state/set_state and through a saved model file."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, ops, optimizers
from glassnet.schedules import OneCycle
from glassnet.tensor import Parameter

torch = pytest.importorskip("torch")

STEPS = 50
RNG = np.random.default_rng(2024)
X = RNG.standard_normal((24, 5))
LABELS = RNG.integers(0, 3, 24)
TARGET = RNG.standard_normal((24, 2))
SHAPES = {"w1": (5, 4), "b1": (4,), "w2": (4, 3), "b2": (3,), "v": (4, 2)}
INITIAL = {name: 0.5 * RNG.standard_normal(shape) for name, shape in SHAPES.items()}
LOSS_SCALE = 5.0  # gradient norms of ~1-10, so the clipping thresholds below bite


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """These problems are tiny: torch's thread pool only adds overhead (seconds on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def glassnet_loss(p):
    hidden = ops.tanh(gn.tensor(X) @ p["w1"] + p["b1"])
    logits = hidden @ p["w2"] + p["b2"]
    classify = ops.sparse_softmax_cross_entropy(logits, LABELS).mean()
    regress = ((hidden @ p["v"] - gn.tensor(TARGET)) ** 2).mean()
    return (classify + regress) * LOSS_SCALE


T_X, T_LABELS, T_TARGET = torch.tensor(X), torch.tensor(LABELS), torch.tensor(TARGET)


def torch_loss(p):
    hidden = torch.tanh(T_X @ p["w1"] + p["b1"])
    logits = hidden @ p["w2"] + p["b2"]
    classify = torch.nn.functional.cross_entropy(logits, T_LABELS)
    regress = ((hidden @ p["v"] - T_TARGET) ** 2).mean()
    return (classify + regress) * LOSS_SCALE


def glassnet_path(optimizer, steps=STEPS, params=None):
    params = params or {name: Parameter(value.copy(), name=name) for name, value in INITIAL.items()}
    assert all(p.dtype == np.float64 for p in params.values())
    path = []
    for _ in range(steps):
        for p in params.values():
            p.grad = None
        glassnet_loss(params).backward()
        optimizer.step(list(params.values()))
        path.append([p.data.copy() for p in params.values()])
    return path


def torch_path(make, steps=STEPS, before_step=None, scheduler=None):
    # float64 default dtype: torch keeps scalar state such as NAdam's mu_product in the default dtype
    # (float32 otherwise, which alone moves the NAdam path by ~1e-9)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        params = {name: torch.tensor(value.copy(), requires_grad=True) for name, value in INITIAL.items()}
        optimizer = make(list(params.values()))
        schedule = scheduler(optimizer) if scheduler else None
        path = []
        for _ in range(steps):
            optimizer.zero_grad()
            torch_loss(params).backward()
            if before_step is not None:
                before_step(list(params.values()), optimizer)
            optimizer.step()
            if schedule is not None:
                schedule.step()
            path.append([p.detach().numpy().copy() for p in params.values()])
    finally:
        torch.set_default_dtype(default_dtype)
    return path


def assert_same_path(path, reference, rtol=1e-6, atol=1e-10):
    assert len(path) == len(reference) == STEPS
    moved = max(np.abs(a - b).max() for a, b in zip(path[-1], INITIAL.values()))
    assert moved > 1e-3, "the optimizer barely moved: the comparison would prove nothing"
    for step, (ours, theirs) in enumerate(zip(path, reference), start=1):
        for name, a, b in zip(SHAPES, ours, theirs):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{name} after step {step}")


# ====================================================================== update rules
T = torch.optim
CASES = {
    "sgd": (lambda: optimizers.SGD(learning_rate=0.05), lambda p: T.SGD(p, lr=0.05)),
    "sgd_momentum": (lambda: optimizers.SGD(learning_rate=0.02, momentum=0.9),
                     lambda p: T.SGD(p, lr=0.02, momentum=0.9)),
    "sgd_nesterov": (lambda: optimizers.SGD(learning_rate=0.02, momentum=0.9, nesterov=True),
                     lambda p: T.SGD(p, lr=0.02, momentum=0.9, nesterov=True)),
    "adagrad": (lambda: optimizers.Adagrad(learning_rate=0.1),
                lambda p: T.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=1e-7)),
    "adagrad_zero_accumulator": (lambda: optimizers.Adagrad(learning_rate=0.05, initial_accumulator_value=0.0,
                                                            epsilon=1e-5),
                                 lambda p: T.Adagrad(p, lr=0.05, initial_accumulator_value=0.0, eps=1e-5)),
    # (lr 0.01 would make plain RMSprop oscillate around the minimum from step ~40, where rounding
    # differences of 1e-16 grow 4× per step: a property of the dynamics, not of either implementation)
    "rmsprop": (lambda: optimizers.RMSprop(learning_rate=0.005),
                lambda p: T.RMSprop(p, lr=0.005, alpha=0.9, eps=1e-7)),
    "rmsprop_centered": (lambda: optimizers.RMSprop(learning_rate=0.01, rho=0.8, centered=True),
                         lambda p: T.RMSprop(p, lr=0.01, alpha=0.8, eps=1e-7, centered=True)),
    "rmsprop_momentum": (lambda: optimizers.RMSprop(learning_rate=0.005, momentum=0.7),
                         lambda p: T.RMSprop(p, lr=0.005, alpha=0.9, eps=1e-7, momentum=0.7)),
    "adadelta": (lambda: optimizers.Adadelta(learning_rate=1.0, rho=0.9, epsilon=1e-6),
                 lambda p: T.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6)),
    "adadelta_defaults": (lambda: optimizers.Adadelta(learning_rate=50.0),
                          lambda p: T.Adadelta(p, lr=50.0, rho=0.95, eps=1e-7)),
    "adam": (lambda: optimizers.Adam(learning_rate=0.02), lambda p: T.Adam(p, lr=0.02, eps=1e-7)),
    "adam_amsgrad": (lambda: optimizers.Adam(learning_rate=0.02, beta_2=0.9, amsgrad=True),
                     lambda p: T.Adam(p, lr=0.02, betas=(0.9, 0.9), eps=1e-7, amsgrad=True)),
    "adamw": (lambda: optimizers.AdamW(learning_rate=0.02, weight_decay=0.1),
              lambda p: T.AdamW(p, lr=0.02, weight_decay=0.1, eps=1e-7)),
    "nadam": (lambda: optimizers.Nadam(learning_rate=0.02),
              lambda p: T.NAdam(p, lr=0.02, eps=1e-7, momentum_decay=4e-3)),
    "nadam_keras3_schedule": (lambda: optimizers.Nadam(learning_rate=0.02, beta_1=0.8, momentum_decay=1.0),
                              lambda p: T.NAdam(p, lr=0.02, betas=(0.8, 0.999), eps=1e-7, momentum_decay=1.0)),
    "adamax": (lambda: optimizers.Adamax(learning_rate=0.02), lambda p: T.Adamax(p, lr=0.02, eps=1e-7)),
    "adamax_large_epsilon": (lambda: optimizers.Adamax(learning_rate=0.02, beta_1=0.5, epsilon=0.1),
                             lambda p: T.Adamax(p, lr=0.02, betas=(0.5, 0.999), eps=0.1)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_trajectory_matches_torch(case):
    ours, theirs = CASES[case]
    assert_same_path(glassnet_path(ours()), torch_path(theirs))


def decay_first(rate, weight_decay):
    """Decoupled decay in torch for optimizers that only have the L2 (coupled) kind: w ← w·(1 − lr·wd)."""

    def before_step(params, optimizer):
        with torch.no_grad():
            for p in params:
                p.mul_(1.0 - rate * weight_decay)

    return before_step


@pytest.mark.parametrize("ours, theirs, before_step", [
    (lambda: optimizers.SGD(learning_rate=0.02, momentum=0.9, weight_decay=0.5),
     lambda p: T.SGD(p, lr=0.02, momentum=0.9), decay_first(0.02, 0.5)),
    (lambda: optimizers.Adadelta(learning_rate=1.0, weight_decay=0.05),
     lambda p: T.Adadelta(p, lr=1.0, rho=0.95, eps=1e-7), decay_first(1.0, 0.05)),
    (lambda: optimizers.Adam(learning_rate=0.02, weight_decay=0.5),
     lambda p: T.Adam(p, lr=0.02, eps=1e-7, weight_decay=0.5, decoupled_weight_decay=True), None),
    (lambda: optimizers.Nadam(learning_rate=0.02, weight_decay=0.5),
     lambda p: T.NAdam(p, lr=0.02, eps=1e-7, weight_decay=0.5, decoupled_weight_decay=True), None),
], ids=["sgd", "adadelta", "adam", "nadam"])
def test_decoupled_weight_decay_matches_torch(ours, theirs, before_step):
    assert_same_path(glassnet_path(ours()), torch_path(theirs, before_step=before_step))


# ====================================================================== clipping
def undo_torch_epsilon(norm, clip):
    """clip_grad_norm_ scales by c/(‖g‖ + 1e-6); glassnet (and Keras) by c/‖g‖. The factor between them."""
    return (norm + 1e-6) / norm if norm > clip else 1.0


@pytest.mark.parametrize("make_ours, make_theirs", [
    (lambda **k: optimizers.SGD(learning_rate=0.02, momentum=0.9, **k), lambda p: T.SGD(p, lr=0.02, momentum=0.9)),
    (lambda **k: optimizers.Adagrad(learning_rate=0.1, **k),
     lambda p: T.Adagrad(p, lr=0.1, initial_accumulator_value=0.1, eps=1e-7)),
    (lambda **k: optimizers.Nadam(learning_rate=0.01, **k), lambda p: T.NAdam(p, lr=0.01, eps=1e-7)),
], ids=["sgd_momentum", "adagrad", "nadam"])
def test_global_clipnorm_equals_clip_grad_norm_then_step(make_ours, make_theirs):
    clip, norms = 1.0, []

    def clip_all(params, optimizer):
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        norms.append(norm)
        with torch.no_grad():
            for p in params:
                p.grad.mul_(undo_torch_epsilon(norm, clip))

    reference = torch_path(make_theirs, before_step=clip_all)
    assert sum(n > clip for n in norms) >= 10  # the clipping is exercised
    assert_same_path(glassnet_path(make_ours(global_clipnorm=clip)), reference)


def test_global_clipnorm_factor_differs_from_torch_only_by_its_epsilon():
    g = [np.array([[3.0, -4.0]]), np.array([12.0])]  # global norm 13
    ours = [Parameter(np.zeros_like(a)) for a in g]
    theirs = [torch.zeros(a.shape, dtype=torch.float64, requires_grad=True) for a in g]
    for p, t, a in zip(ours, theirs, g):
        p.grad, t.grad = a.copy(), torch.tensor(a)
    optimizers.SGD(learning_rate=1.0, global_clipnorm=2.6).step(ours)
    assert float(torch.nn.utils.clip_grad_norm_(theirs, 2.6)) == pytest.approx(13.0, rel=1e-15)
    for p, t, a in zip(ours, theirs, g):
        np.testing.assert_allclose(p.data, -a * 2.6 / 13.0, rtol=1e-15)  # g·c/‖g‖ exactly
        np.testing.assert_allclose(-p.data * 13.0 / (13.0 + 1e-6), t.grad.numpy(), rtol=1e-14)


def test_clipnorm_equals_clip_grad_norm_per_tensor_then_step():
    clip, clipped = 0.8, []

    def clip_each(params, optimizer):
        for p in params:
            norm = float(torch.nn.utils.clip_grad_norm_([p], clip))
            clipped.append(norm > clip)
            with torch.no_grad():
                p.grad.mul_(undo_torch_epsilon(norm, clip))

    reference = torch_path(lambda p: T.Adam(p, lr=0.02, eps=1e-7), before_step=clip_each)
    assert 0 < sum(clipped) < len(clipped)  # some tensors clipped, others not
    assert_same_path(glassnet_path(optimizers.Adam(learning_rate=0.02, clipnorm=clip)), reference)


@pytest.mark.parametrize("make_ours, make_theirs", [
    (lambda **k: optimizers.RMSprop(learning_rate=0.01, momentum=0.5, **k),
     lambda p: T.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-7, momentum=0.5)),
    (lambda **k: optimizers.Adamax(learning_rate=0.02, **k), lambda p: T.Adamax(p, lr=0.02, eps=1e-7)),
], ids=["rmsprop", "adamax"])
def test_clipvalue_equals_clip_grad_value_then_step(make_ours, make_theirs):
    reference = torch_path(make_theirs, before_step=lambda params, o: torch.nn.utils.clip_grad_value_(params, 0.2))
    assert_same_path(glassnet_path(make_ours(clipvalue=0.2)), reference)


# ====================================================================== one-cycle momentum / β1
ONE_CYCLE = dict(max_lr=0.05, total_steps=STEPS, pct_start=0.3, div_factor=10.0, final_div_factor=100.0,
                 base_momentum=0.8, max_momentum=0.95)


def one_cycle():
    return OneCycle(**ONE_CYCLE)


def torch_one_cycle(optimizer):
    return T.lr_scheduler.OneCycleLR(optimizer, cycle_momentum=True, **ONE_CYCLE)


@pytest.mark.parametrize("ours, theirs, attribute", [
    (lambda: optimizers.SGD(learning_rate=one_cycle(), momentum=0.9),
     lambda p: T.SGD(p, lr=0.05, momentum=0.9), "momentum"),
    (lambda: optimizers.SGD(learning_rate=one_cycle()),  # momentum 0: the schedule turns it on, as in torch
     lambda p: T.SGD(p, lr=0.05), "momentum"),
    (lambda: optimizers.RMSprop(learning_rate=one_cycle(), momentum=0.5),
     lambda p: T.RMSprop(p, lr=0.05, alpha=0.9, eps=1e-7, momentum=0.5), "momentum"),
    (lambda: optimizers.Adam(learning_rate=one_cycle()), lambda p: T.Adam(p, lr=0.05, eps=1e-7), "beta_1"),
    (lambda: optimizers.Nadam(learning_rate=one_cycle()), lambda p: T.NAdam(p, lr=0.05, eps=1e-7), "beta_1"),
    (lambda: optimizers.Adamax(learning_rate=one_cycle()), lambda p: T.Adamax(p, lr=0.05, eps=1e-7), "beta_1"),
], ids=["sgd_momentum", "sgd_no_momentum", "rmsprop", "adam", "nadam", "adamax"])
def test_one_cycle_momentum_cycling_matches_torch_onecyclelr(ours, theirs, attribute):
    used = []

    def record(params, optimizer):
        group = optimizer.param_groups[0]
        used.append(group["momentum"] if attribute == "momentum" else group["betas"][0])

    reference = torch_path(theirs, before_step=record, scheduler=torch_one_cycle)
    optimizer = ours()
    assert_same_path(glassnet_path(optimizer), reference)
    expected = one_cycle().momenta(np.arange(STEPS))
    np.testing.assert_allclose(used, expected, rtol=1e-12)  # torch really cycled what we cycle
    assert getattr(optimizer, attribute) == pytest.approx(expected[-1])


def test_without_cycle_momentum_the_momentum_stays_put():
    schedule = OneCycle(cycle_momentum=False, **ONE_CYCLE)
    optimizer = optimizers.Adam(learning_rate=schedule, beta_1=0.7)
    reference = torch_path(lambda p: T.Adam(p, lr=0.05, betas=(0.7, 0.999), eps=1e-7),
                           scheduler=lambda o: T.lr_scheduler.OneCycleLR(o, cycle_momentum=False, **ONE_CYCLE))
    assert_same_path(glassnet_path(optimizer), reference)
    assert optimizer.beta_1 == 0.7


# ====================================================================== SPEC facts
GRADIENT_SCALES = [np.array([1e-3, -4e-3, 0.02, -0.7]), np.array([[3.0, -50.0], [800.0, -1.2e4]])]


@pytest.mark.parametrize("optimizer", [optimizers.Adam(learning_rate=0.01),
                                       optimizers.Adagrad(learning_rate=0.01, initial_accumulator_value=0.0)],
                         ids=["adam", "adagrad"])
def test_first_step_is_lr_times_sign_of_gradient_whatever_the_scale(optimizer):
    params = [Parameter(np.ones_like(g)) for g in GRADIENT_SCALES]
    for p, g in zip(params, GRADIENT_SCALES):
        p.grad = g.copy()
    optimizer.step(params)
    for p, g in zip(params, GRADIENT_SCALES):  # |g| ≥ 1e-3 ≫ ε = 1e-7: g/(|g| + ε) = sign(g) to 1e-4
        np.testing.assert_allclose(p.data - 1.0, -0.01 * np.sign(g), rtol=1e-3)


def test_adagrad_default_accumulator_makes_small_gradients_take_small_steps():
    # the contrast to the fact above: with G₀ = 0.1 (Keras default) a 1e-3 gradient moves w by ≈ lr·1e-3/√0.1
    (p,) = params = [Parameter(np.zeros(2))]
    p.grad = np.array([1e-3, 100.0])
    optimizers.Adagrad(learning_rate=0.01).step(params)
    np.testing.assert_allclose(p.data, [-0.01 * 1e-3 / np.sqrt(0.1 + 1e-6), -0.01 * 100 / np.sqrt(0.1 + 1e4)],
                               rtol=1e-6)


def test_adamw_decay_with_zero_gradient_is_lr_times_wd_times_w():
    w0 = np.array([[1.5, -2.0], [0.25, 8.0]])
    w = Parameter(w0.copy())
    w.grad = np.zeros_like(w0)
    optimizers.AdamW(learning_rate=0.1, weight_decay=0.3).step([w])
    np.testing.assert_allclose(w0 - w.data, 0.1 * 0.3 * w0, rtol=1e-13)
    assert optimizers.AdamW().weight_decay == 0.004  # Keras default


# ====================================================================== configs, names, state
def configured():
    """One non-default instance of every optimizer (every argument moved off its default)."""
    return [
        optimizers.SGD(learning_rate=0.2, momentum=0.8, nesterov=True, clipnorm=1.0, name="my_sgd"),
        optimizers.Adagrad(learning_rate=0.03, initial_accumulator_value=0.5, epsilon=1e-5, clipvalue=0.3),
        optimizers.RMSprop(learning_rate=0.004, rho=0.8, momentum=0.3, centered=True, weight_decay=0.01),
        optimizers.Adadelta(learning_rate=0.7, rho=0.9, epsilon=1e-6, global_clipnorm=3.0),
        optimizers.Adam(learning_rate=0.003, beta_1=0.8, beta_2=0.99, epsilon=1e-6, amsgrad=True),
        optimizers.AdamW(learning_rate=0.002, weight_decay=0.02, beta_1=0.85, amsgrad=True, clipnorm=2.0),
        optimizers.AdamW(learning_rate=0.002, weight_decay=0.0),
        optimizers.Nadam(learning_rate=0.005, beta_1=0.85, beta_2=0.95, epsilon=1e-5, momentum_decay=0.01),
        optimizers.Adamax(learning_rate=0.006, beta_1=0.7, beta_2=0.9, epsilon=1e-4, weight_decay=0.1),
        optimizers.Nadam(learning_rate=one_cycle(), clipvalue=1.0),
    ]


@pytest.mark.parametrize("optimizer", configured(), ids=lambda o: type(o).__name__)
def test_get_config_from_config_round_trip(optimizer):
    config = optimizer.get_config()
    rebuilt = type(optimizer).from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    via_registry = optimizers.deserialize(json.loads(json.dumps(optimizers.serialize(optimizer))))
    assert type(via_registry) is type(optimizer) and via_registry.get_config() == config


@pytest.mark.parametrize("name, cls", [
    ("sgd", optimizers.SGD), ("adagrad", optimizers.Adagrad), ("rmsprop", optimizers.RMSprop),
    ("adadelta", optimizers.Adadelta), ("adam", optimizers.Adam), ("adamw", optimizers.AdamW),
    ("nadam", optimizers.Nadam), ("adamax", optimizers.Adamax), ("Adagrad", optimizers.Adagrad),
    ("Adadelta", optimizers.Adadelta), ("AdamW", optimizers.AdamW), ("Nadam", optimizers.Nadam),
    ("Adamax", optimizers.Adamax)])
def test_string_names_in_compile(name, cls):
    model = gn.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is cls and model.optimizer.learning_rate == cls().learning_rate
    before = model.get_weights()
    model.fit(np.ones((4, 2), np.float32), np.full((4, 1), 3.0, np.float32), verbose=0)
    assert model.optimizer.iterations == 1
    assert any(np.any(a != b) for a, b in zip(before, model.get_weights()))
    assert name.lower() in optimizers.names()


RESUMABLE = {
    "sgd_nesterov": lambda: optimizers.SGD(learning_rate=0.02, momentum=0.9, nesterov=True),
    "adagrad": lambda: optimizers.Adagrad(learning_rate=0.1),
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
    "adadelta": lambda: optimizers.Adadelta(learning_rate=1.0),
    "adam_amsgrad": lambda: optimizers.Adam(learning_rate=0.02, amsgrad=True),
    "adamw": lambda: optimizers.AdamW(learning_rate=0.02, weight_decay=0.1),
    "nadam": lambda: optimizers.Nadam(learning_rate=0.02),
    "nadam_one_cycle": lambda: optimizers.Nadam(learning_rate=OneCycle(0.05, 10)),
    "adamax": lambda: optimizers.Adamax(learning_rate=0.02),
    "sgd_one_cycle": lambda: optimizers.SGD(learning_rate=OneCycle(0.05, 10)),
}


def fresh_params():
    return {name: Parameter(value.copy(), name=name) for name, value in INITIAL.items()}


@pytest.mark.parametrize("case", list(RESUMABLE))
def test_get_state_set_state_resumes_exactly(case):
    make = RESUMABLE[case]
    uninterrupted = glassnet_path(make(), steps=10)

    params, first = fresh_params(), make()
    glassnet_path(first, steps=4, params=params)
    state = json.loads(json.dumps({"iterations": first.get_state()["iterations"],
                                   "scalars": first.get_state()["scalars"]}))  # as a file holds them
    state["slots"] = {k: [np.array(a) for a in v] for k, v in first.get_state()["slots"].items()}
    resumed = type(first).from_config(json.loads(json.dumps(first.get_config())))
    resumed.set_state(state, list(params.values()))
    assert resumed.iterations == 4 and resumed.get_state()["scalars"] == first.get_state()["scalars"]
    path = glassnet_path(resumed, steps=6, params=params)
    for a, b in zip(path[-1], uninterrupted[-1]):
        np.testing.assert_array_equal(a, b)


def test_nadam_momentum_product_is_state_that_matters():
    uninterrupted = glassnet_path(optimizers.Nadam(learning_rate=0.02), steps=6)
    params, first = fresh_params(), optimizers.Nadam(learning_rate=0.02)
    glassnet_path(first, steps=5, params=params)
    state = first.get_state()
    expected = np.prod([0.9 * (1 - 0.5 * 0.96 ** (0.004 * t)) for t in range(1, 6)])
    assert state["scalars"] == {"mu_product": pytest.approx(expected, rel=1e-14)}

    def sixth_step(scalars):
        copies = {name: Parameter(p.data.copy(), name=name) for name, p in params.items()}
        restored = optimizers.Nadam(learning_rate=0.02)
        restored.set_state({**state, "scalars": scalars}, list(copies.values()))
        return glassnet_path(restored, steps=1, params=copies)[-1]

    for a, b in zip(sixth_step(state["scalars"]), uninterrupted[-1]):
        np.testing.assert_array_equal(a, b)
    # an older state without the product restarts it at 1 (all that can be done) and the step changes
    assert not all(np.array_equal(a, b) for a, b in zip(sixth_step({}), uninterrupted[-1]))


def model_resumes_exactly(tmp_path, make_optimizer):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 16, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)) ** 2
    gn.set_seed(1)
    model = gn.Sequential([gn.Input(shape=(3,)), layers.Dense(4, activation="tanh"), layers.Dense(1)])
    model.compile(make_optimizer(), "mse")
    for i in range(3):
        model.train_on_batch(x[i], y[i])
    path = tmp_path / "model.glassnet"
    model.save(path)
    loaded = gn.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer) and loaded.optimizer.iterations == 3
    saved_state, loaded_state = model.optimizer.get_state(), loaded.optimizer.get_state()
    assert loaded_state["scalars"] == saved_state["scalars"]
    for i in range(3, 6):  # the original continues: the loaded copy must follow it bit for bit
        model.train_on_batch(x[i], y[i])
        loaded.train_on_batch(x[i], y[i])
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.optimizer.get_state()["scalars"] == model.optimizer.get_state()["scalars"]
    return saved_state


@pytest.mark.parametrize("case", list(RESUMABLE))
def test_saved_model_resumes_exactly(tmp_path, case):
    state = model_resumes_exactly(tmp_path, RESUMABLE[case])
    assert state["slots"]
    if "nadam" in case:
        assert state["scalars"]["mu_product"] < 0.9 ** 3  # a real product was saved, not the initial 1.0
