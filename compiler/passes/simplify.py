"""Algebraic simplification: local rewrites driven by a worklist.

Each rule looks at one node and its operands and returns a replacement node
(an operand, or a new node built from the operands) or None. A rewrite puts
the node's users back on the worklist, so chains collapse in one run, and
every node is visited a bounded number of times (near-linear).

Rules (the replacement always has the node's exact shape and dtype; when an
operand is smaller it is broadcast):

- identities: ``x+0``, ``0+x``, ``x-0``, ``x*1``, ``1*x``, ``x/1``, ``x**1``,
  ``astype`` to the same dtype, ``where(c, x, x)``, ``where`` on a constant
  condition, a full-slice ``getitem``;
- zeros: ``0*x``, ``x*0`` and ``x-x`` (NumPy code that relies on ``0*inf``
  being NaN should not be compiled; autodiff produces many such zeros);
- signs: ``neg(neg(x))``, ``0-x``, ``x*-1``, ``x+neg(y)``, ``neg(y)+x``,
  ``x-neg(y)``, ``neg(x)*neg(y)``, ``neg(x)*k``, ``neg(x*k)``, ``neg(x-y)``, and
  ``neg(x)*y``/``neg(x)-y`` move the sign outwards (where ``+``/``-`` absorb it);
- constants (exact rewrites only): ``(x*k1)*k2`` when ``k1`` or ``k2`` is a power
  of two, ``x/2**k`` as a multiplication;
- factoring: ``x*y + x*z`` is ``x*(y + z)`` (and ``-``) when the products have no
  other use: one multiplication fewer, not bit-identical;
- powers: ``x**0``, ``x**2``, ``x**3``, ``x**4``, ``x**-1``, ``x**-2``,
  ``x**0.5`` become ``square``/``mul``/``reciprocal``/``sqrt``; ``x*x`` is
  ``square(x)``;
- shapes: ``squeeze``/``expand_dims`` become ``reshape``; chains of
  ``reshape``, of ``transpose`` and of ``broadcast_to`` merge into one; a
  reshape/transpose/broadcast that changes nothing disappears;
- reductions: ``sum``/``max``/``min`` over size-1 axes become ``reshape``;
- elementwise ops read ``x`` rather than ``broadcast_to(x)`` when their own
  broadcasting gives the same shape.
"""

from __future__ import annotations

import math

import numpy as np

from compiler.passes._graph import add_node, copy_graph, operands
from tracer.graph import Graph

_VIEW_CHAIN = ("broadcast_to", "reshape", "expand_dims", "squeeze", "transpose")


def simplify(graph: Graph) -> Graph:
    """A copy of ``graph`` with the algebraic rewrites above applied to a fixed point."""
    g = copy_graph(graph)
    run_simplify(g)
    return g


class _Ctx:
    def __init__(self, g: Graph):
        self.g = g
        self.nodes = g._node
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
            (u,) = self.g._pred[n]
            val = self.uniform(u)
        cache[n] = val
        return val

    def is_value(self, n: int, value) -> bool:
        u = self.uniform(n)
        return u is not None and u == value

    def op(self, n: int) -> str:
        return self.nodes[n]["op"]

    def arg0(self, n: int) -> int:
        return next(iter(self.g._pred[n]))

    def shape(self, n: int) -> tuple:
        return tuple(self.nodes[n]["shape"])

    def dtype(self, n: int) -> str:
        return self.nodes[n]["dtype"]

    def new(self, op: str, args: list[int], params: dict, like: int, shape=None, dtype=None):
        d = self.nodes[like]
        return add_node(self.g, op, args, params,
                        d["shape"] if shape is None else shape,
                        d["dtype"] if dtype is None else dtype, like)  # fmt: skip

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
        return self.new("broadcast_to", [x], {"shape": sl}, like)

    def filled(self, like: int, value):
        """A constant of ``like``'s shape and dtype, every element ``value``."""
        dtype = np.dtype(self.dtype(like))
        arr = np.array(value, dtype=dtype)
        arr.setflags(write=False)
        c = add_node(self.g, "const", [], {}, (), dtype, like, value=arr)
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
        return add_node(self.g, "const", [], {}, (), arr.dtype, like, value=arr)

    def sole_use(self, n: int) -> bool:
        """True when ``n`` has exactly one user, once (so rewriting that user frees it)."""
        succ = self.g._succ[n]
        return len(succ) == 1 and all(len(k) == 1 for k in succ.values())

    def scaled(self, n: int):
        """``(x, k)`` when ``n`` is ``x * k`` for a 0-d constant ``k`` (either side)."""
        if self.op(n) != "mul":
            return None
        a, b = operands(self.g, n)
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


def _pow2(k) -> bool:
    """Scaling by a power of two is exact, so constants next to one reassociate exactly."""
    v = k.item() if hasattr(k, "item") else k
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v == 0:
        return False
    return math.frexp(abs(v))[0] == 0.5


_KIND: dict[str, str] = {}


def _kind(c: _Ctx, n: int) -> str:
    name = c.nodes[n]["dtype"]
    kind = _KIND.get(name)
    if kind is None:
        kind = _KIND[name] = np.dtype(name).kind
    return kind


def _float(c: _Ctx, n: int) -> bool:
    return _kind(c, n) in "fc"


def _numeric(c: _Ctx, n: int) -> bool:
    return _kind(c, n) in "iufc"


# ----- arithmetic -----


def _is(u, value) -> bool:
    return u is not None and u == value


def _add(c: _Ctx, n, a, b):
    ua, ub = c.uniform(a), c.uniform(b)
    if _is(ub, 0):
        return c.fit(a, n), "x+0"
    if _is(ua, 0):
        return c.fit(b, n), "x+0"
    oa, ob = c.op(a), c.op(b)
    if ob == "neg":
        return c.new("sub", [a, c.arg0(b)], {}, n), "x+neg(y)"
    if oa == "neg":
        return c.new("sub", [b, c.arg0(a)], {}, n), "x+neg(y)"
    if oa == ob == "mul":
        return _factor(c, n, a, b, "add")
    return None, None


def _factor(c: _Ctx, n, a, b, op):
    """``x*y + x*z`` -> ``x*(y+z)`` (and ``-``): one multiplication fewer (rounds differently)."""
    if not (c.op(a) == c.op(b) == "mul" and _float(c, n) and c.sole_use(a) and c.sole_use(b)):
        return None, None
    pa, pb = operands(c.g, a), operands(c.g, b)
    dt = c.dtype(n)
    if any(c.dtype(u) != dt for u in (*pa, *pb)):
        return None, None
    for i in (0, 1):
        for j in (0, 1):
            if pa[i] == pb[j]:
                y, z = pa[1 - i], pb[1 - j]
                try:
                    inner_shape = tuple(np.broadcast_shapes(c.shape(y), c.shape(z)))
                except ValueError:
                    return None, None
                inner = c.new(op, [y, z], {}, n, shape=inner_shape)
                return c.new("mul", [pa[i], inner], {}, n), f"x*y{'+' if op == 'add' else '-'}x*z"
    return None, None


def _sub(c: _Ctx, n, a, b):
    ua, ub = c.uniform(a), c.uniform(b)
    if _is(ub, 0):
        return c.fit(a, n), "x-0"
    if a == b and _numeric(c, n):
        return c.filled(n, 0), "x-x"
    if _is(ua, 0) and _numeric(c, n):
        return c.unary("neg", b, n), "0-x"
    oa, ob = c.op(a), c.op(b)
    if ob == "neg":
        return c.new("add", [a, c.arg0(b)], {}, n), "x-neg(y)"
    if oa == "neg" and _float(c, n) and c.sole_use(a):
        return c.new("neg", [c.new("add", [c.arg0(a), b], {}, n)], {}, n), "neg(x)-y"
    if oa == ob == "mul":
        return _factor(c, n, a, b, "sub")
    return None, None


def _mul(c: _Ctx, n, a, b):
    ua, ub = c.uniform(a), c.uniform(b)
    if ua is not None or ub is not None:
        if _is(ub, 1):
            return c.fit(a, n), "x*1"
        if _is(ua, 1):
            return c.fit(b, n), "x*1"
        numeric = _numeric(c, n)
        if (_is(ua, 0) or _is(ub, 0)) and numeric:
            return c.filled(n, 0), "x*0"
        if _is(ub, -1) and numeric:
            return c.unary("neg", a, n), "x*-1"
        if _is(ua, -1) and numeric:
            return c.unary("neg", b, n), "x*-1"
    if a == b and _numeric(c, n):
        return c.unary("square", a, n), "x*x"
    oa, ob = c.op(a), c.op(b)
    if oa == ob == "neg":
        return c.new("mul", [c.arg0(a), c.arg0(b)], {}, n), "neg*neg"
    if oa not in ("neg", "mul") and ob not in ("neg", "mul") or not _float(c, n):
        return None, None
    for x, k in ((a, b), (b, a)):
        kv = c.scalar(k)
        if kv is None or c.dtype(x) != c.dtype(n):
            continue
        if c.op(x) == "neg":  # -x * k = x * -k, exactly
            return c.new("mul", [c.arg0(x), c.const(-kv, n)], {}, n), "neg(x)*k"
        inner = c.scaled(x)
        if inner is not None and c.dtype(inner[0]) == c.dtype(n):
            y, kv2 = inner
            if _pow2(kv) or _pow2(kv2):  # exact: (y*k2)*k = y*(k2*k)
                k12 = c.const(np.multiply(kv2, kv, dtype=c.dtype(n)), n)
                return c.new("mul", [y, k12], {}, n), "(x*k1)*k2"
    for x, y in ((a, b), (b, a)):
        if c.op(x) == "neg" and c.sole_use(x) and c.scalar(y) is None:
            m = c.new("mul", [c.arg0(x), y], {}, n)  # move the sign out, where +/- absorb it
            return c.new("neg", [m], {}, n), "neg(x)*y"
    return None, None


def _div(c: _Ctx, n, a, b):
    if c.is_value(b, 1):
        return c.fit(a, n), "x/1"
    kv = c.scalar(b)
    if kv is not None and _float(c, n) and c.dtype(a) == c.dtype(n) and _pow2(kv):
        inv = np.divide(1, kv, dtype=c.dtype(n))  # exact for a power of two
        return c.new("mul", [a, c.const(inv, n)], {}, n), "x/2**k"
    return None, None


def _pow(c: _Ctx, n, a, b):
    p = c.uniform(b)
    if p is None or isinstance(p, (bool, complex)) or c.dtype(a) != c.dtype(n):
        return None, None
    if p == 1:
        return c.fit(a, n), "x**1"
    if p == 0:
        return c.filled(n, 1), "x**0"
    kind = np.dtype(c.dtype(n)).kind
    if kind not in "iuf" or (kind != "f" and p < 0):
        return None, None
    if p == 2:
        return c.unary("square", a, n), "x**2"
    if p in (3, 4):
        sq = c.new("square", [a], {}, n, shape=c.shape(a))
        y = c.new("mul", [sq, a], {}, n, shape=c.shape(a)) if p == 3 else c.unary("square", sq, n)
        return (c.fit(y, n) if p == 3 else y), f"x**{int(p)}"
    if kind == "f" and p == -1:
        return c.unary("reciprocal", a, n), "x**-1"
    if kind == "f" and p == -2:
        sq = c.new("square", [a], {}, n, shape=c.shape(a))
        return c.unary("reciprocal", sq, n), "x**-2"
    if kind == "f" and p == 0.5:
        return c.unary("sqrt", a, n), "x**0.5"
    return None, None


def _neg(c: _Ctx, n, a):
    if c.op(a) == "neg":
        return c.fit(c.arg0(a), n), "neg(neg(x))"
    inner = c.scaled(a)
    if inner is not None and _float(c, n) and c.dtype(inner[0]) == c.dtype(n):
        return c.new("mul", [inner[0], c.const(-inner[1], n)], {}, n), "neg(x*k)"
    if c.op(a) == "sub" and _float(c, n) and c.sole_use(a):
        x, y = operands(c.g, a)
        return c.new("sub", [y, x], {}, n), "neg(x-y)"
    return None, None


def _astype(c: _Ctx, n, a):
    if c.dtype(a) == c.dtype(n):
        return a, "astype(same)"
    return None, None


def _where(c: _Ctx, n, cond, x, y):
    if x == y:
        return c.fit(x, n), "where(c,x,x)"
    flag = c.uniform(cond)
    if flag is True:
        return c.fit(x, n), "where(True)"
    if flag is False:
        return c.fit(y, n), "where(False)"
    return None, None


def _unbroadcast(c: _Ctx, n, *args):
    """An elementwise op broadcasts by itself: read ``x`` instead of ``broadcast_to(x)``."""
    shape = c.shape(n)
    new = list(args)
    for i, a in enumerate(args):
        if c.op(a) != "broadcast_to":
            continue
        trial = new[:i] + [c.arg0(a)] + new[i + 1 :]
        if tuple(np.broadcast_shapes(*(c.shape(t) for t in trial))) == shape:
            new = trial
    if new == list(args):
        return None, None
    return c.new(c.op(n), new, c.nodes[n]["params"], n), "operand broadcast_to dropped"


# ----- shapes -----


def _reshape(c: _Ctx, n, a):
    shape = c.shape(n)
    if c.shape(a) == shape:
        return a, "reshape(same)"
    if c.op(a) in ("reshape", "squeeze", "expand_dims"):
        inner = c.arg0(a)
        if c.shape(inner) == shape:
            return inner, "reshape chain"
        return c.new("reshape", [inner], {"shape": shape}, n), "reshape chain"
    return None, None


def _as_reshape(c: _Ctx, n, a):
    return c.new("reshape", [a], {"shape": c.shape(n)}, n), "squeeze/expand_dims->reshape"


def _transpose(c: _Ctx, n, a):
    axes = tuple(c.nodes[n]["params"]["axes"])
    if axes == tuple(range(len(axes))):
        return a, "transpose(identity)"
    if c.op(a) == "transpose":
        inner_axes = tuple(c.nodes[a]["params"]["axes"])
        composed = tuple(int(inner_axes[i]) for i in axes)
        inner = c.arg0(a)
        if composed == tuple(range(len(composed))):
            return inner, "transpose chain"
        return c.new("transpose", [inner], {"axes": composed}, n), "transpose chain"
    return None, None


def _broadcast_to(c: _Ctx, n, a):
    if c.shape(a) == c.shape(n):
        return a, "broadcast_to(same)"
    if c.op(a) == "broadcast_to":
        inner = c.arg0(a)
        return c.new("broadcast_to", [inner], {"shape": c.shape(n)}, n), "broadcast chain"
    return None, None


def _reduce(c: _Ctx, n, a):
    d = c.nodes[n]
    shape_a = c.shape(a)
    if c.dtype(a) != c.dtype(n) or any(shape_a[i] != 1 for i in d["params"]["axis"]):
        return None, None
    if c.shape(n) == shape_a:
        return a, f"{d['op']} over size-1 axes"
    return c.new("reshape", [a], {"shape": c.shape(n)}, n), f"{d['op']} over size-1 axes"


def _getitem(c: _Ctx, n, a, *arrays):
    if arrays:
        return None, None
    index = c.nodes[n]["params"]["index"]
    shape = c.shape(a)
    if len(index) == len(shape) and all(
        it[0] == "slice" and it[1] == 0 and it[2] == dim and it[3] == 1
        for it, dim in zip(index, shape)
    ):
        return a, "getitem(full slice)"
    return None, None


_U = (_unbroadcast,)
RULES = {
    "add": (_add, *_U), "sub": (_sub, *_U), "mul": (_mul, *_U), "div": (_div, *_U),
    "pow": (_pow, *_U), "maximum": _U, "minimum": _U, "less": _U, "less_equal": _U,
    "greater": _U, "greater_equal": _U, "equal": _U, "not_equal": _U, "logical_and": _U,
    "logical_or": _U, "where": (_where, *_U), "neg": (_neg,), "astype": (_astype,),
    "reshape": (_reshape,), "squeeze": (_as_reshape,), "expand_dims": (_as_reshape,),
    "transpose": (_transpose,), "broadcast_to": (_broadcast_to,), "sum": (_reduce,),
    "max": (_reduce,), "min": (_reduce,), "getitem": (_getitem,),
}  # fmt: skip


def run_simplify(g: Graph) -> dict[str, int]:
    """Apply the rewrites to ``g`` in place; return a count per rule that fired."""
    from compiler.passes.sweep import run_sweep

    return dict(run_sweep(g, ("simplify",))["simplify"])
