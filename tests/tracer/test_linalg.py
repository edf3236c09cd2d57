"""Linear algebra traces and equals NumPy: einsum's spellings, tensordot, inner, kron, cross,
diagonals and triangles, eye-like masks, and ``np.linalg`` with its keywords, dtypes and
batches; generated code calls the same NumPy functions."""

from __future__ import annotations

import numpy as np
import pytest
from tracer_testing import assert_same, check_traced, make_array, ops_of

from compiler import compile
from tracer import ShapeError, TracegradError, UnsupportedError, load, save, trace

A = make_array


def spd(shape, dtype="float64", seed=0):
    a = make_array(shape, "float64", seed=seed)
    n = shape[-1]
    return (a @ np.swapaxes(a, -1, -2) + np.diag(np.arange(1.0, n + 1) * n)).astype(dtype)


# ----- einsum -----
M23, M34, M33 = A((2, 3), "float64"), A((3, 4), "float64", seed=1), A((3, 3), "float64", seed=2)
V3 = A((3,), "float64", seed=3)
EINSUM = [
    ("ij,jk->ik", M23, M34),
    ("ij,jk", M23, M34),  # implicit output
    ("ij->ji", M23),
    ("ij->", M23),
    ("ii", M33),  # trace
    ("ii->i", M33),  # diagonal
    ("iij->ij", A((3, 3, 2), "float64")),
    ("iii->", A((2, 2, 2), "float64")),
    ("ij,ij->ij", M23, M23),
    ("i,j->ij", V3, A((4,), "float64")),
    ("i,i", V3, V3),
    ("bij,bjk->bik", A((5, 2, 3), "float64"), A((5, 3, 4), "float64")),
    ("...ij,...jk->...ik", A((5, 2, 3), "float64"), M34),
    ("...i,...i", A((2, 1, 3), "float64"), A((4, 3), "float64")),  # broadcast ellipses
    ("i...->...", A((5, 2, 3), "float64")),
    ("...ii->...i", A((4, 3, 3), "float64")),
    ("ij...", M23),  # an ellipsis covering no axis
    ("ij,jk", A((2, 1), "float64"), M34),  # a size-1 label broadcasts
    ("i,i->i", A((1,), "float64"), V3),
    ("ij,jk,kl->il", M23, M34, A((4, 2), "float64")),
    ("ab,bc,cd", M23, M34, A((4, 2), "float64")),
    ("Ab,bC", M23, M34),  # upper-case labels sort first (implicit output)
    ("bA", M23),
    (" i j , j k -> i k ", M23, M34),  # spaces
    ("..., ...", 3.0, V3),  # a Python number is an operand
    ("i,i", A((3,), "int64"), A((3,), "int32")),
    ("i,i", A((3,), "bool"), A((3,), "bool", seed=1)),
    ("ij,jk", A((2, 3), "float32"), A((3, 4), "float32")),
    ("ij,jk", A((2, 3), "float32"), M34),  # promotion
    (",", 2.0, A((), "float64")),
]


@pytest.mark.parametrize("case", EINSUM, ids=[e[0] for e in EINSUM])
def test_einsum_equals_numpy(case):
    spec, *operands = case
    traced = [i for i, x in enumerate(operands) if isinstance(x, np.ndarray)]

    def f(*xs):
        ops = list(operands)
        for i, x in zip(traced, xs):
            ops[i] = x
        return np.einsum(spec, *ops)

    graph = check_traced(f, *[operands[i] for i in traced])
    assert "einsum" in ops_of(graph)


def test_einsum_sublist_form_and_optimize():
    x, y, z = M23, M34, A((4, 2), "float64", seed=5)
    check_traced(lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), x, y)
    check_traced(lambda a, b: np.einsum(a, [0, 1], b, [1, 2]), x, y)
    check_traced(lambda a: np.einsum(a, [Ellipsis, 0], [Ellipsis]), A((2, 3, 4), "float64"))
    for optimize in (True, "greedy", "optimal", ["einsum_path", (0, 1), (0, 1)]):
        f = lambda a, b, c, o=optimize: np.einsum("ij,jk,kl->il", a, b, c, optimize=o)
        check_traced(f, x, y, z)
        assert "optimize=" in compile(f).source(x, y, z)


def test_einsum_lowers_to_np_einsum():
    f = lambda a, b: np.einsum("ij,jk->ik", a, b)
    src = compile(f).source(M23, M34)
    assert "np.einsum(" in src and "(0, 1)" in src
    assert_same(compile(f)(M23, M34), f(M23, M34))
    one = lambda a: np.einsum("ii->i", a) * 2.0  # a view of its operand in NumPy
    assert_same(compile(one)(M33), one(M33))
    assert_same(M33, A((3, 3), "float64", seed=2))  # the input was not written to


def test_einsum_graph_saves_and_loads(tmp_path):
    graph = trace(lambda a, b: np.einsum("...ij,...jk", a, b)).trace(A((2, 2, 3), "float64"), M34)
    save(graph, tmp_path / "g.json")
    from tracer import evaluate

    out = evaluate(load(tmp_path / "g.json"), A((2, 2, 3), "float64"), M34)
    assert_same(out, np.einsum("...ij,...jk", A((2, 2, 3), "float64"), M34))


@pytest.mark.parametrize(
    "spec, shapes, error",
    [
        ("ij,jk", [(2, 3), (4, 5)], ShapeError),
        ("ii", [(2, 3)], ShapeError),
        ("ij", [(2, 3, 4)], ShapeError),
        ("...i->", [(2, 3)], ShapeError),
        ("i->j", [(3,)], TracegradError),
        ("i->ii", [(3,)], TracegradError),
        ("i,j", [(3,)], TracegradError),
        ("i$", [(3, 3)], TracegradError),
    ],
)
def test_einsum_rejects_what_numpy_rejects(spec, shapes, error):
    xs = [np.ones(s) for s in shapes]
    with pytest.raises(ValueError):
        np.einsum(spec, *xs)
    with pytest.raises(error):
        trace(lambda *a: np.einsum(spec, *a))(*xs)


def test_einsum_unsupported_keywords():
    with pytest.raises(UnsupportedError, match="einsum"):
        trace(lambda a: np.einsum("ij", a, dtype=np.float32))(M23)


# ----- tensordot, inner, outer, kron, cross, dot -----
@pytest.mark.parametrize(
    "fn, shapes",
    [
        (lambda a, b: np.tensordot(a, b), [(2, 3, 4), (3, 4, 5)]),
        (lambda a, b: np.tensordot(a, b, 1), [(2, 3), (3, 4)]),
        (lambda a, b: np.tensordot(a, b, 0), [(2, 3), (4,)]),
        (lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])), [(2, 3, 4), (4, 5, 2)]),
        (lambda a, b: np.tensordot(a, b, (1, 0)), [(2, 3), (3, 4)]),
        (lambda a, b: np.tensordot(a, b, axes=([-1], [-2])), [(2, 3), (5, 3, 4)]),
        (np.inner, [(3,), (3,)]),
        (np.inner, [(2, 3), (4, 3)]),
        (np.inner, [(2, 2, 3), (3,)]),
        (np.inner, [(), (2, 3)]),
        (np.outer, [(2, 3), (4,)]),
        (np.kron, [(2, 3), (4, 2)]),
        (np.kron, [(3,), (2, 2)]),
        (np.kron, [(2, 1, 2), (3,)]),
        (np.kron, [(), (2, 2)]),
        (np.cross, [(3,), (3,)]),
        (np.cross, [(4, 3), (3,)]),
        (np.cross, [(2, 3), (2, 2)]),
        (np.cross, [(2,), (3,)]),
        (lambda a, b: np.cross(a, b, axisa=0, axisb=0, axisc=0), [(3, 4), (3, 4)]),
        (lambda a, b: np.cross(a, b, axis=0), [(3, 2), (3, 2)]),
        (np.dot, [(2, 3, 4), (5, 4, 2)]),
        (np.dot, [(4,), (2, 4, 3)]),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:DeprecationWarning")
def test_products_equal_numpy(fn, shapes, dtype):
    check_traced(fn, *[A(s, dtype, seed=i) for i, s in enumerate(shapes)])


@pytest.mark.parametrize(
    "fn, shapes",
    [
        (np.linalg.matmul, [(2, 3), (3, 4)]),
        (lambda a, b: np.linalg.tensordot(a, b, axes=1), [(2, 3), (3, 4)]),
        (np.linalg.outer, [(3,), (2,)]),
        (np.linalg.cross, [(2, 3), (3,)]),
        (lambda a, b: np.linalg.cross(a, b, axis=0), [(3, 2), (3, 2)]),
        (np.linalg.vecdot, [(2, 3), (3,)]),
        (lambda a, b: np.linalg.vecdot(a, b, axis=0), [(3, 2), (3, 1)]),
        (lambda a, b: np.linalg.matrix_transpose(a) @ b, [(2, 3, 4), (3, 2)]),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linalg_array_api_spellings_equal_numpy(fn, shapes, dtype):
    check_traced(fn, *[A(s, dtype, seed=i) for i, s in enumerate(shapes)])


def test_two_dimensional_cross_product_is_a_scalar():
    with pytest.warns(DeprecationWarning):
        expected = np.cross(A((4, 2), "float64"), A((4, 2), "float64", seed=1))
    assert_same(trace(np.cross)(A((4, 2), "float64"), A((4, 2), "float64", seed=1)), expected)


def test_products_with_python_numbers_promote_as_numpy():
    x = A((3,), "float32")
    for fn in (np.dot, np.inner, np.kron, np.outer, lambda a, s: np.tensordot(a, s, 0)):
        assert_same(trace(lambda a, fn=fn: fn(a, 2.0))(x), fn(x, 2.0))


# ----- diagonals, triangles, eye-like masks -----
X = A((3, 4), "float64")
DIAGONALS = [
    np.trace,
    lambda x: np.trace(x, 1),
    lambda x: np.trace(x, -2),
    lambda x: x.trace(),
    lambda x: x.trace(offset=1, dtype=np.float32),
    np.diagonal,
    lambda x: np.diagonal(x, -1),
    lambda x: np.diagonal(x, 5),  # empty
    lambda x: x.diagonal(1),
    np.diag,
    lambda x: np.diag(x, 2),
    lambda x: np.diag(x[0]),
    lambda x: np.diag(x[0], -2),
    lambda x: np.diag(x[1], 1),
    lambda x: np.diagflat(x[:2, :2], 1),
    np.triu,
    lambda x: np.triu(x, 1),
    lambda x: np.tril(x, -1),
    lambda x: np.tril(x, 2),
    lambda x: np.tril(x[0]),  # 1-D: NumPy broadcasts it to a matrix
]


@pytest.mark.parametrize("fn", DIAGONALS)
@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "bool"])
def test_diagonals_equal_numpy(fn, dtype):
    check_traced(fn, X.astype(dtype))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.trace(x, axis1=2, axis2=0),
        lambda x: np.diagonal(x, 1, 2, 1),
        lambda x: np.triu(x, -1),
        lambda x: np.tril(x),
        lambda x: np.linalg.diagonal(x, offset=1),
        lambda x: np.linalg.trace(x),
        lambda x: np.linalg.trace(x, offset=-1, dtype=np.float32),
    ],
)
def test_batched_diagonals_equal_numpy(fn):
    check_traced(fn, A((2, 3, 4), "float64"))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x * np.eye(3),
        lambda x: x @ np.identity(3, dtype=x.dtype),
        lambda x: np.where(np.tri(3, dtype=bool), x, 0.0),
        lambda x: x * np.tri(*x.shape, k=-1),
        lambda x: np.sum(x * np.eye(*x.shape, k=1, dtype=x.dtype)),
        lambda x: x - np.diag(np.diag(np.ones((3, 3)))) * x,
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_eye_like_constants_inside_traced_code(fn, dtype):
    check_traced(fn, A((3, 3), dtype))


# ----- np.linalg -----
LINALG = [
    (np.linalg.inv, lambda dt: [spd((3, 3), dt)]),
    (np.linalg.inv, lambda dt: [spd((2, 1, 3, 3), dt)]),
    (np.linalg.solve, lambda dt: [spd((3, 3), dt), A((3,), dt)]),
    (np.linalg.solve, lambda dt: [spd((3, 3), dt), A((3, 2), dt)]),
    (np.linalg.solve, lambda dt: [spd((4, 3, 3), dt), A((3,), dt)]),
    (np.linalg.solve, lambda dt: [spd((4, 3, 3), dt), A((5, 1, 3, 2), dt)]),
    (np.linalg.det, lambda dt: [A((3, 3), dt)]),
    (np.linalg.det, lambda dt: [A((2, 4, 4), dt)]),
    (lambda a: tuple(np.linalg.slogdet(a)), lambda dt: [A((2, 3, 3), dt)]),
    (np.linalg.pinv, lambda dt: [A((3, 5), dt)]),
    (lambda a: np.linalg.pinv(a, rcond=0.1), lambda dt: [A((2, 4, 3), dt)]),
    (lambda a: np.linalg.pinv(a, rtol=None), lambda dt: [A((4, 3), dt)]),
    (lambda a: np.linalg.pinv(a, hermitian=True), lambda dt: [spd((3, 3), dt)]),
    (np.linalg.cholesky, lambda dt: [spd((2, 3, 3), dt)]),
    (lambda a: np.linalg.cholesky(a, upper=True), lambda dt: [spd((3, 3), dt)]),
    (lambda a: tuple(np.linalg.eigh(a)), lambda dt: [spd((2, 3, 3), dt)]),
    (lambda a: tuple(np.linalg.eigh(a, UPLO="U")), lambda dt: [A((3, 3), dt)]),
    (lambda a: np.linalg.eigvalsh(a, "U"), lambda dt: [A((3, 3), dt)]),
    (lambda a: tuple(np.linalg.svd(a)), lambda dt: [A((2, 3, 5), dt)]),
    (lambda a: tuple(np.linalg.svd(a, full_matrices=False)), lambda dt: [A((5, 3), dt)]),
    (lambda a: np.linalg.svd(a, compute_uv=False), lambda dt: [A((4, 3), dt)]),
    (lambda a: tuple(np.linalg.svd(a, hermitian=True)), lambda dt: [spd((3, 3), dt)]),
    (np.linalg.svdvals, lambda dt: [A((2, 3, 4), dt)]),
    (lambda a: tuple(np.linalg.qr(a)), lambda dt: [A((4, 3), dt)]),
    (lambda a: tuple(np.linalg.qr(a)), lambda dt: [A((2, 3, 5), dt)]),
    (lambda a: tuple(np.linalg.qr(a, mode="complete")), lambda dt: [A((4, 3), dt)]),
    (lambda a: np.linalg.qr(a, mode="r"), lambda dt: [A((4, 3), dt)]),
]


@pytest.mark.parametrize("k", range(len(LINALG)))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linalg_equals_numpy(k, dtype):
    fn, make = LINALG[k]
    args = make(dtype)
    check_traced(fn, *args)
    compiled = compile(fn)
    got = compiled(*args)
    expected = fn(*args)
    for g, e in zip(got if isinstance(got, tuple) else [got],
                    expected if isinstance(expected, tuple) else [expected]):  # fmt: skip
        assert_same(g, e)


@pytest.mark.parametrize(
    "fn, call",
    [
        (np.linalg.inv, "np.linalg.inv("),
        (lambda a: np.linalg.solve(a, a[0]), "np.linalg.solve("),
        (np.linalg.det, "np.linalg.det("),
        (lambda a: np.linalg.slogdet(a)[1], "np.linalg.slogdet("),
        (np.linalg.pinv, "np.linalg.pinv("),
        (np.linalg.cholesky, "np.linalg.cholesky("),
        (lambda a: np.linalg.eigh(a)[1], "np.linalg.eigh("),
        (np.linalg.eigvalsh, "np.linalg.eigvalsh("),
        (lambda a: np.linalg.svd(a)[0], "np.linalg.svd("),
        (lambda a: np.linalg.qr(a)[0], "np.linalg.qr("),
    ],
)
def test_generated_code_calls_np_linalg(fn, call):
    assert call in compile(fn).source(spd((3, 3)))


def test_integer_and_boolean_matrices_compute_in_float64():
    a = np.array([[2, 1], [1, 3]])
    for fn in (np.linalg.inv, np.linalg.det, np.linalg.pinv, np.linalg.cholesky,
               lambda m: np.linalg.solve(m, np.array([1, 2]))):  # fmt: skip
        check_traced(fn, a)
    check_traced(np.linalg.det, np.eye(3, dtype=bool))
    with pytest.raises(TracegradError, match="float16"):
        trace(np.linalg.inv)(np.eye(2, dtype=np.float16))


def test_results_have_numpy_field_names_and_return_as_tuples():
    a = spd((3, 3))

    @trace
    def f(m):
        e, s, q, d = np.linalg.eigh(m), np.linalg.svd(m), np.linalg.qr(m), np.linalg.slogdet(m)
        return e.eigenvalues, e.eigenvectors, s.U, s.S, s.Vh, q.Q, q.R, d.sign, d.logabsdet, e

    got = f(a)
    e, s, q, d = np.linalg.eigh(a), np.linalg.svd(a), np.linalg.qr(a), np.linalg.slogdet(a)
    for g, x in zip(got, (*e, *s, *q, *d)):
        assert_same(g, x)
    assert type(got[-1]) is tuple and len(got[-1]) == 2


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 13, -1, -2, -6])
def test_matrix_power_equals_numpy(n):
    for a in (spd((3, 3)), spd((2, 3, 3), "float32"), np.array([[1, 2], [3, 4]])):
        if n < 0 and a.dtype.kind == "i":
            continue
        check_traced(lambda m, n=n: np.linalg.matrix_power(m, n), a)


NORMS = [
    ((4,), {}),
    ((4,), {"ord": 1}),
    ((4,), {"ord": np.inf}),
    ((4,), {"ord": -np.inf}),
    ((4,), {"ord": 0}),
    ((4,), {"ord": 3}),
    ((4,), {"ord": 0.5}),
    ((4,), {"ord": -1}),
    ((4,), {"ord": 2, "keepdims": True}),
    ((3, 4), {}),
    ((3, 4), {"keepdims": True}),
    ((3, 4), {"ord": "fro"}),
    ((3, 4), {"ord": "nuc"}),
    ((3, 4), {"ord": 1}),
    ((3, 4), {"ord": -1}),
    ((3, 4), {"ord": 2}),
    ((3, 4), {"ord": -2}),
    ((3, 4), {"ord": np.inf}),
    ((3, 4), {"ord": -np.inf}),
    ((3, 4), {"axis": 1}),
    ((3, 4), {"axis": 0, "ord": 1}),
    ((2, 3, 4), {"axis": -1, "ord": 3, "keepdims": True}),
    ((2, 3, 4), {"axis": (2, 0)}),
    ((2, 3, 4), {"axis": (0, 2), "ord": "nuc", "keepdims": True}),
    ((2, 3, 4), {"axis": (2, 1), "ord": 1}),
    ((2, 3, 4), {"axis": (1, 2), "ord": np.inf}),
    ((2, 3, 4), {"axis": (1, 2), "ord": 2}),
    ((2, 3, 4), {}),
]


@pytest.mark.parametrize("shape, kw", NORMS, ids=[f"{s}-{k}" for s, k in NORMS])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # ord=-1 of a zero entry
def test_norm_equals_numpy(shape, kw, dtype):
    check_traced(lambda x: np.linalg.norm(x, **kw), A(shape, dtype, low=-3, high=3))


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: np.linalg.vector_norm(x),
        lambda x: np.linalg.vector_norm(x, axis=1, ord=1),
        lambda x: np.linalg.vector_norm(x, axis=(0, 2), keepdims=True),
        lambda x: np.linalg.vector_norm(x, ord=np.inf, keepdims=True),
        lambda x: np.linalg.matrix_norm(x),
        lambda x: np.linalg.matrix_norm(x, ord="nuc", keepdims=True),
    ],
)
def test_vector_and_matrix_norm_equal_numpy(fn):
    check_traced(fn, A((2, 3, 4), "float64"))


def test_norm_of_zero_is_zero():
    check_traced(np.linalg.norm, np.zeros(3))
    check_traced(lambda x: np.linalg.norm(x, 3), np.zeros(3))
    check_traced(lambda x: np.linalg.norm(x, axis=0), np.array([np.nan, 1.0]))


@pytest.mark.parametrize(
    "fn, args, error",
    [
        (np.linalg.inv, [np.ones((2, 3))], ShapeError),
        (np.linalg.solve, [np.eye(3), np.ones(2)], ShapeError),
        (np.linalg.det, [np.ones(3)], ShapeError),
        (lambda a: np.linalg.qr(a, mode="raw"), [np.eye(2)], UnsupportedError),
        (lambda a: np.linalg.eigh(a, UPLO="X"), [np.eye(2)], ShapeError),
        (lambda a: np.linalg.norm(a, "nuc"), [np.ones(3)], TracegradError),
        (lambda a: np.linalg.norm(a, "bad"), [np.ones((2, 2))], TracegradError),
        (lambda a: np.linalg.matrix_power(a, 1.5), [np.eye(2)], TracegradError),
        (lambda a: np.trace(a), [np.ones(3)], ShapeError),
    ],
)
def test_linalg_errors_name_the_function(fn, args, error):
    with pytest.raises(error):
        trace(fn)(*args)
