"""The Dask back end (``compiler.backends.dask_backend``): Dask arrays in, Dask arrays out.

Gradients over chunked data equal the NumPy back end's on the same data; the back end is
chosen for a Dask argument and says so in ``.source()``; nothing is computed while the
Dask graph is built; reductions over chunked axes are tree reductions; and on a
``LocalCluster`` of worker processes with a memory limit, a lazily generated dataset
several times larger than that limit yields its full-batch gradient with no worker
going past it.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

from models_testing import RTOL, classification_data, logreg, mlp, mlp_params  # noqa: E402

from compiler import compile, grad, value_and_grad  # noqa: E402
from compiler.backends import get_backend, select_backend  # noqa: E402
from compiler.backends.dask_backend import DaskBackend, LazyValues  # noqa: E402
from tracer import TracegradError, trace  # noqa: E402
from tracer.errors import EvaluationError  # noqa: E402


def data(dtype, n=2000, d=6, chunk=300, seed=0):
    X, y = classification_data(dtype, n, d, seed)
    return X, y, da.from_array(X, chunks=(chunk, d)), da.from_array(y, chunks=chunk)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_logistic_regression_gradient_over_chunks_equals_numpy(dtype):
    X, y, Xd, yd = data(dtype)
    w = np.linspace(-1, 1, X.shape[1]).astype(dtype)
    vg = value_and_grad(logreg)
    value, g = vg(w, Xd, yd)
    assert isinstance(value, da.Array) and isinstance(g, da.Array)  # lazy
    got_value, got_g = dask.compute(value, g)
    want_value, want_g = vg(w, X, y)
    assert got_g.dtype == want_g.dtype == dtype and got_g.shape == w.shape
    np.testing.assert_allclose(got_value, want_value, rtol=RTOL[dtype])
    np.testing.assert_allclose(got_g, want_g, rtol=RTOL[dtype], atol=RTOL[dtype] * 1e-2)
    closed = X.T @ (1 / (1 + np.exp(-(X @ w))) - y) / len(y)  # the closed form
    np.testing.assert_allclose(got_g, closed, rtol=RTOL[dtype] * 10, atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_layer_mlp_gradient_over_chunks_equals_numpy(dtype):
    X, y, Xd, yd = data(dtype, chunk=256)
    p = mlp_params(dtype)
    got = dask.compute(grad(mlp)(p, Xd, yd))[0]
    want = grad(mlp)(p, X, y)
    for k in p:
        assert got[k].shape == p[k].shape and got[k].dtype == dtype
        np.testing.assert_allclose(got[k], want[k], rtol=RTOL[dtype] * 10, atol=RTOL[dtype])


def test_backend_is_chosen_for_a_dask_argument_and_named_in_the_source():
    X, y, Xd, yd = data(np.float64, n=200, chunk=50)
    w = np.ones(X.shape[1])
    assert select_backend(None, [w, Xd]).name == "dask"
    assert select_backend(None, [w, X]).name == "numpy"
    g = grad(logreg)
    src = g.source(w, Xd, yd)
    assert "backend: dask" in src and "np.matmul(X, w)" in src
    assert ", out=" not in src and "np.array(" not in src  # no buffer reuse, no copies
    assert "backend: dask" not in g.source(w, X, y)
    g(w, Xd, yd), g(w, X, y)
    assert g.trace_count == 1  # one graph for NumPy and Dask arguments of one signature


def test_compute_true_returns_numpy_values():
    X, y, Xd, yd = data(np.float64, n=300, chunk=100)
    w = np.ones(X.shape[1])
    value, g = value_and_grad(logreg, backend=DaskBackend(compute=True))(w, Xd, yd)
    assert isinstance(g, np.ndarray) and isinstance(value, np.floating)
    want_value, want_g = value_and_grad(logreg)(w, X, y)
    np.testing.assert_allclose(g, want_g, rtol=1e-12)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    # a named back end and a computing instance keep their own programs
    lazy = compile(logreg, backend="dask")
    assert isinstance(lazy(w, Xd, yd), da.Array)
    assert repr(DaskBackend(compute=True)) == "<backend dask (compute=True)>"


def _never_computed(shape, chunks):
    """A Dask array whose chunks raise if anything computes them."""

    def boom(block):
        raise AssertionError("a chunk was computed")

    return da.zeros(shape, chunks=chunks).map_blocks(boom, dtype=np.float64)


def test_building_the_graph_computes_nothing():
    Xd = _never_computed((400, 3), (100, 3))
    yd = _never_computed((400,), (100,))
    out = grad(mlp)(mlp_params(np.float64, d=3), Xd, yd)  # builds graphs only
    assert all(isinstance(v, da.Array) for v in out.values())
    with pytest.raises(AssertionError, match="a chunk was computed"):
        out["W1"].compute()


def test_an_op_that_would_compute_is_a_clear_error():
    Xd = _never_computed((40, 3), (10, 3))
    with pytest.raises(EvaluationError, match="tried to compute a Dask array"):
        # median's implementation converts its operand to NumPy: caught, not run
        compile(lambda X: np.median(X, axis=0), backend="dask")(Xd)


def test_numpy_backend_and_interpreter_refuse_a_dask_array():
    X, y, Xd, yd = data(np.float64, n=100, chunk=50)
    w = np.ones(X.shape[1])
    with pytest.raises(
        TracegradError, match=r"input X is a dask\.array\.core\.Array: .*backend='dask'"
    ):
        grad(logreg, backend="numpy")(w, Xd, yd)
    with pytest.raises(TracegradError, match=r"input X is a dask\.array\.core\.Array"):
        trace(logreg)(w, Xd, yd)  # the reference interpreter never converts it whole


def test_shape_and_dtype_of_a_dask_argument_are_checked():
    Xd = da.ones((10, 3), chunks=(5, 3), dtype=np.int64)
    f = compile(lambda X: np.sum(X * 2.0))
    assert float(f(Xd).compute()) == 60.0  # traced as int64; the int kind is kept
    unknown = Xd[Xd[:, 0] > 0]  # rows depend on data: shape (nan, 3)
    with pytest.raises(TypeError, match="unknown shape"):
        f(unknown)
    prog = compile(lambda X: X + 1.0, backend="dask").executable(np.ones((10, 3)))
    with pytest.raises(TracegradError, match=r"expected shape \(10, 3\), got \(4, 3\)"):
        prog([da.ones((4, 3))])
    with pytest.raises(TracegradError, match="expected float64"):
        prog([da.ones((10, 3), dtype=np.complex128)])


def _tree_depth_and_fan_in(arr):
    graph = dict(arr.__dask_graph__())
    from dask.core import get_dependencies

    fan_in = max(len(get_dependencies(graph, k)) for k in graph)
    return fan_in, len(graph)


def test_reductions_over_chunked_axes_are_tree_reductions():
    Xd = da.ones((6400, 3), chunks=(100, 3))  # 64 chunks
    yd = da.zeros(6400, chunks=100)
    value, g = value_and_grad(lambda w, X, y: np.mean((X @ w - y) ** 2))(np.ones(3), Xd, yd)
    for arr in (value, g):
        fan_in, _ = _tree_depth_and_fan_in(arr)
        assert fan_in < 64  # no task gathers every chunk: partial sums combine in a tree
    np.testing.assert_allclose(g.compute(), 2 * 3.0 * np.ones(3))
    assert float(value.compute()) == 9.0


def test_large_numpy_values_are_made_lazy_and_chunked_like_the_data():
    X = np.arange(40.0).reshape(20, 2)
    Xd = da.from_array(X, chunks=(5, 2))
    lazy = LazyValues(np.ones(2), Xd, threshold=0)
    b = lazy(np.broadcast_to(np.float64(0.5), (20, 2)))
    assert isinstance(b, da.Array) and b.chunks == ((5, 5, 5, 5), (2,))
    np.testing.assert_array_equal(b.compute(), np.full((20, 2), 0.5))
    c = lazy(np.arange(20.0))
    assert c.chunks == ((5, 5, 5, 5),) and c.compute().tolist() == list(np.arange(20.0))
    assert lazy(np.ones(2)) is not None and not isinstance(lazy(np.ones(3)), da.Array)
    # through a gradient: the broadcast cotangent of the sum over rows is a chunked array
    f = grad(lambda w, X: np.sum(X * w) + np.sum(w * np.ones(20)[:, None]))
    g = f(np.ones(2), Xd)
    np.testing.assert_allclose(g.compute(), X.sum(0) + 20)
    src = compile(f, backend=DaskBackend(lazy_bytes=0)).source(np.ones(2), Xd)
    assert "_lazy(" in src


@pytest.mark.parametrize(
    "index",
    [
        np.s_[1:4, 2],
        np.s_[:, None, 0, ::1],
        np.s_[-1, 1:3],
        np.s_[..., 2],
        np.s_[2:2],
        np.s_[::-1, 1],
        np.s_[:, 3:0:-1],
    ],  # fmt: skip
    ids=str,
)
def test_gradient_of_basic_indexing_on_dask_equals_numpy(index):
    x = np.random.default_rng(3).standard_normal((6, 5, 4))
    f = grad(lambda x: np.sum(np.sin(x[index])))
    got = f(da.from_array(x, chunks=(2, 5, 4)))
    assert isinstance(got, da.Array)
    np.testing.assert_allclose(got.compute(), f(x), rtol=1e-14)


def test_unsupported_index_gradients_on_dask_are_clear_errors():
    xd = da.ones((6, 2), chunks=(2, 2))
    with pytest.raises(EvaluationError, match="steps other than 1 and -1"):
        grad(lambda x: np.sum(np.sin(x[::2])))(xd)
    with pytest.raises(EvaluationError, match="scatter_add"):  # integer-array indexes
        grad(lambda x: np.sum(np.sin(x[np.array([0, 2, 2])])))(xd)


def test_missing_dask_names_the_extra(monkeypatch):
    import compiler.backends as backends

    monkeypatch.setattr(backends, "_loaded", {})
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.delitem(sys.modules, "compiler.backends.dask_backend", raising=False)
    with pytest.raises(TracegradError, match=r"pip install 'tracegrad\[dask\]'"):
        get_backend("dask")


# ----- a cluster of worker processes with a memory limit -----

MEMORY_LIMIT = 300 * 2**20  # per worker
ROWS, FEATURES, CHUNK_ROWS = 5_500_000, 30, 50_000  # 1.32 GB of float64: 4.2x one worker's limit


def _peak_rss() -> int:
    """This process's peak resident memory since it started (Linux's VmHWM, in bytes).

    Not ``getrusage``'s ``ru_maxrss``: Linux carries that high-water mark across fork
    and exec, so a worker started from a large process (a pytest worker late in the
    suite) would report its parent's peak instead of its own.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    raise AssertionError("no VmHWM in /proc/self/status")


@pytest.mark.cluster
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_larger_than_memory_gradient_on_a_cluster_stays_under_each_workers_limit():
    distributed = pytest.importorskip("dask.distributed")
    # No spilling to disk and no pausing: workers stay under the limit by streaming
    # chunks, or the nanny terminates them (at 95%) and the pids below change. No work
    # stealing: chunks are not copied between workers to balance a busy machine.
    config = {f"distributed.worker.memory.{k}": False for k in ("target", "spill", "pause")}
    config["distributed.scheduler.work-stealing"] = False
    with (
        dask.config.set(config),
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, memory_limit=MEMORY_LIMIT,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        pids = client.run(os.getpid)
        X = da.random.RandomState(0).random_sample((ROWS, FEATURES), chunks=(CHUNK_ROWS, -1))
        X = X - 0.5
        y = (X[:, 0] + 0.1 * X[:, 1] > 0).astype(np.float64)
        assert X.nbytes >= 4 * MEMORY_LIMIT
        w = np.linspace(-1, 1, FEATURES)
        got = grad(logreg)(w, X, y).compute()  # one pass over the data, generated lazily
        peaks = client.run(_peak_rss)  # the peaks of that pass (and of starting up)
        assert client.run(os.getpid) == pids  # no worker was restarted
        closed = X.T @ (1 / (1 + np.exp(-(X @ w))) - y) / ROWS  # a second pass, by hand
        want = closed.compute()
    mib = {w: round(p / 2**20) for w, p in peaks.items()}
    print(f"dataset {X.nbytes / 2**20:.0f} MiB, limit {MEMORY_LIMIT / 2**20:.0f} MiB, peaks {mib}")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-14)
    assert np.all(np.abs(got) > 1e-4)  # a real gradient, not zeros
    for worker, peak in peaks.items():
        assert peak < MEMORY_LIMIT, f"{worker} peaked at {peak / 2**20:.0f} MiB"


def test_rendering_and_step_through_of_a_dask_backed_gradient():
    from compiler import render, step_through

    X, y, Xd, yd = data(np.float64, n=40, chunk=10)
    w = np.full(X.shape[1], 0.1)
    src_dask = render(logreg, w, Xd, yd, backward=True).source  # traced from shapes only
    assert src_dask == render(logreg, w, X, yd.compute(), backward=True).source
    page = step_through(logreg, w, Xd, yd)  # small Dask arrays are computed for the page
    assert page.html == step_through(logreg, w, X, y).html
    with pytest.raises(TracegradError, match="at most 1,000,000"):
        step_through(logreg, np.zeros(2), da.zeros((600_000, 2)), da.zeros(600_000))


def test_docstring_examples_of_the_dask_backend_run():
    import doctest

    from compiler.backends import dask_backend

    result = doctest.testmod(dask_backend, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
