"""Tree utilities for users: map, flatten and rebuild the pytrees every transformation accepts.

A pytree is a nest of tuples, lists, dicts (keys sorted, as in JAX), namedtuples
and ``None`` (an empty container), whose other objects are its *leaves*; these
are the containers ``trace``, ``grad``, ``jacobian``, ``vjp``, ``jvp`` take and
return, so ``tree_map`` over a gradient dict gives a dict like the parameters:

>>> import numpy as np
>>> from tracer import tree_map
>>> params = {"W": np.ones((2, 2)), "b": np.zeros(2)}
>>> grads = {"W": np.full((2, 2), 0.5), "b": np.ones(2)}
>>> new = tree_map(lambda p, g: p - 0.1 * g, params, grads)
>>> new["b"]
array([-0.1, -0.1])

The structure (``PyTreeDef``) is plain data underneath (``tracer.pytree``): a
namedtuple's class is named by its import path and found again among the
namedtuple classes this process has flattened, never imported; a structure
loaded from a file whose class this process has not met rebuilds a plain tuple.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tracer.errors import TracegradError
from tracer.pytree import flatten, is_namedtuple, num_leaves, unflatten

__all__ = [
    "PyTreeDef", "tree_flatten", "tree_leaves", "tree_map", "tree_structure", "tree_unflatten",
]  # fmt: skip


class PyTreeDef:
    """The structure of a pytree (its containers, without the leaves).

    Equal structures compare equal and hash alike; ``.num_leaves`` counts the
    leaves; ``.unflatten(leaves)`` rebuilds a tree; ``.to_dict()`` is the plain
    JSON-able treedef the graphs store (``in_tree``, ``out_tree``).

    Example:
        >>> from tracer import tree_structure
        >>> tree_structure({"a": 1.0, "b": (2.0, None)})
        PyTreeDef({'a': *, 'b': (*, None)})
    """

    __slots__ = ("_tree", "_key")

    def __init__(self, tree: dict):
        self._tree = tree
        self._key = json.dumps(tree, sort_keys=True, default=repr)

    @property
    def num_leaves(self) -> int:
        return num_leaves(self._tree)

    def unflatten(self, leaves) -> Any:
        """The tree of this structure holding ``leaves`` (in flatten order)."""
        return tree_unflatten(self, leaves)

    def to_dict(self) -> dict:
        """The plain treedef (a copy)."""
        return json.loads(json.dumps(self._tree, default=repr))

    def __eq__(self, other) -> bool:
        return isinstance(other, PyTreeDef) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"PyTreeDef({_show(self._tree)})"


def _show(td: dict) -> str:
    kind = td["type"]
    if kind == "leaf":
        return "*"
    if kind == "none":
        return "None"
    if kind == "static":
        return "static"
    inner = [_show(c) for c in td["children"]]
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in zip(td["keys"], inner)) + "}"
    if kind == "namedtuple":
        name = td["class"].rsplit(".", 1)[-1]
        return f"{name}(" + ", ".join(f"{f}={v}" for f, v in zip(td["fields"], inner)) + ")"
    if kind == "list":
        return "[" + ", ".join(inner) + "]"
    return "(" + ", ".join(inner) + ("," if len(inner) == 1 else "") + ")"


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, PyTreeDef]:
    """The leaves of ``tree`` (in order: sequences by position, dicts by sorted key) and its
    structure.

    Args:
        tree: a pytree.
        is_leaf: called on every node; True stops the flattening there (the node is a leaf).

    Returns:
        ``(leaves, treedef)``; ``tree_unflatten(treedef, leaves)`` rebuilds ``tree``.

    Example:
        >>> from collections import namedtuple
        >>> from tracer import tree_flatten
        >>> Point = namedtuple("Point", "x y")
        >>> leaves, treedef = tree_flatten([Point(1.0, 2.0), {"z": 3.0}])
        >>> leaves
        [1.0, 2.0, 3.0]
        >>> treedef
        PyTreeDef([Point(x=*, y=*), {'z': *}])
    """
    leaves, td = flatten(tree, is_leaf)
    return leaves, PyTreeDef(td)


def tree_unflatten(treedef: PyTreeDef, leaves) -> Any:
    """The tree of structure ``treedef`` holding ``leaves`` (in flatten order).

    Example:
        >>> from tracer import tree_flatten, tree_unflatten
        >>> _, treedef = tree_flatten({"a": 1.0, "b": (2.0, 3.0)})
        >>> tree_unflatten(treedef, [10.0, 20.0, 30.0])
        {'a': 10.0, 'b': (20.0, 30.0)}
    """
    td = treedef._tree if isinstance(treedef, PyTreeDef) else treedef
    if not isinstance(td, dict) or "type" not in td:
        raise TypeError(f"tree_unflatten: expected a PyTreeDef, got {type(treedef).__name__}")
    leaves = list(leaves)
    if len(leaves) != num_leaves(td):
        raise TracegradError(
            f"tree_unflatten: the structure holds {num_leaves(td)} leaves, got {len(leaves)}"
        )
    return unflatten(td, leaves)


def tree_leaves(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> list:
    """The leaves of ``tree`` in flatten order (``None`` has none).

    Example:
        >>> from tracer import tree_leaves
        >>> tree_leaves({"b": [1.0, None], "a": 2.0})
        [2.0, 1.0]
    """
    return flatten(tree, is_leaf)[0]


def tree_structure(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> PyTreeDef:
    """The structure of ``tree`` (its ``PyTreeDef``).

    Example:
        >>> from tracer import tree_structure
        >>> tree_structure((1.0, [2.0, 3.0])) == tree_structure((0.0, [0.0, 0.0]))
        True
    """
    return PyTreeDef(flatten(tree, is_leaf)[1])


def tree_map(f: Callable, tree: Any, *rest: Any, is_leaf: Callable[[Any], bool] | None = None):
    """``f`` applied leaf by leaf, as a tree of the same structure.

    Args:
        f: a function of as many arguments as there are trees.
        tree: a pytree; its leaves are ``f``'s first arguments.
        *rest: trees with ``tree``'s structure, or with ``tree``'s structure as a prefix
            (then the subtree at each of ``tree``'s leaves is passed whole), as in JAX.
        is_leaf: as for ``tree_flatten`` (applied to ``tree``).

    Returns:
        A tree of ``tree``'s structure holding ``f(leaf, *corresponding leaves)``.

    Example:
        >>> import numpy as np
        >>> from tracer import tree_map
        >>> tree_map(lambda x, y: x + y, {"a": 1.0, "b": (2.0,)}, {"a": 10.0, "b": (20.0,)})
        {'a': 11.0, 'b': (22.0,)}
    """
    leaves, td = flatten(tree, is_leaf)
    columns = [_flatten_up_to(td, other, i + 1) for i, other in enumerate(rest)]
    return unflatten(td, [f(*args) for args in zip(leaves, *columns)])


def _flatten_up_to(td: dict, tree: Any, which: int) -> list:
    """The subtrees of ``tree`` at the leaf positions of structure ``td`` (``tree`` must
    have ``td`` as a prefix of its structure)."""
    out: list = []
    stack = [(td, tree, "")]
    while stack:
        node, sub, path = stack.pop()
        kind = node["type"]
        if kind == "leaf":
            out.append(sub)
            continue
        if kind == "none":
            if sub is not None:
                raise _mismatch(which, path, "None", sub)
            continue
        children = node.get("children", [])
        if kind == "dict":
            if not isinstance(sub, dict) or sorted(sub, key=repr) != sorted(node["keys"], key=repr):
                raise _mismatch(which, path, f"a dict with keys {node['keys']}", sub)
            items = [(sub[k], f"{path}[{k!r}]") for k in node["keys"]]
        else:
            want = {"tuple": tuple, "list": list, "namedtuple": tuple}.get(kind)
            ok = want is not None and isinstance(sub, want) and len(sub) == len(children)
            if ok and (kind == "namedtuple") != is_namedtuple(sub):
                ok = False
            if not ok:
                raise _mismatch(which, path, f"a {kind} of {len(children)} items", sub)
            items = [(s, f"{path}[{i}]") for i, s in enumerate(sub)]
        for c, (s, p) in reversed(list(zip(children, items))):
            stack.append((c, s, p))
    return out


def _mismatch(which: int, path: str, want: str, got) -> TracegradError:
    where = f" at {path}" if path else ""
    return TracegradError(
        f"tree_map: tree {which} does not have the first tree's structure{where}: expected "
        f"{want}, got {type(got).__name__} {got!r:.60}"
    )
