"""``compile(f)``: trace, optimise and generate code, once per input signature.

>>> fast = compile(f)        # doctest: +SKIP
>>> fast(x)                  # runs generated NumPy code
>>> print(fast.source(x))    # the straight-line source for that signature

``CompiledFunction`` is a ``TracedFunction`` whose graph is optimised and
whose calls run an ``Executable``. Subclasses (``grad``, ``jacobian``, ...)
override one hook, ``_make_graph(args, kwargs, specs, tree, labels) -> Graph``,
to supply the graph to optimise and compile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from compiler.executor import Executable
from compiler.passes import optimize
from tracer.debug import nans_enabled
from tracer.graph import Graph
from tracer.interpreter import evaluate_flat
from tracer.tracing import TracedFunction


class CompiledFunction(TracedFunction):
    """A function traced, optimised and compiled to NumPy source per input signature.

    Attributes:
        passes: the pass names ``optimize`` runs (None: the default pipeline; ``()``: none).
        owns_made_graphs: True when ``_make_graph`` returns a new graph nothing else
            holds, so it is optimised in place (no copy). The default hook's traced
            graphs qualify; a subclass overriding the hook sets it if its graphs do.
    """

    owns_made_graphs = False

    def __init__(
        self,
        fn: Callable,
        *,
        static_argnums: int | Sequence[int] = (),
        name: str | None = None,
        passes: Sequence[str] | None = None,
    ):
        super().__init__(fn, static_argnums=static_argnums, name=name)
        self.passes = None if passes is None else tuple(passes)
        self._executables: dict[int, tuple[Graph, Executable]] = {}

    # ----- hooks -----
    def _make_graph(self, args, kwargs, specs, tree, labels) -> Graph:
        """The graph to compile for one signature (default: trace the function).

        Subclasses return another graph (e.g. a gradient graph) for the same
        arguments; it is then optimised and compiled. Called once per signature.
        """
        return TracedFunction._build(self, args, kwargs, specs, tree, labels)

    def _build(self, args, kwargs, specs, tree, labels) -> Graph:
        graph = self._make_graph(args, kwargs, specs, tree, labels)
        if self.passes == ():
            return graph
        inplace = self.owns_made_graphs or type(self)._make_graph is CompiledFunction._make_graph
        return optimize(graph, passes=self.passes, inplace=inplace)

    def _run(self, graph: Graph, leaves: list) -> list:
        if nans_enabled(self.debug_nans):  # node-by-node, to name the first bad node
            return evaluate_flat(graph, leaves, check_nans=True)
        return self._executable(graph)(leaves)

    # ----- compiled code -----
    def _executable(self, graph: Graph) -> Executable:
        hit = self._executables.get(id(graph))
        if hit is not None and hit[0] is graph:
            return hit[1]
        with self._lock:
            hit = self._executables.get(id(graph))
            if hit is None or hit[0] is not graph:
                exe = Executable(graph, self.name)
                self._executables[id(graph)] = (graph, exe)
                return exe
            return hit[1]

    def executable(self, *args, **kwargs) -> Executable:
        """The ``Executable`` for these arguments (arrays, numbers or ``Spec``)."""
        return self._executable(self.trace(*args, **kwargs))

    def source(self, *args, **kwargs) -> str:
        """The generated Python source for these arguments (arrays, numbers or ``Spec``)."""
        return self.executable(*args, **kwargs).source

    def __repr__(self) -> str:
        return f"<compiled function {self.name}>"


def compile(  # noqa: A001  (the public name in DESIGN.md)
    fn: Callable | None = None,
    *,
    static_argnums: int | Sequence[int] = (),
    name: str | None = None,
    passes: Sequence[str] | None = None,
):
    """Compile a NumPy function: trace it, optimise the graph, generate and run NumPy source.

    Args:
        fn: the function (plain NumPy code, or a ``TracedFunction``).
        static_argnums: positions of arguments baked into the graph (hashable).
        name: the graph's and generated function's name (default: the function's).
        passes: optimisation passes to run (default: all; ``()`` for none).

    Returns:
        A ``CompiledFunction``; works as ``@compile`` or ``@compile(static_argnums=1)``.
    """
    if fn is None:
        return lambda f: compile(f, static_argnums=static_argnums, name=name, passes=passes)
    debug = None
    if isinstance(fn, TracedFunction):
        if not static_argnums:
            static_argnums = fn.static_argnums
        name = name or fn.name
        fn, debug = fn.fn, fn.debug_nans
    compiled = CompiledFunction(fn, static_argnums=static_argnums, name=name, passes=passes)
    compiled.debug_nans = debug  # compile(trace(f, debug_nans=True)) keeps checking
    return compiled
