"""step_through: the steps of the book's chain, fan-out sums, the MLP, and the page they make.

The numbers are checked against the compiled gradient (``grad``), the page is
parsed to check it is self-contained (no external script, style, font or
link), and the SVG to check that every id a step highlights exists.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from compiler import grad, step_through
from compiler.drawing import build_drawing
from compiler.drawing.dot import to_dot
from compiler.drawing.graphviz_runner import find_renderer
from compiler.steps.model import show
from tracer import Spec, TracegradError, name_scope, trace

pytestmark = pytest.mark.skipif(
    find_renderer() is None, reason="no Graphviz renderer (dot or graphviz-pure) installed"
)


def chain(x):
    return np.square(np.exp(np.square(x)))


def fanout(x):
    return x * x + np.exp(x)


def mlp(x, W1, b1, W2, b2, t):
    with name_scope("layer1"):
        h = np.tanh(x @ W1 + b1)
    with name_scope("layer2"):
        y = h @ W2 + b2
    with name_scope("loss"):
        return np.mean((y - t) ** 2)


def mlp_args():
    rng = np.random.default_rng(1)
    return (
        rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=4),
        rng.normal(size=(4, 1)), rng.normal(size=1), rng.normal(size=(5, 1)),
    )  # fmt: skip


@pytest.fixture(scope="module")
def chain_page():
    return step_through(chain, 0.5)


# ----- the seed chapter's chain -----
def test_chain_plays_forward_then_the_reversed_evaluation(chain_page):
    texts = [s.lines for s in chain_page.steps]
    assert texts == [
        ["chain(x = 0.5)"],
        ["x = 0.5"],
        ["a = square(x) = square(0.5) = 0.25"],
        ["b = exp(a) = exp(0.25) = 1.284"],
        ["y = square(b) = square(1.284) = 1.649"],
        ["dy/dy = 1"],
        ["dy/db = dy/dy · square'(b) = 1 · 2.568 = 2.568"],
        ["dy/da = dy/db · exp'(a) = 2.568 · 1.284 = 3.297"],
        ["dy/dx = dy/da · square'(x) = 3.297 · 1 = 3.297"],
        ["dy/dx = 3.297"],
    ]
    phases = [s.phase for s in chain_page.steps]
    assert phases == ["start"] + ["forward"] * 4 + ["backward"] * 4 + ["result"]
    assert [s.index for s in chain_page.steps] == list(range(10))


def test_chain_steps_highlight_the_book_view_items(chain_page):
    items = chain_page.drawing.items
    step = chain_page.steps[7]  # B'(a): the box exp'(a) makes dy/da from dy/db and a
    assert [items[i].title for i in step.current] == ["exp'(a)", "dy/da"]
    assert sorted(items[i].title for i in step.reads) == ["a", "dy/db"]
    links = chain_page.drawing.links
    assert sorted((links[k].src, links[k].dst, links[k].kind) for k in step.edges) == sorted(
        [("v7", "g2", "grad"), ("v1", "g2", "read"), ("g2", "v8", "grad")]
    )
    assert [items[i].title for i in chain_page.steps[5].current] == ["1"]  # the seed
    assert [items[i].title for i in chain_page.steps[2].current] == ["square", "a"]


def test_chain_numbers_are_the_compiled_gradients(chain_page):
    steps = chain_page.steps
    # dy/da is the gradient of C(B(a)) at a = x**2
    assert steps[7].value == pytest.approx(float(grad(lambda a: np.square(np.exp(a)))(0.25)))
    assert steps[6].value == pytest.approx(float(grad(np.square)(np.exp(0.25))))
    assert steps[-1].value == float(grad(chain)(0.5)) == pytest.approx(3.297442541400256)
    assert steps[-2].value == steps[-1].value


def test_available_fades_what_is_not_evaluated_yet(chain_page):
    html = chain_page.html
    data = _page_data(html)
    assert data["items"]["g2"] == 7 and data["items"]["v8"] == 7
    assert data["items"]["v0"] == 1 and data["items"]["v4"] == 5
    links = chain_page.drawing.links
    for i, at in data["edges"].items():
        link = links[int(i)]
        assert at == max(data["items"][link.src], data["items"][link.dst])


# ----- fan-out -----
def test_fanout_sums_are_shown_as_they_accumulate():
    page = step_through(fanout, 0.5)
    lines = [line for s in page.steps if s.phase == "backward" for line in s.lines]
    assert lines == [
        "dy/dy = 1",
        "dy/dx[1] = dy/dy · exp'(x) = 1 · 1.649 = 1.649",
        "dy/dx[2] = dy/dy · ∂a/∂x = 1 · 0.5 = 0.5",
        "dy/dx[3] = dy/dy · ∂a/∂x = 1 · 0.5 = 0.5",
        "dy/dx[1+2] = dy/dx[1] + dy/dx[2] = 1.649 + 0.5 = 2.149",
        "dy/dx = dy/dx[1+2] + dy/dx[3] = 2.149 + 0.5 = 2.649",
    ]
    notes = [
        s.note for s in page.steps if s.current and page.drawing.items[s.current[0]].kind == "accum"
    ]
    assert notes[0].endswith("3 parts; 2 of them summed so far")
    assert notes[1].endswith("3 parts; all of them summed")
    assert page.steps[-1].value == float(grad(fanout)(0.5))
    # the drawing names the parts as the text does
    titles = {it.title for it in page.drawing.items.values()}
    assert {"dy/dx[1]", "dy/dx[2]", "dy/dx[3]", "dy/dx[1+2]", "dy/dx"} <= titles


def test_products_of_two_operand_rules_name_each_partial():
    page = step_through(lambda x, w: np.sin(x * w), 0.5, 2.0)
    lines = [line for s in page.steps for line in s.lines if "∂" in line]
    gy = float(np.cos(1.0))
    assert lines == [
        f"dy/dx = dy/da · ∂a/∂x = {gy:.4g} · 2 = {gy * 2:.4g}",
        f"dy/dw = dy/da · ∂a/∂w = {gy:.4g} · 0.5 = {gy * 0.5:.4g}",
    ]
    gx, gw = grad(lambda x, w: np.sin(x * w), argnums=(0, 1))(0.5, 2.0)
    assert page.steps[-1].lines == [f"dy/dx = {gx:.4g}", f"dy/dw = {gw:.4g}"]


# ----- arrays: the MLP -----
def test_mlp_steps_summarise_arrays_and_match_grad():
    args = mlp_args()
    page = step_through(mlp, *args, wrt=["W1", "b1", "W2", "b2"])
    grads = grad(mlp, argnums=(1, 2, 3, 4))(*args)
    names = ["dy/dW1", "dy/db1", "dy/dW2", "dy/db2"]
    assert page.steps[-1].lines == [f"{n} = {show(g)}" for n, g in zip(names, grads)]
    assert page.steps[-1].value is None  # arrays: no single number
    assert show(grads[0]).startswith("[float64[3,4]: min ")
    matmul = next(s for s in page.steps if s.title == "matmul'(x, W1)")
    assert matmul.lines == [f"dy/dW1 = dy/db · matmul'(x, W1) = {show(grads[0])}"]
    assert page.steps[2].lines == [f"W1 = {show(args[1])}"]


def test_collapsed_scopes_are_one_step_each():
    page = step_through(mlp, *mlp_args(), collapse=["layer1"])
    items = page.drawing.items
    boxes = [s for s in page.steps if s.current and items[s.current[0]].kind == "scope"]
    assert [items[s.current[0]].title for s in boxes] == ["layer1", "layer1'"]
    assert boxes[0].phase == "forward" and boxes[1].phase == "backward"
    assert boxes[0].lines[0].startswith("layer1: ") and "tanh" in boxes[0].lines[0]
    big = step_through(mlp, *mlp_args(), max_nodes=20)
    assert "over max_nodes=20" in big.drawing.notes[0]
    assert big.steps[-1].lines == page.steps[-1].lines  # the same gradients either way


# ----- the page -----
class _Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="tg-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))


def test_page_is_self_contained(chain_page):
    html = chain_page.html
    scan = _Scan()
    scan.feed(html)
    tags = scan.tags
    assert not [a for t, a in tags if t == "script" and "src" in a]
    assert not [t for t, _ in tags if t in ("link", "img", "iframe", "object", "embed", "base")]
    refs = [(t, k, v) for t, a in tags for k, v in a.items() if k in ("src", "href", "xlink:href")]
    assert refs == []
    assert "@import" not in html and "url(" not in html and "@font-face" not in html
    # the only URLs are XML namespace names, which are never fetched
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls == {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    xmlns = {v for _, a in tags for k, v in a.items() if k.startswith("xmlns")}
    assert urls == xmlns


def test_page_ids_cover_every_step(chain_page):
    html = chain_page.html
    ids = set(re.findall(r'\bid="([^"]+)"', html))
    data = _page_data(html)
    assert len(data["steps"]) == len(chain_page.steps)
    for step in data["steps"]:
        assert {f"tg-{i}" for i in step["current"] + step["reads"]} <= ids
        assert {f"tg-e{k}" for k in step["edges"]} <= ids
    assert {f"tg-e{i}" for i in range(len(chain_page.drawing.links))} <= ids
    assert data["steps"][7]["value"] == chain_page.steps[7].value
    # every value's number is marked, so the page can hide it until it is computed
    assert len(re.findall(r'class="tg-val"', html)) == 8
    assert "<script" in html and "&lt;/script" not in html


def test_user_text_is_escaped_in_the_page():
    @trace(name="f</script><b>")
    def f(x):
        return np.exp(x)

    page = step_through(f, 0.5, title="a <b>bold</b> & </script> title")
    assert "a &lt;b&gt;bold&lt;/b&gt; &amp; &lt;/script&gt; title" in page.html
    assert page.html.count("</script>") == 2  # the data block and the player
    assert _page_data(page.html)["steps"][0]["lines"] == ["f</script><b>(x = 0.5)"]


def test_repr_html_isolates_the_page_in_an_iframe(chain_page, tmp_path):
    frame = chain_page._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in frame
    assert "<script" not in frame  # all of it escaped inside srcdoc
    path = chain_page.save(tmp_path / "deep" / "chain.html")
    assert path.read_text(encoding="utf-8") == chain_page.html
    assert len(chain_page) == 10 and "10 steps" in repr(chain_page)


def test_to_dot_ids_are_opt_in(chain_page):
    drawing = chain_page.drawing
    assert " id=" not in to_dot(drawing).source
    source = to_dot(drawing, ids="p-").source
    assert 'id="p-g2"' in source and 'id="p-e0"' in source
    assert build_drawing(chain_page.graph, roles=True).items.keys() == drawing.items.keys()


# ----- bad arguments -----
@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "message"),
    [
        (lambda x: x * 2.0, (np.ones(3),), {}, "grad needs a scalar output"),
        (lambda x: x * x, (3,), {}, "x is int64[] (pass 2.0, not 2)"),
        (lambda x: x * x, (Spec((), "float64"),), {}, "needs values, not Spec"),
        (lambda x, n: x * n, (2.0, 3), {"wrt": "n"}, "with respect to an integer input: n"),
        (lambda x: x, (1.0,), {"wrt": "z"}, "wrt='z': no input of that name"),
    ],
)
def test_bad_arguments_are_clear_errors(fn, args, kwargs, message):
    with pytest.raises(TracegradError, match=re.escape(message)):
        step_through(fn, *args, **kwargs)


def test_a_gradient_graph_is_refused():
    from compiler import build_grad_graph

    g = build_grad_graph(trace(chain).trace(0.5))
    with pytest.raises(TracegradError, match="not a gradient graph"):
        step_through(g, 0.5)
    assert step_through(trace(chain).trace(0.5), 0.5).steps[-1].lines == ["dy/dx = 3.297"]


def test_a_derivative_function_is_stepped_through_again():
    # the second derivative, as render(grad(f)) draws it (a def: NumPy 2.0's ufuncs have no
    # signature, so np.tanh's argument would be arg0 there)
    def tanh(x):
        return np.tanh(x)

    page = step_through(grad(tanh), 1.0)
    assert page.steps[4].lines == ["grad_x = sub(1.0, b) = sub(1, 0.58) = 0.42"]
    assert page.steps[-1].lines == ["d(grad_x)/dx = -0.6397"]
    assert page.steps[-1].value == pytest.approx(float(grad(grad(np.tanh))(1.0)), rel=1e-14)


def test_an_input_the_output_ignores_gets_a_zero_step():
    page = step_through(lambda x, w: np.sin(x), 1.0, 2.0)
    zero = page.steps[-2]
    assert zero.lines == ["dy/dw = 0"] and zero.note == "y does not depend on w: its gradient is 0"
    assert page.steps[-1].lines == [f"dy/dx = {np.cos(1.0):.4g}", "dy/dw = 0"]
