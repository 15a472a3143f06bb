"""Checks of the `math` rules: every sample against finite differences, then targeted cases."""
import math

import numpy as np
import pytest

from sourcediff.rules import math as math_rules
from sourcediff.rules.differentials import NO_FIELDS, ZERO, extern, is_zero
from sourcediff.rules.registry import RULES, frule, rrule, samples_of
from sourcediff.testing import central_fdm, test_frule, test_rrule

MATH_RULES = {name: RULES[f] for name, f in vars(math).items() if callable(f) and f in RULES}
DIFFERENTIABLE = [(name, s) for name, r in MATH_RULES.items() if r.differentiable for s in samples_of(r)]
EULER_GAMMA = 0.5772156649015329


@pytest.mark.parametrize("name, sample", DIFFERENTIABLE, ids=[f"{n}{s.args}" for n, s in DIFFERENTIABLE])
def test_rules_match_finite_differences(name, sample):
    test_rrule(getattr(math, name), *sample.args, **sample.kwargs)
    test_frule(getattr(math, name), *sample.args, **sample.kwargs)


def test_every_differentiable_function_is_covered():
    expected = {"sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh",
                "atanh", "exp", "expm1", "log", "log2", "log10", "log1p", "sqrt", "pow", "hypot", "fabs",
                "copysign", "erf", "erfc", "gamma", "lgamma", "degrees", "radians", "fmod"}
    assert expected <= {name for name, r in MATH_RULES.items() if r.differentiable}


def test_partials_are_inlinable_lambdas():
    for name, rule in MATH_RULES.items():
        for partial in rule.partials or ():
            assert partial.__name__ == "<lambda>" and not partial.__code__.co_freevars, name
            assert partial.__module__ == math_rules.__name__, name


@pytest.mark.parametrize("x, exact", [
    (1.0, -EULER_GAMMA), (2.0, 1 - EULER_GAMMA), (0.5, -EULER_GAMMA - 2 * math.log(2)),
    (1 / 3, -EULER_GAMMA - math.pi / (2 * math.sqrt(3)) - 1.5 * math.log(3)),
    (-0.5, 2 - EULER_GAMMA - 2 * math.log(2)),  # ψ(-1/2) = ψ(3/2) by reflection, since cot(-π/2) = 0
])
def test_digamma_known_values(x, exact):
    assert math_rules.digamma(x) == pytest.approx(exact, rel=2e-15, abs=2e-15)


@pytest.mark.parametrize("x", [0.05, 0.37, 1.4616321, 3.3, 9.99, 10.0, 57.2, 1e4, -0.2, -3.7, -11.5, -40.3])
def test_digamma_is_the_derivative_of_lgamma(x):
    """A 5-point difference with step h = 1e-3·d, d the distance to the nearest pole of lgamma (0, -1, ...).

    Its truncation error is about h⁴·|ψ⁗|/30 ≤ h⁴·24/(30·d⁵) = 8e-13·d⁻¹ (ψ⁗ grows like 24/d⁵ near a pole
    and falls off as 6/x⁴ for large x), and its rounding error about ε·|lgamma(x)|/h ≤ 2e-13·|lgamma(x)|/d,
    both far below the tolerance for these points, including lgamma(1e4) ≈ 8.2e4 where h = 10.
    """
    distance = x if x > 0 else min(x - math.floor(x), math.ceil(x) - x)
    h = 1e-3 * distance
    fdm = central_fdm(5, 1, step=h / max(1.0, abs(x)))  # central_fdm scales its step by max(1, |x|)
    assert math_rules.digamma(x) == pytest.approx(fdm(math.lgamma, x), rel=1e-9, abs=1e-9)


def test_log_with_a_base():
    _, x_bar, base_bar = test_rrule(math.log, 5.0, 2.0)
    assert isinstance(extern(x_bar), float) and isinstance(extern(base_bar), float)
    test_frule(math.log, 5.0, 2.0)
    assert rrule(math.log, 5.0, 2.0)[1](ZERO) == (NO_FIELDS, ZERO, ZERO)


def test_hypot_of_any_number_of_coordinates():
    assert len(test_rrule(math.hypot, 1.0, -2.0, 0.5, 3.0)) == 5
    test_frule(math.hypot, 1.0, -2.0, 0.5, 3.0)
    _, pullback = rrule(math.hypot, 0.0, 0.0)
    assert all(is_zero(c) for c in pullback(1.0)[1:])
    assert frule(math.hypot, 0.0, 0.0)[1](NO_FIELDS, 1.0, 1.0) == 0.0


def test_sign_functions_away_from_zero():
    assert rrule(math.fabs, -2.0)[1](1.0) == (NO_FIELDS, -1.0)
    assert rrule(math.fabs, 0.0)[1](1.0) == (NO_FIELDS, 0.0)
    _, a_bar, b_bar = rrule(math.copysign, -2.0, 3.0)[1](1.0)
    assert extern(a_bar) == -1.0 and extern(b_bar) == 0.0


def test_fsum_and_prod_cotangents_keep_the_structure():
    _, xs_bar = test_rrule(math.fsum, [0.1, 0.2, 0.3])
    assert type(xs_bar) is list and len(xs_bar) == 3
    _, xs_bar = test_rrule(math.prod, (2.0, 0.0, 3.0), output_cotangent=1.0)
    assert type(xs_bar) is tuple and xs_bar == (0.0, 6.0, 0.0)
    _, xs_bar = test_rrule(math.prod, np.array([2.0, 0.5], dtype=np.float32), rtol=1e-4)
    assert xs_bar.dtype == np.float32


def test_float32_inputs_get_float32_cotangents():
    _, x_bar = rrule(math.sin, np.float32(0.5))[1](1.0)
    assert type(x_bar) is np.float32


@pytest.mark.parametrize("f, args", [
    (math.floor, (2.5,)), (math.ceil, (2.5,)), (math.trunc, (-2.5,)), (math.isnan, (1.0,)), (math.isinf, (1.0,)),
    (math.isfinite, (1.0,)), (math.isclose, (1.0, 1.0 + 1e-12)), (math.factorial, (5,)), (math.comb, (5, 2)),
    (math.perm, (5, 2)), (math.gcd, (12, 18)),
])
def test_non_differentiable_functions_give_zero_cotangents(f, args):
    assert not RULES[f].differentiable
    y, pullback = rrule(f, *args)
    assert y == f(*args)
    assert pullback(1.0) == (NO_FIELDS,) + (ZERO,) * len(args)
    assert is_zero(frule(f, *args)[1](NO_FIELDS, *[1.0] * len(args)))
