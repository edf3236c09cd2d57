"""Tree utilities and namedtuples as pytree containers (as in JAX), everywhere pytrees go:
arguments, results, captured globals, saved graphs (whose namedtuple classes are never imported)."""

from __future__ import annotations

import json
import sys
import typing
from collections import namedtuple

import numpy as np
import pytest

from tracer import (
    GraphFormatError,
    PyTreeDef,
    TracegradError,
    evaluate,
    load,
    save,
    trace,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)
from tracer.pytree import flatten, leaf_paths, unflatten
from tracer.serialize import from_json, to_json

Point = namedtuple("Point", "x y")


class Params(typing.NamedTuple):
    w: np.ndarray
    b: np.ndarray


TREE = {"b": [1.0, None, (2.0, Point(3.0, 4.0))], "a": Params(5.0, 6.0)}


# ----- the utilities -----


def test_flatten_order_and_roundtrip():
    leaves, treedef = tree_flatten(TREE)
    assert leaves == [5.0, 6.0, 1.0, 2.0, 3.0, 4.0]  # dict keys sorted, as in JAX
    assert treedef.num_leaves == 6
    back = tree_unflatten(treedef, leaves)
    assert back == TREE
    assert type(back["a"]) is Params and type(back["b"][2][1]) is Point
    assert treedef.unflatten(range(6))["b"][2][1] == Point(4, 5)


def test_leaves_and_structure():
    assert tree_leaves(TREE) == [5.0, 6.0, 1.0, 2.0, 3.0, 4.0]
    assert tree_leaves(None) == [] and tree_leaves(3.0) == [3.0]
    s = tree_structure(TREE)
    assert s == tree_structure(tree_map(lambda v: -v, TREE)) and hash(s) == hash(
        tree_structure(TREE)
    )
    assert s != tree_structure({"b": [1.0, None, (2.0, (3.0, 4.0))], "a": Params(5.0, 6.0)})
    assert repr(s) == "PyTreeDef({'a': Params(w=*, b=*), 'b': [*, None, (*, Point(x=*, y=*))]})"
    assert repr(tree_structure((1.0,))) == "PyTreeDef((*,))"
    assert isinstance(s, PyTreeDef) and s.to_dict()["type"] == "dict"


def test_is_leaf():
    leaves, treedef = tree_flatten(TREE, is_leaf=lambda n: isinstance(n, Point))
    assert leaves == [5.0, 6.0, 1.0, 2.0, Point(3.0, 4.0)]
    assert tree_unflatten(treedef, leaves) == TREE


def test_tree_map_over_several_trees_and_prefixes():
    a = {"w": np.ones(2), "b": Point(1.0, 2.0)}
    b = {"w": np.full(2, 3.0), "b": Point(10.0, 20.0)}
    out = tree_map(lambda u, v: u + v, a, b)
    np.testing.assert_array_equal(out["w"], [4.0, 4.0])
    assert out["b"] == Point(11.0, 22.0)
    # the first tree's leaves may stand for whole subtrees of the others (a prefix)
    assert tree_map(lambda k, sub: (k, sub), {"p": 0, "q": 1}, {"p": [1, 2], "q": None}) == {
        "p": (0, [1, 2]),
        "q": (1, None),
    }


def test_tree_map_mismatch_is_a_clear_error():
    with pytest.raises(TracegradError, match=r"tree 1 .* at \['b'\]: expected a tuple of 2"):
        tree_map(lambda u, v: u, {"a": 1, "b": (1, 2)}, {"a": 1, "b": (1, 2, 3)})
    with pytest.raises(TracegradError, match="expected a namedtuple"):
        tree_map(lambda u, v: u, Point(1, 2), (1, 2))
    with pytest.raises(TracegradError, match="holds 2 leaves, got 3"):
        tree_unflatten(tree_structure(Point(1, 2)), [1, 2, 3])


# ----- namedtuples are containers in traced functions -----


def test_namedtuple_arguments_and_results_trace():
    @trace
    def f(p, q):
        return Point(p.w @ q.x, np.sum(p.b) * q.y)

    p = Params(np.ones((2, 3)), np.array([1.0, 2.0]))
    q = Point(np.arange(3.0), 2.0)
    out = f(p, q)
    assert type(out) is Point
    np.testing.assert_array_equal(out.x, [3.0, 3.0])
    assert out.y == 6.0
    graph = f.trace(p, q)
    names = [graph.nodes[n]["name"] for n in graph.graph["inputs"]]
    assert names == ["p.w", "p.b", "q.x", "q.y"]
    assert leaf_paths(p, "p") == ["p.w", "p.b"]


def test_namedtuple_of_a_new_class_traces_anew():
    Other = namedtuple("Other", "x y")
    f = trace(lambda p: p.x + p.y)
    f(Point(1.0, 2.0))
    f(Other(1.0, 2.0))
    f(Point(3.0, 4.0))
    assert f.trace_count == 2


CAPTURED = Point(np.array([1.0, 2.0]), 3.0)


def test_a_captured_namedtuple_is_read_at_every_call():
    global CAPTURED
    f = trace(lambda x: x * CAPTURED.x + CAPTURED.y)
    np.testing.assert_array_equal(f(1.0), [4.0, 5.0])
    old = CAPTURED
    try:
        CAPTURED = Point(np.array([10.0, 20.0]), 0.0)
        np.testing.assert_array_equal(f(1.0), [10.0, 20.0])
        assert f.trace_count == 1  # its leaves are inputs, not part of the key
    finally:
        CAPTURED = old


# ----- saved graphs: the class is named, never imported -----


def test_saved_namedtuple_structure_rebuilds_a_class_this_process_knows(tmp_path):
    f = trace(lambda p: Point(p.x * 2.0, p.y))
    graph = f.trace(Point(1.0, 2.0))
    save(graph, tmp_path / "g.json")
    loaded = load(tmp_path / "g.json")
    assert evaluate(loaded, Point(3.0, 4.0)) == Point(6.0, 4.0)
    assert type(evaluate(loaded, Point(3.0, 4.0))) is Point


def test_an_unknown_class_rebuilds_a_plain_tuple_and_nothing_is_imported():
    graph = trace(lambda p: Point(p.x * 2.0, p.y)).trace(Point(1.0, 2.0))
    doc = json.loads(to_json(graph))
    out_tree = doc["graph"]["graph"]["out_tree"]
    out_tree["class"] = "not_a_module_xyz.Evil"
    loaded = from_json(json.dumps(doc))
    assert "not_a_module_xyz" not in sys.modules
    out = evaluate(loaded, Point(3.0, 4.0))
    assert type(out) is tuple and out == (6.0, 4.0)
    assert "not_a_module_xyz" not in sys.modules
    # the same for a class whose fields changed since
    assert type(unflatten({**flatten(Point(1, 2))[1], "fields": ["a", "b"]}, [1, 2])) is tuple


@pytest.mark.parametrize(
    "bad",
    [
        {"class": 3},
        {"fields": ["x"]},
        {"fields": "xy"},
        {"fields": [1, 2]},
    ],
)
def test_a_malformed_namedtuple_node_is_refused(bad):
    graph = trace(lambda p: p.x * 2.0).trace(Point(1.0, 2.0))
    doc = json.loads(to_json(graph))
    doc["graph"]["graph"]["in_tree"]["children"][0]["children"][0].update(bad)
    with pytest.raises(GraphFormatError, match="namedtuple"):
        from_json(json.dumps(doc))
