"""The chain rule, drawn: the seed chapter's figures 5-1 to 5-4 from plain NumPy code.

y = C(B(A(x))) with A = square, B = exp, C = square, as in the book. Writes
under ``out/``:

- ``chain_forward.png``: figure 5-1, the forward graph x -> A -> a -> B -> b -> C -> y;
- ``chain_backward_expanded.png``: figures 5-2/5-3, the reversed graph computing
  dy/dx as products of local derivatives, every multiplication shown;
- ``chain_backward.png``: figure 5-4, the book view: each local derivative is one
  node (``square'(b)``, ``exp'(a)``, ``square'(x)``) on the chain 1 -> dy/db ->
  dy/da -> dy/dx, beside the forward graph it reads;
- ``chain_values.png``: the same at x = 0.5, every value and gradient written in;
- ``chain_nan.png``: a chain that goes wrong (sqrt of a negative log): the first
  NaN is drawn in red, and a note names the node and its source line.

and prints dy/dx at 0.5, by the compiled gradient and by the chain rule by hand.
"""

from pathlib import Path

import numpy as np

from compiler import grad, render

OUT = Path(__file__).resolve().parent.parent / "out"


def A(x):
    return np.square(x)


def B(a):
    return np.exp(a)


def C(b):
    return np.square(b)


def f(x):
    """y = C(B(A(x)))."""
    return C(B(A(x)))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    x = 0.5
    title = "y = C(B(A(x))),  A = square, B = exp, C = square"
    pictures = {
        "chain_forward": render(f, x, title="Figure 5-1: " + title),
        "chain_backward_expanded": render(
            f, x, backward=True, view="expanded",
            title="Figures 5-2, 5-3: dy/dx = ((dy/dy \u00b7 dy/db) \u00b7 db/da) \u00b7 da/dx",
        ),
        "chain_backward": render(
            f, x, backward=True, title="Figure 5-4: backpropagation, one node per local derivative"
        ),
        "chain_values": render(
            f, x, backward=True, values=True,
            title="y = C(B(A(x))) at x = 0.5: values and gradients",
        ),
        "chain_nan": render(
            lambda x: np.square(np.sqrt(np.log(x))), x, backward=True, values=True,
            title="square(sqrt(log(x))) at x = 0.5: the first NaN is red",
        ),
    }  # fmt: skip
    for name, dot in pictures.items():
        dot.render(OUT / name, format="png", cleanup=True)
        print(f"wrote out/{name}.png")

    dydx = grad(f)(x)
    a = x**2
    b = np.exp(a)
    by_hand = 1.0 * (2 * b) * np.exp(a) * (2 * x)  # dy/dy * C'(b) * B'(a) * A'(x)
    print(f"dy/dx at x = {x}: {float(dydx)!r} (chain rule by hand: {float(by_hand)!r})")


if __name__ == "__main__":
    main()
