"""Draw traced graphs: ``render(f, x, backward=True)`` is the book's backpropagation picture.

>>> import numpy as np
>>> from compiler import render
>>> def f(x):
...     return np.square(np.exp(np.square(x)))
>>> dot = render(f, 0.5, backward=True)        # a graphviz.Digraph; shows inline in Jupyter
>>> dot.render("chain", format="png")          # doctest: +SKIP

The pieces: ``model.build_drawing`` decides what is drawn (values, ops,
derivative nodes, scopes), ``dot.to_dot`` styles it as DOT, and
``compiler.drawing.graphviz_runner`` runs Graphviz (system ``dot`` or ``graphviz-pure``).
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx

from compiler.drawing import graphviz_runner
from compiler.drawing.dot import to_dot
from compiler.drawing.model import Drawing, build_drawing, collapse, fit
from tracer.errors import TracegradError
from tracer.interpreter import evaluate_flat, flatten_args
from tracer.spec import Spec
from tracer.tracing import TracedFunction, trace

__all__ = [
    "Drawing", "build_drawing", "collapse", "fit", "graph_of", "render", "to_dot", "wrt_nodes",
]  # fmt: skip

VIEWS = ("book", "expanded")
MAX_NODES = 400


def _has_roles(graph) -> bool:
    return any(d.get("role") == "backward" for _, d in graph.nodes(data=True))


def graph_of(fn_or_graph, args: tuple, kwargs: dict):
    """The graph to draw: ``fn_or_graph`` itself, or the function traced at ``args``."""
    if isinstance(fn_or_graph, nx.MultiDiGraph):
        return fn_or_graph
    if isinstance(fn_or_graph, TracedFunction):
        return fn_or_graph.trace(*args, **kwargs)
    if callable(fn_or_graph):
        return trace(fn_or_graph).trace(*args, **kwargs)
    raise TypeError(f"render expects a function or a graph, got {type(fn_or_graph).__name__}")


def wrt_nodes(graph, wrt) -> list[int] | None:
    """Input node ids from argument names (``"W1"``) or positions among the flat inputs.

    Args:
        graph: a traced graph.
        wrt: a name, a position, a list of them, or ``None`` (every input).

    Returns:
        The node ids, or ``None`` when ``wrt`` is ``None``.

    Raises:
        TracegradError: a name that is no input's, or a position out of range.
    """
    if wrt is None:
        return None
    if isinstance(wrt, (str, int)):
        wrt = [wrt]
    inputs = graph.graph["inputs"]
    by_name = {graph.nodes[n].get("name"): n for n in inputs}
    out = []
    for w in wrt:
        if isinstance(w, str):
            if w not in by_name:
                known = ", ".join(str(k) for k in by_name)
                raise TracegradError(f"wrt={w!r}: no input of that name (inputs: {known})")
            out.append(by_name[w])
        elif isinstance(w, int) and -len(inputs) <= w < len(inputs):
            out.append(inputs[w])
        else:
            raise TracegradError(f"wrt={w!r}: not an input name or position (0..{len(inputs) - 1})")
    return out


def all_values(graph, args: tuple, kwargs: dict) -> dict:
    """Every node's value for these arguments (evaluating with ``tracer.evaluate_flat``)."""
    flat = flatten_args(graph, args, kwargs) if graph.graph.get("in_tree") else list(args)
    for leaf in flat:
        if isinstance(leaf, Spec):
            raise TracegradError(
                f"values=True needs concrete arguments to evaluate the graph, got {leaf!r}; "
                "pass arrays or numbers"
            )
    order = graph.topo_order()
    everything = graph.copy()
    everything.graph["outputs"] = order
    return dict(zip(order, evaluate_flat(everything, flat)))


def render(
    fn_or_graph,
    *args,
    backward: bool = False,
    view: str = "book",
    values: bool = False,
    shapes: bool = True,
    rankdir: str = "LR",
    wrt=None,
    collapse: int | str | Iterable[str] | None = None,
    max_nodes: int | None = MAX_NODES,
    title: str | None = None,
    graph_attr: dict | None = None,
    **kwargs,
):
    """Draw a function's graph (or a graph) in DeZero's visual language.

    Args:
        fn_or_graph: a function (plain or ``@trace``d), traced at ``*args,
            **kwargs`` (arrays, numbers or ``Spec``), or a ``tracer.Graph``.
        backward: also draw the gradient graph: the forward graph beside its
            reversed gradient graph, built by ``compiler.autodiff.build_grad_graph``
            (a gradient graph passed in is drawn as it is; a function such as
            ``grad(f)`` is differentiated again, giving the second-order picture).
            Without it, a gradient graph is drawn as a plain program, every node
            alike, as DeZero draws higher-order derivatives.
        view: ``"book"`` draws each primitive's local derivative as one node
            (``exp'(a)``); ``"expanded"`` draws every backward op.
        values: evaluate the graph at ``args`` and annotate each value (the
            number for scalars, min/mean/max for arrays); the first NaN/Inf is red.
        shapes: write ``dtype[shape]`` under each value.
        rankdir: ``"LR"`` (the book's left-to-right layout) or ``"TB"``.
        wrt: the inputs to differentiate with respect to: argument names (``"W1"``)
            or positions among the flattened inputs (default: every float input).
        collapse: scopes to draw as one box: names (``"layer1"``), paths
            (``"mlp/layer1"``), or an int (every scope with more nodes than that).
        max_nodes: drawings with more nodes are drawn with scopes collapsed and
            a note, and so are smaller ones whose layout is estimated to take over
            ``compiler.drawing.graphviz_runner.LAYOUT_LIMIT`` seconds; ``None`` or ``0`` draws
            everything (``--max-nodes 0``), and a layout that is too big is then
            refused when the image is made, with a message saying what to do.
        title: a caption above the picture.
        graph_attr: extra Graphviz graph attributes.

    Returns:
        A ``graphviz.Digraph`` subclass: ``.source`` is the DOT text,
        ``.render(name, format="png")`` writes an image, Jupyter shows it inline.

    Example:
        >>> import numpy as np
        >>> from compiler import render
        >>> dot = render(lambda x: np.square(np.exp(np.square(x))), 0.5, backward=True)
        >>> dot.source.startswith("digraph lambda")
        True
        >>> dot.render("chain", format="png")  # doctest: +SKIP
        'chain.png'
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"rankdir must be LR, TB, RL or BT, got {rankdir!r}")
    graph = graph_of(fn_or_graph, args, kwargs)
    roles = False
    if backward:
        given = isinstance(fn_or_graph, nx.MultiDiGraph)
        if not (given and _has_roles(graph)):  # a gradient graph passed in is drawn as it is
            from compiler.autodiff import build_grad_graph

            graph = build_grad_graph(graph, wrt=wrt_nodes(graph, wrt))
        roles = True
    vals = all_values(graph, args, kwargs) if values else None
    full = build_drawing(graph, roles=roles, view=view, shapes=shapes, values=vals)
    drawing = fit(full, collapse_over=collapse, max_nodes=max_nodes)
    dot = to_dot(drawing, rankdir=rankdir, title=title, graph_attr=graph_attr)
    # Few nodes can still be slow to lay out (long edges cross many ranks): under a
    # node limit, collapse further until the layout is estimated to be quick enough.
    while (
        max_nodes
        and graphviz_runner.estimate_layout_seconds(dot.source) > graphviz_runner.LAYOUT_LIMIT
    ):
        smaller = fit(full, collapse_over=collapse, max_nodes=len(drawing.items) * 2 // 3)
        if len(smaller.items) >= len(drawing.items):
            break  # nothing left to collapse: export explains what to do
        drawing = smaller
        dot = to_dot(drawing, rankdir=rankdir, title=title, graph_attr=graph_attr)
    return dot
