"""The finite-difference checker itself."""
import math
import operator

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.testing import central_fdm, test_frule, test_rrule


def test_central_fdm_is_accurate_for_first_and_second_derivatives():
    assert central_fdm(5, 1)(math.exp, 1.0) == pytest.approx(math.e, rel=1e-10)
    assert central_fdm(7, 2)(math.sin, 0.5) == pytest.approx(-math.sin(0.5), rel=1e-6)


def test_frule_accepts_zero_tangents_for_some_arguments():
    test_frule(np.matmul, np.ones((2, 3)), np.ones((3, 4)), tangents=(sd.Zero(), np.ones((3, 4))))


def test_frule_gives_integer_arguments_no_tangent():
    test_frule(operator.pow, 2.0, 3)


def test_a_wrong_rule_is_caught():
    def double(x):
        return 2 * x

    @sd.register_rrule(double)
    def _(x):
        def double_pullback(y_bar):
            return sd.NO_FIELDS, 3 * y_bar

        return double(x), double_pullback

    with pytest.raises(AssertionError):
        test_rrule(double, 1.5)
