"""The step-through demo pages in a real browser: headless Chromium driven by Playwright.

Each page of ``examples/step_through.py`` is opened from a file with the
network cut off (an offline browser context whose every non-``file:`` request
is aborted and recorded: none may happen). The tests check that ``#step=N``
highlights the right node and shows the right number (checked against the
compiled ``grad``), that the last step shows dy/dx, and that the buttons, the
arrow keys, the slider and play work; screenshots of chosen steps are kept
under ``out/steps/`` to look at. Chromium is Debian's ``/usr/bin/chromium``
(``.ci/run`` installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from compiler import grad
from compiler.drawing.graphviz_runner import find_renderer
from compiler.steps.model import show

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "steps"
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)"
    ),
    pytest.mark.skipif(find_renderer() is None, reason="no Graphviz renderer installed"),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
)


def _demo():
    """``examples/step_through.py`` as a module (it imports ``mlp.py`` beside it)."""
    path = ROOT / "examples" / "step_through.py"
    spec = importlib.util.spec_from_file_location("_tracegrad_demo_steps", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    module = _demo()
    folder = tmp_path_factory.mktemp("pages")
    pages = module.build_pages()
    urls = {name: page.save(folder / f"{name}.html").as_uri() for name, page in pages.items()}
    return module, pages, urls


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        # launch() starts Chromium with a fresh temporary profile (user data dir)
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def offline(browser):
    """A tab in an offline context whose requests other than ``file:`` are aborted and listed."""
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith("file:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab, outside, errors
    context.close()


@pytest.fixture
def page(offline):
    """An offline tab: a request for anything but a local file, or a script error, fails."""
    tab, outside, errors = offline
    yield tab
    assert outside == [], f"the page asked the network for {outside}"
    assert errors == [], f"script errors: {errors}"


def test_the_network_guard_sees_requests(offline, tmp_path):
    """The guard of the tests below is real: a page that loads anything is caught."""
    tab, outside, _ = offline
    leaky = tmp_path / "leaky.html"
    leaky.write_text(
        '<img src="http://127.0.0.1:9/x.png"><link rel="stylesheet" href="http://localhost:9/s.css">'
    )
    tab.goto(leaky.as_uri())
    assert sorted(outside) == ["http://127.0.0.1:9/x.png", "http://localhost:9/s.css"]


def _shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"))


def _state(tab) -> dict:
    return tab.evaluate(
        """() => {
        const text = document.getElementById("tg-text");
        return {step: Number(document.body.dataset.step), text: text.textContent,
                value: text.dataset.value,
                now: [...document.querySelectorAll("#tg-figure g.node.tg-now")].map(e => e.id),
                read: [...document.querySelectorAll("#tg-figure g.node.tg-read")].map(e => e.id),
                edges: [...document.querySelectorAll("#tg-figure g.edge.tg-now")].map(e => e.id),
                todo: [...document.querySelectorAll("#tg-figure g.node.tg-todo")].map(e => e.id)};
        }"""
    )


def test_chain_step7_highlights_exp_prime_and_shows_dy_da(demo, page):
    _, pages, urls = demo
    page.goto(urls["chain"] + "#step=7")
    state = _state(page)
    assert state["step"] == 7
    assert sorted(state["now"]) == ["tg-g2", "tg-v8"]  # the box exp'(a) and dy/da
    assert sorted(state["read"]) == ["tg-v1", "tg-v7"]  # a and dy/db
    assert state["text"] == "dy/da = dy/db · exp'(a) = 2.568 · 1.284 = 3.297"
    dy_da = grad(lambda a: np.square(np.exp(a)))(0.25)  # the compiled gradient of C(B(a))
    assert float(state["value"]) == pytest.approx(float(dy_da), rel=1e-15)
    assert len(state["edges"]) == 3
    assert sorted(state["todo"]) == ["tg-g1", "tg-v11"]  # square'(x) and dy/dx: not yet
    hidden = page.evaluate(
        """() => getComputedStyle(document.querySelector("#tg-v11 .tg-val")).visibility"""
    )
    assert hidden == "hidden"  # dy/dx's number appears only when it is computed
    _shot(page, "chain-step7")


def test_chain_last_step_shows_dy_dx(demo, page):
    _, pages, urls = demo
    last = len(pages["chain"].steps) - 1
    page.goto(urls["chain"] + f"#step={last}")
    state = _state(page)
    assert state["text"] == "dy/dx = 3.297"
    assert float(state["value"]) == float(grad(demo[0].chain)(0.5)) == 3.297442541400256
    assert state["now"] == ["tg-v11"] and state["todo"] == []
    assert page.locator("#tg-next").is_disabled()
    _shot(page, f"chain-step{last}")  # figure 5-4, every local derivative evaluated


def test_controls_keys_slider_play_and_url(demo, page):
    _, pages, urls = demo
    steps = pages["chain"].steps
    page.goto(urls["chain"])
    assert _state(page)["step"] == 0 and page.locator("#tg-prev").is_disabled()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    state = _state(page)
    assert state["step"] == 3 and state["text"] == "b = exp(a) = exp(0.25) = 1.284"
    assert sorted(state["now"]) == ["tg-o2", "tg-v2"] and state["read"] == ["tg-v1"]
    assert page.url.endswith("#step=3")
    page.click("#tg-prev")
    assert _state(page)["text"] == steps[2].lines[0]
    page.click("#tg-next")
    page.click("#tg-next")
    assert _state(page)["step"] == 4
    page.keyboard.press("End")
    assert _state(page)["step"] == len(steps) - 1
    page.keyboard.press("Home")
    assert _state(page)["step"] == 0
    page.locator("#tg-slider").fill("6")
    assert _state(page)["text"] == steps[6].lines[0]
    page.click("#tg-list li:nth-child(9)")  # the list starts at step 0
    assert _state(page)["step"] == 8
    page.click("#tg-g3")  # a drawn node jumps to the step that evaluates it
    assert _state(page)["step"] == 6
    page.goto(urls["chain"] + "#step=1")  # a new fragment on the same page
    assert _state(page)["step"] == 1
    page.click("#tg-play")
    assert page.locator("#tg-play").text_content() == "\u275a\u275a Pause"
    page.wait_for_function("() => Number(document.body.dataset.step) >= 3", timeout=20_000)
    page.click("#tg-play")
    assert page.locator("#tg-play").text_content() == "\u25b6 Play"


def test_fanout_parts_accumulate(demo, page):
    module, pages, urls = demo
    steps = pages["fanout"].steps
    first_sum = next(s for s in steps if s.lines[0].startswith("dy/dx[1+2] ="))
    page.goto(urls["fanout"] + f"#step={first_sum.index}")
    state = _state(page)
    assert state["text"] == "dy/dx[1+2] = dy/dx[1] + dy/dx[2] = 1.649 + 0.5 = 2.149"
    assert sorted(state["now"]) == sorted(f"tg-{i}" for i in first_sum.current)
    assert len(state["read"]) == 2
    _shot(page, f"fanout-step{first_sum.index}")
    page.keyboard.press("ArrowRight")
    state = _state(page)
    assert state["text"] == "dy/dx = dy/dx[1+2] + dy/dx[3] = 2.149 + 0.5 = 2.649"
    assert float(state["value"]) == float(grad(module.fanout)(0.5))


def test_mlp_page_follows_each_step(demo, page):
    module, pages, urls = demo
    steps = pages["mlp"].steps
    page.goto(urls["mlp"])
    for step in steps:  # every step's items exist and are the ones lit
        page.goto(urls["mlp"] + f"#step={step.index}")
        state = _state(page)
        assert state["step"] == step.index
        assert sorted(state["now"]) == sorted(f"tg-{i}" for i in step.current)
        assert state["text"] == "\n".join(step.lines)
    grads = grad(module.mlp, argnums=(1, 2, 3, 4))(*module.mlp_args())
    assert state["text"].split("\n")[0] == f"dy/dW1 = {show(grads[0])}"
    w2 = next(s for s in steps if s.title == "matmul'(c, W2)")
    page.goto(urls["mlp"] + f"#step={w2.index}")
    _shot(page, f"mlp-step{w2.index}")


def test_notebook_frame_plays_inside_its_iframe(demo, page, tmp_path):
    _, pages, _ = demo
    host = tmp_path / "notebook.html"
    host.write_text(f"<!DOCTYPE html><html><body>{pages['chain']._repr_html_()}</body></html>")
    page.goto(host.as_uri())
    frame = page.frame_locator("iframe")
    assert frame.locator("#tg-text").text_content() == "chain(x = 0.5)"
    frame.locator("#tg-next").click()
    assert frame.locator("#tg-text").text_content() == "x = 0.5"
    assert "tg-now" in frame.locator("#tg-v0").get_attribute("class")
