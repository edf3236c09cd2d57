"""The steps of a step-through page, computed from a gradient graph and its book-view drawing.

Each drawn item that computes something is one step, in evaluation order:
the forward values node by node (inputs, then each op box with its value),
then the reversed evaluation from the seed dy/dy = 1 through each local
derivative box (``exp'(a)``) and each fan-out sum, and a last step with the
gradients. A step names the items it highlights and the drawn edges it reads,
and carries its text, e.g. for the book's chain at x = 0.5::

    dy/da = dy/db · exp'(a) = 2.568 · 1.284 = 3.297

Every number is a value of the gradient graph evaluated at the arguments (the
graph ``grad`` compiles); the local derivative of a scalar step (``1.284``) is
its box evaluated again with the incoming gradient set to 1 (the rules are
linear in it). Arrays are shown as ``min/mean/max`` summaries. Fan-out parts
without a name of their own are named ``dy/dx[1]``, ``dy/dx[2]``, and their
running sums ``dy/dx[1+2]``; ``name_parts`` writes those names into the drawing
so that the picture and the text agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.drawing import labels as L
from compiler.drawing.model import Drawing
from tracer.primitives import get_primitive
from tracer.spec import format_aval

ACTORS = ("op", "group", "accum", "scope")


@dataclass
class Step:
    """One step: what to highlight and what to say.

    ``current``: item ids evaluated at this step (the box and the values it
    produces); ``reads``: item ids it reads; ``edges``: indices into
    ``drawing.links`` (the edges it reads and writes); ``lines``: the text, first
    line the formula; ``value``: the main result as a float when it is a scalar.
    """

    index: int
    phase: str  # "start" | "forward" | "backward" | "result"
    title: str
    lines: list[str]
    note: str = ""
    current: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)
    edges: list[int] = field(default_factory=list)
    value: float | None = None

    def to_json(self) -> dict:
        return {
            "phase": self.phase, "title": self.title, "lines": self.lines, "note": self.note,
            "current": self.current, "reads": self.reads, "edges": self.edges,
            "value": self.value,
        }  # fmt: skip


def num(x) -> str:
    """A number as the steps print it: four significant digits (``3.297``)."""
    x = np.asarray(x).reshape(-1)[0]
    if x.dtype.kind == "b":
        return str(bool(x))
    if x.dtype.kind == "c":
        return f"{complex(x):.4g}"
    return f"{float(x):.4g}"


def show(value) -> str:
    """A value in a step's text: the number for scalars, a summary for arrays."""
    arr = np.asarray(value)
    if arr.size == 1:
        return num(arr) if arr.ndim == 0 else f"[{num(arr)}]"
    return f"[{format_aval(arr.shape, arr.dtype)}: {L.value_text(arr)}]"


def _scalar(value) -> float | None:
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "fiub":
        return None
    return float(arr.reshape(-1)[0])


def _term(name: str) -> str:
    return name if name.isalnum() else f"({name})"


def output_name(graph) -> str:
    """The drawn name of the differentiated output (``y``)."""
    names = L.value_names(graph, graph.topo_order(), roles=True)
    heads = L.differentiated_outputs(graph)
    return names.get(heads[0], "y") if len(heads) == 1 else "y"


class _Context:
    """What every step needs to know about the graph, its drawing and its values."""

    def __init__(self, graph, drawing: Drawing, values: dict):
        self.graph, self.drawing, self.values = graph, drawing, values
        self.order = graph.topo_order()
        self.pos = {n: i for i, n in enumerate(self.order)}
        self.names = L.value_names(graph, self.order, roles=True)
        self.top = output_name(graph)
        self.value_item = {
            it.nodes[0]: it for it in drawing.items.values() if it.kind == "value" and it.nodes
        }

    def d(self, name: str) -> str:
        """``dy/d<name>``."""
        return f"d{_term(self.top)}/d{_term(name)}"

    def backward(self, n) -> bool:
        return L.is_backward(self.graph, n)

    def label(self, n) -> str:
        """The drawn name of node ``n`` (its value item's title), else a constant's value."""
        item = self.value_item.get(n)
        if item is not None and item.title:
            return item.title
        if self.graph.nodes[n]["op"] == "const":
            return L.const_text(self.graph, n)
        return self.names.get(n) or f"%{n}"


# ----- names for fan-out parts -----
def fanout_sums(graph) -> list[tuple[int, list[int], list[int]]]:
    """``(forward node, its + nodes, the parts they sum)`` for each value used more than once.

    The backward pass sums the k gradient parts of a value used k times with
    k - 1 ``accum=True`` nodes: ``((p1 + p2) + p3) + ...``.
    """
    chains: dict[int, list[int]] = {}
    for n in graph.topo_order():
        d = graph.nodes[n]
        if d.get("accum") and L.is_backward(graph, n) and d.get("grad_of") is not None:
            chains.setdefault(d["grad_of"], []).append(n)
    out = []
    for f, chain in chains.items():
        ops = [graph.operands(a) for a in chain]
        if all(len(o) == 2 for o in ops):
            out.append((f, chain, [ops[0][0]] + [o[1] for o in ops]))
    return out


def name_parts(graph, drawing: Drawing) -> None:
    """Title the unnamed gradient values of fan-out sums in ``drawing`` (in place).

    Parts are ``dy/dx[1]`` .. ``dy/dx[k]``, running sums ``dy/dx[1+2]``; the
    total keeps its name ``dy/dx``, and items that have a title keep it.
    """
    names = L.value_names(graph, graph.topo_order(), roles=True)
    top = output_name(graph)
    items = {it.nodes[0]: it for it in drawing.items.values() if it.kind == "value" and it.nodes}
    for f, chain, members in fanout_sums(graph):
        if f not in names:
            continue
        base = f"d{_term(top)}/d{_term(names[f])}"
        titles = [(p, f"{base}[{i}]") for i, p in enumerate(members, start=1)]
        titles += [
            (a, f"{base}[{'+'.join(str(i) for i in range(1, j + 3))}]")
            for j, a in enumerate(chain[:-1])
        ]
        for n, title in titles:
            item = items.get(n)
            if item is not None and not item.title:
                item.title = title


# ----- the steps of each kind of item -----
def _reads_and_produces(drawing: Drawing, iid: str) -> tuple[list[str], list[str], list[int]]:
    reads, produces, edges = [], [], []
    for i, link in enumerate(drawing.links):
        if link.dst == iid:
            reads.append(link.src)
            edges.append(i)
        elif link.src == iid and drawing.items[link.dst].kind == "value":
            produces.append(link.dst)
            edges.append(i)
    return list(dict.fromkeys(reads)), list(dict.fromkeys(produces)), edges


def _input_step(ctx: _Context, item) -> tuple[str, list[str], str]:
    n = item.nodes[0]
    return item.title, [f"{item.title} = {show(ctx.values[n])}"], "an input: its value is given"


def _seed_step(ctx: _Context, item) -> tuple[str, list[str], str]:
    n = item.nodes[0]
    y = ctx.d(ctx.top)
    return (
        y,
        [f"{y} = {show(ctx.values[n])}"],
        f"the reversed evaluation starts from {y} = 1: the derivative of "
        f"{ctx.top} with respect to itself",
    )


def _op_step(ctx: _Context, item, produces) -> tuple[str, list[str], str]:
    g, v = ctx.graph, ctx.values
    lines = []
    title = item.title
    for vid in produces:
        n = ctx.drawing.items[vid].nodes[0]
        d = g.nodes[n]
        operands = g.operands(n)
        name = ctx.label(n)
        params = L.params_text(d.get("params") or {})
        extra = f", {params}" if params else ""
        formula = f"{name} = {d['op']}({', '.join(ctx.label(u) for u in operands)}{extra})"
        title = formula
        if all(np.asarray(v[u]).size == 1 for u in operands) and np.asarray(v[n]).size == 1:
            nums = ", ".join(num(v[u]) for u in operands)
            lines.append(f"{formula} = {d['op']}({nums}{extra}) = {num(v[n])}")
        else:
            lines.append(f"{formula} = {show(v[n])}")
    return title, lines, "forward: apply the op to the values it reads"


def _local_values(ctx: _Context, nodes: list[int], gin: int) -> dict:
    """A derivative box's nodes evaluated with the incoming gradient set to 1."""
    g = ctx.graph
    env = {gin: np.ones_like(np.asarray(ctx.values[gin]))}
    for n in sorted(nodes, key=ctx.pos.__getitem__):
        d = g.nodes[n]
        if d["op"] == "const":
            env[n] = d["value"]
            continue
        args = [env.get(u, ctx.values.get(u)) for u in g.operands(n)]
        with np.errstate(all="ignore"):
            env[n] = get_primitive(d["op"]).impl(*args, **d["params"])
    return env


def _target(ctx: _Context, n: int) -> int | None:
    """The forward value whose gradient backward node ``n`` is (a part of)."""
    gm = L.grads_map(ctx.graph)
    seen = set()
    while n not in gm and n not in seen:
        seen.add(n)
        sums = [u for u in ctx.graph.users(n) if ctx.graph.nodes[u].get("accum")]
        if not sums:
            return None
        n = sums[0]
    return gm.get(n)


def _group_step(ctx: _Context, item, produces) -> tuple[str, list[str], str]:
    g, v = ctx.graph, ctx.values
    own = set(item.nodes)
    k = g.nodes[item.nodes[0]]["grad_of"]
    if g.nodes[k]["op"] == "input":  # zeros for an input the output does not depend on
        name = ctx.d(ctx.names.get(k, f"%{k}"))
        lines = [f"{name} = {show(v[ctx.drawing.items[vid].nodes[0]])}" for vid in produces]
        return name, lines, f"{ctx.top} does not depend on {ctx.names.get(k, k)}: its gradient is 0"
    gins = {
        u for m in item.nodes for u in g.operands(m) if u not in own and ctx.backward(u)
    }  # fmt: skip
    gin = next(iter(gins)) if len(gins) == 1 else None
    if gin is not None and ctx.graph.nodes[gin].get("seed"):
        gin_name = ctx.d(ctx.top)  # drawn "1": the book's dy/dy
    elif gin is not None and gin in ctx.value_item and ctx.value_item[gin].title:
        gin_name = ctx.value_item[gin].title  # as drawn (add passes dy/de on as dy/dd)
    else:
        gin_name = ctx.d(ctx.names.get(k, f"%{k}"))
    scalar = gin is not None and np.asarray(v[gin]).size == 1
    local = _local_values(ctx, item.nodes, gin) if scalar else {}
    lines = []
    for vid in produces:
        n = ctx.drawing.items[vid].nodes[0]
        name = ctx.label(n)
        f = _target(ctx, n)
        factor = item.title
        if len(produces) > 1 and f is not None:
            factor = f"∂{ctx.names.get(k, k)}/∂{ctx.names.get(f, f)}"
        formula = f"{name} = {gin_name} · {factor}"
        if scalar and np.asarray(v[n]).size == 1:
            lines.append(f"{formula} = {num(v[gin])} · {num(local[n])} = {num(v[n])}")
        else:
            lines.append(f"{formula} = {show(v[n])}")
    args = ", ".join(ctx.label(u) for u in g.operands(k))
    note = (
        f"backward through {ctx.names.get(k, k)} = {g.nodes[k]['op']}({args}): the incoming "
        f"gradient {gin_name} times the local derivative {item.title}"
    )
    return item.title, lines, note


def _accum_step(ctx: _Context, item, produces, parts) -> tuple[str, list[str], str]:
    g, v = ctx.graph, ctx.values
    n = item.nodes[0]
    operands = g.operands(n)
    name = ctx.label(n)
    terms = " + ".join(ctx.label(u) for u in operands)
    formula = f"{name} = {terms}"
    if all(np.asarray(v[u]).size == 1 for u in operands) and np.asarray(v[n]).size == 1:
        lines = [f"{formula} = {' + '.join(num(v[u]) for u in operands)} = {num(v[n])}"]
    else:
        lines = [f"{formula} = {show(v[n])}"]
    f = g.nodes[n].get("grad_of")
    last = operands[-1]
    i, k = parts.get(last, (0, 0))
    used = ctx.names.get(f, f"%{f}")
    if k:
        done = "all of them summed" if i == k else f"{i} of them summed so far"
        note = f"fan-out: {used} is used {k} times, so its gradient is the sum of {k} parts; {done}"
    else:
        note = f"fan-out: the gradient of {used} sums its parts"
    return formula, lines, note


def _scope_step(ctx: _Context, item, produces) -> tuple[str, list[str], str]:
    lines = [f"{item.title}: {item.sub[0] if item.sub else ''}".rstrip(": ")]
    for vid in produces:
        n = ctx.drawing.items[vid].nodes[0]
        lines.append(f"{ctx.label(n)} = {show(ctx.values[n])}")
    return item.title, lines, f"{len(item.nodes)} nodes drawn collapsed: evaluated in one step"


# ----- the whole list -----
def _actors(ctx: _Context) -> list:
    g = ctx.graph
    out = []
    for item in ctx.drawing.items.values():
        if not item.nodes:
            continue
        if item.kind in ACTORS:
            out.append(item)
        elif item.kind == "value" and len(item.nodes) == 1:
            d = g.nodes[item.nodes[0]]
            if d["op"] == "input" or (d.get("seed") and ctx.backward(item.nodes[0])):
                out.append(item)
    return sorted(
        out, key=lambda it: (it.side == "backward", max(ctx.pos[n] for n in it.nodes), it.id)
    )


def _result_name(ctx: _Context, o: int) -> str:
    """``dy/dx`` for the gradient output ``o``: named after the input it is the gradient of."""
    inputs = set(ctx.graph.graph["inputs"])
    for f, g in ctx.graph.graph.get("grads") or ():
        if int(g) == o and int(f) in inputs:
            return ctx.d(ctx.names.get(int(f), f"%{f}"))
    made_for = ctx.graph.nodes[o].get("grad_of")  # zeros for an input nothing flows to
    if made_for in inputs:
        return ctx.d(ctx.names.get(made_for, f"%{made_for}"))
    return ctx.label(o)


def build_steps(graph, drawing: Drawing, values: dict, *, caption: str = "") -> list[Step]:
    """The steps that play ``graph`` (a gradient graph drawn as ``drawing``) at ``values``.

    Args:
        graph: a gradient graph (``build_grad_graph``): forward and backward nodes.
        drawing: its book-view drawing (``build_drawing(graph, roles=True)``, maybe
            collapsed by ``fit``), with fan-out parts named by ``name_parts``.
        values: node id -> value (``compiler.drawing.all_values``).
        caption: the first step's text (what is being evaluated).

    Returns:
        Step 0 (nothing evaluated yet), one step per evaluated item, and a last
        step showing the gradients.
    """
    ctx = _Context(graph, drawing, values)
    parts = {p: (i, len(ms)) for _, _, ms in fanout_sums(graph) for i, p in enumerate(ms, 1)}
    steps = [
        Step(0, "start", "start", [caption] if caption else [],
             "press Next (or →) to evaluate the graph node by node, then backpropagate"),
    ]  # fmt: skip
    for item in _actors(ctx):
        reads, produces, edges = _reads_and_produces(drawing, item.id)
        n0 = item.nodes[0]
        if item.kind == "value" and graph.nodes[n0]["op"] == "input":
            title, lines, note = _input_step(ctx, item)
        elif item.kind == "value":
            title, lines, note = _seed_step(ctx, item)
        elif item.kind == "group":
            title, lines, note = _group_step(ctx, item, produces)
        elif item.kind == "accum":
            title, lines, note = _accum_step(ctx, item, produces, parts)
        elif item.kind == "scope":
            title, lines, note = _scope_step(ctx, item, produces)
        else:
            title, lines, note = _op_step(ctx, item, produces)
        main = drawing.items[produces[-1]].nodes[0] if produces else n0
        steps.append(
            Step(len(steps), item.side, title, lines, note, [item.id, *produces], reads, edges,
                 _scalar(values[main]) if main in values else None)
        )  # fmt: skip
    grads = [o for o in graph.graph["outputs"] if ctx.backward(o) and o in ctx.value_item]
    if grads:
        lines = [f"{_result_name(ctx, o)} = {show(values[o])}" for o in grads]
        steps.append(
            Step(len(steps), "result", "result", lines,
                 "the reversed evaluation is complete: these are the gradients grad computes",
                 [ctx.value_item[o].id for o in grads], [], [], _scalar(values[grads[0]]))
        )  # fmt: skip
    return steps


def available(drawing: Drawing, steps: list[Step]) -> tuple[dict[str, int], dict[int, int]]:
    """The step at which each item and each edge is first evaluated (0: drawn from the start)."""
    items: dict[str, int] = {}
    for step in steps:
        if step.phase == "result":
            continue
        for iid in step.current:
            items.setdefault(iid, step.index)
    for iid in drawing.items:
        items.setdefault(iid, 0)
    edges = {i: max(items[lk.src], items[lk.dst]) for i, lk in enumerate(drawing.links)}
    return items, edges
