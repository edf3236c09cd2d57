"""Traceable twins of the SciPy that programs call around ``np.asarray`` (as ``jax.scipy``).

SciPy's own ``scipy.special`` ufuncs trace directly; functions SciPy writes in
Python (``scipy.special.logsumexp``, ``scipy.stats.norm.logpdf``,
``scipy.linalg.cho_solve``, ...) convert their inputs with ``np.asarray`` and
cannot see a traced value, so they have twins here with the same signatures:
``tracer.scipy.special``, ``tracer.scipy.stats``, ``tracer.scipy.linalg``.
SciPy itself is optional: nothing here imports it.
"""

from __future__ import annotations

import importlib

__all__ = ["linalg", "special", "stats"]


def __getattr__(name: str):
    # submodules load on first use (PEP 562), as ``import scipy; scipy.stats`` does
    if name in __all__:
        return importlib.import_module(f"tracer.scipy.{name}")
    raise AttributeError(f"module 'tracer.scipy' has no attribute {name!r}")
