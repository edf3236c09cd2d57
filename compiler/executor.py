"""The executor: turn a graph's schedule into a running function, once, then call it on arrays.

``Executable(graph)`` holds the compiled function and its ``.source``; calling
it with the flat input arrays returns the flat outputs. A failure inside is
re-raised as an ``EvaluationError`` naming the node, its line in the generated
source and the user's line that created it.

Graphs up to ``COMPILE_LIMIT`` ops run as compiled straight-line source.
Bigger ones (a 100,000-op chain and its gradient) would spend seconds in
CPython's compiler (about 12 us per statement), so they run the *same*
schedule -- same order, same ``out=`` buffers, same frees -- on a small slot
machine that is built in linear time; their ``.source`` is still rendered, on
request.
"""

from __future__ import annotations

import builtins
import functools
import itertools
import linecache
from operator import itemgetter

import numpy as np

from compiler.codegen import (
    POSITIONAL_OUT,
    UFUNCS,
    GeneratedCode,
    Schedule,
    emit_source,
    returns_copy,
    schedule,
)
from tracer.errors import EvaluationError
from tracer.graph import Graph, format_node
from tracer.interpreter import check_inputs
from tracer.primitives import PRIMITIVES
from tracer.staging import gc_paused

COMPILE_LIMIT = 10_000

_counter = itertools.count()


class Executable:
    """A graph compiled to a Python function (see ``compiler.codegen``).

    Args:
        graph: the graph to run (usually optimised).
        name: the generated function's name (default: the graph's).
        mode: ``"source"`` (compile the generated source), ``"slots"`` (run the
            schedule on the slot machine) or ``"auto"`` (source up to ``COMPILE_LIMIT`` ops).

    Attributes:
        graph: the graph it runs.
        schedule: names, order, frees and buffer reuse (``codegen.Schedule``).
        mode: how it runs.
        fn: ``fn(*input_arrays) -> tuple of outputs``.
    """

    def __init__(self, graph: Graph, name: str | None = None, *, mode: str = "auto"):
        if mode not in ("auto", "source", "slots"):
            raise ValueError(f"mode must be 'auto', 'source' or 'slots', got {mode!r}")
        with gc_paused():
            self._build(graph, name, mode)

    def _build(self, graph: Graph, name: str | None, mode: str) -> None:
        self.graph = graph
        self.schedule: Schedule = schedule(graph, name)
        if mode == "auto":
            mode = "source" if len(self.schedule.steps) <= COMPILE_LIMIT else "slots"
        self.mode = mode
        self._code: GeneratedCode | None = None
        self.filename = f"<tracegrad:{self.schedule.name}:{next(_counter)}>"
        if mode == "source":
            code = self.code
            # Tracebacks and debuggers show the generated lines.
            lines = code.source.splitlines(keepends=True)
            linecache.cache[self.filename] = (len(code.source), None, lines, self.filename)
            namespace = {"np": np, "__builtins__": builtins}
            exec(builtins.compile(code.source, self.filename, "exec"), namespace)
            self.fn = namespace["_make"](code.consts)
        else:
            self.fn = _SlotMachine(self.schedule)

    @property
    def code(self) -> GeneratedCode:
        """The generated source (rendered on first use when running on slots)."""
        if self._code is None:
            self._code = emit_source(self.schedule)
        return self._code

    @property
    def source(self) -> str:
        return self.code.source

    def __call__(self, flat_inputs) -> list:
        """Run on the flat input arrays (in ``graph.inputs`` order); return the flat outputs."""
        arrays = check_inputs(self.graph, list(flat_inputs))
        try:
            with np.errstate(all="ignore"):
                outs = self.fn(*arrays)
        except Exception as exc:
            raise self._error(exc) from exc
        return [o[()] if isinstance(o, np.ndarray) and o.ndim == 0 else o for o in outs]

    def _failed_node(self, exc: Exception) -> int | None:
        if self.mode == "slots":
            return getattr(exc, "_tracegrad_node", None)
        tb, line = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == self.filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        return self.code.line_nodes.get(line) if line is not None else None

    def _error(self, exc: Exception) -> Exception:
        node = self._failed_node(exc)
        if node is None or node not in self.graph:
            return EvaluationError(
                f"while executing {self.schedule.name}: {type(exc).__name__}: {exc}"
            )
        d = self.graph.nodes[node]
        where = ""
        lines = [i for i, n in self.code.line_nodes.items() if n == node]
        if lines:
            text = self.source.splitlines()[lines[-1] - 1].strip()
            where = f"; generated line {lines[-1]}: {text}"
        return EvaluationError(
            f"while executing node {format_node(self.graph, node)} "
            f"(from {d.get('source') or 'unknown source'}{where}): {type(exc).__name__}: {exc}"
        )

    def __repr__(self) -> str:
        return f"<Executable {self.schedule.name}: {len(self.schedule.steps)} ops, {self.mode}>"


class _SlotMachine:
    """Runs a schedule: values live in a list of slots, one per generated variable name."""

    def __init__(self, sched: Schedule):
        graph = sched.graph
        nodes = graph.node_attrs
        slot: dict[str, int] = {}
        for v in sched.inputs:
            slot[v] = len(slot)
        self.n_inputs = len(sched.inputs)
        template: list = [None] * self.n_inputs
        for cname, n in sched.consts:
            slot[cname] = len(slot)
            template.append(nodes[n]["value"])
        prog = []
        for st in sched.steps:
            for v in (st.target, st.out):
                if v is not None and v not in slot:
                    slot[v] = len(slot)
                    template.append(None)
            d = nodes[st.node]
            op = d["op"]
            if op in UFUNCS:
                fn = getattr(np, UFUNCS[op])
            else:
                fn = functools.partial(PRIMITIVES[op].impl, **d["params"])
            idx = [slot[v] for v in st.args]
            get = itemgetter(*idx) if idx else (lambda env: ())
            many = len(idx) != 1
            out = -1 if st.out is None else slot[st.out]
            free = tuple(slot[v] for v in st.free)
            positional = op in POSITIONAL_OUT
            prog.append((fn, get, many, positional, slot[st.target], out, free, st.node))
        self.template = template
        self.prog = prog
        outs = graph.graph["outputs"]
        self.outputs = [(slot[v], returns_copy(graph, o)) for v, o in zip(sched.outputs, outs)]

    def __call__(self, *arrays):
        env = list(self.template)
        env[: self.n_inputs] = arrays
        step = None
        try:
            for step in self.prog:
                fn, get, many, positional, target, out, free, _ = step
                args = get(env)
                if many:
                    if out < 0:
                        env[target] = fn(*args)
                    elif positional:
                        env[target] = fn(*args, env[out])
                    else:
                        env[target] = fn(*args, out=env[out])
                else:
                    env[target] = fn(args) if out < 0 else fn(args, env[out])  # unary ufunc
                for i in free:
                    env[i] = None
        except Exception as exc:
            if step is not None:
                exc._tracegrad_node = step[-1]
            raise
        return tuple(np.array(env[i]) if copy else env[i] for i, copy in self.outputs)
