"""``linearize(f, *primals)``: the output and the tangent map at ``primals``, with the forward pass
evaluated once.

The forward-mode graph of ``f`` (``jvp``) is split by partial evaluation: the
nodes that do not depend on the tangents (the *known* part) are evaluated now,
once; the values the tangent computation reads from them become the
*residuals*, the inputs of a second graph holding only the tangent (linear)
computation. Calling the returned function runs just that graph, as JAX's
``linearize`` does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from compiler.executor import Executable
from compiler.passes import optimize
from compiler.transforms import _bind_static, _cached, _jvp_cache, _JvpFunction, _match_tangent, jvp
from tracer.captures import capture_leaves, has_outer_captures
from tracer.graph import Graph
from tracer.pytree import flatten, unflatten
from tracer.spec import Spec
from tracer.staging import Tracer
from tracer.validate import validate


def linearize(fun: Callable, *primals):
    """``(fun(*primals), f_jvp)``: ``f_jvp(*tangents)`` is the tangent of the output along
    ``tangents`` (one per primal, of its structure and shapes), as ``jvp`` gives it,
    but without running the forward pass again: it was evaluated once, here.

    Args:
        fun: the function.
        *primals: its positional arguments (arrays or pytrees); static arguments of a
            ``@trace(static_argnums=...)`` function are fixed here.

    Returns:
        The output and the linear function ``f_jvp``.

    Example:
        >>> import numpy as np
        >>> from compiler import linearize
        >>> y, f_jvp = linearize(np.sin, 0.0)
        >>> print(y, f_jvp(2.0), f_jvp(-1.0))
        0.0 2.0 -1.0
    """
    bound, dyn, static = _bind_static(fun, tuple(primals))
    if any(isinstance(v, Tracer) for v in flatten(dyn)[0]):  # inside a trace: stage jvp itself
        return _staged(fun, primals)
    jf = _cached(_jvp_cache, _JvpFunction, bound)
    specs = tuple(unflatten(t, [_spec(v) for v in leaves]) for leaves, t in map(flatten, dyn))
    graph = jf.trace(dyn, specs)
    if has_outer_captures(graph):
        return _staged(fun, primals)
    n_primal = len(flatten(dyn)[0])
    known, linear, residuals = _split(graph, n_primal)
    leaves = flatten(dyn)[0]
    zeros = [np.zeros(s.shape, s.dtype) for s in map(_spec, leaves)]
    values = Executable(known, f"{jf.name}_known")(leaves + zeros + capture_leaves(graph))
    n_out = len(values) - len(residuals)
    out = unflatten(graph.graph["out_tree"]["children"][0], values[:n_out])
    run = Executable(linear, f"{jf.name}_linear")
    res = values[n_out:]
    out_tree = graph.graph["out_tree"]["children"][1]

    def f_jvp(*tangents):
        if len(tangents) != len(primals):
            raise TypeError(
                f"linearize: f_jvp takes {len(primals)} tangents (one per primal), "
                f"got {len(tangents)}"
            )
        ts = [
            _match_tangent(f"linearize: tangent {i}", "its primal", p, t)
            for i, (p, t) in enumerate(zip(primals, tangents))
            if i not in static
        ]
        return unflatten(out_tree, run(res + flatten(ts)[0]))

    return out, f_jvp


def _spec(v) -> Spec:
    arr = np.asarray(v) if not isinstance(v, Spec) else v
    return Spec(np.shape(arr), arr.dtype)


def _staged(fun, primals):
    """Inside a trace, ``linearize`` is ``jvp`` staged at each call (the graph is being built)."""
    out = jvp(fun, primals, primals)[0]
    return out, lambda *tangents: jvp(fun, primals, tangents)[1]


def _split(graph: Graph, n_primal: int) -> tuple[Graph, Graph, list[int]]:
    """(the known graph: outputs = primal outputs + residuals; the linear graph: inputs =
    residuals + tangents, outputs = the output tangents; the residual node ids)."""
    inputs = graph.graph["inputs"]
    tangent_inputs = inputs[n_primal : 2 * n_primal]
    nodes = graph.node_attrs
    unknown = set(tangent_inputs)
    for n in graph.topo_order():
        if n not in unknown and any(u in unknown for u in graph.operand_ids(n)):
            unknown.add(n)
    outs = graph.graph["outputs"]
    primal_outs, tangent_outs = outs[: len(outs) // 2], outs[len(outs) // 2 :]
    residuals = []
    for n in graph.topo_order():
        if n in unknown:
            residuals.extend(u for u in graph.operands(n) if u not in unknown)
    residuals.extend(o for o in tangent_outs if o not in unknown)
    residuals = [r for r in dict.fromkeys(residuals) if nodes[r]["op"] != "const"]

    known = graph.copy()
    known.graph["outputs"] = list(primal_outs) + residuals
    known.graph["out_tree"] = None
    known.remove_nodes_from([n for n in unknown if n not in tangent_inputs])
    known = optimize(known, passes=("dce",), inplace=True)

    linear = graph.copy()
    for r in residuals:  # each residual becomes an input of the linear graph
        linear.remove_edges_from(list(linear.in_edges(r, keys=True)))
        d = linear.attrs(r)
        d.update(op="input", params={})
        for key in ("value", "capture", "fetch"):
            d.pop(key, None)
    keep = unknown | set(residuals)
    keep |= {u for n in unknown for u in graph.operand_ids(n) if nodes[u]["op"] == "const"}
    keep |= {o for o in tangent_outs if nodes[o]["op"] == "const"}
    linear.remove_nodes_from([n for n in list(linear.nodes) if n not in keep])
    linear.graph.update(inputs=residuals + list(tangent_inputs), outputs=list(tangent_outs),
                        in_tree=None, out_tree=None)  # fmt: skip
    linear.graph.pop("captures", None)
    linear.graph.pop("grads", None)
    validate(linear)
    return known, linear, residuals
