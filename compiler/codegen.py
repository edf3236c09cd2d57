"""Code generation: a graph becomes straight-line Python/NumPy source you can read.

::

    def _make(_k):
        c4 = _k[4]  # 0.9
        def f(x):
            t2 = np.sin(x)  # %2 @ model.py:7
            t2 = np.multiply(t2, c4, t2)  # %5 @ model.py:7
            ...
            return (t9,)
        return f

- Names: inputs keep their (sanitised) parameter names, named nodes (``grad_x``)
  keep theirs, other values are ``t<id>``, constants are closure variables
  ``c<id>`` (arrays never appear as text).
- Memory: a value is ``del``-ed right after its last use, unless its buffer can be
  recycled: a dead array the function owns (made by a ufunc, matmul, ``where``,
  ... ; never an input, a constant, a view or anything a view was taken of)
  becomes the ``out=`` of the next ufunc/matmul producing the same shape and dtype.
  Most ufuncs take it as their last positional argument (``np.multiply(a, b,
  t5)`` writes into ``t5``): NumPy parses that faster than ``out=t5``, which
  counts on 16-element arrays.
- Safety: identifiers are sanitised (ASCII, no keywords, no leading ``_``,
  uniquified); params are emitted with ``repr`` only after checking they are
  plain ints, floats, bools, None, tuples of those or NumPy dtype names; any
  other param travels as a closure constant. Nothing from a graph is pasted
  into the source as text.
- Size: graphs of more than ``CHUNK`` ops are split into ``_part_<k>`` functions
  that pass live values through a dict, so 100,000-op programs still compile.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, field

import numpy as np

from tracer.errors import TracegradError
from tracer.graph import Graph, format_value
from tracer.primitives import PRIMITIVES
from tracer.primitives.base import CALL_IMPL

CHUNK = 10_000  # ops per generated function; bigger graphs run on slots unless forced

# Derived from the primitive declarations (``ufunc``, ``ufunc_out``, ``elementwise``): ops
# whose implementation *is* that NumPy ufunc are emitted as direct calls.
UFUNCS = {
    p.name: p.ufunc for p in PRIMITIVES.values() if p.ufunc and getattr(np, p.ufunc, None) is p.impl
}
# Elementwise ufuncs may write into the buffer of an operand that dies here.
ELEMENTWISE = frozenset(op for op in UFUNCS if PRIMITIVES[op].elementwise)
# ... given as the last positional argument (faster to parse than out=) unless the
# declaration says the ufunc takes it as a keyword.
POSITIONAL_OUT = frozenset(op for op in ELEMENTWISE if PRIMITIVES[op].ufunc_out == "positional")
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_GENERATED = re.compile(r"(t|c)[0-9]+\Z|np\Z|xp\Z")
_SOURCE = re.compile(r"[A-Za-z0-9_.<>-]{1,80}:[0-9]{1,7}\Z")


class CodegenError(TracegradError):
    """The graph cannot be turned into source (unknown op, malformed node)."""


# ----- safe pieces of source -----


def sanitize(name: str, fallback: str = "v") -> str:
    """A plain ASCII identifier derived from ``name`` that cannot be a keyword or collide
    with generated names (``t12``, ``c3``, ``np``, ``xp``, anything starting with ``_``)."""
    s = re.sub(r"[^A-Za-z0-9]+", "_", str(name)).strip("_")[:40].rstrip("_")
    if not s or not s[0].isalpha():
        s = f"{fallback}_{s}" if s else fallback
    if keyword.iskeyword(s) or _GENERATED.match(s) or s in _BUILTINS:
        s += "_"
    assert _IDENT.match(s)
    return s


_BUILTINS = frozenset({"None", "True", "False", "float", "int", "tuple", "print", "len"})


def literal(v) -> str:
    """Python source for a param value; only ints, floats, bools, None and tuples of them."""
    if v is None or type(v) is bool:
        return repr(v)
    if type(v) is int or isinstance(v, np.integer) and not isinstance(v, np.bool_):
        return repr(int(v))
    if isinstance(v, np.bool_):
        return repr(bool(v))
    if type(v) is float or isinstance(v, np.floating):
        f = float(v)
        if math.isnan(f):
            return "float('nan')"
        if math.isinf(f):
            return "float('inf')" if f > 0 else "float('-inf')"
        return repr(f)
    if type(v) in (tuple, list):
        items = [literal(x) for x in v]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    raise CodegenError(f"param value {type(v).__name__} cannot be written as a literal")


def dtype_literal(s) -> str:
    """A quoted NumPy dtype name, after checking it is one."""
    if not isinstance(s, str) or not re.fullmatch(r"[a-z][a-z0-9]*", s):
        raise CodegenError(f"not a dtype name: {s!r}")
    if np.dtype(s).name != s:
        raise CodegenError(f"not a canonical dtype name: {s!r}")
    return repr(s)


def _index_literal(index, arrays: list[str]) -> str:
    parts = []
    for item in index:
        kind = item[0]
        if kind == "int":
            parts.append(literal(_int(item[1])))
        elif kind == "slice":
            start, stop, step = item[1], item[2], item[3]
            bounds = ["" if b is None else literal(_int(b)) for b in (start, stop, step)]
            parts.append(":".join(bounds))
        elif kind == "newaxis":
            parts.append("None")
        elif kind == "ellipsis":
            parts.append("...")
        elif kind == "array":
            parts.append(arrays[_int(item[1])])
        else:
            raise CodegenError(f"getitem: unknown index item kind {kind!r}")
    if not parts:
        return "()"
    return ", ".join(parts) + ("," if len(parts) == 1 and "," not in parts[0] else "")


def _int(v) -> int:
    if type(v) is bool or not isinstance(v, (int, np.integer)):
        raise CodegenError(f"expected an int in an index, got {type(v).__name__}")
    return int(v)


class _Literals:
    """The checked literals a primitive's ``lower`` writes its params with (no text from a
    graph is ever pasted into the source)."""

    value = staticmethod(literal)
    dtype = staticmethod(dtype_literal)
    index = staticmethod(_index_literal)

    @staticmethod
    def int(v) -> str:
        return literal(_int(v))

    @staticmethod
    def xp_dtype(s) -> str:
        """The array-API namespace's dtype object: ``xp.float32``."""
        return "xp." + dtype_literal(s)[1:-1]

    @staticmethod
    def ints(values) -> str:
        return literal(tuple(_int(v) for v in values))


LITERALS = _Literals()


# ----- expressions per op -----


def _expr(op: str, a: list[str], p: dict) -> str:
    """The call computing ``op`` on operand expressions ``a`` (no ``out=``), from the
    primitive's declaration; a KeyError when it is lowered by calling its ``impl``."""
    if op in UFUNCS:
        return f"np.{UFUNCS[op]}({', '.join(a)})"
    lower = PRIMITIVES[op].lower
    if lower is None or lower is CALL_IMPL:
        raise KeyError(op)
    return lower(a, p, LITERALS)


@dataclass(slots=True)
class Step:
    """One op of the schedule: ``target = op(*args[, out=out])``, then drop ``free``; with
    ``wrap``, ``target = wrap(op(*args))`` (a closure name: the back end's adapter)."""

    node: int
    target: str
    args: list[str]
    out: str | None = None
    free: list[str] = field(default_factory=list)
    wrap: str | None = None


@dataclass
class Schedule:
    """The program a graph compiles to, before it becomes text: names, steps, frees, buffers."""

    name: str
    inputs: list[str]  # parameter names, in ``graph.inputs`` order
    consts: list[tuple[str, int]]  # (closure name, const node)
    steps: list[Step]
    outputs: list[str]  # names returned, in ``graph.outputs`` order
    graph: Graph
    buffers: bool = True  # out= reuse, in-place writes and fresh copies of returned views
    prelude: list[str] = field(default_factory=list)  # first lines of the function's body


@dataclass
class GeneratedCode:
    """Source text plus what it needs: closure constants and a line -> node map."""

    source: str
    name: str
    consts: dict[str, object] = field(default_factory=dict)
    line_nodes: dict[int, int] = field(default_factory=dict)  # 1-based line -> node id


def schedule(graph: Graph, name: str | None = None, *, buffers: bool = True) -> Schedule:
    """Order the ops, name every value and decide frees and ``out=`` buffer reuse.

    Args:
        graph: a valid graph (usually optimised).
        name: the function's name (default: the graph's, sanitised).
        buffers: reuse dead buffers as ``out=`` (writing in place) and return views as
            fresh copies; False for arrays that are not NumPy's (a Dask array is immutable
            and lazy: every op makes a new value, and ``np.array`` would compute it).
    """
    fn_name = sanitize(name or graph.graph.get("name") or "f", "f")
    used = {fn_name, "np"}

    def fresh(base: str) -> str:
        cand, k = base, 1
        while cand in used:
            k += 1
            cand = f"{base}_{k}"
        used.add(cand)
        return cand

    nodes = graph.node_attrs
    order = graph.topo_order()
    inputs = list(graph.graph["inputs"])
    outputs = list(graph.graph["outputs"])
    var: dict[int, str] = {}
    for n in inputs:
        var[n] = fresh(sanitize(nodes[n].get("name") or f"arg{n}", "arg"))
    consts = []
    ops = []
    for n in order:
        op = nodes[n]["op"]
        if op == "const":
            var[n] = fresh(f"c{n}")
            consts.append((var[n], n))
        elif op != "input":
            if op not in PRIMITIVES:
                raise CodegenError(f"node %{n} has unknown op {op!r}")
            ops.append(n)
    args_of = [graph.operands(n) for n in ops]

    end = len(ops)
    last: dict[int, int] = {}  # position of each value's last use; outputs live to the end
    for i, args in enumerate(args_of):
        for u in args:
            last[u] = i
    for o in outputs:
        last[o] = end
    # Only arrays (ndim >= 1) matter for out=: 0-d results are immutable NumPy scalars.
    aval: dict[int, tuple] = {}
    takes_out: set[int] = set()
    owned: set[int] = set()
    allocs: dict[tuple, int] = {}  # remaining out=-capable results per (shape, dtype)
    for n in ops:
        d = nodes[n]
        if not d["shape"]:
            continue
        aval[n] = key = (tuple(d["shape"]), d["dtype"])
        if d["op"] in UFUNCS and buffers:
            takes_out.add(n)
            allocs[key] = allocs.get(key, 0) + 1
        if buffers and _owns(graph, n):
            owned.add(n)
    plain = {n for n in inputs} | {n for _, n in consts}

    pool: dict[tuple, list[str]] = {}
    steps = []
    for i, n in enumerate(ops):
        d = nodes[n]
        args = args_of[i]
        distinct = args if len(args) == 1 else list(dict.fromkeys(args))
        buf = consumed = None
        if n in takes_out:
            key = aval[n]
            allocs[key] -= 1
            if d["op"] in ELEMENTWISE:  # write into an operand that dies here
                for u in distinct:
                    if last[u] == i and u in owned and aval[u] == key:
                        buf, consumed = var[u], u
                        break
            if buf is None and pool.get(key):
                buf = pool[key].pop()
        label = d.get("name")
        if label:
            target = fresh(sanitize(label))
        elif buf is not None:
            target = buf
        else:
            target = f"t{n}"  # cannot clash: sanitised names never look like t<digits>
        free = [buf] if buf is not None and target != buf else []
        for u in distinct:
            if u == consumed or last[u] != i or u in plain:
                continue
            if u in owned:
                ku = aval[u]
                if allocs.get(ku, 0) > len(pool.get(ku, ())):
                    pool.setdefault(ku, []).append(var[u])  # dead, kept bound for reuse
                    continue
            free.append(var[u])
        var[n] = target
        if n not in last:  # never used (graph not optimised): free at once
            free.append(target)
        steps.append(Step(n, target, [var[u] for u in args], buf, free))
    return Schedule(fn_name, [var[n] for n in inputs], consts, steps,
                    [var[o] for o in outputs], graph, buffers)  # fmt: skip


def generate(graph: Graph, name: str | None = None, *, chunk: int = CHUNK) -> GeneratedCode:
    """Straight-line source for ``graph``: ``_make(consts)`` returns ``name(*inputs) -> tuple``.

    Args:
        graph: a valid graph (usually optimised).
        name: the function's name (default: the graph's, sanitised).
        chunk: ops per generated function before splitting into ``_part_<k>`` functions.

    Returns:
        A ``GeneratedCode``; ``executor.Executable`` compiles and runs it.
    """
    return emit_source(schedule(graph, name), chunk=chunk)


class _Emitter:
    """Collects the prologue (closure constants) and the body lines, each tagged with a node."""

    def __init__(self, graph: Graph):
        self.nodes = graph.node_attrs
        self.prologue: list[tuple[str, int | None]] = []
        self.body: list[tuple[str, int | None]] = []
        self.consts: dict[str, object] = {}
        self.used_names: set[str] = set()

    def emit(self, text: str, node: int | None = None, indent: int = 1) -> None:
        self.body.append(("    " * indent + text, node))

    def closure(self, name: str, value, note: str = "", node: int | None = None) -> None:
        assert re.fullmatch(r"_?[A-Za-z][A-Za-z0-9_]*", name)  # generated, never user text
        self.consts[name] = value
        self.prologue.append((f"    {name} = _k[{name!r}]{note}", node))

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.used_names:
            k += 1
            name = f"{base}_{k}"
        self.used_names.add(name)
        return name

    def comment(self, n: int) -> str:
        src = self.nodes[n].get("source")
        if isinstance(src, str) and _SOURCE.match(src):
            return f"  # %{n} @ {src}"
        return f"  # %{n}"

    def finish(self, fn_name: str) -> GeneratedCode:
        lines = [("def _make(_k):", None), *self.prologue, *self.body]
        lines.append((f"    return {fn_name}", None))
        line_nodes = {i + 1: n for i, (_, n) in enumerate(lines) if n is not None}
        source = "\n".join(text for text, _ in lines) + "\n"
        return GeneratedCode(source, fn_name, self.consts, line_nodes)


def emit_source(sched: Schedule, *, chunk: int = CHUNK, expr=None) -> GeneratedCode:
    """The source text of a schedule (split into parts above ``chunk`` ops).

    ``expr(op, args, params) -> expression`` writes each call instead of the NumPy one
    (the array-API back end's); it never falls back to calling an ``impl``."""
    graph = sched.graph
    nodes = graph.node_attrs
    em = _Emitter(graph)
    for cname, n in sched.consts:
        em.closure(cname, nodes[n]["value"], f"  # {_const_note(nodes[n])}", n)
    ret = _return_tuple(graph, sched.outputs, sched.buffers)
    params = ", ".join(sched.inputs)
    steps = sched.steps
    if len(steps) <= chunk or sched.prelude:  # a prelude's names live in one function
        em.emit(f"def {sched.name}({params}):")
        for line in sched.prelude:
            em.emit(line, indent=2)
        for st in steps:
            _emit_step(em, graph, st, expr)
        em.emit(f"return {ret}", indent=2)
        return em.finish(sched.name)

    # Parts share live values (and recyclable buffers) through the dict ``_v``.
    parts = [steps[i : i + chunk] for i in range(0, len(steps), chunk)]
    const_names = {c for c, _ in sched.consts}
    last_part: dict[str, int] = {}
    for k, part in enumerate(parts):
        for st in part:
            for v in (*st.args, st.out):
                if v is not None and v not in const_names:
                    last_part[v] = k
    for v in sched.outputs:
        if v not in const_names:
            last_part[v] = len(parts)
    for k, part in enumerate(parts):
        em.emit(f"def _part_{k}(_v):")
        bound: set[str] = set()
        for st in part:
            for v in dict.fromkeys((*st.args, st.out)):
                if v is not None and v not in bound and v not in const_names:
                    em.emit(f"{v} = _v.pop({v!r})", st.node, indent=2)
                    bound.add(v)
            _emit_step(em, graph, st, expr)
            bound.add(st.target)
            bound.difference_update(st.free)
        for v in sorted(v for v in bound if last_part.get(v, -1) > k):
            em.emit(f"_v[{v!r}] = {v}", indent=2)
        if not part:
            em.emit("pass", indent=2)
    em.emit(f"def {sched.name}({params}):")
    em.emit("_v = {" + ", ".join(f"{v!r}: {v}" for v in sched.inputs) + "}", indent=2)
    for k in range(len(parts)):
        em.emit(f"_part_{k}(_v)", indent=2)
    for v in dict.fromkeys(sched.outputs):
        if v not in const_names:
            em.emit(f"{v} = _v[{v!r}]", indent=2)
    em.emit(f"return {ret}", indent=2)
    return em.finish(sched.name)


def _emit_step(em: _Emitter, graph: Graph, st: Step, write=None) -> None:
    d = graph.node_attrs[st.node]
    op = d["op"]
    if write is not None:  # a back end's own calls: no fallback to the NumPy impl
        expr = write(op, st.args, d["params"])
    else:
        try:
            expr = _expr(op, st.args, d["params"])
        except (KeyError, CodegenError, TypeError, ValueError, IndexError):
            expr = None
    if expr is None:
        # impl and params as closure constants: nothing interpolated
        impl = f"_{op}_impl"
        if impl not in em.consts:
            em.closure(impl, PRIMITIVES[op].impl)
        kw = em.fresh(f"_p{st.node}")
        em.closure(kw, dict(d["params"]), "", st.node)
        expr = f"{impl}({', '.join(st.args)}, **{kw})"
    if st.out is not None:
        if graph.node_attrs[st.node]["op"] in POSITIONAL_OUT:
            expr = expr[:-1] + f", {st.out})"  # a ufunc's last positional argument is out=
        else:
            expr = expr[:-1] + f", out={st.out})"
    if st.wrap is not None:
        expr = f"{st.wrap}({expr})"
    em.emit(f"{st.target} = {expr}{em.comment(st.node)}", st.node, 2)
    if st.free:
        em.emit(f"del {', '.join(st.free)}", st.node, 2)


def _owns(graph: Graph, n: int) -> bool:
    """True when ``n``'s value is a fresh array no other live name can alias."""
    d = graph.node_attrs[n]
    if not d["shape"]:
        return False  # 0-d results are NumPy scalars: immutable, nothing to recycle
    if not PRIMITIVES[d["op"]].owns_result(d["params"]):
        return False
    nodes = graph.node_attrs
    return not any(PRIMITIVES[nodes[v]["op"]].view for v in graph.users(n))


def _const_note(d) -> str:
    return re.sub(r"\s+", " ", format_value(d["value"]))


def returns_copy(graph: Graph, n: int) -> bool:
    """Outputs that are views or constants leave as fresh, writable arrays."""
    d = graph.node_attrs[n]
    if not d["shape"]:
        return False
    return d["op"] == "const" or (d["op"] in PRIMITIVES and PRIMITIVES[d["op"]].view)


def _return_tuple(graph: Graph, names: list[str], copies: bool = True) -> str:
    items = []
    for o, v in zip(graph.graph["outputs"], names):
        items.append(f"np.array({v})" if copies and returns_copy(graph, o) else v)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
