"""PyTensor as a peer, written as its users write it: a symbolic graph, ``pytensor.grad``,
``pytensor.function``; in its default mode and in its C mode.

Which modes these are depends on the release. In PyTensor 3 the default is numba:
``config.mode`` is ``"Mode"`` and ``config.linker`` is ``"auto"``, which picks the
``NumbaLinker`` (``mode="FAST_RUN"`` means the same). Its C back end is the predefined
``mode="CVM"``: FAST_RUN's rewrites, C thunks compiled with the machine's C++ compiler,
run by the C virtual machine (before PyTensor 3 this was FAST_RUN itself). ``describe``
says what the installed release does, for the environment table.

Every contestant is called with ``trust_input = True`` (its inputs are already arrays of
the declared dtype), as PyTensor's documentation advises for speed; ``pytensor.grad`` and
the rewrites recurse along a chain of nodes, so Python's recursion limit is raised while
they run, as users of deep graphs do. Both modes keep compiled code on disk under
``config.base_compiledir`` (C modules; numba's cache in its ``numba`` folder).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import Cell, clock, load

# contestant -> the ``mode`` argument of ``pytensor.function`` (None: the default mode)
MODES: dict[str, str | None] = {"pytensor_numba": None, "pytensor_c": "CVM"}
RECURSION_LIMIT = 200_000


@contextlib.contextmanager
def deep_graphs():
    """Python's recursion limit raised for ``pytensor.grad`` and the rewrites on deep graphs."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def describe() -> str:
    """The installed release and what its two modes are, for the environment table."""
    pytensor = load("pytensor")
    from pytensor.compile.mode import get_mode

    default = type(get_mode(None).linker).__name__
    cxx = pytensor.config.cxx or "none"
    blas = pytensor.config.blas__ldflags or "none linked: its matrix products call NumPy"
    return (f"{pytensor.__version__}; default mode: config.mode={pytensor.config.mode}, "
            f"linker={pytensor.config.linker} ({default}); C mode: mode=\"CVM\" "
            f"({type(get_mode('CVM').linker).__name__}, cxx {cxx}, BLAS {blas})")  # fmt: skip


def function(inputs: list, outputs, contestant: str):
    """``pytensor.function`` in the contestant's mode, called with ``trust_input``."""
    pytensor = load("pytensor")
    with deep_graphs():
        f = pytensor.function(inputs, outputs, mode=MODES[contestant])
    f.trust_input = True
    return f


def variables(arrays: Sequence[np.ndarray]) -> list:
    """One symbolic input per array, with its dtype and static shape."""
    load("pytensor")
    import pytensor.tensor as pt

    return [pt.tensor(f"a{i}", dtype=a.dtype.name, shape=a.shape) for i, a in enumerate(arrays)]


def make_gradient(
    loss: Callable, arrays: Sequence[np.ndarray], wrt: Sequence[int], contestant: str
) -> tuple[Callable[[], list], float]:
    """A compiled gradient of ``loss(pt, *inputs)`` with respect to the inputs ``wrt``.

    Returns ``(fn, compile_seconds)`` as every workload's maker does: the compile time
    runs from building the graph to the end of the first call.
    """
    pytensor = load("pytensor")
    import pytensor.tensor as pt

    arrays = [np.asarray(a) for a in arrays]
    start = clock()
    xs = variables(arrays)
    with deep_graphs():
        grads = pytensor.grad(loss(pt, *xs), [xs[i] for i in wrt])
    f = function(xs, grads, contestant)
    f(*arrays)
    compile_s = clock() - start
    return (lambda: f(*arrays)), compile_s


# ----- W3: n-th derivative of tanh -----


def tanh_nth(n: int):
    """(x, the n-th derivative of tanh at x) as symbolic variables: ``grad`` applied n times."""
    pytensor = load("pytensor")
    import pytensor.tensor as pt

    x = pt.scalar("x", dtype="float64")
    y = pt.tanh(x)
    with deep_graphs():
        for _ in range(n):
            y = pytensor.grad(y, x)
    return x, y


def make_tanh_nth(n: int, x0: float, contestant: str) -> tuple[Callable[[], list], float]:
    x0 = np.array(x0)
    start = clock()
    x, y = tanh_nth(n)
    f = function([x], y, contestant)
    f(x0)
    compile_s = clock() - start
    return (lambda: [f(x0)]), compile_s


def tanh_nth_size(n: int) -> Cell:
    """Apply nodes of the n-th derivative before rewrites; after the default mode's rewrites,
    the nodes left and the scalar ops fused into them (``Composite`` kernels)."""
    load("pytensor")
    from pytensor.compile.mode import Mode, get_mode
    from pytensor.graph.traversal import applys_between
    from pytensor.scalar.basic import Composite

    x, y = tanh_nth(n)
    before = sum(1 for _ in applys_between([x], [y]))
    # The default mode's rewrites, linked by the Python linker: nothing is compiled.
    mode = Mode(linker="py", optimizer=get_mode(None).provided_optimizer)
    with deep_graphs():
        f = load("pytensor").function([x], y, mode=mode)
    after = f.maker.fgraph.apply_nodes
    fused = 0
    for node in after:
        op = getattr(node.op, "scalar_op", None)
        fused += len(op.fgraph.apply_nodes) if isinstance(op, Composite) else 1
    return Cell(before, "", {"after": len(after), "scalar_ops": fused})


# ----- W4: a scalar chain, phase by phase -----


def chain_gradient(chain: Callable, n: int, x0: float, contestant: str) -> tuple[float, dict]:
    """d chain(x) / dx at ``x0``: (value, seconds of graph + grad, function, first call)."""
    pytensor = load("pytensor")
    import pytensor.tensor as pt

    stages = {}
    t = clock()
    x = pt.scalar("x", dtype="float64")
    with deep_graphs():
        g = pytensor.grad(chain(pt.sin, x, n), x)
    stages["graph"] = clock() - t
    t = clock()
    f = function([x], g, contestant)
    stages["function"] = clock() - t
    t = clock()
    value = float(f(np.array(x0)))
    stages["run"] = clock() - t
    return value, stages


# ----- disk cache -----


def cache_env(folder: Path) -> dict[str, str]:
    """Environment that points PyTensor's disk cache (C modules and numba's) at ``folder``."""
    flags = [f for f in os.environ.get("PYTENSOR_FLAGS", "").split(",")
             if f and not f.startswith("base_compiledir=")]  # fmt: skip
    return {"PYTENSOR_FLAGS": ",".join([*flags, f"base_compiledir={folder}"]),
            "NUMBA_CACHE_DIR": str(folder / "numba-cache")}  # fmt: skip
