"""Higher-order derivatives of tanh, drawn (the book's step 35).

A gradient graph is an ordinary graph, so it can be differentiated again:
``grad(grad(np.tanh))`` and so on. For n = 1..6 this writes
``out/tanh_grad{n}.png``, the graph that computes the n-th derivative (after
the optimisation passes), and prints its node count beside the count before
optimisation: the raw graphs grow quickly, as DeZero's do.
"""

from pathlib import Path

import numpy as np

from compiler import build_grad_graph, grad, render
from tracer import trace

OUT = Path(__file__).resolve().parent.parent / "out"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    x = 1.0
    g = np.tanh
    raw = trace(np.tanh, name="tanh").trace(x)
    for n in range(1, 7):
        g = grad(g)
        graph = g.trace(x)
        raw = build_grad_graph(raw, keep_value=False)
        title = f"tanh^({n})(x): {len(graph)} nodes ({len(raw)} before optimisation)"
        dot = render(graph, x, rankdir="TB", title=title, max_nodes=None)
        dot.render(OUT / f"tanh_grad{n}", format="png", cleanup=True)
        print(f"n={n}: {len(graph):3d} nodes ({len(raw):4d} raw)  value at {x}: {float(g(x)):+.6f}")
    print("wrote out/tanh_grad1.png .. out/tanh_grad6.png")


if __name__ == "__main__":
    main()
