"""What drawings show specially: custom-derivative calls (one box in the book view), gradient
cuts, and values checkpointing recomputes.

- A call of a ``custom_vjp``/``custom_jvp`` function is traced as its body plus
  one marker node per result (``per_call`` primitives, see ``compiler.calls``).
  The book view draws the call as one box labelled with the function's name; the
  expanded view draws the body. ``custom_calls`` finds each call's body: the
  nodes computing its results from its arguments, inside the function's scope,
  that nothing outside the call reads.
- A *cut* is a forward op through which no gradient flows although its float
  operand depends on what is differentiated (``stop_gradient``, ``floor``, ...).
- Recomputed values (``compiler.remat``) carry the node attribute ``recompute``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.calls import call_key, is_call
from compiler.remat import RECOMPUTE
from tracer.primitives import PRIMITIVES


@dataclass
class Call:
    """One call of a custom-derivative function, as drawn."""

    id: int  # its earliest marker (whose derivative group the backward side draws)
    name: str
    kind: str  # the markers' label: custom_vjp / custom_jvp
    markers: list[int] = field(default_factory=list)
    body: set[int] = field(default_factory=set)


def custom_calls(graph, order: list[int], skip=lambda n: False) -> dict[int, Call]:
    """Node id -> its ``Call``, for every marker and body node of every call (nodes for
    which ``skip`` is true, the gradient side, are left out)."""
    nodes = graph.node_attrs
    calls: dict[tuple, Call] = {}
    for n in order:
        if skip(n) or not is_call(graph, n):
            continue
        d = nodes[n]
        key = call_key(graph, n, graph.operands(n))
        call = calls.get(key)
        if call is None:
            call = calls[key] = Call(n, d["params"]["name"], PRIMITIVES[d["op"]].display)
        call.markers.append(n)
    out: dict[int, Call] = {}
    for call in calls.values():
        call.body = _body(graph, call, skip)
        for n in (*call.markers, *call.body):
            out[n] = call
    return out


def _body(graph, call: Call, skip) -> set[int]:
    nodes = graph.node_attrs
    first = call.markers[0]
    k = nodes[first]["params"]["outputs"]
    operands = graph.operands(first)
    args = set(operands[k:])
    scope = tuple(nodes[first].get("scope") or ())
    body: set[int] = set()
    stack = [u for u in operands[:k]]
    while stack:
        u = stack.pop()
        if u in body or u in args or skip(u):
            continue
        d = nodes[u]
        if d["op"] == "input" or tuple(d.get("scope") or ())[: len(scope)] != scope:
            continue
        body.add(u)
        stack.extend(graph.operand_ids(u))
    inside = body | set(call.markers)
    changed = True
    while changed:  # a value read outside the call stays visible, and so does what it reads
        changed = False
        for u in list(body):
            if any(v not in inside for v in graph.users(u)):
                body.discard(u)
                inside.discard(u)
                changed = True
    return body


def cuts(graph, backward) -> set[int]:
    """Forward ops whose gradient is zero by declaration while a float operand of theirs depends
    on a differentiated input: where the drawn gradient stops."""
    nodes = graph.node_attrs
    differentiated = {int(f) for f, _ in graph.graph.get("grads") or ()}
    differentiated |= {d["grad_of"] for d in nodes.values() if d.get("grad_of") is not None}
    live = {n for n in graph.graph["inputs"] if n in differentiated}
    out: set[int] = set()
    for n in graph.topo_order():
        d = nodes[n]
        if backward(n) or n in live or d["op"] in ("input", "const"):
            continue
        floats = [u for u in graph.operand_ids(n) if u in live and _inexact(nodes[u]["dtype"])]
        if not floats:
            continue
        prim = PRIMITIVES.get(d["op"])
        if prim is not None and prim.zero_grad:
            if _inexact(d["dtype"]):  # comparisons and argmax make no float value to cut
                out.add(n)
            continue
        live.add(n)
    return out


def is_recomputed(graph, n: int) -> bool:
    return graph.attrs(n).get(RECOMPUTE) is not None


def _inexact(dtype) -> bool:
    return np.dtype(dtype).kind in "fc"
