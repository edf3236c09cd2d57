"""Fit logistic regression by full-batch gradient descent on data that never sits in memory.

The dataset is generated lazily by Dask, chunk by chunk: rows of standard-normal
features and labels drawn from a known weight vector (``--rows`` x ``--features``;
the default is 100 million rows by 20, 16 GB of float64, more than this machine's free
memory would comfortably hold). The loss is plain NumPy code; ``value_and_grad(loss)``
sees Dask arrays, chooses the Dask back end (its generated source says so) and
returns lazy Dask arrays: each epoch computes the loss and the full-batch gradient in
one pass over the data on a ``LocalCluster`` of worker processes with a memory limit
(or the cluster at ``--scheduler``), then updates the NumPy weights here.

    python examples/out_of_core.py                 # 16 GB, a few minutes per epoch
    python examples/out_of_core.py --small         # 200,000 rows (``make demo``)

It prints the Dask dashboard's address when one runs (it needs ``bokeh``), and the
loss, gradient norm, rows per second and the angle to the true weights per epoch.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.distributed import Client, LocalCluster
except ImportError:  # pragma: no cover - the example explains itself
    raise SystemExit("this example needs Dask: pip install 'tracegrad[dask]'") from None

from compiler import value_and_grad


def loss(w, X, y):
    """Mean logistic loss of labels y (0/1) for scores X @ w."""
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


def dataset(rows: int, features: int, chunk_rows: int, seed: int = 0):
    """Lazily generated features, labels and the weights the labels came from."""
    w_true = np.random.default_rng(seed).standard_normal(features)
    rs = da.random.RandomState(seed)
    X = rs.standard_normal((rows, features), chunks=(chunk_rows, features))
    noise = rs.logistic(size=rows, chunks=chunk_rows)
    y = (X @ w_true + noise > 0).astype(np.float64)
    return X, y, w_true


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="200,000 rows, 5 epochs (make demo)")
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--chunk-rows", type=int, default=500_000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="1GiB", help="per worker (LocalCluster)")
    ap.add_argument("--scheduler", help="address of a running Dask scheduler to use instead")
    args = ap.parse_args(argv)
    if args.small:
        args.rows, args.chunk_rows, args.epochs = 200_000, 25_000, 5
        args.memory_limit = "500MiB"

    has_bokeh = importlib.util.find_spec("bokeh") is not None
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        dashboard = ":0" if has_bokeh else None
        cluster = LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True,
            memory_limit=args.memory_limit, dashboard_address=dashboard,
        )  # fmt: skip
        client = Client(cluster)
    with client:
        services = client.scheduler_info().get("services", {})
        link = client.dashboard_link if has_bokeh and "dashboard" in services else None
        print(f"Dask: {len(client.scheduler_info()['workers'])} workers; dashboard: "
              f"{link or 'none (pip install bokeh for one)'}")  # fmt: skip
        X, y, w_true = dataset(args.rows, args.features, args.chunk_rows)
        print(f"data: {args.rows:,} rows x {args.features} features = {X.nbytes / 2**30:.2f} GiB "
              f"in {X.npartitions} chunks, generated lazily")  # fmt: skip
        vg = value_and_grad(loss)  # the Dask back end is chosen for X and y
        w = np.zeros(args.features)
        print(vg.source(w, X, y).splitlines()[7].strip())  # "# backend: dask -- ..."
        for epoch in range(1, args.epochs + 1):
            start = time.perf_counter()
            value, g = dask.compute(*vg(w, X, y))  # one pass over the data
            seconds = time.perf_counter() - start
            w = w - args.lr * g
            cos = w @ w_true / (np.linalg.norm(w) * np.linalg.norm(w_true) + 1e-300)
            print(f"epoch {epoch:2d}: loss {value:.5f}  |grad| {np.linalg.norm(g):.2e}  "
                  f"{args.rows / seconds:,.0f} rows/s  angle to w_true "
                  f"{np.degrees(np.arccos(np.clip(cos, -1, 1))):.1f} deg", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
