"""The NumPy functions that write into an argument: their declarations, their functional forms against
finite differences and against NumPy itself, and gradients of functions that call them."""
import warnings

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.rules import numpy_mutators
from sourcediff.rules.differentials import NO_FIELDS, ZERO, is_zero
from sourcediff.rules.linear import draw
from sourcediff.rules.registry import RULES, lookup, rrule
from sourcediff.testing import fd_vjp, test_frule, test_rrule

MUTATORS = {
    np.copyto: numpy_mutators.copyto_functional, np.fill_diagonal: numpy_mutators.fill_diagonal_functional,
    np.put: numpy_mutators.put_functional, np.place: numpy_mutators.place_functional,
    np.putmask: numpy_mutators.putmask_functional, np.add.at: numpy_mutators.add_at_functional,
    np.subtract.at: numpy_mutators.subtract_at_functional, np.multiply.at: numpy_mutators.multiply_at_functional,
}
M = draw((3, 4), 1)


def check(functional, *args, rtol=1e-6, **kwargs):
    test_rrule(functional, *args, rtol=rtol, atol=rtol, **kwargs)
    test_frule(functional, *args, rtol=rtol, atol=rtol, **kwargs)


@pytest.mark.parametrize("f", list(MUTATORS))
def test_declared_mutators_of_their_first_argument(f):
    assert RULES[f].functional == (0, MUTATORS[f])
    assert RULES[MUTATORS[f]].fresh


def test_bound_ufunc_methods_are_found_though_fetched_anew():
    assert np.add.at is not np.add.at and np.add.at == np.add.at
    assert lookup(np.add.at) is lookup(np.add.at) is RULES[np.add.at]
    assert lookup(np.subtract.at) is not lookup(np.add.at)


@pytest.mark.parametrize("f, args, kwargs", [
    (np.copyto, (M, draw(4, 2)), {"where": M > 0}), (np.copyto, (M.astype(np.float32), 2.5), {}),
    (np.copyto, (M.astype(complex), M), {}), (np.fill_diagonal, (draw((5, 3), 3), [1.5, 2.5]), {"wrap": True}),
    (np.fill_diagonal, (draw((2, 2, 2), 4), 0.5), {}), (np.put, (M, [-1, 30, 4], [1.5, 2.5]), {"mode": "wrap"}),
    (np.place, (M, M < 0, [9.0, 8.0]), {}), (np.putmask, (M, M > 0, [7.0, 6.0, 5.0]), {}),
    (np.add.at, (M, ([0, 0, 2], [1, 1, 3]), [1.0, 2.0, 3.0]), {}), (np.multiply.at, (M, [1, 1], 2.0), {}),
])
def test_functional_forms_compute_what_numpy_writes_and_change_nothing(f, args, kwargs):
    before = [np.copy(a) for a in args]
    new = MUTATORS[f](*args, **kwargs)
    written = np.array(args[0], copy=True)
    f(written, *args[1:], **kwargs)
    np.testing.assert_array_equal(new, written)
    assert new.dtype == written.dtype and not np.shares_memory(new, args[0])
    for a, b in zip(before, args):
        np.testing.assert_array_equal(a, b)


def test_copyto_casts_and_refuses_as_numpy_does():
    with pytest.raises(TypeError):
        numpy_mutators.copyto_functional(M.astype(np.float32), M, casting="no")
    with pytest.raises(TypeError):
        numpy_mutators.copyto_functional(np.zeros(3), np.ones(3, complex))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        _, dst_bar, src_bar = test_rrule(numpy_mutators.copyto_functional, np.zeros(3), np.array([1.0 + 2.0j, 0.5j, 1.0]),
                                         casting="unsafe")
    assert src_bar.dtype == complex and np.all(src_bar.imag == 0)
    _, dst_bar, src_bar = test_rrule(numpy_mutators.copyto_functional, M.astype(np.float32), draw(4, 5), rtol=1e-4, atol=1e-4)
    assert dst_bar.dtype == np.float32 and src_bar.dtype == np.float64 and src_bar.shape == (4,)


def test_copyto_where_sends_the_cotangent_to_either_side():
    where = np.array([True, False, True])
    _, dst_bar, src_bar = rrule(numpy_mutators.copyto_functional, np.zeros(3), 1.5, where=where)[1](np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(dst_bar, [0.0, 2.0, 0.0])
    assert src_bar == 4.0 and type(src_bar) is float


@pytest.mark.parametrize("shape, value, wrap", [
    ((3, 3), 1.5, False), ((4, 2), np.array([0.5, -1.0, 2.0]), False), ((7, 2), np.array([0.5, -1.0, 2.0]), True),
    ((3, 3, 3), [0.5, 1.5], False), ((2, 5), draw(5, 6), False),
])
def test_fill_diagonal_repeats_values_as_numpy_does(shape, value, wrap):
    check(numpy_mutators.fill_diagonal_functional, draw(shape, 7), value, wrap=wrap)


def test_fill_diagonal_cotangent_of_a_repeated_value_adds_up():
    _, a_bar, value_bar = rrule(numpy_mutators.fill_diagonal_functional, np.zeros((3, 3)), 2.0)[1](np.arange(9.0).reshape(3, 3))
    assert value_bar == 0.0 + 4.0 + 8.0
    np.testing.assert_array_equal(np.diag(a_bar), 0.0)
    assert a_bar[0, 1] == 1.0


@pytest.mark.parametrize("mode", ["raise", "wrap", "clip"])
def test_put_modes(mode):
    indices = [0, 5, 11] if mode == "raise" else [-13, 5, 40]
    check(numpy_mutators.put_functional, M, indices, np.array([1.5, -2.0, 0.5]), mode=mode)


def test_put_last_write_wins_and_values_repeat():
    _, a_bar, _, v_bar = rrule(numpy_mutators.put_functional, np.zeros(4), [1, 1, 2, 3], np.array([1.0, 2.0]))[1](
        np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(a_bar, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(v_bar, [3.0, 2.0 + 4.0])


def test_place_and_putmask_repeat_values_differently():
    mask = np.array([False, True, True, True])
    _, _, _, place_bar = rrule(numpy_mutators.place_functional, np.zeros(4), mask, np.array([1.0, 2.0]))[1](np.arange(4.0))
    np.testing.assert_array_equal(place_bar, [1.0 + 3.0, 2.0])
    _, _, _, putmask_bar = rrule(numpy_mutators.putmask_functional, np.zeros(4), mask, np.array([1.0, 2.0]))[1](np.arange(4.0))
    np.testing.assert_array_equal(putmask_bar, [2.0, 1.0 + 3.0])


@pytest.mark.parametrize("functional", [numpy_mutators.add_at_functional, numpy_mutators.subtract_at_functional,
                                        numpy_mutators.multiply_at_functional])
@pytest.mark.parametrize("indices, b", [
    ([0, 0, 0, 2], draw(4, 8)), (([0, 2, 2], [1, 3, 3]), draw(3, 9)), ((slice(None), [1, 1]), draw((3, 1), 10)),
    ([1, 1], 1.5), ([2, 2, 2], np.array([[0.0], [1.5], [0.0]])), (([2, 2, 0], 1), np.array([0.0, 1.5, -2.0])),
])
def test_ufunc_at_with_repeated_indices(functional, indices, b):
    check(functional, M, indices, b)


def test_multiply_at_is_exact_where_values_are_zero():
    _, a_bar, _, b_bar = rrule(numpy_mutators.multiply_at_functional, np.array([2.0, 3.0]), [0, 0, 1], np.array([0.0, 5.0, 0.0]))[1](
        np.ones(2))
    np.testing.assert_array_equal(a_bar, [0.0, 0.0])
    np.testing.assert_array_equal(b_bar, [10.0, 0.0, 3.0])


def test_ufunc_at_on_integers_has_no_derivative():
    y, pullback = rrule(numpy_mutators.add_at_functional, np.arange(3), [0, 0], 2)
    assert list(y) == [4, 1, 2] and pullback(np.ones(3)) == (NO_FIELDS, ZERO, ZERO, ZERO)


def assert_gradient_matches_finite_differences(f, *args):
    for got, want in zip(sd.gradient(f, *args), fd_vjp(f, args, 1.0)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_gradients_of_functions_that_write_with_them():
    weights = np.arange(1.0, 13.0).reshape(3, 4)

    def copy_and_put(x, v):
        a = np.zeros((3, 4))
        np.copyto(a, x, where=x > 0)
        np.put(a, [0, 5, 5], v)
        return np.sum(a * weights)

    def diagonal_and_mask(x, s):
        a = x * 1.0
        np.fill_diagonal(a, s)
        np.putmask(a, x < 0, x ** 2)
        np.place(a, x > 1.5, [s, 2 * s])
        return np.sum(a * weights)

    def accumulate(x, b):
        a = x + 0.0
        np.add.at(a, ([0, 0, 2], [1, 1, 3]), b)
        np.subtract.at(a, [1], b[0])
        np.multiply.at(a, ([2, 2], [0, 0]), b[1:])
        return np.sum(a * weights)

    x, b = draw((3, 4), 11), draw(3, 12)
    assert_gradient_matches_finite_differences(copy_and_put, x, b[:2])
    assert_gradient_matches_finite_differences(diagonal_and_mask, x, 0.75)
    assert_gradient_matches_finite_differences(accumulate, x, b)


def test_a_write_into_an_input_does_not_reach_the_caller():
    def f(x, v):
        np.copyto(x, v)
        return np.sum(x ** 2)

    x = np.array([1.0, 2.0])
    gx, gv = sd.gradient(f, x, np.array([3.0, -1.0]))
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert np.all(gx == 0) and np.allclose(gv, [6.0, -2.0]) and not is_zero(gv)
