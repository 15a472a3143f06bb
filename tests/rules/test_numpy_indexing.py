"""Checks of the indexing rules: every sample against finite differences, then targeted cases."""
import collections
import operator

import numpy as np
import pytest

from sourcediff.rules.differentials import NO_FIELDS, ZERO, Tangent, Thunk, is_zero
from sourcediff.rules.numpy_indexing import add_at_index
from sourcediff.rules.numpy_shapes import draw
from sourcediff.rules.registry import RULES, frule, rrule, samples_of
from sourcediff.testing import test_frule, test_rrule

INDEXING_RULES = [(f, s) for f in (operator.getitem, np.take) for s in samples_of(RULES[f])]
Pair = collections.namedtuple("Pair", "first second")


@pytest.mark.parametrize("f, sample", INDEXING_RULES, ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(INDEXING_RULES)])
def test_rules_match_finite_differences(f, sample):
    test_rrule(f, *sample.args, **sample.kwargs)
    test_frule(f, *sample.args, **sample.kwargs)


def _x_bar(x, index, y_bar):
    cotangents = rrule(operator.getitem, x, index)[1](y_bar)
    assert cotangents[0] is NO_FIELDS and is_zero(cotangents[2])
    return cotangents[1]


def test_repeated_fancy_indices_accumulate():
    x = np.zeros(4)
    np.testing.assert_array_equal(_x_bar(x, [0, 0, 2, 0], np.array([1.0, 2.0, 3.0, 4.0])), [7.0, 0.0, 3.0, 0.0])
    np.testing.assert_array_equal(_x_bar(x, np.array([[3, 3], [3, 1]]), np.ones((2, 2))), [0.0, 1.0, 0.0, 3.0])
    m = np.zeros((2, 3))
    np.testing.assert_array_equal(_x_bar(m, (slice(None), [2, 2]), np.ones((2, 2))), [[0.0, 0.0, 2.0]] * 2)
    test_rrule(operator.getitem, draw((3, 4), 1), (np.array([1, 1, 2]), np.array([0, 0, 3])))


def test_boolean_masks():
    x = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    np.testing.assert_array_equal(_x_bar(x, x > 0, np.array([10.0, 20.0, 30.0])), [[10.0, 0.0, 20.0], [0.0, 30.0, 0.0]])
    np.testing.assert_array_equal(_x_bar(x, (np.array([False, True]), slice(1, None)), np.ones((1, 2))), [[0.0] * 3, [0.0, 1.0, 1.0]])
    test_rrule(operator.getitem, x, x < 0)
    test_frule(operator.getitem, x, x < 0)


def test_list_tuple_and_dict_cotangents_keep_their_structure():
    xs = [1.0, draw(2, 2), 3.0]
    xs_bar = _x_bar(xs, 1, np.ones(2))
    assert type(xs_bar) is list and xs_bar[0] is ZERO and xs_bar[2] is ZERO
    np.testing.assert_array_equal(xs_bar[1], np.ones(2))
    xs_bar = _x_bar(xs, slice(0, 2), [5.0, np.ones(2)])
    assert type(xs_bar) is list and xs_bar[0] == 5.0 and xs_bar[2] is ZERO
    ts_bar = _x_bar((1.0, 2.0, 3.0), -1, 4.0)
    assert type(ts_bar) is tuple and ts_bar[:2] == (ZERO, ZERO) and ts_bar[2] == 4.0
    d_bar = _x_bar({"a": 1.0, "b": draw(2, 3)}, "b", np.ones(2))
    assert list(d_bar) == ["b"]
    p_bar = _x_bar(Pair(1.0, 2.0), 1, 3.0)
    assert isinstance(p_bar, Tangent) and p_bar.second == 3.0 and p_bar.first is ZERO


def test_getitem_pushforward_indexes_container_tangents():
    pushforward = frule(operator.getitem, [1.0, 2.0], 0)[1]
    assert pushforward(NO_FIELDS, [ZERO, 1.0], ZERO) is ZERO
    assert pushforward(NO_FIELDS, [3.0, ZERO], ZERO) == 3.0
    assert frule(operator.getitem, {"a": 1.0, "b": 2.0}, "b")[1](NO_FIELDS, {"a": 1.0}, ZERO) is ZERO
    assert frule(operator.getitem, Pair(1.0, 2.0), 1)[1](NO_FIELDS, Tangent(Pair, second=5.0), ZERO) == 5.0
    assert frule(operator.getitem, np.ones(3), 1)[1](NO_FIELDS, ZERO, ZERO) is ZERO


def test_add_at_index_never_changes_the_cotangent_it_is_given():
    x = draw(4, 4)
    so_far = np.ones(4)
    total = add_at_index(so_far, x, [1, 1], Thunk(lambda: np.array([2.0, 3.0])))
    np.testing.assert_array_equal(so_far, np.ones(4))
    np.testing.assert_array_equal(total, [1.0, 6.0, 1.0, 1.0])
    assert add_at_index(so_far, x, 0, ZERO) is so_far
    entries = [ZERO, 2.0]
    assert add_at_index(entries, [1.0, 1.0], 0, 1.0) == [1.0, 2.0] and entries == [ZERO, 2.0]
    totals = {"a": 1.0}
    assert add_at_index(totals, {"a": 0.0, "b": 0.0}, "a", 2.0) == {"a": 3.0} and totals == {"a": 1.0}
    assert add_at_index(ZERO, (1.0, 2.0), slice(None), (ZERO, 3.0)) == (ZERO, 3.0)


def test_add_at_index_fits_the_primal():
    x = draw(3, 5, np.float32)
    total = add_at_index(ZERO, x, [0, 0], np.array([1.0 + 2.0j, 1.0]))
    assert total.dtype == np.float32
    np.testing.assert_array_equal(total, [2.0, 0.0, 0.0])
    z = draw(2, 6, np.complex128)
    assert add_at_index(ZERO, z, 1, 1j)[1] == 1j


def test_zero_and_thunk_seeds():
    x = draw((3, 4), 7)
    pullback = rrule(operator.getitem, x, (slice(None), [0, 0]))[1]
    assert pullback(ZERO) == (NO_FIELDS, ZERO, ZERO)
    np.testing.assert_array_equal(pullback(Thunk(lambda: np.ones((3, 2))))[1], pullback(np.ones((3, 2)))[1])
    assert rrule(np.take, x, [1, 1], axis=0)[1](ZERO) == (NO_FIELDS, ZERO, ZERO)


def test_take_accumulates_repeated_indices():
    x = np.zeros((2, 3))
    _, x_bar, _ = rrule(np.take, x, [2, 2, 0], axis=1)[1](np.ones((2, 3)))
    np.testing.assert_array_equal(x_bar, [[1.0, 0.0, 2.0]] * 2)
    _, x_bar, _ = rrule(np.take, x, [5, 5])[1](np.ones(2))
    np.testing.assert_array_equal(x_bar, [[0.0] * 3, [0.0, 0.0, 2.0]])
    _, x_bar, _ = rrule(np.take, x, [7, -1], mode="wrap")[1](np.ones(2))
    np.testing.assert_array_equal(x_bar, [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
