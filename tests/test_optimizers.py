"""Optimizers: update rules against PyTorch and by hand, clipping, weight decay, learning rates and
schedules, state save/restore, configs, and both calling styles (Keras compile / PyTorch step)."""

import json

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers, optimizers
from glassnet.tensor import Parameter

RNG = np.random.default_rng(7)
A = RNG.standard_normal((12, 3, 4))  # a least-squares problem with two parameters: W (3x4) and b (4,)
TARGET = RNG.standard_normal((12, 4))
X = RNG.standard_normal((12, 3))
W0 = RNG.standard_normal((3, 4))
B0 = RNG.standard_normal(4)


def gn_loss(w, b):
    pred = gn.tensor(X) @ w + b
    return (((pred - gn.tensor(TARGET)) ** 2).mean() + 0.1 * (w ** 4).sum())


def gn_trajectory(optimizer, steps=20, w0=W0, b0=B0):
    w, b = Parameter(w0.copy(), name="w"), Parameter(b0.copy(), name="b")
    assert w.dtype == np.float64
    path = []
    for _ in range(steps):
        w.grad = b.grad = None
        gn_loss(w, b).backward()
        optimizer.step([w, b])
        path.append((w.data.copy(), b.data.copy()))
    return path


def torch_trajectory(torch, make, steps=20, w0=W0, b0=B0, before_step=None):
    w = torch.tensor(w0.copy(), requires_grad=True)
    b = torch.tensor(b0.copy(), requires_grad=True)
    optimizer = make([w, b])
    x, target = torch.tensor(X), torch.tensor(TARGET)
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = ((x @ w + b - target) ** 2).mean() + 0.1 * (w ** 4).sum()
        loss.backward()
        if before_step is not None:
            before_step([w, b])
        optimizer.step()
        path.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
    return path


def assert_same_path(path, reference, rtol=1e-6):
    assert len(path) == len(reference)
    for step, ((w, b), (tw, tb)) in enumerate(zip(path, reference)):
        np.testing.assert_allclose(w, tw, rtol=rtol, atol=1e-12, err_msg=f"step {step + 1}")
        np.testing.assert_allclose(b, tb, rtol=rtol, atol=1e-12, err_msg=f"step {step + 1}")


# ====================================================================== PyTorch parity
SGD_CASES = [
    dict(learning_rate=0.05),
    dict(learning_rate=0.05, momentum=0.9),
    dict(learning_rate=0.05, momentum=0.9, nesterov=True),
    dict(learning_rate=0.02, momentum=0.5),
]


@pytest.mark.parametrize("kwargs", SGD_CASES)
def test_sgd_matches_pytorch(kwargs):
    torch = pytest.importorskip("torch")
    torch_kwargs = {"lr": kwargs["learning_rate"], "momentum": kwargs.get("momentum", 0.0),
                    "nesterov": kwargs.get("nesterov", False), "dampening": 0.0}
    reference = torch_trajectory(torch, lambda p: torch.optim.SGD(p, **torch_kwargs))
    assert_same_path(gn_trajectory(optimizers.SGD(**kwargs)), reference)


@pytest.mark.parametrize("kwargs", [dict(learning_rate=0.05), dict(learning_rate=0.05, amsgrad=True),
                                    dict(learning_rate=0.1, beta_1=0.5, beta_2=0.9, epsilon=1e-3)])
def test_adam_matches_pytorch(kwargs):
    torch = pytest.importorskip("torch")
    torch_kwargs = {"lr": kwargs["learning_rate"], "betas": (kwargs.get("beta_1", 0.9), kwargs.get("beta_2", 0.999)),
                    "eps": kwargs.get("epsilon", 1e-7), "amsgrad": kwargs.get("amsgrad", False)}
    reference = torch_trajectory(torch, lambda p: torch.optim.Adam(p, **torch_kwargs))
    assert_same_path(gn_trajectory(optimizers.Adam(**kwargs)), reference)


def test_adam_with_decoupled_weight_decay_matches_pytorch_adamw():
    torch = pytest.importorskip("torch")
    reference = torch_trajectory(torch, lambda p: torch.optim.AdamW(p, lr=0.05, eps=1e-7, weight_decay=0.1))
    assert_same_path(gn_trajectory(optimizers.Adam(learning_rate=0.05, weight_decay=0.1)), reference)


@pytest.mark.parametrize("kwargs", [dict(learning_rate=0.01), dict(learning_rate=0.01, centered=True),
                                    dict(learning_rate=0.01, momentum=0.9),
                                    dict(learning_rate=0.01, momentum=0.5, centered=True, rho=0.8)])
def test_rmsprop_matches_pytorch(kwargs):
    torch = pytest.importorskip("torch")
    torch_kwargs = {"lr": kwargs["learning_rate"], "alpha": kwargs.get("rho", 0.9), "eps": 1e-7,
                    "momentum": kwargs.get("momentum", 0.0), "centered": kwargs.get("centered", False)}
    reference = torch_trajectory(torch, lambda p: torch.optim.RMSprop(p, **torch_kwargs))
    assert_same_path(gn_trajectory(optimizers.RMSprop(**kwargs)), reference)


def test_global_clipnorm_equals_torch_clip_grad_norm_then_step():
    torch = pytest.importorskip("torch")
    clip = 0.5  # the gradients of this problem have norms of ~10-100, so every step is clipped
    reference = torch_trajectory(torch, lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
                                 before_step=lambda p: torch.nn.utils.clip_grad_norm_(p, clip))
    # torch divides by (norm + 1e-6), glassnet by norm: equal to ~1e-7 relative, hence the small atol
    path = gn_trajectory(optimizers.SGD(learning_rate=0.01, momentum=0.9, global_clipnorm=clip))
    for (w, b), (tw, tb) in zip(path, reference):
        np.testing.assert_allclose(w, tw, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(b, tb, rtol=1e-6, atol=1e-8)


def test_clipvalue_equals_torch_clip_grad_value_then_step():
    torch = pytest.importorskip("torch")
    reference = torch_trajectory(torch, lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-7),
                                 before_step=lambda p: torch.nn.utils.clip_grad_value_(p, 0.3))
    assert_same_path(gn_trajectory(optimizers.Adam(learning_rate=0.01, clipvalue=0.3)), reference)


# ====================================================================== by hand
def one_step(optimizer, grads, values):
    params = [Parameter(np.array(v, dtype=np.float64)) for v in values]
    for p, g in zip(params, grads):
        p.grad = np.array(g, dtype=np.float64)
    optimizer.step(params)
    return [p.data for p in params]


def test_sgd_plain_step_by_hand():
    (w,) = one_step(optimizers.SGD(learning_rate=0.1), [[1.0, -2.0]], [[0.5, 0.5]])
    np.testing.assert_allclose(w, [0.4, 0.7])
    assert optimizers.SGD().learning_rate == 0.01  # Keras default


def test_sgd_dampening_equal_to_momentum_is_an_ema_from_zero():
    beta, lr = 0.9, 0.1
    optimizer = optimizers.SGD(learning_rate=lr, momentum=beta, dampening=beta)
    w = Parameter(np.zeros(3))
    grads = [np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, 3.0]), np.array([2.0, 2.0, -1.0])]
    v = np.zeros(3)
    expected = np.zeros(3)
    for g in grads:
        w.grad = g
        optimizer.step([w])
        v = beta * v + (1 - beta) * g
        expected = expected - lr * v
        np.testing.assert_allclose(w.data, expected, rtol=1e-12)
        np.testing.assert_allclose(optimizer.slot("momentum", w), v, rtol=1e-12)


def test_adam_first_step_is_lr_times_sign_of_gradient_whatever_the_scale():
    grads = np.array([1e-4, -3e-3, 0.5, -40.0, 2e4])  # |g| >> ε = 1e-7 (g/(|g| + ε) ≈ sign g)
    (w,) = one_step(optimizers.Adam(learning_rate=0.01), [grads], [np.zeros(5)])
    np.testing.assert_allclose(w, -0.01 * np.sign(grads), rtol=1e-3)
    assert optimizers.Adam().learning_rate == 0.001 and optimizers.Adam().epsilon == 1e-7


def test_adam_float32_parameters_stay_float32():
    optimizer = optimizers.Adam(learning_rate=0.1)
    w = Parameter(np.ones(4, np.float32))
    w.grad = np.full(4, 2.0, np.float32)
    optimizer.step([w])
    assert w.data.dtype == np.float32 and optimizer.slot("m", w).dtype == np.float32
    np.testing.assert_allclose(w.data, 0.9, rtol=1e-5)


def test_adam_handles_parameters_of_different_sizes_and_dtypes_in_one_step():
    optimizer = optimizers.Adam(learning_rate=0.1)
    values = [np.ones((3, 4)), np.ones(2), np.ones((5, 5, 2))]
    grads = [np.full_like(v, s) for v, s in zip(values, (1.0, -1.0, 3.0))]
    results = one_step(optimizer, grads, values)
    for r, g in zip(results, grads):
        np.testing.assert_allclose(r, 1 - 0.1 * np.sign(g), rtol=1e-5)


def test_rmsprop_first_step_by_hand():
    g = np.array([2.0, -0.5])
    (w,) = one_step(optimizers.RMSprop(learning_rate=0.01), [g], [np.zeros(2)])
    np.testing.assert_allclose(w, -0.01 * g / (np.sqrt(0.1 * g * g) + 1e-7))


# ====================================================================== clipping, weight decay
def test_clipnorm_is_per_variable():
    g1, g2 = np.array([3.0, 4.0]), np.array([0.3, 0.4])  # norms 5 and 0.5
    w1, w2 = one_step(optimizers.SGD(learning_rate=1.0, clipnorm=1.0), [g1, g2], [np.zeros(2), np.zeros(2)])
    np.testing.assert_allclose(w1, -g1 / 5.0)  # scaled to norm 1
    np.testing.assert_allclose(w2, -g2)  # already below: untouched


def test_global_clipnorm_scales_all_gradients_together():
    g1, g2 = np.array([3.0, 0.0]), np.array([0.0, 4.0])  # global norm 5
    w1, w2 = one_step(optimizers.SGD(learning_rate=1.0, global_clipnorm=2.5), [g1, g2], [np.zeros(2), np.zeros(2)])
    np.testing.assert_allclose(w1, -g1 / 2)
    np.testing.assert_allclose(w2, -g2 / 2)
    assert optimizers.global_norm([g1, g2]) == pytest.approx(5.0)


def test_clipvalue_clips_elementwise_and_leaves_the_gradient_arrays_alone():
    g = np.array([-5.0, 0.2, 3.0])
    params = [Parameter(np.zeros(3))]
    params[0].grad = g
    optimizers.SGD(learning_rate=1.0, clipvalue=1.0).step(params)
    np.testing.assert_allclose(params[0].data, [1.0, -0.2, -1.0])
    np.testing.assert_array_equal(params[0].grad, [-5.0, 0.2, 3.0])  # the .grad array was not modified


def test_weight_decay_is_decoupled():
    # with a zero gradient only the decay acts: w ← w·(1 − lr·wd), for every optimizer
    for optimizer in (optimizers.SGD(learning_rate=0.1, weight_decay=0.5),
                      optimizers.Adam(learning_rate=0.1, weight_decay=0.5),
                      optimizers.RMSprop(learning_rate=0.1, weight_decay=0.5)):
        (w,) = one_step(optimizer, [np.zeros(3)], [np.array([1.0, -2.0, 4.0])])
        np.testing.assert_allclose(w, np.array([1.0, -2.0, 4.0]) * (1 - 0.1 * 0.5), rtol=1e-12)
    # Adam: the decay does not go through the moment estimates (AdamW), so a step with gradient g
    # equals the decayed weight minus the plain Adam step
    g = np.array([0.3, -0.1, 2.0])
    (decayed,) = one_step(optimizers.Adam(learning_rate=0.1, weight_decay=0.5), [g], [np.ones(3)])
    (plain,) = one_step(optimizers.Adam(learning_rate=0.1), [g], [np.ones(3)])
    np.testing.assert_allclose(decayed, plain - 0.1 * 0.5 * 1.0, rtol=1e-12)


def test_constraints_are_applied_after_the_update():
    model = gn.Sequential([layers.Dense(2, input_shape=(3,), kernel_constraint=gn.constraints.NonNeg(),
                                        kernel_initializer="ones")])
    model.compile(optimizers.SGD(learning_rate=10.0), "mse")
    model.train_on_batch(np.ones((4, 3), np.float32), np.full((4, 2), 100.0, np.float32) * -1)
    assert np.all(model.layers[0].kernel.data >= 0)


# ====================================================================== learning rate and schedules
def test_learning_rate_read_and_set():
    optimizer = optimizers.Adam(learning_rate=0.01)
    assert optimizer.learning_rate == 0.01 and optimizer.lr == 0.01
    optimizer.learning_rate = 0.5
    assert optimizer.learning_rate == 0.5
    optimizer.lr = 0.25
    assert optimizer.learning_rate == 0.25
    (w,) = one_step(optimizers.SGD(learning_rate=0.01), [[1.0]], [[0.0]])
    sgd = optimizers.SGD(learning_rate=0.01)
    sgd.learning_rate = 0.2
    (w,) = one_step(sgd, [[1.0]], [[0.0]])
    np.testing.assert_allclose(w, [-0.2])
    assert optimizers.SGD(lr=0.3).learning_rate == 0.3  # PyTorch/Keras-2 spelling


def test_learning_rate_schedule_callable_is_evaluated_per_step():
    rates = []

    def schedule(step):
        rates.append(step)
        return 0.1 / (1 + step)

    optimizer = optimizers.SGD(learning_rate=schedule)
    w = Parameter(np.zeros(1))
    expected = 0.0
    for step in range(4):
        assert optimizer.learning_rate == pytest.approx(0.1 / (1 + step))
        w.grad = np.ones(1)
        optimizer.step([w])
        expected -= 0.1 / (1 + step)
    np.testing.assert_allclose(w.data, [expected])
    with pytest.raises(TypeError, match="schedule"):
        optimizer.learning_rate = 0.5
    optimizer.learning_rate = lambda step: 1.0  # a schedule may be replaced by another one
    assert optimizer.learning_rate == 1.0


def test_fit_logs_the_scheduled_learning_rate():
    x = np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = gn.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(optimizers.SGD(learning_rate=lambda step: 0.1 * 0.5 ** step), "mse")
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # two steps per epoch
    assert history.history["learning_rate"] == pytest.approx([0.1 * 0.5 ** 2, 0.1 * 0.5 ** 4])


# ====================================================================== configs and state
@pytest.mark.parametrize("optimizer", [
    optimizers.SGD(learning_rate=0.2, momentum=0.8, nesterov=True, clipnorm=1.0, name="my_sgd"),
    optimizers.SGD(learning_rate=0.2, momentum=0.8, dampening=0.8, weight_decay=0.01),
    optimizers.Adam(learning_rate=0.003, beta_1=0.8, beta_2=0.99, epsilon=1e-6, amsgrad=True,
                    global_clipnorm=2.0),
    optimizers.RMSprop(learning_rate=0.004, rho=0.8, momentum=0.3, centered=True, clipvalue=0.5),
])
def test_get_config_from_config_round_trip(optimizer):
    config = optimizer.get_config()
    config_again = json.loads(json.dumps(config))
    rebuilt = type(optimizer).from_config(config_again)
    assert rebuilt.get_config() == config
    via_registry = optimizers.deserialize(optimizers.serialize(optimizer))
    assert type(via_registry) is type(optimizer) and via_registry.get_config() == config


def test_schedule_objects_round_trip_through_config():
    @gn.register_serializable(package="tests")
    class Halving:
        def __init__(self, initial=0.1):
            self.initial = initial

        def __call__(self, step):
            return self.initial * 0.5 ** step

        def get_config(self):
            return {"initial": self.initial}

    optimizer = optimizers.Adam(learning_rate=Halving(0.2))
    rebuilt = optimizers.Adam.from_config(json.loads(json.dumps(optimizer.get_config())))
    assert isinstance(rebuilt._learning_rate, Halving) and rebuilt.learning_rate == 0.2


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
                                  lambda: optimizers.Adam(learning_rate=0.05, amsgrad=True),
                                  lambda: optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True)])
def test_get_state_set_state_resumes_identically(make):
    uninterrupted = gn_trajectory(make(), steps=10)

    first = make()
    w, b = Parameter(W0.copy()), Parameter(B0.copy())
    for _ in range(4):
        w.grad = b.grad = None
        gn_loss(w, b).backward()
        first.step([w, b])
    state = first.get_state()
    state = {"iterations": state["iterations"],  # as a file would hold it
             "slots": {k: [np.array(a) for a in v] for k, v in state["slots"].items()}}
    resumed = make()
    resumed.set_state(state, [w, b])
    assert resumed.iterations == 4
    for step in range(6):
        w.grad = b.grad = None
        gn_loss(w, b).backward()
        resumed.step([w, b])
    np.testing.assert_array_equal(w.data, uninterrupted[-1][0])
    np.testing.assert_array_equal(b.data, uninterrupted[-1][1])


def test_set_state_rejects_mismatched_slots():
    optimizer = optimizers.Adam()
    w = Parameter(np.zeros(3))
    optimizer.build([w])
    with pytest.raises(ValueError, match="slot"):
        optimizer.set_state({"iterations": 1, "slots": {"m": [np.zeros(4)], "v": [np.zeros(3)]}})
    with pytest.raises(ValueError, match="slots"):
        optimizer.set_state({"iterations": 1, "slots": {"m": [np.zeros(3), np.zeros(3)], "v": []}})


def test_get_state_is_a_copy():
    optimizer = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    (w,) = [Parameter(np.zeros(2))]
    w.grad = np.ones(2)
    optimizer.step([w])
    state = optimizer.get_state()
    w.grad = np.ones(2)
    optimizer.step([w])
    np.testing.assert_array_equal(state["slots"]["momentum"][0], [1.0, 1.0])


# ====================================================================== names and calling styles
@pytest.mark.parametrize("name, cls", [("sgd", optimizers.SGD), ("adam", optimizers.Adam),
                                       ("rmsprop", optimizers.RMSprop), ("Adam", optimizers.Adam),
                                       ("SGD", optimizers.SGD)])
def test_string_names_in_compile(name, cls):
    model = gn.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer=name, loss="mse")
    assert type(model.optimizer) is cls
    assert model.optimizer.learning_rate == cls().learning_rate
    model.fit(np.ones((4, 2), np.float32), np.ones((4, 1), np.float32), verbose=0)
    assert model.optimizer.iterations == 1
    assert "sgd" in optimizers.names() and "adam" in optimizers.names()
    assert isinstance(optimizers.get({"class_name": "Adam", "config": {"learning_rate": 0.5}}), optimizers.Adam)
    assert isinstance(optimizers.get(optimizers.RMSprop), optimizers.RMSprop)


def test_pytorch_style_construction_then_step():
    w = Parameter(np.array([1.0, 2.0]))
    optimizer = optimizers.SGD([w], lr=0.1)
    assert optimizer.learning_rate == 0.1
    w.grad = np.array([1.0, -1.0])
    optimizer.step()
    np.testing.assert_allclose(w.data, [0.9, 2.1])
    optimizer.zero_grad()
    assert w.grad is None
    optimizer.step()  # no gradients: nothing happens
    np.testing.assert_allclose(w.data, [0.9, 2.1])
    generator_opt = optimizers.Adam((p for p in [w]), lr=0.01)
    w.grad = np.ones(2)
    generator_opt.step()
    np.testing.assert_allclose(w.data, [0.89, 2.09], rtol=1e-6)
    with pytest.raises(ValueError, match="parameters"):
        optimizers.SGD(lr=0.1).step()


def test_keras_style_apply_gradients():
    w = Parameter(np.array([1.0, 2.0]))
    v = Parameter(np.array([0.0]))
    optimizer = optimizers.SGD(learning_rate=0.5)
    optimizer.apply_gradients([(np.array([2.0, 2.0]), w), (None, v)])
    np.testing.assert_allclose(w.data, [0.0, 1.0])
    np.testing.assert_allclose(v.data, [0.0])
    with pytest.raises(ValueError, match="shape"):
        optimizer.apply_gradients([(np.ones(3), w)])


def test_pytorch_positional_learning_rate_after_the_parameters():
    w = Parameter(np.array([1.0]))
    sgd = optimizers.SGD([w], 0.1)  # torch.optim.SGD(params, 0.1): 0.1 is lr, not momentum
    assert sgd.learning_rate == 0.1 and sgd.momentum == 0.0
    adam = optimizers.Adam([w], 0.02)
    assert adam.learning_rate == 0.02 and adam.beta_1 == 0.9
    assert optimizers.SGD([w], 0.1, momentum=0.9).momentum == 0.9
    keras_style = optimizers.SGD(0.1, 0.9)  # Keras order without parameters: (learning_rate, momentum)
    assert keras_style.learning_rate == 0.1 and keras_style.momentum == 0.9
    with pytest.raises(TypeError, match="keyword"):
        optimizers.SGD([w], 0.1, 0.9)
    with pytest.raises(TypeError, match="twice"):
        optimizers.SGD([w], 0.1, lr=0.2)


# ====================================================================== Adagrad, Adadelta, AdamW, Nadam, Adamax
def test_adagrad_two_steps_by_hand():
    g1, g2 = np.array([0.5, -2.0]), np.array([1.0, 0.1])
    optimizer = optimizers.Adagrad(learning_rate=0.1)
    assert optimizer.initial_accumulator_value == 0.1 and optimizer.epsilon == 1e-7
    w = Parameter(np.zeros(2))
    accumulator, expected = np.full(2, 0.1), np.zeros(2)
    for g in (g1, g2):
        w.grad = g
        optimizer.step([w])
        accumulator += g * g
        expected -= 0.1 * g / (np.sqrt(accumulator) + 1e-7)
        np.testing.assert_allclose(w.data, expected, rtol=1e-14)
        np.testing.assert_allclose(optimizer.slot("accumulator", w), accumulator, rtol=1e-14)
    with pytest.raises(ValueError, match="initial_accumulator_value"):
        optimizers.Adagrad(initial_accumulator_value=-1.0)


def test_adadelta_two_steps_by_hand():
    rho, eps, lr = 0.95, 1e-7, 1.0
    w = Parameter(np.array([1.0, -1.0]))
    optimizer = optimizers.Adadelta(learning_rate=lr)
    assert (optimizer.rho, optimizer.epsilon, optimizers.Adadelta().learning_rate) == (rho, eps, 0.001)
    mean_g2, mean_d2, expected = np.zeros(2), np.zeros(2), w.data.copy()
    for g in (np.array([0.3, -4.0]), np.array([-1.0, 2.0])):
        w.grad = g
        optimizer.step([w])
        mean_g2 = rho * mean_g2 + (1 - rho) * g * g
        delta = np.sqrt(mean_d2 + eps) / np.sqrt(mean_g2 + eps) * g
        mean_d2 = rho * mean_d2 + (1 - rho) * delta * delta
        expected -= lr * delta
        np.testing.assert_allclose(w.data, expected, rtol=1e-13)
        np.testing.assert_allclose(optimizer.slot("accumulated_delta", w), mean_d2, rtol=1e-13)


def test_adamw_is_adam_plus_decoupled_decay_with_keras_arguments():
    assert issubclass(optimizers.AdamW, optimizers.Adam)
    g = np.array([0.3, -0.1, 2.0])
    (decayed,) = one_step(optimizers.AdamW(learning_rate=0.1, weight_decay=0.5), [g], [np.ones(3)])
    (plain,) = one_step(optimizers.Adam(learning_rate=0.1), [g], [np.ones(3)])
    np.testing.assert_allclose(decayed, plain - 0.1 * 0.5, rtol=1e-12)
    keras_order = optimizers.AdamW(0.01, 0.2, 0.8)  # (learning_rate, weight_decay, beta_1, ...)
    assert (keras_order.learning_rate, keras_order.weight_decay, keras_order.beta_1) == (0.01, 0.2, 0.8)
    torch_order = optimizers.AdamW([Parameter(np.zeros(1))], 0.02)
    assert torch_order.learning_rate == 0.02 and torch_order.weight_decay == 0.004
    with pytest.raises(ValueError, match="weight_decay"):
        optimizers.AdamW(weight_decay=None)
    no_decay = optimizers.AdamW(weight_decay=0.0)
    assert optimizers.AdamW.from_config(no_decay.get_config()).get_config() == no_decay.get_config()


def nadam_reference(grads, lr=0.01, beta_1=0.9, beta_2=0.999, eps=1e-7, psi=0.004):
    """Dozat's Nadam written out step by step (the PyTorch NAdam / Keras 2 formula)."""
    w, m, v, product = np.zeros_like(grads[0]), np.zeros_like(grads[0]), np.zeros_like(grads[0]), 1.0
    for t, g in enumerate(grads, start=1):
        mu, mu_next = (beta_1 * (1 - 0.5 * 0.96 ** (psi * s)) for s in (t, t + 1))
        product *= mu
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        v_hat = v / (1 - beta_2 ** t)
        w = w - lr * ((1 - mu) / (1 - product) * g + mu_next / (1 - product * mu_next) * m) / (np.sqrt(v_hat) + eps)
    return w, product


@pytest.mark.parametrize("psi", [0.004, 1.0])
def test_nadam_by_hand_with_dozat_and_keras3_momentum_schedules(psi):
    grads = [np.array([0.5, -2.0, 1e-3]), np.array([1.0, 0.5, -1e-3]), np.array([-0.2, 0.1, 4.0])]
    optimizer = optimizers.Nadam(learning_rate=0.01, momentum_decay=psi)
    w = Parameter(np.zeros(3))
    for g in grads:
        w.grad = g
        optimizer.step([w])
    expected, product = nadam_reference(grads, psi=psi)
    np.testing.assert_allclose(w.data, expected, rtol=1e-13)
    assert optimizer.mu_product == pytest.approx(product, rel=1e-15)
    assert optimizer.get_state()["scalars"] == {"mu_product": optimizer.mu_product}


def test_nadam_product_advances_once_per_step_not_per_variable():
    optimizer = optimizers.Nadam(learning_rate=0.01)
    params = [Parameter(np.ones(2)), Parameter(np.ones(3)), Parameter(np.ones((2, 2)))]
    for p in params:
        p.grad = np.ones_like(p.data)
    optimizer.step(params)
    assert optimizer.mu_product == pytest.approx(0.9 * (1 - 0.5 * 0.96 ** 0.004), rel=1e-15)


def test_adamax_first_steps_by_hand_and_epsilon_inside_the_max():
    lr, eps = 0.01, 1e-7
    optimizer = optimizers.Adamax(learning_rate=lr)
    w = Parameter(np.zeros(3))
    m, u, expected = np.zeros(3), np.zeros(3), np.zeros(3)
    for t, g in enumerate([np.array([0.5, -3.0, 0.0]), np.array([0.1, 2.0, 0.0])], start=1):
        w.grad = g
        optimizer.step([w])
        m = 0.9 * m + 0.1 * g
        u = np.maximum(0.999 * u, np.abs(g) + eps)  # PyTorch: ε inside the max (Keras: max(βu, |g|) + ε)
        expected -= lr / (1 - 0.9 ** t) * m / u
        np.testing.assert_allclose(w.data, expected, rtol=1e-14)
    assert optimizer.slot("u", w)[2] == eps  # a zero gradient leaves u = ε (Keras keeps u = 0, divides by u + ε)


@pytest.mark.parametrize("make", [optimizers.SGD, lambda: optimizers.SGD(momentum=0.9), optimizers.Adagrad,
                                  optimizers.RMSprop, optimizers.Adadelta, optimizers.Adam, optimizers.AdamW,
                                  optimizers.Nadam, optimizers.Adamax])
def test_every_optimizer_keeps_float32_float32_and_handles_mixed_shapes(make):
    optimizer = make()
    params = [Parameter(np.ones((3, 4), np.float32)), Parameter(np.ones(2, np.float32)),
              Parameter(np.ones((5, 5, 2), np.float32))]
    for _ in range(2):
        for p, scale in zip(params, (1.0, -1.0, 3.0)):
            p.grad = np.full(p.shape, scale, np.float32)
        optimizer.step(params)
    for p, scale in zip(params, (1.0, -1.0, 3.0)):
        assert p.data.dtype == np.float32
        assert np.all(np.sign(1.0 - p.data) == np.sign(scale))  # moved against the gradient
    for arrays in optimizer.get_state()["slots"].values():
        assert all(a.dtype == np.float32 for a in arrays)


def test_scratch_buffers_are_separate_per_index_and_shared_across_variables():
    optimizer = optimizers.Adam()
    small, large = Parameter(np.zeros(3)), Parameter(np.zeros((4, 5)))
    first, second = optimizer.scratch(large), optimizer.scratch(large, 1)
    assert first.shape == (4, 5) and not np.shares_memory(first, second)
    assert np.shares_memory(optimizer.scratch(small), first)  # one buffer, reused


# ====================================================================== momentum cycling hook
def test_cycled_momentum_is_set_from_the_schedule_before_each_step():
    from glassnet.schedules import OneCycle

    schedule = OneCycle(0.1, 10, base_momentum=0.8, max_momentum=0.9)
    seen = []

    class Recording(optimizers.Adam):
        def prepare_step(self):
            seen.append(self.beta_1)

    optimizer = Recording(learning_rate=schedule, beta_1=0.5)
    assert optimizer.cycles_momentum
    w = Parameter(np.zeros(2))
    for _ in range(10):
        w.grad = np.ones(2)
        optimizer.step([w])
    np.testing.assert_allclose(seen, schedule.momenta(np.arange(10)), rtol=1e-15)
    assert [cls.cycled_momentum for cls in (optimizers.SGD, optimizers.RMSprop, optimizers.Adam, optimizers.AdamW,
                                            optimizers.Nadam, optimizers.Adamax)] == \
        ["momentum", "momentum", "beta_1", "beta_1", "beta_1", "beta_1"]


def test_nadam_product_uses_the_cycled_beta_1():
    from glassnet.schedules import OneCycle

    schedule = OneCycle(0.1, 6, base_momentum=0.7, max_momentum=0.9)
    optimizer = optimizers.Nadam(learning_rate=schedule)
    w = Parameter(np.zeros(1))
    for _ in range(6):
        w.grad = np.ones(1)
        optimizer.step([w])
    expected = np.prod([schedule.momentum(t - 1) * (1 - 0.5 * 0.96 ** (0.004 * t)) for t in range(1, 7)])
    assert optimizer.mu_product == pytest.approx(expected, rel=1e-14)


def test_momentum_cycling_off_or_unsupported():
    from glassnet.schedules import OneCycle

    quiet = optimizers.SGD(learning_rate=OneCycle(0.1, 10, cycle_momentum=False), momentum=0.5)
    assert not quiet.cycles_momentum and quiet.slot_names() == ("momentum",)
    w = Parameter(np.zeros(2))
    w.grad = np.ones(2)
    quiet.step([w])
    assert quiet.momentum == 0.5
    for cls in (optimizers.Adagrad, optimizers.Adadelta):
        with pytest.raises(ValueError, match="cycle_momentum=False"):
            cls(learning_rate=OneCycle(0.1, 10))
        cls(learning_rate=OneCycle(0.1, 10, cycle_momentum=False))  # fine without cycling
        plain = cls(learning_rate=0.1)
        with pytest.raises(ValueError, match="cycle_momentum=False"):
            plain.learning_rate = OneCycle(0.1, 10)
        assert plain.learning_rate == 0.1  # the refused schedule was not installed

    class MomentumButNoRequest:  # a schedule with momentum() that does not ask for cycling
        def __call__(self, step):
            return 0.1

        def momentum(self, step):
            return 0.0

    adam = optimizers.Adam(learning_rate=MomentumButNoRequest(), beta_1=0.6)
    w.grad = np.ones(2)
    adam.step([w])
    assert adam.beta_1 == 0.6 and not adam.cycles_momentum


def test_a_cycling_schedule_set_later_creates_the_momentum_buffer():
    from glassnet.schedules import OneCycle

    optimizer = optimizers.SGD(learning_rate=0.1)  # momentum 0: no buffer yet
    w = Parameter(np.zeros(2))
    w.grad = np.ones(2)
    optimizer.step([w])
    assert optimizer.get_state()["slots"] == {}
    optimizer.learning_rate = OneCycle(0.1, 10)
    np.testing.assert_array_equal(optimizer.slot("momentum", w), [0.0, 0.0])
    w.grad = np.ones(2)
    before = w.data.copy()
    optimizer.step([w])
    schedule = optimizer._learning_rate
    assert optimizer.momentum == pytest.approx(schedule.momentum(1))
    np.testing.assert_allclose(optimizer.slot("momentum", w), [1.0, 1.0])
    np.testing.assert_allclose(w.data, before - schedule(1) * 1.0)


# ====================================================================== scalar optimizer state
class Counting(optimizers.SGD):
    """An SGD that also counts the squared gradient norm it has seen (scalar state)."""

    state_scalars = ("seen",)

    def __init__(self, *args, **kwargs):
        self.seen = 0.0
        super().__init__(*args, **kwargs)

    def update_step(self, gradient, variable, learning_rate):
        self.seen += float(np.sum(gradient * gradient))
        super().update_step(gradient, variable, learning_rate)


def test_state_scalars_are_saved_and_restored():
    optimizer = Counting(learning_rate=0.1)
    w = Parameter(np.zeros(2))
    w.grad = np.array([1.0, 2.0])
    optimizer.step([w])
    state = optimizer.get_state()
    assert state["scalars"] == {"seen": 5.0}
    fresh = Counting(learning_rate=0.1)
    fresh.set_state(json.loads(json.dumps(state)), [w])
    assert fresh.seen == 5.0 and fresh.iterations == 1
    fresh.set_state({"iterations": 1, "slots": {}, "scalars": {"unknown": 3.0}})  # ignored, like unknown slots
    assert fresh.seen == 5.0 and not hasattr(fresh, "unknown")
    assert optimizers.Adam().get_state()["scalars"] == {}


def _saved_nadam_model(tmp_path):
    model = gn.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizers.Nadam(learning_rate=0.01), "mse")
    for _ in range(3):
        model.train_on_batch(np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32))
    path = tmp_path / "nadam.glassnet"
    model.save(path)
    return model, path


def _rewrite_optimizer_config(path, change):
    """Rewrite the optimizer entry of a saved model's config.json, keeping the checksums valid."""
    import hashlib
    import zipfile

    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    header = json.loads(entries.pop("glassnet.json"))
    config = json.loads(entries["config.json"])
    change(config["optimizer"])
    entries["config.json"] = json.dumps(config).encode()
    header["sha256"] = {name: hashlib.sha256(content).hexdigest() for name, content in entries.items()}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("glassnet.json", json.dumps(header))
        for name, content in entries.items():
            archive.writestr(name, content)


def test_saved_model_keeps_scalar_state_and_older_files_still_load(tmp_path):
    model, path = _saved_nadam_model(tmp_path)
    loaded = gn.load_model(path)
    assert loaded.optimizer.mu_product == model.optimizer.mu_product < 0.9 ** 3
    _rewrite_optimizer_config(path, lambda config: config.pop("scalars"))  # as written before scalars existed
    older = gn.load_model(path)
    assert older.optimizer.iterations == 3 and older.optimizer.mu_product == 1.0
    np.testing.assert_array_equal(older.optimizer.slot("m", older.weights[0]),
                                  model.optimizer.slot("m", model.weights[0]))


def test_malformed_scalar_state_in_a_file_is_refused(tmp_path):
    _, path = _saved_nadam_model(tmp_path)
    _rewrite_optimizer_config(path, lambda config: config.update(scalars={"mu_product": "0.5"}))
    with pytest.raises(gn.errors.FileFormatError, match="scalars"):
        gn.load_model(path)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "nadam", "adamax"])
def test_threaded_update_of_large_models_is_bit_identical(name, monkeypatch):
    """Large models are updated by several threads, each on a piece of the flattened parameters;
    every element sees the same operations, so the weights equal a one-thread run exactly.
    (On the NumPy paths: an optimizer with a compiled one-pass update stays on one thread.)"""
    from glassnet import accel, backend
    from glassnet.optimizers import base as optimizer_base

    monkeypatch.setattr(accel, "_enabled", False)

    rng = np.random.default_rng(7)
    shapes = [(300, 300), (500,), (200, 400)]  # 170,500 elements: above the threading threshold
    initial = [rng.standard_normal(s).astype("float32") for s in shapes]
    gradients = [[rng.standard_normal(s).astype("float32") for s in shapes] for _ in range(4)]

    def run(threads):
        backend.set_num_threads(threads)
        try:
            params = [gn.Parameter(w.copy()) for w in initial]
            optimizer = gn.optimizers.get(name)
            optimizer.weight_decay = 0.01 if name in ("sgd", "adam") else optimizer.weight_decay
            for step_grads in gradients:
                optimizer.apply(step_grads, params)
            return [p.data for p in params]
        finally:
            backend.set_num_threads(None)

    assert sum(int(np.prod(s)) for s in shapes) >= 2 * optimizer_base.PARALLEL_MIN_ELEMENTS
    import threading

    workers = set()
    original = optimizer_base._update_pieces

    def recording(*args):
        workers.add(threading.get_ident())
        return original(*args)

    optimizer_base._update_pieces = recording
    try:
        two_threads = run(2)
    finally:
        optimizer_base._update_pieces = original
    assert len(workers) == 2  # the work really was split
    for one, two in zip(run(1), two_threads):
        np.testing.assert_array_equal(one, two)
    assert not np.array_equal(run(2)[0], initial[0])
