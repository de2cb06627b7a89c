"""Model diagrams without Graphviz: plot_model draws PNGs (matplotlib) and SVGs (no dependency), the layout
puts branches side by side and gives a merge one incoming edge per input; model_to_dot writes DOT text."""

import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import glassnet as gn
from glassnet import layers as L
from glassnet.errors import UnknownNameError
from glassnet.utils import model_graph, model_to_dot, plot_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def residual_model():
    inp = gn.Input((16,), name="features")
    stem = L.Dense(32, activation="relu", name="stem")(inp)
    b = L.Dense(32, activation="relu", name="branch_a")(stem)
    b = L.Dense(32, name="branch_b")(b)
    merged = L.Add(name="residual_add")([stem, b])
    out = L.Dense(3, activation="softmax", name="head")(merged)
    return gn.Model(inp, out, name="residual")


def boxes_overlap(a, b) -> bool:
    return abs(a.x - b.x) < (a.width + b.width) / 2 and abs(a.y - b.y) < (a.height + b.height) / 2


def test_residual_model_png_and_layout(tmp_path):
    pytest.importorskip("matplotlib")
    model = residual_model()
    target = tmp_path / "sub" / "model.png"
    fig = plot_model(model, to_file=target, show_shapes=True)
    data = target.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1024
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)

    graph = model_graph(model)
    assert [n.name for n in graph.nodes] == ["features", "stem", "branch_a", "branch_b", "residual_add", "head"]
    incoming = graph.incoming("residual_add")
    assert sorted(e.source for e in incoming) == ["branch_b", "stem"]  # the merge: two incoming edges
    skip = next(e for e in incoming if e.source == "stem")
    assert skip.span == 3
    assert graph.ranks() == [["features"], ["stem"], ["branch_a"], ["branch_b"], ["residual_add"], ["head"]]
    # the skip edge runs beside the branch, not through its boxes: its middle points are left or right of them
    for name in ("branch_a", "branch_b"):
        box = graph.node(name)
        middle = skip.points[1:-1]
        assert middle and all(abs(x - box.x) > box.width / 2 for x, _ in middle)
    # the two arrows reach the Add box at different points of its top side
    add = graph.node("residual_add")
    ends = [e.end for e in incoming]
    assert ends[0][0] != ends[1][0]
    for x, y in ends:
        assert y == pytest.approx(add.y - add.height / 2)
        assert abs(x - add.x) <= add.width / 2
    # every edge starts at the bottom of its source
    for e in graph.edges:
        src = graph.node(e.source)
        assert e.start[1] == pytest.approx(src.y + src.height / 2)
    # no two boxes overlap, and everything fits in the drawing
    for i, a in enumerate(graph.nodes):
        assert 0 <= a.x - a.width / 2 and a.x + a.width / 2 <= graph.width
        for b in graph.nodes[i + 1:]:
            assert not boxes_overlap(a, b), (a.name, b.name)
    # labels: name (Type) and shapes
    assert graph.node("residual_add").lines == ["residual_add (Add)", "input:  [(None, 32), (None, 32)]",
                                                "output: (None, 32)"]


def test_parallel_branches_stand_side_by_side():
    inp = gn.Input((4,), name="x")
    left = L.Dense(3, name="left")(inp)
    right = L.Dense(5, name="right")(inp)
    both = L.Concatenate(name="both")([left, right])
    graph = model_graph(gn.Model(inp, both))
    a, b = graph.node("left"), graph.node("right")
    assert a.rank == b.rank == 1 and a.y == b.y and not boxes_overlap(a, b)
    assert len(graph.incoming("both")) == 2 and len(graph.outgoing("x")) == 2
    lr = model_graph(gn.Model(inp, both), rankdir="LR")
    assert lr.node("x").x < lr.node("left").x < lr.node("both").x
    assert lr.node("left").x == lr.node("right").x


def test_model_to_dot_has_every_layer_and_the_residual_edges():
    model = residual_model()
    dot = model_to_dot(model, show_shapes=True)
    assert isinstance(dot, str) and dot.startswith('digraph "residual" {') and dot.rstrip().endswith("}")
    for layer in model.layers:
        assert f'"{layer.name}" [label="{layer.name} ({type(layer).__name__})' in dot
    for edge in ['"stem" -> "residual_add";', '"branch_b" -> "residual_add";', '"stem" -> "branch_a";',
                 '"residual_add" -> "head";']:
        assert edge in dot
    assert dot.count("->") == 6
    assert "output: (None, 3)" in dot
    plain = model_to_dot(model, show_shapes=False, show_layer_names=False, rankdir="LR")
    assert "rankdir=LR" in plain and "output:" not in plain and 'label="Add"' in plain


def test_svg_needs_no_matplotlib(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # importing matplotlib now fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    target = tmp_path / "model.svg"
    text = plot_model(residual_model(), to_file=target, show_dtype=True)
    assert target.read_text(encoding="utf-8") == text
    root = ET.fromstring(text)
    ns = "{http://www.w3.org/2000/svg}"
    groups = root.findall(f"{ns}g")
    assert [g.get("data-layer") for g in groups] == ["features", "stem", "branch_a", "branch_b", "residual_add",
                                                     "head"]
    arrows = [p for p in root.findall(f"{ns}path") if p.get("data-target") == "residual_add"]
    assert sorted(p.get("data-source") for p in arrows) == ["branch_b", "stem"]
    assert any("dtype: float32" in (t.text or "") for t in root.iter(f"{ns}text"))
    with pytest.raises(ImportError, match="glassnet\\[plot\\]"):
        plot_model(residual_model(), to_file=tmp_path / "model.png")


def test_sequential_nested_and_subclassed_models(tmp_path):
    pytest.importorskip("matplotlib")
    seq = gn.Sequential([L.Dense(4, activation="relu", input_shape=(3,), name="hidden"),
                         L.Dense(1, activation="sigmoid", name="out")], name="seq")
    graph = model_graph(seq, show_layer_activations=True)
    assert [n.name for n in graph.nodes] == ["seq_input", "hidden", "out"]
    assert [(e.source, e.target) for e in graph.edges] == [("seq_input", "hidden"), ("hidden", "out")]
    assert graph.node("hidden").lines == ["hidden (Dense)", "activation: relu", "input:  (None, 3)",
                                          "output: (None, 4)"]
    plot_model(seq, to_file=tmp_path / "seq.png", dpi=72)
    assert (tmp_path / "seq.png").read_bytes()[:8] == PNG_MAGIC

    inp = gn.Input((3,), name="outer_in")
    nested = gn.Model(inp, L.Dense(2, name="after")(seq(inp)), name="outer")
    graph = model_graph(nested)
    assert [n.name for n in graph.nodes] == ["outer_in", "seq", "after"]  # the nested model is one box
    assert graph.node("seq").lines[0] == "seq (Sequential)"
    with pytest.warns(UserWarning, match="expand_nested"):
        model_to_dot(nested, expand_nested=True)

    class Sub(gn.Model):
        def __init__(self):
            super().__init__(name="sub")
            self.a = L.Dense(3, name="sub_a")
            self.b = L.Dense(1, name="sub_b")

        def call(self, x):
            return self.b(self.a(x))

    sub = Sub()
    sub(np.ones((2, 4), dtype="float32"))
    graph = model_graph(sub)
    assert [n.name for n in graph.nodes] == ["sub_a", "sub_b"] and graph.edges == [] and graph.notes
    assert graph.node("sub_a").y < graph.node("sub_b").y

    with pytest.raises(UnknownNameError):
        model_graph(seq, rankdir="BT")
