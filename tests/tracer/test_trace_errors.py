"""Every error path: the right exception class, a message naming the op, the shapes and the user's
line, and a traced function that still works after the error (no broken cache)."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from tracer_testing import assert_same

from tracer import (
    EvaluationError,
    GraphError,
    GraphFormatError,
    ShapeError,
    Spec,
    TracegradError,
    TracingError,
    UnsupportedError,
    evaluate,
    trace,
)


def where_is(fn, marker: str) -> str:
    """``path:LINE`` of the line of ``fn`` that contains ``marker``."""
    lines, start = inspect.getsourcelines(fn)
    for i, line in enumerate(lines):
        if marker in line:
            return f"{inspect.getsourcefile(fn)}:{start + i}"
    raise AssertionError(marker)


def test_exception_family():
    for cls in (TracingError, ShapeError, UnsupportedError, GraphError, EvaluationError):
        assert issubclass(cls, TracegradError)
    assert issubclass(GraphFormatError, GraphError)
    assert issubclass(ShapeError, ValueError)  # code catching NumPy's ValueError still works
    assert issubclass(UnsupportedError, TypeError)


# ----- concrete values of traced arrays -----


def f_if(x):
    if x.sum() > 0:  # marker
        return x
    return -x


def f_while(x):
    while x.sum() > 0:  # marker
        x = x - 1
    return x


def f_and(x):
    return (x > 0) and (x < 1)  # marker


def f_float(x):
    return x * float(x.sum())  # marker


def f_int(x):
    return x[: int(x[0])]  # marker


def f_bool(x):
    return bool(x[0])  # marker


def f_complex(x):
    return complex(x[0])  # marker


def f_range(x):
    return [x[i] for i in range(x.shape[0] * x[0])]  # marker


def f_item(x):
    return x * x.max().item()  # marker


@pytest.mark.parametrize(
    "fn, what",
    [
        (f_if, "bool()"),
        (f_while, "bool()"),
        (f_and, "bool()"),
        (f_float, "float()"),
        (f_int, "int()"),
        (f_bool, "bool()"),
        (f_complex, "complex()"),
        (f_range, "__index__"),
        (f_item, "item()"),
    ],
)
def test_concrete_value_of_traced_array_is_a_tracing_error(fn, what):
    tf = trace(fn)
    with pytest.raises(TracingError) as info:
        tf(np.ones(3))
    msg = str(info.value)
    assert what in msg
    assert where_is(fn, "# marker") in msg  # the user's file and line
    assert "np.where" in msg  # and what to do instead
    assert "static_argnums" in msg


def test_inplace_assignment_is_a_tracing_error():
    def f(x):
        x[0] = 1.0  # marker
        return x

    with pytest.raises(TracingError, match="immutable") as info:
        trace(f)(np.ones(3))
    assert where_is(f, "# marker") in str(info.value)
    assert "np.where" in str(info.value)


def test_traced_boolean_mask_is_a_tracing_error():
    def f(x):
        return x[x > 0]  # marker

    with pytest.raises(TracingError, match="boolean mask") as info:
        trace(f)(np.ones(3))
    assert where_is(f, "# marker") in str(info.value)


# ----- shape errors name the op, the shapes and the line -----


def bad_add(x, y):
    return x + y  # marker


def bad_matmul(x, y):
    return x @ y  # marker


def bad_dot(x, y):
    return np.dot(x, y)  # marker


def bad_where(x, y):
    return np.where(x > 0, x, y)  # marker


def bad_concat(x, y):
    return np.concatenate([x, y], axis=1)  # marker


def bad_stack(x, y):
    return np.stack([x, y])  # marker


@pytest.mark.parametrize(
    "fn, op, avals",
    [
        (bad_add, "add", ["float64[2,3]", "float64[4]"]),
        (bad_matmul, "matmul", ["float64[2,3]", "float64[4]"]),
        (bad_dot, "dot", ["(2, 3)", "(4,)"]),
        (bad_where, "where", ["float64[2,3]", "float64[4]"]),
        (bad_concat, "concatenate", ["float64[2,3]", "float64[4]"]),
        (bad_stack, "stack", ["float64[2,3]", "float64[4]"]),
    ],
)
def test_binary_shape_mismatch_names_op_shapes_and_line(fn, op, avals):
    tf = trace(fn)
    with pytest.raises(ShapeError) as info:
        tf(np.ones((2, 3)), np.ones(4))
    msg = str(info.value)
    assert msg.startswith(op) or f"{op}:" in msg, msg
    for a in avals:
        assert a in msg, msg
    assert where_is(fn, "# marker") in msg, msg
    # the same function still works on good shapes (the failed trace left no cache entry)
    if op not in ("concatenate", "stack", "matmul", "dot"):
        assert_same(tf(np.ones((2, 3)), np.ones(3)), fn(np.ones((2, 3)), np.ones(3)))


def reshape_bad(x):
    return x.reshape(4, 2)  # marker


def reshape_two_unknown(x):
    return x.reshape(-1, -1)  # marker


def transpose_bad(x):
    return np.transpose(x, (0, 0))  # marker


def broadcast_bad(x):
    return np.broadcast_to(x, (3, 2))  # marker


def squeeze_bad(x):
    return np.squeeze(x, 0)  # marker


def sum_axis_bad(x):
    return x.sum(axis=2)  # marker


def max_axis_bad(x):
    return np.max(x, axis=-3)  # marker


def mean_repeated_axis(x):
    return x.mean(axis=(0, 0))  # marker


def argmax_axis_bad(x):
    return x.argmax(axis=5)  # marker


def expand_bad(x):
    return np.expand_dims(x, 4)  # marker


def index_bad(x):
    return x[3]  # marker


def too_many_indices(x):
    return x[0, 0, 0]  # marker


def two_ellipses(x):
    return x[..., ...]  # marker


def index_array_bad(x):
    return x[np.array([0, 5])]  # marker


def mask_wrong_length(x):
    return x[np.array([True, False, True])]  # marker


def mask_too_long(x):
    return x[:, np.array([True, False, True, True])]  # marker


def mask_wrong_2d(x):
    return x[np.ones((3, 2), bool)]  # marker


def mask_0d(x):
    return x[np.array(True)]  # marker


def max_empty(x):
    return x[:0].max()  # marker


def swap_bad(x):
    return np.swapaxes(x, 0, 3)  # marker


@pytest.mark.parametrize(
    "fn, exc, pattern",
    [
        (reshape_bad, ShapeError, r"reshape.*\(2, 3\).*\(4, 2\)"),
        (reshape_two_unknown, ShapeError, r"reshape.*one unknown dimension"),
        (transpose_bad, ShapeError, r"transpose.*\(0, 0\)"),
        (broadcast_bad, ShapeError, r"broadcast_to.*\(2, 3\).*\(3, 2\)"),
        (squeeze_bad, ShapeError, r"squeeze.*\(2, 3\)"),
        (sum_axis_bad, ShapeError, r"sum: axis 2 is out of bounds.*dimension 2"),
        (max_axis_bad, ShapeError, r"max: axis -3 is out of bounds"),
        (mean_repeated_axis, ShapeError, r"mean: repeated axis"),
        (argmax_axis_bad, ShapeError, r"argmax: axis 5 is out of bounds"),
        (expand_bad, ShapeError, r"expand_dims: axis 4 is out of bounds"),
        (swap_bad, ShapeError, r"swapaxes: axis 3 is out of bounds"),
        (index_bad, IndexError, r"index 3 is out of bounds for axis 0 with size 2"),
        (too_many_indices, IndexError, r"too many indices.*2-dimensional.*3 were indexed"),
        (two_ellipses, TracegradError, r"single ellipsis"),
        (index_array_bad, IndexError, r"index 5 is out of bounds for axis 0 with size 2"),
        (max_empty, ShapeError, r"max: zero-size array"),
        (mask_wrong_length, IndexError, r"boolean index of shape \(3,\) does not match.*\(2,\)"),
        (mask_too_long, IndexError, r"boolean index of shape \(4,\) does not match.*\(3,\)"),
        (mask_wrong_2d, IndexError, r"boolean index of shape \(3, 2\)"),
        (mask_0d, UnsupportedError, r"0-d boolean"),
    ],
)
def test_shape_errors_name_op_and_line(fn, exc, pattern):
    with pytest.raises(exc) as info:
        trace(fn)(np.ones((2, 3)))
    msg = str(info.value)
    assert re.search(pattern, msg), msg
    assert where_is(fn, "# marker") in msg, msg


def bad_dtype(x):
    return np.negative(x)  # marker


def bad_astype(x):
    return x.astype(object)  # marker


def bad_where_cond(x):
    return np.where(x > 0, x, "a")  # marker


def clip_overflow(x):
    return np.clip(x, 1000, None)  # marker


@pytest.mark.parametrize(
    "fn, x, pattern",
    [
        (bad_dtype, np.ones(3, bool), r"neg.*bool"),
        (clip_overflow, np.ones(3, np.int8), r"clip.*int8.*1000 out of bounds"),
        (bad_astype, np.ones(3), r"dtype object is not supported"),
        (bad_where_cond, np.ones(3), r"str|dtype|<U1"),
    ],
)
def test_dtype_errors_name_op_and_line(fn, x, pattern):
    with pytest.raises(TracegradError) as info:
        trace(fn)(x)
    msg = str(info.value)
    assert re.search(pattern, msg), msg
    assert where_is(fn, "# marker") in msg, msg


def test_bad_axis_type_is_a_tracegrad_error():
    with pytest.raises(TracegradError, match="axis"):
        trace(lambda x: x.sum(axis=1.5))(np.ones(3))
    with pytest.raises(TracegradError, match="reshape"):
        trace(lambda x: x.reshape(2.5))(np.ones(3))


# ----- arity and argument errors -----


def two_args(x, y):
    return x + y


@pytest.mark.parametrize(
    "args, kwargs, pattern",
    [
        ((np.ones(2),), {}, r"missing a required argument: 'y'"),
        ((np.ones(2), np.ones(2), np.ones(2)), {}, r"too many positional arguments"),
        ((np.ones(2), np.ones(2)), {"z": np.ones(2)}, r"unexpected keyword argument 'z'"),
        ((np.ones(2), np.ones(2)), {"x": np.ones(2)}, r"multiple values for argument 'x'"),
    ],
)
def test_wrong_arity_is_a_type_error_naming_the_signature(args, kwargs, pattern):
    tf = trace(two_args)
    with pytest.raises(TypeError, match=pattern) as info:
        tf(*args, **kwargs)
    assert "two_args(x, y)" in str(info.value)
    with pytest.raises(TypeError, match=r"two_args\(x, y\)"):
        tf.trace(*args, **kwargs)
    assert_same(tf(np.ones(2), np.ones(2)), np.full(2, 2.0))
    assert tf.trace_count == 1


def test_static_argnums_out_of_range():
    tf = trace(lambda x, n=2: x * n, static_argnums=3)
    with pytest.raises(TypeError, match="static_argnums"):
        tf(np.ones(2))


@pytest.mark.parametrize(
    "arg, pattern",
    [
        ("abc", r"argument x of f is a str"),
        (object(), r"argument x of f is an object"),
        (np.array(["a"]), r"argument x of f.*dtype <U1"),
        (np.array([None]), r"argument x of f.*dtype object"),
        ([np.ones(2), "s"], r"argument x\[1\] of f is a str"),
        ({"w": {"b": b"x"}}, r"argument x\['w'\]\['b'\] of f is a bytes"),
        (2**70, r"argument x of f is the Python int \d+, which does not fit in int64"),
    ],
)
def test_bad_argument_types_name_the_argument(arg, pattern):
    def f(x):
        return x

    with pytest.raises(TypeError, match=pattern):
        trace(f)(arg)


def test_bad_return_value_names_the_function():
    def f(x):
        return x, "label"

    with pytest.raises(TypeError, match=r"f returned a str"):
        trace(f)(np.ones(2))


def test_unsortable_dict_keys():
    with pytest.raises(TracegradError, match="sortable"):
        trace(lambda d: d[1])({1: np.ones(2), "a": np.ones(2)})


# ----- evaluation errors -----


def test_evaluate_checks_inputs():
    g = trace(two_args).trace(np.ones(3), np.ones(3))
    with pytest.raises(TypeError, match="takes 2 positional arguments but 1 were given"):
        evaluate(g, np.ones(3))
    with pytest.raises(TracegradError, match=r"input y: expected shape \(3,\), got \(4,\)"):
        evaluate(g, np.ones(3), np.ones(4))
    with pytest.raises(TracegradError, match=r"input x: expected float64\[3\], got complex128"):
        evaluate(g, np.ones(3, complex), np.ones(3))
    with pytest.raises(TypeError, match="structure"):
        evaluate(g, np.ones(3), (np.ones(3),))
    with pytest.raises(TracegradError, match="input x"):
        evaluate(g, "abc", np.ones(3))
    # lossless casts are accepted, like NumPy would compute them
    assert_same(evaluate(g, np.ones(3, np.float32), np.arange(3)), np.array([1.0, 2.0, 3.0]))


def test_call_with_different_shape_retraces_rather_than_failing():
    tf = trace(lambda x: x.sum())
    assert tf(np.ones(3)) == 3.0
    assert tf(np.ones(4)) == 4.0


def int_power(x, y):
    return x**y  # marker


def test_runtime_failure_is_an_evaluation_error_naming_node_and_line():
    with pytest.raises(EvaluationError) as info:
        trace(int_power)(np.array([2, 3]), np.array([1, -1]))
    msg = str(info.value)
    assert "pow(%0, %1)" in msg and "int64[2]" in msg
    assert where_is(int_power, "# marker").rsplit("/", 1)[-1] in msg
    assert "Integers to negative integer powers" in msg


# ----- the cache survives errors -----


def test_failed_trace_leaves_cache_usable():
    calls = []

    def f(x, fail):
        calls.append(1)
        if fail:
            raise RuntimeError("boom")
        return x * 2

    tf = trace(f, static_argnums=1)
    with pytest.raises(RuntimeError, match="boom"):
        tf(np.ones(2), True)
    assert tf.trace_count == 0
    assert_same(tf(np.ones(2), False), np.full(2, 2.0))
    assert_same(tf(np.ones(2), False), np.full(2, 2.0))
    assert tf.trace_count == 1
    with pytest.raises(RuntimeError):
        tf(np.ones(2), True)  # not cached: the failing trace runs (and fails) again
    assert len(calls) == 3


def test_error_inside_inlined_function_leaves_both_caches_usable():
    @trace
    def inner(x):
        return x @ x  # fails for 2-D non-square

    @trace
    def outer(x):
        return inner(x) + 1

    with pytest.raises(ShapeError, match="matmul"):
        outer(np.ones((2, 3)))
    assert_same(outer(np.ones((2, 2))), np.full((2, 2), 3.0))
    assert_same(inner(np.ones(3)), np.float64(3.0))
    # a later trace is not affected by the failed one's scope or trace state
    g = outer.trace(np.ones((2, 2)))
    assert {g.nodes[n]["scope"] for n in g.nodes} <= {("outer",), ("outer", "inner")}


def test_errors_do_not_leave_an_active_trace():
    from tracer.staging import current_scope, current_trace

    with pytest.raises(TracingError):
        trace(f_if)(np.ones(2))
    assert current_trace() is None
    assert current_scope() == ()


def test_spec_cannot_be_evaluated():
    tf = trace(lambda x: x + 1)
    with pytest.raises(TracegradError):
        evaluate(tf.trace(Spec((2,))), Spec((2,)))
