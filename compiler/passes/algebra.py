"""Algebraic value numbering: merge nodes that compute the same polynomial of the same values.

``(a + b) + a`` and ``2 * a + b``, or ``t * 4`` and ``(t * 2) * 2``, are one
value written two ways; plain CSE cannot see it. Each float node built from
primitives with an ``Algebra.poly`` fact (``add``, ``sub``, ``mul``, ``neg``,
``square``) and 0-d constants gets a polynomial over its *leaves* (every other
node, and constants that are not integers) with exact integer coefficients; two nodes with the same
polynomial, shape and dtype are merged (the first in topological order stays,
so numbers change only by rounding), and a node that is a constant multiple
``r`` of an earlier one becomes ``neg(first)`` or ``first * r`` (when ``r`` is
a float exactly), which frees the subgraph that computed it.
Higher-order derivatives are full of such repeats.

Never merged: polynomials in which a coefficient cancelled to zero on the way
(``(x + 2**52) - 2**52`` is a rounding trick, not ``x``), zero polynomials, and
anything too big to be worth it (``MAX_TERMS``, ``MAX_WORK``). The sweep only
runs this on graphs up to ``MAX_NODES`` nodes: it costs a few microseconds a
node and pays off on small, repetitive graphs.
"""

from __future__ import annotations

from fractions import Fraction

from tracer.primitives import PRIMITIVES

MAX_NODES = 10_000
MAX_TERMS = 16
MAX_WORK = 64  # term products per multiplication
MAX_DEGREE = 16


class Poly:
    """A polynomial: {monomial (sorted tuple of leaf ids): coefficient}, and a taint flag.

    The arithmetic operators give the polynomial of a sum, difference, product or
    negation, or None when it grows past ``MAX_TERMS``/``MAX_WORK``/``MAX_DEGREE``;
    a primitive's ``Algebra.poly`` fact applies them (``operator.add`` for ``add``).
    """

    __slots__ = ("terms", "tainted")

    def __init__(self, terms: dict, tainted: bool = False):
        self.terms = terms
        self.tainted = tainted

    def __add__(self, other: Poly) -> Poly | None:
        return _add(self, other, 1)

    def __sub__(self, other: Poly) -> Poly | None:
        return _add(self, other, -1)

    def __mul__(self, other: Poly) -> Poly | None:
        return _mul(self, other)

    def __neg__(self) -> Poly:
        return Poly({m: -c for m, c in self.terms.items()}, self.tainted)


def _accumulate(terms: dict, m: tuple, c) -> bool:
    """Add ``c`` to the coefficient of monomial ``m``; True when it cancels to 0."""
    v = terms.get(m, 0) + c
    if v == 0:
        terms.pop(m, None)
        return True
    terms[m] = v
    return False


def _add(p: Poly, q: Poly, sign: int) -> Poly | None:
    terms = dict(p.terms)
    tainted = p.tainted or q.tainted
    for m, c in q.terms.items():
        tainted |= _accumulate(terms, m, sign * c)
    return Poly(terms, tainted) if len(terms) <= MAX_TERMS else None


def _mul(p: Poly, q: Poly) -> Poly | None:
    if len(p.terms) * len(q.terms) > MAX_WORK:
        return None
    terms: dict = {}
    tainted = p.tainted or q.tainted
    for m1, c1 in p.terms.items():
        for m2, c2 in q.terms.items():
            m = tuple(sorted(m1 + m2)) if m1 and m2 else m1 or m2
            if len(m) > MAX_DEGREE:
                return None
            tainted |= _accumulate(terms, m, c1 * c2)
    return Poly(terms, tainted) if len(terms) <= MAX_TERMS else None


class PolyTable:
    """Polynomials of the nodes seen so far, and the first node of each polynomial."""

    def __init__(self, g):
        self.g = g
        self.poly: dict[int, Poly] = {}
        self.first: dict[tuple, int] = {}

    def leaf(self, n: int) -> Poly:
        p = self.poly.get(n)
        if p is None:
            p = self.poly[n] = Poly({(n,): 1})
        return p

    def key(self, n: int, d: dict, args: list[int] | None):
        """``(key, scale)`` of ``n``: nodes with one key are scalar multiples of each other
        (in the ratio of their scales); None when ``n`` must not be merged by value."""
        op = d["op"]
        p = None
        if d["dtype"][0] != "f" and not d["dtype"].startswith("complex"):
            return None
        if op == "const":
            if d["shape"]:
                return None
            v = d["value"].item()
            if not (isinstance(v, float) and v.is_integer() and abs(v) < 2.0**53):
                self.leaf(n)  # other constants are symbols: integer arithmetic stays fast
                return None
            c = int(v)
            p = Poly({(): c} if c else {}, not c)
        elif args is not None:
            poly = PRIMITIVES[op].algebra.poly
            if poly is not None:
                p = poly(*[self.poly.get(u) or self.leaf(u) for u in args])
        if p is None:
            self.leaf(n)
            return None
        self.poly[n] = p
        if p.tainted or not p.terms or op == "const":
            return None  # constants are only coefficients (CSE merges equal ones)
        # normalised by the coefficient of the largest monomial: k*p and p share a key
        lead = p.terms[max(p.terms)] if len(p.terms) > 1 else next(iter(p.terms.values()))
        if lead == 1:
            terms = frozenset(p.terms.items())
        else:
            terms = frozenset((m, Fraction(c, lead)) for m, c in p.terms.items())
        return (d["dtype"], tuple(d["shape"]), terms), lead
