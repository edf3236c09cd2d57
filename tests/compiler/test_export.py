"""Export: DOT always; PNG/SVG/PDF through dot or graphviz-pure; a clear error, and the DOT
still written, when neither renderer is installed; the renderer never runs through a shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from compiler import export as ex
from compiler import render
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


def test_renderer_runs_from_an_argument_list(monkeypatch, drawing):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append((cmd, kwargs))
        return subprocess.CompletedProcess(cmd, 0, b"<?xml fake", b"")

    monkeypatch.setattr(ex, "find_renderer", lambda: ex.Renderer("dot", "/usr/bin/dot"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    assert ex.pipe(drawing.source, "svg") == b"<?xml fake"
    ((cmd, kwargs),) = calls
    assert cmd == ["/usr/bin/dot", "-Kdot", "-Tsvg"]
    assert not kwargs.get("shell") and kwargs["timeout"] == ex.TIMEOUT
    assert kwargs["input"] == drawing.source.encode()


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
    """With a ``dot`` on PATH, Digraph.render/pipe are graphviz's own (here a stand-in ``dot``)."""
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
