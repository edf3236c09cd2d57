"""Forward mode: push tangents through a graph in topological order (``jvp``), in the same IR.

The tangent nodes carry ``role="tangent"`` and ``grad_of`` = the forward node whose
local derivative created them; the rules are the ``jvp`` of each primitive's
declaration (``tracer.primitives``). Tangents are broadcast to each value's shape and cast to its
dtype here, centrally.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from compiler.autodiff import (
    Builder,
    _inexact,
    copy_forward,
    flat_tree,
    prune,
    rule_operands,
    zeros_for,
)
from tracer import ops
from tracer.captures import capture_nodes, explicit_inputs
from tracer.graph import Graph
from tracer.primitives import PRIMITIVES
from tracer.traced import TracedArray


def _fit(t: TracedArray, shape, dtype) -> TracedArray:
    if t.shape != tuple(shape):
        t = ops.broadcast_to(t, tuple(shape))
    if t.dtype != np.dtype(dtype):
        t = ops.astype(t, dtype)
    return t


def forward_pass(b: Builder, tangents: dict[int, TracedArray]) -> dict[int, TracedArray]:
    """Propagate ``tangents`` (at some nodes) forward; return the tangent of every node reached."""
    graph = b.graph
    nodes = graph.nodes
    out = dict(tangents)
    for n in graph.topo_order():
        if n in out:
            continue
        d = nodes[n]
        if d["op"] in ("input", "const") or d.get("role") not in (None, "forward"):
            continue
        operands = graph.operands(n)
        ts = [out.get(u) for u in operands]
        if all(t is None for t in ts) or not _inexact(d["dtype"]):
            continue
        jvp = PRIMITIVES[d["op"]].jvp
        if jvp is None:
            continue
        with b.in_context(n):
            start = graph.next_id
            t = jvp(ts, *rule_operands(b, n, operands), y=b.wrap(n), **d["params"])
            if t is not None:
                out[n] = _fit(t, d["shape"], d["dtype"])
            b.tag(start, n, role="tangent")
    return out


def _jvp_in_tree(graph: Graph, primal_inputs: list[int]) -> dict | None:
    """Arguments ``(*primal args, *tangent args)``: the tangents mirror the primals' structure
    when every input gets one, else they are one positional array each."""
    in_tree = graph.graph.get("in_tree")
    if in_tree is None:
        return None
    args = in_tree["children"][0]["children"]
    if primal_inputs == explicit_inputs(graph):
        tangents = list(args)
    else:
        tangents = [{"type": "leaf"} for _ in primal_inputs]
    return {"type": "tuple", "children": [{"type": "tuple", "children": args + tangents},
                                          in_tree["children"][1]]}  # fmt: skip


def build_jvp_graph(graph: Graph, primal_inputs: Sequence[int] | None = None) -> Graph:
    """A graph of ``(outputs, output tangents)`` from ``(primals, tangents)``.

    Args:
        graph: the forward graph.
        primal_inputs: its inputs that get a tangent input (default: all of them,
            in order; non-float ones get a tangent input that is ignored).

    Returns:
        Inputs: the forward inputs, then one tangent input per primal input (named
        ``t_<name>``), then the forward graph's capture inputs, so
        ``evaluate(g, *primals, *tangents)`` runs it. Outputs: the
        forward outputs, then their tangents.
    """
    g = copy_forward(graph)
    b = Builder(g)
    explicit = explicit_inputs(graph)
    primal_inputs = list(explicit if primal_inputs is None else primal_inputs)
    seeds, tangent_inputs = {}, []
    for n in primal_inputs:
        d = g.nodes[n]
        tid = g.add_op("input", (), {}, d["shape"], d["dtype"], name=f"t_{d.get('name') or n}",
                       source=d.get("source"), scope=d.get("scope", ()), role="tangent",
                       grad_of=n)  # fmt: skip
        tangent_inputs.append(tid)
        if _inexact(d["dtype"]):
            seeds[n] = b.wrap(tid)
    tangents = forward_pass(b, seeds)
    outs = list(graph.graph["outputs"])
    touts = []
    for o in outs:
        t = tangents.get(o)
        touts.append((t if t is not None else zeros_for(b, o, o, role="tangent")).node)
    g.graph["inputs"] = explicit + tangent_inputs + capture_nodes(graph)
    g.graph["in_tree"] = _jvp_in_tree(graph, primal_inputs)
    g.graph["outputs"] = outs + touts
    g.graph["out_tree"] = flat_tree(len(outs) * 2)
    return prune(g)
