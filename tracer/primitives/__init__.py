"""The primitive set: one explicit table, built from the declaration modules in section order."""

from __future__ import annotations

from tracer.core import aval
from tracer.errors import TracegradError
from tracer.primitives import elementwise, linalg, reductions, shape_ops
from tracer.primitives.base import Primitive

# Structural node kinds: not primitives (no impl), but valid ``op`` values.
STRUCTURAL_OPS = ("input", "const")

PRIMITIVES: dict[str, Primitive] = {
    p.name: p
    for p in (
        *elementwise.PRIMITIVES,
        *reductions.PRIMITIVES,
        *shape_ops.PRIMITIVES,
        *linalg.PRIMITIVES,
    )
}


def get_primitive(name: str) -> Primitive:
    """The primitive called ``name``, or a TracegradError listing the known ones."""
    try:
        return PRIMITIVES[name]
    except KeyError:
        raise TracegradError(
            f"unknown primitive {name!r}; known: {', '.join(sorted(PRIMITIVES))}"
        ) from None


def abstract_eval(name: str, operand_avals, params: dict):
    """(shape, dtype) of ``name`` applied to operands of the given (shape, dtype) pairs."""
    prim = get_primitive(name)
    if prim.arity is not None and len(operand_avals) != prim.arity:
        raise TracegradError(f"{name} takes {prim.arity} operands, got {len(operand_avals)}")
    return prim.abstract_eval(*[aval(s, d) for s, d in operand_avals], **params)


__all__ = ["PRIMITIVES", "STRUCTURAL_OPS", "Primitive", "abstract_eval", "get_primitive"]
