"""Drawings of bigger graphs: scope clusters, collapsed scopes, the node limit, values and
NaN highlighting, and a 2-layer MLP's gradient graph as a PNG."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from compiler import build_grad_graph, render
from compiler.drawing import build_drawing, fit
from compiler.drawing.dot import ALARM
from compiler.drawing.graphviz_runner import find_renderer
from tracer import Spec, TracegradError, name_scope, trace


def mlp(x, W1, b1, W2, b2, t):
    with name_scope("layer1"):
        h = np.tanh(x @ W1 + b1)
    with name_scope("layer2"):
        y = h @ W2 + b2
    with name_scope("loss"):
        return np.mean((y - t) ** 2)


def mlp_args():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(8, 3)), rng.normal(size=(3, 4)), np.zeros(4),
            rng.normal(size=(4, 1)), np.zeros(1), rng.normal(size=(8, 1)))  # fmt: skip


def mlp_drawing(**kw):
    g = build_grad_graph(trace(mlp).trace(*mlp_args()))
    return build_drawing(g, roles=True, **kw)


# ----- clusters -----
def test_items_are_clustered_by_scope_relative_to_the_function():
    d = mlp_drawing()
    scopes = {it.scope for it in d.items.values()}
    assert scopes == {(), ("layer1",), ("layer2",), ("loss",)}
    # the derivative of a layer's op sits in that layer's cluster
    tanh_group = next(it for it in d.items.values() if it.title.startswith("tanh'"))
    assert tanh_group.scope == ("layer1",) and tanh_group.side == "backward"
    inputs = [it for it in d.items.values() if it.is_input]
    assert len(inputs) == 6 and all(it.scope == () for it in inputs)


def test_dot_has_one_cluster_per_scope():
    dot = render(mlp, *mlp_args(), backward=True)
    clusters = re.findall(r"subgraph (cluster_\w+)", dot.source)
    assert len(clusters) == 3
    for name in ("layer1", "layer2", "loss"):
        assert f"<b>{name}</b>" in dot.source


def test_nested_scopes_nest_clusters():
    def f(x):
        with name_scope("outer"):
            with name_scope("inner"):
                y = np.exp(x)
            z = np.sin(y)
        return z

    d = build_drawing(trace(f).trace(np.ones(2)), roles=False)
    assert {it.scope for it in d.items.values()} == {(), ("outer",), ("outer", "inner")}
    dot = render(f, np.ones(2))
    src = dot.source
    assert src.index("<b>outer</b>") < src.index("<b>inner</b>")
    assert len(re.findall(r"subgraph cluster_", src)) == 2


# ----- collapsing -----
def test_collapse_by_name_folds_a_layer_into_two_boxes():
    d = fit(mlp_drawing(), collapse_over=["layer1"])
    assert not any(it.scope[:1] == ("layer1",) for it in d.items.values())
    boxes = {it.title: it for it in d.items.values() if it.kind == "scope"}
    assert set(boxes) == {"layer1", "layer1'"}
    assert boxes["layer1"].side == "forward" and boxes["layer1'"].side == "backward"
    assert "ops:" in boxes["layer1"].sub[0] and "matmul" in boxes["layer1"].sub[0]
    ids = {it.id for it in d.items.values()}
    assert all(lk.src in ids and lk.dst in ids and lk.src != lk.dst for lk in d.links)
    assert (boxes["layer1"].id, boxes["layer1'"].id) in d.pairs


def test_collapse_keeps_final_gradients_visible_and_the_drawing_intact():
    full = mlp_drawing()
    before = {i: it.scope for i, it in full.items.items()}
    d = fit(full, collapse_over=["layer1", "layer2"])
    grads = {it.title: it for it in d.items.values() if it.is_output and it.side == "backward"}
    assert set(grads) == {"dy/dx", "dy/dW1", "dy/db1", "dy/dW2", "dy/db2", "dy/dt"}
    assert all(grads[n].scope == () for n in ("dy/dx", "dy/dW1", "dy/db1", "dy/dW2", "dy/db2"))
    assert grads["dy/dt"].scope == ("loss",)
    assert {i: it.scope for i, it in full.items.items()} == before


def test_collapse_by_size():
    full = mlp_drawing()
    d = fit(full, collapse_over=10)
    assert {it.title for it in d.items.values() if it.kind == "scope"} >= {"loss", "loss'"}
    assert len(d.items) < len(full.items)
    dot = render(mlp, *mlp_args(), backward=True, collapse="layer2")
    assert "box3d" in dot.source and "layer2&#x27;" in dot.source


def test_node_limit_collapses_with_a_note():
    full = mlp_drawing()
    d = fit(full, max_nodes=len(full.items) - 5)
    assert len(d.items) <= len(full.items) - 5
    assert d.notes and "max_nodes" in d.notes[0]
    dot = render(mlp, *mlp_args(), backward=True, max_nodes=20)
    assert "max_nodes=20" in dot.source


def test_node_limit_without_scopes_keeps_inputs_and_outputs():
    def long_chain(x):
        for _ in range(200):
            x = np.sin(x)
        return x

    g = trace(long_chain).trace(1.0)
    d = fit(build_drawing(g, roles=False), max_nodes=50)
    kinds = sorted(it.kind for it in d.items.values())
    assert kinds == ["scope", "value", "value"]
    box = next(it for it in d.items.values() if it.kind == "scope")
    assert box.title == "long_chain" and "200 ops: 200 sin" in box.sub[0]
    assert render(long_chain, 1.0).source.count("->") == 2
    assert render(long_chain, 1.0, max_nodes=None).source.count("->") == 400


# ----- values -----
def test_values_annotate_scalars_and_array_statistics():
    dot = render(lambda x: np.square(np.exp(np.square(x))), 0.5, backward=True, values=True)
    for text in ("= 0.5", "= 0.25", "= 1.284", "= 1.649", "= 3.297"):
        assert text in dot.source
    arr = render(lambda x: np.sum(x * 2.0), np.array([1.0, 2.0, 3.0]), values=True)
    assert "min 1  mean 2  max 3" in arr.source and "min 2  mean 4  max 6" in arr.source


def test_first_nan_is_red_and_named_in_a_note():
    def f(x):
        a = np.log(x)  # nan for x < 0: the first non-finite value
        b = np.sqrt(a)  # nan too, but not the first
        return np.sum(b)

    d = build_drawing(
        trace(f).trace(np.array([-1.0, 1.0])), roles=False,
        values={0: np.array([-1.0, 1.0]), 1: np.array([np.nan, 0.0]),
                2: np.array([np.nan, 0.0]), 3: np.array(np.nan)},
    )  # fmt: skip
    alarmed = sorted(it.id for it in d.items.values() if it.alarm)
    assert alarmed == ["o1", "v1"]
    assert d.notes and d.notes[0].startswith("first NaN/Inf: %1 = log(%0)")
    dot = render(f, np.array([-1.0, 1.0]), values=True)
    assert dot.source.count(ALARM[0]) == 2 and "first NaN/Inf" in dot.source


def test_values_need_concrete_arguments():
    with pytest.raises(TracegradError, match="concrete"):
        render(lambda x: np.exp(x), Spec((3,)), values=True)


# ----- the MLP as a picture -----
def test_mlp_gradient_graph_renders_to_a_legible_png(tmp_path):
    if find_renderer() is None:
        pytest.skip("no Graphviz renderer installed")
    dot = render(mlp, *mlp_args(), backward=True)
    assert "max_nodes" not in dot.source  # drawn in full, no collapsing needed
    path = dot.render(tmp_path / "mlp", format="png")
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert 600 < width < 6000 and 200 < height < 4000
