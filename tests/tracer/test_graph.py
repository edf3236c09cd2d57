"""The graph IR: DESIGN.md's schema, the listing (golden-tested), ``validate``, networkx interop."""

from __future__ import annotations

import contextlib
import os
import textwrap

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tracer import PRIMITIVES, Graph, GraphError, Spec, format_graph, trace, validate
from tracer.graph import format_node, subgraph_nodes

HERE = os.path.basename(__file__)


def mlp(x, w):
    h = np.tanh(x @ w["W"] + w["b"])
    return np.sum(h**2) / h.shape[0]


def mlp_graph() -> Graph:
    return trace(mlp).trace(Spec((32, 4)), {"W": Spec((4, 3)), "b": Spec((3,))})


def golden(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


# ----- the listing -----


def test_listing_golden():
    assert str(mlp_graph()) == golden(
        """
        graph mlp(x: float64[32,4], w['W']: float64[4,3], w['b']: float64[3]) {
          %0 = input : float64[32,4]  # x
          %1 = input : float64[4,3]  # w['W']
          %2 = input : float64[3]  # w['b']
          %3 = matmul(%0, %1) : float64[32,3]
          %4 = add(%3, %2) : float64[32,3]
          %5 = tanh(%4) : float64[32,3]
          %6 = square(%5) : float64[32,3]
          %7 = sum(%6, axis=(0, 1), keepdims=False) : float64[]
          %8 = const 32.0 : float64[]
          %9 = div(%7, %8) : float64[]
          return %9
        }
        """
    )


def test_listing_multiple_outputs_params_and_consts():
    def f(x):
        y = x[::-1, None] * np.array([[1.0, 2.0], [3.0, 4.0]])
        return np.maximum(y, 0).sum(axis=1), y.T, np.arange(6.0)

    g = trace(f).trace(Spec((2,), "float32"))
    assert str(g) == golden(
        """
        graph f(x: float32[2]) {
          %0 = input : float32[2]  # x
          %1 = getitem(%0, index=(('slice', 1, None, -1), ('newaxis',))) : float32[2,1]
          %2 = const [[1., 2.], [3., 4.]] : float64[2,2]
          %3 = mul(%1, %2) : float64[2,2]
          %4 = const 0.0 : float64[]
          %5 = maximum(%3, %4) : float64[2,2]
          %6 = sum(%5, axis=(1,), keepdims=False) : float64[2]
          %7 = transpose(%3, axes=(1, 0)) : float64[2,2]
          %8 = const <float64[6]> : float64[6]
          return (%6, %7, %8)
        }
        """
    )


def test_listing_is_one_line_per_node():
    W = np.arange(16.0).reshape(2, 2, 2, 2)

    def f(x):
        return x * W[0, 0] + np.eye(2) + np.array([[True, False]]) + np.int8(3)

    g = trace(f).trace(np.ones(2))
    lines = str(g).splitlines()
    assert len(lines) == g.number_of_nodes() + 3  # header, nodes, return, closing brace
    for n in g.nodes:
        assert "\n" not in format_node(g, n)


def test_listing_with_sources():
    def f(x):
        return np.exp(x)  # the-line

    g = trace(f).trace(Spec((3,)))
    import inspect

    lines, start = inspect.getsourcelines(f)
    line = start + next(i for i, s in enumerate(lines) if "the-line" in s)
    text = format_graph(g, source=True)
    assert f"%1 = exp(%0) : float64[3]  # @ {HERE}:{line}" in text
    assert "@" not in str(g)


def test_listing_of_0d_and_scalar_python_inputs():
    g = trace(lambda a, b: a * b).trace(2.0, np.int32(3))
    assert str(g) == golden(
        """
        graph lambda(a: float64[], b: int32[]) {
          %0 = input : float64[]  # a
          %1 = input : int32[]  # b
          %2 = mul(%0, %1) : float64[]
          return %2
        }
        """
    )


def test_listing_of_backward_nodes_names_grad_of():
    g = Graph(name="g")
    x = g.add_op("input", (), {}, (2,), "float64", name="x")
    y = g.add_op("exp", [x], {}, (2,), "float64", role="forward")
    gy = g.add_op("mul", [y, y], {}, (2,), "float64", role="backward", grad_of=y)
    g.graph.update(inputs=[x], outputs=[gy])
    assert format_node(g, gy) == "%2 = mul(%1, %1) : float64[2]  # grad of %1"
    validate(g)


# ----- schema -----


def test_schema_matches_design():
    g = mlp_graph()
    assert isinstance(g, nx.MultiDiGraph)
    assert list(g.nodes) == sorted(g.nodes) == list(range(g.number_of_nodes()))
    for _, d in g.nodes(data=True):
        assert {"op", "params", "shape", "dtype", "name", "source", "scope"} <= set(d)
        assert isinstance(d["params"], dict) and isinstance(d["shape"], tuple)
        assert isinstance(d["dtype"], str) and np.dtype(d["dtype"]).name == d["dtype"]
        assert isinstance(d["scope"], tuple)
        assert ("value" in d) == (d["op"] == "const")
        for v in d["params"].values():  # static, JSON-able (tuples for sequences)
            assert isinstance(v, (int, float, bool, str, tuple, type(None)))
    for u, v, d in g.edges(data=True):
        assert set(d) == {"arg"} and u < v
    assert set(g.graph) >= {"inputs", "outputs", "in_tree", "out_tree", "name"}
    assert g.graph["name"] == "mlp"
    assert g.inputs == [0, 1, 2] and g.outputs == [9]
    assert nx.is_directed_acyclic_graph(g)


def test_one_edge_per_operand():
    g = trace(lambda x: x * x).trace(Spec((3,)))
    mul = next(n for n in g.nodes if g.nodes[n]["op"] == "mul")
    x = g.inputs[0]
    assert g.number_of_edges(x, mul) == 2
    assert sorted(d["arg"] for _, _, d in g.in_edges(mul, data=True)) == [0, 1]
    assert g.operands(mul) == [x, x]
    assert g.users(x) == [mul]


def test_operands_in_argument_order():
    g = trace(lambda x, y: (y - x, np.where(x > 0, y, x))).trace(Spec((2,)), Spec((2,)))
    x, y = g.inputs
    sub = next(n for n in g.nodes if g.nodes[n]["op"] == "sub")
    assert g.operands(sub) == [y, x]
    where = next(n for n in g.nodes if g.nodes[n]["op"] == "where")
    assert g.operands(where)[1:] == [y, x]


def test_node_link_data_round_trip():
    g = mlp_graph()
    data = nx.node_link_data(g, edges="edges")
    back = nx.node_link_graph(data, edges="edges", multigraph=True, directed=True)
    assert dict(back.nodes(data=True)).keys() == dict(g.nodes(data=True)).keys()
    for n in g.nodes:
        a, b = g.nodes[n], back.nodes[n]
        assert {k: v for k, v in a.items() if k != "value"} == {
            k: v for k, v in b.items() if k != "value"
        }
    assert sorted(g.edges(data="arg")) == sorted(back.edges(data="arg"))
    assert back.graph == g.graph


def test_networkx_algorithms_work():
    g = mlp_graph()
    order = list(nx.topological_sort(g))
    assert order.index(3) < order.index(9)
    assert nx.ancestors(g, 9) >= {0, 1, 2}
    assert g.topo_order() == list(range(10))
    assert subgraph_nodes(g, [4]) == {0, 1, 2, 3, 4}


def test_topo_order_when_ids_are_not_topological():
    g = Graph()
    a = g.add_op("input", (), {}, (), "float64")
    g.add_node(10, op="neg", params={}, shape=(), dtype="float64", name=None, source=None, scope=())
    b = g.add_op("exp", [10], {}, (), "float64")
    g.add_edge(a, 10, arg=0)
    g.graph.update(inputs=[a], outputs=[b])
    order = g.topo_order()
    assert order.index(10) < order.index(b)
    validate(g)


def test_copy_is_independent():
    g = mlp_graph()
    c = g.copy()
    assert isinstance(c, Graph) and str(c) == str(g)
    c.nodes[3]["name"] = "changed"
    c.graph["outputs"].append(0)
    assert g.nodes[3]["name"] is None and g.outputs == [9]
    assert c.add_op("neg", [3], {}, (32, 3), "float64") == 10


# ----- validate -----


def _valid():
    g = Graph(name="v")
    x = g.add_op("input", (), {}, (2, 3), "float64", name="x")
    c = g.add_op("const", (), {}, (3,), "float64", value=np.ones(3))
    s = g.add_op("add", [x, c], {}, (2, 3), "float64")
    r = g.add_op("sum", [s], {"axis": (0, 1), "keepdims": False}, (), "float64")
    g.graph.update(inputs=[x], outputs=[r])
    return g, (x, c, s, r)


def test_validate_accepts_traced_graphs():
    validate(_valid()[0])
    validate(mlp_graph())


def _break_cycle(g, ids):
    x, c, s, r = ids
    g.add_edge(r, s, arg=2)


def _break_unknown_op(g, ids):
    g.nodes[ids[2]]["op"] = "frobnicate"


def _break_missing_attr(g, ids):
    del g.nodes[ids[2]]["dtype"]


def _break_arity(g, ids):
    g.remove_edge(ids[1], ids[2])


def _break_extra_operand(g, ids):
    g.add_edge(ids[0], ids[3], arg=1)


def _break_args_gap(g, ids):
    x, c, s, r = ids
    g.remove_edge(c, s)
    g.add_edge(c, s, arg=5)


def _break_params(g, ids):
    g.nodes[ids[3]]["params"] = {"axis": (0, 1)}


def _break_params_type(g, ids):
    g.nodes[ids[3]]["params"] = [("axis", (0, 1))]


def _break_shape(g, ids):
    g.nodes[ids[2]]["shape"] = (3, 2)


def _break_dtype(g, ids):
    g.nodes[ids[2]]["dtype"] = "float32"


def _break_bad_dtype(g, ids):
    g.nodes[ids[2]]["dtype"] = "not-a-dtype"


def _break_const_value(g, ids):
    g.nodes[ids[1]]["value"] = np.ones(4)


def _break_const_no_value(g, ids):
    del g.nodes[ids[1]]["value"]


def _break_input_not_listed(g, ids):
    g.graph["inputs"] = []


def _break_input_is_not_input(g, ids):
    g.graph["inputs"] = [ids[0], ids[2]]


def _break_output_missing(g, ids):
    g.graph["outputs"] = [99]


def _break_outputs_type(g, ids):
    g.graph["outputs"] = 3


def _break_input_with_operand(g, ids):
    g.add_edge(ids[1], ids[0], arg=0)


def _break_params_overflow(g, ids):
    x = ids[0]
    y = g.add_op("clip", [x], {"lo": 2**70, "hi": None}, (2, 3), "float64")
    g.graph["outputs"].append(y)
    g.nodes[x]["dtype"] = "int8"


def _break_params_rejected(g, ids):
    g.nodes[ids[3]]["params"] = {"axis": (5,), "keepdims": False}


@pytest.mark.parametrize(
    "breaker, pattern",
    [
        (_break_cycle, "cycle"),
        (_break_unknown_op, "unknown op 'frobnicate'"),
        (_break_missing_attr, "lacks attribute 'dtype'"),
        (_break_arity, "add takes 2 operands, has 1"),
        (_break_extra_operand, "sum takes 1 operands, has 2"),
        (_break_args_gap, r"operand positions \[0, 5\]"),
        (_break_params, "sum takes params"),
        (_break_params_type, "params must be a dict"),
        (_break_shape, r"add gives float64\[2, 3\], node says float64\[3, 2\]"),
        (_break_dtype, r"add gives float64\[2, 3\], node says float32"),
        (_break_bad_dtype, "bad shape/dtype"),
        (_break_const_value, "const value"),
        (_break_const_no_value, "without an array value"),
        (_break_input_not_listed, "input node not listed"),
        (_break_input_is_not_input, "is not an input node"),
        (_break_output_missing, "output %99"),
        (_break_outputs_type, "'outputs' must be a list"),
        (_break_input_with_operand, "take no operands"),
        (_break_params_rejected, "sum rejects its operands"),
        (_break_params_overflow, "clip rejects its operands"),
    ],
)
def test_validate_rejects(breaker, pattern):
    g, ids = _valid()
    breaker(g, ids)
    with pytest.raises(GraphError, match=pattern):
        validate(g)


def test_validate_rejects_non_graphs():
    with pytest.raises(GraphError, match="MultiDiGraph"):
        validate(nx.DiGraph())


def test_validate_huge_shapes_without_allocating():
    # shape rules work on shapes only: a (crafted or Spec-traced) graph with enormous
    # index arrays validates at once instead of allocating terabytes
    g = Graph()
    x = g.add_op("input", (), {}, (10**6, 10**6), "float64")
    i = g.add_op("input", (), {}, (10**6, 10**6), "int64")
    index = (("array", 0), ("slice", 0, 10**6, 2))
    y = g.add_op("getitem", [x, i], {"index": index}, (10**6, 10**6, 5 * 10**5), "float64")
    g.graph.update(inputs=[x, i], outputs=[y])
    validate(g)
    graph = trace(lambda a, j: a[j, ::2]).trace(Spec((10**6, 10**6)), Spec((10**6, 10**6), "int64"))
    assert graph.nodes[graph.outputs[0]]["shape"] == (10**6, 10**6, 5 * 10**5)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["", "float32", "int", "slice", "array", "newaxis", "ellipsis", "C"])
)
_json_values = st.recursive(
    _json_scalars, lambda inner: st.lists(inner, max_size=4).map(tuple), max_leaves=12
)


@settings(max_examples=600, deadline=None)
@given(
    op=st.sampled_from(sorted(PRIMITIVES)),
    n_operands=st.integers(0, 4),
    shapes=st.lists(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), min_size=5, max_size=5),
    dtypes=st.lists(st.sampled_from(["float64", "float32", "int64", "int8", "bool"]), min_size=5),
    data=st.data(),
)
def test_validate_never_crashes_on_arbitrary_nodes(op, n_operands, shapes, dtypes, data):
    # a crafted file can put anything in a node: validate must answer GraphError, never crash
    params = {name: data.draw(_json_values, label=name) for name in PRIMITIVES[op].params}
    g = Graph()
    ins = [g.add_op("input", (), {}, shapes[i], dtypes[i]) for i in range(n_operands)]
    y = g.add_op(op, ins, params, shapes[4], dtypes[4])
    g.graph.update(inputs=ins, outputs=[y])
    with contextlib.suppress(GraphError):
        validate(g)


# ----- what a REPL and a notebook show -----
def test_repr_is_the_listing():
    g = mlp_graph()
    assert repr(g) == str(g)
    assert repr(g).startswith("graph mlp(x: float64[32,4], w['W']: float64[4,3]")


def chain_graph(n: int) -> Graph:
    def chain(x):
        for _ in range(n):
            x = np.sin(x)
        return x

    return trace(chain).trace(0.5)


def test_repr_of_a_long_graph_shows_both_ends():
    from tracer.graph import REPR_NODES

    g = chain_graph(100)
    lines = repr(g).splitlines()
    assert len(lines) == 1 + REPR_NODES + 1 + 2  # header, the nodes, the gap, return and brace
    assert lines[1] == "  %0 = input : float64[]  # x"
    gap = 101 - REPR_NODES
    assert f"  ... {gap} nodes not shown (print(graph) lists them all)" in lines
    assert lines[-3] == "  %100 = sin(%99) : float64[]" and lines[-2] == "  return %100"
    assert len(str(g).splitlines()) == 101 + 3  # str lists every node


def test_ipython_pretty_printer_shows_the_listing():
    class Printer:  # the part of IPython.lib.pretty's printer that _repr_pretty_ uses
        def __init__(self):
            self.parts = []

        def text(self, s):
            self.parts.append(s)

    g = chain_graph(3)
    printer = Printer()
    g._repr_pretty_(printer, cycle=False)
    assert printer.parts == [str(g)]
