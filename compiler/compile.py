"""``compile(f)``: trace, optimise and generate code, once per input signature.

>>> import numpy as np
>>> fast = compile(lambda x: np.sum(np.tanh(x) ** 2))
>>> round(float(fast(np.ones(3))), 6)          # runs generated NumPy code
1.740077
>>> print(fast.source(np.ones(3)))             # doctest: +ELLIPSIS
def _make(_k):
...

``CompiledFunction`` is a ``TracedFunction`` whose graph maker ends in the
optimiser and whose runner is an ``Executable``. Transformations (``grad``,
``jacobian``, ...) are compiled functions whose graph maker transforms another
function's graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from compiler import progress
from compiler.backends import Backend, Program, get_backend, select_backend
from compiler.passes import optimize
from tracer.captures import has_outer_captures
from tracer.debug import nans_enabled
from tracer.graph import Graph
from tracer.interpreter import evaluate_flat
from tracer.tracing import Call, TracedFunction


class CompiledFunction(TracedFunction):
    """A function traced, optimised and compiled to NumPy source per input signature.

    It is a ``TracedFunction`` assembled from two parts: a graph maker (trace the
    function, or the ``make_graph`` given: a transformation's) followed by the
    optimiser, and a runner that calls the ``Executable`` compiled for the graph.

    Attributes:
        passes: the pass names ``optimize`` runs (None: the default pipeline; ``()``: none).
        backend: the back end asked for (None: chosen per call from the arguments).

    Example:
        >>> import numpy as np
        >>> fast = CompiledFunction(lambda x: np.sin(x) * 2.0)
        >>> float(fast(0.0))
        0.0
        >>> "np.sin" in fast.source(np.ones(3))
        True
    """

    def __init__(
        self,
        fn: Callable,
        *,
        static_argnums: int | Sequence[int] = (),
        name: str | None = None,
        passes: Sequence[str] | None = None,
        make_graph: Callable[[Call], Graph] | None = None,
        owns_graphs: bool = True,
        debug_nans: bool | None = None,
        backend: str | Backend | None = None,
    ):
        """
        Args:
            fn: the function (its captured globals and closure values are read from it).
            static_argnums, name: as for ``trace``.
            passes: optimisation passes (None: the default pipeline; ``()``: none).
            make_graph: the graph maker (default: trace ``fn``).
            owns_graphs: the maker returns fresh graphs nothing else holds, which are
                then optimised in place (no copy).
            debug_nans: as for ``trace``.
            backend: where the graph runs (``compiler.backends``): a name such as
                ``"numpy"``, a ``Backend``, or None to choose per call from the arguments.
        """
        self.passes = None if passes is None else tuple(passes)
        self.backend = backend if backend is None or isinstance(backend, Backend) else str(backend)
        if backend is not None:
            get_backend(backend)  # an unknown name or a missing extra fails here, not later
        self._executables: dict[tuple, tuple[Graph, Program]] = {}
        self._source_maker = make_graph
        self._owns_graphs = owns_graphs
        super().__init__(fn, static_argnums=static_argnums, name=name, debug_nans=debug_nans,
                         make_graph=self._optimized_graph, run=self._run_compiled)  # fmt: skip

    def _optimized_graph(self, call: Call) -> Graph:
        maker = self._source_maker or self.trace_function
        graph = maker(call)
        if self.passes == ():
            return graph
        inplace = self._owns_graphs or self._source_maker is None
        with progress.step(f"optimising {self.name}", len(graph)):
            return optimize(graph, passes=self.passes, inplace=inplace)

    def _run_compiled(self, graph: Graph, leaves: list) -> list:
        if nans_enabled(self.debug_nans):  # node-by-node, to name the first bad node
            return evaluate_flat(graph, leaves, check_nans=True)
        return self._executable(graph, select_backend(self.backend, leaves))(leaves)

    # ----- compiled code -----
    def _executable(self, graph: Graph, backend: Backend) -> Program:
        key = (id(graph), backend)  # two instances of one back end may differ (compute=True)
        hit = self._executables.get(key)
        if hit is not None and hit[0] is graph:
            return hit[1]
        with self._lock:
            hit = self._executables.get(key)
            if hit is None or hit[0] is not graph:
                with progress.step(f"generating {backend.name} code for {self.name}", len(graph)):
                    program = backend.compile(graph, self.name)
                if not has_outer_captures(graph):  # a graph bound to one trace is not kept
                    self._executables[key] = (graph, program)
                return program
            return hit[1]

    def executable(self, *args, **kwargs) -> Program:
        """The compiled program for these arguments (arrays, numbers or ``Spec``), from the
        back end they select (``compiler.backends``)."""
        graph, leaves = self._lookup(args, kwargs)
        return self._executable(graph, select_backend(self.backend, leaves))

    def source(self, *args, **kwargs) -> str:
        """The generated source for these arguments (arrays, numbers or ``Spec``): the code
        the back end runs, which says which back end it is."""
        return self.executable(*args, **kwargs).source

    def __repr__(self) -> str:
        return f"<compiled function {self.name}>"


def compile(  # noqa: A001  (the public name in DESIGN.md)
    fn: Callable | None = None,
    *,
    static_argnums: int | Sequence[int] = (),
    name: str | None = None,
    passes: Sequence[str] | None = None,
    backend: str | Backend | None = None,
):
    """Compile a NumPy function: trace it, optimise the graph, generate and run NumPy source.

    ``compile`` of a transformed function (``compile(grad(f))``, ``compile(jacobian(f))``,
    ...) compiles the transformed graph: it computes what the transformed function
    computes (transformations already run compiled code; this gives the same).

    Args:
        fn: the function (plain NumPy code, a ``@trace``d function, or a transformed one).
        static_argnums: positions of arguments baked into the graph (hashable).
        name: the graph's and generated function's name (default: the function's).
        passes: optimisation passes to run (default: all; ``()`` for none).
        backend: where it runs: ``"numpy"`` (generated NumPy source), another name in
            ``compiler.backends.BACKENDS``, or None (chosen per call from the arguments).

    Returns:
        A ``CompiledFunction``; works as ``@compile`` or ``@compile(static_argnums=1)``.

    Example:
        >>> fast = compile(lambda x: np.sum(np.sin(x) ** 2))
        >>> print(fast.source(np.ones(3)))        # doctest: +SKIP
    """
    if fn is None:
        return lambda f: compile(
            f, static_argnums=static_argnums, name=name, passes=passes, backend=backend
        )
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    static_argnums = tuple(static_argnums)
    if not isinstance(fn, TracedFunction):
        return CompiledFunction(
            fn, static_argnums=static_argnums, name=name, passes=passes, backend=backend
        )
    if fn.make_graph == fn.trace_function or (
        isinstance(fn, CompiledFunction) and fn._source_maker is None
    ):
        # a traced (or compiled) plain function: trace it afresh, with these options
        return CompiledFunction(fn.fn, static_argnums=static_argnums or fn.static_argnums,
                                name=name or fn.name, passes=passes,
                                debug_nans=fn.debug_nans, backend=backend)  # fmt: skip
    if static_argnums and static_argnums != fn.static_argnums:
        raise TypeError(
            f"compile({fn.name}): static_argnums of a transformed function are its own "
            f"({fn.static_argnums}); they cannot be changed here"
        )
    # a transformed function: compile the graph it makes (already optimised, unless
    # passes are asked for explicitly); its cached graphs are shared, so never in place
    return CompiledFunction(
        fn.fn, static_argnums=fn.static_argnums, name=name or fn.name,
        passes=() if passes is None else passes, debug_nans=fn.debug_nans,
        make_graph=lambda call: fn.trace(*call.args, **call.kwargs), owns_graphs=False,
        backend=backend if backend is not None else getattr(fn, "backend", None),
    )  # fmt: skip
