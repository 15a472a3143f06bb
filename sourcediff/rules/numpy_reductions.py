"""Rules for NumPy's reductions and `cumsum`, as functions and as ndarray methods.

`np.sum(x, ...)` and `np.ndarray.sum(x, ...)` share one rule, and so do mean, prod, max (with
`np.amax`), min (with `np.amin`), var, std and cumsum. `axis` may be None, an int, a negative
int or a tuple, by position or keyword, with `keepdims`; `ddof` for var and std. `out=` and
`where=` have no rule. At a tie, max and min share the cotangent evenly among the tied entries
(the pushforward uses the same weights, so both modes stay adjoint). `prod` multiplies the other
entries rather than dividing by one, so it is exact where entries are zero. Where the entries are
all equal (one entry, say), std is 0 and not differentiable (a kink, like a norm at 0): its rules
give 0 there, the smallest subgradient, and so do var's for entries that equal the mean when
NumPy's divisor `n - ddof` is 0.

    >>> import numpy as np
    >>> from sourcediff.rules.registry import rrule
    >>> y, max_pullback = rrule(np.max, np.array([1.0, 3.0, 3.0]))
    >>> max_pullback(1.0)[1]
    array([0. , 0.5, 0.5])
"""
import math

import numpy as np

from ..errors import RuleError
from .differentials import NO_FIELDS, ZERO, extern, is_zero
from .projection import project
from .linear import draw
from .registry import ANY_ARRAY, Sample, fresh, non_differentiable, register_frule, register_rrule

# The parameters NumPy takes by position after the array.
SUM_PARAMETERS = ("axis", "dtype", "out", "keepdims", "initial", "where")
MAX_PARAMETERS = ("axis", "out", "keepdims", "initial", "where")
VAR_PARAMETERS = ("axis", "dtype", "out", "ddof", "keepdims")
CUMSUM_PARAMETERS = ("axis", "dtype", "out")


def reduction(parameters, x, args, kwargs):
    """`(options by name, reduced axes as non-negative ints, keepdims)` of a call `f(x, *args, **kwargs)`."""
    given = {**dict(zip(parameters, args)), **kwargs}
    if given.get("out") is not None or not np.all(given.get("where", True)):
        raise RuleError("NumPy reductions with out= or where= have no derivative rule",
                        hint="Compute the reduction without them, e.g. np.sum(np.where(mask, x, 0)).")
    axis, ndim = given.get("axis"), np.ndim(x)
    axes = tuple(range(ndim)) if axis is None else tuple(a % ndim for a in np.atleast_1d(axis).tolist())
    return given, axes, given.get("keepdims", False)


def count(x, axes):
    """How many entries of `x` each output of a reduction over `axes` combines."""
    return math.prod(np.shape(x)[a] for a in axes)


def spread(y_bar, x, axes, keepdims):
    """An output cotangent broadcast back over the reduced axes: a fresh array shaped like `x`."""
    return broadcast_back(y_bar, x, axes, keepdims).copy()


def broadcast_back(y_bar, x, axes, keepdims):
    """An output cotangent broadcast back over the reduced axes to the shape of `x`: a read-only view."""
    return np.broadcast_to(np.asarray(y_bar) if keepdims else np.expand_dims(y_bar, axes), np.shape(x))


def cotangents(x, x_bar, args):
    """`(NO_FIELDS, x̄, Zero() for each positional option such as axis)`."""
    return (NO_FIELDS, project(x, x_bar)) + (ZERO,) * len(args)


def samples_for(seed, complex_too=True, **options):
    """Samples of a reduction: no axis, a positional axis, a negative axis, a tuple with keepdims,
    a float32 array and a complex one."""

    def samples():
        rng = np.random.default_rng(seed)
        x, cube = rng.uniform(-2.0, 2.0, (3, 4)), rng.uniform(-2.0, 2.0, (2, 3, 2))
        found = [Sample((x,), options), Sample((x, 0), options), Sample((x,), {"axis": -1, **options}),
                 Sample((cube,), {"axis": (0, 2), "keepdims": True, **options}),
                 Sample((x.astype(np.float32),), {"axis": 1, **options})]
        if complex_too:
            found.append(Sample((x + 1j * rng.uniform(-2.0, 2.0, (3, 4)),), {"axis": 0, **options}))
        return found

    return samples


@register_rrule(np.sum, samples=samples_for(21))
@register_rrule(np.ndarray.sum, samples=samples_for(21))
def sum_rrule(x, *args, **kwargs):
    y = np.sum(x, *args, **kwargs)
    _, axes, keepdims = reduction(SUM_PARAMETERS, x, args, kwargs)

    def sum_pullback(y_bar):
        return cotangents(x, ZERO if is_zero(y_bar) else spread(extern(y_bar), x, axes, keepdims), args)

    sum_pullback.adjoint_of = np.sum  # (linear, and reads only the shape of x: see `calls.forward_call`)
    return y, sum_pullback


sum_rrule.rrule_of = np.sum


def whole_array_samples(seed):
    def samples():
        return [Sample((draw(shape, seed + k),)) for k, shape in enumerate([(4,), (3, 4), (2, 3, 2)])]

    return samples


def filled(x, value):
    """A new array shaped like `x` holding the number `value` everywhere (`Zero()` stays `Zero()`)."""
    if is_zero(value):
        return ZERO
    value = extern(value)
    dtype = np.float64 if type(value) is float or type(value) is np.float64 else np.result_type(x, value)
    return np.broadcast_to(value, np.shape(x)).astype(dtype)  # (not np.full, which cannot fill with a batch of tangents)


def spread_over(x, y_bar, axis, keepdims):
    """The cotangent of a reduction's output over `axis` (None: all) broadcast back to the shape of `x`: a
    read-only view, not a copy (what reads it makes new arrays; `materialize` copies one handed to the user)."""
    return ZERO if is_zero(y_bar) else broadcast_back(extern(y_bar), x, all_axes(x, axis), keepdims)


def all_axes(x, axis):
    """`axis` of a reduction of `x`, with None spelled out as every axis."""
    return tuple(range(np.ndim(x))) if axis is None else axis


def reduced_count(x, axis):
    """How many entries of `x` a mean over `axis` (None: all) divides by (1 for none: the cotangent is empty then)."""
    if axis is None:
        return max(x.size, 1)
    return max(count(x, axis if isinstance(axis, tuple) else (axis,)), 1)


def reduced_ndim(ndims, keywords):
    """The ndim of a reduction's result over `axis` (an int or a tuple of ints), with `keepdims`."""
    axis = keywords["axis"]
    if keywords["keepdims"]:
        return ndims[0]
    return 0 if axis is None else ndims[0] - (len(axis) if isinstance(axis, tuple) else 1)


def axis_samples(seed, **options):
    """Samples of a reduction along an axis written in the source: positive, negative, a tuple, with keepdims."""
    def samples():
        x, cube = draw((3, 4), seed), draw((2, 3, 2), seed + 1)
        return [Sample((x,), {"axis": 1, **options}), Sample((x,), {"axis": 0, "keepdims": True, **options}),
                Sample((x,), {"axis": None, **options}), Sample((cube,), {"axis": None, "keepdims": True, **options}),
                Sample((cube,), {"axis": -1, **options}), Sample((cube,), {"axis": (0, 2), "keepdims": True, **options}),
                Sample((cube,), {"axis": (0, 1), **options})]

    return samples


# Sums, means and extrema of float64 arrays, whole or along axes written as constants, inlined by the transformer.

@register_rrule(np.sum, ndims=(ANY_ARRAY,), samples=whole_array_samples(23), ndim=0)
def array_sum_rrule(x):
    y = np.sum(x)

    def array_sum_pullback(y_bar):
        return NO_FIELDS, filled(x, y_bar)

    return y, array_sum_pullback


@register_rrule(np.mean, ndims=(ANY_ARRAY,), samples=whole_array_samples(24), ndim=0)
def array_mean_rrule(x):
    y = np.mean(x)

    def array_mean_pullback(y_bar):
        return NO_FIELDS, filled(x, y_bar / reduced_count(x, None))

    return y, array_mean_pullback


@register_rrule(np.sum, ndims=(ANY_ARRAY,), ndim=reduced_ndim, samples=axis_samples(25))
def array_sum_axis_rrule(x, *, axis, keepdims=False):
    y = np.sum(x, axis=axis, keepdims=keepdims)

    def array_sum_axis_pullback(y_bar):
        return NO_FIELDS, spread_over(x, y_bar, axis, keepdims)

    return y, array_sum_axis_pullback


@register_rrule(np.mean, ndims=(ANY_ARRAY,), ndim=reduced_ndim, samples=axis_samples(27))
def array_mean_axis_rrule(x, *, axis, keepdims=False):
    y = np.mean(x, axis=axis, keepdims=keepdims)

    def array_mean_axis_pullback(y_bar):
        return NO_FIELDS, spread_over(x, y_bar / reduced_count(x, axis), axis, keepdims)

    return y, array_mean_axis_pullback


@register_frule(np.sum, batch=True)
@register_frule(np.ndarray.sum, batch=True)
def sum_frule(x, *args, **kwargs):
    y = np.sum(x, *args, **kwargs)
    _, axes, keepdims = reduction(SUM_PARAMETERS, x, args, kwargs)

    def sum_pushforward(self_dot, x_dot, *option_dots):
        return ZERO if is_zero(x_dot) else np.sum(extern(x_dot), axis=axes, keepdims=keepdims)

    return y, sum_pushforward


@register_rrule(np.mean, samples=samples_for(22))
@register_rrule(np.ndarray.mean, samples=samples_for(22))
def mean_rrule(x, *args, **kwargs):
    y = np.mean(x, *args, **kwargs)
    _, axes, keepdims = reduction(SUM_PARAMETERS, x, args, kwargs)

    def mean_pullback(y_bar):
        if is_zero(y_bar):
            return cotangents(x, ZERO, args)
        return cotangents(x, spread(extern(y_bar), x, axes, keepdims) / count(x, axes), args)

    mean_pullback.adjoint_of = np.mean  # (as sum_pullback)
    return y, mean_pullback


mean_rrule.rrule_of = np.mean


@register_frule(np.mean)
@register_frule(np.ndarray.mean)
def mean_frule(x, *args, **kwargs):
    y = np.mean(x, *args, **kwargs)
    _, axes, keepdims = reduction(SUM_PARAMETERS, x, args, kwargs)

    def mean_pushforward(self_dot, x_dot, *option_dots):
        return ZERO if is_zero(x_dot) else np.mean(extern(x_dot), axis=axes, keepdims=keepdims)

    return y, mean_pushforward


def product_of_others(x, axes):
    """For each entry, the product of the other entries along `axes` (no division: exact at zeros)."""
    x = np.asarray(x)
    order = [a for a in range(x.ndim) if a not in axes] + list(axes)
    moved = x.transpose(order)
    rows = moved.reshape(moved.shape[:x.ndim - len(axes)] + (count(x, axes),))
    ones = np.ones(rows.shape[:-1] + (1,), rows.dtype)
    before = np.cumprod(np.concatenate([ones, rows], axis=-1), axis=-1)[..., :-1]
    after = np.cumprod(np.concatenate([ones, rows[..., ::-1]], axis=-1), axis=-1)[..., -2::-1]
    return (before * after).reshape(moved.shape).transpose(np.argsort(order))


def prod_samples():
    with_zeros = np.array([[0.5, -1.2, 0.0, 1.7], [0.0, 1.1, -0.4, 0.0], [1.3, 0.9, -1.6, 0.8]])
    return samples_for(23)() + [Sample((with_zeros,)), Sample((with_zeros,), {"axis": 1})]


@register_rrule(np.prod, samples=prod_samples)
@register_rrule(np.ndarray.prod, samples=prod_samples)
def prod_rrule(x, *args, **kwargs):
    y = np.prod(x, *args, **kwargs)
    given, axes, keepdims = reduction(SUM_PARAMETERS, x, args, kwargs)

    def prod_pullback(y_bar):
        if is_zero(y_bar):
            return cotangents(x, ZERO, args)
        others = product_of_others(x, axes) * given.get("initial", 1)
        return cotangents(x, np.conj(others) * spread(extern(y_bar), x, axes, keepdims), args)

    return y, prod_pullback


@register_frule(np.prod)
@register_frule(np.ndarray.prod)
def prod_frule(x, *args, **kwargs):
    y = np.prod(x, *args, **kwargs)
    given, axes, keepdims = reduction(SUM_PARAMETERS, x, args, kwargs)

    def prod_pushforward(self_dot, x_dot, *option_dots):
        if is_zero(x_dot):
            return ZERO
        others = product_of_others(x, axes) * given.get("initial", 1)
        return np.sum(others * extern(x_dot), axis=axes, keepdims=keepdims)

    return y, prod_pushforward


def _tie_counts(hits, axes):
    """How many entries of each group along `axes` are hits (at least 1), with the reduced axes kept."""
    return np.maximum(np.sum(hits, axis=axes, keepdims=True), 1)


def extremum_weights(x, y, axes, keepdims):
    """1 at the entry equal to the extremum `y`, 1/k at each of k tied entries, 0 elsewhere."""
    hits = np.equal(x, y if keepdims else np.expand_dims(y, axes))
    return hits / _tie_counts(hits, axes)


def extremum_cotangent(x, y, y_bar, axis, keepdims):
    """The cotangent of `x` from that of its extremum `y` over `axis`: shared evenly among tied entries."""
    if is_zero(y_bar):
        return ZERO
    y_bar, axis = extern(y_bar), all_axes(x, axis)
    if not keepdims:
        y, y_bar = np.expand_dims(y, axis), np.expand_dims(y_bar, axis)
    hits = np.equal(x, y)
    if np.count_nonzero(hits) == np.size(y):  # one entry per group: y_bar goes there, without a division
        x_bar = np.zeros(np.shape(x), np.result_type(y_bar, 1.0))
        np.copyto(x_bar, y_bar, where=hits)
        return x_bar
    return hits * (y_bar / _tie_counts(hits, axis))


def extremum_rrule(extremum, x, args, kwargs):
    y = extremum(x, *args, **kwargs)
    _, axes, keepdims = reduction(MAX_PARAMETERS, x, args, kwargs)

    def extremum_pullback(y_bar):
        return cotangents(x, extremum_cotangent(x, y, y_bar, axes, keepdims), args)

    extremum_pullback.adjoint_of = extremum  # (linear, and the same near x where the extremum is one entry's)
    return y, extremum_pullback


def extremum_frule(extremum, x, args, kwargs):
    y = extremum(x, *args, **kwargs)
    _, axes, keepdims = reduction(MAX_PARAMETERS, x, args, kwargs)
    weights = extremum_weights(x, y, axes, keepdims)

    def extremum_pushforward(self_dot, x_dot, *option_dots):
        return ZERO if is_zero(x_dot) else np.sum(weights * extern(x_dot), axis=axes, keepdims=keepdims)

    return y, extremum_pushforward


@register_rrule(np.max, samples=samples_for(24, complex_too=False))
@register_rrule(np.amax, samples=samples_for(24, complex_too=False))
@register_rrule(np.ndarray.max, samples=samples_for(24, complex_too=False))
def max_rrule(x, *args, **kwargs):
    return extremum_rrule(np.max, x, args, kwargs)


max_rrule.rrule_of = np.max


def _along_axes(extremum):
    """The specialisation of `extremum` (np.max or np.min) along axes written as constants."""
    def array_extremum_axis_rrule(x, *, axis, keepdims=False):
        y = extremum(x, axis=axis, keepdims=keepdims)

        def array_extremum_axis_pullback(y_bar):
            return NO_FIELDS, extremum_cotangent(x, y, y_bar, axis, keepdims)

        return y, array_extremum_axis_pullback

    array_extremum_axis_rrule.__name__ = array_extremum_axis_rrule.__qualname__ = f"array_{extremum.__name__}_axis_rrule"
    return array_extremum_axis_rrule


@register_frule(np.max)
@register_frule(np.amax)
@register_frule(np.ndarray.max)
def max_frule(x, *args, **kwargs):
    return extremum_frule(np.max, x, args, kwargs)


@register_rrule(np.min, samples=samples_for(25, complex_too=False))
@register_rrule(np.amin, samples=samples_for(25, complex_too=False))
@register_rrule(np.ndarray.min, samples=samples_for(25, complex_too=False))
def min_rrule(x, *args, **kwargs):
    return extremum_rrule(np.min, x, args, kwargs)


min_rrule.rrule_of = np.min


@register_frule(np.min)
@register_frule(np.amin)
@register_frule(np.ndarray.min)
def min_frule(x, *args, **kwargs):
    return extremum_frule(np.min, x, args, kwargs)


for _extremum, _alias, _seed in ((np.max, np.amax, 29), (np.min, np.amin, 31)):
    _specialisation = _along_axes(_extremum)
    for _function in (_extremum, _alias):
        register_rrule(_function, ndims=(ANY_ARRAY,), ndim=reduced_ndim, samples=axis_samples(_seed))(_specialisation)


def divide_or_zero(numerator, denominator):
    """numerator / denominator, and 0 where the numerator is 0 (even where the denominator is 0 too)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.equal(numerator, 0), 0, np.divide(numerator, denominator))


non_differentiable(reduced_count)


def deviations(x, args, kwargs):
    """`(axes, keepdims, x − mean, divisor)` of a call to var or std; the divisor is NumPy's max(n − ddof, 0)."""
    given, axes, keepdims = reduction(VAR_PARAMETERS, x, args, kwargs)
    centered = x - np.mean(x, axis=axes, keepdims=True)
    return axes, keepdims, centered, max(count(x, axes) - given.get("ddof", given.get("correction", 0)), 0)


def variance_samples(seed):
    return lambda: samples_for(seed)() + samples_for(seed + 1, ddof=1)()


@register_rrule(np.var, samples=variance_samples(26))
@register_rrule(np.ndarray.var, samples=variance_samples(26))
def var_rrule(x, *args, **kwargs):
    y = np.var(x, *args, **kwargs)
    axes, keepdims, centered, divisor = deviations(x, args, kwargs)

    def var_pullback(y_bar):
        if is_zero(y_bar):
            return cotangents(x, ZERO, args)
        return cotangents(x, divide_or_zero(2 * centered * spread(extern(y_bar), x, axes, keepdims), divisor), args)

    return y, var_pullback


@register_frule(np.var)
@register_frule(np.ndarray.var)
def var_frule(x, *args, **kwargs):
    y = np.var(x, *args, **kwargs)
    axes, keepdims, centered, divisor = deviations(x, args, kwargs)

    def var_pushforward(self_dot, x_dot, *option_dots):
        if is_zero(x_dot):
            return ZERO
        return divide_or_zero(2 * np.sum(np.real(np.conj(centered) * extern(x_dot)), axis=axes, keepdims=keepdims), divisor)

    return y, var_pushforward


@register_rrule(np.std, samples=variance_samples(28))
@register_rrule(np.ndarray.std, samples=variance_samples(28))
def std_rrule(x, *args, **kwargs):
    y = np.std(x, *args, **kwargs)
    axes, keepdims, centered, divisor = deviations(x, args, kwargs)

    def std_pullback(y_bar):
        if is_zero(y_bar):
            return cotangents(x, ZERO, args)
        numerator = centered * spread(extern(y_bar), x, axes, keepdims)
        return cotangents(x, divide_or_zero(numerator, divisor * spread(y, x, axes, keepdims)), args)

    return y, std_pullback


@register_frule(np.std)
@register_frule(np.ndarray.std)
def std_frule(x, *args, **kwargs):
    y = np.std(x, *args, **kwargs)
    axes, keepdims, centered, divisor = deviations(x, args, kwargs)

    def std_pushforward(self_dot, x_dot, *option_dots):
        if is_zero(x_dot):
            return ZERO
        return divide_or_zero(np.sum(np.real(np.conj(centered) * extern(x_dot)), axis=axes, keepdims=keepdims), divisor * y)

    return y, std_pushforward


def cumsum_samples():
    rng = np.random.default_rng(30)
    x = rng.uniform(-2.0, 2.0, (3, 4))
    return [Sample((x,)), Sample((x, 0)), Sample((x,), {"axis": -1}), Sample((x[0],)),
            Sample((x.astype(np.float32),), {"axis": 1}), Sample((x + 1j * x[::-1],), {"axis": 0})]


@register_rrule(np.cumsum, samples=cumsum_samples)
@register_rrule(np.ndarray.cumsum, samples=cumsum_samples)
def cumsum_rrule(x, *args, **kwargs):
    y = np.cumsum(x, *args, **kwargs)
    axis = reduction(CUMSUM_PARAMETERS, x, args, kwargs)[0].get("axis")
    along = 0 if axis is None else axis

    def cumsum_pullback(y_bar):
        if is_zero(y_bar):
            return cotangents(x, ZERO, args)
        reverse_total = np.flip(np.cumsum(np.flip(extern(y_bar), along), along), along)
        return cotangents(x, np.reshape(reverse_total, np.shape(x)), args)

    cumsum_pullback.adjoint_of = np.cumsum  # (linear, reads only x's shape)
    return y, cumsum_pullback


cumsum_rrule.rrule_of = np.cumsum


@register_frule(np.cumsum)
@register_frule(np.ndarray.cumsum)
def cumsum_frule(x, *args, **kwargs):
    y = np.cumsum(x, *args, **kwargs)
    axis = reduction(CUMSUM_PARAMETERS, x, args, kwargs)[0].get("axis")

    def cumsum_pushforward(self_dot, x_dot, *option_dots):
        return ZERO if is_zero(x_dot) else np.cumsum(extern(x_dot), axis=axis)

    return y, cumsum_pushforward


fresh(np.sum, np.ndarray.sum, np.mean, np.ndarray.mean, np.prod, np.ndarray.prod, np.max, np.amax, np.ndarray.max,
      np.min, np.amin, np.ndarray.min, np.var, np.ndarray.var, np.std, np.ndarray.std, np.cumsum, np.ndarray.cumsum)
