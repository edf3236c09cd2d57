"""custom_vjp and custom_jvp: the user's rule is what grad, vjp, jvp, jacobian and hessian use.

The three examples of issue 11 (a numerically stable log1pexp, gradient clipping in
the backward pass, a straight-through estimator), then JAX's semantics one by one:
residuals, nondiff_argnums, pytrees and several results, higher orders through a
traceable rule, forward mode, the drawing (one box in the book view, the body in the
expanded one), compilation, saving, and the errors.
"""

from __future__ import annotations

import functools
from collections import namedtuple

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401
from custom_testing import log1pexp

from compiler import (
    build_grad_graph,
    check_grad,
    compile,
    custom_jvp,
    custom_vjp,
    grad,
    hessian,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    render,
    value_and_grad,
    vjp,
)
from compiler.drawing import build_drawing
from tracer import TracegradError, evaluate, load, save, trace, validate

pytestmark = pytest.mark.usefixtures("validated_graphs")


def ops_of(graph) -> list[str]:
    return [d["op"] for _, d in graph.nodes(data=True)]


# ----- example 1: a numerically stable log1pexp (custom_jvp) -----


def naive_log1pexp(x):
    return np.log1p(np.exp(x))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_log1pexp_values_are_the_body():
    x = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_array_equal(log1pexp(x), np.log1p(np.exp(x)))  # outside any trace
    np.testing.assert_array_equal(trace(log1pexp)(x), np.log1p(np.exp(x)))
    np.testing.assert_array_equal(compile(log1pexp)(x), np.log1p(np.exp(x)))


def test_log1pexp_gradient_uses_the_rule_where_the_body_overflows():
    with np.errstate(all="ignore"):
        assert np.isnan(grad(naive_log1pexp)(1000.0))  # exp(1000) = inf: inf / inf
    assert grad(log1pexp)(1000.0) == 1.0
    for x in (-5.0, 0.0, 3.0):
        assert grad(log1pexp)(x) == pytest.approx(sigmoid(x), rel=1e-14)


def test_log1pexp_forward_mode_and_jacobians():
    x = np.array([-2.0, 0.5, 800.0])
    out, t = jvp(log1pexp, (x,), (np.ones(3),))
    np.testing.assert_allclose(t, [sigmoid(-2.0), sigmoid(0.5), 1.0], rtol=1e-14)
    for jac in (jacfwd(log1pexp), jacrev(log1pexp), jacobian(log1pexp)):
        np.testing.assert_allclose(jac(x), np.diag([sigmoid(-2.0), sigmoid(0.5), 1.0]))


def test_log1pexp_higher_orders_differentiate_the_rule():
    for x in (-1.0, 0.3, 2.0):
        s = sigmoid(x)
        assert grad(grad(log1pexp))(x) == pytest.approx(s * (1 - s), rel=1e-12)
        assert hessian(log1pexp)(x) == pytest.approx(s * (1 - s), rel=1e-12)
        assert grad(grad(grad(log1pexp)))(x) == pytest.approx(s * (1 - s) * (1 - 2 * s))
    check_grad(lambda x: np.sum(log1pexp(x) * x), np.linspace(-2, 2, 5), order=2)


def test_gradient_graph_is_the_rule_not_the_body():
    g = grad(log1pexp).trace(1.0)
    assert "log1p" not in ops_of(g)  # the body's derivative would read log1p's operand
    assert ops_of(build_grad_graph(trace(log1pexp).trace(1.0))).count("custom_jvp_call") == 1


# ----- example 2: gradient clipping in the backward pass (custom_vjp) -----


@custom_vjp
def clip_gradient(x, lo, hi):
    return x  # identity on the way forward


def _clip_fwd(x, lo, hi):
    return x, (lo, hi)  # residuals: the bounds


def _clip_bwd(res, g):
    lo, hi = res
    return np.clip(g, lo, hi), None, None  # None: no cotangent for the bounds


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


def test_gradient_clipping_clips_on_the_way_back():
    def f(x):
        return np.sum(10.0 * clip_gradient(np.sin(x), -1.0, 1.0))

    x = np.array([0.0, 1.0, 3.0])
    assert f(x) == pytest.approx(10.0 * np.sum(np.sin(x)))
    np.testing.assert_allclose(grad(f)(x), np.cos(x))  # 10 clipped to 1, times sin'
    value, g = value_and_grad(f)(x)
    assert value == pytest.approx(f(x))
    np.testing.assert_allclose(g, np.cos(x))
    # a small gradient passes unchanged
    np.testing.assert_allclose(grad(lambda x: np.sum(0.5 * clip_gradient(x, -1.0, 1.0)))(x), 0.5)


def test_gradient_clipping_with_bounds_as_nondiff_arguments():
    @functools.partial(custom_vjp, nondiff_argnums=(1,))
    def clip(x, bound):
        return x

    clip.defvjp(lambda x, bound: (x, None), lambda bound, res, g: (np.clip(g, -bound, bound),))
    f = trace(lambda x, b: np.sum(3.0 * clip(x, b)), static_argnums=1)
    np.testing.assert_array_equal(grad(f)(np.ones(2), 2.0), [2.0, 2.0])
    np.testing.assert_array_equal(grad(f)(np.ones(2), 0.5), [0.5, 0.5])  # a new static value
    np.testing.assert_array_equal(grad(lambda x: np.sum(3.0 * clip(x, 9.0)))(np.ones(2)), 3.0)


# ----- example 3: a straight-through estimator (custom_vjp) -----


@custom_vjp
def ste_round(x):
    return np.round(x)


ste_round.defvjp(lambda x: (np.round(x), None), lambda res, g: (g,))


def test_straight_through_estimator():
    w = np.array([0.2, 1.7, -2.4])
    loss = lambda w: np.sum(ste_round(w) * np.array([1.0, 2.0, 3.0]))  # noqa: E731
    assert loss(w) == pytest.approx(0.0 + 4.0 - 6.0)
    np.testing.assert_array_equal(grad(loss)(w), [1.0, 2.0, 3.0])  # round' would be 0
    np.testing.assert_array_equal(grad(lambda w: np.sum(np.round(w)))(w), 0.0)
    # forward mode transposes the rule: the identity
    np.testing.assert_array_equal(jvp(ste_round, (w,), (np.ones(3),))[1], np.ones(3))


# ----- residuals, several results, pytrees -----


@custom_vjp
def polar(r, theta):
    return {"x": r * np.cos(theta), "y": r * np.sin(theta)}


def _polar_fwd(r, theta):
    c, s = np.cos(theta), np.sin(theta)
    return {"x": r * c, "y": r * s}, (r, c, s)


def _polar_bwd(res, g):
    r, c, s = res
    return g["x"] * c + g["y"] * s, -g["x"] * r * s + g["y"] * r * c


polar.defvjp(_polar_fwd, _polar_bwd)


def test_residuals_and_dict_results():
    r, th = np.array([1.0, 2.0]), np.array([0.3, -1.2])

    def f(r, th):
        p = polar(r, th)
        return np.sum(p["x"] ** 2 + 3.0 * p["y"])

    def plain(r, th):
        return np.sum((r * np.cos(th)) ** 2 + 3.0 * r * np.sin(th))

    for argnums in (0, 1, (0, 1)):
        got, want = grad(f, argnums)(r, th), grad(plain, argnums)(r, th)
        np.testing.assert_allclose(got, want, rtol=1e-13)
    check_grad(f, r, th, order=2)  # second order differentiates fwd and bwd
    # forward over reverse: the forward pass transposes bwd
    np.testing.assert_allclose(hessian(f, 1)(r, th), hessian(plain, 1)(r, th), rtol=1e-12)


def test_a_result_used_alone_gets_a_zero_cotangent_for_the_other():
    r, th = np.array([1.5]), np.array([0.4])
    g = grad(lambda th: np.sum(polar(r, th)["y"]))(th)
    np.testing.assert_allclose(g, r * np.cos(th))


def test_vjp_of_a_custom_function():
    r, th = np.array([1.0, 2.0]), np.array([0.3, -1.2])
    out, f_vjp = vjp(polar, r, th)
    gr, gth = f_vjp({"x": np.ones(2), "y": np.zeros(2)})
    np.testing.assert_allclose(gr, np.cos(th))
    np.testing.assert_allclose(gth, -r * np.sin(th))


Pair = namedtuple("Pair", "a b")


@custom_jvp
def swap_scale(p, k):
    return Pair(p.b * k, p.a * k)


@swap_scale.defjvp
def _swap_scale_jvp(primals, tangents):
    (p, k), (tp, tk) = primals, tangents
    return swap_scale(p, k), Pair(tp.b * k + p.b * tk, tp.a * k + p.a * tk)


def test_custom_jvp_with_namedtuple_arguments_and_results():
    p, k = Pair(np.array([1.0, 2.0]), np.array([3.0, 4.0])), 2.0
    out = swap_scale(p, k)
    assert isinstance(out, Pair)
    g = grad(lambda p, k: np.sum(swap_scale(p, k).a * swap_scale(p, k).b))(p, k)
    assert isinstance(g, Pair)
    np.testing.assert_allclose(g.a, k * k * p.b)
    np.testing.assert_allclose(g.b, k * k * p.a)
    jac = jacobian(lambda p, k: swap_scale(p, k).a, argnums=1)(p, k)
    np.testing.assert_allclose(jac, p.b)


# ----- nondiff_argnums: a function argument, as in JAX's docs -----


@functools.partial(custom_vjp, nondiff_argnums=(0,))
def apply_twice(f, x):
    return f(f(x))


def _apply_twice_fwd(f, x):
    return f(f(x)), x


def _apply_twice_bwd(f, x, g):
    return (g * 2.0 * x,)  # a deliberately different rule: d(x^2)/dx whatever f is


apply_twice.defvjp(_apply_twice_fwd, _apply_twice_bwd)


def test_nondiff_function_argument():
    assert apply_twice(np.sin, 0.5) == pytest.approx(np.sin(np.sin(0.5)))
    assert grad(lambda x: apply_twice(np.sin, x))(0.5) == pytest.approx(1.0)
    assert grad(lambda x: apply_twice(np.cos, x))(3.0) == pytest.approx(6.0)


def test_nondiff_argument_may_not_be_traced():
    with pytest.raises(TracegradError, match="nondiff_argnums"):
        grad(lambda x: apply_twice(x, x))(1.0)


# ----- custom_jvp with nondiff_argnums; defjvps -----


@functools.partial(custom_jvp, nondiff_argnums=(1,))
def power(x, n):
    return x**n


@power.defjvp
def _power_jvp(n, primals, tangents):
    (x,), (t,) = primals, tangents
    return power(x, n), n * x ** (n - 1) * t


def test_custom_jvp_nondiff_and_orders():
    assert grad(lambda x: power(x, 3))(2.0) == pytest.approx(12.0)
    assert grad(grad(lambda x: power(x, 3)))(2.0) == pytest.approx(12.0)
    assert hessian(lambda x: power(x, 4))(1.5) == pytest.approx(12 * 1.5**2)


def test_defjvps():
    @custom_jvp
    def mul(x, y):
        return x * y

    mul.defjvps(lambda tx, out, x, y: tx * y, lambda ty, out, x, y: ty * x)
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    gx, gy = grad(lambda x, y: np.sum(mul(x, y)), (0, 1))(x, y)
    np.testing.assert_allclose(gx, y)
    np.testing.assert_allclose(gy, x)


# ----- where the call happens: nested traced functions, captured globals -----

SCALE = np.array([2.0, 3.0])


@custom_vjp
def scaled(x):
    return x * SCALE


scaled.defvjp(lambda x: (x * SCALE, None), lambda res, g: (g * SCALE * 10.0,))


def test_globals_read_by_the_body_are_read_at_every_call():
    global SCALE
    f = grad(lambda x: np.sum(scaled(x)))
    np.testing.assert_allclose(f(np.ones(2)), [20.0, 30.0])
    old = SCALE
    try:
        SCALE = np.array([1.0, 1.0])
        np.testing.assert_allclose(f(np.ones(2)), [10.0, 10.0])
        np.testing.assert_allclose(grad(lambda x: np.sum(scaled(x)))(np.ones(2)), 10.0)
    finally:
        SCALE = old


def test_custom_function_as_the_differentiated_function_itself():
    np.testing.assert_allclose(jacobian(scaled)(np.ones(2)), np.diag([20.0, 30.0]))


def test_custom_call_inside_a_traced_helper_keeps_its_rule():
    @trace
    def helper(x):
        return np.sum(10.0 * clip_gradient(x, -1.0, 1.0))

    def f(x):
        return helper(x) + helper(2.0 * x)

    np.testing.assert_allclose(grad(f)(np.ones(2)), [3.0, 3.0])  # 1 + 2 (10 + 20 unclipped)


def test_a_custom_call_inside_a_rule_is_differentiated_by_its_own_rule():
    assert grad(grad(log1pexp))(3.0) == pytest.approx(sigmoid(3.0) * (1 - sigmoid(3.0)))


# ----- drawing, compiling, saving -----


def test_book_view_draws_the_call_as_one_box_and_expanded_its_body():
    graph = trace(lambda x: np.sin(log1pexp(x))).trace(1.0)
    book = build_drawing(graph, roles=False, view="book")
    ops = [i.title for i in book.items.values() if i.kind == "op"]
    assert ops == ["log1pexp", "sin"]
    assert [i.sub for i in book.items.values() if i.title == "log1pexp"] == [["custom_jvp"]]
    expanded = build_drawing(graph, roles=False, view="expanded")
    ops = [i.title for i in expanded.items.values() if i.kind == "op"]
    assert ops == ["exp", "log1p", "custom_jvp", "sin"]
    assert any(i.scope == ("log1pexp",) for i in expanded.items.values())


def test_gradient_drawing_shows_the_rule_as_one_derivative_box():
    graph = build_grad_graph(trace(lambda x: np.sin(log1pexp(x))).trace(1.0))
    book = build_drawing(graph, roles=True, view="book")
    groups = sorted(i.title for i in book.items.values() if i.kind == "group")
    assert groups == ["log1pexp'(x)", "sin'(a)"]
    dot = render(lambda x: np.sin(log1pexp(x)), 1.0, backward=True)
    assert "log1pexp&#x27;(x)" in dot.source or "log1pexp'(x)" in dot.source


def test_compiled_gradient_runs_the_rule():
    f = compile(grad(lambda x: np.sum(log1pexp(x))))
    np.testing.assert_allclose(f(np.array([0.0, 1000.0])), [0.5, 1.0])
    assert "log1p" not in f.source(np.zeros(2))


def test_save_keeps_the_body_and_drops_the_rule(tmp_path):
    graph = trace(lambda x: np.sum(log1pexp(x))).trace(np.zeros(2))
    save(graph, tmp_path / "g.json")
    loaded = load(tmp_path / "g.json")
    validate(loaded)
    assert "rule" not in loaded.nodes[[n for n in loaded if loaded.nodes[n]["op"] ==
                                       "custom_jvp_call"][0]]  # fmt: skip
    assert evaluate(loaded, np.array([0.0, 1.0])) == pytest.approx(np.log(2) + np.log1p(np.e))
    with pytest.raises(TracegradError, match="rule of log1pexp is not available"):
        build_grad_graph(loaded)
    # a gradient graph saves and loads whole: the rule is already in it
    g = grad(lambda x: np.sum(log1pexp(x))).trace(np.zeros(2))
    save(g, tmp_path / "grad.json")
    np.testing.assert_allclose(evaluate(load(tmp_path / "grad.json"), np.zeros(2)), [0.5, 0.5])


# ----- errors -----


def test_no_rule_is_a_clear_error_only_when_differentiating():
    @custom_vjp
    def f(x):
        return x * 2.0

    assert f(3.0) == 6.0
    assert trace(f)(3.0) == 6.0
    with pytest.raises(TracegradError, match=r"f has no derivative rule: call f.defvjp"):
        grad(f)(1.0)


def test_bwd_returning_the_wrong_number_of_cotangents():
    @custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g * res[1],))
    with pytest.raises(TracegradError, match="bwd must return a tuple of 2 cotangents"):
        grad(f)(1.0, 2.0)


def test_bwd_returning_a_wrong_shape():
    @custom_vjp
    def f(x):
        return np.sum(x)

    f.defvjp(lambda x: (np.sum(x), None), lambda res, g: (g,))
    with pytest.raises(TracegradError, match=r"has shape \(\), expected \(3,\)"):
        grad(f)(np.ones(3))


def test_jvp_rule_returning_a_wrong_structure():
    @custom_jvp
    def f(x):
        return x, x

    f.defjvp(lambda p, t: ((p[0], p[0]), t[0]))
    with pytest.raises(TracegradError, match="structure of the function's output"):
        jvp(lambda x: f(x)[0], (1.0,), (1.0,))


def test_bad_declarations():
    with pytest.raises(TypeError, match="expects a function"):
        custom_vjp(3)
    with pytest.raises(TypeError, match="nondiff_argnums"):
        custom_jvp(np.sin, nondiff_argnums=(-1,))
    with pytest.raises(TypeError, match="takes two functions"):
        custom_vjp(np.sin).defvjp(np.sin, None)
