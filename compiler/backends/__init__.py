"""Back ends: how an optimised graph runs. One interface, chosen with ``backend=``.

A back end turns an optimised graph into a *program*: an object with
``__call__(flat_inputs) -> list of outputs``, ``.source`` (the code it runs, as
text) and ``.graph``. ``compile`` and every transformation (``grad``,
``value_and_grad``, ``jacobian``, ...) take ``backend=``: a name from
``BACKENDS`` or a ``Backend`` instance; ``None`` picks one per call from the
arguments (a back end that ``detects`` one of the argument leaves, else
``"numpy"``). The graph is the same whatever the back end: traced, transformed and
optimised once per signature; each back end compiles it once.

Back ends with optional dependencies are imported only when chosen, and a
missing dependency is an error naming the pip extra that installs it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tracer.errors import TracegradError
from tracer.graph import Graph


class Program(Protocol):
    """What a back end's ``compile`` returns."""

    graph: Graph
    source: str

    def __call__(self, flat_inputs) -> list: ...


class Backend:
    """One way to run optimised graphs.

    Attributes:
        name: its name in ``BACKENDS`` (``backend="numpy"``).
    """

    name = "backend"

    def compile(self, graph: Graph, name: str) -> Program:
        """The program running ``graph`` (an optimised graph; the function's ``name``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<backend {self.name}>"


@dataclass(frozen=True)
class BackendEntry:
    """A back end in the registry, loaded on first use.

    Attributes:
        name: the ``backend=`` value.
        load: ``"module:Class"`` of its ``Backend`` subclass.
        extra: the pip extra that installs its dependencies (``tracegrad[numba]``).
        detects: a cheap test (no imports) of an argument leaf only this back end can
            run (a Dask array); arguments it detects choose this back end.
    """

    name: str
    load: str
    extra: str | None = None
    detects: Callable[[object], bool] | None = None


def _is_dask_array(leaf) -> bool:
    """A ``dask.array.Array`` (told by its type's module and name: Dask is not imported)."""
    t = type(leaf)
    return t.__name__ == "Array" and t.__module__.startswith("dask.array")


def is_array_api(leaf) -> bool:
    """An array of an array-API library other than NumPy and Dask (its type has
    ``__array_namespace__``: a ``cupy.ndarray``, an ``array_api_strict`` array); nothing is
    imported to tell."""
    t = type(leaf)
    if isinstance(leaf, (np.ndarray, np.generic)) or not hasattr(t, "__array_namespace__"):
        return False
    return not t.__module__.startswith("dask.")


BACKENDS: dict[str, BackendEntry] = {
    "numpy": BackendEntry("numpy", "compiler.backends.numpy_backend:NumPyBackend"),
    "dask": BackendEntry(
        "dask", "compiler.backends.dask_backend:DaskBackend", extra="dask", detects=_is_dask_array
    ),
    "array_api": BackendEntry(
        "array_api", "compiler.backends.array_api_backend:ArrayAPIBackend", detects=is_array_api
    ),
}
DEFAULT = "numpy"

_loaded: dict[str, Backend] = {}
_lock = threading.Lock()


def get_backend(backend: str | Backend | None = None) -> Backend:
    """The ``Backend`` for a name (``None``: the default), or the instance given."""
    if isinstance(backend, Backend):
        return backend
    name = DEFAULT if backend is None else backend
    hit = _loaded.get(name)
    if hit is not None:
        return hit
    entry = BACKENDS.get(name) if isinstance(name, str) else None
    if entry is None:
        raise TracegradError(
            f"unknown backend {backend!r}; known: {', '.join(sorted(BACKENDS))} "
            "(or a compiler.backends.Backend instance)"
        )
    with _lock:
        if name not in _loaded:
            module, _, cls = entry.load.partition(":")
            try:
                _loaded[name] = getattr(importlib.import_module(module), cls)()
            except ImportError as exc:
                hint = f": pip install 'tracegrad[{entry.extra}]'" if entry.extra else ""
                raise TracegradError(
                    f"backend={name!r} needs a package that is not installed "
                    f"({exc.name or exc}){hint}"
                ) from None
        return _loaded[name]


def select_backend(requested: str | Backend | None, leaves) -> Backend:
    """The back end for one call: the one requested, else one that detects an argument
    leaf (a Dask array, a CuPy array), else the default."""
    if requested is not None:
        return get_backend(requested)
    for entry in BACKENDS.values():
        if entry.detects is not None and any(entry.detects(leaf) for leaf in leaves):
            return get_backend(entry.name)
    return get_backend(DEFAULT)


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendEntry",
    "Program",
    "get_backend",
    "is_array_api",
    "select_backend",
]
