"""Algebraic simplification: local rewrites, read from the primitives' declarations.

Each rewrite looks at one node and its operands and returns a replacement node
(an operand, or a new node built from the operands) or None; the sweep
(``sweep.py``) visits nodes in topological order, so chains collapse in one run.
Nothing here is keyed by a primitive's name: the rewrites a node gets are

- from its ``Algebra`` facts: identities (``x+0``, ``x*1``, ``x/1``, ``x**1``),
  absorbing elements (``x*0``: NumPy code that relies on ``0*inf`` being NaN should
  not be compiled; autodiff produces many such zeros), ``x-x``, involutions
  (``neg(neg(x))``) and idempotent ops;
- its own ``rewrites`` (signs moved outwards, ``x**2`` as ``square``, ``x*y + x*z``
  factored, chains of reshapes, transposes and broadcasts merged, ...: each
  primitive's module lists them);
- those of its kind: an elementwise op reads ``x`` rather than ``broadcast_to(x)``
  when its own broadcasting gives the same shape; a reduction over size-1 axes is
  a reshape.

A replacement always has the node's exact shape and dtype (a smaller operand is
broadcast). Inexact rewrites (factoring, ``x**3`` as products) are listed in
``compiler.passes``.
"""

from __future__ import annotations

import numpy as np

from tracer.graph import Graph
from tracer.primitives import PRIMITIVES
from tracer.primitives.elementwise import mul_p
from tracer.primitives.shape_ops import broadcast_to_p, reshape_p

# the ops the rewriting context itself builds or recognises (scaled copies, broadcasts)
_BROADCAST_TO, _RESHAPE, _MUL = broadcast_to_p.name, reshape_p.name, mul_p.name
# ops whose value is a view of their operand: a uniform operand gives a uniform value
_VIEW_CHAIN = frozenset(p.name for p in PRIMITIVES.values() if p.view and p.arity == 1)


class _Ctx:
    def __init__(self, g: Graph):
        self.g = g
        self.nodes = g.node_attrs
        self.uniform_cache: dict[int, object] = {}

    def uniform(self, n: int):
        """The single value every element of ``n`` has, if ``n`` is a (view of a) constant."""
        cache = self.uniform_cache
        if n in cache:
            return cache[n]
        d = self.nodes[n]
        val = None
        if d["op"] == "const":
            v = d["value"]
            if v.size:
                first = v.reshape(-1)[0]
                if v.size == 1 or bool((v == first).all()):
                    val = first.item()
        elif d["op"] in _VIEW_CHAIN:
            (u,) = self.g.operand_ids(n)
            val = self.uniform(u)
        cache[n] = val
        return val

    def is_value(self, n: int, value) -> bool:
        u = self.uniform(n)
        return u is not None and u == value

    def op(self, n: int) -> str:
        return self.nodes[n]["op"]

    def args(self, n: int) -> list[int]:
        return self.g.operands(n)

    def params(self, n: int) -> dict:
        return self.nodes[n]["params"]

    def is_float(self, n: int) -> bool:
        return _kind(self, n) in "fc"

    def is_numeric(self, n: int) -> bool:
        return _kind(self, n) in "iufc"

    def arg0(self, n: int) -> int:
        return next(iter(self.g.operand_ids(n)))

    def shape(self, n: int) -> tuple:
        return tuple(self.nodes[n]["shape"])

    def dtype(self, n: int) -> str:
        return self.nodes[n]["dtype"]

    def new(self, op: str, args: list[int], params: dict, like: int, shape=None, dtype=None):
        d = self.nodes[like]
        shape = d["shape"] if shape is None else shape
        return self.g.add_like(
            op, args, params, shape, d["dtype"] if dtype is None else dtype, like
        )

    def fit(self, x: int, like: int):
        """``x`` with the shape and dtype of ``like`` (broadcast if needed), or None."""
        if self.dtype(x) != self.dtype(like):
            return None
        sx, sl = self.shape(x), self.shape(like)
        if sx == sl:
            return x
        try:
            if tuple(np.broadcast_shapes(sx, sl)) != sl:
                return None
        except ValueError:
            return None
        return self.new(_BROADCAST_TO, [x], {"shape": sl}, like)

    def filled(self, like: int, value):
        """A constant of ``like``'s shape and dtype, every element ``value``."""
        dtype = np.dtype(self.dtype(like))
        arr = np.array(value, dtype=dtype)
        arr.setflags(write=False)
        c = self.g.add_like("const", [], {}, (), dtype, like, value=arr)
        return self.fit(c, like) if self.shape(like) else c

    def scalar(self, n: int):
        """The value of a 0-d constant node (exact dtype), or None."""
        d = self.nodes[n]
        if d["op"] != "const" or d["shape"]:
            return None
        return d["value"]

    def const(self, value, like: int) -> int:
        """A new 0-d constant of ``like``'s dtype."""
        arr = np.array(value, dtype=self.dtype(like))
        arr.setflags(write=False)
        return self.g.add_like("const", [], {}, (), arr.dtype, like, value=arr)

    def sole_use(self, n: int) -> bool:
        """True when ``n`` has exactly one user, once (so rewriting that user frees it)."""
        return self.g.sole_use(n)

    def scaled(self, n: int):
        """``(x, k)`` when ``n`` is ``x * k`` for a 0-d constant ``k`` (either side)."""
        if self.op(n) != _MUL:
            return None
        a, b = self.g.operands(n)
        if self.scalar(b) is not None:
            return a, self.scalar(b)
        if self.scalar(a) is not None:
            return b, self.scalar(a)
        return None

    def unary(self, op: str, x: int, like: int):
        """``op(x)`` fitted to ``like``; None unless ``x`` already has ``like``'s dtype."""
        if self.dtype(x) != self.dtype(like):
            return None
        y = self.new(op, [x], {}, like, shape=self.shape(x))
        return self.fit(y, like)


_KIND: dict[str, str] = {}


def _kind(c: _Ctx, n: int) -> str:
    name = c.nodes[n]["dtype"]
    kind = _KIND.get(name)
    if kind is None:
        kind = _KIND[name] = np.dtype(name).kind
    return kind


def _is(u, value) -> bool:
    return u is not None and u == value


# ----- rewrites from the primitives' algebraic facts -----


def _binary_facts(c: _Ctx, n, a, b):
    """Identities, absorbing elements, ``x op x`` (``Algebra`` of the node's primitive)."""
    prim = PRIMITIVES[c.op(n)]
    alg, sym = prim.algebra, prim.name
    ua, ub = c.uniform(a), c.uniform(b)
    if alg.identity is not None:
        if _is(ub, alg.identity):
            return c.fit(a, n), f"{sym}(x, {alg.identity})"
        if alg.commutative and _is(ua, alg.identity):
            return c.fit(b, n), f"{sym}(x, {alg.identity})"
    absorbing = alg.absorbing
    hit = _is(ub, absorbing) or alg.commutative and _is(ua, absorbing)
    if absorbing is not None and hit and c.is_numeric(n):
        return c.filled(n, absorbing), f"{sym}(x, {absorbing})"
    if a == b:
        if alg.self_inverse is not None and c.is_numeric(n):
            return c.filled(n, alg.self_inverse), f"{sym}(x, x)"
        if alg.idempotent:
            return c.fit(a, n), f"{sym}(x, x)"
    return None, None


def _unary_facts(c: _Ctx, n, a):
    """``f(f(x))`` for involutions and idempotent ops."""
    op = c.op(n)
    if c.op(a) != op:
        return None, None
    alg = PRIMITIVES[op].algebra
    if alg.involution:
        return c.fit(c.arg0(a), n), f"{op}({op}(x))"
    if alg.idempotent:
        return c.fit(a, n), f"{op}({op}(x))"
    return None, None


def _unbroadcast(c: _Ctx, n, *args):
    """An elementwise op broadcasts by itself: read ``x`` instead of ``broadcast_to(x)``."""
    shape = c.shape(n)
    new = list(args)
    for i, a in enumerate(args):
        if c.op(a) != _BROADCAST_TO:
            continue
        trial = new[:i] + [c.arg0(a)] + new[i + 1 :]
        if tuple(np.broadcast_shapes(*(c.shape(t) for t in trial))) == shape:
            new = trial
    if new == list(args):
        return None, None
    return c.new(c.op(n), new, c.nodes[n]["params"], n), "operand broadcast_to dropped"


def _reduce(c: _Ctx, n, a):
    """A reduction over size-1 axes is a reshape."""
    d = c.nodes[n]
    shape_a = c.shape(a)
    if c.dtype(a) != c.dtype(n) or any(shape_a[i] != 1 for i in d["params"]["axis"]):
        return None, None
    if c.shape(n) == shape_a:
        return a, f"{d['op']} over size-1 axes"
    return c.new(_RESHAPE, [a], {"shape": c.shape(n)}, n), f"{d['op']} over size-1 axes"


def _rules_of(prim) -> tuple:
    """The rewrites the sweep tries on a node of ``prim``, in order: its algebraic facts,
    its own rewrites, then the ones of its kind (elementwise, reduction)."""
    alg, arity = prim.algebra, prim.arity
    rules = []
    if arity == 2 and (alg.identity is not None or alg.absorbing is not None
                       or alg.self_inverse is not None or alg.idempotent):  # fmt: skip
        rules.append(_binary_facts)
    if arity == 1 and (alg.involution or alg.idempotent):
        rules.append(_unary_facts)
    rules.extend(prim.rewrites)
    if prim.elementwise and (arity is None or arity >= 2):
        rules.append(_unbroadcast)
    if alg.reduction:
        rules.append(_reduce)
    return tuple(rules)


# op name -> rewrites: derived from the declarations, once
REWRITES = {name: rules for name, prim in PRIMITIVES.items() if (rules := _rules_of(prim))}
