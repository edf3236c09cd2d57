"""Fuzzing ``load`` (``tracer.serialize.from_json``): hostile graph files fail cleanly or run right.

Valid saved graphs (a forward graph over many primitives, its gradient graph, a
pytree graph) are mutated by hypothesis: random JSON edits anywhere in the
document (values replaced by other JSON, keys and list items deleted or
duplicated, numbers nudged), truncated or byte-edited text, hostile names,
sources, scopes and params. Every result must be one of two things:

- ``GraphFormatError`` (nothing else: no KeyError, TypeError, RecursionError, ...);
- a graph that passes ``validate`` and runs, giving the same numbers in the
  reference interpreter and in compiled code (or the same ``EvaluationError``).

Nothing from the file is ever executed: ``eval``/``exec``/``__import__`` payloads
in every string field leave a sentinel untouched. The hand-written cases below
the fuzzers pin down each class of bad file the issue names.
"""

from __future__ import annotations

import builtins
import copy
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compiler import build_grad_graph, render
from compiler.executor import Executable
from tracer import (
    EvaluationError,
    GraphFormatError,
    Spec,
    TracegradError,
    load,
    serialize,
    trace,
    validate,
)
from tracer.interpreter import evaluate_flat
from tracer.primitives import PRIMITIVES
from tracer.serialize import from_json, to_json

pytestmark = pytest.mark.fuzz  # make test-floors leaves these out (see the Makefile)

SETTINGS = dict(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_RUN_ELEMENTS = 100_000  # a mutated graph bigger than this validates but is not run

# ----- valid graphs to start from -----


def program(x, w, idx):
    h = np.tanh(x @ w)  # matmul, tanh
    g = h[:, idx]  # getitem with an index array operand
    s = np.clip(g, -0.5, 0.5) + np.maximum(g, 0.1) * 2.0
    t = np.where(s > 0, np.exp(s), np.log1p(s * s))
    u = np.concatenate([t, np.transpose(t)[:2].reshape(1, 4)], axis=0)
    v = np.max(u, axis=1, keepdims=True) - np.sum(u.astype(np.float32), axis=1, keepdims=True)
    return np.sum(v**2) / 3.0 + np.mean(np.sqrt(np.abs(x) + 1.0))


def tree_program(params, scale):
    out = {"a": params["w"] * scale, "b": np.sin(params["b"])}
    return out, np.sum(out["a"]) + np.sum(out["b"])


X = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
W = np.linspace(0.5, -0.5, 12).reshape(3, 4)
IDX = np.array([0, 3, 1, 1])


def base_graphs() -> dict[str, str]:
    fwd = trace(program).trace(X, W, IDX)
    grad = build_grad_graph(fwd, wrt=fwd.graph["inputs"][:2])
    tree = trace(tree_program).trace({"w": Spec((2, 2)), "b": Spec((3,))}, 2.0)
    return {"forward": to_json(fwd), "grad": to_json(grad), "tree": to_json(tree)}


BASE = base_graphs()


def inputs_for(graph) -> list:
    rng = np.random.default_rng(0)
    out = []
    for n in graph.graph["inputs"]:
        d = graph.nodes[n]
        dtype = np.dtype(d["dtype"])
        if dtype.kind in "iub":
            out.append(rng.integers(0, 2, size=d["shape"]).astype(dtype))
        else:
            out.append(rng.uniform(-1.5, 1.5, size=d["shape"]).astype(dtype))
    return out


def check_loaded(text: str) -> str:
    """Load ``text``; a graph must validate and run alike in both back ends. Returns the outcome."""
    try:
        g = from_json(text)
    except GraphFormatError:
        return "rejected"
    validate(g)
    # the drawing copes with whatever passed validation (backward: if it can differentiate)
    assert render(g, max_nodes=None).source.startswith("digraph")
    try:
        assert render(g, backward=True, max_nodes=None).source.startswith("digraph")
    except TracegradError as exc:
        assert "grad needs" in str(exc), exc
    sizes = [int(np.prod(d["shape"], dtype=object)) for d in g.nodes.values()]
    if max(sizes, default=0) > MAX_RUN_ELEMENTS:
        return "loaded (too big to run)"
    args = inputs_for(g)
    try:
        expected = evaluate_flat(g, args)
    except EvaluationError:
        with pytest.raises(EvaluationError):
            Executable(g)(args)
        return "loaded (fails at run time in both)"
    got = Executable(g)(args)
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, equal_nan=True)
    return "loaded and ran"


# ----- JSON edits -----

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 8),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "",
            "exp",
            "add",
            "input",
            "const",
            "float64",
            "int64",
            "tuple",
            "leaf",
            "__ndarray__",
            "system",
            "object",
            "%0",
            "1e308",
        ]
    ),  # fmt: skip
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


SIMILAR = {
    int: st.one_of(st.integers(-3, 12), st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**30])),
    bool: st.booleans(),
    float: st.one_of(st.floats(-4, 4), st.sampled_from([1e308, -1e308, 5e-324])),
    str: st.sampled_from(["float32", "float64", "int64", "bool", "complex128", "uint8", "exp",
                          "sin", "neg", "add", "mul", "sum", "max", "reshape", "transpose",
                          "input", "const", "leaf", "tuple", "forward", "backward", "AAAA",
                          "AAAAAAAAAAA=", "int", "slice", "array", "newaxis", "ellipsis"]),
    list: st.lists(st.integers(-2, 5), max_size=4),
}  # fmt: skip


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


def _peek(parent, key):
    """The value now at ``parent[key]`` (None once deleted), for the report."""
    try:
        return parent[key]
    except (KeyError, IndexError):
        return None


def _get(obj, path):
    for p in path:
        obj = obj[p]
    return obj


class Doc(dict):
    """A mutated document whose repr (in hypothesis reports) is the list of edits made."""

    def __repr__(self) -> str:
        return f"Doc({self.base}: {self.edits})"


@st.composite
def edited_documents(draw):
    name = draw(st.sampled_from(sorted(BASE)))
    doc = Doc(json.loads(BASE[name]))
    doc.base, doc.edits = name, []
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))[1:]
        path = paths[draw(st.integers(0, len(paths) - 1))]
        parent, key = _get(doc, path[:-1]), path[-1]
        kinds = ["replace", "delete", "duplicate", "swap", "similar", "similar", "similar"]
        kind = draw(st.sampled_from(kinds))
        old = parent[key]
        if kind == "delete":
            del parent[key]
        elif kind == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(old))
        elif kind == "swap" and isinstance(parent, list) and len(parent) > 1:
            other = draw(st.integers(0, len(parent) - 1))
            parent[key], parent[other] = parent[other], old
        elif kind == "similar" and type(old) in SIMILAR:  # same type, another plausible value
            parent[key] = draw(SIMILAR[type(old)])
        else:
            parent[key] = draw(json_values)
        doc.edits.append((kind, path, _peek(parent, key)))
    return doc


@settings(max_examples=1500, **SETTINGS)
@given(edited_documents())
def test_random_json_edits_load_cleanly_or_run_alike(doc):
    event(check_loaded(json.dumps(doc)))


@settings(max_examples=300, **SETTINGS)
@given(st.sampled_from(sorted(BASE)), st.data())
def test_truncated_and_byte_edited_text(name, data):
    text = BASE[name]
    cut = data.draw(st.integers(0, len(text) - 1))
    assert check_loaded(text[:cut]) == "rejected"
    pos = data.draw(st.integers(0, len(text) - 1))
    ch = data.draw(st.sampled_from(list('{}[]",:0123456789-.eEtfn \\x')))
    event(check_loaded(text[:pos] + ch + text[pos + 1 :]))


@st.composite
def param_edits(draw):
    """Plausible params (ints, negative axes, int lists, bools, None) on nodes that take them."""
    name = draw(st.sampled_from(sorted(BASE)))
    doc = Doc(json.loads(BASE[name]))
    doc.base, doc.edits = name, []
    nodes = [n for n in doc["graph"]["nodes"] if n.get("params")]
    value = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-4, 6),
        st.lists(st.integers(-4, 6), max_size=4),
        st.lists(st.one_of(st.integers(-4, 6), st.none(), st.lists(st.integers(-3, 4), max_size=4)),
                 max_size=4),
        st.floats(-3, 3),
    )  # fmt: skip
    for _ in range(draw(st.integers(1, 2))):
        node = draw(st.sampled_from(nodes))
        key = draw(st.sampled_from(sorted(node["params"])))
        node["params"][key] = draw(value)
        doc.edits.append((node["op"], key, node["params"][key]))
    if draw(st.booleans()):
        _rederive_avals(doc)  # so that a change of shape travels down the graph
        doc.edits.append("avals re-derived")
    return doc


def _tuples(v):
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


def _rederive_avals(doc) -> None:
    """Recompute every node's shape and dtype with the shape rules, in id (creation) order."""
    nodes = {n["id"]: n for n in doc["graph"]["nodes"]}
    operands: dict[int, list] = {}
    for e in doc["graph"]["edges"]:
        operands.setdefault(e["target"], []).append((e["arg"], e["source"]))
    for nid in sorted(nodes):
        node = nodes[nid]
        if node["op"] in ("input", "const"):
            continue
        args = [nodes[u] for _, u in sorted(operands.get(nid, []))]
        try:
            avals = [Spec.of(tuple(a["shape"]), a["dtype"]) for a in args]
            params = {k: _tuples(v) for k, v in node["params"].items()}
            shape, dtype = PRIMITIVES[node["op"]].abstract_eval(*avals, **params)
        except Exception:  # the rule rejects the edit: validation will too
            continue
        node["shape"], node["dtype"] = [int(d) for d in shape], np.dtype(dtype).name


@settings(max_examples=500, **SETTINGS)
@given(param_edits())
def test_random_params_load_cleanly_or_run_alike(doc):
    event(check_loaded(json.dumps(doc)))


# ----- hostile strings never run -----

PAYLOADS = [
    "__import__('builtins').PWNED = 1",
    "x'); __import__('builtins').PWNED = 1 #",
    'x"); __import__("builtins").PWNED = 1 #',
    "\nimport builtins; builtins.PWNED = 1\n",
    "\\\n__import__('builtins').PWNED = 1",
    "{__import__('builtins').PWNED}",
    "}; PWNED [label=<b>x</b>]; {",
    '"]; pwned [label="x"]; x [label="',
    "<b>pwned</b>&amp;<br/>",
    "model.py:12\n__import__('builtins').PWNED = 1",
    "t3",
    "np",
    "_k",
    "None",
    "lambda",
    "",
]
hostile_text = st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=30))


@st.composite
def hostile_documents(draw):
    name = draw(st.sampled_from(sorted(BASE)))
    doc = json.loads(BASE[name])
    nodes = doc["graph"]["nodes"]
    for node in nodes:
        if draw(st.booleans()):
            node["name"] = draw(hostile_text)
        if draw(st.booleans()):
            node["source"] = draw(hostile_text)
        if draw(st.booleans()):
            node["scope"] = draw(st.lists(hostile_text, max_size=3))
        if draw(st.integers(0, 3)) == 0:  # gradient bookkeeping pointing anywhere
            node["role"] = draw(st.sampled_from(["forward", "backward", "tangent", "x"]))
            node["grad_of"] = draw(st.integers(-2, 200))
    doc["graph"]["graph"]["name"] = draw(hostile_text)
    # and a param or two replaced by a hostile value
    ops = [n for n in nodes if n.get("params")]
    for node in draw(st.lists(st.sampled_from(ops), max_size=2)):
        key = draw(st.sampled_from(sorted(node["params"])))
        node["params"][key] = draw(st.one_of(hostile_text, json_values))
    return doc


@settings(max_examples=500, **SETTINGS)
@given(hostile_documents())
def test_hostile_names_and_params_never_execute(doc):
    assert not hasattr(builtins, "PWNED")
    outcome = check_loaded(json.dumps(doc))
    event(outcome)
    assert not hasattr(builtins, "PWNED"), outcome


# ----- each class of bad file, by hand -----


def _doc(name="forward"):
    return json.loads(BASE[name])


def _node(doc, op):
    return next(n for n in doc["graph"]["nodes"] if n["op"] == op)


def _cycle(doc):
    ids = [n["id"] for n in doc["graph"]["nodes"] if n["op"] not in ("input", "const")]
    doc["graph"]["edges"].append({"source": ids[-1], "target": ids[0], "arg": 1, "key": 0})


def _self_loop(doc):
    n = _node(doc, "tanh")["id"]
    for e in doc["graph"]["edges"]:
        if e["target"] == n:
            e["source"] = n


def _drop_operand(doc):
    n = _node(doc, "matmul")["id"]
    doc["graph"]["edges"] = [
        e for e in doc["graph"]["edges"] if not (e["target"] == n and e["arg"] == 1)
    ]


def _extra_operand(doc):
    n, x = _node(doc, "tanh")["id"], _node(doc, "input")["id"]
    doc["graph"]["edges"].append({"source": x, "target": n, "arg": 1, "key": 9})


def _set(path, value):
    def edit(doc):
        parent = _get(doc, path[:-1])
        parent[path[-1]] = value

    return edit


def _node_attr(op, key, value):
    def edit(doc):
        _node(doc, op)[key] = value

    return edit


def _big_array(doc):
    const = _node(doc, "const")
    const["value"]["__ndarray__"][1] = [10**12, 10**12]
    const["shape"] = [10**12, 10**12]


BAD_FILES = {
    "cycle": _cycle,
    "self-loop": _self_loop,
    "unknown-op": _node_attr("exp", "op", "system"),
    "op-is-a-dunder": _node_attr("exp", "op", "__import__"),
    "missing-operand": _drop_operand,
    "extra-operand": _extra_operand,
    "shape-is-a-string": _node_attr("tanh", "shape", "2,4"),
    "shape-negative": _node_attr("tanh", "shape", [-2, 4]),
    "shape-wrong": _node_attr("tanh", "shape", [4, 2]),
    "dtype-object": _node_attr("tanh", "dtype", "object"),
    "dtype-not-a-string": _node_attr("tanh", "dtype", ["float64"]),
    "params-a-list": _node_attr("sum", "params", [1, 2]),
    "param-axis-string": _node_attr("sum", "params", {"axis": "0", "keepdims": False}),
    "param-axis-out-of-range": _node_attr("sum", "params", {"axis": [7], "keepdims": False}),
    "param-extra": _node_attr("tanh", "params", {"evil": "__import__('os')"}),
    "id-a-string": _node_attr("tanh", "id", "7"),
    "id-a-bool": _node_attr("tanh", "id", True),
    "edge-arg-float": _set(["graph", "edges", 0, "arg"], 0.5),
    "edge-to-nowhere": _set(["graph", "edges", 0, "target"], 10**9),
    "inputs-not-a-list": _set(["graph", "graph", "inputs"], 0),
    "output-missing": _set(["graph", "graph", "outputs"], [10**9]),
    "huge-array-short-data": _big_array,
    "array-data-not-base64": lambda d: _node(d, "const")["value"].update(
        {"__ndarray__": ["float64", [1], "$$$$"]}
    ),
    "array-dtype-object": lambda d: _node(d, "const")["value"].update(
        {"__ndarray__": ["object", [1], "AAAAAAAAAAA="]}
    ),
    "value-on-a-non-const": _node_attr("tanh", "value", {"__ndarray__": ["float64", [], ""]}),
    "version-2": _set(["version"], 2),
    "format-other": _set(["format"], "pickle"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_a_graph_format_error(name, tmp_path):
    doc = _doc()
    BAD_FILES[name](doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(GraphFormatError):
        load(path)


def test_oversized_file_is_refused_before_parsing(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_text(BASE["forward"])
    monkeypatch.setattr(serialize, "MAX_BYTES", 100)
    monkeypatch.setattr(json, "loads", lambda *a, **k: pytest.fail("parsed an oversized file"))
    with pytest.raises(GraphFormatError, match="over the limit"):
        load(path)


def test_deeply_nested_json_is_a_format_error():
    for depth in (1_000, 200_000):
        with pytest.raises(GraphFormatError):
            from_json("[" * depth + "]" * depth)
        with pytest.raises(GraphFormatError):
            from_json('{"a":' * depth + "1" + "}" * depth)


@pytest.mark.parametrize("name", sorted(BASE))
def test_base_graphs_load_and_run(name):
    assert check_loaded(BASE[name]) == "loaded and ran"
