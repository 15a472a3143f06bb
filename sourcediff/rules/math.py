"""Rules for the standard library's `math` module: one row per function, its partials written in
terms of the inputs and the output `y`.

`math.log(x, base)`, `math.hypot` of any number of coordinates, `math.fsum` and `math.prod` have
rules of their own; the one-line partials still serve `log(x)` and `hypot(a, b)`. Rounding,
predicates and integer functions are non-differentiable. `digamma`, the derivative of `lgamma`,
is computed here since the standard library has none.
"""
import functools
import math

import numpy as np

from .builtins import cotangent_like, item_tangent, items_of
from .differentials import NO_FIELDS, ZERO, Thunk, accumulate, extern, is_zero
from .operators import POSITIVE, power_base_partial, xlogy
from .projection import project
from .registry import Sample, conj, non_differentiable, register_frule, register_rrule, scalar_rule

UNIT = (-0.9, 0.9)
LN2, LN10 = math.log(2.0), math.log(10.0)
TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
GAMMA_SAMPLES = [Sample((1.7,)), Sample((0.3,)), Sample((12.5,)), Sample((-1.5,)), Sample((-2.7,))]


def digamma(x):
    """ψ(x) = d/dx log Γ(x) for real x, to about 1e-15.

    Reflection ψ(x) = ψ(1 - x) - π/tan(πx) takes x <= 0 to x >= 1, the recurrence
    ψ(x) = ψ(x + 1) - 1/x moves x up to 10, and there the asymptotic series
    ln x - 1/(2x) - Σₖ B₂ₖ/(2k·x²ᵏ), stopped after seven terms, is accurate to 1e-17.

        >>> round(digamma(1.0), 14)  # -γ, the Euler-Mascheroni constant
        -0.57721566490153
    """
    if x <= 0:
        return digamma(1 - x) - math.pi / math.tan(math.pi * (x % 1.0))
    shift = 0.0
    while x < 10:
        shift += 1 / x
        x += 1
    z = 1 / (x * x)
    series = z * (1 / 12 - z * (1 / 120 - z * (1 / 252 - z * (1 / 240 - z * (1 / 132 - z * (691 / 32760 - z / 12))))))
    return math.log(x) - 0.5 / x - series - shift


scalar_rule(math.sin, lambda x, y: math.cos(x))
scalar_rule(math.cos, lambda x, y: -math.sin(x))
scalar_rule(math.tan, lambda x, y: 1 + y * y)
scalar_rule(math.asin, lambda x, y: 1 / math.sqrt(1 - x * x), domain=UNIT)
scalar_rule(math.acos, lambda x, y: -1 / math.sqrt(1 - x * x), domain=UNIT)
scalar_rule(math.atan, lambda x, y: 1 / (1 + x * x))
scalar_rule(math.atan2, lambda a, b, y: b / (a * a + b * b), lambda a, b, y: -a / (a * a + b * b),
            samples=[Sample((0.5, 1.2)), Sample((1.3, -0.4)), Sample((-0.7, -1.1)), Sample((-0.2, 0.9))])
scalar_rule(math.sinh, lambda x, y: math.cosh(x))
scalar_rule(math.cosh, lambda x, y: math.sinh(x))
scalar_rule(math.tanh, lambda x, y: 1 - y * y)
scalar_rule(math.asinh, lambda x, y: 1 / math.sqrt(x * x + 1))
scalar_rule(math.acosh, lambda x, y: 1 / math.sqrt(x * x - 1), domain=(1.1, 3.0))
scalar_rule(math.atanh, lambda x, y: 1 / (1 - x * x), domain=UNIT)
scalar_rule(math.exp, lambda x, y: y)
scalar_rule(math.expm1, lambda x, y: y + 1)
scalar_rule(math.log2, lambda x, y: 1 / (x * LN2), domain=POSITIVE)
scalar_rule(math.log10, lambda x, y: 1 / (x * LN10), domain=POSITIVE)
scalar_rule(math.log1p, lambda x, y: 1 / (1 + x), domain=(-0.5, 2.0))
scalar_rule(math.sqrt, lambda x, y: 0.5 / y, domain=POSITIVE)
scalar_rule(math.pow, lambda x, p, y: power_base_partial(x, p, y), lambda x, p, y: xlogy(y, x),
            domain=[POSITIVE, (-2.0, 2.0)])
scalar_rule(math.fabs, lambda x, y: math.copysign(1.0, x) if x else 0.0, samples=[Sample((1.3,)), Sample((-0.6,))])
scalar_rule(math.copysign, lambda a, b, y: math.copysign(1.0, a) * math.copysign(1.0, b) if a else 0.0,
            lambda a, b, y: 0.0, samples=[Sample((1.3, -0.7)), Sample((-1.3, 0.4)), Sample((0.8, 1.1))])
scalar_rule(math.fmod, lambda a, b, y: 1.0, lambda a, b, y: -((a - y) / b),
            samples=[Sample((1.7, 0.5)), Sample((-1.7, 0.5)), Sample((1.3, -0.4))])
scalar_rule(math.remainder, lambda a, b, y: 1.0, lambda a, b, y: -((a - y) / b),
            samples=[Sample((1.7, 0.5)), Sample((-1.3, 0.4)), Sample((2.9, 1.1))])
scalar_rule(math.ldexp, lambda x, i, y: math.ldexp(1.0, i), lambda x, i, y: 0.0,
            samples=[Sample((1.3, 3)), Sample((-0.7, -2))])
scalar_rule(math.erf, lambda x, y: TWO_OVER_SQRT_PI * math.exp(-x * x))
scalar_rule(math.erfc, lambda x, y: -TWO_OVER_SQRT_PI * math.exp(-x * x))
scalar_rule(math.gamma, lambda x, y: y * digamma(x), samples=GAMMA_SAMPLES)
scalar_rule(math.lgamma, lambda x, y: digamma(x), samples=GAMMA_SAMPLES)
scalar_rule(math.degrees, lambda x, y: math.degrees(1.0))
scalar_rule(math.radians, lambda x, y: math.radians(1.0))
if hasattr(math, "exp2"):
    scalar_rule(math.exp2, lambda x, y: y * LN2)
if hasattr(math, "cbrt"):
    scalar_rule(math.cbrt, lambda x, y: 1 / (3 * y * y), samples=[Sample((1.7,)), Sample((-0.6,))])

_natural_log = scalar_rule(math.log, lambda x, y: 1 / x, domain=POSITIVE)
_natural_log_rrule, _natural_log_frule = _natural_log.rrule, _natural_log.frule


@register_rrule(math.log, samples=[Sample((1.7,)), Sample((1.7, 3.0)), Sample((0.6, 0.4))])
def log_rrule(x, *base):
    """`math.log(x, base) = ln x / ln base`, differentiable in both; `math.log(x)` uses its partial."""
    if not base:
        return _natural_log_rrule(x)
    y = math.log(x, *base)
    log_base = math.log(base[0])

    def log_pullback(y_bar):
        y_bar = extern(y_bar)
        if is_zero(y_bar):
            return NO_FIELDS, ZERO, ZERO
        return (NO_FIELDS, Thunk(lambda: project(x, y_bar / (x * log_base))),
                Thunk(lambda: project(base[0], -y_bar * y / (base[0] * log_base))))

    return y, log_pullback


@register_frule(math.log)
def log_frule(x, *base):
    if not base:
        return _natural_log_frule(x)
    y = math.log(x, *base)
    log_base = math.log(base[0])

    def log_pushforward(self_dot, x_dot, base_dot):
        return extern(x_dot) / (x * log_base) - extern(base_dot) * y / (base[0] * log_base)

    return y, log_pushforward


scalar_rule(math.hypot, lambda a, b, y: a / y if y else 0.0, lambda a, b, y: b / y if y else 0.0)


@register_rrule(math.hypot, samples=[Sample((1.2, -0.7)), Sample((0.3, -1.1, 2.0)), Sample((-1.4,))])
def hypot_rrule(*coordinates):
    """`math.hypot` of any number of coordinates: ∂y/∂xᵢ = xᵢ/y, and 0 at the origin."""
    y = math.hypot(*coordinates)

    def hypot_pullback(y_bar):
        scale = extern(y_bar) / y if y else ZERO
        return (NO_FIELDS,) + tuple(project(x, scale * x) for x in coordinates)

    return y, hypot_pullback


@register_frule(math.hypot)
def hypot_frule(*coordinates):
    y = math.hypot(*coordinates)

    def hypot_pushforward(self_dot, *coordinate_dots):
        y_dot = functools.reduce(accumulate, (x * extern(d) for x, d in zip(coordinates, coordinate_dots)), ZERO)
        return y_dot / y if y else ZERO

    return y, hypot_pushforward


@register_rrule(math.fsum, samples=[Sample(([0.1, 0.2, 0.3],)), Sample(((1.5, -2.0),)),
                                   Sample((np.array([0.5, 1.5]),))])
def fsum_rrule(xs):
    """Every item of `xs` receives the output's cotangent, in a list for a list (see `builtins.sum`)."""
    items = items_of(xs)
    y = math.fsum(items)

    def fsum_pullback(y_bar):
        y_bar = extern(y_bar)
        if is_zero(y_bar):
            return NO_FIELDS, ZERO
        return NO_FIELDS, cotangent_like(xs, items, [project(x, y_bar) for x in items], "fsum")

    return y, fsum_pullback


@register_frule(math.fsum)
def fsum_frule(xs):
    items = items_of(xs)
    y = math.fsum(items)

    def fsum_pushforward(self_dot, xs_dot):
        return functools.reduce(accumulate, (item_tangent(xs, xs_dot, i) for i in range(len(items))), ZERO)

    return y, fsum_pushforward


def _products_around(items, start):
    """For item i: `start` times the items before it, and the product of the items after it."""
    before, after = [start], [1]
    for x in items[:-1]:
        before.append(before[-1] * x)
    for x in reversed(items[1:]):
        after.append(x * after[-1])
    return before, after[::-1]


@register_rrule(math.prod, samples=[
    Sample(([1.5, -0.5, 2.0],)), Sample(((0.0, 1.3, 2.0),)), Sample(([1.2, 0.7],), {"start": 2.0}),
    Sample((np.array([0.5, 1.5, -2.0]),)), Sample(([np.array([1.0, 2.0]), 3.0],)),
])
def prod_rrule(xs, **kwargs):
    """Item i receives conj(the product of all the other factors) times the output's cotangent.

    Products of the items before and after each one avoid dividing by an item that may be zero.
    `start` is keyword-only and, like every keyword argument, not differentiated.
    """
    items = items_of(xs)
    y = math.prod(items, **kwargs)

    def prod_pullback(y_bar):
        y_bar = extern(y_bar)
        if is_zero(y_bar):
            return NO_FIELDS, ZERO
        before, after = _products_around(items, kwargs.get("start", 1))
        item_bars = [project(x, y_bar * conj(b * a)) for x, b, a in zip(items, before, after)]
        return NO_FIELDS, cotangent_like(xs, items, item_bars, "prod")

    return y, prod_pullback


@register_frule(math.prod)
def prod_frule(xs, **kwargs):
    items = items_of(xs)
    y = math.prod(items, **kwargs)

    def prod_pushforward(self_dot, xs_dot):
        before, after = _products_around(items, kwargs.get("start", 1))
        terms = (b * extern(item_tangent(xs, xs_dot, i)) * a for i, (b, a) in enumerate(zip(before, after)))
        return functools.reduce(accumulate, terms, ZERO)

    return y, prod_pushforward


non_differentiable(
    math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite, math.isclose, math.factorial,
    math.comb, math.perm, math.gcd, math.lcm, math.isqrt, math.ulp,
)
