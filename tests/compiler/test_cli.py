"""The ``tracegrad`` command line, run as ``python -m compiler`` in a subprocess: rendering,
listings, generated source, and every error path (one line on stderr, exit status 2)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from compiler.cli import DTYPE_ALIASES, UsageError, build_parser, parse_spec
from compiler.drawing.graphviz_runner import find_renderer
from tracer import Spec, __version__

ROOT = Path(__file__).resolve().parents[2]
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml", "html": b"<!DOCTYPE html>"}


def run(*argv, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "compiler", *map(str, argv)],
        capture_output=True, text=True, timeout=120, env=env, cwd=cwd or ROOT,
    )  # fmt: skip


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "model.py"
    path.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from tracer import name_scope

            SCALE = 2.0

            def f(x):
                return np.square(np.exp(np.square(x)))

            def loss(x, w):
                with name_scope("layer"):
                    h = np.tanh(x @ w)
                return np.sum(h * SCALE)

            def broken(x):
                return np.log(x) - 1.0 if x > 0 else x
            """
        )
    )
    return path


def one_error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tracegrad: error: ")
    return lines[0]


# ----- render -----
@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_render_images(model, tmp_path, fmt):
    if find_renderer() is None:
        pytest.skip("no Graphviz renderer installed")
    out = tmp_path / f"chain.{fmt}"
    proc = run("render", f"{model}:f", "--arg", "0.5", "--backward", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"wrote {out}"
    assert out.read_bytes().startswith(MAGIC[fmt])


def test_render_dot_with_options(model, tmp_path):
    out = tmp_path / "sub" / "loss.dot"
    proc = run(
        "render", f"{model}:loss", "--arg", "f64[4,3]", "--arg", "float64[3,2]", "--backward",
        "--view", "expanded", "--values", "--wrt", "w", "--rankdir", "TB", "--title", "T<1>",
        "-o", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.startswith("digraph loss")
    assert "rankdir=TB" in text and "dy/dw" in text and "dy/dx" not in text
    assert "<b>layer</b>" in text and "T&lt;1&gt;" in text and "mean" in text


def test_render_book_view_dot(model, tmp_path):
    out = tmp_path / "f.dot"
    assert run("render", f"{model}:f", "--arg", "0.5", "--backward", "-o", out).returncode == 0
    text = out.read_text()
    for label in ("square&#x27;(b)", "exp&#x27;(a)", "square&#x27;(x)", "dy/dx", "dy/da"):
        assert label in text
    assert text.count("style=dashed") == 3


def test_render_collapse_and_no_shapes(model, tmp_path):
    out = tmp_path / "c.dot"
    proc = run("render", f"{model}:loss", "--arg", "f64[4,3]", "--arg", "f64[3,2]",
               "--backward", "--collapse", "layer", "--no-shapes", "-o", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    labels = re.sub(r' tooltip="(?:[^"\\]|\\.)*"', "", text)  # tooltips list IR lines
    assert "box3d" in labels and "float64[" not in labels


def test_render_without_a_renderer_writes_dot_and_fails_clearly(model, tmp_path):
    out = tmp_path / "chain.png"
    code = (
        "import sys, compiler.drawing.graphviz_runner as e; e._scripts_dir = lambda: None; "
        "from compiler.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = dict(os.environ, PATH=str(tmp_path / "nothing"))
    proc = subprocess.run(
        [sys.executable, "-c", code, "render", f"{model}:f", "--arg", "0.5", "-o", str(out)],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "no Graphviz renderer" in line and "graphviz-pure" in line
    assert not out.exists()
    assert (tmp_path / "chain.dot").read_text().startswith("digraph f")


# ----- show -----
def test_show_listing(model):
    proc = run("show", f"{model}:f", "--arg", "0.5")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("graph f(x: float64[]) {")
    assert "%1 = square(%0) : float64[]" in proc.stdout and "%2 = exp(%1)" in proc.stdout


def test_show_grad_source_and_lines(model):
    proc = run("show", f"{model}:loss", "--arg", "f32[4,3]", "--arg", "f32[3,2]",
               "--grad", "--source", "--lines")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "float32[4,3]" in proc.stdout and "grad_x" in proc.stdout and "grad_w" in proc.stdout
    assert "@ model.py:" in proc.stdout
    source = proc.stdout.split("\n}\n", 1)[1]
    # the captured global SCALE is read at call time: an input of the generated code
    assert "not available" in source or "def grad_loss(x, w, SCALE):" in source


def test_show_source_without_grad(model):
    proc = run("show", f"{model}:f", "--arg", "1.5", "--source")
    assert proc.returncode == 0, proc.stderr
    source = proc.stdout.split("\n}\n", 1)[1]
    assert "not available" in source or ("def f(x):" in source and "np.exp(" in source)


def test_help_teaches_by_example():
    proc = run("--help")
    assert proc.returncode == 0
    assert "tracegrad render examples/chain_rule.py:f --arg 0.5 --backward" in proc.stdout
    assert "tracegrad show examples/chain_rule.py:f --arg 0.5 --grad" in proc.stdout
    assert "float64[3,4]" in proc.stdout
    for sub in ("render", "show"):
        sub_help = run(sub, "--help")
        assert sub_help.returncode == 0 and "examples:" in sub_help.stdout


def help_examples() -> list[str]:
    """Every ``tracegrad ...`` command in the epilogs of the command and its subcommands."""
    parser = build_parser()
    subparsers = parser._subparsers._group_actions[0].choices.values()
    commands = set()
    for p in [parser, *subparsers]:
        text = p.epilog.replace("\\\n", " ")  # join continued lines
        commands.update(
            line.strip() for line in text.splitlines() if line.strip().startswith("tracegrad ")
        )
    return sorted(commands)


def test_help_lists_examples_of_every_subcommand():
    commands = help_examples()
    assert {c.split()[1] for c in commands} == {"render", "show", "steps"}
    assert len(commands) >= 7


@pytest.mark.parametrize("command", help_examples())
def test_every_help_example_runs(command, tmp_path):
    if " -o " in command and not command.endswith(".dot") and find_renderer() is None:
        pytest.skip("no Graphviz renderer installed")
    argv = [a.replace("examples/", f"{ROOT}/examples/") for a in shlex.split(command)[1:]]
    proc = run(*argv, cwd=tmp_path)  # outputs land under tmp_path
    assert proc.returncode == 0, proc.stderr
    if "-o" in argv:
        out = tmp_path / argv[argv.index("-o") + 1]
        assert out.read_bytes().startswith(MAGIC[out.suffix[1:]])
    else:
        assert re.match(r"graph (grad_)?f\(x: float(32|64)\[\]\) \{", proc.stdout)


def test_version():
    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"tracegrad {__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", __version__)


def test_console_script():
    exe = Path(sys.executable).parent / "tracegrad"
    if not exe.exists():
        pytest.skip("tracegrad console script not installed in this environment")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "PATH.py:FUNC" in proc.stdout


# ----- every error path -----
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "{model}", "--arg", "1"], "expected PATH.py:FUNC"),
        (["show", ":f", "--arg", "1"], "expected PATH.py:FUNC"),
        (["show", "{model}:", "--arg", "1"], "expected PATH.py:FUNC"),
        (["show", "missing.py:f", "--arg", "1"], "no such file: missing.py"),
        (["show", "{txt}:f", "--arg", "1"], "not a Python file"),
        (
            ["show", "{model}:nope", "--arg", "1"],
            "has no function 'nope' (it defines: broken, f, loss)",
        ),
        (["show", "{model}:SCALE", "--arg", "1"], "is a float, not a function"),
        (["show", "{bad}:f", "--arg", "1"], "importing"),
        (["show", "{model}:f", "--arg", "float64[3,x]"], "bad --arg 'float64[3,x]'"),
        (["show", "{model}:f", "--arg", "floaty[3]"], "unknown dtype 'floaty'"),
        (["show", "{model}:f", "--arg", "object[3]"], "unknown dtype 'object'"),
        (["show", "{model}:f", "--arg", "f64[3"], "bad --arg 'f64[3'"),
        (["show", "{model}:f", "--arg", "1", "--arg", "2"], "takes other arguments"),
        (["show", "{model}:f"], "takes other arguments"),
        (["render", "{model}:f", "--arg", "1", "-o", "x.jpg"], "unknown format 'jpg'"),
        (["render", "{model}:f", "--arg", "1", "-o", "noext"], "cannot tell the format"),
        (["render", "{model}:f", "--arg", "1"], "required: -o/--output"),
        (
            ["render", "{model}:f", "--arg", "1", "--view", "pretty", "-o", "a.dot"],
            "invalid choice",
        ),
        (["paint", "{model}:f"], "invalid choice"),
        (
            ["render", "{model}:f", "--arg", "1", "--backward", "--wrt", "nosuch", "-o", "a.dot"],
            "--wrt: wrt='nosuch': no input of that name (inputs: x)",
        ),
        (["render", "{model}:f", "--arg", "1", "--max-nodes", "-1", "-o", "a.dot"], "0 (no limit)"),
        ([], None),
    ],
)
def test_bad_input_is_one_line_and_status_2(model, tmp_path, argv, message):
    txt = tmp_path / "notes.txt"
    txt.write_text("x")
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nraise RuntimeError('boom at import')\n")
    argv = [a.format(model=model, txt=txt, bad=bad) for a in argv]
    proc = run(*argv, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    if message is None:  # no command: the help, on stdout
        assert "usage: tracegrad" in proc.stdout
        return
    assert message in one_error_line(proc)


def test_user_code_errors_exit_1(model):
    proc = run("show", f"{model}:broken", "--arg", "1.0")
    assert proc.returncode == 1
    assert "np.where" in one_error_line(proc)
    proc = run("show", f"{model}:f", "--arg", "int64[3]", "--grad")
    assert proc.returncode == 1
    assert "floating-point argument" in one_error_line(proc)


def test_import_error_message_names_the_exception(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom at import')\n")
    line = one_error_line(run("show", f"{bad}:f", "--arg", "1"))
    assert "RuntimeError: boom at import" in line


# ----- spec parsing (in process) -----
@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("0.5", 0.5),
        ("-2", -2.0),
        ("1e-3", 1e-3),
        ("float64[3,4]", Spec((3, 4), "float64")),
        ("f32[8]", Spec((8,), "float32")),
        ("int64[]", Spec((), "int64")),
        ("f64", Spec((), "float64")),
        ("bool[2, 2]", Spec((2, 2), "bool")),
        ("c128[1]", Spec((1,), "complex128")),
    ],
)
def test_parse_spec(text, want):
    got = parse_spec(text)
    assert got == want and type(got) is type(want)


def test_every_alias_is_a_dtype():
    for alias in DTYPE_ALIASES:
        assert isinstance(parse_spec(f"{alias}[2]"), Spec)
    with pytest.raises(UsageError, match="negative"):
        parse_spec("f32[-1]")
