"""Jacobian graphs: one reverse pass per output element, or one forward pass per input element.

``build_jacobian_graph`` picks the cheaper mode (fewer passes) unless told; each
block ``d out_o / d in_w`` has shape ``out_o.shape + in_w.shape``, as in JAX.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compiler.autodiff import (
    Builder,
    _inexact,
    active_nodes,
    backward_pass,
    copy_forward,
    flat_tree,
    prune,
    zeros_for,
)
from compiler.forward import forward_pass
from tracer import ops
from tracer.errors import TracegradError
from tracer.graph import Graph


def _size(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _one_hot(b: Builder, at: int, i: int, shape, dtype, role: str):
    arr = np.zeros(shape, dtype=dtype)
    arr.reshape(-1)[i] = 1
    start = b.graph.next_id
    with b.in_context(at):
        node = b.const(arr)
    b.tag(start, at, role=role, seed=True)
    return node


def _assemble(b: Builder, at: int, parts, axis: int, shape, role: str):
    start = b.graph.next_id
    with b.in_context(at):
        out = ops.reshape(ops.stack(parts, axis=axis), tuple(shape))
    b.tag(start, at, role=role)
    return out


def choose_mode(graph: Graph, wrt: Sequence[int]) -> str:
    """``"rev"`` when there are no more output elements than input elements, else ``"fwd"``."""
    n_out = sum(_size(graph.nodes[o]["shape"]) for o in graph.graph["outputs"])
    n_in = sum(_size(graph.nodes[w]["shape"]) for w in wrt)
    return "rev" if n_out <= n_in else "fwd"


def build_jacobian_graph(graph: Graph, wrt: Sequence[int], mode: str | None = None) -> Graph:
    """Outputs: for each forward output ``o`` and each ``w`` in ``wrt``, d o / d w."""
    mode = mode or choose_mode(graph, wrt)
    if mode not in ("rev", "fwd"):
        raise TracegradError(f"jacobian mode must be 'rev', 'fwd' or None, got {mode!r}")
    g = copy_forward(graph)
    b = Builder(g)
    outs = list(graph.graph["outputs"])
    blocks: dict[tuple[int, int], int] = {}
    shape_of = lambda n: tuple(g.nodes[n]["shape"])  # noqa: E731
    dtype_of = lambda n: g.nodes[n]["dtype"]  # noqa: E731
    if mode == "rev":
        active = active_nodes(g, wrt)
        for oi, y in enumerate(outs):
            rows: dict[int, list] = {w: [] for w in wrt}
            if _inexact(dtype_of(y)):
                for i in range(_size(shape_of(y))):
                    seed = _one_hot(b, y, i, shape_of(y), dtype_of(y), "backward")
                    totals = backward_pass(b, [(y, seed)], wrt, active)
                    for w in wrt:
                        t = totals.get(w)
                        rows[w].append(t if t is not None else zeros_for(b, w, y))
            for wi, w in enumerate(wrt):
                shape = shape_of(y) + shape_of(w)
                if rows[w]:
                    blocks[oi, wi] = _assemble(b, y, rows[w], 0, shape, "backward").node
                else:
                    blocks[oi, wi] = _zeros(b, y, shape, dtype_of(w), "backward")
    else:
        cols: dict[tuple[int, int], list] = {}
        for wi, w in enumerate(wrt):
            if not _inexact(dtype_of(w)):
                continue
            for j in range(_size(shape_of(w))):
                tangent = _one_hot(b, w, j, shape_of(w), dtype_of(w), "tangent")
                tangents = forward_pass(b, {w: tangent})
                for oi, y in enumerate(outs):
                    t = tangents.get(y)
                    cols.setdefault((oi, wi), []).append(
                        t if t is not None else zeros_for(b, y, y, role="tangent")
                    )
        for oi, y in enumerate(outs):
            for wi, w in enumerate(wrt):
                shape = shape_of(y) + shape_of(w)
                parts = cols.get((oi, wi))
                if parts:
                    blocks[oi, wi] = _assemble(b, w, parts, -1, shape, "tangent").node
                else:
                    blocks[oi, wi] = _zeros(b, w, shape, dtype_of(y), "tangent")
    g.graph["outputs"] = [blocks[oi, wi] for oi in range(len(outs)) for wi in range(len(wrt))]
    g.graph["out_tree"] = flat_tree(len(g.graph["outputs"]))
    g.graph["jacobian_mode"] = mode
    return prune(g)


def _zeros(b: Builder, at: int, shape, dtype, role: str) -> int:
    start = b.graph.next_id
    with b.in_context(at):
        z = b.const(np.zeros((), dtype=dtype))
        z = ops.broadcast_to(z, tuple(shape))
    b.tag(start, at, role=role)
    return z.node
