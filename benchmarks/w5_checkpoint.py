"""W5 with checkpoint: peak memory of the W2 gradient when the hidden layers are rematerialised.

The W5 workload (the W2 MLP's gradient, float64, batch 1024), measured exactly as
``benchmarks.w5_memory`` measures it (each variant in a fresh subprocess: growth of
the peak resident set during one call, and tracemalloc's peak), for tracegrad's
``grad`` of the loss as written (``plain``) and of the same loss with its two hidden
layers wrapped in ``compiler.checkpoint`` (``checkpoint``): their activation ``h1``
is then not kept for the backward pass but recomputed from ``x`` when the backward
pass reaches the layers. Each child also checks its gradient against the plain one,
bit for bit. ``python -m benchmarks.w5_checkpoint`` prints the table and writes it to
``benchmarks/checkpoint.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks import w2_mlp
from benchmarks.w5_memory import CHILD_ENV, REPEATS, peak_rss_growth, peak_tracemalloc

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "checkpoint")
OUT = Path(__file__).with_name("checkpoint.md")


def hidden(params, x):
    """The two tanh layers of W2's network (what ``checkpoint`` wraps)."""
    w1, b1, w2, b2 = params
    h1 = np.tanh(x @ w1 + b1)
    return np.tanh(h1 @ w2 + b2)


def head(h2, w3, b3, onehot, n):
    """The output layer and the softmax cross-entropy, as ``w2_mlp.mlp_loss`` writes them."""
    z = h2 @ w3 + b3
    z = z - np.max(z, axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.sum(onehot * logp) / n


def make_grads():
    """(plain gradient, checkpointed gradient): tracegrad gradient functions of the W2 loss."""
    from compiler import checkpoint, grad

    hidden_ckpt = checkpoint(hidden)

    def plain(params, x, onehot):
        return w2_mlp.mlp_loss(np, params, x, onehot)

    def checkpointed(params, x, onehot):
        w1, b1, w2, b2, w3, b3 = params
        return head(hidden_ckpt((w1, b1, w2, b2), x), w3, b3, onehot, x.shape[0])

    return grad(plain), grad(checkpointed)


def child(variant: str, batch: int) -> None:
    params, x, labels, onehot = w2_mlp.make_problem(batch, np.float64)
    plain, checkpointed = make_grads()
    df = plain if variant == "plain" else checkpointed
    want = plain(params, x, onehot)
    got = df(params, x, onehot)
    same = all(np.array_equal(a, b) for a, b in zip(got, want))
    ref = w2_mlp.numpy_grad(params, x, labels)
    err = max(float(np.max(np.abs(a - b))) for a, b in zip(got, ref))
    graph = df.trace(params, x, onehot)
    nodes = graph.nodes
    recomputed = sum(  # ops copied from the forward pass (not the barriers they read through)
        1
        for _, d in nodes(data=True)
        if d.get("recompute") in nodes and nodes[d["recompute"]]["op"] == d["op"]
    )
    del want, got
    fn = lambda: list(df(params, x, onehot))  # noqa: E731
    fn()
    rss = [peak_rss_growth(fn) for _ in range(REPEATS)]
    tm = [peak_tracemalloc(fn) for _ in range(2)]
    print(json.dumps({"rss": statistics.median(rss), "tracemalloc": min(tm), "same": same,
                      "err": err, "recomputed": recomputed}))  # fmt: skip


def measure(variant: str, batch: int, timeout: float = 600) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.w5_checkpoint", "--child", variant,
           "--batch", str(batch)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **CHILD_ENV}, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{variant} failed (exit {proc.returncode}): {proc.stderr[-400:]}")
    return json.loads(lines[-1])


def table(results: dict, batch: int) -> str:
    base = results["plain"]
    mib = lambda b: f"{b / 2**20:.1f} MiB"  # noqa: E731
    lines = [
        f"### W5 with checkpoint: peak of one W2 gradient (float64, batch {batch:,})",
        "",
        "| tracegrad gradient | peak RSS growth | vs plain | tracemalloc peak | vs plain "
        "| recomputed ops | bit-identical to plain |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        label = "plain `grad(loss)`" if name == "plain" else "hidden layers in `checkpoint`"
        lines.append(
            f"| {label} | {mib(r['rss'])} | {r['rss'] / base['rss']:.2f}x "
            f"| {mib(r['tracemalloc'])} | {r['tracemalloc'] / base['tracemalloc']:.2f}x "
            f"| {r['recomputed']} "
            f"| {'yes' if r['same'] else 'NO'} |"
        )
    ck = results["checkpoint"]
    lines += [
        "",
        f"`checkpoint` lowers the peak by {(base['rss'] - ck['rss']) / 2**20:.1f} MiB "
        f"({1 - ck['rss'] / base['rss']:.0%}; tracemalloc: "
        f"{(base['tracemalloc'] - ck['tracemalloc']) / 2**20:.1f} MiB, "
        f"{1 - ck['tracemalloc'] / base['tracemalloc']:.0%}). The plain gradient keeps the "
        "first layer's activation `h1` (4 MiB) through the backward pass of the head and of "
        "the second layer, beside `1 - h1**2` (computed as soon as `h1` exists); with "
        "`checkpoint`, `h1` is freed once the second layer has read it and recomputed from "
        "`x` (one matmul, add and tanh) when the backward pass reaches the first layer. "
        "`python -m benchmarks.w5_checkpoint` measures it (each variant in a fresh process, "
        "as W5 does).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=VARIANTS)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batch)
        return
    results = {v: measure(v, args.batch) for v in VARIANTS}
    text = table(results, args.batch)
    print(text)
    if not args.no_write:
        OUT.write_text(text)


if __name__ == "__main__":
    main()
