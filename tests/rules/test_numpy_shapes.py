"""Checks of the shape rules: every sample against finite differences, then targeted cases."""
import warnings

import numpy as np
import pytest

from sourcediff.rules.differentials import NO_FIELDS, ZERO, Thunk, is_zero
from sourcediff.rules.numpy_shapes import ARRAY_PROPERTIES, draw
from sourcediff.rules.registry import RULES, frule, rrule, samples_of
from sourcediff.testing import fd_vjp, test_frule, test_rrule

SHAPE_FUNCTIONS = (
    np.reshape, np.ravel, np.expand_dims, np.squeeze, np.transpose, np.swapaxes, np.moveaxis, np.flip, np.copy,
    np.broadcast_to, np.tile, np.repeat, np.concatenate, np.stack, np.hstack, np.vstack, np.array, np.asarray, np.sort,
    np.ndarray.reshape, np.ndarray.ravel, np.ndarray.flatten, np.ndarray.squeeze, np.ndarray.transpose,
    np.ndarray.swapaxes, np.ndarray.copy, np.ndarray.astype, *ARRAY_PROPERTIES.values(),
)
SHAPE_RULES = [(f, s) for f in SHAPE_FUNCTIONS for s in samples_of(RULES[f])]


@pytest.mark.parametrize("f, sample", SHAPE_RULES, ids=[f"{getattr(f, '__qualname__', f)}-{i}" for i, (f, _) in enumerate(SHAPE_RULES)])
def test_rules_match_finite_differences(f, sample):
    test_rrule(f, *sample.args, **sample.kwargs)
    test_frule(f, *sample.args, **sample.kwargs)


def _inner(a, b):
    return float(np.sum(np.asarray(a) * np.asarray(b)))


@pytest.mark.parametrize("order", ["C", "F", "A", "K"])
def test_ravel_of_a_fortran_array_is_transposed_exactly(order):
    # Finite differences only ever see C-ordered copies, so check <ȳ, f(ẋ)> = <x̄, ẋ> directly.
    x = np.asfortranarray(draw((2, 3), 1))
    for f in (np.ravel, np.ndarray.ravel, np.ndarray.flatten):
        y, pullback = rrule(f, x, order)
        y_bar, x_dot = draw(6, 2), np.asfortranarray(draw((2, 3), 3))
        x_bar = pullback(y_bar)[1]
        assert np.isclose(_inner(y_bar, frule(f, x, order)[1](NO_FIELDS, x_dot, ZERO)), _inner(x_bar, x_dot))


def test_reshape_method_takes_the_shape_as_separate_arguments_or_a_tuple():
    x = draw((2, 3), 4)
    for shape in [(3, 2), ((3, 2),), (-1,), (3, -1)]:
        y, pullback = rrule(np.ndarray.reshape, x, *shape)
        cotangents = pullback(np.ones(y.shape))
        assert len(cotangents) == 2 + len(shape) and all(is_zero(c) for c in cotangents[2:])
        assert cotangents[1].shape == x.shape


def test_transpose_method_takes_axes_one_by_one_as_a_tuple_or_none():
    x = draw((2, 3, 4), 5)
    for axes in [(), (1, 2, 0), ((1, 2, 0),), (None,)]:
        test_rrule(np.ndarray.transpose, x, *axes)


def test_array_properties_map_to_rules():
    assert set(ARRAY_PROPERTIES) == {"T", "real", "imag"}
    z = draw((2, 3), 6, np.complex128)
    for f in ARRAY_PROPERTIES.values():
        test_rrule(f, z)
        test_frule(f, z)
    _, x_bar = rrule(ARRAY_PROPERTIES["imag"], draw(3, 7))[1](np.ones(3))
    np.testing.assert_array_equal(x_bar, np.zeros(3))
    assert not np.iscomplexobj(x_bar)


def test_float32_is_preserved():
    x = draw((2, 3), 8, np.float32)
    for f, args in [(np.reshape, (x, 6)), (np.transpose, (x,)), (np.concatenate, ([x, x],)), (np.sort, (x,))]:
        y, pullback = rrule(f, *args)
        cotangents = pullback(np.ones(y.shape))
        leaves = cotangents[1] if isinstance(cotangents[1], list) else [cotangents[1]]
        assert all(leaf.dtype == np.float32 for leaf in leaves)


def test_casts():
    x = draw((2, 3), 9)
    test_rrule(np.ndarray.astype, x, np.float32, rtol=1e-4, atol=1e-4)
    test_frule(np.ndarray.astype, x, np.float32, rtol=1e-4, atol=1e-4)
    _, x_bar, _ = rrule(np.ndarray.astype, x.astype(np.float32), np.float64)[1](np.ones((2, 3)))
    assert x_bar.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        z = draw((2, 3), 10, np.complex128)
        test_rrule(np.ndarray.astype, z, np.float64)
        test_frule(np.ndarray.astype, z, np.float64)


def test_casting_to_int_has_no_derivative():
    x = draw(3, 11)
    y, pullback = rrule(np.ndarray.astype, x, int)
    assert pullback(np.ones(3)) == (NO_FIELDS, ZERO, ZERO)
    assert frule(np.ndarray.astype, x, int)[1](NO_FIELDS, np.ones(3), ZERO) is ZERO
    assert rrule(np.reshape, np.arange(6), (2, 3))[1](np.ones((2, 3)))[1] is ZERO


def test_zero_and_thunk_seeds():
    x = draw((2, 3), 12)
    for f, args in [(np.reshape, (x, (3, 2))), (np.concatenate, ([x, x], 1)), (np.sort, (x, 0)), (np.tile, (x, 2))]:
        y, pullback = rrule(f, *args)
        assert pullback(ZERO) == (NO_FIELDS,) + (ZERO,) * len(args)
        assert all(c is ZERO for c in pullback(ZERO)[1:])
        y_bar = draw(y.shape, 13)
        saved = y_bar.copy()
        eager = pullback(y_bar)[1]
        lazy = pullback(Thunk(lambda: y_bar))[1]
        np.testing.assert_array_equal(np.asarray(eager), np.asarray(lazy))
        np.testing.assert_array_equal(y_bar, saved)


def test_array_of_a_list_gets_a_list_cotangent():
    y, pullback = rrule(np.array, [1.0, 2.0, 4.0])
    _, xs_bar = pullback(np.array([5.0, 6.0, 7.0]))
    assert type(xs_bar) is list and all(type(v) is float for v in xs_bar) and xs_bar == [5.0, 6.0, 7.0]
    rows = (draw(2, 14), draw(2, 15))
    _, rows_bar = rrule(np.asarray, rows)[1](np.ones((2, 2)))
    assert type(rows_bar) is tuple and rows_bar[0].shape == (2,)
    x = draw(3, 16)
    assert isinstance(rrule(np.array, x)[1](np.ones(3))[1], np.ndarray)


def test_joining_returns_one_cotangent_per_piece_in_the_container_given():
    a, b = draw((2, 1), 17), draw((2, 3), 18)
    _, pieces, _ = rrule(np.concatenate, (a, b), 1)[1](np.arange(8.0).reshape(2, 4))
    assert type(pieces) is tuple
    np.testing.assert_array_equal(pieces[0], [[0.0], [4.0]])
    np.testing.assert_array_equal(pieces[1], [[1.0, 2.0, 3.0], [5.0, 6.0, 7.0]])
    y_dot = frule(np.concatenate, [a, b], 1)[1](NO_FIELDS, [ZERO, np.ones((2, 3))], ZERO)
    np.testing.assert_array_equal(y_dot, [[0.0, 1.0, 1.0, 1.0]] * 2)
    assert frule(np.stack, [a, a])[1](NO_FIELDS, [ZERO, ZERO]) is ZERO


def test_sort_sends_each_seed_to_the_entry_it_came_from():
    _, x_bar = rrule(np.sort, np.array([3.0, 1.0, 2.0]))[1](np.array([10.0, 20.0, 30.0]))
    np.testing.assert_array_equal(x_bar, [30.0, 10.0, 20.0])


def test_repeat_with_zero_repeats_and_broadcast_to_sum_back():
    x = draw((2, 3), 19)
    _, x_bar, _, _ = rrule(np.repeat, x, [2, 0, 1], 1)[1](np.ones((2, 3)))
    np.testing.assert_array_equal(x_bar, [[2.0, 0.0, 1.0]] * 2)
    _, v_bar, _ = rrule(np.broadcast_to, draw(3, 20), (4, 3))[1](np.ones((4, 3)))
    np.testing.assert_array_equal(v_bar, [4.0, 4.0, 4.0])


# np.r_ and np.c_: one rule, on the method both call

R_GETITEM = type(np.r_).__getitem__
X3, Y3 = draw(3, 90), draw(3, 91)


@pytest.mark.parametrize("concatenator, key", [
    (np.r_, (X3, Y3)), (np.r_, (X3, 2.0, Y3[1:])), (np.c_, (X3, Y3)), (np.r_, ("0,2", X3, Y3)), (np.r_, ("1,2,0", X3, Y3)),
    (np.r_, (X3, slice(0, 3), -1)), (np.r_, (X3, slice(0.0, 1.0, 4j), Y3)), (np.r_, X3),
    (np.c_, (draw((3, 2), 92), X3)), (np.r_, ("r", X3, Y3)),
])
@pytest.mark.filterwarnings("ignore:the matrix subclass")
def test_concatenators_against_finite_differences(concatenator, key):
    assert type(np.c_).__getitem__ is R_GETITEM
    test_rrule(R_GETITEM, concatenator, key)
    test_frule(R_GETITEM, concatenator, key)


def test_concatenator_cotangent_matches_the_key():
    y, pullback = rrule(R_GETITEM, np.r_, (X3, 2.0, slice(1, 3), Y3[1:]))
    assert y.shape == (3 + 1 + 2 + 2,)
    self_bar, key_bar = pullback(np.arange(8.0))[1:]
    assert is_zero(self_bar) and type(key_bar) is tuple and len(key_bar) == 4
    np.testing.assert_array_equal(key_bar[0], [0.0, 1.0, 2.0])
    assert key_bar[1] == 3.0 and type(key_bar[1]) is float and is_zero(key_bar[2])
    np.testing.assert_array_equal(key_bar[3], [6.0, 7.0])
    _, key_bar = rrule(R_GETITEM, np.r_, X3.astype(np.float32))[1](np.ones(3))[1:]
    assert key_bar.dtype == np.float32 and key_bar.shape == (3,)


def test_concatenator_adds_up_an_input_used_twice():
    _, key_bar = rrule(R_GETITEM, np.c_, (X3, X3))[1](np.ones((3, 2)))[1:]
    np.testing.assert_array_equal(key_bar[0], np.ones(3))
    np.testing.assert_array_equal(key_bar[1], np.ones(3))


def test_concatenator_of_integers_has_no_derivative_and_strings_are_refused():
    y, pullback = rrule(R_GETITEM, np.r_, (np.arange(3), 4))
    assert y.dtype.kind == "i" and pullback(np.ones(4)) == (NO_FIELDS, ZERO, ZERO)
    with pytest.raises(Exception, match="matrix syntax"):
        rrule(R_GETITEM, np.r_, "1, 2")


def test_gradients_through_np_r_and_np_c():
    import sourcediff as sd

    def named_key(x, y):
        key = (x, 2.0, y[1:])
        return np.sum(np.r_[key] ** 2 * np.arange(1.0, 7.0))

    def literal_key(x, y):
        return np.sum(np.r_[x, 2.0, y[1:]] ** 2 * np.arange(1.0, 7.0)) + np.sum(np.c_[x, y] * np.arange(6.0).reshape(3, 2))

    x, y = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])
    for f in (named_key, literal_key):
        gradient, expected = sd.gradient(f, x, y), fd_vjp(f, (x, y), 1.0)
        for got, want in zip(gradient, expected):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sd.gradient(named_key, x, y)[0], 2 * x * [1.0, 2.0, 3.0])
