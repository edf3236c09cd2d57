"""Which buffers are alive at the peak of a compiled tracegrad function, from its schedule alone.

The schedule (``CompiledFunction.executable(*args).schedule``) lists the generated
function's steps in order: ``target = op(*args[, out=out])``, then the names in ``free``
are deleted. Walking it, a step allocates a new buffer of its node's shape and dtype,
unless it writes into ``out`` (a buffer already counted) or its primitive returns a view
(``PRIMITIVES[op].view``: the view keeps its operand's buffer alive). A buffer lives
while any name bound to it does; names never freed (outputs, buffers kept for reuse)
live until the function returns. The caller's inputs and the closure constants are not
counted: they exist before the call. The peak is the largest total during a step: the
buffers alive before it plus the one it allocates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

MIB = 2**20


@dataclass
class Peak:
    """The largest total of live buffers during a call, and what they were."""

    nbytes: int  # total at the peak
    step: int  # index of the step that reaches it
    target: str  # that step's target name
    op: str  # that step's op
    buffers: dict[str, int]  # buffer (its first name) -> bytes, alive at the peak
    names: dict[str, list[str]]  # buffer -> the names bound to it at the peak (views too)

    def to_json(self) -> dict:
        return {"nbytes": self.nbytes, "step": self.step, "target": self.target, "op": self.op,
                "buffers": self.buffers, "names": self.names}  # fmt: skip


def _nbytes(node: dict) -> int:
    return int(np.prod(node["shape"], dtype=np.int64)) * np.dtype(node["dtype"]).itemsize


def peak_buffers(schedule) -> Peak:
    """Walk ``schedule`` (a ``codegen.Schedule``) and return its peak of live buffers."""
    from tracer.primitives import PRIMITIVES

    nodes = schedule.graph.nodes
    buffer_of: dict[str, str] = {}  # name -> buffer (None-like "" for the caller's memory)
    refs: Counter[str] = Counter()  # buffer -> names bound to it
    size: dict[str, int] = {}  # buffer -> bytes
    for name in [*schedule.inputs, *(c for c, _ in schedule.consts)]:
        buffer_of[name] = ""
    live = 0
    best = Peak(0, -1, "", "", {}, {})

    def bind(name: str, buf: str) -> None:
        buffer_of[name] = buf
        if buf:
            refs[buf] += 1

    def unbind(name: str) -> int:
        buf = buffer_of.pop(name, "")
        if not buf:
            return 0
        refs[buf] -= 1
        if refs[buf]:
            return 0
        del refs[buf]
        return size.pop(buf)

    for i, step in enumerate(schedule.steps):
        node = nodes[step.node]
        op = node["op"]
        if step.out is not None:  # written into a buffer already alive
            buf = buffer_of.get(step.out, "")
        elif PRIMITIVES[op].view and step.args:  # a view keeps its operand's buffer
            buf = buffer_of.get(step.args[0], "")
        else:
            buf, size[step.target] = step.target, _nbytes(node)
            live += size[buf]
        if live > best.nbytes:
            alive = {b: size[b] for b in refs} | ({buf: size[buf]} if buf else {})
            bound: dict[str, list[str]] = {}
            for name, b in [*buffer_of.items(), (step.target, buf)]:
                if b and name not in bound.get(b, []):
                    bound.setdefault(b, []).append(name)
            best = Peak(live, i, step.target, op, alive, bound)
        if step.target not in buffer_of:
            bind(step.target, buf)
        elif buffer_of[step.target] != buf:  # a name bound anew (not seen in practice)
            live -= unbind(step.target)
            bind(step.target, buf)
        # else: written in place into its own buffer (``t3 = np.tanh(t3, t3)``)
        for name in step.free:
            live -= unbind(name)
    return best


def describe(peak: Peak, smallest: int = MIB) -> str:
    """The peak in words: ``20.3 MiB at step 40 (grad_w = matmul): 5 buffers of 4 MiB (...)``.

    Largest buffers first, one clause per size. A buffer is named by its first name; one
    kept alive by a view after that name was deleted reads "t8 via t67".
    """
    by_size: dict[int, list[str]] = {}
    for buf, nbytes in peak.buffers.items():
        names = peak.names.get(buf, [])
        views = [n for n in names if n != buf]
        label = buf if not views else f"{buf} {'and' if buf in names else 'via'} {', '.join(views)}"
        by_size.setdefault(nbytes, []).append(label)
    parts, rest, rest_bytes = [], 0, 0
    for nbytes in sorted(by_size, reverse=True):
        names = by_size[nbytes]
        if nbytes < smallest:
            rest, rest_bytes = rest + len(names), rest_bytes + nbytes * len(names)
            continue
        what = "buffer" if len(names) == 1 else "buffers"
        parts.append(f"{len(names)} {what} of {_fmt_bytes(nbytes)} ({', '.join(names)})")
    if rest:
        parts.append(f"{rest} smaller ({_fmt_bytes(rest_bytes)} together)")
    return (f"{_fmt_bytes(peak.nbytes)} at step {peak.step} ({peak.target} = {peak.op}): "
            + "; ".join(parts))  # fmt: skip


def _fmt_bytes(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.3g} MiB"
    if n >= 1024:
        return f"{n / 1024:.3g} KiB"
    return f"{n} B"
