"""Checks of the product rules: every sample against finite differences, then targeted cases."""
import operator

import numpy as np
import pytest

from sourcediff.rules.differentials import NO_FIELDS, ZERO, Thunk, extern
from sourcediff.rules.numpy_shapes import draw
from sourcediff.rules.registry import RULES, frule, rrule, samples_of
from sourcediff.testing import test_frule, test_rrule

PRODUCTS = (np.matmul, operator.matmul, np.dot, np.ndarray.dot, np.inner, np.outer, np.vdot, np.kron, np.einsum, np.trace)
PRODUCT_RULES = [(f, s) for f in PRODUCTS for s in samples_of(RULES[f])]


@pytest.mark.parametrize("f, sample", PRODUCT_RULES, ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(PRODUCT_RULES)])
def test_rules_match_finite_differences(f, sample):
    test_rrule(f, *sample.args, **sample.kwargs)
    test_frule(f, *sample.args, **sample.kwargs)


def test_matmul_and_the_operator_share_one_rule():
    assert RULES[np.matmul].rrule is RULES[operator.matmul].rrule


@pytest.mark.parametrize("a_shape, b_shape", [((2, 1, 2, 3), (3, 3, 2)), ((3,), (4, 3, 2)), ((2, 2, 3), (3,)), ((3,), (3,))])
def test_matmul_broadcasting_is_undone(a_shape, b_shape):
    a, b = draw(a_shape, 1), draw(b_shape, 2)
    _, a_bar, b_bar = test_rrule(operator.matmul, a, b)
    assert extern(a_bar).shape == a_shape and extern(b_bar).shape == b_shape


def test_products_keep_float32_and_stay_real():
    a, b = draw((2, 3), 3, np.float32), draw((3, 2), 4, np.complex128)
    _, a_bar, b_bar = rrule(np.matmul, a, b)[1](draw((2, 2), 5, np.complex128))
    assert extern(a_bar).dtype == np.float32 and extern(b_bar).dtype == np.complex128
    _, _, u_bar, v_bar = rrule(np.einsum, "i,i->", a[0], a[1])[1](1.0 + 1.0j)
    assert extern(u_bar).dtype == extern(v_bar).dtype == np.float32


def test_cotangents_are_thunks_and_zero_seeds_give_zeros():
    a, b = draw((2, 3), 6), draw((3, 2), 7)
    cotangents = rrule(np.matmul, a, b)[1](np.ones((2, 2)))
    assert all(isinstance(c, Thunk) for c in cotangents[1:])
    for f, args in [(np.matmul, (a, b)), (np.dot, (a, b)), (np.einsum, ("ij,jk", a, b)), (np.trace, (a,))]:
        assert rrule(f, *args)[1](ZERO) == (NO_FIELDS,) + (ZERO,) * len(args)
        assert frule(f, *args)[1](NO_FIELDS, *(ZERO,) * len(args)) is ZERO


def test_einsum_trace_and_diagonal():
    square = draw((3, 3), 8)
    for subscripts in ("ii->", "ii"):
        _, _, x_bar = rrule(np.einsum, subscripts, square)[1](2.0)
        np.testing.assert_array_equal(extern(x_bar), 2.0 * np.eye(3))
    _, _, x_bar = rrule(np.einsum, "ii->i", square)[1](np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(extern(x_bar), np.diag([1.0, 2.0, 3.0]))
    _, x_bar = rrule(np.trace, square)[1](2.0)[:2]
    np.testing.assert_array_equal(x_bar, 2.0 * np.eye(3))


def test_einsum_sums_indices_found_in_one_operand_only():
    a = draw((2, 3), 9)
    _, _, a_bar = rrule(np.einsum, "ij->i", a)[1](np.array([1.0, 2.0]))
    np.testing.assert_array_equal(extern(a_bar), [[1.0] * 3, [2.0] * 3])
    test_rrule(np.einsum, "ij,k->i", a, draw(4, 10))
    test_rrule(np.einsum, "...ij,...jk->...ik", draw((2, 1, 2, 3), 11), draw((3, 3, 2), 12))


def test_pushforwards_accept_zero_for_some_operands():
    a, b, c = draw((2, 3), 13), draw((3, 4), 14), draw((4, 2), 15)
    b_dot = draw((3, 4), 16)
    y_dot = frule(np.einsum, "ij,jk,kl->il", a, b, c)[1](NO_FIELDS, ZERO, ZERO, b_dot, ZERO)
    np.testing.assert_allclose(y_dot, np.einsum("ij,jk,kl->il", a, b_dot, c))


def test_complex_products_follow_the_conjugating_convention():
    a, b = draw((2, 3), 17, np.complex128), draw((3,), 18, np.complex128)
    for f in (np.matmul, np.dot, np.inner, np.outer, np.kron):
        test_rrule(f, a, b)
        test_frule(f, a, b)
    test_rrule(np.vdot, a, draw((3, 2), 19, np.complex128))
    test_frule(np.vdot, a, draw((3, 2), 19, np.complex128))
