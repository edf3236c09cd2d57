"""SciPy's special functions as primitives: dispatch by name, SciPy's dtypes, generated code,
and SciPy staying optional (nothing imports it before a special function is evaluated)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tracer_testing import assert_same, check_traced, make_array, ops_of

from compiler import compile, grad
from tracer import TracegradError, UnsupportedError, ops, trace
from tracer.primitives import SCIPY_SPECIAL, special

X = make_array((2, 3), "float64", low=0.2, high=3.0)


def test_tracer_never_imports_scipy():
    # the dispatch recognises scipy.special's ufuncs in sys.modules; SciPy is imported only
    # to evaluate one of them
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import tracer, compiler, tracer.ops, tracer.scipy.special, tracer.scipy.stats
        from compiler import grad
        assert grad(lambda x: np.sum(np.logaddexp(x, 1.0)))(np.ones(2)).shape == (2,)
        assert tracer.scipy.special.logsumexp(np.zeros(4)) == np.log(4.0)
        assert tracer.scipy.stats.norm.logpdf(0.0) < 0
        assert "scipy" not in sys.modules, sorted(m for m in sys.modules if "scipy" in m)
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_special_functions_without_scipy_say_so():
    code = textwrap.dedent("""
        import sys
        sys.modules["scipy"] = None  # as if SciPy were not installed
        import numpy as np
        from tracer import UnsupportedError, ops, trace
        import tracer.scipy.special
        assert trace(lambda x: np.arcsin(x) + np.sinc(x))(np.zeros(2)).tolist() == [1.0, 1.0]
        assert tracer.scipy.special.softmax(np.zeros(2)).tolist() == [0.5, 0.5]
        for call in (lambda: ops.erf(np.zeros(2)), lambda: trace(ops.gammaln)(np.ones(2)),
                     lambda: ops.polygamma(1, 2.0)):
            try:
                call()
            except UnsupportedError as exc:
                assert "pip install scipy" in str(exc), exc
            else:
                raise AssertionError("no error")
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


sc = pytest.importorskip("scipy.special")


@pytest.mark.parametrize("name", sorted(SCIPY_SPECIAL))
def test_scipy_ufunc_dispatches_to_its_primitive(name):
    ufunc = getattr(sc, name)
    args = (X,) * ufunc.nin
    graph = check_traced(ufunc, *args)
    assert SCIPY_SPECIAL[name].__name__ == ("digamma" if name == "psi" else name)
    assert set(ops_of(graph)) - {"input", "const"} <= {p.name for p in special.PRIMITIVES}
    # the same numbers from the traceable function and from generated code
    assert_same(trace(SCIPY_SPECIAL[name])(*args), ufunc(*args))
    assert_same(compile(ufunc)(*args), ufunc(*args))


def test_generated_code_calls_scipy_through_the_implementation():
    source = compile(lambda x: sc.gammaln(x) * 2.0).source(X)
    assert "_gammaln_impl(" in source and "scipy" not in source


@pytest.mark.parametrize(
    "fn, dtype",
    [
        (lambda x: sc.erf(x), np.float32),
        (lambda x: sc.xlogy(x, x), np.float32),
        (lambda x: sc.xlogy(x, 2.0), np.float64),  # SciPy's first loop is float64
        (lambda x: sc.betaln(3, x), np.float64),
        (lambda x: sc.rel_entr(x, 2.0), np.float32),  # ... and here float32
        (lambda x: sc.expit(x.astype(np.int8)), np.float64),
        (lambda x: ops.polygamma(1, x), np.float32),  # float32 stays float32 (not SciPy's)
    ],
)
def test_dtypes_are_scipys(fn, dtype):
    x32 = X.astype(np.float32)
    assert_same(trace(fn)(x32), fn(x32))
    assert np.asarray(trace(fn)(x32)).dtype == dtype


def test_scipy_ufunc_with_python_number_arguments():
    @trace
    def f(x, s):
        return sc.xlogy(s, x) + sc.betaln(x, 2)

    x32 = X.astype(np.float32)
    assert_same(f(x32, 1.5), sc.xlogy(1.5, x32) + sc.betaln(x32, 2))


def test_polygamma_orders_match_scipy():
    for n in range(5):
        np.testing.assert_allclose(ops.polygamma(n, X), sc.polygamma(n, X), rtol=1e-13)
        np.testing.assert_allclose(trace(lambda x, n=n: ops.polygamma(n, x))(X),
                                   sc.polygamma(n, X), rtol=1e-13)  # fmt: skip
    # the derivatives chain: gammaln'' = digamma' = polygamma(1, .)
    np.testing.assert_allclose(grad(grad(sc.gammaln))(2.5), sc.polygamma(1, 2.5), rtol=1e-13)
    np.testing.assert_allclose(grad(grad(sc.digamma))(2.5), sc.polygamma(2, 2.5), rtol=1e-13)


@pytest.mark.parametrize("n", [-1, 1.5, np.array([1, 2])])
def test_polygamma_order_must_be_one_nonnegative_integer(n):
    with pytest.raises(TracegradError, match="polygamma: the order n"):
        trace(lambda x: ops.polygamma(n, x))(X)


def test_polygamma_order_cannot_be_traced():
    with pytest.raises(UnsupportedError, match="traced order n"):
        trace(lambda x, k: ops.polygamma(k, x))(X, 2)
    n = np.int64(2)  # a captured order is frozen: the function is traced with its value
    assert_same(trace(lambda x: ops.polygamma(n, x))(X), sc.polygamma(2, X))


def test_unsupported_scipy_ufunc_is_named_with_its_module():
    with pytest.raises(UnsupportedError) as info:
        trace(lambda x: sc.gamma(x))(X)
    msg = str(info.value)
    assert msg.startswith("scipy.special.gamma has no tracegrad primitive")
    assert "scipy.special.gammaln" in msg and "np.exp" not in msg
    assert "test_special.py:" in msg
    with pytest.raises(UnsupportedError, match=r"scipy\.special\.xlogy\.reduce"):
        trace(lambda x: sc.xlogy.reduce(x))(X)
    with pytest.raises(UnsupportedError, match=r"scipy\.special\.erf\(\.\.\., out=\.\.\.\)"):
        trace(lambda x: sc.erf(x, out=np.empty((2, 3))))(X)
