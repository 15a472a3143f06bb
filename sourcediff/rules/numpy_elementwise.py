"""Rules for NumPy's elementwise functions: ufuncs, `np.where` and `np.clip`, and the constructors
whose values depend on their arguments: `np.full`, `np.full_like`, `np.linspace`, `np.arange`.

Each ufunc is one `scalar_rule` row of partial derivatives (functions of the inputs and the output
`y`, for scalars and arrays alike). `maximum`/`minimum` give a tie to their first argument, and
`hypot` the subgradient 0 at (0, 0). Rounding, comparisons, predicates, index functions and the
other array constructors (`np.zeros`, `np.ones_like`, `np.eye`, ...) are declared non-differentiable.

    >>> import numpy as np
    >>> from sourcediff.rules.registry import rrule
    >>> y, multiply_pullback = rrule(np.multiply, np.ones((2, 3)), np.arange(3.0))
    >>> self_bar, a_bar, b_bar = multiply_pullback(np.ones((2, 3)))
    >>> extern(b_bar)
    array([2., 2., 2.])
"""
import math

import numpy as np

from .differentials import NO_FIELDS, ZERO, Thunk, extern, is_zero
from .linear import draw, project_tree, seeded_pullback
from .numpy_reductions import divide_or_zero
from .numpy_shapes import array_adjoint, cast_tangent
from .operators import POSITIVE, power_base_partial, xlogy
from .projection import project, unbroadcast
from .registry import RULES, Sample, fresh, non_differentiable, register_frule, register_rrule, samples_of, scalar_rule

UNIT = (-0.9, 0.9)
LN2, LN10 = np.log(2.0), np.log(10.0)


def sinc_partial(x, y):
    """d sinc(x)/dx = (cos(πx) − sinc(x))/x, which tends to 0 at x = 0."""
    at_zero = np.equal(x, 0)
    return np.where(at_zero, 0.0, (np.cos(np.pi * x) - y) / np.where(at_zero, 1.0, x))


def absolute_partial(x, y):
    """∂|x|/∂x: sign(x) for real x, conj(x)/|x| for complex x (0 at 0 either way)."""
    if not np.iscomplexobj(x):
        return np.sign(x)
    return np.conj(x) / np.where(y == 0, 1.0, y)


def absolute_samples():
    rng = np.random.default_rng(11)
    signs = np.array([1.0, -1.0, 1.0, -1.0])
    return [Sample((-1.25,)), Sample((signs * rng.uniform(0.5, 2.0, 4),)),
            Sample((rng.uniform(-2, 2, 4) + 1j * rng.uniform(0.5, 2.0, 4),))]


def sinc_samples():
    rng = np.random.default_rng(12)
    return [Sample((0.7,)), Sample((np.array([0.0, -1.3, 0.4, 2.2]),)), Sample((rng.uniform(-2, 2, (2, 3)),))]


scalar_rule(np.exp, lambda x, y: y)
scalar_rule(np.exp2, lambda x, y: y * LN2)
scalar_rule(np.expm1, lambda x, y: y + 1)
scalar_rule(np.log, lambda x, y: 1 / x, domain=POSITIVE)
scalar_rule(np.log2, lambda x, y: 1 / (x * LN2), domain=POSITIVE)
scalar_rule(np.log10, lambda x, y: 1 / (x * LN10), domain=POSITIVE)
scalar_rule(np.log1p, lambda x, y: 1 / (1 + x), domain=(-0.5, 2.0))
scalar_rule(np.sin, lambda x, y: np.cos(x))
scalar_rule(np.cos, lambda x, y: -np.sin(x))
scalar_rule(np.tan, lambda x, y: 1 + y**2, domain=(-1.2, 1.2))
scalar_rule(np.arcsin, lambda x, y: 1 / np.sqrt(1 - x**2), domain=UNIT)
scalar_rule(np.arccos, lambda x, y: -1 / np.sqrt(1 - x**2), domain=UNIT)
scalar_rule(np.arctan, lambda x, y: 1 / (1 + x**2))
scalar_rule(np.sinh, lambda x, y: np.cosh(x))
scalar_rule(np.cosh, lambda x, y: np.sinh(x))
scalar_rule(np.tanh, lambda x, y: 1 - y**2)
scalar_rule(np.arcsinh, lambda x, y: 1 / np.sqrt(x**2 + 1))
scalar_rule(np.arccosh, lambda x, y: 1 / np.sqrt(x**2 - 1), domain=(1.5, 3.0))
scalar_rule(np.arctanh, lambda x, y: 1 / (1 - x**2), domain=UNIT)
scalar_rule(np.sqrt, lambda x, y: 0.5 / y, domain=POSITIVE)
scalar_rule(np.cbrt, lambda x, y: 1 / (3 * y**2), domain=POSITIVE)
scalar_rule(np.square, lambda x, y: 2 * x)
scalar_rule(np.reciprocal, lambda x, y: -(y**2), domain=POSITIVE)
scalar_rule(np.negative, lambda x, y: -1.0)
scalar_rule(np.positive, lambda x, y: 1.0)
scalar_rule(np.deg2rad, lambda x, y: np.pi / 180)
scalar_rule(np.radians, lambda x, y: np.pi / 180)
scalar_rule(np.rad2deg, lambda x, y: 180 / np.pi)
scalar_rule(np.degrees, lambda x, y: 180 / np.pi)
scalar_rule(np.sinc, sinc_partial, samples=sinc_samples)
scalar_rule(np.absolute, absolute_partial, samples=absolute_samples)
scalar_rule(np.add, lambda a, b, y: 1.0, lambda a, b, y: 1.0)
scalar_rule(np.subtract, lambda a, b, y: 1.0, lambda a, b, y: -1.0)
scalar_rule(np.multiply, lambda a, b, y: b, lambda a, b, y: a)
scalar_rule(np.divide, lambda a, b, y: 1 / b, lambda a, b, y: -y / b, domain=[(-2.0, 2.0), POSITIVE])
scalar_rule(np.power, power_base_partial, lambda x, p, y: xlogy(y, x), domain=[POSITIVE, (-2.0, 2.0)])
scalar_rule(np.float_power, power_base_partial, lambda x, p, y: xlogy(y, x), domain=[POSITIVE, (-2.0, 2.0)])
scalar_rule(np.maximum, lambda a, b, y: 1.0 * (a >= b), lambda a, b, y: 1.0 * (a < b))
scalar_rule(np.minimum, lambda a, b, y: 1.0 * (a <= b), lambda a, b, y: 1.0 * (a > b))
scalar_rule(np.arctan2, lambda a, b, y: b / (a**2 + b**2), lambda a, b, y: -a / (a**2 + b**2), domain=[UNIT, POSITIVE])
scalar_rule(np.hypot, lambda a, b, y: divide_or_zero(a, y), lambda a, b, y: divide_or_zero(b, y))  # 0 at (0, 0), a subgradient
scalar_rule(np.logaddexp, lambda a, b, y: np.exp(a - y), lambda a, b, y: np.exp(b - y))
scalar_rule(np.logaddexp2, lambda a, b, y: np.exp2(a - y), lambda a, b, y: np.exp2(b - y))


def absolute_partial_samples():
    rng = np.random.default_rng(13)
    real, complex_ = np.array([1.0, -1.0, 1.0]) * rng.uniform(0.5, 2.0, 3), rng.uniform(-2, 2, 3) + 1j * rng.uniform(0.5, 2, 3)
    return [Sample((-1.25, 1.25)), Sample((real, np.abs(real))), Sample((complex_, np.abs(complex_) + 0.25))]


@register_rrule(absolute_partial, samples=absolute_partial_samples)
def absolute_partial_rrule(x, y):
    """conj(x)/y is not holomorphic in x (sign(x) of a real x is flat): x̄ = conj(s̄)/y, ȳ = −Re(s̄·x)/y²."""
    s = absolute_partial(x, y)

    def absolute_partial_pullback(s_bar):
        if is_zero(s_bar) or not np.iscomplexobj(x):
            return NO_FIELDS, ZERO, ZERO
        s_bar, safe = extern(s_bar), np.where(y == 0, 1.0, y)
        return NO_FIELDS, project(x, np.conj(s_bar) / safe), project(y, -np.real(s_bar * x) / safe ** 2)

    return s, absolute_partial_pullback


@register_frule(absolute_partial)
def absolute_partial_frule(x, y):
    s = absolute_partial(x, y)

    def absolute_partial_pushforward(self_dot, x_dot, y_dot):
        if not np.iscomplexobj(x) or is_zero(x_dot) and is_zero(y_dot):
            return ZERO
        safe = np.where(y == 0, 1.0, y)
        return np.conj(tangent_or_zeros(x_dot, x)) / safe - np.conj(x) * tangent_or_zeros(y_dot, y) / safe ** 2

    return s, absolute_partial_pushforward


@register_frule(np.absolute)
def absolute_frule(x):
    """|z| is not holomorphic: its pushforward is Re(conj(z)·ż)/|z|, which no single partial gives."""
    y = np.absolute(x)

    def absolute_pushforward(self_dot, x_dot):
        if is_zero(x_dot):
            return ZERO
        return np.real(absolute_partial(x, y) * extern(x_dot))

    return y, absolute_pushforward


def add_complex_sample(f):
    """Also check a holomorphic rule on complex arrays in the right half-plane, clear of branch cuts."""
    rule = RULES[f]
    real_samples = rule.samples

    def samples():
        rng = np.random.default_rng(13)
        z = tuple(rng.uniform(0.5, 1.5, 3) + 1j * rng.uniform(-1.0, 1.0, 3) for _ in rule.partials)
        return real_samples() + [Sample(z)]

    rule.samples = samples


for holomorphic in (np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p, np.sin, np.cos, np.tan,
                    np.arctan, np.sinh, np.cosh, np.tanh, np.arcsinh, np.sqrt, np.square, np.reciprocal,
                    np.negative, np.positive, np.add, np.subtract, np.multiply, np.divide):
    add_complex_sample(holomorphic)


def tangent_or_zeros(dot, primal):
    """A tangent as an ordinary value, with zeros shaped like `primal` standing for `Zero()`."""
    return np.zeros_like(primal) if is_zero(dot) else extern(dot)


def where_samples():
    rng = np.random.default_rng(14)
    condition = np.array([[True, False, True], [False, False, True]])
    return [Sample((condition, rng.normal(size=(2, 3)), rng.normal(size=(2, 3)))),
            Sample((condition, rng.normal(size=3).astype(np.float32), 0.5)),
            Sample((np.array([True, False, True]), rng.normal(size=(2, 1)), rng.normal(size=3)))]


@register_rrule(np.where, samples=where_samples)
def where_rrule(condition, *branches):
    y = np.where(condition, *branches)

    def where_pullback(y_bar):
        if is_zero(y_bar) or not branches:
            return (NO_FIELDS, ZERO) + (ZERO,) * len(branches)
        y_bar = extern(y_bar)
        a, b = branches
        return (NO_FIELDS, ZERO, Thunk(lambda: project(a, np.where(condition, y_bar, 0))),
                Thunk(lambda: project(b, np.where(condition, 0, y_bar))))

    where_pullback.adjoint_of = np.where  # (linear, reads only the condition and the branches' shapes)
    return y, where_pullback


where_rrule.rrule_of = np.where


@register_frule(np.where)
def where_frule(condition, *branches):
    y = np.where(condition, *branches)

    def where_pushforward(self_dot, condition_dot, *branch_dots):
        if not branches or all(is_zero(d) for d in branch_dots):
            return ZERO
        a_dot, b_dot = map(tangent_or_zeros, branch_dots, branches)
        return np.where(condition, a_dot, b_dot)

    return y, where_pushforward


def clip_bounds(bounds, kwargs):
    """(lower, upper) of a call to np.clip, given by position or keyword; None where absent."""
    lower, upper = (tuple(bounds) + (None, None))[:2]
    lower = kwargs.get("a_min", kwargs.get("min", lower))
    upper = kwargs.get("a_max", kwargs.get("max", upper))
    return lower, upper


def clip_masks(x, lower, upper):
    """Where np.clip's output is x, lower and upper; upper wins when lower > upper, as in NumPy."""
    lower = -np.inf if lower is None else lower
    upper = np.inf if upper is None else upper
    to_upper = np.maximum(x, lower) > upper
    below = np.less(x, lower)
    return ~to_upper & ~below, ~to_upper & below, to_upper


def clip_samples():
    rng = np.random.default_rng(15)
    x = np.array([-1.7, -0.3, 0.2, 0.9, 1.6, -0.8])
    return [Sample((x, -0.5, 0.5)), Sample((x.astype(np.float32), -1.0, None)), Sample((1.4, -1.0, 1.0)),
            Sample((x.reshape(2, 3), rng.uniform(-1.0, -0.1, 3), rng.uniform(0.1, 1.0, (2, 1)))),
            Sample((x,), {"a_min": -1.0, "a_max": 1.0})]


@register_rrule(np.clip, samples=clip_samples)
def clip_rrule(x, *bounds, **kwargs):
    y = np.clip(x, *bounds, **kwargs)
    lower, upper = clip_bounds(bounds, kwargs)
    to_x, to_lower, to_upper = clip_masks(x, lower, upper)

    def clip_pullback(y_bar):
        if is_zero(y_bar):
            return (NO_FIELDS, ZERO) + (ZERO,) * len(bounds)
        y_bar = extern(y_bar)

        def share(primal, mask):
            return ZERO if primal is None else Thunk(lambda: project(primal, np.where(mask, y_bar, 0)))

        return (NO_FIELDS, share(x, to_x), share(lower, to_lower), share(upper, to_upper))[:2 + len(bounds)]

    clip_pullback.adjoint_of = np.clip  # (linear, and the same near x where no entry is at a bound)
    return y, clip_pullback


clip_rrule.rrule_of = np.clip


@register_frule(np.clip)
def clip_frule(x, *bounds, **kwargs):
    y = np.clip(x, *bounds, **kwargs)
    lower, upper = clip_bounds(bounds, kwargs)
    to_x, to_lower, _ = clip_masks(x, lower, upper)

    def clip_pushforward(self_dot, x_dot, *bound_dots):
        dots = (x_dot,) + bound_dots + (ZERO,) * (2 - len(bound_dots))
        if all(is_zero(d) for d in dots):
            return ZERO
        x_dot, lower_dot, upper_dot = (0.0 if is_zero(d) else extern(d) for d in dots)
        return np.where(to_x, x_dot, np.where(to_lower, lower_dot, upper_dot))

    return y, clip_pushforward


# Constructors whose values depend on their arguments: np.full and np.full_like are linear in the fill
# value, np.linspace in start and stop, np.arange in start and step (its stop only sets the length).
# Arguments given by keyword carry no derivative, as for every rule.

def broadcast_adjoint(value, y_bar):
    """The cotangent of `value` (a number, array or list) broadcast and cast into an output whose cotangent is `y_bar`."""
    return project_tree(value, array_adjoint(unbroadcast(np.asarray(y_bar), np.shape(value)), value))


def carries_derivative(y):
    """False for an integer or boolean result, which has no derivative."""
    return np.asarray(y).dtype.kind in "fc"


def _fill_rules(f, samples):
    """Register `f(shape or array, fill_value, ...)`, whose value is `fill_value` broadcast to a shape and cast."""
    name = f.__name__

    @register_rrule(f, samples=samples)
    def fill_rrule(*args, **kwargs):
        y = f(*args, **kwargs)

        @seeded_pullback(len(args))
        def fill_pullback(y_bar):
            bars = [ZERO] * len(args)
            if len(args) > 1 and carries_derivative(y):
                bars[1] = broadcast_adjoint(args[1], y_bar)
            return (NO_FIELDS, *bars)

        fill_pullback.__name__ = f"{name}_pullback"
        return y, fill_pullback

    @register_frule(f)
    def fill_frule(*args, **kwargs):
        y = f(*args, **kwargs)

        def fill_pushforward(self_dot, *arg_dots):
            if len(arg_dots) < 2 or is_zero(arg_dots[1]) or not carries_derivative(y):
                return ZERO
            return cast_tangent(np.broadcast_to(extern(arg_dots[1]), y.shape), y.dtype)

        fill_pushforward.__name__ = f"{name}_pushforward"
        return y, fill_pushforward


_fill_rules(np.full, [Sample(((2, 3), 1.5)), Sample(((2, 3), np.array([0.5, -1.0, 2.0]))), Sample((3, [1.5, 2.5, -0.5])),
                      Sample(((2, 2), 0.5 - 1.0j)), Sample(((2, 3), np.array([[0.5], [1.5]]), complex)), Sample(((2,), 1.5, int))])
_fill_rules(np.full_like, [Sample((np.zeros((2, 3)), 1.5)), Sample((np.zeros((2, 3), np.float32), np.array([0.5, -1.0, 2.0]))),
                           Sample((np.zeros(2, complex), 0.5 - 1.0j)), Sample((np.arange(3), 1.5)),
                           Sample((np.zeros(3), 1.5 + 2.0j, complex))])

LINSPACE_PARAMETERS = ("start", "stop", "num", "endpoint", "retstep", "dtype", "axis")


def linspace_terms(args, kwargs):
    """`(t, divisor, retstep, axis)` of a call to np.linspace: its samples are y_i = (1 − t_i)·start + t_i·stop
    with t_i = i/divisor (0 when the divisor is 0, as for one sample), and its step (stop − start)/divisor."""
    given = {"num": 50, "endpoint": True, "retstep": False, "axis": 0, **dict(zip(LINSPACE_PARAMETERS, args)), **kwargs}
    num = given["num"]
    divisor = num - 1 if given["endpoint"] else num
    return (np.arange(num) / divisor if divisor > 0 else np.zeros(num)), divisor, given["retstep"], given["axis"]


def linspace_samples():
    start, stop = draw(3, 50), draw(3, 51)
    return [Sample((0.5, 2.5, 5)), Sample((0.5, 2.5), {"num": 4, "endpoint": False}), Sample((start, stop, 4)),
            Sample((1.5, stop, 3), {"axis": -1}), Sample((start, draw((2, 1), 52), 3, True, True)), Sample((-0.5, 1.5, 1)),
            Sample((0.5, 2.5, 3, False, True)), Sample((0.5 + 1.0j, -1.5, 4)), Sample((start.astype(np.float32), 2.5, 3)),
            Sample((0.5, 7.5, 4), {"dtype": int})]


@register_rrule(np.linspace, samples=linspace_samples)
def linspace_rrule(*args, **kwargs):
    """start gets Σ (1 − t_i)·ȳ_i and stop Σ t_i·ȳ_i (along `axis`), plus ∓ the step's cotangent over the divisor."""
    y = np.linspace(*args, **kwargs)
    t, divisor, retstep, axis = linspace_terms(args, kwargs)
    samples = y[0] if retstep else y

    @seeded_pullback(len(args))
    def linspace_pullback(y_bar):
        samples_bar, step_bar = y_bar if retstep else (y_bar, ZERO)
        if len(args) < 2 or not carries_derivative(samples) or (is_zero(samples_bar) and is_zero(step_bar)):
            return (NO_FIELDS,) + (ZERO,) * len(args)
        along = np.zeros(samples.shape) if is_zero(samples_bar) else np.moveaxis(np.asarray(samples_bar), axis, 0)
        start_bar, stop_bar = np.tensordot(1 - t, along, 1), np.tensordot(t, along, 1)
        if not is_zero(step_bar) and divisor > 0:
            start_bar, stop_bar = start_bar - step_bar / divisor, stop_bar + step_bar / divisor
        return (NO_FIELDS, broadcast_adjoint(args[0], start_bar), broadcast_adjoint(args[1], stop_bar)) + (ZERO,) * (len(args) - 2)

    return y, linspace_pullback


@register_frule(np.linspace)
def linspace_frule(*args, **kwargs):
    y = np.linspace(*args, **kwargs)
    t, divisor, retstep, axis = linspace_terms(args, kwargs)
    samples = y[0] if retstep else y

    def linspace_pushforward(self_dot, *arg_dots):
        bound_dots = arg_dots[:2]
        if len(bound_dots) < 2 or all(is_zero(d) for d in bound_dots) or not carries_derivative(samples):
            return ZERO
        start_dot, stop_dot = (np.asarray(tangent_or_zeros(d, bound)) for d, bound in zip(bound_dots, args))
        shape = np.broadcast_shapes(np.shape(args[0]), np.shape(args[1]))
        t_column = t.reshape((-1,) + (1,) * len(shape))
        along = np.broadcast_to((1 - t_column) * start_dot + t_column * stop_dot, t.shape + shape)
        samples_dot = cast_tangent(np.moveaxis(along, 0, axis), samples.dtype)
        if not retstep:
            return samples_dot
        return samples_dot, ((stop_dot - start_dot) / divisor if divisor > 0 else ZERO)

    return y, linspace_pushforward


def arange_parts(args):
    """`(start, step)` of np.arange(*args), None where not given by position (np.arange(stop) has neither)."""
    if len(args) < 2:
        return None, None
    return args[0], (args[2] if len(args) > 2 else None)


ARANGE_SAMPLES = [Sample((0.5, 3.7, 0.6)), Sample((0.5, 3.0)), Sample((-1.0, 2.0, 0.7)), Sample((2.5, -1.0, -0.8)),
                  Sample((3.5,)), Sample((np.float32(0.5), 2.1, 0.25)), Sample((0.5, 3.0, 0.5, int))]


@register_rrule(np.arange, samples=ARANGE_SAMPLES)
def arange_rrule(*args, **kwargs):
    """y_i = start + i·step: start gets Σ ȳ_i and step Σ i·ȳ_i; stop, which only sets the length, gets none."""
    y = np.arange(*args, **kwargs)
    start, step = arange_parts(args)

    @seeded_pullback(len(args))
    def arange_pullback(y_bar):
        if start is None or not carries_derivative(y):
            return (NO_FIELDS,) + (ZERO,) * len(args)
        y_bar = np.asarray(y_bar)
        bars = [project(start, np.sum(y_bar)), ZERO]
        if step is not None:
            bars.append(project(step, np.sum(np.arange(y.size) * y_bar)))
        return (NO_FIELDS, *bars) + (ZERO,) * (len(args) - len(bars))

    return y, arange_pullback


@register_frule(np.arange)
def arange_frule(*args, **kwargs):
    y = np.arange(*args, **kwargs)
    start, step = arange_parts(args)

    def arange_pushforward(self_dot, *arg_dots):
        if start is None or not carries_derivative(y):
            return ZERO
        start_dot, step_dot = arg_dots[0], (arg_dots[2] if step is not None else ZERO)
        if is_zero(start_dot) and is_zero(step_dot):
            return ZERO
        steps = np.arange(y.size) * (tangent_or_zeros(step_dot, step) if step is not None else 0.0)
        return cast_tangent(np.broadcast_to(tangent_or_zeros(start_dot, start) + steps, y.shape), y.dtype)

    return y, arange_pushforward


non_differentiable(
    np.sign, np.floor, np.ceil, np.round, np.around, np.trunc, np.rint, np.floor_divide,
    np.greater, np.less, np.equal, np.not_equal, np.greater_equal, np.less_equal,
    np.logical_and, np.logical_or, np.logical_not, np.logical_xor, np.isnan, np.isinf, np.isfinite,
    np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero, np.shape, np.ndim, np.size,
    np.zeros, np.ones, np.empty, np.eye, np.identity, np.zeros_like, np.ones_like, np.empty_like,
)

# Results that share no mutable object with the arguments (ufuncs are known to make new arrays).
fresh(
    np.sinc, np.where, np.clip, np.full, np.full_like, np.linspace, np.arange, np.round, np.around,
    np.argmax, np.argmin, np.argsort, np.nonzero, np.count_nonzero,
    np.zeros, np.ones, np.empty, np.eye, np.identity, np.zeros_like, np.ones_like, np.empty_like,
)


def _twin(math_function, numpy_function):
    """`math_function` on one real number, falling back to `numpy_function` where `math` raises (out of its
    domain, or overflowing): NumPy's nan or inf and warning, as the NumPy function gives."""
    def twin(x):
        try:
            return math_function(x)
        except (ValueError, OverflowError):
            return numpy_function(x)

    twin.__name__ = twin.__qualname__ = f"scalar_{numpy_function.__name__}"
    return twin


# NumPy functions on one real scalar in an inlined partial derivative, and their faster `math` twins (which have
# the rules of the NumPy functions, so that generated code calling them can be differentiated again)
SCALAR_TWINS = {f: _twin(m, f) for f, m in [
    (np.sin, math.sin), (np.cos, math.cos), (np.tan, math.tan), (np.sinh, math.sinh), (np.cosh, math.cosh),
    (np.tanh, math.tanh), (np.exp, math.exp), (np.log, math.log), (np.sqrt, math.sqrt), (np.arctan, math.atan),
    (np.log1p, math.log1p), (np.expm1, math.expm1)]}


def _scalar_samples(function):
    return lambda: [s for s in samples_of(RULES[function]) if all(type(a) is float for a in s.args)]


for _function, _twin_function in SCALAR_TWINS.items():
    scalar_rule(_twin_function, *RULES[_function].partials, samples=_scalar_samples(_function))
