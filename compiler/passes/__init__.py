"""Optimisation passes over the graph IR; each is a function ``graph -> graph``.

``dce`` (dead code), ``cse`` (common subexpressions; on graphs up to 10,000
nodes also algebraic value numbering, ``algebra.py``), ``fold_constants`` and
``simplify`` (algebraic rewrites) return an optimised copy and never modify
their argument; ``optimize`` runs them to a fixed point and can report what
each pass did. Internally fold/simplify/cse are one topological sweep
(``sweep.py``), so the pipeline stays linear in the graph size.

Numbers: folding, CSE and most rewrites are exact. Not bit-identical (a few
ulps at most): ``x**3``/``x**4`` as products, ``x*y + x*z`` factored, and
value numbering keeping one of two equal polynomials. ``0*x`` and ``x-x``
become 0 also where ``x`` is inf or NaN.
"""

from compiler.passes.dce import dce
from compiler.passes.manager import DEFAULT_PASSES, PASSES, PassReport, optimize
from compiler.passes.sweep import cse, fold_constants, simplify

__all__ = [
    "DEFAULT_PASSES", "PASSES", "PassReport", "cse", "dce", "fold_constants", "optimize",
    "simplify",
]  # fmt: skip
