"""Checks of the np.linalg rules: every sample against finite differences, then targeted cases."""
import numpy as np
import pytest

from sourcediff.rules.differentials import NO_FIELDS, ZERO, Tangent, extern, is_zero
from sourcediff.rules.numpy_shapes import draw
from sourcediff.rules.registry import RULES, frule, rrule, samples_of
from sourcediff.testing import central_fdm, test_frule, test_rrule

LINALG = (np.linalg.inv, np.linalg.solve, np.linalg.det, np.linalg.slogdet, np.linalg.cholesky, np.linalg.norm)
LINALG_RULES = [(f, s) for f in LINALG for s in samples_of(RULES[f])]
SPD = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, -0.5], [0.5, -0.5, 2.0]])


@pytest.mark.parametrize("f, sample", LINALG_RULES, ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(LINALG_RULES)])
def test_rules_match_finite_differences(f, sample):
    test_rrule(f, *sample.args, **sample.kwargs)
    test_frule(f, *sample.args, **sample.kwargs)


def test_zero_seeds_and_tangents():
    for f, args in [(np.linalg.inv, (SPD,)), (np.linalg.solve, (SPD, np.ones(3))), (np.linalg.det, (SPD,)),
                    (np.linalg.slogdet, (SPD,)), (np.linalg.cholesky, (SPD,)), (np.linalg.norm, (SPD,))]:
        assert rrule(f, *args)[1](ZERO) == (NO_FIELDS,) + (ZERO,) * len(args)
        assert frule(f, *args)[1](NO_FIELDS, *(ZERO,) * len(args)) is ZERO


def test_slogdet_gradient_flows_through_logabsdet_only_for_real_matrices():
    a = -SPD
    pullback = rrule(np.linalg.slogdet, a)[1]
    assert pullback((1.0, ZERO)) == (NO_FIELDS, ZERO)
    test_rrule(np.linalg.slogdet, a, output_cotangent=(0.0, 1.0))
    by_tuple = pullback((ZERO, 2.0))[1]
    by_tangent = pullback(Tangent(type(np.linalg.slogdet(a)), logabsdet=2.0))[1]
    np.testing.assert_allclose(by_tuple, by_tangent)
    y_dot = frule(np.linalg.slogdet, a)[1](NO_FIELDS, draw((3, 3), 1))
    assert is_zero(y_dot[0])


def test_slogdet_of_a_complex_matrix_turns_its_sign():
    z = 2 * np.eye(2) + 0.5 * draw((2, 2), 2, np.complex128)
    test_rrule(np.linalg.slogdet, z, output_cotangent=(1.0 - 2.0j, 0.0))
    test_frule(np.linalg.slogdet, z)


def test_solve_with_vector_and_matrix_right_hand_sides():
    for b in (draw(3, 3), draw((3, 2), 4), draw((2, 3, 1), 5)):
        _, a_bar, b_bar = test_rrule(np.linalg.solve, SPD, b)
        assert extern(a_bar).shape == SPD.shape and extern(b_bar).shape == b.shape


def _symmetric_fd(f, a, direction):
    return central_fdm(5, 1)(lambda t: f(a + t * direction), 0.0)


def test_cholesky_along_symmetric_perturbations():
    direction = draw((3, 3), 6)
    direction = direction + direction.T
    seed = np.tril(draw((3, 3), 7))
    l_dot = frule(np.linalg.cholesky, SPD)[1](NO_FIELDS, direction)
    np.testing.assert_allclose(l_dot, _symmetric_fd(np.linalg.cholesky, SPD, direction).reshape(3, 3), atol=1e-8)
    _, a_bar = rrule(np.linalg.cholesky, SPD)[1](seed)
    expected = _symmetric_fd(lambda a: np.sum(seed * np.linalg.cholesky(a)), SPD, direction)
    np.testing.assert_allclose(np.sum(a_bar * direction), expected, atol=1e-8)


def test_cholesky_cotangent_lives_in_the_triangle_numpy_reads():
    seed = np.tril(draw((3, 3), 8))
    _, a_bar = rrule(np.linalg.cholesky, SPD)[1](seed)
    np.testing.assert_array_equal(np.triu(a_bar, 1), 0.0)
    _, a_bar = rrule(np.linalg.cholesky, SPD, upper=True)[1](seed.T)
    np.testing.assert_array_equal(np.tril(a_bar, -1), 0.0)


def test_float32_is_preserved():
    a = SPD.astype(np.float32)
    for f in (np.linalg.inv, np.linalg.det, np.linalg.cholesky, np.linalg.norm):
        y, pullback = rrule(f, a)
        assert extern(pullback(np.ones(np.shape(y)))[1]).dtype == np.float32
    test_rrule(np.linalg.inv, a, rtol=1e-3, atol=1e-3)


def test_norm_of_zero_is_finite_and_row_norms():
    for ord in (None, 1, 3, np.inf):
        _, x_bar = rrule(np.linalg.norm, np.zeros(3), ord)[1](1.0)[:2]
        assert np.all(np.isfinite(x_bar))
    x = draw((3, 4), 9)
    _, x_bar = rrule(np.linalg.norm, x, axis=1)[1](np.ones(3))
    np.testing.assert_allclose(np.sum(x_bar * x, axis=1), np.linalg.norm(x, axis=1))
    test_rrule(np.linalg.norm, x, axis=1)
    test_frule(np.linalg.norm, x, axis=1)


VECTOR_ORDS = [None, 1, 2, 3, 0.5, -1, -2, np.inf, -np.inf, 0]
MATRIX_ORDS = [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]


@pytest.mark.filterwarnings("ignore:divide by zero")
@pytest.mark.parametrize("x, ord, kwargs", [(np.zeros(3), o, {}) for o in VECTOR_ORDS]
                         + [(np.zeros((3, 2)), o, {}) for o in MATRIX_ORDS]
                         + [(np.zeros((2, 3), complex), None, {}), (np.zeros((2, 2, 2)), "nuc", {"axis": (1, 2)}),
                            (np.zeros((2, 3)), 1, {"axis": 1, "keepdims": True}), (np.zeros((2, 3), np.float32), 2, {"axis": 0})])
def test_norm_at_zero_has_the_subgradient_zero(x, ord, kwargs):
    y, pullback = rrule(np.linalg.norm, x, ord, **kwargs)
    _, x_bar, _ = pullback(np.ones(np.shape(y)))
    assert np.all(x_bar == 0) and x_bar.dtype == x.dtype
    y_dot = frule(np.linalg.norm, x, ord, **kwargs)[1](None, draw(x.shape, 10), ZERO)
    assert np.all(y_dot == 0)


def test_norm_is_zero_only_in_the_rows_that_are_zero():
    x = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, -4.0]])
    for ord in (None, 1, 3, np.inf):
        _, x_bar, _, _ = rrule(np.linalg.norm, x, ord, 1)[1](np.ones(2))
        assert np.all(x_bar[0] == 0) and np.all(np.isfinite(x_bar[1])) and np.any(x_bar[1] != 0)
    test_rrule(np.linalg.norm, x[1:], 3, 1)
    _, stack_bar, _, _ = rrule(np.linalg.norm, np.stack([np.zeros((2, 2)), np.eye(2)]), "nuc", (1, 2))[1](np.ones(2))
    np.testing.assert_array_equal(stack_bar[0], 0.0)
    np.testing.assert_allclose(stack_bar[1], np.eye(2))
