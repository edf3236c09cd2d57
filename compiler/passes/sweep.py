"""One topological sweep that folds, simplifies and merges each node as it reaches it.

Visiting nodes in topological order means a node's operands are final when it
is visited, so constant folding, the algebraic rules and common-subexpression
merging all reach their fixed point in one pass over the graph (a rewrite's new
nodes are visited at once, before the users they now feed). Only rules that
look at *users* (``sole_use``) can gain work afterwards, when a user disappears;
the sweep records those spots and a later round visits just them. This keeps
the whole pipeline linear in the graph size.

``fold_constants``, ``simplify`` and ``cse`` are this sweep with one part
switched on; the pass manager runs it with all three.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import numpy as np

from compiler.passes.algebra import MAX_NODES, PolyTable
from compiler.passes.cse import COMMUTATIVE, CONST_BYTES_LIMIT, params_key
from compiler.passes.fold import evaluate_node, foldable, make_const
from compiler.passes.rewrite import Rewrite
from compiler.passes.simplify import REWRITES, _Ctx
from tracer.graph import Graph
from tracer.primitives.elementwise import mul_p, neg_p

PARTS = ("fold", "simplify", "cse")
# value numbering writes a scaled copy of a value as one of these
_NEG, _MUL = neg_p.name, mul_p.name


class Sweep:
    """Sweep state kept across rounds: CSE table, the spots to revisit, counts per part."""

    def __init__(self, g: Graph, rewrite: Rewrite, parts=PARTS):
        self.g = g
        self.rewrite = rewrite
        self.nodes = g.node_attrs
        self.fold = "fold" in parts
        self.simplify = "simplify" in parts
        self.cse = "cse" in parts
        self.ctx = _Ctx(g)
        self.table: dict[tuple, int] = {}
        self.key_of: dict[int, tuple] = {}
        self.counts = {p: Counter() for p in PARTS}
        self.revisit: set[int] = set()
        self.full = True
        self.scaling = False
        self.pos: dict[int, int] = {}
        self.algebra = PolyTable(g) if self.cse and len(g) <= MAX_NODES else None
        self.budget = 20 * len(g) + 1000  # rewrites shrink or canonicalise; a backstop

    def run(self, full: bool) -> int:
        """Visit every node (``full``) or only the spots recorded since the last run."""
        changes = sum(sum(c.values()) for c in self.counts.values())
        self.full = full
        lost = self.rewrite.lost_users
        if full:
            lost.clear()
        else:
            # users of nodes that lost a user since their visit (sole_use may hold now)
            nodes = self.nodes
            for u in lost:
                if u in nodes:
                    self.revisit.update(self.g.users(u))
            lost.clear()
            if not self.revisit:
                return 0
        order = self.g.topo_order()
        if not full and self.algebra is not None:
            self.pos = {m: i for i, m in enumerate(order)}
        for n in order:
            if full or n in self.revisit:
                self.visit(n)
        self.revisit.clear()
        return sum(sum(c.values()) for c in self.counts.values()) - changes

    def _rewritten(self, n: int, new: int) -> None:
        users = self.rewrite.replace(n, new)
        self.revisit.update(users)

    def visit(self, n: int) -> None:
        nodes = self.nodes
        d = nodes.get(n)
        if d is None:
            return
        op = d["op"]
        if op == "input":
            return
        args = None
        if op != "const":
            if self.fold and self._all_const(n) and foldable(self.g, n):
                value = evaluate_node(self.g, n)
                if value is not None:
                    make_const(self.g, n, value)
                    self.counts["fold"]["folded"] += 1
                    self.revisit.update(self.g.users(n))
                    op = "const"
            if op != "const" and self.simplify and self.budget > 0:
                rules = REWRITES.get(op)
                if rules is not None:
                    first_new = self.g.next_id
                    args = self.g.operands(n)
                    new = label = None
                    for rule in rules:
                        new, label = rule(self.ctx, n, *args)
                        if new is not None:
                            break
                    if new is not None and new != n:
                        self.budget -= 1
                        self.counts["simplify"][label] += 1
                        self._rewritten(n, new)
                        # the rule's new nodes, in creation (= dependency) order
                        for m in range(first_new, self.g.next_id):
                            self.visit(m)
                        return
        if self.cse:
            key = self._key(n, d, args)
            if key is None:
                return
            first = self.table.get(key)
            if (
                first is not None
                and first != n
                and self.key_of.get(first) == key
                and first in nodes
            ):
                self.counts["cse"]["merged"] += 1
                self._rewritten(n, first)
                return
            self.table[key] = n
            self.key_of[n] = key
            if self.algebra is not None:
                self._value_number(n, d, args)

    def _value_number(self, n: int, d: dict, args) -> None:
        """Merge ``n`` into an earlier node computing the same polynomial (or a multiple).

        In a full round every node in the table was visited before ``n``, so it cannot
        depend on ``n``; later rounds check the order explicitly (no cycles).
        """
        if args is None and d["op"] != "const":
            args = self.g.operands(n)
        found = self.algebra.key(n, d, args)
        if found is None:
            return
        key, scale = found
        entry = self.algebra.first.get(key)
        first = None if entry is None else entry[0]
        if first is not None and not self.full:
            pos = self.pos
            if first not in pos or n not in pos or pos[first] >= pos[n]:
                first = None
        if first is None or first == n or first not in self.nodes:
            self.algebra.first[key] = (n, scale)
            return
        ratio = Fraction(scale, entry[1])
        if ratio == 1:
            self.counts["cse"]["merged by value"] += 1
            self._rewritten(n, first)
            return
        if d["op"] == _NEG or self.ctx.scaled(n) is not None or (args and first in args):
            return  # n is one op on a value already: rewriting it gains nothing (and loops)
        if self.scaling:
            return  # inside another scaled rewrite: its new nodes are not rewritten again
        r = float(ratio)
        if Fraction(r) != ratio or complex(np.array(r, dtype=d["dtype"])) != r:
            return  # the ratio must be exact in the node's own dtype
        first_new = self.g.next_id
        if r == -1:
            new = self.ctx.new(_NEG, [first], {}, n)
        else:
            new = self.ctx.new(_MUL, [first, self.ctx.const(r, n)], {}, n)
        self.counts["cse"]["scaled copy of an earlier value"] += 1
        self._rewritten(n, new)
        self.scaling = True
        try:
            for m in range(first_new, self.g.next_id):
                self.visit(m)
        finally:
            self.scaling = False

    def _all_const(self, n: int) -> bool:
        nodes = self.nodes
        for u in self.g.operand_ids(n):  # noqa: SIM110  (a loop beats all() on this hot path)
            if nodes[u]["op"] != "const":
                return False
        return True

    def _key(self, n: int, d: dict, args: list[int] | None):
        if d["op"] == "const":
            value = d["value"]
            if value.nbytes > CONST_BYTES_LIMIT:
                return None
            return ("const", d["dtype"], tuple(d["shape"]), value.tobytes())
        args = self.g.operands(n) if args is None else list(args)
        if d["op"] in COMMUTATIVE:
            args.sort()
        params = d["params"]
        return (d["op"], params_key(params) if params else "", tuple(args), d["dtype"])


def run_sweep(g: Graph, parts=PARTS, rewrite: Rewrite | None = None) -> dict[str, Counter]:
    """Run the sweep with ``parts`` switched on until it changes nothing; counts per part."""
    own = rewrite is None
    if own:
        rewrite = Rewrite(g)
    sweep = Sweep(g, rewrite, parts)
    full = True
    while sweep.run(full):
        full = False
    if own:
        rewrite.finish()
    return sweep.counts


def run_fold(g: Graph) -> dict[str, int]:
    """Fold constant subexpressions of ``g`` in place; return ``{"folded": count}``."""
    return dict(run_sweep(g, ("fold",))["fold"])


def run_simplify(g: Graph) -> dict[str, int]:
    """Apply the rewrites to ``g`` in place; return a count per rule that fired."""
    return dict(run_sweep(g, ("simplify",))["simplify"])


def run_cse(g: Graph) -> dict[str, int]:
    """Merge repeated computations in ``g`` in place; return ``{"merged": count}``."""
    return dict(run_sweep(g, ("cse",))["cse"])


def fold_constants(graph: Graph) -> Graph:
    """A copy of ``graph`` with constant subexpressions evaluated."""
    g = graph.copy()
    run_fold(g)
    return g


def simplify(graph: Graph) -> Graph:
    """A copy of ``graph`` with the algebraic rewrites applied to a fixed point."""
    g = graph.copy()
    run_simplify(g)
    return g


def cse(graph: Graph) -> Graph:
    """A copy of ``graph`` in which each distinct computation appears once."""
    g = graph.copy()
    run_cse(g)
    return g
