"""Export: DOT always; PNG/SVG/PDF through dot or graphviz-pure; a clear error, and the DOT
still written, when neither renderer is installed; the renderer never runs through a shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from compiler import render
from compiler.drawing import graphviz_runner as ex
from tracer import TracegradError

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-", "svg": b"<?xml"}


def chain(x):
    return np.square(np.exp(np.square(x)))


@pytest.fixture
def drawing():
    return render(chain, 0.5, backward=True)


@pytest.fixture
def renderer():
    found = ex.find_renderer()
    if found is None:
        pytest.skip("no Graphviz renderer (dot or graphviz-pure) installed")
    return found


@pytest.fixture
def no_renderer(monkeypatch, tmp_path):
    """PATH stripped of both renderers, and nothing next to the interpreter either."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(ex, "_scripts_dir", lambda: None)
    assert ex.find_renderer() is None


# ----- images -----
@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_export_writes_valid_images(renderer, drawing, tmp_path, fmt):
    path = ex.export(drawing, tmp_path / f"chain.{fmt}")
    data = path.read_bytes()
    assert data.startswith(MAGIC[fmt])
    if fmt == "svg":
        assert b"<svg" in data and b"dy/dx" in data and b"exp&#39;(a)" in data
    if fmt == "pdf":
        assert data.rstrip().endswith(b"%%EOF")


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_digraph_render_and_pipe(renderer, drawing, tmp_path, fmt):
    out = drawing.render(tmp_path / "chain", format=fmt)
    assert out.endswith(f"chain.{fmt}")
    assert Path(out).read_bytes().startswith(MAGIC[fmt])
    assert (tmp_path / "chain").read_text().startswith("digraph")  # the DOT source is saved too
    assert drawing.pipe(format=fmt).startswith(MAGIC[fmt])


def test_digraph_render_outfile_and_cleanup(renderer, drawing, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = drawing.render(outfile=tmp_path / "sub" / "pic.svg")
    assert out.endswith("pic.svg") and (tmp_path / "sub" / "pic.svg").exists()
    assert (tmp_path / "sub" / "pic.gv").read_text() == drawing.source
    out = drawing.render(outfile=tmp_path / "pic2.pdf", cleanup=True)
    assert (tmp_path / "pic2.pdf").read_bytes().startswith(MAGIC["pdf"])
    assert not (tmp_path / "pic2.gv").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pic2.pdf", "sub"]


def test_graphviz_pure_pdf_is_a_well_formed_page(renderer, drawing):
    data = ex.pipe(drawing.source, "pdf")
    start = int(data.rsplit(b"startxref", 1)[1].split()[0])
    assert data[start : start + 4] == b"xref"
    assert b"/Type /Page" in data


def test_jpeg_to_pdf_offsets_and_size():
    # a minimal JPEG header: SOI, SOF0 with height 20, width 30, 3 components, EOI
    sof = b"\xff\xc0\x00\x11\x08" + (20).to_bytes(2, "big") + (30).to_bytes(2, "big") + b"\x03"
    jpeg = b"\xff\xd8" + sof + b"\x00" * 9 + b"\xff\xd9"
    pdf = ex.jpeg_to_pdf(jpeg, dpi=72)
    assert b"/Width 30 /Height 20" in pdf and b"/MediaBox [0 0 30.00 20.00]" in pdf
    xref = pdf[int(pdf.rsplit(b"startxref", 1)[1].split()[0]) :]
    offsets = [int(line[:10]) for line in xref.splitlines()[3:8]]
    assert all(pdf[o:].startswith(f"{i} 0 obj".encode()) for i, o in enumerate(offsets, 1))
    with pytest.raises(TracegradError, match="JPEG"):
        ex.jpeg_to_pdf(b"not a jpeg")


# ----- DOT text -----
def test_dot_export_needs_no_renderer(no_renderer, drawing, tmp_path):
    for name in ("chain.dot", "chain.gv"):
        path = ex.export(drawing, tmp_path / name)
        assert path.read_text() == drawing.source
    assert ex.pipe(drawing.source, "dot") == drawing.source.encode()


# ----- no renderer -----
@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_no_renderer_is_a_clear_error_and_dot_is_still_written(no_renderer, drawing, tmp_path, fmt):
    with pytest.raises(TracegradError) as err:
        ex.export(drawing, tmp_path / f"chain.{fmt}")
    msg = str(err.value)
    assert "no Graphviz renderer" in msg and "graphviz-pure" in msg and "`dot`" in msg
    assert "chain.dot" in msg
    assert (tmp_path / "chain.dot").read_text() == drawing.source
    assert not (tmp_path / f"chain.{fmt}").exists()


def test_no_renderer_digraph_render_saves_the_source(no_renderer, drawing, tmp_path):
    with pytest.raises(TracegradError, match="pip install graphviz-pure"):
        drawing.render(tmp_path / "chain", format="png")
    assert (tmp_path / "chain").read_text() == drawing.source
    with pytest.raises(TracegradError, match="no Graphviz renderer"):
        drawing.pipe(format="svg")


# ----- formats, failures, no shell -----
def test_format_of():
    assert ex.format_of("a/b.PNG") == "png" and ex.format_of("x", "svg") == "svg"
    with pytest.raises(TracegradError, match="suffix"):
        ex.format_of("noext")
    with pytest.raises(TracegradError, match="unknown format 'jpg'"):
        ex.format_of("pic.jpg")


def test_renderer_failure_is_reported(renderer):
    with pytest.raises(TracegradError, match="failed to render svg"):
        ex.pipe("digraph { this is not dot ]", "svg")


class FakePopen:
    """Stands in for ``subprocess.Popen``: records the call, answers with fixed bytes."""

    calls: list = []

    def __init__(self, cmd, **kwargs):
        self.calls.append((cmd, kwargs))
        self.returncode = 0
        self.inputs = []

    def communicate(self, data=None, timeout=None):
        self.calls.append(("communicate", data, timeout))
        return b"<?xml fake", b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_renderer_runs_from_an_argument_list(monkeypatch, drawing):
    FakePopen.calls = []
    monkeypatch.setattr(ex, "find_renderer", lambda: ex.Renderer("dot", "/usr/bin/dot"))
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    assert ex.pipe(drawing.source, "svg") == b"<?xml fake"
    (cmd, kwargs), (what, data, timeout) = FakePopen.calls
    assert cmd == ["/usr/bin/dot", "-Kdot", "-Tsvg"]
    assert not kwargs.get("shell") and kwargs["stdin"] == subprocess.PIPE
    assert what == "communicate" and data == drawing.source.encode()
    assert timeout == pytest.approx(ex.TIMEOUT, abs=1)  # a small graph: no progress ticks


def test_renderer_prefers_system_dot(monkeypatch, tmp_path):
    for name in ("dot", "graphviz-pure"):
        exe = tmp_path / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ex.find_renderer() == ex.Renderer("dot", str(tmp_path / "dot"))
    (tmp_path / "dot").unlink()
    assert ex.find_renderer() == ex.Renderer("graphviz-pure", str(tmp_path / "graphviz-pure"))


def test_system_dot_path_goes_through_graphviz(renderer, drawing, tmp_path, monkeypatch):
    """With a ``dot`` on PATH, Digraph.render/pipe run it (here a stand-in ``dot``)."""
    if renderer.kind != "graphviz-pure":
        pytest.skip("needs graphviz-pure to stand in for dot")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "dot"
    fake.write_text(f'#!/bin/sh\nexec "{renderer.path}" "$@"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    assert ex.find_renderer().kind == "dot"
    out = drawing.render(tmp_path / "chain", format="png")
    assert Path(out).read_bytes().startswith(MAGIC["png"])
    assert drawing.pipe(format="svg").startswith(MAGIC["svg"])
    assert ex.pipe(drawing.source, "svg").startswith(MAGIC["svg"])


# ----- the layout's cost, estimated before it starts -----
def test_layout_size_counts_the_ranks_edges_cross():
    source = """digraph {
	graph [rankdir=LR]
	a [label="a -> b"]
	"b c" [label=b]
	c
	a -> "b c" [color=red]
	"b c" -> c
	a -> c
	c -> a [constraint=false]
}"""
    # ranks a=0, "b c"=1, c=2 (the constraint=false edge does not rank): a -> c
    # crosses rank 1 (one virtual node), c -> a too; 3 nodes + 2 = 5 cells
    assert ex.layout_size(source) == (3, 4, 5)


def tanh_chain(n):
    def f(x):
        for _ in range(n):
            x = np.tanh(x)
        return x

    return f


def test_a_long_layout_is_refused_before_it_starts(monkeypatch):
    from compiler import grad

    dot = render(grad(tanh_chain(50)), 0.5, backward=True, max_nodes=None)
    nodes, edges, cells = ex.layout_size(dot.source)
    assert (nodes, edges) == (946, 1688) and cells > 50_000
    assert ex.estimate_layout_seconds(dot.source) > ex.LAYOUT_LIMIT
    started = []
    monkeypatch.setattr(ex, "find_renderer", lambda: ex.Renderer("dot", "/usr/bin/dot"))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a))
    with pytest.raises(TracegradError) as info:
        ex.pipe(dot.source, "png")
    assert not started
    msg = str(info.value)
    assert "too big to lay out: 946 nodes and 1688 edges" in msg
    assert "max_nodes=400" in msg and "--max-nodes" in msg and "LAYOUT_LIMIT" in msg
    # Jupyter shows the reason as text instead of a traceback
    bundle = dot._repr_mimebundle_()
    assert list(bundle) == ["text/plain"] and "too big to lay out" in bundle["text/plain"]


def test_under_a_node_limit_render_collapses_what_would_be_slow(monkeypatch):
    from compiler import grad

    fn = grad(tanh_chain(6))
    full = render(fn, 0.5, backward=True, max_nodes=None)
    assert "collapsed" not in full.source
    budget = ex.estimate_layout_seconds(full.source) / 2
    monkeypatch.setattr(ex, "LAYOUT_LIMIT", budget)
    small = render(fn, 0.5, backward=True)  # default max_nodes: collapse to fit the budget
    assert ex.estimate_layout_seconds(small.source) <= budget
    assert "collapsed" in small.source
    assert ex.layout_size(small.source)[0] < ex.layout_size(full.source)[0]


def test_slow_layouts_report_progress(renderer, drawing, monkeypatch, capsys):
    monkeypatch.setattr(ex, "PROGRESS_AFTER", 0.0)
    nodes, edges, _ = ex.layout_size(drawing.source)
    assert ex.pipe(drawing.source, "svg").startswith(MAGIC["svg"])
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"tracegrad: laying out {nodes} nodes and {edges} edges with ")
    assert err[-1].startswith("tracegrad: layout done in ")


def test_quick_layouts_are_silent(renderer, drawing, capsys):
    assert ex.pipe(drawing.source, "svg").startswith(MAGIC["svg"])
    assert capsys.readouterr().err == ""


def test_max_nodes_zero_means_no_limit_as_on_the_command_line():
    def long_chain(x):
        for _ in range(30):
            x = np.sin(x)
        return x

    everything = render(long_chain, 0.5, max_nodes=None).source
    assert render(long_chain, 0.5, max_nodes=0).source == everything
    assert render(long_chain, 0.5, max_nodes=10).source != everything
    with pytest.raises(ValueError, match="max_nodes must be None, 0"):
        render(long_chain, 0.5, max_nodes=-1)
