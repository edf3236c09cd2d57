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

import functools
from collections.abc import Sequence

import numpy as np

from compiler.calls import CallGroups
from compiler.remat import Remat
from tracer import ops
from tracer.captures import Fetch, explicit_inputs
from tracer.checkpointing import REGION
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
        # a rule reading a captured array (a custom rule reads the globals its function
        # reads) reads the capture input, so it sees the value of every call
        state = self.stage.state
        for n in graph.graph.get("captures") or ():
            fetch = graph.attrs(n).get("fetch")
            if isinstance(fetch, Fetch):
                value = _fetched(fetch)
                if isinstance(value, np.ndarray):
                    state.capture_ids[id(value)] = n
                    state.captured.append(value)
        self.wrap = state.wrap  # hot: one call per operand a rule reads

    def const(self, value) -> TracedArray:
        return self.stage.wrap(self.stage.const(value))

    def tag(self, start: int, grad_of: int, role: str = "backward", **attrs) -> None:
        """Mark the nodes created since id ``start`` as derived from forward node ``grad_of``."""
        graph = self.graph
        nodes = graph.node_attrs
        for nid in range(start, graph.next_id):
            if nid in nodes and "role" not in nodes[nid]:
                nodes[nid]["role"] = role
                nodes[nid]["grad_of"] = grad_of
                nodes[nid].update(attrs)

    def retag(self, start: int, grad_of: int, role: str = "backward") -> None:
        """Mark every node created since id ``start`` as part of forward node ``grad_of``'s
        derivative (overriding the tags of a derivative computed inside it)."""
        nodes = self.graph.node_attrs
        for nid in range(start, self.graph.next_id):
            d = nodes.get(nid)
            if d is not None:
                d["role"], d["grad_of"] = role, grad_of
                d.pop("accum", None)

    def in_context(self, n: int):
        """Create nodes with the source line and scope of forward node ``n``."""
        d = self.graph.node_attrs[n]
        return self.stage.at(d.get("source"), tuple(d.get("scope") or ()))


def _fetched(fetch: Fetch):
    try:
        return fetch({})
    except (NameError, IndexError, TypeError):  # a global gone since: nothing to map
        return None


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
    # a complex node reads its real operands as complex too: (-2.0) ** z has d/dz = log(-2 + 0j) * y
    read = "c" if np.dtype(d["dtype"]).kind == "c" else "fc"
    for i, x in enumerate(xs):
        if x.dtype.kind not in read and not (structural is not None and structural(i)):
            xs[i] = ops.astype(x, d["dtype"])
    return xs


def fit_dtype(g: TracedArray, dtype) -> TracedArray:
    """``g`` (a gradient or tangent) in ``dtype``; a complex ``g`` of a real value is projected
    onto its real part (JAX's convention: a cotangent ``g`` stands for ``dz -> Re(g * dz)``),
    never cast, so no imaginary part is dropped silently by a NumPy cast."""
    dtype = np.dtype(dtype)
    if g.dtype.kind == "c" and dtype.kind != "c":
        g = ops.real(g)
    if g.dtype != dtype:
        g = ops.astype(g, dtype)
    return g


def unbroadcast(g: TracedArray, shape: tuple, dtype) -> TracedArray:
    """Sum ``g`` over the axes broadcasting added to ``shape``; ``fit_dtype`` it to ``dtype``."""
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
    return fit_dtype(g, dtype)


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
    b: Builder,
    seeds: Sequence[tuple[int, TracedArray]],
    wrt: Sequence[int],
    active: set[int],
    *,
    order: Sequence[int] | None = None,
    role: str = "backward",
) -> dict[int, TracedArray]:
    """Propagate ``seeds`` (``(output node, gradient)`` pairs) back to ``wrt``.

    Rules read checkpointed values from recomputed copies (``compiler.remat``); a
    call with a rule of its own (``per_call``: ``tracer.custom``) gets its rule once,
    with all its results' cotangents (``compiler.calls``).

    Args:
        order: the ``active`` nodes in a topological order (default: the graph's).
        role: the ``role`` of the nodes created (``"tangent"`` inside forward mode).

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
    if order is None:
        order = [n for n in graph.topo_order() if n in active]
    calls = CallGroups(graph, order)
    remat = Remat(graph, role) if any(REGION in nodes[n] for n in order) else None
    for n in reversed(order):
        parts = contributions.pop(n, None)
        if not parts and n not in calls.key_of:
            continue
        d = nodes[n]
        with b.in_context(n):
            g = None
            if parts:
                start = graph.next_id
                g = parts[0]
                for p in parts[1:]:  # fan-out: a value used k times gets the sum of k gradients
                    g = ops.add(g, p)
                b.tag(start, n, role, accum=True)
                totals[n] = g
                if n in wrt_set or d["op"] == "input":
                    continue
            operands = graph.operands(n)
            start = graph.next_id
            if n in calls.key_of:
                if not calls.record(n, g):
                    continue  # the call's rule runs at its earliest result
                due = calls.cotangents(n)
                if due is None:
                    continue
                grads = _call_vjp(b, n, operands, due[0], role)
                if remat is not None:  # checkpointed values the rule read: recomputed
                    remat.redirect(start, next(c.node for c in due[0] if c is not None))
                b.retag(start, due[1], role)
            else:
                xs = rule_operands(b, n, operands)
                grads = PRIMITIVES[d["op"]].vjp(g, *xs, y=b.wrap(n), **d["params"])
                if remat is not None:
                    remat.redirect(start, g.node)
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
            b.tag(start, n, role)
    return totals


def _call_vjp(b: Builder, n: int, operands: list[int], cts: list, role: str) -> list:
    """The gradients of a call's operands (None for its results) from its rule."""
    d = b.graph.attrs(n)
    k = d["params"]["outputs"]
    args = operands[k:]
    transpose = functools.partial(transpose_linear, b, role=role)
    arg_cts = PRIMITIVES[d["op"]].vjp(cts, *map(b.wrap, args), rule=d.get("rule"),
                                      transpose=transpose, **d["params"])  # fmt: skip
    return [None] * k + list(arg_cts)


def transpose_linear(b: Builder, fn, avals, cts, *, role: str = "backward") -> list:
    """The transpose of a linear function, applied to ``cts``: reverse mode over ``fn``'s
    traced ops with respect to its inputs (as a custom rule's other direction needs).

    Args:
        fn: ``fn(xs) -> list`` of arrays, linear in ``xs`` (traced values of ``avals``).
        avals: shapes and dtypes of ``fn``'s inputs.
        cts: one cotangent per output of ``fn`` (None: zero).

    Returns:
        One value per input (None where nothing flows).
    """
    graph = b.graph
    start = graph.next_id
    holders = []  # placeholder inputs: zeros (a linear fn's transpose never reads them)
    for a in avals:
        z = b.const(np.zeros((), dtype=a.dtype))
        holders.append(ops.broadcast_to(z, tuple(a.shape)) if tuple(a.shape) else z)
    outs = fn(list(holders))
    seeds = [(o.node, unbroadcast(ct, o.shape, o.dtype)) for o, ct in zip(outs, cts)
             if ct is not None and isinstance(o, TracedArray) and o.node >= start]  # fmt: skip
    wrt = [h.node for h in holders]
    active = set(wrt)
    nodes = graph.node_attrs
    for nid in range(start, graph.next_id):  # created in order: a topological order
        d = nodes.get(nid)
        if d is None or nid in active or d["op"] in ("input", "const"):
            continue
        differentiable = _inexact(d["dtype"]) and PRIMITIVES[d["op"]].differentiable
        if differentiable and any(u in active for u in graph.operand_ids(nid)):
            active.add(nid)
    totals = backward_pass(b, seeds, wrt, active, order=sorted(active), role=role)
    return [totals.get(h.node) for h in holders]


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
        for key in ("grad_of", "seed", "accum", "recompute"):
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


HOLOMORPHIC_HINT = (
    "pass holomorphic=True if the function is holomorphic; for a non-holomorphic one use vjp "
    "or jvp, which take complex values (JAX's conventions, docs/derivatives.md)"
)


def check_output_dtype(fname: str, graph: Graph, n: int, holomorphic: bool) -> None:
    """Output node ``n`` is real (or, with ``holomorphic``, complex), else a clear error.

    A complex output has no gradient: ``d f`` maps a complex ``dz`` to a complex ``df``,
    which one cotangent cannot describe unless ``f`` is holomorphic (JAX's rule).
    """
    d = graph.nodes[n]
    kind = np.dtype(d["dtype"]).kind
    what = f"{graph.graph.get('name', 'f')} returns {format_aval(d['shape'], d['dtype'])}{_at(d)}"
    if holomorphic and kind != "c":
        raise TracegradError(
            f"{fname}(holomorphic=True) needs a complex output, but {what}; drop "
            "holomorphic=True for a real-valued function"
        )
    if not holomorphic and kind == "c":
        raise TracegradError(f"{fname} needs a real-valued output, but {what}; {HOLOMORPHIC_HINT}")


def build_grad_graph(
    graph: Graph,
    wrt: Sequence[int] | None = None,
    *,
    keep_value: bool = True,
    output: int = 0,
    extra_outputs: Sequence[int] = (),
    holomorphic: bool = False,
) -> Graph:
    """The gradient graph of ``graph``'s scalar output ``output`` with respect to nodes ``wrt``.

    Args:
        graph: a forward graph (e.g. ``f.trace(x)``).
        wrt: input node ids to differentiate with respect to (default: every
            floating-point input).
        keep_value: also output the forward value (first), as ``value_and_grad`` does.
        output: which of the graph's outputs is differentiated.
        extra_outputs: forward nodes to output after the gradients (``has_aux``).
        holomorphic: the output is complex and the function holomorphic: the gradients are
            ``f'(z)`` (seeded with 1). Without it a complex output is an error; a real output
            of complex inputs has JAX's gradient ``df/dx - 1j * df/dy``.

    Returns:
        A new graph with the same inputs; outputs are ``[value,] grad_0, grad_1, ...,
        *extra_outputs``, its ``out_tree`` a flat tuple (the API reshapes it).
        Graph attribute ``grads`` lists ``[forward id, gradient id]`` pairs.

    Example:
        >>> import numpy as np
        >>> from tracer import evaluate, trace
        >>> g = build_grad_graph(trace(lambda x: np.sum(np.exp(x))).trace(np.zeros(2)))
        >>> value, gx = evaluate(g, np.zeros(2))
        >>> float(value), gx.tolist()
        (2.0, [1.0, 1.0])
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
    check_output_dtype("grad", graph, y, holomorphic)
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
