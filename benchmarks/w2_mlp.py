"""W2 mlp: batch 128, 784-512-512-10, tanh, softmax cross-entropy averaged over the batch.

The gradient of the loss for all six parameter arrays, in float64 and float32. W5 reuses
this problem at batch 1024.
"""

from __future__ import annotations

import numpy as np

from benchmarks import compile_times, peers_pytensor
from benchmarks.common import (
    Config,
    load,
    measure_contestants,
    median_phases,
    time_round_robin,
    timed_first_call,
)

SIZES = (784, 512, 512, 10)
BATCH = 128


def make_problem(batch: int, dtype, seed: int = 0):
    """(params, x, labels, one-hot labels); params are (w1, b1, w2, b2, w3, b3)."""
    rng = np.random.default_rng(seed)
    params = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        params.append((rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(dtype))
        params.append((0.1 * rng.standard_normal(fan_out)).astype(dtype))
    x = rng.standard_normal((batch, SIZES[0])).astype(dtype)
    labels = rng.integers(0, SIZES[-1], batch)
    onehot = np.eye(SIZES[-1], dtype=dtype)[labels]
    return tuple(params), x, labels, onehot


def mlp_loss(xp, params, x, onehot):
    """The loss, written once for numpy (tracegrad), autograd.numpy and jax.numpy."""
    w1, b1, w2, b2, w3, b3 = params
    h1 = xp.tanh(x @ w1 + b1)
    h2 = xp.tanh(h1 @ w2 + b2)
    z = h2 @ w3 + b3
    z = z - xp.max(z, axis=1, keepdims=True)
    logp = z - xp.log(xp.sum(xp.exp(z), axis=1, keepdims=True))
    return -xp.sum(onehot * logp) / x.shape[0]


# ----- hand-written NumPy -----


def numpy_grad(params, x, labels) -> list[np.ndarray]:
    """Forward and backward by hand, as an expert writes it for speed and memory: bias
    and tanh in place, softmax in place on the logits, the softmax-cross-entropy
    gradient (p - onehot) / batch formed without a one-hot matrix, tanh' = 1 - h^2
    computed in the dead activation buffers, and the last backward product written
    into a dead buffer; dead arrays are released as soon as they are."""
    w1, b1, w2, b2, w3, b3 = params
    n = x.shape[0]
    h1 = x @ w1
    h1 += b1
    np.tanh(h1, out=h1)
    h2 = h1 @ w2
    h2 += b2
    np.tanh(h2, out=h2)
    dz = h2 @ w3
    dz += b3
    dz -= dz.max(axis=1, keepdims=True)
    np.exp(dz, out=dz)
    dz /= dz.sum(axis=1, keepdims=True)
    dz[np.arange(n), labels] -= 1.0
    dz /= n
    gw3 = h2.T @ dz
    gb3 = dz.sum(axis=0)
    da2 = dz @ w3.T
    del dz
    np.multiply(h2, h2, out=h2)
    np.subtract(1.0, h2, out=h2)
    da2 *= h2
    gw2 = h1.T @ da2
    gb2 = da2.sum(axis=0)
    da1 = np.matmul(da2, w2.T, out=h2)
    del da2, h2
    np.multiply(h1, h1, out=h1)
    np.subtract(1.0, h1, out=h1)
    da1 *= h1
    del h1
    gw1 = x.T @ da1
    gb1 = da1.sum(axis=0)
    return [gw1, gb1, gw2, gb2, gw3, gb3]


def numpy_plain_grad(params, x, onehot) -> list[np.ndarray]:
    """The same gradient as a tutorial writes it: one expression per step, no buffer
    reuse. Not the baseline; shown beside it, since memory ratios depend on it."""
    w1, b1, w2, b2, w3, b3 = params
    n = x.shape[0]
    h1 = np.tanh(x @ w1 + b1)
    h2 = np.tanh(h1 @ w2 + b2)
    z = h2 @ w3 + b3
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    dz = (p - onehot) / n
    da2 = (dz @ w3.T) * (1 - h2**2)
    da1 = (da2 @ w2.T) * (1 - h1**2)
    return [x.T @ da1, da1.sum(axis=0), h1.T @ da2, da2.sum(axis=0), h2.T @ dz, dz.sum(axis=0)]


def blas_floor(params, x):
    """The eight matrix products any gradient of this loss needs, into preallocated
    buffers: the time no implementation can go below on this BLAS."""
    w1, _, w2, _, w3, _ = params
    n = x.shape[0]
    dt = x.dtype
    h1, h2, z = (np.ones((n, k), dt) * 0.1 for k in SIZES[1:])
    outs = [np.empty(s, dt) for s in ((n, 512), (n, 512), (n, 10), (512, 10), (n, 512),
                                      (512, 512), (n, 512), (784, 512))]  # fmt: skip

    def fn():
        np.matmul(x, w1, out=outs[0])
        np.matmul(h1, w2, out=outs[1])
        np.matmul(h2, w3, out=outs[2])
        np.matmul(h2.T, z, out=outs[3])
        np.matmul(z, w3.T, out=outs[4])
        np.matmul(h1.T, h2, out=outs[5])
        np.matmul(h2, w2.T, out=outs[6])
        np.matmul(x.T, h1, out=outs[7])
        return outs

    return fn


# ----- contestants: each returns (fn, compile seconds) -----


def make_numpy(params, x, labels, onehot):
    return (lambda: numpy_grad(params, x, labels)), None


def make_numpy_plain(params, x, labels, onehot):
    return (lambda: numpy_plain_grad(params, x, onehot)), None


def make_tracegrad(params, x, labels, onehot):
    compiler = load("tracegrad")

    def loss(params, x, onehot):
        return mlp_loss(np, params, x, onehot)

    df = compiler.grad(loss)
    compile_s = timed_first_call(lambda: df(params, x, onehot))
    return (lambda: list(df(params, x, onehot))), compile_s


def make_autograd(params, x, labels, onehot):
    load("autograd")
    import autograd
    import autograd.numpy as anp

    df = autograd.grad(lambda p, x, y: mlp_loss(anp, p, x, y))
    return (lambda: list(df(params, x, onehot))), None


def make_dezero(params, x, labels, onehot):
    dezero = load("dezero")
    import dezero.functions as F

    ps = [dezero.Variable(p) for p in params]

    def fn():
        for p in ps:
            p.cleargrad()
        w1, b1, w2, b2, w3, b3 = ps
        h1 = F.tanh(F.linear(x, w1, b1))
        h2 = F.tanh(F.linear(h1, w2, b2))
        loss = F.softmax_cross_entropy(F.linear(h2, w3, b3), labels)
        loss.backward()
        return [p.grad.data for p in ps]

    return fn, None


def make_torch(params, x, labels, onehot):
    torch = load("torch")
    ps = [torch.from_numpy(p).requires_grad_() for p in params]
    xt, tt = torch.from_numpy(x), torch.from_numpy(labels)
    cross_entropy = torch.nn.functional.cross_entropy

    def fn():
        w1, b1, w2, b2, w3, b3 = ps
        h1 = torch.tanh(torch.addmm(b1, xt, w1))
        h2 = torch.tanh(torch.addmm(b2, h1, w2))
        loss = cross_entropy(torch.addmm(b3, h2, w3), tt)
        return [g.numpy() for g in torch.autograd.grad(loss, ps)]

    return fn, None


def make_jax(params, x, labels, onehot):
    jax = load("jax")
    import jax.numpy as jnp

    df = jax.jit(jax.grad(lambda p, x, y: mlp_loss(jnp, p, x, y)))
    pj, xj, yj = jax.device_put((params, x, onehot))

    def fn():
        return list(jax.block_until_ready(df(pj, xj, yj)))

    compile_s = timed_first_call(fn)
    return fn, compile_s


def make_pytensor(params, x, labels, onehot, contestant: str):
    def loss(pt, *inputs):
        return mlp_loss(pt, inputs[:6], inputs[6], inputs[7])

    return peers_pytensor.make_gradient(loss, [*params, x, onehot], range(6), contestant)


MAKERS = {
    "numpy": make_numpy,
    "numpy_plain": make_numpy_plain,
    "tracegrad": make_tracegrad,
    "autograd": make_autograd,
    "dezero": make_dezero,
    "torch": make_torch,
    "jax": make_jax,
    "pytensor_numba": lambda *problem: make_pytensor(*problem, "pytensor_numba"),
    "pytensor_c": lambda *problem: make_pytensor(*problem, "pytensor_c"),
}


def compile_problem():
    """(maker arguments, reference gradient, dtype) in float64: what ``compile_times`` runs."""
    params, x, labels, onehot = make_problem(BATCH, np.float64)
    return (params, x, labels, onehot), numpy_grad(params, x, labels), np.float64


def tracegrad_phases(problem, repeats: int) -> dict[str, float]:
    compiler = load("tracegrad")
    params, x, _, onehot = problem

    def build_and_call():
        def loss(params, x, onehot):
            return mlp_loss(np, params, x, onehot)

        df = compiler.grad(loss)
        df(params, x, onehot)
        return df

    return median_phases(build_and_call, repeats)


def tracegrad_ops(problem) -> dict[str, int]:
    """How many nodes of each op the optimised gradient graph has."""
    compiler = load("tracegrad")
    params, x, _, onehot = problem
    g = compiler.grad(lambda p, x, y: mlp_loss(np, p, x, y)).trace(params, x, onehot)
    counts: dict[str, int] = {}
    for _, op in g.nodes(data="op"):
        counts[op] = counts.get(op, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def run_dtype(cfg: Config, dtype, compiles: dict) -> dict:
    problem = make_problem(BATCH, dtype)
    params, x, labels, onehot = problem
    ref = numpy_grad(params, x, labels)
    makers = {name: (lambda m=m: m(*problem)) for name, m in MAKERS.items()}
    cells = measure_contestants(compile_times.skip_timeouts(makers, compiles), ref, dtype, cfg)
    # The floor alone, beside the hand-written version it is a ratio to.
    floor = time_round_robin(
        {"numpy": lambda: numpy_grad(params, x, labels), "blas": blas_floor(params, x)},
        repeats=cfg.repeats,
        batch_seconds=cfg.batch_seconds,
    )
    out = {"cells": cells, "blas_floor_ratio": floor["blas"] / floor["numpy"]}
    try:
        out["phases"] = tracegrad_phases(problem, cfg.compile_repeats)
        out["ops"] = tracegrad_ops(problem)
    except Exception as exc:
        out["phases_error"] = f"{type(exc).__name__}: {exc}"
    return out


def run(cfg: Config) -> dict:
    compiles = compile_times.measure_workload("w2", MAKERS, cfg)  # float64
    return {"float64": run_dtype(cfg, np.float64, compiles),
            "float32": run_dtype(cfg, np.float32, compiles), "compile": compiles}  # fmt: skip
