"""The step-through page: one self-contained HTML file (inline SVG, inline script, no network).

``to_svg`` lays out the book-view drawing with Graphviz, every item and edge
carrying a stable id (``tg-g2`` for the box ``exp'(a)``, ``tg-e5`` for the
drawing's sixth link), and marks each value's number (``tg-val``) so the page
can hide it until the step that computes it. ``to_html`` fills the template
``player.html`` (shipped beside this module) with the SVG, the steps as JSON
and a plain list of all steps, so the page reads even without scripts.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from importlib import resources

from compiler.drawing.dot import to_dot
from compiler.drawing.graphviz_runner import pipe
from compiler.drawing.labels import value_text
from compiler.drawing.model import Drawing
from compiler.steps.model import Step

PREFIX = "tg-"
INTERVAL_MS = 1200  # between two steps when playing
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"


def _template() -> str:
    return resources.files("compiler.steps").joinpath("player.html").read_text(encoding="utf-8")


def _same_text(a: str | None, b: str) -> bool:
    return " ".join((a or "").split()) == " ".join(b.split())


def to_svg(drawing: Drawing, values: dict, *, rankdir: str = "LR") -> str:
    """The drawing as inline SVG text, with ids on items and edges and numbers marked.

    Raises:
        TracegradError: no Graphviz renderer (``dot`` or ``graphviz-pure``) is installed.
    """
    dot = to_dot(drawing, rankdir=rankdir, ids=PREFIX)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(pipe(dot.source, "svg"))  # drops the XML prolog, DOCTYPE, comments
    by_id = {el.get("id"): el for el in root.iter() if el.get("id")}
    for item in drawing.items.values():
        el = by_id.get(PREFIX + item.id)
        if el is None or item.kind != "value" or len(item.nodes) != 1:
            continue
        n = item.nodes[0]
        if n not in values:
            continue
        wanted = value_text(values[n])
        for t in el.iter(f"{{{SVG_NS}}}text"):
            if _same_text(t.text, wanted):
                t.set("class", "tg-val")
    root.set("role", "img")
    root.set("aria-label", f"the gradient graph of {drawing.name}")
    return ET.tostring(root, encoding="unicode")


def _json_for_script(data) -> str:
    """JSON safe inside ``<script>``: no ``</script>`` or ``<!--`` can close it."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _finite(value: float | None) -> float | None:
    return value if value is not None and value == value and abs(value) != float("inf") else None


def to_html(
    svg: str,
    steps: list[Step],
    items_at: dict[str, int],
    edges_at: dict[int, int],
    *,
    title: str,
    subtitle: str = "",
) -> str:
    """The page: the template filled with the SVG, the steps and their list.

    Args:
        svg: inline SVG from ``to_svg``.
        steps: the steps (``compiler.steps.model.build_steps``).
        items_at, edges_at: the step at which each item and edge is first
            evaluated (``compiler.steps.model.available``).
        title, subtitle: the page's heading (plain text; escaped here).
    """
    rows = []
    for step in steps:
        text = "\n".join(step.lines) or step.note
        rows.append(
            f'<li id="{PREFIX}s{step.index}" data-step="{step.index}">'
            f"<code>{html.escape(text)}</code></li>"
        )
    data = {
        "prefix": PREFIX,
        "interval": INTERVAL_MS,
        "steps": [{**s.to_json(), "value": _finite(s.value)} for s in steps],
        "items": items_at,
        "edges": {str(i): at for i, at in edges_at.items()},
    }
    first = steps[0]
    parts = {
        "TITLE": html.escape(title),
        "SUBTITLE": html.escape(subtitle),
        "LAST": str(len(steps) - 1),
        "FIRST": html.escape("\n".join(first.lines)),
        "FIRSTNOTE": html.escape(first.note),
        "SVG": svg,
        "LIST": "\n".join(rows),
        "DATA": _json_for_script(data),
    }
    # one pass, so text put in is never scanned for markers again
    return re.sub(r"%%([A-Z]+)%%", lambda m: parts[m.group(1)], _template())
