"""Rules for Python's operators (`operator.add` is what `a + b` calls).

Arithmetic operators are elementwise rules written as partial derivatives; comparisons,
`not` and floor division are declared non-differentiable.
"""
import math
import operator

import numpy as np

from .registry import non_differentiable, scalar_rule

POSITIVE = (0.5, 2.0)


def xlogy(y, x):
    """y·log(x) where x > 0, else 0: the exponent's partial of `x ** p`, finite for any base."""
    if type(x) is float or type(x) is int:
        return y * math.log(x) if x > 0 else 0.0
    x = np.asarray(x)
    return np.where(x > 0, y * np.log(np.where(x > 0, x, 1.0)), 0.0)


def power_base_partial(x, p, y):
    """∂(x ** p)/∂x = p·x^(p-1), written so that x = 0 with p >= 1 stays finite."""
    return p * x ** (p - 1) if type(p) is not int or p != 0 else 0.0


scalar_rule(operator.add, lambda a, b, y: 1.0, lambda a, b, y: 1.0)
scalar_rule(operator.sub, lambda a, b, y: 1.0, lambda a, b, y: -1.0)
scalar_rule(operator.mul, lambda a, b, y: b, lambda a, b, y: a)
scalar_rule(operator.truediv, lambda a, b, y: 1 / b, lambda a, b, y: -y / b, domain=[(-2.0, 2.0), POSITIVE])
scalar_rule(operator.mod, lambda a, b, y: 1.0, lambda a, b, y: -((a - y) / b), domain=[(0.1, 0.9), (1.1, 2.0)])
scalar_rule(operator.pow, power_base_partial, lambda x, p, y: xlogy(y, x), domain=[POSITIVE, (-2.0, 2.0)])
scalar_rule(operator.neg, lambda a, y: -1.0)
scalar_rule(operator.pos, lambda a, y: 1.0)
scalar_rule(operator.abs, lambda a, y: np.conj(a) / y if np.iscomplexobj(a) else np.sign(a), domain=POSITIVE)

non_differentiable(
    operator.floordiv, operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne,
    operator.not_, operator.truth, operator.is_, operator.is_not, operator.contains,
)
