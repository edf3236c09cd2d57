"""Values read from module globals and closures are read at every call (``tracer.captures``).

Written the way HIPS autograd users write training loops: a minibatch rebound in a
global between calls, a learning rate that decays every epoch, hyperparameters in a
dict, helpers that read globals. Each case is compared with plain NumPy or a closed form.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from compiler import compile, grad, jacobian, jvp, value_and_grad, vjp
from tracer import trace

# module globals the functions below read; each test rebinds them through monkeypatch
Xb = np.ones((2, 2))
lr = 0.1
beta = 1.0
n_layers = 2
params = {"W": np.eye(2), "b": np.zeros(2)}
scale_table = np.arange(4.0)


def batch_loss(w):
    return np.sum(Xb @ w)


def helper_reads_global(w):
    return Xb @ w


def loss_through_helper(w):
    return np.sum(helper_reads_global(w) ** 2)


def annealed(w):
    # Python arithmetic on the captured float before it meets a traced value
    return 0.5 * beta * np.sum(w**2) + np.sum(w)


def deep(w):
    h = w
    for _ in range(n_layers):  # a captured int drives Python control flow
        h = np.tanh(h)
    return np.sum(h)


def uses_params(x):
    return np.sum(np.tanh(x @ params["W"] + params["b"]))


def decide(w):
    if lr > 0.05:  # control flow on a captured float: it is frozen, traced again on change
        return np.sum(w) * lr
    return np.sum(w**2)


@pytest.fixture
def module(monkeypatch):
    """Rebind this module's globals as ``module.Xb = ...`` (restored after the test)."""

    class Setter:
        def __setattr__(self, name, value):
            monkeypatch.setitem(globals(), name, value)

    return Setter()


def test_rebound_global_minibatch_is_seen(module):
    module.Xb = np.ones((2, 2))
    g = grad(lambda w: np.sum(Xb @ w))
    np.testing.assert_array_equal(g(np.ones(2)), [2.0, 2.0])
    module.Xb = 2 * np.ones((2, 2))
    np.testing.assert_array_equal(g(np.ones(2)), [4.0, 4.0])  # autograd and eager JAX agree
    assert g.trace_count == 1  # read at call time: no retrace


def test_minibatch_training_loop_matches_numpy(module):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3))
    w = np.zeros(3)
    g = grad(batch_loss)
    w_ref = np.zeros(3)
    for i in range(0, 64, 8):
        module.Xb = X[i : i + 8]
        w = w - 0.01 * g(w)
        w_ref = w_ref - 0.01 * Xb.sum(axis=0)  # d/dw sum(Xb @ w) = column sums of Xb
    np.testing.assert_allclose(w, w_ref, rtol=1e-12)
    assert g.trace_count == 1


def test_in_place_mutation_is_seen(module):
    module.Xb = np.ones((2, 2))
    g = grad(batch_loss)
    g(np.ones(2))
    Xb[:] = 3.0
    np.testing.assert_array_equal(g(np.ones(2)), [6.0, 6.0])


def test_helpers_reading_globals_are_seen(module):
    module.Xb = np.eye(2)
    g = value_and_grad(loss_through_helper)
    w = np.array([1.0, 2.0])
    assert g(w)[0] == 5.0
    module.Xb = 2 * np.eye(2)
    v, dw = g(w)
    assert v == 20.0
    np.testing.assert_array_equal(dw, 8 * w)


def test_closure_cells_rebound_with_nonlocal_are_seen():
    def make():
        scale = np.array(1.0)

        def f(x):
            return np.sum(x * scale)

        def set_scale(s):
            nonlocal scale
            scale = np.array(s)

        return f, set_scale

    f, set_scale = make()
    g = grad(f)
    np.testing.assert_array_equal(g(np.ones(2)), [1.0, 1.0])
    set_scale(3.0)
    np.testing.assert_array_equal(g(np.ones(2)), [3.0, 3.0])


def test_decaying_learning_rate_does_not_retrace(module):
    w = np.array([1.0, -1.0])
    g = grad(annealed)
    for epoch in range(50):
        module.beta = 1.0 / (1 + epoch)
        # d/dw (0.5 beta |w|^2 + sum w) = beta w + 1
        np.testing.assert_allclose(g(w), beta * w + 1.0, rtol=1e-14)
    assert g.trace_count == 1


def test_captured_float_in_control_flow_is_frozen_and_retraced(module, caplog):
    module.lr = 0.1
    f = trace(decide, explain_retrace=True)
    assert f(np.ones(3)) == pytest.approx(0.3)
    module.lr = 0.2
    assert f(np.ones(3)) == pytest.approx(0.6)
    with caplog.at_level(logging.WARNING, logger="tracegrad"):
        module.lr = 0.01
        assert f(np.ones(3)) == pytest.approx(3.0)
    assert "global lr: 0.2 -> 0.01" in caplog.text


def test_captured_int_is_static(module, caplog):
    module.n_layers = 2
    f = trace(deep, explain_retrace=True)
    assert f(np.zeros(1) + 1.0) == pytest.approx(np.tanh(np.tanh(1.0)))
    with caplog.at_level(logging.WARNING, logger="tracegrad"):
        module.n_layers = 3
        assert f(np.ones(1)) == pytest.approx(np.tanh(np.tanh(np.tanh(1.0))))
    assert "global n_layers: 2 -> 3" in caplog.text
    assert f.trace_count == 2


def test_dict_of_arrays_rebound_entry_is_seen(module):
    module.params = {"W": np.eye(2), "b": np.zeros(2)}
    x = np.array([[0.5, -0.25]])
    g = grad(uses_params)
    want = lambda: 1 - np.tanh(x @ params["W"] + params["b"]) ** 2  # noqa: E731
    np.testing.assert_allclose(g(x), want() @ params["W"].T, rtol=1e-12)
    params["W"] = np.array([[2.0, 0.0], [1.0, 1.0]])  # the dict is changed in place
    np.testing.assert_allclose(g(x), want() @ params["W"].T, rtol=1e-12)


def test_shape_change_of_a_captured_array_retraces_with_a_reason(module, caplog):
    module.Xb = np.ones((2, 2))
    f = trace(batch_loss, explain_retrace=True)
    f(np.ones(2))
    with caplog.at_level(logging.WARNING, logger="tracegrad"):
        module.Xb = np.ones((3, 2))
        assert f(np.ones(2)) == 6.0
    assert "global Xb: array float64[2, 2] -> array float64[3, 2]" in caplog.text


def test_captured_table_indexed_by_a_traced_index(module):
    f = grad(lambda w, i: np.sum(scale_table[i] * w))
    np.testing.assert_array_equal(f(np.ones(2), np.array([1, 3])), [1.0, 3.0])
    module.scale_table = np.arange(4.0) * 10
    np.testing.assert_array_equal(f(np.ones(2), np.array([1, 3])), [10.0, 30.0])


def test_captured_array_used_where_numpy_needs_a_concrete_value_is_frozen(module):
    module.Xb = np.ones((2, 2))
    f = trace(lambda w: np.sum(np.asarray(Xb) @ w))  # np.asarray has no tracer hook
    assert f(np.ones(2)) == 4.0
    module.Xb = 2 * np.ones((2, 2))  # a frozen array is keyed by identity: rebinding retraces
    assert f(np.ones(2)) == 8.0
    assert f.trace_count == 2


def test_rebound_global_function_retraces():
    ns = {"np": np}
    exec("def act(x):\n    return np.tanh(x)\ndef f(x):\n    return np.sum(act(x))\n", ns)
    f = compile(ns["f"])
    assert f(np.ones(2)) == pytest.approx(2 * np.tanh(1.0))
    exec("def act(x):\n    return np.sin(x)\n", ns)
    assert f(np.ones(2)) == pytest.approx(2 * np.sin(1.0))


def test_traced_helper_with_its_own_capture_inside_another_function(module):
    module.Xb = np.eye(2)
    inner = trace(helper_reads_global)
    g = grad(lambda w: np.sum(inner(w) ** 2))
    w = np.array([1.0, 2.0])
    np.testing.assert_array_equal(g(w), 2 * w)
    module.Xb = 3 * np.eye(2)
    np.testing.assert_array_equal(g(w), 18 * w)


def test_every_transformation_sees_the_new_value(module):
    w = np.array([1.0, 2.0])
    module.Xb = np.eye(2)
    f = helper_reads_global
    jac, fast = jacobian(f), compile(f)
    _, tangent = jvp(f, (w,), (np.ones(2),))
    _, back = vjp(f, w)
    np.testing.assert_array_equal(jac(w), np.eye(2))
    module.Xb = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(jac(w), Xb)
    np.testing.assert_array_equal(fast(w), Xb @ w)
    np.testing.assert_array_equal(jvp(f, (w,), (np.ones(2),))[1], Xb @ np.ones(2))
    np.testing.assert_array_equal(vjp(f, w)[1](np.ones(2))[0], Xb.T @ np.ones(2))
    np.testing.assert_array_equal(tangent, np.ones(2))  # the earlier results are unchanged
    np.testing.assert_array_equal(back(np.ones(2))[0], np.ones(2))


def test_generated_source_takes_captured_values_as_parameters(module):
    module.Xb = np.eye(2)
    src = compile(batch_loss).source(np.ones(2))
    assert "def batch_loss(w, Xb):" in src
