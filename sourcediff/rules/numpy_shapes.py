"""Rules for NumPy's shape functions: reshaping, transposing, joining, tiling, sorting, copying, casting.

All of them but `np.sort` are linear in the array they rearrange, so `linear_rule` registers both
modes of each at once: the pushforward applies the function itself to the tangent, and the pullback
applies the function's adjoint (its transpose), written once per function below. The ndarray
methods reuse the same adjoints (the transformer calls `x.reshape(2, 3)` as
`np.ndarray.reshape(x, 2, 3)`), and `ARRAY_PROPERTIES` maps the attribute reads `x.T`, `x.real`
and `x.imag` to plain functions that carry rules.

`np.r_[...]` and `np.c_[...]` (one method, `AxisConcatenator.__getitem__`) only move entries around,
in ways their directives decide: `rearranging_rule` finds where each output entry comes from by
running the call once more on integer ids in place of the float inputs.

Integer and boolean results (index arrays, masks) carry no derivative in any of these rules.

    >>> from sourcediff.rules.registry import rrule
    >>> y, r_pullback = rrule(CONCATENATOR_GETITEM, np.r_, (np.array([1.0, 2.0]), 3.0, slice(0, 2)))
    >>> y
    array([1., 2., 3., 0., 1.])
    >>> r_pullback(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    (NO_FIELDS, Zero(), (array([1., 2.]), 3.0, Zero()))
"""
import numpy as np

from ..errors import RuleError
from .differentials import NO_FIELDS, ZERO, extern, is_zero
from .projection import project
from .linear import draw, linear_rule, project_tree, seeded_pullback
from .registry import Sample, fresh, register_frule, register_rrule


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
], batch_adjoint=False)
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
], batch=False)  # (they convert: a batch of tangents goes through them one tangent at a time)
linear_rule(np.asarray, array_adjoint, samples=[Sample(([1.0, 2.0, 3.0],)), Sample((M23,)), Sample(([V3, V3],))],
            batch=False)


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

    sort_pullback.adjoint_of = np.sort  # (linear, and the same near a where a has no ties)
    return np.take_along_axis(values, order, along), sort_pullback


sort_rrule.rrule_of = np.sort


@register_frule(np.sort)
def sort_frule(a, *args, **kwargs):
    axis, order, along = _sort_permutation(a, args, kwargs)

    def sort_pushforward(self_dot, a_dot, *arg_dots):
        if is_zero(a_dot):
            return ZERO
        return np.take_along_axis(_as_sorted(extern(a_dot), axis), order, along)

    return np.take_along_axis(_as_sorted(a, axis), order, along), sort_pushforward


# Functions that only move, repeat and cast entries: np.r_[...] and np.c_[...] here, the functional
# forms of np.put, np.copyto and the like in numpy_mutators. Running such a function once more, with
# integer ids in place of its float inputs, tells which input entry each output entry is (-1: none);
# the pullback adds the output's cotangent back onto those entries, the pushforward gathers them.

def _kind(value):
    """The dtype kind of an array, or of a (nested) list or tuple as an array; '' for anything else."""
    if not isinstance(value, (np.ndarray, list, tuple)):
        return ""
    try:
        return np.asarray(value).dtype.kind
    except ValueError:
        return ""


def is_traceable_input(value):
    """Whether `value` is a float or complex number or array, or a (nested) list or tuple of them."""
    return isinstance(value, (float, complex, np.floating, np.complexfloating)) or _kind(value) in ("f", "c")


def constant_stand_in(value):
    """What a value that carries no derivative becomes in the run on ids: -1 for a number, -1s for an
    integer or boolean array (or list), anything else (text, None, options) itself."""
    if isinstance(value, (bool, int, np.bool_, np.integer)):
        return -1
    if _kind(value) in ("b", "i", "u"):
        return np.full(np.shape(value), -1)
    return value


def _numbered(value, offset):
    """`value`'s entries numbered from `offset`: a Python int for a Python number, keeping scalars scalars."""
    if isinstance(value, (float, complex)):
        return offset
    if isinstance(value, np.generic):
        return np.intp(offset)
    return np.arange(offset, offset + np.size(value)).reshape(np.shape(value))


def _at(tree, path):
    """The entry of nested tuples `tree` at `path` (a tuple of positions); a zero's entries are zeros."""
    for position in path:
        tree = tree[position]
    return tree


def _replaced(tree, path, value):
    """Nested tuples `tree` with the entry at `path` replaced by `value`."""
    entries = list(tree)
    entries[path[0]] = _replaced(tree[path[0]], path[1:], value) if len(path) > 1 else value
    return tuple(entries)


def _placed(bars, primals, path, bar):
    """The cotangents `bars` of the tuple `primals` with `bar` at `path`; a zero there becomes a tuple of zeros."""
    entries = [ZERO] * len(primals) if is_zero(bars) else list(bars)
    entries[path[0]] = _placed(entries[path[0]], primals[path[0]], path[1:], bar) if len(path) > 1 else bar
    return tuple(entries)


def _flat_tangent(value, dot):
    """The tangent of a traced input as a flat array in the input's entry order (zeros for `Zero()` parts)."""
    dot = extern(dot)
    if is_zero(dot):
        return np.zeros(np.size(value))
    if isinstance(value, (list, tuple)):
        return np.concatenate([_flat_tangent(v, d) for v, d in zip(value, dot)] + [np.zeros(0)])
    return np.ravel(dot)


class EntryTrace:
    """Which input entry each entry of `f(*args, **kwargs)` is, for an `f` that only moves, repeats and
    casts the entries of the values at `slots` (paths into `args`); found by running `f` on ids."""

    def __init__(self, f, args, kwargs, slots, stand_in):
        self.inputs, traced, size = [], args, 0
        for slot in slots:
            value = _at(args, slot)
            if is_traceable_input(value):
                self.inputs.append((slot, value, size))
                traced, size = _replaced(traced, slot, _numbered(value, size)), size + np.size(value)
            else:
                traced = _replaced(traced, slot, stand_in(value))
        self.size = size
        self.sources = np.asarray(f(*traced, **kwargs)) if self.inputs else None

    def pull(self, y_bar):
        """`(slot, cotangent)` for each input, adding up the entries of `y_bar` that came from it."""
        sources, y_bar = self.sources.ravel(), np.ravel(y_bar)
        taken = sources >= 0
        total = np.bincount(sources[taken], np.real(y_bar[taken]), self.size)
        if np.iscomplexobj(y_bar):
            total = total + 1j * np.bincount(sources[taken], np.imag(y_bar[taken]), self.size)
        return [(slot, project_tree(value, array_adjoint(total[start:start + np.size(value)], value)))
                for slot, value, start in self.inputs]

    def push(self, dots):
        """The output's tangent, gathered from the tangents of the inputs (`dots`, in the order of `inputs`)."""
        flat = np.concatenate([_flat_tangent(value, dot) for (_, value, _), dot in zip(self.inputs, dots)])
        return np.where(self.sources >= 0, flat[self.sources], 0)


def rearranging_rule(f, slots, *, samples, stand_in=constant_stand_in, name=None):
    """Register both modes of `f`, which only moves, repeats and casts the entries of the values that
    `slots(args)` points to (paths into the positional arguments: `(1,)` is the second argument,
    `(1, 0)` the first item of a tuple there). Everything else, and any value there that is not float,
    carries no derivative; `stand_in(value)` gives what such a value at a slot becomes in the run on ids.
    The cotangent of a tuple argument holding slots is a tuple, one entry per item.
    """
    name = name or f.__name__

    def run(args, kwargs):
        """`f`'s value, and where its entries come from (None if it carries no derivative)."""
        paths = slots(args)
        y = f(*args, **kwargs)
        return y, EntryTrace(f, args, kwargs, paths, stand_in) if np.asarray(y).dtype.kind in "fc" else None

    @register_rrule(f, samples=samples)
    def rearranging_rrule(*args, **kwargs):
        y, entries = run(args, kwargs)

        @seeded_pullback(len(args))
        def rearranging_pullback(y_bar):
            bars = (ZERO,) * len(args)
            for slot, bar in entries.pull(y_bar) if entries is not None else ():
                bars = _placed(bars, args, slot, bar)
            return (NO_FIELDS,) + bars

        rearranging_pullback.__name__ = rearranging_pullback.__qualname__ = f"{name}_pullback"
        return y, rearranging_pullback

    @register_frule(f)
    def rearranging_frule(*args, **kwargs):
        y, entries = run(args, kwargs)

        def rearranging_pushforward(self_dot, *arg_dots):
            dots = [_at(arg_dots, slot) for slot, _, _ in entries.inputs] if entries is not None else []
            if all(is_zero(d) for d in dots):
                return ZERO
            return cast_tangent(entries.push(dots), np.asarray(y).dtype)

        rearranging_pushforward.__name__ = rearranging_pushforward.__qualname__ = f"{name}_pushforward"
        return y, rearranging_pushforward


# np.r_[...] and np.c_[...] call `AxisConcatenator.__getitem__(np.r_, key)`: one function for both.

CONCATENATOR_GETITEM = type(np.r_).__getitem__


def concatenator_slots(args):
    """The values `np.r_[key]` joins: each item of a tuple `key`, or `key` itself."""
    _, key = args
    if isinstance(key, str):
        raise RuleError("np.r_ and np.c_ with one string (matrix syntax such as np.r_['a; b']) have no derivative rule",
                        hint="Build the matrix with np.block or np.concatenate instead.")
    return [(1, position) for position in range(len(key))] if isinstance(key, tuple) else [(1,)]


def concatenator_stand_in(value):
    """A slice (`1:4`, `0:1:5j`) becomes a range of numbers with no derivative: in the run on ids, -1s as many."""
    if isinstance(value, slice):
        return np.full(len(np.r_[value]), -1)
    return constant_stand_in(value)


def _concatenator_samples():
    x, y, m, z = draw(3, 40), draw(4, 41), draw((2, 3), 42), draw(3, 43, np.complex128)
    return [
        Sample((np.r_, (x, y))), Sample((np.r_, (x, 2.0, y[1:]))), Sample((np.c_, (x, y[:3]))), Sample((np.r_, ("0,2", x, y[:3]))),
        Sample((np.r_, (x, slice(1, 4), 3, np.float64(0.5)))), Sample((np.r_, x)), Sample((np.r_, (m, m[:1]))),
        Sample((np.r_, ("-1", m, m))), Sample((np.c_, (m, m[:, :1]))), Sample((np.r_, ("0,2,0", x, x[:2]))),
        Sample((np.r_, (z, x))), Sample((np.r_, (x.astype(np.float32), np.array([1.5], dtype=np.float32)))),
        Sample((np.r_, ([1.5, -0.5], np.array(2.0), slice(0.0, 1.0, 3j)))), Sample((np.c_, (x, [1, 2, 3]))),
    ]


rearranging_rule(CONCATENATOR_GETITEM, concatenator_slots, stand_in=concatenator_stand_in, samples=_concatenator_samples,
                 name="concatenator_getitem")


# Results that share no mutable object with the arguments: not the views (reshape, transpose, ravel, ...),
# nor np.asarray and astype, which may return their argument itself. np.array copies unless told otherwise
# with its keyword-only `copy=`, and the transformer takes no call with `copy=` for fresh.
fresh(np.array, np.copy, np.ndarray.copy, np.ndarray.flatten, np.tile, np.repeat, np.concatenate, np.stack, np.hstack,
      np.vstack, np.sort, np.ndarray.item, np.generic.item, CONCATENATOR_GETITEM)
