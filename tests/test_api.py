"""The public API: pullback, gradient, source, differentiable, rule registration, complex inputs."""
import math
import traceback

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.testing import fd_vjp

from .differences import jacobian_by_differences


def polynomial(x, a):
    return a * x ** 3 + math.sin(x)


def uses_helper(x):
    return helper(x) * 2.0


def helper(x):
    return x * x


def logs_a_negative(x):
    y = x - 10.0
    return math.log(y)


def squared_modulus(z):
    return abs(z) ** 2


def complex_energy(z, w):
    return np.sum(np.abs(z * w) ** 2).real


def test_pullback_can_be_called_with_any_cotangent_and_repeatedly():
    y, back = sd.pullback(polynomial, 0.7, 1.3)
    assert y == polynomial(0.7, 1.3)
    once, twice = back(1.0), back(1.0)
    assert once == twice
    assert back(2.0) == pytest.approx(tuple(2 * g for g in once))
    assert once == pytest.approx(tuple(float(g) for g in fd_vjp(polynomial, (0.7, 1.3), 1.0)))


def test_keyword_arguments_are_not_differentiated():
    assert len(sd.gradient(polynomial, 0.7, a=1.3)) == 1


def test_registering_a_rule_later_takes_effect_without_refresh():
    assert sd.gradient(uses_helper, 3.0) == (12.0,)

    @sd.register_rrule(helper, samples=[(1.5,)])
    def _(x):
        def helper_pullback(y_bar):
            return sd.NO_FIELDS, 100.0 * y_bar

        return helper(x), helper_pullback

    try:
        assert sd.gradient(uses_helper, 3.0) == (200.0,)
    finally:
        from sourcediff.rules.registry import RULES

        del RULES[helper]
        sd.refresh()


def test_errors_inside_generated_code_point_at_the_users_line():
    with pytest.raises(ValueError) as info:
        sd.gradient(logs_a_negative, 1.0)
    frames = [f for f in traceback.extract_tb(info.tb) if f.filename == __file__]
    assert frames and frames[-1].line == "return math.log(y)"


def test_complex_gradients_follow_the_conjugating_convention():
    z = 1.5 - 0.5j
    (gradient,) = sd.gradient(squared_modulus, z)
    assert gradient == pytest.approx(2 * z)
    z, w = np.array([1.0 + 2.0j, -0.5j]), np.array([0.3 - 1.0j, 2.0 + 0.1j])
    got = sd.gradient(complex_energy, z, w)
    for g, expected in zip(got, fd_vjp(complex_energy, (z, w), 1.0)):
        assert np.allclose(g, expected)


def test_real_inputs_never_get_complex_cotangents():
    (gradient,) = sd.gradient(lambda x: np.sum(np.abs(x * (1 + 1j)) ** 2), np.array([0.5, -1.0]))
    assert np.allclose(gradient, 4 * np.array([0.5, -1.0]))
    assert gradient.dtype == np.float64


def test_source_shows_the_code_that_runs_and_is_deterministic():
    text = sd.source(polynomial)
    assert "def polynomial_forward(x, a):" in text and "def polynomial_pullback(state, result_bar):" in text
    assert "# line" in text and text == sd.source(polynomial)
    with pytest.raises(sd.SourceDiffError):
        sd.source(polynomial, mode="sideways")


def test_differentiable_checks_the_function_up_front_and_keeps_it_callable():
    marked = sd.differentiable(polynomial)
    assert marked(0.5, 2.0) == polynomial(0.5, 2.0)
    with pytest.raises(sd.SourceDiffError):
        sd.differentiable(print)


def test_a_rule_beats_the_source():
    assert sd.gradient(np.sum, np.ones(3))[0].tolist() == [1.0, 1.0, 1.0]


def make_scaler(scale, shift):
    def scaler(x):
        return scale * x + shift

    return scaler


def apply_squared(f, x):
    return f(x) ** 2


def test_a_closure_argument_gets_one_cotangent_entry_per_captured_variable():
    scaler = make_scaler(3.0, 0.5)
    scaler_bar, x_bar = sd.gradient(apply_squared, scaler, 2.0)
    numeric = fd_vjp(lambda scale, shift, x: apply_squared(make_scaler(scale, shift), x), (3.0, 0.5, 2.0), 1.0)
    assert (scaler_bar.scale, scaler_bar.shift, x_bar) == pytest.approx(tuple(float(v) for v in numeric))


class _Model:
    def loss(self, w, data):
        return np.sum(np.tanh(data @ w) ** 2)


def _data_loss(w, data):
    return np.sum(np.tanh(data @ w) ** 2)


_differences = jacobian_by_differences


def test_arguments_that_carry_no_derivative_get_no_cotangent_computed():
    """A call whose arguments include values that do not depend on the differentiated inputs (data captured by
    a closure) calls a derivative of the callee specialised not to compute their cotangents: the same
    gradients and Hessians, through functions and bound methods."""
    rng = np.random.default_rng(0)
    data, w = rng.standard_normal((6, 3)), rng.standard_normal(3)
    method = _Model().loss

    def through_a_function(u):
        return _data_loss(u, data)

    def through_a_bound_method(u):
        return method(u, data)

    for f in (through_a_function, through_a_bound_method):
        text = sd.source(f, example=(w,))
        assert "call_with_constants((1,)," in text
        (gradient,) = sd.gradient(f, w)
        np.testing.assert_allclose(gradient, _differences(f, w), rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(sd.hessian(f, w), _differences(lambda u: sd.gradient(f, u)[0], w), rtol=1e-6, atol=1e-7)
    # the same function called with both arguments differentiated gives the data its cotangent
    w_bar, data_bar = sd.gradient(_data_loss, w, data)
    np.testing.assert_allclose(data_bar, _differences(lambda d: _data_loss(w, d.reshape(6, 3)), data.ravel()).reshape(6, 3),
                               rtol=1e-6, atol=1e-8)


def test_a_closure_lambda_is_told_apart_from_others_with_its_parameters():
    """Two lambdas of the same parameters in one file, one inside another on its line: the one called is found
    (a closure's first instructions copy its cells at a position of width zero, which must not mislead)."""
    offset = 0.5
    tools = {"unrelated": lambda u: u * 2.0,  # (a line of its own that does not parse: the whole file is read)
             "outer": lambda w: sd.gradient(lambda u: u ** 3 + offset, w)[0]}
    assert tools["outer"](2.0) == pytest.approx(12.0, rel=1e-12)
