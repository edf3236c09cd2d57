"""What a drawing shows, before any DOT: items (values, ops, derivative nodes, scopes) and links.

``build_drawing`` turns a graph into a ``Drawing`` in one of three views:

- plain: every node is an op box feeding its value ellipse (DeZero's
  ``plot_dot_graph``); used for forward graphs;
- ``"expanded"``: the same for a gradient graph, with backward nodes on the
  gradient side: gradient edges drawn from output to input, and a dashed link
  from every forward value a backward op reads;
- ``"book"``: like expanded, but all backward nodes that share a ``grad_of``
  (one primitive's local derivative; accumulation nodes excluded) become one
  box ``exp'(a)``, as in the book's figure 5-4. The box is labelled with the
  forward operands the derivative is a function of, and its dashed links come
  from those operands (a rule that reads the op's own output, as ``exp'`` reads
  ``exp(a)``, is drawn reading ``a``: the expanded view shows the actual reads).
  A call of a ``custom_vjp``/``custom_jvp`` function is one box with its name
  (its rule one box ``name'(x)``); the expanded view draws its body.

In gradient drawings an op through which no gradient flows (``stop_gradient``,
``floor``, ...) although it reads a differentiated value is drawn as a *cut*,
and values recomputed by ``checkpoint`` are drawn in the forward colours with a
dashed border on the gradient side (see ``compiler.drawing.folds``).

``collapse`` folds whole scopes into single boxes. The drawing is plain data,
so tests can inspect it and ``compiler.drawing.dot`` only has to style it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from compiler.drawing import labels as L
from compiler.drawing.folds import custom_calls, cuts, is_recomputed
from tracer.graph import format_node
from tracer.primitives import PRIMITIVES


@dataclass
class Item:
    """One drawn node. ``kind``: value, const, op, group, accum, scope."""

    id: str
    kind: str
    side: str  # "forward" | "backward"
    title: str
    sub: list[str] = field(default_factory=list)
    scope: tuple = ()
    nodes: list[int] = field(default_factory=list)
    is_input: bool = False
    is_output: bool = False
    alarm: bool = False
    cut: bool = False  # no gradient flows through this op (stop_gradient, floor, ...)
    tooltip: str = ""  # the IR lines it draws (shown on hover in SVG, e.g. in Jupyter)


@dataclass(frozen=True)
class Link:
    """One drawn edge. ``kind``: data (forward flow), grad (gradient flow), read (dashed)."""

    src: str
    dst: str
    kind: str


@dataclass
class Drawing:
    items: dict[str, Item]
    links: list[Link]
    pairs: list[
        tuple[str, str]
    ]  # items to align (a value and its gradient; an op and its derivative)
    notes: list[str]
    name: str = "f"


TOOLTIP_LINES = 12


# ----- building -----
def _common_prefix(scopes) -> tuple:
    scopes = list(scopes)
    if not scopes:
        return ()
    first = scopes[0]
    n = len(first)
    for s in scopes[1:]:
        n = min(n, len(s))
        for i in range(n):
            if s[i] != first[i]:
                n = i
                break
    return tuple(first[:n])


def build_drawing(
    graph,
    *,
    roles: bool,
    view: str = "book",
    shapes: bool = True,
    values: dict | None = None,
) -> Drawing:
    """The items and links that draw ``graph``.

    Args:
        graph: a tracer graph (forward or gradient graph).
        roles: draw the gradient side (needs ``role``/``grad_of`` node attributes).
        view: ``"book"`` or ``"expanded"`` (only matters when ``roles``).
        shapes: put ``dtype[shape]`` under each value's name.
        values: node id -> computed value, to annotate values with.
    """
    nodes = graph.nodes
    order = graph.topo_order()
    calls = custom_calls(graph, order, skip=lambda n: roles and L.is_backward(graph, n))
    if view != "book":
        calls = {}
    hidden = {n for n, c in calls.items() if n not in c.markers}  # values inside a call's box
    names = L.value_names(graph, [n for n in order if n not in hidden], roles=roles)
    gm = L.grads_map(graph)
    outputs = set(graph.graph.get("outputs", []))
    book = roles and view == "book"
    heads = set(L.differentiated_outputs(graph)) if roles else set()

    def backward(n) -> bool:
        return roles and L.is_backward(graph, n)

    def owner(n) -> int:  # whose scope a node is drawn in
        g = nodes[n].get("grad_of")
        return g if backward(n) and g is not None and g in nodes else n

    root = _common_prefix(tuple(nodes[n].get("scope") or ()) for n in order)

    def scope_of(n) -> tuple:
        o = owner(n)
        scope = tuple(nodes[o].get("scope") or ())[len(root) :]
        if o != n and o in calls and scope and scope[-1] == calls[o].name:
            scope = scope[:-1]  # a custom rule's nodes: beside the call's box, not in its scope
        return scope

    def grouped(n) -> bool:
        d = nodes[n]
        return (
            book
            and backward(n)
            and not d.get("seed")
            and not d.get("accum")
            and d.get("grad_of") is not None
            and d["grad_of"] in nodes
            and not is_recomputed(graph, n)
        )

    cut = cuts(graph, backward) if roles else set()
    call_links: set[Link] = set()

    items: dict[str, Item] = {}
    links: list[Link] = []
    value_of: dict[int, str] = {}
    op_of: dict[int, str] = {}
    group_of: dict[int, int] = {}

    def add_value(n, kind="value") -> str:
        d = nodes[n]
        side = "backward" if backward(n) else "forward"
        if side == "backward" and kind == "value" and is_recomputed(graph, n):
            kind = "recomputed"
        if kind == "const" and n not in names:
            title = L.const_text(graph, n)
        else:
            title = names.get(n, "")
        sub = [L.aval_text(graph, n)] if shapes else []
        if values is not None and n in values and kind != "const":
            sub.append(L.value_text(values[n]))
        item = Item(f"v{n}", kind, side, title, sub, scope_of(n), [n])
        item.is_input = d["op"] == "input"
        item.is_output = n in outputs or n in heads
        items[item.id] = item
        value_of[n] = item.id
        return item.id

    for n in order:
        d = nodes[n]
        op = d["op"]
        side = "backward" if backward(n) else "forward"
        if grouped(n):
            k = d["grad_of"]
            group_of[n] = k
            gid = f"g{k}"
            if gid not in items:
                operands, title = graph.operands(k), nodes[k]["op"]
                if k in calls:  # a custom rule: the function's name, of its arguments
                    operands = operands[nodes[k]["params"]["outputs"] :]
                    title = calls[k].name
                args = ", ".join(names.get(u) or _operand_text(graph, u) for u in operands)
                title = f"{title}'({args})"
                items[gid] = Item(gid, "group", "backward", title, [], scope_of(n), [])
            items[gid].nodes.append(n)
            op_of[n] = gid
            continue
        if n in calls:  # the book view: one box per custom-derivative call
            _add_call(n, calls[n], items, op_of, value_of, links, scope_of, add_value)
            continue
        if op == "input":
            add_value(n)
            continue
        if op == "const":
            add_value(n, "value" if roles and d.get("seed") else "const")
            op_of[n] = value_of[n]
            continue
        accum = bool(backward(n) and d.get("accum"))
        kind = "accum" if accum else "op"
        if backward(n) and is_recomputed(graph, n):
            kind = "recompute"
        prim = PRIMITIVES.get(op)
        title = "+" if accum and book else (prim.display if prim is not None else op)
        sub = []
        if d.get("params"):
            text = L.params_text(d["params"])
            if text:
                sub.append(text)
        if kind == "recompute":
            sub.append("recomputed")
        if prim is not None and prim.per_call:  # a custom call's result (expanded view)
            p = d["params"]
            sub = [p["name"] if p["outputs"] == 1 else f"{p['name']}: result {p['output']}"]
        oid = f"o{n}"
        items[oid] = Item(oid, kind, side, title, sub, scope_of(n), [n])
        if n in cut:
            items[oid].cut = True
            items[oid].sub.append("gradient stops here")
        op_of[n] = oid
        vid = add_value(n)
        links.append(Link(oid, vid, "grad" if side == "backward" else "data"))

    # values leaving a derivative group: read outside it, outputs, or named gradients
    for n, k in group_of.items():
        leaves = any(group_of.get(u) != k for u in graph.users(n))
        if leaves or n in outputs or n in gm:
            vid = add_value(n)
            links.append(Link(f"g{k}", vid, "grad"))

    seen_reads: set[tuple[str, str]] = set()
    seen_group_links: set[Link] = set()
    for n in order:
        if nodes[n]["op"] in ("input", "const"):
            continue
        dst = op_of[n]
        for u in graph.operands(n):
            if n in group_of and group_of.get(u) == group_of[n]:
                continue
            if n in calls and calls.get(u) is calls[n]:
                continue  # inside one call's box
            recomputed = backward(n) and is_recomputed(graph, n)
            if recomputed and backward(u) and is_recomputed(graph, u):
                links.append(Link(value_of[u], dst, "data"))  # a recomputation's own flow
                continue
            if backward(n) and (not backward(u) or recomputed or is_recomputed(graph, u)):
                sources = [u]  # a read of a forward (or recomputed) value, dashed
                k = group_of.get(n)
                if k is not None and u == k:  # the op's own output: drawn as its operands
                    sources = graph.operands(k)
                for s in sources:
                    key = (value_of[s], dst)
                    if key not in seen_reads:
                        seen_reads.add(key)
                        links.append(Link(value_of[s], dst, "read"))
                continue
            link = Link(value_of[u], dst, "grad" if backward(n) else "data")
            if n in group_of:  # a derivative box reading gy twice is drawn with one edge
                if link in seen_group_links:
                    continue
                seen_group_links.add(link)
            if n in calls:  # a call's box reading x in several body ops: one edge
                if link in call_links:
                    continue
                call_links.add(link)
            links.append(link)

    pairs: list[tuple[str, str]] = []
    if roles:
        for g, f in gm.items():
            if g in value_of and f in value_of and not nodes[g].get("seed"):
                pairs.append((value_of[f], value_of[g]))
        for g in gm:
            if nodes[g].get("seed") and gm[g] in value_of and g in value_of:
                pairs.append((value_of[gm[g]], value_of[g]))
        for k in dict.fromkeys(group_of.values()):
            if f"o{k}" in items:
                pairs.append((f"o{k}", f"g{k}"))

    for item in items.values():
        lines = [format_node(graph, n, source=True) for n in item.nodes[:TOOLTIP_LINES]]
        if len(item.nodes) > TOOLTIP_LINES:
            lines.append(f"... {len(item.nodes) - TOOLTIP_LINES} more")
        item.tooltip = "\n".join(lines)

    notes: list[str] = []
    if values is not None:
        for n in order:
            if n in values and L.is_nonfinite(values[n]):
                for iid in (value_of.get(n), op_of.get(n)):
                    if iid is not None:
                        items[iid].alarm = True
                where = f" at {nodes[n]['source']}" if nodes[n].get("source") else ""
                notes.append(f"first NaN/Inf: {format_node(graph, n)}{where}")
                break
    return Drawing(items, links, pairs, notes, str(graph.graph.get("name", "f")))


def _add_call(n, call, items, op_of, value_of, links, scope_of, add_value) -> None:
    """Draw node ``n`` of a custom-derivative call into the call's box (a result: also its
    value, beside the box)."""
    cid = f"o{call.id}"
    scope = scope_of(call.id)
    if scope and scope[-1] == call.name:  # the box stands for that scope
        scope = scope[:-1]
    if cid not in items:
        items[cid] = Item(cid, "op", "forward", call.name, [call.kind], scope, [])
    items[cid].nodes.append(n)
    op_of[n] = cid
    if n in call.markers:
        vid = add_value(n)
        items[vid].scope = scope
        links.append(Link(cid, vid, "data"))
    else:  # a body value: not drawn (whatever reads it reads the box)
        value_of[n] = cid


# ----- collapsing scopes -----
def _operand_text(graph, u) -> str:
    """An unnamed operand in a derivative's title: a constant's value, else its id.

    (A loaded file's ``grad_of`` may point at any node, whose operands need not be named.)
    """
    return L.const_text(graph, u) if graph.nodes[u]["op"] == "const" else f"%{u}"


def scope_sizes(drawing: Drawing) -> Counter:
    """Number of items under each scope path (every prefix counts its descendants)."""
    sizes: Counter = Counter()
    for item in drawing.items.values():
        for i in range(1, len(item.scope) + 1):
            sizes[item.scope[:i]] += 1
    return sizes


def _summary(ops: Counter, limit: int = 4) -> str:
    common = ", ".join(f"{c} {op}" for op, c in ops.most_common(limit))
    return common + (", ..." if len(ops) > limit else "")


def collapse(drawing: Drawing, paths) -> Drawing:
    """Fold every item under one of ``paths`` (scope tuples) into one box per side.

    The graph's inputs and outputs stay visible (moved to the enclosing
    cluster); the empty path ``()`` folds a whole graph that is too big to draw.
    """
    paths = sorted(set(map(tuple, paths)), key=len)
    remap: dict[str, str] = {}
    boxes: dict[str, Item] = {}
    counts: dict[str, Counter] = {}
    moved: dict[str, Item] = {}
    for item in drawing.items.values():
        hit = next((p for p in paths if item.scope[: len(p)] == p), None)
        if hit is None:
            continue
        if item.is_input or item.is_output:  # stay visible, in the enclosing cluster
            moved[item.id] = replace(item, scope=hit[:-1]) if hit else item
            continue
        bid = f"s_{item.side}_{'/'.join(hit)}"
        if bid not in boxes:
            title = hit[-1] if hit else drawing.name
            if item.side == "backward":
                title += "'"
            boxes[bid] = Item(bid, "scope", item.side, title, [], hit[:-1], [])
            counts[bid] = Counter()
        box = boxes[bid]
        box.nodes.extend(item.nodes)
        box.alarm = box.alarm or item.alarm
        if item.kind in ("op", "group", "accum"):
            counts[bid][item.title.split("(")[0]] += 1
        remap[item.id] = bid
    for bid, box in boxes.items():
        n_ops = sum(counts[bid].values())
        box.sub = [f"{n_ops} ops: {_summary(counts[bid])}" if n_ops else "values only"]
        box.tooltip = f"{'/'.join(box.scope + (box.title,))}: {len(box.nodes)} nodes folded"
    items = {i: moved.get(i, it) for i, it in drawing.items.items() if i not in remap}
    items.update(boxes)
    links, seen = [], set()
    for link in drawing.links:
        src, dst = remap.get(link.src, link.src), remap.get(link.dst, link.dst)
        if src == dst:
            continue
        key = (src, dst, link.kind)
        if key not in seen:
            seen.add(key)
            links.append(Link(src, dst, link.kind))
    pairs = [(a, b) for a, b in drawing.pairs if a in items and b in items]
    for bid, box in boxes.items():
        twin = f"s_backward_{bid[len('s_forward_') :]}" if box.side == "forward" else None
        if twin in boxes:
            pairs.append((bid, twin))
    return Drawing(items, links, pairs, list(drawing.notes), drawing.name)


def fit(drawing: Drawing, *, collapse_over=None, max_nodes: int | None = None) -> Drawing:
    """Apply the collapsing a ``render`` call asked for, then the node limit.

    Args:
        collapse_over: an int (collapse scopes with more items than that, outermost
            first) or scope names/paths (``"layer1"`` or ``"mlp/layer1"``) to collapse.
        max_nodes: over this many items, collapse the largest top-level scopes until
            the drawing fits, then (if it still does not) the whole graph, with a note.
            ``None`` or ``0``: no limit (as ``--max-nodes 0`` on the command line).
    """
    if max_nodes is not None and max_nodes < 0:
        raise ValueError(f"max_nodes must be None, 0 (no limit) or positive, got {max_nodes}")
    if collapse_over is not None:
        sizes = scope_sizes(drawing)
        if isinstance(collapse_over, int):
            chosen = [p for p, s in sizes.items() if s > collapse_over]
        else:
            wanted = {collapse_over} if isinstance(collapse_over, str) else set(collapse_over)
            chosen = [p for p in sizes if p[-1] in wanted or "/".join(p) in wanted]
        drawing = collapse(drawing, chosen)
    if not max_nodes or len(drawing.items) <= max_nodes:
        return drawing
    total = len(drawing.items)
    sizes = scope_sizes(drawing)
    top = sorted((p for p in sizes if len(p) == 1), key=lambda p: -sizes[p])
    chosen: list[tuple] = []
    for p in top:
        chosen.append(p)
        trial = collapse(drawing, chosen)
        if len(trial.items) <= max_nodes:
            break
    else:
        trial = collapse(drawing, [()])
    trial.notes.insert(
        0,
        f"{total} drawn nodes are over max_nodes={max_nodes}: scopes drawn collapsed "
        "(pass max_nodes=None, or collapse=..., to choose)",
    )
    return trial
