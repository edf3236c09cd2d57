"""tracegrad's front end: trace plain NumPy functions into a networkx graph of primitives.

>>> import numpy as np
>>> from tracer import trace
>>> @trace
... def f(x):
...     return np.sum(np.exp(x))
>>> print(f.trace(np.ones(3)))  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from tracer.checkpointing import checkpoint
from tracer.custom import custom_jvp, custom_vjp
from tracer.debug import NaNError, debug_nans
from tracer.errors import (
    EvaluationError,
    GraphError,
    GraphFormatError,
    ShapeError,
    TracegradError,
    TracingError,
    UnsupportedError,
)
from tracer.graph import Graph, format_graph
from tracer.interpreter import evaluate
from tracer.primitives import PRIMITIVES, Primitive
from tracer.primitives.markers import stop_gradient
from tracer.serialize import load, save
from tracer.spec import Spec
from tracer.staging import name_scope
from tracer.traced import TracedArray
from tracer.tracing import RetraceWarning, TracedFunction, trace
from tracer.tree_util import (
    PyTreeDef,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_structure,
    tree_unflatten,
)
from tracer.validate import validate

try:
    __version__: str = _version("tracegrad")  # one version, the distribution's metadata
except PackageNotFoundError:  # a source tree put on sys.path without installing it
    __version__ = "0+unknown"

__all__ = [
    "PRIMITIVES", "EvaluationError", "Graph", "GraphError", "GraphFormatError", "NaNError",
    "Primitive", "RetraceWarning", "debug_nans",
    "ShapeError", "Spec", "TracedArray", "TracedFunction", "TracegradError", "TracingError",
    "UnsupportedError", "evaluate", "format_graph", "load", "name_scope", "save", "trace",
    "validate", "__version__",
    "PyTreeDef", "tree_flatten", "tree_leaves", "tree_map", "tree_structure", "tree_unflatten",
    "checkpoint", "custom_jvp", "custom_vjp", "stop_gradient",
]  # fmt: skip
