"""``@trace``: pytrees, static arguments, the signature cache, Spec, inlining, closures, names."""

from __future__ import annotations

import os
import threading

import networkx as nx
import numpy as np
import pytest
from tracer_testing import assert_same, make_array, ops_of

from tracer import Graph, Spec, TracedFunction, evaluate, load, name_scope, save, trace, validate

HERE = os.path.basename(__file__)


def lineno_of(fn, marker: str) -> int:
    """Line number (in this file) of the line of ``fn``'s source containing ``marker``."""
    import inspect

    lines, start = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if marker in line:
            return start + i
    raise AssertionError(f"{marker!r} not in the source of {fn.__name__}")


# ----- the issue's example -----


def mlp(x, w):
    h = np.tanh(x @ w["W"] + w["b"])
    return np.sum(h**2) / h.shape[0]


def params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}


def test_issue_example_same_number_as_numpy():
    x = make_array((32, 4), "float64")
    f = trace(mlp)
    assert_same(f(x, params()), mlp(x, params()))
    g = f.trace(Spec((32, 4), "float64"), params())
    assert isinstance(g, nx.MultiDiGraph) and isinstance(g, Graph)
    assert nx.is_directed_acyclic_graph(g)
    validate(g)
    assert_same(evaluate(g, x, params()), mlp(x, params()))
    assert f.trace_count == 1  # Spec and array of the same aval share one graph


def test_input_nodes_named_after_parameters():
    g = trace(mlp).trace(Spec((32, 4)), params())
    names = [g.nodes[n]["name"] for n in g.inputs]
    assert names == ["x", "w['W']", "w['b']"]
    assert all(g.nodes[n]["op"] == "input" for n in g.inputs)


def test_input_names_for_varargs_and_kwargs():
    def f(a, *rest, scale, **extra):
        return a * scale + sum(rest) + extra["z"][0]

    g = trace(f).trace(1.0, np.ones(2), np.ones(2), scale=2.0, z=[np.ones(2)])
    names = [g.nodes[n]["name"] for n in g.inputs]
    assert names == ["a", "rest[0]", "rest[1]", "scale", "z[0]"]


def test_source_points_at_user_line():
    def f(x):
        y = np.exp(x)  # exp-line
        return y * 2.0  # mul-line

    g = trace(f).trace(np.ones(3))
    by_op = {g.nodes[n]["op"]: g.nodes[n]["source"] for n in g.nodes}
    assert by_op["exp"] == f"{HERE}:{lineno_of(f, 'exp-line')}"
    assert by_op["mul"] == f"{HERE}:{lineno_of(f, 'mul-line')}"


def test_user_files_next_to_the_package_are_user_code():
    import tracer
    from tracer.frames import is_internal

    pkg = os.path.dirname(os.path.abspath(tracer.__file__))
    assert is_internal(os.path.join(pkg, "staging.py"))
    assert not is_internal(pkg + "_demo.py")  # /repo/tracer_demo.py
    assert not is_internal(os.path.join(pkg + "_examples", "run.py"))
    assert not is_internal(os.path.abspath(__file__))


def test_source_of_operator_and_method_calls():
    def f(x):
        return (x.T @ x).sum(axis=0)  # the-line

    g = trace(f).trace(np.ones((3, 2)))
    line = f"{HERE}:{lineno_of(f, 'the-line')}"
    for n in g.nodes:
        if g.nodes[n]["op"] != "input":
            assert g.nodes[n]["source"] == line, g.nodes[n]


# ----- pytrees -----


def test_pytree_in_and_out():
    def f(inp, scale):
        a, (b, c) = inp["pair"], inp["nested"]
        return {"sum": a + b, "list": [c * scale, None, (a,)], "none": None}, scale

    inp = {"pair": np.ones(3), "nested": (np.arange(3.0), np.float32(2.0))}
    tf = trace(f)
    out = tf(inp, 2.0)
    expected = f(inp, 2.0)
    assert isinstance(out, tuple) and isinstance(out[0], dict)
    assert out[0]["none"] is None and out[0]["list"][1] is None
    assert isinstance(out[0]["list"], list) and isinstance(out[0]["list"][2], tuple)
    assert_same(out[0]["sum"], expected[0]["sum"])
    assert_same(out[0]["list"][0], expected[0]["list"][0])
    assert_same(out[0]["list"][2][0], expected[0]["list"][2][0])
    assert_same(out[1], np.asarray(2.0))
    g = tf.trace(inp, 2.0)
    assert len(g.inputs) == 4
    res = evaluate(g, inp, 2.0)
    assert_same(res[0]["sum"], expected[0]["sum"])


def test_none_leaves_in_arguments():
    def f(x, opt):
        return x if opt["b"] is None else x + opt["b"]

    tf = trace(f)
    assert_same(tf(np.ones(2), {"a": None, "b": None}), np.ones(2))
    assert_same(tf(np.ones(2), {"a": None, "b": np.ones(2)}), np.full(2, 2.0))
    assert tf.trace_count == 2


def test_dict_key_order_does_not_matter():
    tf = trace(lambda d: d["a"] - d["b"])
    a, b = np.ones(2), np.zeros(2)
    assert_same(tf({"a": a, "b": b}), np.ones(2))
    assert_same(tf({"b": b, "a": a}), np.ones(2))
    assert tf.trace_count == 1


def test_outputs_that_are_constants_or_inputs():
    tf = trace(lambda x: (x, 3.0, np.arange(2)))
    out = tf(np.ones(2))
    assert_same(out[0], np.ones(2))
    assert_same(out[1], np.asarray(3.0))
    assert_same(out[2], np.arange(2))
    g = tf.trace(np.ones(2))
    assert g.outputs[0] == g.inputs[0]
    validate(g)


def test_same_value_returned_twice():
    tf = trace(lambda x: (np.exp(x), np.exp(x)[0], x))
    out = tf(np.zeros(2))
    assert_same(out[0], np.ones(2))
    assert_same(out[1], np.float64(1.0))


def test_0d_results_are_numpy_scalars_like_numpy():
    out = trace(lambda x: np.sum(x))(np.ones(3))
    assert isinstance(out, np.float64) and out == 3.0


# ----- the signature cache -----


def test_cache_hits_do_not_retrace():
    tf = trace(lambda x, y: x * y + 1)
    for _ in range(3):
        tf(np.ones(3), np.ones(3))
    assert tf.trace_count == 1
    tf(np.full(3, 5.0), np.zeros(3))  # new values, same signature
    assert tf.trace_count == 1
    tf.trace(Spec((3,)), Spec((3,)))
    assert tf.trace_count == 1


@pytest.mark.parametrize(
    "first, second",
    [
        ((np.ones(3),), (np.ones(4),)),  # shape
        ((np.ones(3),), (np.ones(3, np.float32),)),  # dtype
        ((np.ones(3),), (np.ones((3, 1)),)),  # rank
        ((np.ones(()),), (2.0,)),  # strong 0-d array vs weak Python float
        ((2.0,), (2,)),  # Python float vs int
        (((np.ones(3), np.ones(3)),), ([np.ones(3), np.ones(3)],)),  # tuple vs list
        (({"a": np.ones(3)},), ({"b": np.ones(3)},)),  # dict keys
    ],
)
def test_new_signature_retraces(first, second):
    tf = trace(lambda a: a)
    tf(*first)
    tf(*first)
    assert tf.trace_count == 1
    tf(*second)
    assert tf.trace_count == 2
    tf(*first)
    tf(*second)
    assert tf.trace_count == 2


def test_python_number_values_do_not_retrace():
    tf = trace(lambda x, s: x * s)
    assert_same(tf(np.ones(2), 2.0), np.full(2, 2.0))
    assert_same(tf(np.ones(2), 3.0), np.full(2, 3.0))
    assert tf.trace_count == 1


def test_static_argnums_retrace_on_new_value_only():
    @trace(static_argnums=1)
    def power(x, n):
        out = x
        for _ in range(n - 1):
            out = out * x
        return out

    x = np.full(2, 2.0)
    assert_same(power(x, 3), np.full(2, 8.0))
    assert_same(power(x, 3), np.full(2, 8.0))
    assert power.trace_count == 1
    assert_same(power(x, 4), np.full(2, 16.0))
    assert power.trace_count == 2
    assert_same(power(x, 3), np.full(2, 8.0))
    assert power.trace_count == 2
    g = power.trace(x, 5)
    assert ops_of(g).count("mul") == 4
    assert len(g.inputs) == 1
    assert_same(evaluate(g, x, 5), np.full(2, 32.0))


def test_static_argnums_negative_and_non_array_values():
    @trace(static_argnums=(-1,))
    def f(x, mode):
        return np.exp(x) if mode == "exp" else np.sin(x)

    assert_same(f(np.zeros(2), "exp"), np.ones(2))
    assert_same(f(np.zeros(2), "sin"), np.zeros(2))
    assert f.trace_count == 2


def test_static_arguments_must_be_hashable():
    f = trace(lambda x, opts: x, static_argnums=1)
    with pytest.raises(TypeError, match="static argument 1 must be hashable"):
        f(np.ones(2), [1, 2])


def test_trace_with_spec():
    tf = trace(lambda x, w: x @ w)
    g = tf.trace(Spec((5, 3), "float32"), Spec((3,), np.float32))
    assert g.nodes[g.outputs[0]]["shape"] == (5,)
    assert g.nodes[g.outputs[0]]["dtype"] == "float32"
    assert tf.trace_count == 1
    x, w = make_array((5, 3), "float32"), make_array((3,), "float32")
    assert_same(tf(x, w), x @ w)
    assert tf.trace_count == 1  # the Spec trace served the array call
    assert Spec(3) == Spec((3,), "float64")
    assert repr(Spec((2,), "int32")) == "Spec((2,), 'int32')" and str(Spec(())) == "float64[]"


def test_spec_rejects_bad_shapes_and_dtypes():
    from tracer import TracegradError

    with pytest.raises(TracegradError, match="negative"):
        Spec((-1, 2))
    with pytest.raises(TracegradError, match="tuple of ints"):
        Spec("abc")
    with pytest.raises(TracegradError, match="not supported"):
        Spec((2,), object)


def test_threads_share_the_cache_safely():
    tf = trace(lambda x: np.tanh(x) * 2)
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                results.append(tf(np.ones(4)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert tf.trace_count == 1
    for r in results:
        assert_same(r, np.tanh(np.ones(4)) * 2)


# ----- inlining, scopes, closures -----


def test_traced_function_called_inside_another_is_inlined():
    @trace
    def g(u):
        return np.exp(u) * 2.0

    @trace
    def f(x):
        return g(x + 1.0) + g(x)

    x = make_array((3,), "float64")
    assert_same(f(x), np.exp(x + 1) * 2 + np.exp(x) * 2)
    graph = f.trace(x)
    validate(graph)
    assert isinstance(graph, Graph)
    assert ops_of(graph).count("exp") == 2  # one graph, g's body copied in twice
    assert ops_of(graph).count("input") == 1
    scopes = {graph.nodes[n]["op"]: graph.nodes[n]["scope"] for n in graph.nodes}
    assert scopes["exp"] == ("f", "g")
    assert scopes["add"] == ("f",)
    assert graph.nodes[graph.inputs[0]]["scope"] == ("f",)
    # inner nodes keep the inner function's source line
    src = [graph.nodes[n]["source"] for n in graph.nodes if graph.nodes[n]["op"] == "exp"]
    assert src[0] == f"{HERE}:{lineno_of(g.fn, 'np.exp(u)')}"


def test_inner_graph_scope_does_not_depend_on_first_caller():
    @trace
    def g(u):
        return np.sin(u)

    @trace
    def f(x):
        return g(x) * 2

    x = np.ones(2)
    f(x)  # g is traced first from inside f
    inner = g.trace(x)
    assert {inner.nodes[n]["scope"] for n in inner.nodes} == {("g",)}
    outer = trace(lambda x: f(x) + 1, name="h").trace(x)
    sin = next(n for n in outer.nodes if outer.nodes[n]["op"] == "sin")
    assert outer.nodes[sin]["scope"] == ("h", "f", "g")


def test_inlining_with_pytrees_and_python_numbers():
    @trace
    def layer(p, x, scale):
        return {"y": np.tanh(x @ p["W"] + p["b"]) * scale}

    @trace
    def net(p, x):
        h = layer(p, x, 2.0)["y"]
        return layer({"W": p["W"].T, "b": p["c"]}, h, 0.5)["y"].sum()

    p = {"W": make_array((3, 3), "float64"), "b": make_array((3,), "float64", seed=1)}
    p["c"] = make_array((3,), "float64", seed=2)
    x = make_array((2, 3), "float64", seed=3)
    h = np.tanh(x @ p["W"] + p["b"]) * 2.0
    expected = (np.tanh(h @ p["W"].T + p["c"]) * 0.5).sum()
    assert_same(net(p, x), expected)
    validate(net.trace(p, x))


def test_name_scope_groups_nodes():
    @trace
    def f(x):
        with name_scope("block"):
            y = np.exp(x)
        return y + 1

    g = f.trace(np.ones(2))
    scopes = {g.nodes[n]["op"]: g.nodes[n]["scope"] for n in g.nodes}
    assert scopes["exp"] == ("f", "block")
    assert scopes["add"] == ("f",)


def test_closure_arrays_become_capture_inputs():
    W = make_array((3, 2), "float64")
    b = np.float32(0.5)

    @trace
    def f(x):
        return x @ W + W.sum() + b

    x = make_array((4, 3), "float64", seed=1)
    assert_same(f(x), x @ W + W.sum() + b)
    g = f.trace(x)
    caps = g.graph["captures"]
    assert [g.nodes[n]["capture"] for n in caps] == ["closure W", "closure b"]
    assert g.inputs[1:] == caps and len(g.inputs) == 3
    assert [g.nodes[n]["shape"] for n in caps] == [(3, 2), ()]
    assert "const" not in [g.nodes[n]["op"] for n in g.nodes if g.nodes[n]["shape"] == (3, 2)]
    assert "closure W" in str(g)  # the listing says where an input comes from


def test_captured_array_is_read_at_call_time():
    W = np.ones(2)
    f = trace(lambda x: x * W)
    g = f.trace(np.ones(2))
    W[:] = 5.0  # mutating the captured array is seen by the next call, without a retrace
    assert_same(f(np.ones(2)), np.full(2, 5.0))
    assert_same(evaluate(g, np.ones(2)), np.full(2, 5.0))
    assert f.trace_count == 1


def test_saved_graph_keeps_the_captured_value(tmp_path):
    W = np.arange(3.0)
    g = trace(lambda x: x * W).trace(np.ones(3))
    save(g, tmp_path / "g.json")
    W[:] = -1.0  # the file holds the value at the time it was saved
    loaded = load(tmp_path / "g.json")
    assert_same(evaluate(loaded, np.ones(3)), np.arange(3.0))


def test_one_input_per_captured_array():
    W = np.arange(3.0)
    g = trace(lambda x: x * W + W).trace(np.ones(3))
    assert ops_of(g).count("input") == 2 and "const" not in ops_of(g)


def test_leaked_tracer_is_a_tracing_error():
    from tracer import TracingError

    leaked = []

    @trace
    def f(x):
        leaked.append(x)
        return x * 2

    f(np.ones(2))
    g = trace(lambda y: y + leaked[0])
    with pytest.raises(TracingError, match="trace that has ended"):
        g(np.ones(2))


def test_trace_decorator_forms():
    def f(x):
        return x + 1

    tf = trace(f)
    assert isinstance(tf, TracedFunction) and tf.name == "f" and tf.__name__ == "f"
    assert trace(tf) is tf
    assert trace(name="g")(f).trace(np.ones(1)).graph["name"] == "g"
    assert trace(lambda x: x).name == "lambda"
    assert "f" in repr(tf)
    with pytest.raises(TypeError, match="callable"):
        trace(3)


def test_traced_method_binds_self():
    class Model:
        def __init__(self):
            self.w = np.full(2, 3.0)

        @trace
        def forward(self, x):
            return x * self.w

    with pytest.raises(TypeError, match="self"):
        Model().forward(np.ones(2))  # self is not an array: say so


def test_ten_thousand_op_chain_traces_and_evaluates():
    @trace
    def chain(x):
        for _ in range(10_000):
            x = x + 1.0
        return x

    assert_same(chain(np.zeros(2)), np.full(2, 10_000.0))
    g = chain.trace(np.zeros(2))
    assert g.number_of_nodes() > 10_000
    validate(g)
