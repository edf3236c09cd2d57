"""Trace a small MLP loss written in plain NumPy and print its graph, one primitive per line.

The function is the one from the tracing issue: ``f(x, w) = sum(tanh(x @ W + b) ** 2) / n``.
The script prints the listing (with the source line of every node), checks that the
traced function, the reference interpreter and a save/load round trip all give
plain NumPy's number, and writes the graph as JSON to ``out/trace_listing.json``.
"""

from pathlib import Path

import networkx as nx
import numpy as np

from tracer import Spec, evaluate, format_graph, load, save, trace

OUT = Path(__file__).resolve().parent.parent / "out"


def loss(x, w):
    h = np.tanh(x @ w["W"] + w["b"])
    return np.sum(h**2) / h.shape[0]


def main() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4))
    params = {"W": rng.normal(size=(4, 3)), "b": rng.normal(size=3)}

    f = trace(loss)
    graph = f.trace(Spec((32, 4), "float64"), params)
    print(format_graph(graph, source=True))
    print(f"{graph.number_of_nodes()} nodes, acyclic: {nx.is_directed_acyclic_graph(graph)}")

    expected = loss(x, params)
    traced = f(x, params)
    interpreted = evaluate(graph, x, params)
    OUT.mkdir(exist_ok=True)
    path = OUT / "trace_listing.json"
    save(graph, path)
    reloaded = evaluate(load(path), x, params)
    print(f"NumPy {expected:.12f}  traced {traced:.12f}  interpreted {interpreted:.12f}")
    print(f"after save/load {reloaded:.12f}  ({path.name}, traced {f.trace_count} time)")
    for value in (traced, interpreted, reloaded):
        if not np.allclose(value, expected, rtol=1e-12, atol=0):
            raise SystemExit(f"mismatch: {value} != {expected}")


if __name__ == "__main__":
    main()
