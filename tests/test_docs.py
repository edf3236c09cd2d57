"""The documentation runs: every Python block of README.md and docs/*.md, in order, and
docs/numpy.md is what docs/gen_numpy.py makes of today's primitive table."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# errors.md's blocks raise by design: test_every_error_example_runs_and_raises_what_is_shown
PAGES = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "errors.md"),
]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


def test_the_pages_have_python_to_run():
    counted = {p.name: len(python_blocks(p)) for p in PAGES}
    assert counted["README.md"] >= 4 and counted["design.md"] >= 1


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_every_python_block_runs_in_order(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks may write files (f.json, out/chain.png)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(python_blocks(page)):
        if "import dask" in block and importlib.util.find_spec("dask") is None:
            continue  # the Dask back end's block needs the dask extra (absent at the floors)
        code = compile(block, f"{page.name} python block {i + 1}", "exec")
        exec(code, namespace)  # a failure names the page and the block
    if page.name == "README.md":  # the numbers the README states
        assert namespace["grad"](namespace["f"])(0.5) == pytest.approx(3.297442541400256)
        assert namespace["grads"]["W"].shape == (4, 3)
        assert (tmp_path / "out" / "chain.png").read_bytes().startswith(b"\x89PNG")


def error_examples() -> tuple[str, list[tuple[str, str, str | None]]]:
    """docs/errors.md: the setup block, then ``(case, code, exception name or None)``."""
    text = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    head, *sections = re.split(r"^### ", text, flags=re.M)
    (setup,) = BLOCK.findall(head)
    cases = []
    for section in sections:
        (code,) = BLOCK.findall(section)
        raised = re.search(r"^`(\w+)`:$", section, re.M)
        cases.append((section.split("\n", 1)[0], code, raised.group(1) if raised else None))
    return setup, cases


def test_every_error_example_runs_and_raises_what_is_shown(tmp_path, monkeypatch):
    import builtins
    import warnings

    import tracer

    monkeypatch.chdir(tmp_path)
    setup, cases = error_examples()
    assert len(cases) >= 60
    for case, code, raised in cases:
        namespace: dict = {"__name__": "docs_errors"}
        exec(compile(setup, "errors.md setup", "exec"), namespace)
        block = compile(code, f"errors.md {case}", "exec")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the NaN/Inf cases warn as NumPy does
            if raised is None:
                exec(block, namespace)
                continue
            expected = getattr(tracer, raised, None) or getattr(builtins, raised)
            with pytest.raises(expected):
                exec(block, namespace)


def _gen_numpy():
    spec = importlib.util.spec_from_file_location("gen_numpy", ROOT / "docs" / "gen_numpy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_numpy_page_is_up_to_date():
    gen = _gen_numpy()
    text = (ROOT / "docs" / "numpy.md").read_text(encoding="utf-8")
    assert text == gen.render(), "docs/numpy.md is stale: run python docs/gen_numpy.py"


def test_numpy_page_lists_the_whole_table():
    from tracer import PRIMITIVES
    from tracer.numpy_api import FUNCTIONS, UFUNCS

    text = (ROOT / "docs" / "numpy.md").read_text(encoding="utf-8")
    for ufunc in UFUNCS:
        assert f"| `np.{ufunc.__name__}` |" in text
    for func in FUNCTIONS:
        assert f".{func.__name__}` |" in text
    for name in PRIMITIVES:
        assert f"`{name}`" in text
    for method in ("reshape", "sum", "astype", "T"):
        assert f"`ndarray.{method}`" in text


def test_unsupported_numpy_is_really_unsupported():
    import numpy as np

    from tracer import TracegradError, trace

    gen = _gen_numpy()
    calls = {
        "np.linalg.eig, np.linalg.eigvals (non-symmetric)": lambda x: np.linalg.eigvals(
            x[:, None] * x
        ),
        "np.linalg.lstsq, np.linalg.matrix_rank, np.linalg.cond": lambda x: np.linalg.cond(
            x[:, None] * x
        ),
        "np.ldexp, np.nextafter, np.spacing": lambda x: np.ldexp(x, 2),
        "np.unique": lambda x: np.unique(x),
        "np.nonzero, np.argwhere, np.flatnonzero": lambda x: np.nonzero(x),
    }
    assert set(calls) <= set(gen.UNSUPPORTED)
    for fn in calls.values():
        with pytest.raises(TracegradError):
            trace(fn)(np.ones(3))


@pytest.mark.parametrize(
    "module",
    [
        "tracer.graph", "tracer.serialize", "tracer.interpreter", "tracer.spec",
        "tracer.validate", "tracer.debug", "compiler.gradcheck", "compiler.drawing.graphviz_runner",
        "compiler.drawing", "tracer.tracing", "compiler.autodiff", "compiler.compile",
        "tracer.custom", "tracer.checkpointing", "tracer.tree_util", "tracer.primitives.markers",
        "compiler.transforms", "compiler.linearization",
    ],
)  # fmt: skip
def test_docstring_examples_run(module, tmp_path, monkeypatch):
    import doctest
    import importlib

    monkeypatch.chdir(tmp_path)
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
