"""Shared machinery: peer loading, round-robin timing, gradient checks, tracegrad phase timing.

Every number in a table is a ``Cell``: a measurement, or the reason there is none
("unavailable: ...", "mismatch: ...", "timeout > 60 s", "error: ..."). A peer that
fails to import or computes a different gradient never stops the run.
"""

from __future__ import annotations

import functools
import gc
import importlib
import os
import resource
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# Column order of every table: the baseline first, then tracegrad, then the peers.
PEERS = ("tracegrad", "autograd", "dezero", "torch", "jax", "pytensor_numba", "pytensor_c")
LABELS = {
    "numpy": "numpy-hand",
    "numpy_plain": "numpy-plain",
    "tracegrad": "tracegrad",
    "autograd": "autograd",
    "dezero": "DeZero",
    "torch": "torch eager",
    "jax": "JAX jit",
    "pytensor_numba": "PyTensor numba",
    "pytensor_c": "PyTensor C",
}


# ----- results -----


@dataclass
class Cell:
    """One table entry: a value (seconds, bytes or a count) or why there is none."""

    value: float | None = None
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.value is not None

    def to_json(self) -> dict:
        return {"value": self.value, "note": self.note, **self.extra}


def failed(note: str) -> Cell:
    return Cell(None, note)


class Unavailable(Exception):
    """A peer could not be installed or imported."""


# ----- peers -----

_loaded: dict[str, object] = {}


def _dezero_numpy_aliases() -> None:
    # DeZero 0.0.13 (its last release) uses np.int in default arguments, an alias
    # removed in NumPy 1.24; it means the builtin int.
    if "int" not in np.__dict__:
        np.int = int  # type: ignore[attr-defined]


def load(peer: str):
    """Import a peer (cached); raise ``Unavailable`` with the reason if that fails."""
    if peer in _loaded:
        hit = _loaded[peer]
        if isinstance(hit, Unavailable):
            raise hit
        return hit
    try:
        # BENCH_UNAVAILABLE=torch,jax pretends those peers are missing (to check the
        # harness's handling of a failed install).
        if peer in os.environ.get("BENCH_UNAVAILABLE", "").split(","):
            raise ImportError(f"{peer} disabled by BENCH_UNAVAILABLE")
        if peer == "jax":
            os.environ.setdefault("JAX_PLATFORMS", "cpu")
            import jax

            jax.config.update("jax_enable_x64", True)
            mod = jax
        elif peer == "dezero":
            _dezero_numpy_aliases()
            mod = importlib.import_module("dezero")
            importlib.import_module("dezero.functions")
        elif peer == "autograd":
            mod = importlib.import_module("autograd")
            importlib.import_module("autograd.numpy")
        elif peer == "tracegrad":
            mod = importlib.import_module("compiler")
        elif peer == "pytensor":
            mod = importlib.import_module("pytensor")
            importlib.import_module("pytensor.tensor")
        else:
            mod = importlib.import_module(peer)
    except Exception as exc:  # any import failure makes the peer unavailable
        err = Unavailable(f"unavailable: {type(exc).__name__}: {exc}".splitlines()[0][:160])
        _loaded[peer] = err
        raise err from None
    _loaded[peer] = mod
    return mod


def version(dist: str) -> str:
    try:
        from importlib.metadata import version as _version

        return _version(dist)
    except Exception:
        return "not installed"


# ----- gradient checks -----


def compare(ref, got, *, rtol: float, atol_scale: float) -> tuple[bool, float]:
    """Whether ``got`` (a list of arrays) matches ``ref`` elementwise, and the worst relative error.

    ``atol`` is ``atol_scale`` times the largest magnitude in each reference array, so
    entries near zero do not count as mismatches because of rounding alone.
    """
    ref, got = list(ref), list(got)
    if len(ref) != len(got):
        return False, float("inf")
    ok, worst = True, 0.0
    for r, g in zip(ref, got):
        r = np.asarray(r, dtype=np.float64)
        g = np.asarray(g, dtype=np.float64)
        if r.shape != g.shape:
            return False, float("inf")
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        atol = atol_scale * scale
        ok = ok and bool(np.allclose(g, r, rtol=rtol, atol=atol))
        denom = np.maximum(np.abs(r), max(atol, 1e-300))
        worst = max(worst, float(np.max(np.abs(g - r) / denom)) if r.size else 0.0)
    return ok, worst


TOLERANCES = {
    np.dtype("float64"): {"rtol": 1e-7, "atol_scale": 1e-9},
    np.dtype("float32"): {"rtol": 2e-3, "atol_scale": 1e-4},
}


def check(ref, got, dtype) -> str:
    """Empty string if ``got`` matches ``ref``, else a short "mismatch" note."""
    ok, worst = compare(ref, got, **TOLERANCES[np.dtype(dtype)])
    return "" if ok else f"mismatch (max rel err {worst:.2g})"


# ----- timing -----

# Wall time by default. BENCH_CLOCK=cpu (``run.py --cpu-time``) counts this process's CPU
# time instead: with one thread per library, that is what the wall time would be on an
# idle core, whatever else the machine runs.
CPU_CLOCK = os.environ.get("BENCH_CLOCK") == "cpu"
clock = time.process_time if CPU_CLOCK else time.perf_counter


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_round_robin(
    fns: dict[str, Callable[[], object]],
    *,
    repeats: int,
    batch_seconds: float,
    faults: dict[str, float] | None = None,
) -> dict[str, float]:
    """Median seconds per call of each function, measured side by side.

    Each function is warmed up, then called in batches long enough to time reliably;
    the batches of all functions alternate (round robin), so a change in machine load
    hits every contestant alike. The garbage collector is paused within a batch, as
    ``timeit`` does. If ``faults`` is given, it receives the median number of minor
    page faults per call (fresh memory the kernel had to map: a cost of allocating
    big arrays anew that buffer reuse avoids).
    """
    numbers = {}
    for name, fn in fns.items():
        fn()
        start = clock()
        fn()
        dt = clock() - start
        numbers[name] = max(1, min(10_000, int(batch_seconds / max(dt, 1e-7))))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    fault_samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            gc.disable()
            try:
                f0 = _minor_faults()
                start = clock()
                for _ in range(numbers[name]):
                    fn()
                dt = clock() - start
                f1 = _minor_faults()
            finally:
                gc.enable()
            samples[name].append(dt / numbers[name])
            fault_samples[name].append((f1 - f0) / numbers[name])
    if faults is not None:
        faults.update({name: statistics.median(s) for name, s in fault_samples.items()})
    return {name: statistics.median(s) for name, s in samples.items()}


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` single calls (for one-off costs such as compiling)."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


# ----- tracegrad phases -----

PHASES = ("trace", "grad", "passes", "codegen", "run", "other")


class PhaseProfiler:
    """Wall time per tracegrad phase, measured by wrapping its entry points while active.

    Phases: ``trace`` (``tracer.tracing.trace_to_graph``), ``grad`` (building the
    gradient graph, ``GradFunction.transform``), ``passes`` (``optimize``), ``codegen``
    (``Executable(...)``: schedule, source, Python's compile), ``run`` (calling the
    compiled code) and ``other`` (the rest of the call: signature keys, pytrees, caches).
    Time is exclusive: a nested phase's time is not counted in its parent.
    """

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list] = []
        self._patched: list[tuple[object, str, object]] = []

    def _wrap(self, phase: str, fn):
        prof = self

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            now = clock()
            if prof._stack:
                parent = prof._stack[-1]
                prof.seconds[parent[0]] += now - parent[1]
            prof._stack.append([phase, now])
            try:
                return fn(*args, **kwargs)
            finally:
                end = clock()
                ph, start = prof._stack.pop()
                prof.seconds[ph] += end - start
                if prof._stack:
                    prof._stack[-1][1] = end

        return timed

    def _patch(self, owner, attr: str, phase: str) -> None:
        original = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr)
        if original is None:
            return
        self._patched.append((owner, attr, original))
        setattr(owner, attr, self._wrap(phase, original))

    def __enter__(self):
        # Modules by their full name: ``compiler.compile`` is also a function's name.
        tracing = importlib.import_module("tracer.tracing")
        api = importlib.import_module("compiler.transforms")
        comp = importlib.import_module("compiler.compile")
        executor = importlib.import_module("compiler.executor")
        self._patch(tracing, "trace_to_graph", "trace")
        self._patch(api.GradFunction, "transform", "grad")
        self._patch(comp, "optimize", "passes")
        self._patch(executor.Executable, "__init__", "codegen")
        self._patch(executor.Executable, "__call__", "run")
        return self

    def __exit__(self, *exc):
        for owner, attr, original in reversed(self._patched):
            setattr(owner, attr, original)
        self._patched.clear()
        return False

    def measure(self, fn: Callable[[], object]) -> dict[str, float]:
        """Run ``fn`` once with the phases timed; return seconds per phase and ``total``.

        ``fn`` should return the objects it built (the compiled function), so that
        freeing them happens outside the measurement.
        """
        self.seconds.clear()
        gc.collect()
        with self:
            start = clock()
            kept = fn()  # freed after the clock stops: tearing graphs down is not compiling
            total = clock() - start
        del kept
        out = {ph: self.seconds.get(ph, 0.0) for ph in PHASES if ph != "other"}
        out["other"] = max(0.0, total - sum(out.values()))
        out["total"] = total
        out["compile"] = total - out["run"]
        return out


def median_phases(make_and_call: Callable[[], object], repeats: int) -> dict[str, float]:
    """Per-phase medians over ``repeats`` fresh compilations (``make_and_call`` builds anew)."""
    runs = [PhaseProfiler().measure(make_and_call) for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


# ----- formatting -----


def fmt_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}x" if r < 10 else f"{r:.1f}x" if r < 100 else f"{r:.0f}x"


# ----- contestants -----


@dataclass
class Config:
    """How hard to measure: ``quick`` is a smoke run."""

    quick: bool = False
    repeats: int = 7
    batch_seconds: float = 0.2
    compile_repeats: int = 3
    w4_sizes: tuple[int, ...] = (1_000, 10_000, 100_000)
    w4_timeout: float = 60.0
    w5_batch: int = 1024
    compile_timeout: float = 300.0  # per fresh-process compile (``compile_times``)
    compile_table: bool = True  # measure cold and cached compiles in fresh processes

    @classmethod
    def make(cls, quick: bool, compile_table: bool = True) -> Config:
        if not quick:
            return cls(compile_table=compile_table)
        return cls(quick=True, repeats=3, batch_seconds=0.05, compile_repeats=1,
                   w4_sizes=(1_000, 10_000), w4_timeout=30.0, w5_batch=256,
                   compile_timeout=120.0, compile_table=compile_table)  # fmt: skip


def prepare(makers: dict[str, Callable], ref, dtype) -> tuple[dict, dict[str, Cell]]:
    """Build every contestant, check its gradient against ``ref``; keep those that match.

    Each maker returns ``(fn, compile_seconds)``: ``fn()`` computes the gradients (a
    list of arrays) and ``compile_seconds`` is its one-off cost (None for eager peers).
    Returns the runnable functions and a ``Cell`` per contestant (compile time in
    ``extra``; a note for those unavailable, failing or mismatching).
    """
    fns, cells = {}, {}
    for name, make in makers.items():
        try:
            fn, compile_s = make()
            note = check(ref, fn(), dtype)
        except Unavailable as exc:
            cells[name] = failed(str(exc))
            continue
        except Exception as exc:  # a broken peer is reported, never fatal
            cells[name] = failed(f"error: {type(exc).__name__}: {exc}".splitlines()[0][:200])
            continue
        cells[name] = Cell(None, note, {"compile": compile_s})
        if not note:
            fns[name] = fn
    return fns, cells


def measure_contestants(makers: dict[str, Callable], ref, dtype, cfg: Config) -> dict[str, Cell]:
    """``prepare`` then time the matching contestants side by side (seconds per call)."""
    start = time.perf_counter()
    fns, cells = prepare(makers, ref, dtype)
    # progress: a workload runs many of these, each for seconds
    print(f"   timing {', '.join(fns) or 'nothing'}", end="", flush=True)
    faults: dict[str, float] = {}
    times = time_round_robin(fns, repeats=cfg.repeats, batch_seconds=cfg.batch_seconds,
                             faults=faults)  # fmt: skip
    for name, t in times.items():
        cells[name].value = t
        cells[name].extra["faults"] = faults[name]
    print(f" ({time.perf_counter() - start:.1f} s)", flush=True)
    return cells


def timed_first_call(fn: Callable[[], object]) -> float:
    start = clock()
    fn()
    return clock() - start
