"""Rules for Python's operators (`operator.add` is what `a + b` calls).

Arithmetic operators are elementwise rules written as partial derivatives (`+` and `*` on lists
and tuples concatenate and repeat them); the in-place operators (`operator.iadd` is what `a += b`
calls) update arrays and lists in place and are differentiated as their functional twins;
comparisons, `not` and floor division are declared non-differentiable.
"""
import math
import operator

import numpy as np

from .differentials import NO_FIELDS, ZERO, accumulate, extern, is_zero
from .registry import RULES, Rule, Sample, frule, non_differentiable, register_frule, register_rrule, rrule, scalar_rule

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


def positive_quotient(y, x):
    """y / x where x > 0, else 0: ∂xlogy(y, x)/∂x."""
    if type(x) is float or type(x) is int:
        return y / x if x > 0 else 0.0
    x = np.asarray(x)
    return np.where(x > 0, y / np.where(x > 0, x, 1.0), 0.0)


def _partial_samples(seed, intervals, shape):
    """Scalar and array samples of a partial derivative's helper (its arguments drawn from `intervals`)."""
    rng = np.random.default_rng(seed)
    return [Sample(tuple(float(rng.uniform(*i)) for i in intervals)),
            Sample(tuple(rng.uniform(*i, shape) for i in intervals))]


# The helpers that partial derivatives call have rules too: forward over reverse differentiates the pullbacks
# they are pasted into (the second derivatives).
scalar_rule(xlogy, lambda y, x, r: xlogy(1.0, x), lambda y, x, r: positive_quotient(y, x),
            samples=lambda: _partial_samples(1, [(-2.0, 2.0), POSITIVE], (3,)))
scalar_rule(power_base_partial, lambda x, p, y, r: p * power_base_partial(x, p - 1, y),
            lambda x, p, y, r: x ** (p - 1) + p * xlogy(x ** (p - 1), x), lambda x, p, y, r: 0.0,
            samples=lambda: _partial_samples(2, [POSITIVE, (-2.0, 2.0), (-2.0, 2.0)], (3,)))
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


def _sequence(value):
    return isinstance(value, (list, tuple)) and not hasattr(value, "_fields")


def _concatenation_rule(function, elementwise):
    """`a + b` for lists and tuples is concatenation; for numbers and arrays, the elementwise rule."""

    def add_rrule(a, b):
        if not (_sequence(a) and _sequence(b)):
            return elementwise.rrule(a, b)
        length = len(a)

        def concatenation_pullback(y_bar):
            if is_zero(y_bar):
                return NO_FIELDS, ZERO, ZERO
            entries = list(extern(y_bar))
            return NO_FIELDS, type(a)(entries[:length]), type(b)(entries[length:])

        return function(a, b), concatenation_pullback

    def add_frule(a, b):
        if not (_sequence(a) and _sequence(b)):
            return elementwise.frule(a, b)

        def concatenation_pushforward(self_dot, a_dot, b_dot):
            parts = [[ZERO] * len(v) if is_zero(d) else list(extern(d)) for v, d in ((a, a_dot), (b, b_dot))]
            return type(a)(parts[0] + parts[1])

        return function(a, b), concatenation_pushforward

    return add_rrule, add_frule


def _repetition_rule(function, elementwise):
    """`items * k` (or `k * items`) for a list or tuple repeats it; otherwise the elementwise rule."""

    def mul_rrule(a, b):
        if not (_sequence(a) or _sequence(b)):
            return elementwise.rrule(a, b)
        items_first = _sequence(a)
        items = a if items_first else b

        def repetition_pullback(y_bar):
            if is_zero(y_bar):
                return NO_FIELDS, ZERO, ZERO
            entries, length = list(extern(y_bar)), len(items)
            totals = [ZERO] * length
            for position, entry in enumerate(entries):
                totals[position % length] = accumulate(totals[position % length], entry)
            items_bar = type(items)(totals)
            return (NO_FIELDS, items_bar, ZERO) if items_first else (NO_FIELDS, ZERO, items_bar)

        return function(a, b), repetition_pullback

    def mul_frule(a, b):
        if not (_sequence(a) or _sequence(b)):
            return elementwise.frule(a, b)
        items_first = _sequence(a)

        def repetition_pushforward(self_dot, a_dot, b_dot):
            items, items_dot, count = (a, a_dot, b) if items_first else (b, b_dot, a)
            entries = [ZERO] * len(items) if is_zero(items_dot) else list(extern(items_dot))
            return type(items)(entries * count)

        return function(a, b), repetition_pushforward

    return mul_rrule, mul_frule


def _register_sequence_aware(function, make_rules):
    rule = RULES[function]
    rrule, frule = make_rules(function, Rule(function, rule.rrule, rule.frule))
    register_rrule(function, batch=True)(rrule)  # (lists of cotangents entry by entry, or the elementwise rule)
    register_frule(function, batch=True)(frule)


_register_sequence_aware(operator.add, _concatenation_rule)
_register_sequence_aware(operator.mul, _repetition_rule)

INPLACE = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
           operator.itruediv: operator.truediv, operator.imod: operator.mod, operator.ipow: operator.pow,
           operator.imatmul: operator.matmul}
READS_VALUES = {operator.imul, operator.itruediv, operator.imod, operator.ipow, operator.imatmul}


def _inplace_rules(inplace, functional):
    """`a op= b` as Python runs it (in place for arrays and lists), differentiated as `a op b`.

    The pullback comes from the rule of `op` applied to `a` as it was before the update (copied
    first when `op`'s derivative reads it), projected back onto `a`.
    """
    name = inplace.__name__

    @register_rrule(inplace, updates=True)
    def inplace_rrule(a, b):
        if not isinstance(a, (np.ndarray, list)):
            return rrule(functional, a, b)
        before = a.copy() if inplace in READS_VALUES or isinstance(a, list) else a
        if isinstance(a, list) and not _sequence(b):
            b = list(b)
        _, functional_pullback = rrule(functional, before, b)
        return inplace(a, b), functional_pullback

    @register_frule(inplace)
    def inplace_frule(a, b):
        if not isinstance(a, (np.ndarray, list)):
            return frule(functional, a, b)
        before = a.copy()
        _, pushforward = frule(functional, before, b)
        return inplace(a, b), pushforward

    inplace_rrule.__name__, inplace_frule.__name__ = f"{name}_rrule", f"{name}_frule"
    RULES[inplace].partials = getattr(RULES.get(functional), "partials", None)


for _inplace, _functional in INPLACE.items():
    _inplace_rules(_inplace, _functional)

non_differentiable(operator.ifloordiv, operator.iand, operator.ior, operator.ixor, operator.ilshift, operator.irshift)
