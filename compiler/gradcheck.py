"""Gradient checking: analytic gradients against central differences (``numerical_diff``).

``numerical_grad`` generalises the book's ``numerical_diff`` to arrays and
pytrees; ``check_grad`` compares it with ``grad`` and reports the worst entry and
where it is. Non-scalar outputs are checked through a fixed random projection,
and ``order=2`` checks the gradient of the gradient the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from compiler.transforms import grad
from tracer.errors import TracegradError
from tracer.pytree import flatten, leaf_paths, unflatten


class GradientCheckError(TracegradError, AssertionError):
    """Analytic and numerical gradients disagree."""


def _float_args(args) -> tuple[int, ...]:
    nums = []
    for i, a in enumerate(args):
        leaves, _ = flatten(a)
        if leaves and all(np.asarray(x).dtype.kind in "fc" for x in leaves):
            nums.append(i)
    return tuple(nums)


def _scalar(value, where: str) -> float:
    arr = np.asarray(value)
    if arr.shape != ():
        raise TracegradError(f"{where}: expected a scalar output, got shape {arr.shape}")
    if arr.dtype.kind == "c":
        raise TracegradError(f"{where}: expected a real output, got {arr.dtype}")
    return float(arr)


def numerical_grad(
    f: Callable, *args, argnums: int | Sequence[int] = 0, eps: float = 1e-6
) -> object:
    """Central differences ``(f(x + eps) - f(x - eps)) / 2 eps``, entry by entry.

    For a complex entry ``z = x + 1j * y`` it is ``df/dx - 1j * df/dy`` (both by central
    differences): ``grad``'s convention (JAX's) for real functions of complex inputs.

    Args:
        f: a function returning a scalar.
        *args: its arguments (arrays, numbers, pytrees).
        argnums: the argument(s) to differentiate (a tuple gives a tuple).
        eps: the step.

    Returns:
        Gradients shaped like the chosen arguments.

    Example:
        >>> import numpy as np
        >>> from compiler import numerical_grad
        >>> numerical_grad(lambda x: np.sum(x ** 2), np.array([1.0, 2.0])).round(6)
        array([2., 4.])
    """
    many = not isinstance(argnums, (int, np.integer))
    nums = tuple(argnums) if many else (argnums,)
    results = []
    for a in nums:
        leaves, tree = flatten(args[a])
        leaves = [np.array(x, dtype=np.complex128 if np.iscomplexobj(x) else np.float64,
                           order="C")
                  for x in leaves]  # fmt: skip
        grads = []
        for k, leaf in enumerate(leaves):
            g = np.zeros_like(leaf)
            flat = leaf.reshape(-1)
            directions = (1.0, 1j) if leaf.dtype.kind == "c" else (1.0,)
            for i in range(flat.size):
                old = flat[i]
                for direction in directions:
                    vals = []
                    for step in (eps, -eps):
                        flat[i] = old + step * direction
                        call = list(args)
                        call[a] = unflatten(tree, [x.reshape(np.shape(x)) if j != k else leaf
                                                   for j, x in enumerate(leaves)])  # fmt: skip
                        vals.append(_scalar(f(*call), "numerical_grad"))
                    flat[i] = old
                    # d/dx, then d/dy of a complex entry: g = df/dx - 1j * df/dy
                    g.reshape(-1)[i] += np.conj(direction) * (vals[0] - vals[1]) / (2 * eps)
            grads.append(g)
        results.append(unflatten(tree, grads))
    return tuple(results) if many else results[0]


@dataclass
class GradCheckResult:
    """What ``check_grad`` compared: the worst entry and where it is."""

    max_abs_err: float
    where: str
    analytic: float | complex
    numeric: float | complex

    def __bool__(self) -> bool:
        return True


def _direction(x, rng):
    """A fixed random array shaped like ``x``: complex for a complex ``x``."""
    v = rng.standard_normal(np.shape(x))
    return v + 1j * rng.standard_normal(np.shape(x)) if np.iscomplexobj(x) else v


def _project(f, args, rng):
    """``f`` itself if it returns a real scalar, else ``sum(real(f(...) * v))`` for a fixed
    random v (complex for a complex output: its real and imaginary parts are both checked)."""
    out = f(*args)
    leaves, _ = flatten(out)
    if len(leaves) == 1 and np.shape(leaves[0]) == () and not np.iscomplexobj(leaves[0]):
        return f
    vs = [_direction(x, rng) for x in leaves]

    def projected(*a):
        total = 0.0
        for x, v in zip(flatten(f(*a))[0], vs):
            total = total + np.sum(np.real(x * v))
        return total

    return projected


def check_grad(
    f: Callable,
    *args,
    argnums: int | Sequence[int] | None = None,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    order: int = 1,
    seed: int = 0,
) -> GradCheckResult:
    """Check ``grad(f)`` against central differences; raise ``GradientCheckError`` if they differ.

    Args:
        f: the function (any output: non-scalar outputs are projected on a random vector).
        *args: where to check (float64 inputs give the most reliable differences).
        argnums: arguments to check (default: every floating-point argument).
        eps: finite-difference step.
        rtol: relative tolerance: an entry passes when
            ``|analytic - numeric| <= atol + rtol * |numeric|``.
        atol: absolute tolerance (see ``rtol``).
        order: 2 also checks the gradient of the gradient (along a random direction).
        seed: seed for the random projections.

    Returns:
        The worst entry seen (``GradCheckResult``).

    Raises:
        GradientCheckError: an entry differs by more than the tolerances.

    Example:
        >>> import numpy as np
        >>> from compiler import check_grad
        >>> result = check_grad(lambda x: np.sum(np.tanh(x) ** 2), np.linspace(-1, 1, 4))
    """
    rng = np.random.default_rng(seed)
    if argnums is None:
        argnums = _float_args(args)
        if not argnums:
            raise TracegradError("check_grad: no floating-point argument to check")
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    fs = _project(f, args, rng)
    analytic = grad(fs, nums)(*args)
    numeric = numerical_grad(fs, *args, argnums=nums, eps=eps)
    worst = GradCheckResult(0.0, "", 0.0, 0.0)
    worst_excess = -np.inf
    for a, ga, gn in zip(nums, analytic, numeric):
        la, _ = flatten(ga)
        ln, _ = flatten(gn)
        paths = leaf_paths(args[a], f"args[{a}]")
        for path, xa, xn in zip(paths, la, ln):
            xa, xn = np.asarray(xa), np.asarray(xn)
            err = np.abs(xa - xn)
            excess = err - (atol + rtol * np.abs(xn))
            if np.isnan(xa).any() != np.isnan(xn).any():
                excess = np.where(np.isnan(xa) != np.isnan(xn), np.inf, excess)
            if excess.size == 0:
                continue
            i = int(np.nanargmax(excess)) if not np.isnan(excess).all() else 0
            if excess.reshape(-1)[i] > worst_excess:
                worst_excess = excess.reshape(-1)[i]
                idx = np.unravel_index(i, xa.shape) if xa.shape else ()
                worst = GradCheckResult(
                    float(err.reshape(-1)[i]),
                    f"{path}{[int(i) for i in idx] if idx else ''}",
                    xa.reshape(-1)[i].item(),
                    xn.reshape(-1)[i].item(),
                )
    if worst_excess > 0:
        raise GradientCheckError(
            f"check_grad: gradient mismatch at {worst.where}: analytic {worst.analytic!r}, "
            f"numeric {worst.numeric!r} (abs err {worst.max_abs_err:.3g} > "
            f"atol {atol} + rtol {rtol} * |numeric|)"
        )
    if order > 1:
        vs = [[_direction(x, rng) for x in flatten(g)[0]] for g in analytic]
        gfun = grad(fs, nums)

        def directional(*a):
            total = 0.0
            for g, v in zip(gfun(*a), vs):
                for x, vx in zip(flatten(g)[0], v):
                    total = total + np.sum(np.real(x * vx))
            return total

        check_grad(directional, *args, argnums=nums, eps=eps, rtol=rtol, atol=atol,
                   order=order - 1, seed=seed + 1)  # fmt: skip
    return worst
