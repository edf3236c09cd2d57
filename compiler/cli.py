"""The ``tracegrad`` command line (also ``python -m compiler``): draw or list a function's graph.

    tracegrad render examples/chain_rule.py:f --arg 0.5 --backward -o chain.png
    tracegrad show examples/chain_rule.py:f --arg 0.5 --grad --source
    tracegrad steps examples/chain_rule.py:f --arg 0.5 -o chain.html

Exit status: 0 on success, 2 for bad input (target, argument specs, options,
output suffix), 1 when tracing, differentiating or rendering fails. Errors are
one line on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import re
import sys
import types
from pathlib import Path

import numpy as np

from tracer.errors import TracegradError
from tracer.spec import Spec, canonical_dtype

PROG = "tracegrad"

DTYPE_ALIASES = {
    "f16": "float16", "f32": "float32", "f64": "float64",
    "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64",
    "u8": "uint8", "u16": "uint16", "u32": "uint32", "u64": "uint64",
    "c64": "complex64", "c128": "complex128", "b": "bool", "bool": "bool",
}  # fmt: skip

_SPEC = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(?:\[([^\]]*)\])?\s*$")

DESCRIPTION = """\
Draw or list the graph of a Python/NumPy function, and of its gradient.

A target is PATH.py:FUNC (a plain or @trace'd function defined in the file;
the file is imported, so its top level runs). Each --arg gives one positional
argument: a number (a float64 scalar, e.g. 0.5 or -2) or DTYPE[SHAPE] for an
array of that type (float64[3,4], f32[8], int64[], f64 for a scalar).
Shape-only arguments have no values; --values fills them with seeded
standard-normal samples (integers: 0..9, booleans: coin flips).
"""

RENDER_EPILOG = """\
examples:
  tracegrad render examples/chain_rule.py:f --arg 0.5 -o out/f.png
      the forward graph x -> square -> a -> exp -> b -> square -> y
  tracegrad render examples/chain_rule.py:f --arg 0.5 --backward -o out/chain.png
      beside it the reversed gradient graph 1 -> square'(b) -> exp'(a) -> square'(x)
  tracegrad render examples/chain_rule.py:f --arg 0.5 --backward --view expanded --values -o c.svg
      every backward op, with every value and gradient written in
  tracegrad render examples/mlp.py:mlp --arg f64[8,3] --arg f64[3,4] --arg f64[4] \\
      --arg f64[4,1] --arg f64[1] --arg f64[8,1] --backward --wrt W1 --wrt W2 -o mlp.pdf
      a network's gradient graph, clustered by layer (name_scope blocks)

The format follows the suffix of -o: .png, .svg, .pdf (images, need Graphviz
`dot` or the graphviz-pure wheel) or .dot/.gv (DOT text, always works).
"""

SHOW_EPILOG = """\
examples:
  tracegrad show examples/chain_rule.py:f --arg 0.5
      the graph listing: %1 = square(%0) : float64[] ...
  tracegrad show examples/chain_rule.py:f --arg 0.5 --grad
      the (optimised) gradient graph, with respect to every float argument
  tracegrad show examples/chain_rule.py:f --arg f32 --grad --source
      the same for a float32 argument, and the NumPy source generated for it
"""


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, like every other error of the command
        raise UsageError(f"{message} (see {self.prog} --help)")


def parse_spec(text: str):
    """One ``--arg``: a number (float) or ``DTYPE[SHAPE]`` (a ``Spec``)."""
    try:
        return float(text)
    except ValueError:
        pass
    hint = "expected a number (0.5) or DTYPE[SHAPE] (float64[3,4], f32[8], int64[])"
    m = _SPEC.match(text)
    if not m:
        raise UsageError(f"bad --arg {text!r}: {hint}")
    name, dims = m.group(1), m.group(2)
    try:
        dtype = canonical_dtype(DTYPE_ALIASES.get(name.lower(), name))
    except TracegradError:
        raise UsageError(f"bad --arg {text!r}: unknown dtype {name!r}; {hint}") from None
    shape: tuple[int, ...] = ()
    if dims and dims.strip():
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            raise UsageError(
                f"bad --arg {text!r}: the shape must be integers separated by commas; {hint}"
            ) from None
        if any(d < 0 for d in shape):
            raise UsageError(f"bad --arg {text!r}: negative dimension in the shape")
    return Spec(shape, dtype)


def concrete(args: list) -> list:
    """Arguments with every ``Spec`` replaced by seeded sample values (for ``--values``)."""
    rng = np.random.default_rng(0)
    out = []
    for a in args:
        if not isinstance(a, Spec):
            out.append(a)
        elif a.dtype.kind == "b":
            out.append(rng.random(a.shape) < 0.5)
        elif a.dtype.kind in "iu":
            out.append(rng.integers(0, 10, size=a.shape).astype(a.dtype))
        elif a.dtype.kind == "c":
            out.append((rng.normal(size=a.shape) + 1j * rng.normal(size=a.shape)).astype(a.dtype))
        else:
            out.append(rng.normal(size=a.shape).astype(a.dtype))
    return out


def load_target(target: str):
    """The function named by ``PATH.py:FUNC`` (``FUNC`` may be dotted: ``Model.loss``)."""
    path_text, sep, func = target.rpartition(":")
    if not sep or not path_text or not func:
        raise UsageError(f"bad target {target!r}: expected PATH.py:FUNC, e.g. model.py:loss")
    path = Path(path_text)
    if not path.is_file():
        raise UsageError(f"no such file: {path_text}")
    if path.suffix != ".py":
        raise UsageError(f"not a Python file: {path_text} (expected PATH.py:FUNC)")
    name = "_tracegrad_target_" + re.sub(r"\W", "_", path.stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path_text}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # so the file can import its neighbours
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # user code: report whatever it raised, in one line
        if isinstance(exc, KeyboardInterrupt):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UsageError(f"importing {path_text} failed: {type(exc).__name__}: {first}") from None
    obj = module
    for part in func.split("."):
        if not part.isidentifier() or not hasattr(obj, part):
            funcs = sorted(
                k for k, v in vars(module).items()
                if callable(v) and not k.startswith("_") and getattr(v, "__module__", name) == name
            )  # fmt: skip
            listing = f" (it defines: {', '.join(funcs)})" if funcs else ""
            raise UsageError(f"{path_text} has no function {func!r}{listing}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"{path_text}:{func} is a {type(obj).__name__}, not a function")
    return obj


def _check_arity(fn, args: list, target: str) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(*args)
    except TypeError as exc:
        raise UsageError(
            f"{target}{sig} takes other arguments than the {len(args)} --arg given: {exc}"
        ) from None


def _float_positions(args: list) -> tuple[int, ...]:
    pos = tuple(
        i for i, a in enumerate(args)
        if isinstance(a, float) or (isinstance(a, Spec) and a.dtype.kind in "fc")
    )  # fmt: skip
    if not pos:
        raise TracegradError("--grad needs at least one floating-point argument")
    return pos


def _compile_fn():
    """``compiler.compile`` if the code generator is available, else ``None``."""
    try:  # the module, not ``compiler.compile`` (the package may export the function there)
        module = importlib.import_module("compiler.compile")
    except ImportError:
        return None
    fn = getattr(module, "compile", None)
    return fn if callable(fn) and not isinstance(fn, types.ModuleType) else None


def cmd_render(ns) -> int:
    from compiler.drawing import graph_of, render, wrt_nodes
    from compiler.drawing.graphviz_runner import export, format_of

    try:
        format_of(ns.output)
    except TracegradError as exc:
        raise UsageError(str(exc)) from None
    fn = load_target(ns.target)
    args = [parse_spec(a) for a in ns.arg or []]
    _check_arity(fn, args, ns.target)
    if ns.values:
        args = concrete(args)
    if ns.max_nodes < 0:
        raise UsageError(f"--max-nodes must be 0 (no limit) or positive, got {ns.max_nodes}")
    collapse = ns.collapse
    if collapse and len(collapse) == 1 and collapse[0].isdigit():
        collapse = int(collapse[0])
    graph = graph_of(fn, args, {})
    if ns.wrt:
        try:  # a misspelt argument name is bad input, like any other option
            wrt_nodes(graph, ns.wrt)
        except TracegradError as exc:
            raise UsageError(f"--wrt: {exc}") from None
    dot = render(
        graph, *args, backward=ns.backward, view=ns.view, values=ns.values,
        shapes=not ns.no_shapes, rankdir=ns.rankdir, wrt=ns.wrt, collapse=collapse or None,
        max_nodes=ns.max_nodes, title=ns.title,
    )  # fmt: skip
    out = Path(ns.output)
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    export(dot, out)
    print(f"wrote {out}")
    return 0


def cmd_show(ns) -> int:
    from compiler import grad
    from tracer.graph import format_graph
    from tracer.tracing import TracedFunction, trace

    fn = load_target(ns.target)
    args = [parse_spec(a) for a in ns.arg or []]
    _check_arity(fn, args, ns.target)
    target = grad(fn, argnums=_float_positions(args)) if ns.grad else fn
    traced = target if isinstance(target, TracedFunction) else trace(fn)
    graph = traced.trace(*args)
    print(format_graph(graph, source=ns.lines))
    if ns.source:
        compile_fn = _compile_fn()
        if compile_fn is None:
            print("# generated source is not available (compiler.compile is not built yet)")
            return 0
        compiled = target if hasattr(target, "source") else compile_fn(fn)
        print()
        print(compiled.source(*args))
    return 0


STEPS_EPILOG = """\
examples:
  tracegrad steps examples/chain_rule.py:f --arg 0.5 -o out/chain.html
      a page that plays x -> a -> b -> y, then dy/dy = 1 -> dy/db -> dy/da -> dy/dx;
      open it at a step with chain.html#step=7
  tracegrad steps examples/mlp.py:mlp --arg f64[8,3] --arg f64[3,4] --arg f64[4] \\
      --arg f64[4,1] --arg f64[1] --arg f64[8,1] --wrt W1 --wrt W2 -o mlp.html
      shape-only arguments are filled with seeded samples, as render --values does

The page is one self-contained HTML file (no network access); it needs
Graphviz `dot` or the graphviz-pure wheel to lay out the drawing.
"""


def cmd_steps(ns) -> int:
    """``tracegrad steps``: write a function's step-through page (``compiler.step_through``)."""
    from compiler.steps import step_through

    out = Path(ns.output)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"cannot write {ns.output!r}: the step-through page is HTML (use .html)")
    fn = load_target(ns.target)
    args = [parse_spec(a) for a in ns.arg or []]
    _check_arity(fn, args, ns.target)
    collapse = ns.collapse
    if collapse and len(collapse) == 1 and collapse[0].isdigit():
        collapse = int(collapse[0])
    page = step_through(
        fn, *concrete(args), wrt=ns.wrt, collapse=collapse or None,
        max_nodes=None if ns.max_nodes == 0 else ns.max_nodes, rankdir=ns.rankdir,
        title=ns.title,
    )  # fmt: skip
    page.save(out)
    print(f"wrote {out} ({len(page.steps)} steps)")
    return 0


def _add_steps_parser(sub, common) -> None:
    t = sub.add_parser(
        "steps", parents=[common], help="write a page that plays backpropagation step by step",
        description="Write a self-contained HTML page that plays the forward evaluation, then "
        "the reversed evaluation from dy/dy = 1, one node per step.",
        epilog=STEPS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    t.add_argument("-o", "--output", required=True, metavar="OUT.html", help="the page to write")
    t.add_argument("--wrt", action="append", metavar="NAME",
                   help="differentiate with respect to this argument (repeatable)")  # fmt: skip
    t.add_argument("--collapse", action="append", metavar="SCOPE",
                   help="fold this scope into a box (repeatable); N: scopes > N nodes")  # fmt: skip
    t.add_argument("--max-nodes", type=int, default=400, metavar="N",
                   help="over N nodes, collapse scopes (0: no limit; default 400)")  # fmt: skip
    t.add_argument("--rankdir", choices=("LR", "TB"), default="LR",
                   help="layout direction (default LR, as in the book)")  # fmt: skip
    t.add_argument("--title", help="the page's heading")
    t.set_defaults(run=cmd_steps)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=RENDER_EPILOG.split("\n\nThe format")[0] + "\n" + SHOW_EPILOG.split(":\n", 1)[1],
    )  # fmt: skip
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="{render,show,steps}", parser_class=_Parser)
    common = _Parser(add_help=False)
    common.add_argument("target", metavar="PATH.py:FUNC", help="the function to trace")
    common.add_argument(
        "--arg", action="append", metavar="SPEC",
        help="one positional argument: a number or DTYPE[SHAPE] (repeat for each)",
    )  # fmt: skip

    r = sub.add_parser(
        "render", parents=[common], help="draw the graph to an image or DOT file",
        description="Draw a function's graph (and its gradient graph) with Graphviz.",
        epilog=RENDER_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    r.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file: .png, .svg, .pdf or .dot")  # fmt: skip
    r.add_argument("--backward", action="store_true",
                   help="draw the reversed gradient graph beside the forward graph")  # fmt: skip
    r.add_argument("--view", choices=("book", "expanded"), default="book",
                   help="book: one node per derivative (exp'(a)); expanded: all ops")  # fmt: skip
    r.add_argument("--values", action="store_true",
                   help="write values in (min/mean/max for arrays); NaN/Inf in red")  # fmt: skip
    r.add_argument("--wrt", action="append", metavar="NAME",
                   help="differentiate with respect to this argument (repeatable)")  # fmt: skip
    r.add_argument("--collapse", action="append", metavar="SCOPE",
                   help="fold this scope into a box (repeatable); N: scopes > N nodes")  # fmt: skip
    r.add_argument("--max-nodes", type=int, default=400, metavar="N",
                   help="over N nodes, collapse scopes (0: no limit; default 400)")  # fmt: skip
    r.add_argument("--rankdir", choices=("LR", "TB"), default="LR",
                   help="layout direction (default LR, as in the book)")  # fmt: skip
    r.add_argument("--title", help="a caption above the picture")
    r.add_argument("--no-shapes", action="store_true", help="leave dtype[shape] off the labels")
    r.set_defaults(run=cmd_render)

    s = sub.add_parser(
        "show", parents=[common], help="print the graph listing (and generated source)",
        description="Print a function's graph listing, or its gradient graph's.",
        epilog=SHOW_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    s.add_argument("--grad", action="store_true",
                   help="the gradient graph, with respect to every float argument")  # fmt: skip
    s.add_argument("--source", action="store_true", help="also print the generated NumPy source")
    s.add_argument("--lines", action="store_true", help="note each node's source line")
    s.set_defaults(run=cmd_show)
    _add_steps_parser(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (the console script exits with it)."""
    parser = build_parser()
    try:
        ns = parser.parse_args(argv)
        if ns.version:
            from tracer import __version__

            print(f"{PROG} {__version__}")
            return 0
        if ns.command is None:
            parser.print_help()
            return 2
        return ns.run(ns)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (TracegradError, TypeError, ValueError) as exc:
        text = str(exc).strip().splitlines()
        print(f"{PROG}: error: {text[0] if text else type(exc).__name__}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
