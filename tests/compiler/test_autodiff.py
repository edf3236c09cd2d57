"""The gradient graph: its structure (role, grad_of, seed, accumulation), broadcasting,
getitem's scatter-add, dtypes, pruning, and a 100,000-op chain."""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import build_grad_graph, grad
from compiler.autodiff import unbroadcast
from compiler.forward import build_jvp_graph
from tracer import TracegradError, evaluate, trace, validate
from tracer.graph import subgraph_nodes

pytestmark = pytest.mark.usefixtures("validated_graphs")


def grad_graph(fn, *args, **kwargs):
    """The (validated) gradient graph of ``fn`` at ``args`` and its forward graph."""
    fwd = trace(fn).trace(*args)
    g = build_grad_graph(fwd, **kwargs)
    validate(g)
    return g, fwd


def ops(graph, role=None) -> list[str]:
    return [d["op"] for _, d in sorted(graph.nodes(data=True)) if role is None or d["role"] == role]


# ----- structure -----


def test_forward_nodes_are_copied_with_their_ids():
    def f(x):
        return np.sum(np.exp(x) * x)

    x = np.arange(3.0)
    g, fwd = grad_graph(f, x)
    assert set(fwd.nodes) <= set(g.nodes)  # keep_value: the whole forward graph stays
    for n, d in fwd.nodes(data=True):
        assert g.nodes[n]["role"] == "forward"
        assert "grad_of" not in g.nodes[n]
        for key in ("op", "shape", "dtype", "params", "name", "source"):
            assert g.nodes[n].get(key) == d.get(key)
    assert min(n for n, d in g.nodes(data=True) if d["role"] == "backward") > max(fwd.nodes)
    assert g.graph["inputs"] == fwd.graph["inputs"]
    assert "role" not in fwd.nodes[fwd.graph["outputs"][0]]  # the forward graph is not mutated


def test_backward_nodes_carry_role_and_grad_of():
    def f(x):
        return np.sum(np.sin(np.square(x)))

    g, fwd = grad_graph(f, np.arange(3.0))
    backward = {n: d for n, d in g.nodes(data=True) if d["role"] == "backward"}
    assert backward
    assert {d["role"] for d in g.nodes.values()} == {"forward", "backward"}
    for d in backward.values():
        assert d["grad_of"] in fwd.nodes
    by_op = {fwd.nodes[n]["op"]: n for n in fwd.nodes}
    # the local derivative of sin reads cos of sin's operand; square's reads 2 * x
    cos_nodes = [n for n, d in backward.items() if d["op"] == "cos"]
    assert [backward[n]["grad_of"] for n in cos_nodes] == [by_op["sin"]]
    assert any(
        d["op"] == "broadcast_to" and d["grad_of"] == by_op["sum"] for d in backward.values()
    )
    # every backward node has its forward node's source line
    for d in backward.values():
        assert d["source"] == fwd.nodes[d["grad_of"]]["source"]


def test_seed_outputs_and_grads_attribute():
    def f(x, y):
        return np.sum(x * y)

    x, y = np.arange(3.0), np.ones(3)
    g, fwd = grad_graph(f, x, y)
    (seed,) = [n for n, d in g.nodes(data=True) if d.get("seed")]
    sd = g.nodes[seed]
    assert (sd["op"], sd["name"], sd["role"], tuple(sd["shape"])) == ("const", "1", "backward", ())
    assert sd["grad_of"] == fwd.graph["outputs"][0]
    assert float(sd["value"]) == 1.0
    out = g.graph["outputs"]
    assert out[0] == fwd.graph["outputs"][0] and len(out) == 3
    assert [g.nodes[n]["name"] for n in out[1:]] == ["grad_x", "grad_y"]
    grads = dict(g.graph["grads"])
    assert grads[fwd.graph["inputs"][0]] == out[1] and grads[fwd.graph["inputs"][1]] == out[2]
    assert grads[fwd.graph["outputs"][0]] == seed  # dy/dy
    value, gx, gy = evaluate(g, x, y)
    assert value == 3.0
    np.testing.assert_array_equal(gx, y)
    np.testing.assert_array_equal(gy, x)


def test_keep_value_false_and_wrt():
    def f(x, y):
        return np.sum(np.exp(x) * y)

    x, y = np.arange(3.0), np.full(3, 2.0)
    fwd = trace(f).trace(x, y)
    g = build_grad_graph(fwd, [fwd.graph["inputs"][1]], keep_value=False)
    validate(g)
    (gy,) = evaluate(g, x, y)
    np.testing.assert_allclose(gy, np.exp(x))
    assert g.graph["inputs"] == fwd.graph["inputs"]  # the signature stays


def test_intermediate_gradients_are_recorded():
    # y = C(B(A(x))): grads holds dy/da and dy/db as well as dy/dx
    def f(x):
        a = np.square(x)
        b = np.exp(a)
        return np.square(b)

    g, fwd = grad_graph(f, 0.5)
    a_id, b_id = [n for n in fwd.nodes if fwd.nodes[n]["op"] in ("square", "exp")][:2]
    grads = dict(g.graph["grads"])
    probe = g.copy()
    probe.graph["outputs"] = [grads[b_id], grads[a_id], g.graph["outputs"][1]]
    probe.graph["out_tree"] = {"type": "tuple", "children": [{"type": "leaf"}] * 3}
    gb, ga, gx = evaluate(probe, 0.5)
    b = np.exp(0.25)
    assert gb == pytest.approx(2 * b)
    assert ga == pytest.approx(2 * b * b)
    assert gx == pytest.approx(2 * b * b * 2 * 0.5) == pytest.approx(3.297442541400256)


# ----- fan-out -----


@pytest.mark.parametrize("k", [2, 3, 5])
def test_fan_out_sums_k_contributions(k):
    def f(x):
        y = np.exp(x)
        total = y
        for _ in range(k - 1):
            total = total + y
        return total

    g, fwd = grad_graph(f, 0.3)
    (exp_id,) = [n for n in fwd.nodes if fwd.nodes[n]["op"] == "exp"]
    accum = [d for d in g.nodes.values() if d.get("accum")]
    assert len(accum) == k - 1  # k contributions need k - 1 adds
    assert all(d["op"] == "add" and d["grad_of"] == exp_id for d in accum)
    assert evaluate(g, 0.3)[1] == pytest.approx(k * np.exp(0.3))


def test_fan_out_of_an_input_and_parallel_edges():
    g, _ = grad_graph(lambda x: x * x * x, 2.0)  # x used three times, twice by one node
    assert evaluate(g, 2.0)[1] == pytest.approx(12.0)
    assert sum(1 for d in g.nodes.values() if d.get("accum")) == 2
    assert grad(lambda x: np.sum(x * x))(np.array([1.0, -3.0])).tolist() == [2.0, -6.0]


# ----- broadcasting -----


@pytest.mark.parametrize(
    "sx, sy",
    [((3, 1), (1, 4)), ((), (2, 3)), ((2, 3), ()), ((4,), (2, 3, 4)), ((1, 3), (2, 1, 3))],
)
def test_broadcasting_reduced_to_each_input_shape(sx, sy):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(sx), rng.standard_normal(sy)
    g, _ = grad_graph(lambda a, b: np.sum(a * b), x, y)
    _, gx, gy = evaluate(g, x, y)
    ones = np.ones(np.broadcast_shapes(sx, sy))
    assert np.shape(gx) == sx and np.shape(gy) == sy
    np.testing.assert_allclose(gx, np.sum(ones * y, axis=_axes(ones.shape, sx)).reshape(sx))
    np.testing.assert_allclose(gy, np.sum(ones * x, axis=_axes(ones.shape, sy)).reshape(sy))


def _axes(full, shape):
    lead = len(full) - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and full[lead + i] != 1
    )


def test_broadcasting_is_reduced_by_the_driver():
    g, fwd = grad_graph(lambda a, b: np.sum(a + b), np.ones((3, 1)), np.ones(4))
    (add_id,) = [n for n in fwd.nodes if fwd.nodes[n]["op"] == "add"]
    sums = [d for d in g.nodes.values() if d["role"] == "backward" and d["op"] == "sum"]
    assert len(sums) == 2 and all(d["grad_of"] == add_id for d in sums)
    assert sorted(tuple(d["params"]["axis"]) for d in sums) == [(0,), (1,)]


def test_unbroadcast_of_a_traced_value():
    @trace
    def f(g):
        return unbroadcast(g, (3, 1), np.float32)

    out = f(np.ones((2, 3, 4)))
    assert out.shape == (3, 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.full((3, 1), 8.0))
    with pytest.raises(TracegradError, match="cannot reduce"):
        trace(lambda g: unbroadcast(g, (2, 3), np.float64))(np.ones(3))


def test_explicit_broadcast_to_and_0d_inputs():
    f = lambda x: np.sum(np.broadcast_to(x, (2, 3)) * np.arange(6.0).reshape(2, 3))
    assert grad(f)(1.0) == 15.0
    np.testing.assert_array_equal(grad(f)(np.ones(3)), [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(grad(f)(np.ones((2, 1))), [[3.0], [12.0]])


# ----- getitem -----


def test_getitem_adjoint_scatter_adds_repeated_indices():
    idx = np.array([0, 2, 0, 0, 3])
    g, _ = grad_graph(lambda x: np.sum(x[idx] * np.arange(1.0, 6.0)), np.zeros(4))
    assert "scatter_add" in ops(g, "backward")
    np.testing.assert_array_equal(evaluate(g, np.zeros(4))[1], [1 + 3 + 4, 0, 2, 5])


def test_getitem_2d_repeated_rows_and_slices():
    x = np.arange(12.0).reshape(3, 4)
    gx = grad(lambda a: np.sum(a[[1, 1, 2]] ** 2) + np.sum(a[:, 1:3]))(x)
    expected = np.zeros((3, 4))
    expected[1] += 2 * 2 * x[1]
    expected[2] += 2 * x[2]
    expected[:, 1:3] += 1
    np.testing.assert_allclose(gx, expected)


def test_getitem_with_traced_index():
    gx = grad(lambda a: a[np.argmax(a)] * 3.0)
    np.testing.assert_array_equal(gx(np.array([0.0, 2.0, 1.0])), [0.0, 3.0, 0.0])


# ----- dtypes -----


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.sum(np.exp(x) * 2.0),
        lambda x: np.sum(np.sqrt(x) / (x + 1.0)),
        lambda x: np.max(np.tanh(x) ** 2) + np.mean(x),
        lambda x: np.sum(np.maximum(x, 0.5) * np.clip(x, 0.2, 1.5)),
        lambda x: np.sum(x[[0, 0, 1]] @ np.ones((3, 2), np.float32)),
        lambda x: np.sum(np.abs(np.reshape(x, (3, 1)) - x)),
    ],
)
def test_float32_in_float32_gradient_and_graph(fn):
    x = np.array([0.5, 1.0, 2.0], dtype=np.float32)
    g, _ = grad_graph(fn, x)
    for n, d in g.nodes(data=True):
        assert d["dtype"] in ("float32", "bool", "int64", "intp"), (n, d["op"], d["dtype"])
    gx = evaluate(g, x)[1]
    assert gx.dtype == np.float32
    expected = grad(fn)(x.astype(np.float64))
    np.testing.assert_allclose(gx, expected, rtol=1e-5, atol=1e-6)


def test_mixed_precision_inputs_get_their_own_dtype():
    x32, y64 = np.ones(3, np.float32), np.full(3, 2.0)
    gx, gy = grad(lambda a, b: np.sum(a * b), argnums=(0, 1))(x32, y64)
    assert gx.dtype == np.float32 and gy.dtype == np.float64
    np.testing.assert_array_equal(gx, [2.0, 2.0, 2.0])
    assert grad(lambda a: np.sum(a.astype(np.float64) ** 2))(x32).dtype == np.float32


def test_float16_stays_float16():
    x = np.array([0.5, 1.5], dtype=np.float16)
    gx = grad(lambda a: np.sum(a * a))(x)
    assert gx.dtype == np.float16
    np.testing.assert_array_equal(gx, [1.0, 3.0])


# ----- pruning -----


def test_pruning_keeps_only_what_the_gradients_need():
    def f(x, y):
        heavy = np.exp(np.sin(y)) @ np.ones((3, 3))  # does not touch x
        return np.sum(x * 2.0) + np.sum(heavy)

    x, y = np.ones(3), np.ones(3)
    fwd = trace(f).trace(x, y)
    g = build_grad_graph(fwd, [fwd.graph["inputs"][0]], keep_value=False)
    validate(g)
    assert not {"exp", "sin", "matmul"} & set(ops(g))
    needed = subgraph_nodes(g, g.graph["outputs"]) | set(g.graph["inputs"])
    assert set(g.nodes) == needed
    np.testing.assert_array_equal(evaluate(g, x, y)[0], [2.0, 2.0, 2.0])


def test_pruning_in_grad_drops_the_forward_value():
    def f(x):
        return np.sum(np.sin(x)) + np.sum(np.exp(x * 0.0) * 3.0)

    g = grad(f).trace(np.ones(2))
    validate(g)
    assert "sin" not in ops(g)  # d sum(sin x) / dx = cos x: sin itself is not needed
    assert "cos" in ops(g)


def test_no_dependence_gives_zeros():
    def f(x, y):
        return np.sum(y * 2.0)

    gx, gy = grad(f, argnums=(0, 1))(np.ones((2, 2)), np.ones(3))
    np.testing.assert_array_equal(gx, np.zeros((2, 2)))
    np.testing.assert_array_equal(gy, np.full(3, 2.0))
    assert grad(lambda x: 3.0 + 0 * np.sum(np.floor(x)))(np.ones(2)).tolist() == [0.0, 0.0]


def test_non_scalar_output_index_errors():
    fwd = trace(lambda x: (np.sum(x), x)).trace(np.ones(2))
    with pytest.raises(TracegradError, match="jacobian or vjp"):
        build_grad_graph(fwd, output=1)
    with pytest.raises(TracegradError, match="cannot differentiate output 2"):
        build_grad_graph(fwd, output=2)
    g = build_grad_graph(fwd, output=0, extra_outputs=[fwd.graph["outputs"][1]])
    validate(g)
    value, gx, aux = evaluate(g, np.array([1.0, 2.0]))
    assert value == 3.0 and gx.tolist() == [1.0, 1.0] and aux.tolist() == [1.0, 2.0]


def test_gradient_graph_is_differentiable_again():
    def f(x):
        return np.sum(np.sin(x) * x)

    g1 = grad(f).trace(np.ones(3))
    validate(g1)
    h = grad(lambda x: np.sum(grad(f)(x))).trace(np.ones(3))
    validate(h)
    x = np.array([0.1, 0.7, 2.0])
    np.testing.assert_allclose(
        evaluate(h, x),
        2 * np.cos(x) - x * np.sin(x),  # d/dx (sin x + x cos x)
    )


# ----- scale: iterative, no recursion -----

N_CHAIN = 100_000


def test_100k_op_chain_differentiates_without_recursion():
    def f(x):
        for _ in range(N_CHAIN):
            x = x * 1.00001
        return x

    fwd = trace(f).trace(1.0)
    g = build_grad_graph(fwd)
    assert g.number_of_nodes() > 2 * N_CHAIN
    value, gx = evaluate(g, 1.0)
    np.testing.assert_allclose(value, 1.00001**N_CHAIN, rtol=1e-9)
    np.testing.assert_allclose(gx, 1.00001**N_CHAIN, rtol=1e-9)


def test_long_chain_forward_mode_and_second_order():
    def f(x):
        for _ in range(1_500):  # deeper than Python's recursion limit
            x = np.sin(x) * 0.5 + x * 0.5
        return x

    g = build_jvp_graph(trace(f).trace(0.3))
    y, t = evaluate(g, 0.3, 1.0)
    gx = grad(f)(0.3)
    np.testing.assert_allclose(t, gx, rtol=1e-12)
    assert np.isfinite(grad(grad(f))(0.3))


def test_every_transformed_graph_is_validated(request):
    built = request.getfixturevalue("validated_graphs")
    grad(lambda x: np.sum(np.sin(x)))(np.ones(2))
    assert len(built) == 1
    assert {d["role"] for d in built[0].nodes.values()} == {"forward", "backward"}
