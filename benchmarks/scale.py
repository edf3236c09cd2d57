"""Scale: a chain of N primitive ops, phase by phase (trace, grad graph, optimise, codegen, run).

``python -m benchmarks.scale [--sizes 10000 100000 1000000] [--width 4]`` prints one line
per size with the seconds of each phase and the time per op, and checks the gradient
against a forward-mode reference computed in plain NumPy. Each size runs in a fresh
subprocess so sizes do not share caches, heap growth or garbage-collector state.

The chain repeats ``sin``, ``* 1.0001``, ``+ 0.1`` on a vector of ``--width`` elements
(one primitive per step, plus one ``sum`` at the end), so N steps are N forward nodes
and about 2N backward nodes. Phases:

- trace: ``trace(f).trace(x)`` -- run the Python once with traced values, build the graph;
- grad graph: ``build_grad_graph`` -- reverse mode over the forward graph;
- optimise: ``optimize`` -- the default passes to a fixed point;
- codegen: ``Executable(graph)`` -- schedule, names, frees, buffers (and the compiled
  source or the slot machine for big graphs);
- run: one call of the executable on concrete inputs.

Both CPU time (``time.process_time``: what the code costs, robust on a shared
machine) and wall-clock time are reported. The child keeps Python's default
recursion limit, so a recursive pass would fail the run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
PHASES = ("trace", "grad graph", "optimise", "codegen", "run")


def chain(x, n: int):
    """n primitive ops: sin, *1.0001, +0.1 repeated; then a sum (a scalar to differentiate)."""
    y = x
    for i in range(n):
        k = i % 3
        if k == 0:
            y = np.sin(y)
        elif k == 1:
            y = y * 1.0001
        else:
            y = y + 0.1
    return np.sum(y)


def reference_grad(x: np.ndarray, n: int) -> np.ndarray:
    """d sum(chain) / dx by forward accumulation, elementwise in NumPy."""
    y, g = x.copy(), np.ones_like(x)
    for i in range(n):
        k = i % 3
        if k == 0:
            g = g * np.cos(y)
            y = np.sin(y)
        elif k == 1:
            g = g * 1.0001
            y = y * 1.0001
        else:
            y = y + 0.1
    return g


def measure(n: int, width: int) -> dict:
    """CPU and wall seconds per phase for one chain of ``n`` ops, and the gradient's error."""
    from compiler.autodiff import build_grad_graph
    from compiler.executor import Executable
    from compiler.passes import optimize
    from tracer import trace

    x = np.linspace(0.1, 0.9, width)
    cpu, wall, out = {}, {}, {}

    def phase(name, fn):
        c0, w0 = time.process_time(), time.perf_counter()
        out[name] = fn()
        cpu[name], wall[name] = time.process_time() - c0, time.perf_counter() - w0
        return out[name]

    fwd = phase("trace", lambda: trace(lambda v: chain(v, n), name="chain").trace(x))
    g = phase("grad graph", lambda: build_grad_graph(fwd, keep_value=False))
    opt = phase("optimise", lambda: optimize(g))
    exe = phase("codegen", lambda: Executable(opt, "grad_chain"))
    (dx,) = phase("run", lambda: exe([x]))
    ref = reference_grad(x, n)
    return {
        "n": n,
        "nodes": {
            "forward": fwd.number_of_nodes(),
            "grad": g.number_of_nodes(),
            "optimised": opt.number_of_nodes(),
        },  # fmt: skip
        "mode": exe.mode,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "max_rel_error": float(np.max(np.abs(dx - ref) / np.maximum(np.abs(ref), 1e-300))),
    }


def measure_api(n: int, width: int) -> dict:
    """The same chain through the public API: ``grad(f)(x)`` twice (first call, cached call)."""
    from compiler import grad

    x = np.linspace(0.1, 0.9, width)
    df = grad(lambda v: chain(v, n))
    out = {"n": n}
    for call in ("first call", "cached call"):
        c0, w0 = time.process_time(), time.perf_counter()
        dx = df(x)
        out[call] = {"cpu": time.process_time() - c0, "wall": time.perf_counter() - w0}
    ref = reference_grad(x, n)
    out["max_rel_error"] = float(np.max(np.abs(dx - ref) / np.maximum(np.abs(ref), 1e-300)))
    return out


def _child(n: int, width: int, api: bool) -> None:
    sys.setrecursionlimit(1000)  # the default: a recursive pass would fail here
    print(json.dumps(measure_api(n, width) if api else measure(n, width)))


def _row(r: dict, key: str) -> str:
    s = r[key]
    total = sum(s.values())
    cells = "  ".join(f"{s[p]:8.2f}" for p in PHASES)
    return (
        f"{r['n']:>9,}  {cells}  {total:8.2f}  {1e6 * total / r['n']:7.1f}  "
        f"{r['mode']:>6}  {r['max_rel_error']:.1e}"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    ap.add_argument("--width", type=int, default=4, help="elements of the chained vector")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true", help="print the raw JSON records too")
    ap.add_argument("--api", action="store_true", help="also time grad(f)(x) end to end")
    args = ap.parse_args(argv)
    if args.child is not None:
        _child(args.child, args.width, args.api)
        return
    head = "  ".join(f"{p:>8}" for p in ("trace", "grad", "optimise", "codegen", "run"))
    print(f"{'ops':>9}  {head}  {'total s':>8}  {'us/op':>7}  {'mode':>6}  grad rel.err")
    print("(seconds per phase; CPU time of the process, then wall-clock time)")
    for n in args.sizes:
        cmd = [sys.executable, "-m", "benchmarks.scale", "--child", str(n),
               "--width", str(args.width)]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{n:>9,}  failed:\n{proc.stderr[-2000:]}")
            continue
        record = json.loads(proc.stdout.strip().splitlines()[-1])
        print(_row(record, "cpu_seconds"), " (CPU s)", flush=True)
        print(_row(record, "wall_seconds"), " (wall s)", flush=True)
        if args.json:
            print(json.dumps(record))
        if args.api:
            proc = subprocess.run([*cmd, "--api"], cwd=ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{n:>9,}  grad(f)(x) failed:\n{proc.stderr[-2000:]}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            first, cached = r["first call"], r["cached call"]
            print(
                f"{n:>9,}  grad(f)(x): first call {first['cpu']:.2f} CPU s ({first['wall']:.2f} "
                f"wall), cached call {cached['cpu']:.3f} CPU s, rel.err {r['max_rel_error']:.1e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
