"""Fuzzing the code generator and the DOT writer with random programs and hostile strings.

Random programs (``test_random_programs.programs``: every primitive family, random
broadcasting shapes) are traced, optionally differentiated, and given hostile
names, sources, scopes and graph names (quotes, newlines, backslashes, braces,
``__import__`` payloads, generated-name look-alikes). Checked:

- the generated source has the same token structure as the one generated for
  harmless names (names can only change identifiers, never add code), compiles,
  and gives the interpreter's numbers, in one function and split into parts;
- the slot machine (big-graph mode) gives the same numbers;
- the DOT text has the same structure as for harmless names (every hostile
  string stays inside a quoted or escaped HTML label), and nothing ran.
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import tokenize

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_random_programs import programs

from compiler import build_grad_graph, render
from compiler.codegen import generate
from compiler.executor import Executable
from tracer import evaluate, trace, validate

pytestmark = pytest.mark.fuzz  # make test-floors leaves these out (see the Makefile)

SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

PAYLOADS = [
    "__import__('builtins').PWNED = 1",
    "x'); __import__('builtins').PWNED = 1 #",
    'x"); __import__("builtins").PWNED = 1 #',
    "\nimport builtins; builtins.PWNED = 1\n",
    "a\\\n__import__('builtins').PWNED = 1",
    "{__import__('builtins').PWNED}",
    "}; pwned [label=<b>x</b>]; {",
    '"]; pwned [label="x"]; x [label="',
    "<b>pwned</b>&amp;<br/>",
    "model.py:12\n__import__('builtins').PWNED = 1",
    "f.py:3  # ok",
    "t3",
    "c1",
    "np",
    "_k",
    "_v",
    "None",
    "lambda",
    "grad_x",
    "x",
    "",
    "é名\u202e\x00",
]
hostile = st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=24))


def skeleton(source: str) -> list:
    """The token structure of Python source: identifiers anonymised, comments dropped.

    ``del`` statements are dropped too: a named value whose buffer is recycled keeps
    its own name (``y = np.exp(x, out=x); del x``) where an unnamed one takes the
    buffer's (``t3 = np.exp(t3, out=t3)``), so names legitimately change frees.
    """
    out, in_del = [], False
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string == "del":
            in_del = True
        if in_del:
            in_del = tok.type != tokenize.NEWLINE
            continue
        if tok.type in (tokenize.COMMENT, tokenize.NL):
            continue
        if tok.type == tokenize.NAME and not keyword.iskeyword(tok.string) and tok.string != "np":
            out.append(("NAME", ""))
        elif tok.type == tokenize.STRING:
            # generated strings are plain identifiers ('c4', 'float64', _v keys)
            assert re.fullmatch(r"'[A-Za-z0-9_]*'", tok.string), tok.string
            out.append(("STRING", ""))
        else:
            out.append((tokenize.tok_name[tok.type], tok.string))
    return out


def dot_skeleton(text: str) -> str:
    """DOT text with every ID (bare or quoted) reduced to ``w`` and HTML labels to their tags.

    A hostile string that escaped its quotes or its HTML label would add statements,
    brackets or tags here.
    """
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(" w ")
            i = j + 1
        elif c == "<":
            depth, j = 0, i
            while True:
                depth += {"<": 1, ">": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            out.append(" H(" + ",".join(re.findall(r"</?([A-Za-z]+)", text[i + 1 : j - 1])) + ") ")
            i = j
        else:
            out.append(c)
            i += 1
    return re.sub(r"\s+", "", re.sub(r"[\w.]+", "w", "".join(out)))


def rename(graph, draw_text):
    """A copy of ``graph`` with every name, source and scope (and the graph's name) replaced."""
    g = graph.copy()
    scopes = {}
    for d in g.nodes.values():
        d["name"] = draw_text()
        d["source"] = draw_text()
        d["scope"] = tuple(scopes.setdefault(s, draw_text()) for s in d.get("scope") or ())
    g.graph["name"] = draw_text()
    return g


def run_source(graph, chunk: int):
    code = generate(graph, chunk=chunk)
    namespace = {"np": np, "__builtins__": builtins}
    exec(compile(code.source, "<fuzz>", "exec"), namespace)
    fn = namespace["_make"](code.consts)
    return code.source, fn


def inputs_of(prog):
    return list(prog.inputs)


def assert_outputs_equal(got, expected):
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype, (a, b)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300, equal_nan=True)


@st.composite
def graphs(draw):
    prog = draw(programs(max_steps=6))
    fwd = trace(prog.loss).trace(*prog.inputs)
    graph = build_grad_graph(fwd) if draw(st.booleans()) else fwd
    return prog, graph


@settings(max_examples=250, **SETTINGS)
@given(graphs(), st.data())
def test_hostile_names_cannot_change_generated_code(case, data):
    prog, graph = case
    benign = rename(graph, iter(f"v{i}" for i in range(10**6)).__next__)
    evil = rename(graph, lambda: data.draw(hostile))
    validate(evil)
    args = inputs_of(prog)
    expected = evaluate(graph, *args)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    for chunk in (10**6, 3):  # one function, and split into _part_k functions
        src_benign, _ = run_source(benign, chunk)
        src_evil, fn = run_source(evil, chunk)
        assert skeleton(src_evil) == skeleton(src_benign)
        flat = [np.asarray(a) for a in args]
        with np.errstate(all="ignore"):
            assert_outputs_equal(list(fn(*flat)), Executable(graph, mode="slots")(flat))
    with np.errstate(all="ignore"):
        assert_outputs_equal(Executable(evil)(args), Executable(graph, mode="slots")(args))
    assert not hasattr(builtins, "PWNED")


@settings(max_examples=100, **SETTINGS)
@given(graphs(), st.data())
def test_hostile_names_cannot_change_dot(case, data):
    prog, graph = case
    names = iter(f"v{i}" for i in range(10**6))
    benign = rename(graph, names.__next__)
    evil = rename(graph, lambda: data.draw(hostile))
    kwargs = data.draw(st.sampled_from([{}, {"view": "expanded"}, {"shapes": False}]))
    a = render(benign, **kwargs).source
    b = render(evil, **kwargs).source
    assert dot_skeleton(b) == dot_skeleton(a)
    assert not hasattr(builtins, "PWNED")


@settings(max_examples=250, **SETTINGS)
@given(programs(max_steps=8))
def test_random_programs_compile_alike_in_every_mode(prog):
    """Interpreter, generated source (whole and in parts) and slot machine agree exactly."""
    fwd = trace(prog.loss).trace(*prog.inputs)
    for graph in (fwd, build_grad_graph(fwd)):
        args = [np.asarray(a) for a in prog.inputs]
        expected = evaluate(graph, *args)
        expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
        with np.errstate(all="ignore"):
            for exe in (Executable(graph, mode="source"), Executable(graph, mode="slots")):
                assert_outputs_equal(exe(args), expected)
            _, fn = run_source(graph, chunk=2)
            assert_outputs_equal(list(fn(*args)), expected)
