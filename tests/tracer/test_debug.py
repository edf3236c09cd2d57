"""debug_nans: the first NaN/Inf node raises, naming the op, operands and source line."""

import numpy as np
import pytest

from tracer import NaNError, debug_nans, trace


def _log_twice(x):
    return np.log(x) * 2.0


def test_off_by_default_follows_numpy():
    out = trace(_log_twice)(np.array([1.0, -1.0]))
    assert out[0] == 0.0 and np.isnan(out[1])


def test_function_flag_names_op_operands_and_line():
    f = trace(_log_twice, debug_nans=True)
    with pytest.raises(NaNError) as info:
        f(np.array([1.0, -1.0, 2.0]))
    msg = str(info.value)
    assert "log produced NaN" in msg
    assert "test_debug.py:" in msg
    assert "operand %0 x: float64[3], min -1 mean 0.6667 max 2" in msg
    assert "1 NaN" in msg


def test_context_manager_scopes_the_check():
    f = trace(_log_twice)
    with debug_nans(), pytest.raises(NaNError):
        f(np.array([-1.0]))
    # outside the block the switch is off again and the same cached graph runs
    assert np.isnan(f(np.array([-1.0]))[0])
    assert f.trace_count == 1


def test_global_switch():
    f = trace(_log_twice)
    debug_nans(True)
    try:
        with pytest.raises(NaNError, match="Inf"):
            f(np.array([0.0]))
    finally:
        debug_nans(False)
    assert np.isneginf(f(np.array([0.0]))[0])


def test_nan_input_is_reported_as_input():
    f = trace(_log_twice, debug_nans=True)
    with pytest.raises(NaNError, match="input x contains NaN"):
        f(np.array([np.nan]))


def test_function_flag_false_overrides_global():
    f = trace(_log_twice, debug_nans=False)
    with debug_nans():
        assert np.isnan(f(np.array([-1.0]))[0])


def test_gradient_functions_check_backward_nodes():
    from compiler import grad

    g = grad(lambda x: np.sum(np.sqrt(x)))
    with debug_nans(), pytest.raises(NaNError) as info:
        g(np.array([1.0, 0.0]))
    msg = str(info.value)
    assert "produced Inf" in msg
    assert "derivative of" in msg and "sqrt" in msg
    np.testing.assert_array_equal(g(np.array([1.0, 0.0])), [0.5, np.inf])


def test_decorator_form():
    @trace(debug_nans=True)
    def f(x):
        return np.sqrt(x - 1.0)

    with pytest.raises(NaNError, match="sqrt produced NaN"):
        f(np.array([2.0, 0.5]))


def test_transformations_keep_the_function_flag():
    from compiler import compile, grad

    f = trace(lambda x: np.sum(np.sqrt(x)), debug_nans=True)
    with pytest.raises(NaNError, match="derivative of"):
        grad(f)(np.array([1.0, 0.0]))  # the backward node 0.5 / sqrt(0) is Inf
    with pytest.raises(NaNError, match="sqrt produced NaN"):
        compile(f)(np.array([-1.0]))


def test_context_manager_does_not_leak_into_other_threads():
    import threading

    f = trace(_log_twice)
    inside, checked = threading.Event(), threading.Event()
    seen = []

    def other():
        inside.wait(10)
        seen.append(f(np.array([-1.0]))[0])  # the other thread's block must not apply
        checked.set()

    t = threading.Thread(target=other)
    t.start()
    with debug_nans():
        inside.set()
        checked.wait(10)
        with pytest.raises(NaNError):
            f(np.array([-1.0]))
    t.join(10)
    assert len(seen) == 1 and np.isnan(seen[0])
