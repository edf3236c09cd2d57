"""The state of one optimisation run's graph surgery: ``Rewrite``.

The passes rewrite a graph in place through ``Graph``'s own operations
(``add_like``, ``redirect_users``, ``remove``, ``clear_operands``); what a run
must remember across those calls lives here, in one explicit object, not on the
graph: the outputs index, which node replaced which (so ``grad_of`` attributes
and the ``grads`` pairs of gradient graphs can be pointed at survivors at the
end), and which nodes lost a user (the sweep revisits their other users).
"""

from __future__ import annotations

from tracer.graph import Graph


class OutputIndex:
    """The graph's ``outputs`` list with O(1) membership and in-place replacement."""

    def __init__(self, g: Graph):
        self.g = g
        self.count: dict[int, int] = {}
        for o in g.graph["outputs"]:
            self.count[o] = self.count.get(o, 0) + 1

    def contains(self, n: int) -> bool:
        return n in self.count

    def replace(self, old: int, new: int) -> None:
        if old not in self.count:
            return
        outs = self.g.graph["outputs"]
        self.g.graph["outputs"] = [new if o == old else o for o in outs]
        self.count[new] = self.count.get(new, 0) + self.count.pop(old)


class Rewrite:
    """Graph surgery for one optimisation run of ``g``.

    Attributes:
        replaced: removed node -> the node that took its place (chains allowed).
        lost_users: nodes that lost a user since the sweep last looked.
    """

    def __init__(self, g: Graph):
        self.g = g
        self.outputs = OutputIndex(g)
        self.replaced: dict[int, int] = {}
        self.lost_users: list[int] = []

    def replace(self, old: int, new: int) -> list[int]:
        """Point every user of ``old`` (and every output slot) at ``new``; return those users.

        ``new`` inherits ``old``'s name if it has none. ``old`` is removed unless it is
        an input or an output.
        """
        if old == new:
            return []
        g = self.g
        self.replaced[old] = new
        users = g.redirect_users(old, new)
        dn, do = g.attrs(new), g.attrs(old)
        if not dn.get("name") and do.get("name") and dn["op"] != "input":
            dn["name"] = do["name"]
        self.outputs.replace(old, new)
        if do["op"] != "input" and not self.outputs.contains(old):
            self.remove(old)
        return users

    def remove(self, n: int) -> None:
        """Remove ``n`` (not an input or output); its operands lost a user."""
        self.lost_users.extend(self.g.remove(n))

    def finish(self) -> None:
        """Point ``grad_of`` attributes and the ``grads`` graph attribute at surviving nodes."""
        fix_references(self.g, self.replaced)


def fix_references(g: Graph, replaced: dict[int, int]) -> None:
    """Point ``grad_of`` attributes and the ``grads`` graph attribute at surviving nodes.

    ``replaced`` maps a removed node to the node that took its place (chains
    allowed). ``grads`` pairs whose nodes no longer exist are dropped; a
    ``grad_of`` that names a vanished forward node is removed.
    """

    def resolve(n):
        seen = 0
        while n in replaced and seen < 1000:
            n, seen = replaced[n], seen + 1
        return n

    nodes = g.node_attrs
    for d in nodes.values():
        k = d.get("grad_of")
        if k is not None and k not in nodes:
            k = resolve(k)
            if k in nodes:
                d["grad_of"] = k
            else:
                del d["grad_of"]
    pairs = g.graph.get("grads")
    if isinstance(pairs, list):
        fixed = []
        for pair in pairs:
            f, t = resolve(pair[0]), resolve(pair[1])
            if f in nodes and t in nodes:
                fixed.append([f, t])
        g.graph["grads"] = fixed
