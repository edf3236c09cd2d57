"""Run Graphviz: find a renderer and turn DOT text into PNG, SVG or PDF files.

The renderer is the system Graphviz ``dot`` when it is on ``PATH``, otherwise
the ``graphviz-pure`` binary (a Rust port of Graphviz from PyPI, installed by
the ``dev`` extra), looked up on ``PATH`` and then next to the running Python
(an unactivated virtual environment). ``graphviz-pure`` writes no PDF, so PDF
goes through its JPEG output wrapped in a one-page PDF (a raster page at
``PDF_DPI``). DOT text never needs a renderer. No text ever passes through a
shell: the renderer runs from an argument list, with the DOT on stdin and a
timeout.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import graphviz

from tracer.errors import TracegradError

IMAGE_FORMATS = ("png", "svg", "pdf")
TEXT_FORMATS = ("dot", "gv")
FORMATS = TEXT_FORMATS + IMAGE_FORMATS
TIMEOUT = 120.0  # seconds; a layout that takes longer is a graph nobody can read
PDF_DPI = 150

INSTALL_HINT = (
    "no Graphviz renderer found: install Graphviz so that `dot` is on PATH "
    "(apt install graphviz, brew install graphviz, conda install graphviz) "
    "or the pure-Python wheel `pip install graphviz-pure` (in tracegrad's dev extra: "
    "pip install 'tracegrad[dev]'); DOT text export works without either"
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


def _run(renderer: Renderer, source: str, fmt: str, engine: str, extra: tuple = ()) -> bytes:
    cmd = [renderer.path, f"-K{engine}", f"-T{fmt}", *extra]
    try:
        proc = subprocess.run(
            cmd, input=source.encode("utf-8"), capture_output=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise TracegradError(
            f"{renderer.kind} did not finish laying out the graph within {TIMEOUT:.0f} s; "
            "render fewer nodes (max_nodes=..., collapse=...) or export DOT"
        ) from None
    except OSError as exc:
        raise TracegradError(f"cannot run {renderer.path}: {exc}") from None
    if proc.returncode != 0 or not proc.stdout:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = msg[-1] if msg else f"exit status {proc.returncode}"
        raise TracegradError(f"{renderer.kind} failed to render {fmt}: {detail}")
    return proc.stdout


def pipe(source: str, fmt: str, *, engine: str = "dot") -> bytes:
    """The DOT ``source`` rendered to ``fmt`` (``png``, ``svg``, ``pdf``, ``dot``) as bytes.

    Raises:
        TracegradError: no renderer is installed, or it failed.
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
    as ``graphviz`` does, but without requiring the system Graphviz.
    """

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
        if found is not None and found.kind == "dot":
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
        if found is not None and found.kind == "dot":
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
