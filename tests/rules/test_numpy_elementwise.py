"""Targeted checks of the NumPy elementwise rules, beyond the registry-wide sample test."""
import numpy as np
import pytest

from sourcediff.rules.differentials import NO_FIELDS, ZERO, Thunk, extern, is_zero
from sourcediff.rules.registry import RULES, frule, rrule
from sourcediff.testing import fd_jvp, fd_vjp, leaves, test_frule, test_rrule

rng = np.random.default_rng(40)


def test_float32_cotangents_stay_float32():
    a, b = rng.uniform(0.5, 2.0, (2, 3)).astype(np.float32), rng.uniform(0.5, 2.0, 3).astype(np.float32)
    _, x_bar = test_rrule(np.exp, a, rtol=1e-5)
    _, a_bar, b_bar = test_rrule(np.divide, a, b, rtol=1e-5)
    assert extern(x_bar).dtype == extern(a_bar).dtype == extern(b_bar).dtype == np.float32


def test_broadcasting_is_undone():
    a, b = rng.normal(size=(2, 3)), rng.normal(size=3)
    _, a_bar, b_bar = test_rrule(np.multiply, a, b)
    assert extern(a_bar).shape == (2, 3) and extern(b_bar).shape == (3,)
    _, _, scale_bar = test_rrule(np.multiply, a, 1.5)
    assert type(extern(scale_bar)) is float


def test_gradient_of_abs_squared_is_2z():
    z = rng.normal(size=3) + 1j * rng.normal(size=3)
    r, absolute_pullback = rrule(np.abs, z)
    _, square_pullback = rrule(np.square, r)
    _, r_bar = square_pullback(np.ones(3))
    _, z_bar = absolute_pullback(r_bar)
    np.testing.assert_allclose(z_bar, fd_vjp(lambda z: np.abs(z) ** 2, (z,), np.ones(3))[0], rtol=1e-6)
    np.testing.assert_allclose(z_bar, 2 * z)


def test_abs_pushforward_of_complex_input_is_real():
    z = rng.normal(size=4) + 1j * rng.normal(size=4)
    assert not np.iscomplexobj(test_frule(np.abs, z))


def test_tie_of_maximum_and_minimum_goes_to_first_argument():
    for f in (np.maximum, np.minimum):
        _, pullback = rrule(f, np.array([1.0, 2.0]), np.array([1.0, 2.0]))
        assert [extern(c).tolist() for c in pullback(np.ones(2))[1:]] == [[1.0, 1.0], [0.0, 0.0]]


BINARY = [
    (np.where, (np.array([True, False, True]), rng.normal(size=(2, 3)), rng.normal(size=3))),
    (np.where, (np.array([[True], [False]]), 0.5, rng.normal(size=3))),
    (np.clip, (np.array([-1.7, -0.3, 0.4, 1.6]), -0.5, np.array([1.0, 1.0, 0.2, 2.0]))),
    (np.maximum, (rng.normal(size=(2, 3)), rng.normal(size=(2, 1)))),
    (np.multiply, (rng.normal(size=(2, 3)), rng.normal(size=3))),
    (np.add, (rng.normal(size=(2, 3)), 0.5)),
]


@pytest.mark.parametrize("f, args", BINARY)
def test_pushforward_with_some_zero_tangents(f, args):
    y, pushforward = frule(f, *args)
    for keep in [i for i, a in enumerate(args) if leaves(a)]:
        tangents = [rng.normal(size=np.shape(a)) if i == keep else ZERO for i, a in enumerate(args)]
        y_dot = pushforward(NO_FIELDS, *tangents)
        along = [np.zeros(np.shape(a)) if is_zero(t) else t for a, t in zip(args, tangents) if leaves(a)]
        assert np.shape(y_dot) == np.shape(y)
        np.testing.assert_allclose(np.ravel(y_dot), fd_jvp(f, args, along).real, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("f, args", BINARY[:-1] + [(np.tanh, (rng.normal(size=3),))])
def test_pullback_of_zero_thunk_and_unchanged_y_bar(f, args):
    y, pullback = rrule(f, *args)
    assert all(is_zero(c) for c in pullback(ZERO))
    y_bar = rng.normal(size=np.shape(y))
    saved = y_bar.copy()
    direct = [extern(c) for c in pullback(y_bar)]
    deferred = [extern(c) for c in pullback(Thunk(lambda: y_bar))]
    np.testing.assert_array_equal(y_bar, saved)
    for d, t in zip(direct, deferred):
        assert (is_zero(d) and is_zero(t)) or np.array_equal(d, t)


def test_clip_bounds_by_keyword_or_none():
    x = np.array([-1.7, -0.3, 0.4, 1.6])
    assert len(test_rrule(np.clip, x, a_min=-1.0, a_max=1.0)) == 2
    _, _, lower_bar, upper_bar = test_rrule(np.clip, x, None, 1.0)
    assert is_zero(lower_bar) and not is_zero(upper_bar)
    test_frule(np.clip, x, None, 1.0)


def test_where_with_condition_only_has_no_derivative():
    condition = np.array([True, False, True])
    y, pullback = rrule(np.where, condition)
    assert np.array_equal(y[0], [0, 2]) and pullback(np.ones(2)) == (NO_FIELDS, ZERO)


@pytest.mark.parametrize("f, args", [(np.sign, (np.arange(3.0),)), (np.floor, (np.arange(3.0),)),
                                     (np.round, (np.arange(3.0),)), (np.greater, (np.arange(3.0), 1.0)),
                                     (np.argmax, (np.arange(3.0),)), (np.full_like, (np.arange(3.0), 2.0)),
                                     (np.arange, (3.0,))])
def test_non_differentiable(f, args):
    assert not RULES[f].differentiable
    y, pullback = rrule(f, *args)
    assert all(is_zero(c) for c in pullback(np.ones(np.shape(y))))
