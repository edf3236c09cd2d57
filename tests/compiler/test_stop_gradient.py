"""stop_gradient: a value every derivative treats as a constant, at every order, compiled or not,
and drawn as a cut in the gradient graph."""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

import compiler
from compiler import (
    build_grad_graph,
    compile,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jvp,
    render,
    stop_gradient,
    value_and_grad,
    vjp,
)
from compiler.drawing import build_drawing
from compiler.drawing.dot import CUT
from tracer import ops, trace

pytestmark = pytest.mark.usefixtures("validated_graphs")


def test_one_function_three_spellings():
    assert compiler.stop_gradient is ops.stop_gradient is stop_gradient


def test_value_is_unchanged():
    x = np.array([1.0, -2.0])
    np.testing.assert_array_equal(stop_gradient(x), x)
    np.testing.assert_array_equal(trace(lambda x: stop_gradient(x) * 1.0)(x), x)
    assert stop_gradient(2.5) == 2.5 and type(stop_gradient(2.5)) is float  # stays weak
    f32 = np.ones(2, np.float32)
    assert trace(lambda x: x * stop_gradient(2.0))(f32).dtype == np.float32
    assert trace(lambda x: stop_gradient(x))(np.arange(3)).dtype == np.int64
    tree = stop_gradient({"a": x, "b": (x, None)})
    assert set(tree) == {"a", "b"} and tree["b"][1] is None


def test_grad_treats_it_as_a_constant():
    f = lambda x: x * stop_gradient(x)  # noqa: E731
    assert grad(f)(3.0) == 3.0  # d/dx (x * c), c = 3; without stop_gradient: 6
    assert grad(lambda x: np.sum(stop_gradient(x) ** 2))(np.ones(2)).tolist() == [0.0, 0.0]
    value, g = value_and_grad(lambda x: np.exp(x) - stop_gradient(np.exp(x)) + x)(0.5)
    assert value == 0.5 and g == pytest.approx(np.exp(0.5) + 1.0)
    _, f_vjp = vjp(lambda x: stop_gradient(x) * x, np.array([2.0]))
    assert f_vjp(np.array([1.0]))[0].tolist() == [2.0]


def test_forward_mode_and_jacobians():
    f = lambda x: np.sin(x) * stop_gradient(np.cos(x))  # noqa: E731
    x = np.array([0.3, 1.1])
    want = np.cos(x) * np.cos(x)  # cos(x) is a constant factor
    np.testing.assert_allclose(jvp(f, (x,), (np.ones(2),))[1], want)
    np.testing.assert_allclose(jacfwd(f)(x), np.diag(want))
    np.testing.assert_allclose(jacrev(f)(x), np.diag(want))


def test_every_order():
    f = lambda x: x**3 * stop_gradient(x)  # noqa: E731
    assert grad(grad(f))(2.0) == pytest.approx(6 * 2.0 * 2.0)  # (x^3)'' * c, c = 2
    assert hessian(f)(2.0) == pytest.approx(24.0)
    assert grad(grad(grad(f)))(2.0) == pytest.approx(12.0)
    # a stop_gradient inside a gradient: the inner gradient is a constant to the outer one
    g = lambda x: grad(lambda y: y * y)(stop_gradient(x)) * x  # noqa: E731
    assert grad(g)(3.0) == pytest.approx(6.0)


def test_the_optimiser_keeps_it():
    f = lambda x: x * stop_gradient(x)  # noqa: E731
    fast = compile(f)
    assert "stop_gradient" in [d["op"] for _, d in fast.trace(2.0).nodes(data=True)]
    assert grad(fast)(3.0) == 3.0  # differentiating the compiled graph: still a constant
    assert grad(compile(grad(lambda x: x**2 * stop_gradient(x))))(2.0) == pytest.approx(4.0)


def test_the_gradient_drawing_shows_a_cut():
    f = lambda x: x * stop_gradient(np.exp(x)) + np.sin(x)  # noqa: E731
    graph = build_grad_graph(trace(f).trace(1.0))
    for view in ("book", "expanded"):
        drawing = build_drawing(graph, roles=True, view=view)
        cuts = [i for i in drawing.items.values() if i.cut]
        assert [i.title for i in cuts] == ["stop_gradient"]
        assert cuts[0].sub == ["gradient stops here"]
    assert not any(i.cut for i in build_drawing(graph, roles=False).items.values())
    assert CUT in render(f, 1.0, backward=True).source
    assert CUT not in render(f, 1.0).source


def test_a_stop_gradient_on_a_constant_path_is_not_a_cut():
    graph = build_grad_graph(trace(lambda x, k: x * stop_gradient(k)).trace(1.0, 2.0), wrt=[0])
    assert not any(i.cut for i in build_drawing(graph, roles=True).items.values())


def test_floor_is_drawn_as_a_cut_too():
    graph = build_grad_graph(trace(lambda x: np.floor(x) * x).trace(1.5))
    drawing = build_drawing(graph, roles=True)
    assert [i.title for i in drawing.items.values() if i.cut] == ["floor"]
