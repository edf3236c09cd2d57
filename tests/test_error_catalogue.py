"""The catalogue of bad inputs: one table, each case answered by a clear error or NumPy's numbers.

Every row names a user function, how it is wrapped (``trace``, ``grad``, ...), the
call that goes wrong, the exception class expected and fragments its message must
contain: the op, the shapes and ``{line}``, the user's ``path:LINE`` (the line
marked ``# <-`` in the user function or in the call). Rows with no exception class
are things that look wrong but are fine, with the value they give. After every
error the wrapped function still works: a good call made before the bad one is
made again, gives the same numbers and traces nothing anew.

``docs/errors.md`` is generated from this table by ``docs/gen_errors.py`` (the exact
error texts); ``test_docs_are_up_to_date`` fails when the two drift apart.
"""

from __future__ import annotations

import functools  # noqa: F401  (used by Case.make)
import importlib.util
import inspect
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from compiler import compile, custom_vjp, grad, jvp, value_and_grad  # noqa: F401  (Case.make)
from tracer import (
    EvaluationError,
    ShapeError,
    TracegradError,
    TracingError,
    UnsupportedError,
    trace,
)
from tracer.staging import current_trace

ROOT = Path(__file__).resolve().parents[1]
MARK = "# <-"

X = np.array([0.5, 1.0, 2.0])
A23 = np.arange(6.0).reshape(2, 3)
B4 = np.ones(4)


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes:
        topic: the section of docs/errors.md.
        fn: the user's function (plain NumPy code).
        run: the call, ``run(f)`` with ``f`` the wrapped ``fn``; returns its result.
        exc: the exception class expected, or None when the call is fine.
        fragments: substrings of the message; ``{line}`` is the user's ``path:LINE``.
        make: how ``fn`` is wrapped, as source (``{fn}`` is the function's name).
        good: arguments of a good call made before and after the bad one (None: none).
        value: the expected result when ``exc`` is None.
        name: the case's id (default: ``<fn>/<run>``).
        note: one sentence for the docs.
    """

    topic: str
    fn: object
    run: object
    exc: type | None
    fragments: tuple = ()
    make: str = "trace({fn})"
    good: tuple | None = None
    value: object = None
    name: str = ""
    note: str = ""

    @property
    def id(self) -> str:
        if self.name:
            return self.name
        fn = self.fn.__name__.removeprefix("f_")
        call = self.run.__name__.removeprefix("call_")
        return fn if call in ("x", "x_marked") else f"{fn}/{call}"

    def wrap(self):
        return eval(self.make.format(fn="fn"), globals(), {"fn": self.fn})


def marked_line(case: Case) -> str | None:
    """``path:LINE`` of the ``# <-`` line in the user function or the call (None: unmarked)."""
    for obj in (case.fn, case.run):
        try:
            lines, start = inspect.getsourcelines(obj)
        except (OSError, TypeError):
            continue
        for i, line in enumerate(lines):
            if MARK in line:
                return f"{inspect.getsourcefile(obj)}:{max(start, 1) + i}"
    return None


def run_case(case: Case):
    """(wrapped function, exception or None, result) of the case's call."""
    f = case.wrap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return f, None, case.run(f)
        except Exception as exc:  # the catalogue records whatever is raised
            return f, exc, None


# ----- user functions -----


def double(x):
    return x * 2.0


def scale(x):
    return x * 2.0  # <-


def total(x):
    return np.sum(x)  # <-


def add(x, y):
    return x + y


def f_if(x):
    if x.sum() > 0:  # <-
        return x
    return -x


def f_while(x):
    while x.max() > 1.0:  # <-
        x = x / 2.0
    return x


def f_and(x):
    return (x > 0) and (x < 1)  # <-


def f_int(x):
    return x * int(x[0])  # <-


def f_float(x):
    return x * float(x.sum())  # <-


def f_range(x):
    return [x[i] for i in range(x[0])]  # <-


def f_mask(x):
    return x[x > 1.0]  # <-


def f_len(x):
    return x * len(x)


def f_setitem(x):
    x[0] = 1.0  # <-
    return x


def f_sort_method(x):
    x.sort()  # <-
    return x


def f_numpy_iadd(x):
    acc = np.zeros(3)
    acc += x  # <-
    return acc


def f_traced_iadd(x):
    x += 1.0
    return x


def f_unique(x):
    return np.unique(x)  # <-


def f_gcd(x):
    return np.gcd(x, 4)  # <-


def f_reduce(x):
    return np.add.reduce(x)  # <-


def f_at(x):
    np.add.at(x, [0, 0], 1.0)  # <-
    return x


def f_out(x):
    return np.exp(x, out=x)  # <-


def f_where_kw(x):
    return np.exp(x, where=x > 1.0)  # <-


def f_sum_out(x):
    return np.sum(x, out=np.zeros(()))  # <-


def f_floordiv(x):
    return x // 2.0 + x % 2.0


def f_ldexp(x):
    return np.ldexp(x, 2)  # <-


def f_array_of_traced(x):
    return np.array([x[0], x[1]])  # <-


def f_asarray(x):
    return np.asarray(x) * 2.0  # <-


def f_one_hot(x):
    return np.eye(3)[np.argmax(x)]  # <-


def f_scipy_logpdf(x):
    import scipy.stats

    return scipy.stats.norm.logpdf(x, loc=1.0)  # <-


def f_scipy_logsumexp(x):
    import scipy.special

    return scipy.special.logsumexp(x)  # <-


def f_scipy_gamma(x):
    import scipy.special

    return scipy.special.gamma(x)  # <-


def f_scipy_gammaln(x):
    import scipy.special

    return scipy.special.gammaln(x) + scipy.special.expit(x)


def f_loss(x):
    return np.sum(x * x)


def f_square(x):
    return x * x  # <-


def f_pair(x):
    return np.sum(x), x


def f_argmax(x):
    return np.argmax(x)  # <-


def f_gather(x, idx):
    return x[idx]  # <-


def f_log(x):
    return np.log(x)


def f_sqrt_sum(x):
    return np.sum(np.sqrt(x))


def f_softmax(x):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


# binary ops on float64[2,3] and float64[4]: one user line each
BINARY = {
    "add": lambda x, y: x + y,  # <-
    "sub": lambda x, y: x - y,  # <-
    "mul": lambda x, y: x * y,  # <-
    "div": lambda x, y: x / y,  # <-
    "pow": lambda x, y: x**y,  # <-
    "maximum": lambda x, y: np.maximum(x, y),  # <-
    "minimum": lambda x, y: np.minimum(x, y),  # <-
    "less": lambda x, y: x < y,  # <-
    "less_equal": lambda x, y: x <= y,  # <-
    "greater": lambda x, y: x > y,  # <-
    "greater_equal": lambda x, y: x >= y,  # <-
    "equal": lambda x, y: x == y,  # <-
    "not_equal": lambda x, y: x != y,  # <-
    "logical_and": lambda x, y: np.logical_and(x, y),  # <-
    "logical_or": lambda x, y: np.logical_or(x, y),  # <-
    "where": lambda x, y: np.where(x > 1.0, x, y),  # <-
    "hypot": lambda x, y: np.hypot(x, y),  # <-
    "clip": lambda x, y: np.clip(x, y, 3.0),  # <-
}

# other shape errors: (name, fn, arguments, fragments)
SHAPES = {
    "matmul": (lambda x, y: x @ y, (A23, B4), ("float64[2,3]", "float64[4]", "3 != 4")),  # <-
    "matmul_0d": (lambda x, y: x @ y, (2.0, A23), ("at least 1-D", "float64[]")),  # <-
    "matmul_batch": (
        lambda x, y: x @ y,  # <-
        (np.ones((2, 3, 4)), np.ones((3, 4, 5))),
        ("batch", "float64[2,3,4]", "float64[3,4,5]"),
    ),
    "dot": (lambda x, y: np.dot(x, y), (A23, B4), ("(2, 3)", "(4,)", "3 != 4")),  # <-
    "concatenate": (
        lambda x, y: np.concatenate([x, y]),  # <-
        (A23, B4),
        ("float64[2,3]", "float64[4]"),
    ),
    "stack": (lambda x, y: np.stack([x, y]), (A23, B4), ("float64[2,3]", "float64[4]")),  # <-
    "reshape": (lambda x: x.reshape(5), (A23,), ("(2, 3)", "(5,)")),  # <-
    "broadcast_to": (lambda x: np.broadcast_to(x, (3, 2)), (A23,), ("(2, 3)", "(3, 2)")),  # <-
    "sum": (lambda x: x.sum(axis=2), (A23,), ("axis 2", "dimension 2")),  # <-
    "transpose": (lambda x: x.transpose(0, 0), (A23,), ("(0, 0)", "2 axes")),  # <-
    "squeeze": (lambda x: x.squeeze(0), (A23,), ("axis 0", "(2, 3)")),  # <-
    "getitem": (lambda x: x[5], (A23,), ("index 5", "axis 0", "float64[2,3]")),  # <-
}


# ----- calls -----


def call_string(f):
    return f("abc")  # <-


def call_none(f):
    return f(None)


def call_object(f):
    return f(object())  # <-


def call_ragged(f):
    return f([[1.0, 2.0], [3.0]])


def call_list(f):
    return f([1.0, 2.0, 3.0])


def call_string_array(f):
    return f(np.array(["a", "b"]))  # <-


def call_object_array(f):
    return f(np.array([1.0, None], dtype=object))  # <-


def call_too_many(f):
    return f(X, X)  # <-


def call_missing(f):
    return f()  # <-


def call_keyword(f):
    return f(X, z=1.0)  # <-


def call_unhashable_static(f):
    return f(X, [1, 2])  # <-


def call_x(f):
    return f(X)


def call_x_marked(f):
    return f(X)  # <-


def call_int_array(f):
    return f(np.arange(3))  # <-


def call_bool_array(f):
    return f(np.array([True, False]))  # <-


def call_python_int(f):
    return f(2)  # <-


def call_complex(f):
    return f(X + 1j)  # <-


def call_complex_traced(f):
    return f(np.array([1 + 2j, 3 - 1j]))


def call_wrong_tangent(f):
    return f((X,), (np.ones(4),))  # <-


def call_bad_index(f):
    return f(X, np.array([0, 5]))


def call_nan_inf(f):
    return f(np.array([np.nan, np.inf, -np.inf, 0.0, -1.0]))


def call_inf_softmax(f):
    return f(np.array([np.inf, 1.0]))


def call_zero(f):
    return f(np.array([0.0, 4.0]))


def _binary_call(f):
    return f(A23, B4)


def _shape_cases():
    cases = []
    for op, fn in BINARY.items():
        frags = (f"{op}:", "float64[2,3]", "float64[4]", "{line}")
        cases.append(Case("Mismatched shapes", fn, _binary_call, ShapeError, frags, name=op))
    for name, (fn, args, frags) in SHAPES.items():
        run = lambda f, args=args: f(*args)
        exc = IndexError if name == "getitem" else ShapeError
        op = "matmul" if name.startswith("matmul") else name
        frags = (f"{op}:", *frags, "{line}")
        cases.append(Case("Mismatched shapes", fn, run, exc, frags, name=name))
    return cases


# complex numbers (kept here, below the other functions, so their line numbers stay put)
def f_complex_sum(z):
    return np.sum(z * z)  # <-


def f_abs_squared(z):
    return np.sum(np.abs(z) ** 2)


def call_complex_tangent(f):
    return f((X,), (X + 1j,))  # <-


NAN_INF = np.array([np.nan, np.inf, -np.inf, 0.0, -1.0])
with np.errstate(all="ignore"):
    LOG_NAN_INF = np.log(NAN_INF)

CASES = [
    # ----- arguments -----
    Case("Arguments", double, call_string, TypeError,
         ("argument x of double is a str", "static_argnums", "{line}"), good=(X,)),
    Case("Arguments", scale, call_none, TypeError,
         ("NoneType", "argument x of scale is None", "{line}"), good=(X,)),
    Case("Arguments", double, call_object, TypeError,
         ("argument x of double is an object", "{line}"), good=(X,)),
    Case("Arguments", scale, call_ragged, TypeError,
         ("ragged nested list", "np.array", "{line}"), good=(X,)),
    Case("Arguments", total, call_list, TracingError,
         ("np.asarray", "list of numbers", "np.array", "{line}"), good=(X,)),
    Case("Arguments", double, call_string_array, TypeError,
         ("argument x of double", "dtype <U1", "{line}"), good=(X,)),
    Case("Arguments", double, call_object_array, TypeError,
         ("argument x of double", "dtype object", "{line}"), good=(X,)),
    Case("Arguments", double, call_too_many, TypeError,
         ("double(x)", "too many positional arguments", "{line}"), good=(X,)),
    Case("Arguments", double, call_missing, TypeError,
         ("double(x)", "missing a required argument: 'x'", "{line}"), good=(X,)),
    Case("Arguments", double, call_keyword, TypeError,
         ("double(x)", "unexpected keyword argument 'z'", "{line}"), good=(X,)),
    Case("Arguments", add, call_unhashable_static, TypeError,
         ("add", "static argument 1 must be hashable", "list", "{line}"),
         make="trace({fn}, static_argnums=1)", good=(X, 1.0)),
    # ----- shapes -----
    *_shape_cases(),
    # ----- NumPy functions, ufunc methods and keywords without a primitive -----
    Case("Unsupported NumPy", f_unique, call_x, UnsupportedError,
         ("np.unique has no tracegrad primitive", "supported functions", "{line}")),
    Case("Unsupported NumPy", f_gcd, call_x, UnsupportedError,
         ("np.gcd has no tracegrad primitive", "supported ufuncs", "{line}")),
    Case("Unsupported NumPy", f_reduce, call_x, UnsupportedError,
         ("np.add.reduce is not supported", "np.add(...)", "{line}")),
    Case("Unsupported NumPy", f_at, call_x, UnsupportedError,
         ("np.add.at is not supported", "{line}")),
    Case("Unsupported NumPy", f_out, call_x, UnsupportedError,
         ("np.exp(..., out=...)", "immutable", "{line}")),
    Case("Unsupported NumPy", f_where_kw, call_x, UnsupportedError,
         ("np.exp(..., where=...)", "np.where", "{line}")),
    Case("Unsupported NumPy", f_sum_out, call_x, UnsupportedError,
         ("np.sum(..., out=...)", "{line}")),
    Case("Unsupported NumPy", f_ldexp, call_x, UnsupportedError,
         ("np.ldexp has no tracegrad primitive", "{line}")),
    Case("Unsupported NumPy", f_scipy_gamma, call_x, UnsupportedError,
         ("scipy.special.gamma has no tracegrad primitive", "scipy.special.gammaln", "{line}"),
         name="scipy_gamma"),
    Case("Unsupported NumPy", f_floordiv, call_x, None, value=X // 2.0 + X % 2.0,
         name="floordiv_and_mod_trace",
         note="`//` and `%` trace (`np.floor_divide`, `np.remainder`); `//` has a zero "
              "gradient, `%` the gradient of `x - y * floor(x / y)` with the floor constant."),
    Case("Unsupported NumPy", f_scipy_gammaln, call_x, None,
         value=np.array([1.1948242741265545, 0.7310585786300049, 0.8807970779778823]),
         name="scipy_special_ufuncs_trace",
         note="scipy.special's ufuncs (`gammaln`, `expit`, `erf`, ... see docs/numpy.md) "
              "trace and differentiate; SciPy is needed to evaluate them."),
    # ----- what NumPy gives a tracer no hook in -----
    Case("Conversions to NumPy", f_array_of_traced, call_x, TracingError,
         ("np.array([...]) of traced values", "np.stack([a, b, ...])", "{line}")),
    Case("Conversions to NumPy", f_asarray, call_x, TracingError,
         ("np.asarray(x)", "float64[3]", "x itself", "{line}")),
    Case("Conversions to NumPy", f_one_hot, call_x, TracingError,
         ("indexing a NumPy array with a traced index", "tracer.ops.getitem(table, i)",
          "np.arange(k)", "{line}")),
    Case("Conversions to NumPy", f_scipy_logpdf, call_x, TracingError,
         ("scipy.stats.norm.logpdf", "np.asarray", "tracer.scipy.stats.norm.logpdf", "{line}"),
         name="scipy_stats_norm_logpdf"),
    Case("Conversions to NumPy", f_scipy_logsumexp, call_x, TracingError,
         ("scipy.special.logsumexp", "tracer.scipy.special.logsumexp", "{line}"),
         name="scipy_special_logsumexp"),
    # ----- in-place writes -----
    Case("In-place writes", f_setitem, call_x, TracingError,
         ("in-place assignment", "float64[3]", "immutable", "np.where", "{line}")),
    Case("In-place writes", f_sort_method, call_x, TracingError,
         (".sort() works in place", "immutable", "x = np.sort(x", "{line}")),
    Case("In-place writes", f_numpy_iadd, call_x, UnsupportedError,
         ("np.add(..., out=...)", "a += traced", "{line}")),
    Case("In-place writes", f_traced_iadd, call_x, None, value=X + 1.0,
         name="traced_iadd_rebinds",
         note="`x += 1.0` on a traced `x` rebinds the name to a new value (`x = x + 1.0`), as "
              "in JAX; nothing is written in place, the caller's array is untouched."),
    # ----- Python control flow and concrete values -----
    Case("Control flow", f_if, call_x, TracingError, ("bool()", "bool[]", "np.where", "{line}")),
    Case("Control flow", f_while, call_x, TracingError, ("bool()", "np.where", "{line}")),
    Case("Control flow", f_and, call_x, TracingError, ("bool()", "bool[3]", "{line}")),
    Case("Control flow", f_int, call_x, TracingError, ("int()", "float64[]", "{line}")),
    Case("Control flow", f_float, call_x, TracingError, ("float()", "float64[]", "{line}")),
    Case("Control flow", f_range, call_x, TracingError, ("__index__", "float64[]", "{line}")),
    Case("Control flow", f_mask, call_x, TracingError, ("boolean mask", "np.where", "{line}")),
    Case("Control flow", f_len, call_x, None, value=X * 3, name="len_is_static",
         note="`len()` of a traced array is its static first dimension (a Python int), as in "
              "JAX; it changes only with the shape, and a new shape traces anew."),
    # ----- gradients -----
    Case("Gradients", f_loss, call_int_array, TracegradError,
         ("grad requires floating-point inputs", "int64[3]", ".astype(float)", "{line}"),
         make="grad({fn})", good=(X,)),
    Case("Gradients", f_loss, call_bool_array, TracegradError,
         ("grad requires floating-point inputs", "bool[2]", "{line}"),
         make="grad({fn})", good=(X,)),
    Case("Gradients", f_loss, call_python_int, TracegradError,
         ("int64[]", "pass 2.0, not 2", "{line}"), make="grad({fn})", good=(X,)),
    Case("Gradients", f_complex_sum, call_complex, TracegradError,
         ("grad needs a real-valued output", "complex128[]", "holomorphic=True", "vjp or jvp",
          "{line}"), make="grad({fn})", good=(X,)),
    Case("Gradients", f_loss, call_x_marked, TracegradError,
         ("grad(holomorphic=True) needs complex inputs", "float64[3]", ".astype(complex)",
          "{line}"), make="grad({fn}, holomorphic=True)", good=(X + 1j,), name="holomorphic_real"),
    Case("Gradients", f_abs_squared, call_complex, None, value=2 * X - 2j,
         make="grad({fn})", name="real_function_of_complex_input",
         note="A real-valued function of complex inputs has JAX's gradient `df/dx - 1j * df/dy` "
              "(the conjugate of the steepest-ascent direction; see Derivatives)."),
    Case("Gradients", f_complex_sum, call_complex, None, value=2 * (X + 1j),
         make="grad({fn}, holomorphic=True)", name="holomorphic_gradient",
         note="A holomorphic function's gradient with `holomorphic=True` is `f'(z)`."),
    Case("Gradients", double, call_complex_tangent, TracegradError,
         ("jvp: tangent 0 is complex128 but its primal is float64", "imaginary part", "{line}"),
         make="functools.partial(jvp, {fn})", name="complex_tangent_of_a_real_input"),
    Case("Gradients", f_square, call_x_marked, TracegradError,
         ("grad needs a scalar output", "float64[3]", "jacobian or vjp", "{line}"),
         make="grad({fn})"),
    Case("Gradients", f_pair, call_x_marked, TracegradError,
         ("grad needs a function returning one scalar array", "has_aux=True", "{line}"),
         make="grad({fn})", name="grad_of_a_pair"),
    Case("Gradients", f_argmax, call_x, TracegradError,
         ("int64", "{line}"), make="grad({fn})", name="grad_of_an_integer_output"),
    Case("Gradients", double, call_wrong_tangent, TracegradError,
         ("jvp: tangent 0", "(4,)", "(3,)", "{line}"), make="functools.partial(jvp, {fn})"),
    Case("Gradients", f_loss, call_complex_traced, None, value=np.complex128(5 - 2j),
         name="complex_traces_and_evaluates",
         note="Complex arrays trace and evaluate with NumPy's numbers."),
    # ----- failures only the numbers reveal -----
    Case("Run time", f_gather, call_bad_index, EvaluationError,
         ("while evaluating node", "getitem", "float64[2]", "index 5 is out of bounds", "{line}"),
         good=(X, np.array([0, 2])), name="index_out_of_bounds_interpreted"),
    Case("Run time", f_gather, call_bad_index, EvaluationError,
         ("while executing node", "getitem", "generated line", "index 5", "{line}"),
         make="compile({fn})", good=(X, np.array([0, 2])), name="index_out_of_bounds_compiled"),
    # ----- NaN and Inf: NumPy's numbers -----
    Case("NaN and Inf", f_log, call_nan_inf, None,
         value=LOG_NAN_INF, name="log_of_nan_inf_zero_negative",
         note="NaN and Inf inputs give NumPy's numbers, without warnings or errors "
              "(use `debug_nans` to stop at the first NaN)."),
    Case("NaN and Inf", f_softmax, call_inf_softmax, None, value=np.array([np.nan, np.nan]),
         name="softmax_with_inf"),
    Case("NaN and Inf", f_sqrt_sum, call_zero, None, value=np.array([np.inf, 0.25]),
         make="grad({fn})", name="grad_of_sqrt_at_zero"),
    Case("NaN and Inf", f_log, call_nan_inf, None, value=LOG_NAN_INF,
         make="compile({fn})", name="compiled_log_of_nan_inf"),
]  # fmt: skip


# ----- custom derivatives (after the table: the lines above keep their numbers) -----


def f_no_rule(x):
    @custom_vjp
    def doubled(x):
        return x * 2.0

    return np.sum(doubled(x))


def f_bwd_too_few(x):
    @custom_vjp
    def product(x, y):
        return x * y

    product.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g * res[1],))
    return np.sum(product(x, x))


def f_nondiff_traced(x):
    @functools.partial(custom_vjp, nondiff_argnums=(1,))
    def clip_by(x, bound):
        return x

    clip_by.defvjp(lambda x, b: (x, None), lambda b, res, g: (np.clip(g, -b, b),))
    return np.sum(clip_by(x, np.max(x)))  # <-


CASES += [
    Case("Custom derivatives", f_no_rule, call_x, TracegradError,
         ("custom_vjp function doubled has no derivative rule", "doubled.defvjp(fwd, bwd)"),
         make="grad({fn})", name="custom_vjp_without_a_rule",
         note="The function itself evaluates, traces and compiles; only differentiating it "
              "needs the rule."),
    Case("Custom derivatives", f_bwd_too_few, call_x, TracegradError,
         ("bwd must return a tuple of 2 cotangents", "got a tuple of 1"),
         make="grad({fn})", name="custom_bwd_returns_too_few"),
    Case("Custom derivatives", f_nondiff_traced, call_x, TracegradError,
         ("argument 1 is in nondiff_argnums but is a traced value", "{line}"),
         make="grad({fn})", name="custom_nondiff_argument_traced",
         note="nondiff_argnums arguments are static Python values, as in JAX."),
]  # fmt: skip


def _ids():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return ids


# ----- the checks -----


def check_message(case: Case, exc: BaseException) -> None:
    assert isinstance(exc, case.exc), f"{case.id}: {type(exc).__name__}: {exc}"
    msg = str(exc)
    for frag in case.fragments:
        if frag == "{line}":
            loc = marked_line(case)
            assert loc is not None, f"{case.id}: no '# <-' line"
            path, line = loc.rsplit(":", 1)
            short = f"{Path(path).name}:{line}"
            assert loc in msg or short in msg, f"{case.id}: {loc} not in {msg!r}"
        else:
            assert frag in msg, f"{case.id}: {frag!r} not in {msg!r}"


def normalise(text: str) -> str:
    """An error text without what differs between runs: object addresses, the repository path."""
    text = re.sub(r"0x[0-9a-f]+", "0x...", text)
    return text.replace(str(ROOT) + "/", "")


def assert_nan_equal(got, expected) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype, (got, expected)
    np.testing.assert_array_equal(got, expected)  # NaNs compare equal here


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_case(case: Case):
    if case.id.startswith("scipy") and importlib.util.find_spec("scipy") is None:
        pytest.skip("SciPy is not installed")
    f = case.wrap()
    if case.exc is None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # NumPy's numbers, silently, as compiled code gives them
            assert_nan_equal(case.run(f), case.value)
            assert_nan_equal(case.run(f), case.value)
        assert f.trace_count == 1
        return
    if case.good is not None:
        before = f(*case.good)
        traces = f.trace_count
    with pytest.raises(Exception) as info:
        case.run(f)
    check_message(case, info.value)
    assert current_trace() is None  # no trace left active
    if case.good is not None:  # the caches are intact: same numbers, nothing retraced
        assert_nan_equal(f(*case.good), before)
        assert f.trace_count == traces
    cached = len(getattr(f, "_cache", ()))
    with pytest.raises(case.exc) as again:  # nothing half-built was cached
        case.run(f)
    assert normalise(str(again.value)) == normalise(str(info.value))
    assert len(getattr(f, "_cache", ())) == cached


@pytest.mark.parametrize("op", sorted(BINARY))
def test_every_binary_op_traces_with_matching_shapes(op):
    # the table's shape errors are about shapes only: the same code runs on matching ones
    fn = BINARY[op]
    a, b = A23 + 0.5, np.linspace(0.5, 1.5, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert_nan_equal(trace(fn)(a, b), fn(a, b))


def test_catalogue_covers_the_issue():
    topics = {c.topic for c in CASES}
    assert topics == {
        "Arguments", "Mismatched shapes", "Unsupported NumPy", "In-place writes",
        "Control flow", "Conversions to NumPy", "Gradients", "Run time", "NaN and Inf",
        "Custom derivatives",
    }  # fmt: skip
    binary_ops = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "less", "less_equal",
                  "greater", "greater_equal", "equal", "not_equal", "logical_and", "logical_or",
                  "where"}  # fmt: skip
    assert binary_ops <= set(BINARY)
    assert len(CASES) >= 60


# ----- NaN and Inf through every back end -----

NAN_FUNCS = {
    "exp": lambda x: np.exp(x),
    "log": lambda x: np.log(x),
    "sqrt": lambda x: np.sqrt(x),
    "div": lambda x: 1.0 / x,
    "tanh": lambda x: np.tanh(x),
    "pow": lambda x: x**0.5,
    "maximum": lambda x: np.maximum(x, 0.0),
    "sum_mul": lambda x: np.sum(x * x),
    "max": lambda x: np.max(x),
    "softmax": f_softmax,
    "where": lambda x: np.where(x > 0, x, 0.0),
    "matmul": lambda x: x @ np.ones((5, 2)),
}


# "pow" is ``x ** 0.5``: NumPy's ndarray.__pow__ computes it with np.sqrt (nan at -inf, -0.0
# at -0.0), which np.power only matches from NumPy 2.3 on; traced code follows ``**``.
@pytest.mark.parametrize("name", sorted(NAN_FUNCS))
def test_nan_and_inf_follow_numpy(name):
    fn = NAN_FUNCS[name]
    x = NAN_INF
    with np.errstate(all="ignore"):
        expected = fn(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning leaks out of tracegrad
        assert_nan_equal(trace(fn)(x), expected)
        assert_nan_equal(compile(fn)(x), expected)
        loss = lambda v: np.sum(fn(v))
        g_compiled = grad(loss)(x)
        g_interpreted = grad(loss, argnums=0)
        from tracer import evaluate

        assert_nan_equal(evaluate(g_interpreted.trace(x), x), g_compiled)
        assert g_compiled.shape == x.shape


# ----- docs/errors.md -----


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_errors", ROOT / "docs" / "gen_errors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_are_up_to_date():
    gen = _load_generator()
    text = (ROOT / "docs" / "errors.md").read_text()
    assert text == gen.render(), "docs/errors.md is stale: run python docs/gen_errors.py"
