"""``save``/``load``: round trips give the same graph and the same numbers; every malformed file
is rejected with ``GraphFormatError`` (never a crash, never code execution)."""

from __future__ import annotations

import base64
import copy
import json
import os

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_primitives import _DTYPE_OPS  # the random-program building blocks
from tracer_testing import assert_same, make_array

from tracer import GraphFormatError, Spec, evaluate, load, save, trace, validate
from tracer.serialize import FORMAT, VERSION, from_json, to_json


def mlp(x, w):
    h = np.tanh(x @ w["W"] + w["b"])
    return np.sum(h**2) / h.shape[0]


def params():
    return {"W": make_array((4, 3), "float64"), "b": make_array((3,), "float64", seed=1)}


def rich(x, p, n):
    """Every kind of node attribute and param: consts of several dtypes, index tuples, Nones."""
    y = x[::-1, None, [0, 2, 2]] * np.array([1.5, 2.5, 3.5], np.float32)
    z = np.clip(y, None, 2.0).astype(np.float32) + np.arange(3, dtype=np.int16)
    m = (z > 0) & np.array([True, False, True])
    return {
        "z": np.where(m, z, -z).sum(axis=(0, 2), keepdims=True),
        "am": np.argmax(z, axis=1),
        "cat": np.concatenate([p[0].ravel(), p[1]]),
        "rounded": np.round(x, 1),
        "n": x.mean() * n,
    }


def rich_args():
    x = make_array((2, 3), "float64")
    return x, (make_array((2, 2), "float32"), make_array((3,), "float32")), 3


def assert_same_graph(a, b):
    assert str(a) == str(b)
    assert sorted(a.nodes) == sorted(b.nodes)
    for n in a.nodes:
        da, db = dict(a.nodes[n]), dict(b.nodes[n])
        fetch = da.pop("fetch", None)
        if fetch is not None:  # a capture input: the file keeps the value read at save time
            da["value"] = np.asarray(fetch({}))
        assert set(da) == set(db)
        for k in da:
            if k == "value":
                assert da[k].dtype == db[k].dtype and da[k].shape == db[k].shape
                np.testing.assert_array_equal(da[k], db[k])
            else:
                assert da[k] == db[k], (n, k, da[k], db[k])
                assert type(da[k]) is type(db[k]), (n, k)
    assert sorted(a.edges(data="arg")) == sorted(b.edges(data="arg"))
    assert a.graph == b.graph


def test_round_trip_issue_example(tmp_path):
    x = make_array((32, 4), "float64")
    g = trace(mlp).trace(Spec((32, 4)), params())
    path = tmp_path / "f.json"
    save(g, path)
    back = load(path)
    assert_same_graph(g, back)
    assert nx.is_directed_acyclic_graph(back)
    assert_same(evaluate(back, x, params()), mlp(x, params()))


def test_round_trip_rich_graph(tmp_path):
    args = rich_args()
    g = trace(rich, static_argnums=2).trace(*args)
    save(g, tmp_path / "rich.json")
    back = load(tmp_path / "rich.json")
    assert_same_graph(g, back)
    validate(back)
    got, expected = evaluate(back, *args), rich(*args)
    for k in expected:
        assert_same(got[k], expected[k])
    # consts come back read-only, with their exact dtype
    for n in back.nodes:
        if back.nodes[n]["op"] == "const":
            assert not back.nodes[n]["value"].flags.writeable


def test_round_trip_is_stable():
    g = trace(rich, static_argnums=2).trace(*rich_args())
    text = to_json(g)
    assert to_json(from_json(text)) == text


def test_round_trip_gradient_attributes():
    from tracer import Graph

    g = Graph(name="g")
    x = g.add_op("input", (), {}, (2,), "float64", name="x", role="forward")
    y = g.add_op("exp", [x], {}, (2,), "float64", role="forward")
    one = g.add_op("const", (), {}, (), "float64", value=np.ones(()), role="backward", seed=True)
    gy = g.add_op("mul", [y, one], {}, (2,), "float64", role="backward", grad_of=y)
    gx = g.add_op("add", [gy, gy], {}, (2,), "float64", role="backward", grad_of=x, accum=True)
    g.graph.update(inputs=[x], outputs=[y, gx], grads=[[y, gy], [x, gx]], jacobian_mode="rev")
    back = from_json(to_json(g))
    assert back.nodes[gy]["role"] == "backward" and back.nodes[gy]["grad_of"] == y
    assert back.nodes[one]["seed"] is True and back.nodes[gx]["accum"] is True
    assert back.graph["grads"] == [[y, gy], [x, gx]]
    assert_same_graph(g, back)


def test_round_trip_dict_keys_of_every_kind():
    def f(d, e):
        return {(1, "a"): d[(0, 1)] * 2, (0, "b"): d[(2, 0)]}, {0.5: e[3], 1.5: e[-1]}

    d, e = {(0, 1): np.ones(2), (2, 0): np.zeros(2)}, {3: np.ones(1), -1: np.zeros(1)}
    g = trace(f).trace(d, e)
    back = from_json(to_json(g))
    assert back.graph["in_tree"] == g.graph["in_tree"]
    assert back.graph["out_tree"] == g.graph["out_tree"]
    out, out_e = evaluate(back, d, e)
    assert set(out) == {(1, "a"), (0, "b")} and set(out_e) == {0.5, 1.5}
    assert_same(out[(1, "a")], np.full(2, 2.0))


def test_saved_file_is_plain_versioned_json(tmp_path):
    g = trace(mlp).trace(Spec((2, 4)), params())
    save(g, tmp_path / "f.json")
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["format"] == FORMAT == "tracegrad-graph"
    assert doc["version"] == VERSION == 1
    assert {"nodes", "edges", "graph"} <= set(doc["graph"])
    assert not list(tmp_path.glob("*.tmp*"))  # the temporary file was renamed away


def test_loaded_graph_can_be_extended():
    back = from_json(to_json(trace(mlp).trace(Spec((2, 4)), params())))
    n = back.add_op("neg", [back.outputs[0]], {}, (), "float64")
    assert n == max(back.nodes) and n > back.outputs[0]


# ----- malformed files -----


def good_doc() -> dict:
    g = trace(lambda x, w: np.exp(x @ w["W"]) + np.ones(3)).trace(Spec((2, 4)), {"W": Spec((4, 3))})
    return json.loads(to_json(g))


def node_of(doc, op):
    return next(n for n in doc["graph"]["nodes"] if n["op"] == op)


def edge_into(doc, op):
    nid = node_of(doc, op)["id"]
    return next(e for e in doc["graph"]["edges"] if e["target"] == nid)


def _set(path, value):
    def mutate(doc):
        obj = doc
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value

    return mutate


def _del(path):
    def mutate(doc):
        obj = doc
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]

    return mutate


def _node(op, key, value):
    return lambda doc: node_of(doc, op).__setitem__(key, value)


def _cycle(doc):
    exp, mm = node_of(doc, "exp")["id"], node_of(doc, "matmul")["id"]
    doc["graph"]["edges"].append({"source": exp, "target": mm, "arg": 2, "key": 0})


def _self_loop(doc):
    nid = node_of(doc, "exp")["id"]
    doc["graph"]["edges"].append({"source": nid, "target": nid, "arg": 1, "key": 0})


def _drop_edge(doc):
    doc["graph"]["edges"].remove(edge_into(doc, "exp"))


def _extra_operand(doc):
    e = dict(edge_into(doc, "exp"))
    e["arg"] = 1
    doc["graph"]["edges"].append(e)


def _duplicate_arg(doc):
    e = dict(edge_into(doc, "add"))
    doc["graph"]["edges"].append(e)


def _dangling_edge(doc):
    doc["graph"]["edges"].append({"source": 999, "target": 0, "arg": 0})


def _duplicate_node(doc):
    doc["graph"]["nodes"].append(copy.deepcopy(doc["graph"]["nodes"][0]))


def _const_value(value):
    return lambda doc: node_of(doc, "const").__setitem__("value", value)


def _array(dtype, shape, raw: bytes):
    return {"__ndarray__": [dtype, shape, base64.b64encode(raw).decode()]}


MALFORMED = {
    "not-an-object": lambda doc: doc.clear() or doc.update({"x": []}),
    "wrong-format": _set(["format"], "pickle"),
    "wrong-version": _set(["version"], 2),
    "string-version": _set(["version"], "1"),
    "no-graph": _del(["graph"]),
    "nodes-not-list": _set(["graph", "nodes"], {"0": {}}),
    "edges-missing": _del(["graph", "edges"]),
    "node-not-object": lambda doc: doc["graph"]["nodes"].append([1, 2]),
    "node-id-string": lambda doc: doc["graph"]["nodes"][0].__setitem__("id", "0"),
    "node-id-bool": lambda doc: doc["graph"]["nodes"][0].__setitem__("id", True),
    "node-id-float": lambda doc: doc["graph"]["nodes"][0].__setitem__("id", 0.0),
    "duplicate-node": _duplicate_node,
    "unknown-node-attr": _node("exp", "__reduce__", "os.system"),
    "unknown-op": _node("exp", "op", "os.system"),
    "op-not-string": _node("exp", "op", ["exp"]),
    "params-not-object": _node("exp", "params", []),
    "shape-not-list": _node("exp", "shape", "2,3"),
    "shape-negative": _node("exp", "shape", [2, -3]),
    "shape-float": _node("exp", "shape", [2.0, 3]),
    "shape-bool": _node("exp", "shape", [True, 3]),
    "dtype-object": _node("exp", "dtype", "object"),
    "dtype-garbage": _node("exp", "dtype", "float99"),
    "dtype-number": _node("exp", "dtype", 5),
    "dtype-list": _node("exp", "dtype", ["float64"]),
    "name-not-string": _node("exp", "name", 3),
    "source-not-string": _node("exp", "source", {"a": 1}),
    "scope-not-list": _node("exp", "scope", "f"),
    "scope-of-ints": _node("exp", "scope", [1, 2]),
    "wrong-shape": _node("exp", "shape", [3, 2]),
    "wrong-dtype": _node("exp", "dtype", "float32"),
    "wrong-arity-missing": _drop_edge,
    "wrong-arity-extra": _extra_operand,
    "duplicate-arg": _duplicate_arg,
    "edge-not-object": lambda doc: doc["graph"]["edges"].append("0->1"),
    "edge-arg-missing": lambda doc: edge_into(doc, "exp").pop("arg"),
    "edge-arg-string": lambda doc: edge_into(doc, "exp").__setitem__("arg", "0"),
    "edge-dangling": _dangling_edge,
    "cycle": _cycle,
    "self-loop": _self_loop,
    "wrong-params": _node("exp", "params", {"axis": 0}),
    "const-value-missing": lambda doc: node_of(doc, "const").pop("value"),
    "const-value-plain-list": _const_value([1.0, 1.0, 1.0]),
    "const-value-bad-base64": _const_value({"__ndarray__": ["float64", [3], "!!!"]}),
    "const-value-truncated": _const_value(_array("float64", [3], b"\0" * 16)),
    "const-value-too-long": _const_value(_array("float64", [3], b"\0" * 32)),
    "const-value-wrong-shape": _const_value(_array("float64", [4], b"\0" * 32)),
    "const-value-wrong-dtype": _const_value(_array("float32", [3], b"\0" * 12)),
    "const-value-object-dtype": _const_value(_array("object", [3], b"\0" * 24)),
    "const-value-overflowing-shape": _const_value(_array("float64", [2**40, 2**40], b"")),
    "const-value-huge-dim": _const_value(_array("float64", [2**70], b"")),
    "const-value-not-triple": _const_value({"__ndarray__": ["float64", [3]]}),
    "const-value-type-confused": _const_value({"__ndarray__": [3, "float64", [3]]}),
    "value-on-non-const": _node("exp", "value", _array("float64", [2, 3], b"\0" * 48)),
    "ndarray-in-params": _node("exp", "params", {"x": _array("float64", [1], b"\0" * 8)}),
    "inputs-missing": _del(["graph", "graph", "inputs"]),
    "inputs-not-ids": _set(["graph", "graph", "inputs"], ["x"]),
    "input-not-input-node": lambda doc: doc["graph"]["graph"]["inputs"].append(
        node_of(doc, "exp")["id"]
    ),
    "input-node-unlisted": lambda doc: doc["graph"]["graph"]["inputs"].pop(),
    "outputs-unknown": _set(["graph", "graph", "outputs"], [12345]),
    "outputs-not-list": _set(["graph", "graph", "outputs"], 3),
    "in-tree-garbage": _set(["graph", "graph", "in_tree"], {"type": "pickle"}),
    "in-tree-not-object": _set(["graph", "graph", "in_tree"], "leaf"),
    "in-tree-leaf-count": _set(["graph", "graph", "in_tree"], {"type": "leaf"}),
    "in-tree-children-missing": _set(["graph", "graph", "in_tree"], {"type": "tuple"}),
    "out-tree-leaf-count": _set(
        ["graph", "graph", "out_tree"],
        {"type": "tuple", "children": [{"type": "leaf"}, {"type": "leaf"}]},
    ),
    "out-tree-dict-keys-mismatch": _set(
        ["graph", "graph", "out_tree"], {"type": "dict", "keys": [], "children": [{"type": "leaf"}]}
    ),
    "out-tree-dict-unhashable-key": _set(
        ["graph", "graph", "out_tree"],
        {"type": "dict", "keys": [{"a": 1}], "children": [{"type": "leaf"}]},
    ),
    "role-garbage": _node("exp", "role", {"evil": 1}),
    "grad-of-string": _node("exp", "grad_of", "%1"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_is_rejected(name, tmp_path):
    doc = good_doc()
    from_json(json.dumps(doc))  # the unmodified document loads
    MALFORMED[name](doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GraphFormatError):
        load(path)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "null",
        "[]",
        "42",
        '"tracegrad-graph"',
        "NaN",
        '{"format": "tracegrad-graph"}',
        "[" * 100_000 + "]" * 100_000,
        '{"format": "tracegrad-graph", "version": 1, "graph": ' + "[" * 5000 + "]" * 5000 + "}",
    ],
)
def test_garbage_text_is_rejected(text):
    with pytest.raises(GraphFormatError):
        from_json(text)


def test_deeply_nested_params_are_rejected_not_crashing():
    doc = good_doc()
    deep: list = []
    for _ in range(900):
        deep = [deep]
    node_of(doc, "exp")["params"] = {"axis": deep}
    with pytest.raises(GraphFormatError):
        from_json(json.dumps(doc))


def test_truncated_files_are_rejected(tmp_path):
    text = to_json(trace(mlp).trace(Spec((2, 4)), params()))
    for cut in (1, 10, len(text) // 3, len(text) // 2, len(text) - 1):
        path = tmp_path / f"cut{cut}.json"
        path.write_text(text[:cut])
        with pytest.raises(GraphFormatError):
            load(path)


def test_unreadable_files_are_rejected(tmp_path):
    with pytest.raises(GraphFormatError, match="cannot read"):
        load(tmp_path / "missing.json")
    with pytest.raises(GraphFormatError, match="cannot read"):
        load(tmp_path)  # a directory
    with pytest.raises(GraphFormatError, match="not a regular file"):
        load("/dev/zero")  # would never end
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(GraphFormatError, match="not a regular file"):
        load(fifo)  # would block
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(GraphFormatError):
        load(tmp_path / "binary.json")


def test_loading_never_executes_code(tmp_path, monkeypatch):
    import builtins

    def forbidden(*args, **kwargs):
        raise AssertionError("load executed code from the file")

    doc = good_doc()
    node_of(doc, "exp")["name"] = "__import__('os').system('echo pwned')"
    node_of(doc, "exp")["source"] = "eval(compile('1', 'x', 'eval'))"
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    g = load(path)
    assert g.nodes[node_of(doc, "exp")["id"]]["name"].startswith("__import__")


@settings(max_examples=60, deadline=None)
@given(
    dtypes=st.lists(st.sampled_from(["float64", "float32", "int32", "bool"]), min_size=2),
    steps=st.lists(
        st.tuples(
            st.integers(0, 30), st.integers(0, 7), st.integers(0, 7), st.sampled_from([2, 0.5])
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_round_trip_random_programs(dtypes, steps):
    x, y = make_array((2, 3), dtypes[0], seed=1), make_array((3,), dtypes[1], seed=2)

    def program(x, y):
        values = [x, y]
        for op, i, j, s in steps:
            fn = _DTYPE_OPS[op % len(_DTYPE_OPS)]
            values.append(fn(values[i % len(values)], values[j % len(values)], s))
        return values[2:]

    try:
        with np.errstate(all="ignore"):
            expected = program(x, y)
    except (TypeError, ValueError, OverflowError):
        return
    g = trace(program).trace(x, y)
    back = from_json(to_json(g))
    assert_same_graph(g, back)
    for got, want in zip(evaluate(back, x, y), expected):
        assert_same(got, want)
