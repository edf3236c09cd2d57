"""Issue 12's part of the results page: its targets, and compile times in fresh processes.

The targets for the numba back end are judged on the contestant ``NUMBA`` when a run
has one; until then their row shows the numbers it will be judged against.
"""

from __future__ import annotations

from benchmarks.common import LABELS, Cell, fmt_ratio, fmt_seconds
from benchmarks.compile_times import COMPILED

# tracegrad's numba back end, once it exists: a maker of this name in w1/w2/w3 (see
# compile_times' docstring) and an entry in COMPILED, LABELS and PEERS.
NUMBA = "tracegrad_numba"
W1_RATIO, W1_COLD, W1_CACHED = 0.07, 2.0, 0.3
W3_EVAL = 5e-6
W2_RATIO = 0.95
W4_SECONDS = 3.0
W5_RATIO = 1.0
ROWS = (("w1", "W1 chain-small"), ("w2", "W2 mlp float64"), ("w3", "W3 tanh 8th derivative"))


def _get(node, *path):
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _ratio(w, peer: str, base: str = "numpy") -> float | None:
    a, b = _get(w, "cells", peer), _get(w, "cells", base)
    return a.value / b.value if isinstance(a, Cell) and a.ok and b is not None and b.ok else None


def _beside(w, peers=("tracegrad", "pytensor_numba", "jax")) -> str:
    """The ratios a numba row is judged against, while there is no numba contestant."""
    parts = [f"{LABELS[p]} {fmt_ratio(r)}" for p in peers if (r := _ratio(w, p)) is not None]
    return "; ".join(parts) or "no peer measured"


def _compile_pairs(res, workload: str, peers=("pytensor_numba", "jax")) -> str:
    """The compile times (cold / cached) of those peers that were measured, as a clause."""
    cells = [(p, _get(res, workload, "compile", p)) for p in peers]
    pairs = [f"{LABELS[p]} {_pair(c)}" for p, c in cells if c is not None]
    return f"; compile cold / cached: {', '.join(pairs)}" if pairs else ""


def targets(res: dict) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) per target of issue 12 item 2 that this run can speak to."""
    out = []
    w1 = res.get("w1")
    if w1:
        name = (f"W1 with numba <= {W1_RATIO}x numpy-hand; compile <= {W1_COLD:.0f} s cold, "
                f"<= {W1_CACHED} s cached (fresh process)")  # fmt: skip
        r, comp = _ratio(w1, NUMBA), _get(w1, "compile", NUMBA)
        if r is None:
            meas = f"no tracegrad numba back end yet; {_beside(w1)}{_compile_pairs(res, 'w1')}"
            out.append((name, meas, "open"))
        else:
            cold = comp.value if comp is not None and comp.ok else None
            cached = comp.extra.get("cached") if comp is not None else None
            ok = (r <= W1_RATIO and cold is not None and cold <= W1_COLD and cached is not None
                  and cached <= W1_CACHED)  # fmt: skip
            out.append((name, f"{fmt_ratio(r)}; compile {_pair(comp)}", "met" if ok else "missed"))
    w3 = res.get("w3")
    if w3:
        name = f"W3 8th derivative evaluated with numba <= {W3_EVAL * 1e6:.0f} us"
        cell = _get(w3, "cells", NUMBA)
        if cell is None or not cell.ok:
            names = ("tracegrad", "pytensor_numba", "pytensor_c", "jax")
            cells = [(p, _get(w3, "cells", p)) for p in names]
            peers = [f"{LABELS[p]} {fmt_seconds(c.value)}" for p, c in cells if c and c.ok]
            out.append((name, "no tracegrad numba back end yet; " + "; ".join(peers), "open"))
        else:
            verdict = "met" if cell.value <= W3_EVAL else "missed"
            out.append((name, fmt_seconds(cell.value), verdict))
    w2 = _get(res, "w2", "float64")
    if w2:
        name = f"W2 float64 with numba <= {W2_RATIO}x numpy-hand"
        r = _ratio(w2, NUMBA)
        if r is None:
            out.append((name, f"no tracegrad numba back end yet; {_beside(w2)}", "open"))
        else:
            out.append((name, fmt_ratio(r), "met" if r <= W2_RATIO else "missed"))
    w4 = _get(res, "w4", "cells", "tracegrad")
    if w4:
        name = f"W4 with the NumPy back end <= {W4_SECONDS:.0f} s for 100,000 ops"
        big = w4.get(100_000)
        if big is None:
            out.append((name, "100,000 ops not run (--quick)", "not measured"))
        elif not big.ok:
            out.append((name, big.note, "missed"))
        else:
            out.append((name, fmt_seconds(big.value),
                        "met" if big.value <= W4_SECONDS else
                        f"missed by {big.value / W4_SECONDS - 1:.0%}"))  # fmt: skip
    w5 = res.get("w5")
    if w5:
        name = f"W5 peak memory <= {W5_RATIO}x numpy-hand (in place)"
        r = _ratio(w5, "tracegrad")
        peak = _get(w5, "tracegrad_peak", "text")
        where = f"tracegrad's schedule peaks at {peak}" if peak else "buffers not analysed"
        meas = f"{fmt_ratio(r)}; {where}" if r is not None else "not measured"
        verdict = "met" if r is not None and r <= W5_RATIO else (
            f"missed by {r / W5_RATIO - 1:.0%}" if r is not None else "not measured")  # fmt: skip
        out.append((name, meas, verdict))
    return out


# ----- compile times in fresh processes -----


def _pair(c: Cell | None) -> str:
    if c is None:
        return "—"
    if not c.ok:
        return f"{c.note} / not run"
    cached = c.extra.get("cached")
    return f"{fmt_seconds(c.value)} / " + (
        fmt_seconds(cached) if cached is not None else c.extra.get("cached_note", "?")
    )


def compile_rows(res: dict) -> tuple[tuple, list[tuple]] | None:
    """(header, rows) of the compile-time table: one row per contestant that compiles."""
    present = [(key, label) for key, label in ROWS if _get(res, key, "compile")]
    if not present:
        return None
    header = ("contestant", "disk cache (cached run)", "import",
              *(f"{label}: cold / cached" for _, label in present))  # fmt: skip
    rows = []
    for name, spec in COMPILED.items():
        cells = [_get(res, key, "compile", name) for key, _ in present]
        if all(c is None for c in cells):
            continue
        imports = [c.extra["import"] for c in cells if c is not None and "import" in c.extra]
        rows.append((LABELS[name], spec.cache, fmt_seconds(min(imports)) if imports else "—",
                     *(_pair(c) for c in cells)))  # fmt: skip
    return header, rows


METHOD = """\
- Compile time in a fresh process (`compile_times.py`): for each contestant that
  compiles and each of W1, W2 (float64) and W3 (n = 8), two child processes in a row,
  both with the contestant's disk cache pointed at the same new, empty folder. The
  first is *cold*: nothing on disk; the second is *cached*: it reuses what the first
  wrote (PyTensor: its `base_compiledir`, C modules and numba's cache; JAX: its
  persistent compilation cache, enabled with `JAX_COMPILATION_CACHE_DIR` and a minimum
  compile time of 0 s; tracegrad: no disk cache, so its second process compiles anew).
  The time runs from building the function (graph, `grad`, `jit` or
  `pytensor.function`) to the end of its first call; the library's import is timed
  apart. It is wall time, or with `--cpu-time` the CPU time of the child and of the
  processes it waited for (PyTensor's C mode runs g++), what the wall time would be on
  an idle core for a single-threaded compile. Each child checks its gradient against
  numpy-hand. A child past the time limit (wall seconds, or CPU seconds with
  `--cpu-time`, enforced with `RLIMIT_CPU`) is killed and shown as `> N s`; that
  contestant is then left out of the workload's timing.
- PyTensor is written as its users write it: a symbolic graph (the same loss function
  as the other namespaces, with `pytensor.tensor` as `xp`, inputs with static shapes),
  `pytensor.grad`, `pytensor.function`, and `trust_input = True` for the calls;
  Python's recursion limit is raised while it builds and rewrites (its grad recurses
  along W1's 300-step chain). Its default mode is what the installed release picks
  (numba in PyTensor 3); its C mode is `mode="CVM"` (FAST_RUN's rewrites, C thunks,
  the C virtual machine; `mode="FAST_RUN"` means numba in PyTensor 3). A pip install
  links no BLAS to the C mode: its matrix products call NumPy. The run keeps
  PyTensor's compiled code in a temporary folder of its own, seeded with what the
  compile-time children wrote, so the in-process contestants do not compile twice.
"""
