"""The tracegrad exception family: every error a user can cause derives from TracegradError."""

from __future__ import annotations


class TracegradError(Exception):
    """Root of every error tracegrad raises on purpose."""


class TracingError(TracegradError):
    """A traced value was used in a way that needs a concrete value (bool(), float(), if ...)."""


class ShapeError(TracegradError, ValueError):
    """Operand shapes are incompatible for an op (broadcasting, matmul, reshape, ...)."""


class UnsupportedError(TracegradError, TypeError):
    """A NumPy function, ufunc method or keyword has no tracegrad primitive."""


class GraphError(TracegradError):
    """A graph breaks the IR's invariants (found by ``validate``)."""


class GraphFormatError(GraphError, ValueError):
    """A saved graph file is malformed, truncated, of another version, or unsafe."""


class EvaluationError(TracegradError):
    """A node failed while a graph was being evaluated."""
