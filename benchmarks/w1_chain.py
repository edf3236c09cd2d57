"""W1 chain-small: x float64[16]; 300 times y = sin(y)*0.9 + cos(y)*0.1 + y*0.01; loss = sum(y).

One gradient evaluation per call; every contestant compiles (if it does) outside the timing.
"""

from __future__ import annotations

import numpy as np

from benchmarks import compile_times, peers_pytensor
from benchmarks.common import Config, load, measure_contestants, median_phases, timed_first_call

STEPS = 300
SIZE = 16


def chain_loss(xp, y):
    """The workload, written once for every namespace with sin, cos and sum (numpy,
    autograd.numpy, jax.numpy, torch, dezero.functions)."""
    for _ in range(STEPS):
        y = xp.sin(y) * 0.9 + xp.cos(y) * 0.1 + y * 0.01
    return xp.sum(y)


def make_input() -> np.ndarray:
    return np.random.default_rng(1).uniform(-1.0, 1.0, SIZE)


# ----- hand-written NumPy -----


def numpy_grad(x: np.ndarray) -> list[np.ndarray]:
    """Forward keeping sin(y) and cos(y) of every step, backward multiplying the local
    derivatives 0.9 cos(y) - 0.1 sin(y) + 0.01, in place where a buffer is dead."""
    sins, coss = [], []
    y = x
    for _ in range(STEPS):
        s = np.sin(y)
        c = np.cos(y)
        sins.append(s)
        coss.append(c)
        t = s * 0.9
        t += c * 0.1
        t += y * 0.01
        y = t
    g = np.ones_like(x)
    for s, c in zip(reversed(sins), reversed(coss)):
        c *= 0.9
        s *= 0.1
        c -= s
        c += 0.01
        g *= c
    return [g]


# ----- contestants: each returns (fn, compile seconds) -----


def make_numpy(x):
    return (lambda: numpy_grad(x)), None


def make_tracegrad(x):
    compiler = load("tracegrad")

    def loss(y):
        return chain_loss(np, y)

    df = compiler.grad(loss)
    compile_s = timed_first_call(lambda: df(x))
    return (lambda: [df(x)]), compile_s


def make_autograd(x):
    load("autograd")
    import autograd
    import autograd.numpy as anp

    df = autograd.grad(lambda y: chain_loss(anp, y))
    return (lambda: [df(x)]), None


def make_dezero(x):
    dezero = load("dezero")
    import dezero.functions as F

    def fn():
        xv = dezero.Variable(x)
        chain_loss(F, xv).backward()
        return [xv.grad.data]

    return fn, None


def make_torch(x):
    torch = load("torch")
    xt = torch.from_numpy(x)

    def fn():
        xv = xt.detach().requires_grad_()
        (g,) = torch.autograd.grad(chain_loss(torch, xv), xv)
        return [g.numpy()]

    return fn, None


def make_jax(x):
    jax = load("jax")
    import jax.numpy as jnp

    df = jax.jit(jax.grad(lambda y: chain_loss(jnp, y)))
    xj = jax.device_put(x)
    compile_s = timed_first_call(lambda: df(xj).block_until_ready())
    return (lambda: [df(xj).block_until_ready()]), compile_s


def make_pytensor(x, contestant: str):
    return peers_pytensor.make_gradient(chain_loss, [x], [0], contestant)


MAKERS = {
    "numpy": make_numpy,
    "tracegrad": make_tracegrad,
    "autograd": make_autograd,
    "dezero": make_dezero,
    "torch": make_torch,
    "jax": make_jax,
    "pytensor_numba": lambda x: make_pytensor(x, "pytensor_numba"),
    "pytensor_c": lambda x: make_pytensor(x, "pytensor_c"),
}


def compile_problem():
    """(maker arguments, reference gradient, dtype): what ``compile_times`` runs."""
    x = make_input()
    return (x,), numpy_grad(x), np.float64


def tracegrad_phases(x, repeats: int) -> dict[str, float]:
    compiler = load("tracegrad")

    def build_and_call():
        def loss(y):
            return chain_loss(np, y)

        df = compiler.grad(loss)
        df(x)
        return df

    return median_phases(build_and_call, repeats)


def run(cfg: Config) -> dict:
    compiles = compile_times.measure_workload("w1", MAKERS, cfg)
    x = make_input()
    ref = numpy_grad(x)
    makers = {name: (lambda m=m: m(x)) for name, m in MAKERS.items()}
    cells = measure_contestants(compile_times.skip_timeouts(makers, compiles), ref, np.float64,
                                cfg)  # fmt: skip
    out = {"cells": cells, "compile": compiles}
    try:
        out["phases"] = tracegrad_phases(x, cfg.compile_repeats)
        df = load("tracegrad").grad(lambda y: chain_loss(np, y))
        out["nodes"] = df.trace(x).number_of_nodes()
    except Exception as exc:
        out["phases_error"] = f"{type(exc).__name__}: {exc}"
    return out
