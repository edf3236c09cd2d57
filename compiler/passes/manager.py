"""The pass manager: run the passes to a fixed point and report what each one did.

>>> g2, rep = optimize(g, report=True)   # doctest: +SKIP
>>> print(rep)                           # doctest: +SKIP
optimize f: 412 -> 97 nodes in 2 rounds
  fold      folded 12
  simplify  x*1 40, x+0 37, x*0 5
  cse       merged 61
  dce       removed 210
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from compiler.passes._graph import copy_graph
from compiler.passes.cse import run_cse
from compiler.passes.dce import run_dce
from compiler.passes.fold import run_fold
from compiler.passes.simplify import run_simplify
from tracer.graph import Graph

# name -> in-place runner returning {what: count}; the order is the order of a round.
PASSES: dict[str, Callable[[Graph], dict[str, int]]] = {
    "fold": run_fold,
    "simplify": run_simplify,
    "cse": run_cse,
    "dce": run_dce,
}
DEFAULT_PASSES = tuple(PASSES)
MAX_ROUNDS = 10


@dataclass
class PassReport:
    """What ``optimize`` did: node counts and, per pass, a count per kind of change."""

    name: str = "f"
    nodes_before: int = 0
    nodes_after: int = 0
    rounds: int = 0
    changes: dict[str, Counter] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def total(self, pass_name: str) -> int:
        return sum(self.changes.get(pass_name, Counter()).values())

    def __str__(self) -> str:
        lines = [
            f"optimize {self.name}: {self.nodes_before} -> {self.nodes_after} nodes "
            f"in {self.rounds} round{'s' if self.rounds != 1 else ''}"
        ]
        for name, counts in self.changes.items():
            done = ", ".join(f"{k} {v}" for k, v in counts.most_common() if v) or "nothing"
            secs = self.seconds.get(name, 0.0)
            lines.append(f"  {name:<9} {done}  ({secs * 1e3:.0f} ms)")
        return "\n".join(lines)


def optimize(
    graph: Graph, *, passes: Sequence[str] | None = None, report: bool = False
) -> Graph | tuple[Graph, PassReport]:
    """Run ``passes`` on a copy of ``graph``, round after round, until nothing changes.

    Args:
        graph: the graph to optimise; it is not modified.
        passes: names from ``PASSES``, run in this order each round (default: fold,
            simplify, cse, dce).
        report: also return a ``PassReport``.

    Returns:
        The optimised graph (same inputs, outputs and numbers), and the report if asked.
    """
    names = DEFAULT_PASSES if passes is None else tuple(passes)
    for name in names:
        if name not in PASSES:
            raise ValueError(f"unknown pass {name!r}; known: {', '.join(PASSES)}")
    start = time.perf_counter()
    g = copy_graph(graph)
    rep = PassReport(name=g.graph.get("name", "f"), nodes_before=len(g))
    rep.changes = {name: Counter() for name in names}
    rep.seconds = {"copy": time.perf_counter() - start, **{name: 0.0 for name in names}}
    for _ in range(MAX_ROUNDS):
        rep.rounds += 1
        changed = False
        for name in names:
            start = time.perf_counter()
            counts = PASSES[name](g)
            rep.seconds[name] += time.perf_counter() - start
            rep.changes[name].update(counts)
            changed = changed or any(counts.values())
        if not changed:
            break
    rep.nodes_after = len(g)
    return (g, rep) if report else g
