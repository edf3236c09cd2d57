"""Issue 12's part of the results page: compile times in fresh processes."""

from __future__ import annotations

from benchmarks.common import LABELS, Cell, fmt_seconds
from benchmarks.compile_times import COMPILED

ROWS = (("w1", "W1 chain-small"), ("w2", "W2 mlp float64"), ("w3", "W3 tanh 8th derivative"))


def _get(node, *path):
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


# ----- compile times in fresh processes -----


def _pair(c: Cell | None) -> str:
    if c is None:
        return "—"
    if not c.ok:
        return f"{c.note} / not run"
    cached = c.extra.get("cached")
    return f"{fmt_seconds(c.value)} / " + (
        fmt_seconds(cached) if cached is not None else c.extra.get("cached_note", "?")
    )


def compile_rows(res: dict) -> tuple[tuple, list[tuple]] | None:
    """(header, rows) of the compile-time table: one row per contestant that compiles."""
    present = [(key, label) for key, label in ROWS if _get(res, key, "compile")]
    if not present:
        return None
    header = ("contestant", "disk cache (cached run)", "import",
              *(f"{label}: cold / cached" for _, label in present))  # fmt: skip
    rows = []
    for name, spec in COMPILED.items():
        cells = [_get(res, key, "compile", name) for key, _ in present]
        if all(c is None for c in cells):
            continue
        imports = [c.extra["import"] for c in cells if c is not None and "import" in c.extra]
        rows.append((LABELS[name], spec.cache, fmt_seconds(min(imports)) if imports else "—",
                     *(_pair(c) for c in cells)))  # fmt: skip
    return header, rows


METHOD = """\
- Compile time in a fresh process (`compile_times.py`): for each contestant that
  compiles and each of W1, W2 (float64) and W3 (n = 8), two child processes in a row,
  both with the contestant's disk cache pointed at the same new, empty folder. The
  first is *cold*: nothing on disk; the second is *cached*: it reuses what the first
  wrote (PyTensor: its `base_compiledir`, C modules and numba's cache; JAX: its
  persistent compilation cache, enabled with `JAX_COMPILATION_CACHE_DIR` and a minimum
  compile time of 0 s; tracegrad: no disk cache, so its second process compiles anew).
  The time runs from building the function (graph, `grad`, `jit` or
  `pytensor.function`) to the end of its first call, in wall time (PyTensor's C mode
  compiles in a g++ child process); the library's import is timed apart. Each child
  checks its gradient against numpy-hand. A child past the time limit is killed and
  shown as `> N s`; that contestant is then left out of the workload's timing.
- PyTensor is written as its users write it: a symbolic graph (the same loss function
  as the other namespaces, with `pytensor.tensor` as `xp`, inputs with static shapes),
  `pytensor.grad`, `pytensor.function`, and `trust_input = True` for the calls;
  Python's recursion limit is raised while it builds and rewrites (its grad recurses
  along W1's 300-step chain). Its default mode is what the installed release picks
  (numba in PyTensor 3); its C mode is `mode="CVM"` (FAST_RUN's rewrites, C thunks,
  the C virtual machine; `mode="FAST_RUN"` means numba in PyTensor 3). A pip install
  links no BLAS to the C mode: its matrix products call NumPy. The run keeps
  PyTensor's compiled code in a temporary folder of its own, seeded with what the
  compile-time children wrote, so the in-process contestants do not compile twice.
"""
