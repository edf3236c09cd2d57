"""Traceable ``scipy.stats``: log-densities, densities and cdfs of ``norm``, ``t``, ``gamma``,
``beta``, ``poisson``, ``dirichlet`` and ``multivariate_normal``, with SciPy's signatures.

SciPy's distribution methods convert their inputs with ``np.asarray`` and cannot see a
traced value; these compute the same numbers with traceable ops (``loc``/``scale``
included), keeping SciPy's conventions: ``-inf`` outside the support (``logpdf``),
nan for invalid parameters (``scale <= 0``, ``df <= 0``, ...) and NaN inputs.
Unlike SciPy, which always returns float64, float32 inputs give float32.

``dirichlet`` and ``multivariate_normal`` cannot check traced values the way SciPy
does (``x`` on the simplex, ``cov`` positive definite): a bad value gives nan (or a
number for an ``x`` off the simplex) instead of a ``ValueError``.
``multivariate_normal`` factors a traced ``cov`` with a Cholesky factorisation unrolled
into traced ops (one column per step, so graphs grow with the dimension; a NumPy
``cov`` is factored by NumPy once, at trace time). It reads only the lower triangle
of ``cov``, as SciPy does, so gradients with respect to ``cov`` sit in its lower
triangle.
"""

from __future__ import annotations

import math

import numpy as np

from tracer import ops
from tracer.errors import ShapeError
from tracer.frames import user_location
from tracer.scipy._promote import as_float, ndim, shape
from tracer.staging import Tracer

__all__ = ["beta", "dirichlet", "gamma", "multivariate_normal", "norm", "poisson", "t"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_NAN, _INF = float("nan"), float("inf")


def _density(logp, support, valid, z):
    """SciPy's conventions: ``-inf`` outside the support, nan for invalid parameters and NaN."""
    ok = ops.logical_and(valid, ops.logical_not(ops.isnan(z)))
    return ops.where(ok, ops.where(support, logp, -_INF), _NAN)


def _positive(*params):
    """(all ``params > 0``, each with 1 where that fails: finite gradients in unused branches)."""
    valid = ops.greater(params[0], 0.0)
    for p in params[1:]:
        valid = ops.logical_and(valid, ops.greater(p, 0.0))
    return valid, *(ops.where(valid, p, 1.0) for p in params)


def _standardize(x, loc, scale):
    return ops.div(ops.sub(x, loc), scale)


class _Distribution:
    """One distribution's functions, a namespace like ``scipy.stats.<name>``."""

    name = ""

    def __repr__(self) -> str:
        return f"tracer.scipy.stats.{self.name}"


class _Norm(_Distribution):
    name = "norm"

    def logpdf(self, x, loc=0, scale=1):
        x, loc, scale = as_float(x, loc, scale)
        valid, s = _positive(scale)
        z = _standardize(x, loc, s)
        logp = ops.sub(ops.sub(ops.mul(ops.square(z), -0.5), ops.log(s)), _HALF_LOG_2PI)
        return ops.where(valid, logp, _NAN)

    def pdf(self, x, loc=0, scale=1):
        return ops.exp(self.logpdf(x, loc, scale))

    def _tail(self, fn, x, loc, scale, upper):
        x, loc, scale = as_float(x, loc, scale)
        valid, s = _positive(scale)
        z = _standardize(x, loc, s)
        return ops.where(valid, fn(ops.neg(z) if upper else z), _NAN)

    def cdf(self, x, loc=0, scale=1):
        return self._tail(ops.ndtr, x, loc, scale, upper=False)

    def logcdf(self, x, loc=0, scale=1):
        return self._tail(ops.log_ndtr, x, loc, scale, upper=False)

    def sf(self, x, loc=0, scale=1):
        return self._tail(ops.ndtr, x, loc, scale, upper=True)

    def logsf(self, x, loc=0, scale=1):
        return self._tail(ops.log_ndtr, x, loc, scale, upper=True)


class _T(_Distribution):
    name = "t"

    def logpdf(self, x, df, loc=0, scale=1):
        x, df, loc, scale = as_float(x, df, loc, scale)
        valid, r, s = _positive(df, scale)
        z = _standardize(x, loc, s)
        infinite = ops.isinf(r)  # df = inf is the normal distribution, as in SciPy
        r = ops.where(infinite, 1.0, r)
        half = ops.mul(ops.add(r, 1.0), 0.5)
        logp = ops.sub(
            ops.sub(ops.gammaln(half), ops.gammaln(ops.mul(r, 0.5))),
            ops.add(ops.mul(ops.log(ops.mul(r, math.pi)), 0.5),
                    ops.mul(half, ops.log1p(ops.div(ops.square(z), r)))),
        )  # fmt: skip
        logp = ops.where(infinite, ops.sub(ops.mul(ops.square(z), -0.5), _HALF_LOG_2PI), logp)
        return ops.where(valid, ops.sub(logp, ops.log(s)), _NAN)

    def pdf(self, x, df, loc=0, scale=1):
        return ops.exp(self.logpdf(x, df, loc, scale))


class _Gamma(_Distribution):
    name = "gamma"

    def logpdf(self, x, a, loc=0, scale=1):
        x, a, loc, scale = as_float(x, a, loc, scale)
        valid, a, s = _positive(a, scale)
        z = _standardize(x, loc, s)
        support = ops.greater_equal(z, 0.0)
        zs = ops.where(support, z, 1.0)
        logp = ops.sub(ops.sub(ops.xlogy(ops.sub(a, 1.0), zs), zs), ops.gammaln(a))
        return _density(ops.sub(logp, ops.log(s)), support, valid, z)

    def pdf(self, x, a, loc=0, scale=1):
        return ops.exp(self.logpdf(x, a, loc, scale))


class _Beta(_Distribution):
    name = "beta"

    def logpdf(self, x, a, b, loc=0, scale=1):
        x, a, b, loc, scale = as_float(x, a, b, loc, scale)
        valid, a, b, s = _positive(a, b, scale)
        z = _standardize(x, loc, s)
        support = ops.logical_and(ops.greater_equal(z, 0.0), ops.less_equal(z, 1.0))
        zs = ops.where(support, z, 0.5)
        logp = ops.add(ops.xlog1py(ops.sub(b, 1.0), ops.neg(zs)), ops.xlogy(ops.sub(a, 1.0), zs))
        logp = ops.sub(ops.sub(logp, ops.betaln(a, b)), ops.log(s))
        return _density(logp, support, valid, z)

    def pdf(self, x, a, b, loc=0, scale=1):
        return ops.exp(self.logpdf(x, a, b, loc, scale))


class _Poisson(_Distribution):
    name = "poisson"

    def logpmf(self, k, mu, loc=0):
        k, mu, loc = as_float(k, mu, loc)
        k = ops.sub(k, loc)
        valid = ops.greater_equal(mu, 0.0)
        mu = ops.where(valid, mu, 1.0)
        support = ops.logical_and(ops.greater_equal(k, 0.0), ops.equal(ops.floor(k), k))
        ks = ops.where(support, k, 0.0)
        logp = ops.sub(ops.sub(ops.xlogy(ks, mu), ops.gammaln(ops.add(ks, 1.0))), mu)
        return _density(logp, support, valid, k)

    def pmf(self, k, mu, loc=0):
        return ops.exp(self.logpmf(k, mu, loc))


def _squeeze_output(out):
    """SciPy's multivariate results drop every size-1 axis."""
    axes = tuple(i for i, d in enumerate(shape(out)) if d == 1)
    return ops.squeeze(out, axes) if axes else out


class _Dirichlet(_Distribution):
    name = "dirichlet"

    def logpdf(self, x, alpha):
        x, alpha = as_float(x, alpha)
        if ndim(alpha) != 1:
            raise ShapeError(
                f"dirichlet: alpha must be one-dimensional, got shape {shape(alpha)} "
                f"(at {user_location()})"
            )
        k = shape(alpha)[0]
        if ndim(x) == 0 or shape(x)[0] not in (k, k - 1):
            raise ShapeError(
                f"dirichlet: x of shape {shape(x)} must have {k} or {k - 1} entries along its "
                f"first axis, as alpha (at {user_location()})"
            )
        if shape(x)[0] == k - 1:  # the last coordinate is 1 - the others, as SciPy
            x = ops.concatenate([x, ops.sub(1.0, ops.sum(x, axis=0, keepdims=True))], axis=0)
        a = ops.reshape(alpha, (k,) + (1,) * (ndim(x) - 1))
        log_b = ops.sub(ops.sum(ops.gammaln(alpha)), ops.gammaln(ops.sum(alpha)))
        out = ops.sub(ops.sum(ops.xlogy(ops.sub(a, 1.0), x), axis=0), log_b)
        return _squeeze_output(out)

    def pdf(self, x, alpha):
        return ops.exp(self.logpdf(x, alpha))


class _MultivariateNormal(_Distribution):
    name = "multivariate_normal"

    def logpdf(self, x, mean=None, cov=1, allow_singular=False):
        x, mean, cov = as_float(x, mean, cov)
        if mean is not None:
            dim = int(np.prod(shape(mean)))
            mean = ops.reshape(mean, (dim,))
        else:
            dim = 1 if ndim(cov) == 0 else shape(cov)[0]
            mean = np.zeros(dim, dtype=x.dtype)
        if ndim(cov) > 2 or ndim(cov) and shape(cov)[0] != dim or ndim(cov) == 2 and (
            shape(cov)[1] != dim
        ):  # fmt: skip
            raise ShapeError(
                f"multivariate_normal: cov of shape {shape(cov)} does not fit the mean's "
                f"dimension {dim} (at {user_location()})"
            )
        if ndim(x) == 0:
            x = ops.reshape(x, (1,))
        if ndim(x) == 1:  # one point, or points of dimension 1
            x = ops.reshape(x, (-1, 1) if dim == 1 else (1, -1))
        dev = ops.sub(x, mean)
        if ndim(cov) == 0:
            log_det = ops.mul(ops.log(cov), float(dim))
            maha = ops.div(ops.sum(ops.square(dev), axis=-1), cov)
        elif ndim(cov) == 1:
            log_det = ops.sum(ops.log(cov))
            maha = ops.sum(ops.div(ops.square(dev), cov), axis=-1)
        else:
            chol = _cholesky(cov)
            diag = ops.getitem(chol, (np.arange(dim), np.arange(dim)))
            log_det = ops.mul(ops.sum(ops.log(diag)), 2.0)
            maha = ops.sum(ops.square(_solve_lower(chol, dev)), axis=-1)
        out = ops.mul(ops.add(ops.add(log_det, maha), dim * 2.0 * _HALF_LOG_2PI), -0.5)
        return _squeeze_output(out)

    def pdf(self, x, mean=None, cov=1, allow_singular=False):
        return ops.exp(self.logpdf(x, mean, cov, allow_singular))


def _cholesky(a):
    """The lower Cholesky factor of ``a`` (its lower triangle read), column by column."""
    if not isinstance(a, Tracer):
        return np.linalg.cholesky(a)  # a NumPy array: factored once, at trace time
    n = shape(a)[0]
    cols = []
    for j in range(n):
        v = ops.getitem(a, (slice(None), j))
        if cols:
            done = ops.stack(cols, axis=1)  # (n, j): the columns so far
            v = ops.sub(v, ops.matmul(done, ops.getitem(done, j)))
        lower = ops.div(ops.getitem(v, slice(j, None)), ops.sqrt(ops.getitem(v, j)))
        cols.append(ops.concatenate([np.zeros(j, dtype=a.dtype), lower]) if j else lower)
    return ops.stack(cols, axis=1)


def _solve_lower(chol, b):
    """``z`` with ``chol @ z[..., :, None] == b[..., :, None]`` (forward substitution)."""
    if not isinstance(chol, Tracer):
        return ops.matmul(b, np.linalg.inv(chol).T)
    zs = []
    for i in range(shape(chol)[0]):
        r = ops.getitem(b, (Ellipsis, i))
        if zs:
            r = ops.sub(r, ops.matmul(ops.stack(zs, axis=-1), ops.getitem(chol, (i, slice(0, i)))))
        zs.append(ops.div(r, ops.getitem(chol, (i, i))))
    return ops.stack(zs, axis=-1)


norm = _Norm()
t = _T()
gamma = _Gamma()
beta = _Beta()
poisson = _Poisson()
dirichlet = _Dirichlet()
multivariate_normal = _MultivariateNormal()
