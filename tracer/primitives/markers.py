"""Identity primitives that steer differentiation: ``stop_gradient``, the custom-derivative
markers and checkpoint's recomputation barrier.

Each returns one of its operands unchanged (generated code binds a second name to
the same array); what it changes is how autodiff treats that value:

- ``stop_gradient(x)`` is ``x`` as a constant: no gradient flows through it, in
  reverse or forward mode, at any order (a zero-gradient primitive). The
  optimiser has no rule that removes it, so a compiled graph differentiates
  alike.
- ``custom_vjp_call`` / ``custom_jvp_call`` mark result ``output`` of one call
  of a ``tracer.custom`` function: the operands are the call's results (its
  traced body) and then its arguments. The autodiff drivers apply the user's rule
  once per call (``per_call``), reading it from the node's run-time ``rule``
  attribute, instead of differentiating the body. Saved graphs keep the markers
  but not the rule (a file holds no code): they evaluate and compile, and
  differentiating them is a clear error.
- ``after(x, token)`` is ``x`` once ``token`` exists: ``checkpoint``'s
  recomputation reads its inputs through it, so the recomputed values depend on
  the gradient that needs them (generated code computes them late, and frees the
  forward copy early) and can never be merged with the kept ones by the optimiser.
"""

from __future__ import annotations

import operator

import numpy as np

from tracer.errors import TracegradError
from tracer.primitives.base import Primitive
from tracer.primitives.batching import ELEMENTWISE, SharedRule, batch_size, to_front
from tracer.pytree import flatten, unflatten
from tracer.staging import Tracer, bind

# ----- stop_gradient -----


def _identity_rule(x):
    return x.shape, x.dtype


stop_gradient_p = Primitive(
    "stop_gradient", lambda x: x, _identity_rule, 1, zero_grad=True, batch=ELEMENTWISE,
    lower=lambda a, p, lit: a[0], view=True,
    doc="x, through which no gradient flows", array_api=lambda a, p, lit: a[0],
)  # fmt: skip


def stop_gradient(x):
    """``x`` unchanged, as a constant to every derivative: no gradient flows through it.

    Works on arrays, traced values, numbers and pytrees of them, inside or outside
    a trace; ``grad``, ``jvp``, ``jacobian`` and ``hessian`` all see a constant.

    Args:
        x: an array or a pytree of arrays.

    Returns:
        ``x`` (arrays come back as arrays; Python numbers as they are).

    Example:
        >>> import numpy as np
        >>> from compiler import grad, stop_gradient
        >>> print(grad(lambda x: x * stop_gradient(x))(3.0))  # d/dx (x * c) with c = x = 3
        3.0
    """
    leaves, tree = flatten(x)
    out = []
    for leaf in leaves:
        if type(leaf) in (bool, int, float, complex):  # a constant already, and weakly typed
            out.append(leaf)
        else:
            out.append(bind(stop_gradient_p, leaf, weak=getattr(leaf, "weak", False)))
    return unflatten(tree, out)


# ----- custom-derivative markers -----


def _pick_rule(op: str):
    def rule(*avals, name, key, output, outputs):
        if not isinstance(name, str) or not isinstance(key, str):
            raise TracegradError(f"{op}: params name and key must be strings")
        try:
            output, outputs = operator.index(output), operator.index(outputs)
        except TypeError:
            raise TracegradError(f"{op}: params output and outputs must be ints") from None
        if not 0 <= output < outputs <= len(avals):
            raise TracegradError(
                f"{op}: output {output} of {outputs} results does not fit {len(avals)} operands"
            )
        return avals[output].shape, avals[output].dtype

    return rule


def _call_vjp(cts, *args, rule, transpose, name, **params):
    return _rule_of(rule, name).vjp(cts, list(args), transpose)


def _call_jvp(ts, *args, rule, transpose, name, **params):
    return _rule_of(rule, name).jvp(ts, list(args), transpose)


def _rule_of(rule, name: str):
    if rule is None:
        raise TracegradError(
            f"the custom derivative rule of {name} is not available here: a graph loaded "
            "from a file (or built by hand) holds the function's body but never its Python "
            f"rule; differentiate the function {name} itself"
        )
    return rule


def _batch_marker(prim, args, dims, *, output, outputs, **params):
    """A marker of a batched call: every batched operand with its batch axis first, and every
    result too (a result the same for every example is repeated); an argument the same for
    every example stays as it is. ``compiler.vmap`` gives the new marker the call's rule
    batched, reading each operand's batch axis so: first where it has one more axis."""
    size = batch_size(args, dims)
    xs = [x if i >= outputs and d is None else to_front(x, d, size)
          for i, (x, d) in enumerate(zip(args, dims))]  # fmt: skip
    return bind(prim, *xs, output=output, outputs=outputs, **params), 0


def _marker(op: str, label: str) -> Primitive:
    return Primitive(
        op, lambda *xs, output, **_: xs[output], _pick_rule(op), None,
        params=("name", "key", "output", "outputs"), vjp=_call_vjp, jvp=_call_jvp,
        batch=SharedRule(_batch_marker), per_call=True,
        lower=lambda a, p, lit: a[operator.index(p["output"])], view=True,
        label=label, doc=f"one result of a {label} function, differentiated by its rule",
    )  # fmt: skip


custom_vjp_p = _marker("custom_vjp_call", "custom_vjp")
custom_jvp_p = _marker("custom_jvp_call", "custom_jvp")


# ----- checkpoint's recomputation barrier -----


def _batch_after(args, dims):
    """``after`` of a batch: where ``x`` is the same for every example (only the token is
    batched), the barrier reads it as it is and its result is repeated for every example."""
    (x, token), (dx, _) = args, dims
    out = bind(after_p, x, token)
    return (out, dx) if dx is not None else (to_front(out, None, batch_size(args, dims)), 0)


after_p = Primitive(
    "after", lambda x, token: x, lambda x, token: (x.shape, x.dtype), 2,
    vjp=lambda gy, x, token, y: (gy, None), jvp=lambda ts, x, token, y: ts[0],
    batch=_batch_after,
    structural=lambda i: i == 1, lower=lambda a, p, lit: a[0], view=True, label="after",
    doc="x, once token exists (checkpoint's recomputation reads its inputs so)",
    array_api=lambda a, p, lit: a[0],
)  # fmt: skip


def after(x, token):
    """``x``, computed once ``token`` is: what a recomputed value reads (see ``checkpoint``)."""
    if not isinstance(x, Tracer) and not isinstance(token, Tracer):
        return np.asarray(x)
    return bind(after_p, x, token, weak=getattr(x, "weak", False))


PRIMITIVES = (stop_gradient_p, custom_vjp_p, custom_jvp_p, after_p)
NUMPY: dict = {}
METHODS: dict = {}
ATTRIBUTES: dict = {}

__all__ = ["after", "stop_gradient"]
