"""Captured values: what a traced function reads from outside its arguments.

A function may read arrays and numbers from module globals and closure cells::

    Xb = np.ones((2, 2))
    loss = lambda w: np.sum(Xb @ w)     # Xb is captured

Users of HIPS autograd and eager JAX rebind such names between calls (a
minibatch loop, a decaying learning rate) and expect the next call to see the
new value. So captured values are *implicit inputs* of the graph, read again
at every call:

- ``discover(fn)`` walks ``fn`` once: the globals its code (and the code of
  nested functions) names, its closure cells, and, recursively, the user
  functions it reaches through them. Each place is a ``Slot``.
- Each leaf of a slot's value (a slot may hold a tuple/list/dict) is one of:
  *dynamic* (arrays, NumPy floating scalars, Python floats and complex): it
  becomes an ``input`` node tagged ``capture`` and is fetched at call time, so
  rebinding *and* in-place mutation are seen without tracing again; *static*
  (ints, bools, strings, None, NumPy integer scalars): part of the cache key by
  value, so a change traces again (they may decide Python control flow or
  shapes); anything else (functions, objects): part of the key by identity.
- While tracing, the function runs as a copy whose globals and cells hold the
  traced values (``Captures.substitute``), so Python arithmetic on a captured
  float (``0.5 * beta * kl``) is traced too. A captured value that the code needs
  concretely (``if lr > 0.1``, ``np.asarray(X)``) is *frozen*: the trace is
  repeated with it static (keyed by value, or by identity for arrays).

Traced values of an enclosing trace (``grad(lambda x: grad(lambda y: x * y)(1.))``)
are captured the same way, as inputs bound to the outer traced value when the
inner graph is inlined (see ``tracer.staging.TraceState.lift``); graphs with such
captures are never cached.
"""

from __future__ import annotations

import dis
import functools
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from tracer.frames import is_internal
from tracer.pytree import flatten, unflatten
from tracer.staging import Bound, Tracer

MAX_LEAVES = 256  # a container with more leaves is keyed by identity, not traced leaf by leaf
MAX_DEPTH = 8  # how deep the walk follows helper functions
_MISSING = object()
_STORES = frozenset({"STORE_GLOBAL", "DELETE_GLOBAL"})
_SKIP = (types.ModuleType, type, types.BuiltinFunctionType, np.ufunc)


class _Id:
    """A cache-key item equal only to the same object (it keeps the object alive, so its id
    cannot be reused while the key exists)."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Id) and other.obj is self.obj

    def __repr__(self) -> str:
        return f"<{type(self.obj).__name__} at {id(self.obj):#x}>"


def is_dynamic(leaf) -> bool:
    """Leaves traced as implicit inputs: numeric arrays, floating scalars, Python floats."""
    if isinstance(leaf, np.ndarray):
        return leaf.dtype.kind in "biufc"
    if isinstance(leaf, np.generic):
        return leaf.dtype.kind in "fc"
    return type(leaf) in (float, complex)


def _static_key(leaf):
    if leaf is None or type(leaf) in (int, bool, str, bytes):
        return ("v", type(leaf).__name__, leaf)
    if type(leaf) in (float, complex):  # frozen numbers: by value (repr: nan equals nan)
        return ("v", type(leaf).__name__, leaf if leaf == leaf else repr(leaf))
    if isinstance(leaf, np.generic) and leaf.dtype.kind in "biufc":
        item = leaf.item()
        return ("v", leaf.dtype.str, item if item == item else repr(item))
    return ("id", _Id(leaf))


def leaf_key(leaf, frozen: bool = False):
    """The cache-key item of one captured leaf."""
    if isinstance(leaf, Tracer):
        return ("outer",)  # lifted where it is used, never part of a key
    if not frozen and is_dynamic(leaf):
        if isinstance(leaf, (np.ndarray, np.generic)):
            return ("a", leaf.shape, leaf.dtype.str)
        return ("p", type(leaf).__name__)
    return _static_key(leaf)


class Slot:
    """One place a function reads: a module global or a closure cell."""

    __slots__ = ("kind", "holder", "name", "label")

    def __init__(self, kind: str, holder, name: str):
        self.kind = kind  # "global" | "closure"
        self.holder = holder  # the globals dict, or the cell
        self.name = name
        self.label = f"{kind} {name}"

    def read(self):
        if self.kind == "global":
            return self.holder.get(self.name, _MISSING)
        try:
            return self.holder.cell_contents
        except ValueError:  # an empty cell: the variable is not assigned yet
            return _MISSING

    def __repr__(self) -> str:
        return f"Slot({self.label})"


class Fetch:
    """How a capture input gets its value at call time: leaf ``leaf`` of slot ``slot``."""

    __slots__ = ("slot", "leaf")

    def __init__(self, slot: Slot, leaf: int):
        self.slot, self.leaf = slot, leaf

    def __call__(self, memo: dict):
        leaves = memo.get(self.slot)
        if leaves is None:
            value = self.slot.read()
            if value is _MISSING:
                raise NameError(f"captured {self.slot.label} no longer exists")
            leaves = memo[self.slot] = flatten(value)[0] if _container(value) else [value]
        return leaves[self.leaf]


def _container(value) -> bool:
    return isinstance(value, (tuple, list, dict))  # namedtuples too: containers, as in JAX


def capture_nodes(graph) -> list[int]:
    """The graph's capture inputs (its last inputs), in order."""
    return list(graph.graph.get("captures") or ())


def explicit_inputs(graph) -> list[int]:
    """The graph's inputs that stand for arguments (every input but the capture inputs)."""
    caps = graph.graph.get("captures")
    if not caps:
        return list(graph.graph["inputs"])
    caps = set(caps)
    return [n for n in graph.graph["inputs"] if n not in caps]


def capture_leaves(graph) -> list:
    """Current values of the graph's capture inputs, in order (empty when it has none)."""
    caps = graph.graph.get("captures")
    if not caps:
        return []
    memo: dict = {}
    nodes = graph.nodes
    out = []
    for n in caps:
        d = nodes[n]
        fetch = d.get("fetch")
        if fetch is not None:
            out.append(fetch(memo))
        elif "value" in d:  # a loaded graph: the value saved with it
            out.append(d["value"])
        else:
            raise NameError(f"capture input %{n} ({d.get('capture')}) has no value to bind")
    return out


def has_outer_captures(graph) -> bool:
    """True when a capture input is bound to a traced value of an enclosing trace."""
    nodes = graph.nodes
    return any(isinstance(nodes[n].get("fetch"), Bound) for n in graph.graph.get("captures") or ())


# ----- discovery -----


def _code_objects(code: types.CodeType):
    stack = [code]
    while stack:
        c = stack.pop()
        yield c
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))


@functools.lru_cache(maxsize=4096)
def _code_facts(code: types.CodeType) -> tuple[tuple[str, ...], bool]:
    """(global names the code and its nested functions may read, whether it writes globals)."""
    names: dict[str, None] = {}
    writes = False
    for c in _code_objects(code):
        names.update(dict.fromkeys(c.co_names))
        if not writes:
            writes = any(ins.opname in _STORES for ins in dis.get_instructions(c))
    return tuple(names), writes


def _user_function(obj) -> types.FunctionType | None:
    """The plain Python function behind ``obj`` when it is user code to walk into
    (through ``__wrapped__``, which ``@trace`` and ``functools.wraps`` set)."""
    for _ in range(8):
        inner = getattr(obj, "__wrapped__", None) if not isinstance(obj, _SKIP) else None
        if inner is None:
            break
        obj = inner
    if isinstance(obj, types.MethodType):
        obj = obj.__func__
    if isinstance(obj, functools.partial):
        obj = obj.func
    if isinstance(obj, types.FunctionType) and not is_internal(obj.__code__.co_filename):
        return obj
    return None


class _FnInfo:
    """What the walk learnt about one user function: its slots and the helpers it reaches."""

    __slots__ = ("fn", "global_slots", "cell_slots", "helpers", "writes_globals")

    def __init__(self, fn: types.FunctionType, writes_globals: bool):
        self.fn = fn
        self.global_slots: list[int] = []
        self.cell_slots: dict[int, int] = {}  # freevar position -> slot index
        self.helpers: list[tuple[str, Any, int]] = []  # ("global", name | "cell", pos), fn id
        self.writes_globals = writes_globals


class Captures:
    """The slots a function reads, found once; keys, values and the substituted copy per call."""

    def __init__(self, fn: Callable):
        self.root = fn
        self.slots: list[Slot] = []
        self.infos: dict[int, _FnInfo] = {}
        self.frozen: set[int] = set()  # slots the code needs concretely: static, by identity
        self._walk(fn)

    def _slot(self, kind: str, holder, name: str, index: dict) -> int:
        key = (kind, id(holder), name)
        i = index.get(key)
        if i is None:
            i = index[key] = len(self.slots)
            self.slots.append(Slot(kind, holder, name))
        return i

    def _walk(self, root) -> None:
        index: dict = {}
        first = _user_function(root)
        if first is None:
            return
        stack = [(first, 0)]
        while stack:
            fn, depth = stack.pop()
            if id(fn) in self.infos:
                continue
            names, writes = _code_facts(fn.__code__)
            info = self.infos[id(fn)] = _FnInfo(fn, writes)
            g = fn.__globals__
            places = [("global", name, g[name]) for name in names if name in g]
            for pos, (name, cell) in enumerate(zip(fn.__code__.co_freevars, fn.__closure__ or ())):
                try:
                    places.append(("closure", (pos, name, cell), cell.cell_contents))
                except ValueError:
                    continue
            for kind, where, value in places:
                if isinstance(value, (_SKIP, Tracer)):
                    continue
                if kind == "global":
                    i = self._slot("global", g, where, index)
                    info.global_slots.append(i)
                else:
                    pos, name, cell = where
                    i = self._slot("closure", cell, name, index)
                    info.cell_slots[pos] = i
                helper = _user_function(value)
                if helper is not None and depth < MAX_DEPTH:
                    info.helpers.append((kind, where if kind == "global" else where[0], id(helper)))
                    stack.append((helper, depth + 1))

    # ----- per call -----
    def read(self) -> list:
        """The current value of every slot (``_MISSING`` where a name is gone)."""
        return [s.read() for s in self.slots]

    def key(self, values: list) -> tuple:
        """The part of the cache key the captured values decide."""
        out = []
        frozen = self.frozen
        for i, value in enumerate(values):
            if value is _MISSING:
                out.append(("missing",))
            elif _container(value):
                leaves, tree = flatten(value)
                if len(leaves) > MAX_LEAVES:
                    out.append(("id", _Id(value)))
                else:
                    out.append((repr(tree), tuple(leaf_key(v, i in frozen) for v in leaves)))
            else:
                out.append(leaf_key(value, i in frozen))
        return tuple(out)

    def dynamic_leaves(self, values: list):
        """``(slot index, leaf index, leaf)`` for every leaf traced as an implicit input."""
        for i, value in enumerate(values):
            if value is _MISSING or i in self.frozen:
                continue
            if _container(value):
                leaves, _ = flatten(value)
                if len(leaves) > MAX_LEAVES:
                    continue
            else:
                leaves = [value]
            for k, leaf in enumerate(leaves):
                if is_dynamic(leaf):
                    yield i, k, leaf

    def substitute(self, fn: Callable, replaced: dict[int, Any]) -> Callable:
        """``fn`` (and the user functions it reaches) with the ``replaced`` slots' values
        swapped for the given ones; the original functions are left alone."""
        first = _user_function(fn)
        if not replaced or first is None:
            return fn
        needs = self._needs(replaced)
        if id(first) not in needs:
            return fn
        copies: dict[int, types.FunctionType] = {}
        module_copies: dict[int, dict] = {}
        pending_cells: list[tuple[types.CellType, int]] = []
        for fid in needs:
            info = self.infos[fid]
            f = info.fn
            g = f.__globals__
            if not info.writes_globals:
                ng = module_copies.get(id(g))
                if ng is None:
                    ng = module_copies[id(g)] = dict(g)
                g = ng
            cells = list(f.__closure__ or ())
            for pos, i in info.cell_slots.items():
                if i in replaced:
                    cells[pos] = types.CellType(replaced[i])
            for kind, where, hid in info.helpers:
                if (
                    kind == "closure"
                    and hid in needs
                    and f.__closure__[where].cell_contents is (self.infos[hid].fn)
                ):
                    cells[where] = types.CellType()
                    pending_cells.append((cells[where], hid))
            copy = types.FunctionType(f.__code__, g, f.__name__, f.__defaults__,
                                      tuple(cells) if f.__closure__ else None)  # fmt: skip
            copy.__kwdefaults__ = f.__kwdefaults__
            copy.__qualname__ = f.__qualname__
            copy.__dict__.update(f.__dict__)
            copies[fid] = copy
        for cell, hid in pending_cells:
            cell.cell_contents = copies[hid]
        # the substituted module dicts: captured globals and helpers read their copies
        for fid in needs:
            info = self.infos[fid]
            ng = module_copies.get(id(info.fn.__globals__))
            if ng is None:
                continue
            for i in info.global_slots:
                if i in replaced:
                    ng[self.slots[i].name] = replaced[i]
            for kind, where, hid in info.helpers:
                # plain functions only: a wrapper (a traced function, a partial) keeps its own,
                # but one that must stay a wrapper (custom_vjp, checkpoint) wraps the copy
                if kind != "global" or hid not in needs:
                    continue
                value = ng.get(where)
                if value is self.infos[hid].fn:
                    ng[where] = copies[hid]
                elif _rewrappable(value) and _user_function(value) is self.infos[hid].fn:
                    ng[where] = value.with_function(copies[hid])
        top = copies[id(first)]
        if isinstance(fn, types.MethodType):
            return types.MethodType(top, fn.__self__)
        if isinstance(fn, functools.partial):
            return functools.partial(top, *fn.args, **fn.keywords)
        return _rewrap(fn, top)

    def _needs(self, replaced: dict[int, Any]) -> set[int]:
        """Functions that read a replaced slot, directly or through the helpers they call."""
        needs = {
            fid
            for fid, info in self.infos.items()
            if any(i in replaced for i in info.global_slots)
            or any(i in replaced for i in info.cell_slots.values())
        }
        changed = True
        while changed:
            changed = False
            for fid, info in self.infos.items():
                if fid not in needs and any(hid in needs for _, _, hid in info.helpers):
                    needs.add(fid)
                    changed = True
        return needs

    def describe(self, values: list) -> list[tuple[str, tuple]]:
        """(label, key) per slot, for retrace explanations."""
        return list(zip((s.label for s in self.slots), self.key(values)))


def _rewrappable(obj) -> bool:
    """A wrapper that must stay one around a substituted body (``tracer.custom``'s
    functions, ``checkpoint``): it has ``with_function(fn)``."""
    return not isinstance(obj, types.FunctionType) and callable(getattr(obj, "with_function", None))


def _rewrap(fn, top):
    """``top`` (the substituted copy of ``fn``'s function) in ``fn``'s wrapper, if it has one
    that must stay (``with_function``); a plain wrapper (``@trace``) is dropped."""
    return fn.with_function(top) if _rewrappable(fn) else top


def rebuild(value, leaves_by_index: dict[int, Any]):
    """``value`` (a slot's value) with the leaves at the given flat indices replaced."""
    if not _container(value):
        return leaves_by_index.get(0, value)
    leaves, tree = flatten(value)
    return unflatten(tree, [leaves_by_index.get(k, v) for k, v in enumerate(leaves)])
