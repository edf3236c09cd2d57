"""The Dask back end: the optimised graph runs as a lazy Dask graph, on a cluster or a laptop.

The generated code is the NumPy back end's, scheduled without buffer reuse (no ``out=``,
no in-place writes, no copies of returned views): its ``np.*`` calls dispatch to
``dask.array`` through ``__array_ufunc__``/``__array_function__`` whenever an operand
is a Dask array, so ``np.sum`` over a chunked axis is Dask's tree reduction and
``np.matmul`` its blocked product. Parameters stay NumPy arrays; small values derived
only from them are computed here, as NumPy values.

Two guards keep the data where it is:

- a NumPy value that grows as large as the data (a constant, or the broadcast of a
  scalar cotangent over the rows) becomes a Dask array chunked like the Dask inputs
  (``_lazy`` in the source: ``da.full`` when uniform), so it is made piece by piece on
  the workers and never shipped whole;
- while the generated function builds the Dask graph, computing any Dask array is an
  error (an op whose implementation would call ``np.asarray`` on one): nothing is
  pulled into this process.

Results are Dask arrays (``dask.compute(*results)`` evaluates several in one pass over
the data); ``DaskBackend(compute=True)`` computes them before returning::

    grad(loss, backend="dask")(w, X, y)                 # lazy: a dask.array.Array
    grad(loss, backend=DaskBackend(compute=True))(w, X, y)   # a NumPy array

Whatever scheduler is active runs them: a ``dask.distributed.Client`` if one is, else
Dask's threads.
"""

from __future__ import annotations

import builtins
import functools
import linecache

import dask
import dask.array as da
import numpy as np

from compiler.backends import Backend
from compiler.codegen import CHUNK, emit_source, schedule
from compiler.executor import Executable
from tracer.errors import EvaluationError, TracegradError
from tracer.interpreter import check_input, with_captures
from tracer.primitives import PRIMITIVES
from tracer.spec import format_aval
from tracer.staging import gc_paused

#: NumPy values at least this large (bytes) that share a length with a chunked axis of
#: a Dask input become Dask arrays chunked like it.
LAZY_BYTES = 1 << 20


class DaskBackend(Backend):
    """Runs graphs as lazy Dask graphs (``backend="dask"``).

    Args:
        compute: return computed NumPy values (all outputs in one ``dask.compute``)
            instead of Dask arrays.
        lazy_bytes: NumPy values at least this large that share a length with a chunked
            axis of a Dask input are made Dask arrays chunked like it.

    Example:
        >>> import dask.array as da
        >>> from compiler import grad
        >>> X = da.ones((1000, 3), chunks=(250, 3))
        >>> g = grad(lambda w, X: np.sum((X @ w) ** 2))(np.ones(3), X)  # chosen for X
        >>> type(g).__name__, g.compute().tolist()
        ('Array', [6000.0, 6000.0, 6000.0])
    """

    name = "dask"

    def __init__(self, *, compute: bool = False, lazy_bytes: int = LAZY_BYTES):
        self.compute = bool(compute)
        self.lazy_bytes = int(lazy_bytes)

    def compile(self, graph, name: str) -> DaskProgram:
        return DaskProgram(graph, name, compute=self.compute, lazy_bytes=self.lazy_bytes)

    def __repr__(self) -> str:
        return f"<backend dask{' (compute=True)' if self.compute else ''}>"


def _no_compute(*args, **kwargs):
    raise EvaluationError(
        "an op of the generated Dask code tried to compute a Dask array into this process "
        "while the graph was being built; this op has no Dask form (its implementation "
        "converts its operand to NumPy)"
    )


class LazyValues:
    """``_lazy`` in generated Dask code: a large NumPy value becomes a Dask array chunked
    like the Dask inputs; anything else passes through.

    Args:
        *inputs: the function's inputs (the Dask ones give the chunking per axis length).
        threshold: the size in bytes from which a NumPy value is made lazy.
    """

    def __init__(self, *inputs, threshold: int = LAZY_BYTES):
        self.threshold = threshold
        self.chunks: dict[int, tuple] = {}
        for x in inputs:
            if isinstance(x, da.Array):
                for n, c in zip(x.shape, x.chunks):
                    if len(c) > 1:
                        self.chunks.setdefault(n, c)

    def __call__(self, v):
        if not isinstance(v, np.ndarray) or v.nbytes < self.threshold:
            return v
        if not any(n in self.chunks for n in v.shape):
            return v  # parameter-sized: stays NumPy
        chunks = tuple(self.chunks.get(n, n) for n in v.shape)
        first = v.flat[0] if v.size else None
        if v.size and (not any(v.strides) or bool((v == first).all())):
            return da.full(v.shape, first, dtype=v.dtype, chunks=chunks)  # made per chunk
        return da.from_array(v, chunks=chunks)


class DaskProgram(Executable):
    """A graph compiled to NumPy-dispatching source that builds a Dask graph when called.

    Attributes: as ``Executable``'s, plus ``compute`` (results computed on return).
    """

    def __init__(self, graph, name: str | None = None, *, compute: bool = False,
                 lazy_bytes: int = LAZY_BYTES):  # fmt: skip
        self.compute = compute
        self.lazy_bytes = lazy_bytes
        super().__init__(graph, name, mode="source")

    def _build(self, graph, name, mode) -> None:
        self.graph = graph
        self.mode = "source"
        sched = schedule(graph, name, buffers=False)
        nodes = graph.node_attrs
        # Array constants, values made without operands and views larger than their operand
        # (a broadcast of a scalar over the rows) may be as large as the data: they pass
        # through _lazy.
        consts, lazy = [], []
        for cname, n in sched.consts:
            if np.ndim(nodes[n]["value"]) >= 1:
                consts.append(("_" + cname, n))
                lazy.append(f"{cname} = _lazy(_{cname})")
            else:
                consts.append((cname, n))
        sched.consts = consts
        for st in sched.steps:
            d = nodes[st.node]
            operands = graph.operands(st.node)
            grows = PRIMITIVES[d["op"]].view and _size(d) > max(_size(nodes[u]) for u in operands)
            if grows or not operands:
                st.wrap = "_lazy"
        mode_note = "computed on return" if self.compute else "lazy Dask arrays"
        sched.prelude = [
            f"# backend: dask -- np.* calls on Dask arrays build a Dask graph ({mode_note})",
            f"_lazy = _LazyValues({', '.join(sched.inputs)})",
            *lazy,
        ]
        self.schedule = sched
        self._code = emit_source(sched, chunk=max(CHUNK, len(sched.steps)))
        self.filename = f"<tracegrad-dask:{sched.name}:{id(self)}>"
        code = self._code
        lines = code.source.splitlines(keepends=True)
        linecache.cache[self.filename] = (len(code.source), None, lines, self.filename)
        lazy_values = functools.partial(LazyValues, threshold=self.lazy_bytes)
        namespace = {"np": np, "_LazyValues": lazy_values, "__builtins__": builtins}
        exec(builtins.compile(code.source, self.filename, "exec"), namespace)
        self.fn = namespace["_make"](code.consts)

    def __call__(self, flat_inputs) -> list:
        """Build the Dask graph of the outputs from the flat inputs (Dask or NumPy arrays);
        return Dask arrays, or computed values when ``compute``."""
        ins = self.graph.graph["inputs"]
        nodes = self.graph.node_attrs
        flat = with_captures(self.graph, list(flat_inputs))
        arrays = [_input(nodes[n], leaf, f"%{n}") for n, leaf in zip(ins, flat)]
        try:
            with gc_paused(), dask.config.set(scheduler=_no_compute), np.errstate(all="ignore"):
                outs = self.fn(*arrays)
        except Exception as exc:
            raise self._error(exc) from exc
        outs = [o if isinstance(o, da.Array) else da.asarray(o) for o in outs]
        if not self.compute:
            return outs
        values = dask.compute(*outs)  # one pass over the data for all outputs
        return [v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v for v in values]

    def __repr__(self) -> str:
        return f"<DaskProgram {self.schedule.name}: {len(self.schedule.steps)} ops>"


def _size(d: dict) -> int:
    return int(np.prod(d["shape"], dtype=np.int64))


def _input(d: dict, leaf, fallback: str):
    """A Dask input checked against its node (shape; a same-kind cast of the dtype, lazily);
    anything else as the NumPy back end takes it."""
    if not isinstance(leaf, da.Array):
        return check_input(d, leaf, fallback)
    label = d.get("name") or fallback
    want = np.dtype(d["dtype"])
    if tuple(leaf.shape) != tuple(d["shape"]):
        raise TracegradError(
            f"input {label}: expected shape {tuple(d['shape'])}, got {tuple(leaf.shape)}"
        )
    if leaf.dtype != want:
        if not np.can_cast(leaf.dtype, want, "same_kind"):
            raise TracegradError(
                f"input {label}: expected {format_aval(d['shape'], want)}, got "
                f"{format_aval(leaf.shape, leaf.dtype)} (a Dask array)"
            )
        leaf = leaf.astype(want)
    return leaf
