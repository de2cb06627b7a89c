"""``model.summary()``: the Keras 3 table of layers, output shapes and parameter counts."""

from __future__ import annotations

from .errors import NotBuiltError
from .layers.base import _shape_str


def format_bytes(n: int) -> str:
    """1,024-based sizes as Keras prints them: ``10.75 KB``."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} GB"


def _bytes_of(weights) -> int:
    return int(sum(w.data.nbytes for w in weights))


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return _shape_str(shape)


def layer_rows(model) -> list:
    """(name (type), output shape, params) for each layer of the model."""
    if hasattr(model, "output_shapes") and model.built:
        shapes = model.output_shapes()
    else:
        shapes = [getattr(layer, "_last_output_shape", None) for layer in model.layers]
    rows = []
    for layer, shape in zip(model.layers, shapes):
        params = sum(w.size for w in layer.weights) if (layer.built or layer.weights) else 0
        rows.append((f"{layer.name} ({type(layer).__name__})", _shape_text(shape), params))
    return rows


def summary_text(model) -> str:
    if not model.built:
        raise NotBuiltError(
            f"Model '{model.name}' has not been built yet, so it has no weights to summarise. Give the first layer "
            "an input shape (e.g. Input(shape=(8,)) or input_shape=(8,)), call model.build(...), or call the "
            "model on a batch of data first.")
    rows = layer_rows(model)
    headers = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(31, max((len(r[0]) for r in rows), default=0) + 2), max(22, max((len(r[1]) for r in rows),
                                                                                   default=0) + 2), 13]
    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(cells, align_last_right=True):
        parts = [f" {cells[0]:<{widths[0]}} ", f" {cells[1]:<{widths[1]}} ", f" {cells[2]:>{widths[2]}} "]
        return parts

    out = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━"),
           "┃" + "┃".join(row(headers)) + "┃", line("┡", "╇", "┩", "━")]
    for i, (name, shape, params) in enumerate(rows):
        out.append("│" + "│".join(row((name, shape, f"{params:,}"))) + "│")
        if i < len(rows) - 1:
            out.append(line("├", "┼", "┤", "─"))
    out.append(line("└", "┴", "┘", "─"))
    weights = model.weights
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    count = lambda ws: int(sum(w.size for w in ws))  # noqa: E731
    out.append(f" Total params: {count(weights):,} ({format_bytes(_bytes_of(weights))})")
    out.append(f" Trainable params: {count(trainable):,} ({format_bytes(_bytes_of(trainable))})")
    out.append(f" Non-trainable params: {count(non_trainable):,} ({format_bytes(_bytes_of(non_trainable))})")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "variables", None):
        slots = [a for arrays in optimizer._slots.values() for a in arrays]
        n = int(sum(a.size for a in slots)) + 1
        out.append(f" Optimizer params: {n:,} ({format_bytes(int(sum(a.nbytes for a in slots)) + 8)})")
    return "\n".join(out)
