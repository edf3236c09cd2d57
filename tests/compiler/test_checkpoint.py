"""checkpoint: the gradient recomputes a function's values instead of keeping them.

Checked: gradients bit-identical to the plain ones (float64 and float32, every
transformation, any order), the recomputation in the graph, in the generated code
and in the drawing, a lower peak of live memory (tracemalloc, deterministic: the
generated code's schedule decides it), and the region's life through inlining,
saving and loading.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import (
    build_grad_graph,
    checkpoint,
    custom_jvp,
    grad,
    hessian,
    jacobian,
    jvp,
    render,
    value_and_grad,
    vjp,
)
from compiler.drawing import build_drawing
from tracer import evaluate, load, save, trace, validate

pytestmark = pytest.mark.usefixtures("validated_graphs")


def layer(w, b, x):
    return np.tanh(x @ w + b)


def hidden(params, x):
    w1, b1, w2, b2 = params
    return layer(w2, b2, layer(w1, b1, x))


def make_loss(trunk):
    def loss(params, x, t):
        w1, b1, w2, b2, w3 = params
        h = trunk((w1, b1, w2, b2), x)
        return np.mean((h @ w3 - t) ** 2)

    return loss


plain_loss, ckpt_loss = make_loss(hidden), make_loss(checkpoint(hidden))


def problem(dtype, n=8, d=5, h=6, seed=0):
    rng = np.random.default_rng(seed)
    params = tuple(rng.standard_normal(s).astype(dtype) * 0.5
                   for s in [(d, h), (h,), (h, h), (h,), (h, 2)])  # fmt: skip
    return (
        params,
        rng.standard_normal((n, d)).astype(dtype),
        rng.standard_normal((n, 2)).astype(dtype),
    )


def same(a, b) -> bool:
    la, lb = (
        (a if isinstance(a, (tuple, list)) else [a]),
        (b if isinstance(b, (tuple, list)) else [b]),
    )
    return len(la) == len(lb) and all(
        np.asarray(u).dtype == np.asarray(v).dtype and np.array_equal(u, v) for u, v in zip(la, lb)
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradients_are_bit_identical(dtype):
    params, x, t = problem(dtype)
    assert same(grad(ckpt_loss)(params, x, t), grad(plain_loss)(params, x, t))
    v1, g1 = value_and_grad(ckpt_loss, argnums=(0, 1))(params, x, t)
    v2, g2 = value_and_grad(plain_loss, argnums=(0, 1))(params, x, t)
    assert v1 == v2 and same(g1[0], g2[0]) and same(g1[1], g2[1])


def test_vjp_and_jacobians_are_bit_identical():
    params, x, t = problem(np.float64)
    f1 = lambda x: checkpoint(hidden)(params[:4], x)  # noqa: E731
    f2 = lambda x: hidden(params[:4], x)  # noqa: E731
    ct = np.ones((8, 6))
    assert same(vjp(f1, x)[1](ct), vjp(f2, x)[1](ct))
    assert same(jacobian(f1, mode="rev")(x[:2]), jacobian(f2, mode="rev")(x[:2]))
    assert same(jvp(f1, (x,), (x,))[1], jvp(f2, (x,), (x,))[1])


def test_higher_orders_through_a_checkpoint():
    @checkpoint
    def inner(x):
        return np.sin(np.exp(x) * x)

    f1 = lambda x: np.sum(np.tanh(inner(x)))  # noqa: E731
    f2 = lambda x: np.sum(np.tanh(np.sin(np.exp(x) * x)))  # noqa: E731
    x = np.linspace(-1.0, 1.0, 4)
    assert same(grad(f1)(x), grad(f2)(x))
    np.testing.assert_allclose(grad(lambda x: np.sum(grad(f1)(x)))(x),
                               grad(lambda x: np.sum(grad(f2)(x)))(x), rtol=1e-13)  # fmt: skip
    np.testing.assert_allclose(hessian(f1)(x), hessian(f2)(x), rtol=1e-13)


def test_the_gradient_graph_recomputes_the_internal_values():
    params, x, t = problem(np.float64)
    plain = build_grad_graph(trace(plain_loss).trace(params, x, t))
    ckpt = build_grad_graph(trace(ckpt_loss).trace(params, x, t))
    validate(ckpt)
    recomputed = [d for _, d in ckpt.nodes(data=True) if d.get("recompute") is not None]
    assert not [d for _, d in plain.nodes(data=True) if d.get("recompute") is not None]
    # the first layer (matmul, add, tanh) is recomputed; the second layer's output is kept
    copied = sorted(d["op"] for d in recomputed if ckpt.nodes[d["recompute"]]["op"] == d["op"])
    assert copied == ["add", "matmul", "tanh"]
    assert all(d["role"] == "backward" for d in recomputed)
    # ... in the generated code too: tanh runs three times (two layers, one again)
    source = grad(ckpt_loss).source(params, x, t)
    assert source.count("np.tanh(") == 3
    assert grad(plain_loss).source(params, x, t).count("np.tanh(") == 2


def _peak(fn) -> int:
    fn()
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del out
    finally:
        tracemalloc.stop()
    return peak


def block(w, h):
    return h + np.sin(h @ w)  # sin' reads h @ w: a value only the block uses


def deep_loss(block_fn, ws, x):
    h = x
    for w in ws:
        h = block_fn(w, h)
    return np.sum(h**2)


def test_peak_memory_drops_by_the_recomputed_activations():
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal((256, 256)) / 16.0 for _ in range(4)]
    x = rng.standard_normal((256, 256))
    f_plain = grad(lambda ws, x: deep_loss(block, ws, x))
    f_ckpt = grad(lambda ws, x: deep_loss(checkpoint(block), ws, x))
    assert same(f_ckpt(ws, x), f_plain(ws, x))
    saved = _peak(lambda: f_plain(ws, x)) - _peak(lambda: f_ckpt(ws, x))
    # plain keeps the four blocks' h @ w (512 KiB each) for the backward pass; with
    # checkpoint, each is recomputed when the backward pass reaches its block
    assert saved >= 2 * 256 * 256 * 8


def test_values_a_checkpoint_returns_are_kept_not_recomputed():
    @checkpoint
    def f(x):
        return np.tanh(x) * 2.0  # tanh' reads tanh(x), internal: recomputed; the product is not

    g = build_grad_graph(trace(lambda x: np.sum(np.sin(f(x)))).trace(np.ones(3)))
    copies = [d["op"] for _, d in g.nodes(data=True) if d.get("recompute") is not None]
    assert "tanh" in copies and "mul" not in copies


def test_outside_a_trace_it_is_the_function():
    f = checkpoint(lambda x, k=2.0: x * k)
    assert f(3.0) == 6.0 and f(3.0, k=1.0) == 3.0
    assert repr(f) == "<checkpointed function lambda>"


def test_checkpoint_inside_an_inlined_traced_function(tmp_path):
    @trace
    def block(x):
        return checkpoint(lambda h: np.sin(np.exp(h)))(x)

    def f(x):
        return np.sum(block(x) * block(2.0 * x))

    graph = trace(f).trace(np.ones(3))
    regions = {d["checkpoint"] for _, d in graph.nodes(data=True) if "checkpoint" in d}
    assert len(regions) == 2 and all(r in graph for r in regions)  # one new id per inlining
    x = np.linspace(0.0, 1.0, 3)
    want = grad(lambda x: np.sum(np.sin(np.exp(x)) * np.sin(np.exp(2.0 * x))))(x)
    np.testing.assert_allclose(grad(f)(x), want, rtol=1e-14)
    save(graph, tmp_path / "f.json")
    loaded = load(tmp_path / "f.json")
    assert {d["checkpoint"] for _, d in loaded.nodes(data=True) if "checkpoint" in d} == regions
    g = build_grad_graph(loaded)
    assert any(d.get("recompute") is not None for _, d in g.nodes(data=True))
    np.testing.assert_allclose(evaluate(g, x)[1], want, rtol=1e-14)


def test_nested_checkpoints_belong_to_the_outer_one():
    inner = checkpoint(np.exp)
    outer = checkpoint(lambda x: np.sin(inner(x) * x))
    graph = trace(lambda x: np.sum(outer(x))).trace(np.ones(2))
    assert len({d["checkpoint"] for _, d in graph.nodes(data=True) if "checkpoint" in d}) == 1
    x = np.array([0.3, -0.2])
    np.testing.assert_allclose(
        grad(lambda x: np.sum(outer(x)))(x),
        grad(lambda x: np.sum(np.sin(np.exp(x) * x)))(x),
        rtol=1e-15,
    )


@custom_jvp
def softplus(x):
    return np.log1p(np.exp(x))


softplus.defjvp(lambda p, t: (softplus(p[0]), t[0] / (1.0 + np.exp(-p[0]))))


def test_a_custom_rule_inside_a_checkpoint_reads_recomputed_arguments():
    f = checkpoint(lambda x: softplus(np.sin(x)) * 2.0)
    x = np.linspace(-1.0, 1.0, 3)
    want = 2.0 * np.cos(x) / (1.0 + np.exp(-np.sin(x)))
    np.testing.assert_allclose(grad(lambda x: np.sum(f(x)))(x), want, rtol=1e-14)


def test_the_drawing_shows_the_recomputation():
    graph = build_grad_graph(trace(ckpt_loss).trace(*problem(np.float64)))
    for view in ("book", "expanded"):
        drawing = build_drawing(graph, roles=True, view=view)
        ops = [i.title for i in drawing.items.values() if i.kind == "recompute"]
        assert sorted(o for o in ops if o != "after") == ["add", "matmul", "tanh"]
        assert all("recomputed" in i.sub for i in drawing.items.values() if i.kind == "recompute")
        assert any(i.kind == "recomputed" for i in drawing.items.values())
    dot = render(ckpt_loss, *problem(np.float64), backward=True)
    assert "recomputed" in dot.source and "checkpoint(hidden)" in dot.source
