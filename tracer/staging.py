"""The active trace and how a primitive application is staged into it (``bind``).

The active trace lives in a ``contextvars.ContextVar`` (no global state), so
threads and nested traces do not see each other's graphs. A ``Tracer`` stands
for one node of the graph being built; the trace decides which ``Tracer``
subclass its values are (``tracer.traced.TracedArray``, with NumPy's operators),
so the primitives, which only stage nodes, need nothing above this module.
``Stage`` is the public way for a graph transformation (autodiff) to stage ops
into a graph it is building, with the source line and scope of its choice.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracer.errors import ShapeError, TracegradError, TracingError, UnsupportedError
from tracer.frames import user_location, user_source
from tracer.graph import Graph
from tracer.spec import Spec, as_dtype, canonical_dtype, format_aval


class Tracer:
    """A value inside a trace: one node of the graph being built, with a static ``shape``
    and ``dtype`` and no numbers. ``weak`` marks a Python number (NEP 50 promotion)."""

    __slots__ = ("_trace", "node", "shape", "dtype", "weak")

    def __init__(self, trace: TraceState, node: int, shape: tuple, dtype, weak: bool = False):
        self._trace = trace
        self.node = node
        self.shape = shape
        self.dtype = dtype
        self.weak = weak

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def name(self) -> str | None:
        return self._trace.graph.nodes[self.node].get("name")

    def __repr__(self) -> str:
        label = f" {self.name}" if self.name else ""
        return f"{type(self).__name__}(%{self.node}{label}: {format_aval(self.shape, self.dtype)})"


@dataclass
class TraceState:
    """One graph under construction."""

    graph: Graph
    value_type: type  # the Tracer subclass of this trace's values
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
            "const", (), {}, arr.shape, dt, value=arr, source=current_source(), scope=_SCOPE.get()
        )
        self.consts[id(value)] = (value, nid)
        if small is not None:
            self.scalars[small] = nid
        return nid

    def wrap(self, n: int) -> Tracer:
        """A traced value for node ``n`` of this trace's graph."""
        d = self.graph.attrs(n)
        return self.value_type(self, n, d["shape"], as_dtype(d["dtype"]))

    def encloses(self, other: TraceState) -> bool:
        """True when ``other`` is this trace or one it was started inside."""
        t = self
        while t is not None:
            if t is other:
                return True
            t = t.parent
        return False

    def lift(self, x: Tracer) -> int:
        """The input node standing for ``x``, a traced value of an enclosing trace.

        A function traced inside another trace (``grad`` of a closure) may read the
        outer trace's values; they become inputs of the inner graph, bound to the
        outer value when the inner graph is inlined back (``captures.Bound``).
        """
        nid = self.lifted.get(id(x))
        if nid is not None:
            return nid
        label = _variable_name(self.fn, x) or x.name or f"%{x.node}"
        nid = self.graph.add_op(
            "input", (), {}, x.shape, x.dtype, name=label, scope=(),
            capture=f"outer {label}", fetch=Bound(x),
        )  # fmt: skip
        self.lifted[id(x)] = nid
        self.captured.append(x)
        self.graph.graph.setdefault("captures", []).append(nid)
        return nid


class Bound:
    """A capture input bound to one object for the graph's lifetime (an outer traced value)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __call__(self, memo: dict):
        return self.value


_TRACE: ContextVar[TraceState | None] = ContextVar("tracegrad_trace", default=None)
_SCOPE: ContextVar[tuple] = ContextVar("tracegrad_scope", default=())
_SOURCE: ContextVar[str | None] = ContextVar("tracegrad_source", default=None)


def current_trace() -> TraceState | None:
    """The trace being built in this context, or None."""
    return _TRACE.get()


def current_scope() -> tuple:
    """The names of the enclosing traced functions and ``name_scope`` blocks."""
    return _SCOPE.get()


def current_source() -> str | None:
    """``"file.py:LINE"`` new nodes record: the user's line, or the one a ``Stage`` set."""
    override = _SOURCE.get()
    return override if override is not None else user_source()


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
def new_trace(graph: Graph, value_type: type, fn=None):
    """Make a fresh trace (building ``graph``, its values of ``value_type``) the active one
    for the ``with`` body."""
    state = TraceState(graph, value_type, parent=_TRACE.get(), fn=fn)
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
    """Group the nodes created in the ``with`` body under ``name`` (rendered as a cluster).

    Args:
        name: the scope's name (a non-empty string); scopes nest.

    Example:
        >>> with name_scope("layer1"):          # doctest: +SKIP
        ...     h = np.tanh(x @ W1 + b1)
    """
    if not isinstance(name, str) or not name:
        raise TracegradError(f"name_scope needs a non-empty string, got {name!r}")
    token = _SCOPE.set(_SCOPE.get() + (name,))
    try:
        yield
    finally:
        _SCOPE.reset(token)


class Stage:
    """Stage ops into an existing graph from a graph transformation (autodiff's builders).

    ``stage.at(source, scope)`` is a reusable context in which traced ops on
    ``stage.wrap(n)`` values append nodes to the graph, recording ``source`` and
    ``scope`` instead of the caller's line (a derivative's nodes carry the line of
    the forward node they differentiate). Constants of the graph are reused.
    """

    def __init__(self, graph: Graph, value_type: type, *, share_scalars: bool = False):
        self.state = TraceState(graph, value_type, share_scalars=share_scalars)
        for n, d in graph.node_attrs.items():  # a rule reusing a forward array reuses its node
            if d["op"] == "const":
                value = d["value"]
                self.state.consts[id(value)] = (value, n)

    def wrap(self, n: int) -> Tracer:
        return self.state.wrap(n)

    def const(self, value: np.ndarray) -> int:
        return self.state.const(value)

    def at(self, source: str | None, scope: tuple) -> _At:
        return _At(self.state, source, scope)


class _At:
    """Make ``state`` the active trace, with a fixed source line and scope (hot: no generators)."""

    __slots__ = ("state", "source", "scope", "_tokens")

    def __init__(self, state, source, scope):
        self.state, self.source, self.scope = state, source, scope

    def __enter__(self):
        self._tokens = (_TRACE.set(self.state), _SOURCE.set(self.source), _SCOPE.set(self.scope))

    def __exit__(self, *exc):
        t, src, scp = self._tokens
        _SCOPE.reset(scp)
        _SOURCE.reset(src)
        _TRACE.reset(t)


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


# ----- staging primitives -----


def find_trace(args) -> TraceState | None:
    """The trace to stage into: the active one when an operand is traced, else None.

    Operands may belong to the active trace or to a trace it was started inside
    (a closure's outer value, lifted by ``as_node``); any other traced value leaked
    out of its trace and is an error.
    """
    current = None
    for a in args:
        if isinstance(a, Tracer):
            if current is None:
                current = _TRACE.get()
            if a._trace is not current and (current is None or not current.encloses(a._trace)):
                raise _foreign_error(a, current)
    return current


def _foreign_error(a: Tracer, current: TraceState | None) -> TracingError:
    name = _variable_name(current.fn, a) if current is not None else None
    what = f"the captured variable {name!r} ({a!r})" if name else repr(a)
    return TracingError(
        f"{what} belongs to a trace that has ended (at {user_location()}): a traced value "
        "leaked out of the function that traced it (stored in a global, a list or an object "
        "and read later). Return it from the traced function, or pass it as an argument."
    )


def as_node(trace: TraceState, x) -> tuple[int, tuple, np.dtype]:
    """Node id, shape and dtype of operand ``x`` (constants become ``const`` nodes)."""
    if isinstance(x, Tracer):
        if x._trace is trace:
            return x.node, x.shape, x.dtype
        return trace.lift(x), x.shape, x.dtype
    nid = trace.capture_ids.get(id(x))
    if nid is not None:  # a captured value reached by a path the substitution missed
        d = trace.graph.attrs(nid)
        return nid, d["shape"], as_dtype(d["dtype"])
    arr = x if isinstance(x, np.ndarray) else _to_array(x)
    nid = trace.const(arr)
    d = trace.graph.attrs(nid)
    return nid, d["shape"], as_dtype(d["dtype"])


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
    inside one, a node is appended to the graph and a traced value returned.
    """
    trace = find_trace(operands)
    if trace is None:
        return prim.impl(*[np.asarray(o) for o in operands], **params)
    graph = trace.graph
    nodes, avals = [], []
    for o in operands:
        nid, shape, dtype = as_node(trace, o)
        nodes.append(nid)
        avals.append(Spec.of(shape, dtype))
    try:
        shape, dtype = prim.abstract_eval(*avals, **params)
    except ShapeError as exc:
        raise ShapeError(f"{exc} (at {user_location()})") from None
    except TracegradError as exc:
        raise type(exc)(f"{exc} (at {user_location()})") from None
    nid = graph.add_op(
        prim.name, nodes, params, shape, dtype, source=current_source(), scope=_SCOPE.get()
    )
    return trace.value_type(trace, nid, tuple(shape), as_dtype(dtype), weak)
