"""Run the benchmark suite and write the results table (``make bench``).

python benchmarks/run.py            # full run: writes benchmarks/README.md and results.json
python benchmarks/run.py --quick    # smoke run: writes out/bench-quick.md and .json
python benchmarks/run.py --only w1 w3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
    parser.add_argument("--output", type=Path, help="markdown file to write")
    args = parser.parse_args(argv)
    if args.threads:
        limit_threads(args.threads)
    if args.cpu_time:
        os.environ["BENCH_CLOCK"] = "cpu"
    # Imported here, after the thread limits are in the environment.
    from benchmarks import environment, report, w1_chain, w2_mlp, w3_tanh, w4_scale, w5_memory
    from benchmarks.common import Config

    runners = {"w1": w1_chain.run, "w2": w2_mlp.run, "w3": w3_tanh.run, "w4": w4_scale.run,
               "w5": w5_memory.run}  # fmt: skip
    cfg = Config.make(args.quick)
    default_out = ROOT / ("out/bench-quick.md" if args.quick else "benchmarks/README.md")
    out_md = args.output or default_out
    out_json = out_md.with_name("results.json" if out_md.name == "README.md" else
                                out_md.stem + ".json")  # fmt: skip

    warnings.simplefilter("ignore")  # peers' deprecation chatter is not a result
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    results: dict = {"env": environment.collect(), "errors": {}}
    results["env"]["threads"] = str(args.threads or "default (all cores)")
    results["env"]["clock"] = "process CPU time" if args.cpu_time else "wall time"
    for name in args.only or WORKLOADS:
        start = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            results[name] = runners[name](cfg)
        except Exception as exc:  # one broken workload still leaves the others' table
            traceback.print_exc()
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
        print(f"   {time.perf_counter() - start:.0f} s", flush=True)
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
