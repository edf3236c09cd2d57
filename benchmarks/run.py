"""Run the benchmark suite and write the results table (``make bench``).

python benchmarks/run.py            # full run: writes benchmarks/README.md and results.json
python benchmarks/run.py --quick    # smoke run: writes benchmarks/results-quick.{md,json}
python benchmarks/run.py --only w1 w3   # writes benchmarks/results-partial.{md,json}

Only a full run of every workload writes ``README.md`` and ``results.json``: a quick or
partial run refuses to, even when asked with ``--output``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
FULL_MD, FULL_JSON = BENCH / "README.md", BENCH / "results.json"
if str(ROOT) not in sys.path:  # run as a script: make the benchmarks package importable
    sys.path.insert(0, str(ROOT))

WORKLOADS = ("w1", "w2", "w3", "w4", "w5")


def limit_threads(n: int) -> None:
    """Every library (and every child process) on ``n`` threads: NumPy's OpenBLAS, torch's
    OpenMP and MKL, and, for ``n == 1``, XLA's CPU thread pool. Must run before they load.
    """
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if n == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()


def _jsonable(obj):
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item"):
        return obj.item()
    return obj


# glibc serves big blocks with mmap below a threshold that adapts to what the process
# freed before: whether a fresh array costs page faults would then depend on which
# contestant ran first. The run fixes it, the same for every contestant:
# - heap: blocks up to 32 MiB come from the heap and freed memory is kept (no trimming),
#   so a gradient called again reuses memory: the steady state of a training loop;
# - fresh: every block of 64 KiB or more is mapped fresh and unmapped when freed, so
#   each new array costs page faults (the kernel maps and zeroes it), as in a short
#   NumPy program. W5's children always use this one.
MALLOC = {
    "heap": {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": str(2**40)},
    "fresh": {"MALLOC_MMAP_THRESHOLD_": "65536"},
    "default": {},
}


def restart_with_malloc(mode: str) -> None:
    """Re-run this command with glibc's settings for ``mode`` (they are read at start-up)."""
    if os.environ.get("BENCH_MALLOC") == mode:
        return
    os.environ["BENCH_MALLOC"] = mode
    for var in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        os.environ.pop(var, None)
    os.environ.update(MALLOC[mode])
    os.execv(sys.executable, [sys.executable, *sys.argv])


def _cells(obj):
    """Results read back from JSON, with ``Cell``s where they were."""
    from benchmarks.common import Cell

    if isinstance(obj, dict):
        if "value" in obj and "note" in obj:
            extra = {k: v for k, v in obj.items() if k not in ("value", "note")}
            return Cell(obj["value"], obj["note"], extra)
        return {(int(k) if k.isdigit() else k): _cells(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_cells(v) for v in obj]
    return obj


def w2_other_regime(args, mode: str) -> dict:
    """W2 again, all contestants in one child process run with glibc set to ``mode``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "w2.md"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--only", "w2", "--malloc", mode,
               "--no-second-regime", "--no-compile-table", "--output", str(out)]  # fmt: skip
        if args.quick:
            cmd.append("--quick")
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.cpu_time:
            cmd.append("--cpu-time")
        env = {k: v for k, v in os.environ.items() if k != "BENCH_MALLOC"}
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        data = json.loads(out.with_suffix(".json").read_text())
    if data.get("errors", {}).get("w2"):
        raise RuntimeError(data["errors"]["w2"])
    return _cells(data["w2"])


def output_paths(args) -> tuple[Path, Path]:
    """Where this run's markdown and JSON go.

    A full run of every workload: ``benchmarks/README.md`` and ``results.json``; a quick
    run: ``results-quick.md``/``.json``; a partial one (``--only``): ``results-partial``.
    ``--output FILE`` puts the markdown there and the JSON beside it, but a quick or
    partial run never writes the full run's files.
    """
    partial = args.quick or bool(args.only and set(args.only) != set(WORKLOADS))
    if args.output:
        md = args.output
        js = FULL_JSON if md.resolve() == FULL_MD else md.with_suffix(".json")
    elif partial:
        kind = "quick" if args.quick else "partial"
        md, js = BENCH / f"results-{kind}.md", BENCH / f"results-{kind}.json"
    else:
        md, js = FULL_MD, FULL_JSON
    if partial and {md.resolve(), js.resolve()} & {FULL_MD, FULL_JSON}:
        raise SystemExit(f"run.py: a quick or partial run does not write {FULL_MD.name} or "
                         f"{FULL_JSON.name} (only a full run of every workload does)")  # fmt: skip
    return md, js


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="tracegrad vs hand-written NumPy and peers")
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer repeats, small W4")
    parser.add_argument("--only", nargs="+", choices=WORKLOADS, help="workloads to run")
    parser.add_argument("--threads", type=int, help="threads per library (default: all cores)")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time with this process's CPU time (use with --threads 1)",
    )
    parser.add_argument("--malloc", choices=tuple(MALLOC), default="heap",
                        help="glibc's memory regime for the run (see MALLOC)")  # fmt: skip
    parser.add_argument("--no-second-regime", action="store_true",
                        help="skip W2's second run with fresh pages")  # fmt: skip
    parser.add_argument("--no-compile-table", action="store_true",
                        help="skip the cold and cached compiles in fresh processes")  # fmt: skip
    parser.add_argument("--output", type=Path, help="markdown file to write")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="only rewrite the markdown from an earlier run's results")  # fmt: skip
    args = parser.parse_args(argv)
    if args.render:
        from benchmarks import report
        from benchmarks.common import Config

        results = _cells(json.loads(args.render.read_text()))
        quick = results.get("run", {}).get("quick", args.quick)
        out_md = args.output or (FULL_MD if args.render.resolve() == FULL_JSON else
                                 args.render.with_suffix(".md"))  # fmt: skip
        if out_md.resolve() == FULL_MD and args.render.resolve() != FULL_JSON:
            raise SystemExit(f"run.py: {FULL_MD.name} is rendered from {FULL_JSON.name} only")
        out_md.write_text(report.render(results, Config.make(quick)))
        print(f"written: {out_md}")
        return 0
    out_md, out_json = output_paths(args)
    restart_with_malloc(args.malloc)
    if args.threads:
        limit_threads(args.threads)
    if args.cpu_time:
        os.environ["BENCH_CLOCK"] = "cpu"
    # PyTensor's compiled code goes to a folder of this run's (its children use it too),
    # not to the user's ~/.pytensor, unless PYTENSOR_FLAGS names one.
    if "base_compiledir=" in os.environ.get("PYTENSOR_FLAGS", ""):
        return _run(args, out_md, out_json)
    with tempfile.TemporaryDirectory(prefix="tracegrad-bench-pytensor-") as cache:
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"base_compiledir={cache}")
                                                if f)  # fmt: skip
        os.environ["NUMBA_CACHE_DIR"] = str(Path(cache) / "numba-cache")
        return _run(args, out_md, out_json)


def _run(args, out_md: Path, out_json: Path) -> int:
    # Imported here, after the thread limits are in the environment.
    from benchmarks import environment, report, w1_chain, w2_mlp, w3_tanh, w4_scale, w5_memory
    from benchmarks.common import Config

    runners = {"w1": w1_chain.run, "w2": w2_mlp.run, "w3": w3_tanh.run, "w4": w4_scale.run,
               "w5": w5_memory.run}  # fmt: skip
    cfg = Config.make(args.quick, compile_table=not args.no_compile_table)

    warnings.simplefilter("ignore")  # peers' deprecation chatter is not a result
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    results: dict = {"env": environment.collect(), "errors": {}}
    results["env"]["threads"] = str(args.threads or "default (all cores)")
    results["env"]["clock"] = "process CPU time" if args.cpu_time else "wall time"
    results["env"]["malloc"] = args.malloc
    results["run"] = {"quick": args.quick, "only": list(args.only or WORKLOADS)}
    for name in args.only or WORKLOADS:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            results[name] = runners[name](cfg)
        except Exception as exc:  # one broken workload still leaves the others' table
            traceback.print_exc()
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
        print(f"   {time.perf_counter() - start:.0f} s", flush=True)
    if "w2" in (args.only or WORKLOADS) and args.malloc == "heap" and not args.no_second_regime:
        print("== w2 with fresh pages", flush=True)
        try:
            results["w2_fresh"] = w2_other_regime(args, "fresh")
        except Exception as exc:
            traceback.print_exc()
            results["errors"]["w2 with fresh pages"] = f"{type(exc).__name__}: {exc}"
    results["env"]["load_end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())

    text = report.render(results, cfg)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(text)
    out_json.write_text(json.dumps(_jsonable(results), indent=1) + "\n")
    print(text)
    print(f"written: {out_md}, {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
