"""Retrace explanations and the warning for functions traced too often."""

import logging
import warnings

import numpy as np
import pytest

import tracer.tracing as tracing
from tracer import RetraceWarning, trace


def _reasons(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "tracegrad"]


def test_explain_retrace_names_what_changed(caplog):
    @trace(explain_retrace=True, static_argnums=1)
    def f(x, k):
        return x * k

    with caplog.at_level(logging.WARNING, logger="tracegrad"):
        f(np.ones(3), 2)
        assert _reasons(caplog) == []
        f(np.ones(3), 2)  # cache hit: nothing logged
        assert _reasons(caplog) == []
        f(np.ones(4), 2)
        f(np.ones(4, np.float32), 2)
        f(np.ones(4, np.float32), 3)
        f(2.0, 3)
        f((np.ones(2),), 3)
    assert _reasons(caplog) == [
        "tracing f again: argument x: shape (3,) -> (4,)",
        "tracing f again: argument x: dtype float64 -> float32",
        "tracing f again: static argument 1: 2 -> 3",
        "tracing f again: argument x: shape (4,) -> (); "
        "argument x: dtype float32 -> float64 (Python number)",
        "tracing f again: the argument structure (pytree or number of arguments) changed",
    ]
    assert f.trace_count == 6


def test_reasons_are_debug_logged_without_the_flag(caplog):
    f = trace(lambda x: x + 1)
    with caplog.at_level(logging.DEBUG, logger="tracegrad"):
        f(np.ones(1))
        f(np.ones(2))
    assert _reasons(caplog) == ["tracing lambda again: argument x: shape (1,) -> (2,)"]


def test_warns_once_traced_too_often(monkeypatch):
    monkeypatch.setattr(tracing, "MAX_TRACES", 4)
    f = trace(lambda x: x * 2)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for n in range(1, 4):
            f(np.ones(n))
        assert not [w for w in seen if issubclass(w.category, RetraceWarning)]
        f(np.ones(4))
    hits = [w for w in seen if issubclass(w.category, RetraceWarning)]
    assert len(hits) == 1
    assert "traced 4 times" in str(hits[0].message)


def test_error_during_trace_leaves_cache_usable():
    calls = []

    @trace
    def f(x, bad):
        calls.append(1)
        if bad.shape == (2,):
            raise ValueError("user error")
        return x + bad

    with pytest.raises(ValueError, match="user error"):
        f(np.ones(2), np.ones(2))
    assert f(np.ones(3), np.ones(3)).tolist() == [2.0, 2.0, 2.0]
    assert f(np.ones(3), np.ones(3)).tolist() == [2.0, 2.0, 2.0]
    assert f.trace_count == 1 and len(calls) == 2


def test_explain_names_pytree_leaves_keywords_and_transformations(caplog):
    from compiler import grad

    @trace(explain_retrace=True)
    def f(params, x, *, scale):
        return np.sum(params["w"] * x) * scale

    with caplog.at_level(logging.WARNING, logger="tracegrad"):
        f({"w": np.ones(3)}, np.ones(3), scale=np.ones(3))
        f({"w": np.ones((2, 3))}, np.ones(3), scale=np.ones(3))
        f({"w": np.ones((2, 3))}, np.ones(3), scale=np.ones(2, np.float32))
        df = grad(f)  # differentiating traces the inner function: it explains too
        df({"w": np.ones(3)}, np.ones(3), scale=1.0)
        df({"w": np.ones(4)}, np.ones(4), scale=1.0)
    assert _reasons(caplog) == [
        "tracing f again: argument params['w']: shape (3,) -> (2, 3)",
        "tracing f again: argument scale: shape (3,) -> (2,); "
        "argument scale: dtype float64 -> float32",
        "tracing f again: argument params['w']: shape (2, 3) -> (3,); "
        "argument scale: shape (2,) -> (); "
        "argument scale: dtype float32 -> float64 (Python number)",
        "tracing f again: argument params['w']: shape (3,) -> (4,); argument x: shape (3,) -> (4,)",
    ]
    assert f.trace_count == 5 and df.trace_count == 2
