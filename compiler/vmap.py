"""Batching (``vmap``): turn the graph of one example into the graph of a batch, in the same IR.

``build_vmap_graph`` walks a graph traced at the per-example shapes in
topological order and stages each node into a new graph whose mapped inputs
carry an extra batch axis. A node none of whose operands depends on the batch is
copied as it is; any other is staged by its primitive's batching rule (the
``batch`` fact of its declaration, ``tracer.primitives.batching``), which
returns the batched value and where its batch axis is. So each op runs once on
the whole batch: there is no loop over examples. Capture inputs (globals and
closure values) are the same for every example and stay the last inputs.

A call of a custom-derivative function (``tracer.custom``) keeps its rule: the
batched markers hold a ``BatchedCallRule``, the call's own rule applied to every
example at once (JAX's semantics for ``vmap`` of a ``custom_vjp`` function), so
``grad`` of a vmap uses the user's rule. Checkpoint regions carry over, so the
gradient of a vmap recomputes them too.

This module also resolves ``vmap``'s ``in_axes``/``out_axes`` (JAX's conventions:
an int, None, or a pytree prefix of the arguments / the result) into one axis
per leaf, and checks the mapped sizes agree.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import numpy as np

from tracer import ops
from tracer.captures import capture_leaves, capture_nodes, explicit_inputs
from tracer.checkpointing import REGION
from tracer.errors import TracegradError
from tracer.frames import user_location
from tracer.graph import Graph
from tracer.primitives import PRIMITIVES
from tracer.primitives.batching import insert_axis
from tracer.pytree import flatten, num_leaves, unflatten
from tracer.spec import Spec, format_aval
from tracer.staging import Stage, current_trace, gc_paused
from tracer.traced import TracedArray
from tracer.tracing import Call, inline_graph, trace_to_graph

# attributes of a node that say what it is; the others (name, role, ...) are copied
_STRUCTURE = ("op", "params", "shape", "dtype", "value")


def build_vmap_graph(
    graph: Graph,
    in_dims: Sequence[int | None],
    size: int,
    out_dims: Sequence[int | None],
    env: dict | None = None,
) -> Graph:
    """The batched graph of ``graph`` (traced for one example).

    Args:
        graph: the per-example graph.
        in_dims: for each explicit input, the axis of the batched input that runs
            over the examples, or None for an input shared by every example
            (capture inputs always are).
        size: the number of examples.
        out_dims: for each output, where its batch axis goes, or None for an output
            that does not depend on the batch (an error otherwise).
        env: a dict to fill with ``node: (batched node, its batch axis or None)``.

    Returns:
        A new graph with the same inputs (the mapped ones with their batch axis),
        outputs and trees.
    """
    g = Graph(name=graph.graph.get("name", "f"))
    stage = Stage(g, TracedArray)
    env = {} if env is None else env  # node -> (batched node, its batch axis)
    explicit = explicit_inputs(graph)
    if len(explicit) != len(in_dims):
        raise TracegradError(f"internal: {len(in_dims)} input axes for {len(explicit)} inputs")
    nodes = graph.node_attrs
    with gc_paused():
        for n, d in zip(explicit, in_dims):
            shape = nodes[n]["shape"] if d is None else insert_axis(nodes[n]["shape"], d, size)
            env[n] = (_copy_node(g, nodes[n], [], shape, env), d)
        for n in capture_nodes(graph):
            env[n] = (_copy_node(g, nodes[n], [], nodes[n]["shape"], env), None)
        for n in graph.topo_order():
            if n not in env:
                env[n] = _batch_node(g, stage, graph, n, env, size)
        outputs = [
            _place_output(stage, graph, o, env[o], od, size)
            for o, od in zip(graph.graph["outputs"], out_dims)
        ]
    g.graph.update(
        inputs=[env[n][0] for n in graph.graph["inputs"]],
        outputs=outputs,
        in_tree=graph.graph.get("in_tree"),
        out_tree=graph.graph.get("out_tree"),
    )
    captures = [env[n][0] for n in capture_nodes(graph)]
    if captures:
        g.graph["captures"] = captures
    return g


def _attrs(d: dict, env: dict) -> dict:
    """Node ``d``'s descriptive attributes (name, source, scope, role, ...), with ``grad_of``
    naming the batched graph's node."""
    extra = {k: v for k, v in d.items() if k not in _STRUCTURE}
    if "grad_of" in extra:
        extra["grad_of"] = env.get(extra["grad_of"], (None,))[0]
    return extra


def _copy_node(g: Graph, d: dict, operands: list[int], shape, env: dict) -> int:
    return g.add_op(d["op"], operands, d["params"], shape, d["dtype"], value=d.get("value"),
                    **_attrs(d, env))  # fmt: skip


def _batch_node(g: Graph, stage: Stage, graph: Graph, n: int, env: dict, size: int):
    """Node ``n`` in the batched graph: ``(node, batch axis)``."""
    d = graph.attrs(n)
    if d["op"] == "input":
        raise TracegradError(f"internal: input %{n} of {graph.graph.get('name')} is not bound")
    operands = graph.operands(n)
    dims = [env[u][1] for u in operands]
    if all(dim is None for dim in dims):  # the same for every example
        return _copy_node(g, d, [env[u][0] for u in operands], d["shape"], env), None
    prim = PRIMITIVES[d["op"]]
    where = f" (at {d['source']})" if d.get("source") else ""
    if prim.batch is None:
        raise TracegradError(
            f"vmap: primitive {d['op']} has no batching rule yet (the batch fact of its "
            f"declaration in tracer/primitives){where}"
        )
    start = g.next_id
    with stage.at(d.get("source"), tuple(d.get("scope") or ())):
        out, out_dim = prim.batch([stage.wrap(env[u][0]) for u in operands], dims, **d["params"])
    expect = insert_axis(d["shape"], out_dim, size) if isinstance(out_dim, int) else None
    if not (isinstance(out, TracedArray) and out.shape == expect and out.dtype == d["dtype"]):
        got = format_aval(out.shape, out.dtype) if isinstance(out, TracedArray) else repr(out)
        raise TracegradError(
            f"internal: the batching rule of {d['op']} gave {got} with batch axis {out_dim!r} "
            f"for {format_aval(d['shape'], d['dtype'])} with {size} examples (operand batch "
            f"axes {dims}){where}"
        )
    attrs = _attrs(d, env)
    tags = {k: attrs[k] for k in ("role", "grad_of", REGION) if k in attrs}
    for nid in range(start, g.next_id):  # the rule's nodes belong to what n belonged to
        g.node_attrs[nid].update(tags)
    if out.node >= start:  # the result is the node itself: its name, its role
        g.node_attrs[out.node].update(attrs)
        if d.get("rule") is not None:  # a call's marker (per_call): its rule, batched
            old = [len(graph.nodes[u]["shape"]) for u in operands]
            new = [len(g.node_attrs[u]["shape"]) for u in g.operands(out.node)]
            g.node_attrs[out.node]["rule"] = BatchedCallRule(
                d["rule"], [0 if b > a else None for a, b in zip(old, new)],
                d["params"]["outputs"], size,
            )  # fmt: skip
    return out.node, out_dim


class BatchedCallRule:
    """The derivative rule of a batched call of a custom-derivative function: the call's rule
    (a ``tracer.custom.CallRule``, or a ``BatchedCallRule`` of an inner vmap) applied to
    every example at once, as JAX batches ``fwd`` and ``bwd`` (or the jvp rule).

    The marker's batch rule (``tracer.primitives.markers``) puts the batch axis of
    every batched operand first (results always are), so an operand is batched when it
    has one more axis than its example. The rule's own direction (``vjp`` of a
    ``custom_vjp``, ``jvp`` of a ``custom_jvp``) traces the per-example rule into a
    graph, batches it (``build_vmap_graph``) and inlines it into the graph being built:
    no loop over examples. The other direction is the transpose of that one, as for an
    unbatched call.

    Args:
        rule: the per-example rule.
        dims: the batch axis (0 or None) of each operand of the batched marker: the
            call's results, then its arguments.
        outputs: the number of results.
        size: the number of examples.
    """

    def __init__(self, rule, dims: list, outputs: int, size: int):
        self.rule, self.size = rule, size
        self.out_dims, self.arg_dims = list(dims[:outputs]), list(dims[outputs:])
        self.out_avals = [
            Spec(insert_axis(a.shape, 0, size), a.dtype) if dim is not None else a
            for a, dim in zip(rule.out_avals, self.out_dims)
        ]

    def __repr__(self) -> str:
        return f"<batched {self.rule!r}>"

    @property
    def name(self) -> str:
        return self.rule.name

    @property
    def kind(self) -> str:
        return self.rule.kind

    def vjp(self, cts: list, args: list, transpose) -> list:
        """One cotangent per argument leaf (None: zero) from one per result leaf."""
        if self.kind == "custom_vjp":
            return self._mapped(lambda a, c: self.rule.vjp(c, a, None), args, cts,
                                self.out_dims, self.arg_dims)  # fmt: skip
        avals = [Spec(a.shape, a.dtype) for a in args]
        return transpose(lambda ts: self.jvp(ts, args, None), avals, cts)

    def jvp(self, ts: list, args: list, transpose) -> list:
        """One tangent per result leaf from one per argument leaf (None: zero)."""
        if self.kind == "custom_jvp":
            return self._mapped(lambda a, t: self.rule.jvp(t, a, None), args, ts,
                                self.arg_dims, self.out_dims)  # fmt: skip
        return transpose(lambda cts: self.vjp(cts, args, None), self.out_avals, ts)

    def _mapped(self, fn, args: list, xs: list, x_dims: list, result_dims: list) -> list:
        """``fn(args, xs) -> list`` (one example's arguments and its tangents or cotangents,
        None for zero; a result None for zero) on every example: result ``i`` with its batch
        axis first, or summed over the examples where ``result_dims[i]`` is None (it
        belongs to an argument every example shares)."""
        values = [*args, *(x for x in xs if x is not None)]
        dims = [*self.arg_dims, *(d for x, d in zip(xs, x_dims) if x is not None)]
        specs = []
        for v, dim in zip(values, dims):
            shape = tuple(np.shape(v))
            if dim is not None:
                shape = shape[:dim] + shape[dim + 1 :]
            specs.append((shape, np.dtype(v.dtype), False))
        _, tree = flatten(((list(args), list(xs)), {}))
        labels = [f"x{i}" for i in range(len(values))]
        call = Call((), {}, specs, tree, labels, [])
        graph = trace_to_graph(lambda a, x: list(fn(a, x)), call, f"{self.name}_rule")
        out_tree = graph.graph["out_tree"]
        out_dims = [0] * len(graph.graph["outputs"])
        batched = build_vmap_graph(graph, dims, self.size, out_dims)
        outs = inline_graph(current_trace(), batched, values + capture_leaves(graph))
        results = unflatten(out_tree, outs)
        return [
            r if r is None or result_dims[i] is not None else ops.sum(r, axis=0)
            for i, r in enumerate(results)
        ]


def _place_output(stage: Stage, graph: Graph, o: int, batched, out_dim, size) -> int:
    """Output ``o`` with its batch axis at ``out_dim`` (repeated for every example when it
    does not depend on the batch)."""
    nid, dim = batched
    if out_dim is None:
        if dim is not None:
            raise TracegradError(
                f"vmap: out_axes is None for output {_output_name(graph, o)}, but it depends on "
                f"the mapped inputs (at {user_location()}); give it an axis"
            )
        return nid
    d = graph.nodes[o]
    with stage.at(d.get("source"), tuple(d.get("scope") or ())):
        x = stage.wrap(nid)
        if dim is None:
            shape = insert_axis(d["shape"], out_dim, size)
            x = ops.broadcast_to(ops.expand_dims(x, out_dim), shape)
        else:
            x = ops.moveaxis(x, dim, out_dim)
    return x.node


def _output_name(graph: Graph, o: int) -> str:
    name = graph.nodes[o].get("name")
    return f"{graph.graph['outputs'].index(o)}" + (f" ({name})" if name else "")


# ----- in_axes and out_axes -----


def _axis_spec(spec, what: str):
    """``spec`` if it is an int or None (a leaf of an axes specification)."""
    if spec is None:
        return None
    if isinstance(spec, (bool, np.bool_)):
        raise TracegradError(f"vmap: {what} must be ints or None, got {spec!r}")
    try:
        return operator.index(spec)
    except TypeError:
        return spec  # a container: matched against the tree by _prefix


def _prefix(spec, tree: dict, what: str) -> list:
    """The axis of each leaf of ``tree`` from ``spec``, a pytree prefix of it (JAX's rule:
    an int or None stands for every leaf under it)."""
    spec = _axis_spec(spec, what)
    kind = tree["type"]
    if spec is None or isinstance(spec, int):
        return [spec] * num_leaves(tree)
    children = tree.get("children", [])
    if isinstance(spec, (tuple, list)) and kind in ("tuple", "list") and len(spec) == len(children):
        return [a for s, c in zip(spec, children) for a in _prefix(s, c, what)]
    keys = tree.get("keys")
    if (
        isinstance(spec, dict)
        and kind == "dict"
        and sorted(map(repr, spec)) == sorted(map(repr, keys))
    ):
        return [a for k, c in zip(tree["keys"], children) for a in _prefix(spec[k], c, what)]
    raise TracegradError(
        f"vmap: {what} {spec!r} is not a prefix of the value's structure "
        f"({_describe(tree)}) (at {user_location()})"
    )


def _describe(tree: dict) -> str:
    kind = tree["type"]
    if kind == "leaf":
        return "an array"
    if kind in ("none", "static"):
        return {"none": "None", "static": "a static value"}[kind]
    parts = [_describe(c) for c in tree["children"]]
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(tree["keys"], parts)) + "}"
    return ("(" if kind == "tuple" else "[") + ", ".join(parts) + (")" if kind == "tuple" else "]")


def resolve_in_axes(in_axes, tree: dict, names: Sequence[str]) -> list[int | None]:
    """The mapped axis of every argument leaf (as flattened), from ``in_axes``.

    ``in_axes`` is an int or None for every positional argument, or a tuple with
    one entry per positional argument, each a pytree prefix of it. Keyword
    arguments are mapped along axis 0 (as in JAX).
    """
    args, kwargs = tree["children"]
    arg_trees = args["children"]
    if isinstance(in_axes, (tuple, list)):
        if len(in_axes) != len(arg_trees):
            raise TracegradError(
                f"vmap: in_axes has {len(in_axes)} entries, but the function was called with "
                f"{len(arg_trees)} positional arguments (at {user_location()}); give one "
                "entry per positional argument"
            )
        specs = list(in_axes)
    else:
        specs = [in_axes] * len(arg_trees)
    out = []
    for spec, t, name in zip(specs, arg_trees, names):
        if t["type"] == "static":
            if isinstance(in_axes, (tuple, list)) and spec is not None:
                raise TracegradError(
                    f"vmap: argument {name} is static and cannot be mapped; its in_axes "
                    f"entry must be None, got {spec!r} (at {user_location()})"
                )
            continue
        out.extend(_prefix(spec, t, f"in_axes for argument {name}"))
    return out + [0] * num_leaves(kwargs)


def normalize_axes(axes, shapes, labels, what: str) -> list[int | None]:
    """Non-negative axes (checked against the batched leaves' ranks)."""
    out = []
    for a, shape, label in zip(axes, shapes, labels):
        if a is not None:
            if not -len(shape) <= a < len(shape):
                raise TracegradError(
                    f"vmap: {what} {label} along axis {a}, but it has rank {len(shape)} "
                    f"(shape {tuple(shape)}) (at {user_location()})"
                )
            a %= len(shape)
        out.append(a)
    return out


def batch_size(axes, shapes, labels, axis_size: int | None) -> int:
    """The number of examples: the mapped axes' common size (or ``axis_size``)."""
    sizes = [(label, shape[a], a) for a, shape, label in zip(axes, shapes, labels) if a is not None]
    if axis_size is not None:
        sizes.insert(0, ("axis_size", operator.index(axis_size), None))
    if not sizes:
        raise TracegradError(
            f"vmap: no argument is mapped (in_axes is None everywhere), so the number of "
            f"examples is unknown (at {user_location()}); map an argument or give axis_size"
        )
    if len({s for _, s, _ in sizes}) > 1:
        listed = "; ".join(
            f"{label} = {s}" if a is None else f"argument {label} has size {s} along axis {a}"
            for label, s, a in sizes
        )
        raise TracegradError(
            f"vmap: the mapped axes have different sizes: {listed} (at {user_location()})"
        )
    return sizes[0][1]


def resolve_out_axes(out_axes, graph: Graph, size: int) -> list[int | None]:
    """The batch axis of every output of ``graph`` (per example), from ``out_axes``."""
    axes = _prefix(out_axes, graph.graph["out_tree"], "out_axes")
    nodes = graph.node_attrs
    shapes = [(size, *nodes[o]["shape"]) for o in graph.graph["outputs"]]
    labels = [_output_name(graph, o) for o in graph.graph["outputs"]]
    return normalize_axes(axes, shapes, labels, "out_axes places output")
