"""Complex numbers in every transformation, with JAX's conventions (docs/derivatives.md).

Each rule is checked against JAX's own numbers (computed once with JAX 0.10.2 in
float64 and written here as literals: JAX is not a dependency) and against complex
central differences. The conventions: a cotangent ``g`` of a complex value ``z``
stands for ``dz -> Re(g * dz)``, so vjp is jvp's transpose for the pairing
``Re(sum(a * b))``; ``grad`` of a real function of complex inputs is
``df/dx - 1j * df/dy``; ``holomorphic=True`` gives ``f'(z)``; a complex output without
it is an error in grad, value_and_grad, jacobian and hessian alike.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from autodiff_testing import validated_graphs  # noqa: F401

from compiler import check_grad, compile, grad, hessian, jacobian, jvp, value_and_grad, vjp
from tracer import TracegradError

pytestmark = pytest.mark.usefixtures("validated_graphs")

Z = np.array([1.66 + 0.5j, -0.7 + 1.2j, 0.3 - 2.1j])
T = np.array([0.4 - 0.3j, 1.1 + 0.2j, -0.5 + 0.8j])  # a tangent
U_REAL = np.array([0.7, -1.3, 0.25])  # cotangents of real and of complex outputs
U_CPLX = np.array([0.2 + 0.9j, -1.0 + 0.3j, 0.6 - 0.4j])
W = np.array([1.66 + 0.7j, -0.9 + 5j, 0.3 - 2.5j])  # maximum's other operand
X = np.array([0.3, -1.2, 2.0])
TX = np.array([1.0, -0.5, 0.25])

FUNCS = {
    "abs": np.abs,
    "real": np.real,
    "imag": np.imag,
    "conj": np.conj,
    "angle": np.angle,
    "angle_deg": lambda z: np.angle(z, deg=True),
    "var": lambda z: np.var(z) * np.ones(3),
    "std": lambda z: np.std(z) * np.ones(3),
    "var_ddof1": lambda z: np.var(z, ddof=1) * np.ones(3),
    "abs_squared": lambda z: np.abs(z) ** 2,
    "maximum": lambda z: np.maximum(z, W),  # lexicographic, as NumPy and JAX
    "where_less": lambda z: np.where(z < 0.2 + 0j, z * z, np.conj(z)),
    "astype_to_real": lambda z: z.astype(np.float64) * 2.0,
    "sin": np.sin,
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "pow": lambda z: z ** (1.5 - 0.5j),
    "reciprocal": lambda z: 1.0 / z,
    "matmul": lambda z: np.outer(z, np.arange(1.0, 4.0) + 1j) @ z,
}

JAX = {  # name -> (value, jvp tangent along T, vjp cotangent of U)
    "abs": (
        [1.7336666346215468, 1.3892443989449805, 2.121320343559643],
        [0.2964814513559606, -0.3815023478968081, -0.8626702730475879],
        [
            (0.6702557324428524 - 0.20188425675989533j),
            (0.655032333181312 + 1.1229125711679633j),
            (0.03535533905932737 + 0.24748737341529162j),
        ],
    ),
    "real": (
        [1.66, -0.7, 0.3],
        [0.4, 1.1, -0.5],
        [(0.7 + 0j), (-1.3 + 0j), (0.25 + 0j)],
    ),
    "imag": (
        [0.5, 1.2, -2.1],
        [-0.3, 0.2, 0.8],
        [-0.7j, 1.3j, -0.25j],
    ),
    "conj": (
        [(1.66 - 0.5j), (-0.7 - 1.2j), (0.3 + 2.1j)],
        [(0.4 + 0.3j), (1.1 - 0.2j), (-0.5 - 0.8j)],
        [(0.2 - 0.9j), (-1 - 0.3j), (0.6 + 0.4j)],
    ),
    "angle": (
        [0.29256176640384757, 2.0988707752212563, -1.4288992721907328],
        [-0.2322331647591163, -0.7564766839378239, -0.18],
        [
            (-0.11644929464998668 - 0.3866116582379558j),
            (0.8082901554404145 - 0.47150259067357514j),
            (0.11666666666666667 - 0.016666666666666666j),
        ],
    ),
    "angle_deg": (
        [16.762554461832746, 120.25643716352927, -81.86989764584403],
        [-13.305980203663648, -43.34292128968922, -10.313240312354818],
        [
            (-6.6720531107195935 - 22.151216327589047j),
            (46.31161452870903 - 27.015108475080268j),
            (6.684507609859605 - 0.954929658551372j),
        ],
    ),
    "var": (
        [2.9510222222222224, 2.9510222222222224, 2.9510222222222224],
        [-1.4484444444444444, -1.4484444444444444, -1.4484444444444444],
        [
            (-0.2893333333333334 + 0.1477777777777778j),
            (0.26133333333333336 + 0.31111111111111117j),
            (0.028000000000000014 - 0.458888888888889j),
        ],
    ),
    "std": (
        [1.7178539583510068, 1.7178539583510068, 1.7178539583510068],
        [-0.42158544310566054, -0.42158544310566054, -0.42158544310566054],
        [
            (-0.08421360032580089 + 0.043012322747048845j),
            (0.07606389706846531 + 0.09055225841483967j),
            (0.008149703257335572 - 0.13356458116188852j),
        ],
    ),
    "var_ddof1": (
        [4.426533333333333, 4.426533333333333, 4.426533333333333],
        [-2.1726666666666667, -2.1726666666666667, -2.1726666666666667],
        [
            (-0.4340000000000001 + 0.22166666666666673j),
            (0.39200000000000007 + 0.46666666666666684j),
            (0.042000000000000016 - 0.6883333333333336j),
        ],
    ),
    "abs_squared": (
        [3.0056, 1.9300000000000002, 4.500000000000001],
        [1.028, -1.06, -3.66],
        [(2.324 - 0.7j), (1.82 + 3.1199999999999997j), (0.15 + 1.05j)],
    ),
    "maximum": (
        [(1.66 + 0.7j), (-0.7 + 1.2j), (0.3 - 2.1j)],
        [0j, (1.1 + 0.2j), (-0.5 + 0.8j)],
        [0j, (-1 + 0.3j), (0.6 - 0.4j)],
    ),
    "where_less": (
        [(1.66 - 0.5j), (-0.95 - 1.68j), (0.3 + 2.1j)],
        [(0.4 + 0.3j), (-2.02 + 2.3600000000000003j), (-0.5 - 0.8j)],
        [(0.2 - 0.9j), (0.6799999999999999 - 2.82j), (0.6 + 0.4j)],
    ),
    "astype_to_real": (
        [3.32, -1.4, 0.6],
        [0.8, 2.2, -1.0],
        [(1.4 + 0j), (-2.6 + 0j), (0.5 + 0j)],
    ),
    "sin": (
        [
            (1.1231425129983452 - 0.04642199255354193j),
            (-1.166456341965758 + 1.1544997246948547j),
            (1.2247282845889682 - 3.8422264998187363j),
        ],
        [
            (-0.19588903929491258 - 0.1774728613442273j),
            (1.3288680003126725 + 1.3466370266003724j),
            (-2.930438745512111 + 2.5731009074431226j),
        ],
        [
            (0.44703007692243535 - 0.1942142113938404j),
            (-1.6765922755387013 - 0.5569619739989368j),
            (2.850944130675936 - 0.8705614762599382j),
        ],
    ),
    "exp": (
        [
            (4.615479484647529 + 2.52144793428588j),
            (0.17994153558797196 + 0.46283691265050275j),
            (-0.6814709607645539 - 1.1652107663530855j),
        ],
        [
            (2.6026261741447754 - 0.3760646716799065j),
            (0.10536830661666863 + 0.5451089110331474j),
            (1.2729040934647453 + 0.03742861456489958j),
        ],
        [
            (-1.3462072439277861 + 4.658221123039952j),
            (-0.3187926093831228 - 0.4088544519741112j),
            (-0.8749668829999666 - 0.4265380755060297j),
        ],
    ),
    "log": (
        [
            (0.550238607638811 + 0.29256176640384757j),
            (0.3287600014583971 + 2.0988707752212563j),
            (0.7520386983881371 - 1.4288992721907328j),
        ],
        [
            (0.17101410700026617 - 0.23223316475911632j),
            (-0.2746113989637306 - 0.7564766839378239j),
            (-0.4066666666666667 - 0.18000000000000002j),
        ],
        [
            (0.26018099547511314 + 0.4638009049773756j),
            (0.5492227979274611 + 0.5129533678756476j),
            (0.22666666666666668 + 0.2533333333333333j),
        ],
    ),
    "tanh": (
        [
            (0.9599365483437752 + 0.0584819700957586j),
            (-1.3472197399061194 + 0.4778641038326366j),
            (0.9157789924599439 + 1.2536971519427713j),
        ],
        [
            (-0.0009066027163917516 - 0.06949377360528916j),
            (-0.9028267999173879 + 1.2990041129147378j),
            (0.9704225305704507 + 2.5345938232628256j),
        ],
        [
            (0.11743855772134354 + 0.05129217537648161j),
            (0.20037415365541777 - 1.463569985110034j),
            (0.12137561973023786 - 2.070973571890649j),
        ],
    ),
    "sqrt": (
        [
            (1.3026255476194122 + 0.1919200805303432j),
            (0.5870453129635651 + 1.0220676100300266j),
            (1.1003000371625102 - 0.9542851627159574j),
        ],
        [
            (0.13366877623212628 - 0.1348459061162086j),
            (0.3059804908738728 - 0.362378753948891j),
            (-0.3096133388674799 + 0.0950109797409521j),
        ],
        [
            (0.12495285233881452 + 0.32704643271829065j),
            (-0.10092717673273238 + 0.4312348514159994j),
            (0.24557679148910574 + 0.03121901959944278j),
        ],
    ),
    "pow": (
        [
            (2.6069366090882045 + 0.4306713748053603j),
            (-4.618611820653128 + 0.73429497384195j),
            (-1.2288421885762242 - 0.8814146457154881j),
        ],
        [
            (0.5528755395865756 - 1.0705689439989208j),
            (4.381813912508691 + 4.0264393366053355j),
            (0.8014285556223241 + 0.6989130645725902j),
        ],
        [
            (1.3783704158323895 + 1.742463303944627j),
            (-5.352879453927893 - 1.4921084291519544j),
            (-0.3384157824781075 - 0.7390180849542209j),
        ],
    ),
    "reciprocal": (
        [
            (0.5523023689113654 - 0.1663561352142667j),
            (-0.3626943005181347 - 0.6217616580310881j),
            (0.06666666666666667 + 0.4666666666666667j),
        ],
        [
            (-0.05581808465560412 + 0.15671217294392673j),
            (0.3707482080055841 - 0.44511262047303296j),
            (-0.0568888888888889 + 0.2017777777777778j),
        ],
        [
            (-0.2208547062075378 - 0.21287563365879922j),
            (-0.11973475798007999 + 0.527530940427931j),
            (0.10311111111111111 - 0.12266666666666667j),
        ],
    ),
    "matmul": (
        [
            (3.6596000000000006 - 2.7723999999999993j),
            (1.4759999999999995 + 3.37j),
            (-4.026000000000002 - 3.918j),
        ],
        [
            (-1.1040000000000003 + 4.686j),
            (-2.3359999999999994 - 4.0120000000000005j),
            (8.402000000000003 + 2.528j),
        ],
        [
            (2.996000000000001 - 0.6580000000000001j),
            (-0.5980000000000003 - 0.22200000000000086j),
            (-0.038000000000001366 - 5.934000000000001j),
        ],
    ),
}


def _no_complex_warning():
    """NumPy's ComplexWarning (a cast dropping an imaginary part) as an error, except in the
    one function that casts complex to real itself."""
    ctx = warnings.catch_warnings()
    ctx.__enter__()
    warnings.simplefilter("error", np.exceptions.ComplexWarning)
    return ctx


def _cotangent(out):
    return U_CPLX if np.iscomplexobj(out) else U_REAL


@pytest.mark.parametrize("name", sorted(JAX))
def test_rule_matches_jax(name):
    f, (value, tangent, cotangent) = FUNCS[name], JAX[name]
    with warnings.catch_warnings():
        # nothing but the user's own cast (which warns, as in NumPy) drops an imaginary part
        action = "ignore" if name == "astype_to_real" else "error"
        warnings.simplefilter(action, np.exceptions.ComplexWarning)
        out, t_out = jvp(f, (Z,), (T,))
        np.testing.assert_allclose(out, value, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(t_out, tangent, rtol=1e-12, atol=1e-14)
        assert np.iscomplexobj(t_out) == np.iscomplexobj(value)
        out, pullback = vjp(f, Z)
        (ct,) = pullback(_cotangent(out))
        assert ct.dtype == np.complex128
        np.testing.assert_allclose(ct, cotangent, rtol=1e-12, atol=1e-14)
        # grad of the real loss whose gradient is the vjp of U
        loss = lambda z: np.sum(np.real(f(z) * _cotangent(f(Z))))  # noqa: E731
        np.testing.assert_allclose(grad(loss)(Z), cotangent, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(JAX))
def test_rule_matches_complex_central_differences(name):
    f, eps = FUNCS[name], 1e-6
    # Z[0] and W[0] tie in their real parts (a kink of the lexicographic maximum): move off it
    z = Z + 0.05 if name == "maximum" else Z
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        # jvp: the directional derivative along the complex tangent T
        _, t_out = jvp(f, (z,), (T,))
        np.testing.assert_allclose(t_out, (f(z + eps * T) - f(z - eps * T)) / (2 * eps),
                                   rtol=1e-6, atol=1e-7)  # fmt: skip
        # vjp (through grad of a real projection, df/dx - 1j df/dy), to second order
        check_grad(f, z, order=2, rtol=1e-5, atol=1e-6)


# ----- the reproductions -----


def test_jvp_of_abs_at_a_complex_point():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, t = jvp(np.abs, (np.complex128(1.66 + 0.5j),), (np.complex128(1.0),))
    assert out == pytest.approx(1.7336666346215468, rel=1e-15)
    assert t == pytest.approx(0.957508189204075, rel=1e-15)  # JAX: 0.957508189204075
    out, pullback = vjp(np.abs, np.complex128(1.66 + 0.5j))
    # JAX: conj(z) / |z|; before, the imaginary part had the wrong sign
    assert pullback(1.0)[0] == pytest.approx(0.957508189204075 - 0.28840608108556476j, rel=1e-15)


def test_jvp_of_var_of_complex_input_casts_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the ComplexWarning was: imaginary part discarded
        out, t = jvp(lambda x: np.var(x), (np.array([1 + 1j, 2 - 1j]),), (np.array([1 + 0j, 0j]),))
    assert out == 1.25 and t == -0.5  # JAX: 1.25, -0.5


# ----- grad, jacobian and hessian -----


def test_grad_of_real_function_of_complex_input():
    g = lambda z: np.sum(np.abs(z) ** 2 + np.real(z) * np.imag(z))  # noqa: E731
    jax = [(3.82 - 2.66j), (-0.2 - 1.7j), (-1.5 + 3.9j)]
    np.testing.assert_allclose(grad(g)(Z), jax, rtol=1e-12)
    value, gz = value_and_grad(g)(Z)
    assert value == pytest.approx(g(Z)) and gz.dtype == np.complex128
    np.testing.assert_allclose(gz, jax, rtol=1e-12)
    # |z|^2 at 3 + 4j: 6 - 8j, the conjugate of the steepest-ascent direction 2z
    assert grad(lambda z: np.abs(z) ** 2)(np.complex128(3 + 4j)) == 6 - 8j


def test_complex64_gradients_stay_complex64():
    z64 = Z.astype(np.complex64)
    g = grad(lambda z: np.sum(np.abs(z)))(z64)
    assert g.dtype == np.complex64
    jax = [(0.9575082063674927 - 0.288406103849411j), (-0.5038710236549377 - 0.8637788891792297j),
           (0.1414213627576828 + 0.9899494647979736j)]  # fmt: skip
    np.testing.assert_allclose(g, jax, rtol=1e-6)
    graph = grad(lambda z: np.sum(np.abs(z) * np.angle(z) + np.real(z))).trace(z64)
    assert {graph.nodes[n]["dtype"] for n in graph.nodes} <= {"complex64", "float32", "bool"}


def test_holomorphic_grad_jacobian_hessian():
    h = lambda z: np.sum(np.sin(z) * z)  # noqa: E731
    jax_grad = [(1.2158988770810875 - 0.958228393188669j),
                (-3.302768421167566 + 2.1356434497814982j),
                (4.908426227575747 - 11.800013066656629j)]  # fmt: skip
    np.testing.assert_allclose(grad(h, holomorphic=True)(Z), jax_grad, rtol=1e-12)
    np.testing.assert_allclose(np.sin(Z) + Z * np.cos(Z), jax_grad, rtol=1e-12)  # f'(z)
    jax_hess = np.diag([(-2.0885376263715987 - 1.5225575994696103j),
                        (3.3386117593202176 + 4.152740824361908j),
                        (15.619684352356261 + 6.101677218791729j)])  # fmt: skip
    np.testing.assert_allclose(hessian(h, holomorphic=True)(Z), jax_hess, rtol=1e-12, atol=1e-15)
    k = lambda z: np.sin(z) * z[::-1]  # noqa: E731
    jax_jac = np.array([(-1.1200857019174195 + 0.055248533852055914j), 0, (1.1231425129983452 -
                        0.04642199255354193j), 0, (-3.302768421167566 + 2.1356434497814982j), 0,
                        (1.2247282845889682 - 3.8422264998187363j), 0,
                        (5.978024598331972 + 3.952583090132099j)]).reshape(3, 3)  # fmt: skip
    for mode in (None, "rev", "fwd"):
        got = jacobian(k, holomorphic=True, mode=mode)(Z)
        np.testing.assert_allclose(got, jax_jac, rtol=1e-12, atol=1e-15)
    f = lambda z: z**3 / (z + 2.0)  # noqa: E731
    z0 = np.complex128(1.66 + 0.5j)
    assert grad(f, holomorphic=True)(z0) == pytest.approx(1.8847875664409481 + 0.8427517577612377j)
    # vjp of a holomorphic function: ct * f'(z), no conjugation (JAX's "covector" convention)
    ct = vjp(f, z0)[1](0.2 + 0.9j)[0]
    assert ct == pytest.approx(-0.3815190686969242 + 1.8648591613491006j, rel=1e-12)
    assert ct == pytest.approx((0.2 + 0.9j) * grad(f, holomorphic=True)(z0), rel=1e-12)


def test_jacobian_of_complex_input_is_reverse_mode():
    jax = np.array([(0.957508189204075 - 0.28840608108556476j), 0, 0, 0,
                    (-0.5038710255240861 - 0.8637789008984333j), 0, 0, 0,
                    (0.14142135623730948 + 0.9899494936611665j)]).reshape(3, 3)  # fmt: skip
    for mode in (None, "rev"):
        np.testing.assert_allclose(jacobian(np.abs, mode=mode)(Z), jax, rtol=1e-12)
    assert jacobian(np.abs).trace(Z).graph["jacobian_mode"] == "rev"


def test_jacobian_of_complex_output_of_real_input_is_forward_mode():
    f = lambda x: np.exp(1j * x) * (2.0 - 1j)  # noqa: E731
    jax = np.diag([(0.3642960758029269 + 2.2061931849125513j),
                   (2.226435926411126 - 0.20732357701387905j),
                   (-2.234741690198506 + 0.0770037537313969j)])  # fmt: skip
    for mode in (None, "fwd"):
        np.testing.assert_allclose(jacobian(f, mode=mode)(X), jax, rtol=1e-12, atol=1e-15)
    out, t = jvp(f, (X,), (TX,))
    jax = [(0.3642960758029269 + 2.2061931849125513j), (-1.113217963205563 + 0.10366178850693952j),
           (-0.5586854225496265 + 0.019250938432849224j)]  # fmt: skip
    np.testing.assert_allclose(t, jax, rtol=1e-12)
    (ct,) = vjp(f, X)[1](U_CPLX)  # a real input's cotangent is real: Re(u * df/dx)
    assert ct.dtype == np.float64
    np.testing.assert_allclose(ct, [-1.9127146512607112, -2.1642388533069625, -1.3100435126265446],
                               rtol=1e-12)  # fmt: skip


def test_astype_to_complex_has_the_real_part_as_cotangent():
    f = lambda x: x.astype(np.complex128) * (1 + 2j)  # noqa: E731
    np.testing.assert_allclose(vjp(f, X)[1](U_CPLX)[0], [-1.6, -1.6, 1.4], rtol=1e-12)  # JAX


# ----- what is rejected: one message per problem, the same in every transformation -----

COMPLEX_OUTPUT = [
    ("grad", lambda f: grad(f)),
    ("value_and_grad", lambda f: value_and_grad(f)),
    ("jacobian", lambda f: jacobian(f)),
    ("jacobian(mode='rev')", lambda f: jacobian(f, mode="rev")),
]


@pytest.mark.parametrize("fname, make", COMPLEX_OUTPUT, ids=[n for n, _ in COMPLEX_OUTPUT])
def test_complex_output_without_holomorphic_is_one_clear_error(fname, make):
    z = np.complex128(1.0 + 2.0j) if fname.endswith("grad") else Z
    with pytest.raises(TracegradError) as info:
        make(lambda z: np.sin(z))(z)
    msg = str(info.value)
    assert msg.startswith(f"{fname} needs a real-valued output, but lambda returns complex128")
    assert "pass holomorphic=True if the function is holomorphic" in msg
    assert "use vjp or jvp" in msg and "test_complex.py" in msg


HOLOMORPHIC = [
    ("grad", lambda f: grad(f, holomorphic=True)),
    ("value_and_grad", lambda f: value_and_grad(f, holomorphic=True)),
    ("jacobian", lambda f: jacobian(f, holomorphic=True)),
    ("hessian", lambda f: hessian(f, holomorphic=True)),
]


@pytest.mark.parametrize("fname, make", HOLOMORPHIC, ids=[n for n, _ in HOLOMORPHIC])
def test_holomorphic_needs_complex_inputs_and_outputs(fname, make):
    with pytest.raises(
        TracegradError,
        match=rf"^{fname}\(holomorphic=True\) needs complex "
        r"inputs, but argument x is float64\[\]; cast it with \.astype\(complex\)",
    ):
        make(lambda x: x * x)(2.0)  # fmt: skip
    with pytest.raises(
        TracegradError,
        match=rf"^{fname}\(holomorphic=True\) needs a complex "
        r"output, but .* returns float64\[\]",
    ):
        make(lambda z: np.abs(z) ** 2)(1j)


@pytest.mark.parametrize(
    "fname, make",
    [
        ("hessian", lambda f: hessian(f)),
        ("jacobian(mode='fwd')", lambda f: jacobian(f, mode="fwd")),
    ],
)
def test_forward_mode_needs_real_inputs_unless_holomorphic(fname, make):
    with pytest.raises(TracegradError) as info:
        make(lambda z: np.sum(np.abs(z) ** 2))(Z)
    msg = str(info.value)
    assert msg.startswith(f"{fname} needs real inputs, but argument z is complex128[3]")
    assert "pass holomorphic=True if the function is holomorphic" in msg


def test_jacobian_of_complex_output_of_complex_input_needs_holomorphic():
    with pytest.raises(TracegradError, match="^jacobian needs a real-valued output"):
        jacobian(np.conj)(Z)


def test_complex_tangents_and_cotangents_of_real_values_are_errors():
    with pytest.raises(TracegradError, match="jvp: tangent 0 is complex128 but its primal is"):
        jvp(np.sin, (X,), (T,))
    with pytest.raises(TracegradError, match="vjp: the cotangent is complex128 but the output"):
        vjp(np.abs, Z)[1](U_CPLX)
    # a real tangent of a complex value is a complex one with no imaginary part
    np.testing.assert_allclose(jvp(np.abs, (Z,), (TX,))[1], jvp(np.abs, (Z,), (TX + 0j,))[1])


# ----- no implicit complex -> real cast anywhere -----


def _casts_complex_to_real(graph) -> list[int]:
    """Nodes of ``graph`` that cast a complex value to a real dtype and are not the user's."""
    bad = []
    for n, d in graph.nodes(data=True):
        if d["op"] == "astype" and d.get("role") != "forward":
            (u,) = graph.predecessors(n)
            if np.dtype(graph.nodes[u]["dtype"]).kind == "c" and np.dtype(d["dtype"]).kind != "c":
                bad.append(n)
    return bad


@pytest.mark.parametrize("name", sorted(JAX))
def test_transformed_graphs_never_cast_complex_to_real(name):
    f = FUNCS[name]
    loss = lambda z: np.sum(np.real(f(z)) * U_REAL)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        graphs = [grad(loss).trace(Z), jacobian(loss).trace(Z), jacobian(f, mode="fwd").trace(X)]
    for graph in graphs:
        assert not _casts_complex_to_real(graph), name


def test_compiled_source_takes_real_parts_explicitly():
    src = grad(lambda x: np.sum(np.real(np.exp(1j * x)))).source(X)
    assert ".real" in src and "astype" not in src


# ----- values at singular points (docs/derivatives.md) -----


def test_derivatives_at_zero():
    assert grad(np.abs)(0j) == 0  # JAX: 0
    assert grad(np.angle)(0j) == 0  # JAX: nan; PyTorch: 0
    assert grad(lambda z: np.real(np.sign(z) * (0.2 + 0.9j)))(0j) == 0
    assert jvp(np.sign, (0j,), (1 + 1j,))[1] == 0
    assert jvp(np.angle, (0j,), (1 + 1j,))[1] == 0


def test_sign_of_complex_input_has_its_derivative():
    # JAX declares sign's derivative zero even for complex z; z / |z| has this one
    f = lambda z: np.real(np.sign(z) * (0.2 + 0.9j))  # noqa: E731
    z0 = np.complex128(1.66 + 0.5j)
    r, s = abs(z0), z0 / abs(z0)
    want = np.conj(((0.2 + 0.9j) - np.conj(s) * np.real((0.2 + 0.9j) * s)) / r)
    assert grad(f)(z0) == pytest.approx(np.conj(want), rel=1e-12)
    check_grad(f, z0, order=2)


def test_real_inputs_of_the_parts():
    # real(x) = x, imag(x) = 0, conj(x) = x, angle(x) = 0 or pi: as NumPy, with their derivatives
    f = lambda x: np.sum(np.real(x) * 2.0 + np.imag(x) + np.conj(x) * x + np.angle(x))  # noqa: E731
    np.testing.assert_array_equal(grad(f)(X), 2.0 + 2 * X)
    np.testing.assert_array_equal(jvp(np.angle, (X,), (TX,))[1], np.zeros(3))


def test_compile_and_transformations_of_compiled_functions():
    f = lambda z: np.sum(np.abs(z - np.mean(z)) ** 2)  # noqa: E731
    np.testing.assert_allclose(compile(f)(Z), f(Z), rtol=1e-14)
    np.testing.assert_allclose(grad(compile(f))(Z), grad(f)(Z), rtol=1e-14)
    np.testing.assert_allclose(compile(grad(f))(Z), grad(f)(Z), rtol=1e-14)
