"""Run Graphviz: find a renderer and turn DOT text into PNG, SVG or PDF files.

The renderer is the system Graphviz ``dot`` when it is on ``PATH``, otherwise
the ``graphviz-pure`` binary (a Rust port of Graphviz's ``dot`` from PyPI, a
dependency of tracegrad on the platforms it has wheels for), looked up on
``PATH`` and then next to the running Python (an unactivated virtual
environment). ``graphviz-pure`` writes no PDF, so PDF goes through its JPEG
output wrapped in a one-page PDF (a raster page at ``PDF_DPI``). DOT text never
needs a renderer. No text ever passes through a shell: the renderer runs from an
argument list, with the DOT on stdin and a timeout.

Layout time grows much faster than the node count (``dot``'s crossing
minimisation works on every rank an edge spans), so before starting a layout
``estimate_layout_seconds`` predicts its cost from the DOT text: over
``LAYOUT_LIMIT`` seconds the layout is refused up front with a message saying
what to do, and over ``PROGRESS_AFTER`` seconds progress is reported on stderr.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import graphviz

from tracer.errors import TracegradError

IMAGE_FORMATS = ("png", "svg", "pdf")
TEXT_FORMATS = ("dot", "gv")
FORMATS = TEXT_FORMATS + IMAGE_FORMATS
TIMEOUT = 120.0  # seconds; a layout that takes longer is a graph nobody can read
LAYOUT_LIMIT = 60.0  # seconds of estimated layout above which a layout is refused up front
PROGRESS_AFTER = 3.0  # seconds of estimated layout above which progress goes to stderr
PROGRESS_EVERY = 10.0  # seconds between "still laying out" lines
PDF_DPI = 150

INSTALL_HINT = (
    "no Graphviz renderer found: install Graphviz so that `dot` is on PATH "
    "(apt install graphviz, brew install graphviz, conda install graphviz) "
    "or `pip install graphviz-pure` (a Rust port of Graphviz's dot, with wheels for "
    "Linux, macOS and Windows on x86-64 and ARM64; tracegrad installs it there); "
    "DOT text export works without either"
)


@dataclass(frozen=True)
class Renderer:
    """A Graphviz executable: ``kind`` is ``"dot"`` or ``"graphviz-pure"``."""

    kind: str
    path: str

    @property
    def native_pdf(self) -> bool:
        return self.kind == "dot"


def _scripts_dir() -> str | None:
    """The running interpreter's scripts folder (``.venv/bin``), searched after ``PATH``."""
    return sysconfig.get_path("scripts")


def find_renderer() -> Renderer | None:
    """The renderer to use, or ``None`` when neither ``dot`` nor ``graphviz-pure`` exists."""
    path = shutil.which("dot")
    if path:
        return Renderer("dot", path)
    path = shutil.which("graphviz-pure")
    if path:
        return Renderer("graphviz-pure", path)
    scripts = _scripts_dir()
    if scripts:
        path = shutil.which("graphviz-pure", path=scripts)
        if path:
            return Renderer("graphviz-pure", path)
    return None


def require_renderer() -> Renderer:
    """Like ``find_renderer`` but raise a ``TracegradError`` saying how to install one."""
    renderer = find_renderer()
    if renderer is None:
        raise TracegradError(INSTALL_HINT)
    return renderer


# ----- what a layout will cost, before it starts -----
_ID = r'"(?:[^"\\]|\\.)*"|[^\s\[\]{};=">-]+'
_EDGE = re.compile(rf"^\s*({_ID})\s*->\s*({_ID})\s*(\[.*)?$")
_NODE = re.compile(rf"^\s*({_ID})\s*(\[.*)?$")
_KEYWORDS = {"graph", "node", "edge", "digraph", "subgraph", "strict", "}", "{"}


def layout_size(source: str) -> tuple[int, int, int]:
    """``(nodes, edges, rank_cells)`` of DOT text; ``rank_cells`` is what ``dot`` lays out.

    ``dot`` ranks the nodes along the edges, then inserts a virtual node on every
    rank an edge passes, and orders all of them rank by rank to reduce crossings:
    ``rank_cells`` counts the nodes plus those virtual nodes (ranks by longest
    path along the edges that constrain the ranking; ``constraint=false`` edges
    are routed but do not rank).
    """
    nodes: dict[str, int] = {}
    edges: list[tuple[str, str, bool]] = []
    for line in source.splitlines():
        m = _EDGE.match(line)
        if m:
            u, v, attrs = m.group(1), m.group(2), m.group(3) or ""
            nodes.setdefault(u, 0)
            nodes.setdefault(v, 0)
            edges.append((u, v, "constraint=false" not in attrs and "style=invis" not in attrs))
            continue
        m = _NODE.match(line)
        if m and m.group(1) not in _KEYWORDS and "=" not in line.split("[", 1)[0]:
            nodes.setdefault(m.group(1), 0)
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    indegree = dict.fromkeys(nodes, 0)
    for u, v, ranks in edges:
        if ranks and u != v:
            succ[u].append(v)
            indegree[v] += 1
    ready = [n for n, k in indegree.items() if k == 0]
    while ready:  # longest-path layering (Kahn's order); nodes on a cycle keep rank 0
        u = ready.pop()
        for v in succ[u]:
            nodes[v] = max(nodes[v], nodes[u] + 1)
            indegree[v] -= 1
            if indegree[v] == 0:
                ready.append(v)
    spans = sum(max(abs(nodes[v] - nodes[u]) - 1, 0) for u, v, _ in edges)
    return len(nodes), len(edges), len(nodes) + spans


def estimate_layout_seconds(source: str) -> float:
    """A rough, deliberately pessimistic guess of how long ``dot`` takes on ``source``.

    Fitted on tracegrad's drawings (first- and second-order gradient graphs of
    tanh chains: 400 to 1,600 nodes, 400 to 60,000 rank cells) with Graphviz 2.43
    and graphviz-pure 0.2 on one busy core: crossing minimisation grows as the
    rank cells to the power 1.5, the rest (text, routing) as the nodes squared.
    It overestimates most of what was measured by up to three times, and
    underestimates none of it by more than a third; the two renderers differ by
    about that much.
    """
    nodes, _, cells = layout_size(source)
    return 0.57 * (cells / 1000.0) ** 1.5 + 1.7 * (nodes / 1000.0) ** 2


def _describe(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def check_layout_cost(source: str, kind: str = "dot", limit: float | None = None) -> float:
    """The estimated layout time of ``source``; raise if it is over ``limit`` seconds.

    Args:
        source: DOT text.
        kind: the renderer's name, for the message.
        limit: seconds; ``None`` takes ``LAYOUT_LIMIT``; ``float("inf")`` never refuses.

    Returns:
        The estimate in seconds (``estimate_layout_seconds``).

    Raises:
        TracegradError: the estimate is over the limit; the message says what to do.
    """
    limit = LAYOUT_LIMIT if limit is None else limit
    seconds = estimate_layout_seconds(source)
    if seconds > limit:
        nodes, edges, cells = layout_size(source)
        raise TracegradError(
            f"this drawing is too big to lay out: {nodes} nodes and {edges} edges "
            f"({cells} rank cells) would take {kind} about {_describe(seconds)} "
            f"(over the {_describe(limit)} limit); draw fewer nodes "
            "(render(..., max_nodes=400) collapses scopes, collapse='name' folds one; "
            "--max-nodes, --collapse on the command line), export .dot text and lay it "
            "out yourself, or raise the limit (compiler.drawing.graphviz_runner.LAYOUT_LIMIT)"
        )
    return seconds


def _progress(text: str) -> None:
    print(f"tracegrad: {text}", file=sys.stderr, flush=True)


def _run(renderer: Renderer, source: str, fmt: str, engine: str, extra: tuple = ()) -> bytes:
    seconds = check_layout_cost(source, renderer.kind)
    timeout = TIMEOUT
    cmd = [renderer.path, f"-K{engine}", f"-T{fmt}", *extra]
    talk = seconds > PROGRESS_AFTER
    if talk:
        nodes, edges, _ = layout_size(source)
        _progress(
            f"laying out {nodes} nodes and {edges} edges with {renderer.kind} "
            f"(estimated {_describe(seconds)})..."
        )
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        raise TracegradError(f"cannot run {renderer.path}: {exc}") from None
    data: bytes | None = source.encode("utf-8")
    with proc:
        while True:
            elapsed = time.monotonic() - start
            wait = min(PROGRESS_EVERY, timeout - elapsed) if talk else timeout - elapsed
            try:
                out, err = proc.communicate(data, timeout=max(wait, 0.01))
                break
            except subprocess.TimeoutExpired:
                data = None  # communicate() keeps feeding what it had started to send
                elapsed = time.monotonic() - start
                if elapsed >= timeout:
                    proc.kill()
                    proc.communicate()
                    raise TracegradError(
                        f"{renderer.kind} did not finish laying out the graph within "
                        f"{timeout:.0f} s; render fewer nodes (max_nodes=..., collapse=...) "
                        "or export DOT"
                    ) from None
                _progress(f"still laying out ({elapsed:.0f} s)...")
    if talk:
        _progress(f"layout done in {time.monotonic() - start:.1f} s")
    if proc.returncode != 0 or not out:
        msg = err.decode("utf-8", "replace").strip().splitlines()
        detail = msg[-1] if msg else f"exit status {proc.returncode}"
        raise TracegradError(f"{renderer.kind} failed to render {fmt}: {detail}")
    return out


def pipe(source: str, fmt: str, *, engine: str = "dot") -> bytes:
    """The DOT ``source`` rendered to ``fmt`` (``png``, ``svg``, ``pdf``, ``dot``) as bytes.

    Images need a renderer (``find_renderer``). A layout estimated to take longer
    than ``LAYOUT_LIMIT`` seconds is refused before it starts; one estimated over
    ``PROGRESS_AFTER`` seconds reports progress on stderr.

    Args:
        source: DOT text.
        fmt: the output format.
        engine: the Graphviz layout engine (``dot``, ``neato``, ...).

    Returns:
        The file's bytes (the DOT text itself for ``dot``/``gv``).

    Raises:
        TracegradError: unknown format, no renderer installed, a layout too big
            to attempt, or the renderer failed.

    Example:
        >>> pipe("digraph { a -> b }", "dot")
        b'digraph { a -> b }'
    """
    fmt = fmt.lower()
    if fmt in TEXT_FORMATS:
        return source.encode("utf-8")
    if fmt not in IMAGE_FORMATS:
        raise TracegradError(f"unknown image format {fmt!r}: use one of {', '.join(FORMATS)}")
    renderer = require_renderer()
    if fmt == "pdf" and not renderer.native_pdf:
        jpeg = _run(renderer, source, "jpeg", engine, (f"-Gdpi={PDF_DPI}", "-Gbgcolor=white"))
        return jpeg_to_pdf(jpeg, PDF_DPI)
    return _run(renderer, source, fmt, engine)


def format_of(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else the file's suffix; a clear error otherwise."""
    if fmt is None:
        fmt = Path(path).suffix.lstrip(".").lower()
        if not fmt:
            raise TracegradError(
                f"cannot tell the format of {os.fspath(path)!r}: give it a suffix "
                f"({', '.join('.' + f for f in FORMATS)})"
            )
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise TracegradError(
            f"cannot write {os.fspath(path)!r}: unknown format {fmt!r}; "
            f"use one of {', '.join(FORMATS)}"
        )
    return fmt


def export(source, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write a drawing (DOT text or a ``graphviz`` graph) to ``path`` in ``fmt``.

    The format defaults to the suffix of ``path``. DOT needs no renderer; images
    do, and when none is installed the DOT text is written next to the requested
    file (same name, ``.dot``) before the error is raised.

    Returns:
        The path written.

    Raises:
        TracegradError: unknown format, or no renderer for an image format.
    """
    path = Path(path)
    fmt = format_of(path, fmt)
    text = source if isinstance(source, str) else source.source
    if fmt in TEXT_FORMATS:
        path.write_text(text, encoding="utf-8")
        return path
    try:
        data = pipe(text, fmt, engine=getattr(source, "engine", None) or "dot")
    except TracegradError as exc:
        if find_renderer() is None:
            dot_path = path.with_suffix(".dot")
            dot_path.write_text(text, encoding="utf-8")
            raise TracegradError(
                f"cannot write {path}: {exc}; the DOT text is in {dot_path}"
            ) from None
        raise
    path.write_bytes(data)
    return path


# ----- PDF from a JPEG page (graphviz-pure has no PDF output) -----
def _jpeg_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, components) from a JPEG's start-of-frame marker."""
    if data[:2] != b"\xff\xd8":
        raise TracegradError("renderer returned no JPEG data for the PDF page")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height, data[i + 9]
        i += 2 + length
    raise TracegradError("renderer returned a JPEG without a frame header")


def jpeg_to_pdf(jpeg: bytes, dpi: float = PDF_DPI) -> bytes:
    """A one-page PDF showing ``jpeg`` at ``dpi`` (the page is the image's size)."""
    width, height, comps = _jpeg_size(jpeg)
    space = {1: "/DeviceGray", 3: "/DeviceRGB", 4: "/DeviceCMYK"}.get(comps, "/DeviceRGB")
    pw, ph = width * 72.0 / dpi, height * 72.0 / dpi
    content = f"q {pw:.2f} 0 0 {ph:.2f} 0 0 cm /Im0 Do Q".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {pw:.2f} {ph:.2f}] "
        f"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>".encode("ascii"),
        f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} "
        f"/ColorSpace {space} /BitsPerComponent 8 /Filter /DCTDecode /Length {len(jpeg)} >>\n"
        "stream\n".encode("ascii")
        + jpeg
        + b"\nendstream",
        f"<< /Length {len(content)} >>\nstream\n".encode("ascii") + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{num} 0 obj\n".encode("ascii") + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode("ascii")
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode("ascii")
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode("ascii")
    return bytes(out)


# ----- a graphviz.Digraph that renders through the renderer found above -----
class Digraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` that renders with ``dot`` or, failing that, ``graphviz-pure``.

    It is what ``compiler.render`` returns: it displays inline in Jupyter (SVG),
    ``.source`` is the DOT text, ``.pipe(format=...)`` returns image bytes and
    ``.render(filename, format=...)`` writes the DOT file and the image, exactly
    as ``graphviz`` does, but without requiring the system Graphviz, and with
    ``pipe``'s layout-cost check, progress and timeout.
    """

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        # Jupyter: a drawing that cannot be laid out shows why, not a traceback.
        try:
            return super()._repr_mimebundle_(include, exclude, **kwargs)
        except TracegradError as exc:
            return {"text/plain": f"{self.name or 'graph'}: not drawn: {exc}"}

    def pipe(
        self,
        format=None,  # graphviz's own argument name
        renderer=None,
        formatter=None,
        neato_no_op=None,
        quiet=False,
        *,
        engine=None,
        encoding=None,
    ):
        found = find_renderer()
        if found is not None and found.kind == "dot" and (renderer or formatter or neato_no_op):
            return super().pipe(
                format, renderer=renderer, formatter=formatter, neato_no_op=neato_no_op,
                quiet=quiet, engine=engine, encoding=encoding,
            )  # fmt: skip
        data = pipe(self.source, format or self.format, engine=engine or self.engine)
        return data.decode(encoding) if encoding else data

    def render(
        self,
        filename=None,
        directory=None,
        view=False,
        cleanup=False,
        format=None,  # graphviz's own argument name
        renderer=None,
        formatter=None,
        neato_no_op=None,
        quiet=False,
        quiet_view=False,
        *,
        outfile=None,
        engine=None,
        raise_if_result_exists=False,
        overwrite_source=False,
    ) -> str:
        found = find_renderer()
        if found is not None and found.kind == "dot" and (renderer or formatter or neato_no_op):
            return super().render(
                filename, directory=directory, view=view, cleanup=cleanup, format=format,
                renderer=renderer, formatter=formatter, neato_no_op=neato_no_op, quiet=quiet,
                quiet_view=quiet_view, outfile=outfile, engine=engine,
                raise_if_result_exists=raise_if_result_exists, overwrite_source=overwrite_source,
            )  # fmt: skip
        if outfile is not None:
            outfile = Path(outfile)
            format = format or format_of(outfile)
            if directory is None:
                outfile = Path(self.directory, outfile)
            if filename is None:
                filename = outfile.with_suffix(".gv")
        fmt = format_of("out", format or self.format)
        source_path = self.save(filename, directory=directory)
        rendered = Path(outfile) if outfile is not None else Path(f"{source_path}.{fmt}")
        if raise_if_result_exists and rendered.exists():
            raise graphviz.FileExistsError(f"output file exists: {os.fspath(rendered)!r}")
        rendered.write_bytes(pipe(self.source, fmt, engine=engine or self.engine))
        if cleanup:
            os.remove(source_path)
        if view or quiet_view:
            self._view(os.fspath(rendered), format=fmt, quiet=quiet_view)
        return os.fspath(rendered)
