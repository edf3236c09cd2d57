"""Display names and label text for drawings: ``a, b, c`` for unnamed values, ``y``, ``dy/dx``.

Names are for the picture only: the graph is never modified. Forward values
keep their user names (argument names); the others get ``a, b, c, ...`` in
topological order, skipping names already taken; outputs are ``y`` (``y0,
y1, ...`` for several); in gradient graphs the gradient of a value ``v`` is
``dy/dv`` and the seed is ``1``.
"""

from __future__ import annotations

import html
import itertools
import string

import numpy as np

from tracer.graph import format_value
from tracer.spec import format_aval


def escape(text) -> str:
    """``text`` made safe inside a Graphviz HTML-like label (quotes, <, >, &, braces...)."""
    return html.escape(str(text), quote=True)


def is_backward(graph, n) -> bool:
    return graph.nodes[n].get("role") == "backward"


def grads_map(graph) -> dict[int, int]:
    """Gradient node id -> the forward value it is the gradient of (graph attr ``grads``).

    One gradient node can be the gradient of several values (``add`` and ``sub``
    pass it through unchanged); it is named after the latest of them, the one
    whose derivative produced it, so ``dy/de`` where ``e = d + b``, not ``dy/dd``.
    """
    out: dict[int, int] = {}
    for f, g in graph.graph.get("grads") or ():
        g, f = int(g), int(f)
        if g not in graph or f not in graph:  # removed by an optimisation pass
            continue
        if g not in out or f > out[g]:
            out[g] = f
    return out


def differentiated_outputs(graph) -> list[int]:
    """The forward values whose gradient graph this is (the seeds' forward values)."""
    gm = grads_map(graph)
    return [gm[n] for n in graph.nodes if graph.nodes[n].get("seed") and n in gm]


def _letters():
    for suffix in itertools.chain([""], (str(i) for i in itertools.count(1))):
        for ch in string.ascii_lowercase:
            yield ch + suffix


def value_names(graph, order: list[int], *, roles: bool) -> dict[int, str]:
    """Display names of the values a drawing labels (see the module docstring).

    Args:
        graph: the graph drawn.
        order: its nodes in topological order.
        roles: draw the gradient side (backward nodes are named ``dy/dv``, not lettered).
    """
    nodes = graph.nodes
    forward = [n for n in order if not (roles and is_backward(graph, n))]
    outs = [o for o in graph.graph.get("outputs", []) if o in nodes]
    outs = [o for o in outs if not (roles and is_backward(graph, o))]
    if roles:
        outs += [o for o in differentiated_outputs(graph) if o not in outs]
    names: dict[int, str] = {}
    for n in forward:
        if nodes[n].get("name") and nodes[n]["op"] != "const":
            names[n] = str(nodes[n]["name"])
    unnamed_outs = [o for o in dict.fromkeys(outs) if o not in names and nodes[o]["op"] != "const"]
    y = "y" if "y" not in names.values() else "out"  # an argument may be called y
    if len(unnamed_outs) == 1:
        names[unnamed_outs[0]] = y
    else:
        names.update({o: f"{y}{i}" for i, o in enumerate(unnamed_outs)})
    taken = set(names.values()) | {y}
    letters = (c for c in _letters() if c not in taken)
    for n in forward:
        if n not in names and nodes[n]["op"] != "const":
            names[n] = next(letters)
    if roles:
        names.update(gradient_names(graph, names))
    return names


def _term(name: str) -> str:
    """``y`` and ``W1`` as they are; ``grad_x`` or ``w['b']`` in parentheses."""
    return name if name.isalnum() else f"({name})"


def gradient_names(graph, names: dict[int, str]) -> dict[int, str]:
    """``dy/dv`` for each gradient node, ``1`` for the seed."""
    out: dict[int, str] = {}
    gm = grads_map(graph)
    heads = differentiated_outputs(graph)
    top = names.get(heads[0], "y") if len(heads) == 1 else "y"
    for g, f in gm.items():
        if graph.nodes[g].get("seed"):
            out[g] = "1"
        elif f in names:
            out[g] = f"d{_term(top)}/d{_term(names[f])}"
    for n, d in graph.nodes(data=True):
        if d.get("seed") and n not in out:
            out[n] = "1"
    return out


def const_text(graph, n) -> str:
    """The value of a ``const`` node, short (``2.0``, ``[1, 2]``, ``<float64[3,4]>``)."""
    return format_value(graph.nodes[n]["value"])


def aval_text(graph, n) -> str:
    d = graph.nodes[n]
    return format_aval(d["shape"], d["dtype"])


def params_text(params: dict, limit: int = 32) -> str:
    """Static parameters in one short line: ``axis=(0,), keepdims=False``."""
    parts = []
    for k, v in params.items():
        if k == "keepdims" and v is False:
            continue
        text = repr(v)
        if len(text) > limit:
            text = text[: limit - 3] + "..."
        parts.append(f"{k}={text}")
    return ", ".join(parts)


def _num(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    return f"{x:.4g}"


def value_text(value) -> str:
    """A value's annotation: the number for scalars, ``min/mean/max`` for arrays."""
    arr = np.asarray(value)
    if arr.size == 0:
        return "(empty)"
    if arr.dtype.kind == "c":
        arr = np.abs(arr)
        prefix = "|.| "
    else:
        prefix = ""
    if arr.size == 1:
        return prefix + "= " + _num(arr.reshape(-1)[0])
    if arr.dtype.kind == "b":
        return f"{int(arr.sum())} of {arr.size} true"
    with np.errstate(all="ignore"):
        lo, mean, hi = arr.min(), arr.mean(dtype=np.float64), arr.max()
    return f"{prefix}min {_num(lo)}  mean {_num(mean)}  max {_num(hi)}"


def is_nonfinite(value) -> bool:
    arr = np.asarray(value)
    return arr.dtype.kind in "fc" and not bool(np.all(np.isfinite(arr)))
