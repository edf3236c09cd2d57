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
