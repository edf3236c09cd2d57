"""Rematerialisation for ``checkpoint``: the backward pass reads a region's internal values from
a recomputed copy instead of the forward one.

A node of a checkpoint region (node attribute ``checkpoint``, see
``tracer.checkpointing``) is *internal* when every forward user is in the same
region and it is not an output: no one outside the region needs it. After a
derivative rule has run, ``Remat.redirect`` points every read of an internal value
by the rule's new nodes at a copy, recomputed (once per region and backward pass)
from the region's own inputs, each read through ``after(input, gradient)``: only
values a rule actually reads are recomputed, and only when the backward pass
reaches that rule. The barrier makes the copy depend on the gradient being
propagated, so generated code computes it late and frees the forward copy at its
last forward use, and it keeps the optimiser from merging the copy back into the
forward value (they differ in an operand). Recomputed nodes carry
``role="backward"``, ``grad_of`` = the node they recompute and ``recompute`` = the
same id, which is how drawings show them.
"""

from __future__ import annotations

from tracer.checkpointing import REGION
from tracer.graph import Graph
from tracer.primitives.markers import after_p

RECOMPUTE = "recompute"  # the node attribute marking a recomputed copy (its original's id)


def has_regions(graph: Graph) -> bool:
    return any(REGION in d for d in graph.node_attrs.values())


class Remat:
    """Recomputed copies of checkpointed values for one backward pass."""

    def __init__(self, graph: Graph, role: str = "backward"):
        self.graph = graph
        self.role = role
        self.outputs = set(graph.graph.get("outputs") or ())
        self.copies: dict[int, int] = {}
        self.barriers: dict[tuple[int, int], int] = {}
        self.internal: dict[int, bool] = {}

    def is_internal(self, n: int) -> bool:
        hit = self.internal.get(n)
        if hit is None:
            nodes = self.graph.node_attrs
            region = nodes[n].get(REGION)
            hit = (
                region is not None
                and n not in self.outputs
                and all(
                    nodes[v].get(REGION) == region
                    for v in self.graph.users(n)
                    if nodes[v].get("role") == "forward"  # (copy_forward marks them all)
                )
            )
            self.internal[n] = hit
        return hit

    def redirect(self, start: int, token: int) -> None:
        """Make the nodes created since id ``start`` (a derivative rule's) read recomputed
        copies of the internal values they read; ``token``: the gradient the rule got."""
        g = self.graph
        nodes = g.node_attrs
        for nid in range(start, g.next_id):
            if nid not in nodes:
                continue
            for u in [u for u in g.operand_ids(nid) if u < start and self.is_internal(u)]:
                copy = self.read(u, token)
                edges = g.get_edge_data(u, nid)  # key -> {"arg": position}
                args = [d["arg"] for d in edges.values()]
                g.remove_edges_from([(u, nid, k) for k in list(edges)])
                for arg in args:
                    g.add_edge(copy, nid, arg=arg)

    def read(self, n: int, token: int) -> int:
        """The node a derivative rule reads for forward value ``n``: a recomputed copy if ``n``
        is internal to a checkpoint region, else ``n``. ``token``: the gradient being
        propagated (what the recomputation waits for)."""
        if not self.is_internal(n):
            return n
        hit = self.copies.get(n)
        return hit if hit is not None else self._recompute(n, token)

    def _recompute(self, root: int, token: int) -> int:
        """Copy ``root`` and the internal values it needs, operands first (iteratively)."""
        g = self.graph
        nodes = g.node_attrs
        stack = [root]
        while stack:
            n = stack[-1]
            if n in self.copies:
                stack.pop()
                continue
            operands = g.operands(n)
            missing = [u for u in operands if self.is_internal(u) and u not in self.copies]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            d = nodes[n]
            args = [self._operand(u, n, token) for u in operands]
            self.copies[n] = g.add_op(
                d["op"], args, d["params"], d["shape"], d["dtype"], source=d.get("source"),
                scope=d.get("scope", ()), role=self.role, grad_of=n, **{RECOMPUTE: n},
            )  # fmt: skip
        return self.copies[root]

    def _operand(self, u: int, user: int, token: int) -> int:
        if u in self.copies:
            return self.copies[u]
        d = self.graph.attrs(u)
        if d["op"] == "const":
            return u
        region = self.graph.attrs(user)[REGION]
        hit = self.barriers.get((region, u))
        if hit is None:
            hit = self.barriers[region, u] = self.graph.add_op(
                after_p.name, [u, token], {}, d["shape"], d["dtype"], source=d.get("source"),
                scope=self.graph.attrs(user).get("scope", ()), role=self.role, grad_of=u,
                **{RECOMPUTE: u},
            )  # fmt: skip
        return hit
