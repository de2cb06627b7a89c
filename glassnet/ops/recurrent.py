"""Recurrent sequence ops: a SimpleRNN, LSTM or GRU run over a whole sequence as ONE graph node.

Shapes: inputs ``x`` (N, T, F) batch-major (channels-last, as Keras), ``kernel`` W (F, G·U),
``recurrent_kernel`` Ū (U, G·U), states (N, U); G = 1 (SimpleRNN), 4 (LSTM), 3 (GRU). The cells
(Keras 3 gate order, σ = ``recurrent_activation``, φ = ``activation``):

* SimpleRNN  hₜ = φ(xₜW + hₜ₋₁Ū + b)
* LSTM (i, f, c, o)  [i f c̃ o] = [σ σ φ σ](xₜW + hₜ₋₁Ū + b),  cₜ = f⊙cₜ₋₁ + i⊙c̃,  hₜ = o⊙φ(cₜ)
* GRU (z, r, h), ``reset_after=True`` (bias of shape (2, 3U) = [input bias; recurrent bias]):
      [z r] = σ(xₜW_zr + b_zr + hₜ₋₁Ū_zr + b̄_zr),  h̃ = φ(xₜW_h + b_h + r⊙(hₜ₋₁Ū_h + b̄_h)),
      hₜ = z⊙hₜ₋₁ + (1 − z)⊙h̃;  ``reset_after=False``: h̃ = φ(xₜW_h + b_h + (r⊙hₜ₋₁)Ū_h)

Options shared by all three: ``mask`` (N, T) bool — a masked step keeps the previous state (and so
outputs the previous output, Keras); ``input_dropout`` (N, F) and ``recurrent_dropout`` (N, U):
already-scaled keep masks multiplying xₜ (before W) and hₜ₋₁ (before Ū) at every step — one mask
per sequence; ``go_backwards``: the sequence is processed from its last step, and outputs come out
in processing order (Keras).

Speed. Inside the ops everything is stored FEATURE-MAJOR and time-major, (T, rows, N): a step's
state is a contiguous (U, N) block and each gate is a contiguous (U, N) block of the step's (G·U, N)
pre-activations, so every per-step element-wise kernel runs on contiguous memory (NumPy is several
times slower on the (N, U) column slices of a batch-major layout: 7 µs instead of 1.5 µs for a 64×64
block). One array XH (T+1, F+1+U, N) holds the columns [x̃ₜ; 1; h̃ₜ₋₁] of every step: the input
projection [W; b]ᵀ·[x̃; 1] of all steps is computed before the loop, the loop over time (inherent;
never over samples) does one Ūᵀ·h̃ GEMM per step, and after the backward loop Σₜ XH[t]·∂A[t]ᵀ gives
∂W, ∂b and ∂Ū together (∂x: one batched GEMM W·∂A). Backpropagation through time stores the
pre-activation gradients ∂A of every step. The LSTM with the default activations evaluates its four
gates with one tanh (σ(a) = (1 + tanh(a/2))/2). The whole op runs with ONE BLAS thread
(:class:`_SingleThreadedBlas`): its GEMMs are too small for a threaded BLAS to pay off. With the
compiled kernels (:mod:`glassnet.accel`), the LSTM (σ/tanh) and the GRU (σ/tanh, reset_after) run
each loop over time as ONE compiled call per part of the batch, one part per thread
(:func:`_lstm_compiled`, :func:`_gru_compiled`).
Activations with a fused kernel: ``FUSED_ACTIVATIONS``; other activations use the ``*_composed``
versions — the same cells written with glassnet ops, which are also the reference the fused ops are
checked against.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import accel, backend, native
from ..blas import SINGLE_THREADED_BLAS
from ..tensor import Tensor, is_grad_enabled, make_result
from . import nonlinear
from .elementwise import add, as_float_tensor, multiply, subtract, where
from .linalg import dense, matmul
from .parallel import in_parts
from .shape import getitem, stack




# ------------------------------------------------------------------ a helper thread
class _Done:
    """The result of work that ran at once (the interface of a ``concurrent.futures.Future``)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class _Background:
    """``submit(fn, *args)`` runs work that is off a recurrence's critical path — a piece of the backward
    coefficients during the forward loop, a piece of the weight gradient during the backward loop — on
    ONE helper thread, while the loop goes on. NumPy releases the GIL inside its kernels and GEMMs, so
    the two run on two cores; each piece is a few large calls, so the threads rarely wait for the GIL.
    With fewer than two threads (``backend.num_threads()``) or ``enabled = False`` the work runs at once.
    Results come back through ``.result()`` (which re-raises the piece's exception).
    """

    def __init__(self):
        self.enabled = True
        self._executor = None
        self._pid = None
        self._lock = threading.Lock()

    def submit(self, fn, *args):
        if not self.enabled or backend.num_threads() < 2:
            return _Done(fn(*args))
        with self._lock:
            if self._executor is None or self._pid != os.getpid():  # (a forked child has no thread)
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glassnet-recurrent")
                self._pid = os.getpid()
            executor = self._executor
        return executor.submit(fn, *args)


BACKGROUND = _Background()


# ------------------------------------------------------------------ activation kernels (in place)
def _sigmoid_(a):
    """σ(a) = (1 + tanh(a/2))/2 in place: no overflow, 4 passes, no temporaries."""
    np.multiply(a, 0.5, out=a)
    np.tanh(a, out=a)
    np.multiply(a, 0.5, out=a)
    np.add(a, 0.5, out=a)


def _tanh_(a):
    np.tanh(a, out=a)


def _relu_(a):
    np.maximum(a, 0, out=a)


def _hard_sigmoid_(a):
    np.multiply(a, 1.0 / 6.0, out=a)
    np.add(a, 0.5, out=a)
    np.clip(a, 0.0, 1.0, out=a)


def _linear_(a):
    pass


# name → (in-place forward, derivative as a function of the OUTPUT y, or None when it is 1)
FUSED_ACTIVATIONS = {
    "tanh": (_tanh_, lambda y: 1.0 - y * y),
    "sigmoid": (_sigmoid_, lambda y: y * (1.0 - y)),
    "relu": (_relu_, lambda y: (y > 0).astype(y.dtype)),
    "hard_sigmoid": (_hard_sigmoid_, lambda y: ((y > 0) & (y < 1)).astype(y.dtype) * (1.0 / 6.0)),
    "linear": (_linear_, None),
}

_COMPOSED_ACTIVATIONS = {"tanh": nonlinear.tanh, "sigmoid": nonlinear.sigmoid, "relu": nonlinear.relu,
                         "hard_sigmoid": nonlinear.hard_sigmoid, "linear": lambda x: x}


def _kernel(name):
    try:
        return FUSED_ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"No fused recurrent kernel for activation {name!r}; fused activations are "
                         f"{sorted(FUSED_ACTIVATIONS)} (use the *_composed op for others).") from None


def _sum_outer(A, B):
    """Σₜ A[t]·B[t]ᵀ for A (T, K, N), B (T, R, N): the (K, R) weight gradient of feature-major steps."""
    return np.matmul(B, A.transpose(0, 2, 1)).sum(axis=0).T


# ------------------------------------------------------------------ shared plumbing
class _Sequence:
    """The arrays every fused cell needs, feature-major and time-major (T, rows, N).

    ``XH`` (T+1, U+F+1, N): the columns [h̃ₜ₋₁; x̃ₜ; 1] of step t (x̃ after input dropout, h̃ after
    recurrent dropout); ``HD`` = its rows h̃, ``XA`` = its rows [x̃; 1], and ``H`` (T+1, U, N) the states
    (the same view as HD without recurrent dropout); H[0] is the initial state. ``blocks`` (T+1, E+1, U, N)
    is ``extra_blocks`` = E blocks a cell may keep right before hₜ₋₁, then hₜ₋₁ (one record, so that one
    NumPy call can span them). Masks and dropout masks are transposed to broadcast against (rows, N).
    """

    def __init__(self, x, kernel, recurrent_kernel, bias, states, mask, input_dropout, recurrent_dropout,
                 go_backwards, gates, extra_blocks=0, samples=slice(None)):
        self.x = as_float_tensor(x)
        X = self.x.data
        if X.ndim != 3:
            raise ValueError(f"recurrent op: inputs must have shape (batch, timesteps, features), got {X.shape}.")
        self.dtype = X.dtype
        # ``samples``: the arrays hold only these samples of the batch (one thread's part, see lstm)
        self.samples, self.batch = samples, X.shape[0]
        X = X[samples]
        self.N, self.T, self.F = X.shape
        self.kernel, self.recurrent_kernel, self.bias = kernel, recurrent_kernel, bias
        self.units = recurrent_kernel.data.shape[0]
        expected = {"kernel": (kernel, (self.F, gates * self.units)),
                    "recurrent_kernel": (recurrent_kernel, (self.units, gates * self.units))}
        for name, (tensor, shape) in expected.items():
            if tensor.data.shape != shape:
                raise ValueError(f"recurrent op: {name} should have shape {shape}, got {tensor.data.shape}.")
        if self.T == 0:
            raise ValueError("recurrent op: the sequences have no time steps (shape "
                             f"{X.shape}); at least one step is needed.")
        T, N, F, u = self.T, self.N, self.F, self.units
        self.go_backwards = bool(go_backwards)
        self.keep = None
        if mask is not None:
            m = np.asarray(getattr(mask, "data", mask), dtype=bool)
            if m.shape != (self.batch, T):
                raise ValueError(f"recurrent op: mask should have shape {(self.batch, T)}, got {m.shape}.")
            m = m[samples].T[::-1] if self.go_backwards else m[samples].T
            self.keep = np.ascontiguousarray(m)[:, None, :]  # (T, 1, N) bool, in processing order
            self.skip = ~self.keep
            self.keep_f = self.keep.astype(self.dtype)
            self.skip_f = self.skip.astype(self.dtype)
        self.states = [None if s is None else as_float_tensor(s) for s in states]
        self.dmask = None if input_dropout is None else np.asarray(input_dropout, dtype=self.dtype)[samples].T
        self.rmask = None if recurrent_dropout is None else np.ascontiguousarray(
            np.asarray(recurrent_dropout, dtype=self.dtype)[samples].T)  # (U, N)
        xt = X.transpose(1, 2, 0)  # (T, F, N)
        if self.go_backwards:
            xt = xt[::-1]
        K, e = u + F + 1, extra_blocks * u
        # the records: [``extra_blocks`` (U, N) blocks of the cell's own; hₜ₋₁; x̃ₜ; 1]
        records = np.empty((T + 1, e + K, N), dtype=self.dtype)
        if self.dmask is not None:
            np.multiply(xt, self.dmask, out=records[:T, e + u:e + u + F])
        else:
            records[:T, e + u:e + u + F] = xt
        records[T, e + u:e + u + F] = 0.0
        records[:, e + K - 1] = 1.0
        self.records = records
        self.blocks = records[:, :e + u].reshape(T + 1, extra_blocks + 1, u, N)  # [extra..., hₜ₋₁] per step
        self.H = records[:, e:e + u]
        if self.rmask is None:
            self.XH = records[:, e:]
        else:  # the GEMM inputs hold h̃ = h⊙m̄, the records the states h
            self.XH = np.empty((T + 1, K, N), dtype=self.dtype)
            self.XH[:, u:] = records[:, e + u:]
        self.HD, self.XA = self.XH[:, :u], self.XH[:, u:]
        self.H[0] = self.initial(0).T
        self.drop_state(0)

    def initial(self, index):
        """Initial state ``index`` batch-major (N, U) (zeros when not given)."""
        s = self.states[index]
        if s is None:
            return np.zeros((self.N, self.units), dtype=self.dtype)
        if s.data.shape != (self.batch, self.units):
            raise ValueError(f"recurrent op: initial state {index} should have shape {(self.batch, self.units)}, "
                             f"got {s.data.shape}.")
        return s.data[self.samples]

    def weights(self, W, b=None):
        """[W; b]ᵀ (G·U, F+1), contiguous, in the working dtype (no bias: a zero column): XA's rows."""
        Wb = np.empty((W.shape[1], self.F + 1), dtype=self.dtype)
        Wb[:, :self.F] = W.T
        Wb[:, self.F] = 0.0 if b is None else b
        return Wb

    def project_inputs(self, W, b):
        """[W; b]ᵀ·[x̃ₜ; 1] for every step at once: (T, G·U, N)."""
        return np.matmul(self.weights(W, b), self.XA[:self.T])

    def drop_state(self, t):
        if self.rmask is not None:
            np.multiply(self.H[t], self.rmask, out=self.HD[t])

    def mask_step(self, t, new, previous):
        """Masked steps keep the previous state: new ← previous where step t is padding."""
        if self.keep is not None:
            np.copyto(new, previous, where=self.skip[t])

    def needs_weight_grads(self) -> bool:
        return (self.kernel.requires_grad or self.recurrent_kernel.requires_grad
                or (self.bias is not None and self.bias.requires_grad))

    def weight_grads(self, DA, scale=None, G=None):
        """(∂W, ∂b, ∂Ū) = Σₜ XH[t]·DA[t]ᵀ split by rows (times a per-column ``scale``): one batched GEMM
        (or ``G``, that sum accumulated already)."""
        if not self.needs_weight_grads():
            return None, None, None
        u, F = self.units, self.F
        if G is None:
            G = _sum_outer(self.XH[:self.T], DA)
        if scale is not None:
            G = G * scale
        return G[u:u + F], G[u + F], G[:u]

    def input_grad(self, DA, W):
        """∂x (N, T, F) from the pre-activation gradients DA (T, G·U, N) of the input projection (x̃·W)ᵀ."""
        if not self.x.requires_grad:
            return None
        return self.input_grad_from(np.matmul(np.ascontiguousarray(W, dtype=self.dtype), DA))

    def input_grad_from(self, gx):
        """∂x (N, T, F) from ∂x̃ feature-major (T, F, N) (in place)."""
        if self.dmask is not None:
            gx *= self.dmask
        if self.go_backwards:
            gx = gx[::-1]
        return np.ascontiguousarray(gx.transpose(2, 0, 1))

    def parents(self) -> tuple:
        parents = [self.x, self.kernel, self.recurrent_kernel]
        if self.bias is not None:
            parents.append(self.bias)
        return tuple(parents + [s for s in self.states if s is not None])

    def pack_grads(self, gx, gW, gU, gb, gstates):
        """The gradients in parent order; the state gradients come feature-major (U, N)."""
        grads = [gx, gW, gU]
        if self.bias is not None:
            grads.append(gb)
        grads += [g.T.copy() for s, g in zip(self.states, gstates) if s is not None]
        return tuple(grads)

    def output(self, return_sequences):
        """Every hₜ batch-major (N, T, U), or the last one (N, U)."""
        if return_sequences:
            return np.ascontiguousarray(self.H[1:].transpose(2, 0, 1))
        return self.H[self.T].T.copy()

    def seed(self, g, return_sequences):
        """(per-step output gradients (T, U, N) or None, ∂L/∂h_T (U, N) to start from), feature-major."""
        if return_sequences:
            return (np.ascontiguousarray(np.asarray(g, dtype=self.dtype).transpose(1, 2, 0)),
                    np.zeros((self.units, self.N), dtype=self.dtype))
        return None, np.array(np.asarray(g).T, dtype=self.dtype)


# ------------------------------------------------------------------ SimpleRNN
def simple_rnn(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, input_dropout=None,
               recurrent_dropout=None, go_backwards: bool = False, activation: str = "tanh",
               return_sequences: bool = True) -> Tensor:
    """hₜ = φ(xₜW + (hₜ₋₁⊙m̄)Ū + b) over the sequence; returns every hₜ (N, T, U) in processing order,
    or only the last (N, U) when ``return_sequences=False``."""
    forward_act, derivative = _kernel(activation)
    seq = _Sequence(x, kernel, recurrent_kernel, bias, [initial_state], mask, input_dropout, recurrent_dropout,
                    go_backwards, 1)
    T, N, u, dtype = seq.T, seq.N, seq.units, seq.dtype
    U = np.asarray(recurrent_kernel.data, dtype=dtype)
    H, HD = seq.H, seq.HD
    with SINGLE_THREADED_BLAS:
        A = seq.project_inputs(kernel.data, None if bias is None else bias.data)  # (T, U, N)
        UT = np.ascontiguousarray(U.T)
        for t in range(T):
            h = H[t + 1]
            np.matmul(UT, HD[t], out=h)
            h += A[t]
            forward_act(h)  # at a masked step H[t+1] is overwritten below; its ∂ is masked out too
            seq.mask_step(t, h, H[t])
            seq.drop_state(t + 1)

    def backward(g):
        with SINGLE_THREADED_BLAS:
            gH, dh = seq.seed(g, return_sequences)
            DA = np.empty((T, u, N), dtype=dtype)
            dh_next, carry = np.empty_like(dh), np.empty_like(dh)
            for t in range(T - 1, -1, -1):
                if gH is not None:
                    dh += gH[t]
                da = DA[t]
                if seq.keep is not None:
                    np.multiply(dh, seq.keep_f[t], out=da)
                else:
                    np.copyto(da, dh)
                if derivative is not None:
                    da *= derivative(H[t + 1])                 # ∂a = ∂h·φ'(a) (masked steps: ∂a = 0)
                np.matmul(U, da, out=dh_next)
                if seq.rmask is not None:
                    dh_next *= seq.rmask
                if seq.keep is not None:                       # padding passes ∂h straight through
                    np.multiply(dh, seq.skip_f[t], out=carry)
                    dh_next += carry
                dh, dh_next = dh_next, dh
            gW, gb, gU = seq.weight_grads(DA)
            return seq.pack_grads(seq.input_grad(DA, kernel.data), gW, gU, gb, [dh])

    return make_result(seq.output(return_sequences), seq.parents(), backward, "simple_rnn")


# ------------------------------------------------------------------ LSTM
# Gate blocks inside the op, as permutations of the Keras blocks (i, f, c̃, o): the forward GEMM yields
# (i, f, o, c̃) — the σ gates contiguous, c̃ last; ∂A is stored (c̃, i, f, o).
_LSTM_FORWARD_ORDER = (0, 1, 3, 2)
_LSTM_BACKWARD_ORDER = (2, 0, 1, 3)
# The per-step blocks of E, the backward's coefficients (see ``lstm``)
_E_F, _E_WC, _E_WI, _E_WF, _E_WO, _E_B = range(6)
_CHUNK = 8  # steps per piece of off-critical-path work (E, weight and input gradients)


def _block_columns(order, u):
    return np.concatenate([np.arange(k * u, (k + 1) * u) for k in order])


def _lstm_coefficients(E, gates, values, records, t0, t1):
    """E[t0:t1] for σ/tanh, from the gates [i f o], the tanh values ``values`` [tᵢ t_f t_o c̃ cₜ₋₁ φ(cₜ)]
    and the records [i⊙c̃, f⊙cₜ₋₁, hₜ] of those steps: 2·[W_i W_f W_o] = (1 − t)⊙[i⊙c̃, f⊙cₜ₋₁, h],
    W_c̃ = i − (i⊙c̃)⊙c̃, B = o − h⊙φ(c) — five kernels for the whole piece."""
    e, s, v, r = E[t0:t1], gates[t0:t1], values[t0:t1], records[t0 + 1:t1 + 1]
    np.copyto(e[:, _E_F], s[:, 1])
    one_minus_t = np.subtract(1.0, v[:, 0:3])
    np.multiply(one_minus_t, r[:, 0:3], out=e[:, _E_WI:_E_WO + 1])
    products = np.multiply(r[:, 0:3:2], v[:, 3:6:2])               # [i⊙c̃⊙c̃, h⊙φ(c)]
    np.subtract(s[:, 0:3:2], products, out=e[:, _E_WC:_E_B + 1:4])


def _outer_piece(XH, DA, t0, t1):
    """Σₜ XH[t]·DA[t]ᵀ over t0 ≤ t < t1 (one batched GEMM)."""
    with SINGLE_THREADED_BLAS:
        return _sum_outer(XH[t0:t1], DA[t0:t1])


def _input_grad_piece(W, DA, out, t0, t1):
    with SINGLE_THREADED_BLAS:
        np.matmul(W, DA[t0:t1], out=out[t0:t1])


def lstm(x, kernel, recurrent_kernel, bias=None, initial_h=None, initial_c=None, mask=None, input_dropout=None,
         recurrent_dropout=None, go_backwards: bool = False, activation: str = "tanh",
         recurrent_activation: str = "sigmoid", return_sequences: bool = True):
    """The LSTM over the sequence. Returns ``(h, c_last)``: h is every hₜ (N, T, U) in processing order,
    or only the last one (N, U) when ``return_sequences=False``; c_last is the final carry (N, U).

    Backpropagation through time is arranged so that the backward loop does three element-wise kernels
    and one GEMM per step: when a gradient will be needed, the forward pass also produces, per step,
    E = [f, W_c̃, W_i, W_f, W_o, B] with B = o⊙φ'(c) and W = the gate's partner times the derivative of
    the gate (W_c̃ = i⊙φ'(c̃), W_i = c̃⊙σ'(i), W_f = cₜ₋₁⊙σ'(f), W_o = φ(c)⊙σ'(o)); backwards,

        [∂A_o, q] = ∂h⊙[W_o, B],  ∂c ← ∂c + q,  [∂cₜ₋₁, ∂A_c̃, ∂A_i, ∂A_f] = ∂c⊙[f, W_c̃, W_i, W_f],
        ∂hₜ₋₁ = Ū·∂A.

    With the default activations (σ, tanh) the σ rows of the weights are halved so that ONE tanh gives
    all four gates (σ(a) = (1 + t)/2, t = tanh(a/2)): the forward loop does one GEMM and seven
    kernels per step, and E comes from values it computed anyway (:func:`_lstm_coefficients`, for
    pieces of steps, on the helper thread when there is a second core); the factors 1/2 are folded
    into Ū and the weight gradients. One kernel spans several (U, N) blocks at once: the blocks sit at
    regular positive strides in the per-step records ([i⊙c̃, f⊙cₜ₋₁, hₜ, x̃ₜ₊₁, 1], see
    ``_Sequence.blocks``), in the stored values and in E.
    """
    act, act_derivative = _kernel(activation)
    ract, ract_derivative = _kernel(recurrent_activation)
    fast = recurrent_activation == "sigmoid" and activation == "tanh"
    x = as_float_tensor(x)
    loops = _compiled_loops(x.data) if fast else None
    if loops is not None:
        return _lstm_compiled(loops, x, kernel, recurrent_kernel, bias, initial_h, initial_c, mask, input_dropout,
                              recurrent_dropout, go_backwards, return_sequences)
    seq = _Sequence(x, kernel, recurrent_kernel, bias, [initial_h, initial_c], mask, input_dropout,
                    recurrent_dropout, go_backwards, 4, extra_blocks=2)
    u, T, N, F, dtype = seq.units, seq.T, seq.N, seq.F, seq.dtype
    WT = _lstm_step_weights(seq, fast)
    training = is_grad_enabled() and any(p.requires_grad for p in seq.parents())
    masked = seq.keep is not None
    XH, H, records = seq.XH, seq.H, seq.blocks       # records[t+1] = [i⊙c̃, f⊙cₜ₋₁, hₜ] of step t
    # compiled kernels (glassnet.accel) for the element-wise work of each step (same float operations);
    # they compute each step's E at once, so the values and gates need not be kept for every step
    kernels = accel.kernels() if fast and not masked and dtype in (np.float32, np.float64) else None
    keep_steps = training and kernels is None
    # per step: [i f o c̃ (activations; fast: the tanh values) | cₜ₋₁ | φ(cₜ)]; cₜ goes to values[t+1, 4]
    values = np.empty((T + 1 if keep_steps else 2, 6, u, N), dtype=dtype)
    values[0, 4] = seq.initial(1).T
    pre = values.reshape(len(values), 6 * u, N)[:, :4 * u]  # the GEMM writes the pre-activations there
    S = np.empty((T if keep_steps else 1, 3, u, N), dtype=dtype)  # the σ gates [i f o]
    E = np.empty((T, 6, u, N), dtype=dtype) if training else None
    pieces = []
    with SINGLE_THREADED_BLAS:
        for t in range(T):
            k, k_next = (t, t + 1) if keep_steps else (t % 2, 1 - t % 2)
            v, v_next, gates, a = values[k], values[k_next], S[t if keep_steps else 0], pre[k]
            record, c = records[t + 1], v_next[4]
            np.matmul(WT, XH[t], out=a)
            if kernels is not None:
                np.tanh(a, out=a)
                kernels.lstm_cell(v, gates, record, c)       # gates, [i⊙c̃, f⊙cₜ₋₁], cₜ
                np.tanh(c, out=v[5])
                if training:                                 # hₜ and this step's E, no helper thread
                    kernels.lstm_output_and_coefficients(v, gates, record, E[t])
                else:
                    np.multiply(gates[2], v[5], out=record[2])
                seq.drop_state(t + 1)
                continue
            if fast:
                np.tanh(a, out=a)
                np.multiply(v[0:3], 0.5, out=gates)
                np.add(gates, 0.5, out=gates)
            else:
                ract(a[:3 * u])
                act(a[3 * u:])
                np.copyto(gates, v[0:3])
            np.multiply(gates[0:2], v[3:5], out=record[0:2])  # [i⊙c̃, f⊙cₜ₋₁]
            np.add(record[0], record[1], out=c)              # cₜ
            if masked:                                       # padding keeps the previous state
                np.copyto(c, v[4], where=seq.skip[t])
            if fast:
                np.tanh(c, out=v[5])
            else:
                np.copyto(v[5], c)
                act(v[5])
            np.multiply(gates[2], v[5], out=record[2])       # hₜ = o⊙φ(cₜ)
            if masked:
                np.copyto(record[2], H[t], where=seq.skip[t])
            seq.drop_state(t + 1)
            if training and fast and ((t + 1) % _CHUNK == 0 or t + 1 == T):
                start = t + 1 - ((t + 1) % _CHUNK or _CHUNK)
                pieces.append(BACKGROUND.submit(_lstm_coefficients, E, S, values, records, start, t + 1))
    c_last = (values[T] if keep_steps else values[T % 2])[4].T
    if return_sequences:
        packed = np.empty((N, T + 1, u), dtype=dtype)
        packed[:, :T] = H[1:].transpose(2, 0, 1)
        packed[:, T] = c_last
    else:
        packed = np.stack([H[T].T, c_last], axis=1)  # (N, 2, U)
    if not training:
        return _lstm_outputs(make_result(packed, seq.parents(), None, "lstm"), T, return_sequences)

    backward_columns, scale = _lstm_backward_columns(u, dtype, fast)
    state = {"prepared": False}

    def prepare():
        """Wait for the pieces of E (fast), or compute E from the stored activations (the derivatives of
        other activations are functions of their outputs)."""
        if fast:
            for piece in pieces:
                piece.result()
        else:
            d_act = (lambda y: 1.0) if act_derivative is None else act_derivative
            d_gates = np.broadcast_to(1.0 if ract_derivative is None else ract_derivative(S), S.shape)
            cc, cp, pc = values[:T, 3], values[:T, 4], values[:T, 5]
            np.copyto(E[:, _E_F], S[:, 1])
            np.multiply(S[:, 0], d_act(cc), out=E[:, _E_WC])
            np.multiply(cc, d_gates[:, 0], out=E[:, _E_WI])
            np.multiply(cp, d_gates[:, 1], out=E[:, _E_WF])
            np.multiply(pc, d_gates[:, 2], out=E[:, _E_WO])
            np.multiply(S[:, 2], d_act(pc), out=E[:, _E_B])
        state["prepared"] = True

    def backward(g):
        with SINGLE_THREADED_BLAS:
            if not state["prepared"]:
                prepare()
            if return_sequences:
                gH, dh = seq.seed(g[:, :T], True)
                dc = np.array(g[:, T].T, dtype=dtype)
            else:
                gH, dh = seq.seed(g[:, 0], False)
                dc = np.array(g[:, 1].T, dtype=dtype)
            if kernels is not None:
                # only ∂A is kept for every step (the weight and input gradients); ∂c lives in two buffers
                dh = np.ascontiguousarray(dh)  # the seeds arrive transposed (Fortran order)
                DA = np.empty((T, 4 * u, N), dtype=dtype)
                dc = np.ascontiguousarray(dc)
                dc_buffers = (dc, np.empty((u, N), dtype=dtype))
                total = np.empty((u, N), dtype=dtype)
            else:
                R = np.empty((T, 6, u, N), dtype=dtype)     # [∂cₜ₋₁ | ∂A_c̃ ∂A_i ∂A_f ∂A_o (/ scale) | q → ∂c]
                DA = R.reshape(T, 6 * u, N)[:, u:5 * u]
            M, W_in = _lstm_backward_weights(seq, backward_columns, scale)
            want_w, want_x = seq.needs_weight_grads(), seq.x.requires_grad
            gxT = np.empty((T, F, N), dtype=dtype) if want_x else None
            outer, inputs, stop = [], [], T
            dh_next, q = np.empty_like(dh), np.empty_like(dh)
            for t in range(T - 1, -1, -1):
                if gH is not None:
                    dh += gH[t]
                e = E[t]
                if kernels is not None:                      # (never masked)
                    dc_previous = dc_buffers[(T - t) % 2]
                    kernels.lstm_backward_step(e, DA[t], dh, dc, dc_previous, total)
                else:
                    r = R[t]
                    if masked:                               # only real steps reach the new h and c
                        dhn, dcn = dh * seq.keep_f[t], dc * seq.keep_f[t]
                    else:
                        dhn, dcn = dh, dc
                    np.multiply(e[_E_WO:_E_B + 1], dhn, out=r[4:6])   # [∂A_o, q]
                    np.add(dcn, r[5], out=r[5])                       # ∂c
                    np.multiply(e[_E_F:_E_WF + 1], r[5], out=r[0:4])  # [∂cₜ₋₁ ∂A_c̃ ∂A_i ∂A_f]
                np.matmul(M, DA[t], out=dh_next)
                if seq.rmask is not None:
                    dh_next *= seq.rmask
                if masked:                                   # padding passes ∂h and ∂c straight through
                    np.multiply(dc, seq.skip_f[t], out=q)
                    r[0] += q
                    np.multiply(dh, seq.skip_f[t], out=q)
                    dh_next += q
                dc = dc_previous if kernels is not None else r[0]
                dh, dh_next = dh_next, dh
                # steps t … stop−1 are done: hand them to the helper; the pieces end at t ≡ 1 (mod CHUNK),
                # so the last one, which the loop's end has to wait for, is a single step
                if t % _CHUNK == 1 % _CHUNK or t == 0:
                    if want_w:
                        outer.append(BACKGROUND.submit(_outer_piece, XH, DA, t, stop))
                    if want_x:
                        inputs.append(BACKGROUND.submit(_input_grad_piece, W_in, DA, gxT, t, stop))
                    stop = t
            G = None
            if want_w:
                G = outer[0].result()
                for piece in outer[1:]:
                    G += piece.result()
            for piece in inputs:
                piece.result()
            gW, gb, gU = _lstm_weight_grads(seq, DA, scale, G, backward_columns)
            gx = None if gxT is None else seq.input_grad_from(gxT)
            return seq.pack_grads(gx, gW, gU, gb, [dh, dc])

    return _lstm_outputs(make_result(packed, seq.parents(), backward, "lstm"), T, return_sequences)


def _lstm_step_weights(seq, fast):
    """[Ū; W; b]ᵀ (4U, U+F+1) in the forward block order: ONE GEMM per step gives every pre-activation
    from [h̃; x̃; 1]. ``fast`` (σ/tanh): the σ rows halved, σ(a) = (1 + tanh(a/2))/2."""
    u, F, dtype = seq.units, seq.F, seq.dtype
    forward_columns = _block_columns(_LSTM_FORWARD_ORDER, u)
    WT = np.empty((4 * u, u + F + 1), dtype=dtype)
    WT[:, :u] = np.asarray(seq.recurrent_kernel.data, dtype=dtype)[:, forward_columns].T
    WT[:, u:u + F] = np.asarray(seq.kernel.data, dtype=dtype)[:, forward_columns].T
    WT[:, u + F] = 0.0 if seq.bias is None else np.asarray(seq.bias.data, dtype=dtype)[forward_columns]
    if fast:
        WT[:3 * u] *= 0.5
    return WT


def _lstm_backward_columns(u, dtype, fast):
    """(the weights' columns in the backward block order, the per-column scale): ∂A = (stored ∂A)·scale,
    the fast E holds 2·W for the σ gates."""
    scale = np.repeat(np.array([1.0, 0.5, 0.5, 0.5] if fast else [1.0] * 4, dtype=dtype), u)
    return _block_columns(_LSTM_BACKWARD_ORDER, u), scale


def _lstm_backward_weights(seq, backward_columns, scale):
    """(M, W_in): the recurrent kernel and the kernel in the backward block order, times ``scale``;
    ∂hₜ₋₁ = M·∂A and ∂x̃ = W_in·∂A."""
    M = np.asarray(seq.recurrent_kernel.data, dtype=seq.dtype)[:, backward_columns] * scale
    W_in = np.asarray(seq.kernel.data, dtype=seq.dtype)[:, backward_columns] * scale
    return M, W_in


def _lstm_weight_grads(seq, DA, scale, G, backward_columns):
    """(∂W, ∂b, ∂Ū) in Keras's gate order, from Σₜ XH[t]·DA[t]ᵀ (``G``, or computed from DA)."""
    inverse = np.argsort(backward_columns)
    return tuple(None if grad is None else grad[..., inverse] for grad in seq.weight_grads(DA, scale, G))


LSTM_PART_MIN_SAMPLES = 16
"""The compiled LSTM (and GRU) loops split the batch into one part per thread, of at least this many
samples."""


def _compiled_loops(X):
    """(kernels, gemm address, tanh loop address, its data) for the compiled LSTM loops on inputs X, or
    None: they need the numba kernels (glassnet.accel) and NumPy's own GEMM and tanh (glassnet.native)."""
    if X.ndim != 3 or X.dtype not in (np.float32, np.float64) or X.shape[0] == 0:
        return None
    kernels = accel.kernels()
    if kernels is None:
        return None
    gemm, tanh = native.gemm_address(X.dtype), native.tanh_loop(X.dtype)
    if gemm is None or tanh is None:
        return None
    return (kernels, gemm) + tanh


def _batch_parts(x, kernel, recurrent_kernel, bias, states, mask, input_dropout, recurrent_dropout, go_backwards,
                 gates, extra_blocks=0):
    """The batch cut into one :class:`_Sequence` per thread (at least :data:`LSTM_PART_MIN_SAMPLES` samples
    each), for the compiled loops; with each part's padded steps (T, N) bool in processing order and its
    recurrent dropout mask (U, N) — or arrays without rows, which tell the loops to skip that work."""
    N = x.data.shape[0]
    count = max(1, min(backend.num_threads(), N // LSTM_PART_MIN_SAMPLES))
    bounds = [N * k // count for k in range(count + 1)]
    parts = [_Sequence(x, kernel, recurrent_kernel, bias, states, mask, input_dropout, recurrent_dropout,
                       go_backwards, gates, extra_blocks=extra_blocks, samples=slice(bounds[k], bounds[k + 1]))
             for k in range(count)]
    skips = [np.empty((0, part.N), dtype=bool) if part.keep is None else np.ascontiguousarray(part.skip[:, 0])
             for part in parts]
    rmasks = [np.empty((0, part.N), dtype=x.data.dtype) if part.rmask is None else part.rmask for part in parts]
    return parts, skips, rmasks


def _lstm_compiled(loops, x, kernel, recurrent_kernel, bias, initial_h, initial_c, mask, input_dropout,
                   recurrent_dropout, go_backwards, return_sequences):
    """:func:`lstm` with σ/tanh, each pass over time ONE compiled call
    (``lstm_forward_loop``, ``lstm_backward_loop``: the same per-step work as the NumPy path, with NumPy's
    own GEMM and tanh) that never returns to Python — so the batch is split into one part per thread
    (samples are independent), each running its own loops on its own core. After the backward loops each
    part computes its share of Σₜ XH[t]·∂A[t]ᵀ and of ∂x; the parts' weight gradients are summed."""
    kernels, gemm, tanh, tanh_data = loops
    parts, skips, rmasks = _batch_parts(x, kernel, recurrent_kernel, bias, [initial_h, initial_c], mask,
                                        input_dropout, recurrent_dropout, go_backwards, 4, extra_blocks=2)
    count, N = len(parts), x.data.shape[0]
    seq = parts[0]
    u, T, dtype = seq.units, seq.T, seq.dtype
    WT = _lstm_step_weights(seq, True)
    training = is_grad_enabled() and any(p.requires_grad for p in seq.parents())
    values = [np.empty((2, 6, u, part.N), dtype=dtype) for part in parts]  # ring buffers, as in lstm
    E = [np.empty((T, 6, u, part.N) if training else (0, 6, u, part.N), dtype=dtype) for part in parts]
    packed = np.empty((N, T + 1 if return_sequences else 2, u), dtype=dtype)

    def forward(first, stop):
        for k in range(first, stop):
            part, v = parts[k], values[k]
            v[0, 4] = part.initial(1).T
            gates = np.empty((3, u, part.N), dtype=dtype)
            kernels.lstm_forward_loop(gemm, tanh, tanh_data, WT, part.records, part.XH, rmasks[k], v, gates, E[k],
                                      training, skips[k])
            rows = packed[part.samples]
            if return_sequences:
                rows[:, :T] = part.H[1:].transpose(2, 0, 1)
            else:
                rows[:, 0] = part.H[T].T
            rows[:, -1] = v[T % 2, 4].T  # c_T

    with SINGLE_THREADED_BLAS:
        in_parts(forward, count, count)
    if not training:
        return _lstm_outputs(make_result(packed, seq.parents(), None, "lstm"), T, return_sequences)

    backward_columns, scale = _lstm_backward_columns(u, dtype, True)
    want_w, want_x = seq.needs_weight_grads(), seq.x.requires_grad

    def backward(g):
        M, W_in = _lstm_backward_weights(seq, backward_columns, scale)
        M = np.ascontiguousarray(M)  # (the compiled loop passes its rows' stride to BLAS)
        G, gx, gh, gc = [None] * count, [None] * count, [None] * count, [None] * count

        def run(first, stop):
            for k in range(first, stop):
                part, rows = parts[k], g[parts[k].samples]
                GH, dh = part.seed(rows[:, :T] if return_sequences else rows[:, 0], return_sequences)
                GH = np.empty((0, u, part.N), dtype=dtype) if GH is None else GH
                dh, dc = np.ascontiguousarray(dh), np.array(rows[:, -1].T, dtype=dtype, order="C")  # (copies)
                DA = np.empty((T, 4 * u, part.N), dtype=dtype)
                G[k] = np.zeros((4 * u if want_w else 0, part.records.shape[1] - 2 * u), dtype=dtype)
                gh[k], gc[k] = kernels.lstm_backward_loop(gemm, E[k], DA, M, GH, dh, np.empty_like(dh), dc,
                                                          np.empty_like(dc), np.empty_like(dc), part.XH, rmasks[k],
                                                          G[k], skips[k])
                if want_x:
                    gx[k] = part.input_grad_from(np.matmul(W_in, DA))

        with SINGLE_THREADED_BLAS:
            in_parts(run, count, count)
        gW, gb, gU = _lstm_weight_grads(seq, None, scale, sum(G[1:], G[0]).T if want_w else None, backward_columns)
        return seq.pack_grads(np.concatenate(gx) if want_x else None, gW, gU, gb,
                              [np.concatenate(gh, axis=1), np.concatenate(gc, axis=1)])

    return _lstm_outputs(make_result(packed, seq.parents(), backward, "lstm"), T, return_sequences)


def _lstm_outputs(out, T, return_sequences):
    """(h, c_last) from the packed (N, T+1, U) [h…; c] or (N, 2, U) [h; c] result."""
    if return_sequences:
        return getitem(out, (slice(None), slice(0, T))), getitem(out, (slice(None), T))
    return getitem(out, (slice(None), 0)), getitem(out, (slice(None), 1))


# ------------------------------------------------------------------ GRU
def gru(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, input_dropout=None,
        recurrent_dropout=None, go_backwards: bool = False, reset_after: bool = True, activation: str = "tanh",
        recurrent_activation: str = "sigmoid", return_sequences: bool = True) -> Tensor:
    """The GRU over the sequence; returns every hₜ (N, T, U) in processing order, or only the last (N, U)
    when ``return_sequences=False``.

    ``bias``: (2, 3U) = [input bias; recurrent bias] when ``reset_after``, else (3U,).
    """
    act, act_derivative = _kernel(activation)
    ract, ract_derivative = _kernel(recurrent_activation)
    x = as_float_tensor(x)
    fast = reset_after and activation == "tanh" and recurrent_activation == "sigmoid"
    loops = _compiled_loops(x.data) if fast else None
    if loops is not None:
        return _gru_compiled(loops, x, kernel, recurrent_kernel, bias, initial_state, mask, input_dropout,
                             recurrent_dropout, go_backwards, return_sequences)
    seq = _Sequence(x, kernel, recurrent_kernel, bias, [initial_state], mask, input_dropout, recurrent_dropout,
                    go_backwards, 3)
    u, T, N, dtype = seq.units, seq.T, seq.N, seq.dtype
    W, U = kernel.data, np.asarray(recurrent_kernel.data, dtype=dtype)
    b_in, b_rec = _gru_biases(bias, u, dtype, reset_after)
    H, HD = seq.H, seq.HD
    # reset_after: REC = Ūᵀh̃ₜ₋₁ + b̄ (all three blocks); reset_before: RH = r⊙h̃ₜ₋₁ — both reused by the backward
    REC = np.empty((T, 3 * u, N), dtype=dtype) if reset_after else None
    RH = None if reset_after else np.empty((T, u, N), dtype=dtype)
    with SINGLE_THREADED_BLAS:
        Gates = seq.project_inputs(W, b_in)  # (T, 3U, N): pre-activations, then [z r h̃]
        UT = np.ascontiguousarray(U.T)
        UzrT, UhT = UT[:2 * u], UT[2 * u:]
        zr = np.empty((2 * u, N), dtype=dtype)
        tmp = np.empty((u, N), dtype=dtype)
        for t in range(T):
            hp, hd = H[t], HD[t]
            a = Gates[t]
            if reset_after:
                rec = REC[t]
                np.matmul(UT, hd, out=rec)
                if b_rec is not None:
                    rec += b_rec
                a[:2 * u] += rec[:2 * u]
                ract(a[:2 * u])
                np.multiply(a[u:2 * u], rec[2 * u:], out=tmp)   # r⊙(Ū_hᵀh̃ + b̄_h)
            else:
                np.matmul(UzrT, hd, out=zr)
                a[:2 * u] += zr
                ract(a[:2 * u])
                np.multiply(a[u:2 * u], hd, out=RH[t])
                np.matmul(UhT, RH[t], out=tmp)                     # Ū_hᵀ(r⊙h̃)
            a[2 * u:] += tmp
            act(a[2 * u:])
            z, hh = a[:u], a[2 * u:]
            h = H[t + 1]
            np.subtract(hp, hh, out=h)
            h *= z
            h += hh                                                # z⊙hₜ₋₁ + (1 − z)⊙h̃
            seq.mask_step(t, h, hp)
            seq.drop_state(t + 1)

    def backward(g):
        with SINGLE_THREADED_BLAS:
            gH, dh = seq.seed(g, return_sequences)
            DA = np.empty_like(Gates)                       # ∂ pre-activations, input side [z r h̃]
            DR = np.empty_like(Gates) if reset_after else None  # ∂(Ūᵀh̃ + b̄): [∂z, ∂r, ∂h̃-pre·r]
            Uzr, Uh = np.ascontiguousarray(U[:, :2 * u]), np.ascontiguousarray(U[:, 2 * u:])
            dh_next, buf = np.empty_like(dh), np.empty_like(dh)
            d_rh = np.empty_like(dh)
            masked = seq.keep is not None
            for t in range(T - 1, -1, -1):
                if gH is not None:
                    dh += gH[t]
                dhn = dh * seq.keep_f[t] if masked else dh
                G, D = Gates[t], DA[t]
                z, r, hh = G[:u], G[u:2 * u], G[2 * u:]
                dz, dr, dhh = D[:u], D[u:2 * u], D[2 * u:]
                np.subtract(1.0, z, out=dhh)
                dhh *= dhn                                         # ∂h̃ = ∂h·(1 − z)
                if act_derivative is not None:
                    dhh *= act_derivative(hh)
                np.subtract(H[t], hh, out=dz)
                dz *= dhn                                          # ∂z = ∂h·(hₜ₋₁ − h̃)
                if reset_after:
                    np.multiply(dhh, REC[t, 2 * u:], out=dr)       # ∂r = ∂h̃-pre·(Ū_hᵀh̃ + b̄_h)
                else:
                    np.matmul(Uh, dhh, out=d_rh)                   # ∂(r⊙h̃)
                    np.multiply(d_rh, HD[t], out=dr)
                if ract_derivative is not None:
                    D[:2 * u] *= ract_derivative(G[:2 * u])
                if reset_after:
                    R = DR[t]
                    R[:2 * u] = D[:2 * u]
                    np.multiply(dhh, r, out=R[2 * u:])
                    np.matmul(U, R, out=dh_next)
                else:
                    np.multiply(d_rh, r, out=dh_next)
                    np.matmul(Uzr, D[:2 * u], out=buf)
                    dh_next += buf
                if seq.rmask is not None:
                    dh_next *= seq.rmask
                np.multiply(dhn, z, out=buf)                       # direct path z⊙hₜ₋₁
                dh_next += buf
                if masked:
                    np.multiply(dh, seq.skip_f[t], out=buf)
                    dh_next += buf
                dh, dh_next = dh_next, dh
            F = seq.F
            G_in = _sum_outer(seq.XA[:T], DA)  # [∂W; ∂b_in] in one batched GEMM
            gW, gb_in = G_in[:F], G_in[F]
            gU = gb = None
            HDT = HD[:T]
            if reset_after:
                if recurrent_kernel.requires_grad:
                    gU = _sum_outer(HDT, DR)
                if bias is not None and bias.requires_grad:
                    gb = np.stack([gb_in, DR.sum(axis=(0, 2))])
            else:
                if recurrent_kernel.requires_grad:
                    gU = np.concatenate([_sum_outer(HDT, DA[:, :2 * u]), _sum_outer(RH, DA[:, 2 * u:])], axis=1)
                if bias is not None and bias.requires_grad:
                    gb = gb_in
            return seq.pack_grads(seq.input_grad(DA, W), gW, gU, gb, [dh])

    return make_result(seq.output(return_sequences), seq.parents(), backward, "gru")


def _gru_biases(bias, u, dtype, reset_after):
    """(input bias (3U,), recurrent bias (3U, 1) or None) from the GRU's ``bias``, checked."""
    if bias is None:
        return None, None
    b = np.asarray(bias.data, dtype=dtype)
    expected = (2, 3 * u) if reset_after else (3 * u,)
    if b.shape != expected:
        raise ValueError(f"gru: bias should have shape {expected} (reset_after={reset_after}), got {b.shape}.")
    return (b[0], b[1][:, None]) if reset_after else (b, None)


def _gru_compiled(loops, x, kernel, recurrent_kernel, bias, initial_state, mask, input_dropout, recurrent_dropout,
                  go_backwards, return_sequences):
    """:func:`gru` with σ/tanh and reset_after, each pass over time ONE compiled call (``gru_forward_loop``,
    ``gru_backward_loop``: the NumPy path's per-step work, with NumPy's own GEMM and tanh), the batch split
    into one part per thread as for the LSTM (:func:`_lstm_compiled`); the parts' weight gradients are
    summed."""
    kernels, gemm, tanh, tanh_data = loops
    parts, skips, rmasks = _batch_parts(x, kernel, recurrent_kernel, bias, [initial_state], mask, input_dropout,
                                        recurrent_dropout, go_backwards, 3)
    count, N = len(parts), x.data.shape[0]
    seq = parts[0]
    u, T, dtype = seq.units, seq.T, seq.dtype
    W, U = kernel.data, np.ascontiguousarray(recurrent_kernel.data, dtype=dtype)
    b_in, b_rec = _gru_biases(bias, u, dtype, True)
    UT = np.ascontiguousarray(U.T)
    b_rec = np.empty(0, dtype=dtype) if b_rec is None else np.ascontiguousarray(b_rec[:, 0])
    Gates, REC = [None] * count, [None] * count
    out = np.empty((N, T, u) if return_sequences else (N, u), dtype=dtype)

    def forward(first, stop):
        for k in range(first, stop):
            part = parts[k]
            Gates[k] = part.project_inputs(W, b_in)  # (T, 3U, N): pre-activations, then [z r h̃]
            REC[k] = np.empty_like(Gates[k])
            kernels.gru_forward_loop(gemm, tanh, tanh_data, UT, b_rec, Gates[k], REC[k], part.H, part.HD,
                                     rmasks[k], skips[k])
            out[part.samples] = part.output(return_sequences)

    with SINGLE_THREADED_BLAS:
        in_parts(forward, count, count)
    if not (is_grad_enabled() and any(p.requires_grad for p in seq.parents())):
        return make_result(out, seq.parents(), None, "gru")

    want_u, want_b = recurrent_kernel.requires_grad, bias is not None and bias.requires_grad

    def backward(g):
        G_in, gU, gb_rec, gx, gh = ([None] * count for _ in range(5))

        def run(first, stop):  # each part: its loop, then its share of every gradient
            for k in range(first, stop):
                part = parts[k]
                GH, dh = part.seed(g[part.samples], return_sequences)
                GH = np.empty((0, u, part.N), dtype=dtype) if GH is None else GH
                dh = np.ascontiguousarray(dh)
                DA, DR = np.empty_like(Gates[k]), np.empty_like(Gates[k])  # ∂ pre-activations, input / recurrent side
                unmasked = part.keep is None  # (then the loop skips the mask work: arrays without rows)
                keep = rmasks[k][:0] if unmasked else np.ascontiguousarray(part.keep_f[:, 0])
                skip = rmasks[k][:0] if unmasked else np.ascontiguousarray(part.skip_f[:, 0])
                gh[k] = kernels.gru_backward_loop(gemm, Gates[k], REC[k], part.H, U, GH, dh, np.empty_like(dh),
                                                  DA, DR, rmasks[k], keep, skip)
                G_in[k] = _sum_outer(part.XA[:T], DA)  # [∂W; ∂b_in]
                gU[k] = _sum_outer(part.HD[:T], DR) if want_u else None
                gb_rec[k] = DR.sum(axis=(0, 2)) if want_b else None
                gx[k] = part.input_grad(DA, W)

        with SINGLE_THREADED_BLAS:
            in_parts(run, count, count)
        F, total = seq.F, sum(G_in[1:], G_in[0])
        gb = np.stack([total[F], sum(gb_rec[1:], gb_rec[0])]) if want_b else None
        return seq.pack_grads(None if gx[0] is None else np.concatenate(gx), total[:F],
                              sum(gU[1:], gU[0]) if want_u else None, gb, [np.concatenate(gh, axis=1)])

    return make_result(out, seq.parents(), backward, "gru")


# ------------------------------------------------------------------ composed versions (any activation)
def _composed_activation(activation):
    if callable(activation):
        return activation
    try:
        return _COMPOSED_ACTIVATIONS[activation]
    except KeyError:
        raise ValueError(f"Unknown activation {activation!r}: pass a callable made of glassnet ops.") from None


def _composed_loop(x, kernel, bias, states, mask, input_dropout, go_backwards, step):
    """Run ``step(xw_t, states) -> states`` over time with ops; returns the list of per-step states."""
    x = as_float_tensor(x)
    if input_dropout is not None:
        x = multiply(x, np.asarray(input_dropout, dtype=x.dtype)[:, None, :])
    xw = dense(x, kernel, bias)  # one GEMM for every step
    T = x.shape[1]
    order = range(T - 1, -1, -1) if go_backwards else range(T)
    keep = None if mask is None else np.asarray(getattr(mask, "data", mask), dtype=bool)
    history = []
    for t in order:
        new = step(getitem(xw, (slice(None), t)), states)
        if keep is not None:
            k = keep[:, t:t + 1]
            new = [where(k, n, s) for n, s in zip(new, states)]
        states = new
        history.append(states)
    return history


def _outputs(history, return_sequences):
    """Every step's h stacked on axis 1, or the last h."""
    return stack([s[0] for s in history], axis=1) if return_sequences else history[-1][0]


def _zeros_like_state(x, units, state):
    x = as_float_tensor(x)
    return state if state is not None else Tensor(np.zeros((x.shape[0], units), dtype=x.dtype))


def simple_rnn_composed(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, input_dropout=None,
                        recurrent_dropout=None, go_backwards: bool = False, activation="tanh",
                        return_sequences: bool = True) -> Tensor:
    """:func:`simple_rnn` written with glassnet ops (one graph node per operation and step)."""
    act = _composed_activation(activation)
    units = recurrent_kernel.shape[0]
    rmask = None if recurrent_dropout is None else np.asarray(recurrent_dropout)

    def step(xw_t, states):
        h = states[0] if rmask is None else multiply(states[0], rmask.astype(states[0].dtype))
        return [act(add(xw_t, matmul(h, recurrent_kernel)))]

    history = _composed_loop(x, kernel, bias, [_zeros_like_state(x, units, initial_state)], mask, input_dropout,
                             go_backwards, step)
    return _outputs(history, return_sequences)


def lstm_composed(x, kernel, recurrent_kernel, bias=None, initial_h=None, initial_c=None, mask=None,
                  input_dropout=None, recurrent_dropout=None, go_backwards: bool = False, activation="tanh",
                  recurrent_activation="sigmoid", return_sequences: bool = True):
    """:func:`lstm` written with glassnet ops; returns ``(h, c_last)``."""
    act, ract = _composed_activation(activation), _composed_activation(recurrent_activation)
    u = recurrent_kernel.shape[0]
    rmask = None if recurrent_dropout is None else np.asarray(recurrent_dropout)

    def step(xw_t, states):
        h, c = states
        hd = h if rmask is None else multiply(h, rmask.astype(h.dtype))
        a = add(xw_t, matmul(hd, recurrent_kernel))
        i, f = ract(getitem(a, (slice(None), slice(0, u)))), ract(getitem(a, (slice(None), slice(u, 2 * u))))
        cc = act(getitem(a, (slice(None), slice(2 * u, 3 * u))))
        o = ract(getitem(a, (slice(None), slice(3 * u, 4 * u))))
        c = add(multiply(f, c), multiply(i, cc))
        return [multiply(o, act(c)), c]

    states = [_zeros_like_state(x, u, initial_h), _zeros_like_state(x, u, initial_c)]
    history = _composed_loop(x, kernel, bias, states, mask, input_dropout, go_backwards, step)
    return _outputs(history, return_sequences), history[-1][1]


def gru_composed(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, input_dropout=None,
                 recurrent_dropout=None, go_backwards: bool = False, reset_after: bool = True, activation="tanh",
                 recurrent_activation="sigmoid", return_sequences: bool = True) -> Tensor:
    """:func:`gru` written with glassnet ops."""
    act, ract = _composed_activation(activation), _composed_activation(recurrent_activation)
    u = recurrent_kernel.shape[0]
    rmask = None if recurrent_dropout is None else np.asarray(recurrent_dropout)
    b_in = b_rec = None
    if bias is not None:
        b_in, b_rec = (getitem(bias, 0), getitem(bias, 1)) if reset_after else (bias, None)

    def cols(t, start, stop):
        return getitem(t, (slice(None), slice(start, stop)))

    def step(xw_t, states):
        h = states[0]
        hd = h if rmask is None else multiply(h, rmask.astype(h.dtype))
        if reset_after:
            rec = matmul(hd, recurrent_kernel)
            if b_rec is not None:
                rec = add(rec, b_rec)
            z = ract(add(cols(xw_t, 0, u), cols(rec, 0, u)))
            r = ract(add(cols(xw_t, u, 2 * u), cols(rec, u, 2 * u)))
            hh = act(add(cols(xw_t, 2 * u, 3 * u), multiply(r, cols(rec, 2 * u, 3 * u))))
        else:
            rec = matmul(hd, cols(recurrent_kernel, 0, 2 * u))
            z = ract(add(cols(xw_t, 0, u), cols(rec, 0, u)))
            r = ract(add(cols(xw_t, u, 2 * u), cols(rec, u, 2 * u)))
            hh = act(add(cols(xw_t, 2 * u, 3 * u), matmul(multiply(r, hd), cols(recurrent_kernel, 2 * u, 3 * u))))
        return [add(hh, multiply(z, subtract(h, hh)))]

    history = _composed_loop(x, kernel, b_in, [_zeros_like_state(x, u, initial_state)], mask, input_dropout,
                             go_backwards, step)
    return _outputs(history, return_sequences)


__all__ = ["FUSED_ACTIVATIONS", "gru", "gru_composed", "lstm", "lstm_composed", "simple_rnn", "simple_rnn_composed"]
