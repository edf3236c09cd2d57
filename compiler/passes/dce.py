"""Dead-code elimination: drop every node no output depends on (inputs always stay)."""

from __future__ import annotations

from compiler.passes.rewrite import Rewrite
from tracer.graph import Graph


def dce(graph: Graph) -> Graph:
    """A copy of ``graph`` without the nodes its outputs do not need.

    Inputs are kept even when unused: they are the function's signature.
    """
    g = graph.copy()
    run_dce(g)
    return g


def run_dce(g: Graph, rewrite: Rewrite | None = None) -> dict[str, int]:
    """Remove dead nodes from ``g`` in place (recording them in ``rewrite`` when a larger
    run owns one); return ``{"removed": count}``."""
    own = rewrite is None
    if own:
        rewrite = Rewrite(g)
    live = g.live_nodes()
    dead = [n for n in g.node_attrs if n not in live]
    for n in dead:
        rewrite.remove(n)
    if own:
        rewrite.finish()
    return {"removed": len(dead)}
