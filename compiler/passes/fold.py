"""Constant folding: evaluate, at compile time, every op whose operands are all constants.

The node becomes a ``const`` in place (same id, name, source and role), using
the primitive's own NumPy implementation, so the numbers are the ones the
executor would have computed. Folding never builds big arrays: results above
``FOLD_LIMIT`` elements stay ops, and ``broadcast_to`` of a constant is only
folded when the result is small (otherwise it stays a cheap read-only view).
"""

from __future__ import annotations

import numpy as np

from tracer.graph import Graph
from tracer.primitives import PRIMITIVES
from tracer.primitives.shape_ops import broadcast_to_p

FOLD_LIMIT = 1_000_000
BROADCAST_FOLD_LIMIT = 1024


def foldable(g: Graph, n: int) -> bool:
    """True when ``n`` is an op on constants whose result is small enough to store."""
    nodes = g.node_attrs
    d = nodes[n]
    if d["op"] in ("input", "const") or not g.operand_ids(n):
        return False
    if any(nodes[u]["op"] != "const" for u in g.operand_ids(n)):
        return False
    size = size_of(d["shape"])
    if size > FOLD_LIMIT:
        return False
    return not (
        d["op"] == broadcast_to_p.name
        and size > BROADCAST_FOLD_LIMIT
        and size > max(size_of(nodes[u]["shape"]) for u in g.operand_ids(n))
    )


def evaluate_node(g: Graph, n: int) -> np.ndarray | None:
    """The value of ``n`` from its constant operands, or None if it cannot be computed here."""
    nodes = g.node_attrs
    d = nodes[n]
    args = [nodes[u]["value"] for u in g.operands(n)]
    try:
        with np.errstate(all="ignore"):
            out = PRIMITIVES[d["op"]].impl(*args, **d["params"])
        arr = np.array(out, copy=True)
    except Exception:  # the executor will raise it, with the node named, at run time
        return None
    if arr.shape != tuple(d["shape"]) or arr.dtype.name != d["dtype"]:
        return None
    arr.setflags(write=False)
    return arr


def make_const(g: Graph, n: int, value: np.ndarray) -> None:
    """Turn ``n`` into a ``const`` holding ``value`` (in place: users and attrs unchanged)."""
    g.clear_operands(n)
    d = g.attrs(n)
    d["op"] = "const"
    d["params"] = {}
    d["value"] = value


def size_of(shape) -> int:
    """The number of elements of an array of ``shape`` (exact Python ints)."""
    n = 1
    for s in shape:
        n *= int(s)
    return n
