"""The reference interpreter: ``evaluate`` runs any graph (traced or built by hand) like NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from tracer_testing import assert_same, make_array

from tracer import EvaluationError, Graph, Spec, TracegradError, evaluate, trace
from tracer.interpreter import evaluate_flat, flatten_args


def net(p, x):
    h = np.tanh(x @ p["W"] + p["b"])
    return {"loss": np.mean(h**2), "h": h, "parts": [h[0], None]}


def test_evaluate_equals_numpy_with_pytrees():
    p = {"W": make_array((4, 3), "float64"), "b": make_array((3,), "float64", seed=1)}
    x = make_array((5, 4), "float64", seed=2)
    g = trace(net).trace(p, Spec((5, 4)))
    out = evaluate(g, p, x)
    expected = net(p, x)
    assert set(out) == {"loss", "h", "parts"} and out["parts"][1] is None
    assert_same(out["loss"], expected["loss"])
    assert_same(out["h"], expected["h"])
    assert_same(out["parts"][0], expected["parts"][0])


def test_evaluate_keyword_arguments():
    g = trace(lambda x, *, scale: x * scale).trace(np.ones(2), scale=3.0)
    assert_same(evaluate(g, np.ones(2), scale=2.0), np.full(2, 2.0))
    with pytest.raises(TypeError, match="structure"):
        evaluate(g, np.ones(2))


def test_evaluate_static_arguments_are_ignored():
    g = trace(lambda x, n: x * n, static_argnums=1).trace(np.ones(2), 4)
    assert_same(evaluate(g, np.ones(2), 4), np.full(2, 4.0))
    assert flatten_args(g, (np.ones(2), "anything"), {})[0].shape == (2,)


def test_evaluate_returns_numpy_scalars_for_0d_outputs():
    out = evaluate(trace(lambda x: x.sum()).trace(np.ones(3)), np.ones(3))
    assert isinstance(out, np.float64) and out == 3.0


def test_evaluate_hand_built_graph_without_trees():
    g = Graph(name="hand")
    a = g.add_op("input", (), {}, (3,), "float64")
    b = g.add_op("input", (), {}, (3,), "float64")
    c = g.add_op("mul", [a, b], {}, (3,), "float64")
    d = g.add_op("exp", [c], {}, (3,), "float64")
    g.graph.update(inputs=[a, b], outputs=[d, c])
    x = np.arange(3.0)
    y, z = evaluate(g, x, x)
    assert_same(y, np.exp(x * x))
    assert_same(z, x * x)
    with pytest.raises(TypeError, match="positionally"):
        evaluate(g, x, y=x)


def test_evaluate_does_not_mutate_inputs_or_consts():
    W = np.arange(4.0)
    g = trace(lambda x: (x, x + W, W, x * np.arange(4.0))).trace(np.ones(4))
    x = np.ones(4)
    x_out, y, w_out, _ = evaluate(g, x)
    assert_same(y, np.ones(4) + W)
    assert_same(W, np.arange(4.0))
    x_out2, _, _, _ = evaluate(g, x)
    assert_same(x_out2, np.ones(4))
    const = next(n for n in g.nodes if g.nodes[n]["op"] == "const")
    assert not g.nodes[const]["value"].flags.writeable


def test_view_outputs_do_not_alias_consts():
    g = trace(lambda x: (x + 0.0, np.arange(3.0)[::-1].reshape(3, 1))).trace(np.ones(1))
    _, out = evaluate(g, np.ones(1))
    const = next(n for n in g.nodes if g.nodes[n]["shape"] == (3, 1))
    assert g.nodes[const]["op"] == "const"
    assert_same(out, np.array([[2.0], [1.0], [0.0]]))
    with pytest.raises(ValueError):
        out[0, 0] = 5.0  # read-only view of a graph constant, never a silent corruption
    assert g.nodes[const]["value"][0, 0] == 2.0


def test_outputs_are_kept_even_when_used_later():
    g = Graph()
    a = g.add_op("input", (), {}, (2,), "float64")
    b = g.add_op("exp", [a], {}, (2,), "float64")
    c = g.add_op("neg", [b], {}, (2,), "float64")
    d = g.add_op("sin", [c], {}, (2,), "float64")
    g.graph.update(inputs=[a], outputs=[b, d, a])
    b_out, d_out, a_out = evaluate_flat(g, [np.zeros(2)])
    assert_same(b_out, np.ones(2))
    assert_same(d_out, np.sin(-np.ones(2)))
    assert_same(a_out, np.zeros(2))


def test_long_chain_evaluates_without_recursion():
    g = Graph()
    n = g.add_op("input", (), {}, (), "float64")
    first = n
    for _ in range(20_000):
        n = g.add_op("neg", [n], {}, (), "float64")
    g.graph.update(inputs=[first], outputs=[n])
    assert evaluate(g, 1.5) == (1.5,)  # no out_tree: a flat tuple of outputs


def test_deep_pytree_arguments():
    deep = np.ones(2)
    for _ in range(100):
        deep = [deep]

    def f(t):
        for _ in range(100):
            t = t[0]
        return t * 2

    assert_same(trace(f)(deep), np.full(2, 2.0))


def test_evaluation_error_names_node_and_source():
    g = Graph()
    a = g.add_op("input", (), {}, (2,), "int64", name="a")
    b = g.add_op("input", (), {}, (2,), "int64", name="b")
    c = g.add_op("pow", [a, b], {}, (2,), "int64", source="model.py:7")
    g.graph.update(inputs=[a, b], outputs=[c])
    with pytest.raises(EvaluationError, match=r"%2 = pow\(%0, %1\) : int64\[2\].*model\.py:7"):
        evaluate(g, np.array([2, 2]), np.array([1, -1]))
    (out,) = evaluate(g, np.array([2, 2]), np.array([1, 2]))
    assert_same(out, np.array([2, 4]))


def test_floating_point_warnings_do_not_escape():
    g = trace(lambda x: np.log(x) / x).trace(np.ones(2))
    with np.errstate(all="raise"):
        out = evaluate(g, np.array([0.0, -1.0]))
    assert out[0] == -np.inf and np.isnan(out[1])


def test_input_checks():
    g = trace(lambda x: x * 2).trace(np.ones((2, 2), np.float32))
    with pytest.raises(TracegradError, match=r"input x: expected shape \(2, 2\), got \(4,\)"):
        evaluate(g, np.ones(4, np.float32))
    with pytest.raises(TracegradError, match=r"expected float32\[2,2\], got complex128\[2,2\]"):
        evaluate(g, np.ones((2, 2), complex))
    # same-kind casts are accepted: the graph computes in its own dtype
    assert_same(evaluate(g, np.ones((2, 2))), np.full((2, 2), 2.0, np.float32))
    assert_same(evaluate(g, np.ones((2, 2), np.int8)), np.full((2, 2), 2.0, np.float32))
    with pytest.raises(TypeError, match="graph takes 1 input arrays, got 2"):
        evaluate_flat(g, [np.ones((2, 2)), np.ones(1)])


@pytest.mark.parametrize(
    "traced_with, value, ok",
    [
        (2.0, 3, True),
        (2.0, True, True),
        (2.0, np.float32(2.0), True),
        (2.0, 2**70, True),  # a big Python int is a fine float
        (2.0, 1 + 2j, False),  # never drop an imaginary part
        (2.0, np.complex64(1), False),
        (2, 2.5, False),  # never truncate a float into an int input
        (2, 2**70, False),  # never wrap an int
        (2, True, True),
    ],
)
def test_python_number_inputs_cast_only_without_loss(traced_with, value, ok):
    g = trace(lambda x, s: x * s).trace(np.ones(2), traced_with)
    if ok:
        assert_same(evaluate(g, np.ones(2), value), np.ones(2) * np.asarray(value, np.float64))
    else:
        with pytest.raises(TracegradError, match="input s: expected"):
            evaluate(g, np.ones(2), value)


def test_evaluate_plain_networkx_graph():
    import networkx as nx

    g = trace(net).trace({"W": np.ones((4, 3)), "b": np.ones(3)}, np.ones((2, 4)))
    plain = nx.node_link_graph(nx.node_link_data(g, edges="edges"), edges="edges")
    assert type(plain) is nx.MultiDiGraph
    p, x = {"W": np.ones((4, 3)), "b": np.ones(3)}, np.ones((2, 4))
    assert_same(evaluate(plain, p, x)["loss"], net(p, x)["loss"])


def test_evaluate_rejects_broken_graphs_clearly():
    from tracer import GraphError

    g = Graph()
    a = g.add_op("input", (), {}, (), "float64")
    b = g.add_op("neg", [a], {}, (), "float64")
    c = g.add_op("exp", [b], {}, (), "float64")
    g.add_edge(c, b, arg=1)  # a cycle
    g.graph.update(inputs=[a], outputs=[c])
    with pytest.raises(GraphError, match="cycle"):
        evaluate(g, 1.0)
    h = Graph()
    a = h.add_op("input", (), {}, (), "float64")
    b = h.add_op("neg", [a], {}, (), "float64")
    h.graph.update(inputs=[], outputs=[b])  # a is not listed as an input
    with pytest.raises(GraphError, match="%1 reads %0, which has no value"):
        evaluate(h)
