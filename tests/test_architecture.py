"""The project's structural rules, checked on the source: the import graph has no cycle and
points from ``compiler`` to ``tracer`` only; a primitive is declared in one place (no table in
``compiler/`` names one) and its declaration holds every fact the compiler needs."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from tracer.primitives import METHODS, MODULES, NUMPY, PRIMITIVES
from tracer.primitives.base import CALL_IMPL

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tracer", "compiler")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def import_graph() -> nx.DiGraph:
    """Module -> module it imports, for every import statement (function-level ones too).

    ``from pkg import name`` is an edge to ``pkg.name`` when that is a module (as
    import-linter counts it), otherwise to ``pkg``.
    """
    modules = _modules()
    g = nx.DiGraph()
    for name, path in modules.items():
        g.add_node(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for t in targets:
                if t in modules and t != name:
                    g.add_edge(name, t)
    return g


def test_no_import_cycle_in_tracer_or_compiler():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_tracer_never_imports_compiler():
    g = import_graph()
    bad = [(u, v) for u, v in g.edges if u.startswith("tracer") and v.startswith("compiler")]
    assert not bad


def _strings_outside_docstrings(path: Path):
    """String constants of a module, but its docstrings and its ``__all__`` (which names the
    module's functions: ``compiler.stop_gradient`` is a function, not a table entry)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            docs.add(id(first.value))
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            docs.update(id(c) for c in ast.walk(node.value) if isinstance(c, ast.Constant))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


def test_compiler_keeps_no_table_keyed_by_primitive_names():
    """The compiler reads the declarations; a primitive's name in its code is a second table."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in sorted((ROOT / "compiler").rglob("*.py"))
        for line, value in _strings_outside_docstrings(path)
        if value in PRIMITIVES
    ]
    assert not found, "compiler/ names primitives:\n" + "\n".join(found)


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_primitive_declares_what_the_compiler_needs(name):
    p = PRIMITIVES[name]
    assert p.name == name and callable(p.impl) and callable(p.abstract_eval)
    assert p.arity is None or p.arity >= 1
    # derivatives: both rules, or a declared zero gradient
    assert (callable(p.vjp) and callable(p.jvp)) != p.zero_grad
    # generated code: a NumPy ufunc that is the implementation, or a lowering
    if p.ufunc is not None:
        assert getattr(np, p.ufunc) is p.impl
    else:
        assert callable(p.lower) or p.lower is CALL_IMPL
    for rewrite in p.rewrites:
        assert callable(rewrite)
    # vmap: a batching rule (tracer/primitives/batching.py has the interface and shared rules)
    assert callable(p.batch), f"{name} declares no batching rule (batch=...)"


# The primitives the array-API back end runs (a GPU's CuPy arrays): those declaring an
# ``array_api`` call (tests/compiler/test_array_api_backend.py checks each against NumPy).
# Adding one is a deliberate change of this list.
ARRAY_API = [
    "abs",
    "add",
    "after",
    "all",
    "any",
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctan2",
    "arctanh",
    "argmax",
    "argmin",
    "astype",
    "broadcast_to",
    "ceil",
    "clip",
    "concatenate",
    "copysign",
    "cos",
    "div",
    "equal",
    "exp",
    "expand_dims",
    "expm1",
    "floor",
    "floor_divide",
    "getitem",
    "greater",
    "greater_equal",
    "isfinite",
    "isinf",
    "isnan",
    "less",
    "less_equal",
    "log",
    "log1p",
    "logaddexp",
    "logical_and",
    "logical_not",
    "logical_or",
    "matmul",
    "max",
    "maximum",
    "min",
    "minimum",
    "mul",
    "neg",
    "not_equal",
    "pow",
    "prod",
    "reciprocal",
    "remainder",
    "reshape",
    "round",
    "scatter_add",
    "sign",
    "signbit",
    "sin",
    "sqrt",
    "square",
    "squeeze",
    "stack",
    "stop_gradient",
    "sub",
    "sum",
    "tan",
    "tanh",
    "transpose",
    "where",
]


def test_which_primitives_declare_an_array_api_call():
    declared = sorted(name for name, p in PRIMITIVES.items() if p.array_api is not None)
    assert declared == sorted(ARRAY_API)
    for name in declared:
        call = PRIMITIVES[name].array_api
        assert callable(call) or (isinstance(call, str) and call.isidentifier()), name


def test_each_primitive_is_declared_in_exactly_one_module():
    owners = {}
    for module in MODULES:
        for p in module.PRIMITIVES:
            assert p.name not in owners, f"{p.name} declared in {owners[p.name]} and {module}"
            owners[p.name] = module.__name__
    assert set(owners) == set(PRIMITIVES)


def test_numpy_tables_map_onto_traceable_functions():
    for np_fn, fn in NUMPY.items():
        assert callable(np_fn) and callable(fn), np_fn
    for name, method in METHODS.items():
        assert hasattr(np.ndarray, name) and callable(method), name
