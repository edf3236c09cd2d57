"""Write docs/numpy.md: every NumPy function, ufunc and ndarray method that traces.

The supported lists come from the primitive table (``read_tables``, the only
place that knows where the tables live); what does not trace, and what to write
instead, is the hand-kept ``UNSUPPORTED`` table below. Run
``python docs/gen_numpy.py`` after changing either; ``--check`` (run by
``make docs`` and ``tests/test_docs.py``) fails when docs/numpy.md is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "numpy.md"

# Python operators on a traced value, by the ndarray method that implements them.
OPERATORS = {
    "__add__": "a + b", "__sub__": "a - b", "__mul__": "a * b", "__truediv__": "a / b",
    "__floordiv__": "a // b", "__mod__": "a % b", "__pow__": "a ** b", "__matmul__": "a @ b",
    "__neg__": "-a", "__pos__": "+a", "__abs__": "abs(a)", "__invert__": "~a",
    "__lt__": "a < b", "__le__": "a <= b", "__gt__": "a > b", "__ge__": "a >= b",
    "__eq__": "a == b", "__ne__": "a != b", "__and__": "a & b", "__or__": "a | b",
    "__getitem__": "a[i]", "__len__": "len(a)", "__iter__": "for row in a",
}  # fmt: skip

# NumPy that does not trace, and what to write instead. Keep it to what users reach for.
UNSUPPORTED = {
    "np.einsum": "`a @ b`, `np.matmul`, `.T`/`np.transpose` and `np.sum(a * b, axis=...)`",
    "np.tensordot": "reshape both operands to matrices, then `a @ b`, then reshape back",
    "np.linalg.norm": "`np.sqrt(np.sum(x ** 2))`",
    "np.linalg.inv, np.linalg.solve, np.linalg.det": "no traceable form yet",
    "np.unique": "no traceable form: its result's shape depends on the values",
    "np.nonzero, np.argwhere, np.flatnonzero": (
        "`np.where(mask, x, 0)`: their results' shapes depend on the values"
    ),
    "np.logaddexp, np.logsumexp-style code": ("`m = np.max(x); m + np.log(np.sum(np.exp(x - m)))`"),
    "np.arcsin, np.arccos, np.arctanh": "no traceable form yet",
    "np.mod, np.fmod, np.remainder": "`a - b * np.floor(a / b)`",
    "ufunc methods (`np.add.reduce`, `np.add.at`, `np.maximum.accumulate`)": (
        "`np.sum`, `np.max`, `np.cumsum`; scatter-adds come from the gradient of indexing"
    ),
    "in-place methods `x.sort()`, `x.partition()`, `x.fill()`, `x.put()`, `x.resize()`": (
        "`x = np.sort(x)`, `x = np.partition(x, k)`, `np.full_like`, `np.where`, `np.reshape`: "
        "traced values are immutable"
    ),
    "`np.pad` modes `linear_ramp`, `maximum`, `mean`, `median`, `minimum`, `empty`": (
        "modes `constant`, `edge`, `reflect`, `symmetric`, `wrap` trace"
    ),
    "`out=` arguments, `a += b` on a traced value's NumPy buffer": (
        "`y = f(x)`: traced values are immutable"
    ),
    "`where=` arguments of ufuncs": "`np.where(mask, f(x), other)`",
    "`x[i] = v` (item assignment)": ("`np.where(mask, v, x)`, or `np.concatenate` of the pieces"),
    "np.random.* inside a traced function": (
        "draw the sample outside and pass it in as an argument (inside, it is drawn "
        "once, at trace time, and frozen into the graph)"
    ),
}


# methods a traced value has only to say that they need concrete numbers
CONCRETE_METHODS = {"item", "tolist", "nonzero"}


def read_tables() -> dict[str, list[tuple[str, str]]]:
    """``(numpy name, tracegrad op)`` pairs, per kind, read from the primitive table.

    The one place that knows how primitives declare their NumPy mappings.
    """
    from tracer import PRIMITIVES, TracedArray
    from tracer.numpy_api import FUNCTIONS, UFUNCS
    from tracer.primitives import ATTRIBUTES, METHODS

    def qual(f) -> str:
        module = getattr(f, "__module__", None) or "numpy"
        prefix = "np" if module in ("numpy", "numpy.core", "numpy._core") else module
        prefix = prefix.replace("numpy.", "np.")
        return f"{prefix}.{f.__name__}"

    members = vars(TracedArray)
    return {
        "ufuncs": sorted((f"np.{u.__name__}", f.__name__) for u, f in UFUNCS.items()),
        "functions": sorted((qual(f), fn.__name__) for f, fn in FUNCTIONS.items()),
        "methods": sorted(
            (f"ndarray.{name}", "")
            for name in {*METHODS, *ATTRIBUTES, *(n for n in dir(TracedArray) if n[0] != "_")}
            if hasattr(np.ndarray, name) and name not in CONCRETE_METHODS
        ),
        "operators": [
            (f"`{text}`", dunder) for dunder, text in OPERATORS.items() if dunder in members
        ],  # fmt: skip
        "primitives": sorted(
            (name, p.doc.strip().splitlines()[0] if p.doc.strip() else "")
            for name, p in PRIMITIVES.items()
        ),  # fmt: skip
    }


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def render() -> str:
    tables = read_tables()
    supported = {name for kind in ("ufuncs", "functions") for name, _ in tables[kind]}
    listed_twice = sorted(
        name.strip() for key in UNSUPPORTED for name in key.split(",") if name.strip() in supported
    )
    if listed_twice:
        raise SystemExit(f"gen_numpy.py: listed as unsupported but traced: {listed_twice}")
    out = [
        "# NumPy support",
        "",
        "<!-- generated by docs/gen_numpy.py from the primitive table: do not edit -->",
        "",
        "Inside a traced function (`@trace`, `grad`, `compile`, `render`, ...) the NumPy",
        "below records graph nodes; anything else raises `tracer.UnsupportedError`",
        "naming the function and your line. Keyword arguments follow NumPy's",
        "(`axis`, `keepdims`, ...); see [Sharp bits](index.md#sharp-bits) for what is",
        "frozen at trace time.",
        "",
        f"## Ufuncs ({len(tables['ufuncs'])})",
        "",
        "Called as `np.NAME(...)` on traced values, with NumPy's broadcasting and dtype",
        "promotion.",
        "",
        _row(["NumPy", "tracegrad function"]),
        _row(["---", "---"]),
        *(_row([f"`{n}`", f"`{f}`"]) for n, f in tables["ufuncs"]),
        "",
        f"## Functions ({len(tables['functions'])})",
        "",
        _row(["NumPy", "tracegrad function"]),
        _row(["---", "---"]),
        *(_row([f"`{n}`", f"`{f}`"]) for n, f in tables["functions"]),
        "",
        f"## ndarray methods and attributes ({len(tables['methods'])})",
        "",
        ", ".join(f"`{n}`" for n, _ in tables["methods"]),
        "",
        f"## Operators ({len(tables['operators'])})",
        "",
        ", ".join(n for n, _ in tables["operators"]),
        "",
        f"## Primitives ({len(tables['primitives'])})",
        "",
        "What the graph's nodes are made of (the `op` of each node, besides `input`",
        "and `const`):",
        "",
        ", ".join(f"`{n}`" for n, _ in tables["primitives"]),
        "",
        "## Not supported, and what to write instead",
        "",
        _row(["NumPy", "instead"]),
        _row(["---", "---"]),
        *(_row([k if "`" in k or " " in k else f"`{k}`", v]) for k, v in UNSUPPORTED.items()),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print("docs/numpy.md is stale: run python docs/gen_numpy.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
