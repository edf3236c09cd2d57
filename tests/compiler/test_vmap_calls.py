"""vmap of functions whose derivative is steered: custom_vjp / custom_jvp calls (the call's rule,
batched), stop_gradient and checkpoint, composed with grad, jvp, jacobian and hessian.

Per-example derivatives of ``vmap`` (``vmap(grad(f))``) and derivatives through it
(``grad(sum(vmap(f)))``) must equal a loop of unbatched derivatives, and must use the
user's rule: where the function's body has no finite derivative, the rule's value
comes out. ``test_vmap_rules.py`` checks each marker's batching rule on the generic
table; these are the compositions.
"""

from __future__ import annotations

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401
from custom_testing import log1pexp

from compiler import (
    build_grad_graph,
    checkpoint,
    custom_vjp,
    grad,
    hessian,
    jacobian,
    jvp,
    stop_gradient,
    vmap,
)
from tracer import trace

pytestmark = pytest.mark.usefixtures("validated_graphs")


@custom_vjp
def log1pexp_vjp(x):
    return np.log1p(np.exp(x))


def _fwd(x):
    return log1pexp_vjp(x), x


def _bwd(x, g):
    return (g * (1.0 - 1.0 / (1.0 + np.exp(x))),)


log1pexp_vjp.defvjp(_fwd, _bwd)


@custom_vjp
def clip_gradient(x, bound):  # the rule is not the body's derivative: it must be the one used
    return x


def _clip_fwd(x, bound):
    return x, bound


def _clip_bwd(bound, g):
    return np.clip(g, -bound, bound), None


clip_gradient.defvjp(_clip_fwd, _clip_bwd)


@custom_vjp
def scaled_norm(x, w):  # reduces over the example: batching the rule must keep examples apart
    return w * np.sqrt(np.sum(x**2))


def _norm_fwd(x, w):
    n = np.sqrt(np.sum(x**2))
    return w * n, (x, w, n)


def _norm_bwd(res, g):
    x, w, n = res
    return g * w * x / n, g * n


scaled_norm.defvjp(_norm_fwd, _norm_bwd)

XS = np.array([1.0, 1000.0, -3.0])  # the body's derivative is nan at 1000 (inf / inf)
SIGMOID = 1.0 / (1.0 + np.exp(-np.array([1.0, -3.0])))


def _expected_log1pexp_grad():
    return np.array([SIGMOID[0], 1.0, SIGMOID[1]])


@pytest.mark.parametrize("f", [log1pexp, log1pexp_vjp], ids=["custom_jvp", "custom_vjp"])
def test_per_example_gradients_use_the_rule(f):
    want = _expected_log1pexp_grad()
    np.testing.assert_allclose(vmap(grad(f))(XS), want, rtol=1e-12)
    np.testing.assert_allclose(grad(lambda x: np.sum(vmap(f)(x)))(XS), want, rtol=1e-12)
    assert np.isnan(grad(lambda x: np.log1p(np.exp(x)))(1000.0))  # what the rule avoids


@pytest.mark.parametrize("f", [log1pexp, log1pexp_vjp], ids=["custom_jvp", "custom_vjp"])
def test_forward_mode_through_a_batched_call(f):
    want = _expected_log1pexp_grad()
    t = np.array([1.0, 2.0, -1.0])
    _, tangent = jvp(vmap(f), (XS,), (t,))  # a custom_vjp: the transpose of the batched bwd
    np.testing.assert_allclose(tangent, want * t, rtol=1e-12)
    np.testing.assert_allclose(vmap(lambda x: jvp(f, (x,), (1.0,))[1])(XS), want, rtol=1e-12)
    np.testing.assert_allclose(jacobian(vmap(f), mode="fwd")(XS), np.diag(want), rtol=1e-12)
    np.testing.assert_allclose(jacobian(vmap(f), mode="rev")(XS), np.diag(want), rtol=1e-12)


@pytest.mark.parametrize("f", [log1pexp, log1pexp_vjp], ids=["custom_jvp", "custom_vjp"])
def test_second_derivatives_through_a_batched_call(f):
    x = np.array([0.5, -1.0, 2.0])
    s = 1.0 / (1.0 + np.exp(-x))
    want = s * (1.0 - s)  # log1pexp'' = sigmoid'
    np.testing.assert_allclose(vmap(grad(grad(f)))(x), want, rtol=1e-10)
    np.testing.assert_allclose(hessian(lambda x: np.sum(vmap(f)(x)))(x), np.diag(want),
                               rtol=1e-10, atol=1e-14)  # fmt: skip


def test_a_rule_that_is_not_the_derivative_is_the_one_batched():
    xs = np.array([-1.0, 0.5, 2.0])

    def h(x):
        return 5.0 * clip_gradient(x, 1.0)

    np.testing.assert_array_equal(vmap(grad(h))(xs), np.ones(3))
    np.testing.assert_array_equal(grad(lambda x: np.sum(vmap(h)(x)))(xs), np.ones(3))


def test_a_rule_that_reduces_over_the_example_with_a_shared_argument():
    rng = np.random.default_rng(0)
    xs, w = rng.standard_normal((4, 3)), 1.5

    def h(x, w):
        return np.sin(scaled_norm(x, w))

    loop = [grad(h, argnums=(0, 1))(x, w) for x in xs]
    gx, gw = vmap(grad(h, argnums=(0, 1)), in_axes=(0, None))(xs, w)
    np.testing.assert_allclose(gx, np.stack([g[0] for g in loop]), rtol=1e-12)
    np.testing.assert_allclose(gw, np.stack([g[1] for g in loop]), rtol=1e-12)
    # through the vmap: the shared argument's gradient sums the examples'
    tx, tw = grad(lambda xs, w: np.sum(vmap(h, in_axes=(0, None))(xs, w)), argnums=(0, 1))(xs, w)
    np.testing.assert_allclose(tx, np.stack([g[0] for g in loop]), rtol=1e-12)
    np.testing.assert_allclose(tw, np.sum([g[1] for g in loop]), rtol=1e-12)
    # the batch axis elsewhere, and the argument mapped instead of shared
    ws = np.array([1.0, -2.0, 0.5])
    xt = xs[:3].T  # examples along axis 1
    got = grad(lambda xt, ws: np.sum(vmap(h, in_axes=(1, 0))(xt, ws)), argnums=(0, 1))(xt, ws)
    loop = [grad(h, argnums=(0, 1))(x, w) for x, w in zip(xs[:3], ws)]
    np.testing.assert_allclose(got[0], np.stack([g[0] for g in loop], axis=1), rtol=1e-12)
    np.testing.assert_allclose(got[1], np.array([g[1] for g in loop]), rtol=1e-12)


def test_a_result_the_same_for_every_example():
    @custom_vjp
    def pair(x, w):  # the second result does not depend on the mapped x
        return x * w, 2.0 * w

    pair.defvjp(lambda x, w: (pair(x, w), (x, w)),
                lambda r, g: (g[0] * r[1], g[0] * r[0] + 2.0 * g[1]))  # fmt: skip

    def h(x, w):
        a, b = pair(x, w)
        return np.sum(np.sin(a) * b)

    xs, w = np.array([[0.3, -1.0], [2.0, 0.7], [1.1, 0.2]]), np.array([0.5, -1.5])
    loop = [grad(h, argnums=(0, 1))(x, w) for x in xs]
    tx, tw = grad(lambda xs, w: np.sum(vmap(h, in_axes=(0, None))(xs, w)), argnums=(0, 1))(xs, w)
    np.testing.assert_allclose(tx, np.stack([g[0] for g in loop]), rtol=1e-12)
    np.testing.assert_allclose(tw, np.sum([g[1] for g in loop], axis=0), rtol=1e-12)


def test_nested_vmaps_of_a_call():
    x = np.array([[1.0, 1000.0], [-3.0, 0.25]])
    s = 1.0 / (1.0 + np.exp(-x))
    want = np.where(x > 100, 1.0, s)
    for f in (log1pexp, log1pexp_vjp):
        np.testing.assert_allclose(vmap(vmap(grad(f)))(x), want, rtol=1e-12)
        got = grad(lambda x, f=f: np.sum(vmap(vmap(f))(x)))(x)
        np.testing.assert_allclose(got, want, rtol=1e-12)
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((2, 3, 4))

    def h(x):
        return scaled_norm(x, 2.0)

    got = grad(lambda xs: np.sum(np.sin(vmap(vmap(h))(xs))))(xs)
    want = np.stack([[grad(lambda x: np.sin(h(x)))(x) for x in row] for row in xs])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_stop_gradient_under_vmap():
    xs = np.array([0.5, -2.0, 3.0])

    def h(x):
        return x * stop_gradient(x)  # d/dx = stop_gradient(x) = x

    np.testing.assert_array_equal(vmap(grad(h))(xs), xs)
    np.testing.assert_array_equal(grad(lambda x: np.sum(vmap(h)(x)))(xs), xs)


def block(w, x):
    return np.tanh(np.sin(x @ w) * 2.0)


def test_checkpoint_under_vmap_equals_the_loop():
    rng = np.random.default_rng(2)
    w, xs = rng.standard_normal((3, 3)), rng.standard_normal((4, 3))

    def make_loss(block_fn):
        return lambda w, x: np.sum(block_fn(w, block_fn(w, x)) ** 2)

    plain = [grad(make_loss(block))(w, x) for x in xs]
    loss = make_loss(checkpoint(block))
    per_example = vmap(grad(loss), in_axes=(None, 0))(w, xs)
    np.testing.assert_allclose(per_example, np.stack(plain), rtol=1e-12)
    total = grad(lambda w, xs: np.sum(vmap(loss, in_axes=(None, 0))(w, xs)))(w, xs)
    np.testing.assert_allclose(total, np.sum(plain, axis=0), rtol=1e-12)


def test_the_gradient_of_a_vmap_recomputes_a_checkpoint():
    rng = np.random.default_rng(3)
    w, xs = rng.standard_normal((3, 3)), rng.standard_normal((4, 3))

    def total(w, xs, block_fn):
        return np.sum(vmap(block_fn, in_axes=(None, 0))(w, xs))

    plain = build_grad_graph(trace(total, static_argnums=2).trace(w, xs, block))
    ckpt = build_grad_graph(trace(total, static_argnums=2).trace(w, xs, checkpoint(block)))
    recomputed = [d for _, d in ckpt.nodes(data=True) if d.get("recompute") is not None]
    assert not [d for _, d in plain.nodes(data=True) if d.get("recompute") is not None]
    # the batched block's internal value that a derivative reads (x @ w, for sin') is
    # recomputed from the block's inputs, as without vmap
    copied = {d["op"] for d in recomputed if ckpt.nodes[d["recompute"]]["op"] == d["op"]}
    assert copied == {"matmul"}
    assert "after" in {d["op"] for d in recomputed}
    ckpt_grad = grad(lambda w, xs: total(w, xs, checkpoint(block)))(w, xs)
    np.testing.assert_array_equal(ckpt_grad, grad(lambda w, xs: total(w, xs, block))(w, xs))


def test_the_batching_rules_nodes_join_the_checkpoint_region():
    # with the examples along axis 1, the batched matmul moves an axis first: that node is
    # the region's too, so it is recomputed rather than kept
    rng = np.random.default_rng(4)
    w, xs = rng.standard_normal((3, 3)), rng.standard_normal((3, 4))
    graph = trace(lambda w, xs: vmap(checkpoint(block), in_axes=(None, 1))(w, xs)).trace(w, xs)
    ops = [d for _, d in graph.nodes(data=True) if d["op"] not in ("input", "const")]
    assert len(ops) > 4 and len({d.get("checkpoint") for d in ops}) == 1
    assert ops[0].get("checkpoint") is not None
