"""Reductions, scans, sorting and statistics traced from plain NumPy equal NumPy.

Every call below is traced and also run on the plain arrays: values, shapes and dtypes
must be NumPy's (``check_traced``), over several dtypes, axes, ``keepdims``, 0-d arrays
and Python numbers. Their derivatives are checked in tests/compiler/test_rules_arrays.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from tracer_testing import check_traced, make_array, ops_of

from tracer import ShapeError, TracegradError, TracingError, UnsupportedError, trace

A = make_array
X = A((2, 3, 4), "float64")
NAN = np.where(A((3, 4), "float64", seed=5) > 1.0, np.nan, A((3, 4), "float64", seed=6))

# name -> calls of x (any dtype)
CALLS = {
    "prod": [
        lambda x: np.prod(x),
        lambda x: np.prod(x, axis=0),
        lambda x: np.prod(x, axis=(0, 2), keepdims=True),
        lambda x: x.prod(axis=-1),
        lambda x: np.prod(x, axis=1, dtype=np.float32),
        lambda x: x.prod(1, np.int32),
    ],
    "any/all": [
        lambda x: np.any(x),
        lambda x: np.all(x),
        lambda x: np.any(x, axis=1),
        lambda x: np.all(x, axis=(0, 1), keepdims=True),
        lambda x: x.any(axis=-1, keepdims=True),
        lambda x: x.all(0),
        lambda x: np.any(x > 0.5, axis=-1),
    ],
    "cumsum/cumprod": [
        lambda x: np.cumsum(x),
        lambda x: np.cumsum(x, axis=1),
        lambda x: x.cumsum(-1),
        lambda x: np.cumsum(x, axis=0, dtype=np.float32),
        lambda x: x.cumsum(axis=2, dtype=np.int32),
        lambda x: np.cumprod(x, 2),
        lambda x: x.cumprod(),
        lambda x: np.cumprod(x, axis=-2, dtype=np.float64),
    ],
    "diff": [
        lambda x: np.diff(x),
        lambda x: np.diff(x, n=2, axis=0),
        lambda x: np.diff(x, 3, axis=-1),
        lambda x: np.diff(x, n=5),  # more differences than entries: empty
        lambda x: np.diff(x, 0),
        lambda x: np.diff(x, prepend=0),
        lambda x: np.diff(x, axis=1, append=x[:, :1]),
        lambda x: np.diff(x, prepend=1.5, append=x[..., -1:]),
    ],
    "ptp": [lambda x: np.ptp(x), lambda x: np.ptp(x, axis=1, keepdims=True)],
    "sort": [
        lambda x: np.sort(x),
        lambda x: np.sort(x, axis=0),
        lambda x: np.sort(x, axis=None),
        lambda x: np.sort(x, kind="stable"),
        lambda x: np.sort(x, axis=1, kind="heapsort"),
        lambda x: np.sort(x, axis=1, stable=True),
    ],
    "argsort": [
        lambda x: np.argsort(x),
        lambda x: np.argsort(x, axis=0, kind="stable"),
        lambda x: x.argsort(axis=None, kind="mergesort"),
        lambda x: x.argsort(1, stable=True),
        lambda x: np.argsort(x, kind="heapsort"),
    ],
    "partition": [
        lambda x: np.partition(x, 1),
        lambda x: np.partition(x, (0, 1), axis=0),
        lambda x: np.partition(x, (3, 0, 2), axis=2),
        lambda x: np.partition(x, -1, axis=1),
        lambda x: np.partition(x, [5, 1], axis=None),
        lambda x: np.argpartition(x, 2),
        lambda x: x.argpartition((0, 1), axis=0),
    ],
    "median": [
        lambda x: np.median(x),
        lambda x: np.median(x, axis=1),
        lambda x: np.median(x, axis=(0, 2)),
        lambda x: np.median(x, axis=-1, keepdims=True),
        lambda x: np.median(x, axis=(0, 1, 2), keepdims=True),
    ],
}
NUMERIC = ["float64", "float32", "int64", "int32"]
WITH_BOOL = {"prod", "any/all", "cumsum/cumprod", "diff"}  # (NumPy refuses bools in the others)
CASES = [
    (name, i, fn, dtype)
    for name, fns in CALLS.items()
    for i, fn in enumerate(fns)
    for dtype in NUMERIC + (["bool"] if name in WITH_BOOL else [])
]


@pytest.mark.parametrize("name, i, fn, dtype", CASES, ids=[f"{n}-{i}-{d}" for n, i, _, d in CASES])
def test_reductions_scans_sorting_equal_numpy(name, i, fn, dtype):
    x = A((2, 3, 4), dtype, low=-3, high=3, seed=i)  # small ints: many ties
    check_traced(fn, x)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.sort(x, axis=1),
        lambda x: np.argsort(x, axis=0),
        lambda x: np.partition(x, 1, axis=1),
        lambda x: np.argpartition(x, 2),
        lambda x: np.median(x, axis=1),
        lambda x: np.median(x),
        lambda x: np.nansum(x, axis=0),
        lambda x: np.nanmean(x, axis=1, keepdims=True),
        lambda x: np.nanmean(x),
        lambda x: np.cumsum(x, axis=0),
        lambda x: np.prod(x, axis=1),
    ],
)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_inputs_equal_numpy(fn):
    check_traced(fn, NAN)
    check_traced(fn, NAN.astype(np.float32))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.prod(x),
        lambda x: np.cumsum(x),
        lambda x: np.cumprod(x, axis=0),
        lambda x: np.any(x),
        lambda x: np.all(x, axis=()),
        lambda x: np.median(x),
        lambda x: np.ptp(x),
        lambda x: np.nansum(x),
        lambda x: np.nanmean(x),
        lambda x: np.average(x),
        lambda x: np.sort(x, axis=None),
        lambda x: np.argsort(x, axis=None),
    ],
)
@pytest.mark.parametrize("x", [2.5, 3, np.float32(-1.5), np.array(0.0)], ids=repr)
def test_0d_and_python_number_inputs(fn, x):
    check_traced(fn, x)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.prod(x, axis=0),
        lambda x: np.any(x, axis=1),
        lambda x: np.all(x),
        lambda x: np.cumsum(x, axis=0),
        lambda x: np.cumprod(x, axis=1),
        lambda x: np.sort(x, axis=0),
        lambda x: np.nansum(x, axis=1),
    ],
)
def test_empty_arrays(fn):
    check_traced(fn, np.zeros((0, 3)))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.nansum(x),
        lambda x: np.nansum(x, axis=1, dtype=np.float32),
        lambda x: np.nanmean(x, axis=0),
        lambda x: np.nanmean(x, axis=(0, 1), keepdims=True),
        lambda x: np.average(x),
        lambda x: np.average(x, axis=1),
        lambda x: np.average(x, axis=(0, 2), keepdims=True),
        lambda x: np.average(x, axis=1, returned=True),
        lambda x: np.average(x, weights=np.abs(x) + 1),
        lambda x: np.average(x, axis=2, weights=np.arange(1.0, 5.0)),
        lambda x: np.average(x, axis=1, weights=np.arange(1, 4), returned=True),
        lambda x: np.average(x, axis=(2, 0), weights=np.ones((4, 2), np.float32), keepdims=True),
        lambda x: np.average(x, axis=0, weights=x[:, 0, 0] ** 2 + 1),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_statistics_equal_numpy(fn, dtype):
    check_traced(fn, A((2, 3, 4), dtype, low=-3, high=3))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_traced_weights_keep_numpy_dtype(dtype):
    w = A((4,), dtype, low=1, high=3, seed=1)
    check_traced(lambda x, w: np.average(x, axis=-1, weights=w, returned=True), X, w)
    check_traced(lambda x, w: np.average(x, axis=-1, weights=w), X.astype(np.float32), w)


def test_searchsorted_equals_numpy():
    a = np.array([0.5, 1.0, 1.0, 2.5, 4.0])
    v = A((2, 3), "float64", low=0, high=5)
    check_traced(lambda a, v: np.searchsorted(a, v), a, v)
    check_traced(lambda a, v: a.searchsorted(v, side="right"), a, v)
    check_traced(lambda a, v: np.searchsorted(a, 1.0, side="right"), a, v)
    order = np.array([4, 0, 2, 1, 3])
    check_traced(lambda a, v: np.searchsorted(a, v, sorter=order), a[order.argsort()], v)
    check_traced(lambda v: np.searchsorted(a, v), v)  # a captured, sorted constant
    g = trace(lambda a, v: np.searchsorted(np.sort(a), v)).trace(a, v)
    assert {"sort", "searchsorted"} <= set(ops_of(g))


def test_any_reaches_the_control_flow_error():
    def f(x):
        if np.any(x > 2):
            return x
        return -x

    with pytest.raises(TracingError, match=r"bool\(\) / if") as info:
        trace(f)(X)
    assert "test_scans_sorting.py:" in str(info.value)


@pytest.mark.parametrize(
    "method, advice",
    [
        (lambda x: x.sort(), r"x = np\.sort\(x"),
        (lambda x: x.sort(axis=0), r"x = np\.sort\(x"),
        (lambda x: x.partition(1), r"np\.partition"),
        (lambda x: x.fill(0.0), r"np\.full_like"),
        (lambda x: x.put([0], 1.0), r"np\.where"),
        (lambda x: x.resize((4, 6)), r"np\.reshape"),
    ],
)
def test_inplace_methods_raise_a_tracing_error(method, advice):
    with pytest.raises(TracingError, match="in place.*immutable") as info:
        trace(method)(X)
    assert info.match(advice)
    assert "test_scans_sorting.py:" in str(info.value)


@pytest.mark.parametrize(
    "fn, error, match",
    [
        (lambda x: np.prod(x, where=x > 0), UnsupportedError, r"np\.prod\(\.\.\., where="),
        (lambda x: np.prod(x, initial=2.0), UnsupportedError, r"np\.prod\(\.\.\., initial="),
        (lambda x: np.any(x, out=np.empty(())), UnsupportedError, r"np\.any\(\.\.\., out="),
        (lambda x: np.cumsum(x, out=np.empty(24)), UnsupportedError, r"np\.cumsum\(\.\.\., out="),
        (lambda x: np.median(x, out=np.empty(())), UnsupportedError, r"np\.median\(\.\.\., out="),
        (lambda x: np.nansum(x, where=x > 0), UnsupportedError, r"np\.nansum\(\.\.\., where="),
        (lambda x: np.sort(x, order="f"), UnsupportedError, r"structured"),
        (lambda x: np.argsort(x, kind="bogus"), TracegradError, r"sort kind"),
        (lambda x: np.sort(x, kind="stable", stable=True), TracegradError, r"kind.*stable"),
        (lambda x: np.partition(x, 4), ShapeError, r"kth"),
        (lambda x: np.cumsum(x, axis=3), ShapeError, r"axis 3"),
        (lambda x: np.diff(x[0, 0, 0]), ShapeError, r"at least one dimensional"),
        (lambda x: np.diff(x, -1), TracegradError, r"order must be non-negative"),
        (lambda x: np.average(x, weights=np.ones(3)), TracegradError, r"Axis must be specified"),
        (lambda x: np.average(x, axis=1, weights=np.ones(4)), ShapeError, r"Shape of weights"),
        (lambda x: x.nonzero(), UnsupportedError, r"data-dependent shape"),
        (lambda x: np.searchsorted(x, 0.5), ShapeError, r"1-D"),
    ],
)
def test_bad_calls_are_named(fn, error, match):
    with pytest.raises(error, match=match):
        trace(fn)(X)


def test_plain_arrays_fall_back_to_numpy():
    from tracer import ops

    x = A((3, 4), "float64")
    for fn, ref in [(ops.prod, np.prod), (ops.cumsum, np.cumsum), (ops.cumprod, np.cumprod),
                    (ops.sort, np.sort), (ops.argsort, np.argsort), (ops.median, np.median),
                    (ops.any, np.any), (ops.all, np.all), (ops.diff, np.diff),
                    (ops.ptp, np.ptp), (ops.nansum, np.nansum), (ops.nanmean, np.nanmean),
                    (ops.average, np.average)]:  # fmt: skip
        np.testing.assert_array_equal(fn(x), ref(x))
    np.testing.assert_array_equal(ops.partition(x, 1), np.partition(x, 1))
