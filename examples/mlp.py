"""A two-layer network's forward and gradient graphs, clustered by layer.

Each layer is a ``tracer.name_scope`` block, so the drawing groups its nodes
(forward ops and their local derivatives alike) in one box. Writes
``out/mlp_forward.png``, ``out/mlp_grad.png`` (the book view: one node per
local derivative), ``out/mlp_grad_expanded.png`` (every backward op) and
``out/mlp_grad_collapsed.png`` (each layer folded into one box), and checks the
per-example gradients ``vmap(grad(loss), in_axes=(None, 0, 0))`` against a loop.
"""

from pathlib import Path

import numpy as np

from compiler import grad, render, vmap
from tracer import name_scope

OUT = Path(__file__).resolve().parent.parent / "out"


def mlp(x, W1, b1, W2, b2, t):
    """Mean squared error of a tanh network with one hidden layer."""
    with name_scope("layer1"):
        h = np.tanh(x @ W1 + b1)
    with name_scope("layer2"):
        y = h @ W2 + b2
    with name_scope("loss"):
        return np.mean((y - t) ** 2)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3))
    t = rng.normal(size=(8, 1))
    W1, b1 = rng.normal(size=(3, 4)) * 0.5, np.zeros(4)
    W2, b2 = rng.normal(size=(4, 1)) * 0.5, np.zeros(1)
    args = (x, W1, b1, W2, b2, t)
    wrt = ["W1", "b1", "W2", "b2"]

    pictures = {
        "mlp_forward": render(mlp, *args, title="2-layer MLP: forward graph"),
        "mlp_grad": render(mlp, *args, backward=True, wrt=wrt, title="2-layer MLP: gradient graph"),
        "mlp_grad_expanded": render(
            mlp, *args, backward=True, wrt=wrt, view="expanded",
            title="2-layer MLP: every backward op",
        ),
        "mlp_grad_collapsed": render(
            mlp, *args, backward=True, wrt=wrt, collapse=["layer1", "layer2"],
            title="2-layer MLP: layers collapsed",
        ),
    }  # fmt: skip
    for name, dot in pictures.items():
        dot.render(OUT / name, format="png", cleanup=True)
        print(f"wrote out/{name}.png")
    gW1 = grad(mlp, argnums=1)(*args)
    print("dloss/dW1 =\n", np.round(gW1, 4))

    # per-example gradients: one batched gradient graph, checked against a loop of grad
    params = dict(zip(wrt, args[1:5]))

    def loss(p, x, t):
        return mlp(x, p["W1"], p["b1"], p["W2"], p["b2"], t)

    per_example = vmap(grad(loss), in_axes=(None, 0, 0))(params, x, t)
    looped = [grad(loss)(params, x[i], t[i]) for i in range(len(x))]
    for name in wrt:
        error = np.max(np.abs(per_example[name] - np.stack([g[name] for g in looped])))
        shape = per_example[name].shape
        print(f"per-example dloss/d{name}: {shape}, max |vmap - loop| = {error:.1e}")


if __name__ == "__main__":
    main()
