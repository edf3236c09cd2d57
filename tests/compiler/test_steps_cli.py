"""``tracegrad steps``: the step-through page from the command line, and its errors."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from compiler.cli import main
from compiler.drawing.graphviz_runner import find_renderer

needs_renderer = pytest.mark.skipif(
    find_renderer() is None, reason="no Graphviz renderer (dot or graphviz-pure) installed"
)


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "model.py"
    path.write_text(
        textwrap.dedent(
            """
            import numpy as np

            def f(x):
                return np.square(np.exp(np.square(x)))

            def vec(x):
                return np.exp(x)

            def loss(x, w):
                return np.sum(np.tanh(x @ w))
            """
        )
    )
    return path


def _steps(html: str) -> list:
    m = re.search(r'<script type="application/json" id="tg-data">(.*?)</script>', html, re.S)
    return json.loads(m.group(1))["steps"]


@needs_renderer
def test_steps_writes_the_page(target, tmp_path, capsys):
    out = tmp_path / "sub" / "chain.html"
    assert main(["steps", f"{target}:f", "--arg", "0.5", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out} (10 steps)"
    steps = _steps(out.read_text(encoding="utf-8"))
    assert steps[7]["lines"] == ["dy/da = dy/db · exp'(a) = 2.568 · 1.284 = 3.297"]
    assert steps[-1]["value"] == 3.297442541400256


@needs_renderer
def test_steps_fills_shape_only_arguments(target, tmp_path):
    out = tmp_path / "loss.html"
    code = main(
        ["steps", f"{target}:loss", "--arg", "f64[4,3]", "--arg", "f64[3,2]", "--wrt", "w",
         "--title", "tanh layer", "-o", str(out)]
    )  # fmt: skip
    assert code == 0
    html = out.read_text(encoding="utf-8")
    assert "<h1>tanh layer</h1>" in html
    last = _steps(html)[-1]["lines"]
    assert len(last) == 1 and last[0].startswith("dy/dw = [float64[3,2]: min ")


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["steps", "missing.py:f", "--arg", "0.5", "-o", "x.html"], 2, "no such file: missing.py"),
        (
            ["steps", "{target}:f", "--arg", "0.5", "-o", "x.png"],
            2,
            "the step-through page is HTML",
        ),
        (["steps", "{target}:f", "--arg", "0.5"], 2, "the following arguments are required"),
        (["steps", "{target}:nope", "--arg", "0.5", "-o", "x.html"], 2, "has no function 'nope'"),
        (["steps", "{target}:vec", "--arg", "f64[3]", "-o", "x.html"], 1, "needs a scalar output"),
        (["steps", "{target}:f", "--arg", "i64[]", "-o", "x.html"], 1, "x is int64[]"),
    ],
)
def test_steps_errors(target, tmp_path, capsys, argv, status, message):
    argv = [a.replace("{target}", str(target)) for a in argv]
    argv = [str(tmp_path / a) if a.endswith((".html", ".png")) else a for a in argv]
    assert main(argv) == status
    err = capsys.readouterr().err
    assert err.startswith("tracegrad: error: ") and message in err
    assert not list(tmp_path.glob("x.*"))
