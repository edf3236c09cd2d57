"""``to_dot``: a ``Drawing`` styled in DeZero's visual language, as a ``graphviz.Digraph``.

A pure function: it builds DOT text and runs nothing (``compiler.drawing.graphviz_runner`` runs
the renderer). Values are orange ellipses, ops light-blue boxes; the gradient
side is green (values) and lavender (derivative ops), its edges purple and
drawn from output to input; a dashed grey edge goes from each forward value a
derivative reads. Scopes are clusters. All text goes into HTML-like labels,
escaped, so user names with quotes, ``<``, ``>``, braces or backslashes are
shown as written.
"""

from __future__ import annotations

import re

from compiler.drawing.graphviz_runner import Digraph
from compiler.drawing.labels import escape
from compiler.drawing.model import Drawing, Item

FONT = "Helvetica"

# fill, border, text
STYLE = {
    ("forward", "value"): ("#FFB74D", "#B26A00", "#1A1A1A"),
    ("forward", "const"): ("#FFE3BD", "#C7944A", "#5D4037"),
    ("forward", "op"): ("#ADD8E6", "#3F7F9F", "#102A35"),
    ("forward", "scope"): ("#D6ECF5", "#3F7F9F", "#102A35"),
    ("backward", "value"): ("#B9E4C9", "#3D8B5C", "#0F2E1C"),
    ("backward", "const"): ("#E2F4E8", "#6FAF88", "#2E5E40"),
    ("backward", "op"): ("#D9CCF5", "#6A4FB3", "#21133F"),
    ("backward", "group"): ("#D9CCF5", "#6A4FB3", "#21133F"),
    ("backward", "accum"): ("#EDE6FB", "#6A4FB3", "#21133F"),
    ("backward", "scope"): ("#E8E0F8", "#6A4FB3", "#21133F"),
    # checkpoint: forward values recomputed on the gradient side (drawn dashed)
    ("backward", "recompute"): ("#ADD8E6", "#3F7F9F", "#102A35"),
    ("backward", "recomputed"): ("#FFB74D", "#B26A00", "#1A1A1A"),
}
CUT = "#C62828"  # the border of an op through which no gradient flows
ALARM = ("#FF5252", "#B71C1C", "#FFFFFF")
EDGE = {"data": "#37474F", "grad": "#6A4FB3", "read": "#9E9E9E"}
SUBTEXT = {"forward": "#5F4B32", "backward": "#2F5D46"}
CLUSTER = ("#F6F8FA", "#B0BEC5", "#455A64")


def _label(item: Item) -> str:
    title = escape(item.title)
    if item.kind in ("value", "recomputed", "scope") or item.is_input:
        title = f"<b>{title}</b>" if title else ""
    size = 14 if item.kind == "group" else 13
    parts = [f'<font point-size="{size}">{title}</font>'] if title else []
    color = "#FFFFFF" if item.alarm else SUBTEXT.get(item.side, "#555555")
    if item.kind in ("op", "accum", "group", "recompute"):
        color = "#37474F" if not item.alarm else color
    for line in item.sub:
        parts.append(f'<font point-size="9" color="{color}">{escape(line)}</font>')
    if not parts:
        parts = [" "]
    return "<" + "<br/>".join(parts) + ">"


def _node_attrs(item: Item) -> dict[str, str]:
    kind = item.kind
    fill, border, text = (
        ALARM if item.alarm else STYLE.get((item.side, kind), STYLE[("forward", "op")])
    )
    attrs = {
        "label": _label(item),
        "style": "filled",
        "fillcolor": fill,
        "color": border,
        "fontcolor": text,
        "penwidth": "2.5" if item.alarm else "1.2",
    }
    if item.tooltip:  # an escString: backslashes doubled, lines joined by \n
        attrs["tooltip"] = "\\n".join(
            line.replace("\\", "\\\\") for line in item.tooltip.split("\n")
        )
    if kind in ("value", "const", "recomputed"):
        attrs["shape"] = "ellipse"
        if kind in ("const", "recomputed"):
            attrs["style"] = "filled,dashed"
        if kind == "const":
            attrs["margin"] = "0.04,0.02"
        if item.is_output:
            attrs["peripheries"] = "2"
        if item.is_input:
            attrs["penwidth"] = "2.5" if item.alarm else "1.8"
    elif kind == "scope":
        attrs["shape"] = "box3d"
    else:
        attrs["shape"] = "box"
        attrs["style"] = "filled,rounded,dashed" if kind == "recompute" else "filled,rounded"
        if kind == "accum":
            attrs["margin"] = "0.06,0.03"
    if item.cut:  # a visible cut: a heavy red border, and the label says so
        attrs["color"], attrs["penwidth"], attrs["style"] = CUT, "3", "filled,rounded,dashed"
    return attrs


def _scope_tree(items) -> dict:
    tree: dict = {}
    for item in items:
        node = tree
        for part in item.scope:
            node = node.setdefault(part, {})
    return tree


def to_dot(
    drawing: Drawing,
    *,
    rankdir: str = "LR",
    title: str | None = None,
    graph_attr: dict | None = None,
    ids: str | None = None,
) -> Digraph:
    """The ``graphviz.Digraph`` (``compiler.drawing.graphviz_runner.Digraph``) for ``drawing``.

    Args:
        drawing: what to draw (``compiler.drawing.model.build_drawing``).
        rankdir: ``"LR"`` (left to right, the book's layout) or ``"TB"``.
        title: a caption above the picture; notes from the drawing go under it.
        graph_attr: extra Graphviz graph attributes (override the defaults).
        ids: a prefix for SVG element ids: each item is drawn with ``id=<prefix><item id>``
            and each link with ``id=<prefix>e<its index in drawing.links>``, so a
            page can find them (``compiler.steps``). ``None``: Graphviz's own ids.
    """
    # the DOT graph name doubles as the default file name: keep it a plain identifier
    dot = Digraph(name=re.sub(r"\W", "_", drawing.name) or "graph", format="png")
    attrs = {
        "rankdir": rankdir,
        "newrank": "true",
        "bgcolor": "white",
        "fontname": FONT,
        "fontsize": "12",
        "nodesep": "0.28",
        "ranksep": "0.32",
        "pad": "0.25",
        "labelloc": "t",
        "labeljust": "c",
    }
    caption = []
    if title:
        caption.append(f'<font point-size="16"><b>{escape(title)}</b></font>')
    for note in drawing.notes:
        caption.append(f'<font point-size="11" color="#B71C1C">{escape(note)}</font>')
    if caption:
        attrs["label"] = "<" + "<br/>".join(caption) + ">"
    attrs.update(graph_attr or {})
    dot.graph_attr.update(attrs)
    dot.node_attr.update(fontname=FONT, fontsize="12", height="0.4")
    dot.edge_attr.update(fontname=FONT, arrowsize="0.7", penwidth="1.2")

    by_scope: dict[tuple, list[Item]] = {}
    for item in drawing.items.values():
        by_scope.setdefault(item.scope, []).append(item)
    counter = iter(range(1, 1 << 30))

    def emit(graph, path: tuple, children: dict) -> None:
        for item in by_scope.get(path, []):
            extra = {"id": f"{ids}{item.id}"} if ids is not None else {}
            graph.node(item.id, **_node_attrs(item), **extra)
        for name, sub in children.items():
            inner = path + (name,)
            with graph.subgraph(name=f"cluster_{next(counter)}") as c:
                fill, border, text = CLUSTER
                c.attr(
                    label=f'<<font point-size="11" color="{text}"><b>{escape(name)}</b></font>>',
                    style="rounded,filled",
                    fillcolor=fill,
                    color=border,
                    labeljust="l",
                    fontname=FONT,
                )
                emit(c, inner, sub)

    emit(dot, (), _scope_tree(drawing.items.values()))

    for i, link in enumerate(drawing.links):
        color = EDGE[link.kind]
        extra = {"id": f"{ids}e{i}"} if ids is not None else {}
        if link.kind == "grad":  # laid out input-to-output so it mirrors the forward chain
            dot.edge(link.dst, link.src, dir="back", color=color, **extra)
        elif link.kind == "read":
            dot.edge(link.src, link.dst, style="dashed", constraint="false", color=color,
                     arrowsize="0.55", penwidth="1.0", **extra)  # fmt: skip
        else:
            dot.edge(link.src, link.dst, color=color, **extra)
    for a, b in drawing.pairs:  # same rank; the invisible edge keeps forward above backward
        with dot.subgraph() as s:
            s.attr(rank="same")
            s.edge(a, b, style="invis")
    return dot
