"""Where the user's code is: the innermost stack frame outside tracegrad, NumPy, SciPy and the
stdlib.

Every node records the user's ``file.py:LINE`` (``user_source``) and every error
names the user's full ``path:LINE`` (``user_location``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys

import numpy as np


def _package_dir(name: str) -> str | None:
    """Where package ``name`` is installed, found without importing it (None: absent)."""
    spec = importlib.util.find_spec(name)
    return os.path.dirname(spec.origin) if spec is not None and spec.origin else None


_INTERNAL_DIRS = tuple(
    d + os.sep  # with the separator: /repo/tracer_demo.py is user code, not tracer's
    for d in (
        os.path.dirname(os.path.abspath(__file__)),
        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "compiler"),
        os.path.dirname(np.__file__),
        os.path.dirname(contextlib.__file__),
        _package_dir("scipy"),  # SciPy's Python functions call NumPy on the user's behalf
    )
    if d is not None
)
_internal_cache: dict[str, bool] = {}


def is_internal(filename: str) -> bool:
    hit = _internal_cache.get(filename)
    if hit is None:
        path = os.path.abspath(filename)
        hit = path.startswith(_INTERNAL_DIRS) or filename.startswith("<frozen")
        _internal_cache[filename] = hit
    return hit


def user_frame():
    """The innermost stack frame of user code (not tracegrad, NumPy, SciPy or the stdlib)."""
    frame = sys._getframe(1)
    while frame is not None and is_internal(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def user_source() -> str | None:
    """``"file.py:LINE"`` of the user code that is running now."""
    frame = user_frame()
    if frame is None:
        return None
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def user_location() -> str:
    """Full ``path:LINE`` of the user's code, for error messages."""
    frame = user_frame()
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"
