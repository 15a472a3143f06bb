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
                                     (np.argmax, (np.arange(3.0),)), (np.zeros_like, (np.arange(3.0),)),
                                     (np.ones, (3,)), (np.eye, (2,))])
def test_non_differentiable(f, args):
    assert not RULES[f].differentiable
    y, pullback = rrule(f, *args)
    assert all(is_zero(c) for c in pullback(np.ones(np.shape(y))))


# Constructors that depend on their arguments

@pytest.mark.parametrize("f, args, kwargs", [
    (np.full, ((2, 3), 1.5), {}), (np.full, ((2, 3), np.array([[0.5], [-1.0]])), {}), (np.full, ((4,), 0.5 + 1.0j), {}),
    (np.full_like, (np.zeros((2, 2)), np.array([1.5, -0.5])), {}), (np.full_like, (np.zeros(3, complex), 0.5), {}),
    (np.full, ((2, 3), 1.5), {"dtype": np.float32}), (np.full_like, (np.zeros(3, np.float32), 2.5), {}),
])
def test_fills_are_linear_in_the_fill_value(f, args, kwargs):
    tolerance = 1e-3 if f(*args, **kwargs).dtype == np.float32 else 1e-6  # finite differences of a float32 result
    _, _, fill_bar = test_rrule(f, *args, rtol=tolerance, atol=tolerance, **kwargs)
    assert np.shape(fill_bar) == np.shape(args[1]) and type(fill_bar) is type(args[1])
    test_frule(f, *args, rtol=tolerance, atol=tolerance, **kwargs)


def test_fills_of_integers_and_keyword_fill_values_carry_no_derivative():
    assert rrule(np.full, (3,), 1.5, int)[1](np.ones(3)) == (NO_FIELDS, ZERO, ZERO, ZERO)
    assert rrule(np.full_like, np.arange(3), 1.5)[1](np.ones(3)) == (NO_FIELDS, ZERO, ZERO)
    assert rrule(np.full, (3,), fill_value=1.5)[1](np.ones(3)) == (NO_FIELDS, ZERO)


@pytest.mark.parametrize("args, kwargs", [
    ((0.5, 2.5, 5), {}), ((0.5, 2.5, 4), {"endpoint": False}), ((np.array([0.0, 1.0]), np.array([[2.0, 3.0], [-1.0, 4.0]]), 3), {}),
    ((np.array([0.0, 1.0]), 2.5, 4), {"axis": 1}), ((0.5, 2.5, 4), {"retstep": True}), ((-0.5, 1.5, 1), {}),
    ((0.5, 2.5, 0), {}), ((1.0 + 1.0j, 2.0, 3), {}),
])
def test_linspace_in_start_and_stop(args, kwargs):
    test_rrule(np.linspace, *args, **kwargs)
    test_frule(np.linspace, *args, **kwargs)


def test_linspace_single_sample_is_start_and_the_endpoint_is_stop():
    _, start_bar, stop_bar, _ = rrule(np.linspace, 0.5, 2.5, 1)[1](np.array([3.0]))
    assert (start_bar, stop_bar) == (3.0, 0.0)
    _, start_bar, stop_bar, _ = rrule(np.linspace, 0.5, 2.5, 3)[1](np.array([0.0, 0.0, 1.0]))
    assert (start_bar, stop_bar) == (0.0, 1.0)
    assert rrule(np.linspace, 0.5, 7.5, 4, dtype=int)[1](np.ones(4)) == (NO_FIELDS, ZERO, ZERO, ZERO)
    (samples, step), pullback = rrule(np.linspace, 0.5, 2.5, 1, retstep=True)
    assert np.isnan(step) and pullback((np.array([3.0]), 1.0))[1:3] == (3.0, 0.0)  # a nan step, whatever start and stop


@pytest.mark.parametrize("args", [(0.5, 3.7, 0.6), (0.5, 3.2), (2.5, -1.0, -0.8), (np.float64(1.5), 2.1, 0.25)])
def test_arange_in_start_and_step(args):
    cotangents = test_rrule(np.arange, *args)
    assert is_zero(cotangents[2])
    test_frule(np.arange, *args)


def test_arange_stop_only_sets_the_length():
    assert rrule(np.arange, 3.5)[1](np.ones(4)) == (NO_FIELDS, ZERO)
    assert rrule(np.arange, 0.5, 3.0, 1.0, int)[1](np.ones(3)) == (NO_FIELDS, ZERO, ZERO, ZERO, ZERO)
    _, start_bar, stop_bar, step_bar = rrule(np.arange, 0.5, 3.0, 1.0)[1](np.array([1.0, 2.0, 3.0]))
    assert (start_bar, stop_bar, step_bar) == (6.0, ZERO, 0 * 1.0 + 1 * 2.0 + 2 * 3.0)


def test_gradient_through_constructors():
    import sourcediff as sd

    def f(a, b):
        grid = np.linspace(a, b, 5)
        steps = np.arange(a, 4.1, b)
        return np.sum(grid ** 2) + np.sum(steps) * np.sum(np.full((2, 2), a * b))

    (ga, gb), expected = sd.gradient(f, 0.5, 1.5), fd_vjp(f, (0.5, 1.5), 1.0)
    assert np.allclose([ga, gb], expected)


def test_hypot_at_the_origin_has_the_subgradient_zero():
    _, a_bar, b_bar = rrule(np.hypot, 0.0, 0.0)[1](1.0)
    assert (extern(a_bar), extern(b_bar)) == (0.0, 0.0)
    _, a_bar, b_bar = rrule(np.hypot, np.array([0.0, 3.0]), np.array([0.0, 4.0]))[1](np.ones(2))
    np.testing.assert_array_equal(extern(a_bar), [0.0, 0.6])
    np.testing.assert_array_equal(extern(b_bar), [0.0, 0.8])
    assert frule(np.hypot, 0.0, 0.0)[1](NO_FIELDS, 1.0, 1.0) == 0.0
