"""Code generation and the executor: readable source, early frees, safe buffer reuse, no injection.

The generated code must give the reference interpreter's numbers on every
primitive case, in both back ends (compiled source and slot machine), whole or
split into parts.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler import grad
from compiler.codegen import CodegenError, generate, literal, sanitize, schedule
from compiler.executor import Executable
from compiler.passes import optimize
from tracer import EvaluationError, Graph, trace
from tracer.interpreter import evaluate_flat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tracer"))
from test_primitives import CASES  # noqa: E402  (the tracer's table of primitive cases)


def assert_equal_outputs(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def run_all_ways(graph, flat):
    """The interpreter's outputs, checked against every back end."""
    want = evaluate_flat(graph, flat)
    for mode in ("source", "slots"):
        assert_equal_outputs(Executable(graph, mode=mode)(flat), want)
    code = generate(graph, chunk=2)
    ns = {"np": np}
    exec(compile(code.source, "<chunked>", "exec"), ns)
    outs = ns["_make"](code.consts)(*[np.asarray(a) for a in flat])
    assert_equal_outputs([o[()] if np.ndim(o) == 0 else o for o in outs], want)
    return want


# ----- every primitive -----


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_generated_code_equals_interpreter(c):
    g = trace(c.fn).trace(*c.args)
    run_all_ways(g, list(c.args))
    run_all_ways(optimize(g), list(c.args))


# ----- readable source -----


def test_source_reads_like_numpy():
    @trace
    def f(x, weight):
        return np.sum(np.tanh(x @ weight) * 0.5)

    g = optimize(f.trace(np.ones((2, 3)), np.ones((3, 4))))
    src = Executable(g).source
    assert "def f(x, weight):" in src
    assert "np.matmul(x, weight)" in src and "np.tanh(" in src
    # in place (out= is the last positional argument): the matmul result dies here
    assert re.search(r"(t\d+) = np\.tanh\(\1, \1\)", src), src
    assert "np.sum(" in src and src.rstrip().endswith("return f")
    ast.parse(src)


def test_gradient_source_names_gradients():
    def loss(x, y):
        return np.sum(np.sin(x) * y)

    src = grad(loss, argnums=(0, 1)).source(np.ones(3), np.ones(3))
    assert "def grad_loss(x, y):" in src
    assert "grad_x = " in src and "grad_y = " in src
    assert "return (grad_x, grad_y)" in src


def test_values_are_deleted_after_their_last_use():
    @trace
    def f(x, y):
        a = np.exp(x)
        b = np.sum(a)  # last use of a; nothing later has its shape, so it is deleted
        return np.sin(y) * b

    src = Executable(optimize(f.trace(np.ones(4), np.ones(2)))).source
    lines = [ln.strip() for ln in src.splitlines()]
    i_sum = next(i for i, ln in enumerate(lines) if "np.sum(" in ln)
    assert lines[i_sum + 1].startswith("del ")


def test_no_out_buffer_is_an_input_a_constant_or_a_view():
    c = np.arange(4.0)

    @trace
    def f(x, y):
        a = np.exp(x)  # dies into a transpose view that lives on
        v = a.reshape(2, 2).T
        b = np.sin(y) + c  # y and c may never be written
        d = np.cos(b)
        return v * 2.0, d + 1.0, y * 3.0

    x, y = np.arange(4.0), np.linspace(0, 1, 4)
    g = f.trace(x, y)
    ex = Executable(g)
    sched = ex.schedule
    inputs = set(sched.inputs) | {name for name, _ in sched.consts}
    for st in sched.steps:
        assert st.out is None or st.out not in inputs
    src = ex.source
    assert not re.search(r"out=(x|y|c\d+)\b", src)
    ys = y.copy()
    got = ex([x, y])
    np.testing.assert_array_equal(y, ys)  # inputs untouched
    np.testing.assert_array_equal(got[0], (np.exp(x).reshape(2, 2).T) * 2.0)
    np.testing.assert_array_equal(got[1], np.cos(np.sin(ys) + c) + 1.0)


def test_buffers_are_recycled_for_same_shape_and_dtype():
    @trace
    def f(x):
        for _ in range(5):
            x = np.sin(x) * 0.5 + np.cos(x)
        return x

    x = np.linspace(0, 1, 8)
    ex = Executable(optimize(f.trace(x)))
    outs = [st.out for st in ex.schedule.steps if st.out is not None]
    assert len(outs) >= len(ex.schedule.steps) - 3
    np.testing.assert_allclose(ex([x])[0], f(x), rtol=0, atol=0)


def test_views_of_a_recycled_buffer_are_never_overwritten():
    @trace
    def f(x):
        a = np.exp(x)
        v = a[1:]  # a view of a
        b = np.sin(x) * 2.0  # same shape as a: must not land in a's buffer while v lives
        return v + 1.0, b

    x = np.linspace(0, 1, 5)
    got = Executable(optimize(f.trace(x)))([x])
    np.testing.assert_array_equal(got[0], np.exp(x)[1:] + 1.0)
    np.testing.assert_array_equal(got[1], np.sin(x) * 2.0)


def test_outputs_that_are_views_or_constants_are_fresh_writable_arrays():
    c = np.ones(3)

    @trace
    def f(x):
        return x.reshape(3, 1), c, x

    x = np.arange(3.0)
    for mode in ("source", "slots"):
        r, k, same = Executable(f.trace(x), mode=mode)([x])
        assert r.flags.writeable and not np.shares_memory(r, x)
        assert k.flags.writeable
        np.testing.assert_array_equal(same, x)


# ----- safety -----


def test_sanitize_makes_plain_identifiers():
    assert sanitize("x") == "x"
    assert sanitize("w['W1']") == "w_W1"
    assert sanitize("x); import os; os.system('rm -rf /') #") == "x_import_os_os_system_rm_rf"
    assert sanitize("class") == "class_"
    assert sanitize("t12") == "t12_" and sanitize("c3") == "c3_" and sanitize("np") == "np_"
    assert sanitize("_private") == "private"
    assert sanitize("9lives") == "v_9lives"
    assert sanitize("") == "v" and sanitize("θ") == "v"


def test_literal_accepts_only_plain_values():
    assert literal((1, (2, 3), None, True, -0.5)) == "(1, (2, 3), None, True, -0.5)"
    assert literal((4,)) == "(4,)"
    assert literal(float("inf")) == "float('inf')"
    for bad in ("os", b"x", object(), {"a": 1}, [lambda: 0]):
        with pytest.raises(CodegenError):
            literal(bad)

    class Sneaky(int):
        def __repr__(self):
            return "__import__('os')"

    with pytest.raises(CodegenError):  # int subclasses could carry any repr
        literal(Sneaky(3))


def _hostile_graph():
    evil = "x = 1\nimport os\nos.system('echo pwned')\n"
    g = Graph(name="f(); __import__('os').system('echo pwned'); def g")
    x = g.add_op("input", (), {}, (3,), "float64", name=evil)
    y = g.add_op("input", (), {}, (3,), "float64", name=evil)  # a duplicate name
    lo = "__import__('os').system('echo pwned')"
    a = g.add_op("add", (x, y), {}, (3,), "float64", name="');import os;('",
                 source="f.py:1\nimport os")  # fmt: skip
    b = g.add_op("clip", (a,), {"lo": lo, "hi": None}, (3,), "float64", name="__class__")
    c = g.add_op("astype", (b,), {"dtype": "float64').__class__('"}, (3,), "float64")
    g.graph.update(inputs=[x, y], outputs=[a, c])
    return g


def test_names_params_and_sources_cannot_inject_code():
    g = _hostile_graph()
    src = Executable(g).source
    tree = ast.parse(src)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "os" not in names and "__import__" not in names
    assert not any(isinstance(n, ast.Import) for n in ast.walk(tree))
    calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert all(c.startswith(("np.", "_")) or c.endswith(".astype") for c in calls), calls
    kinds = {type(n).__name__ for n in ast.walk(tree) if isinstance(n, ast.stmt)}
    assert kinds <= {"FunctionDef", "Assign", "Delete", "Return"}, kinds
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
               and isinstance(n.value, str)]  # fmt: skip
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v) for v in strings), strings
    # the params travel as data: the clip call gets the hostile string as a value
    with pytest.raises(EvaluationError, match="clip"):
        Executable(g)([np.ones(3), np.ones(3)])


def test_graph_with_unknown_op_is_rejected():
    g = Graph(name="f")
    x = g.add_op("input", (), {}, (), "float64")
    y = g.add_op("os.system", (x,), {}, (), "float64")
    g.graph.update(inputs=[x], outputs=[y])
    with pytest.raises(CodegenError, match="unknown op"):
        schedule(g)


# ----- errors -----


def test_runtime_errors_name_the_node_and_the_generated_line():
    @trace
    def f(x, i):
        return np.exp(x)[i] * 2.0

    x, i = np.ones(3), np.array([0, 5])
    for mode in ("source", "slots"):
        ex = Executable(f.trace(x, i), mode=mode)
        with pytest.raises(EvaluationError) as err:
            ex([x, i])
        msg = str(err.value)
        assert "getitem" in msg and "while executing node" in msg
        assert "generated line" in msg and "IndexError" in msg
        np.testing.assert_array_equal(ex([x, np.array([0, 2])])[0], np.exp(x)[[0, 2]] * 2.0)


# ----- size -----


def _chain_graph(n_ops: int) -> Graph:
    g = Graph(name="chain")
    y = x = g.add_op("input", (), {}, (), "float64", name="x")
    k = g.add_op("const", (), {}, (), "float64", value=np.array(1.0001))
    for i in range(n_ops):
        if i % 3 == 0:
            y = g.add_op("sin", (y,), {}, (), "float64")
        elif i % 3 == 1:
            y = g.add_op("mul", (y, k), {}, (), "float64")
        else:
            y = g.add_op("add", (y, k), {}, (), "float64")
    g.graph.update(inputs=[x], outputs=[y])
    return g


def test_long_programs_compile_in_parts_and_run_on_slots():
    g = _chain_graph(30_000)
    want = evaluate_flat(g, [0.3])
    slots = Executable(g)  # above COMPILE_LIMIT: the slot machine
    assert slots.mode == "slots"
    assert_equal_outputs(slots([0.3]), want)
    compiled = Executable(g, mode="source")
    assert "def _part_2(_v):" in compiled.source
    assert_equal_outputs(compiled([0.3]), want)
    assert compiled.source == slots.source
