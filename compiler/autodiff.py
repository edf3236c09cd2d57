"""Reverse mode: build the reversed gradient graph of a traced graph, in the same IR.

For ``y = C(B(A(x)))`` the pass walks the forward graph from the output back to
the inputs, starting from dy/dy = 1 and applying each primitive's local
derivative (the ``vjp`` of its declaration in ``tracer.primitives``):
dy/dx = ((1 · C'(b)) · B'(a)) · A'(x). The result is one graph: a copy of the
forward graph (same node ids, ``role="forward"``) plus the backward nodes
(``role="backward"``, ``grad_of`` = the forward node whose local derivative
created them). Gradients of values used more than once are summed
(``accum=True`` nodes); gradients are reduced over broadcast axes and cast to
each input's dtype here, in one place. Everything is iterative, so
100,000-op chains differentiate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tracer import ops
from tracer.captures import explicit_inputs
from tracer.errors import TracegradError
from tracer.graph import Graph, subgraph_nodes
from tracer.primitives import PRIMITIVES
from tracer.spec import format_aval
from tracer.staging import Stage, gc_paused
from tracer.traced import TracedArray


def _inexact(dtype) -> bool:
    return np.dtype(dtype).kind in "fc"


class Builder:
    """Appends backward (or tangent) nodes to a copy of the forward graph."""

    def __init__(self, graph: Graph):
        self.graph = graph
        # each local derivative keeps its own constants (the book view draws them
        # inside their derivative's node); the optimiser merges equal ones later
        self.stage = Stage(graph, TracedArray, share_scalars=False)

    def wrap(self, n: int) -> TracedArray:
        return self.stage.wrap(n)

    def const(self, value) -> TracedArray:
        return self.stage.wrap(self.stage.const(value))

    def tag(self, start: int, grad_of: int, role: str = "backward", **attrs) -> None:
        """Mark the nodes created since id ``start`` as derived from forward node ``grad_of``."""
        nodes = self.graph.node_attrs
        for nid in range(start, self.graph.next_id):
            if nid in nodes and "role" not in nodes[nid]:
                nodes[nid]["role"] = role
                nodes[nid]["grad_of"] = grad_of
                nodes[nid].update(attrs)

    def in_context(self, n: int):
        """Create nodes with the source line and scope of forward node ``n``."""
        d = self.graph.node_attrs[n]
        return self.stage.at(d.get("source"), tuple(d.get("scope") or ()))


def rule_operands(b: Builder, n: int, operands: Sequence[int]) -> list[TracedArray]:
    """The operands of forward node ``n`` as its local derivative reads them.

    A local derivative is computed in the floating dtype of the value it
    differentiates: ``x / k`` with an integer ``k`` has d/dx = 1/k, which NumPy
    would compute as an integer (0) from ``k`` itself. So integer and boolean
    operands of a floating-point node are cast to the node's dtype here, once,
    for every rule (operands the primitive declares ``structural``, index arrays
    and ``where``'s condition, keep theirs).
    """
    d = b.graph.attrs(n)
    xs = [b.wrap(u) for u in operands]
    if not _inexact(d["dtype"]):
        return xs
    structural = PRIMITIVES[d["op"]].structural
    for i, x in enumerate(xs):
        if x.dtype.kind not in "fc" and not (structural is not None and structural(i)):
            xs[i] = ops.astype(x, d["dtype"])
    return xs


def unbroadcast(g: TracedArray, shape: tuple, dtype) -> TracedArray:
    """Sum ``g`` over the axes broadcasting added to ``shape``; cast to ``dtype``."""
    if g.shape != tuple(shape):
        lead = len(g.shape) - len(shape)
        if lead < 0:
            raise TracegradError(f"gradient of shape {g.shape} cannot reduce to {shape}")
        axes = tuple(range(lead)) + tuple(
            lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1
        )
        if axes:
            g = ops.sum(g, axis=axes, keepdims=False)
        if g.shape != tuple(shape):
            g = ops.reshape(g, shape)
    if g.dtype != np.dtype(dtype):
        g = ops.astype(g, dtype)
    return g


def active_nodes(graph: Graph, wrt: Sequence[int]) -> set[int]:
    """Forward nodes whose value depends differentiably on the ``wrt`` nodes."""
    active = {n for n in wrt if _inexact(graph.nodes[n]["dtype"])}
    nodes = graph.nodes
    for n in graph.topo_order():
        if n in active:
            continue
        d = nodes[n]
        if d["op"] in ("input", "const") or not _inexact(d["dtype"]):
            continue
        if not PRIMITIVES[d["op"]].differentiable:
            continue
        if any(u in active for u in graph.operand_ids(n)):
            active.add(n)
    return active


def backward_pass(
    b: Builder, seeds: Sequence[tuple[int, TracedArray]], wrt: Sequence[int], active: set[int]
) -> dict[int, TracedArray]:
    """Propagate ``seeds`` (``(output node, gradient)`` pairs) back to ``wrt``.

    Returns:
        The total gradient of every forward node reached (``wrt`` nodes the outputs
        do not depend on are absent).
    """
    graph = b.graph
    nodes = graph.node_attrs
    contributions: dict[int, list[TracedArray]] = {}
    for n, g in seeds:
        contributions.setdefault(n, []).append(g)
    totals: dict[int, TracedArray] = {}
    wrt_set = set(wrt)
    order = [n for n in graph.topo_order() if n in active]
    for n in reversed(order):
        parts = contributions.pop(n, None)
        if not parts:
            continue
        d = nodes[n]
        with b.in_context(n):
            start = graph.next_id
            g = parts[0]
            for p in parts[1:]:  # fan-out: a value used k times gets the sum of k gradients
                g = ops.add(g, p)
            b.tag(start, n, accum=True)
            totals[n] = g
            if n in wrt_set or d["op"] == "input":
                continue
            operands = graph.operands(n)
            start = graph.next_id
            xs = rule_operands(b, n, operands)
            grads = PRIMITIVES[d["op"]].vjp(g, *xs, y=b.wrap(n), **d["params"])
            if len(grads) != len(operands):
                raise TracegradError(
                    f"internal: vjp rule of {d['op']} returned {len(grads)} gradients "
                    f"for {len(operands)} operands"
                )
            for u, gu in zip(operands, grads):
                if gu is None or u not in active:
                    continue
                if not isinstance(gu, TracedArray):
                    raise TracegradError(f"internal: vjp rule of {d['op']} returned a constant")
                ud = nodes[u]
                contributions.setdefault(u, []).append(unbroadcast(gu, ud["shape"], ud["dtype"]))
            b.tag(start, n)
    return totals


def zeros_for(b: Builder, n: int, grad_of: int, role: str = "backward") -> TracedArray:
    """Zeros shaped like node ``n`` (a gradient or tangent where nothing flows)."""
    d = b.graph.nodes[n]
    start = b.graph.next_id
    with b.in_context(n):
        z = ops.broadcast_to(np.zeros((), dtype=d["dtype"]), tuple(d["shape"]))
        if not isinstance(z, TracedArray):
            z = b.const(np.zeros(tuple(d["shape"]), dtype=d["dtype"]))
    b.tag(start, grad_of, role=role)
    return z


def copy_forward(graph: Graph) -> Graph:
    """A copy of ``graph`` whose nodes all carry ``role="forward"``."""
    out = Graph.copy(graph if isinstance(graph, Graph) else Graph(graph))
    for d in out.node_attrs.values():
        d["role"] = "forward"
        for key in ("grad_of", "seed", "accum"):
            d.pop(key, None)
    return out


def prune(graph: Graph) -> Graph:
    """Drop nodes the outputs do not need (inputs always stay: they are the signature)."""
    keep = subgraph_nodes(graph, graph.graph["outputs"]) | set(graph.graph["inputs"])
    graph.remove_nodes_from([n for n in list(graph.nodes) if n not in keep])
    return graph


def _at(d: dict) -> str:
    """`` (at file.py:LINE)`` for a node with a source line."""
    return f" (at {d['source']})" if d.get("source") else ""


def build_grad_graph(
    graph: Graph,
    wrt: Sequence[int] | None = None,
    *,
    keep_value: bool = True,
    output: int = 0,
    extra_outputs: Sequence[int] = (),
) -> Graph:
    """The gradient graph of ``graph``'s scalar output ``output`` with respect to nodes ``wrt``.

    Args:
        graph: a forward graph (e.g. ``f.trace(x)``).
        wrt: input node ids to differentiate with respect to (default: every
            floating-point input).
        keep_value: also output the forward value (first), as ``value_and_grad`` does.
        output: which of the graph's outputs is differentiated.
        extra_outputs: forward nodes to output after the gradients (``has_aux``).

    Returns:
        A new graph with the same inputs; outputs are ``[value,] grad_0, grad_1, ...,
        *extra_outputs``, its ``out_tree`` a flat tuple (the API reshapes it).
        Graph attribute ``grads`` lists ``[forward id, gradient id]`` pairs.
    """
    outs = graph.graph["outputs"]
    if not 0 <= output < len(outs):
        raise TracegradError(f"graph has {len(outs)} outputs; cannot differentiate output {output}")
    y = outs[output]
    yd = graph.nodes[y]
    if tuple(yd["shape"]) != ():
        raise TracegradError(
            f"grad needs a scalar output, but {graph.graph.get('name', 'f')} returns "
            f"{format_aval(yd['shape'], yd['dtype'])}{_at(yd)}; use jacobian or vjp for "
            "non-scalar outputs (or reduce it, e.g. np.sum)"
        )
    if not _inexact(yd["dtype"]):
        raise TracegradError(
            f"grad needs a floating-point output, got {yd['dtype']}{_at(yd)}: the function is "
            "piecewise constant"
        )
    if wrt is None:  # every float argument (captured values are not arguments)
        wrt = [n for n in explicit_inputs(graph) if _inexact(graph.nodes[n]["dtype"])]
    with gc_paused():
        g = copy_forward(graph)
        b = Builder(g)
        start = g.next_id
        with b.in_context(y):
            seed = b.const(np.ones((), dtype=yd["dtype"]))
        b.tag(start, y, seed=True)
        g.nodes[seed.node]["name"] = "1"
        return finish_grad_graph(b, [(y, seed)], wrt, [y] if keep_value else [], extra_outputs)


def finish_grad_graph(b: Builder, seeds, wrt, value_outputs, extra_outputs=()) -> Graph:
    """Run the backward pass from ``seeds``, name the gradients, set outputs, prune."""
    g = b.graph
    with gc_paused():  # millions of small objects, no cycles: collector passes are quadratic
        active = active_nodes(g, wrt)
        totals = backward_pass(b, seeds, wrt, active)
    out_ids = []
    for w in wrt:
        gw = totals.get(w)
        if gw is None:
            gw = zeros_for(b, w, w)
        out_ids.append(gw.node)
        d = g.nodes[gw.node]
        if not (d.get("name") or "").startswith("grad_"):
            d["name"] = f"grad_{g.nodes[w].get('name') or w}"
    g.graph["outputs"] = list(value_outputs) + out_ids + list(extra_outputs)
    g.graph["out_tree"] = flat_tree(len(g.graph["outputs"]))
    prune(g)
    g.graph["grads"] = [[n, t.node] for n, t in totals.items() if t.node in g]
    return g


def flat_tree(n: int) -> dict:
    """The treedef of a flat tuple of ``n`` leaves."""
    return {"type": "tuple", "children": [{"type": "leaf"} for _ in range(n)]}
