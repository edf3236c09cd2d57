"""``debug_nans``: stop at the first node whose output is NaN or Inf, and say where it came from.

Three ways to turn it on, most specific first: ``@trace(debug_nans=True)`` on
one function; ``with debug_nans():`` for a block (this context only); and
``debug_nans(True)`` as a global switch (``debug_nans(False)`` turns it off).
Checked functions run the reference interpreter, node by node, instead of
compiled code, so the error can name the exact node, its operands' statistics
and the user's source line (for gradient graphs: the forward node whose
derivative it is).
"""

from __future__ import annotations

from contextvars import ContextVar

import numpy as np

from tracer.errors import TracegradError
from tracer.spec import format_aval


class NaNError(TracegradError, FloatingPointError):
    """A node produced NaN or Inf while ``debug_nans`` was on."""


_GLOBAL = {"on": False}
_CONTEXT: ContextVar[bool | None] = ContextVar("tracegrad_debug_nans", default=None)


class debug_nans:  # noqa: N801  (used like a function and as a context manager)
    """Turn NaN/Inf checking on (``debug_nans(True)``) or off, globally or for a ``with`` block.

    While it is on, evaluating a graph (traced functions, ``grad``, compiled
    code) stops at the first node that produces NaN or Inf with a ``NaNError``
    naming the op, its operands' statistics and your source line.

    Args:
        enabled: ``True`` to check, ``False`` to stop checking.

    Example:
        >>> import numpy as np
        >>> import tracer
        >>> f = tracer.trace(lambda x: np.log(x))
        >>> with tracer.debug_nans():
        ...     f(np.array([1.0, 0.0]))  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        tracer.debug.NaNError: ...
    """

    def __init__(self, enabled: bool = True):
        self.enabled = bool(enabled)
        self._previous = _GLOBAL["on"]
        self._token = None
        _GLOBAL["on"] = self.enabled

    def __enter__(self):
        # Used as a context manager: undo the global switch made by __init__ at once, so
        # other threads never see it; the setting lives in this context only.
        _GLOBAL["on"] = self._previous
        self._token = _CONTEXT.set(self.enabled)
        return self

    def __exit__(self, *exc):
        _CONTEXT.reset(self._token)
        return False


def nans_enabled(flag: bool | None = None) -> bool:
    """Whether NaN/Inf checking is on: the function's own flag, else the context, else global."""
    if flag is not None:
        return flag
    ctx = _CONTEXT.get()
    return _GLOBAL["on"] if ctx is None else ctx


def stats(value) -> str:
    """``min/mean/max`` of an array, with its NaN and Inf counts."""
    arr = np.asarray(value)
    desc = format_aval(arr.shape, arr.dtype)
    if arr.size == 0 or arr.dtype.kind not in "biufc":
        return desc
    if arr.dtype.kind == "c":
        arr = np.abs(arr)
    finite = arr[np.isfinite(arr)] if arr.dtype.kind in "fc" else arr
    parts = [desc]
    if finite.size:
        parts.append(
            f"min {finite.min():.4g} mean {finite.mean():.4g} max {finite.max():.4g}"
            if arr.size > 1
            else f"= {finite.reshape(-1)[0]:.6g}"
        )
    if arr.dtype.kind in "fc":
        n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
        if n_nan:
            parts.append(f"{n_nan} NaN")
        if n_inf:
            parts.append(f"{n_inf} Inf")
    return ", ".join(parts)


def bad_values(value) -> bool:
    """True when ``value`` is a floating/complex array containing NaN or Inf."""
    arr = np.asarray(value)
    return arr.dtype.kind in "fc" and not np.isfinite(arr).all()


def nan_error(graph, n: int, value, operand_values) -> NaNError:
    """The error for node ``n`` producing ``value`` from ``operand_values``."""
    from tracer.graph import format_node

    d = graph.nodes[n]
    what = "NaN" if np.isnan(np.asarray(value)).any() else "Inf"
    where = d.get("source") or "an unknown line"
    if d.get("op") == "input":
        head = f"debug_nans: input {d.get('name') or f'%{n}'} contains {what}"
    else:
        head = f"debug_nans: {d['op']} produced {what} at node {format_node(graph, n)}"
    lines = [f"{head} (from {where})"]
    if d.get("role") in ("backward", "tangent") and d.get("grad_of") is not None:
        f = graph.nodes[d["grad_of"]] if d["grad_of"] in graph else {}
        lines.append(
            f"  it belongs to the derivative of %{d['grad_of']} = {f.get('op', '?')} "
            f"(from {f.get('source') or 'an unknown line'})"
        )
    for u, v in operand_values:
        name = graph.nodes[u].get("name")
        lines.append(f"  operand %{u}{' ' + name if name else ''}: {stats(v)}")
    lines.append(f"  output: {stats(value)}")
    return NaNError("\n".join(lines))
