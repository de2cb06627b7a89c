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

Speed: the input projection [x | 1]·[W; b] of all T steps is one GEMM before the loop; the loop over
time (inherent; never over samples) does one (N, U)·(U, G·U) GEMM and a few in-place element-wise
kernels on time-major, cache-sized slices per step. The backward pass runs the loop in reverse
(backpropagation through time), storing the pre-activation gradients ∂A of every step; then one GEMM
[x | h | 1]ᵀ·∂A over all steps gives ∂W, ∂Ū and ∂b together, and one more gives ∂x. The LSTM with the
default activations evaluates its four gates with one tanh (σ(a) = (1 + tanh(a/2))/2).
Activations with a fused kernel: ``FUSED_ACTIVATIONS``; other activations use the ``*_composed``
versions — the same cells written with glassnet ops, which are also the reference the fused ops are
checked against.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, make_result
from . import nonlinear
from .elementwise import add, as_float_tensor, multiply, subtract, where
from .linalg import dense, matmul
from .shape import getitem, stack


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


# ------------------------------------------------------------------ shared plumbing
class _Sequence:
    """The arrays every fused cell needs, time-major (T, N, ·) so that each step's slice is contiguous."""

    def __init__(self, x, kernel, recurrent_kernel, bias, states, mask, input_dropout, recurrent_dropout,
                 go_backwards, gates):
        self.x = as_float_tensor(x)
        X = self.x.data
        if X.ndim != 3:
            raise ValueError(f"recurrent op: inputs must have shape (batch, timesteps, features), got {X.shape}.")
        self.dtype = X.dtype
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
        self.go_backwards = bool(go_backwards)
        xt = X.transpose(1, 0, 2)
        if self.go_backwards:
            xt = xt[::-1]
        self.dmask = None if input_dropout is None else np.asarray(input_dropout, dtype=self.dtype)
        # xa = [x̃ₜ | 1] rows (T, N, F+1): the input projection x̃W + b is then one GEMM with [W; b]
        self.xa = np.empty((self.T, self.N, self.F + 1), dtype=self.dtype)
        if self.dmask is not None:
            np.multiply(xt, self.dmask, out=self.xa[:, :, :self.F])
        else:
            self.xa[:, :, :self.F] = xt
        self.xa[:, :, self.F] = 1.0
        self.xt = self.xa[:, :, :self.F]  # x̃ (T, N, F), time-major, after input dropout
        self.rmask = None if recurrent_dropout is None else np.asarray(recurrent_dropout, dtype=self.dtype)
        self.states = [None if s is None else as_float_tensor(s) for s in states]
        self.keep = None
        if mask is not None:
            m = np.asarray(getattr(mask, "data", mask), dtype=bool)
            if m.shape != (self.N, self.T):
                raise ValueError(f"recurrent op: mask should have shape {(self.N, self.T)}, got {m.shape}.")
            m = m.T[::-1] if self.go_backwards else m.T
            self.keep = np.ascontiguousarray(m)[:, :, None]  # (T, N, 1) bool, in processing order
            self.skip = ~self.keep
            self.keep_f = self.keep.astype(self.dtype)
            self.skip_f = self.skip.astype(self.dtype)

    def initial(self, index):
        s = self.states[index]
        if s is None:
            return np.zeros((self.N, self.units), dtype=self.dtype)
        if s.data.shape != (self.N, self.units):
            raise ValueError(f"recurrent op: initial state {index} should have shape {(self.N, self.units)}, "
                             f"got {s.data.shape}.")
        return s.data

    def project_inputs(self, W, b):
        """x̃·W + b for every step at once, one GEMM [x̃ | 1]·[W; b]: (T, N, G·U)."""
        Wb = np.empty((self.F + 1, W.shape[1]), dtype=self.dtype)
        Wb[:self.F] = W
        Wb[self.F] = 0.0 if b is None else b
        return (self.xa.reshape(self.T * self.N, self.F + 1) @ Wb).reshape(self.T, self.N, -1)

    def workspace(self):
        """``XH`` (T+1, N, F+U+1) holding rows [x̃ₜ | h̃ₜ₋₁ | 1] — so that ONE GEMM XHᵀ·∂A gives ∂W, ∂Ū and ∂b —
        its view ``HD`` (T+1, N, U) of the recurrent inputs h̃ = h⊙(recurrent dropout mask), and ``H``,
        the states (the same view as HD when there is no recurrent dropout). H[0] is the initial state."""
        T, N, F, u = self.T, self.N, self.F, self.units
        width = -(-(F + u + 1) // 16) * 16  # rows padded to 64 bytes (float32) for aligned per-step slices
        XH = np.zeros((T + 1, N, width), dtype=self.dtype)
        XH[:T, :, :F] = self.xt
        XH[:, :, F + u] = 1.0
        HD = XH[:, :, F:F + u]
        H = HD if self.rmask is None else np.empty((T + 1, N, u), dtype=self.dtype)
        H[0] = self.initial(0)
        self.drop_state(H, HD, 0)
        return XH, HD, H

    def drop_state(self, H, HD, t):
        if self.rmask is not None:
            np.multiply(H[t], self.rmask, out=HD[t])

    def mask_step(self, t, new, previous):
        """Masked steps keep the previous state: new ← previous where step t is padding."""
        if self.keep is not None:
            np.copyto(new, previous, where=self.skip[t])

    def weight_grads(self, XH, DA, scale=None):
        """(∂W, ∂Ū, ∂b) = XHᵀ·DA split by rows (times a per-column ``scale``), one GEMM for all steps."""
        T, N, F, u = self.T, self.N, self.F, self.units
        if not (self.kernel.requires_grad or self.recurrent_kernel.requires_grad
                or (self.bias is not None and self.bias.requires_grad)):
            return None, None, None
        G = XH[:T].reshape(T * N, -1).T @ DA.reshape(T * N, -1)
        if scale is not None:
            G *= scale
        return G[:F], G[F:F + u], G[F + u]

    def input_grad(self, DA, W):
        """∂x from the stacked pre-activation gradients DA (T, N, G·U) of the input projection x̃·W."""
        if not self.x.requires_grad:
            return None
        gx = (DA.reshape(self.T * self.N, -1) @ W.T).reshape(self.T, self.N, self.F)
        if self.dmask is not None:
            gx *= self.dmask
        if self.go_backwards:
            gx = gx[::-1]
        return np.ascontiguousarray(gx.transpose(1, 0, 2))

    def parents(self) -> tuple:
        parents = [self.x, self.kernel, self.recurrent_kernel]
        if self.bias is not None:
            parents.append(self.bias)
        return tuple(parents + [s for s in self.states if s is not None])

    def pack_grads(self, gx, gW, gU, gb, gstates):
        grads = [gx, gW, gU]
        if self.bias is not None:
            grads.append(gb)
        grads += [g for s, g in zip(self.states, gstates) if s is not None]
        return tuple(grads)

    def output(self, H, return_sequences):
        """Every hₜ batch-major (N, T, U), or the last one (N, U)."""
        if return_sequences:
            return np.ascontiguousarray(H[1:].transpose(1, 0, 2))
        return np.array(H[self.T])

    def seed(self, g, return_sequences):
        """(per-step output gradients (T, N, U) or None, ∂L/∂h_T to start from)."""
        if return_sequences:
            return g.transpose(1, 0, 2), np.zeros((self.N, self.units), dtype=self.dtype)
        return None, np.array(g, dtype=self.dtype)


# ------------------------------------------------------------------ SimpleRNN
def simple_rnn(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, input_dropout=None,
               recurrent_dropout=None, go_backwards: bool = False, activation: str = "tanh",
               return_sequences: bool = True) -> Tensor:
    """hₜ = φ(xₜW + (hₜ₋₁⊙m̄)Ū + b) over the sequence; returns every hₜ (N, T, U) in processing order,
    or only the last (N, U) when ``return_sequences=False``."""
    forward_act, derivative = _kernel(activation)
    seq = _Sequence(x, kernel, recurrent_kernel, bias, [initial_state], mask, input_dropout, recurrent_dropout,
                    go_backwards, 1)
    W, U = kernel.data, recurrent_kernel.data
    T, N, u = seq.T, seq.N, seq.units
    Y = seq.project_inputs(W, None if bias is None else bias.data)  # becomes the cell outputs φ(a)
    XH, HD, H = seq.workspace()
    rec = np.empty((N, u), dtype=seq.dtype)
    for t in range(T):
        a = Y[t]
        np.matmul(HD[t], U, out=rec)
        a += rec
        forward_act(a)
        H[t + 1] = a
        seq.mask_step(t, H[t + 1], H[t])
        seq.drop_state(H, HD, t + 1)

    def backward(g):
        gH, dh = seq.seed(g, return_sequences)
        DA = np.empty_like(Y)
        UT = np.ascontiguousarray(U.T)
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
                da *= derivative(Y[t])                         # ∂a = ∂h·φ'(a)
            np.matmul(da, UT, out=dh_next)
            if seq.rmask is not None:
                dh_next *= seq.rmask
            if seq.keep is not None:                           # padding passes ∂h straight through
                np.multiply(dh, seq.skip_f[t], out=carry)
                dh_next += carry
            dh, dh_next = dh_next, dh
        gW, gU, gb = seq.weight_grads(XH, DA)
        return seq.pack_grads(seq.input_grad(DA, W), gW, gU, gb, [dh])

    return make_result(seq.output(H, return_sequences), seq.parents(), backward, "simple_rnn")


# ------------------------------------------------------------------ LSTM
def lstm(x, kernel, recurrent_kernel, bias=None, initial_h=None, initial_c=None, mask=None, input_dropout=None,
         recurrent_dropout=None, go_backwards: bool = False, activation: str = "tanh",
         recurrent_activation: str = "sigmoid", return_sequences: bool = True):
    """The LSTM over the sequence. Returns ``(h, c_last)``: h is every hₜ (N, T, U) in processing order,
    or only the last one (N, U) when ``return_sequences=False``; c_last is the final carry (N, U)."""
    act, act_derivative = _kernel(activation)
    ract, ract_derivative = _kernel(recurrent_activation)
    seq = _Sequence(x, kernel, recurrent_kernel, bias, [initial_h, initial_c], mask, input_dropout,
                    recurrent_dropout, go_backwards, 4)
    u, T, N, dtype = seq.units, seq.T, seq.N, seq.dtype
    # Internally the gate blocks are reordered (i, f, o, c̃) so the three σ gates are one contiguous block.
    perm = np.r_[0:2 * u, 3 * u:4 * u, 2 * u:3 * u]
    W, U = kernel.data[:, perm], recurrent_kernel.data[:, perm]
    b = None if bias is None else bias.data[perm]
    # σ(a) = (1 + tanh(a/2))/2: with σ gates and φ = tanh, the σ columns of W, Ū, b are halved so that ONE
    # tanh over the whole (N, 4U) row computes every gate; the σ gates are then 0.5·t + 0.5, and
    # σ'(a) = (1 − t²)/4, tanh'(a) = 1 − t² — one formula for the four blocks times a column ``scale``.
    fast = recurrent_activation == "sigmoid" and activation == "tanh"
    scale = None
    if fast:
        half = np.full(4 * u, 0.5, dtype=dtype)
        half[3 * u:] = 1.0
        scale = half * half  # 1/4 on the σ columns, 1 on c̃
        W, U, b = W * half, U * half, None if b is None else b * half  # from here on: the halved weights
    Z = seq.project_inputs(W, b)  # (T, N, 4U): pre-activations, then activations (fast: the tanh values)
    S = np.empty((T, N, 3 * u), dtype=dtype) if fast else Z  # the σ gates [i f o]; c̃ is Z[..., 3U:]
    XH, HD, H = seq.workspace()
    C = np.empty((T + 1, N, u), dtype=dtype)
    C[0] = seq.initial(1)
    PC = np.empty((T, N, u), dtype=dtype)  # φ(cₜ)
    rec = np.empty((N, 4 * u), dtype=dtype)
    ig = np.empty((N, u), dtype=dtype)
    for t in range(T):
        a = Z[t]
        np.matmul(HD[t], U, out=rec)
        a += rec
        if fast:
            np.tanh(a, out=a)
            s = S[t]
            np.multiply(a[:, :3 * u], 0.5, out=s)
            s += 0.5
        else:
            ract(a[:, :3 * u])
            act(a[:, 3 * u:])
            s = a
        c = C[t + 1]
        np.multiply(s[:, u:2 * u], C[t], out=c)                  # f⊙cₜ₋₁
        np.multiply(s[:, :u], a[:, 3 * u:], out=ig)              # i⊙c̃
        c += ig
        seq.mask_step(t, c, C[t])
        pc = PC[t]
        if fast:
            np.tanh(c, out=pc)
        else:
            np.copyto(pc, c)
            act(pc)
        np.multiply(s[:, 2 * u:3 * u], pc, out=H[t + 1])         # o⊙φ(cₜ)
        seq.mask_step(t, H[t + 1], H[t])
        seq.drop_state(H, HD, t + 1)

    if return_sequences:
        packed = np.empty((N, T + 1, u), dtype=dtype)
        packed[:, :T] = H[1:].transpose(1, 0, 2)
        packed[:, T] = C[T]
    else:
        packed = np.stack([H[T], C[T]], axis=1)  # (N, 2, U)

    def backward(g):
        # DA[t] = ∂L/∂(pre-activations of step t) / scale, blocks (i, f, o, c̃); the scale is applied to the
        # weight gradients at the end and folded into Ūᵀ for the recurrence.
        if return_sequences:
            gH, dh = seq.seed(g[:, :T], True)
            dc = np.array(g[:, T], dtype=dtype)
        else:
            gH, dh = seq.seed(g[:, 0], False)
            dc = np.array(g[:, 1], dtype=dtype)
        DA = np.empty_like(Z)
        UT = np.ascontiguousarray((U * half).T if fast else U.T)  # (Ū·scale)ᵀ with the original Ū = U/half
        dh_next, q = np.empty_like(dh), np.empty_like(dh)
        d = np.empty((N, 4 * u), dtype=dtype)
        masked = seq.keep is not None
        for t in range(T - 1, -1, -1):
            if gH is not None:
                dh += gH[t]
            if masked:                                           # only real steps reach the new h and c
                dhn, dcn = dh * seq.keep_f[t], dc * seq.keep_f[t]
                dc *= seq.skip_f[t]
            else:
                dhn, dcn = dh, dc
            s, cc, da = S[t], Z[t, :, 3 * u:], DA[t]
            np.multiply(dhn, PC[t], out=da[:, 2 * u:3 * u])      # ∂o = ∂h·φ(c)
            if fast:                                             # ∂c += ∂h·o·φ'(c)
                np.square(PC[t], out=q)
                np.subtract(1.0, q, out=q)
            else:
                q[...] = 1.0 if act_derivative is None else act_derivative(PC[t])
            q *= s[:, 2 * u:3 * u]
            q *= dhn
            dcn += q
            np.multiply(dcn, cc, out=da[:, :u])                  # ∂i = ∂c·c̃
            np.multiply(dcn, C[t], out=da[:, u:2 * u])           # ∂f = ∂c·cₜ₋₁
            np.multiply(dcn, s[:, :u], out=da[:, 3 * u:])        # ∂c̃ = ∂c·i
            if fast:
                np.square(Z[t], out=d)
                np.subtract(1.0, d, out=d)
                da *= d
            else:
                if ract_derivative is not None:
                    da[:, :3 * u] *= ract_derivative(s[:, :3 * u])
                if act_derivative is not None:
                    da[:, 3 * u:] *= act_derivative(cc)
            if masked:                                           # ∂cₜ₋₁ = ∂c·f (+ the padding pass-through)
                np.multiply(dcn, s[:, u:2 * u], out=q)
                dc += q
            else:
                dc *= s[:, u:2 * u]
            np.matmul(da, UT, out=dh_next)
            if seq.rmask is not None:
                dh_next *= seq.rmask
            if masked:
                np.multiply(dh, seq.skip_f[t], out=q)
                dh_next += q
            dh, dh_next = dh_next, dh
        inverse = np.argsort(perm)
        gW, gU, gb = (None if grad is None else grad[..., inverse] for grad in seq.weight_grads(XH, DA, scale))
        gx = seq.input_grad(DA, W * half if fast else W)         # DA·scale·(W/half)ᵀ = DA·(W·half)ᵀ
        return seq.pack_grads(gx, gW, gU, gb, [dh, dc])

    out = make_result(packed, seq.parents(), backward, "lstm")
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
    seq = _Sequence(x, kernel, recurrent_kernel, bias, [initial_state], mask, input_dropout, recurrent_dropout,
                    go_backwards, 3)
    u, T, N, dtype = seq.units, seq.T, seq.N, seq.dtype
    W, U = kernel.data, recurrent_kernel.data
    b_in = b_rec = None
    if bias is not None:
        b = bias.data
        expected = (2, 3 * u) if reset_after else (3 * u,)
        if b.shape != expected:
            raise ValueError(f"gru: bias should have shape {expected} (reset_after={reset_after}), got {b.shape}.")
        b_in, b_rec = (b[0], b[1]) if reset_after else (b, None)
    Gates = seq.project_inputs(W, b_in)  # (T, N, 3U): pre-activations, then [z r h̃]
    XH, HD, H = seq.workspace()
    Uzr, Uh = U[:, :2 * u], U[:, 2 * u:]
    # reset_after: REC = h̃ₜ₋₁Ū + b̄ (all three blocks); reset_before: RH = r⊙h̃ₜ₋₁ — both reused by the backward
    REC = np.empty((T, N, 3 * u), dtype=dtype) if reset_after else None
    RH = None if reset_after else np.empty((T, N, u), dtype=dtype)
    zr = np.empty((N, 2 * u), dtype=dtype)
    tmp = np.empty((N, u), dtype=dtype)
    for t in range(T):
        hp, hd = H[t], HD[t]
        a = Gates[t]
        if reset_after:
            rec = REC[t]
            np.matmul(hd, U, out=rec)
            if b_rec is not None:
                rec += b_rec
            a[:, :2 * u] += rec[:, :2 * u]
            ract(a[:, :2 * u])
            np.multiply(a[:, u:2 * u], rec[:, 2 * u:], out=tmp)   # r⊙(h̃Ū_h + b̄_h)
        else:
            np.matmul(hd, Uzr, out=zr)
            a[:, :2 * u] += zr
            ract(a[:, :2 * u])
            np.multiply(a[:, u:2 * u], hd, out=RH[t])
            np.matmul(RH[t], Uh, out=tmp)                          # (r⊙h̃)Ū_h
        a[:, 2 * u:] += tmp
        act(a[:, 2 * u:])
        z, hh = a[:, :u], a[:, 2 * u:]
        h = H[t + 1]
        np.subtract(hp, hh, out=h)
        h *= z
        h += hh                                                    # z⊙hₜ₋₁ + (1 − z)⊙h̃
        seq.mask_step(t, h, hp)
        seq.drop_state(H, HD, t + 1)

    def backward(g):
        gH, dh = seq.seed(g, return_sequences)
        DA = np.empty_like(Gates)                       # ∂ pre-activations, input side [z r h̃]
        DA3, G3 = DA.reshape(T, N, 3, u), Gates.reshape(T, N, 3, u)
        DR = np.empty_like(Gates) if reset_after else None  # ∂(h̃Ū + b̄): [∂z, ∂r, ∂h̃-pre·r]
        UT, UzrT, UhT = (np.ascontiguousarray(m.T) for m in (U, Uzr, Uh))
        dh_next, buf = np.empty_like(dh), np.empty_like(dh)
        masked = seq.keep is not None
        for t in range(T - 1, -1, -1):
            if gH is not None:
                dh += gH[t]
            dhn = dh * seq.keep_f[t] if masked else dh
            z, r, hh = G3[t, :, 0], G3[t, :, 1], G3[t, :, 2]
            dz, dr, dhh = DA3[t, :, 0], DA3[t, :, 1], DA3[t, :, 2]
            np.subtract(1.0, z, out=dhh)
            dhh *= dhn                                             # ∂h̃ = ∂h·(1 − z)
            if act_derivative is not None:
                dhh *= act_derivative(hh)
            np.subtract(H[t], hh, out=dz)
            dz *= dhn                                              # ∂z = ∂h·(hₜ₋₁ − h̃)
            if reset_after:
                np.multiply(dhh, REC[t, :, 2 * u:], out=dr)        # ∂r = ∂h̃-pre·(h̃Ū_h + b̄_h)
            else:
                d_rh = dhh @ UhT                                   # ∂(r⊙h̃)
                np.multiply(d_rh, HD[t], out=dr)
            if ract_derivative is not None:
                DA[t, :, :2 * u] *= ract_derivative(Gates[t, :, :2 * u])
            if reset_after:
                DR[t, :, :2 * u] = DA[t, :, :2 * u]
                np.multiply(dhh, r, out=DR[t, :, 2 * u:])
                np.matmul(DR[t], UT, out=dh_next)
            else:
                np.multiply(d_rh, r, out=dh_next)
                dh_next += DA[t, :, :2 * u] @ UzrT
            if seq.rmask is not None:
                dh_next *= seq.rmask
            np.multiply(dhn, z, out=buf)                           # direct path z⊙hₜ₋₁
            dh_next += buf
            if masked:
                np.multiply(dh, seq.skip_f[t], out=buf)
                dh_next += buf
            dh, dh_next = dh_next, dh
        flat = DA.reshape(T * N, -1)
        hd_flat = XH[:T, :, seq.F:seq.F + u].reshape(T * N, u)
        ones = np.ones(T * N, dtype=dtype)
        G_in = seq.xa.reshape(T * N, -1).T @ flat  # [∂W; ∂b_in] in one GEMM
        gW, gb_in = G_in[:seq.F], G_in[seq.F]
        gU = gb = None
        if reset_after:
            rflat = DR.reshape(T * N, -1)
            if recurrent_kernel.requires_grad:
                gU = hd_flat.T @ rflat
            if bias is not None and bias.requires_grad:
                gb = np.stack([gb_in, ones @ rflat])
        else:
            if recurrent_kernel.requires_grad:
                gU = np.concatenate([hd_flat.T @ flat[:, :2 * u], RH.reshape(T * N, u).T @ flat[:, 2 * u:]], axis=1)
            if bias is not None and bias.requires_grad:
                gb = gb_in
        return seq.pack_grads(seq.input_grad(DA, W), gW, gU, gb, [dh])

    return make_result(seq.output(H, return_sequences), seq.parents(), backward, "gru")


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
