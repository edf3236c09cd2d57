"""Traceable twins of ``scipy.linalg``: cholesky, solve_triangular, cho_factor, cho_solve, expm.

Same signatures as SciPy's (``overwrite_*`` and ``check_finite`` are accepted
and change nothing: traced arrays are never overwritten). They are written
with tracegrad's ``np.linalg`` primitives, so they differentiate, and they
work on NumPy arrays too. SciPy is not imported.

- ``cholesky(a, lower=False)`` reads the triangle SciPy reads (the upper one by
  default) and returns that factor.
- ``solve_triangular`` reads only the named triangle of ``a`` (and not its
  diagonal with ``unit_diagonal=True``) and solves with ``np.linalg.solve``; its
  gradient reaches only the entries it reads.
- ``cho_factor`` returns ``(c, lower)`` with zeros in the unused triangle (SciPy
  leaves whatever was there); ``cho_solve`` reads only the factor's triangle, so
  it accepts either.
- ``expm`` is the ``expm`` primitive (Pade scaling and squaring; Frechet derivative).
"""

from __future__ import annotations

import numpy as np

from tracer.errors import TracegradError
from tracer.frames import user_location
from tracer.primitives import decompositions as dec
from tracer.primitives import diagonals as dg
from tracer.primitives import elementwise as ew
from tracer.primitives.inverses import as_linalg, mT, solve
from tracer.primitives.matrix_functions import expm

_TRANS = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """``scipy.linalg.cholesky``: the upper factor ``U`` (``A = U^T U``) unless ``lower``."""
    return dec.cholesky(a, upper=not lower)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):  # fmt: skip
    """``scipy.linalg.solve_triangular``: solve ``T x = b`` (``T^T x = b`` for ``trans``)
    with ``T`` the lower or upper triangle of ``a``."""
    if trans not in _TRANS:
        raise TracegradError(
            f"solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r} "
            f"({user_location()})"
        )
    a, b = as_linalg("solve_triangular", a, b)
    t = dg.tril(a) if lower else dg.triu(a)
    if unit_diagonal:
        t = ew.where(np.eye(a.shape[-1], dtype=bool), np.ones((), a.dtype), t)
    return solve(mT(t) if _TRANS[trans] else t, b)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """``scipy.linalg.cho_factor``: ``(c, lower)``, the factor with zeros elsewhere."""
    return cholesky(a, lower=lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """``scipy.linalg.cho_solve``: solve ``A x = b`` from ``cho_factor``'s ``(c, lower)``."""
    c, lower = c_and_lower
    if lower:  # A = L L^T
        return solve_triangular(c, solve_triangular(c, b, lower=True), trans=1, lower=True)
    # A = U^T U
    return solve_triangular(c, solve_triangular(c, b, trans=1), lower=False)


__all__ = ["cho_factor", "cho_solve", "cholesky", "expm", "solve_triangular"]
