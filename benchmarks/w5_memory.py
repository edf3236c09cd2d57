"""W5 memory: peak memory of one W2 gradient (float64) at batch 1024, vs hand-written NumPy.

Each contestant runs in a fresh subprocess (``python -m benchmarks.w5_memory --peer P``):
it builds the problem, compiles and checks the gradient, calls it twice more, then
measures one call. The number is the growth of the peak resident set during that call:
Linux's high-water mark (VmHWM) is reset through ``/proc/self/clear_refs`` just before
the call and read just after, minus the resident set before. This counts every
allocator alike (NumPy's, torch's, XLA's), unlike ``tracemalloc``, which sees NumPy
buffers but not torch's or XLA's; its peak is reported beside it for the NumPy-based
contestants. glibc's mmap threshold is fixed at 64 KiB in the child
(``MALLOC_MMAP_THRESHOLD_``), so every array buffer is its own mapping, returned to the
system when freed, and the resident set follows the live arrays. The gradients
themselves (5.3 MB) are part of every peak. For tracegrad, ``w5_buffers`` also names the
buffers alive at the peak of its generated code, from the compiled schedule.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np

from benchmarks import w2_mlp, w5_buffers
from benchmarks.common import Cell, Config, check, failed, load

ROOT = Path(__file__).resolve().parents[1]
PEERS = ("numpy", "numpy_plain", "tracegrad", "autograd", "dezero", "torch", "jax",
         "pytensor_numba", "pytensor_c")  # fmt: skip
REPEATS = 5
CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072"}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_rss_growth(fn) -> int:
    """Bytes the resident set peaked above its level before ``fn()`` (results kept alive)."""
    gc.collect()
    _reset_peak()
    before = _status_kib("VmRSS")
    out = fn()
    peak = _status_kib("VmHWM")
    del out
    return (peak - before) * 1024


def peak_tracemalloc(fn) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
        del out
    finally:
        tracemalloc.stop()
    return peak


def child(peer: str, batch: int) -> None:
    problem = w2_mlp.make_problem(batch, np.float64)
    params, x, labels, _ = problem
    ref = w2_mlp.numpy_grad(params, x, labels)
    fn, _ = w2_mlp.MAKERS[peer](*problem)
    note = check(ref, fn(), np.float64)
    fn()
    rss = [peak_rss_growth(fn) for _ in range(REPEATS)]
    tm = [peak_tracemalloc(fn) for _ in range(2)]
    print(json.dumps({"rss": statistics.median(rss), "tracemalloc": min(tm), "note": note}))


def measure(peer: str, batch: int, timeout: float = 600) -> Cell:
    cmd = [sys.executable, "-m", "benchmarks.w5_memory", "--peer", peer, "--batch", str(batch)]
    env = {**os.environ, **CHILD_ENV}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return failed(f"timeout > {timeout:.0f} s")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr or "").strip().splitlines()
        last = err[-1][:160] if err else ""
        if "unavailable:" in last:
            return failed("unavailable: " + last.split("unavailable:", 1)[-1].strip())
        return failed(f"failed (exit {proc.returncode}): {last}")
    rec = json.loads(lines[-1])
    if rec["note"]:
        return failed(rec["note"])
    return Cell(rec["rss"], "", {"tracemalloc": rec["tracemalloc"]})


def tracegrad_peak(batch: int) -> dict:
    """The buffers alive at the peak of tracegrad's generated gradient, from its schedule."""
    compiler = load("tracegrad")
    params, x, _, onehot = w2_mlp.make_problem(batch, np.float64)
    df = compiler.grad(lambda p, x, y: w2_mlp.mlp_loss(np, p, x, y))
    peak = w5_buffers.peak_buffers(df.executable(params, x, onehot).schedule)
    return {**peak.to_json(), "text": w5_buffers.describe(peak)}


def run(cfg: Config) -> dict:
    cells = {peer: measure(peer, cfg.w5_batch) for peer in PEERS}
    out = {"cells": cells, "batch": cfg.w5_batch}
    try:
        out["tracegrad_peak"] = tracegrad_peak(cfg.w5_batch)
        print(f"   tracegrad's schedule: {out['tracegrad_peak']['text']}", flush=True)
    except Exception as exc:  # reported in the table, never fatal
        out["tracegrad_peak"] = {"text": f"error: {type(exc).__name__}: {exc}"}
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, choices=PEERS)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    child(args.peer, args.batch)
