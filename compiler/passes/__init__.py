"""Optimisation passes over the graph IR; each is a function ``graph -> graph``.

``dce`` (dead code), ``cse`` (common subexpressions), ``fold_constants`` and
``simplify`` (algebraic rewrites) return an optimised copy and never modify
their argument; ``optimize`` runs them to a fixed point and can report what
each pass did.
"""

from compiler.passes.cse import cse
from compiler.passes.dce import dce
from compiler.passes.fold import fold_constants
from compiler.passes.manager import DEFAULT_PASSES, PASSES, PassReport, optimize
from compiler.passes.simplify import simplify

__all__ = [
    "DEFAULT_PASSES", "PASSES", "PassReport", "cse", "dce", "fold_constants", "optimize",
    "simplify",
]  # fmt: skip
