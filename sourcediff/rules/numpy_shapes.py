"""Rules for NumPy's shape functions: reshaping, transposing, joining, tiling, sorting, copying, casting.

All of them but `np.sort` are linear in the array they rearrange, so `linear_rule` registers both
modes of each at once: the pushforward applies the function itself to the tangent, and the pullback
applies the function's adjoint (its transpose), written once per function below. The ndarray
methods reuse the same adjoints (the transformer calls `x.reshape(2, 3)` as
`np.ndarray.reshape(x, 2, 3)`), and `ARRAY_PROPERTIES` maps the attribute reads `x.T`, `x.real`
and `x.imag` to plain functions that carry rules.

Integer and boolean results (index arrays, masks) carry no derivative in any of these rules.
"""
import numpy as np

from .differentials import NO_FIELDS, ZERO, extern, is_zero
from .projection import project
from .linear import draw, linear_rule, seeded_pullback
from .registry import Sample, register_frule, register_rrule


# Adjoints. Each takes the seed, then the arguments of the function it transposes.

def _memory_order(x, order):
    """'F' or 'C': the index order in which `order` ('C', 'F', 'A' or 'K') reads `x`.

    'K' (memory order) is read as 'A', which is exact unless `x` has negative strides or is
    contiguous in neither order.
    """
    fortran = order == "F" or (order in ("A", "K") and np.isfortran(np.asarray(x)))
    return "F" if fortran else "C"


def _unravel(y_bar, x, order):
    return np.reshape(y_bar, np.shape(x), order=_memory_order(x, order))


def reshape_adjoint(y_bar, a, shape=None, order="C", **kwargs):
    return _unravel(y_bar, a, order)


def method_reshape_adjoint(y_bar, x, *shape, order="C", **kwargs):
    return _unravel(y_bar, x, order)


def ravel_adjoint(y_bar, a, order="C"):
    return _unravel(y_bar, a, order)


def restore_shape(y_bar, x, *args, **kwargs):
    """Adjoint of the functions that only add or drop axes of length one (squeeze, expand_dims)."""
    return np.reshape(y_bar, np.shape(x))


def identity_adjoint(y_bar, x, *args, **kwargs):
    """Adjoint of copies, casts and `broadcast_to` (`project` sums broadcast axes and casts back)."""
    return y_bar


def transpose_adjoint(y_bar, a, axes=None):
    if axes is None:
        return np.transpose(y_bar)
    return np.transpose(y_bar, np.argsort([axis % np.ndim(a) for axis in axes]))


def _method_axes(axes):
    """The `axes` of `x.transpose(*axes)`: none, one tuple (or None), or the axes one by one."""
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        return axes[0]
    return axes or None


def method_transpose_adjoint(y_bar, x, *axes):
    return transpose_adjoint(y_bar, x, _method_axes(axes))


def swapaxes_adjoint(y_bar, a, axis1, axis2):
    return np.swapaxes(y_bar, axis1, axis2)


def moveaxis_adjoint(y_bar, a, source, destination):
    return np.moveaxis(y_bar, destination, source)


def flip_adjoint(y_bar, m, axis=None):
    return np.flip(y_bar, axis)


def tile_adjoint(y_bar, a, reps):
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    ndim = max(np.ndim(a), len(reps))
    reps = (1,) * (ndim - len(reps)) + reps
    shape = (1,) * (ndim - np.ndim(a)) + np.shape(a)
    blocks = np.reshape(y_bar, [n for pair in zip(reps, shape) for n in pair])
    return blocks.sum(axis=tuple(range(0, 2 * ndim, 2))).reshape(np.shape(a))


def repeat_adjoint(y_bar, a, repeats, axis=None):
    a = np.asarray(a)
    source = np.ravel(a) if axis is None else a
    axis = 0 if axis is None else axis % a.ndim
    origins = np.repeat(np.arange(source.shape[axis]), repeats)
    a_bar = np.zeros(source.shape, dtype=np.result_type(source, y_bar))
    np.add.at(a_bar, (slice(None),) * axis + (origins,), y_bar)
    return a_bar.reshape(a.shape)


def _split(y_bar, arrays, lifted, axis):
    """Cut `y_bar`, the seed of `lifted` (the arrays as joined) joined along `axis`, into pieces shaped like `arrays`."""
    ends = np.cumsum([piece.shape[axis] for piece in lifted])[:-1]
    pieces = [np.reshape(p, np.shape(a)) for p, a in zip(np.split(y_bar, ends, axis=axis), arrays)]
    return np.array(pieces) if isinstance(arrays, np.ndarray) else type(arrays)(pieces)


def concatenate_adjoint(y_bar, arrays, axis=0, **kwargs):
    if axis is None:
        return _split(y_bar, arrays, [np.ravel(a) for a in arrays], 0)
    return _split(y_bar, arrays, [np.asarray(a) for a in arrays], axis)


def stack_adjoint(y_bar, arrays, axis=0, **kwargs):
    return _split(y_bar, arrays, [np.expand_dims(a, axis) for a in arrays], axis)


def hstack_adjoint(y_bar, tup, **kwargs):
    lifted = [np.atleast_1d(a) for a in tup]
    return _split(y_bar, tup, lifted, 0 if lifted[0].ndim == 1 else 1)


def vstack_adjoint(y_bar, tup, **kwargs):
    return _split(y_bar, tup, [np.atleast_2d(a) for a in tup], 0)


def _unstack(obj, y_bar):
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unstack(entry, y_bar[i]) for i, entry in enumerate(obj))
    return y_bar


def array_adjoint(y_bar, obj, *args, **kwargs):
    """Adjoint of `np.array(obj)`: a (nested) list or tuple of floats and arrays gets one back."""
    return _unstack(obj, np.reshape(y_bar, np.shape(obj)))


def cast_tangent(x_dot, dtype, *args, **kwargs):
    """Tangent of `x.astype(dtype)`: a real target keeps the real part of a complex tangent."""
    x_dot = np.asarray(x_dot)
    if np.dtype(dtype).kind != "c":
        x_dot = x_dot.real
    return x_dot.astype(dtype, *args, **kwargs)


def transpose_property(x):
    """`x.T` as a function, so that the transformer can map the attribute read to a rule."""
    return x.T


def real_property(x):
    """`x.real` as a function."""
    return x.real


def imag_property(x):
    """`x.imag` as a function."""
    return x.imag


def reverse_axes(y_bar, x):
    """Adjoint of `x.T`."""
    return np.transpose(y_bar)


def imag_adjoint(y_bar, x):
    """x = u + iv and y = v: the cotangent i·ȳ (a real `x` projects it to zero)."""
    return 1j * y_bar


ARRAY_PROPERTIES = {"T": transpose_property, "real": real_property, "imag": imag_property}


# Samples and registrations.

M23 = draw((2, 3), 1)
M234 = draw((2, 3, 4), 2)
V3 = draw(3, 3)
Z23 = draw((2, 3), 4, np.complex128)

linear_rule(np.reshape, reshape_adjoint, samples=[
    Sample((M23, (3, 2))), Sample((M23, -1)), Sample((M234, (4, -1))), Sample((M23, (3, 2)), {"order": "F"}),
    Sample((M23.astype(np.float32), (6,))), Sample((Z23, (3, 2))),
])
linear_rule(np.ndarray.reshape, method_reshape_adjoint, samples=[
    Sample((M23, 3, 2)), Sample((M23, (6,))), Sample((M23, -1)), Sample((M234, 4, -1), {"order": "F"}),
])
linear_rule(np.ravel, ravel_adjoint, samples=[Sample((M234,)), Sample((M23, "F")), Sample((M23,), {"order": "A"})])
linear_rule(np.ndarray.ravel, ravel_adjoint, samples=[Sample((M23,)), Sample((M23, "F"))])
linear_rule(np.ndarray.flatten, ravel_adjoint, samples=[Sample((M234,)), Sample((M23,), {"order": "F"})])
linear_rule(np.expand_dims, restore_shape, samples=[Sample((M23, 1)), Sample((V3, (0, 2)))])
linear_rule(np.squeeze, restore_shape, samples=[Sample((draw((1, 3, 1), 5),)), Sample((draw((1, 3, 1), 5),), {"axis": 2})])
linear_rule(np.ndarray.squeeze, restore_shape, samples=[Sample((draw((3, 1), 6),)), Sample((draw((1, 3, 1), 5), 0))])
linear_rule(np.transpose, transpose_adjoint, samples=[
    Sample((M23,)), Sample((M234,), {"axes": (1, 2, 0)}), Sample((M234, (2, 0, 1))), Sample((M234, (-1, 0, 1))),
])
linear_rule(np.ndarray.transpose, method_transpose_adjoint, samples=[
    Sample((M23,)), Sample((M23, 1, 0)), Sample((M234, (1, 2, 0))), Sample((M234, None)),
])
linear_rule(transpose_property, reverse_axes, samples=[Sample((M23,)), Sample((M234,)), Sample((Z23,))])
linear_rule(real_property, identity_adjoint, samples=[Sample((Z23,)), Sample((M23,)), Sample((2.0 - 1.0j,))])
linear_rule(imag_property, imag_adjoint, samples=[Sample((Z23,)), Sample((M23,)), Sample((2.0 - 1.0j,))])
linear_rule(np.swapaxes, swapaxes_adjoint, samples=[Sample((M234, 0, 2)), Sample((M23, -1, 0))])
linear_rule(np.ndarray.swapaxes, swapaxes_adjoint, samples=[Sample((M234, 1, 2))])
linear_rule(np.moveaxis, moveaxis_adjoint, samples=[Sample((M234, 0, -1)), Sample((M234, (0, 1), (2, 0)))])
linear_rule(np.flip, flip_adjoint, samples=[Sample((M23,)), Sample((M234,), {"axis": 1}), Sample((M234, (0, 2)))])
linear_rule(np.copy, identity_adjoint, samples=[Sample((M23,)), Sample((Z23,))])
linear_rule(np.ndarray.copy, identity_adjoint, samples=[Sample((M23,))])


def item_adjoint(y_bar, x, *index):
    """`x.item(*index)` reads one entry: its adjoint puts the seed back at that entry."""
    result = np.zeros(np.shape(x), dtype=np.result_type(x, float))
    if not index:
        result.flat[0] = y_bar
    elif len(index) == 1 and not isinstance(index[0], tuple):
        result.flat[index[0]] = y_bar
    else:
        result[index[0] if len(index) == 1 else index] = y_bar
    return result


linear_rule(np.ndarray.item, item_adjoint, samples=[Sample((np.array([1.5]),)), Sample((M23, 4)), Sample((M23, 1, 2))])
linear_rule(np.generic.item, item_adjoint, samples=[Sample((np.float64(0.75),))])
linear_rule(np.broadcast_to, identity_adjoint, samples=[Sample((V3, (2, 3))), Sample((draw((3, 1), 7), (2, 3, 4)))])
linear_rule(np.ndarray.astype, identity_adjoint, apply=cast_tangent, samples=[
    Sample((M23.astype(np.float32), np.float64)), Sample((M23, complex)), Sample((Z23, np.complex128)), Sample((M23, int)),
])
linear_rule(np.tile, tile_adjoint, samples=[Sample((V3, 2)), Sample((M23, (2, 1))), Sample((V3, (2, 1, 2))), Sample((M234, 2))])
linear_rule(np.repeat, repeat_adjoint, samples=[
    Sample((M23, 2)), Sample((M23, [1, 0, 2]), {"axis": 1}), Sample((M23, 3, 0)), Sample((M23, 2), {"axis": -1}),
])
linear_rule(np.concatenate, concatenate_adjoint, samples=[
    Sample(([V3, draw(2, 8)],)), Sample(((M23, draw((2, 1), 9)), 1)), Sample(([M23, V3],), {"axis": None}),
    Sample(([M23, M23.astype(np.float32)],)),
])
linear_rule(np.stack, stack_adjoint, samples=[Sample(([V3, draw(3, 8)],)), Sample(((M23, M23), -1)), Sample(([M23, M23],), {"axis": 1})])
linear_rule(np.hstack, hstack_adjoint, samples=[Sample(([V3, draw(2, 8)],)), Sample(([M23, draw((2, 1), 9)],)), Sample(([1.5, V3],))])
linear_rule(np.vstack, vstack_adjoint, samples=[Sample(([V3, draw(3, 8)],)), Sample(([M23, V3],))])
linear_rule(np.array, array_adjoint, samples=[
    Sample(([1.0, 2.0, 3.0],)), Sample(([[1.0, 2.0], [3.0, 4.0]],)), Sample(([V3, draw(3, 8)],)), Sample((M23,)),
    Sample(((1.0, 2.0),)), Sample(([V3],), {"ndmin": 3}),
])
linear_rule(np.asarray, array_adjoint, samples=[Sample(([1.0, 2.0, 3.0],)), Sample((M23,)), Sample(([V3, V3],))])


# np.sort is linear only once the order is fixed: both modes follow the permutation np.argsort finds.

def _as_sorted(a, axis):
    """`a` laid out the way `np.sort(a, axis)` sorts it: flattened for axis=None."""
    return np.ravel(a) if axis is None else np.asarray(a)


def _sort_permutation(a, args, kwargs):
    """The axis `np.sort(a, *args, **kwargs)` sorts along, the permutation along it (from np.argsort), and that axis in `_as_sorted(a, axis)`."""
    axis = args[0] if args else kwargs.get("axis", -1)
    return axis, np.argsort(a, *args, **kwargs), 0 if axis is None else axis


SORT_SAMPLES = [Sample((draw(5, 10),)), Sample((M23,)), Sample((M23, 0)), Sample((M23,), {"axis": None}), Sample((M234,), {"kind": "stable"})]


@register_rrule(np.sort, samples=SORT_SAMPLES)
def sort_rrule(a, *args, **kwargs):
    axis, order, along = _sort_permutation(a, args, kwargs)
    values = _as_sorted(a, axis)

    @seeded_pullback(1 + len(args))
    def sort_pullback(y_bar):
        a_bar = np.zeros(values.shape, dtype=np.result_type(values, y_bar))
        np.put_along_axis(a_bar, order, y_bar, along)
        return (NO_FIELDS, project(a, a_bar.reshape(np.shape(a)))) + (ZERO,) * len(args)

    return np.take_along_axis(values, order, along), sort_pullback


@register_frule(np.sort)
def sort_frule(a, *args, **kwargs):
    axis, order, along = _sort_permutation(a, args, kwargs)

    def sort_pushforward(self_dot, a_dot, *arg_dots):
        if is_zero(a_dot):
            return ZERO
        return np.take_along_axis(_as_sorted(extern(a_dot), axis), order, along)

    return np.take_along_axis(_as_sorted(a, axis), order, along), sort_pushforward
