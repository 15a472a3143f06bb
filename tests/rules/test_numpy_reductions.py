"""Targeted checks of the NumPy reduction rules, beyond the registry-wide sample test."""
import numpy as np
import pytest

from sourcediff.errors import RuleError
from sourcediff.rules.differentials import ZERO, Thunk, extern, is_zero
from sourcediff.rules.registry import frule, rrule
from sourcediff.rules.linear import draw
from sourcediff.testing import test_frule, test_rrule

rng = np.random.default_rng(50)
CUBE = rng.uniform(-2.0, 2.0, (2, 3, 2))
REDUCTIONS = [np.sum, np.mean, np.prod, np.max, np.min, np.var, np.std]
METHODS = [np.ndarray.sum, np.ndarray.mean, np.ndarray.prod, np.ndarray.max, np.ndarray.min, np.ndarray.var,
           np.ndarray.std, np.ndarray.cumsum]


@pytest.mark.parametrize("f", REDUCTIONS)
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (-1, 0)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_axis_and_keepdims(f, axis, keepdims):
    test_rrule(f, CUBE, axis=axis, keepdims=keepdims)
    test_frule(f, CUBE, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("method", METHODS)
def test_ndarray_methods_with_positional_axis(method):
    cotangents = test_rrule(method, CUBE, 1)
    assert len(cotangents) == 3 and is_zero(cotangents[2])
    test_frule(method, CUBE, 1)


@pytest.mark.parametrize("f", [np.sum, np.mean, np.prod, np.var, np.std, np.cumsum, np.max])
def test_float32_is_kept(f):
    x = rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    _, x_bar = test_rrule(f, x, axis=0, rtol=1e-5, atol=1e-5)
    assert extern(x_bar).dtype == np.float32


def test_max_shares_ties_evenly_and_both_modes_agree():
    x, x_dot = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 0.0]]), rng.normal(size=(2, 4))
    _, max_pullback = rrule(np.max, x, axis=1)
    _, x_bar = max_pullback(np.ones(2))
    np.testing.assert_allclose(x_bar, [[0, 0.5, 0.5, 0], [1 / 3, 1 / 3, 1 / 3, 0]])
    _, max_pushforward = frule(np.max, x, axis=1)
    np.testing.assert_allclose(np.sum(max_pushforward(None, x_dot)), np.sum(x_bar * x_dot))


def test_max_where_initial_wins_gives_zero():
    test_rrule(np.max, np.array([[0.5, -1.0], [2.0, 0.1]]), axis=0, initial=1.0)
    test_frule(np.max, np.array([[0.5, -1.0], [2.0, 0.1]]), axis=0, initial=1.0)


@pytest.mark.parametrize("axis", [None, 0, 1])
@pytest.mark.parametrize("zeros", [[(0, 1)], [(0, 1), (1, 1)], [(0, 1), (0, 2)]])
@pytest.mark.parametrize("imaginary", [0.0, 1.0])
def test_prod_with_zeros(axis, zeros, imaginary):
    x = rng.uniform(0.5, 1.5, (2, 3)) + imaginary * 1j * rng.uniform(-1.0, 1.0, (2, 3))
    for index in zeros:
        x[index] = 0.0
    test_rrule(np.prod, x, axis=axis)
    test_frule(np.prod, x, axis=axis)
    test_rrule(np.prod, x, axis=axis, initial=2.0)


@pytest.mark.parametrize("f, x", [(np.max, [1.0, 3.0, 2.0]), (np.sum, 2.5), (np.cumsum, 2.5),
                                  (np.mean, [[1.0, 2.0], [3.0, 5.0]]), (np.std, [1.0, 2.0, 4.0])])
def test_python_inputs(f, x):
    _, x_bar = test_rrule(f, x)
    test_frule(f, x)
    if type(x) is float:
        assert type(x_bar) is float


@pytest.mark.parametrize("f", [np.var, np.std])
def test_degrees_of_freedom(f):
    test_rrule(f, CUBE, 1, None, None, 1)
    test_rrule(f, CUBE, axis=(0, 1), ddof=2)
    test_frule(f, CUBE, axis=0, ddof=1, keepdims=True)


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_cumsum_axes(axis):
    _, x_bar = test_rrule(np.cumsum, CUBE, axis=axis)
    assert extern(x_bar).shape == CUBE.shape
    test_frule(np.cumsum, CUBE, axis=axis)


@pytest.mark.parametrize("f", REDUCTIONS + [np.cumsum])
def test_zero_and_thunk_seeds(f):
    y, pullback = rrule(f, CUBE, axis=0)
    assert all(is_zero(c) for c in pullback(ZERO)[1:])
    y_bar = rng.normal(size=np.shape(y))
    saved = y_bar.copy()
    np.testing.assert_array_equal(extern(pullback(Thunk(lambda: y_bar))[1]), extern(pullback(y_bar)[1]))
    np.testing.assert_array_equal(y_bar, saved)


@pytest.mark.parametrize("kwargs", [{"out": np.zeros(3)}, {"where": np.array([True, False, True])}])
def test_out_and_where_have_no_rule(kwargs):
    with pytest.raises(RuleError):
        rrule(np.sum, np.ones((2, 3)), axis=0, **kwargs)


# Degenerate points: where std is 0 (all entries equal) it is not differentiable; its rules give 0.

@pytest.mark.parametrize("x, kwargs", [
    (np.array([1.5]), {}), (np.array([2.0, 2.0, 2.0]), {}), (np.full((2, 3), -0.5), {"axis": 1}),
    (np.array([[1.0, 1.0], [3.0, 4.0]]), {"axis": 1}), (np.array([1.5]), {"ddof": 1}), (np.array([2.0, 2.0]), {"ddof": 2}),
    (np.array([1.5 + 1.0j]), {}), (np.array([2.0, 2.0, 2.0], dtype=np.float32), {"keepdims": True}),
])
@pytest.mark.parametrize("f", [np.std, np.var, np.ndarray.std])
@pytest.mark.filterwarnings("ignore:Degrees of freedom", "ignore:invalid value")
def test_std_and_var_give_zero_where_the_entries_are_equal(f, x, kwargs):
    y, pullback = rrule(f, x, **kwargs)
    _, x_bar = pullback(np.ones(np.shape(y)))
    equal_entries = np.broadcast_to(np.all(x == x[..., :1], axis=-1, keepdims=True), x.shape)
    assert x_bar.dtype == x.dtype and np.all(x_bar[equal_entries] == 0)
    y_dot = frule(f, x, **kwargs)[1](None, draw(x.shape, 3))
    constant_slices = np.all(x == x[..., :1], axis=-1, keepdims=kwargs.get("keepdims", False))
    assert np.all(np.asarray(y_dot)[constant_slices] == 0)

