"""The parts of a number: real, imag, conj, abs (modulus), angle (argument) and sign (phase).

These are the elementwise ops that are not holomorphic on complex inputs, so their
derivatives follow JAX's convention for complex numbers (``docs/derivatives.md``):
a cotangent ``g`` of a value ``z`` stands for the real linear functional
``dz -> Re(g * dz)``, so a vjp is the transpose of the jvp for the pairing
``<a, b> = Re(sum(a * b))``, without conjugation. Holomorphic ops (``exp``,
``mul``, ``matmul``, ...) need nothing special: their rules ``gy * f'(z)`` and
``t * f'(z)`` already follow it. Here:

- ``real``: jvp ``real(t)``, vjp ``gy`` (as a complex number);
- ``imag``: jvp ``imag(t)``, vjp ``-1j * gy``;
- ``conj``: jvp ``conj(t)``, vjp ``conj(gy)``;
- ``abs``: jvp ``real(t * conj(sign(z)))``, vjp ``gy * conj(sign(z))`` (0 at ``z = 0``);
- ``angle``: jvp ``imag(t / z)``, vjp ``-1j * gy / z`` (0 at ``z = 0``, as PyTorch);
- ``sign``: ``z / |z|`` has jvp ``(t - s * real(conj(s) * t)) / |z|`` (0 at ``z = 0``).

On real inputs they behave as NumPy's: ``real(x)`` is ``x``, ``imag(x)`` zeros,
``conj(x)`` is ``x``, ``angle(x)`` is 0 or pi, ``abs'(x) = sign(x)`` (0 at 0),
and ``sign`` and ``angle`` have a zero derivative.
"""

from __future__ import annotations

import numpy as np

from tracer.errors import TracegradError
from tracer.frames import user_location
from tracer.primitives import elementwise as ew
from tracer.primitives.base import Algebra, Primitive, elementwise_rule, linear, result_dtype, unary
from tracer.primitives.batching import ELEMENTWISE
from tracer.staging import Tracer, find_trace


def _is_complex(x) -> bool:
    return x.dtype.kind == "c"


# ----- local derivatives -----
def _abs_partial(x):
    return conj(sign(x))  # sign(x) for real x; conj(z) / |z| for complex z, 0 at 0 in both


def _abs_vjp(gy, x, y):
    return (ew.mul(gy, _abs_partial(x)),)


def _abs_jvp(ts, x, y):
    t = ew.mul(ts[0], _abs_partial(x))
    return real(t) if _is_complex(t) else t


def _sign_vjp(gy, x, y):
    if not _is_complex(x):
        return (None,)  # piecewise constant
    r = abs(x)
    zero = ew.equal(r, 0.0)
    g = ew.sub(gy, ew.mul(conj(y), real(ew.mul(gy, y))))
    return (ew.where(zero, np.zeros((), y.dtype), ew.div(g, ew.where(zero, 1.0, r))),)


def _sign_jvp(ts, x, y):
    if not _is_complex(x):
        return None
    r = abs(x)
    zero = ew.equal(r, 0.0)
    t = ew.sub(ts[0], ew.mul(y, real(ew.mul(conj(y), ts[0]))))
    return ew.where(zero, np.zeros((), y.dtype), ew.div(t, ew.where(zero, 1.0, r)))


def _angle_vjp(gy, x, y):
    if not _is_complex(x):
        return (None,)  # 0 or pi: piecewise constant
    zero = ew.equal(x, 0.0)
    safe = ew.where(zero, 1.0, x)
    return (ew.where(zero, np.zeros((), x.dtype), ew.div(ew.mul(gy, -1j), safe)),)


def _angle_jvp(ts, x, y):
    if not _is_complex(x):
        return None
    zero = ew.equal(x, 0.0)
    return ew.where(zero, np.zeros((), y.dtype), imag(ew.div(ts[0], ew.where(zero, 1.0, x))))


def _angle_impl(x):
    return np.angle(x)


# ----- declarations -----
# real and imag are views of a complex array (as NumPy's .real and .imag are)
real_p = Primitive(
    "real", np.real, elementwise_rule("real", np.real), 1, (),
    # the driver casts the real gy to the complex operand's dtype (gy + 0j)
    *linear(lambda t: real(t), lambda gy, x: gy),
    elementwise=True, batch=ELEMENTWISE, view=True, lower=lambda a, p, lit: f"{a[0]}.real",
)  # fmt: skip
imag_p = Primitive(
    "imag", np.imag, elementwise_rule("imag", np.imag), 1, (),
    *linear(lambda t: imag(t), lambda gy, x: ew.mul(gy, -1j)),
    elementwise=True, batch=ELEMENTWISE, view=True, lower=lambda a, p, lit: f"{a[0]}.imag",
)  # fmt: skip
_conj_vjp, _conj_jvp = linear(lambda t: conj(t), lambda gy, x: conj(gy))
conj_p = unary("conj", np.conjugate, vjp=_conj_vjp, jvp=_conj_jvp,
               algebra=Algebra(involution=True))  # fmt: skip
abs_p = unary(
    "abs",
    np.absolute,
    vjp=_abs_vjp,
    jvp=_abs_jvp,
    algebra=Algebra(idempotent=True),
    array_api="abs",
)
sign_p = unary(
    "sign",
    np.sign,
    vjp=_sign_vjp,
    jvp=_sign_jvp,
    algebra=Algebra(idempotent=True),
    array_api="sign",
)
angle_p = Primitive(
    "angle", _angle_impl, elementwise_rule("angle", _angle_impl), 1,
    vjp=_angle_vjp, jvp=_angle_jvp,
    elementwise=True, batch=ELEMENTWISE, fresh=True,
    lower=lambda a, p, lit: f"np.angle({a[0]})",
)  # fmt: skip

PRIMITIVES = (real_p, imag_p, conj_p, abs_p, sign_p, angle_p)


# ----- user-facing functions -----
def real(x):
    if find_trace((x,)) is None:
        return np.real(x)
    return ew.apply(real_p, x) if _is_complex(x) else x


def imag(x):
    if find_trace((x,)) is None:
        return np.imag(x)
    if _is_complex(x):
        return ew.apply(imag_p, x)
    return np.zeros(x.shape, x.dtype)  # NumPy: a new array of zeros, no dependence on x


def conj(x):
    if find_trace((x,)) is None:
        return np.conjugate(x)
    if _is_complex(x):
        return ew.apply(conj_p, x)
    try:
        dt = result_dtype(np.conjugate, (x.dtype,))
    except TracegradError as exc:
        raise TracegradError(f"conjugate: {exc} (at {user_location()})") from None
    return x if dt == x.dtype else ew.astype(x, dt)


def abs(x):  # noqa: A001  (NumPy's name)
    return ew.apply(abs_p, x)


def fabs(x):
    if isinstance(x, Tracer) and _is_complex(x):
        raise TracegradError(
            f"np.fabs is not defined for complex {x.dtype} (at {user_location()}); "
            "np.abs gives the modulus"
        )
    return abs(x)


def sign(x):
    return ew.apply(sign_p, x)


def angle(z, deg=False):
    a = ew.apply(angle_p, z)
    return ew.mul(a, 180 / np.pi) if deg else a  # NumPy: a *= 180/pi


def iscomplexobj(x) -> bool:
    return x.dtype.kind == "c"  # a fact of the dtype, known while tracing


def isrealobj(x) -> bool:
    return not iscomplexobj(x)


def iscomplex(x):
    return ew.not_equal(imag(x), 0)


def isreal(x):
    return ew.equal(imag(x), 0)


# ----- how NumPy maps onto these functions -----
NUMPY = {
    np.real: real, np.imag: imag, np.conjugate: conj, np.angle: angle,
    np.absolute: abs, np.fabs: fabs, np.sign: sign, np.iscomplexobj: iscomplexobj,
    np.isrealobj: isrealobj, np.iscomplex: iscomplex, np.isreal: isreal,
}  # fmt: skip


def _conj_method(x):
    return conj(x) if _is_complex(x) else x  # ndarray.conj keeps a bool dtype (np.conj: int8)


METHODS = {"conj": _conj_method, "conjugate": _conj_method}
ATTRIBUTES = {"real": real, "imag": imag}

__all__ = ["abs", "angle", "conj", "fabs", "imag", "iscomplex", "iscomplexobj", "isreal",
           "isrealobj", "real", "sign"]  # fmt: skip
