"""Watch backpropagation happen: ``step_through(f, x)`` plays the reversed evaluation step by step.

>>> import numpy as np
>>> from compiler import step_through
>>> def f(x):
...     return np.square(np.exp(np.square(x)))
>>> page = step_through(f, 0.5)     # displays inline in Jupyter
>>> page.steps[7].lines             # doctest: +SKIP
["dy/da = dy/db · exp'(a) = 2.568 · 1.284 = 3.297"]
>>> page.save("chain.html")         # doctest: +SKIP

The page is one self-contained HTML file: the book-view drawing as inline
SVG and a small script that plays a list of steps computed here, in Python,
from the real gradient graph (``build_grad_graph``, evaluated at the
arguments): the forward evaluation node by node, then the reversed
evaluation from dy/dy = 1 through each local derivative. Controls: next and
previous (buttons, arrow keys), play and pause, a slider, and ``#step=N`` in
the URL. Nothing is loaded from the network. ``tracegrad steps path.py:f
--arg 0.5 -o chain.html`` writes the same page from the command line.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterable
from pathlib import Path

import networkx as nx
import numpy as np

from compiler.autodiff import build_grad_graph
from compiler.drawing import MAX_NODES, all_values, graph_of, wrt_nodes
from compiler.drawing.model import Drawing, build_drawing, fit
from compiler.steps.model import Step, available, build_steps, name_parts, output_name, show
from compiler.steps.page import to_html, to_svg
from tracer.errors import TracegradError
from tracer.spec import Spec, duck_name, format_aval, is_duck_array
from tracer.tree_util import tree_map

__all__ = ["Step", "StepThrough", "step_through"]

FRAME_MAX_HEIGHT = 900  # px: a notebook cell shows at most this much; the frame scrolls


class StepThrough:
    """A step-through page: ``.html`` (the page), ``.steps``, ``.save(path)``; Jupyter shows it.

    Attributes:
        html: the whole page, one self-contained HTML document.
        steps: the steps it plays (``compiler.steps.model.Step``), step 0 first.
        graph: the gradient graph the numbers come from.
        drawing: the book-view drawing the page shows.
    """

    def __init__(self, html_text: str, steps: list[Step], graph, drawing: Drawing, height: int):
        self.html = html_text
        self.steps = steps
        self.graph = graph
        self.drawing = drawing
        self._height = height

    def __len__(self) -> int:
        return len(self.steps)

    def __repr__(self) -> str:
        name = self.graph.graph.get("name", "f")
        return f"<StepThrough {name}: {len(self.steps)} steps>"

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to ``path`` (parent folders are created); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html, encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        # an iframe keeps the page's script and ids apart from the notebook's
        return (
            f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
            f'style="width:100%;height:{self._height}px;border:1px solid #E0E4E8" '
            f'title="step-through of {html.escape(self.graph.graph.get("name", "f"))}"></iframe>'
        )


#: The largest array of another library (a Dask array) a page converts to show its numbers.
MAX_DUCK_SIZE = 1_000_000


def _as_values(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The arguments with small Dask (duck) arrays computed: the page shows every number."""

    def value(leaf):
        if not is_duck_array(leaf):
            return leaf
        if leaf.size > MAX_DUCK_SIZE:
            raise TracegradError(
                f"step_through shows every value, so it converts a {duck_name(leaf)} argument "
                f"into this process; this one has {leaf.size:,} elements (at most "
                f"{MAX_DUCK_SIZE:,}): pass a slice of it"
            )
        return np.asarray(leaf)

    return tree_map(value, args), tree_map(value, kwargs)


def _check_args(args: tuple, kwargs: dict) -> None:
    for leaf in [*args, *kwargs.values()]:
        if isinstance(leaf, Spec):
            raise TracegradError(
                f"step_through evaluates the graph, so it needs values, not {leaf!r}: "
                "pass arrays or numbers"
            )


def _describe(graph, n) -> str:
    d = graph.nodes[n]
    hint = " (pass 2.0, not 2)" if tuple(d["shape"]) == () else ""
    return f"{d.get('name') or f'%{n}'} is {format_aval(d['shape'], d['dtype'])}{hint}"


def _check_wrt(graph, wrt: list[int] | None, fname: str) -> list[int]:
    """The inputs to differentiate (default: the floating-point ones); integers are an error."""
    inputs = graph.graph["inputs"]
    if wrt is None:
        wrt = [n for n in inputs if np.dtype(graph.nodes[n]["dtype"]).kind in "fc"]
        if not wrt:
            about = "; ".join(_describe(graph, n) for n in inputs) or "it takes no arguments"
            raise TracegradError(
                f"step_through differentiates {fname} with respect to its floating-point "
                f"inputs, and it has none: {about}"
            )
    for n in wrt:
        if np.dtype(graph.nodes[n]["dtype"]).kind not in "fc":
            raise TracegradError(
                f"step_through cannot differentiate {fname} with respect to an integer input: "
                f"{_describe(graph, n)}"
            )
    return wrt


def _frame_height(svg: str) -> int:
    m = re.search(r'height="([\d.]+)pt"', svg[:2000])
    drawing_px = float(m.group(1)) * 4 / 3 if m else 400.0
    return int(min(FRAME_MAX_HEIGHT, drawing_px + 420))


def step_through(
    fn,
    *args,
    wrt=None,
    collapse: int | str | Iterable[str] | None = None,
    max_nodes: int | None = MAX_NODES,
    rankdir: str = "LR",
    title: str | None = None,
    **kwargs,
) -> StepThrough:
    """A page that plays ``fn``'s evaluation at ``args``, then its reversed evaluation.

    Args:
        fn: a function (plain or ``@trace``d) of arrays and numbers returning one
            floating-point scalar, or a forward graph (``f.trace(x)``).
        *args, **kwargs: the arguments (values: the page shows the numbers; a Dask
            array of up to ``MAX_DUCK_SIZE`` elements is computed for it).
        wrt: the inputs to differentiate with respect to: argument names or
            positions among the flat inputs (default: every floating-point input).
        collapse, max_nodes: as for ``render``: scopes drawn as one box (one step
            each); drawings over ``max_nodes`` items collapse their largest scopes.
        rankdir: ``"LR"`` (the book's layout) or ``"TB"``.
        title: the page's heading (default: the function's name).

    Returns:
        A ``StepThrough``: ``.save("page.html")``, ``.html``, ``.steps``; it shows
        inline in Jupyter.

    Raises:
        TracegradError: a non-scalar or integer output, no floating-point input,
            ``Spec`` arguments (no values), or no Graphviz renderer.
    """
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"rankdir must be LR, TB, RL or BT, got {rankdir!r}")
    forward = graph_of(fn, args, kwargs)
    given = isinstance(fn, nx.MultiDiGraph)
    if given and any(d.get("role") == "backward" for _, d in forward.nodes(data=True)):
        raise TracegradError(
            "step_through takes a function or a forward graph, not a gradient graph; "
            "to step through a derivative, pass the function (grad(f)), which is "
            "differentiated again"
        )
    _check_args(args, kwargs)
    args, kwargs = _as_values(args, kwargs)
    fname = str(forward.graph.get("name", "f"))
    graph = build_grad_graph(forward, wrt=_check_wrt(forward, wrt_nodes(forward, wrt), fname))
    values = all_values(graph, args, kwargs)
    drawing = build_drawing(graph, roles=True, view="book", values=values)
    drawing = fit(drawing, collapse_over=collapse, max_nodes=max_nodes)
    name_parts(graph, drawing)
    caption = _caption(graph, values, fname)
    y = output_name(graph)
    steps = build_steps(graph, drawing, values, caption=caption)
    items_at, edges_at = available(drawing, steps)
    svg = to_svg(drawing, values, rankdir=rankdir)
    page = to_html(
        svg, steps, items_at, edges_at,
        title=title or f"Backpropagation through {fname}, step by step",
        subtitle=f"{caption}: the forward evaluation node by node, then the reversed "
        f"evaluation from d{y}/d{y} = 1 through each local derivative",
    )  # fmt: skip
    return StepThrough(page, steps, graph, drawing, _frame_height(svg))


def _caption(graph, values: dict, fname: str) -> str:
    """``f(x = 0.5)``: the function and its arguments (numbers, or shapes of arrays)."""
    parts = []
    for n in graph.graph["inputs"]:
        d = graph.nodes[n]
        name = d.get("name") or f"%{n}"
        if np.asarray(values[n]).ndim == 0:
            parts.append(f"{name} = {show(values[n])}")
        else:
            parts.append(f"{name}: {format_aval(d['shape'], d['dtype'])}")
    return f"{fname}({', '.join(parts)})"
