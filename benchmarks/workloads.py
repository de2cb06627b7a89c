"""The benchmark workloads, each defined once for glassnet and once for PyTorch on the same data.

Every ``*_runs(n_threads)`` returns ``(runs, units, unit)``: a dict of zero-argument functions
(``"glassnet"``, ``"pytorch"`` when torch is installed, and any reference named in
:data:`REFERENCES`) that each do one unit of work after a warm-up, how many samples/steps one call
processes, and the unit name.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .common import import_torch

import glassnet as gn  # noqa: E402  (common puts the repository on sys.path)
from glassnet import layers, losses, optimizers  # noqa: E402
from glassnet.ops.nonlinear import bias_relu_inplace, relu_array  # noqa: E402
from glassnet.training import check_finite  # noqa: E402

MLP_SIZES = (784, 256, 128, 10)
MLP_FLOPS_PER_SAMPLE = 2 * (784 * 256 + 256 * 128 + 128 * 10) * 2 + 2 * (256 * 128 + 128 * 10)
"""Forward GEMMs, weight-gradient GEMMs (as many FLOPs again) and the input gradients of layers 2-3."""


def _data(shape, classes, samples, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((samples,) + shape, dtype=np.float32), rng.integers(0, classes, samples)


def _torch_training_epoch(torch, net, x, y, batch, loss_fn, optimizer):
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def epoch():
        order = torch.randperm(len(xt))
        xs, ys = xt[order], yt[order]
        for start in range(0, len(xs), batch):
            optimizer.zero_grad()
            loss = loss_fn(net(xs[start:start + batch]), ys[start:start + batch])
            loss.backward()
            optimizer.step()

    epoch()
    return epoch


def _glassnet_training_epoch(model, x, y, batch):
    def epoch():
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)

    epoch()
    return epoch


# ---------------------------------------------------------------- MLP
def mlp_glassnet_model():
    gn.set_seed(0)
    model = gn.Sequential([layers.Input(shape=(MLP_SIZES[0],))]
                          + [layers.Dense(n, activation="relu") for n in MLP_SIZES[1:-1]]
                          + [layers.Dense(MLP_SIZES[-1])])
    model.compile(optimizer=optimizers.Adam(1e-3), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def mlp_torch_model(torch):
    torch.manual_seed(0)
    modules = []
    for a, b in zip(MLP_SIZES[:-2], MLP_SIZES[1:-1]):
        modules += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    return torch.nn.Sequential(*modules, torch.nn.Linear(MLP_SIZES[-2], MLP_SIZES[-1]))


def mlp_training_runs(n_threads, samples=20_000, batch=128):
    """784-256-128-10 ReLU MLP, softmax cross-entropy from logits, Adam, batch 128: one epoch."""
    x, y = _data((MLP_SIZES[0],), MLP_SIZES[-1], samples)
    runs = {"glassnet": _glassnet_training_epoch(mlp_glassnet_model(), x, y, batch)}
    torch = import_torch(n_threads)
    if torch is not None:
        net = mlp_torch_model(torch)
        runs["pytorch"] = _torch_training_epoch(torch, net, x, y, batch, torch.nn.CrossEntropyLoss(),
                                                torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7))
    return runs, samples, "samples/s"


def mlp_inference_runs(n_threads, samples=20_000, batch=1024):
    """``predict`` of the same MLP on 20,000 samples in batches of 1024, with two references timed in
    the same rounds: the NumPy floor (:func:`_mlp_numpy_floor`) and the floor plus ``predict``'s input
    NaN/inf check."""
    x, _ = _data((MLP_SIZES[0],), MLP_SIZES[-1], samples)
    model = mlp_glassnet_model()
    runs = {"glassnet": lambda: model.predict(x, batch_size=batch, verbose=0)}
    floor = _mlp_numpy_floor(model, x, batch)
    runs["floor"] = floor
    runs["floor+check"] = lambda: (check_finite(x, "x"), floor())[1]
    torch = import_torch(n_threads)
    if torch is not None:
        net = mlp_torch_model(torch).eval()
        xt = torch.from_numpy(x)

        def torch_predict():
            with torch.no_grad():
                return torch.cat([net(xt[i:i + batch]) for i in range(0, samples, batch)]).numpy()

        runs["pytorch"] = torch_predict
    for run in runs.values():
        run()
    if not np.array_equal(floor(), runs["glassnet"]()):
        raise AssertionError("the NumPy floor must compute exactly what predict computes")
    return runs, samples, "samples/s"


def _mlp_numpy_floor(model, x, batch):
    """``model.predict(x)`` (the ReLU MLP) as bare array calls: per batch and layer one GEMM and
    glassnet's own bias(+ReLU) pass — no Tensors, no layers, no input check. The time glassnet's
    ``predict`` cannot go below with NumPy's GEMM: its ratio to PyTorch is the ceiling of this workload."""
    weights = [(layer.kernel.data, layer.bias.data) for layer in model.layers]
    last = len(weights) - 1

    def forward(h):
        for i, (kernel, bias) in enumerate(weights):
            h = h @ kernel
            if i < last and bias_relu_inplace(h, bias):
                continue
            h += bias
            if i < last:
                relu_array(h, out=h)
        return h

    return lambda: np.concatenate([forward(x[i:i + batch]) for i in range(0, len(x), batch)])


# ---------------------------------------------------------------- tiny network: per-step overhead
def tiny_training_runs(n_threads, samples=1000, batch=4):
    """2-8-1 tanh/sigmoid XOR network, binary cross-entropy, SGD(0.1), batch 4: 250 steps."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, (samples, 2)).astype(np.float32)
    y = (x[:, :1] != x[:, 1:]).astype(np.float32)
    gn.set_seed(0)
    model = gn.Sequential([layers.Input(shape=(2,)), layers.Dense(8, activation="tanh"),
                           layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.SGD(0.1), loss="binary_crossentropy")
    runs = {"glassnet": _glassnet_training_epoch(model, x, y, batch)}
    torch = import_torch(n_threads)
    if torch is not None:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1), torch.nn.Sigmoid())
        runs["pytorch"] = _torch_training_epoch(torch, net, x, y, batch, torch.nn.BCELoss(),
                                                torch.optim.SGD(net.parameters(), lr=0.1))
    return runs, samples // batch, "steps/s"


# ---------------------------------------------------------------- CNN
def cnn_training_runs(n_threads, samples=4096, batch=64):
    """28×28×1: Conv(32,3)-MaxPool(2)-Conv(64,3)-MaxPool(2)-Dense(128)-Dense(10), Adam, batch 64."""
    x, y = _data((28, 28, 1), 10, samples)
    gn.set_seed(0)
    model = gn.Sequential([layers.Input(shape=(28, 28, 1)),
                           layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Flatten(), layers.Dense(128, activation="relu"), layers.Dense(10)])
    model.compile(optimizer=optimizers.Adam(1e-3), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    runs = {"glassnet": _glassnet_training_epoch(model, x, y, batch)}
    torch = import_torch(n_threads)
    if torch is not None:
        torch.manual_seed(0)
        nn = torch.nn

        class ChannelsLast(nn.Module):  # glassnet's layout is channels-last; torch convolves NCHW
            def forward(self, images):
                return images.permute(0, 3, 1, 2)

        net = nn.Sequential(ChannelsLast(), nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                            nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(),
                            nn.Linear(128, 10))
        runs["pytorch"] = _torch_training_epoch(torch, net, x, y, batch, nn.CrossEntropyLoss(),
                                                torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7))
    return runs, samples, "samples/s"


# ---------------------------------------------------------------- recurrent
RECURRENT_LAYERS = {"lstm": ("LSTM", "LSTM"), "gru": ("GRU", "GRU"), "rnn": ("SimpleRNN", "RNN")}
"""kind → (glassnet layer, torch.nn module): the same cell in both (Keras' GRU default reset_after=True is
PyTorch's formulation)."""


def recurrent_training_runs(n_threads, kind="lstm", samples=4096, batch=64, steps=40, features=8, units=64):
    """T=40, 8 features → LSTM(64) (or GRU, SimpleRNN) → Dense(10) on the last step, Adam, batch 64."""
    glassnet_layer, torch_module = RECURRENT_LAYERS[kind]
    x, y = _data((steps, features), 10, samples)
    gn.set_seed(0)
    model = gn.Sequential([layers.Input(shape=(steps, features)), getattr(layers, glassnet_layer)(units),
                           layers.Dense(10)])
    model.compile(optimizer=optimizers.Adam(1e-3), loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    runs = {"glassnet": _glassnet_training_epoch(model, x, y, batch)}
    torch = import_torch(n_threads)
    if torch is not None:
        torch.manual_seed(0)
        nn = torch.nn

        class LastStep(nn.Module):
            def __init__(self):
                super().__init__()
                self.recurrent = getattr(nn, torch_module)(features, units, batch_first=True)
                self.head = nn.Linear(units, 10)

            def forward(self, sequences):
                return self.head(self.recurrent(sequences)[0][:, -1])

        net = LastStep()
        runs["pytorch"] = _torch_training_epoch(torch, net, x, y, batch, nn.CrossEntropyLoss(),
                                                torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7))
    return runs, samples, "samples/s"


WORKLOADS = {
    "mlp": ("MLP training", mlp_training_runs, 5, 1.2),
    "tiny": ("tiny-net step overhead", tiny_training_runs, 15, 2.0),
    "cnn": ("CNN training", cnn_training_runs, 3, 0.7),
    "lstm": ("LSTM training", recurrent_training_runs, 5, 1.0),
    "inference": ("MLP inference", mlp_inference_runs, 15, 1.0),
}
"""name → (label, runs factory, default rounds, goal ratio glassnet / PyTorch): the issue's workloads,
run by default."""

EXTRA_WORKLOADS = {
    "gru": ("GRU training", partial(recurrent_training_runs, kind="gru"), 5, None),
    "rnn": ("SimpleRNN training", partial(recurrent_training_runs, kind="rnn"), 5, None),
}
"""Run only when named in ``--only``: the LSTM workload with the other recurrent layers (no goal)."""

REFERENCES = {
    "floor": "floor: bare NumPy calls",
    "floor+check": "floor + input check",
}
"""Extra runs of a workload, printed under it with their own ratio to PyTorch: what glassnet's time
would be without its framework (the floor), and with only the input check ``predict`` adds."""
