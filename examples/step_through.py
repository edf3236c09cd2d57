"""Backpropagation, step by step: three pages that play the reversed evaluation.

Writes under ``out/steps/`` (open them in a browser; ``#step=N`` opens step N):

- ``chain.html``: the seed chapter's y = C(B(A(x))) (A = square, B = exp,
  C = square) at x = 0.5: x -> a -> b -> y, then dy/dy = 1 -> dy/db -> dy/da ->
  dy/dx, each step showing its product (step 7: dy/da = dy/db · exp'(a));
- ``fanout.html``: y = x*x + exp(x): x is used three times, so dy/dx is the sum
  of three parts, shown as they accumulate;
- ``mlp.html``: the two-layer network of ``examples/mlp.py`` (arrays: each step
  shows min/mean/max), clustered by layer.

and prints each page's last step, which is the gradient ``grad`` computes.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # mlp.py beside this file, when imported

from mlp import mlp  # noqa: E402  (after the path above)

from compiler import grad, step_through  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "out" / "steps"


def chain(x):
    """y = C(B(A(x))), A = square, B = exp, C = square: figure 5-1 of the chapter."""
    return np.square(np.exp(np.square(x)))


def fanout(x):
    """y = x*x + exp(x): x is read three times, so its gradient sums three parts."""
    return x * x + np.exp(x)


def mlp_args() -> tuple:
    """The arguments ``examples/mlp.py`` draws its network with (seeded)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3))
    t = rng.normal(size=(8, 1))
    W1, b1 = rng.normal(size=(3, 4)) * 0.5, np.zeros(4)
    W2, b2 = rng.normal(size=(4, 1)) * 0.5, np.zeros(1)
    return (x, W1, b1, W2, b2, t)


def build_pages() -> dict:
    """name -> its ``StepThrough`` page."""
    return {
        "chain": step_through(chain, 0.5, title="y = C(B(A(x))) at x = 0.5, step by step"),
        "fanout": step_through(fanout, 0.5, title="y = x*x + exp(x) at x = 0.5: fan-out sums"),
        "mlp": step_through(
            mlp, *mlp_args(), wrt=["W1", "b1", "W2", "b2"], title="A two-layer MLP, step by step"
        ),
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, page in build_pages().items():
        path = page.save(OUT / f"{name}.html")
        print(f"wrote out/steps/{path.name}: {len(page.steps)} steps")
        print(f"    last step: {'; '.join(page.steps[-1].lines)}")
    for fn in (chain, fanout):
        print(f"grad({fn.__name__})(0.5) = {float(grad(fn)(0.5))!r}")


if __name__ == "__main__":
    main()
