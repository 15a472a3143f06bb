"""Checks of the builtins' rules: every sample against finite differences, then targeted cases."""
import builtins
import collections
import operator

import numpy as np
import pytest

from sourcediff.errors import RuleError
from sourcediff.rules.differentials import NO_FIELDS, ZERO, Tangent, extern, is_zero
from sourcediff.rules.registry import RULES, frule, rrule, samples_of
from sourcediff.testing import fd_vjp, test_frule, test_rrule

# The builtins that build and walk containers (list, zip, sorted, ...) have their rules, and tests, in containers.
BUILTIN_RULES = {name: RULES[f] for name, f in vars(builtins).items() if callable(f) and f in RULES
                 and RULES[f].rrule.__module__ != "sourcediff.rules.containers"}
DIFFERENTIABLE = [(name, s) for name, r in BUILTIN_RULES.items() if r.differentiable for s in samples_of(r)]
Point = collections.namedtuple("Point", "x y")


@pytest.mark.parametrize("name, sample", DIFFERENTIABLE, ids=[f"{n}{i}" for i, (n, _) in enumerate(DIFFERENTIABLE)])
def test_rules_match_finite_differences(name, sample):
    test_rrule(getattr(builtins, name), *sample.args, **sample.kwargs)
    test_frule(getattr(builtins, name), *sample.args, **sample.kwargs)


@pytest.mark.parametrize("f", [max, min])
def test_ties_send_the_gradient_to_the_item_python_returns(f):
    a, b = 2.0, 2.0 + 0.0  # equal values, distinct objects
    assert f(a, b) is a
    assert rrule(f, a, b, 1.5 if f is max else 2.5)[1](1.0) == (NO_FIELDS, 1.0, ZERO, ZERO)
    _, xs_bar = rrule(f, [1.0, 3.0, 3.0] if f is max else [1.0, -3.0, -3.0])[1](1.0)
    assert type(xs_bar) is list and xs_bar[1] == 1.0 and is_zero(xs_bar[0]) and is_zero(xs_bar[2])
    _, xs_bar = rrule(f, np.array([3.0, 1.0, 3.0]) * (1 if f is max else -1))[1](2.0)
    np.testing.assert_array_equal(xs_bar, [2.0, 0.0, 0.0])
    assert frule(f, 1.0, 1.0)[1](NO_FIELDS, 5.0, 7.0) == 5.0


def test_max_follows_python_with_nan_and_key():
    xs = [1.0, float("nan"), 2.0]
    assert rrule(max, xs)[1](1.0)[1][2] == 1.0  # Python's max returns 2.0 here, not the nan
    _, xs_bar = rrule(max, [1.0, -3.0, 3.0], key=abs)[1](1.0)
    assert xs_bar[1] == 1.0 and is_zero(xs_bar[2])


def test_extremum_cotangents_keep_the_structure():
    _, xs_bar = test_rrule(max, (0.5, 2.5, -1.0))
    assert type(xs_bar) is tuple and is_zero(xs_bar[0]) and is_zero(xs_bar[2])
    _, point_bar = rrule(min, Point(1.0, -2.0))[1](1.0)
    assert isinstance(point_bar, Tangent) and point_bar.y == 1.0 and is_zero(point_bar.x)
    assert frule(min, Point(1.0, -2.0))[1](NO_FIELDS, Point(5.0, 7.0)) == 7.0


def test_extremum_empty_default_and_errors_like_python():
    y, pullback = rrule(max, [], default=1.5)
    assert y == 1.5 and pullback(1.0) == (NO_FIELDS, ZERO)
    with pytest.raises(ValueError):
        rrule(max, [])
    with pytest.raises(TypeError):
        rrule(min)


def test_sum_of_list_of_arrays():
    arrays = [np.ones((2, 3)), np.arange(3.0), 2.0]
    _, xs_bar = test_rrule(sum, arrays)
    assert type(xs_bar) is list and [np.shape(x) for x in xs_bar] == [(2, 3), (3,), ()]
    assert type(xs_bar[2]) is float
    y_bar = np.arange(6.0).reshape(2, 3)
    _, xs_bar = rrule(sum, arrays)[1](y_bar)
    np.testing.assert_array_equal(xs_bar[1], y_bar.sum(axis=0))


def test_sum_structure_start_and_concatenation():
    assert type(test_rrule(sum, (1.0, 2.0))[1]) is tuple
    assert len(test_rrule(sum, [1.0, 2.0], 0.5)) == 3
    _, xs_bar, start_bar = test_rrule(sum, [[1.0], [2.0, 3.0]], [4.0], output_cotangent=[1.0, 2.0, 3.0, 4.0])
    assert xs_bar == [[2.0], [3.0, 4.0]] and start_bar == [1.0]
    _, xs_bar = test_rrule(sum, np.ones((3, 2), dtype=np.float32), rtol=1e-4)
    assert xs_bar.dtype == np.float32 and xs_bar.shape == (3, 2)


def test_iterables_that_cannot_receive_a_gradient():
    assert rrule(sum, range(4))[1](1.0) == (NO_FIELDS, ZERO)
    y, pullback = rrule(sum, (x * x for x in [1.0, 2.0]))
    assert y == 5.0
    with pytest.raises(RuleError, match="generator"):
        pullback(1.0)


def test_float_projects_onto_its_input():
    _, x_bar = test_rrule(float, np.float32(0.25))
    assert type(x_bar) is np.float32
    _, x_bar = test_rrule(float, np.array(0.25, dtype=np.float32))
    assert isinstance(x_bar, np.ndarray) and x_bar.shape == () and x_bar.dtype == np.float32
    assert rrule(float, "2.5")[1](1.0) == (NO_FIELDS, ZERO)


def test_complex_from_parts_and_text():
    _, re_bar, im_bar = rrule(complex, 1.0, 2.0)[1](3.0 + 4.0j)
    assert (re_bar, im_bar) == (3.0, 4.0)
    assert rrule(complex, "1+2j")[1](1.0) == (NO_FIELDS, ZERO)
    assert frule(complex, "1+2j")[1](NO_FIELDS, ZERO) == ZERO


def test_abs_squared_of_complex_has_gradient_2z():
    z = 1.5 - 0.5j
    r, abs_pullback = rrule(abs, z)
    _, square_pullback = rrule(operator.pow, r, 2)
    _, r_bar, _ = square_pullback(1.0)
    _, z_bar = abs_pullback(extern(r_bar))
    assert z_bar == pytest.approx(2 * z)
    assert z_bar == pytest.approx(fd_vjp(lambda z: abs(z) ** 2, (z,), 1.0)[0])
    assert isinstance(frule(abs, z)[1](NO_FIELDS, 1.0j), float)


@pytest.mark.parametrize("f, args", [
    (len, ([1.0, 2.0],)), (range, (3,)), (int, (2.5,)), (bool, (0.5,)), (round, (2.567, 2)), (isinstance, (1.0, float)),
    (type, (1.0,)), (id, (1.0,)), (hash, (1.0,)), (str, (1.5,)), (repr, (1.5,)), (print, ()), (any, ([0.0, 1.0],)),
    (all, ([0.0, 1.0],)), (ord, ("a",)), (chr, (97,)), (hasattr, (1.0, "real")),
])
def test_non_differentiable_builtins_give_zero_cotangents(f, args):
    assert not RULES[f].differentiable
    y, pullback = rrule(f, *args)
    assert pullback(1.0) == (NO_FIELDS,) + (ZERO,) * len(args)
    assert is_zero(frule(f, *args)[1](NO_FIELDS, *[ZERO] * len(args)))


def test_abs_of_complex_zero_has_the_subgradient_zero():
    assert rrule(abs, 0j)[1](1.0) == (NO_FIELDS, 0j)
    _, z_bar = rrule(abs, np.array([0j, 3.0 + 4.0j]))[1](np.ones(2))
    np.testing.assert_allclose(z_bar, [0.0, 0.6 + 0.8j])
