"""Drawings of known graphs: the book's chain y = square(exp(square(x))) forward and backward,
display names, escaping, the DOT styling (colours, dashed reads, reversed gradient edges)."""

from __future__ import annotations

import re

import graphviz
import numpy as np
import pytest

from compiler import build_grad_graph, grad, render
from compiler.drawing import build_drawing
from compiler.drawing.dot import EDGE, STYLE
from compiler.drawing.graphviz_runner import find_renderer
from compiler.drawing.labels import escape, value_names
from tracer import TracegradError, trace


@pytest.fixture
def renderer():
    found = find_renderer()
    if found is None:
        pytest.skip("no Graphviz renderer (dot or graphviz-pure) installed")
    return found


def chain(x):
    return np.square(np.exp(np.square(x)))


def dot_nodes(dot) -> dict[str, str]:
    """node id -> its attribute text, from the DOT source."""
    found = dict(re.findall(r"^\t(\w+) \[(.*)\]$", dot.source, re.M))
    return {k: v for k, v in found.items() if k not in ("graph", "node", "edge")}


def without_tooltips(source: str) -> str:
    return re.sub(r' tooltip="(?:[^"\\]|\\.)*"', "", source)


def dot_edges(dot) -> list[tuple[str, str, str]]:
    return re.findall(r"^\t(\w+) -> (\w+)(?: \[(.*)\])?$", dot.source, re.M)


def titles(drawing, kind=None, side=None) -> list[str]:
    return [
        it.title
        for it in drawing.items.values()
        if (kind is None or it.kind == kind) and (side is None or it.side == side)
    ]


def book_drawing(fn=chain, *args, view="book", **kw):
    g = build_grad_graph(trace(fn).trace(*(args or (0.5,))))
    return build_drawing(g, roles=True, view=view, **kw), g


# ----- forward graph (figure 5-1) -----
def test_forward_chain_reads_like_the_book():
    d = build_drawing(trace(chain).trace(0.5), roles=False)
    assert titles(d, "value") == ["x", "a", "b", "y"]
    assert titles(d, "op") == ["square", "exp", "square"]
    assert len(d.links) == 6 and {lk.kind for lk in d.links} == {"data"}
    by_title = {it.title: it.id for it in d.items.values() if it.kind == "value"}
    chain_ids = [by_title["x"], "o1", by_title["a"], "o2", by_title["b"], "o3", by_title["y"]]
    assert [(lk.src, lk.dst) for lk in d.links if (lk.src, lk.dst)] and all(
        any(lk.src == u and lk.dst == v for lk in d.links) for u, v in zip(chain_ids, chain_ids[1:])
    )
    assert d.items[by_title["x"]].is_input and d.items[by_title["y"]].is_output


def test_forward_dot_uses_dezero_colours():
    dot = render(chain, 0.5)
    nodes = dot_nodes(dot)
    ellipses = [a for a in nodes.values() if "shape=ellipse" in a]
    boxes = [a for a in nodes.values() if "shape=box" in a]
    assert len(ellipses) == 4 and len(boxes) == 3
    assert all(STYLE[("forward", "value")][0] in a for a in ellipses)
    assert all(STYLE[("forward", "op")][0] in a for a in boxes)
    assert len(dot_edges(dot)) == 6
    assert "float64[]" in dot.source and "rankdir=LR" in dot.source


def test_shapes_off_and_rankdir():
    dot = render(chain, 0.5, shapes=False, rankdir="TB")
    assert "float64[]" not in without_tooltips(dot.source) and "rankdir=TB" in dot.source


# ----- gradient graph, book view (figure 5-4) -----
def test_book_view_is_the_reversed_chain():
    d, g = book_drawing()
    assert sorted(titles(d, "group")) == sorted(["square'(b)", "exp'(a)", "square'(x)"])
    assert titles(d, "value", "backward") == ["1", "dy/db", "dy/da", "dy/dx"]
    ids = {it.title: it.id for it in d.items.values()}
    grad_chain = ["1", "square'(b)", "dy/db", "exp'(a)", "dy/da", "square'(x)", "dy/dx"]
    grad_links = {(lk.src, lk.dst) for lk in d.links if lk.kind == "grad"}
    assert grad_links == {(ids[u], ids[v]) for u, v in zip(grad_chain, grad_chain[1:])}
    reads = {(d.items[lk.src].title, d.items[lk.dst].title) for lk in d.links if lk.kind == "read"}
    assert reads == {("b", "square'(b)"), ("a", "exp'(a)"), ("x", "square'(x)")}
    pairs = {(d.items[a].title, d.items[b].title) for a, b in d.pairs}
    assert {("x", "dy/dx"), ("a", "dy/da"), ("b", "dy/db"), ("y", "1")} <= pairs
    assert ("exp", "exp'(a)") in pairs
    assert d.items[ids["dy/dx"]].is_output


def test_book_view_dot_dashed_reads_and_reversed_gradient_edges():
    dot = render(chain, 0.5, backward=True)
    edges = dot_edges(dot)
    dashed = [e for e in edges if "style=dashed" in e[2]]
    assert len(dashed) == 3 and all("constraint=false" in e[2] for e in dashed)
    back = [e for e in edges if "dir=back" in e[2]]
    assert len(back) == 6 and all(EDGE["grad"] in e[2] for e in back)
    nodes = dot_nodes(dot)
    assert sum(STYLE[("backward", "group")][0] in a for a in nodes.values()) == 3
    assert sum(STYLE[("backward", "value")][0] in a for a in nodes.values()) == 4
    assert dot.source.count("rank=same") >= 7
    for text in ("square&#x27;(b)", "exp&#x27;(a)", "square&#x27;(x)", "dy/dx"):
        assert text in dot.source


def test_drawing_does_not_touch_the_graph():
    g = build_grad_graph(trace(chain).trace(0.5))
    before = {n: dict(d) for n, d in g.nodes(data=True)}
    render(g, 0.5, values=True)
    render(g, 0.5, backward=True, view="expanded")
    assert {n: dict(d) for n, d in g.nodes(data=True)}.keys() == before.keys()
    assert all(g.nodes[n].get("name") == before[n].get("name") for n in g.nodes)


# ----- expanded view -----
def test_expanded_view_shows_every_backward_op():
    d, g = book_drawing(view="expanded")
    backward = [n for n, a in g.nodes(data=True) if a["role"] == "backward"]
    n_ops = sum(g.nodes[n]["op"] not in ("const", "input") for n in backward)
    assert (
        len([it for it in d.items.values() if it.kind == "op" and it.side == "backward"]) == n_ops
    )
    assert not titles(d, "group")
    # exp's rule reads its own output b: the expanded view shows that read
    reads = {(d.items[lk.src].title, d.items[lk.dst].title) for lk in d.links if lk.kind == "read"}
    assert ("b", "mul") in reads and ("x", "mul") in reads
    assert "1" in titles(d, "value", "backward") and "dy/dx" in titles(d, "value", "backward")


def test_fan_out_draws_the_accumulation():
    def f(x):
        a = np.exp(x)
        return np.sum(a * np.sin(a))

    d, g = book_drawing(f, np.ones(3))
    assert any(g.nodes[n].get("accum") for n in g.nodes)
    accums = [it for it in d.items.values() if it.kind == "accum"]
    assert accums and all(it.title == "+" for it in accums)
    assert "dy/da" in titles(d, "value", "backward")


def test_shared_gradient_is_named_after_the_latest_value():
    def f(x, t):
        return np.sum((x + 1.0) - t)

    d, _ = book_drawing(f, np.ones(2), np.ones(2))
    names = titles(d, "value", "backward")
    assert len(names) == len(set(names))


# ----- names and escaping -----
def test_letters_skip_taken_names_and_outputs_are_y0_y1():
    def f(a, x):
        b = np.exp(a) * x
        return np.sin(b), np.cos(b)

    g = trace(f).trace(1.0, 2.0)
    names = value_names(g, g.topo_order(), roles=False)
    assert sorted(names[n] for n in g.inputs) == ["a", "x"]
    assert sorted(names[n] for n in g.outputs) == ["y0", "y1"]
    others = [v for n, v in names.items() if n not in g.inputs and n not in g.outputs]
    assert others == ["b", "c"]


def test_labels_are_escaped():
    assert escape('a"<{}>\\&') == "a&quot;&lt;{}&gt;\\&amp;"

    def f(p):
        return np.sum(p['w"<{x}>\\'] * 2.0)

    dot = render(f, {'w"<{x}>\\': np.ones(2)}, title='t"<x>')
    assert "&quot;&lt;{x}&gt;\\" in dot.source and "t&quot;&lt;x&gt;" in dot.source
    assert "<{x}>" not in without_tooltips(dot.source)


# ----- inputs to render -----
def test_render_accepts_graphs_traced_and_plain_functions():
    g = trace(chain).trace(0.5)
    a, b, c = render(g), render(trace(chain), 0.5), render(chain, 0.5)
    assert a.source == b.source == c.source


def test_gradient_function_is_drawn_plain_and_graph_with_roles_as_is():
    df = grad(chain)
    plain = render(df, 0.5)
    assert STYLE[("backward", "value")][0] not in plain.source
    g = build_grad_graph(trace(chain).trace(0.5))
    as_is = build_drawing(g, roles=True)
    drawn = render(g, 0.5, backward=True)
    assert len(dot_nodes(drawn)) == len(as_is.items)


def test_wrt_names_select_gradients():
    def f(x, w):
        return np.sum(np.tanh(x * w))

    d = render(f, np.ones(2), np.ones(2), backward=True, wrt=["w"])
    assert "dy/dw" in d.source and "dy/dx" not in d.source
    with pytest.raises(TracegradError, match="no input of that name"):
        render(f, np.ones(2), np.ones(2), backward=True, wrt=["v"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="view"):
        render(chain, 0.5, view="fancy")
    with pytest.raises(ValueError, match="rankdir"):
        render(chain, 0.5, rankdir="XY")
    with pytest.raises(TypeError, match="function or a graph"):
        render(42)


def test_jupyter_displays_svg(renderer):
    bundle = render(chain, 0.5, backward=True)._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    assert "dy/dx" in bundle["image/svg+xml"]


def test_backward_of_a_gradient_function_is_the_second_order_picture():
    d = render(grad(chain), 0.5, backward=True, values=True)
    assert "d(grad_x)/dx" in d.source and "= 13.19" in d.source  # d2y/dx2 at 0.5
    assert (
        "d(p[&#x27;W&#x27;])"
        in render(lambda p: np.sum(p["W"] * 2.0), {"W": np.ones(2)}, backward=True).source
    )


def test_hostile_names_render(renderer):
    from compiler.drawing.graphviz_runner import pipe
    from tracer import name_scope

    weird = 'we"ird <n> {x} \\'

    def f(x):
        with name_scope(weird):
            return np.sum(np.exp(x))

    dot = render(trace(f, name=weird), np.ones(2), backward=True, title=weird)
    assert dot.source.startswith("digraph we_ird__n___x___ {")
    svg = pipe(dot.source, "svg").decode()
    assert "we&quot;ird &lt;n&gt; {x} \\" in svg


@pytest.mark.parametrize("view", ["book", "expanded"])
def test_optimised_gradient_graph_draws(view):
    g = grad(chain).trace(0.5)  # passes removed y, the seed and some gradients named in grads
    d = build_drawing(g, roles=True, view=view)
    assert "dy/dx" in titles(d, "value", "backward")
    ids = set(d.items)
    assert all(lk.src in ids and lk.dst in ids for lk in d.links)
    assert "= 3.297" in render(g, 0.5, backward=True, values=True, view=view).source


def test_an_argument_called_y_keeps_its_name():
    d = render(lambda x, y: np.sum(x * y), np.ones(2), np.ones(2), backward=True)
    assert "<b>out</b>" in d.source and "dout/dy" in d.source and "dout/dx" in d.source
    assert isinstance(d, graphviz.Digraph)


def test_tooltips_list_the_ir_lines_drawn():
    d, _ = book_drawing()
    group = next(it for it in d.items.values() if it.title == "square'(b)")
    lines = group.tooltip.splitlines()
    assert len(lines) == 3 and all("grad of %3" in line for line in lines)
    dot = render(chain, 0.5, backward=True)
    assert 'tooltip="%0 = input : float64[]  # x"' in dot.source
    assert "\\n%6 = mul(%5, %2)" in dot.source  # one IR line per tooltip line
