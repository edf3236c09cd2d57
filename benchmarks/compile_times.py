"""Compile time in a fresh process: cold (empty disk cache) and cached (a second fresh process).

For each contestant that compiles (``COMPILED``) and each workload that has a maker for
it, two child processes run ``python -m benchmarks.compile_times --workload W
--contestant C``, both with the contestant's disk cache pointed at the same new, empty
folder: the first finds it empty (cold), the second finds what the first left (cached).
A child imports the library (timed apart), builds the workload's inputs, then times the
contestant's maker -- building the function, tracing or compiling it, and its first
call -- and checks the gradient against the hand-written NumPy one. Times are wall
time, or with ``--cpu-time`` the CPU time of the child and of the processes it waited
for (PyTensor's C mode runs g++). A child that runs past ``Config.compile_timeout``
(wall seconds; with ``--cpu-time`` CPU seconds, enforced by ``RLIMIT_CPU``, so that a
busy machine does not cut a compile short) is killed and reported as ``> N s``, and
that contestant is then skipped in the workload's timing (``skip_timeouts``).

Adding a contestant is one entry in ``COMPILED`` (its library and how to point its disk
cache at a folder) plus a maker of that name in each workload's ``MAKERS``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import CPU_CLOCK, Cell, Config, Unavailable, check, failed, load

ROOT = Path(__file__).resolve().parents[1]
# workload -> module with ``MAKERS`` and ``compile_problem() -> (maker args, reference, dtype)``
WORKLOADS = {"w1": "benchmarks.w1_chain", "w2": "benchmarks.w2_mlp", "w3": "benchmarks.w3_tanh"}
# With --cpu-time a child may take this many times its CPU budget in wall time (a busy
# machine gives it a fraction of a core) before it counts as hung.
WALL_PER_CPU_SECOND = 6


def _no_cache(folder: Path) -> dict[str, str]:
    return {}


def _jax_cache(folder: Path) -> dict[str, str]:
    # Every compiled program is written, however fast it compiled (the default skips
    # those under 1 s): the cached run measures the cache, not the threshold.
    return {"JAX_COMPILATION_CACHE_DIR": str(folder),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}  # fmt: skip


def _pytensor_cache(folder: Path) -> dict[str, str]:
    from benchmarks import peers_pytensor

    return peers_pytensor.cache_env(folder)


def _share_pytensor(folder: Path) -> None:
    """Copy a child's PyTensor cache into this run's, so the in-process compile reuses it."""
    flags = dict(f.split("=", 1) for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
                 if "=" in f)  # fmt: skip
    base = flags.get("base_compiledir")
    if base:
        shutil.copytree(folder, base, dirs_exist_ok=True)


@dataclass(frozen=True)
class Compiled:
    """A contestant that compiles: its library, and its disk cache."""

    library: str  # the name ``common.load`` imports
    cache: str  # what the cached run can reuse, for the table
    env: Callable[[Path], dict[str, str]]  # environment pointing that cache at a folder
    share: Callable[[Path], None] | None = None  # hand the cache to this run's own compiles


COMPILED = {
    "tracegrad": Compiled("tracegrad", "none", _no_cache),
    "jax": Compiled("jax", "persistent compilation cache", _jax_cache),
    "pytensor_numba": Compiled("pytensor", "compiledir (numba)", _pytensor_cache, _share_pytensor),
    "pytensor_c": Compiled("pytensor", "compiledir (C modules)", _pytensor_cache, _share_pytensor),
}


# ----- the child -----


def _seconds() -> float:
    """Wall time, or with --cpu-time the CPU time of this process and its finished children
    (PyTensor's C mode compiles in g++ processes, which this process's own clock misses)."""
    if not CPU_CLOCK:
        return time.perf_counter()
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def child(workload: str, contestant: str) -> None:
    """Import, then build + compile + first call, timed; print one JSON line."""
    import warnings

    warnings.simplefilter("ignore")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    start = _seconds()
    try:
        load(COMPILED[contestant].library)
    except Unavailable as exc:
        print(json.dumps({"note": str(exc)}), flush=True)
        return
    imported = _seconds() - start
    module = importlib.import_module(WORKLOADS[workload])
    args, ref, dtype = module.compile_problem()
    start = _seconds()
    fn, _ = module.MAKERS[contestant](*args)
    compile_s = _seconds() - start
    note = check(ref, fn(), dtype)
    print(json.dumps({"import": imported, "compile": compile_s, "note": note}), flush=True)


# ----- the parent -----


def _run_child(workload: str, contestant: str, env: dict, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.compile_times", "--workload", workload,
           "--contestant", contestant]  # fmt: skip
    over = f"> {timeout:.0f} s" + (" CPU" if CPU_CLOCK else "")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    if CPU_CLOCK:  # the kernel stops it (SIGXCPU) once it has used its CPU budget
        budget = int(timeout) + 1
        resource.prlimit(proc.pid, resource.RLIMIT_CPU, (budget, budget + 5))
    wall = timeout * (WALL_PER_CPU_SECOND if CPU_CLOCK else 1)
    try:
        stdout, stderr = proc.communicate(timeout=wall)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"note": over if not CPU_CLOCK else f"> {wall:.0f} s wall"}
    if proc.returncode in (-signal.SIGXCPU, -signal.SIGKILL) and CPU_CLOCK:
        return {"note": over}
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (stderr or "").strip().splitlines()
        return {"note": f"failed (exit {proc.returncode}): {err[-1][:160] if err else ''}"}
    return json.loads(lines[-1])


def measure(workload: str, contestant: str, cfg: Config) -> Cell:
    """Cold and cached compile seconds of one contestant (value: cold; extra: cached, import)."""
    spec = COMPILED[contestant]
    with tempfile.TemporaryDirectory(prefix="tracegrad-bench-cache-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, **spec.env(folder)}
        cold = _run_child(workload, contestant, env, cfg.compile_timeout)
        if cold.get("note") or "compile" not in cold:
            return failed(cold.get("note") or "no result")
        cached = _run_child(workload, contestant, env, cfg.compile_timeout)
        if spec.share is not None:
            spec.share(folder)
    extra = {"import": cold["import"], "cache": spec.cache}
    if cached.get("note") or "compile" not in cached:
        extra["cached_note"] = cached.get("note") or "no result"
    else:
        extra["cached"] = cached["compile"]
        extra["import"] = min(cold["import"], cached["import"])
    return Cell(cold["compile"], "", extra)


def measure_workload(workload: str, makers: dict, cfg: Config) -> dict[str, Cell]:
    """Every compiling contestant of a workload, cold and cached (``{}`` if switched off)."""
    if not cfg.compile_table:
        return {}
    out = {}
    for contestant in COMPILED:
        if contestant not in makers:
            continue
        out[contestant] = cell = measure(workload, contestant, cfg)
        cached = cell.extra.get("cached")
        text = (f"{cell.value:.2f} s cold, " + (f"{cached:.2f} s cached" if cached is not None
                else cell.extra.get("cached_note", "?"))) if cell.ok else cell.note  # fmt: skip
        print(f"   compile {workload} {contestant}: {text}", flush=True)
    return out


def skip_timeouts(makers: dict, compiles: dict[str, Cell]) -> dict:
    """The makers, with those whose cold compile ran out of time replaced by a note."""

    def skipped(note: str):
        def make():
            raise Unavailable(f"compile {note} (fresh process)")

        return make

    return {name: skipped(compiles[name].note)
            if name in compiles and compiles[name].note.startswith(">") else make
            for name, make in makers.items()}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True, choices=tuple(WORKLOADS))
    parser.add_argument("--contestant", required=True, choices=tuple(COMPILED))
    args = parser.parse_args()
    child(args.workload, args.contestant)
