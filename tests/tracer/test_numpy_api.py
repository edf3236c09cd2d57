"""NumPy dispatch: supported calls trace; anything without a primitive names the NumPy function."""

from __future__ import annotations

import numpy as np
import pytest
from tracer_testing import check_traced, make_array, ops_of

from tracer import TracegradError, UnsupportedError, trace

X = make_array((3, 4), "float64")


@pytest.mark.parametrize(
    "fn, name",
    [
        (lambda x: np.unique(x), "np.unique"),
        (lambda x: np.nonzero(x), "np.nonzero"),
        (lambda x: np.linalg.eig(x[:, :3]), "eig"),
        (lambda x: np.linalg.lstsq(x, x[:, 0]), "lstsq"),
        (lambda x: np.gcd(x, x), "np.gcd"),
        (lambda x: np.ldexp(x, 2), "np.ldexp"),
        (lambda x: np.nextafter(x, 0.0), "np.nextafter"),
    ],
)
def test_function_without_primitive_is_named(fn, name):
    with pytest.raises(UnsupportedError, match=name) as info:
        trace(fn)(X)
    assert "test_numpy_api.py:" in str(info.value)  # the user's line


@pytest.mark.parametrize(
    "fn, name",
    [
        (lambda x: np.add.reduce(x), "np.add.reduce"),
        (lambda x: np.add.accumulate(x), "np.add.accumulate"),
        (lambda x: np.multiply.outer(x, x), "np.multiply.outer"),
        (lambda x: np.maximum.reduce(x, axis=0), "np.maximum.reduce"),
        (lambda x: np.add.at(x, [0], 1.0), "np.add.at"),
    ],
)
def test_ufunc_method_is_named(fn, name):
    with pytest.raises(UnsupportedError, match=name.replace(".", r"\.")):
        trace(fn)(X)


def test_ufunc_out_is_rejected_with_name():
    with pytest.raises(UnsupportedError, match=r"np\.add\(\.\.\., out=\.\.\.\)") as info:
        trace(lambda x: np.add(x, 1.0, out=np.empty((3, 4))))(X)
    assert "y = np.add(...)" in str(info.value)
    assert "{name}" not in str(info.value)


def test_inplace_operator_on_numpy_array_is_rejected():
    def f(x):
        acc = np.zeros((3, 4))
        acc += x  # NumPy's in-place add with a traced operand: out=acc
        return acc

    with pytest.raises(UnsupportedError, match=r"np\.add.*out="):
        trace(f)(X)


def test_ufunc_where_is_rejected_with_name():
    with pytest.raises(UnsupportedError, match=r"np\.exp\(\.\.\., where=\.\.\.\).*np\.where"):
        trace(lambda x: np.exp(x, where=x > 0))(X)


@pytest.mark.parametrize(
    "fn, match",
    [
        (lambda x: np.sum(x, out=np.empty(())), r"np\.sum\(\.\.\., out="),
        (lambda x: np.sum(x, where=x > 0), r"np\.sum\(\.\.\., where="),
        (lambda x: np.max(x, initial=0.0), r"np\.max\(\.\.\., initial="),
        (lambda x: np.mean(x, where=x > 0), r"np\.mean\(\.\.\., where="),
        (lambda x: np.clip(x, 0, 1, out=np.empty((3, 4))), r"np\.clip\(\.\.\., out="),
        (lambda x: np.round(x, out=np.empty((3, 4))), r"np\.round\(\.\.\., out="),
        (lambda x: np.concatenate([x, x], out=np.empty((6, 4))), r"np\.concatenate\(out="),
        (lambda x: np.exp(x, dtype=np.float32), r"np\.exp\(\.\.\., dtype="),
        (lambda x: np.reshape(x, (4, 3), order="A"), r"reshape\(order='A'\).*memory layout"),
        (lambda x: np.where(x > 0), r"np\.where\(condition\) with one argument"),
    ],
)
def test_unsupported_keywords_are_named(fn, match):
    with pytest.raises(UnsupportedError, match=match):
        trace(fn)(X)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x & x,
        lambda x: x | 1,
        lambda x: ~x,
        lambda x: np.bitwise_and(x, x),
        lambda x: np.invert(x),
    ],
)
def test_bitwise_ops_on_integers_are_not_logical(fn):
    # On integers NumPy's & | ~ are bitwise; there is no bitwise primitive, so they must not
    # silently become logical_and/or/not.
    x = np.array([1, 2, 3])
    with pytest.raises(UnsupportedError, match=r"np\.(bitwise_and|bitwise_or|invert)"):
        trace(fn)(x)


@pytest.mark.parametrize(
    "fn",
    [
        lambda b, c: b & c,
        lambda b, c: b | c,
        lambda b, c: ~b,
        lambda b, c: np.bitwise_and(b, c) | np.invert(c),
        lambda b, c: (b & True) | False,
    ],
)
def test_bitwise_ops_on_booleans_trace(fn):
    b, c = make_array((2, 3), "bool", seed=1), make_array((3,), "bool", seed=2)
    graph = check_traced(fn, b, c)
    assert set(ops_of(graph)) - {"input", "const"} <= {"logical_and", "logical_or", "logical_not"}


def test_numpy_scalar_functions_on_traced_values():
    @trace
    def f(x):
        assert np.shape(x) == (3, 4) and np.ndim(x) == 2 and np.size(x) == 12
        assert x.shape == (3, 4) and x.ndim == 2 and x.size == 12 and x.dtype == np.float64
        assert len(x) == 3
        return np.copy(x) * 1.0

    check_traced(f.fn, X)
    f(X)


def test_integer_overflow_of_python_scalar_matches_numpy():
    x = np.ones(3, np.int8)
    with pytest.raises(OverflowError):
        x + 1000  # NumPy refuses; so do we
    with pytest.raises(TracegradError, match=r"add: Python integer 1000 .* int8"):
        trace(lambda a: a + 1000)(x)


def test_asarray_of_traced_value_is_a_tracing_error():
    from tracer import TracingError

    with pytest.raises(TracingError, match=r"np\.asarray"):
        trace(lambda x: np.asarray(x) + 1)(X)


def test_numpy_functions_still_work_outside_traces():
    # the user-facing functions fall back to NumPy on plain arrays
    from tracer import ops

    np.testing.assert_array_equal(ops.add(np.ones(2), 1), np.full(2, 2.0))
    np.testing.assert_array_equal(ops.sum(np.ones((2, 3)), axis=0), np.full(3, 2.0))
    np.testing.assert_array_equal(ops.reshape(np.arange(6), (2, 3)), np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(ops.getitem(np.arange(6), slice(1, 3)), np.array([1, 2]))
    np.testing.assert_array_equal(ops.where(np.array([True, False]), 1, 2), np.array([1, 2]))


def test_constant_table_indexed_by_traced_index():
    from tracer import TracingError, ops

    table = np.arange(12.0).reshape(4, 3)
    # a captured table is traced like an argument, so plain indexing works ...
    check_traced(lambda i: table[i], np.array([1, 3, 3]))
    # ... but an array made inside the function is NumPy's: it converts the index itself
    with pytest.raises(TracingError, match=r"ops\.getitem"):
        trace(lambda i: np.arange(12.0).reshape(4, 3)[i])(np.array([1, 3]))
    check_traced(lambda i: ops.getitem(table, i), np.array([1, 3, 3]))
    check_traced(lambda i: ops.getitem(table, (i, slice(None, None, -1))), np.array([[0], [2]]))
