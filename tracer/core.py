"""Traced values and the active trace: ``bind`` stages one primitive application into the graph.

The active trace lives in a ``contextvars.ContextVar`` (no global state), so
threads and nested traces do not see each other's graphs. A ``TracedArray``
stands for one node of the graph being built; it overloads Python operators and
implements ``__array_ufunc__``/``__array_function__`` so plain NumPy code traces.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracer.errors import ShapeError, TracegradError, TracingError, UnsupportedError
from tracer.graph import Graph
from tracer.spec import canonical_dtype, format_aval

# ----- where the user's code is -----

_INTERNAL_DIRS = tuple(
    d + os.sep  # with the separator: /repo/tracer_demo.py is user code, not tracer's
    for d in (
        os.path.dirname(os.path.abspath(__file__)),
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compiler"),
        os.path.dirname(np.__file__),
        os.path.dirname(contextlib.__file__),
    )
)
_internal_cache: dict[str, bool] = {}


def _is_internal(filename: str) -> bool:
    hit = _internal_cache.get(filename)
    if hit is None:
        path = os.path.abspath(filename)
        hit = path.startswith(_INTERNAL_DIRS) or filename.startswith("<frozen")
        _internal_cache[filename] = hit
    return hit


def user_frame():
    """The innermost stack frame that belongs to user code (not tracegrad, NumPy or stdlib)."""
    frame = sys._getframe(1)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def user_source() -> str | None:
    """``"file.py:LINE"`` of the user code that is running now."""
    override = _SOURCE.get()
    if override is not None:
        return override
    frame = user_frame()
    if frame is None:
        return None
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def user_location() -> str:
    """Full ``path:LINE`` of the user's code, for error messages."""
    frame = user_frame()
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


# ----- the active trace -----


@dataclass
class TraceState:
    """One graph under construction."""

    graph: Graph
    consts: dict[int, tuple[Any, int]] = field(default_factory=dict)
    scalars: dict[tuple, int] = field(default_factory=dict)
    share_scalars: bool = True
    parent: TraceState | None = None  # the trace that was active when this one started
    fn: Any = None  # the function being traced (to name captured variables in messages)
    # captured values (tracer.captures): id of the object -> its capture input node, and
    # the objects themselves (kept alive so that their ids stay theirs)
    capture_ids: dict[int, int] = field(default_factory=dict)
    captured: list = field(default_factory=list)
    lifted: dict[int, int] = field(default_factory=dict)  # id(outer traced value) -> input
    blamed: set[int] = field(default_factory=set)  # capture inputs a concrete value was asked of

    def encloses(self, other: TraceState) -> bool:
        """True when ``other`` is this trace or one it was started inside."""
        t = self
        while t is not None:
            if t is other:
                return True
            t = t.parent
        return False

    def lift(self, x: TracedArray) -> int:
        """The input node standing for ``x``, a traced value of an enclosing trace.

        A function traced inside another trace (``grad`` of a closure) may read the
        outer trace's values; they become inputs of the inner graph, bound to the
        outer value when the inner graph is inlined back (``Bound``).
        """
        nid = self.lifted.get(id(x))
        if nid is not None:
            return nid
        from tracer.captures import Bound  # captures builds on this module

        label = _variable_name(self.fn, x) or x.name or f"%{x.node}"
        nid = self.graph.add_op(
            "input", (), {}, x.shape, x.dtype, name=label, scope=(),
            capture=f"outer {label}", fetch=Bound(x),
        )  # fmt: skip
        self.lifted[id(x)] = nid
        self.captured.append(x)
        self.graph.graph.setdefault("captures", []).append(nid)
        return nid

    def const(self, value: np.ndarray) -> int:
        """The node holding constant ``value``: one node per array object, and one per
        scalar value (``x * 2.0`` in a loop makes one ``const 2.0``, not thousands)."""
        hit = self.consts.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        small = None
        if self.share_scalars and isinstance(value, np.ndarray) and value.ndim == 0:
            small = ("scalar", value.dtype.str, value.tobytes())
            nid = self.scalars.get(small)
            if nid is not None:
                return nid
        arr = np.array(value, copy=True)
        dt = canonical_dtype(arr.dtype)
        arr = arr.astype(dt, copy=False)
        arr.setflags(write=False)
        nid = self.graph.add_op(
            "const", (), {}, arr.shape, dt, value=arr, source=user_source(), scope=_SCOPE.get()
        )
        self.consts[id(value)] = (value, nid)
        if small is not None:
            self.scalars[small] = nid
        return nid


_TRACE: ContextVar[TraceState | None] = ContextVar("tracegrad_trace", default=None)
_SCOPE: ContextVar[tuple] = ContextVar("tracegrad_scope", default=())
_SOURCE: ContextVar[str | None] = ContextVar("tracegrad_source", default=None)


def current_trace() -> TraceState | None:
    """The trace being built in this context, or None."""
    return _TRACE.get()


def _variable_name(fn, x) -> str | None:
    """The name under which ``fn`` holds ``x`` in its closure, if it does."""
    code = getattr(fn, "__code__", None)
    for name, cell in zip(getattr(code, "co_freevars", ()), getattr(fn, "__closure__", None) or ()):
        try:
            if cell.cell_contents is x:
                return name
        except ValueError:
            continue
    return None


@contextlib.contextmanager
def new_trace(graph: Graph, fn=None):
    """Make a fresh trace (building ``graph``) the active one for the ``with`` body."""
    state = TraceState(graph, parent=_TRACE.get(), fn=fn)
    token = _TRACE.set(state)
    # A graph starts outside every scope, wherever it is traced from: a traced function's
    # cached graph must not depend on its first caller (inlining adds the caller's scope).
    scope_token = _SCOPE.set(())
    try:
        yield state
    finally:
        _SCOPE.reset(scope_token)
        _TRACE.reset(token)


@contextlib.contextmanager
def name_scope(name: str):
    """Group the nodes created in the ``with`` body under ``name`` (rendered as a cluster)."""
    if not isinstance(name, str) or not name:
        raise TracegradError(f"name_scope needs a non-empty string, got {name!r}")
    token = _SCOPE.set(_SCOPE.get() + (name,))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def current_scope() -> tuple:
    return _SCOPE.get()


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextlib.contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a large graph is built.

    Building a graph allocates millions of small dicts and no cycles; CPython's
    collector would rescan them all again and again, making tracing, autodiff,
    passes and code generation superlinear. Nested and concurrent uses share one
    pause: the collector comes back when the last one ends.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                # Hand what was built to the oldest generation (freeze + unfreeze moves
                # it there without a scan), so re-enabling does not start one long
                # young-generation collection over every new node. Not when the
                # program froze objects itself: unfreeze would undo that.
                if gc.get_freeze_count() == 0:
                    gc.freeze()
                    gc.unfreeze()
                gc.enable()


# ----- traced values -----

_FAST_POWERS = {2: "square", 0.5: "sqrt", -1: "reciprocal"}


class TracedArray:
    """A value inside a trace: one node of the graph being built.

    It has a static ``shape`` and ``dtype`` and behaves like a NumPy array under
    operators, methods and NumPy functions. It has no numbers: converting it to a
    Python bool/int/float raises ``TracingError``.
    """

    __slots__ = ("_trace", "node", "shape", "dtype", "weak")
    __array_priority__ = 1000

    def __init__(self, trace: TraceState, node: int, shape: tuple, dtype, weak: bool = False):
        self._trace = trace
        self.node = node
        self.shape = shape
        self.dtype = dtype
        self.weak = weak

    # ----- array attributes -----
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def T(self):
        return _ops.transpose(self)

    @property
    def mT(self):
        return _ops.swapaxes(self, -1, -2)

    @property
    def name(self) -> str | None:
        return self._trace.graph.nodes[self.node].get("name")

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d traced array)")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"TracedArray(%{self.node}{label}: {format_aval(self.shape, self.dtype)})"

    # ----- no concrete values at trace time -----
    def _concrete_error(self, what: str):
        self._trace.blamed.add(self.node)  # a captured value asked for concretely: see captures
        raise TracingError(
            f"{what} needs a concrete value, but {self!r} is traced "
            f"(at {user_location()}). Python control flow on traced values cannot be "
            "recorded in a graph: use np.where(cond, a, b) for data-dependent choices, "
            "or mark the argument static with @trace(static_argnums=...)."
        )

    def __bool__(self):
        self._concrete_error("bool() / if / while / and / or")

    def __float__(self):
        self._concrete_error("float()")

    def __int__(self):
        self._concrete_error("int()")

    def __index__(self):
        self._concrete_error("using a traced value as an index or size (__index__)")

    def __complex__(self):
        self._concrete_error("complex()")

    def __array__(self, dtype=None, copy=None):
        self._concrete_error(
            "converting to a NumPy array (np.asarray / np.array, or indexing a NumPy array "
            "with it: write tracer.ops.getitem(array, index) for that)"
        )

    def tolist(self):
        self._concrete_error("tolist()")

    def item(self, *args):
        self._concrete_error("item()")

    __hash__ = None  # like ndarray: traced values are not hashable

    def __setitem__(self, key, value):
        self._trace.blamed.add(self.node)
        raise TracingError(
            f"in-place assignment to a traced array ({self!r}[...] = ...) at {user_location()}: "
            "traced arrays are immutable. Build a new array instead, e.g. "
            "np.where(mask, new, x) or np.concatenate([...])."
        )

    # ----- operators (NumPy semantics) -----
    def __add__(self, o):
        return _ops.add(self, o)

    def __radd__(self, o):
        return _ops.add(o, self)

    def __sub__(self, o):
        return _ops.sub(self, o)

    def __rsub__(self, o):
        return _ops.sub(o, self)

    def __mul__(self, o):
        return _ops.mul(self, o)

    def __rmul__(self, o):
        return _ops.mul(o, self)

    def __truediv__(self, o):
        return _ops.div(self, o)

    def __rtruediv__(self, o):
        return _ops.div(o, self)

    def __pow__(self, o):
        # ndarray.__pow__ computes float ** 2, ** 0.5 and ** -1 with square, sqrt and
        # reciprocal (they differ from np.power at -0.0 and -inf before NumPy 2.3)
        if type(o) in (int, float) and self.dtype.kind in "fc":
            fast = _FAST_POWERS.get(o)
            if fast is not None:
                return getattr(_ops, fast)(self)
        return _ops.power(self, o)

    def __rpow__(self, o):
        return _ops.power(o, self)

    # No primitive: NumPy's ufunc dispatch raises UnsupportedError naming np.floor_divide, ...
    def __floordiv__(self, o):
        return np.floor_divide(self, o)

    def __rfloordiv__(self, o):
        return np.floor_divide(o, self)

    def __mod__(self, o):
        return np.remainder(self, o)

    def __rmod__(self, o):
        return np.remainder(o, self)

    def __matmul__(self, o):
        return _ops.matmul(self, o)

    def __rmatmul__(self, o):
        return _ops.matmul(o, self)

    def __neg__(self):
        return _ops.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops.abs(self)

    def __lt__(self, o):
        return _ops.less(self, o)

    def __le__(self, o):
        return _ops.less_equal(self, o)

    def __gt__(self, o):
        return _ops.greater(self, o)

    def __ge__(self, o):
        return _ops.greater_equal(self, o)

    def __eq__(self, o):
        return _ops.equal(self, o)

    def __ne__(self, o):
        return _ops.not_equal(self, o)

    def __and__(self, o):
        return _ops.bitwise_and(self, o)

    def __rand__(self, o):
        return _ops.bitwise_and(o, self)

    def __or__(self, o):
        return _ops.bitwise_or(self, o)

    def __ror__(self, o):
        return _ops.bitwise_or(o, self)

    def __invert__(self):
        return _ops.invert(self)

    def __getitem__(self, index):
        return _ops.getitem(self, index)

    # ----- methods -----
    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = shape[0]
        return _ops.reshape(self, shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = axes[0]
        return _ops.transpose(self, axes or None)

    def swapaxes(self, a, b):
        return _ops.swapaxes(self, a, b)

    def squeeze(self, axis=None):
        return _ops.squeeze(self, axis)

    def ravel(self):
        return _ops.ravel(self)

    def flatten(self):
        return _ops.ravel(self)

    def astype(self, dtype, copy=True):
        return _ops.astype(self, dtype)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        return _ops.sum(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        return _ops.mean(self, axis=axis, dtype=dtype, out=out, keepdims=keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return _ops.var(self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        return _ops.std(self, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        return _ops.max(self, axis=axis, out=out, keepdims=keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        return _ops.min(self, axis=axis, out=out, keepdims=keepdims)

    def argmax(self, axis=None, out=None, keepdims=False):
        return _ops.argmax(self, axis=axis, out=out, keepdims=keepdims)

    def argmin(self, axis=None, out=None, keepdims=False):
        return _ops.argmin(self, axis=axis, out=out, keepdims=keepdims)

    def clip(self, min=None, max=None):
        return _ops.clip(self, min, max)

    def dot(self, other):
        return _ops.dot(self, other)

    def round(self, decimals=0):
        return _ops.round(self, decimals)

    def copy(self, order="C"):
        return self  # traced values are immutable: a copy is the value itself

    # ----- NumPy protocols -----
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _numpy_api.dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _numpy_api.dispatch_function(func, args, kwargs)


# ----- staging primitives -----


def find_trace(args) -> TraceState | None:
    """The trace to stage into: the active one when an operand is traced, else None.

    Operands may belong to the active trace or to a trace it was started inside
    (a closure's outer value, lifted by ``as_node``); any other traced value leaked
    out of its trace and is an error.
    """
    current = None
    for a in args:
        if isinstance(a, TracedArray):
            if current is None:
                current = _TRACE.get()
            if a._trace is not current and (current is None or not current.encloses(a._trace)):
                raise _foreign_error(a, current)
    return current


def _foreign_error(a: TracedArray, current: TraceState | None) -> TracingError:
    name = _variable_name(current.fn, a) if current is not None else None
    what = f"the captured variable {name!r} ({a!r})" if name else repr(a)
    return TracingError(
        f"{what} belongs to a trace that has ended (at {user_location()}): a traced value "
        "leaked out of the function that traced it (stored in a global, a list or an object "
        "and read later). Return it from the traced function, or pass it as an argument."
    )


def as_node(trace: TraceState, x) -> tuple[int, tuple, np.dtype]:
    """Node id, shape and dtype of operand ``x`` (constants become ``const`` nodes)."""
    if isinstance(x, TracedArray):
        if x._trace is trace:
            return x.node, x.shape, x.dtype
        return trace.lift(x), x.shape, x.dtype
    nid = trace.capture_ids.get(id(x))
    if nid is not None:  # a captured value reached by a path the substitution missed
        d = trace.graph.nodes[nid]
        return nid, d["shape"], np.dtype(d["dtype"])
    arr = x if isinstance(x, np.ndarray) else _to_array(x)
    nid = trace.const(arr)
    d = trace.graph.nodes[nid]
    return nid, d["shape"], np.dtype(d["dtype"])


def _to_array(x) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TracegradError(
            f"cannot use {type(x).__name__} {x!r:.60} as an array operand "
            f"(at {user_location()}): {exc}"
        ) from exc
    if arr.dtype.kind not in "biufc":
        raise UnsupportedError(
            f"cannot use {type(x).__name__} {x!r:.60} as an array operand "
            f"(at {user_location()}): dtype {arr.dtype} is not numeric"
        )
    return arr


def bind(prim, *operands, weak: bool = False, **params):
    """Apply primitive ``prim`` to ``operands`` with static ``params``.

    Outside a trace (no traced operand) the NumPy implementation runs at once;
    inside one, a node is appended to the graph and a ``TracedArray`` returned.
    """
    trace = find_trace(operands)
    if trace is None:
        return prim.impl(*[np.asarray(o) for o in operands], **params)
    graph = trace.graph
    nodes, avals = [], []
    for o in operands:
        nid, shape, dtype = as_node(trace, o)
        nodes.append(nid)
        avals.append(_Aval(shape, dtype))
    try:
        shape, dtype = prim.abstract_eval(*avals, **params)
    except ShapeError as exc:
        raise ShapeError(f"{exc} (at {user_location()})") from None
    except TracegradError as exc:
        raise type(exc)(f"{exc} (at {user_location()})") from None
    nid = graph.add_op(
        prim.name, nodes, params, shape, dtype, source=user_source(), scope=_SCOPE.get()
    )
    return TracedArray(trace, nid, tuple(shape), np.dtype(dtype), weak)


class _Aval:
    """Shape and dtype of an operand, as shape rules see it."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return format_aval(self.shape, self.dtype)


def aval(shape, dtype) -> _Aval:
    return _Aval(shape, dtype)


from tracer import numpy_api as _numpy_api  # noqa: E402  (operators dispatch through these)
from tracer import ops as _ops  # noqa: E402
