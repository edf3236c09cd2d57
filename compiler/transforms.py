"""The transformations users call: grad, value_and_grad, vjp, jvp, jacobian (jacfwd, jacrev),
hessian, vmap.

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

from compiler import progress
from compiler.autodiff import (
    HOLOMORPHIC_HINT,
    Builder,
    build_grad_graph,
    check_output_dtype,
    copy_forward,
    finish_grad_graph,
)
from compiler.compile import CompiledFunction
from compiler.forward import build_jvp_graph
from compiler.jacobian import build_jacobian_graph
from compiler.vmap import batch_size as vmap_batch_size
from compiler.vmap import build_vmap_graph, normalize_axes, resolve_in_axes, resolve_out_axes
from tracer import ops
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
        fwd = self.inner.trace(*call.args, **call.kwargs)
        with progress.step(f"building {self.name}", len(fwd)):
            graph = self.transform(fwd)
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


def _check_float_inputs(
    fwd: Graph, ids: Sequence[int], fname: str, holomorphic: bool = False, real: bool = False
) -> None:
    """Differentiated inputs are floating-point or complex; complex with ``holomorphic``, real
    with ``real`` (forward mode without ``holomorphic``: a complex input's tangent space is
    two-dimensional, so one column per element cannot describe it)."""
    for n in ids:
        d = fwd.nodes[n]
        kind = np.dtype(d["dtype"]).kind
        what = f"argument {d.get('name') or n} is {format_aval(d['shape'], d['dtype'])}"
        if holomorphic and kind != "c":
            raise TracegradError(
                f"{fname}(holomorphic=True) needs complex inputs, but {what}; cast it with "
                f".astype(complex) (at {user_location()})"
            )
        if kind not in "fc":
            hint = " (pass 2.0, not 2)" if d["shape"] == () else ""
            raise TracegradError(
                f"{fname} requires floating-point inputs, but {what}{hint}; cast it with "
                f".astype(float) (at {user_location()})"
            )
        if real and kind == "c":
            raise TracegradError(
                f"{fname} needs real inputs, but {what} (at {user_location()}); {HOLOMORPHIC_HINT}"
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

    def __init__(self, fun, argnums=0, has_aux=False, with_value=False, backend=None,
                 holomorphic=False, fname=None):  # fmt: skip
        super().__init__(fun, "value_and_grad" if with_value else "grad", backend)
        self.argnums, self.has_aux, self.with_value = argnums, has_aux, with_value
        self.holomorphic = holomorphic
        self.fname = fname or ("value_and_grad" if with_value else "grad")  # named in errors

    def transform(self, fwd: Graph) -> Graph:
        fname = self.fname
        groups, argnums = _wrt_inputs(fwd, self.argnums, fname)
        wrt = [n for ids in groups for n in ids]
        _check_float_inputs(fwd, wrt, fname, self.holomorphic)
        y, aux, aux_tree = _split_aux(fwd, self.has_aux, fname)
        if tuple(fwd.nodes[y]["shape"]) == ():  # (build_grad_graph explains a non-scalar one)
            check_output_dtype(fname, fwd, y, self.holomorphic)
        # the forward value is an output only for value_and_grad: build_grad_graph prunes
        # what the outputs do not need, once
        g = build_grad_graph(fwd, wrt, keep_value=self.with_value, output=0, extra_outputs=aux,
                             holomorphic=self.holomorphic)  # fmt: skip
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
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    *,
    backend=None,
) -> GradFunction:
    """The gradient of a scalar function, as a compiled traced function.

    Args:
        fun: a function of arrays returning one real scalar (or ``(scalar, aux)`` with
            ``has_aux``); plain Python or ``@trace``-decorated.
        argnums: which positional argument(s) to differentiate; a tuple gives a tuple.
        has_aux: ``fun`` returns ``(output, aux)``; the result is ``(grads, aux)``.
        holomorphic: ``fun`` is holomorphic, of complex inputs with a complex output:
            the gradient is ``f'(z)``. Without it the output must be real; for complex
            inputs the gradient is then JAX's ``df/dx - 1j * df/dy`` (its conjugate is the
            direction of steepest ascent), see docs/derivatives.md.
        backend: where the gradient runs (``compiler.backends``; default: chosen per
            call from the arguments).

    Returns:
        A function with ``fun``'s arguments returning gradients shaped like the
        arguments (pytrees give pytrees).

    Example:
        >>> import numpy as np
        >>> from compiler import grad
        >>> grad(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]))  # 3 x ** 2
        array([ 3., 12.])
        >>> grad(lambda w, x: np.sum(w * x), argnums=(0, 1))(np.ones(2), np.arange(2.0))
        (array([0., 1.]), array([1., 1.]))
    """
    return GradFunction(fun, argnums, has_aux, with_value=False, backend=backend,
                        holomorphic=holomorphic)  # fmt: skip


def value_and_grad(
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    holomorphic: bool = False,
    *,
    backend=None,
):
    """Like ``grad``, returning ``(value, grads)`` (``((value, aux), grads)`` with ``has_aux``).

    The value and the gradient come from one compiled program: the forward values
    are computed once and shared with the backward pass.

    Args:
        fun: a function of arrays returning one real scalar (or ``(scalar, aux)``).
        argnums, has_aux, holomorphic, backend: as for ``grad``.

    Returns:
        A function with ``fun``'s arguments returning ``(value, grads)``.

    Example:
        >>> import numpy as np
        >>> from compiler import value_and_grad
        >>> value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
        (np.float64(5.0), array([2., 4.]))
    """
    return GradFunction(fun, argnums, has_aux, with_value=True, backend=backend,
                        holomorphic=holomorphic)  # fmt: skip


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

    Args:
        fun: the function (plain NumPy code, traced or transformed).
        *primals: its positional arguments (arrays, numbers or pytrees).

    Returns:
        ``(out, vjp_fn)``: ``out = fun(*primals)`` and ``vjp_fn(ct)``, a tuple with one
        cotangent per primal, ``ct`` pulled back through ``fun``'s Jacobian.

    Example:
        >>> import numpy as np
        >>> from compiler import vjp
        >>> out, vjp_fn = vjp(np.sin, np.array([0.0, np.pi]))
        >>> vjp_fn(np.array([1.0, 2.0]))  # ct * cos(x)
        (array([ 1., -2.]),)
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
        # (a traced value has a dtype, not a result_type)
        want = np.dtype(p.dtype if isinstance(p, TracedArray) else np.result_type(p))
        have = np.dtype(t.dtype if isinstance(t, TracedArray) else np.result_type(t))
        if have.kind == "c" and want.kind != "c":
            raise TracegradError(
                f"{what} is {have.name} but {ref} is {want.name} (at {user_location()}): a "
                "real value has real tangents and cotangents, and casting would drop the "
                "imaginary part"
            )
        if not isinstance(t, TracedArray):
            t = np.asarray(t, dtype=want)
        out.append(t)
    return unflatten(t_tree, out)


def jvp(fun: Callable, primals: Sequence, tangents: Sequence):
    """Forward mode: ``(fun(*primals), tangent of the output along tangents)``.

    Args:
        fun: the function.
        primals: a tuple/list of its positional arguments (arrays or pytrees).
        tangents: the same structure and shapes as ``primals`` (cast to their dtypes);
            those of static arguments are ignored.

    Returns:
        ``(out, tangent_out)``: ``fun(*primals)`` and its directional derivative along
        ``tangents`` (the Jacobian times the tangents), in one forward pass.

    Example:
        >>> import numpy as np
        >>> from compiler import jvp
        >>> jvp(np.exp, (np.array([0.0, 1.0]),), (np.array([1.0, 0.5]),))
        (array([1.        , 2.71828183]), array([1.        , 1.35914091]))
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

    def __init__(self, fun, argnums=0, mode=None, backend=None, holomorphic=False,
                 fname="jacobian"):  # fmt: skip
        super().__init__(fun, fname, backend)
        self.argnums, self.mode, self.holomorphic, self.fname = argnums, mode, holomorphic, fname

    def transform(self, fwd: Graph) -> Graph:
        groups, argnums = _wrt_inputs(fwd, self.argnums, self.fname)
        wrt = [n for ids in groups for n in ids]
        mode = self._complex_mode(fwd, wrt)
        g = build_jacobian_graph(fwd, wrt, mode)
        g.graph["out_tree"] = _graft(fwd.graph["out_tree"], _grad_tree(fwd, argnums))
        g.graph["name"] = self.name
        return g

    def _complex_mode(self, fwd: Graph, wrt: list[int]) -> str | None:
        """The mode complex values allow (JAX's jacrev/jacfwd rules), or a clear error.

        Without ``holomorphic``, a complex input needs reverse mode (its column is the
        cotangent ``df/dx - 1j * df/dy`` of each real output element) and a complex output
        needs forward mode (its row is ``d out / dx`` of each real input element).
        """
        fname, mode, outs = self.fname, self.mode, fwd.graph["outputs"]
        if self.fname == "jacobian" and mode is not None:
            fname = f"jacobian(mode={mode!r})"
        if self.holomorphic:
            _check_float_inputs(fwd, wrt, fname, holomorphic=True)
            for o in outs:
                check_output_dtype(fname, fwd, o, holomorphic=True)
            return mode
        complex_in = any(np.dtype(fwd.nodes[n]["dtype"]).kind == "c" for n in wrt)
        complex_out = [o for o in outs if np.dtype(fwd.nodes[o]["dtype"]).kind == "c"]
        _check_float_inputs(fwd, wrt, fname, real=mode == "fwd")
        if complex_out and (complex_in or mode == "rev"):
            check_output_dtype(fname, fwd, complex_out[0], holomorphic=False)
        if complex_in:
            return "rev"
        return "fwd" if complex_out else mode


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
    fun: Callable,
    argnums: int | Sequence[int] = 0,
    mode: str | None = None,
    holomorphic: bool = False,
    *,
    backend=None,
):
    """The Jacobian of ``fun``: for each output, for each argument, ``out.shape + arg.shape``.

    Args:
        fun: the function.
        argnums: argument(s) to differentiate with respect to.
        mode: ``"rev"`` (one reverse pass per output element), ``"fwd"`` (one forward
            pass per input element), or None to pick the one with fewer passes.
        holomorphic: ``fun`` is holomorphic (complex inputs and outputs): the entries are
            ``d out / d z``. Without it, complex inputs need real outputs (reverse mode,
            entries ``d out/dx - 1j * d out/dy`` as ``grad``'s) and complex outputs real
            inputs (forward mode), as JAX's ``jacrev`` and ``jacfwd``.
        backend: where it runs (``compiler.backends``).

    Returns:
        A function with ``fun``'s arguments returning the Jacobian blocks, shaped
        ``out.shape + arg.shape`` (pytrees of outputs and arguments give nested pytrees).

    Example:
        >>> import numpy as np
        >>> from compiler import jacobian
        >>> jacobian(lambda x: x[::-1] * 2.0)(np.zeros(2))
        array([[0., 2.],
               [2., 0.]])
    """
    return JacobianFunction(fun, argnums, mode, backend, holomorphic)


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, *, backend=None):
    """The Jacobian by forward mode: ``jacobian(fun, argnums, mode="fwd")`` (one pass per
    input element; the cheaper mode for tall Jacobians, more outputs than inputs).

    Example:
        >>> import numpy as np
        >>> from compiler import jacfwd
        >>> jacfwd(lambda x: np.sin(x) * 2.0)(np.zeros(2))
        array([[2., 0.],
               [0., 2.]])
    """
    return jacobian(fun, argnums, mode="fwd", backend=backend)


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, *, backend=None):
    """The Jacobian by reverse mode: ``jacobian(fun, argnums, mode="rev")`` (one pass per
    output element; the cheaper mode for wide Jacobians, more inputs than outputs).

    Example:
        >>> import numpy as np
        >>> from compiler import jacrev
        >>> jacrev(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
        array([2., 4.])
    """
    return jacobian(fun, argnums, mode="rev", backend=backend)


def hessian(
    fun: Callable, argnums: int | Sequence[int] = 0, holomorphic: bool = False, *, backend=None
):
    """The Hessian of a scalar function: ``jacobian(grad(fun))`` (forward over reverse).

    Args:
        fun: a function of arrays returning one real scalar.
        argnums: argument(s) to differentiate twice with respect to.
        holomorphic: ``fun`` is a holomorphic function of complex inputs: the result is
            ``f''(z)``; without it, the inputs must be real.
        backend: where it runs (``compiler.backends``).

    Returns:
        A function with ``fun``'s arguments returning ``arg.shape + arg.shape`` blocks.

    Example:
        >>> import numpy as np
        >>> from compiler import hessian
        >>> hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 3.0]))
        array([[6., 2.],
               [2., 0.]])
    """
    inner = GradFunction(fun, argnums, holomorphic=holomorphic, fname="hessian")
    return JacobianFunction(inner, argnums, "fwd", backend, holomorphic, fname="hessian")


# ----- vmap -----


class VmapFunction(Transformed):
    """``vmap(f)``: ``f`` on a batch of examples, as one batched graph (``compiler.vmap``)."""

    def __init__(self, fun, in_axes=0, out_axes=0, axis_size=None, backend=None):
        super().__init__(fun, "vmap", backend)
        if isinstance(in_axes, dict):
            raise TracegradError(
                "vmap: in_axes must be an int, None, or a tuple with one entry per positional "
                f"argument (a dict there is not), got {in_axes!r}; for a dict argument write "
                "in_axes=({...},)"
            )
        self.in_axes, self.out_axes, self.axis_size = in_axes, out_axes, axis_size

    def _transformed(self, call: Call) -> Graph:
        names = self._arg_names(len(call.args), call.kwargs)
        axes = resolve_in_axes(self.in_axes, call.tree, names)
        shapes = [s[0] for s in call.specs]
        axes = normalize_axes(axes, shapes, call.labels, "in_axes maps argument")
        size = vmap_batch_size(axes, shapes, call.labels, self.axis_size)
        n = len(call.args)
        static = {i % n for i in self.static_argnums if -n <= i < n}
        leaves, tree = flatten((tuple(None if i in static else a for i, a in enumerate(call.args)),
                                call.kwargs))  # fmt: skip
        leaves = [
            leaf if a is None else Spec(s[0][:a] + s[0][a + 1 :], s[1])
            for leaf, a, s in zip(leaves, axes, call.specs)
        ]
        args, kwargs = unflatten(tree, leaves)
        args = tuple(call.args[i] if i in static else x for i, x in enumerate(args))
        fwd = self.inner.trace(*args, **kwargs)  # one example
        out_axes = resolve_out_axes(self.out_axes, fwd, size)
        with progress.step(f"building {self.name}", len(fwd)):
            graph = build_vmap_graph(fwd, axes, size, out_axes)
        graph.graph["name"] = self.name
        self.trace_count += 1
        return graph


def vmap(
    fun: Callable, in_axes=0, out_axes=0, axis_size: int | None = None, *, backend=None
) -> VmapFunction:
    """Vectorize ``fun`` over a batch axis of its arguments (JAX's ``vmap``).

    ``vmap(f)(xs)`` stacks ``f(x)`` for each ``x`` along ``xs``'s first axis, but
    computes it with one batched graph: each primitive applied once to the whole
    batch (its batching rule), no Python loop. It composes with every other
    transformation: ``vmap(grad(loss), in_axes=(None, 0, 0))(params, xs, ys)`` gives
    per-example gradients; ``grad``, ``jacobian`` and ``compile`` of a vmap work.

    Args:
        fun: the function (plain NumPy code, traced or transformed).
        in_axes: the batch axis of each argument: an int or None (not mapped: the
            same value for every example) for all positional arguments, or a tuple
            with one entry per positional argument, each an int, None, or a pytree
            prefix of that argument (``({"w": None, "b": 0},)``). Negative axes
            count from the end. Keyword arguments are mapped along axis 0.
        out_axes: where the batch axis goes in the result: an int or None (only for
            results that do not depend on the batch), or a pytree prefix of the result.
        axis_size: the number of examples, needed when no argument is mapped.
        backend: where it runs (``compiler.backends``).

    Returns:
        A function with ``fun``'s arguments returning ``fun``'s results with a batch axis.

    Example:
        >>> import numpy as np
        >>> from compiler import grad, vmap
        >>> def loss(w, x, y):
        ...     return (np.dot(x, w) - y) ** 2
        >>> w, xs, ys = np.array([1.0, 2.0]), np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)
        >>> vmap(grad(loss), in_axes=(None, 0, 0))(w, xs, ys)  # row i: grad(loss)(w, xs[i], ys[i])
        array([[2., 0.],
               [0., 4.]])
        >>> vmap(np.dot, in_axes=(0, None))(np.ones((5, 3)), np.ones(3)).shape
        (5,)
    """
    return VmapFunction(fun, in_axes, out_axes, axis_size, backend)


def elementwise_grad(
    fun: Callable, argnums: int | Sequence[int] = 0, *, backend=None
) -> GradFunction:
    """HIPS autograd's ``elementwise_grad``: the gradient of ``np.sum(fun(...))``.

    It is the sum of each column of the Jacobian, in one reverse pass. For an
    elementwise ``fun`` (each output element depends on the same element of the
    input) that is the Jacobian's diagonal, the derivative at each point: what
    ``vmap(grad(fun))`` computes for a 1-D ``x`` (``vmap(vmap(grad(fun)))`` for a
    2-D one), for any shape.

    Example:
        >>> x = np.linspace(-2.0, 2.0, 5)
        >>> np.allclose(elementwise_grad(np.tanh)(x), 1 - np.tanh(x) ** 2)
        True
    """
    inner = _as_traced(fun)

    def summed(*args, **kwargs):
        return ops.sum(inner(*args, **kwargs))

    summed = TracedFunction(summed, static_argnums=inner.static_argnums, name=inner.name)
    return GradFunction(summed, argnums, backend=backend)
