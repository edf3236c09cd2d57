"""``save``/``load``: graphs as versioned JSON, arrays included (base64), nothing ever executed.

A file is ``{"format": "tracegrad-graph", "version": 1, "graph": <node_link_data>}``
where arrays are ``{"__ndarray__": [dtype, shape, base64 bytes]}`` and tuples are
stored as lists (params and shapes come back as tuples). ``load`` checks the
whole structure and then runs ``validate``, so a malformed, truncated, cyclic or
type-confused file fails with ``GraphFormatError`` before anything uses it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import os
import stat

import networkx as nx
import numpy as np

from tracer.errors import GraphError, GraphFormatError, TracegradError
from tracer.graph import Graph
from tracer.spec import canonical_dtype
from tracer.staging import Bound
from tracer.validate import validate

FORMAT = "tracegrad-graph"
VERSION = 1
MAX_BYTES = 512 * 1024 * 1024  # refuse files larger than this before parsing
_NODE_KEYS = {"op", "params", "shape", "dtype", "value", "name", "source", "scope", "role",
              "capture",
              "grad_of", "seed", "accum", "id"}  # fmt: skip
_MAX_DEPTH = 64  # nesting allowed inside an attribute value (params are shallow)


def _encode(obj):
    if isinstance(obj, np.ndarray):
        arr = obj  # tobytes() is C-ordered whatever the layout
        return {"__ndarray__": [arr.dtype.name, list(arr.shape),
                                base64.b64encode(arr.tobytes()).decode("ascii")]}  # fmt: skip
    if isinstance(obj, (tuple, list)):
        return [_encode(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _encode(v) for k, v in obj.items()}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def to_json(graph: nx.MultiDiGraph) -> str:
    """The JSON text of ``graph`` (what ``save`` writes; ``from_json`` reads it back).

    Args:
        graph: a traced graph.

    Returns:
        The versioned JSON document as a string.
    """
    data = nx.node_link_data(graph, edges="edges")
    for node in data["nodes"]:
        # how a capture input is read at call time is the running program's, not the
        # file's: the file keeps the value it has now (outer traced values have none)
        fetch = node.pop("fetch", None)
        if fetch is not None and "value" not in node and not isinstance(fetch, Bound):
            with contextlib.suppress(NameError, TypeError, ValueError):
                node["value"] = np.asarray(fetch({}))
    return json.dumps({"format": FORMAT, "version": VERSION, "graph": _encode(data)})


def save(graph: nx.MultiDiGraph, path: str | os.PathLike) -> None:
    """Write ``graph`` to ``path`` as versioned JSON (atomically: a temp file, then rename).

    Every attribute is kept, constant arrays included (dtype, shape and data), so
    ``load(path)`` gives a graph that lists, evaluates and differentiates alike.

    Args:
        graph: a traced graph (``f.trace(...)``, ``grad(f).trace(...)``).
        path: the file to write; an existing file is replaced.

    Returns:
        None.

    Example:
        >>> import numpy as np
        >>> from tracer import evaluate, load, save, trace
        >>> g = trace(lambda x: np.exp(x) * 2.0).trace(np.ones(3))
        >>> save(g, "f.json")  # doctest: +SKIP
        >>> evaluate(load("f.json"), np.zeros(3))  # doctest: +SKIP
        array([2., 2., 2.])
    """
    text = to_json(graph)
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _decode_array(spec, where):
    if not (isinstance(spec, list) and len(spec) == 3):
        raise GraphFormatError(f"{where}: an array must be [dtype, shape, data]")
    dtype_name, shape, data = spec
    if not isinstance(dtype_name, str) or not isinstance(shape, list) or not isinstance(data, str):
        raise GraphFormatError(f"{where}: bad array encoding")
    try:
        dtype = canonical_dtype(dtype_name)
    except TracegradError as exc:
        raise GraphFormatError(f"{where}: {exc}") from None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise GraphFormatError(f"{where}: bad array shape {shape!r}")
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise GraphFormatError(f"{where}: array data is not base64: {exc}") from None
    count = math.prod(shape)  # Python ints: a huge shape cannot overflow into a match
    if len(raw) != count * dtype.itemsize:
        raise GraphFormatError(
            f"{where}: array data has {len(raw)} bytes, "
            f"{dtype}{shape} needs {count * dtype.itemsize}"
        )
    arr = np.frombuffer(raw, dtype=dtype).reshape(tuple(shape)).copy()
    arr.setflags(write=False)
    return arr


def _decode(obj, where, depth=0):
    """JSON value -> Python: lists become tuples, encoded arrays become ndarrays."""
    if depth > _MAX_DEPTH:
        raise GraphFormatError(f"{where}: attribute nested more than {_MAX_DEPTH} levels deep")
    if isinstance(obj, dict):
        if "__ndarray__" in obj:
            return _decode_array(obj["__ndarray__"], where)
        return {k: _decode(v, where, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return tuple(_decode(v, where, depth + 1) for v in obj)
    return obj


def _is_id(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def from_json(text: str) -> Graph:
    """Parse and check the JSON text of a graph."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise GraphFormatError(f"not a tracegrad graph file: invalid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise GraphFormatError(f"not a tracegrad graph file: 'format' is not {FORMAT!r}")
    if doc.get("version") != VERSION:
        raise GraphFormatError(
            f"unsupported graph file version {doc.get('version')!r}; this tracegrad reads {VERSION}"
        )
    data = doc.get("graph")
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("nodes"), list)
        or not isinstance(data.get("edges"), list)
    ):
        raise GraphFormatError("graph file has no 'nodes'/'edges' lists")
    g = Graph(name="loaded")
    attrs = data.get("graph") or {}
    if not isinstance(attrs, dict):
        raise GraphFormatError("graph attributes must be an object")
    for i, node in enumerate(data["nodes"]):
        where = f"node #{i}"
        if not isinstance(node, dict) or not _is_id(node.get("id")):
            raise GraphFormatError(f"{where}: a node needs an integer 'id'")
        unknown = set(node) - _NODE_KEYS
        if unknown:
            raise GraphFormatError(f"{where}: unknown node attributes {sorted(unknown)}")
        nid = node["id"]
        if nid in g:
            raise GraphFormatError(f"{where}: duplicate node id {nid}")
        where = f"node %{nid}"
        d = {k: _decode(v, where) for k, v in node.items() if k != "id"}
        if not isinstance(d.get("op"), str):
            raise GraphFormatError(f"{where}: 'op' must be a string")
        if not isinstance(d.get("params"), dict):
            raise GraphFormatError(f"{where}: 'params' must be an object")
        shape = d.get("shape")
        if not isinstance(shape, tuple) or not all(_is_id(s) and s >= 0 for s in shape):
            raise GraphFormatError(f"{where}: 'shape' must be a list of non-negative ints")
        if not isinstance(d.get("dtype"), str):
            raise GraphFormatError(f"{where}: 'dtype' must be a dtype name")
        try:
            d["dtype"] = canonical_dtype(d.get("dtype")).name
        except (TracegradError, TypeError) as exc:
            raise GraphFormatError(f"{where}: {exc}") from None
        for key in ("name", "source"):
            if d.get(key) is not None and not isinstance(d[key], str):
                raise GraphFormatError(f"{where}: {key!r} must be a string")
        scope = d.setdefault("scope", ())
        if not isinstance(scope, tuple) or not all(isinstance(s, str) for s in scope):
            raise GraphFormatError(f"{where}: 'scope' must be a list of strings")
        if "value" in d and not isinstance(d["value"], np.ndarray):
            raise GraphFormatError(f"{where}: 'value' must be an encoded array")
        if d.get("capture") is not None and not (
            isinstance(d["capture"], str) and d["op"] == "input"
        ):
            raise GraphFormatError(f"{where}: 'capture' must be a string on an input node")
        if "value" in d and d["op"] != "const" and d.get("capture") is None:
            raise GraphFormatError(f"{where}: only const nodes and capture inputs carry a 'value'")
        if _has_array(d["params"]):
            raise GraphFormatError(f"{where}: params must be plain JSON values, not arrays")
        if d.get("role") is not None and not isinstance(d["role"], str):
            raise GraphFormatError(f"{where}: 'role' must be a string")
        if d.get("grad_of") is not None and not _is_id(d["grad_of"]):
            raise GraphFormatError(f"{where}: 'grad_of' must be a node id")
        for key in ("seed", "accum"):
            if key in d and not isinstance(d[key], bool):
                raise GraphFormatError(f"{where}: {key!r} must be true or false")
        d.setdefault("name", None)
        d.setdefault("source", None)
        g.add_node(nid, **d)
    for i, edge in enumerate(data["edges"]):
        if not isinstance(edge, dict):
            raise GraphFormatError(f"edge #{i} must be an object")
        u, v, arg = edge.get("source"), edge.get("target"), edge.get("arg")
        if not (_is_id(u) and _is_id(v) and _is_id(arg)) or u not in g or v not in g:
            raise GraphFormatError(
                f"edge #{i}: needs existing 'source'/'target' nodes and an int 'arg'"
            )
        g.add_edge(u, v, arg=arg)
    for key in ("inputs", "outputs"):
        ids = attrs.get(key)
        if not isinstance(ids, list) or not all(_is_id(x) for x in ids):
            raise GraphFormatError(f"graph attribute {key!r} must be a list of node ids")
        g.graph[key] = ids
    captures = attrs.get("captures") or []
    if not isinstance(captures, list) or not all(_is_id(c) for c in captures):
        raise GraphFormatError("graph attribute 'captures' must be a list of node ids")
    arguments = g.graph["inputs"][: len(g.graph["inputs"]) - len(captures)]
    for key, ids in (("in_tree", arguments), ("out_tree", g.graph["outputs"])):
        tree = attrs.get(key)
        if tree is not None:
            leaves = _check_tree(tree, key)
            if leaves != len(ids):
                raise GraphFormatError(
                    f"graph attribute {key!r} has {leaves} leaves for {len(ids)} {key[:-5]}puts"
                )
        g.graph[key] = tree
    in_tree = g.graph["in_tree"]
    if in_tree is not None and not (
        in_tree["type"] == "tuple"
        and len(in_tree["children"]) == 2
        and in_tree["children"][0]["type"] == "tuple"
        and in_tree["children"][1]["type"] == "dict"
    ):
        raise GraphFormatError("graph attribute 'in_tree' must describe (args tuple, kwargs dict)")
    grads = attrs.get("grads")
    if grads is not None:
        if not isinstance(grads, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(_is_id(x) for x in p) for p in grads
        ):
            raise GraphFormatError("graph attribute 'grads' must be a list of [node, node] pairs")
        g.graph["grads"] = grads
    for key, value in attrs.items():  # other annotations (jacobian_mode, ...): scalars only
        if key not in g.graph and isinstance(value, (str, int, float, bool)):
            g.graph[key] = value
    if captures:
        g.graph["captures"] = list(captures)
    name = attrs.get("name", "loaded")
    g.graph["name"] = name if isinstance(name, str) else "loaded"
    g.new_id()  # ids continue after the largest loaded one
    try:
        validate(g)
    except GraphError as exc:
        raise GraphFormatError(f"graph file is not a valid graph: {exc}") from None
    return g


def _has_array(obj) -> bool:
    if isinstance(obj, np.ndarray):
        return True
    if isinstance(obj, dict):
        return any(_has_array(v) for v in obj.values())
    if isinstance(obj, tuple):
        return any(_has_array(v) for v in obj)
    return False


def _dict_key(k, key, depth=0):
    if isinstance(k, (str, int, float, bool)) or k is None:
        return k
    if isinstance(k, list) and depth < 8:
        return tuple(_dict_key(x, key, depth + 1) for x in k)
    raise GraphFormatError(f"graph attribute {key!r}: a dict key must be a scalar or a tuple")


def _check_tree(tree, key, depth=0) -> int:
    """Check a treedef read from a file; return its number of leaves."""
    if (
        depth > 100
        or not isinstance(tree, dict)
        or tree.get("type") not in ("leaf", "none", "static", "tuple", "list", "dict")
    ):
        raise GraphFormatError(f"graph attribute {key!r} is not a valid tree")
    if tree["type"] in ("tuple", "list", "dict"):
        children = tree.get("children")
        if not isinstance(children, list):
            raise GraphFormatError(f"graph attribute {key!r} is not a valid tree")
        if tree["type"] == "dict" and (
            not isinstance(tree.get("keys"), list) or len(tree["keys"]) != len(children)
        ):
            raise GraphFormatError(f"graph attribute {key!r}: dict keys do not match children")
        if tree["type"] == "dict":  # tuple keys were written as lists: make them hashable again
            tree["keys"] = [_dict_key(k, key) for k in tree["keys"]]
        return sum(_check_tree(c, key, depth + 1) for c in children)
    return 1 if tree["type"] == "leaf" else 0


def load(path: str | os.PathLike) -> Graph:
    """Read a graph written by ``save``. Never executes anything from the file.

    The file is checked as it is read (its size, the JSON, the format version,
    the IR schema), so a damaged or hostile file is an error, not a crash.

    Args:
        path: a file written by ``save``.

    Returns:
        The ``Graph``, equal to the one saved.

    Raises:
        GraphFormatError: the file is not a valid tracegrad graph (with the reason).

    Example:
        >>> from tracer import load
        >>> g = load("f.json")  # doctest: +SKIP
        >>> print(g)  # doctest: +SKIP
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise GraphFormatError(f"cannot read graph file {os.fspath(path)!r}: {exc}") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or /dev/zero would block or never end
        raise GraphFormatError(f"cannot read graph file {os.fspath(path)!r}: not a regular file")
    if st.st_size > MAX_BYTES:
        raise GraphFormatError(
            f"graph file {os.fspath(path)!r} is {st.st_size} bytes, over the limit"
        )
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_BYTES + 1)  # bounded even if the file grows while we read
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphFormatError(f"cannot read graph file {os.fspath(path)!r}: {exc}") from None
    return from_json(text)
