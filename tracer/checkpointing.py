"""``checkpoint(fun)``: rematerialisation. The gradient recomputes ``fun``'s values instead of
keeping them from the forward pass.

Traced, a checkpointed function's ops are recorded as usual, under a scope
``checkpoint(<name>)``, and each carries the node attribute ``checkpoint`` (an id
shared by the ops of one call: the region). Reverse mode
(``compiler.autodiff``) then reads a region's *internal* values (those used only
inside the region) from a copy it recomputes when the backward pass reaches the
region, from the region's inputs read through ``after(x, gradient)``; the forward
copies die as soon as the forward pass is done with them. Values that leave the
region, and the region's inputs, are kept as before. Everything else (values,
forward mode, the listing) is unchanged, and the gradients are bit-identical: the
recomputation runs the same ops on the same numbers.

A region's id is the id of its first node; inlining a graph into another
(``tracer.tracing.inline_graph``) gives its regions new ids there. A checkpoint
inside a checkpoint belongs to the outer one.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable

from tracer.pytree import flatten
from tracer.staging import find_trace, name_scope

__all__ = ["checkpoint"]

REGION = "checkpoint"  # the node attribute naming a node's region


class Checkpointed:
    """A function whose values the gradient recomputes (see ``checkpoint``)."""

    def __init__(self, fun: Callable, name: str | None = None):
        if not callable(fun):
            raise TypeError(f"checkpoint expects a function, got {type(fun).__name__}")
        functools.update_wrapper(self, fun)
        self.fun = fun
        base = name or getattr(fun, "__name__", None) or type(fun).__name__
        self.name = "lambda" if base == "<lambda>" else base

    def with_function(self, fun: Callable) -> Checkpointed:
        """This checkpoint around ``fun`` instead (how ``tracer.captures`` substitutes its
        body's globals)."""
        out = copy.copy(self)
        out.fun = fun
        out.__wrapped__ = fun
        return out

    def __repr__(self) -> str:
        return f"<checkpointed function {self.name}>"

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __call__(self, *args, **kwargs):
        state = find_trace(flatten((args, kwargs))[0])
        if state is None:  # nothing traced, nothing to differentiate
            return self.fun(*args, **kwargs)
        graph = state.graph
        start = graph.next_id
        with name_scope(f"checkpoint({self.name})"):
            out = self.fun(*args, **kwargs)
        mark_region(graph, range(start, graph.next_id))
        return out


def mark_region(graph, ids) -> int | None:
    """Put the ops among node ``ids`` in one checkpoint region (an inner one's nodes too);
    return its id (None when there are no ops)."""
    nodes = graph.node_attrs
    region = None
    for nid in ids:
        d = nodes.get(nid)
        if d is None or d["op"] in ("input", "const"):
            continue
        if region is None:
            region = nid
        d[REGION] = region
    return region


def checkpoint(fun: Callable | None = None, *, name: str | None = None):
    """Rematerialise ``fun``: its gradient recomputes ``fun``'s intermediate values from
    ``fun``'s inputs instead of keeping them from the forward pass (``jax.checkpoint``).

    Peak memory of a gradient drops by the intermediates of ``fun`` that the backward
    pass would otherwise keep alive, at the cost of running ``fun`` again during the
    backward pass; results are bit-identical. Values ``fun`` returns, and its inputs,
    are kept. Works as ``@checkpoint`` on a layer, or ``checkpoint(f)(x)``.

    Args:
        fun: the function (arrays and pytrees in and out).
        name: its name in drawings (the scope ``checkpoint(name)``; default: ``fun``'s).

    Returns:
        A function with ``fun``'s arguments and results.

    Example:
        >>> import numpy as np
        >>> from compiler import checkpoint, grad
        >>> @checkpoint
        ... def layer(x):
        ...     return np.tanh(np.sin(x) * 2.0)
        >>> def loss(x):
        ...     return np.sum(layer(layer(x)))
        >>> float(grad(loss)(np.ones(3))[0]) == float(grad(lambda x: np.sum(np.tanh(
        ...     np.sin(np.tanh(np.sin(x) * 2.0)) * 2.0)))(np.ones(3))[0])
        True
    """
    if fun is None:
        return functools.partial(checkpoint, name=name)
    return Checkpointed(fun, name)
