"""Jacobian graphs: a reverse pass per output element, or a forward pass per input element.

``build_jacobian_graph`` picks the cheaper mode (fewer passes) unless told; each
block ``d out_o / d in_w`` has shape ``out_o.shape + in_w.shape``, as in JAX.
The passes are one batched pass (``compiler.vmap``) over the basis of one-hot
seeds, as JAX's ``jacrev``/``jacfwd`` do; a graph with a primitive that has no
batching rule gets one pass per seed instead.
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
from compiler.vmap import build_vmap_graph
from tracer import ops
from tracer.captures import capture_nodes, explicit_inputs
from tracer.errors import TracegradError
from tracer.graph import Graph
from tracer.primitives import PRIMITIVES, STRUCTURAL_OPS
from tracer.staging import Stage
from tracer.traced import TracedArray


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
    if _batchable(graph, wrt, mode):
        g = _batched_jacobian(graph, wrt, mode)
        g.graph["jacobian_mode"] = mode
        return prune(g)
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


# ----- one batched pass over the one-hot seeds -----


def _batchable(graph: Graph, wrt: Sequence[int], mode: str) -> bool:
    """True when every primitive of ``graph`` has a batching rule and there are seeds."""
    seeded = graph.graph["outputs"] if mode == "rev" else wrt
    if (
        sum(_size(graph.nodes[n]["shape"]) for n in seeded if _inexact(graph.nodes[n]["dtype"]))
        == 0
    ):
        return False
    return all(
        d["op"] in STRUCTURAL_OPS or PRIMITIVES[d["op"]].batch is not None
        for d in graph.node_attrs.values()
    )


def _batched_jacobian(graph: Graph, wrt: Sequence[int], mode: str) -> Graph:
    """The Jacobian as one pass (reverse: a vjp; forward: a jvp) batched over the seeds.

    Seed ``k`` is one-hot at element ``k`` of the seeded values (the float outputs in
    reverse mode, the float ``wrt`` inputs in forward mode) laid end to end, so row
    ``k`` of each batched result is one row (column) of every block at once.
    """
    g = copy_forward(graph)
    b = Builder(g)
    outs = list(graph.graph["outputs"])
    role = "backward" if mode == "rev" else "tangent"
    seeded = [n for n in (outs if mode == "rev" else wrt) if _inexact(g.nodes[n]["dtype"])]
    seeds = [_seed_input(g, n, role) for n in seeded]
    if mode == "rev":
        active = active_nodes(g, wrt)
        totals = backward_pass(b, [(y, b.wrap(s)) for y, s in zip(seeded, seeds)], wrt, active)
        results = [totals[w] if w in totals else zeros_for(b, w, w) for w in wrt]
    else:
        tangents = forward_pass(b, {w: b.wrap(s) for w, s in zip(seeded, seeds)})
        results = [tangents[y] if y in tangents else zeros_for(b, y, y, role=role) for y in outs]
    explicit, captures = explicit_inputs(graph), capture_nodes(graph)
    g.graph["inputs"] = explicit + seeds + captures
    g.graph["outputs"] = [r.node for r in results]
    sizes = [_size(g.nodes[n]["shape"]) for n in seeded]
    env: dict = {}
    in_dims = [None] * len(explicit) + [0] * len(seeds)
    bg = build_vmap_graph(g, in_dims, sum(sizes), [0] * len(results), env)
    # the seeds are the rows of an identity matrix: constants, no longer inputs
    basis, offsets = np.eye(sum(sizes)), dict(zip(seeded, np.cumsum([0, *sizes]).tolist()))
    for n, s in zip(seeded, seeds):
        d = bg.nodes[env[s][0]]
        value = basis[:, offsets[n] : offsets[n] + _size(g.nodes[n]["shape"])]
        value = value.astype(d["dtype"]).reshape(d["shape"])
        value.setflags(write=False)
        d.update(op="const", value=value)
        d.pop("fetch", None)
    bg.graph["inputs"] = [env[n][0] for n in explicit + captures]
    batched = dict(zip(wrt if mode == "rev" else outs, bg.graph["outputs"]))
    stage = Stage(bg, TracedArray)
    blocks = []
    for o in outs:
        for w in wrt:
            seed, result = (o, w) if mode == "rev" else (w, o)
            at = env[seed][0]
            first = bg.next_id
            with stage.at(bg.nodes[at].get("source"), tuple(bg.nodes[at].get("scope") or ())):
                block = _block(g, stage, batched[result], o, w, offsets.get(seed), mode)
            _tag(bg, first, role, at)
            blocks.append(block)
    bg.graph["outputs"] = blocks
    bg.graph["out_tree"] = flat_tree(len(blocks))
    return bg


def _seed_input(g: Graph, n: int, role: str) -> int:
    d = g.nodes[n]
    return g.add_op("input", (), {}, d["shape"], d["dtype"], name=f"seed_{d.get('name') or n}",
                    source=d.get("source"), scope=d.get("scope", ()), role=role, grad_of=n,
                    seed=True)  # fmt: skip


def _block(g: Graph, stage: Stage, batched: int, o: int, w: int, offset, mode: str) -> int:
    """Block ``d o / d w`` from the batched result's rows seeded by ``o`` (rev) or ``w``."""
    shape = tuple(g.nodes[o]["shape"]) + tuple(g.nodes[w]["shape"])
    if offset is None:  # an integer output (rev) or input (fwd): nothing flows
        dtype = g.nodes[w if mode == "rev" else o]["dtype"]
        zero = stage.wrap(stage.const(np.zeros((), dtype=dtype)))
        return ops.broadcast_to(zero, shape).node
    count = _size(g.nodes[o if mode == "rev" else w]["shape"])
    rows = ops.getitem(stage.wrap(batched), slice(offset, offset + count))
    if mode == "fwd":  # (input element, *output shape): the input's axes go last
        rows = ops.moveaxis(rows, 0, -1)
    return ops.reshape(rows, shape).node


def _tag(graph: Graph, first: int, role: str, grad_of: int) -> None:
    """Nodes from id ``first`` on are derivative nodes of ``grad_of``."""
    for nid in range(first, graph.next_id):
        graph.nodes[nid].setdefault("role", role)
        graph.nodes[nid].setdefault("grad_of", grad_of)
