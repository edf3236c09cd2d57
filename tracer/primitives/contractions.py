"""Tensor contractions: the ``einsum`` primitive, and tensordot, inner, kron and cross.

``einsum`` is one primitive whose params are NumPy's integer form of the
subscripts (``np.einsum(a, (0, 1), b, (1, 2), (0, 2))``): ``subscripts``, one
tuple of labels per operand, and ``output``. The user-facing ``einsum`` parses
either spelling (a string with ``...``, implicit output, spaces; or sublists),
and resolves everything static before binding: ellipses become labels, the
implicit output is made explicit, and a size-1 axis that broadcasts against a
longer one gets a label of its own that is summed away. So the primitive's
labels name axes of one size each, and generated code calls ``np.einsum`` with
the same integer sublists. Repeated labels in one operand (``'ii->i'``, traces)
are kept: NumPy reads the diagonal.

``einsum`` is linear in each operand: its jvp is the sum of einsums with one
operand replaced by its tangent, and the gradient of operand ``i`` is one einsum
of the output's gradient with the other operands, written to operand ``i``'s
labels. A label repeated in operand ``i`` is written through an identity matrix
(``'ii->'`` has gradient ``g * eye``), a label only operand ``i`` has (summed
away) through a vector of ones. Under ``vmap`` the batch axis gets a label of its
own, on each batched operand and first in the output.

``tensordot``, ``inner``, ``kron`` and ``cross`` are composites, written as
NumPy writes them (transpose, reshape, ``dot``; products of slices), so their
values are NumPy's and their derivatives those of the primitives they use.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np

from tracer.errors import ShapeError, TracegradError, UnsupportedError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives import linalg as la
from tracer.primitives import shape_ops as so
from tracer.primitives.base import Primitive, add_tangents, normalize_axis
from tracer.staging import Tracer, bind, find_trace

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"  # NumPy's label k is _LETTERS[k]
_OPTIMIZE = ("greedy", "optimal")


def strong(x):
    """``x`` as NumPy's functions read it: Python numbers (and traced Python-number
    arguments) are arrays of their default dtype, not weak scalars (NEP 50 applies to
    ufuncs, not to ``np.dot``, ``np.einsum``, ``np.linalg``)."""
    if isinstance(x, Tracer):
        return type(x)(x._trace, x.node, x.shape, x.dtype, False) if x.weak else x
    return np.asarray(x)


# ----- the primitive -----


def _einsum_args(xs, subscripts, output):
    args = []
    for x, sub in zip(xs, subscripts):
        args += [x, list(sub)]
    return args + [list(output)]


def _einsum_impl(*xs, subscripts, output, optimize):
    opt = list(optimize) if isinstance(optimize, tuple) else optimize
    return np.einsum(*_einsum_args(xs, subscripts, output), optimize=opt)


@functools.lru_cache(maxsize=1024)
def _einsum_dtype(dtypes, subscripts, output):
    dummies = [np.zeros((1,) * len(s), dtype=d) for d, s in zip(dtypes, subscripts)]
    return np.einsum(*_einsum_args(dummies, subscripts, output)).dtype


def _einsum_rule(*xs, subscripts, output, optimize):
    if len(xs) != len(subscripts):
        raise ShapeError(f"einsum: {len(xs)} operands for {len(subscripts)} subscripts")
    sizes: dict[int, int] = {}
    for x, sub in zip(xs, subscripts):
        if x.ndim != len(sub):
            raise ShapeError(f"einsum: operand of shape {x.shape} has {len(sub)} labels")
        for label, d in zip(sub, x.shape):
            if sizes.setdefault(label, d) != d:
                raise ShapeError(
                    f"einsum: label {_LETTERS[label]} has sizes {sizes[label]} and {d}"
                )
    if len(set(output)) != len(output) or any(label not in sizes for label in output):
        raise ShapeError(f"einsum: bad output labels {output}")
    shape = tuple(sizes[label] for label in output)
    return shape, _einsum_dtype(tuple(x.dtype for x in xs), subscripts, output)


def _optimize_literal(optimize) -> str:
    if optimize is False or optimize in _OPTIMIZE:
        return repr(optimize)
    if isinstance(optimize, tuple) and optimize[0] == "einsum_path":
        from_table = ", ".join(f"({', '.join(str(operator.index(i)) for i in s)},)"
                               for s in optimize[1:])  # fmt: skip
        return f"['einsum_path', {from_table}]"
    raise TracegradError(f"einsum: bad optimize parameter {optimize!r}")


def _einsum_lowering(a, p, lit):
    pieces = [f"{x}, {lit.ints(s)}" for x, s in zip(a, p["subscripts"])]
    opt = "" if p["optimize"] is False else f", optimize={_optimize_literal(p['optimize'])}"
    return f"np.einsum({', '.join(pieces)}, {lit.ints(p['output'])}{opt})"


def _einsum_vjp(gy, *xs, y, subscripts, output, optimize):
    opt = False if optimize is False else "greedy"
    used = {label for sub in subscripts for label in sub}
    grads = []
    for i, (x, sub) in enumerate(zip(xs, subscripts)):
        fresh = (k for k in range(len(_LETTERS)) if k not in used)
        operands = [(gy, output)] + [(xs[j], subscripts[j]) for j in range(len(xs)) if j != i]
        present = {label for _, s in operands for label in s}
        out, seen = [], set()
        for label, d in zip(sub, x.shape):
            if label in seen:  # a repeated label: the gradient sits on the diagonal
                f = _next_label(fresh)
                operands.append((np.eye(d, dtype=gy.dtype), (label, f)))
                out.append(f)
                continue
            seen.add(label)
            out.append(label)
            if label not in present:  # summed away by operand i alone: broadcast back
                operands.append((np.ones(d, dtype=gy.dtype), (label,)))
                present.add(label)
        grads.append(_bind_einsum(operands, tuple(out), opt))
    return tuple(grads)


def _next_label(fresh) -> int:
    try:
        return next(fresh)
    except StopIteration:
        raise UnsupportedError("einsum: the gradient needs more than 52 labels") from None


def _einsum_jvp(ts, *xs, y, subscripts, output, optimize):
    terms = []
    for i, t in enumerate(ts):
        if t is not None:
            operands = [t if j == i else x for j, x in enumerate(xs)]
            terms.append(einsum_p.bind(*operands, subscripts=subscripts, output=output,
                                       optimize=optimize))  # fmt: skip
    return add_tangents(*terms)


def _bind_einsum(operands, output, optimize):
    xs = [x for x, _ in operands]
    subs = tuple(tuple(s) for _, s in operands)
    subs, output = _canonical(subs, output)
    return bind(einsum_p, *xs, subscripts=subs, output=output, optimize=optimize)


def _canonical(subscripts, output):
    """Labels renumbered in order of first appearance (equal einsums get equal params)."""
    order: dict[int, int] = {}
    for sub in subscripts:
        for label in sub:
            order.setdefault(label, len(order))
    return (tuple(tuple(order[lb] for lb in s) for s in subscripts),
            tuple(order[lb] for lb in output))  # fmt: skip


def _einsum_batch(args, dims, *, subscripts, output, optimize):
    """A label of its own for the batch axis: on every batched operand, first in the output."""
    used = {label for sub in subscripts for label in sub}
    free = [k for k in range(len(_LETTERS)) if k not in used]
    if not free:
        raise UnsupportedError(f"einsum: vmap needs one more label than NumPy's {len(_LETTERS)}")
    b = free[0]
    subs = [sub if d is None else (*sub[:d], b, *sub[d:]) for sub, d in zip(subscripts, dims)]
    return _bind_einsum(list(zip(args, subs)), (b, *output), optimize), 0


einsum_p = Primitive(
    "einsum", _einsum_impl, _einsum_rule, None, ("subscripts", "output", "optimize"),
    vjp=_einsum_vjp, jvp=_einsum_jvp, lower=_einsum_lowering,
    # one operand and nothing summed (a transpose, a diagonal) is a view of that operand
    fresh=lambda p: len(p["subscripts"]) > 1, view=True,
    batch=lambda args, dims, **p: _einsum_batch(args, dims, **p),
    doc="np.einsum with integer sublists (one tuple of labels per operand, and the output's)",
)  # fmt: skip

PRIMITIVES = (einsum_p,)


# ----- parsing NumPy's spellings -----


def _parse_string(spec: str, n_operands: int):
    """``'ij,jk->ik'`` as (per-operand term lists, output term list or None); terms are
    label ints and ``...``."""
    spec = spec.replace(" ", "")
    if "->" in spec:
        inputs, _, out = spec.partition("->")
        if "->" in out or "-" in out or ">" in out:
            raise TracegradError(f"einsum: subscripts {spec!r} have more than one '->'")
    else:
        inputs, out = spec, None
    parts = inputs.split(",")
    if len(parts) != n_operands:
        raise TracegradError(
            f"einsum: {len(parts)} operand subscripts in {spec!r} for {n_operands} operands "
            f"(at {user_location()})"
        )
    terms = [_parse_terms(p, spec) for p in parts]
    return terms, None if out is None else _parse_terms(out, spec)


def _parse_terms(text: str, spec: str) -> list:
    terms = []
    if text.count("...") > 1 or text.replace("...", "").count("."):
        raise TracegradError(f"einsum: bad ellipsis in subscripts {spec!r}")
    head, ell, tail = text.partition("...")
    for ch in head:
        terms.append(_letter(ch, spec))
    if ell:
        terms.append(Ellipsis)
        terms += [_letter(ch, spec) for ch in tail]
    return terms


def _letter(ch: str, spec: str) -> int:
    k = _LETTERS.find(ch)
    if k < 0:
        raise TracegradError(f"einsum: invalid subscript {ch!r} in {spec!r}")
    return k


def _parse_sublists(args):
    """``einsum(a, [0, 1], b, [1, 2], [0, 2])`` as (operands, terms, output or None)."""
    operands, terms = list(args[0::2]), []
    out = args[-1] if len(args) % 2 else None
    if out is not None:
        operands = operands[:-1]
    for sub in [*args[1::2], *([] if out is None else [out])]:
        items = []
        for s in sub:
            if s is Ellipsis:
                items.append(Ellipsis)
            elif isinstance(s, (int, np.integer)) and 0 <= s < len(_LETTERS):
                items.append(int(s))
            else:
                raise TracegradError(f"einsum: subscript {s!r} is not an int in [0, 52) or ...")
        terms.append(items)
    return operands, (terms if out is None else terms[:-1]), (None if out is None else terms[-1])


def _resolve(terms, out, shapes):
    """Static subscripts for the primitive: ellipses expanded, the implicit output made
    explicit, and each size-1 axis that broadcasts given a private label."""
    n_ell = []
    for t, shape in zip(terms, shapes):
        named = len(t) - (Ellipsis in t)
        if len(shape) < named or (Ellipsis not in t and len(shape) != named):
            raise ShapeError(
                f"einsum: operand of shape {shape} does not fit its {named} subscripts "
                f"(at {user_location()})"
            )
        n_ell.append(len(shape) - named if Ellipsis in t else 0)
    width = max(n_ell, default=0)
    used = {x for t in terms for x in t if x is not Ellipsis}
    spare = iter(k for k in range(len(_LETTERS)) if k not in used)
    ell_labels = [_next_label(spare) for _ in range(width)]

    def expand(t, e):
        out_t = []
        for x in t:
            out_t += ell_labels[width - e :] if x is Ellipsis else [x]
        return out_t

    subs = [expand(t, e) for t, e in zip(terms, n_ell)]
    if out is None:
        counts: dict[int, int] = {}
        for t in terms:
            for x in t:
                if x is not Ellipsis:
                    counts[x] = counts.get(x, 0) + 1
        output = ell_labels + sorted(x for x, c in counts.items() if c == 1)
    else:
        if Ellipsis not in out and width:
            raise ShapeError(
                "einsum: output has more dimensions than subscripts given in einstein sum, "
                "but no '...' ellipsis provided to broadcast the extra dimensions "
                f"(at {user_location()})"
            )
        output = expand(out, width)
        if len(set(output)) != len(output):
            raise TracegradError(f"einsum: an output subscript is repeated (at {user_location()})")
        missing = set(output) - {x for s in subs for x in s}
        if missing:
            raise TracegradError(
                f"einsum: output subscript {_LETTERS[missing.pop()]!r} never appeared in an "
                f"input (at {user_location()})"
            )
    # sizes: equal within an operand; across operands equal, or 1 (broadcast)
    sizes: dict[int, int] = {}
    for s, shape in zip(subs, shapes):
        mine: dict[int, int] = {}
        for x, d in zip(s, shape):
            if mine.setdefault(x, d) != d:
                raise ShapeError(
                    f"einsum: dimensions in single operand for collapsing index "
                    f"{_LETTERS[x]!r} don't match ({mine[x]} != {d}) (at {user_location()})"
                )
            if d != 1 and sizes.setdefault(x, d) != d:
                raise ShapeError(
                    f"einsum: operands could not be broadcast together: label "
                    f"{_LETTERS[x]!r} has sizes {sizes[x]} and {d} (at {user_location()})"
                )
    private = iter(k for k in range(len(_LETTERS)) if k not in used and k not in ell_labels)
    for s, shape in zip(subs, shapes):
        renamed: dict[int, int] = {}
        for pos, (x, d) in enumerate(zip(s, shape)):
            if d == 1 and sizes.get(x, 1) != 1:  # broadcast: summed away on its own label
                s[pos] = renamed.setdefault(x, _next_label(private))
    return _canonical(tuple(tuple(s) for s in subs), tuple(output))


def _optimize_param(optimize):
    if optimize is False or optimize is None:
        return False
    if optimize is True:
        return "greedy"  # what NumPy does with True
    if optimize in _OPTIMIZE:
        return optimize
    if isinstance(optimize, (list, tuple)) and optimize and optimize[0] == "einsum_path":
        return ("einsum_path", *(tuple(int(i) for i in s) for s in optimize[1:]))
    raise UnsupportedError(
        f"np.einsum(optimize={optimize!r}) is not supported when tracing (at {user_location()}); "
        "use False, True, 'greedy', 'optimal' or an einsum_path list"
    )


# ----- user-facing functions -----


def einsum(*operands, out=None, optimize=False, dtype=None, order="K", casting="safe"):
    """``np.einsum``: string or sublist subscripts, ellipses, implicit output, repeated labels."""
    if find_trace(operands) is None:
        return np.einsum(*operands, out=out, optimize=optimize, dtype=dtype, order=order,
                         casting=casting)  # fmt: skip
    if out is not None or dtype is not None or order != "K" or casting != "safe":
        raise UnsupportedError(
            f"np.einsum(out=, dtype=, order=, casting=) is not supported when tracing "
            f"(at {user_location()})"
        )
    if not operands:
        raise TracegradError("einsum: no operands")
    if isinstance(operands[0], str):
        xs = [strong(x) for x in operands[1:]]
        terms, out_terms = _parse_string(operands[0], len(xs))
    else:
        xs, terms, out_terms = _parse_sublists(operands)
        xs = [strong(x) for x in xs]
    subs, output = _resolve(terms, out_terms, [tuple(x.shape) for x in xs])
    return bind(einsum_p, *xs, subscripts=subs, output=output, optimize=_optimize_param(optimize))


def _axes_list(axes):
    try:
        return list(axes), len(axes)
    except TypeError:
        return [axes], 1


def tensordot(a, b, axes=2):
    """``np.tensordot``, as NumPy computes it: transpose, reshape, ``dot``, reshape."""
    if find_trace((a, b)) is None:
        return np.tensordot(a, b, axes)
    a, b = strong(a), strong(b)
    try:
        iter(axes)
    except TypeError:
        n = operator.index(axes)
        axes_a, axes_b = list(range(-n, 0)), list(range(n))
    else:
        axes_a, axes_b = axes
    axes_a, na = _axes_list(axes_a)
    axes_b, nb = _axes_list(axes_b)
    if na != nb or any(a.shape[i] != b.shape[j] for i, j in zip(axes_a, axes_b)):
        raise ShapeError(
            f"tensordot: shape-mismatch for sum: {a.shape} over axes {axes_a}, {b.shape} over "
            f"axes {axes_b} (at {user_location()})"
        )
    axes_a = [normalize_axis("tensordot", i, a.ndim) for i in axes_a]
    axes_b = [normalize_axis("tensordot", i, b.ndim) for i in axes_b]
    free_a = [k for k in range(a.ndim) if k not in axes_a]
    free_b = [k for k in range(b.ndim) if k not in axes_b]
    n_sum = math.prod(a.shape[i] for i in axes_a)
    at = so.reshape(so.transpose(a, free_a + axes_a),
                    (math.prod(a.shape[i] for i in free_a), n_sum))  # fmt: skip
    bt = so.reshape(so.transpose(b, axes_b + free_b),
                    (n_sum, math.prod(b.shape[i] for i in free_b)))  # fmt: skip
    shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    return so.reshape(la.dot(at, bt), shape)


def inner(a, b):
    """``np.inner``: a product for 0-d operands, else a sum over the last axes."""
    if find_trace((a, b)) is None:
        return np.inner(a, b)
    a, b = strong(a), strong(b)
    if a.ndim == 0 or b.ndim == 0:
        return ew.mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(
            f"inner: shapes {a.shape} and {b.shape} not aligned: last dimensions differ "
            f"(at {user_location()})"
        )
    return tensordot(a, b, (-1, -1))


def kron(a, b):
    """``np.kron``, as NumPy computes it: an outer product of interleaved axes, reshaped."""
    if find_trace((a, b)) is None:
        return np.kron(a, b)
    a, b = strong(a), strong(b)
    nd = max(a.ndim, b.ndim)
    if a.ndim == 0 or b.ndim == 0:
        return ew.mul(a, b)
    a = so.reshape(a, (1,) * (nd - a.ndim) + a.shape)
    b = so.reshape(b, (1,) * (nd - b.ndim) + b.shape)
    # a[i0, 1, i1, 1, ...] * b[1, j0, 1, j1, ...] -> (i0, j0, i1, j1, ...)
    ea = so.reshape(a, tuple(d for n in a.shape for d in (n, 1)))
    eb = so.reshape(b, tuple(d for n in b.shape for d in (1, n)))
    return so.reshape(ew.mul(ea, eb), tuple(m * n for m, n in zip(a.shape, b.shape)))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``np.cross`` of 3-vectors (and 2-vectors, whose cross product is a scalar or a 3-vector)."""
    if find_trace((a, b)) is None:
        return np.cross(a, b, axisa, axisb, axisc, axis)
    a, b = strong(a), strong(b)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = so.moveaxis(a, normalize_axis("cross", axisa, a.ndim), -1)
    b = so.moveaxis(b, normalize_axis("cross", axisb, b.ndim), -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ShapeError(
            f"cross: incompatible dimensions for cross product (dimension must be 2 or 3), "
            f"got {a.shape} and {b.shape} (at {user_location()})"
        )
    a0, a1, b0, b1 = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    z = ew.sub(ew.mul(a0, b1), ew.mul(a1, b0))
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return z
    a2 = a[..., 2] if a.shape[-1] == 3 else None
    b2 = b[..., 2] if b.shape[-1] == 3 else None
    if a2 is None:
        x, y = ew.mul(a1, b2), ew.neg(ew.mul(a0, b2))
    elif b2 is None:
        x, y = ew.neg(ew.mul(a2, b1)), ew.mul(a2, b0)
    else:
        x, y = ew.sub(ew.mul(a1, b2), ew.mul(a2, b1)), ew.sub(ew.mul(a2, b0), ew.mul(a0, b2))
    cp = so.stack([x, y, z], axis=-1)
    return so.moveaxis(cp, -1, normalize_axis("cross", axisc, cp.ndim))


# ----- np.linalg's array-API spellings -----


def linalg_tensordot(x1, x2, /, *, axes=2):
    return tensordot(x1, x2, axes)


def linalg_cross(x1, x2, /, *, axis=-1):
    x1, x2 = strong(x1), strong(x2)
    if x1.shape[axis] != 3 or x2.shape[axis] != 3:
        raise ShapeError(
            f"np.linalg.cross: both inputs must be 3-vectors along axis {axis}, got {x1.shape} "
            f"and {x2.shape} (at {user_location()})"
        )
    return cross(x1, x2, axis=axis)


def linalg_outer(x1, x2, /):
    x1, x2 = strong(x1), strong(x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ShapeError(
            f"np.linalg.outer: inputs must be vectors, got {x1.shape} and {x2.shape} "
            f"(at {user_location()})"
        )
    return la.outer(x1, x2)


def matrix_transpose(x, /):
    return so.swapaxes(x, -1, -2)


def vecdot(x1, x2, /, *, axis=-1):
    """``np.linalg.vecdot`` of real vectors: ``sum(x1 * x2, axis)``, as an einsum."""
    x1, x2 = strong(x1), strong(x2)
    nd = max(x1.ndim, x2.ndim)
    ax = normalize_axis("vecdot", axis, nd)
    x1 = so.moveaxis(so.reshape(x1, (1,) * (nd - x1.ndim) + x1.shape), ax, -1)
    x2 = so.moveaxis(so.reshape(x2, (1,) * (nd - x2.ndim) + x2.shape), ax, -1)
    return einsum("...i,...i->...", x1, x2)


NUMPY = {
    np.einsum: einsum, np.tensordot: tensordot, np.inner: inner, np.kron: kron, np.cross: cross,
    np.linalg.tensordot: linalg_tensordot, np.linalg.cross: linalg_cross,
    np.linalg.outer: linalg_outer, np.linalg.vecdot: vecdot,
    np.linalg.matmul: la.matmul,
    np.linalg.matrix_transpose: matrix_transpose,
}  # fmt: skip
METHODS: dict = {}
ATTRIBUTES: dict = {}

__all__ = ["cross", "einsum", "inner", "kron", "tensordot", "vecdot"]
