"""Misuse of the transformations gives a TracegradError that says what went wrong and what to do."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import (
    GradientCheckError,
    check_grad,
    grad,
    hessian,
    jacobian,
    jvp,
    value_and_grad,
    vjp,
)
from tracer import TracegradError
from tracer.primitives import PRIMITIVES

pytestmark = pytest.mark.usefixtures("validated_graphs")

# ----- non-scalar and non-float outputs -----


@pytest.mark.parametrize("transform", [grad, value_and_grad, hessian])
def test_non_scalar_output_points_to_jacobian_and_vjp(transform):
    def f(x):
        return x * 2.0

    with pytest.raises(TracegradError, match=r"scalar output.*float64\[3\].*jacobian or vjp"):
        transform(f)(np.ones(3))


def test_non_scalar_output_names_the_users_line():
    with pytest.raises(TracegradError, match=r"test_errors\.py:\d+"):
        grad(lambda x: np.sin(x))(np.ones(2))


def test_several_outputs_suggest_has_aux():
    with pytest.raises(TracegradError, match="has_aux=True"):
        grad(lambda x: (np.sum(x), x))(np.ones(2))


@pytest.mark.parametrize(
    "fn", [lambda x: np.sum(x > 0), lambda x: np.argmax(x)], ids=["bool-sum", "argmax"]
)
def test_integer_output_is_piecewise_constant(fn):
    with pytest.raises(TracegradError, match="floating-point output.*piecewise constant"):
        grad(fn)(np.ones(2))


# ----- integer and boolean inputs -----


def test_python_int_input_suggests_a_float():
    with pytest.raises(TracegradError, match=r"floating-point inputs.*int64\[\].*pass 2.0, not 2"):
        grad(lambda x: x * 2.0)(2)


@pytest.mark.parametrize(
    "arg", [np.array([1, 2]), np.array([True, False]), np.arange(3, dtype=np.int32)]
)
@pytest.mark.parametrize("transform", [grad, value_and_grad, jacobian])
def test_integer_and_boolean_array_inputs(arg, transform):
    with pytest.raises(TracegradError, match=f"floating-point inputs.*{arg.dtype}.*astype"):
        transform(lambda x: np.sum(x * 2.0))(arg)


def test_integer_input_not_differentiated_is_fine():
    f = lambda x, idx: np.sum(x[idx])
    np.testing.assert_array_equal(grad(f)(np.ones(3), np.array([0, 0])), [2.0, 0.0, 0.0])
    with pytest.raises(TracegradError, match="argument idx is int64"):
        grad(f, argnums=1)(np.ones(3), np.array([0, 0]))


def test_integer_leaf_in_a_pytree():
    with pytest.raises(TracegradError, match="floating-point inputs"):
        grad(lambda p: np.sum(p["w"] * p["n"]))({"w": np.ones(2), "n": np.array([1, 2])})


def test_complex_inputs_are_rejected():
    with pytest.raises(TracegradError, match="complex"):
        grad(lambda z: np.sum(z * 2.0))(np.ones(2, dtype=np.complex128))


# ----- argnums -----


@pytest.mark.parametrize("argnums", [2, -3, (0, 2), (5,)])
def test_argnums_out_of_range(argnums):
    with pytest.raises(TracegradError, match=r"argnums=.* out of range.*2 positional arguments"):
        grad(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)


@pytest.mark.parametrize("argnums", [1.5, "0", None])
def test_argnums_of_the_wrong_type(argnums):
    with pytest.raises(TracegradError, match="argnums must be an int or a tuple of ints"):
        grad(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)


def test_empty_argnums():
    with pytest.raises(TracegradError, match="at least one argument"):
        grad(lambda x: x, argnums=())(1.0)


def test_jacobian_argnums_and_mode():
    with pytest.raises(TracegradError, match="out of range"):
        jacobian(lambda x: x, argnums=1)(np.ones(2))
    with pytest.raises(TracegradError, match="'rev', 'fwd' or None.*'sideways'"):
        jacobian(lambda x: x, mode="sideways")(np.ones(2))


def test_static_argument_cannot_be_differentiated():
    from tracer import trace

    f = trace(lambda x, n: x**n, static_argnums=1)
    with pytest.raises(TracegradError, match="argument 1 is static"):
        grad(f, argnums=1)(2.0, 3)


# ----- has_aux -----


@pytest.mark.parametrize(
    "fn, what",
    [
        (lambda x: x * 2.0, "returned an array"),
        (lambda x: (x, x, x), "returned a tuple of 3 items"),
        (lambda x: [x], "returned a list of 1 items"),
    ],
)
def test_has_aux_needs_a_pair(fn, what):
    with pytest.raises(TracegradError, match=rf"has_aux=True.*pair \(output, aux\).*{what}"):
        grad(fn, has_aux=True)(1.0)


def test_has_aux_first_element_must_be_one_array():
    with pytest.raises(TracegradError, match="first element.*one scalar array.*tuple of 2"):
        value_and_grad(lambda x: ((x, x), x), has_aux=True)(1.0)
    with pytest.raises(TracegradError, match=r"scalar output.*float64\[2\]"):
        grad(lambda x: (x * np.ones(2), x), has_aux=True)(1.0)


# ----- vjp and jvp -----


def test_jvp_argument_errors():
    with pytest.raises(TypeError, match="must be tuples or lists"):
        jvp(np.sin, 1.0, 1.0)
    with pytest.raises(TypeError, match="1 primals but 0 tangents"):
        jvp(np.sin, (1.0,), ())
    with pytest.raises(TracegradError, match=r"tangent 0 has shape \(2,\), its primal has shape"):
        jvp(np.sin, (1.0,), (np.ones(2),))
    with pytest.raises(TracegradError, match="tangent 0 does not have the structure"):
        jvp(lambda p: p["a"], ({"a": 1.0},), ({"b": 1.0},))


def test_vjp_cotangent_must_match_the_output():
    _, vjp_fn = vjp(np.sin, np.ones(2))
    with pytest.raises(TracegradError, match=r"cotangent has shape \(3,\), the output has shape"):
        vjp_fn(np.ones(3))
    _, vjp_fn = vjp(lambda x: (x, x), np.ones(2))
    with pytest.raises(TracegradError, match="cotangent does not have the structure"):
        vjp_fn(np.ones(2))


def test_not_a_function():
    with pytest.raises(TypeError, match="expected a function, got int"):
        grad(3)


# ----- check_grad -----


def test_check_grad_reports_where_the_mismatch_is():
    # floor's derivative is 0; central differences across the jump at 1.0 are huge
    params = {"a": np.ones(2), "b": np.array([0.5, 1.0, 2.5])}
    f = lambda p: np.sum(np.floor(p["b"])) + np.sum(p["a"] ** 2)
    with pytest.raises(GradientCheckError, match=r"mismatch at args\[0\]\['b'\]\[1\]") as info:
        check_grad(f, params)
    msg = str(info.value)
    assert "analytic 0.0" in msg and "numeric 500000" in msg and "atol" in msg
    assert isinstance(info.value, TracegradError) and isinstance(info.value, AssertionError)


def test_check_grad_reports_a_2d_index_and_argument():
    x = np.array([[0.3, 0.25], [1.5, 2.2]])  # round() jumps at 1.5 only
    with pytest.raises(GradientCheckError, match=r"args\[1\]\[1, 0\]"):
        check_grad(lambda w, v: np.sum(w * np.round(v)), np.ones((2, 2)), x)


def test_check_grad_catches_a_wrong_rule(monkeypatch):
    from tracer import ops

    wrong = dataclasses.replace(
        PRIMITIVES["sin"],
        vjp=lambda gy, x, y: (ops.mul(gy, ops.cos(ops.mul(x, 1.01))),),
        jvp=lambda ts, x, y: ops.mul(ts[0], ops.cos(x)),
    )
    monkeypatch.setitem(PRIMITIVES, "sin", wrong)
    with pytest.raises(GradientCheckError, match=r"args\[0\]\[2\]"):
        check_grad(lambda x: np.sum(np.sin(x) * np.array([0.0, 0.0, 1.0])), np.arange(3.0))


def test_check_grad_order_2_catches_a_wrong_second_derivative(monkeypatch):
    from tracer import ops

    # right first derivative, but round() hides x from the second: d2 sin = 0 instead of -sin
    frozen = dataclasses.replace(
        PRIMITIVES["sin"],
        vjp=lambda gy, x, y: (ops.mul(gy, ops.cos(ops.round(x, 12))),),
        jvp=lambda ts, x, y: ops.mul(ts[0], ops.cos(ops.round(x, 12))),
    )
    monkeypatch.setitem(PRIMITIVES, "sin", frozen)
    x = np.array([0.3, 1.1])
    check_grad(lambda a: np.sum(np.sin(a)), x)  # first order passes
    with pytest.raises(GradientCheckError, match="mismatch"):
        check_grad(lambda a: np.sum(np.sin(a)), x, order=2)


def test_check_grad_without_float_arguments():
    with pytest.raises(TracegradError, match="no floating-point argument"):
        check_grad(lambda n: np.sum(n * 2), np.array([1, 2]))
