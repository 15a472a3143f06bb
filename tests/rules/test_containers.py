"""Targeted checks of the container rules (zip, enumerate, dict views, sorted, ...), beyond the registry-wide
sample test: rules against finite differences, the structure of their cotangents, and gradients of
functions that use them (through the transformer)."""
import collections

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.errors import RuleError
from sourcediff.rules.differentials import NO_FIELDS, ZERO, Tangent, is_zero
from sourcediff.rules.registry import RULES, frule, rrule
from sourcediff.testing import fd_vjp, leaves, test_frule, test_rrule

Point = collections.namedtuple("Point", "x y")
X, Y = np.array([0.5, -1.5, 2.0]), np.array([[1.0, 2.0], [-0.5, 0.25], [1.5, -2.0]])


def assert_gradient_matches_finite_differences(f, *args):
    gradient = sd.gradient(f, *args)
    expected = fd_vjp(f, args, 1.0)
    got = leaves(list(gradient))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)
    return gradient


# zip

@pytest.mark.parametrize("iterables", [
    ([1.5, -0.5, 2.0], (0.5, 1.0, 3.0)), (X, Y), ([1.5, -0.5], (0.5, 1.0, 3.0), X), (Point(1.5, -0.5), [2.0, 3.0]),
])
def test_zip_against_finite_differences(iterables):
    test_rrule(zip, *iterables)
    test_frule(zip, *iterables)


def test_zip_cotangents_keep_each_iterables_structure():
    _, xs_bar, ys_bar, rows_bar, point_bar = rrule(zip, [1.5, -0.5], (0.5, 1.0, 3.0), Y, Point(1.0, 2.0))[1](
        [(1.0, 2.0, np.ones(2), 3.0), (ZERO, 4.0, ZERO, 5.0)])
    assert xs_bar == [1.0, ZERO] and ys_bar == (2.0, 4.0, ZERO)
    np.testing.assert_array_equal(rows_bar, [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    assert isinstance(point_bar, Tangent) and (point_bar.x, point_bar.y) == (3.0, 5.0)


def test_zip_of_iterables_that_cannot_receive_a_gradient():
    y, pullback = rrule(zip, range(3), {"a": 1.0, "b": 2.0}, [1.5, 2.5])
    assert y == [(0, "a", 1.5), (1, "b", 2.5)]
    assert pullback([(1.0, 1.0, 1.0)] * 2) == (NO_FIELDS, ZERO, ZERO, [1.0, 1.0])
    _, pullback = rrule(zip, (v for v in [1.5, 2.5]), [1.0, 2.0])
    with pytest.raises(RuleError, match="generator"):
        pullback([(1.0, 1.0)] * 2)


def test_zip_is_a_list_and_strict_is_passed_on():
    assert rrule(zip, [1.0], [2.0])[0] == [(1.0, 2.0)]
    with pytest.raises(ValueError):
        rrule(zip, [1.0], [2.0, 3.0], strict=True)


def test_gradients_through_zip():
    def dot(xs, ys):
        total = 0.0
        for pair in zip(xs, ys):
            total = total + pair[0] * pair[1]
        return total

    def unzipped(pairs):
        firsts, seconds = zip(*pairs)
        return sum(firsts) * max(seconds)

    def listed(xs, rows):
        return sum(x * np.sum(row) for x, row in list(zip(xs, rows)))

    assert_gradient_matches_finite_differences(dot, [1.5, -0.5, 2.0], (0.5, 1.0, 3.0))
    gradient = assert_gradient_matches_finite_differences(unzipped, [(1.5, 2.0), (-0.5, 3.0), (2.0, 1.0)])
    assert gradient == ([(3.0, 0.0), (3.0, 3.0), (3.0, 0.0)],)
    assert_gradient_matches_finite_differences(listed, X, Y)


# enumerate

def test_enumerate_gives_pairs_whose_indices_carry_no_derivative():
    pairs, pullback = rrule(enumerate, (1.5, X), 2)
    assert pairs[0] == (2, 1.5) and pairs[1][0] == 3
    _, items_bar, start_bar = pullback([(7.0, 1.0), ZERO])
    assert items_bar == (1.0, ZERO) and is_zero(start_bar)
    assert frule(enumerate, [1.5, 2.5])[1](NO_FIELDS, [3.0, 4.0]) == [(ZERO, 3.0), (ZERO, 4.0)]


def test_gradient_through_enumerate():
    def weighted(xs):
        total = 0.0
        for pair in list(enumerate(xs, 1)):
            total = total + pair[0] * pair[1] ** 2
        return total

    assert_gradient_matches_finite_differences(weighted, [1.5, -0.5, 2.0])
    assert_gradient_matches_finite_differences(weighted, X)


# dict views and dict.get

D = {"a": 1.5, "b": np.array([0.5, -1.0]), "c": 2.0}


def test_views_keep_the_view_and_map_a_list_cotangent_back_to_the_dict():
    values, pullback = rrule(dict.values, D)
    assert type(values) is type(D.values()) and list(values)[0] == 1.5
    assert pullback([1.0, ZERO, 2.0]) == (NO_FIELDS, {"a": 1.0, "c": 2.0})
    items, pullback = rrule(dict.items, D)
    assert type(items) is type(D.items())
    assert pullback([("ignored", 1.0), ZERO, (ZERO, 3.0)]) == (NO_FIELDS, {"a": 1.0, "c": 3.0})
    assert frule(dict.items, D)[1](NO_FIELDS, {"c": 4.0}) == [(ZERO, ZERO), (ZERO, ZERO), (ZERO, 4.0)]
    assert not RULES[dict.keys].differentiable


@pytest.mark.parametrize("view", [dict.values, dict.items])
def test_views_listed_against_finite_differences(view):
    y, pullback = rrule(view, D)
    items, list_pullback = rrule(list, y)
    seed = [(None, 1.0), (None, np.array([2.0, -1.0])), (None, 0.5)] if view is dict.items else [1.0, np.array([2.0, -1.0]), 0.5]
    _, d_bar = pullback(list_pullback(seed)[1])
    expected = fd_vjp(lambda d: list(view(d)), (D,), seed)
    for got, want in zip(leaves(d_bar), expected):
        np.testing.assert_allclose(got, want)


def test_sum_max_min_of_dict_values_and_zip_lists():
    _, values_bar = rrule(sum, D.values())[1](np.ones(2))
    assert type(values_bar) is list and len(values_bar) == 3
    _, values_bar = rrule(max, {"a": 1.5, "b": 3.0, "c": 2.0}.values())[1](1.0)
    assert values_bar[1] == 1.0 and is_zero(values_bar[0]) and is_zero(values_bar[2])
    pairs = rrule(zip, [1.5, 3.0], [2.0, -1.0])[0]
    _, pairs_bar = rrule(min, pairs)[1]((1.0, 2.0))
    assert pairs_bar[0] == (1.0, 2.0) and is_zero(pairs_bar[1])
    _, pairs_bar, start_bar = test_rrule(sum, pairs, ())
    assert len(pairs_bar) == 2 and start_bar == ()


def test_gradients_through_dict_views_and_get():
    def total(d):
        return sum(d.values()) + max(d.values()) * d.get("a") + d.get("missing", 0.5)

    def items(d):
        s = 0.0
        for key, value in d.items():
            s = s + value ** 2
        return s + sum(v for k, v in list(d.items()))

    def default(d, fallback):
        return d.get("missing", fallback) * d.get("b", fallback)

    assert sd.gradient(total, {"a": 1.5, "b": 3.0}) == ({"a": 4.0, "b": 2.5},)
    assert_gradient_matches_finite_differences(total, {"a": 1.5, "b": 3.0, "c": -2.0})
    assert_gradient_matches_finite_differences(items, {"a": 1.5, "b": 3.0})
    assert sd.gradient(default, {"b": 2.0}, 3.0) == ({"b": 3.0}, 2.0)


def test_get_sends_the_cotangent_to_the_entry_or_the_default():
    assert rrule(dict.get, D, "a", 7.0)[1](2.0) == (NO_FIELDS, {"a": 2.0}, ZERO, ZERO)
    assert rrule(dict.get, D, "z", 7.0)[1](2.0) == (NO_FIELDS, ZERO, ZERO, 2.0)
    y, pullback = rrule(dict.get, D, "z")
    assert y is None and pullback(ZERO) == (NO_FIELDS, ZERO, ZERO)


# sorted, reversed, copies

@pytest.mark.parametrize("options", [{}, {"reverse": True}, {"key": abs}, {"key": abs, "reverse": True}])
def test_sorted_follows_the_permutation(options):
    xs = [0.5, -1.5, 2.0, -0.25]
    y, pullback = rrule(sorted, xs, **options)
    assert y == sorted(xs, **options)
    test_rrule(sorted, xs, **options)
    test_frule(sorted, xs, **options)


def test_sorted_ties_keep_pythons_stable_order():
    first, second = 1.0, 1.0 + 0.0
    y, pullback = rrule(sorted, [second, 0.5, first], key=lambda v: round(v))
    assert y[1] is second and y[2] is first
    assert pullback([0.0, 1.0, 2.0])[1] == [1.0, 0.0, 2.0]


def test_reversed_and_sorted_of_arrays_and_dict_values():
    _, rows_bar = rrule(reversed, Y)[1]([np.ones(2), ZERO, ZERO])
    np.testing.assert_array_equal(rows_bar, [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    y, pullback = rrule(sorted, {"a": 2.0, "b": 1.0}.values())
    assert y == [1.0, 2.0] and pullback([5.0, 6.0])[1] == [6.0, 5.0]
    with pytest.raises(TypeError):
        rrule(reversed, (v for v in [1.0]))

    def f(d):
        return sorted(d.values())[0] * 10 + list(reversed(d.values()))[0]

    assert sd.gradient(f, {"a": 2.0, "b": 1.0}) == ({"a": 0.0, "b": 11.0},)


def test_copies_keep_the_structure():
    assert rrule(list.copy, [1.5, 2.5])[1]([ZERO, 3.0]) == (NO_FIELDS, [ZERO, 3.0])
    assert rrule(dict.copy, {"a": 1.5})[1]({"a": 3.0}) == (NO_FIELDS, {"a": 3.0})

    def f(xs, d):
        ys, e = xs.copy(), d.copy()
        ys[0] = 5.0
        return ys[0] * ys[1] + e["a"] * xs[0]

    assert sd.gradient(f, [1.5, 2.5], {"a": 3.0}) == ([3.0, 5.0], {"a": 1.5})
