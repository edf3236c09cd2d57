"""The default back end: straight-line NumPy source (``compiler.codegen``), run by an
``Executable`` (``compiler.executor``) with intermediates freed at their last use and
dead buffers reused as ``out=``."""

from __future__ import annotations

from compiler.backends import Backend
from compiler.executor import Executable
from tracer.graph import Graph


class NumPyBackend(Backend):
    """Generated NumPy source, executed in this process."""

    name = "numpy"

    def compile(self, graph: Graph, name: str) -> Executable:
        return Executable(graph, name)
