"""Dead-code elimination: drop every node no output depends on (inputs always stay)."""

from __future__ import annotations

from compiler.passes._graph import copy_graph, fix_references, live_nodes, remove_node
from tracer.graph import Graph


def dce(graph: Graph) -> Graph:
    """A copy of ``graph`` without the nodes its outputs do not need.

    Inputs are kept even when unused: they are the function's signature.
    """
    g = copy_graph(graph)
    run_dce(g)
    fix_references(g, {})
    return g


def run_dce(g: Graph) -> dict[str, int]:
    """Remove dead nodes from ``g`` in place; return ``{"removed": count}``."""
    live = live_nodes(g)
    dead = [n for n in g._node if n not in live]
    for n in dead:
        remove_node(g, n)
    return {"removed": len(dead)}
