"""``validate(graph)``: check every invariant of the IR and say exactly which node breaks one."""

from __future__ import annotations

import networkx as nx
import numpy as np

from tracer.errors import GraphError
from tracer.graph import Graph
from tracer.primitives import PRIMITIVES, STRUCTURAL_OPS
from tracer.primitives.base import Primitive
from tracer.spec import Spec

_REQUIRED = ("op", "params", "shape", "dtype")


def _int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _ints(v) -> bool:
    return isinstance(v, tuple) and all(_int(i) for i in v)


def _number(v) -> bool:
    return v is None or isinstance(v, (int, float, np.number, np.bool_))


# Types of the params primitives take (the rules check values; a file could confuse types:
# keepdims=[None] is truthy to a shape rule but not to NumPy).
_PARAM_TYPES = {
    "keepdims": lambda v: isinstance(v, (bool, np.bool_)),
    "axis": lambda v: v is None or _int(v) or _ints(v),
    "shape": _ints,
    "axes": _ints,
    "decimals": _int,
    "lo": _number,
    "hi": _number,
    "dtype": lambda v: isinstance(v, str),
    "index": lambda v: isinstance(v, tuple),
}


def validate(graph: nx.MultiDiGraph) -> None:
    """Raise ``GraphError`` unless ``graph`` is a valid IR graph.

    Checks: acyclic; every node has the required attributes and a known op; one
    edge per operand with contiguous ``arg`` positions; arities; shapes and dtypes
    consistent with each primitive's rule; ``const`` values match their aval;
    ``inputs`` are ``input`` nodes and ``outputs`` exist.

    Args:
        graph: the graph to check (traced, transformed, loaded or built by hand).

    Returns:
        None; the graph is valid when no error is raised.

    Raises:
        GraphError: the first violation found, naming the node and the rule.

    Example:
        >>> import numpy as np
        >>> from tracer import trace, validate
        >>> validate(trace(np.tanh).trace(np.ones(3)))
    """
    if not isinstance(graph, nx.MultiDiGraph):
        raise GraphError(f"a graph must be a networkx.MultiDiGraph, got {type(graph).__name__}")
    if not nx.is_directed_acyclic_graph(graph):
        cycle = nx.find_cycle(graph)
        raise GraphError(f"graph has a cycle through nodes {[u for u, *_ in cycle]}")
    g = graph.graph
    for key in ("inputs", "outputs"):
        if not isinstance(g.get(key), list):
            raise GraphError(f"graph attribute {key!r} must be a list of node ids")
    inputs = g["inputs"]
    for nid in inputs:
        if nid not in graph or graph.nodes[nid].get("op") != "input":
            raise GraphError(f"graph input %{nid} is not an input node of the graph")
    if len(set(inputs)) != len(inputs):
        raise GraphError("graph inputs list a node twice")
    captures = g.get("captures")
    if captures is not None:
        if not isinstance(captures, list) or list(inputs[len(inputs) - len(captures) :]) != list(
            captures
        ):
            raise GraphError("graph captures must list the graph's last inputs, in order")
        for nid in captures:
            if not isinstance(graph.nodes[nid].get("capture"), str):
                raise GraphError(f"capture input %{nid} has no 'capture' label")
    for nid in g["outputs"]:
        if nid not in graph:
            raise GraphError(f"graph output %{nid} is not a node of the graph")
    for n, d in graph.nodes(data=True):
        _check_node(graph, n, d, inputs)


def _check_node(graph, n, d, inputs):
    where = f"node %{n}"
    for key in _REQUIRED:
        if key not in d:
            raise GraphError(f"{where} lacks attribute {key!r}")
    op = d["op"]
    if op not in PRIMITIVES and op not in STRUCTURAL_OPS:
        raise GraphError(f"{where} has unknown op {op!r}")
    if not isinstance(d["params"], dict):
        raise GraphError(f"{where}: params must be a dict")
    try:
        shape = tuple(int(s) for s in d["shape"])
        dtype = np.dtype(d["dtype"])
    except (TypeError, ValueError) as exc:
        raise GraphError(f"{where}: bad shape/dtype {d['shape']!r}/{d['dtype']!r}: {exc}") from None
    args = sorted(data["arg"] for _, _, data in graph.in_edges(n, data=True))
    if args != list(range(len(args))):
        raise GraphError(f"{where} ({op}): operand positions {args} are not 0..{len(args) - 1}")
    if op in STRUCTURAL_OPS:
        if args:
            raise GraphError(f"{where}: {op} nodes take no operands")
        if op == "input" and n not in inputs:
            raise GraphError(f"{where}: input node not listed in graph inputs")
        if op == "const":
            value = d.get("value")
            if not isinstance(value, np.ndarray):
                raise GraphError(f"{where}: const node without an array value")
            if value.shape != shape or value.dtype != dtype:
                raise GraphError(
                    f"{where}: const value is {value.dtype}{list(value.shape)}, "
                    f"node says {dtype}{list(shape)}"
                )
        return
    prim: Primitive = PRIMITIVES[op]
    if prim.arity is not None and len(args) != prim.arity:
        raise GraphError(f"{where}: {op} takes {prim.arity} operands, has {len(args)}")
    if set(d["params"]) != set(prim.params):
        raise GraphError(
            f"{where}: {op} takes params {sorted(prim.params)}, has {sorted(d['params'])}"
        )
    for key, value in d["params"].items():
        check = _PARAM_TYPES.get(key)
        if check is not None and not check(value):
            raise GraphError(f"{where}: {op} param {key}={value!r:.60} has the wrong type")
    operands = Graph.operands(graph, n)
    avals = [Spec.of(graph.nodes[u]["shape"], graph.nodes[u]["dtype"]) for u in operands]
    try:
        want_shape, want_dtype = prim.abstract_eval(*avals, **d["params"])
    except Exception as exc:  # any failure of a rule on crafted params is the graph's fault
        raise GraphError(f"{where}: {op} rejects its operands: {exc}") from None
    if tuple(want_shape) != shape or np.dtype(want_dtype) != dtype:
        raise GraphError(
            f"{where}: {op} gives {np.dtype(want_dtype)}{list(want_shape)}, node says "
            f"{dtype}{list(shape)}"
        )
