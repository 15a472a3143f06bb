"""Rules for Python's builtins (`abs`, `pow`, `float`, `complex`, `divmod`, `sum`, `min`, `max`).

`sum`, `min` and `max` take a list, tuple or array and return a cotangent of the same structure:
a list for a list (`ZERO` where no gradient flows), a tuple for a tuple, an array for an array.
`min` and `max` send the whole gradient to the item Python returns, the first best one on ties.
Counting, conversion to integers or text, predicates and printing are non-differentiable.
"""
import builtins
import functools
import operator

import numpy as np

from .containers import regroup
from .differentials import NO_FIELDS, ZERO, accumulate, extern, is_zero
from .numpy_elementwise import absolute_partial
from .operators import POSITIVE, power_base_partial, xlogy
from .projection import project, unbroadcast
from .registry import Sample, non_differentiable, register_frule, register_rrule, scalar_rule


def items_of(xs):
    """The items of an iterable argument: a list, tuple or array itself, anything else (a dict view, a zip) as a list."""
    return xs if isinstance(xs, (list, tuple, np.ndarray)) else list(xs)


def cotangent_like(xs, items, item_bars, name):
    """The cotangent of the iterable argument `xs` of `name`, from one cotangent per item (see `regroup`).

    A dict view gets a list, which the view's rule maps back onto its dict; a generator or a set
    cannot receive a gradient, and if one should, this says so.

        >>> cotangent_like((1.0, 2.0), (1.0, 2.0), [ZERO, 3.0], "max")
        (Zero(), 3.0)
        >>> cotangent_like({"a": 1.0}.values(), [1.0], [2.0], "sum")
        [2.0]
    """
    return regroup(xs, item_bars, items, name)


def item_tangent(xs, xs_dot, index):
    """The tangent of item `index` of the iterable argument `xs`, given the tangent of `xs` (a namedtuple's `Tangent` too)."""
    return ZERO if is_zero(xs_dot) else xs_dot[index]


_holomorphic_abs_frule = scalar_rule(
    builtins.abs,
    absolute_partial,
    samples=[Sample((1.3,)), Sample((-0.7,)), Sample((1.2 - 0.5j,)), Sample((np.array([1.0, -2.0, 0.5]),)),
             Sample((np.array([1.0 + 1.0j, -0.5 + 2.0j]),))],
).frule


@register_frule(builtins.abs)
def abs_frule(x):
    """`abs` is real: for complex `x` the pushforward keeps the real part of conj(x)·ẋ/|x|."""
    y, pushforward = _holomorphic_abs_frule(x)

    def abs_pushforward(self_dot, x_dot):
        return pushforward(self_dot, x_dot).real

    return y, abs_pushforward


scalar_rule(builtins.pow, lambda x, p, y: power_base_partial(x, p, y), lambda x, p, y: xlogy(y, x),
            domain=[POSITIVE, (-2.0, 2.0)])
scalar_rule(float, lambda x, y: 1.0, samples=[Sample((1.3,)), Sample((np.float32(0.7),)), Sample((np.array(2.5),)),
                                               Sample((np.array(-0.5, dtype=np.float32),))])

COMPLEX_PARTIALS = (1.0, 1j)


@register_rrule(complex, samples=[Sample((1.3,)), Sample((1.3, -0.4)), Sample((0.5 + 1.0j,)),
                                  Sample((0.5 + 1.0j, -0.3 + 0.2j))])
def complex_rrule(*args, **kwargs):
    """complex(re, im) = re + 1j·im, so `re` receives ȳ and `im` receives conj(1j)·ȳ, each projected."""
    y = complex(*args, **kwargs)

    def complex_pullback(y_bar):
        y_bar = extern(y_bar)
        return (NO_FIELDS,) + tuple(project(x, np.conj(p) * y_bar) for x, p in zip(args, COMPLEX_PARTIALS))

    return y, complex_pullback


@register_frule(complex)
def complex_frule(*args, **kwargs):
    y = complex(*args, **kwargs)

    def complex_pushforward(self_dot, *arg_dots):
        return functools.reduce(accumulate, (p * extern(d) for p, d in zip(COMPLEX_PARTIALS, arg_dots)), ZERO)

    return y, complex_pushforward


@register_rrule(divmod, samples=[Sample((5.5, 2.0)), Sample((-3.7, 1.5)), Sample((np.array([5.5, -2.5]), 2.0))])
def divmod_rrule(a, b):
    """divmod(a, b) = (q, r) with r = a - q·b; the quotient q is locally constant."""
    quotient, remainder = divmod(a, b)

    def divmod_pullback(y_bar):
        remainder_bar = extern(y_bar[1])
        return NO_FIELDS, project(a, remainder_bar), project(b, -quotient * remainder_bar)

    return (quotient, remainder), divmod_pullback


@register_frule(divmod)
def divmod_frule(a, b):
    quotient, remainder = divmod(a, b)

    def divmod_pushforward(self_dot, a_dot, b_dot):
        return ZERO, accumulate(extern(a_dot), -quotient * extern(b_dot))

    return (quotient, remainder), divmod_pushforward


def _parts_bars(parts, y_bar):
    """Cotangents of the lists or tuples that `sum(..., start=[])` concatenated into one."""
    bars, offset = [], 0
    for part in parts:
        bars.append(type(part)(y_bar[offset:offset + len(part)]))
        offset += len(part)
    return bars


def _sum_call(args, kwargs):
    xs = args[0] if args else None
    called = (items_of(xs),) + args[1:] if args else args
    start = args[1] if len(args) > 1 else kwargs.get("start", 0)
    return sum(*called, **kwargs), xs, called[0], start


@register_rrule(sum, samples=[
    Sample(([1.0, 2.5, -0.5],)), Sample(((1.0, 2.0),)), Sample(([1.0, 2.0], 0.5)), Sample(([np.ones(2), 3.0],)),
    Sample(([np.array([1.0, 2.0]), np.array([0.5, -1.0])],)), Sample((np.array([[1.0, 2.0], [3.0, 4.0]]),)),
    Sample((np.array([1.5, -2.0], dtype=np.float32),)), Sample(([[1.0], [2.0, 3.0]], [])),
])
def sum_rrule(*args, **kwargs):
    """Each item (and `start`) receives the output's cotangent; concatenated lists receive their slice."""
    y, xs, items, start = _sum_call(args, kwargs)

    def sum_pullback(y_bar):
        y_bar = extern(y_bar)
        if is_zero(y_bar):
            return (NO_FIELDS,) + (ZERO,) * len(args)
        if isinstance(start, (list, tuple)):
            start_bar, *item_bars = _parts_bars([start, *items], y_bar)
            xs_bar = cotangent_like(xs, items, item_bars, "sum")
        elif isinstance(xs, np.ndarray):
            start_bar = project(start, y_bar)
            xs_bar = project(xs, np.broadcast_to(unbroadcast(np.asarray(y_bar), xs.shape[1:]), xs.shape))
        else:
            start_bar = project(start, y_bar)
            xs_bar = cotangent_like(xs, items, [project(x, y_bar) for x in items], "sum")
        return (NO_FIELDS, xs_bar, start_bar)[: len(args) + 1]

    sum_pullback.adjoint_of = sum  # (linear, reads only the items' structure and types)
    return y, sum_pullback


sum_rrule.rrule_of = sum


@register_frule(sum)
def sum_frule(*args, **kwargs):
    y, xs, items, start = _sum_call(args, kwargs)

    def sum_pushforward(self_dot, xs_dot=ZERO, start_dot=ZERO):
        if isinstance(start, (list, tuple)):
            parts = [(start, start_dot)] + [(x, item_tangent(xs, xs_dot, i)) for i, x in enumerate(items)]
            return type(y)(d for part, part_dot in parts
                           for d in ([ZERO] * len(part) if is_zero(part_dot) else part_dot))
        if isinstance(xs, np.ndarray):
            return accumulate(start_dot, ZERO if is_zero(xs_dot) else np.sum(extern(xs_dot), axis=0))
        item_dots = (item_tangent(xs, xs_dot, i) for i in range(len(items)))
        return functools.reduce(accumulate, item_dots, extern(start_dot))

    return y, sum_pushforward


def _pick(items, better, key):
    """The index of the item `min`/`max` returns: Python keeps the first one no other item beats."""
    chosen, chosen_key = None, None
    for index, item in enumerate(items):
        item_key = item if key is None else key(item)
        if chosen is None or better(item_key, chosen_key):
            chosen, chosen_key = index, item_key
    return chosen


def _register_extremum(f, better, samples):
    """Register `min` or `max`, called with several arguments or one iterable (and `key`, `default`)."""
    name = f.__name__

    def select(args, kwargs):
        called = (items_of(args[0]),) if len(args) == 1 else args
        y = f(*called, **kwargs)
        items = called if len(called) > 1 else called[0]
        return y, items, _pick(items, better, kwargs.get("key")) if len(items) else None

    def extremum_rrule(*args, **kwargs):
        y, items, chosen = select(args, kwargs)

        def extremum_pullback(y_bar):
            y_bar = extern(y_bar)
            if chosen is None or is_zero(y_bar):
                return (NO_FIELDS,) + (ZERO,) * len(args)
            item_bars = [project(x, y_bar) if i == chosen else ZERO for i, x in enumerate(items)]
            if len(args) > 1:
                return (NO_FIELDS, *item_bars)
            return NO_FIELDS, cotangent_like(args[0], items, item_bars, name)

        extremum_pullback.__name__ = f"{name}_pullback"
        return y, extremum_pullback

    def extremum_frule(*args, **kwargs):
        y, items, chosen = select(args, kwargs)

        def extremum_pushforward(self_dot, *arg_dots):
            if chosen is None:
                return ZERO
            if len(args) > 1:
                return extern(arg_dots[chosen])
            return extern(item_tangent(args[0], arg_dots[0], chosen))

        extremum_pushforward.__name__ = f"{name}_pushforward"
        return y, extremum_pushforward

    register_rrule(f, samples=samples)(extremum_rrule)
    register_frule(f)(extremum_frule)


def _extremum_samples(sign):
    values = [sign * v for v in (0.5, 2.5, -1.0)]
    return [
        Sample(tuple(values)), Sample((values[:2],)), Sample((tuple(values),)), Sample((np.array(values),)),
        Sample((values,), {"key": lambda v: -abs(v)}), Sample(([],), {"default": 0.0}),
    ]


_register_extremum(max, operator.gt, _extremum_samples(1.0))
_register_extremum(min, operator.lt, _extremum_samples(-1.0))

non_differentiable(
    len, range, int, bool, round, isinstance, issubclass, type, id, hash, str, repr, ascii, format, bin, oct, hex,
    print, any, all, ord, chr, hasattr, callable,
)
