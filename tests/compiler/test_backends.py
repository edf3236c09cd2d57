"""The back-end interface (``compiler.backends``): ``backend=`` on compile and the
transformations, choice per call, one compiled program per graph and back end, and clear
errors for unknown names and missing extras."""

from __future__ import annotations

import numpy as np
import pytest

from compiler import compile, grad, hessian, jacobian, value_and_grad
from compiler.backends import BACKENDS, Backend, BackendEntry, get_backend, select_backend
from compiler.executor import Executable
from tracer import Spec, TracegradError


def f(x):
    return np.sum(np.sin(x) * x)


class Recording(Backend):
    """A back end that compiles with the NumPy one and remembers what it compiled."""

    name = "recording"

    def __init__(self):
        self.compiled = []

    def compile(self, graph, name):
        self.compiled.append(name)
        return Executable(graph, name)


def test_numpy_is_the_default_and_named_backend_gives_the_same_numbers():
    x = np.linspace(-1, 1, 5)
    assert get_backend().name == "numpy" and get_backend("numpy") is get_backend(None)
    np.testing.assert_array_equal(compile(f, backend="numpy")(x), compile(f)(x))
    np.testing.assert_array_equal(grad(f, backend="numpy")(x), grad(f)(x))
    assert "np.sin" in compile(f, backend="numpy").source(x)


def test_a_backend_instance_compiles_each_graph_once():
    rec = Recording()
    x = np.arange(3.0)
    g = grad(f, backend=rec)
    want = np.sin(x) + x * np.cos(x)
    np.testing.assert_allclose(g(x), want, rtol=1e-12)
    np.testing.assert_allclose(g(x + 1.0), np.sin(x + 1) + (x + 1) * np.cos(x + 1), rtol=1e-12)
    assert rec.compiled == ["grad_f"]  # one signature, one program
    g(np.arange(4.0))
    assert rec.compiled == ["grad_f", "grad_f"]  # a new signature compiles again


@pytest.mark.parametrize(
    "make",
    [
        lambda b: value_and_grad(f, backend=b),
        lambda b: jacobian(np.sin, backend=b),
        lambda b: hessian(f, backend=b),
        lambda b: compile(grad(f), backend=b),
    ],
    ids=["value_and_grad", "jacobian", "hessian", "compile-of-grad"],
)
def test_every_transformation_takes_backend(make):
    rec = Recording()
    x = np.array([0.3, -0.7])
    fn = make(rec)
    got, want = fn(x), make(None)(x)
    for a, b in zip(
        got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)
    ):
        np.testing.assert_array_equal(a, b)
    assert rec.compiled


def test_source_of_spec_arguments_uses_the_requested_backend():
    rec = Recording()
    src = compile(f, backend=rec).source(Spec((4,)))
    assert "def f(x):" in src and rec.compiled == ["f"]


def test_unknown_backend_is_a_clear_error_at_creation():
    with pytest.raises(TracegradError, match=r"unknown backend 'nosuch'; known: .*numpy"):
        compile(f, backend="nosuch")
    with pytest.raises(TracegradError, match="unknown backend"):
        grad(f, backend="nosuch")


def test_missing_dependency_names_the_extra(monkeypatch):
    monkeypatch.setitem(
        BACKENDS, "fancy", BackendEntry("fancy", "no_such_module_xyz:Fancy", extra="fancy")
    )
    with pytest.raises(TracegradError, match=r"pip install 'tracegrad\[fancy\]'"):
        compile(f, backend="fancy")


def test_a_backend_that_detects_an_argument_is_chosen_for_it(monkeypatch):
    rec = Recording()

    class Marked(np.ndarray):
        pass

    monkeypatch.setitem(
        BACKENDS,
        "recording",
        BackendEntry("recording", "x:y", detects=lambda a: isinstance(a, Marked)),
    )
    monkeypatch.setattr("compiler.backends._loaded", {"recording": rec})
    x = np.arange(3.0)
    assert select_backend(None, [x]).name == "numpy"
    assert select_backend(None, [x.view(Marked)]) is rec
    fast = compile(f)
    np.testing.assert_allclose(fast(x.view(Marked)), f(x), rtol=1e-12)
    assert rec.compiled == ["f"]
    fast(x)  # plain arrays: the default back end; the same graph
    assert rec.compiled == ["f"] and fast.trace_count == 1
