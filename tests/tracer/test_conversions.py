"""What NumPy gives a tracer no hook in: each way a traced value reaches ``__array__`` is told
apart and answered with its traceable spelling (``tracer/conversions.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from tracer import TracingError, ops, trace

X = np.array([0.5, 1.0, 2.0])
TABLE = np.arange(12.0).reshape(4, 3)


def _message(fn, *args) -> str:
    with pytest.raises(TracingError) as info:
        trace(fn)(*(args or (X,)))
    return str(info.value)


@pytest.mark.parametrize(
    "fn, fragments",
    [
        (lambda x: np.array([x[0], 1.0]), ["np.array([...]) of traced values", "np.stack"]),
        (lambda x: np.array((x, x), dtype=np.float32), ["np.array([...])", "np.stack"]),
        (lambda x: np.asarray([x[0] for _ in range(2)]), ["np.array([...])", "np.stack"]),
        (lambda x: np.asarray(x), ["np.asarray(x)", "x itself", "x.astype(dtype)"]),
        (lambda x: np.array(x, copy=True), ["np.asarray(x)", "x itself"]),
        (lambda x: np.ascontiguousarray(x), ["np.asarray(x)", "x itself"]),
        (lambda x: np.eye(4)[np.argmax(x)], ["indexing a NumPy array", "tracer.ops.getitem"]),
        (lambda x: np.arange(12.0).reshape(4, 3)[np.argmin(x) + 1, ::-1],
         ["indexing a NumPy array", "tracer.ops.getitem(table, i)"]),
    ],
)  # fmt: skip
def test_numpy_conversions_name_the_traceable_spelling(fn, fragments):
    msg = _message(fn)
    for fragment in fragments:
        assert fragment in msg, msg
    assert "test_conversions.py:" in msg  # the user's line


def test_storing_into_a_numpy_array_with_a_traced_index():
    def f(x):
        out = np.zeros(3)
        out[[0, 1]] = x[:2]
        return out

    msg = _message(f)
    assert "storing a traced value into a NumPy array" in msg and "np.where" in msg


def test_the_suggested_spellings_trace():
    # what the messages suggest, on the same inputs, traces
    assert trace(lambda x: np.stack([x[0], x[1]]))(X).tolist() == [0.5, 1.0]
    i = np.array([2, 0])
    np.testing.assert_array_equal(trace(lambda j: ops.getitem(np.eye(3), j))(i), np.eye(3)[i])
    one_hot = lambda j: (j[..., None] == np.arange(3)).astype(float)  # noqa: E731
    np.testing.assert_array_equal(trace(one_hot)(i), np.eye(3)[i])


def test_a_conversion_in_code_without_source_gets_the_general_message():
    namespace = {"np": np}
    exec(compile("def f(x):\n    return np.asarray(x)\n", "<no source>", "exec"), namespace)
    msg = _message(namespace["f"])
    assert "np.stack([a, b]) for np.array([a, b])" in msg and "x itself" in msg


def test_a_conversion_inside_numpy_gets_the_general_message():
    msg = _message(lambda x: np.sum([x[0], x[1]]))
    assert "converting a traced value to a NumPy array" in msg


def test_a_captured_array_asked_for_its_numbers_is_frozen_not_an_error():
    # np.asarray of a global: the capture is frozen at its value and the function traced again
    f = trace(lambda x: x * np.asarray(TABLE)[0])
    np.testing.assert_array_equal(f(X), X * TABLE[0])


sc = pytest.importorskip("scipy")


@pytest.mark.parametrize(
    "fn, name, twin",
    [
        (lambda x: __import__("scipy.stats").stats.norm.logpdf(x, scale=2.0),
         "scipy.stats.norm.logpdf", "tracer.scipy.stats.norm.logpdf"),
        (lambda x: __import__("scipy.stats").stats.norm(0.0, 2.0).cdf(x),
         "scipy.stats.norm.cdf", "tracer.scipy.stats.norm.cdf"),
        (lambda x: __import__("scipy.stats").stats.multivariate_normal.logpdf(x),
         "scipy.stats.multivariate_normal.logpdf", "tracer.scipy.stats.multivariate_normal"),
        (lambda x: __import__("scipy.stats").stats.gamma.logpdf(x, 2.0),
         "scipy.stats.gamma.logpdf", "tracer.scipy.stats.gamma.logpdf"),
        (lambda x: __import__("scipy.special").special.logsumexp(x),
         "scipy.special.logsumexp", "tracer.scipy.special.logsumexp"),
        (lambda x: __import__("scipy.special").special.softmax(x),
         "scipy.special.softmax", "tracer.scipy.special.softmax"),
        (lambda x: __import__("scipy.special").special.polygamma(1, x),
         "scipy.special.polygamma", "tracer.scipy.special.polygamma"),
    ],
)  # fmt: skip
def test_scipy_python_functions_name_their_twin(fn, name, twin):
    msg = _message(fn)
    assert msg.startswith(f"{name} (SciPy converts its arguments with np.asarray)"), msg
    assert twin in msg and "test_conversions.py:" in msg


def test_a_scipy_function_without_a_twin_says_so():
    msg = _message(lambda x: __import__("scipy.stats").stats.laplace.logpdf(x))
    assert "scipy.stats.laplace.logpdf" in msg and "tracer.scipy has no twin" in msg
