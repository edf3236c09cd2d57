"""Threads: tracing, differentiating and running compiled code from 8 threads at once.

Each test starts its threads on a barrier so they really overlap, runs many
iterations, and checks every result against NumPy. The active trace lives in a
``ContextVar`` (per thread), caches fill under a lock (one trace per signature
even when 8 threads make the same first call together), and generated code keeps
its recycled (``out``) buffers per call.
"""

from __future__ import annotations

import threading

import numpy as np

from compiler import compile, grad, jvp, value_and_grad
from compiler.executor import Executable
from tracer import evaluate, trace

N_THREADS = 8
TIMEOUT = 60  # seconds a barrier waits before the test fails instead of hanging


def run_threads(work, n: int = N_THREADS) -> list:
    """Run ``work(i, barrier)`` in ``n`` threads; return their results (re-raising failures)."""
    barrier = threading.Barrier(n, timeout=TIMEOUT)
    results: list = [None] * n
    errors: list = []

    def target(i):
        try:
            results[i] = work(i, barrier)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]
    return results


def model(x, w):
    h = np.tanh(x @ w)
    return np.sum(h * h) + 0.5 * np.sum(np.exp(-x))


def model_grad(x, w):
    """d model / d x and d model / d w by hand."""
    h = np.tanh(x @ w)
    dh = 2 * h * (1 - h * h)
    return dh @ w.T - 0.5 * np.exp(-x), x.T @ dh


def inputs(i: int, rows: int = 4):
    rng = np.random.default_rng(i)
    return rng.standard_normal((rows, 3)), rng.standard_normal((3, 5))


# ----- caches under concurrent first calls -----


def test_concurrent_first_call_traces_once():
    x, w = inputs(0)
    expected = model(x, w)
    for _ in range(20):  # a fresh function each round: every round is a first call
        f = trace(model)

        def work(i, barrier, f=f):
            barrier.wait()
            return f(x, w)

        for got in run_threads(work):
            np.testing.assert_allclose(got, expected, rtol=1e-12)
        assert f.trace_count == 1
        assert len(f._cache) == 1


def test_concurrent_first_call_compiles_once():
    x, w = inputs(1)
    gx, gw = model_grad(x, w)
    for _ in range(10):
        fast, df = compile(model), grad(model, argnums=(0, 1))

        def work(i, barrier, fast=fast, df=df):
            barrier.wait()
            return fast(x, w), df(x, w)

        for value, (dx, dw) in run_threads(work):
            np.testing.assert_allclose(value, model(x, w), rtol=1e-12)
            np.testing.assert_allclose(dx, gx, rtol=1e-10)
            np.testing.assert_allclose(dw, gw, rtol=1e-10)
        for fn in (fast, df):
            assert fn.trace_count == 1
            assert len(fn._cache) == 1
            assert len(fn._executables) == 1  # one Executable per graph, never two


def test_concurrent_new_signatures_each_trace_once():
    f = trace(model)
    df = value_and_grad(model, argnums=1)

    def work(i, barrier):
        x, w = inputs(i, rows=1 + i % 4)  # 4 signatures, 2 threads each
        barrier.wait()
        out = []
        for _ in range(10):
            out.append((f(x, w), df(x, w)))
        return x, w, out

    for x, w, out in run_threads(work):
        for value, (v2, dw) in out:
            np.testing.assert_allclose(value, model(x, w), rtol=1e-12)
            np.testing.assert_allclose(v2, model(x, w), rtol=1e-12)
            np.testing.assert_allclose(dw, model_grad(x, w)[1], rtol=1e-10)
    assert f.trace_count == 4 and len(f._cache) == 4
    assert df.trace_count == 4


# ----- tracing state is per thread -----


def test_traces_overlapping_in_time_do_not_mix():
    # Each thread traces its own function; all of them wait on the barrier *inside* the
    # traced Python, so 8 traces are open at once. A shared trace would mix their nodes.
    def work(i, barrier):
        def fn(x):
            y = np.sin(x) * float(i + 1)
            barrier.wait()  # every thread is now in the middle of a trace
            for _ in range(i):
                y = y + 1.0
            return np.sum(y)

        f = trace(fn)
        x = np.linspace(0, 1, 3 + i)
        graph = f.trace(x)
        return i, x, graph, f(x), grad(fn)(x)

    for i, x, graph, value, g in run_threads(work):
        assert graph.graph["inputs"] == [0]
        ops = [d["op"] for d in graph.nodes.values()]
        assert ops.count("add") == i and ops.count("sin") == 1 and ops.count("sum") == 1
        assert all(tuple(d["shape"]) in ((3 + i,), ()) for d in graph.nodes.values())
        np.testing.assert_allclose(value, np.sum(np.sin(x) * (i + 1) + i), rtol=1e-12)
        np.testing.assert_allclose(g, np.cos(x) * (i + 1), rtol=1e-12)


def test_transformations_from_many_threads():
    def f(x):
        return np.sum(np.sin(x) ** 2)

    def work(i, barrier):
        x = np.linspace(-1, 1, 4) * (i + 1)
        t = np.ones_like(x)
        barrier.wait()
        out = []
        for _ in range(15):
            out.append((grad(f)(x), grad(lambda v: np.sum(grad(f)(v)))(x), jvp(f, (x,), (t,))))
        return x, out

    for x, out in run_threads(work):
        d1 = 2 * np.sin(x) * np.cos(x)
        d2 = 2 * np.cos(2 * x)
        for g1, g2, (value, tangent) in out:
            np.testing.assert_allclose(g1, d1, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(g2, d2, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(value, np.sum(np.sin(x) ** 2), rtol=1e-12)
            np.testing.assert_allclose(tangent, np.sum(d1), rtol=1e-10, atol=1e-12)


# ----- compiled code: buffers are per call -----


def chain_with_buffers(x):
    # elementwise ops on dying temporaries: the generated code recycles their buffers
    y = np.exp(x) * 0.5
    y = np.sin(y) + x
    y = np.tanh(y) * y
    return y - np.cos(x)


def test_compiled_code_shares_no_buffers_between_calls():
    fast = compile(chain_with_buffers)
    probe = np.zeros(64)
    # the test exercises buffer reuse (ufuncs take out as a positional argument)
    assert any(st.out for st in fast.executable(probe).schedule.steps)

    def work(i, barrier):
        rng = np.random.default_rng(i)
        xs = [rng.standard_normal(64) for _ in range(200)]
        barrier.wait()
        return xs, [fast(x) for x in xs]

    for xs, outs in run_threads(work):
        for x, got in zip(xs, outs):
            np.testing.assert_allclose(got, chain_with_buffers(x), rtol=1e-12)
    assert fast.trace_count == 1


def test_slot_machine_and_source_modes_from_many_threads():
    graph = grad(lambda x: np.sum(chain_with_buffers(x) ** 2)).trace(np.zeros(32))
    exes = [Executable(graph, mode="source"), Executable(graph, mode="slots")]
    assert any(st.out for st in exes[0].schedule.steps)

    def work(i, barrier):
        rng = np.random.default_rng(100 + i)
        xs = [rng.standard_normal(32) for _ in range(100)]
        barrier.wait()
        return xs, [(exes[0]([x])[0], exes[1]([x])[0]) for x in xs]

    for xs, outs in run_threads(work):
        for x, (a, b) in zip(xs, outs):
            expected = evaluate(graph, x)
            np.testing.assert_allclose(a, expected, rtol=1e-12)
            np.testing.assert_allclose(b, expected, rtol=1e-12)


def test_jvp_and_vjp_first_calls_from_many_threads_trace_once():
    from compiler import transforms, vjp

    x, w = inputs(3)
    gx, gw = model_grad(x, w)
    for _ in range(5):
        f = trace(model)  # one traced function; jvp and vjp cache their transforms per function

        def work(i, barrier, f=f):
            barrier.wait()
            value, tangent = jvp(f, (x, w), (np.ones_like(x), np.zeros_like(w)))
            value2, back = vjp(f, x, w)
            return value, tangent, value2, back(1.0)

        for value, tangent, value2, (dx, dw) in run_threads(work):
            np.testing.assert_allclose(value, model(x, w), rtol=1e-12)
            np.testing.assert_allclose(value2, model(x, w), rtol=1e-12)
            np.testing.assert_allclose(tangent, np.sum(gx), rtol=1e-10)
            np.testing.assert_allclose(dx, gx, rtol=1e-10)
            np.testing.assert_allclose(dw, gw, rtol=1e-10)
        assert f.trace_count == 1
        # one transformed function each, traced once (not one per racing thread)
        assert transforms._jvp_cache[f].trace_count == 1
        assert transforms._vjp_cache[f].trace_count == 1
