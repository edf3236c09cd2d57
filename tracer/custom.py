"""Custom derivatives: ``custom_vjp`` and ``custom_jvp``, with JAX's semantics.

::

    @custom_jvp
    def log1pexp(x):
        return np.log1p(np.exp(x))

    @log1pexp.defjvp
    def log1pexp_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return log1pexp(x), t * (1.0 - 1.0 / (1.0 + np.exp(x)))   # finite where exp overflows

Called on arrays, the function just runs. Traced, its body is traced into the
graph as usual (under a scope with the function's name) and every result goes
through a marker node (``tracer.primitives.markers``) whose operands are the
call's results and then its arguments; the marker holds the call's ``CallRule``
in its run-time ``rule`` attribute. The compiler's drivers apply that rule once
per call in place of the body's derivative:

- ``custom_vjp`` in reverse mode runs ``fwd`` on the arguments (for the
  residuals) and ``bwd`` on the residuals and the results' cotangents; in forward
  mode (``jvp``, ``jacobian(mode="fwd")``, ``hessian``) it uses the transpose of
  ``bwd``, which is linear in the cotangent.
- ``custom_jvp`` in forward mode runs the rule; in reverse mode it uses the
  transpose of the rule's tangent map, as JAX does.

Both rules are traced where the derivative is built, into the gradient graph, so
a derivative of a derivative differentiates the rule's own ops (a higher-order
derivative exists where the rule is traceable). ``nondiff_argnums`` arguments are
static Python values (hashable), passed to the rules first.
"""

from __future__ import annotations

import copy
import functools
import inspect
import itertools
from collections.abc import Callable, Sequence

import numpy as np

from tracer.errors import TracegradError
from tracer.frames import user_location
from tracer.primitives.markers import custom_jvp_p, custom_vjp_p
from tracer.primitives.shape_ops import broadcast_to
from tracer.pytree import flatten, unflatten
from tracer.spec import Spec
from tracer.staging import Tracer, bind, current_trace, find_trace, name_scope

__all__ = ["custom_jvp", "custom_vjp"]

_SERIALS = itertools.count()  # one per custom function: its markers' ``key`` param


class _Custom:
    """What ``custom_vjp`` and ``custom_jvp`` share: the call, the markers, nondiff_argnums."""

    kind = ""
    marker = custom_vjp_p

    def __init__(self, fun: Callable, nondiff_argnums: int | Sequence[int] = ()):
        if not callable(fun):
            raise TypeError(f"{self.kind} expects a function, got {type(fun).__name__}")
        if isinstance(nondiff_argnums, int):
            nondiff_argnums = (nondiff_argnums,)
        if not all(isinstance(i, int) and i >= 0 for i in nondiff_argnums):
            raise TypeError(
                f"{self.kind}: nondiff_argnums must be non-negative ints, got {nondiff_argnums!r}"
            )
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(sorted(set(nondiff_argnums)))
        name = getattr(fun, "__name__", None) or type(fun).__name__
        self.name = "lambda" if name == "<lambda>" else name
        self._rules: dict = {}  # shared with the copies with_function makes
        self._keys: dict = {}  # nondiff values -> marker key (rules differ per value)
        self._serial = next(_SERIALS)

    def with_function(self, fun: Callable):
        """This custom function with its body replaced by ``fun`` (rules shared): how
        ``tracer.captures`` gives it a body whose globals are traced values."""
        out = copy.copy(self)
        out.fun = fun
        out.__wrapped__ = fun
        return out

    def __repr__(self) -> str:
        return f"<{self.kind} function {self.name}>"

    def __get__(self, obj, objtype=None):  # methods: bind like a function does
        return self if obj is None else functools.partial(self, obj)

    # ----- calling -----
    def __call__(self, *args, **kwargs):
        args = self._positional(args, kwargs)
        nondiff = self._nondiff_positions(len(args))
        dyn = tuple(a for i, a in enumerate(args) if i not in nondiff)
        leaves, arg_tree = flatten(dyn)
        state = find_trace(leaves)
        if state is None:  # nothing traced: the plain function, as in JAX
            return self.fun(*args)
        for i in nondiff:
            if any(isinstance(v, Tracer) for v in flatten(args[i])[0]):
                raise TracegradError(
                    f"{self.kind} {self.name}: argument {i} is in nondiff_argnums but is a "
                    "traced value; nondiff arguments are static Python values (pass arrays as "
                    f"ordinary arguments and return None as their cotangent) (at {user_location()})"
                )
        statics = tuple(args[i] for i in nondiff)
        with name_scope(self.name):
            out = self.fun(*args)
            out_leaves, out_tree = flatten(out)
            for leaf in out_leaves:
                if not isinstance(leaf, (Tracer, np.ndarray, np.generic, bool, int, float)):
                    raise TypeError(
                        f"{self.kind} {self.name} returned a {type(leaf).__name__}: it must "
                        f"return arrays, numbers or pytrees of them (at {user_location()})"
                    )
            rule = CallRule(self, nondiff, statics, arg_tree, _avals(leaves), out_tree,
                            _avals(out_leaves))  # fmt: skip
            key = self._key(statics)
            operands = [*out_leaves, *leaves]
            results = []
            for i, y in enumerate(out_leaves):
                r = bind(self.marker, *operands, weak=getattr(y, "weak", False), name=self.name,
                         key=key, output=i, outputs=len(out_leaves))  # fmt: skip
                state.graph.attrs(r.node)["rule"] = rule
                results.append(r)
        return unflatten(out_tree, results)

    def _positional(self, args: tuple, kwargs: dict) -> tuple:
        if not kwargs:
            return args
        try:
            bound = inspect.signature(self.fun).bind(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{self.name}: {exc} (at {user_location()})") from None
        if bound.kwargs:
            raise TypeError(
                f"{self.kind} {self.name}: keyword-only arguments are not supported; pass "
                f"them positionally (at {user_location()})"
            )
        return tuple(bound.args)

    def _nondiff_positions(self, n: int) -> tuple[int, ...]:
        for i in self.nondiff_argnums:
            if i >= n:
                raise TypeError(
                    f"{self.kind} {self.name}: nondiff_argnums names argument {i}, but only "
                    f"{n} were given (at {user_location()})"
                )
        return self.nondiff_argnums

    def _key(self, statics: tuple) -> str:
        try:
            key = self._keys.get(statics)
        except TypeError:
            raise TypeError(
                f"{self.kind} {self.name}: nondiff arguments must be hashable, got "
                f"{', '.join(type(s).__name__ for s in statics)} (at {user_location()})"
            ) from None
        if key is None:
            key = self._keys[statics] = f"{self._serial}.{len(self._keys)}"
        return key

    def _rule(self, name: str):
        fn = self._rules.get(name)
        if fn is None:
            define = "defvjp(fwd, bwd)" if self.kind == "custom_vjp" else "defjvp(rule)"
            raise TracegradError(
                f"{self.kind} function {self.name} has no derivative rule: call "
                f"{self.name}.{define} before differentiating it"
            )
        return fn


class custom_vjp(_Custom):  # noqa: N801  (JAX's name)
    """A function whose reverse-mode derivative is the rule you give (``defvjp``).

    Use it as a decorator on a plain NumPy function, then define ``fwd(*args) ->
    (output, residuals)`` and ``bwd(*nondiff_args, residuals, cotangent) -> one
    cotangent per (differentiable) argument`` (``None`` for zero). Residuals are any
    Python values ``fwd`` chose to pass on. ``grad`` and ``vjp`` use ``bwd``;
    forward mode (``jvp``, ``hessian``) uses its transpose; higher orders
    differentiate ``fwd`` and ``bwd`` themselves.

    Args:
        fun: the function (arrays and pytrees in, arrays and pytrees out).
        nondiff_argnums: positions of static arguments (hashable Python values:
            numbers, functions), passed to ``bwd`` first and never differentiated.

    Example:
        >>> import numpy as np
        >>> from compiler import custom_vjp, grad
        >>> @custom_vjp
        ... def clip_gradient(x):
        ...     return x
        >>> def fwd(x):
        ...     return x, None
        >>> def bwd(res, g):
        ...     return (np.clip(g, -1.0, 1.0),)
        >>> clip_gradient.defvjp(fwd, bwd)
        >>> print(grad(lambda x: 5.0 * clip_gradient(x))(2.0))   # 5 clipped to 1 on the way back
        1.0
    """

    kind = "custom_vjp"
    marker = custom_vjp_p

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        """Define the rule: ``fwd(*args) -> (out, residuals)``;
        ``bwd(*nondiff_args, residuals, cotangent_of_out) -> tuple of cotangents``."""
        if not callable(fwd) or not callable(bwd):
            raise TypeError(f"{self.name}.defvjp(fwd, bwd) takes two functions")
        self._rules["fwd"], self._rules["bwd"] = fwd, bwd


class custom_jvp(_Custom):  # noqa: N801  (JAX's name)
    """A function whose forward-mode derivative is the rule you give (``defjvp``).

    Define ``rule(*nondiff_args, primals, tangents) -> (primal_out, tangent_out)``,
    where ``primals`` and ``tangents`` are tuples of the (differentiable)
    arguments; ``tangent_out`` must be linear in ``tangents``. ``jvp`` uses the rule;
    ``grad`` and ``vjp`` use its transpose, as in JAX; higher orders differentiate
    the rule's own ops.

    Args:
        fun: the function.
        nondiff_argnums: positions of static arguments (hashable), passed to the rule first.

    Example:
        >>> import numpy as np
        >>> from compiler import custom_jvp, grad
        >>> @custom_jvp
        ... def log1pexp(x):
        ...     return np.log1p(np.exp(x))
        >>> @log1pexp.defjvp
        ... def log1pexp_jvp(primals, tangents):
        ...     (x,), (t,) = primals, tangents
        ...     return log1pexp(x), t * (1.0 - 1.0 / (1.0 + np.exp(x)))
        >>> print(grad(log1pexp)(1000.0))   # the body's own derivative is inf / inf = nan here
        1.0
    """

    kind = "custom_jvp"
    marker = custom_jvp_p

    def defjvp(self, rule: Callable) -> Callable:
        """Define the rule ``rule(*nondiff_args, primals, tangents) -> (out, tangent_out)``;
        returns it, so ``@f.defjvp`` works as a decorator."""
        if not callable(rule):
            raise TypeError(f"{self.name}.defjvp(rule) takes a function")
        self._rules["jvp"] = rule
        return rule

    def defjvps(self, *rules: Callable | None) -> None:
        """Define the rule by one function per argument, ``rule_i(t_i, out, *primals)``
        giving argument i's contribution to the output tangent (None: none)."""

        def jvp(*args):
            *statics, primals, tangents = args
            out = self.fun(*_merge(self.nondiff_argnums, statics, primals))
            terms = [r(t, out, *primals) for r, t in zip(rules, tangents) if r is not None]
            total = terms[0] if terms else np.zeros_like(out)
            for t in terms[1:]:
                total = total + t
            return out, total

        self._rules["jvp"] = jvp


def _merge(positions: tuple, statics: Sequence, dyn: Sequence) -> tuple:
    """The full argument list from the nondiff values (at ``positions``) and the others."""
    it_s, it_d = iter(statics), iter(dyn)
    n = len(positions) + len(dyn)
    return tuple(next(it_s) if i in positions else next(it_d) for i in range(n))


def _avals(leaves) -> list[Spec]:
    out = []
    for leaf in leaves:
        if isinstance(leaf, Tracer):
            out.append(Spec(leaf.shape, leaf.dtype))
        else:
            arr = np.asarray(leaf)
            out.append(Spec(arr.shape, arr.dtype))
    return out


def _const(value, aval: Spec | None = None) -> Tracer:
    """``value`` as a node of the active trace (cast to ``aval``'s dtype when given)."""
    state = current_trace()
    arr = np.asarray(value) if aval is None else np.asarray(value, dtype=aval.dtype)
    return state.wrap(state.const(arr))


def _zeros(aval: Spec) -> Tracer:
    z = _const(np.zeros((), dtype=aval.dtype))
    return broadcast_to(z, aval.shape) if aval.shape else z


class CallRule:
    """The derivative rule of one call of a custom function, as its markers hold it."""

    def __init__(self, custom, nondiff, statics, arg_tree, arg_avals, out_tree, out_avals):
        self.custom = custom
        self.nondiff = nondiff
        self.statics = statics
        self.arg_tree, self.arg_avals = arg_tree, arg_avals
        self.out_tree, self.out_avals = out_tree, out_avals

    def __repr__(self) -> str:
        return f"<rule of {self.custom.kind} {self.custom.name}>"

    @property
    def name(self) -> str:
        return self.custom.name

    @property
    def kind(self) -> str:
        """``"custom_vjp"`` or ``"custom_jvp"``: which direction the user's rule gives."""
        return self.custom.kind

    # ----- the two directions -----
    def vjp(self, cts: list, args: list, transpose) -> list:
        """One cotangent per argument leaf (None: zero) from one per result leaf."""
        if self.custom.kind == "custom_vjp":
            res = self._residuals(args)
            return self._bwd(res, [c if c is not None else _zeros(a)
                                   for c, a in zip(cts, self.out_avals)], args)  # fmt: skip
        return transpose(lambda ts: self._tangent_out(args, ts), self.arg_avals, cts)

    def jvp(self, ts: list, args: list, transpose) -> list:
        """One tangent per result leaf from one per argument leaf (None: zero)."""
        ts = [t if t is not None else _zeros(a) for t, a in zip(ts, self.arg_avals)]
        if self.custom.kind == "custom_jvp":
            return self._tangent_out(args, ts)
        res = self._residuals(args)
        return transpose(lambda cts: self._bwd(res, cts, args), self.out_avals, ts)

    # ----- the user's functions -----
    def _args(self, leaves: list) -> tuple:
        return unflatten(self.arg_tree, leaves)

    def _residuals(self, args: list):
        fwd = self.custom._rule("fwd")
        pair = fwd(*_merge(self.nondiff, self.statics, self._args(args)))
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TracegradError(
                f"custom_vjp {self.name}: fwd must return a pair (output, residuals), got "
                f"{type(pair).__name__}"
            )
        self._check_out(pair[0], "fwd's output")
        return pair[1]

    def _bwd(self, res, cts: list, args: list) -> list:
        bwd = self.custom._rule("bwd")
        grads = bwd(*self.statics, res, unflatten(self.out_tree, cts))
        dyn = self._args(args)
        if not isinstance(grads, (tuple, list)) or len(grads) != len(dyn):
            raise TracegradError(
                f"custom_vjp {self.name}: bwd must return a tuple of {len(dyn)} cotangents "
                f"(one per differentiable argument), got {_describe(grads)}"
            )
        out = []
        for i, (g, a) in enumerate(zip(grads, dyn)):
            a_leaves, a_tree = flatten(a)
            if g is None:
                out.extend([None] * len(a_leaves))
                continue
            g_leaves, g_tree = flatten(g)
            if g_tree != a_tree:
                raise TracegradError(
                    f"custom_vjp {self.name}: bwd's cotangent {i} does not have the structure "
                    f"of argument {i}"
                )
            out.extend(self._fit(g_leaves, a_leaves, f"bwd's cotangent {i}"))
        return out

    def _tangent_out(self, args: list, ts: list) -> list:
        rule = self.custom._rule("jvp")
        pair = rule(*self.statics, self._args(args), self._args(ts))
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TracegradError(
                f"custom_jvp {self.name}: the rule must return a pair (output, tangent), got "
                f"{_describe(pair)}"
            )
        self._check_out(pair[0], "the rule's output")
        t_leaves, t_tree = flatten(pair[1])
        if t_tree != self.out_tree:
            raise TracegradError(
                f"custom_jvp {self.name}: the rule's tangent does not have the structure of "
                "the function's output"
            )
        return self._fit(t_leaves, self.out_avals, "the rule's tangent")

    def _check_out(self, out, what: str) -> None:
        leaves, tree = flatten(out)
        shapes = [_shape(v) for v in leaves]
        if tree != self.out_tree or shapes != [tuple(a.shape) for a in self.out_avals]:
            raise TracegradError(
                f"{self.custom.kind} {self.name}: {what} does not have the structure and "
                "shapes of the function's output"
            )

    def _fit(self, leaves: list, like: list, what: str) -> list:
        """Leaves as traced values of the shapes of ``like`` (values or avals)."""
        out = []
        for v, ref in zip(leaves, like):
            shape = _shape(ref)
            if _shape(v) != shape:
                raise TracegradError(
                    f"{self.custom.kind} {self.name}: {what} has shape {_shape(v)}, "
                    f"expected {shape}"
                )
            out.append(v if isinstance(v, Tracer) else _const(v))
        return out


def _shape(v) -> tuple:
    """The shape of an array, a traced value, a ``Spec`` or a number."""
    shape = getattr(v, "shape", None)
    return tuple(shape) if shape is not None else tuple(np.shape(v))


def _describe(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"
