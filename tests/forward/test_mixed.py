"""Mixed mode: `sd.hvp`, `sd.hessian` (forward over reverse), `sd.jacobian` in both modes, and derivatives of
functions that call `sd.gradient`, all against finite differences of first derivatives."""
import copy
import math

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.testing import central_fdm

from ..corpus.functions import CORPUS
from .test_jvp import _direction

RTOL, ATOL = 1e-5, 1e-6
rng = np.random.default_rng(7)
W, X, Y = rng.standard_normal(4), rng.standard_normal((6, 4)), rng.standard_normal(6)


def loglik(w, x, y):
    z = x @ w
    return np.sum(y * z - np.log1p(np.exp(z))) - 0.5 * np.sum(w * w)


def two_layer(w1, w2, x):
    hidden = np.tanh(x @ w1)
    return np.sum((hidden @ w2) ** 2) / 2.0


def scalar_loop(a, b):
    s = 0.0
    for i in range(4):
        s = s + math.sin(a * b) * a + b ** 3 / (i + 1)
    return s


def calls_a_helper(w):
    scaled = np.exp(w) * 0.5
    return loglik(scaled, X, Y)


def _flat(values):
    return np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values if v is not None])


def _gradient_along(f, args, tangents, wanted=None):
    """d/dt of the gradient of `f` at `args + t * tangents`, by finite differences (5 points): its entries at the
    positions `wanted` (all by default)."""
    def moved(t):
        shifted = [a + t * d if not isinstance(d, sd.Zero) else a for a, d in zip(args, tangents)]
        gradients = sd.gradient(f, *shifted)
        return _flat([g for k, g in enumerate(gradients) if wanted is None or k in wanted] or [np.zeros(0)])

    return central_fdm(5, 1)(moved, 0.0)


HVP_CASES = [
    (loglik, (W, X, Y)),
    (two_layer, (rng.standard_normal((4, 3)), rng.standard_normal(3), X)),
    (scalar_loop, (0.7, -0.4)),
    (calls_a_helper, (W,)),
]


@pytest.mark.parametrize("function, args", HVP_CASES, ids=[f.__name__ for f, _ in HVP_CASES])
def test_hvp_matches_finite_differences_of_the_gradient(function, args):
    tangents = [_direction(a, np.random.default_rng(3)) for a in args]
    saved_args, saved_tangents = copy.deepcopy(args), copy.deepcopy(tangents)
    products = sd.hvp(function, args, tangents)
    assert len(products) == len(args)
    for product, argument in zip(products, args):
        assert np.shape(product) == np.shape(argument)
    np.testing.assert_allclose(_flat(products), _gradient_along(function, saved_args, saved_tangents), rtol=RTOL, atol=ATOL)
    for before, after in zip(saved_args + tuple(saved_tangents), tuple(args) + tuple(tangents)):
        assert np.array_equal(np.asarray(before), np.asarray(after)), "sd.hvp changed an argument or a tangent"


def test_hvp_of_a_cubic_is_exact():
    assert sd.hvp(lambda x, y: x * x * y, (2.0, 3.0), (1.0, 0.0)) == (6.0, 4.0)


def test_hessian_matches_finite_differences_and_is_symmetric():
    def model(w, x, y):
        z = x @ w
        return np.sum(y * z - np.log1p(np.exp(z))) + np.sum(np.sin(w) * w[0])

    def f(w):
        return model(w, X, Y)

    hessian = sd.hessian(f, W)
    assert hessian.shape == (4, 4)
    for j in range(4):
        direction = np.eye(4)[j]
        np.testing.assert_allclose(hessian[:, j], _gradient_along(f, (W,), (direction,)), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(hessian, hessian.T, rtol=1e-12, atol=1e-12)


def test_hessian_of_a_float():
    assert sd.hessian(lambda x: x ** 4, 2.0) == pytest.approx(48.0, rel=1e-12)


def _jacobian_by_differences(f, args, argument):
    """Columns d f / d args[argument][j], by finite differences."""
    x = args[argument]
    columns = []
    for j in range(np.size(x)):
        direction = np.zeros(np.shape(x))
        direction.flat[j] = 1.0

        def moved(t):
            shifted = list(args)
            shifted[argument] = x + t * direction
            return np.asarray(f(*shifted), dtype=float)

        columns.append(central_fdm(5, 1)(moved, 0.0))
    return np.stack(columns, axis=-1).reshape(np.shape(f(*args)) + np.shape(x))


def vector_function(a, b):
    return np.tanh(a @ b) * np.sum(b ** 2)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_matches_finite_differences(mode):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    jacobians = sd.jacobian(vector_function, a, b, mode=mode)
    assert jacobians[0].shape == (3, 3, 4) and jacobians[1].shape == (3, 4)
    for argument in range(2):
        np.testing.assert_allclose(jacobians[argument], _jacobian_by_differences(vector_function, (a, b), argument),
                                   rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_of_nested_outputs_and_scalars(mode):
    def f(x, s):
        return (x * s, np.sum(x) * s)

    x = np.array([1.0, 2.0, 3.0])
    (dx_first, dx_second), (ds_first, ds_second) = sd.jacobian(f, x, 2.0, mode=mode)
    np.testing.assert_allclose(dx_first, 2.0 * np.eye(3), rtol=1e-12)
    np.testing.assert_allclose(dx_second, [2.0, 2.0, 2.0], rtol=1e-12)
    np.testing.assert_allclose(ds_first, x, rtol=1e-12)
    assert ds_second == pytest.approx(6.0, rel=1e-12)


def test_jacobian_modes_must_be_known():
    with pytest.raises(sd.SourceDiffError):
        sd.jacobian(vector_function, np.ones((3, 4)), np.ones(4), mode="sideways")


def test_users_compose_forward_over_reverse_themselves():
    v = rng.standard_normal(4)
    gradient, product = sd.jvp(lambda w: sd.gradient(loglik, w, X, Y)[0], (W,), (v,))
    np.testing.assert_allclose(gradient, sd.gradient(loglik, W, X, Y)[0], rtol=1e-12)
    np.testing.assert_allclose(product, _gradient_along(lambda w: loglik(w, X, Y), (W,), (v,)), rtol=RTOL, atol=ATOL)


def test_reverse_mode_through_a_gradient_is_the_hessian_times_the_seed():
    v = rng.standard_normal(4)
    (product,) = sd.gradient(lambda w: np.sum(sd.gradient(loglik, w, X, Y)[0] * v), W)
    np.testing.assert_allclose(product, _gradient_along(lambda w: loglik(w, X, Y), (W,), (v,)), rtol=RTOL, atol=ATOL)


def test_no_perturbation_confusion_with_a_closure_over_the_outer_variable():
    def outer(x):
        return x * sd.gradient(lambda y: x + y, 1.0)[0]

    assert sd.gradient(outer, 1.0) == (1.0,)
    assert sd.jvp(outer, (1.0,), (1.0,))[1] == 1.0


def test_second_derivative_through_a_closure_over_the_outer_variable():
    def outer(x):
        return sd.gradient(lambda y: x * x * y * y, 1.5)[0]  # 2 x² y at y = 1.5: d/dx = 4 x y

    assert sd.jvp(outer, (2.0,), (1.0,))[1] == pytest.approx(12.0, rel=1e-12)
    assert sd.gradient(outer, 2.0)[0] == pytest.approx(12.0, rel=1e-12)


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_corpus_hvp_is_right_or_refused(case):
    """Every corpus function with a gradient: its Hessian-vector product matches finite differences of its
    gradient, or forward over reverse refuses it with a `SourceDiffError` — never a wrong product."""
    try:
        sd.gradient(case.function, *copy.deepcopy(case.args))
    except sd.SourceDiffError:
        return
    tangents = [_direction(a, np.random.default_rng(1)) for a in case.args]
    try:
        products = sd.hvp(case.function, copy.deepcopy(case.args), tangents)
    except sd.SourceDiffError:
        return
    floats = [k for k, a in enumerate(case.args) if isinstance(a, (float, np.ndarray))]
    expected = _gradient_along(case.function, copy.deepcopy(case.args), tangents, floats)
    got = _flat([products[k] for k in floats] or [np.zeros(0)])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_a_refusal_points_at_the_users_line():
    def uses_a_float32_rule(x):
        return np.sum(np.exp(x.astype(np.float32)) * x)

    with pytest.raises(sd.SourceDiffError) as raised:
        sd.hvp(uses_a_float32_rule, (np.ones(3),), (np.ones(3),))
    assert raised.value.filename == __file__


def _rearranged(x):
    y = np.reshape(x, (2, 2))
    z = np.transpose(y) * y
    return np.sum(np.flip(z, 0) * np.tanh(y) + np.squeeze(np.expand_dims(y, 0)) ** 3)


def test_forward_over_reverse_through_reshapes_transposes_and_sums():
    """Rearranging functions keep a float64 array's kind (their results' operations inline), and their rrules and
    pullbacks, which hold no primal value, are pushed through by their frules: the Hessian is the differences
    of the gradient, in one batch and one product at a time."""
    from ..differences import jacobian_by_differences

    x = np.array([0.3, -0.7, 1.1, 0.4])
    assert "reshape_rrule" in sd.source(_rearranged, example=(x,)) and "z = transpose * y" in sd.source(_rearranged, example=(x,))
    expected = jacobian_by_differences(lambda u: sd.gradient(_rearranged, u)[0], x)
    np.testing.assert_allclose(sd.hessian(_rearranged, x), expected, rtol=1e-6, atol=1e-8)
    direction = np.array([1.0, -0.5, 0.25, 2.0])
    np.testing.assert_allclose(sd.hvp(_rearranged, (x,), (direction,))[0], expected @ direction, rtol=1e-6, atol=1e-8)


# Forward over reverse through the rules a pullback calls (sourcediff/sites.py, calls._linear_rule_pushed)

def _at_unknown_kinds(x, m):
    tiled = np.tile(x, 2)  # (a call's result: the reverse code calls the rules of what follows)
    scaled = tiled * np.arange(1.0, 7.0) + np.exp(tiled) / (1.0 + tiled ** 2)
    return np.sum(scaled * scaled) + m.sum(axis=0) @ np.tanh(m.mean(axis=1) @ m) + np.cumsum(m + 2.0, axis=0).max()


def _products_and_choices(v, a):
    b = np.transpose(np.flip(a, 0))
    quadratic = np.dot(v, a @ b @ v) + np.einsum("ij,jk,k->", a, b, v) + np.vdot(v, np.sin(v))
    picked = np.max(v * a[0]) + np.min(np.sort(v) * np.arange(3.0)) + np.sum(np.where(v > 0.1, v ** 3, -v))
    clipped = np.sum(np.clip(v * a[2], -0.5, 0.7) ** 2)  # (0.455 and -0.36 inside, 1.08 clipped)
    return quadratic + picked + clipped + np.sum(np.cumsum(v * v) * a[1])


def _loops_over_lists(values, w):
    total = 0.0
    squares = []
    for v in values:
        total += v * w
        squares.append(np.sin(v * total))
    return total * sum(squares) + tuple(squares)[0] ** 2


def _writes_into_arrays_in_a_loop(x, w):
    y = np.zeros(3)
    rows = np.ones((2, 3))
    for i in range(3):
        y[i] = x[i] * x[(i + 1) % 3] + w
        rows[i % 2] = rows[i % 2] * np.tanh(y)
        y += 0.1 * y[i]
    return np.sum(y * y) + np.sum(rows ** 2) * w


SITE_CASES = [
    (_at_unknown_kinds, (np.array([0.3, -0.5, 0.8]), np.array([[0.4, -0.2, 0.7], [0.1, 0.9, -0.3]]))),
    (_products_and_choices, (np.array([0.35, -0.6, 1.2]), np.array([[0.5, -1.1, 0.3], [0.8, 0.2, -0.4], [1.3, 0.6, 0.9]]))),
    (_loops_over_lists, ([0.4, -0.9, 1.3], 0.6)),
    (_writes_into_arrays_in_a_loop, (np.array([0.5, -0.8, 1.1]), 0.3)),
]


@pytest.mark.parametrize("function, args", SITE_CASES, ids=[f.__name__ for f, _ in SITE_CASES])
def test_forward_over_reverse_through_the_rules_the_pullback_calls(function, args):
    """Rules called at sites of unknown kinds (re-derived at their run-time kinds), products (multilinear pullbacks),
    maxima, sorts, where, clip and cumsum (pullbacks linear and locally constant), loops over lists and writes into arrays
    in loops: the Hessian-vector product is the differences of the gradient, one product at a time and batched."""
    from ..differences import jacobian_by_differences

    directions = [np.linspace(-1.0, 1.0, np.size(a)).reshape(np.shape(a)) + 0.3 for a in args]
    tangents = [list(d) if isinstance(a, list) else d for a, d in zip(args, directions)]
    products = sd.hvp(function, copy.deepcopy(args), tangents)
    expected = _gradient_along(function, args, [np.asarray(d) if isinstance(a, list) else d for a, d in zip(args, tangents)])
    got = _flat([np.asarray(p, dtype=float) for p in products])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    if isinstance(args[0], np.ndarray):
        x, other = args

        def of_first(u):
            return function(u, other)

        hessian = jacobian_by_differences(lambda u: sd.gradient(of_first, u)[0], x)
        np.testing.assert_allclose(sd.hessian(of_first, x), hessian, rtol=1e-6, atol=1e-7)


def test_a_site_is_on_the_users_line():
    """Where the run-time kinds do not help (float32 arrays), the refusal names the user's function and line."""
    def float32_product(x):
        y = np.tile(x, 2).astype(np.float32)
        return np.sum(y * y)

    with pytest.raises(sd.SourceDiffError) as raised:
        sd.hvp(float32_product, (np.ones(2),), (np.ones(2),))
    assert (raised.value.function, raised.value.filename) == ("float32_product", __file__)
    assert raised.value.code.strip() in ("y = np.tile(x, 2).astype(np.float32)", "return np.sum(y * y)")
