"""The reference interpreter: ``evaluate(graph, *args)`` runs a graph node by node with NumPy.

One loop over the nodes in topological order and a dict of values (no
recursion); each value is dropped after its last use.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from tracer.captures import capture_leaves
from tracer.debug import bad_values, nan_error
from tracer.errors import EvaluationError, GraphError, TracegradError
from tracer.graph import Graph, format_node
from tracer.primitives import get_primitive
from tracer.pytree import flatten, unflatten
from tracer.spec import duck_name, format_aval, is_duck_array


def flatten_args(graph, args: tuple, kwargs: dict | None = None) -> list:
    """The dynamic leaves of ``(args, kwargs)`` in the order of ``graph.inputs``."""
    in_tree = graph.graph.get("in_tree")
    kwargs = kwargs or {}
    if in_tree is None:
        if kwargs:
            raise TypeError("this graph has no argument structure; pass its inputs positionally")
        return list(args)
    arg_defs = in_tree["children"][0]["children"]
    if len(args) != len(arg_defs):
        raise TypeError(
            f"{graph.graph.get('name', 'graph')} takes {len(arg_defs)} positional arguments "
            f"but {len(args)} were given"
        )
    static = [d["type"] == "static" for d in arg_defs]
    dyn_args = tuple(None if s else a for a, s in zip(args, static))
    leaves, tree = flatten((dyn_args, kwargs))
    expect = _strip_static(in_tree)
    if tree != expect:
        raise TypeError(
            f"arguments do not match the structure the graph was traced with: "
            f"expected {_describe(expect)}, got {_describe(tree)}"
        )
    return leaves


def _strip_static(tree: dict) -> dict:
    if tree["type"] == "static":
        return {"type": "none"}
    if "children" in tree:
        out = dict(tree)
        out["children"] = [_strip_static(c) for c in tree["children"]]
        return out
    return tree


def _describe(tree: dict) -> str:
    kind = tree["type"]
    if kind in ("leaf", "none", "static"):
        return {"leaf": "*", "none": "None", "static": "static"}[kind]
    inner = ", ".join(_describe(c) for c in tree["children"])
    if kind == "namedtuple":
        return f"{tree['class'].rsplit('.', 1)[-1]}({inner})"
    if kind == "dict":
        inner = ", ".join(f"{k!r}: {_describe(c)}" for k, c in zip(tree["keys"], tree["children"]))
        return "{" + inner + "}"
    return ("(" + inner + ")") if kind == "tuple" else ("[" + inner + "]")


def check_inputs(graph, flat: list) -> list[np.ndarray]:
    """Convert ``flat`` to arrays matching the graph's input nodes, or raise a clear error.

    ``flat`` holds every input, or the arguments' leaves only: then the graph's
    captured values (``tracer.captures``) are read and appended. Arrays of other
    libraries (a Dask array) are refused, never converted whole into this process.
    """
    flat = with_captures(graph, flat)
    nodes = graph.nodes
    return [check_input(nodes[n], leaf, f"%{n}") for n, leaf in zip(graph.graph["inputs"], flat)]


def with_captures(graph, flat: list) -> list:
    """Every input of ``graph``: ``flat`` itself, or its argument leaves plus the captures."""
    ins = graph.graph["inputs"]
    caps = graph.graph.get("captures")
    if caps and len(flat) == len(ins) - len(caps):  # the arguments only: read the captures
        flat = list(flat) + capture_leaves(graph)
    if len(flat) != len(ins):
        raise TypeError(f"graph takes {len(ins)} input arrays, got {len(flat)}")
    return flat


def check_input(d: dict, leaf, fallback: str = "?") -> np.ndarray:
    """One input leaf as the NumPy array its node ``d`` expects (shape, dtype), or an error
    naming the input (its name, else ``fallback``)."""
    label = d.get("name") or fallback
    if is_duck_array(leaf):
        raise TracegradError(
            f"input {label} is a {duck_name(leaf)}: NumPy code would convert it whole into "
            "this process; run it on its own back end (compile/grad(..., backend='dask') for "
            "a Dask array, backend='array_api' for a CuPy or other array-API array; chosen "
            "when backend is not given) or convert it first"
        )
    try:
        arr = np.asarray(leaf)
    except (ValueError, TypeError) as exc:
        raise TracegradError(f"input {label}: cannot convert to an array: {exc}") from None
    want = np.dtype(d["dtype"])
    if arr.dtype != want:
        # Python numbers cast like NumPy's weak scalars, arrays within their kind;
        # a complex never silently loses its imaginary part, an int never wraps.
        src = type(leaf) if isinstance(leaf, (bool, int, float, complex)) else arr.dtype
        try:
            if not np.can_cast(src, want, "same_kind"):
                raise TypeError("not a same-kind cast")
            arr = arr.astype(want)
        except (TypeError, ValueError, OverflowError):
            raise TracegradError(
                f"input {label}: expected {format_aval(d['shape'], want)}, got "
                f"{format_aval(arr.shape, arr.dtype)} {leaf!r:.40}"
            ) from None
    if tuple(arr.shape) != tuple(d["shape"]):
        raise TracegradError(f"input {label}: expected shape {tuple(d['shape'])}, got {arr.shape}")
    return arr


def evaluate_flat(graph, flat: list, *, check_nans: bool = False) -> list:
    """Evaluate ``graph`` on its flat input arrays; return its flat outputs.

    With ``check_nans`` the first node (in topological order) whose output holds
    NaN or Inf raises ``NaNError`` naming the node, its operands and source line.
    """
    arrays = check_inputs(graph, flat)
    env: dict[int, object] = dict(zip(graph.graph["inputs"], arrays))
    if check_nans:
        for n, arr in env.items():
            if bad_values(arr):
                raise nan_error(graph, n, arr, [])
    try:  # Graph's methods as functions: any networkx.MultiDiGraph in the IR schema runs
        order = Graph.topo_order(graph)
    except nx.NetworkXUnfeasible:
        raise GraphError("cannot evaluate a graph with a cycle (see validate(graph))") from None
    outputs = graph.graph["outputs"]
    # last use of each value, so intermediates are dropped early
    last: dict[int, int] = {}
    for pos, n in enumerate(order):
        for u in Graph.operand_ids(graph, n):
            last[u] = pos
    keep = set(outputs)
    nodes = graph.nodes
    for pos, n in enumerate(order):
        d = nodes[n]
        op = d["op"]
        if op == "input":
            continue
        if op == "const":
            env[n] = d["value"]
            continue
        try:
            args = [env[u] for u in Graph.operands(graph, n)]
        except KeyError as exc:
            raise GraphError(
                f"node %{n} reads %{exc.args[0]}, which has no value: an input node not listed "
                "in the graph's inputs? (see validate(graph))"
            ) from None
        try:
            with np.errstate(all="ignore"):
                env[n] = get_primitive(op).impl(*args, **d["params"])
        except Exception as exc:
            raise EvaluationError(
                f"while evaluating node {format_node(graph, n)} "
                f"(from {d.get('source') or 'unknown source'}): {type(exc).__name__}: {exc}"
            ) from exc
        if check_nans and bad_values(env[n]):
            raise nan_error(graph, n, env[n], list(zip(Graph.operands(graph, n), args)))
        for u in Graph.operand_ids(graph, n):
            if last.get(u) == pos and u not in keep:
                env.pop(u, None)
    return [_as_result(env[o]) for o in outputs]


def _as_result(v):
    arr = np.asarray(v)
    return arr[()] if arr.ndim == 0 else arr


def evaluate(graph, *args, **kwargs):
    """Run ``graph`` on the same arguments its function takes; return the same structure.

    Args:
        graph: a traced graph (``f.trace(...)`` or ``load(...)``).
        *args: arrays, numbers and pytrees, as the traced function was called with.
            Captured globals and closure values are read now (a loaded graph uses
            the values saved with it).

        **kwargs: keyword arguments, likewise.

    Returns:
        The outputs, rebuilt into the function's output structure.

    Example:
        >>> import numpy as np
        >>> from tracer import evaluate, trace
        >>> g = trace(lambda x, y: (x + y, x * y)).trace(np.ones(2), 3.0)
        >>> evaluate(g, np.array([1.0, 2.0]), 3.0)
        (array([4., 5.]), array([3., 6.]))
    """
    outs = evaluate_flat(graph, flatten_args(graph, args, kwargs) + capture_leaves(graph))
    out_tree = graph.graph.get("out_tree")
    return unflatten(out_tree, outs) if out_tree is not None else tuple(outs)
