"""Progress lines on stderr for work that takes seconds: never a silent wait.

Tracing, differentiating, optimising and compiling cost tens of microseconds a
node, so a graph of ``LARGE_GRAPH`` nodes or more takes seconds; each such step
says what it is doing and how long it took, on stderr (``tracegrad: ...``).
"""

from __future__ import annotations

import contextlib
import sys
import time

LARGE_GRAPH = 50_000  # nodes: about a second or more of work per step


def note(text: str) -> None:
    print(f"tracegrad: {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(what: str, nodes: int):
    """Report ``what`` (and then its duration) when it works on ``nodes`` >= ``LARGE_GRAPH``."""
    if nodes < LARGE_GRAPH:
        yield
        return
    note(f"{what} ({nodes:,} nodes)...")
    start = time.perf_counter()
    yield
    note(f"{what}: done in {time.perf_counter() - start:.1f} s")
