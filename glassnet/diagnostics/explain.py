"""Explain mode: a model's forward (and backward) pass, layer by layer, with the math and the numbers.

    exp = glassnet.explain(model, x)                                   # prints, returns an Explanation
    exp = glassnet.explain(model, x, backward=True, y=y, loss="binary_crossentropy")

Forward, for layer k = Dense with activation f (row convention, X is (batch, features))::

    Zk = A(k-1)·Wk + bk          Ak = f(Zk)

Backward, the chain rule from the output back to the input::

    ∂L/∂Zk = ∂L/∂Ak ⊙ f'(Zk)     ∂L/∂Wk = A(k-1)ᵀ·∂L/∂Zk     ∂L/∂bk = Σ_batch ∂L/∂Zk     ∂L/∂A(k-1) = ∂L/∂Zk·Wkᵀ

Where the numbers come from: every layer output is recorded from the model's own forward pass (an
``observe_layers`` observer), so the values are exactly what ``predict`` computes. ∂L/∂Ak is the gradient
autodiff delivers to Ak (a hook on that tensor, summed over every layer that reads it). f'(Z) and
∂L/∂Z come from autodiff of the activation function alone; ∂L/∂W, ∂L/∂b and ∂L/∂X of a Dense layer are
then computed with the formulas above (tests check them against ``weight.grad``). Other layers get
the vector-Jacobian products ∂L/∂X = ∂L/∂Y·∂Y/∂X by autodiff of that one layer, re-run on its
recorded inputs (inference mode only; with ``training=True`` the totals from the full backward are shown).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

import numpy as np

from ..errors import GlassnetError
from ..tensor import Tensor, enable_grad, no_grad

# Layers whose call ends with ``self.activation(pre_activation)``: shown as Z (pre-activation) then A.
_SPLIT_CLASSES = {"Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
                  "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D"}
_NON_ELEMENTWISE = {"softmax", "log_softmax"}


# ====================================================================== records
@dataclass(eq=False)
class LayerRecord:
    """One layer call of the forward pass (and, after ``backward=True``, its gradients).

    Arrays: ``inputs`` (list, one per input tensor), ``z`` (pre-activation, for Dense/Conv layers with an
    activation, else None), ``output`` (= ``a``), ``weights`` (role → array: ``"W"``, ``"b"`` or the
    weight's name). Gradients: ``grad_output`` = ∂L/∂A, ``grad_z`` = ∂L/∂Z, ``activation_derivative`` =
    f'(Z) (elementwise activations), ``grad_weights`` (role → ∂L/∂weight for this call), ``grad_inputs``
    (∂L/∂input through this layer, one per input; None for integer inputs).
    """

    index: int
    layer: object
    name: str
    class_name: str
    input_symbols: list
    output_symbol: str
    inputs: list
    output: object
    formulas: list = field(default_factory=list)
    z: np.ndarray | None = None
    activation: str | None = None
    weights: dict = field(default_factory=dict)
    weight_symbols: dict = field(default_factory=dict)
    grad_output: object = None
    grad_z: np.ndarray | None = None
    activation_derivative: np.ndarray | None = None
    grad_weights: dict = field(default_factory=dict)
    grad_inputs: list = field(default_factory=list)
    grad_method: str = ""
    consumers: list = field(default_factory=list)

    @property
    def a(self):
        """The layer's output (A)."""
        return self.output

    @property
    def z_symbol(self) -> str:
        return "Z" + self.output_symbol[1:]

    def stats(self, which: str = "a") -> dict:
        """mean, std, min, max and fraction of exact zeros of ``a`` (the output) or ``z``."""
        return _stats(self.z if which == "z" else _first(self.output))

    def __repr__(self) -> str:
        return f"<LayerRecord [{self.index}] {self.name} ({self.class_name}) → {self.output_symbol}>"


@dataclass(eq=False)
class Explanation:
    """What :func:`explain` computed: per-layer :class:`LayerRecord` s plus the inputs, output and loss.

    ``values`` maps symbols to forward arrays (``"X"``, ``"Z1"``, ``"A1"``, ``"W1"``, ``"b1"``...);
    ``grads`` maps the same symbols to ∂L/∂symbol after a backward explanation.
    ``exp[0]`` / ``exp["dense"]`` give a layer's record (by position or layer name).
    """

    model_name: str
    model_class: str
    records: list
    input_symbols: list
    inputs: list
    output: object
    training: bool
    backward: bool = False
    loss: float | None = None
    loss_name: str | None = None
    input_grads: list = field(default_factory=list)
    output_symbols: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    max_values: int = 8
    precision: int = 6

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.records[key]
        for record in self.records:
            if record.name == key:
                return record
        from ..errors import UnknownNameError

        raise UnknownNameError("layer in this explanation", key, [r.name for r in self.records])

    @property
    def values(self) -> dict:
        result = dict(zip(self.input_symbols, self.inputs))
        for r in self.records:
            if r.z is not None:
                result[r.z_symbol] = r.z
            result[r.output_symbol] = r.output
            for role, symbol in r.weight_symbols.items():
                result[symbol] = r.weights[role]
        return result

    @property
    def grads(self) -> dict:
        result = {}
        if not self.backward:
            return result
        result.update({s: g for s, g in zip(self.input_symbols, self.input_grads) if g is not None})
        for r in self.records:
            result[r.output_symbol] = r.grad_output
            if r.grad_z is not None:
                result[r.z_symbol] = r.grad_z
            for role, symbol in r.weight_symbols.items():
                if r.grad_weights.get(role) is not None:
                    result[symbol] = r.grad_weights[role]
        return result

    def to_text(self) -> str:
        return _format(self)

    __str__ = to_text

    def __repr__(self) -> str:
        return (f"<Explanation of model '{self.model_name}': {len(self.records)} layers"
                f"{', with backward pass' if self.backward else ''}>")


# ====================================================================== the main function
def explain(model, x, backward: bool = False, y=None, loss=None, training: bool = False, print: bool = True,
            max_values: int = 8, precision: int = 6, print_fn=None) -> Explanation:
    """Run ``model`` on ``x`` and explain each layer: formula, shapes, values, activation statistics.

    With ``backward=True`` (needs ``y``, and ``loss`` unless the model is compiled) the loss
    L = loss(y, model(x)) is back-propagated and every layer shows, from the output back to the input,
    ∂L/∂A, ∂L/∂Z = ∂L/∂A ⊙ f'(Z), ∂L/∂W = Xᵀ·∂L/∂Z, ∂L/∂b, ∂L/∂X = ∂L/∂Z·Wᵀ (shapes, norms, values).
    ``training=True`` runs layers in training mode (dropout active, batch norm on batch statistics and
    updating its moving averages). The weights' ``.grad`` are left as they were.

    Prints the explanation (``print=False`` to stay silent, ``print_fn`` to redirect it) and returns an
    :class:`Explanation` holding every array.
    """
    from ..layers.base import Layer, _CallContext, observe_layers

    if not isinstance(model, Layer):
        raise TypeError(f"explain(model, x): model must be a glassnet Model or Layer, got {type(model).__name__}.")
    if backward and y is None:
        raise GlassnetError("explain(..., backward=True) needs the targets y to compute the loss.")
    loss_fn = _loss_function(model, loss) if backward else None

    leaves = _map_tensors(lambda t: Tensor(t.data, requires_grad=backward and t.data.dtype.kind == "f"),
                          model._convert_input(x))
    flat_inputs = _flatten(leaves)
    input_symbols = ["X"] if len(flat_inputs) == 1 else [f"X{i + 1}" for i in range(len(flat_inputs))]

    calls = []
    base = _CallContext.depth

    def observer(layer, inputs, outputs):
        calls.append((_CallContext.depth - base, layer, inputs, outputs))

    saved_grads = {id(w): (w, w.grad) for w in model.weights}
    for w, _ in saved_grads.values():
        w.grad = None
    try:
        with enable_grad(), observe_layers(observer):
            y_pred = model(_pack(model, leaves), training=training)
        depth = 2 if any(d == 2 for d, *_ in calls) else 1
        calls = [(layer, inputs, outputs) for d, layer, inputs, outputs in calls if d == depth]
        symbols = {id(t): s for t, s in zip(flat_inputs, input_symbols)}
        records = [_record(k + 1, layer, inputs, outputs, symbols) for k, (layer, inputs, outputs) in
                   enumerate(calls)]
        for record, (layer, inputs, outputs) in zip(records, calls):
            _forward_details(record, layer, inputs, training)
        _link_consumers(records, input_symbols)
        exp = Explanation(model_name=model.name, model_class=type(model).__name__, records=records,
                          input_symbols=input_symbols, inputs=[t.data for t in flat_inputs],
                          output=_data(y_pred), training=bool(training), max_values=max_values,
                          precision=precision,
                          output_symbols=[_symbol_of(t, symbols) for t in _flatten(y_pred) if isinstance(t, Tensor)])
        if backward:
            _backward(model, exp, calls, leaves, flat_inputs, y_pred, y, loss_fn, training)
    finally:
        for w, grad in saved_grads.values():
            w.grad = grad
    for record in exp.records:  # drop the references to the graph's tensors; the arrays stay
        del record._tensors_in, record._tensors_out
    if print:
        (print_fn or builtins.print)(exp.to_text())
    return exp


# ====================================================================== forward details
def _record(index, layer, inputs, outputs, symbols) -> LayerRecord:
    flat_in = [t for t in _flatten(inputs) if isinstance(t, Tensor)]
    in_symbols = [_symbol_of(t, symbols) for t in flat_in]
    flat_out = _flatten(outputs)
    out_symbol = f"A{index}"
    for i, t in enumerate(flat_out):
        symbols[id(t)] = out_symbol if len(flat_out) == 1 else f"{out_symbol}[{i}]"
    record = LayerRecord(index=index, layer=layer, name=layer.name, class_name=type(layer).__name__,
                         input_symbols=in_symbols, output_symbol=out_symbol, inputs=[t.data for t in flat_in],
                         output=_data(outputs))
    record._tensors_in = flat_in
    record._tensors_out = [t for t in flat_out if isinstance(t, Tensor)]
    roles, symbols_w = {}, {}
    own = {id(w) for w in layer._own_weights}
    for w in layer.weights:  # the layer's own weights by role (W, b, gamma…); a nested model's by path
        if id(w) in own:
            role = {"kernel": "W", "bias": "b"}.get(w.name, w.name)
            symbol = f"{role}{index}"
        else:
            role = symbol = w.path or w.name
        while role in roles:
            role, symbol = role + "'", symbol + "'"
        roles[role], symbols_w[role] = w, symbol
    record._weight_objects = roles
    record.weights = {role: w.data for role, w in roles.items()}
    record.weight_symbols = symbols_w
    return record


def _symbol_of(t: Tensor, symbols: dict) -> str:
    seen = 0
    while id(t) not in symbols and t._op == "cast" and t._parents and seen < 4:  # a layer cast its input
        t, seen = t._parents[0], seen + 1
    return symbols.get(id(t), "?")


def _class_names(layer) -> list:
    return [c.__name__ for c in type(layer).__mro__]


def _activation_name(fn) -> str:
    from .. import activations

    if fn is activations.linear:
        return "linear"
    return getattr(fn, "__name__", None) or getattr(fn, "name", None) or type(fn).__name__


def _forward_details(record: LayerRecord, layer, inputs, training) -> None:
    """Formulas for the layer, and Z for layers that end with an activation."""
    k, xs = record.index, record.input_symbols
    x = xs[0] if xs else "?"
    names = _class_names(layer)
    split = next((n for n in names if n in _SPLIT_CLASSES), None)
    activation = getattr(layer, "activation", None)
    if split is not None and callable(activation):
        record.activation = _activation_name(activation)
        has_bias = "b" in record.weights
        if split == "Dense":
            pre = f"{x}·W{k}" + (f" + b{k}" if has_bias else "")
        else:
            pre = f"{x} ∗ W{k}" + (f" + b{k}" if has_bias else "") + "   (∗: convolution)"
        if record.activation == "linear":
            record.formulas = [f"A{k} = Z{k} = {pre}"]
            record.z = None
        else:
            record.formulas = [f"Z{k} = {pre}", f"A{k} = {record.activation}(Z{k})"]
            record.z = _pre_activation(layer, inputs)
        record._split = True
        return
    record._split = False
    record.formulas = [_generic_formula(layer, names, k, xs, training)]


def _pre_activation(layer, inputs) -> np.ndarray:
    """Z: the layer's output with its activation replaced by the identity (same ops, same numbers)."""
    from .. import activations, ops

    with no_grad():
        if "Dense" in _class_names(layer):
            return ops.dense(inputs, layer.kernel, layer.bias).data
        saved = layer.activation
        layer.activation = activations.linear
        try:
            return layer.call(inputs).data
        finally:
            layer.activation = saved


def _generic_formula(layer, names, k, xs, training) -> str:
    x = xs[0] if xs else "?"
    a = f"A{k}"
    joined = lambda op: f" {op} ".join(xs)
    act = getattr(layer, "activation", None)
    table = {
        "Activation": lambda: f"{a} = {_activation_name(act)}({x})",
        "ReLU": lambda: f"{a} = max(0, {x})",
        "LeakyReLU": lambda: f"{a} = {x} if {x} > 0 else {layer.negative_slope:g}·{x}",
        "ELU": lambda: f"{a} = {x} if {x} > 0 else α(e^{x} − 1)",
        "Softmax": lambda: f"{a} = e^{x} / Σ e^{x}   (over the last axis)",
        "PReLU": lambda: f"{a} = {x} if {x} > 0 else alpha{k}·{x}",
        "Swish": lambda: f"{a} = {x}·σ(β·{x})",
        "InputLayer": lambda: f"{a} = {x}",
        "Identity": lambda: f"{a} = {x}",
        "Dropout": lambda: (f"{a} = {x} ⊙ mask / (1 − {layer.rate:g})   (training: keep each unit with "
                            f"probability {1 - layer.rate:g})" if training else
                            f"{a} = {x}   (dropout is the identity at inference)"),
        "Flatten": lambda: f"{a} = reshape({x}, (batch, −1))",
        "Reshape": lambda: f"{a} = reshape({x}, (batch, {', '.join(map(str, layer.target_shape))}))",
        "BatchNormalization": lambda: (
            f"{a} = gamma{k} ⊙ ({x} − mean_batch({x})) / √(var_batch({x}) + ε) + beta{k}" if training else
            f"{a} = gamma{k} ⊙ ({x} − moving_mean{k}) / √(moving_variance{k} + ε) + beta{k}"),
        "LayerNormalization": lambda: f"{a} = gamma{k} ⊙ ({x} − mean_features({x})) / √(var_features({x}) + ε)"
                                      f" + beta{k}",
        "GroupNormalization": lambda: f"{a} = gamma{k} ⊙ ({x} − mean_group({x})) / √(var_group({x}) + ε) + beta{k}",
        "Add": lambda: f"{a} = {joined('+')}",
        "Subtract": lambda: f"{a} = {joined('−')}",
        "Multiply": lambda: f"{a} = {joined('⊙')}",
        "Average": lambda: f"{a} = ({joined('+')}) / {len(xs)}",
        "Maximum": lambda: f"{a} = max({', '.join(xs)})",
        "Minimum": lambda: f"{a} = min({', '.join(xs)})",
        "Concatenate": lambda: f"{a} = concat([{', '.join(xs)}], axis={getattr(layer, 'axis', -1)})",
        "_Pooling": lambda: (f"{a} = {'max' if 'Max' in type(layer).__name__ else 'mean'} over each "
                             f"{getattr(layer, 'pool_size', '?')} window of {x} "
                             f"(strides {getattr(layer, 'strides', '?')})"),
        "_GlobalPooling": lambda: (f"{a} = {'max' if 'Max' in type(layer).__name__ else 'mean'} of {x} over "
                                   f"the spatial/time axes"),
        "Embedding": lambda: f"{a} = embeddings{k}[{x}]   (row lookup)",
        "SimpleRNN": lambda: f"h_t = tanh(x_t·W{k} + h_(t−1)·U{k} + b{k}),  {a} = h (last or all t)",
        "LSTM": lambda: (f"i,f,o = σ(x_t·W + h_(t−1)·U + b), c̃ = tanh(...), c_t = f⊙c_(t−1) + i⊙c̃, "
                         f"h_t = o⊙tanh(c_t),  {a} = h"),
        "GRU": lambda: (f"z,r = σ(x_t·W + h_(t−1)·U + b), h̃ = tanh(x_t·W_h + (r⊙h_(t−1))·U_h + b_h), "
                        f"h_t = (1−z)⊙h_(t−1) + z⊙h̃,  {a} = h"),
        "MultiHeadAttention": lambda: f"{a} = concat_h(softmax(Q_h·K_hᵀ/√d)·V_h)·W_o   (Q, K, V = projections)",
        "Model": lambda: f"{a} = {layer.name}({', '.join(xs)})   (a nested model)",
    }
    for name in names:
        if name in table:
            return table[name]()
    return f"{a} = {layer.name}({', '.join(xs)})"


def _link_consumers(records, input_symbols) -> None:
    by_symbol = {}
    for r in records:
        for s in r.input_symbols:
            by_symbol.setdefault(s, []).append(r.index)
    for r in records:
        r.consumers = by_symbol.get(r.output_symbol, [])


# ====================================================================== backward
def _loss_function(model, loss):
    from .. import losses
    from ..models.compile_utils import MultiOutputLoss

    if loss is None:
        compiled = getattr(model, "compiled_loss", None)
        if compiled is None:
            raise GlassnetError("explain(..., backward=True) needs loss=... (e.g. loss='mse') because the model "
                                "is not compiled with a loss.")
        return compiled
    outputs = getattr(model, "_output_structure", None)
    names = model._output_names() if hasattr(model, "_output_names") else ["output"]
    if outputs is not None and len(_flatten(outputs)) > 1:
        return MultiOutputLoss(loss, None, names)
    return losses.get(loss)


def _backward(model, exp: Explanation, calls, leaves, flat_inputs, y_pred, y, loss_fn, training) -> None:
    from .. import ops
    from ..models.compile_utils import MultiOutputLoss
    from ..models.sequential import Sequential

    grads_at = {}

    def hook_for(key):
        def hook(g):
            grads_at[key] = np.array(g, copy=True)
        return hook

    watched = list(flat_inputs) + [t for r in exp.records for t in r._tensors_out]
    for t in watched:
        if t.requires_grad:
            t.register_hook(hook_for(id(t)))
    # L is evaluated on a leaf copy P of the outputs, so ∂L/∂A of an output layer is the plain ∂L/∂P (a loss
    # may otherwise fuse e.g. sigmoid + cross-entropy and skip A); the model's graph is then seeded with it.
    outputs = [t for t in _flatten(y_pred) if isinstance(t, Tensor)]
    leaves_out = [Tensor(t.data, requires_grad=t.data.dtype.kind == "f") for t in outputs]
    prediction = leaves_out if isinstance(loss_fn, MultiOutputLoss) else leaves_out[0]
    if not isinstance(loss_fn, MultiOutputLoss) and len(leaves_out) != 1:
        raise GlassnetError(f"explain: the model has {len(leaves_out)} outputs; pass one loss per output or compile "
                            "the model.")
    with enable_grad():
        loss_value = loss_fn(y, prediction)
    exp.loss = float(np.asarray(loss_value.data))
    if isinstance(loss_fn, MultiOutputLoss):
        exp.loss_name = " + ".join(getattr(f, "name", "loss") for f in loss_fn.losses if f is not None)
    else:
        exp.loss_name = getattr(loss_fn, "name", None) or getattr(loss_fn, "__name__", "loss")
    loss_value.backward()
    total = None
    for out, leaf in zip(outputs, leaves_out):
        if out.requires_grad and leaf.grad is not None:
            term = ops.sum(ops.multiply(out, Tensor(leaf.grad)))
            total = term if total is None else total + term
    if total is None:
        raise GlassnetError("explain: the loss does not depend on any trainable weight or input of the model.")
    total.backward()
    totals = {id(w): (None if w.grad is None else w.grad.copy()) for w in model.weights}
    exp.backward = True
    exp.input_grads = [grads_at.get(id(t), np.zeros_like(t.data) if t.data.dtype.kind == "f" else None)
                       for t in flat_inputs]

    def total_grad(t):
        return grads_at.get(id(t), np.zeros_like(t.data))

    nodes = _functional_nodes(model, calls)
    real = {}
    if nodes and nodes[0] is not None:
        real.update({id(s): t for s, t in zip(model._flat_inputs, flat_inputs)})
        for node, record in zip(nodes, exp.records):
            real.update({id(s): t for s, t in zip(_flatten(node.outputs), record._tensors_out)})
    for record, call, node in zip(exp.records, calls, nodes):
        outs = [total_grad(t) for t in record._tensors_out]
        record.grad_output = outs[0] if len(outs) == 1 else outs
        layer = call[0]
        if record._split and record.z is not None:
            record.grad_z, record.activation_derivative = _through_activation(layer.activation, record.z,
                                                                              outs[0], record.activation)
        elif record._split:
            record.grad_z = outs[0]
        if record._split and "Dense" in _class_names(layer):
            _dense_chain_rule(record, record.grad_z)
            record.grad_method = "chain rule"
            continue
        can_rerun = not training and (node is not None or isinstance(model, Sequential) or model is layer)
        if can_rerun:
            grads_in, grads_w = _local_vjp(layer, call[1], node, real, record, outs)
            record.grad_inputs = grads_in
            record.grad_weights = grads_w
            record.grad_method = "autodiff of this layer"
        else:
            record.grad_inputs = [total_grad(t) if t.data.dtype.kind == "f" else None for t in record._tensors_in]
            record.grad_weights = {role: totals.get(id(w)) for role, w in record._weight_objects.items()}
            record.grad_method = "autodiff (totals from the full backward pass)"
    if any(w.regularizer is not None for w in model.weights) or getattr(model, "_activity_losses", None):
        exp.notes.append("L is the data loss only: regularization penalties are not included.")


def _functional_nodes(model, calls) -> list:
    nodes = getattr(model, "_nodes", None)
    if nodes is not None and len(nodes) == len(calls) and all(n.layer is c[0] for n, c in zip(nodes, calls)):
        return list(nodes)
    return [None] * len(calls)


def _through_activation(activation, z, grad_a, name):
    """(∂L/∂Z, f'(Z)) by autodiff of the activation alone: ∂L/∂Z = vjp_f(Z)(∂L/∂A); f'(Z) = ∂Σf(Z)/∂Z."""
    zt = Tensor(np.array(z, copy=True), requires_grad=True)
    with enable_grad():
        activation(zt).backward(grad_a)
    grad_z = zt.grad
    derivative = None
    if name not in _NON_ELEMENTWISE:
        zt = Tensor(np.array(z, copy=True), requires_grad=True)
        with enable_grad():
            activation(zt).backward(np.ones_like(z))
        derivative = zt.grad
    return grad_z, derivative


def _dense_chain_rule(record: LayerRecord, grad_z) -> None:
    """∂L/∂W = Xᵀ·∂L/∂Z, ∂L/∂b = Σ_batch ∂L/∂Z, ∂L/∂X = ∂L/∂Z·Wᵀ (inputs of rank > 2 flattened to rows)."""
    x = record.inputs[0]
    w = record.weights["W"]
    x2 = x.reshape(-1, x.shape[-1])
    g2 = grad_z.reshape(-1, grad_z.shape[-1])
    record.grad_weights = {"W": x2.T @ g2}
    if "b" in record.weights:
        record.grad_weights["b"] = g2.sum(axis=0)
    record.grad_inputs = [(g2 @ w.T).reshape(x.shape)]


def _local_vjp(layer, inputs, node, real, record, grads_out):
    """∂L/∂inputs and ∂L/∂weights through this one layer: re-run it (inference mode) on copies of its
    recorded inputs and back-propagate ∂L/∂outputs."""
    from .. import activations, ops
    from ..layers.input import KerasTensor
    from ..training import flatten_structure, map_structure

    copies = []

    def leaf(t):
        if not isinstance(t, Tensor):
            return t
        c = Tensor(np.array(t.data, copy=True), requires_grad=t.data.dtype.kind == "f")
        copies.append(c)
        return c

    copied = _map_tensors(leaf, inputs)
    args, kwargs = (), {}
    if node is not None:
        lookup = lambda v: real.get(id(v), v) if isinstance(v, KerasTensor) else v
        args = map_structure(lookup, list(node.args))
        kwargs = map_structure(lookup, {k: v for k, v in node.kwargs.items() if k != "training"})
    weights = list(record._weight_objects.values())
    saved = [(w, w.grad) for w in weights]
    for w in weights:
        w.grad = None
    swap = record._split and record.z is not None
    saved_activation = getattr(layer, "activation", None)
    try:
        if swap:
            layer.activation = activations.linear
        with enable_grad():
            out = layer(copied, *args, training=False, **kwargs)
        total = None
        seeds = [record.grad_z] if swap else grads_out
        for o, g in zip(flatten_structure(out), seeds):
            if isinstance(o, Tensor) and o.requires_grad:
                term = ops.sum(ops.multiply(o, Tensor(g.astype(o.data.dtype, copy=False))))
                total = term if total is None else total + term
        if total is not None:
            total.backward()
        grads_w = {role: (None if w.grad is None else w.grad.copy()) for role, w in record._weight_objects.items()
                   if w.requires_grad}
        grads_in = [c.grad if c.grad is not None else (np.zeros_like(c.data) if c.requires_grad else None)
                    for c in copies]
    finally:
        if swap:
            layer.activation = saved_activation
        for w, g in saved:
            w.grad = g
    return grads_in, grads_w


# ====================================================================== formatting
def _format(exp: Explanation) -> str:
    p, m = exp.precision, exp.max_values
    lines = [(f"explain: model '{exp.model_name}' ({exp.model_class}), forward pass"
              f"{' (training mode)' if exp.training else ''}, {_batch(exp.inputs)} sample(s)")]
    for symbol, value in zip(exp.input_symbols, exp.inputs):
        lines.append(f"{symbol}: input, shape {_shape(value)}")
        lines.append("    " + _values(symbol, value, m, p))
    for r in exp.records:
        lines.append("")
        in_shapes = ", ".join(f"{s} {_shape(v)}" for s, v in zip(r.input_symbols, r.inputs))
        w_shapes = ", ".join(f"{r.weight_symbols[role]} {_shape(v)}" for role, v in r.weights.items())
        lines.append(f"[{r.index}] {r.name} ({r.class_name}): {in_shapes or '-'} → {r.output_symbol} "
                     f"{_shape(_first(r.output))}" + (f";  weights {w_shapes}" if w_shapes else ""))
        if r.z is not None:
            lines.append(f"    {r.formulas[0]}")
            lines.append(f"    {_values(r.z_symbol, r.z, m, p)}")
            lines.append(f"        shape {_shape(r.z)}  {_stats_text(r.z)}")
            formulas = r.formulas[1:]
        else:
            formulas = r.formulas
        for formula in formulas:
            lines.append(f"    {formula}")
        for i, out in enumerate(_as_list(r.output)):
            symbol = r.output_symbol if not isinstance(r.output, list) else f"{r.output_symbol}[{i}]"
            lines.append(f"    {_values(symbol, out, m, p)}")
            stats = f"  {_stats_text(out)}" if np.asarray(out).dtype.kind in "fiu" else ""
            lines.append(f"        shape {_shape(out)}{stats}")
    lines.append("")
    lines.append(f"model output: {', '.join(exp.output_symbols)}")
    if exp.backward:
        lines.extend(_format_backward(exp))
    for note in exp.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _format_backward(exp: Explanation) -> list:
    p, m = exp.precision, exp.max_values
    lines = ["", f"backward pass: L = {exp.loss_name}(y, {', '.join(exp.output_symbols)}) = {exp.loss:.{p}f}",
             ("    chain rule, from the output back to the input: ∂L/∂Z = ∂L/∂A ⊙ f'(Z);  ∂L/∂W = Xᵀ·∂L/∂Z;  "
              "∂L/∂b = Σ_batch ∂L/∂Z;  ∂L/∂X = ∂L/∂Z·Wᵀ")]
    by_index = {r.index: r for r in exp.records}

    def grad_line(label, g, per_sample=True):
        g = np.asarray(g)
        body, batched = _body(g, m, p, per_sample)
        norm = np.linalg.norm(g.ravel())
        return [f"    {label}", f"        shape {_shape(g)}  norm {norm:.{p}g}  {'[0] ' if batched else ''}= {body}"]

    for r in reversed(exp.records):
        lines.append("")
        lines.append(f"[{r.index}] {r.name} ({r.class_name})   ({r.grad_method})")
        a = r.output_symbol
        if len(r.consumers) > 1:
            sources = ", ".join(f"[{i}] {by_index[i].name}" for i in r.consumers)
            label = f"∂L/∂{a} = sum of the gradients coming back from {sources}"
        elif r.consumers:
            label = f"∂L/∂{a}   (from [{r.consumers[0]}] {by_index[r.consumers[0]].name})"
        elif a in exp.output_symbols or any(o.startswith(a + "[") for o in exp.output_symbols):
            label = f"∂L/∂{a}   (from the loss)"
        else:
            label = f"∂L/∂{a}   (not used by the loss: zero)"
        for i, g in enumerate(_as_list(r.grad_output)):
            lines += grad_line(label if i == 0 else f"∂L/∂{a}[{i}]", g)
        k = r.index
        x = r.input_symbols[0] if r.input_symbols else "X"
        if r.grad_z is not None and r.z is not None:
            if r.activation_derivative is not None:
                lines += grad_line(f"{r.activation}'(Z{k})   (f'(Z), autodiff of {r.activation})",
                                   r.activation_derivative)
                lines += grad_line(f"∂L/∂Z{k} = ∂L/∂{a} ⊙ {r.activation}'(Z{k})", r.grad_z)
            else:
                lines += grad_line(f"∂L/∂Z{k} = J_{r.activation}(Z{k})ᵀ·∂L/∂{a}   (vector-Jacobian product)",
                                   r.grad_z)
        dense = r._split and "Dense" in _class_names(r.layer)
        zsym = f"Z{k}" if (r.z is not None) else a
        for role, g in r.grad_weights.items():
            if g is None:
                continue
            symbol = r.weight_symbols[role]
            if dense and role == "W":
                label = f"∂L/∂{symbol} = {x}ᵀ·∂L/∂{zsym}"
            elif dense and role == "b":
                label = f"∂L/∂{symbol} = Σ_batch ∂L/∂{zsym}"
            else:
                label = f"∂L/∂{symbol}"
            lines += grad_line(label, g, per_sample=False)
        for s, g in zip(r.input_symbols, r.grad_inputs):
            if g is None:
                continue
            if dense:
                label = f"∂L/∂{s} = ∂L/∂{zsym}·W{k}ᵀ"
            else:
                label = f"∂L/∂{s} through this layer"
            lines += grad_line(label + ("   → passed back" if s.startswith("A") else "   (input)"), g)
    for s, g in zip(exp.input_symbols, exp.input_grads):
        if g is not None:
            lines.append("")
            lines += grad_line(f"∂L/∂{s}   (total, at the model input)", g)
    return lines


def _values(symbol, value, max_values, precision, per_sample=True) -> str:
    """``symbol = [v0, v1, …]``: the first values (of sample 0 when ``per_sample`` and batched)."""
    body, batched = _body(value, max_values, precision, per_sample)
    return f"{symbol}[0] = {body}" if batched else f"{symbol} = {body}"


def _body(value, max_values, precision, per_sample=True) -> tuple:
    a = np.asarray(value)
    batched = per_sample and a.ndim >= 2 and a.shape[0] > 1
    flat = a[0].ravel() if per_sample and a.ndim >= 2 else a.ravel()
    shown = flat[:max_values]
    if a.dtype.kind == "f":
        body = ", ".join(f"{v:.{precision}f}" for v in shown)
    else:
        body = ", ".join(str(v) for v in shown)
    if flat.size > max_values:
        body += f", … ({flat.size} values)"
    return f"[{body}]" + (f"   (sample 0 of {a.shape[0]})" if batched else ""), batched


def _stats(a) -> dict:
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan"), "zero": 0.0}
    return {"mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()), "max": float(a.max()),
            "zero": float(np.mean(a == 0))}


def _stats_text(a) -> str:
    s = _stats(a)
    return (f"mean {s['mean']:.6g}  std {s['std']:.6g}  min {s['min']:.6g}  max {s['max']:.6g}  "
            f"zero {s['zero']:.1%}")


def _shape(a) -> str:
    shape = np.shape(a)
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _batch(inputs) -> int:
    return int(np.shape(inputs[0])[0]) if inputs and np.ndim(inputs[0]) else 1


# ====================================================================== structure helpers
def _flatten(x) -> list:
    if isinstance(x, (list, tuple)):
        return [item for v in x for item in _flatten(v)]
    if isinstance(x, dict):
        return [item for v in x.values() for item in _flatten(v)]
    return [x]


def _map_tensors(fn, x):
    if isinstance(x, Tensor):
        return fn(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_map_tensors(fn, v) for v in x)
    if isinstance(x, dict):
        return {k: _map_tensors(fn, v) for k, v in x.items()}
    return x


def _pack(model, leaves):
    """The converted inputs in the structure the model's ``__call__`` expects."""
    structure = getattr(model, "_input_structure", None)
    if structure is None:
        return leaves
    flat = _flatten(leaves)
    if isinstance(structure, dict):
        return dict(zip(structure.keys(), flat))
    if isinstance(structure, list):
        return flat
    return flat[0]


def _data(x):
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, (list, tuple)):
        return [_data(v) for v in x]
    if isinstance(x, dict):
        return {k: _data(v) for k, v in x.items()}
    return np.asarray(x)


def _first(x):
    return x[0] if isinstance(x, list) else x


def _as_list(x) -> list:
    return x if isinstance(x, list) else [x]


__all__ = ["Explanation", "LayerRecord", "explain"]
