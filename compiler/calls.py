"""Calls whose derivative is a rule of their own (``per_call`` primitives: the custom-derivative
markers of ``tracer.custom``), grouped for the autodiff drivers.

A call with k results is k marker nodes, one per result, each reading the call's
results and then its arguments. The rule must see every result's cotangent at
once, so the reverse driver records the gradient of each marker as it reaches it
and applies the rule at the call's *earliest* marker in topological order (in
reverse order it comes last, when every other marker's gradient is complete).
The forward driver applies the rule at the first marker it meets and hands the
other results their tangents from there.
"""

from __future__ import annotations

from compiler.passes.cse import params_key
from tracer.graph import Graph
from tracer.primitives import PRIMITIVES


def call_key(graph: Graph, n: int, operands: list[int]) -> tuple:
    """What the markers of one call share: op, params other than ``output``, operands."""
    d = graph.attrs(n)
    params = {k: v for k, v in d["params"].items() if k != "output"}
    return d["op"], params_key(params), tuple(operands)


def is_call(graph: Graph, n: int) -> bool:
    """True for a node of a ``per_call`` primitive."""
    op = graph.attrs(n)["op"]
    prim = PRIMITIVES.get(op)
    return prim is not None and prim.per_call


class CallGroups:
    """The calls among the nodes a backward pass visits, and their results' cotangents."""

    def __init__(self, graph: Graph, order: list[int]):
        self.graph = graph
        self.key_of: dict[int, tuple] = {}
        self.last: dict[tuple, int] = {}  # key -> the marker reached last in reverse order
        for n in order:
            if is_call(graph, n):
                key = call_key(graph, n, graph.operands(n))
                self.key_of[n] = key
                self.last.setdefault(key, n)  # order is topological: the first is earliest
        self.cts: dict[tuple, dict[int, object]] = {}
        self.anchor: dict[tuple, int] = {}  # the earliest marker that got a gradient

    def __bool__(self) -> bool:
        return bool(self.key_of)

    def record(self, n: int, g) -> bool:
        """Note the gradient ``g`` (or None) of marker ``n``; True when its call's rule is due."""
        key = self.key_of[n]
        per_output = self.cts.setdefault(key, {})
        if g is not None:
            self.anchor[key] = n  # reached in reverse order: the last one is the earliest
            i = self.graph.attrs(n)["params"]["output"]
            prev = per_output.get(i)
            per_output[i] = g if prev is None else prev + g  # a result read by two markers
        return self.last[key] == n

    def cotangents(self, n: int) -> tuple[list, int] | None:
        """One cotangent per result of ``n``'s call (None where none arrived) and the marker the
        rule's nodes are tagged with (one whose result is used), or None when no result
        of the call got a gradient."""
        key = self.key_of[n]
        per_output = self.cts.pop(key, None)
        if not per_output:
            return None
        k = self.graph.attrs(n)["params"]["outputs"]
        return [per_output.get(i) for i in range(k)], self.anchor.pop(key)
