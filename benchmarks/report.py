"""Render the results as markdown: targets, tables and the machine they were measured on."""

from __future__ import annotations

from pathlib import Path

from benchmarks import report_issue12
from benchmarks.common import LABELS, PEERS, Cell, fmt_ratio, fmt_seconds

MIB = 2**20
# Their buffers are not allocated through NumPy, so tracemalloc does not see them
# (PyTensor's numba kernels allocate through NumPy: it does see theirs).
UNTRACKED = ("torch", "jax")

# Issue 5, item 4.
W1_RATIO, W1_COMPILE = 1.0, 0.5
W2_RATIO, W5_RATIO = 0.85, 0.7
W3_NODES, W3_COMPILE = 200, 1.0
W4_SECONDS, W4_GROWTH = 5.0, 13.0  # 10x more ops may cost at most 13x the time


MALLOC_TEXT = {
    "heap": "glibc keeps freed memory (W2 also run with fresh pages, the worst case)",
    "fresh": "glibc maps every array of 64 KiB or more fresh",
    "default": "glibc's adaptive default",
}


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header, rows) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _ratio_cell(cell: Cell | None, base: Cell | None) -> str:
    if cell is None:
        return "—"
    if not cell.ok:
        return cell.note
    if base is None or not base.ok:
        return fmt_seconds(cell.value)
    return f"{fmt_ratio(cell.value / base.value)} ({fmt_seconds(cell.value)})"


def _measured(*cell_maps) -> tuple[str, ...]:
    """The peers with a cell in any of these maps: results from before a peer joined the
    harness get no column for it."""
    return tuple(p for p in PEERS if any(m and p in m for m in cell_maps))


def _phase_text(phases: dict | None) -> str:
    if not phases:
        return "—"
    keys = [k for k in ("trace", "grad", "passes", "codegen", "other", "jaxpr", "lower", "xla",
                        "graph", "function", "run")
            if k in phases]  # fmt: skip
    return ", ".join(f"{k} {fmt_seconds(phases[k])}" for k in keys)


def slowest_compile_phase(phases: dict) -> str:
    names = ("trace", "grad", "passes", "codegen", "other")
    name = max(names, key=lambda k: phases.get(k, 0.0))
    return f"{name} ({fmt_seconds(phases[name])} of {fmt_seconds(phases['compile'])})"


# ----- sections -----


def environment(env: dict) -> list[str]:
    rows = [
        ("date", env["date"]),
        ("machine", f"{env['cpu']}, {env['cores']} cores, {env['memory']}, {env['os']}"),
        ("load average (1/5/15 min) at start / end",
         f"{env['load_start']} / {env.get('load_end', '?')}"),
        ("threads per library; clock; malloc",
         f"{env.get('threads', 'default')}; {env.get('clock', 'wall time')}; "
         f"{MALLOC_TEXT.get(env.get('malloc', 'default'), env.get('malloc'))}"),
        ("python", env["python"]),
        ("tracegrad", env["tracegrad"]),
        ("numpy", f"{env['numpy']}; {env['blas']}; {env['openblas_env']}"),
        ("torch", env["torch"]),
        ("jax", env["jax"]),
        ("autograd", env["autograd"]),
        ("DeZero", env["dezero"]),
        *((("PyTensor", env["pytensor"]),) if "pytensor" in env else ()),
    ]  # fmt: skip
    return _table(("", "measured on"), rows)


def gradient_times(res: dict) -> list[str]:
    maps = [w["cells"] for w in (res.get("w1"), *(w for _, w in _w2_runs(res))) if w]
    cols = ("numpy", "numpy_plain", *_measured(*maps))
    header = ("workload", *(LABELS[c] for c in cols), "BLAS floor")
    rows = []
    w1 = res.get("w1")
    if w1:
        base = w1["cells"].get("numpy")
        rows.append(("W1 chain-small", *(_ratio_cell(w1["cells"].get(c), base) for c in cols),
                     "—"))  # fmt: skip
    for name, w2 in _w2_runs(res):
        base = w2["cells"].get("numpy")
        rows.append((name, *(_ratio_cell(w2["cells"].get(c), base) for c in cols),
                     fmt_ratio(w2["blas_floor_ratio"])))  # fmt: skip
    return _table(header, rows)


def _w2_runs(res: dict) -> list[tuple[str, dict]]:
    """W2's measurements: each dtype, with reused heap memory and (if run) fresh pages."""
    out = []
    for key, suffix in (("w2", ""), ("w2_fresh", ", fresh pages")):
        for dt in ("float64", "float32"):
            w = _cell(res, key, dt)
            if w:
                out.append((f"W2 mlp {dt}{suffix}", w))
    return out


def page_faults(res: dict) -> list[str]:
    """Minor page faults per call: memory freshly mapped (and zeroed) by the kernel."""
    maps = [w["cells"] for w in (res.get("w1"), *(w for _, w in _w2_runs(res))) if w]
    cols = ("numpy", "numpy_plain", *_measured(*maps))
    rows = []
    items = [("W1 chain-small", res.get("w1")), *_w2_runs(res)]
    for name, w in items:
        if not w:
            continue
        vals = []
        for c in cols:
            cell = w["cells"].get(c)
            f = cell.extra.get("faults") if cell is not None and cell.ok else None
            vals.append("—" if f is None else f"{f:,.0f}")
        rows.append((name, *vals))
    if not rows:
        return []
    head = ["Minor page faults per call (fresh memory the kernel maps and zeroes; buffers "
            "kept across calls avoid them):", ""]  # fmt: skip
    return head + _table(("workload", *(LABELS[c] for c in cols)), rows)


def compile_times(res: dict) -> list[str]:
    header = ("workload", "tracegrad compile", "trace", "grad graph", "passes", "codegen",
              "other", "first run", "JAX jit first call")  # fmt: skip
    rows = []
    items = [("W1 chain-small", res.get("w1"))]
    for dt in ("float64", "float32"):
        items.append((f"W2 mlp {dt}", res.get("w2", {}).get(dt)))
    items.append(("W3 tanh 8th derivative", res.get("w3")))
    for name, w in items:
        if not w:
            continue
        ph = w.get("phases")
        jax = w["cells"].get("jax")
        jax_text = fmt_seconds(jax.extra["compile"]) if jax and jax.extra.get("compile") else (
            jax.note if jax else "—")  # fmt: skip
        if not ph:
            rows.append((name, w.get("phases_error", "—"), "", "", "", "", "", "", jax_text))
            continue
        rows.append((name, fmt_seconds(ph["compile"]),
                     *(fmt_seconds(ph[k]) for k in ("trace", "grad", "passes", "codegen", "other",
                                                    "run")),
                     jax_text))  # fmt: skip
    return _table(header, rows)


def tanh_sizes(w3: dict) -> list[str]:
    sizes = w3["sizes"]
    header = ("n", "tracegrad nodes (ops)", "DeZero functions", "torch autograd nodes",
              "JAX jaxpr equations (HLO after XLA)")  # fmt: skip
    if "pytensor" in sizes:
        header += ("PyTensor apply nodes (after rewrites: nodes, fused scalar ops)",)
    rows = []

    def fmt(peer, n, extra_key=None):
        c = sizes.get(peer, {}).get(n)
        if c is None:
            return "—"
        if not c.ok:
            return c.note
        more = f" ({c.extra[extra_key]:,})" if extra_key and extra_key in c.extra else ""
        return f"{int(c.value):,}{more}"

    def fmt_pytensor(n):
        c = sizes.get("pytensor", {}).get(n)
        if c is None or not c.ok:
            return fmt("pytensor", n)
        return f"{int(c.value):,} ({c.extra['after']:,}, {c.extra['scalar_ops']:,})"

    for n in sorted(next(iter(sizes.values())).keys()):
        row = (n, fmt("tracegrad", n, "ops"), fmt("dezero", n), fmt("torch", n),
               fmt("jax", n, "hlo"))  # fmt: skip
        rows.append(row + ((fmt_pytensor(n),) if "pytensor" in sizes else ()))
    return _table(header, rows)


def tanh_eval(w3: dict) -> list[str]:
    cells = w3["cells"]
    peers = _measured(cells)
    header = ("", "closed form (numpy)", *(LABELS[p] for p in peers))
    base = cells.get("tracegrad")
    row = ["time", *(_ratio_cell(cells.get(c), None) for c in ("numpy", *peers))]
    rel = ["vs tracegrad", *(_ratio_cell(cells.get(c), base).split(" (")[0]
                             if cells.get(c) and cells[c].ok and base and base.ok else "—"
                             for c in ("numpy", *peers))]  # fmt: skip
    return _table(header, [row, rel])


def scale(w4: dict) -> list[str]:
    cells = w4["cells"]
    sizes = sorted({n for per in cells.values() for n in per})
    header = ("peer", *(f"{n:,} ops" for n in sizes), f"{sizes[-1]:,} ops: phases")
    rows = []
    for peer in ("numpy", *_measured(cells)):
        per = cells.get(peer, {})
        vals = []
        for n in sizes:
            c = per.get(n)
            vals.append("—" if c is None else fmt_seconds(c.value) if c.ok else c.note)
        last = per.get(sizes[-1])
        rows.append((LABELS[peer], *vals, _phase_text(last.extra.get("phases")) if last else "—"))
    return _table(header, rows)


def memory(w5: dict) -> list[str]:
    cells = w5["cells"]
    base = cells.get("numpy")
    header = ("contestant", "peak RSS growth", "vs numpy-hand", "tracemalloc peak")
    rows = []
    for peer in ("numpy", "numpy_plain", *PEERS):
        c = cells.get(peer)
        if c is None:
            continue
        if not c.ok:
            rows.append((LABELS[peer], c.note, "—", "—"))
            continue
        tm = c.extra.get("tracemalloc")
        tm_text = "not tracked" if peer in UNTRACKED else f"{tm / MIB:.1f} MiB"
        ratio = fmt_ratio(c.value / base.value) if base and base.ok else "—"
        rows.append((LABELS[peer], f"{c.value / MIB:.1f} MiB", ratio, tm_text))
    return _table(header, rows)


def _warnings(res: dict) -> list[str]:
    """Say so when the numbers cannot be trusted: a busy machine, a floor above the ceiling."""
    out = []
    env = res["env"]
    try:
        load = float(env["load_start"].split()[0])
    except (KeyError, ValueError, IndexError):
        load = 0.0
    multi = not str(env.get("threads", "")).strip().isdigit() or int(env["threads"]) > 1
    if load > 0.5 and multi:
        out.append(f"**Warning**: the machine was busy when the run started (load {load:.2f}); "
                   "multi-threaded libraries lose most of their time to contention then, so "
                   "wall-time ratios are unreliable. `--threads 1 --cpu-time` is the robust "
                   "setting on a shared machine.")  # fmt: skip
    disturbed = [name for name, w in _w2_runs(res) if w.get("blas_floor_ratio", 0) > 1.0]
    if disturbed:
        out.append(f"**Warning**: the BLAS floor measured slower than numpy-hand, which does the "
                   f"same products and more, in {', '.join(disturbed)}: those timings were "
                   "disturbed.")  # fmt: skip
    return [w for line in out for w in (line, "")]


# ----- targets -----


def _cell(res, *path):
    node = res
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def targets(res: dict) -> list[tuple[str, str, str]]:
    """(target, measured, verdict) per target of issue 5 item 4."""
    out = []

    def ratio(w, base="numpy", peer="tracegrad"):
        a, b = _cell(w, "cells", peer), _cell(w, "cells", base)
        return a.value / b.value if a and b and a.ok and b.ok else None

    w1 = res.get("w1")
    if w1:
        r, ph = ratio(w1), w1.get("phases")
        comp = ph["compile"] if ph else None
        ok = r is not None and comp is not None and r <= W1_RATIO and comp < W1_COMPILE
        meas = (f"{fmt_ratio(r)} of numpy-hand, compile {fmt_seconds(comp)}"
                if r is not None and comp is not None else "not measured")  # fmt: skip
        why = []
        if r is not None and r > W1_RATIO:
            why.append(f"run {r / W1_RATIO - 1:.0%} over")
        if comp is not None and comp >= W1_COMPILE:
            why.append(f"compile {comp / W1_COMPILE - 1:.0%} over; slowest phase "
                       f"{slowest_compile_phase(ph)}")  # fmt: skip
        out.append((f"W1 gradient <= {W1_RATIO}x numpy-hand, compile < {W1_COMPILE} s", meas,
                    "met" if ok else "missed: " + "; ".join(why)))  # fmt: skip
    meas, verdicts = [], []
    for regime, key in (("heap reused", "w2"), ("fresh pages", "w2_fresh")):
        w2 = _cell(res, key, "float64")
        if not w2:
            continue
        r = ratio(w2)
        torch_r, jax_r = ratio(w2, peer="torch"), ratio(w2, peer="jax")
        peers = ", ".join(f"{n} {fmt_ratio(x)}" for n, x in (("torch", torch_r), ("JAX", jax_r))
                          if x is not None)  # fmt: skip
        meas.append(f"{regime}: {fmt_ratio(r)} ({peers}; BLAS floor "
                    f"{fmt_ratio(w2['blas_floor_ratio'])})" if r is not None else
                    f"{regime}: not measured")  # fmt: skip
        verdicts.append(f"{regime}: met" if r is not None and r <= W2_RATIO else (
            f"{regime}: missed by {r / W2_RATIO - 1:.0%}" if r is not None else
            f"{regime}: not measured"))  # fmt: skip
    if meas:
        missed = any(v.split(": ")[1] != "met" for v in verdicts)
        tail = "; slowest phase: run (the generated code)" if missed else ""
        out.append((f"W2 float64 <= {W2_RATIO}x numpy-hand", "; ".join(meas),
                    "; ".join(verdicts) + tail))  # fmt: skip
    w5 = res.get("w5")
    if w5:
        r = ratio(w5)
        plain = ratio(w5, base="numpy_plain")
        meas = (f"{fmt_ratio(r)} of numpy-hand ({fmt_ratio(plain)} of numpy-plain)"
                if r is not None and plain is not None else "not measured")  # fmt: skip
        verdict = "met" if r is not None and r <= W5_RATIO else (
            f"missed by {r / W5_RATIO - 1:.0%}; phase: run (buffers live at once in the "
            "generated code)" if r is not None else "missed: not measured")  # fmt: skip
        out.append((f"W5 peak memory <= {W5_RATIO}x numpy-hand", meas, verdict))
    w3 = res.get("w3")
    if w3:
        size = _cell(w3, "sizes", "tracegrad", 8)
        ph = w3.get("phases")
        nodes = int(size.value) if size and size.ok else None
        comp = ph["compile"] if ph else None
        meas = (f"{nodes} nodes, compile {fmt_seconds(comp)}" if nodes is not None and comp
                is not None else "not measured")  # fmt: skip
        why = []
        if nodes is not None and nodes > W3_NODES:
            why.append(f"{nodes / W3_NODES - 1:.0%} too many nodes (phase: passes; the graph "
                       "comes from grad)")  # fmt: skip
        if comp is not None and comp >= W3_COMPILE:
            why.append(f"compile {comp / W3_COMPILE - 1:.0%} over; slowest phase "
                       f"{slowest_compile_phase(ph)}")  # fmt: skip
        ok = nodes is not None and comp is not None and not why
        out.append((f"W3 8th derivative <= {W3_NODES} nodes, compile < {W3_COMPILE} s", meas,
                    "met" if ok else "missed: " + "; ".join(why)))  # fmt: skip
    w4 = _cell(res, "w4", "cells", "tracegrad")
    if w4:
        sizes = sorted(w4)
        big, prev = w4[sizes[-1]], w4[sizes[-2]] if len(sizes) > 1 else None
        if big.ok and prev is not None and prev.ok:
            growth = big.value / prev.value
            per_op = ", ".join(f"{n:,}: {w4[n].value / n * 1e6:.0f} us/op" for n in sizes
                               if w4[n].ok)  # fmt: skip
            meas = (f"{fmt_seconds(big.value)} at {sizes[-1]:,} ops; x{growth:.1f} for 10x ops "
                    f"({per_op})")  # fmt: skip
            why = []
            if growth > W4_GROWTH:
                why.append(f"superlinear (x{growth:.1f} for 10x ops)")
            if sizes[-1] >= 100_000 and big.value >= W4_SECONDS:
                phases = big.extra.get("phases", {})
                slow = max(("trace", "grad", "passes", "codegen", "other", "run"),
                           key=lambda k: phases.get(k, 0.0))  # fmt: skip
                why.append(f"{big.value / W4_SECONDS - 1:.0%} over {W4_SECONDS:.0f} s; slowest "
                           f"phase {slow} ({fmt_seconds(phases.get(slow, 0.0))})")  # fmt: skip
            if sizes[-1] < 100_000:
                why.append("100,000 ops not run (--quick)")
            verdict = "met" if not why else "missed: " + "; ".join(why)
        else:
            meas, verdict = big.note or "not measured", "missed"
        out.append((f"W4 linear; 100,000 ops traced, differentiated, compiled < {W4_SECONDS:.0f} s",
                    meas, verdict))  # fmt: skip
    return out


FILES = """\
Files: `run.py` (entry point: `--quick`, `--only w1 w3`, `--threads N`, `--cpu-time`,
`--output FILE`, `--render JSON`), `common.py` (peer loading, round-robin timing,
gradient checks, tracegrad phase timing), one module per workload (`w1_chain.py`,
`w2_mlp.py`, `w3_tanh.py`, `w4_scale.py`, `w5_memory.py`; each holds the hand-written
NumPy version and every peer's version side by side), `peers_pytensor.py` (PyTensor's
graphs, modes and disk cache), `compile_times.py` (cold and cached compiles in fresh
processes), `w5_buffers.py` (buffers alive at the peak of tracegrad's schedule),
`dask_throughput.py` (the Dask back end's rows/s, written to `dask.md`),
`environment.py`, `report.py` and `report_issue12.py` (this page), `requirements.txt`
(pinned peers).

Results files: a full run of every workload (`make bench`) writes this page and
`results.json` (the raw numbers of the run below). A quick run (`--quick`) writes
`results-quick.md` and `results-quick.json`, a partial one (`--only ...`)
`results-partial.md` and `.json`, all beside this page and ignored by git: neither kind
ever writes this page or `results.json`, even when told to with `--output`.
`python benchmarks/run.py --render benchmarks/results.json` redraws this page from the
raw numbers.
"""

METHOD = """\
How it is measured:

- All contestants run in one process (`make bench`, i.e. `benchmarks/run.py`), side by
  side: each timing batch of every contestant alternates with the others' (round
  robin), so a change in machine load hits all alike; the number is the median of
  the repeats, per call, with the garbage collector paused within a batch (as
  `timeit` does). Ratios are to `numpy-hand`: a hand-written NumPy forward + backward
  written for speed and memory (in-place bias/tanh/softmax, tanh' in dead buffers,
  dead arrays released). `numpy-plain` is the same gradient as a tutorial writes it
  (one expression per step, no buffer reuse), shown for context.
- Every contestant's gradient is compared with the hand-written one (`allclose`,
  float64 rtol 1e-7, float32 rtol 2e-3, atol a small fraction of the largest
  entry) before it is timed; a mismatch is reported instead of a time. A peer that
  fails to import is reported as unavailable.
- Compilation happens outside the timing. tracegrad compile = trace + gradient graph
  + optimisation passes + code generation, from fresh `grad(f)` objects (median of
  the repeats), measured by timing tracegrad's entry points (`trace_to_graph`,
  `GradFunction.transform`, `optimize`, `Executable(...)`, exclusive of each other);
  `other` is the rest of the first call (signature keys, caches, garbage collection);
  freeing the compiled function afterwards is not counted. JAX's is the first call
  of a fresh `jax.jit`.
- W3 graph sizes: tracegrad `grad(...(grad(np.tanh))).trace(x).number_of_nodes()` (all
  nodes, inputs and constants included; ops alone in parentheses); DeZero: Function
  objects in the graph of `x.grad` after n `backward(create_graph=True)`; torch:
  `grad_fn` nodes (no `AccumulateGrad`) after n nested `autograd.grad(create_graph=True)`;
  JAX: equations of `make_jaxpr(grad^n(tanh))`, and instructions of the optimised HLO.
  Evaluation times at n = 8: DeZero, torch and autograd rebuild the derivative graph
  eagerly in every call; the closed form is P_8(tanh x), a degree-9 polynomial.
- W4: every (peer, size) runs in a fresh subprocess with a time limit; after a
  timeout or failure the peer is skipped at larger sizes. tracegrad's and JAX's time
  is their first call; the eager peers' is one gradient call. The chain's gradient
  underflows to 0 beyond ~5,000 ops, so only the 1,000-op check is a numeric one.
- glibc's memory regime is fixed for the run, the same for every contestant (left
  alone, its mmap threshold adapts to what the process freed before, and whether a
  fresh big array costs page faults would depend on which contestant ran first):
  the main run keeps freed memory in the heap (`MALLOC_MMAP_THRESHOLD_=32 MiB`, no
  trimming), the steady state of a training loop. W2 runs a second time, all its
  contestants in one child process, in the worst case ("fresh pages"): every array
  of 64 KiB or more mapped fresh and unmapped when freed
  (`MALLOC_MMAP_THRESHOLD_=65536`), so each new array costs page faults (the kernel
  maps and zeroes it). The page-fault table shows what each contestant pays;
  buffers kept across calls avoid it. With several threads per library this regime
  has been erratic on this machine (in one rehearsal numpy-hand took 117 ms per
  call against 5 ms with heap reuse, and 8.7 ms in a NumPy-only process; not in the
  run above): read its times with care; its page-fault counts are stable.
- W5: every contestant in a fresh subprocess; peak resident-set growth during one
  gradient call (VmHWM reset via /proc/self/clear_refs, glibc mmap threshold fixed
  at 64 KiB so freed arrays leave the resident set), median of 5 calls after warm-up,
  output gradients included. tracemalloc agrees for the NumPy-based contestants and
  does not see torch's or XLA's buffers.
- `OPENBLAS_CORETYPE`/`OPENBLAS_L2_SIZE` are unset for the benchmark command only
  (they slow a current NumPy); the BLAS kernel line above is what NumPy ran.
- DeZero 0.0.13 (its last release) uses `np.int`, removed in NumPy 1.24: the
  harness restores that alias (`np.int = int`) before importing it.
- W5 buffers: tracegrad's generated gradient, compiled for W5's inputs, is walked
  step by step from its schedule (`CompiledFunction.executable(...).schedule`: each
  step's target, `out=` buffer and names freed; node shapes and dtypes from its graph;
  a primitive declared as a view keeps its operand's buffer alive). The caller's
  inputs are not counted; the gradients are. The total at the peak should match
  tracegrad's tracemalloc peak in the W5 table.
"""


def _kind_of_run(res: dict, cfg) -> str:
    """The title's note: " (quick run)", " (only W1, W3)", both, or nothing for a full run."""
    only = res.get("run", {}).get("only")
    what = [w.upper() for w in only] if only and len(only) < 5 else []
    kinds = (["quick run"] if cfg.quick else []) + ([f"only {', '.join(what)}"] if what else [])
    return f" ({'; '.join(kinds)})" if kinds else ""


def render(res: dict, cfg) -> str:
    env = res["env"]
    lines = ["# Benchmarks", "",
             "tracegrad against hand-written NumPy and its peers (HIPS autograd, DeZero, "
             "PyTorch eager on the CPU, JAX `jit` on the CPU, PyTensor in its default numba "
             "mode and its C mode), for issues 5 and 12. Run with `make bench` (installs the "
             "pinned peers from `benchmarks/requirements.txt` into `.venv`, never done by "
             "`make test`); `make bench BENCH_ARGS=--quick` is a smoke run (fewer repeats, W4 "
             "up to 10,000 ops, W5 at batch 256, compiles cut off at 120 s) that writes "
             "`benchmarks/results-quick.md` and `.json` and never this file or "
             "`results.json`.", "",
             f"## Results{_kind_of_run(res, cfg)}", ""]  # fmt: skip
    lines += environment(env) + [""]
    lines += _warnings(res)
    for name, err in res.get("errors", {}).items():
        lines.append(f"**{name} failed**: {err}")
        lines.append("")
    lines += ["### Targets (issue 12, item 2)", ""]
    lines += _table(("target", "measured", "verdict"), report_issue12.targets(res)) + [""]
    lines += ["### Targets (issue 5, item 4)", ""]
    lines += _table(("target", "measured", "verdict"), targets(res)) + [""]
    lines += ["### Gradient time (median per call; ratio to numpy-hand, time in parentheses)", ""]
    lines += gradient_times(res) + [""]
    lines += page_faults(res) + [""]
    w2 = _cell(res, "w2", "float64", "ops")
    if w2:
        ops = ", ".join(f"{k} {v}" for k, v in w2.items())
        lines += [f"tracegrad's optimised W2 gradient graph: {ops}.", ""]
    fresh = report_issue12.compile_rows(res)
    if fresh:
        lines += ["### Compile time in a fresh process: cold (empty disk cache) / cached "
                  "(a second process)", ""]  # fmt: skip
        lines += _table(*fresh) + [""]
    lines += ["### Compile time in the benchmark process (tracegrad: trace + grad graph + "
              "passes + codegen)", ""]  # fmt: skip
    lines += compile_times(res) + [""]
    if res.get("w3"):
        lines += ["### W3 tanh-nth: size of the n-th derivative's graph", ""]
        lines += tanh_sizes(res["w3"]) + [""]
        lines += ["W3 evaluation of the 8th derivative at x = 0.5:", ""]
        lines += tanh_eval(res["w3"]) + [""]
    if res.get("w4"):
        lines += ["### W4 trace-scale: trace + grad + compile (first call) of scalar chains", ""]
        lines += scale(res["w4"]) + [""]
    if res.get("w5"):
        batch = res["w5"]["batch"]
        lines += [f"### W5 memory: peak of one W2 gradient (float64, batch {batch:,})", ""]
        lines += memory(res["w5"]) + [""]
        peak = _cell(res, "w5", "tracegrad_peak", "text")
        if peak:
            lines += [f"tracegrad's generated gradient, from its schedule, peaks at {peak}.", ""]
    scale_md = Path(__file__).with_name("scale.md")  # 1,000,000-op figures (benchmarks/scale.py)
    if scale_md.exists() and not cfg.quick:
        lines += [scale_md.read_text().rstrip(), ""]
    ckpt_md = Path(__file__).with_name("checkpoint.md")  # W5 with checkpoint (w5_checkpoint.py)
    if ckpt_md.exists() and not cfg.quick:
        lines += [ckpt_md.read_text().rstrip(), ""]
    dask_md = Path(__file__).with_name("dask.md")  # the Dask back end (dask_throughput.py)
    if dask_md.exists() and not cfg.quick:
        lines += [dask_md.read_text().rstrip(), ""]
    lines += ["## Method", "", METHOD + report_issue12.METHOD, FILES]
    return "\n".join(lines).rstrip() + "\n"
