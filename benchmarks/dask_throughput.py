"""Dask back end throughput: rows per second of a logistic-regression gradient, against NumPy.

The loss of ``examples/out_of_core.py`` (mean logistic loss, ``value_and_grad``:
value and full-batch gradient) on a dataset that fits in memory (default 1,000,000
rows x 20 features, float64, 160 MB), already materialised, so only the gradient is
timed (no data generation):

- ``numpy``: the NumPy back end on the NumPy arrays (one process);
- ``dask threads``: the Dask back end on the same arrays as Dask arrays of
  ``--chunk-rows`` rows, run by Dask's threaded scheduler in this process;
- ``dask cluster``: the same on a ``LocalCluster`` of 2 worker processes (1 thread each),
  the chunks persisted on the workers beforehand.

Each variant: one warm-up call (tracing and code generation), then the median of
``--repeats`` calls, each ending with the values in this process. ``python -m
benchmarks.dask_throughput`` prints the table and writes it to ``benchmarks/dask.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("dask.md")


def loss(w, X, y):
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: trace, optimise, generate code
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--chunk-rows", type=int, default=125_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    import dask
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    from compiler import value_and_grad

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features))
    y = (X @ rng.standard_normal(args.features) > 0).astype(np.float64)
    w = np.full(args.features, 0.1)
    Xd = da.from_array(X, chunks=(args.chunk_rows, args.features))
    yd = da.from_array(y, chunks=args.chunk_rows)
    vg = value_and_grad(loss)
    want = vg(w, X, y)

    rows = {}
    rows["numpy"] = timed(lambda: vg(w, X, y), args.repeats)
    with dask.config.set(scheduler="threads"):
        got = dask.compute(*vg(w, Xd, yd))
        np.testing.assert_allclose(got[1], want[1], rtol=1e-10)
        rows["dask threads"] = timed(lambda: dask.compute(*vg(w, Xd, yd)), args.repeats)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                     dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        Xp, yp = client.persist([Xd, yd])
        got = dask.compute(*vg(w, Xp, yp))
        np.testing.assert_allclose(got[1], want[1], rtol=1e-10)
        rows["dask cluster (2 processes)"] = timed(
            lambda: dask.compute(*vg(w, Xp, yp)), args.repeats
        )

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    base = rows["numpy"]
    mb = X.nbytes / 1e6
    lines = [
        f"### Dask back end: rows per second of the logistic-regression gradient "
        f"({args.rows:,} x {args.features} float64, {mb:.0f} MB, in memory)",
        "",
        "| back end | chunks | median time | rows/s | vs numpy |",
        "| --- | --- | --- | --- | --- |",
    ]
    chunks = f"{Xd.npartitions} x {args.chunk_rows:,} rows"
    for name, t in rows.items():
        what = "one array" if name == "numpy" else chunks
        lines.append(
            f"| {name} | {what} | {t * 1e3:.0f} ms | {args.rows / t:,.0f} | {base / t:.2f}x |"
        )
    lines += [
        "",
        f"`value_and_grad` of `examples/out_of_core.py`'s loss; median of {args.repeats} calls "
        f"after a warm-up, each returning NumPy values; {os.cpu_count()} cores, load average "
        f"{load} at the end. The Dask rows include building the Dask graph (about 200 tasks) "
        "and scheduling it. `python -m benchmarks.dask_throughput` measures it.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        OUT.write_text(text)
    return text


if __name__ == "__main__":
    main()
