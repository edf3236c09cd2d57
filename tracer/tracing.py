"""``@trace``: turn a Python/NumPy function into a graph, once per input signature.

A ``TracedFunction`` flattens its arguments (pytrees), builds a signature from
their shapes, dtypes, tree structure and static values, traces the function
for a new signature (running its Python once with ``TracedArray`` inputs) and
caches the graph. Called on arrays it evaluates the graph; called inside
another trace it inlines its graph there.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracer.captures import Captures, Fetch, capture_leaves, has_outer_captures, rebuild
from tracer.checkpointing import REGION
from tracer.debug import nans_enabled
from tracer.errors import TracegradError
from tracer.frames import is_internal, user_location
from tracer.graph import Graph, subgraph_nodes
from tracer.interpreter import evaluate_flat
from tracer.pytree import flatten, leaf_paths, unflatten
from tracer.spec import Spec, canonical_dtype, duck_dtype, duck_name, is_duck_array
from tracer.staging import (
    TraceState,
    as_node,
    current_scope,
    current_trace,
    gc_paused,
    name_scope,
    new_trace,
)
from tracer.traced import TracedArray

_PY_SCALARS = {bool: "bool", int: "int64", float: "float64", complex: "complex128"}


def leaf_spec(leaf, where: str) -> tuple[tuple, np.dtype, bool]:
    """(shape, dtype, weak) of one argument leaf, or a TypeError saying what is wrong."""
    if isinstance(leaf, TracedArray):
        return leaf.shape, leaf.dtype, leaf.weak
    if isinstance(leaf, Spec):
        return leaf.shape, leaf.dtype, False
    if type(leaf) is int and not -(2**63) <= leaf < 2**63:
        raise TypeError(f"{where} is the Python int {leaf}, which does not fit in int64")
    if type(leaf) in _PY_SCALARS:
        return (), np.dtype(_PY_SCALARS[type(leaf)]), True
    if isinstance(leaf, (np.ndarray, np.generic)):
        try:
            return leaf.shape, canonical_dtype(leaf.dtype), False
        except TracegradError as exc:
            raise TypeError(f"{where}: {exc}") from None
    if is_duck_array(leaf) and not isinstance(leaf, TracedArray):
        return _duck_spec(leaf, where)
    kind = type(leaf).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    raise TypeError(
        f"{where} is {article} {kind} ({leaf!r:.60}): traced functions take arrays, "
        "numbers, Spec and tuples/lists/dicts of them; mark other arguments static with "
        "@trace(static_argnums=...)"
    )


def _duck_spec(leaf, where: str) -> tuple[tuple, np.dtype, bool]:
    """A Dask (or other duck) array is an abstract value: its shape and dtype, never its data."""
    shape = tuple(leaf.shape)
    if not all(isinstance(d, (int, np.integer)) for d in shape):
        raise TypeError(
            f"{where} is a {duck_name(leaf)} of unknown shape {shape}: its dimensions must be "
            "known to trace it (for Dask: x.compute_chunk_sizes())"
        )
    try:
        return tuple(int(d) for d in shape), duck_dtype(leaf.dtype), False
    except TracegradError as exc:
        raise TypeError(f"{where}: {exc}") from None


@dataclass
class Call:
    """One call's arguments as a graph maker sees them.

    Attributes:
        args, kwargs: the arguments as given (arrays, numbers, ``Spec``, pytrees).
        specs: ``(shape, dtype, weak)`` of each dynamic leaf, in flatten order.
        tree: the arguments' treedef (static arguments marked ``"static"``).
        labels: the leaves' names (``x``, ``w['W']``).
        captured: the current values of the function's captured slots
            (``tracer.captures``), read once for this call.
    """

    args: tuple
    kwargs: dict
    specs: list
    tree: dict
    labels: list
    captured: list


_captures_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_captures_lock = threading.Lock()


def captures_of(fn) -> Captures:
    """The captured slots of ``fn``, found once and shared by every traced function of ``fn``
    (``grad(f)`` and ``f`` must agree on which captured values are frozen)."""
    try:
        hit = _captures_cache.get(fn)
    except TypeError:  # not weak-referenceable: found anew for each traced function
        return Captures(fn)
    if hit is None:
        with _captures_lock:
            hit = _captures_cache.get(fn)
            if hit is None:
                hit = _captures_cache[fn] = Captures(fn)
    return hit


class RetraceWarning(UserWarning):
    """A traced function has been traced for many different input signatures."""


logger = logging.getLogger("tracegrad")

#: ``TracedFunction`` warns once it has been traced this many times.
MAX_TRACES = 32


def _leaf_key(leaf):
    """The part of one leaf that selects a graph: shape, dtype and weak-typing."""
    if isinstance(leaf, np.ndarray):
        return leaf.shape, leaf.dtype.str, False
    t = type(leaf)
    if t in _PY_SCALARS:
        return (), t.__name__, True
    if isinstance(leaf, (TracedArray, Spec, np.generic)):
        return leaf.shape, leaf.dtype.str, getattr(leaf, "weak", False)
    if is_duck_array(leaf):  # a Dask or array-API array: its shape and dtype (as NumPy's)
        try:
            dtype = duck_dtype(leaf.dtype).str
        except TracegradError:  # rejected with a clear error on the cache miss
            dtype = None
        return tuple(leaf.shape), dtype, False
    return None, t.__name__, False  # rejected with a clear error on the cache miss


class TracedFunction:
    """A function traced to a graph per input signature. Create it with ``@trace``.

    Call it like the original function; ``.trace(*args)`` returns the graph for
    those arguments (arrays or ``Spec``); ``.trace_count`` counts actual traces.
    A new signature (shapes, dtypes, pytree structure, static values, and the
    shapes/dtypes or static values of captured globals and closure variables)
    traces anew; with ``explain_retrace=True`` the reason is logged as a warning
    on the ``"tracegrad"`` logger (always at DEBUG level), and a ``RetraceWarning``
    is issued once the function has been traced ``MAX_TRACES`` times.

    A traced function is made of two parts, both replaceable: ``make_graph(call)``
    builds the graph for a new signature (default: trace ``fn``; transformations
    pass one that transforms another function's graph) and ``run(graph, leaves)``
    evaluates it on concrete leaves (default: the reference interpreter; ``compile``
    passes generated code).

    Args:
        fn: the Python function (plain NumPy code).
        static_argnums, name, explain_retrace, debug_nans: as for ``trace``.
        make_graph: ``make_graph(call) -> Graph`` for a new signature (``Call``).
        run: ``run(graph, leaves) -> outputs`` on concrete leaves.

    Example:
        >>> f = TracedFunction(lambda x: x * 2.0)
        >>> float(f(1.5)), f.trace_count
        (3.0, 1)
    """

    def __init__(
        self,
        fn: Callable,
        *,
        static_argnums: int | Sequence[int] = (),
        name=None,
        explain_retrace: bool = False,
        debug_nans: bool | None = None,
        make_graph: Callable[[Call], Graph] | None = None,
        run: Callable[[Graph, list], list] | None = None,
    ):
        if not callable(fn):
            raise TypeError(f"trace expects a callable, got {type(fn).__name__}")
        if isinstance(static_argnums, int):
            static_argnums = (static_argnums,)
        self.fn = fn
        self.static_argnums = tuple(int(i) for i in static_argnums)
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        if self.name == "<lambda>":
            self.name = "lambda"
        try:
            self._signature = inspect.signature(fn)
        except (TypeError, ValueError):
            self._signature = None
        functools.update_wrapper(self, fn, updated=())
        self.explain_retrace = explain_retrace
        self.debug_nans = debug_nans
        self._cache: dict[Any, Graph] = {}
        self._seen: list[tuple] = []  # (labels, specs, tree, statics, captures) per signature
        self._lock = threading.RLock()
        self._captures: Captures | None = None
        self.make_graph = make_graph if make_graph is not None else self.trace_function
        self.run = run if run is not None else self.evaluate_graph
        self.trace_count = 0

    @property
    def captures(self) -> Captures:
        """The globals and closure variables ``fn`` reads (``tracer.captures``)."""
        if self._captures is None:
            self._captures = captures_of(self.fn)
        return self._captures

    # ----- signatures -----
    def _check_arity(self, args, kwargs):
        if self._signature is not None:
            try:
                self._signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(
                    f"{self.name}{self._signature}: {exc} (at {user_location()})"
                ) from None
        for i in self.static_argnums:
            if not -len(args) <= i < len(args):
                raise TypeError(
                    f"{self.name}: static_argnums={self.static_argnums} names argument {i}, "
                    f"but only {len(args)} positional arguments were given (at {user_location()})"
                )

    def _arg_names(self, n_args: int, kwargs: dict) -> list[str]:
        names = []
        params = list(self._signature.parameters.values()) if self._signature else []
        for i in range(n_args):
            p = params[i] if i < len(params) else None
            if p is not None and p.kind == p.VAR_POSITIONAL:
                names.append(f"{p.name}[{i - params.index(p)}]")
                params.insert(i + 1, p)
            else:
                names.append(p.name if p is not None else f"arg{i}")
        return names

    def _key(self, args: tuple, kwargs: dict):
        """(cache key, dynamic leaves, treedef, static positions, captured values): cheap,
        run on every call."""
        n = len(args)
        static = {i % n for i in self.static_argnums if -n <= i < n}
        dyn = tuple(None if i in static else a for i, a in enumerate(args)) if static else args
        leaves, tree = flatten((dyn, kwargs))
        statics = []
        for i in sorted(static):
            try:
                hash(args[i])
            except TypeError:
                raise TypeError(
                    f"{self.name}: static argument {i} must be hashable, got "
                    f"{type(args[i]).__name__} (at {user_location()})"
                ) from None
            tree["children"][0]["children"][i] = {"type": "static", "repr": repr(args[i])}
            statics.append(args[i])
        captures = self.captures
        captured = captures.read() if captures.slots else []
        key = (
            json.dumps(tree, sort_keys=True, default=str),
            tuple(_leaf_key(leaf) for leaf in leaves),
            tuple(statics),
            captures.key(captured) if captured else (),
        )
        return key, leaves, tree, static, captured

    def _describe(self, args, kwargs, leaves, static):
        """(specs, labels) of the leaves; raises a clear error for unusable arguments."""
        self._check_arity(args, kwargs)
        names = self._arg_names(len(args), kwargs)
        dyn = tuple(None if i in static else a for i, a in enumerate(args))
        paths = leaf_paths(dyn, "") + leaf_paths(kwargs, "")
        labels = []
        for p in paths:  # "[0]['W']" -> "w['W']"
            if p.startswith("[") and p[1:].split("]", 1)[0].isdigit():
                idx, rest = p[1:].split("]", 1)
                labels.append(names[int(idx)] + rest)
            else:
                key, rest = p[2:].split("']", 1) if p.startswith("['") else (p, "")
                labels.append(key + rest)
        try:
            specs = [
                leaf_spec(leaf, f"argument {lab} of {self.name}")
                for leaf, lab in zip(leaves, labels)
            ]
        except TypeError as exc:
            raise TypeError(f"{exc} (at {user_location()})") from None
        return specs, labels

    # ----- graphs -----
    def trace(self, *args, **kwargs) -> Graph:
        """The graph for these arguments (arrays, numbers, ``Spec`` or pytrees of them).

        Its inputs are the arguments' leaves, then one input per captured value
        (listed in the graph attribute ``captures``)."""
        return self._lookup(args, kwargs)[0]

    def _lookup(self, args, kwargs):
        key, leaves, tree, static, captured = self._key(args, kwargs)
        graph = self._cache.get(key)
        if graph is None:
            with self._lock:
                graph = self._cache.get(key)
                if graph is None:
                    specs, labels = self._describe(args, kwargs, leaves, static)
                    statics = [(i, args[i]) for i in sorted(static)]
                    described = self.captures.describe(captured) if captured else []
                    seen = (labels, specs, _structure_key(tree), statics, described)
                    self._explain(seen)
                    with gc_paused():
                        graph = self.make_graph(Call(args, kwargs, specs, tree, labels, captured))
                    if has_outer_captures(graph):
                        return graph, leaves  # bound to one enclosing trace: never reused
                    if captured:  # tracing may have frozen a captured value: key it anew
                        key = key[:3] + (self.captures.key(captured),)
                    self._cache[key] = graph
                    self._seen.append(seen)
        return graph, leaves

    def _explain(self, seen: tuple) -> None:
        """Log why this call traces anew (what differs from the last signature traced)."""
        if not self._seen:
            return
        level = logging.WARNING if self.explain_retrace else logging.DEBUG
        if logger.isEnabledFor(level):
            reasons = explain_difference(self._seen[-1], seen)
            logger.log(level, "tracing %s again: %s", self.name, "; ".join(reasons))
        if len(self._seen) + 1 == MAX_TRACES:
            warnings.warn(
                f"{self.name} has been traced {MAX_TRACES} times, once per new input signature "
                "(shapes, dtypes, structure, static values); pass arrays of fixed shapes, or use "
                "@trace(explain_retrace=True) to see what changes",
                RetraceWarning,
                stacklevel=4,
            )

    def trace_function(self, call: Call) -> Graph:
        """The default graph maker: trace ``fn`` for one signature."""
        graph = trace_to_graph(self.fn, call, self.name, self.static_argnums, self.captures)
        self.trace_count += 1
        return graph

    def evaluate_graph(self, graph: Graph, leaves: list) -> list:
        """The default runner: evaluate ``graph`` on concrete leaves with the interpreter."""
        return evaluate_flat(graph, leaves, check_nans=nans_enabled(self.debug_nans))

    # ----- calling -----
    def __call__(self, *args, **kwargs):
        graph, leaves = self._lookup(args, kwargs)
        if graph.graph.get("captures"):
            leaves = leaves + capture_leaves(graph)
        return self.call_graph(graph, leaves)

    def call_graph(self, graph: Graph, leaves: list):
        """Run (or, inside a trace, inline) one of this function's graphs on every input leaf
        (arguments, then captured values); return the outputs in their structure."""
        state = current_trace()
        if state is not None and any(isinstance(x, TracedArray) for x in leaves):
            outs = inline_graph(state, graph, leaves)
        else:
            outs = self.run(graph, leaves)
        return unflatten(graph.graph["out_tree"], outs)

    def __repr__(self) -> str:
        return f"<traced function {self.name}>"

    def __get__(self, obj, objtype=None):  # methods: bind like a function does
        return self if obj is None else functools.partial(self, obj)


def _structure_key(tree: dict) -> str:
    """The argument structure alone (static values left out)."""
    args, kwargs = tree["children"]
    children = [{"type": "static"} if c["type"] == "static" else c for c in args["children"]]
    return json.dumps([children, kwargs], sort_keys=True, default=str)


def explain_difference(old: tuple, new: tuple) -> list[str]:
    """What changed between two traced signatures, argument by argument."""
    old_labels, old_specs, old_tree, old_statics, old_captured = old
    labels, specs, tree, statics, captured = new
    reasons = []
    if old_tree != tree:
        reasons.append("the argument structure (pytree or number of arguments) changed")
    else:
        for label, (s0, d0, w0), (s1, d1, w1) in zip(labels, old_specs, specs):
            if tuple(s0) != tuple(s1):
                reasons.append(f"argument {label}: shape {tuple(s0)} -> {tuple(s1)}")
            if d0 != d1 or w0 != w1:
                weak = lambda w: " (Python number)" if w else ""  # noqa: E731
                reasons.append(f"argument {label}: dtype {d0}{weak(w0)} -> {d1}{weak(w1)}")
    for (i, v0), (_, v1) in zip(old_statics, statics):
        if v0 != v1:
            reasons.append(f"static argument {i}: {v0!r} -> {v1!r}")
    for (label, k0), (_, k1) in zip(old_captured, captured):
        if k0 != k1:
            reasons.append(f"{label}: {_describe_capture(k0)} -> {_describe_capture(k1)}")
    return reasons or ["a new input signature"]


def _describe_capture(key) -> str:
    """A captured value's key item in words (see ``tracer.captures.leaf_key``)."""
    kind = key[0] if key else ""
    if kind == "a":
        return f"array {np.dtype(key[2]).name}{list(key[1])}"
    if kind == "v":
        return repr(key[2])
    if kind == "id":
        return f"the object {key[1]!r}"
    if kind == "missing":
        return "no value"
    if kind == "p":
        return f"a Python {key[1]}"
    return "a container" if isinstance(kind, str) and kind.startswith("{") else str(key)


def trace_to_graph(fn, call: Call, name: str, static_argnums=(), captures=None) -> Graph:
    """Run ``fn`` once with traced inputs of ``call.specs``; return its graph.

    Captured values (``captures``, read in ``call.captured``) become trailing
    inputs. When the code needs one of them concretely (``if lr > 0.1``), that
    value is frozen (see ``tracer.captures``) and the function traced again.
    """
    while True:
        try:
            return _trace_once(fn, call, name, static_argnums, captures)
        except _Freeze as again:
            captures.frozen.update(again.slots)


class _Freeze(Exception):
    """Internal: trace again with these captured slots static."""

    def __init__(self, slots):
        super().__init__(slots)
        self.slots = slots


def _trace_once(fn, call: Call, name: str, static_argnums, captures) -> Graph:
    args, specs = call.args, call.specs
    graph = Graph(name=name)
    static = {i % len(args) for i in static_argnums} if args else set()
    with new_trace(graph, TracedArray, fn) as state, name_scope(name):
        scope = current_scope()
        tracers = []
        for (shape, dtype, weak), label in zip(specs, call.labels):
            nid = graph.add_op("input", (), {}, shape, dtype, name=label, scope=scope)
            tracers.append(TracedArray(state, nid, tuple(shape), dtype, weak))
        slot_of, call_fn = _capture_inputs(state, fn, call.captured, captures, scope)
        dyn_args, dyn_kwargs = unflatten(_static_as_none(call.tree), tracers)
        call_args = tuple(args[i] if i in static else a for i, a in enumerate(dyn_args))
        try:
            out = call_fn(*call_args, **dyn_kwargs)
        except TracegradError as exc:
            if state.blamed and slot_of:  # captured values behind what was asked concretely
                blamed = {slot_of[n] for n in subgraph_nodes(graph, state.blamed) if n in slot_of}
                if blamed:
                    raise _Freeze(blamed) from exc
            _add_user_location(exc)
            _add_argument_hint(exc, fn, call_args, dyn_kwargs, name)
            raise
        except (TypeError, ValueError) as exc:
            _add_argument_hint(exc, fn, call_args, dyn_kwargs, name)
            raise
        out_leaves, out_tree = flatten(out)
        outputs = [_output_node(state, leaf, name) for leaf in out_leaves]
    caps = [n for n in graph.graph.get("captures", ()) if graph.has_users(n) or n in outputs]
    for n in slot_of:  # captured values the code did not use after all
        if n not in caps:
            graph.remove_node(n)
    inputs = [t.node for t in tracers]
    graph.graph.update(inputs=inputs + caps, outputs=outputs, in_tree=call.tree,
                       out_tree=out_tree)  # fmt: skip
    if caps:
        graph.graph["captures"] = caps
    else:
        graph.graph.pop("captures", None)
    return graph


def _capture_inputs(state: TraceState, fn, captured: list, captures, scope):
    """Make an input node per dynamic captured leaf; return ``(node -> slot index, the
    function to call)``: ``fn`` with those captured values swapped for traced ones."""
    if captures is None or not captured:
        return {}, fn
    graph = state.graph
    slot_of: dict[int, int] = {}
    per_slot: dict[int, dict[int, TracedArray]] = {}
    for i, k, leaf in captures.dynamic_leaves(captured):
        shape, dtype, weak = leaf_spec(leaf, captures.slots[i].label)
        slot = captures.slots[i]
        label = (
            slot.name
            if k == 0 and not isinstance(captured[i], (tuple, list, dict))
            else (f"{slot.name}[{k}]")
        )
        nid = graph.add_op("input", (), {}, shape, dtype, name=label, scope=scope,
                           capture=slot.label, fetch=Fetch(slot, k))  # fmt: skip
        graph.graph.setdefault("captures", []).append(nid)
        slot_of[nid] = i
        if isinstance(leaf, (np.ndarray, np.generic)):  # found again by identity elsewhere
            state.capture_ids[id(leaf)] = nid
            state.captured.append(leaf)
        per_slot.setdefault(i, {})[k] = TracedArray(state, nid, tuple(shape), dtype, weak)
    replaced = {i: rebuild(captured[i], leaves) for i, leaves in per_slot.items()}
    return slot_of, captures.substitute(fn, replaced)


def _add_user_location(exc: Exception) -> None:
    """Append the user's ``path:LINE`` (innermost user frame of the traceback) if missing.

    Front-end checks (axes, index forms, dtypes) raise without a location; doing it
    here keeps every message naming the user's line without threading it through.
    """
    loc, tb = None, exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if not is_internal(code.co_filename):
            loc = f"{code.co_filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    msg = str(exc)
    if loc is not None and loc not in msg and len(exc.args) <= 1:
        exc.args = (f"{msg} (at {loc})",)


def _argument_hint(fn, args: tuple, kwargs: dict, name: str) -> str | None:
    """Why an argument that is a container (None, a list of numbers) may have caused an error.

    Lists, tuples and None are pytrees: the function receives them as they are, with
    a traced value per number, not as one array; NumPy-style code on them fails in
    Python, far from the call. This names the argument.
    """
    try:
        params = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        params = []
    named = [(params[i] if i < len(params) else f"arg{i}", a) for i, a in enumerate(args)]
    for label, value in [*named, *kwargs.items()]:
        if value is None:
            return (
                f"argument {label} of {name} is None: None is an empty container (pytree) and "
                "reaches the function as None, not as an array"
            )
        if isinstance(value, (list, tuple)) and value:
            leaves, _ = flatten(value)
            if not leaves or not all(isinstance(v, TracedArray) and v.weak for v in leaves):
                continue
            try:
                np.array(_structure_of(value), dtype=float)
                ragged = ""
            except ValueError:
                ragged = " ragged nested"
            return (
                f"argument {label} of {name} is a{ragged} {type(value).__name__} of numbers: "
                "lists and tuples are containers (pytrees) whose items are traced one by one, "
                "not arrays; pass np.array(...) for one array"
                + (" (of rows of equal length)" if ragged else "")
            )
    return None


def _structure_of(value):
    if isinstance(value, (list, tuple)):
        return [_structure_of(v) for v in value]
    return 0.0


_CONTAINER_WORDS = ("NoneType", "list", "tuple", "sequence", "inhomogeneous", "np.asarray")


def _add_argument_hint(exc: Exception, fn, args, kwargs, name: str) -> None:
    """Append ``_argument_hint`` (and the user's line) to a one-argument exception's message."""
    if len(exc.args) != 1 or not isinstance(exc.args[0], str):
        return
    if not any(w in exc.args[0] for w in _CONTAINER_WORDS):  # the error is about something else
        return
    hint = _argument_hint(fn, args, kwargs, name)
    if hint is None or ("None" in hint) != ("NoneType" in exc.args[0]):
        return
    if not isinstance(exc, TracegradError):
        _add_user_location(exc)
    msg = exc.args[0]
    exc.args = (f"{msg} {hint[0].upper()}{hint[1:]}." if msg.endswith(".") else f"{msg}; {hint}",)


def _static_as_none(tree: dict) -> dict:
    out = dict(tree)
    out["children"] = [
        {"type": "none"} if c["type"] == "static" else c for c in tree["children"][0]["children"]
    ]
    return {"type": "tuple", "children": [out, tree["children"][1]]}


def _output_node(state: TraceState, leaf, name: str) -> int:
    if isinstance(leaf, TracedArray):
        if leaf._trace is not state and state.encloses(leaf._trace):
            return state.lift(leaf)  # returns a value of the enclosing trace as it is
        if leaf._trace is not state:
            raise TracegradError(
                f"{name} returned a traced value from another trace ({leaf!r}); "
                "a traced function must return values computed from its own arguments"
            )
        return leaf.node
    if isinstance(leaf, (np.ndarray, np.generic, bool, int, float, complex)):
        return state.const(np.asarray(leaf))
    raise TypeError(
        f"{name} returned a {type(leaf).__name__} ({leaf!r:.60}) (at {user_location()}): "
        "traced functions must return arrays, numbers or tuples/lists/dicts of them"
    )


def inline_graph(state: TraceState, graph: Graph, leaves: list) -> list[TracedArray]:
    """Copy ``graph`` into the active trace, its inputs bound to ``leaves``; return its outputs."""
    target = state.graph
    env: dict[int, int] = {}
    weak_of: dict[int, bool] = {}
    for nid, leaf in zip(graph.graph["inputs"], leaves):
        if not isinstance(leaf, (TracedArray, np.ndarray)):
            leaf = np.asarray(leaf)
        env[nid] = as_node(state, leaf)[0]  # captured values map to the caller's inputs
        weak_of[nid] = isinstance(leaf, TracedArray) and leaf.weak
    prefix = current_scope()
    nodes = graph.nodes
    regions: dict[int, int] = {}
    for n in graph.topo_order():
        if n in env:
            continue
        d = nodes[n]
        if d["op"] == "const":
            env[n] = state.const(d["value"])
            continue
        if d["op"] == "input":
            raise TracegradError(f"inline: input node %{n} of {graph.graph.get('name')} unbound")
        nid = env[n] = target.add_op(
            d["op"],
            [env[u] for u in graph.operands(n)],
            d["params"],
            d["shape"],
            d["dtype"],
            name=d.get("name"),
            source=d.get("source"),
            scope=prefix + tuple(d.get("scope") or ()),
        )
        if "rule" in d:  # a custom derivative's rule (tracer.custom) goes where its marker goes
            target.attrs(nid)["rule"] = d["rule"]
        if REGION in d:  # a checkpoint region gets an id of the target graph
            target.attrs(nid)[REGION] = regions.setdefault(d[REGION], nid)
    outs = []
    for o in graph.graph["outputs"]:
        d = target.nodes[env[o]]
        outs.append(
            TracedArray(
                state, env[o], tuple(d["shape"]), np.dtype(d["dtype"]), weak_of.get(o, False)
            )
        )
    return outs


def trace(
    fn: Callable | None = None,
    *,
    static_argnums=(),
    name: str | None = None,
    explain_retrace: bool = False,
    debug_nans: bool | None = None,
):
    """Decorate a NumPy function so that it is traced into a graph (once per signature).

    Args:
        fn: the function; plain NumPy code, Python control flow on static values.
        static_argnums: positions of arguments that are Python values baked into the
            graph (hashable; a new value traces anew).
        name: the graph's name (default: the function's name).
        explain_retrace: log (as a warning, on the ``"tracegrad"`` logger) why each
            new signature traces the function again.
        debug_nans: raise ``NaNError`` at the first node that produces NaN or Inf
            (None: follow the global ``tracer.debug_nans`` switch).

    Returns:
        A ``TracedFunction``; use as ``@trace`` or ``@trace(static_argnums=1)``.

    Example:
        >>> import numpy as np
        >>> from tracer import trace, Spec
        >>> @trace
        ... def f(x, n):
        ...     return np.sum(x**n)
        >>> f = trace(f.fn, static_argnums=1)
        >>> float(f(np.arange(3.0), 2))
        5.0
        >>> print(f.trace(Spec((3,)), 2))  # doctest: +ELLIPSIS
        graph f(x: float64[3]) {
        ...
    """
    options = dict(static_argnums=static_argnums, name=name, explain_retrace=explain_retrace,
                   debug_nans=debug_nans)  # fmt: skip
    if fn is None:
        return functools.partial(trace, **options)
    if isinstance(fn, TracedFunction):
        if not static_argnums and name is None and not explain_retrace and debug_nans is None:
            return fn
        fn = fn.fn
    return TracedFunction(fn, **options)
