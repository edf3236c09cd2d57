"""Shape, indexing and array-building functions traced from plain NumPy equal NumPy.

split and its variants, repeat, tile, pad, roll, the flips, rot90, the stacking helpers,
atleast_3d, rollaxis, take_along_axis, select, choose, compress, reshape/ravel in Fortran
order, linspace with traced endpoints and meshgrid: values, shapes, dtypes and result
types (lists, tuples) must be NumPy's. Then the ndarray methods and attributes: every
public name of ``np.ndarray`` is either traced, or raises a clear error.
"""

from __future__ import annotations

import numpy as np
import pytest
from tracer_testing import check_traced, make_array, ops_of

from tracer import ShapeError, TracegradError, TracingError, UnsupportedError, trace
from tracer.primitives import ATTRIBUTES, CONCRETE_ATTRIBUTES, INPLACE_METHODS, METHODS

A = make_array

CALLS = {
    "split": [
        lambda x: np.split(x, 2, axis=2),
        lambda x: np.split(x, [1, 3], axis=-1),
        lambda x: np.split(x, [3, 1, 10], axis=2),  # out of order, past the end: empty parts
        lambda x: np.array_split(x, 3, axis=2),
        lambda x: np.array_split(x, [1], axis=0),
        lambda x: np.hsplit(x, 3),
        lambda x: np.vsplit(x, 2),
        lambda x: np.dsplit(x, [1, 2]),
        lambda x: np.hsplit(x[0, 0], 2),
    ],
    "repeat": [
        lambda x: np.repeat(x, 2),
        lambda x: np.repeat(x, 3, axis=0),
        lambda x: np.repeat(x, [1, 0, 2], axis=1),
        lambda x: x.repeat(2, axis=-1),
        lambda x: x.repeat(np.array([2])),
        lambda x: np.repeat(x, 0, axis=1),
    ],
    "tile": [
        lambda x: np.tile(x, 2),
        lambda x: np.tile(x, (2, 1, 1, 3)),
        lambda x: np.tile(x, (1, 2)),
        lambda x: np.tile(x[0, 0, 0], 3),
        lambda x: np.tile(x, 0),
    ],
    "pad": [
        lambda x: np.pad(x, 1),
        lambda x: np.pad(x, ((1, 2), (0, 3), (2, 0)), constant_values=((1.5, 2), (3, 4), (5, 6))),
        lambda x: np.pad(x, (1, 2), constant_values=-1),
        lambda x: np.pad(x, 2, mode="edge"),
        lambda x: np.pad(x, ((3, 5), (7, 2), (0, 1)), mode="reflect"),
        lambda x: np.pad(x, ((3, 5), (7, 2), (0, 1)), mode="symmetric"),
        lambda x: np.pad(x, ((3, 5), (9, 2), (4, 4)), mode="wrap"),
        lambda x: np.pad(x, [[0, 0], [1, 1], [0, 0]], "reflect", reflect_type="even"),
    ],
    "roll": [
        lambda x: np.roll(x, 1),
        lambda x: np.roll(x, -5, axis=1),
        lambda x: np.roll(x, (1, 2), axis=(0, 2)),
        lambda x: np.roll(x, 7, axis=(1, 1)),
        lambda x: np.roll(x, 3, axis=-1),
    ],
    "flip/rot90": [
        lambda x: np.flipud(x),
        lambda x: np.fliplr(x),
        lambda x: np.rot90(x),
        lambda x: np.rot90(x, 2),
        lambda x: np.rot90(x, -1, axes=(1, 2)),
        lambda x: np.rot90(x, 3, axes=(2, 0)),
        lambda x: np.rot90(x, 4),
    ],
    "stack": [
        lambda x: np.hstack([x, x]),
        lambda x: np.vstack([x, x[:1]]),
        lambda x: np.dstack([x, x]),
        lambda x: np.dstack([x[0], x[1]]),
        lambda x: np.dstack([x[0, 0], x[1, 1]]),
        lambda x: np.column_stack([x[0, :, 0], x[1, :, 1], x[0, :, :2]]),
        lambda x: np.column_stack((x[0, 0], x[0, 1])),
        lambda x: np.append(x, x),
        lambda x: np.append(x, x[:, :1], axis=1),
        lambda x: np.append(x[0, 0], [1, 2]),
        lambda x: np.atleast_3d(x[0]),
        lambda x: np.atleast_3d(x[0, 0]),
        lambda x: np.atleast_3d(x[0, 0, 0]),
        lambda x: np.atleast_3d(x, x[0], x[0, 0]),
        lambda x: np.atleast_1d(x[0, 0, 0], x),
        lambda x: np.atleast_2d(x[0, 0], x[0, 0, 0]),
        lambda x: np.broadcast_arrays(x, x[0, :, :1], 2.0),
    ],
    "axes": [
        lambda x: np.rollaxis(x, 2),
        lambda x: np.rollaxis(x, 0, 3),
        lambda x: np.rollaxis(x, -1, 1),
        lambda x: np.rollaxis(x, 1, 1),
        lambda x: np.moveaxis(x, [0, 1], [-1, -2]),
        lambda x: np.swapaxes(x, 0, 2),
    ],
    "order F": [
        lambda x: np.ravel(x, order="F"),
        lambda x: x.ravel("F"),
        lambda x: x.flatten(order="F"),
        lambda x: x.reshape((6, 4), order="F"),
        lambda x: x.reshape(4, -1, order="F"),
        lambda x: np.reshape(x, (2, 2, 6), order="F"),
        lambda x: np.reshape(x, (2, 3, 4), order="F"),
    ],
    "indexing": [
        lambda x: np.take_along_axis(x, np.argsort(x, axis=1), axis=1),
        lambda x: np.take_along_axis(x, np.array([[[0], [2], [1]]]), axis=2),
        lambda x: np.take_along_axis(x, np.array([[[1, 0, 1, 1]]]), axis=0),
        lambda x: np.take_along_axis(x, np.array([5, -1, 0]), axis=None),
        lambda x: np.take_along_axis(x, np.argmax(x, axis=-1, keepdims=True), axis=-1),
        lambda x: np.select([x > 1, x < -1], [x, x * 2]),
        lambda x: np.select([x > 1, x < -1], [x, 3], default=x[0]),
        lambda x: np.select([x > 0], [1.5], default=-1.5),
        lambda x: np.choose(np.array([0, 1, 1, 0]), [x, x * 3]),
        lambda x: np.choose(x > 0, [x, x * 2]),
        lambda x: np.choose(np.array([0, 2, 5, -1]), [x, x * 2, 1], mode="clip"),
        lambda x: np.choose(np.array([0, 2, 5, -1]), [x, x * 2, x[0]], mode="wrap"),
        lambda x: np.compress([True, False, True], x, axis=1),
        lambda x: np.compress([False, True], x),
        lambda x: x.compress(np.array([1, 0, 1, 1], dtype=bool), axis=-1),
        lambda x: np.take(x, [5, -7, 2], mode="clip"),
        lambda x: np.take(x, [[5], [-7]], axis=1, mode="wrap"),
        lambda x: x.take(np.array([9, 1]), axis=-1, mode="clip"),
    ],
}
CASES = [(name, i, fn) for name, fns in CALLS.items() for i, fn in enumerate(fns)]


@pytest.mark.parametrize("name, i, fn", CASES, ids=[f"{n}-{i}" for n, i, _ in CASES])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool"])
def test_shape_functions_equal_numpy(name, i, fn, dtype):
    check_traced(fn, A((2, 3, 4), dtype, low=-3, high=3, seed=i))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.choose(x, [np.arange(4.0), np.ones(4), -np.arange(4.0)]),
        lambda x: np.choose(x, [np.arange(4.0), 7], mode="clip"),
        lambda x: np.take_along_axis(np.arange(12.0).reshape(3, 4), x[None], axis=1),
    ],
)
def test_traced_integer_indices(fn):
    check_traced(fn, np.array([2, 0, 1, 1]))
    check_traced(lambda x, i: np.take(x, i, axis=1, mode="clip"), A((2, 3), "float64"),
                 np.array([7, -2, 1]))  # fmt: skip


@pytest.mark.parametrize(
    "fn",
    [
        lambda s: np.repeat(s, 3),
        lambda s: np.tile(s, (2, 2)),
        lambda s: np.atleast_3d(s),
        lambda s: np.roll(s, 1),
        lambda s: np.pad(s, 1),
        lambda s: np.append(s, [1.0, 2.0]),
        lambda s: np.meshgrid(s, np.arange(3.0)),
        lambda s: np.select([s > 0], [s]),
        lambda s: np.broadcast_arrays(s, np.ones(2)),
        lambda s: np.linspace(s, 3, 4),
        lambda s: np.column_stack([s, s]),
        lambda s: np.dstack([s, s]),
        lambda s: np.ravel(s, order="F"),
        lambda s: np.reshape(s, (1, 1), order="F"),
        lambda s: np.choose(0, [s, 2 * s]),
        lambda s: np.hstack([s, s]),
    ],
)
@pytest.mark.parametrize("s", [2.5, 3, np.float32(1.5), np.array(-1.0)], ids=repr)
def test_0d_and_python_number_inputs(fn, s):
    check_traced(fn, s)


# ----- linspace and meshgrid -----
@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: np.linspace(a, b),
        lambda a, b: np.linspace(a, b, 7),
        lambda a, b: np.linspace(a, b, 4, endpoint=False),
        lambda a, b: np.linspace(a, b, 5, retstep=True),
        lambda a, b: np.linspace(0, b, 5),
        lambda a, b: np.linspace(a, 2.5, 3),
        lambda a, b: np.linspace(a, b, 1),
        lambda a, b: np.linspace(a, b, 1, endpoint=False, retstep=True),
        lambda a, b: np.linspace(a, b, 0),
        lambda a, b: np.linspace(a * 10, b * 10, 6, dtype=int),
        lambda a, b: np.linspace(a, b, 6, dtype=np.float32),
        lambda a, b: np.linspace(a, a, 4),  # zero step
        lambda a, b: np.linspace(a, b, 5, dtype=np.int32, retstep=True),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_linspace_with_traced_endpoints(fn, dtype):
    a, b = A((), dtype, low=-3, high=0, seed=1), A((), dtype, low=1, high=3, seed=2)
    check_traced(fn, a, b)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: np.linspace(a, b, 4),
        lambda a, b: np.linspace(a, b, 4, axis=1),
        lambda a, b: np.linspace(a, b, 3, axis=-1, retstep=True),
        lambda a, b: np.linspace(a, 1.0, 5, endpoint=False, axis=2),
        lambda a, b: np.linspace(a[0], b, 3),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linspace_with_array_endpoints(fn, dtype):
    check_traced(fn, A((2, 3), dtype, seed=3), A((3,), dtype, seed=4))


def test_linspace_with_python_number_endpoints():
    check_traced(lambda a, b: np.linspace(a, b, 5), 1.0, 2.5)  # weak inputs: float64
    check_traced(lambda a, b: np.linspace(a, b, 5), np.float32(1.0), 2.5)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x, y, z: np.meshgrid(x, y),
        lambda x, y, z: np.meshgrid(x, y, indexing="ij"),
        lambda x, y, z: np.meshgrid(x, y, z),
        lambda x, y, z: np.meshgrid(x, y, z, indexing="ij", sparse=True),
        lambda x, y, z: np.meshgrid(x, y, sparse=True),
        lambda x, y, z: np.meshgrid(x),
        lambda x, y, z: np.meshgrid(x, y, copy=False),
    ],
)
def test_meshgrid_equals_numpy(fn):
    check_traced(fn, A((3,), "float64"), A((4,), "float32"), A((2,), "int64"))


# ----- static arguments and errors -----
@pytest.mark.parametrize(
    "fn, error, match",
    [
        (lambda x, n: np.repeat(x, n), TracingError, r"np\.repeat: a traced repeats"),
        (lambda x, n: np.tile(x, n), TracingError, r"np\.tile: a traced reps"),
        (lambda x, n: np.roll(x, n), TracingError, r"np\.roll: a traced shift"),
        (lambda x, n: np.pad(x, n), TracingError, r"np\.pad: a traced pad_width"),
        (lambda x, n: np.split(x, n), TracingError, r"indices_or_sections"),
        (lambda x, n: np.compress(x > 0, x), TracingError, r"data-dependent shape"),
        (lambda x, n: np.pad(x, 1, mode="mean"), UnsupportedError, r"mode='mean'"),
        (lambda x, n: np.pad(x, 1, mode=lambda *a: None), UnsupportedError, r"mode="),
        (lambda x, n: np.pad(x, 1, "reflect", reflect_type="odd"), UnsupportedError, "odd"),
        (lambda x, n: np.pad(x, 1, "edge", constant_values=2), TracegradError, "keyword"),
        (lambda x, n: np.pad(x, 1.5), TracegradError, "integral type"),
        (lambda x, n: np.pad(x, -1), TracegradError, "negative"),
        (lambda x, n: np.split(x, 5, axis=1), ShapeError, "equal division"),
        (lambda x, n: np.array_split(x, 0), TracegradError, "larger than 0"),
        (lambda x, n: np.vsplit(x[0, 0], 2), ShapeError, "2 or more dimensions"),
        (lambda x, n: np.repeat(x, [1, 2]), ShapeError, "repeats"),
        (lambda x, n: np.repeat(x, -1), TracegradError, "negative"),
        (lambda x, n: np.rot90(x, axes=(0, 0)), TracegradError, "different"),
        (lambda x, n: np.fliplr(x[0, 0]), ShapeError, ">= 2-d"),
        (lambda x, n: np.take_along_axis(x, np.zeros((2, 3), int), 1), ShapeError, "dimensions"),
        (lambda x, n: np.select([x], [x]), TracegradError, "should be boolean"),
        (
            lambda x, n: np.choose(x[0, 0].astype(int), [x, x], mode="wrap"),
            UnsupportedError,
            "wrap",
        ),  # fmt: skip
        (lambda x, n: np.meshgrid(x, indexing="xx"), TracegradError, "indexing"),
        (lambda x, n: x.reshape(4, 6, order="K"), UnsupportedError, "memory layout"),
        (lambda x, n: np.ravel(x, order="A"), UnsupportedError, "memory layout"),
        (lambda x, n: x.view(np.int64), TracingError, r"\.astype"),
        (lambda x, n: x.to_device("gpu"), UnsupportedError, "cpu"),
        (lambda x, n: np.take(x, n, mode="wrap"), UnsupportedError, "mode='wrap'"),
    ],
)
def test_bad_calls_are_named(fn, error, match):
    with pytest.raises(error, match=match):
        trace(fn)(A((2, 3, 4), "float64"), np.int64(2))


def test_pad_with_traced_constant_value():
    check_traced(
        lambda x, c: np.pad(x, ((1, 0), (2, 1)), constant_values=c), A((2, 3), "float64"), 2.5
    )
    check_traced(lambda x, c: np.pad(x, 1, constant_values=c), A((2, 3), "int64"), np.int64(7))


def test_reflect_pad_and_roll_are_slices_not_gathers():
    g = trace(lambda x: np.pad(np.roll(x, 2, axis=0), ((5, 3), (0, 0)), mode="reflect")).trace(
        A((4, 3), "float64")
    )
    assert "scatter_add" not in ops_of(g)
    ops = ops_of(g)
    assert ops.count("concatenate") == 2  # one per call: every index run is a slice


# ----- ndarray methods and attributes -----
# left to other branches: diagonal/trace (linear algebra), real/imag/conj/conjugate (complex)
ELSEWHERE = {"diagonal", "trace", "real", "imag", "conj", "conjugate"}
# need concrete numbers: raise TracingError (see test_trace_errors.py and below)
CONCRETE_METHODS = {"item", "tolist"}


def test_every_ndarray_member_is_decided():
    from tracer import TracedArray

    # (NumPy 2.0 still lists ptp, itemset, newbyteorder, which only raise: left out)
    public = {n for n in dir(np.ndarray) if not n.startswith("_") and hasattr(np.zeros((1, 1)), n)}
    decided = (
        set(METHODS) | set(ATTRIBUTES) | CONCRETE_ATTRIBUTES | set(INPLACE_METHODS)
        | {n for n in vars(TracedArray) if not n.startswith("_")}
        | {"shape", "dtype", "ndim", "size"} | CONCRETE_METHODS
    )  # fmt: skip
    assert public - decided <= ELSEWHERE, sorted(public - decided - ELSEWHERE)


@pytest.mark.parametrize("name", sorted(CONCRETE_ATTRIBUTES))
def test_memory_attributes_raise_a_tracing_error(name):
    with pytest.raises(TracingError, match=f"{name} has no meaning for a traced value.*memory"):
        trace(lambda x: getattr(x, name))(A((2, 3), "float64"))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.prod(axis=1) + x.any() + x.all(axis=0).sum(),
        lambda x: x.cumsum(axis=0) + x.cumprod(1),
        lambda x: x.argsort(axis=0) + x.argpartition(1, axis=1),
        lambda x: x.repeat(2, axis=1) + x.take([0, 0, 2], axis=1).repeat(2, axis=1)[:, :6],
        lambda x: x.choose([np.ones(3), np.zeros(3)]) if x.dtype == np.bool_ else x,
        lambda x: x.compress([True, False], axis=0),
        lambda x: x.view() + x.view(x.dtype) + x.to_device("cpu"),
        lambda x: np.ravel(x).searchsorted(0.5),
        lambda x: (x.device, x.clip(-1, 1).round(1).std(axis=0).var())[1],
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32", "bool"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_methods_equal_numpy(fn, dtype):
    if dtype == "bool":
        try:
            fn(A((2, 3), dtype))
        except TypeError:  # NumPy refuses this method on booleans
            return
    check_traced(fn, A((2, 3), dtype))


def test_device_attribute():
    @trace
    def f(x):
        assert x.device == "cpu"
        return x

    f(A((2,), "float64"))
