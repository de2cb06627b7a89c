"""Model diagrams without Graphviz: the layer graph, a layered layout, and three renderers.

``model_graph(model)`` reads the graph (one box per layer, one edge per tensor passed from a layer to
another, so a merge such as ``Add`` has one incoming edge per input) and lays it out:

* rank of a layer = the longest path from a model input to it (so a skip connection spans several ranks);
* an edge that skips ranks gets a virtual point on every rank in between (Sugiyama's dummy nodes), so it
  runs in its own lane beside the boxes instead of through them;
* order within a rank by the barycentre heuristic (sweeps down and up), so parallel branches stand side
  by side; positions across the ranks pulled towards each box's neighbours without overlapping;
* sizes in inches from the text of each box (monospace).

Renderers: :func:`draw_matplotlib` (PNG, PDF…), :func:`to_svg` (SVG text, NumPy only) and
:func:`to_dot` (Graphviz DOT text, for users who have Graphviz). ``glassnet.utils.plot_model`` picks
one from the file extension.
"""

from __future__ import annotations

import itertools
import os
import warnings
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

FONT_SIZE = 9.0  # points
_CHAR_W = 0.6 * FONT_SIZE / 72  # inches per monospace character
_LINE_H = 1.4 * FONT_SIZE / 72
_PAD_X, _PAD_Y = 0.12, 0.07
_NODE_GAP = 0.35
_RANK_GAP = 0.5
_MARGIN = 0.2

_COLORS = {"input": "#e8e8e8", "dense": "#d6e6f5", "conv": "#d9efd9", "merge": "#fbeec1", "model": "#ead9f2",
           "other": "#f2f2f2"}


@dataclass
class DiagramNode:
    """One box: a layer. ``x``, ``y`` is its centre, ``width``/``height`` its size (inches, y downwards)."""

    name: str
    class_name: str
    lines: list
    input_shape: object = None
    output_shape: object = None
    dtype: str | None = None
    kind: str = "other"
    rank: int = 0
    order: int = 0
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0


@dataclass
class DiagramEdge:
    """An arrow from layer ``source`` to layer ``target``: a polyline through ``points`` (inches), from
    ``start`` to ``end``; ``span`` = how many ranks it goes down (> 1 for a skip connection)."""

    source: str
    target: str
    start: tuple = (0.0, 0.0)
    end: tuple = (0.0, 0.0)
    span: int = 1
    points: list = field(default_factory=list)


@dataclass
class ModelGraph:
    """The laid-out diagram: ``nodes`` (in model order), ``edges``, ``rankdir`` and the size in inches."""

    name: str
    nodes: list
    edges: list
    rankdir: str = "TB"
    width: float = 0.0
    height: float = 0.0
    notes: list = field(default_factory=list)

    def node(self, name: str) -> DiagramNode:
        for n in self.nodes:
            if n.name == name:
                return n
        from .errors import UnknownNameError

        raise UnknownNameError("layer in the diagram", name, [n.name for n in self.nodes])

    def incoming(self, name: str) -> list:
        """Edges arriving at layer ``name`` (one per input tensor)."""
        return [e for e in self.edges if e.target == name]

    def outgoing(self, name: str) -> list:
        return [e for e in self.edges if e.source == name]

    def ranks(self) -> list:
        """Layer names rank by rank, in drawing order."""
        result = [[] for _ in range(1 + max((n.rank for n in self.nodes), default=0))]
        for n in sorted(self.nodes, key=lambda n: (n.rank, n.order)):
            result[n.rank].append(n.name)
        return result


# ====================================================================== reading the graph
def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {_shape_text(v)}" for k, v in shape.items()) + "}"
    if isinstance(shape, list) or (isinstance(shape, tuple) and shape and isinstance(shape[0], (tuple, list))):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    items = ["None" if s is None else str(s) for s in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _kind(layer) -> str:
    from .layers.input import InputLayer
    from .models.model import Model

    names = [c.__name__ for c in type(layer).__mro__]
    if isinstance(layer, InputLayer):
        return "input"
    if isinstance(layer, Model):
        return "model"
    if "Dense" in names:
        return "dense"
    if any(n.startswith(("Conv", "_Conv", "DepthwiseConv", "SeparableConv", "_BaseConv")) for n in names):
        return "conv"
    if "_Merge" in names:
        return "merge"
    return "other"


def _symbolic_shapes(value):
    from .training import flatten_structure

    shapes = [t.shape for t in flatten_structure(value) if hasattr(t, "shape")]
    return shapes[0] if len(shapes) == 1 else (shapes or None)


def _read_graph(model):
    """(entries [(layer, input_shape, output_shape)], edges [(source name, target name)], notes)."""
    from .layers.input import InputLayer, KerasTensor
    from .training import flatten_structure

    notes = []
    if hasattr(model, "_nodes") and hasattr(model, "_flat_inputs"):  # functional
        entries, seen = [], {}
        for t in model._flat_inputs:
            layer = t.node.layer
            seen[id(layer)] = len(entries)
            entries.append([layer, t.shape, t.shape])
        edges = []
        for node in model._nodes:
            if id(node.layer) not in seen:
                seen[id(node.layer)] = len(entries)
                entries.append([node.layer, _symbolic_shapes(node.inputs), _symbolic_shapes(node.outputs)])
            for t in flatten_structure([node.inputs, list(node.args), node.kwargs]):
                if isinstance(t, KerasTensor) and t.node is not None:
                    edges.append((t.node.layer.name, node.layer.name))
        return [tuple(e) for e in entries], edges, notes
    from .models.sequential import Sequential

    layers = [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    if isinstance(model, Sequential):
        entries = []
        shape = getattr(model, "_build_input_shape", None)
        if shape is not None:
            input_name = f"{model.name}_input"
            entries.append((InputLayer(batch_shape=shape, name=input_name, dtype=model.dtype), shape, shape))
        out_shapes = None
        if model.built and shape is not None:
            try:
                out_shapes = model.output_shapes()
            except Exception:  # noqa: BLE001  (a layer that cannot infer shapes: fall back to the last seen ones)
                out_shapes = None
        previous = shape
        for i, layer in enumerate(layers):
            out = out_shapes[i] if out_shapes is not None else getattr(layer, "_last_output_shape", None)
            entries.append((layer, previous, out))
            previous = out
        names = [e[0].name for e in entries]
        return entries, list(itertools.pairwise(names)), notes
    notes.append("subclassed model: the call graph is not known, layers are listed in creation order")
    entries = [(layer, getattr(layer, "_build_input_shape", None), getattr(layer, "_last_output_shape", None))
               for layer in layers]
    return entries, [], notes


def _labels(layer, input_shape, output_shape, show_shapes, show_layer_names, show_dtype, show_layer_activations,
            show_trainable) -> list:
    cls = type(layer).__name__
    lines = [f"{layer.name} ({cls})" if show_layer_names else cls]
    if show_layer_activations and callable(getattr(layer, "activation", None)):
        fn = layer.activation
        lines.append(f"activation: {getattr(fn, '__name__', None) or type(fn).__name__}")
    if show_shapes:
        lines.append(f"input:  {_shape_text(input_shape)}")
        lines.append(f"output: {_shape_text(output_shape)}")
    if show_dtype:
        lines.append(f"dtype: {layer.dtype}")
    if show_trainable:
        lines.append(f"trainable: {layer.trainable}")
    return lines


def model_graph(model, show_shapes: bool = True, show_layer_names: bool = True, show_dtype: bool = False,
                rankdir: str = "TB", show_layer_activations: bool = False, show_trainable: bool = False) -> ModelGraph:
    """The model's layer graph with its layout (see the module docstring)."""
    if rankdir not in ("TB", "LR"):
        from .errors import UnknownNameError

        raise UnknownNameError("rankdir", rankdir, ["TB", "LR"])
    entries, edge_pairs, notes = _read_graph(model)
    nodes = []
    for layer, in_shape, out_shape in entries:
        nodes.append(DiagramNode(name=layer.name, class_name=type(layer).__name__,
                                 lines=_labels(layer, in_shape, out_shape, show_shapes, show_layer_names, show_dtype,
                                               show_layer_activations, show_trainable),
                                 input_shape=in_shape, output_shape=out_shape, dtype=layer.dtype, kind=_kind(layer)))
    edges = [DiagramEdge(source=s, target=t) for s, t in edge_pairs]
    graph = ModelGraph(name=model.name, nodes=nodes, edges=edges, rankdir=rankdir, notes=notes)
    _layout(graph)
    return graph


# ====================================================================== layout
@dataclass
class _Item:
    """A box, or a virtual point where an edge crosses a rank it skips (Sugiyama's dummy nodes)."""

    key: object
    rank: int
    size_across: float
    size_along: float
    node: DiagramNode | None = None
    pos: float = 0.0
    order: float = 0.0
    sort_key: float = 0.0
    up: list = field(default_factory=list)
    down: list = field(default_factory=list)


def _ranks(graph: ModelGraph) -> dict:
    """Longest path from a source to each layer (relaxation, at most n rounds so a cycle cannot hang)."""
    names = {n.name for n in graph.nodes}
    preds = {n.name: [] for n in graph.nodes}
    for e in graph.edges:
        if e.source != e.target and e.source in names and e.target in names:
            preds[e.target].append(e.source)
    rank = {n.name: 0 for n in graph.nodes}
    for _ in range(len(graph.nodes)):
        changed = False
        for n in graph.nodes:
            best = max((rank[p] + 1 for p in preds[n.name]), default=0)
            if best > rank[n.name]:
                rank[n.name], changed = best, True
        if not changed:
            break
    if not graph.edges and len(graph.nodes) > 1:  # no known connections: one column in model order
        rank = {n.name: i for i, n in enumerate(graph.nodes)}
    return rank


def _layout(graph: ModelGraph) -> None:
    tb = graph.rankdir == "TB"
    rank = _ranks(graph)
    for i, n in enumerate(graph.nodes):
        n.rank = rank[n.name]
        n.width = max(len(line) for line in n.lines) * _CHAR_W + 2 * _PAD_X
        n.height = len(n.lines) * _LINE_H + 2 * _PAD_Y
    items = {n.name: _Item(n.name, n.rank, n.width if tb else n.height, n.height if tb else n.width, node=n,
                           order=float(i)) for i, n in enumerate(graph.nodes)}
    chains = []
    for k, e in enumerate(graph.edges):
        s, t = items[e.source], items[e.target]
        chain = [s]
        for r in range(s.rank + 1, t.rank):  # a virtual point on every rank the edge skips
            v = _Item(("edge", k, r), r, 0.12, 0.0, order=s.order + 0.5)
            items[v.key] = v
            chain.append(v)
        chain.append(t)
        chains.append(chain)
        for a, b in itertools.pairwise(chain):
            if b.rank == a.rank + 1:
                a.down.append(b)
                b.up.append(a)
    n_ranks = 1 + max((it.rank for it in items.values()), default=0)
    rows = [sorted((it for it in items.values() if it.rank == r), key=lambda it: it.order) for r in range(n_ranks)]
    _order(rows)
    _coordinates(rows)
    low = min(it.pos - it.size_across / 2 for it in items.values())
    bands, cursor = [], _MARGIN  # along the ranks: one band per rank, as thick as its thickest box
    for row in rows:
        thickness = max((it.size_along for it in row), default=0.0)
        bands.append((cursor, cursor + thickness))
        cursor += thickness + _RANK_GAP
    for it in items.values():
        it.pos += _MARGIN - low
        if it.node is not None:
            start, end = bands[it.rank]
            it.node.order = int(it.order)
            across, along = it.pos, (start + end) / 2
            it.node.x, it.node.y = (across, along) if tb else (along, across)
    _route(graph, chains, bands)


def _order(rows) -> None:
    """Order within each rank by the barycentre of the neighbours' positions: sweeps down, then up."""
    def renumber(row):
        for i, it in enumerate(row):
            it.order = float(i)

    for row in rows:
        renumber(row)
    for _ in range(4):
        for sweep, side in ((rows[1:], "up"), (rows[-2::-1], "down")):
            for row in sweep:
                for it in row:
                    near = getattr(it, side)
                    it.sort_key = sum(o.order for o in near) / len(near) if near else it.order
                row.sort(key=lambda it: it.sort_key)
                renumber(row)


def _separation(a: _Item, b: _Item) -> float:
    return (a.size_across + b.size_across) / 2 + (_NODE_GAP if a.node and b.node else _NODE_GAP / 2)


def _coordinates(rows) -> None:
    """Positions across the ranks: packed and centred, then pulled towards each item's neighbours,
    keeping the order and the gaps (the average of a left-to-right and a right-to-left fit)."""
    for row in rows:
        cursor = 0.0
        for i, it in enumerate(row):
            cursor += _separation(row[i - 1], it) if i else 0.0
            it.pos = cursor
        for it in row:
            it.pos -= cursor / 2
    for _ in range(12):
        for sweep in (rows, rows[::-1]):
            for row in sweep:
                desired = [sum(o.pos for o in it.up + it.down) / len(it.up + it.down) if (it.up or it.down)
                           else it.pos for it in row]
                left, right = list(desired), list(desired)
                for i in range(1, len(row)):
                    left[i] = max(left[i], left[i - 1] + _separation(row[i - 1], row[i]))
                for i in range(len(row) - 2, -1, -1):
                    right[i] = min(right[i], right[i + 1] - _separation(row[i], row[i + 1]))
                for it, a, b in zip(row, left, right):
                    it.pos = (a + b) / 2


def _route(graph: ModelGraph, chains: list, bands: list) -> None:
    """Edge polylines: from the source's far side, straight through each skipped rank, to the target;
    several edges at one box are spread along its side (a merge shows one arrow per input)."""
    tb = graph.rankdir == "TB"

    def point(across, along):
        return (across, along) if tb else (along, across)

    def side(node, far):
        half = (node.height if tb else node.width) / 2
        return (node.x if tb else node.y), ((node.y if tb else node.x) + (half if far else -half))

    incoming, outgoing = {}, {}
    for e, chain in zip(graph.edges, chains):
        incoming.setdefault(e.target, []).append((e, chain))
        outgoing.setdefault(e.source, []).append((e, chain))

    def offset(node, group, e, arriving):
        group = sorted(group, key=lambda ec: ec[1][-2].pos if arriving else ec[1][1].pos)
        i = next(i for i, (x, _) in enumerate(group) if x is e)
        extent = node.width if tb else node.height
        return (i - (len(group) - 1) / 2) * min(extent / (len(group) + 1), 0.4)

    for e, chain in zip(graph.edges, chains):
        s, t = chain[0].node, chain[-1].node
        e.span = max(1, t.rank - s.rank)
        if s is t:  # a shared layer feeding itself: nothing sensible to draw
            e.start = e.end = point(*side(s, True))
            e.points = []
            continue
        a_across, a_along = side(s, True)
        b_across, b_along = side(t, False)
        points = [point(a_across + offset(s, outgoing[e.source], e, False), a_along)]
        for v in chain[1:-1]:
            start, end = bands[v.rank]
            points += [point(v.pos, start), point(v.pos, end)]
        points.append(point(b_across + offset(t, incoming[e.target], e, True), b_along))
        e.points, e.start, e.end = points, points[0], points[-1]
    graph.width = max((n.x + n.width / 2 for n in graph.nodes), default=0.0) + _MARGIN
    graph.height = max((n.y + n.height / 2 for n in graph.nodes), default=0.0) + _MARGIN


# ====================================================================== renderers
def draw_matplotlib(graph: ModelGraph, dpi: int = 96):
    """A ``matplotlib.figure.Figure`` of the diagram (one data unit = one inch)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    except ImportError:
        raise ImportError("Drawing the model needs matplotlib: pip install 'glassnet[plot]' (or save to a .svg or "
                          ".dot file, which needs nothing).") from None
    fig = Figure(figsize=(max(graph.width, 1.0), max(graph.height, 0.6)), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, max(graph.width, 1.0))
    ax.set_ylim(max(graph.height, 0.6), 0)
    ax.axis("off")
    from matplotlib.path import Path

    for e in graph.edges:
        if len(e.points) < 2:
            continue
        ax.add_patch(FancyArrowPatch(path=Path(e.points), arrowstyle="-|>", mutation_scale=9, linewidth=0.9,
                                     color="#444444", shrinkA=0, shrinkB=0))
    for n in graph.nodes:
        ax.add_patch(FancyBboxPatch((n.x - n.width / 2, n.y - n.height / 2), n.width, n.height,
                                    boxstyle="round,pad=0,rounding_size=0.05", facecolor=_COLORS[n.kind],
                                    edgecolor="#333333", linewidth=0.8))
        top = n.y - n.height / 2 + _PAD_Y + _LINE_H / 2
        for i, line in enumerate(n.lines):
            ax.text(n.x, top + i * _LINE_H, line, ha="center", va="center", family="monospace",
                    fontsize=FONT_SIZE, fontweight="bold" if i == 0 else "normal")
    return fig


def to_svg(graph: ModelGraph) -> str:
    """The diagram as SVG text (96 px per inch), written directly: no matplotlib needed."""
    px = 96.0
    w, h = max(graph.width, 1.0) * px, max(graph.height, 0.6) * px
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" '
            f'viewBox="0 0 {w:.1f} {h:.1f}" font-family="monospace" font-size="{FONT_SIZE * px / 72:.1f}">'),
           ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker></defs>'),
           f'<title>{escape(graph.name)}</title>', '<rect width="100%" height="100%" fill="white"/>']
    for e in graph.edges:
        if len(e.points) < 2:
            continue
        d = " L ".join(f"{x * px:.1f} {y * px:.1f}" for x, y in e.points)
        out.append(f'<path d="M {d}" fill="none" '
                   f'stroke="#444" stroke-width="1.2" marker-end="url(#arrow)" data-source="{escape(e.source)}" '
                   f'data-target="{escape(e.target)}"/>')
    for n in graph.nodes:
        x, y = (n.x - n.width / 2) * px, (n.y - n.height / 2) * px
        out.append(f'<g data-layer="{escape(n.name)}"><rect x="{x:.1f}" y="{y:.1f}" width="{n.width * px:.1f}" '
                   f'height="{n.height * px:.1f}" rx="5" fill="{_COLORS[n.kind]}" stroke="#333"/>')
        for i, line in enumerate(n.lines):
            ty = (n.y - n.height / 2 + _PAD_Y + _LINE_H * (i + 0.5)) * px
            weight = ' font-weight="bold"' if i == 0 else ""
            out.append(f'<text x="{n.x * px:.1f}" y="{ty:.1f}" text-anchor="middle" dominant-baseline="central"'
                       f'{weight} xml:space="preserve">{escape(line)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(graph: ModelGraph, dpi: int = 96) -> str:
    """Graphviz DOT text: ``dot -Tpng model.dot -o model.png`` draws it."""
    lines = [f"digraph {_dot_quote(graph.name)} {{",
             f"  graph [rankdir={graph.rankdir}, dpi={int(dpi)}, concentrate=false];",
             '  node [shape=box, style="rounded,filled", fontname="Courier", fontsize=10];',
             "  edge [arrowsize=0.7];"]
    for n in graph.nodes:
        label = "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in n.lines)
        lines.append(f'  {_dot_quote(n.name)} [label="{label}", fillcolor="{_COLORS[n.kind]}"];')
    for e in graph.edges:
        lines.append(f"  {_dot_quote(e.source)} -> {_dot_quote(e.target)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ====================================================================== Keras-style entry points
def model_to_dot(model, show_shapes: bool = True, show_dtype: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB", expand_nested: bool = False, dpi: int = 96, show_layer_activations: bool = False,
                 show_trainable: bool = False) -> str:
    """The model as Graphviz DOT text (a string; Keras returns a ``pydot.Dot``, glassnet needs no pydot)."""
    _check_nested(model, expand_nested)
    graph = model_graph(model, show_shapes=show_shapes, show_layer_names=show_layer_names, show_dtype=show_dtype,
                        rankdir=rankdir, show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    return to_dot(graph, dpi=dpi)


def plot_model(model, to_file="model.png", show_shapes: bool = True, show_dtype: bool = False,
               show_layer_names: bool = True, rankdir: str = "TB", expand_nested: bool = False, dpi: int = 96,
               show_layer_activations: bool = False, show_trainable: bool = False):
    """Draw the model as boxes and arrows, without Graphviz.

    The file type follows ``to_file``'s extension: ``.svg`` is written directly (no matplotlib), ``.dot`` /
    ``.gv`` writes Graphviz text, anything else (``.png``, ``.pdf``…) is drawn with matplotlib.
    Returns the matplotlib Figure, or the SVG / DOT text for those formats. ``to_file=None`` draws
    without saving. Nested models are drawn as one box.
    """
    _check_nested(model, expand_nested)
    graph = model_graph(model, show_shapes=show_shapes, show_layer_names=show_layer_names, show_dtype=show_dtype,
                        rankdir=rankdir, show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    ext = os.path.splitext(os.fspath(to_file))[1].lower() if to_file else ""
    if to_file:
        folder = os.path.dirname(os.path.abspath(os.fspath(to_file)))
        os.makedirs(folder, exist_ok=True)
    if ext in (".svg", ".dot", ".gv"):
        text = to_svg(graph) if ext == ".svg" else to_dot(graph, dpi=dpi)
        with open(to_file, "w", encoding="utf-8") as handle:
            handle.write(text)
        return text
    fig = draw_matplotlib(graph, dpi=dpi)
    if to_file:
        fig.savefig(to_file, dpi=dpi)
    return fig


def _check_nested(model, expand_nested: bool) -> None:
    if expand_nested:
        from .models.model import Model

        if any(isinstance(layer, Model) for layer in getattr(model, "layers", [])):
            warnings.warn("plot_model: expand_nested=True is not supported yet; nested models are drawn as one box.",
                          stacklevel=3)


__all__ = ["DiagramEdge", "DiagramNode", "ModelGraph", "draw_matplotlib", "model_graph", "model_to_dot", "plot_model",
           "to_dot", "to_svg"]
