"""Pytrees: flatten nested tuples/lists/dicts/namedtuples of leaves and rebuild them from a
JSON-able treedef.

A treedef is plain data so that it can live in a graph's attributes and be saved:
``{"type": "leaf"}``, ``{"type": "none"}``, ``{"type": "static", "value": ...}``,
``{"type": "tuple"|"list", "children": [...]}``,
``{"type": "dict", "keys": [...], "children": [...]}``,
``{"type": "namedtuple", "class": "module.QualName", "fields": [...], "children": [...]}``.
Dict keys are sorted, as in JAX, so that equal dicts give equal treedefs.

A namedtuple's treedef names its class by import path; the class itself is found
again in a table of the namedtuple classes this process has flattened (weakly
held), never by importing anything. So a treedef read from a file rebuilds the
class only if this process has met it; otherwise it rebuilds a plain tuple.
Instances are rebuilt with ``cls._make`` (``tuple.__new__``), which runs no code
of the class.
"""

from __future__ import annotations

import weakref
from typing import Any

from tracer.errors import TracegradError

LEAF = {"type": "leaf"}

# "module.QualName" -> the namedtuple class flattened under that name (the latest one)
_NAMEDTUPLES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def is_namedtuple(node) -> bool:
    """True for an instance of a ``collections.namedtuple``/``typing.NamedTuple`` class."""
    return isinstance(node, tuple) and hasattr(type(node), "_fields") and hasattr(node, "_make")


def class_path(cls: type) -> str:
    """``module.QualName`` of a class (how a namedtuple treedef names it)."""
    return f"{cls.__module__}.{cls.__qualname__}"


def namedtuple_class(td: dict) -> type | None:
    """The class a namedtuple treedef node names, if this process has flattened it (and its
    fields still match), else None: the node then rebuilds as a plain tuple."""
    cls = _NAMEDTUPLES.get(td.get("class"))
    if cls is None or list(cls._fields) != list(td.get("fields", ())):
        return None
    return cls


def _sort_keys(d: dict) -> list:
    try:
        return sorted(d)
    except TypeError as exc:
        raise TracegradError(f"dict keys in a pytree must be sortable, got {list(d)!r}") from exc


def flatten(tree: Any, is_leaf=None) -> tuple[list, dict]:
    """Flatten ``tree`` into (leaves, treedef). Iterative, so deep trees do not recurse."""
    leaves: list = []
    # Build the treedef with an explicit stack: (node, parent_children_list)
    root: dict = {}
    stack = [(tree, root, None)]
    while stack:
        node, slot, _ = stack.pop()
        if is_leaf is not None and is_leaf(node):
            slot.update(LEAF)
            leaves.append(node)
        elif node is None:
            slot["type"] = "none"
        elif is_namedtuple(node):
            cls = type(node)
            path = class_path(cls)
            if _NAMEDTUPLES.get(path) is not cls:
                _NAMEDTUPLES[path] = cls
            slot["type"] = "namedtuple"
            slot["class"] = path
            slot["fields"] = list(cls._fields)
            slot["children"] = [{} for _ in node]
            for child, cslot in reversed(list(zip(node, slot["children"]))):
                stack.append((child, cslot, None))
        elif isinstance(node, (tuple, list)):
            slot["type"] = "tuple" if isinstance(node, tuple) else "list"
            slot["children"] = [{} for _ in node]
            for child, cslot in reversed(list(zip(node, slot["children"]))):
                stack.append((child, cslot, None))
        elif isinstance(node, dict):
            keys = _sort_keys(node)
            slot["type"] = "dict"
            slot["keys"] = keys
            slot["children"] = [{} for _ in keys]
            for key, cslot in reversed(list(zip(keys, slot["children"]))):
                stack.append((node[key], cslot, None))
        else:
            slot.update(LEAF)
            leaves.append(node)
    return leaves, root


def unflatten(treedef: dict, leaves) -> Any:
    """Rebuild the structure described by ``treedef`` from ``leaves`` (in flatten order)."""
    it = iter(leaves)
    out = _build(treedef, it)
    rest = list(it)
    if rest:
        raise TracegradError(f"unflatten: {len(rest)} leaves left over")
    return out


def _build(td: dict, it) -> Any:
    kind = td["type"]
    if kind == "leaf":
        try:
            return next(it)
        except StopIteration:
            raise TracegradError("unflatten: too few leaves for the tree") from None
    if kind == "none":
        return None
    if kind == "static":
        return td.get("value")
    children = [_build(c, it) for c in td["children"]]
    if kind == "tuple":
        return tuple(children)
    if kind == "list":
        return children
    if kind == "dict":
        return dict(zip(td["keys"], children))
    if kind == "namedtuple":
        cls = namedtuple_class(td)
        return tuple(children) if cls is None else cls._make(children)
    raise TracegradError(f"unknown treedef node type {kind!r}")


def num_leaves(treedef: dict) -> int:
    """How many leaves ``treedef`` holds."""
    if treedef["type"] == "leaf":
        return 1
    return sum(num_leaves(c) for c in treedef.get("children", ()))


def leaf_paths(tree: Any, prefix: str = "") -> list[str]:
    """JAX-style key paths of the leaves, in flatten order: ``w['W']``, ``xs[0]``, ``p.x``."""
    paths: list[str] = []
    stack = [(tree, prefix)]
    while stack:
        node, path = stack.pop()
        if node is None:
            continue
        if is_namedtuple(node):
            for i in reversed(range(len(node))):
                stack.append((node[i], f"{path}.{node._fields[i]}"))
        elif isinstance(node, (tuple, list)):
            for i in reversed(range(len(node))):
                stack.append((node[i], f"{path}[{i}]"))
        elif isinstance(node, dict):
            for key in reversed(_sort_keys(node)):
                stack.append((node[key], f"{path}[{key!r}]"))
        else:
            paths.append(path)
    return paths
