"""Common-subexpression elimination by structural hashing.

Two nodes are the same value when they apply the same op with the same params
to the same operands (in order; sorted for commutative ops), or when they are
constants with the same dtype, shape and bytes. Walking in topological order
and merging as we go makes operands canonical before their users are hashed,
so one sweep finds every repeat.
"""

from __future__ import annotations

from tracer.primitives import PRIMITIVES

# Declared exactly commutative (maximum/minimum are not: signed zeros, NaN payloads).
COMMUTATIVE = frozenset(p.name for p in PRIMITIVES.values() if p.algebra.commutative)

# Constants up to this many bytes are hashed by content.
CONST_BYTES_LIMIT = 1 << 16


def params_key(params: dict) -> str:
    """A hashable, type-exact key for a params dict (``1``, ``1.0``, ``True`` differ)."""
    return repr(sorted(params.items()))
