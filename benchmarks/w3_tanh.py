"""W3 tanh-nth: graph size of the n-th derivative of tanh (n = 1..8), evaluation time at n = 8.

Sizes: tracegrad's optimised gradient graph (``number_of_nodes``, and its ops without
inputs and constants); DeZero's functions in the graph of ``x.grad`` after n backward
passes with ``create_graph=True``; torch's autograd nodes (``grad_fn`` objects, without
``AccumulateGrad``) after n nested ``autograd.grad(create_graph=True)``; JAX's jaxpr
equations of ``grad`` applied n times, and the instructions of XLA's optimised HLO;
PyTensor's apply nodes after ``pytensor.grad`` n times, and after its default mode's
rewrites (nodes left, scalar ops fused into them).
The reference values come from the closed form: the n-th derivative is P_n(tanh x)
with P_0(t) = t, P_{k+1}(t) = P_k'(t) (1 - t^2).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import Polynomial

from benchmarks import compile_times, peers_pytensor
from benchmarks.common import (
    Cell,
    Config,
    failed,
    load,
    measure_contestants,
    median_phases,
    timed_first_call,
)

ORDERS = range(1, 9)
X = 0.5


def tanh_polynomial(n: int) -> Polynomial:
    p = Polynomial([0.0, 1.0])
    one_minus_t2 = Polynomial([1.0, 0.0, -1.0])
    for _ in range(n):
        p = p.deriv() * one_minus_t2
    return p


# ----- contestants at order n: each returns (fn, compile seconds) -----


def make_numpy(n):
    p = tanh_polynomial(n)
    x = np.float64(X)
    return (lambda: [p(np.tanh(x))]), None


def tracegrad_nth(n):
    compiler = load("tracegrad")
    f = np.tanh
    for _ in range(n):
        f = compiler.grad(f)
    return f


def _build_and_call(n):
    f = tracegrad_nth(n)
    f(np.array(X))
    return f


def make_tracegrad(n):
    x = np.array(X)
    f = tracegrad_nth(n)
    compile_s = timed_first_call(lambda: f(x))
    return (lambda: [f(x)]), compile_s


def make_autograd(n):
    load("autograd")
    import autograd
    import autograd.numpy as anp

    f = anp.tanh
    for _ in range(n):
        f = autograd.grad(f)
    return (lambda: [f(X)]), None


def dezero_nth(n):
    dezero = load("dezero")
    import dezero.functions as F

    x = dezero.Variable(np.array(X))
    F.tanh(x).backward(create_graph=True)
    for _ in range(n - 1):
        gx = x.grad
        x.cleargrad()
        gx.backward(create_graph=True)
    return x.grad


def make_dezero(n):
    return (lambda: [dezero_nth(n).data]), None


def torch_nth(n):
    torch = load("torch")
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    y = torch.tanh(x)
    for _ in range(n):
        (y,) = torch.autograd.grad(y, x, create_graph=True)
    return y


def make_torch(n):
    return (lambda: [torch_nth(n).detach().numpy()]), None


def jax_nth(n):
    jax = load("jax")
    import jax.numpy as jnp

    f = jnp.tanh
    for _ in range(n):
        f = jax.grad(f)
    return f


def make_jax(n):
    jax = load("jax")
    f = jax.jit(jax_nth(n))
    x = jax.device_put(np.float64(X))
    compile_s = timed_first_call(lambda: f(x).block_until_ready())
    return (lambda: [f(x).block_until_ready()]), compile_s


MAKERS = {
    "numpy": make_numpy,
    "tracegrad": make_tracegrad,
    "autograd": make_autograd,
    "dezero": make_dezero,
    "torch": make_torch,
    "jax": make_jax,
    "pytensor_numba": lambda n: peers_pytensor.make_tanh_nth(n, X, "pytensor_numba"),
    "pytensor_c": lambda n: peers_pytensor.make_tanh_nth(n, X, "pytensor_c"),
}


def compile_problem():
    """(maker arguments, reference value, dtype) at n = 8: what ``compile_times`` runs."""
    n = max(ORDERS)
    return (n,), [tanh_polynomial(n)(np.tanh(X))], np.float64


# ----- graph sizes -----


def tracegrad_size(n) -> Cell:
    g = tracegrad_nth(n).trace(np.array(X))
    ops = sum(1 for _, op in g.nodes(data="op") if op not in ("input", "const"))
    return Cell(g.number_of_nodes(), "", {"ops": ops})


def dezero_size(n) -> Cell:
    gx = dezero_nth(n)
    funcs, stack = set(), [gx]
    while stack:
        f = stack.pop().creator
        if f is None or f in funcs:
            continue
        funcs.add(f)
        stack.extend(f.inputs)
    return Cell(len(funcs))


def torch_size(n) -> Cell:
    y = torch_nth(n)
    seen, stack = set(), [y.grad_fn]
    while stack:
        f = stack.pop()
        if f is None or f in seen:
            continue
        seen.add(f)
        stack.extend(g for g, _ in f.next_functions)
    return Cell(sum(1 for f in seen if type(f).__name__ != "AccumulateGrad"))


def _count_eqns(jaxpr) -> int:
    """Equations, counting those of sub-jaxprs (pjit, custom_jvp) instead of the call."""
    total = 0
    for eqn in jaxpr.eqns:
        subs = []
        for v in eqn.params.values():
            for s in v if isinstance(v, (tuple, list)) else (v,):
                if hasattr(s, "eqns"):
                    subs.append(s)
                elif hasattr(getattr(s, "jaxpr", None), "eqns"):
                    subs.append(s.jaxpr)
        total += sum(_count_eqns(s) for s in subs) if subs else 1
    return total


def jax_size(n) -> Cell:
    jax = load("jax")
    f = jax_nth(n)
    x = np.float64(X)
    eqns = _count_eqns(jax.make_jaxpr(f)(x).jaxpr)
    hlo = jax.jit(f).lower(x).compile().as_text()
    instructions = sum(1 for line in hlo.splitlines() if " = " in line and line.startswith("  "))
    return Cell(eqns, "", {"hlo": instructions})


SIZERS = {"tracegrad": tracegrad_size, "dezero": dezero_size, "torch": torch_size, "jax": jax_size,
          "pytensor": peers_pytensor.tanh_nth_size}  # fmt: skip


def sizes() -> dict[str, dict[int, Cell]]:
    out: dict[str, dict[int, Cell]] = {}
    for name, sizer in SIZERS.items():
        out[name] = {}
        for n in ORDERS:
            try:
                out[name][n] = sizer(n)
            except Exception as exc:  # unavailable or broken: reported in the table
                note = str(exc) if exc.__class__.__name__ == "Unavailable" else (
                    f"error: {type(exc).__name__}: {exc}".splitlines()[0][:160])  # fmt: skip
                out[name][n] = failed(note)
                if exc.__class__.__name__ == "Unavailable":
                    break
    return out


def run(cfg: Config) -> dict:
    compiles = compile_times.measure_workload("w3", MAKERS, cfg)
    n = max(ORDERS)
    ref = [tanh_polynomial(n)(np.tanh(X))]
    makers = {name: (lambda m=m: m(n)) for name, m in MAKERS.items()}
    cells = measure_contestants(compile_times.skip_timeouts(makers, compiles), ref, np.float64,
                                cfg)  # fmt: skip
    out = {"cells": cells, "sizes": sizes(), "compile": compiles}
    try:
        out["phases"] = median_phases(lambda: _build_and_call(n), cfg.compile_repeats)
    except Exception as exc:
        out["phases_error"] = f"{type(exc).__name__}: {exc}"
    return out
