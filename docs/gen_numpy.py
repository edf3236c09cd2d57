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
    "__floordiv__": "a // b", "__mod__": "a % b", "__divmod__": "divmod(a, b)",
    "__pow__": "a ** b", "__matmul__": "a @ b",
    "__neg__": "-a", "__pos__": "+a", "__abs__": "abs(a)", "__invert__": "~a",
    "__lt__": "a < b", "__le__": "a <= b", "__gt__": "a > b", "__ge__": "a >= b",
    "__eq__": "a == b", "__ne__": "a != b", "__and__": "a & b", "__or__": "a | b",
    "__getitem__": "a[i]", "__len__": "len(a)", "__iter__": "for row in a",
}  # fmt: skip

# NumPy that does not trace, and what to write instead. Keep it to what users reach for.
UNSUPPORTED = {
    "np.linalg.eig, np.linalg.eigvals (non-symmetric)": (
        "`np.linalg.eigh` for symmetric matrices; `np.linalg.svd`"
    ),
    "np.linalg.lstsq, np.linalg.matrix_rank, np.linalg.cond": (
        "`np.linalg.pinv(a) @ b`; `np.linalg.svd(a, compute_uv=False)`"
    ),
    "scipy.linalg.* (cholesky, solve_triangular, cho_factor, cho_solve, expm)": (
        "their twins in `tracer.scipy.linalg` (SciPy's functions call `np.asarray`)"
    ),
    "np.ldexp, np.nextafter, np.spacing": "`x * 2.0 ** k`; the others have no traceable form",
    "`np.array([a, b])` of traced values": "`np.stack([a, b])`",
    "`np.asarray(x)` of a traced value": "`x` itself (`x.astype(dtype)` for a dtype)",
    "a NumPy array indexed by a traced index (`table[i]`)": (
        "`tracer.ops.getitem(table, i)`, or pass `table` as an argument"
    ),
    "SciPy's Python functions (`scipy.special.logsumexp`, `scipy.stats.norm.logpdf`, ...)": (
        "their twins in `tracer.scipy` (see SciPy above), with SciPy's signatures"
    ),
    "np.unique": "no traceable form: its result's shape depends on the values",
    "np.nonzero, np.argwhere, np.flatnonzero": (
        "`np.where(mask, x, 0)`: their results' shapes depend on the values"
    ),
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
    from tracer.primitives import ATTRIBUTES, METHODS, SCIPY_SPECIAL
    from tracer.scipy import special, stats

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
        "scipy_ufuncs": sorted(
            (f"scipy.special.{n}", f.__name__) for n, f in SCIPY_SPECIAL.items()
        ),
        "tracer_scipy": [
            *(
                f"tracer.scipy.special.{n}"
                for n in special.__all__
                if getattr(special, n) not in SCIPY_SPECIAL.values()
            ),
            *(
                f"tracer.scipy.stats.{d}.{m}"
                for d in stats.__all__
                for m in sorted(vars(type(getattr(stats, d))))
                if not m.startswith("_") and m != "name"
            ),
        ],
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
        f"## SciPy ({len(tables['scipy_ufuncs']) + len(tables['tracer_scipy'])})",
        "",
        "`scipy.special`'s ufuncs below trace as they are (SciPy is needed to evaluate",
        "them, and nothing imports it before). SciPy's Python functions convert their",
        "inputs with `np.asarray` and cannot see a traced value; their traceable twins",
        "in `tracer.scipy` take SciPy's arguments and give SciPy's numbers (float32 stays",
        "float32):",
        "",
        _row(["SciPy ufunc", "tracegrad function"]),
        _row(["---", "---"]),
        *(_row([f"`{n}`", f"`{f}`"]) for n, f in tables["scipy_ufuncs"]),
        "",
        ", ".join(f"`{n}`" for n in tables["tracer_scipy"]),
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
