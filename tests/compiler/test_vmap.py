"""``vmap``: JAX's semantics (in_axes, out_axes, axis_size, nesting, errors naming the
argument) and composition with every other transformation; checked against Python loops
and central differences. The per-primitive batching rules are tested in test_vmap_rules.py."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import (
    check_grad,
    compile,
    elementwise_grad,
    grad,
    hessian,
    jacobian,
    jvp,
    numerical_grad,
    render,
    value_and_grad,
    vmap,
)
from tracer import TracegradError, trace

pytestmark = pytest.mark.usefixtures("validated_graphs")

RNG = np.random.default_rng(0)
XS = RNG.normal(size=(5, 3))
YS = RNG.normal(size=(5, 3))
W = RNG.normal(size=(3, 4))


def f(x, y):
    return np.tanh(x @ W) * np.sum(y**2)


def loop(fn, *args, axes, out_axis=0):
    """``fn`` on each example (``axes[i]`` None: argument i is shared), stacked."""
    size = next(np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None)
    outs = [
        fn(*(a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, axes)))
        for i in range(size)
    ]
    return np.stack(outs, axis=out_axis)


def close(got, want, tol=1e-10):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


# ----- in_axes -----


def test_maps_the_leading_axis_by_default():
    close(vmap(f)(XS, YS), loop(f, XS, YS, axes=(0, 0)))


@pytest.mark.parametrize("axes", [(1, 1), (-1, 0), (None, 1), (0, None), (1, -2)])
def test_in_axes_per_argument(axes):
    args = [XS if a is None else np.moveaxis(XS, 0, a) for a in axes[:1]]
    args += [YS[0] if axes[1] is None else np.moveaxis(YS, 0, axes[1])]
    if axes[0] is None:
        args[0] = XS[0]
    close(vmap(f, in_axes=axes)(*args), loop(f, *args, axes=axes))


def test_in_axes_int_applies_to_every_argument():
    xs, ys = XS.T.copy(), YS.T.copy()
    close(vmap(f, in_axes=1)(xs, ys), loop(f, xs, ys, axes=(1, 1)))


def test_in_axes_is_a_pytree_prefix():
    def model(p, x):
        return np.tanh(x @ p["w"] + p["b"]) * p["scale"][0]

    params = {"w": W, "b": RNG.normal(size=(5, 4)), "scale": (2.0, 3.0)}
    got = vmap(model, in_axes=({"w": None, "b": 0, "scale": None}, 0))(params, XS)
    want = np.stack([model({"w": W, "b": params["b"][i], "scale": (2.0,)}, XS[i])
                     for i in range(5)])  # fmt: skip
    close(got, want)
    # a tuple prefix inside a tuple argument
    pair = (XS, YS[0])
    got = vmap(lambda xy: f(*xy), in_axes=((0, None),))(pair)
    close(got, loop(f, XS, YS[0], axes=(0, None)))


def test_keyword_arguments_are_mapped_along_axis_0():
    got = vmap(lambda x, *, y: f(x, y), in_axes=None)(XS[0], y=YS)
    close(got, loop(f, XS[0], YS, axes=(None, 0)))


def test_unmapped_python_numbers_and_arrays_are_shared():
    got = vmap(lambda x, k, v: x * k + v, in_axes=(0, None, None))(XS, 2.5, YS[0])
    close(got, XS * 2.5 + YS[0])


def test_static_arguments_pass_through():
    @trace(static_argnums=1)
    def power(x, n):
        return x**n

    close(vmap(power, in_axes=(0, None))(XS, 3), XS**3)
    close(vmap(power)(XS, 2), XS**2)  # an int in_axes skips static arguments


# ----- out_axes and axis_size -----


@pytest.mark.parametrize("out_axes", [0, 1, -1, -2])
def test_out_axes(out_axes):
    got = vmap(f, out_axes=out_axes)(XS, YS)
    close(got, loop(f, XS, YS, axes=(0, 0), out_axis=out_axes))


def test_out_axes_is_a_pytree_prefix_and_none_for_unbatched_outputs():
    def two(x):
        return {"y": np.sin(x), "const": np.ones(2) * 3.0}, np.cos(x)

    (d, c) = vmap(two, out_axes=({"y": 1, "const": None}, 0))(XS)
    close(d["y"], np.sin(XS).T)
    close(d["const"], np.full(2, 3.0))
    close(c, np.cos(XS))


def test_unbatched_outputs_are_repeated_for_every_example():
    got = vmap(lambda x, w: np.sum(w), in_axes=(0, None))(XS, W)
    close(got, np.full(5, np.sum(W)))


def test_axis_size_when_no_argument_is_mapped():
    got = vmap(lambda x: x * 2.0, in_axes=None, axis_size=4)(np.arange(3.0))
    close(got, np.tile(np.arange(3.0) * 2.0, (4, 1)))
    close(vmap(lambda x: np.sin(x), axis_size=5)(XS), np.sin(XS))


# ----- nesting -----


def test_nested_vmaps_give_all_pairs():
    def dot(x, y):
        return np.sum(x * y)

    pairs = vmap(vmap(dot, in_axes=(None, 0)), in_axes=(0, None))(XS, YS)
    close(pairs, XS @ YS.T)
    a = XS[:, :, None] * YS[:, None]  # (5, 3, 3)
    cols = vmap(vmap(dot, in_axes=(0, 0)), in_axes=(1, 1))(a, XS)
    close(cols, np.array([[dot(a[i, j], XS[i, j]) for i in range(5)] for j in range(3)]))


def test_three_levels():
    x = RNG.normal(size=(2, 3, 4))
    got = vmap(vmap(vmap(lambda v: np.exp(v) * v)))(x)
    close(got, np.exp(x) * x)


# ----- errors -----


def test_mismatched_sizes_name_the_arguments():
    with pytest.raises(TracegradError) as e:
        vmap(f)(XS, YS[:4])
    msg = str(e.value)
    assert "argument x has size 5 along axis 0" in msg
    assert "argument y has size 4 along axis 0" in msg
    assert "(at " in msg


def test_mismatched_sizes_name_pytree_leaves():
    with pytest.raises(TracegradError, match=r"argument p\['b'\] has size 2 along axis 1"):
        vmap(lambda p: p["a"] + p["b"].T, in_axes=({"a": 0, "b": 1},))(
            {"a": XS, "b": np.ones((3, 2))}
        )


def _sin(x):  # NumPy 2.0's ufuncs have no signature: np.sin's argument would be arg0 there
    return np.sin(x)


def test_axis_size_must_agree():
    with pytest.raises(TracegradError, match="axis_size = 4.*argument x has size 5"):
        vmap(_sin, axis_size=4)(XS)


@pytest.mark.parametrize(
    "fn, in_axes, args, match",
    [
        (_sin, 2, (XS,), "in_axes maps argument x along axis 2, but it has rank 2"),
        (lambda x, k: x * k, 0, (XS, 2.0), "argument k along axis 0, but it has rank 0"),
        (f, (0,), (XS, YS), "in_axes has 1 entries.*2 positional arguments"),
        (f, ((0, 1), 0), (XS, YS), r"in_axes for argument x \(0, 1\) is not a prefix"),
        (f, None, (XS, YS), "no argument is mapped"),
        (f, (0, 1.5), (XS, YS), "is not a prefix"),
    ],
)
def test_bad_in_axes(fn, in_axes, args, match):
    with pytest.raises(TracegradError, match=match):
        vmap(fn, in_axes=in_axes)(*args)


def test_in_axes_dict_at_the_top_level_is_refused():
    with pytest.raises(TracegradError, match="one entry per positional argument"):
        vmap(f, in_axes={"x": 0})


def test_out_axes_none_for_a_batched_output():
    with pytest.raises(TracegradError, match="out_axes is None for output 0.*depends on"):
        vmap(np.sin, out_axes=None)(XS)


def test_out_axes_out_of_range():
    with pytest.raises(TracegradError, match=r"output 0 along axis 2, but it has rank 2 \(shape"):
        vmap(np.sin, out_axes=2)(XS)


def test_a_failed_call_leaves_the_cache_usable():
    vf = vmap(f)
    with pytest.raises(TracegradError):
        vf(XS, YS[:4])
    close(vf(XS, YS), loop(f, XS, YS, axes=(0, 0)))


# ----- a graph transformation, not a loop -----


def test_the_batched_graph_does_not_grow_with_the_batch():
    small = vmap(f).trace(XS[:2], YS[:2])
    large = vmap(f).trace(np.ones((50, 3)), np.ones((50, 3)))
    assert small.number_of_nodes() == large.number_of_nodes()
    per_example = trace(f).trace(XS[0], YS[0])
    assert small.number_of_nodes() <= per_example.number_of_nodes() + 4


def test_cached_per_signature():
    vf = vmap(f)
    vf(XS, YS)
    vf(XS + 1.0, YS)
    assert vf.trace_count == 1
    vf(XS[:2], YS[:2])
    assert vf.trace_count == 2


def test_captured_globals_stay_shared_and_are_read_at_each_call():
    global W
    vf = vmap(f)
    before = vf(XS, YS)
    old, W = W, W * 2.0
    try:
        after = vf(XS, YS)
    finally:
        W = old
    close(after, loop(lambda x, y: np.tanh(x @ (old * 2.0)) * np.sum(y**2), XS, YS, axes=(0, 0)))
    assert not np.allclose(before, after)
    assert vf.trace_count == 1


# ----- composition -----


def _load_mlp():
    path = Path(__file__).resolve().parents[2] / "examples" / "mlp.py"
    spec = importlib.util.spec_from_file_location("mlp_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.mlp


def test_per_example_gradients_of_the_mlp_example_equal_a_loop():
    mlp = _load_mlp()
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    params = {"W1": rng.normal(size=(3, 4)) * 0.5, "b1": np.zeros(4),
              "W2": rng.normal(size=(4, 1)) * 0.5, "b2": np.zeros(1)}  # fmt: skip

    def loss(p, x, t):
        return mlp(x, p["W1"], p["b1"], p["W2"], p["b2"], t)

    per_example = vmap(grad(loss), in_axes=(None, 0, 0))(params, x, t)
    for name, value in params.items():
        want = np.stack([grad(loss)(params, x[i], t[i])[name] for i in range(8)])
        assert per_example[name].shape == (8, *value.shape)
        close(per_example[name], want)
        # their mean is the gradient of the batch's mean loss
        close(per_example[name].mean(0), grad(loss)(params, x, t)[name])


def test_grad_of_a_sum_over_a_vmap_equals_central_differences():
    def total(p):
        return np.sum(vmap(f_p, (None, 0))(p, XS))

    def f_p(p, x):
        return np.sin(x * p) @ p

    p = RNG.normal(size=3)
    close(grad(total)(p), numerical_grad(total, p), tol=1e-6)
    check_grad(total, p, order=2)


def test_vmap_closing_over_an_outer_traced_value():
    def total(p):
        return np.sum(vmap(lambda x: np.sin(p * x) * p)(XS))

    p = RNG.normal(size=3)
    close(grad(total)(p), numerical_grad(total, p), tol=1e-6)


def test_value_and_grad_of_vmap_and_hessian_through_it():
    def total(p):
        return np.sum(vmap(lambda p, x: np.tanh(x @ p) ** 2, (None, 0))(p, XS))

    p = RNG.normal(size=3)
    value, g = value_and_grad(total)(p)
    close(value, np.sum(np.tanh(XS @ p) ** 2))
    close(g, numerical_grad(total, p), tol=1e-6)
    eps = 1e-5
    columns = [(grad(total)(p + eps * e) - grad(total)(p - eps * e)) / (2 * eps) for e in np.eye(3)]
    close(hessian(total)(p), np.stack(columns, axis=1), tol=1e-6)


def test_jacobian_of_vmap_and_vmap_of_jacobian():
    def g(x):
        return np.sin(x) * np.sum(x**2)

    jac_of_batch = jacobian(vmap(g))(XS)  # (5, 3, 5, 3): block diagonal
    per_example = vmap(jacobian(g))(XS)  # (5, 3, 3)
    want = np.stack([jacobian(g)(x) for x in XS])
    close(per_example, want)
    for i in range(5):
        close(jac_of_batch[i, :, i], want[i])
        for j in range(5):
            if j != i:
                close(jac_of_batch[i, :, j], np.zeros((3, 3)))
    close(vmap(jacobian(g, mode="fwd"), in_axes=1, out_axes=2)(XS.T), np.moveaxis(want, 0, 2))


def test_vmap_of_jvp_and_of_value_and_grad():
    tangents = RNG.normal(size=(5, 3))
    got = vmap(lambda x, t: jvp(np.sin, (x,), (t,)))(XS, tangents)
    close(got[0], np.sin(XS))
    close(got[1], np.cos(XS) * tangents)
    values, grads = vmap(value_and_grad(lambda x: np.sum(np.exp(x))))(XS)
    close(values, np.sum(np.exp(XS), axis=1))
    close(grads, np.exp(XS))


def test_compile_of_vmap_and_vmap_of_compile():
    fast = compile(vmap(f))
    close(fast(XS, YS), vmap(f)(XS, YS))
    assert "for " not in fast.source(XS, YS)  # no loop over the batch
    close(vmap(compile(f))(XS, YS), loop(f, XS, YS, axes=(0, 0)))


def test_vmap_inside_a_traced_function():
    @trace
    def outer(xs, ys):
        return vmap(f)(xs, ys) * 2.0

    close(outer(XS, YS), 2.0 * loop(f, XS, YS, axes=(0, 0)))


def test_render_draws_a_vmap():
    dot = render(vmap(f), XS, YS)
    assert "tanh" in dot.source


# ----- elementwise_grad -----


def test_elementwise_grad_is_the_derivative_at_each_point():
    x = np.linspace(-2.0, 2.0, 7)
    close(elementwise_grad(np.tanh)(x), 1 - np.tanh(x) ** 2)
    close(elementwise_grad(np.tanh)(x), vmap(grad(np.tanh))(x))
    x2 = x.reshape(7, 1) * np.ones((1, 3))
    close(elementwise_grad(np.sin)(x2), vmap(vmap(grad(np.sin)))(x2))


def test_elementwise_grad_sums_the_jacobian_columns():
    def g(x, y):
        return np.outer(x, y).ravel() ** 2

    x, y = RNG.normal(size=3), RNG.normal(size=2)
    gx, gy = elementwise_grad(g, argnums=(0, 1))(x, y)
    close(gx, jacobian(g)(x, y).sum(0))
    close(gy, jacobian(g, argnums=1)(x, y).sum(0))


# ----- jacobian by one batched pass -----


@pytest.mark.parametrize("mode", ["rev", "fwd"])
def test_jacobian_is_one_batched_pass_equal_to_one_pass_per_seed(mode, monkeypatch):
    def g(x, k):
        return {"a": np.tanh(x) * np.sum(x**2), "i": np.argmax(x), "b": x[:2] * k}

    x, k = np.linspace(-1.0, 1.0, 6), np.arange(3.0)[:2]
    batched = jacobian(g, argnums=(0, 1), mode=mode)
    small = batched.trace(x[:3], k).number_of_nodes()
    assert batched.trace(x, k).number_of_nodes() == small  # not one pass per element
    got = batched(x, k)
    monkeypatch.setattr(importlib.import_module("compiler.jacobian"), "_batchable",
                        lambda *args: False)  # fmt: skip
    per_seed = jacobian(g, argnums=(0, 1), mode=mode)
    assert per_seed.trace(x, k).number_of_nodes() > small
    want = per_seed(x, k)
    for key in ("a", "i", "b"):
        for got_block, want_block in zip(got[key], want[key]):
            close(got_block, want_block)
