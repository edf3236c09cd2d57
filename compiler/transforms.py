"""The transformations users call: grad, value_and_grad, vjp, jvp, jacobian, hessian.

Each returns a traced function (callable on arrays; ``.trace(...)`` gives its
graph; transformable again), following JAX's conventions. A transformation
traces the function it wraps for the call's signature and turns that graph into
a new one (``compiler.autodiff``, ``compiler.forward``, ``compiler.jacobian``),
so ``grad(grad(f))`` is the gradient graph of the gradient graph.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence

import numpy as np

from compiler.autodiff import Builder, build_grad_graph, copy_forward, finish_grad_graph
from compiler.compile import CompiledFunction
from compiler.forward import build_jvp_graph
from compiler.jacobian import build_jacobian_graph
from tracer.captures import capture_leaves, capture_nodes, explicit_inputs
from tracer.errors import TracegradError
from tracer.frames import user_location
from tracer.graph import Graph
from tracer.interpreter import flatten_args
from tracer.pytree import flatten, num_leaves, unflatten
from tracer.spec import Spec, format_aval
from tracer.traced import TracedArray
from tracer.tracing import Call, TracedFunction


def _as_traced(fun) -> TracedFunction:
    if isinstance(fun, TracedFunction):
        return fun
    if not callable(fun):
        raise TypeError(f"expected a function, got {type(fun).__name__}")
    return TracedFunction(fun)


class Transformed(CompiledFunction):
    """A compiled function whose graph is a transformation of another traced function's graph.

    Its graph maker traces the inner function and calls ``transform`` on that graph
    (a new graph, optimised in place); the result is compiled like any ``compile``-d
    function. The inner graph's capture inputs (``tracer.captures``) stay the last
    inputs of the transformed graph and are never differentiated.
    """

    def __init__(self, fun: Callable, prefix: str, backend=None):
        inner = _as_traced(fun)
        self.inner = inner
        super().__init__(inner.fn, static_argnums=inner.static_argnums,
                         name=f"{prefix}_{inner.name}", make_graph=self._transformed,
                         debug_nans=inner.debug_nans, backend=backend)  # fmt: skip

    def _transformed(self, call: Call) -> Graph:
        graph = self.transform(self.inner.trace(*call.args, **call.kwargs))
        self.trace_count += 1  # after: a call that fails (grad of an int input) built nothing
        return graph

    def transform(self, fwd: Graph) -> Graph:
        """The transformed graph of forward graph ``fwd`` (each transformation defines it)."""
        raise NotImplementedError


# ----- argument bookkeeping -----


def _arg_trees(fwd: Graph) -> list[dict]:
    return fwd.graph["in_tree"]["children"][0]["children"]


def _wrt_inputs(fwd: Graph, argnums, fname: str) -> tuple[list[list[int]], tuple]:
    """Input node ids of each argument in ``argnums`` (checked), and argnums as a tuple."""
    trees = _arg_trees(fwd)
    many = not isinstance(argnums, (int, np.integer))
    if many and not isinstance(argnums, (tuple, list)):
        raise TracegradError(f"{fname}: argnums must be an int or a tuple of ints, got {argnums!r}")
    nums = tuple(argnums) if many else (argnums,)
    if many and not nums:
        raise TracegradError(f"{fname}: argnums must name at least one argument")
    offsets, off = [], 0
    for t in trees:
        offsets.append(off)
        off += num_leaves(t)
    groups = []
    for a in nums:
        if not isinstance(a, (int, np.integer)) or not -len(trees) <= a < len(trees):
            raise TracegradError(
                f"{fname}: argnums={argnums!r} is out of range for a function called with "
                f"{len(trees)} positional arguments"
            )
        a = int(a) % len(trees)
        if trees[a]["type"] == "static":
            raise TracegradError(f"{fname}: argument {a} is static and cannot be differentiated")
        ids = fwd.graph["inputs"][offsets[a] : offsets[a] + num_leaves(trees[a])]
        groups.append(ids)
    return groups, nums if many else nums[0]


def _check_float_inputs(fwd: Graph, ids: Sequence[int], fname: str) -> None:
    for n in ids:
        d = fwd.nodes[n]
        if np.dtype(d["dtype"]).kind not in "fc":
            hint = " (pass 2.0, not 2)" if d["shape"] == () else ""
            raise TracegradError(
                f"{fname} requires floating-point inputs, but argument {d.get('name') or n} is "
                f"{format_aval(d['shape'], d['dtype'])}{hint}; cast it with .astype(float) "
                f"(at {user_location()})"
            )
        if np.dtype(d["dtype"]).kind == "c":
            raise TracegradError(
                f"{fname}: complex inputs are not supported (argument {d.get('name') or n} is "
                f"{format_aval(d['shape'], d['dtype'])}); differentiate the real and imaginary "
                f"parts as separate float arrays (at {user_location()})"
            )


def _grad_tree(fwd: Graph, argnums) -> dict:
    trees = _arg_trees(fwd)
    if isinstance(argnums, tuple):
        return {"type": "tuple", "children": [trees[int(a) % len(trees)] for a in argnums]}
    return trees[int(argnums) % len(trees)]


def _split_aux(fwd: Graph, has_aux: bool, fname: str):
    """(main output node, aux node ids, aux tree) of a forward graph."""
    tree, outs = fwd.graph["out_tree"], fwd.graph["outputs"]
    if has_aux:
        if tree["type"] not in ("tuple", "list") or len(tree["children"]) != 2:
            raise TracegradError(
                f"{fname}(has_aux=True): the function must return a pair (output, aux), "
                f"it returned {_describe_tree(tree)} (at {user_location()})"
            )
        main, aux = tree["children"]
        if main["type"] != "leaf":
            raise TracegradError(
                f"{fname}(has_aux=True): the first element of the returned pair must be one "
                f"scalar array, got {_describe_tree(main)} (at {user_location()})"
            )
        return outs[0], list(outs[1:]), aux
    if tree["type"] != "leaf":
        raise TracegradError(
            f"{fname} needs a function returning one scalar array, but it returns "
            f"{_describe_tree(tree)} (at {user_location()}); use has_aux=True to return extra "
            "values, or jacobian/vjp for several outputs"
        )
    return outs[0], [], None


def _describe_tree(tree) -> str:
    kind = tree["type"]
    if kind == "leaf":
        return "an array"
    n = len(tree.get("children", ()))
    return {"none": "None", "static": "a static value"}.get(kind, f"a {kind} of {n} items")


# ----- grad and value_and_grad -----


class GradFunction(Transformed):
    """``grad(f)`` / ``value_and_grad(f)``: the compiled reversed gradient graph of ``f``."""

    def __init__(self, fun, argnums=0, has_aux=False, with_value=False, backend=None):
        super().__init__(fun, "value_and_grad" if with_value else "grad", backend)
        self.argnums, self.has_aux, self.with_value = argnums, has_aux, with_value

    def transform(self, fwd: Graph) -> Graph:
        fname = "value_and_grad" if self.with_value else "grad"
        groups, argnums = _wrt_inputs(fwd, self.argnums, fname)
        wrt = [n for ids in groups for n in ids]
        _check_float_inputs(fwd, wrt, fname)
        y, aux, aux_tree = _split_aux(fwd, self.has_aux, fname)
        # the forward value is an output only for value_and_grad: build_grad_graph prunes
        # what the outputs do not need, once
        g = build_grad_graph(fwd, wrt, keep_value=self.with_value, output=0, extra_outputs=aux)
        outs = g.graph["outputs"]
        first = 1 if self.with_value else 0
        grads, auxs = outs[first : first + len(wrt)], outs[first + len(wrt) :]
        grad_tree = _grad_tree(fwd, argnums)
        leaf = {"type": "leaf"}
        if self.with_value:
            value_tree = {"type": "tuple", "children": [leaf, aux_tree]} if self.has_aux else leaf
            g.graph["outputs"] = [outs[0], *auxs, *grads]
            g.graph["out_tree"] = {"type": "tuple", "children": [value_tree, grad_tree]}
        else:
            g.graph["outputs"] = [*grads, *auxs]
            g.graph["out_tree"] = (
                {"type": "tuple", "children": [grad_tree, aux_tree]} if self.has_aux else grad_tree
            )
        g.graph["name"] = self.name
        return g


def grad(
    fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *, backend=None
) -> GradFunction:
    """The gradient of a scalar function, as a compiled traced function.

    Args:
        fun: a function of arrays returning one scalar (or ``(scalar, aux)`` with
            ``has_aux``); plain Python or ``@trace``-decorated.
        argnums: which positional argument(s) to differentiate; a tuple gives a tuple.
        has_aux: ``fun`` returns ``(output, aux)``; the result is ``(grads, aux)``.
        backend: where the gradient runs (``compiler.backends``; default: chosen per
            call from the arguments).

    Returns:
        A function with ``fun``'s arguments returning gradients shaped like the
        arguments (pytrees give pytrees).
    """
    return GradFunction(fun, argnums, has_aux, with_value=False, backend=backend)


def value_and_grad(
    fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False, *, backend=None
):
    """Like ``grad``, returning ``(value, grads)`` (``((value, aux), grads)`` with ``has_aux``)."""
    return GradFunction(fun, argnums, has_aux, with_value=True, backend=backend)


# ----- vjp and jvp -----


class _PairFunction(Transformed):
    """A transformation called as ``F(primals_tuple, other_tuple)``."""

    def __init__(self, fun, prefix):
        super().__init__(fun, prefix)
        self.static_argnums = ()
        self._signature = None

    def _transformed(self, call: Call) -> Graph:
        primals, _ = call.args
        fwd = self.inner.trace(*primals)
        graph = self.transform_pair(fwd, call.tree)
        self.trace_count += 1
        return graph


class _VjpFunction(_PairFunction):
    def __init__(self, fun):
        super().__init__(fun, "vjp")

    def transform_pair(self, fwd: Graph, tree: dict) -> Graph:
        g = copy_forward(fwd)
        b = Builder(g)
        seeds, ct_inputs = [], []
        for o in fwd.graph["outputs"]:
            d = g.nodes[o]
            tid = g.add_op("input", (), {}, d["shape"], d["dtype"], name=f"ct_{d.get('name') or o}",
                           source=d.get("source"), scope=d.get("scope", ()), role="backward",
                           grad_of=o, seed=True)  # fmt: skip
            ct_inputs.append(tid)
            if np.dtype(d["dtype"]).kind in "fc":
                seeds.append((o, b.wrap(tid)))
        wrt = explicit_inputs(fwd)
        g.graph["inputs"] = wrt + ct_inputs + capture_nodes(fwd)
        g = finish_grad_graph(b, seeds, wrt, [])
        g.graph["out_tree"] = {"type": "tuple", "children": _arg_trees(fwd)}
        g.graph["in_tree"] = tree
        g.graph["name"] = self.name
        return g


class _JvpFunction(_PairFunction):
    def __init__(self, fun):
        super().__init__(fun, "jvp")

    def transform_pair(self, fwd: Graph, tree: dict) -> Graph:
        g = build_jvp_graph(fwd)
        out_tree = fwd.graph["out_tree"]
        g.graph["out_tree"] = {"type": "tuple", "children": [out_tree, out_tree]}
        g.graph["in_tree"] = tree
        g.graph["name"] = self.name
        return g


_vjp_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_jvp_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_cache_lock = threading.Lock()  # threads making the same first call share one transformed fn


def _cached(cache, cls, fun):
    try:
        hit = cache.get(fun)
        if hit is None:
            with _cache_lock:
                hit = cache.get(fun)
                if hit is None:
                    hit = cache[fun] = cls(fun)
        return hit
    except TypeError:  # not weak-referenceable
        return cls(fun)


_static_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bind_static(fun, primals: tuple):
    """``(function of the dynamic primals only, those primals, static positions)``.

    vjp and jvp take all of ``fun``'s positional arguments; the static ones of a
    ``@trace(static_argnums=...)`` function are bound here (one function per static
    values, cached), so the transformed graph sees only arrays.
    """
    n = len(primals)
    static = sorted({i % n for i in getattr(fun, "static_argnums", ()) if -n <= i < n})
    if not static:
        return fun, primals, ()
    values = tuple(primals[i] for i in static)
    with _cache_lock:
        per_fun = _static_cache.setdefault(fun, {})
        bound = per_fun.get((tuple(static), values))
        if bound is None:

            def call(*dyn):
                it = iter(dyn)
                return fun.fn(*[values[static.index(i)] if i in static else next(it)
                                for i in range(n)])  # fmt: skip

            bound = per_fun[tuple(static), values] = TracedFunction(call, name=fun.name)
    return bound, tuple(p for i, p in enumerate(primals) if i not in static), tuple(static)


def vjp(fun: Callable, *primals):
    """``(fun(*primals), vjp_fn)``; ``vjp_fn(cotangent)`` returns one cotangent per primal.

    The cotangent has the structure of ``fun``'s output (any shape: no scalar needed).
    Static arguments of a ``@trace(static_argnums=...)`` function get ``None``.
    """
    fun, dyn, static = _bind_static(fun, primals)
    vf = _cached(_vjp_cache, _VjpFunction, fun)
    out = vf.inner(*dyn)
    # The linearisation point includes the captured globals and closure values: the graph
    # and their values are fixed now, as JAX's residuals and autograd's tape are.
    out_leaves, out_tree = flatten(out)
    spec = unflatten(out_tree, [o if isinstance(o, TracedArray) else Spec(np.shape(o),
                                np.result_type(o)) for o in out_leaves])  # fmt: skip
    graph = vf.trace(dyn, spec)
    pinned = capture_leaves(graph)

    def vjp_fn(cotangent):
        ct = _match_tangent("vjp: the cotangent", "the output", out, cotangent)
        cts = iter(vf.call_graph(graph, flatten_args(graph, (dyn, ct)) + pinned))
        return tuple(None if i in static else next(cts) for i in range(len(primals)))

    return out, vjp_fn


def _match_tangent(what: str, ref: str, primal, tangent):
    """``tangent`` checked against ``primal`` (same pytree structure and shapes), leaves cast
    to the primal's dtypes; ``what`` and ``ref`` name the two in errors."""
    p_leaves, p_tree = flatten(primal)
    t_leaves, t_tree = flatten(tangent)
    if p_tree != t_tree:
        raise TracegradError(
            f"{what} does not have the structure of {ref} ({_describe_tree(t_tree)} vs "
            f"{_describe_tree(p_tree)}) (at {user_location()})"
        )
    out = []
    for p, t in zip(p_leaves, t_leaves):
        ps, ts = np.shape(p), np.shape(t)
        if ps != ts:
            raise TracegradError(
                f"{what} has shape {ts}, {ref} has shape {ps} (at {user_location()})"
            )
        if not isinstance(t, TracedArray):  # a traced primal has a dtype, not a result_type
            t = np.asarray(t, dtype=p.dtype if isinstance(p, TracedArray) else np.result_type(p))
        out.append(t)
    return unflatten(t_tree, out)


def jvp(fun: Callable, primals: Sequence, tangents: Sequence):
    """Forward mode: ``(fun(*primals), tangent of the output along tangents)``.

    Args:
        fun: the function.
        primals: a tuple/list of its positional arguments (arrays or pytrees).
        tangents: the same structure and shapes as ``primals`` (cast to their dtypes);
            those of static arguments are ignored.
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp(fun, primals, tangents): primals and tangents must be tuples or lists")
    if len(primals) != len(tangents):
        raise TypeError(
            f"jvp: {len(primals)} primals but {len(tangents)} tangents; they must match"
        )
    fun, dyn, static = _bind_static(fun, tuple(primals))
    jf = _cached(_jvp_cache, _JvpFunction, fun)
    tangents = tuple(
        _match_tangent(f"jvp: tangent {i}", "its primal", p, t)
        for i, (p, t) in enumerate(zip(primals, tangents))
        if i not in static
    )
    return jf(dyn, tangents)


# ----- jacobian and hessian -----


class JacobianFunction(Transformed):
    """``jacobian(f)``: blocks ``d out / d arg`` of shape ``out.shape + arg.shape``."""

    def __init__(self, fun, argnums=0, mode=None, backend=None):
        super().__init__(fun, "jacobian", backend)
        self.argnums, self.mode = argnums, mode

    def transform(self, fwd: Graph) -> Graph:
        groups, argnums = _wrt_inputs(fwd, self.argnums, "jacobian")
        wrt = [n for ids in groups for n in ids]
        _check_float_inputs(fwd, wrt, "jacobian")
        g = build_jacobian_graph(fwd, wrt, self.mode)
        g.graph["out_tree"] = _graft(fwd.graph["out_tree"], _grad_tree(fwd, argnums))
        g.graph["name"] = self.name
        return g


def _graft(outer: dict, inner: dict) -> dict:
    """``outer`` with every leaf replaced by a copy of ``inner``."""
    if outer["type"] == "leaf":
        return inner
    if "children" not in outer:
        return outer
    out = dict(outer)
    out["children"] = [_graft(c, inner) for c in outer["children"]]
    return out


def jacobian(
    fun: Callable, argnums: int | Sequence[int] = 0, mode: str | None = None, *, backend=None
):
    """The Jacobian of ``fun``: for each output, for each argument, ``out.shape + arg.shape``.

    Args:
        fun: the function.
        argnums: argument(s) to differentiate with respect to.
        mode: ``"rev"`` (one reverse pass per output element), ``"fwd"`` (one forward
            pass per input element), or None to pick the one with fewer passes.
        backend: where it runs (``compiler.backends``).
    """
    return JacobianFunction(fun, argnums, mode, backend)


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, *, backend=None):
    """The Hessian of a scalar function: ``jacobian(grad(fun))`` (forward over reverse)."""
    return jacobian(grad(fun, argnums), argnums, mode="fwd", backend=backend)
