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
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracer.core import (
    TracedArray,
    TraceState,
    _is_internal,
    current_scope,
    current_trace,
    gc_paused,
    name_scope,
    new_trace,
    user_location,
)
from tracer.debug import nans_enabled
from tracer.errors import TracegradError
from tracer.graph import Graph
from tracer.interpreter import evaluate_flat
from tracer.pytree import flatten, leaf_paths, unflatten
from tracer.spec import Spec, canonical_dtype

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
    kind = type(leaf).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    raise TypeError(
        f"{where} is {article} {kind} ({leaf!r:.60}): traced functions take arrays, "
        "numbers, Spec and tuples/lists/dicts of them; mark other arguments static with "
        "@trace(static_argnums=...)"
    )


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
    return None, t.__name__, False  # rejected with a clear error on the cache miss


class TracedFunction:
    """A function traced to a graph per input signature. Create it with ``@trace``.

    Call it like the original function; ``.trace(*args)`` returns the graph for
    those arguments (arrays or ``Spec``); ``.trace_count`` counts actual traces.
    A new signature (shapes, dtypes, pytree structure, static values) traces anew;
    with ``explain_retrace=True`` the reason is logged as a warning on the
    ``"tracegrad"`` logger (always at DEBUG level), and a ``RetraceWarning`` is
    issued once the function has been traced ``MAX_TRACES`` times.
    """

    def __init__(
        self,
        fn: Callable,
        *,
        static_argnums: int | Sequence[int] = (),
        name=None,
        explain_retrace: bool = False,
        debug_nans: bool | None = None,
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
        self._seen: list[tuple] = []  # (labels, specs, statics) of each traced signature
        self._lock = threading.RLock()
        self.trace_count = 0

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
        """(cache key, dynamic leaves, treedef, static positions): cheap, run on every call."""
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
        key = (
            json.dumps(tree, sort_keys=True, default=str),
            tuple(_leaf_key(leaf) for leaf in leaves),
            tuple(statics),
        )
        return key, leaves, tree, static

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

    def flatten_call(self, args: tuple, kwargs: dict):
        """(signature key, dynamic leaves, specs, in_tree, leaf labels) for a call."""
        key, leaves, tree, static = self._key(args, kwargs)
        specs, labels = self._describe(args, kwargs, leaves, static)
        return key, leaves, specs, tree, labels

    # ----- graphs -----
    def trace(self, *args, **kwargs) -> Graph:
        """The graph for these arguments (arrays, numbers, ``Spec`` or pytrees of them)."""
        return self._lookup(args, kwargs)[0]

    def _lookup(self, args, kwargs):
        key, leaves, tree, static = self._key(args, kwargs)
        graph = self._cache.get(key)
        if graph is None:
            with self._lock:
                graph = self._cache.get(key)
                if graph is None:
                    specs, labels = self._describe(args, kwargs, leaves, static)
                    statics = [(i, args[i]) for i in sorted(static)]
                    self._explain(labels, specs, _structure_key(tree), statics)
                    with gc_paused():
                        graph = self._build(args, kwargs, specs, tree, labels)
                    self._cache[key] = graph
                    self._seen.append((labels, specs, _structure_key(tree), statics))
        return graph, leaves

    def _explain(self, labels, specs, tree_key, statics) -> None:
        """Log why this call traces anew (what differs from the last signature traced)."""
        if not self._seen:
            return
        level = logging.WARNING if self.explain_retrace else logging.DEBUG
        if logger.isEnabledFor(level):
            reasons = explain_difference(self._seen[-1], (labels, specs, tree_key, statics))
            logger.log(level, "tracing %s again: %s", self.name, "; ".join(reasons))
        if len(self._seen) + 1 == MAX_TRACES:
            warnings.warn(
                f"{self.name} has been traced {MAX_TRACES} times, once per new input signature "
                "(shapes, dtypes, structure, static values); pass arrays of fixed shapes, or use "
                "@trace(explain_retrace=True) to see what changes",
                RetraceWarning,
                stacklevel=4,
            )

    def _build(self, args, kwargs, specs, tree, labels) -> Graph:
        """Trace the function for one signature. Subclasses transform the result."""
        graph = trace_to_graph(self.fn, args, kwargs, specs, tree, labels, self.name,
                               self.static_argnums)  # fmt: skip
        self.trace_count += 1
        return graph

    def _run(self, graph: Graph, leaves: list) -> list:
        """Evaluate ``graph`` on concrete leaves. Subclasses run compiled code instead."""
        return evaluate_flat(graph, leaves, check_nans=nans_enabled(self.debug_nans))

    # ----- calling -----
    def __call__(self, *args, **kwargs):
        graph, leaves = self._lookup(args, kwargs)
        state = current_trace()
        if state is not None and any(isinstance(x, TracedArray) for x in leaves):
            outs = inline_graph(state, graph, leaves)
        else:
            outs = self._run(graph, leaves)
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
    old_labels, old_specs, old_tree, old_statics = old
    labels, specs, tree, statics = new
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
    return reasons or ["a new input signature"]


def trace_to_graph(fn, args, kwargs, specs, in_tree, labels, name, static_argnums=()) -> Graph:
    """Run ``fn`` once with traced inputs of ``specs``; return its graph."""
    graph = Graph(name=name)
    static = {i % len(args) for i in static_argnums} if args else set()
    with new_trace(graph) as state, name_scope(name):
        scope = current_scope()
        tracers = []
        for (shape, dtype, weak), label in zip(specs, labels):
            nid = graph.add_op("input", (), {}, shape, dtype, name=label, scope=scope)
            tracers.append(TracedArray(state, nid, tuple(shape), dtype, weak))
        dyn_args, dyn_kwargs = unflatten(_static_as_none(in_tree), tracers)
        call_args = tuple(args[i] if i in static else a for i, a in enumerate(dyn_args))
        try:
            out = fn(*call_args, **dyn_kwargs)
        except TracegradError as exc:
            _add_user_location(exc)
            _add_argument_hint(exc, fn, call_args, dyn_kwargs, name)
            raise
        except (TypeError, ValueError) as exc:
            _add_argument_hint(exc, fn, call_args, dyn_kwargs, name)
            raise
        out_leaves, out_tree = flatten(out)
        outputs = [_output_node(state, leaf, name) for leaf in out_leaves]
    graph.graph.update(
        inputs=[t.node for t in tracers], outputs=outputs, in_tree=in_tree, out_tree=out_tree
    )
    return graph


def _add_user_location(exc: Exception) -> None:
    """Append the user's ``path:LINE`` (innermost user frame of the traceback) if missing.

    Front-end checks (axes, index forms, dtypes) raise without a location; doing it
    here keeps every message naming the user's line without threading it through.
    """
    loc, tb = None, exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if not _is_internal(code.co_filename):
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
        if isinstance(leaf, TracedArray):
            env[nid], weak_of[nid] = leaf.node, leaf.weak
        else:
            env[nid], weak_of[nid] = state.const(np.asarray(leaf)), False
    prefix = current_scope()
    nodes = graph.nodes
    for n in graph.topo_order():
        if n in env:
            continue
        d = nodes[n]
        if d["op"] == "const":
            env[n] = state.const(d["value"])
            continue
        if d["op"] == "input":
            raise TracegradError(f"inline: input node %{n} of {graph.graph.get('name')} unbound")
        env[n] = target.add_op(
            d["op"],
            [env[u] for u in graph.operands(n)],
            d["params"],
            d["shape"],
            d["dtype"],
            name=d.get("name"),
            source=d.get("source"),
            scope=prefix + tuple(d.get("scope") or ()),
        )
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
