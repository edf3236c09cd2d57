"""W4 trace-scale: trace + grad + compile time of scalar chains of 1,000 / 10,000 / 100,000 ops.

The chain repeats sin, *1.0001, +0.1. Each (peer, size) runs in a fresh subprocess with a
time limit, so a peer that takes too long (or crashes on a deep graph) is marked and
skipped at larger sizes instead of hanging the run. For tracegrad, JAX and PyTensor the
time is their first call (everything up to and including one evaluation) split into
phases (PyTensor's: graph + ``pytensor.grad``, ``pytensor.function``, first call); the
eager peers (autograd, DeZero, torch) build their graph during the call, so it is one
gradient call. ``python -m benchmarks.w4_scale --peer P --n N`` is the child: it prints
one JSON line per finished phase, then the gradient.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks import peers_pytensor
from benchmarks.common import Cell, Config, PhaseProfiler, check, clock, failed, load

ROOT = Path(__file__).resolve().parents[1]
X = 0.5
PEERS = ("numpy", "tracegrad", "autograd", "dezero", "torch", "jax", "pytensor_numba",
         "pytensor_c")  # fmt: skip


def chain(xp_sin, y, n: int):
    for i in range(n):
        k = i % 3
        if k == 0:
            y = xp_sin(y)
        elif k == 1:
            y = y * 1.0001
        else:
            y = y + 0.1
    return y


def reference_grad(n: int) -> float:
    """d chain / dx by forward accumulation in plain floats."""
    y, g = X, 1.0
    for i in range(n):
        k = i % 3
        if k == 0:
            g *= math.cos(y)
            y = math.sin(y)
        elif k == 1:
            g *= 1.0001
            y *= 1.0001
        else:  # +0.1 leaves the derivative alone
            y += 0.1
    return g


# ----- the child -----


def _emit(**record) -> None:
    print(json.dumps(record), flush=True)


def _numpy_hand(n: int) -> float:
    """Forward keeping cos(y) of every sin step; backward multiplying local derivatives."""
    y = np.float64(X)
    local = []
    for i in range(n):
        k = i % 3
        if k == 0:
            local.append(np.cos(y))
            y = np.sin(y)
        elif k == 1:
            local.append(1.0001)
            y = y * 1.0001
        else:
            y = y + 0.1
    g = np.float64(1.0)
    for d in reversed(local):
        g = g * d
    return float(g)


def _gradient(peer: str, n: int, prof: PhaseProfiler | None = None, keep: list | None = None):
    """One trace + grad + compile + run (tracegrad, JAX) or one eager gradient call.

    The compiled function is appended to ``keep``, so that freeing it (and its graphs)
    falls outside the measurement.
    """
    keep = [] if keep is None else keep
    x = np.array(X)
    if peer == "numpy":
        return _numpy_hand(n)
    if peer == "tracegrad":
        compiler = load("tracegrad")
        out = {}

        def call():
            df = compiler.grad(lambda y: chain(np.sin, y, n))
            out["g"] = df(x)
            keep.append(df)
            return df

        if prof is None:
            call()
        else:
            phases = prof.measure(call)
            for ph in ("trace", "grad", "passes", "codegen", "run", "other"):
                _emit(phase=ph, seconds=phases[ph])
        return float(out["g"])
    if peer == "jax":
        jax = load("jax")
        import jax.numpy as jnp

        jitted = jax.jit(jax.grad(lambda y: chain(jnp.sin, y, n)))
        stages = {}
        t = clock()
        traced = jitted.trace(x)
        stages["jaxpr"] = clock() - t
        t = clock()
        lowered = traced.lower()
        stages["lower"] = clock() - t
        if prof is not None:
            for ph in ("jaxpr", "lower"):
                _emit(phase=ph, seconds=stages[ph])
        t = clock()
        compiled = lowered.compile()
        keep.append(compiled)
        stages["xla"] = clock() - t
        t = clock()
        g = float(compiled(x))
        stages["run"] = clock() - t
        if prof is not None:
            for ph in ("xla", "run"):
                _emit(phase=ph, seconds=stages[ph])
        return g
    if peer == "autograd":
        load("autograd")
        import autograd
        import autograd.numpy as anp

        return float(autograd.grad(lambda y: chain(anp.sin, y, n))(X))
    if peer == "dezero":
        dezero = load("dezero")
        import dezero.functions as F

        xv = dezero.Variable(x)
        chain(F.sin, xv, n).backward()
        return float(xv.grad.data)
    if peer == "torch":
        torch = load("torch")
        xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
        (gt,) = torch.autograd.grad(chain(torch.sin, xt, n), xt)
        return float(gt)
    if peer in peers_pytensor.MODES:
        g, stages = peers_pytensor.chain_gradient(chain, n, X, peer)
        if prof is not None:
            for ph, seconds in stages.items():
                _emit(phase=ph, seconds=seconds)
        return g
    raise SystemExit(f"unknown peer {peer}")


def child(peer: str, n: int) -> None:
    # A 30-op chain first: libraries' one-off start-up (lazy imports, kernel
    # registration, first dispatch) is not part of the chain's cost.
    _gradient(peer, 30)
    keep: list = []
    start = clock()
    g = _gradient(peer, n, PhaseProfiler(), keep)
    _emit(total=clock() - start, grad=g)
    del keep


# ----- the parent -----


def _check_grad(ref: float, got: float) -> str:
    """The chain contracts (|d/dy| < 1 per step): its gradient is ~4e-61 at 1,000 ops and
    underflows to zero (or a subnormal that XLA flushes) from about 5,000 ops on, so
    values below 1e-300 count as equal; above, the usual relative check applies."""
    if abs(ref) < 1e-300 and abs(got) < 1e-300:
        return ""
    return check([ref], [got], np.float64)


def _parse(stdout: str | bytes | None) -> tuple[dict, dict]:
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    phases, final = {}, {}
    for line in (stdout or "").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "phase" in rec:
            phases[rec["phase"]] = rec["seconds"]
        elif "total" in rec:
            final = rec
    return phases, final


def measure(peer: str, n: int, timeout: float) -> Cell:
    cmd = [sys.executable, "-m", "benchmarks.w4_scale", "--peer", peer, "--n", str(n)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        phases, _ = _parse(exc.stdout)
        return Cell(None, f"timeout > {timeout:.0f} s", {"phases": phases})
    phases, final = _parse(proc.stdout)
    if proc.returncode != 0 or not final:
        err = (proc.stderr or "").strip().splitlines()
        last = err[-1][:160] if err else ""
        if "Unavailable" in last or "unavailable:" in last:
            return failed("unavailable: " + last.split("unavailable:", 1)[-1].strip())
        return Cell(None, f"failed (exit {proc.returncode}): {last}", {"phases": phases})
    note = _check_grad(reference_grad(n), final["grad"])
    return Cell(None if note else final["total"], note, {"phases": phases})


def run(cfg: Config) -> dict:
    out: dict[str, dict[int, Cell]] = {}
    for peer in PEERS:
        out[peer] = {}
        stopped = ""
        for n in cfg.w4_sizes:
            if stopped:
                out[peer][n] = failed(f"skipped ({stopped} at a smaller size)")
                continue
            cell = measure(peer, n, cfg.w4_timeout)
            out[peer][n] = cell
            if not cell.ok:
                stopped = cell.note.split(":")[0].split(" (")[0]
        print(f"  w4 {peer}: " + ", ".join(
            f"{n}: {c.value:.3g} s" if c.ok else f"{n}: {c.note}" for n, c in out[peer].items()
        ), flush=True)  # fmt: skip
    return {"cells": out}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True, choices=PEERS)
    parser.add_argument("--n", type=int, required=True)
    args = parser.parse_args()
    child(args.peer, args.n)
