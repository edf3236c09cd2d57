"""Why NumPy asked a traced value for its numbers (``__array__``), and what to write instead.

NumPy gives a tracer no hook in ``np.array([a, b])``, ``np.asarray(x)``, a NumPy array
indexed by a traced index (``np.eye(k)[y]``) or written with a traced value, nor in
SciPy's Python functions, which call ``np.asarray`` (``scipy.stats.norm.logpdf``,
``scipy.special.logsumexp``). Each ends in ``TracedArray.__array__``; the stack above it
tells which case it is: a SciPy frame names the SciPy function (and its
``tracer.scipy`` twin), otherwise the user's instruction does (a subscript, a store,
a call of ``np.array``/``np.asarray`` with a list or not, read from its source).
"""

from __future__ import annotations

import ast
import dis
import importlib
import linecache
from types import FrameType

from tracer.frames import is_internal, user_location

_CONVERTERS = frozenset({"array", "asarray", "asanyarray", "ascontiguousarray", "asfortranarray"})
_WRAPPERS = frozenset({"wrapper", "wrapped", "inner", "decorator", "__call__"})

_LIST = (
    "np.array([...]) of traced values",
    "np.stack([a, b, ...]) (for nested lists, np.stack of np.stack)",
)
_ASARRAY = (
    "np.asarray(x) (or np.array(x)) of a traced value",
    "x itself: a traced value already behaves like an array (x.astype(dtype) for a dtype)",
)
_INDEX = (
    "indexing a NumPy array with a traced index (table[i])",
    "tracer.ops.getitem(table, i), or make the table traced by passing it as an argument "
    "(a one-hot row np.eye(k)[i] is (i[..., None] == np.arange(k)).astype(float))",
)
_STORE = (
    "storing a traced value into a NumPy array (a[i] = x)",
    "a new array: np.stack or np.concatenate of the pieces, or np.where(mask, x, a)",
)
_GENERIC = (
    "converting a traced value to a NumPy array (np.asarray, np.array, or indexing a NumPy "
    "array with it)",
    "np.stack([a, b]) for np.array([a, b]), x itself for np.asarray(x), "
    "tracer.ops.getitem(table, i) for table[i] with a NumPy table",
)


def conversion_message(value, frame: FrameType | None) -> str:
    """The ``TracingError`` text for ``value.__array__`` called from ``frame``."""
    try:
        what, instead = _diagnose(frame)
    except Exception:  # a diagnosis is a courtesy: never let it hide the error itself
        what, instead = _GENERIC
    return (
        f"{what} needs concrete numbers, but {value!r} is traced (at {user_location()}); "
        f"write {instead} instead"
    )


def _diagnose(frame: FrameType | None) -> tuple[str, str]:
    scipy_frames = []
    while frame is not None and is_internal(frame.f_code.co_filename):
        if frame.f_globals.get("__name__", "").startswith("scipy."):
            scipy_frames.append(frame)
        frame = frame.f_back
    if scipy_frames:
        return _scipy(scipy_frames[::-1])  # outermost first
    if frame is None:
        return _GENERIC
    return _at_instruction(frame)


# ----- SciPy's Python functions -----


def _scipy(frames: list[FrameType]) -> tuple[str, str]:
    for frame in frames:
        name = frame.f_code.co_name
        if name.isidentifier() and not name.startswith("_") and name not in _WRAPPERS:
            break
    else:
        frame = frames[0]
        name = frame.f_code.co_name
    module = frame.f_globals.get("__name__", "scipy")
    package = ".".join(module.split(".")[:2])  # scipy.special._logsumexp -> scipy.special
    owner = frame.f_locals.get("self")
    if owner is not None and package == "scipy.stats":
        dist = getattr(owner, "dist", None) or getattr(owner, "_dist", None) or owner
        qualname = f"{package}.{type(dist).__name__.removesuffix('_gen')}.{name}"
    else:
        qualname = f"{package}.{name}"
    what = f"{qualname} (SciPy converts its arguments with np.asarray)"
    twin = "tracer." + qualname
    if _exists(twin):
        return what, f"{twin}(...), which has SciPy's signature and traces,"
    return what, (
        f"the formula with NumPy calls on the traced value (tracer.scipy has no twin of "
        f"{qualname}),"
    )


def _exists(dotted: str) -> bool:
    """True when ``tracer.scipy.<sub>.<name>...`` names something (sub is imported lazily)."""
    parts = dotted.split(".")
    if len(parts) < 4 or parts[:2] != ["tracer", "scipy"]:
        return False
    try:
        obj = importlib.import_module(".".join(parts[:3]))
    except ImportError:
        return False
    for part in parts[3:]:
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return True


# ----- the user's own instruction -----


def _at_instruction(frame: FrameType) -> tuple[str, str]:
    instruction = next(
        (i for i in dis.get_instructions(frame.f_code) if i.offset == frame.f_lasti), None
    )
    if instruction is None:
        return _GENERIC
    op = instruction.opname
    if op == "BINARY_SUBSCR" or op == "BINARY_OP" and instruction.argrepr == "[]":
        return _INDEX
    if op == "STORE_SUBSCR":
        return _STORE
    if op.startswith("CALL"):
        calls = [c for c in _calls(frame, instruction) if _callee(c) in _CONVERTERS]
        if calls and all(_list_argument(c) for c in calls):
            return _LIST
        if calls and not any(_list_argument(c) for c in calls):
            return _ASARRAY
    return _GENERIC


def _calls(frame: FrameType, instruction) -> list[ast.Call]:
    """The call the instruction makes, parsed from the source (3.11+: its exact span; 3.10:
    every call on its line)."""
    code = frame.f_code
    lines = linecache.getlines(code.co_filename, frame.f_globals)
    positions = getattr(instruction, "positions", None)
    if positions is not None and positions.lineno and positions.col_offset is not None:
        first, last = positions.lineno, positions.end_lineno
        chunk = "".join(lines[first - 1 : last]).encode()  # offsets count UTF-8 bytes
        start = positions.col_offset
        end = len(chunk) - len(lines[last - 1].encode()) + positions.end_col_offset
        source = chunk[start:end].decode()
        tree = ast.parse(f"(\n{source}\n)", mode="eval")
        return [tree.body] if isinstance(tree.body, ast.Call) else []
    line = linecache.getline(code.co_filename, frame.f_lineno, frame.f_globals).strip()
    try:
        tree = ast.parse(line)
    except SyntaxError:
        return []
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _list_argument(call: ast.Call) -> bool:
    first = call.args[0] if call.args else None
    return isinstance(first, (ast.List, ast.Tuple, ast.ListComp, ast.GeneratorExp))


__all__ = ["conversion_message"]
