"""Graph surgery shared by the passes: fast copies, redirecting users, topological order.

Passes run on graphs of a few hundred thousand nodes, so these helpers work on
networkx's adjacency dicts directly (``_node``, ``_succ``, ``_pred``) instead of
its view objects, and every one of them is linear in what it touches.
"""

from __future__ import annotations

import heapq

import numpy as np

from tracer.graph import Graph
from tracer.staging import gc_paused as _gc_paused

# Attributes a replacement inherits from the node it replaces when it has none.
_CARRIED = ("name", "source", "scope", "role", "grad_of")


# one pause for the tracer, autodiff, passes and code generation
gc_paused = _gc_paused


def copy_graph(graph: Graph) -> Graph:
    """A private copy for a pass to rewrite (``Graph.copy``: attribute dicts and lists are
    private, arrays and ``params`` dicts shared: passes replace them, never mutate them)."""
    return Graph.copy(graph if isinstance(graph, Graph) else Graph(graph))


def operands(g: Graph, n: int) -> list[int]:
    """Operand ids of ``n`` in argument order (fast path of ``Graph.operands``)."""
    pred = g._pred[n]
    k = len(pred)
    if k == 1:
        for u, keyed in pred.items():
            return [u] * len(keyed)
    if k == 2:  # binary ops: two distinct operands, one edge each
        (u, ku), (v, kv) = pred.items()
        if len(ku) == 1 and len(kv) == 1:
            for e in ku.values():
                return [u, v] if e["arg"] == 0 else [v, u]
    if not k:
        return []
    out = [0] * sum(map(len, pred.values()))
    for u, keyed in pred.items():
        for e in keyed.values():
            out[e["arg"]] = u
    return out


def add_node(g: Graph, op: str, args: list[int], params: dict, shape, dtype, like: int,
             value=None) -> int:  # fmt: skip
    """Add a node computing ``op(*args)`` that stands in for node ``like`` (inherits its attrs)."""
    nid = g._next_id
    if nid in g._node:  # a graph built by other means: find a free id (O(n), rare)
        nid = g.new_id()
    g._next_id = nid + 1
    d = g._node[like]
    attrs = {
        "op": op,
        "params": params,
        "shape": tuple(shape),
        "dtype": np.dtype(dtype).name,
    }
    for key in _CARRIED:
        if key in d:
            attrs[key] = d[key]
    if value is not None:
        attrs["value"] = value
    g._node[nid] = attrs
    g._succ[nid] = {}
    g._pred[nid] = {}
    for i, u in enumerate(args):
        _add_edge(g, u, nid, i)
    return nid


def _add_edge(g: Graph, u: int, v: int, arg: int) -> None:
    keyed = g._succ[u].get(v)
    if keyed is None:
        keyed = {}
        g._succ[u][v] = keyed
        g._pred[v][u] = keyed
    key = 0
    while key in keyed:
        key += 1
    keyed[key] = {"arg": arg}


def remove_node(g: Graph, n: int) -> None:
    """Remove ``n`` and its edges (``n`` must not be an input or output)."""
    lost = g.__dict__.get("_lost_users")
    if lost is not None:  # a running sweep revisits the users these operands keep
        lost.extend(g._pred[n])
    for u in g._pred[n]:
        del g._succ[u][n]
    for v in g._succ[n]:
        del g._pred[v][n]
    del g._succ[n], g._pred[n], g._node[n]


def clear_operands(g: Graph, n: int) -> list[int]:
    """Drop the in-edges of ``n`` (it is becoming a constant); return its former operands."""
    ops = list(g._pred[n])
    for u in ops:
        del g._succ[u][n]
    g._pred[n] = {}
    return ops


def replace_uses(g: Graph, old: int, new: int, outputs: OutputIndex) -> list[int]:
    """Point every user of ``old`` (and every output slot) at ``new``; return those users.

    Edge ``arg`` positions are kept. ``new`` inherits ``old``'s name if it has
    none. ``old`` keeps no users afterwards; it is removed unless it is an input
    or an output.
    """
    if old == new:
        return []
    replaced = g.__dict__.get("_replaced")
    if replaced is not None:  # the manager fixes ids held in attributes afterwards
        replaced[old] = new
    users = list(g._succ[old])
    for v in users:
        for e in g._succ[old][v].values():
            _add_edge(g, new, v, e["arg"])
        del g._pred[v][old]
    g._succ[old] = {}
    dn, do = g._node[new], g._node[old]
    if not dn.get("name") and do.get("name") and dn["op"] != "input":
        dn["name"] = do["name"]
    outputs.replace(old, new)
    if do["op"] != "input" and not outputs.contains(old):
        remove_node(g, old)
    return users


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

    nodes = g._node
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


def topo_order(g: Graph) -> list[int]:
    """Nodes in a topological order, ties broken by smallest id (creation order).

    Linear when ids already increase along every edge; a heap-based Kahn sort otherwise.
    """
    succ, pred = g._succ, g._pred
    monotone = True
    for v, ps in pred.items():
        for u in ps:
            if u >= v:
                monotone = False
                break
        if not monotone:
            break
    if monotone:
        return sorted(g._node)
    indeg = {v: len(ps) for v, ps in pred.items()}
    heap = [n for n, k in indeg.items() if k == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        n = heapq.heappop(heap)
        order.append(n)
        for v in succ[n]:
            indeg[v] -= 1
            if indeg[v] == 0:
                heapq.heappush(heap, v)
    return order


def live_nodes(g: Graph) -> set[int]:
    """Nodes the outputs depend on, plus every input (they are the signature)."""
    seen: set[int] = set(g.graph["inputs"])
    stack = [o for o in g.graph["outputs"] if o not in seen]
    seen.update(stack)
    pred = g._pred
    while stack:
        n = stack.pop()
        for u in pred[n]:
            if u not in seen:
                seen.add(u)
                stack.append(u)
    return seen


def size_of(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
