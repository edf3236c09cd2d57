"""The array-API back end: generated code calls the arrays' own namespace, so it runs where
they live (CuPy arrays on a GPU, or any library implementing the array API standard).

The generated function gets ``xp = <first input>.__array_namespace__()`` and calls only
the standard's functions (2023.12 names: ``xp.atan``, ``xp.pow``, ``xp.permute_dims``,
``xp.sum(x, axis=..., keepdims=...)``, ``xp.astype(x, xp.float32)``), as each primitive
declares them in its ``array_api`` slot (``tracer.primitives.base.Primitive``). The
schedule is the Dask back end's: no ``out=`` buffers, no in-place writes.

Nothing moves to the host: a graph using a primitive without an ``array_api`` lowering is
refused when compiled, naming the primitive (never a silent NumPy fallback, which would
copy GPU data into this process). Arguments that are NumPy arrays or Python numbers (the
parameters, next to a CuPy design matrix) and the graph's constants are converted once per
call with ``xp.asarray(..., device=<the first array-API argument's device>)``; results are
arrays of that namespace (0-d arrays for scalars).

Chosen automatically when an argument has ``__array_namespace__`` and is neither a NumPy
nor a Dask array (``cupy.ndarray``, ``array_api_strict`` arrays), or with
``backend="array_api"``::

    grad(loss)(w, X_gpu, y_gpu)        # w a NumPy array, X_gpu and y_gpu CuPy arrays
"""

from __future__ import annotations

import builtins
import linecache

import numpy as np

from compiler.backends import Backend, is_array_api
from compiler.codegen import CHUNK, LITERALS, emit_source, schedule
from compiler.executor import Executable
from tracer.errors import TracegradError, UnsupportedError
from tracer.graph import format_node
from tracer.interpreter import check_input, with_captures
from tracer.primitives import PRIMITIVES
from tracer.spec import duck_dtype, duck_name, format_aval


class ArrayAPIBackend(Backend):
    """Runs graphs through the arrays' array-API namespace (``backend="array_api"``)."""

    name = "array_api"

    def compile(self, graph, name: str) -> ArrayAPIProgram:
        return ArrayAPIProgram(graph, name)


def covered() -> list[str]:
    """The primitives this back end can run (those declaring an ``array_api`` lowering)."""
    return sorted(name for name, p in PRIMITIVES.items() if p.array_api is not None)


def write_call(op: str, args: list[str], params: dict) -> str:
    """The call computing ``op`` through ``xp``, from the primitive's ``array_api`` slot."""
    lower = PRIMITIVES[op].array_api
    if lower is None:
        raise UnsupportedError(f"primitive {op!r} declares no array-API lowering")
    if isinstance(lower, str):
        return f"xp.{lower}({', '.join(args)})"
    return lower(args, params, LITERALS)


def check_graph(graph) -> None:
    """Refuse a graph with an op the array-API namespace cannot compute, naming it."""
    for n, d in graph.node_attrs.items():
        op = d["op"]
        if op in ("input", "const"):
            continue
        try:
            write_call(op, ["x"] * len(graph.operands(n)), d["params"])
        except (TracegradError, KeyError, TypeError, ValueError) as exc:
            raise UnsupportedError(
                f"backend 'array_api' cannot run primitive {op!r} (node "
                f"{format_node(graph, n)}, from {d.get('source') or 'unknown source'}): {exc}. "
                "It never falls back to NumPy, which would copy the arrays into this process; "
                "convert the arguments to NumPy arrays (backend='numpy') or avoid this op"
            ) from None


class ArrayAPIProgram(Executable):
    """A graph compiled to source calling ``xp = x.__array_namespace__()``."""

    def __init__(self, graph, name: str | None = None):
        check_graph(graph)
        super().__init__(graph, name, mode="source")

    def _build(self, graph, name, mode) -> None:
        self.graph = graph
        self.mode = "source"
        sched = schedule(graph, name, buffers=False)
        nodes = graph.node_attrs
        if not sched.inputs:
            raise TracegradError(
                f"backend 'array_api' needs an array argument: {sched.name} has none"
            )
        first = sched.inputs[0]  # every input is an array of xp by then (see __call__)
        prelude = [
            "# backend: array_api -- xp: the arguments' array-API namespace (on their device)",
            f"xp = {first}.__array_namespace__()",
            f"_device = {first}.device",
        ]
        consts = []
        for cname, n in sched.consts:
            consts.append(("_" + cname, n))
            dtype = LITERALS.xp_dtype(np.dtype(nodes[n]["dtype"]).name)
            prelude.append(f"{cname} = xp.asarray(_{cname}, dtype={dtype}, device=_device)")
        sched.consts = consts
        sched.prelude = prelude
        self.schedule = sched
        self._code = emit_source(sched, chunk=max(CHUNK, len(sched.steps)), expr=write_call)
        self.filename = f"<tracegrad-array-api:{sched.name}:{id(self)}>"
        code = self._code
        lines = code.source.splitlines(keepends=True)
        linecache.cache[self.filename] = (len(code.source), None, lines, self.filename)
        namespace = {"__builtins__": builtins}
        exec(builtins.compile(code.source, self.filename, "exec"), namespace)
        self.fn = namespace["_make"](code.consts)

    def __call__(self, flat_inputs) -> list:
        """Run on the flat inputs (array-API arrays, NumPy arrays, numbers); return arrays of
        the first array-API argument's namespace, on its device."""
        ins = self.graph.graph["inputs"]
        nodes = self.graph.node_attrs
        flat = with_captures(self.graph, list(flat_inputs))
        ref = next((leaf for leaf in flat if is_array_api(leaf)), None)
        if ref is None:
            raise TracegradError(
                "backend 'array_api' needs an argument with __array_namespace__ (a CuPy or "
                "other array-API array) to know where to run; got only NumPy values"
            )
        xp = ref.__array_namespace__()
        device = ref.device
        arrays = [_input(nodes[n], leaf, f"%{n}", xp, device) for n, leaf in zip(ins, flat)]
        try:
            with np.errstate(all="ignore"):  # as the NumPy back end (for NumPy-backed xp)
                outs = self.fn(*arrays)
        except Exception as exc:
            raise self._error(exc) from exc
        return [o if is_array_api(o) else xp.asarray(o, device=device) for o in outs]

    def __repr__(self) -> str:
        return f"<ArrayAPIProgram {self.schedule.name}: {len(self.schedule.steps)} ops>"


def _input(d: dict, leaf, fallback: str, xp, device):
    """One input as an array of ``xp`` on ``device``, checked against its node: an
    array-API array by shape and dtype (a same-kind cast), anything else as the NumPy back
    end takes it, then copied to the device."""
    want = np.dtype(d["dtype"])
    if not is_array_api(leaf):
        return xp.asarray(check_input(d, leaf, fallback), device=device)
    label = d.get("name") or fallback
    have = duck_dtype(leaf.dtype)
    if tuple(leaf.shape) != tuple(d["shape"]):
        raise TracegradError(
            f"input {label}: expected shape {tuple(d['shape'])}, got {tuple(leaf.shape)}"
        )
    if have != want:
        if not np.can_cast(have, want, "same_kind"):
            raise TracegradError(
                f"input {label}: expected {format_aval(d['shape'], want)}, got "
                f"{format_aval(leaf.shape, have)} (a {duck_name(leaf)})"
            )
        leaf = xp.astype(leaf, getattr(xp, want.name))
    return leaf
