"""The graph IR: a ``networkx.MultiDiGraph`` of primitive applications, one value per node.

All state lives in node, edge and graph attribute dicts, so every networkx
algorithm works on it and ``networkx.node_link_data`` round-trips it. Printed,
a graph reads like a jaxpr::

    graph f(x: float64[3]) {
      %0 = input : float64[3]  # x
      %1 = exp(%0) : float64[3]
      %2 = mul(%1, %0) : float64[3]
      %3 = sum(%2, axis=(0,), keepdims=False) : float64[]
      return %3
    }

Node attributes: ``op``, ``params`` (static, JSON-able), ``shape``, ``dtype``
(NumPy dtype name), ``value`` (``const`` nodes only), ``name``, ``source``
(``"file.py:LINE"``), ``scope`` (enclosing traced functions); gradient graphs add
``role`` (``"forward"``/``"backward"``) and ``grad_of``. One edge per operand,
``u -> v`` with ``arg`` = operand position. Graph attributes: ``inputs``,
``outputs`` (node ids), ``in_tree``/``out_tree`` (pytree treedefs), ``name``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence

import networkx as nx
import numpy as np

from tracer.spec import as_dtype, dtype_name, format_aval  # noqa: F401  (re-exported)

REPR_NODES = 60  # nodes listed by repr(graph); str(graph) lists them all
# Attributes a rewrite's replacement inherits from the node it stands in for.
_CARRIED = ("name", "source", "scope", "role", "grad_of")


class Graph(nx.MultiDiGraph):
    """A traced program. Node ids are ints that increase in creation order.

    ``str(graph)`` is the full listing, ``repr(graph)`` (what a REPL or a
    notebook shows) the same with the middle of a long graph left out.

    Args:
        incoming_graph_data: as for ``networkx.MultiDiGraph`` (usually nothing:
            ``f.trace(...)`` builds graphs).
        name: the graph's name, shown in its listing.
        **attr: more graph attributes.

    Example:
        >>> import numpy as np
        >>> from tracer import trace
        >>> def f(x):
        ...     return np.tanh(x) * 2.0
        >>> g = trace(f).trace(np.ones(3))
        >>> g
        graph f(x: float64[3]) {
          %0 = input : float64[3]  # x
          %1 = tanh(%0) : float64[3]
          %2 = const 2.0 : float64[]
          %3 = mul(%1, %2) : float64[3]
          return %3
        }
        >>> g.inputs, g.outputs, g.operands(3)
        ([0], [3], [1, 2])
    """

    def __init__(self, incoming_graph_data=None, name: str = "f", **attr):
        super().__init__(incoming_graph_data, **attr)
        self.graph.setdefault("name", name)
        self.graph.setdefault("inputs", [])
        self.graph.setdefault("outputs", [])
        self.graph.setdefault("in_tree", None)
        self.graph.setdefault("out_tree", None)
        # Derived, not state: the next free id is recomputed from the nodes.
        self._next_id = max(self.nodes, default=-1) + 1

    # ----- building -----
    def add_op(
        self,
        op: str,
        operands: Sequence[int],
        params: dict | None,
        shape: tuple,
        dtype,
        *,
        value: np.ndarray | None = None,
        name: str | None = None,
        source: str | None = None,
        scope: tuple = (),
        **extra,
    ) -> int:
        """Append one node applying ``op`` to ``operands``; return its id."""
        nid = self._next_id
        self._next_id = nid + 1
        attrs = {
            "op": op,
            "params": params if params is not None else {},
            "shape": tuple(shape),
            "dtype": dtype_name(dtype),
            "name": name,
            "source": source,
            "scope": tuple(scope),
        }
        if value is not None:
            attrs["value"] = value
        if extra:
            attrs.update(extra)
        # Tracing appends hundreds of thousands of nodes: write networkx's own
        # dicts directly (what add_node/add_edge do, without their per-call cost).
        # A new node's edges are all new, and a MultiDiGraph shares one key dict
        # between _succ[u][v] and _pred[v][u].
        succ, pred = self._succ, self._pred
        if nid in self._node:
            raise ValueError(f"node id {nid} already exists")
        self._node[nid] = attrs
        succ[nid] = {}
        preds = pred[nid] = {}
        for i, u in enumerate(operands):
            keydict = preds.get(u)
            if keydict is None:
                keydict = preds[u] = succ[u][nid] = {}
            keydict[len(keydict)] = {"arg": i}
        if self.__networkx_cache__:
            self.__networkx_cache__.clear()
        return nid

    def copy(self, as_view: bool = False) -> Graph:
        """An independent copy: attribute dicts and the graph's lists (``inputs``,
        ``outputs``, ``grads`` pairs) are private; arrays and ``params`` are shared
        (transformations replace them, never mutate them)."""
        if as_view:
            return super().copy(as_view=True)
        out = Graph(name=self.graph.get("name", "f"))
        out.graph.update(self.graph)
        for key, val in self.graph.items():
            if isinstance(val, list):
                out.graph[key] = [list(v) if isinstance(v, list) else v for v in val]
        out._node.update((n, dict(d)) for n, d in self._node.items())
        osucc, opred = out._succ, out._pred
        for n in self._node:
            osucc[n] = {}
            opred[n] = {}
        for u, nbrs in self._succ.items():
            for v, keydict in nbrs.items():
                kd = {k: dict(d) for k, d in keydict.items()}
                osucc[u][v] = kd
                opred[v][u] = kd
        out._next_id = max(self._next_id, max(self._node, default=-1) + 1)
        return out

    def new_id(self) -> int:
        """Reserve a fresh node id (larger than every id in the graph)."""
        self._next_id = max(self._next_id, max(self._node, default=-1) + 1)
        return self._next_id

    @property
    def next_id(self) -> int:
        """The id the next node will get: nodes made since ``start = g.next_id`` have ids
        ``range(start, g.next_id)`` (how transformations tag what they added)."""
        return self._next_id

    # ----- reading: networkx's own dicts, not its views (hot in every pass) -----
    @property
    def inputs(self) -> list[int]:
        return self.graph["inputs"]

    @property
    def outputs(self) -> list[int]:
        return self.graph["outputs"]

    @property
    def node_attrs(self) -> dict[int, dict]:
        """Every node's attribute dict, by id (the graph's own dict: read, do not resize)."""
        return self._node

    def attrs(self, n: int) -> dict:
        """The attribute dict of node ``n`` (``g.nodes[n]`` without the view)."""
        return self._node[n]

    def operands(self, n: int) -> list[int]:
        """Operand node ids of ``n`` in argument order (any IR MultiDiGraph works)."""
        pred = self._pred[n]
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

    def operand_ids(self, n: int):
        """The distinct nodes ``n`` reads, in no particular order."""
        return self._pred[n].keys()

    def users(self, n: int) -> list[int]:
        """Distinct nodes that read ``n``."""
        return list(self._succ[n])

    def has_users(self, n: int) -> bool:
        return bool(self._succ[n])

    def sole_use(self, n: int) -> bool:
        """True when ``n`` has exactly one user, once (so rewriting that user frees it)."""
        succ = self._succ[n]
        return len(succ) == 1 and all(len(k) == 1 for k in succ.values())

    def topo_order(self) -> list[int]:
        """Nodes in a topological order, ties broken by smallest id (creation order).

        Linear when ids increase along every edge (graphs as built); a heap-based
        Kahn sort otherwise (after rewrites). Any IR MultiDiGraph works.
        """
        succ, pred = self._succ, self._pred
        if all(u < v for v, ps in pred.items() for u in ps):
            return sorted(self._node)
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
        if len(order) != len(self._node):
            raise nx.NetworkXUnfeasible("graph contains a cycle")
        return order

    def live_nodes(self) -> set[int]:
        """Nodes the outputs depend on, plus every input (they are the signature)."""
        seen: set[int] = set(self.graph["inputs"])
        stack = [o for o in self.graph["outputs"] if o not in seen]
        seen.update(stack)
        pred = self._pred
        while stack:
            n = stack.pop()
            for u in pred[n]:
                if u not in seen:
                    seen.add(u)
                    stack.append(u)
        return seen

    # ----- rewriting (the passes' graph surgery; linear in what it touches) -----
    def add_like(self, op: str, operands: Sequence[int], params: dict, shape, dtype, like: int,
                 value=None) -> int:  # fmt: skip
        """Add a node computing ``op(*operands)`` that stands in for node ``like``: it
        inherits ``like``'s name, source, scope, role and ``grad_of``."""
        nid = self._next_id
        if nid in self._node:  # a graph built by other means: find a free id (O(n), rare)
            nid = self.new_id()
        self._next_id = nid + 1
        d = self._node[like]
        attrs = {"op": op, "params": params, "shape": tuple(shape), "dtype": dtype_name(dtype)}
        for key in _CARRIED:
            if key in d:
                attrs[key] = d[key]
        if value is not None:
            attrs["value"] = value
        self._node[nid] = attrs
        self._succ[nid] = {}
        self._pred[nid] = {}
        for i, u in enumerate(operands):
            self._add_operand(u, nid, i)
        return nid

    def _add_operand(self, u: int, v: int, arg: int) -> None:
        keyed = self._succ[u].get(v)
        if keyed is None:
            keyed = self._succ[u][v] = self._pred[v][u] = {}
        key = 0
        while key in keyed:
            key += 1
        keyed[key] = {"arg": arg}

    def remove(self, n: int) -> list[int]:
        """Remove node ``n`` and its edges; return the nodes it read (they lost a user)."""
        operands = list(self._pred[n])
        for u in operands:
            del self._succ[u][n]
        for v in self._succ[n]:
            del self._pred[v][n]
        del self._succ[n], self._pred[n], self._node[n]
        if self.__networkx_cache__:
            self.__networkx_cache__.clear()
        return operands

    def clear_operands(self, n: int) -> list[int]:
        """Drop the in-edges of ``n`` (it is becoming a constant); return its former operands."""
        operands = list(self._pred[n])
        for u in operands:
            del self._succ[u][n]
        self._pred[n] = {}
        return operands

    def redirect_users(self, old: int, new: int) -> list[int]:
        """Make every user of ``old`` read ``new`` instead (operand positions kept); return
        those users. ``old`` is left without users."""
        users = list(self._succ[old])
        for v in users:
            for e in self._succ[old][v].values():
                self._add_operand(new, v, e["arg"])
            del self._pred[v][old]
        self._succ[old] = {}
        return users

    def __str__(self) -> str:
        return format_graph(self)

    def __repr__(self) -> str:
        # A REPL or a notebook cell shows the listing; a huge graph shows its two ends.
        return format_graph(self, max_nodes=REPR_NODES)

    def _repr_pretty_(self, printer, cycle: bool) -> None:  # IPython and Jupyter
        printer.text(repr(self))


def format_value(value) -> str:
    """Short text for a constant: the number for small arrays, the aval otherwise."""
    arr = np.asarray(value)
    if arr.ndim == 0:
        return repr(arr.item())
    if arr.size <= 4:  # one line even for 2-D arrays: the listing is one line per node
        return " ".join(np.array2string(arr, precision=4, separator=", ").split())
    return "<" + format_aval(arr.shape, arr.dtype) + ">"


def format_node(graph: nx.MultiDiGraph, n: int, *, source: bool = False) -> str:
    """One listing line: ``%4 = exp(%3) : float64[3]``."""
    d = graph.nodes[n]
    ops = ", ".join(f"%{u}" for u in Graph.operands(graph, n))
    params = ", ".join(f"{k}={v!r}" for k, v in d["params"].items())
    args = ", ".join(s for s in (ops, params) if s)
    if d["op"] == "input":
        rhs = "input"
    elif d["op"] == "const":
        rhs = f"const {format_value(d['value'])}"
    else:
        rhs = f"{d['op']}({args})"
    line = f"%{n} = {rhs} : {format_aval(d['shape'], d['dtype'])}"
    notes = []
    if d.get("capture"):  # an input read from a global or closure variable at call time
        notes.append(str(d["capture"]))
    elif d.get("name"):
        notes.append(str(d["name"]))
    if d.get("role") == "backward" and d.get("grad_of") is not None:
        notes.append(f"grad of %{d['grad_of']}")
    if source and d.get("source"):
        notes.append(f"@ {d['source']}")
    if notes:
        line += "  # " + ", ".join(notes)
    return line


def format_graph(
    graph: nx.MultiDiGraph, *, source: bool = False, max_nodes: int | None = None
) -> str:
    """The readable listing of ``graph``, one node per line (see the module docstring).

    Args:
        graph: a traced graph (``tracer.Graph`` or a ``networkx.MultiDiGraph`` in its schema).
        source: note each node's source line (``# @ file.py:12``).
        max_nodes: list at most this many nodes, the first and the last ones, with
            a line saying how many were left out (``None``: all of them).

    Returns:
        The listing, ``graph NAME(ARGS) {`` ... ``return %N`` ``}``.

    Example:
        >>> import numpy as np
        >>> from tracer import trace
        >>> def f(x):
        ...     return np.exp(x)
        >>> print(format_graph(trace(f).trace(np.ones(2))))
        graph f(x: float64[2]) {
          %0 = input : float64[2]  # x
          %1 = exp(%0) : float64[2]
          return %1
        }
    """
    g = graph.graph
    sig = ", ".join(
        f"{graph.nodes[i].get('name') or f'%{i}'}: "
        f"{format_aval(graph.nodes[i]['shape'], graph.nodes[i]['dtype'])}"
        for i in g.get("inputs", [])
    )
    lines = [f"graph {g.get('name', 'f')}({sig}) {{"]
    order = (
        Graph.topo_order(graph)
        if isinstance(graph, Graph)
        else list(nx.lexicographical_topological_sort(graph))
    )
    if max_nodes is not None and len(order) > max_nodes:
        head = max(1, max_nodes * 2 // 3)
        tail = max(1, max_nodes - head)
        skipped = len(order) - head - tail
        order = order[:head] + [None] + order[-tail:]
    lines += [
        f"  ... {skipped} nodes not shown (print(graph) lists them all)"
        if n is None
        else "  " + format_node(graph, n, source=source)
        for n in order
    ]
    outs = g.get("outputs", [])
    ret = ", ".join(f"%{o}" for o in outs)
    lines.append(f"  return {ret if len(outs) == 1 else '(' + ret + ')'}")
    lines.append("}")
    return "\n".join(lines)


def subgraph_nodes(graph: nx.MultiDiGraph, roots: Iterable[int]) -> set[int]:
    """Every node the ``roots`` depend on (themselves included). Iterative."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        stack.extend(graph._pred[n])
    return seen
