"""Rules for indexing: `x[index]` (`operator.getitem`) on arrays, lists, tuples and dicts, and `np.take`.

Indexing is linear in the indexed value, so both rules come from `linear_rule`: the pushforward
indexes the tangent, and the pullback scatters the seed back with `add_at_index`, which the
transformer also uses to accumulate the cotangents of `x[i]` reads one at a time. Array indices
that can repeat (integer arrays and lists) are scattered with `np.add.at`, so that repeated entries
add up. List, tuple and dict cotangents are structural: a list or tuple cotangent has `ZERO` in
the entries that were not read, a dict cotangent holds only the keys that were read, and a
namedtuple's cotangent is a `Tangent`. Indices never get a cotangent.
"""
import operator
from collections import namedtuple

import numpy as np

from .differentials import ZERO, Tangent, accumulate, extern, is_zero
from .linear import draw, linear_rule, project_tree
from .registry import Sample


def is_basic(index):
    """True for indices that pick each element at most once: ints, slices, None, Ellipsis, tuples of them."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        part is None or part is Ellipsis or isinstance(part, slice)
        or (isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_)))
        for part in parts
    )


def _entries(cotangent, primal):
    """The cotangent of a list or tuple as a new list, one entry per entry of `primal`."""
    if is_zero(cotangent):
        return [ZERO] * len(primal)
    if isinstance(cotangent, Tangent):
        return [getattr(cotangent, field) for field in primal._fields]
    return list(cotangent)


def add_at_index(cotangent, primal, index, value):
    """The cotangent of `primal` after adding `value`, a cotangent of `primal[index]`, to `cotangent`.

    `cotangent` is the cotangent of `primal` gathered so far (possibly `Zero()`); it is never
    modified, since it may be shared: the sum is always a new array, list, tuple or dict. A
    `Zero()` `cotangent` starts from zeros: an array of zeros with the primal's shape and (float
    or complex) dtype, a list or tuple of `ZERO` entries, an empty dict. Array indices may be
    anything NumPy accepts; repeated integer indices add up. Lists and tuples take an int or a
    slice (then `value` is a sequence), dicts a key. A namedtuple's cotangent is a `Tangent`.

        >>> add_at_index(ZERO, np.zeros(3), [0, 0, 2], 1.0)
        array([2., 0., 1.])
        >>> add_at_index(ZERO, [1.0, 2.0, 3.0], 1, 5.0)
        [Zero(), 5.0, Zero()]
    """
    value = extern(value)
    if is_zero(value):
        return cotangent
    cotangent = extern(cotangent)
    if isinstance(primal, dict):
        total = {} if is_zero(cotangent) else dict(cotangent)
        total[index] = accumulate(total.get(index), project_tree(primal[index], value))
        return total
    if isinstance(primal, (list, tuple)):
        entries = _entries(cotangent, primal)
        if isinstance(index, slice):
            positions, values = range(len(primal))[index], value
        else:
            positions, values = [index], [value]
        for position, entry in zip(positions, values):
            entries[position] = accumulate(entries[position], project_tree(primal[position], entry))
        if hasattr(primal, "_fields"):
            fields = {name: e for name, e in zip(primal._fields, entries) if not is_zero(e)}
            return Tangent(type(primal), **fields)
        return type(primal)(entries)
    primal = np.asarray(primal)
    dtype = primal.dtype if primal.dtype.kind in "fc" else np.dtype(np.float64)
    total = np.zeros(primal.shape, dtype) if is_zero(cotangent) else np.array(cotangent, dtype=dtype)
    value = np.asarray(value)
    if dtype.kind != "c":
        value = value.real
    if is_basic(index):
        total[index] += value
    else:
        np.add.at(total, index, value)
    return total


def getitem_adjoint(y_bar, x, index):
    return add_at_index(ZERO, x, index, y_bar)


def getitem_tangent(x_dot, index):
    """`x_dot[index]` for the tangent of a container: a dict tangent may lack keys, a namedtuple's is a `Tangent`."""
    if isinstance(x_dot, dict):
        return x_dot.get(index, ZERO)
    if isinstance(x_dot, Tangent):
        fields = x_dot.primal_type._fields[index]
        return getattr(x_dot, fields) if isinstance(fields, str) else tuple(getattr(x_dot, f) for f in fields)
    return x_dot[index]


def _positions(indices, length, mode):
    """The entries `np.take` reads for `indices` along an axis of `length` in `mode` ('raise', 'wrap', 'clip')."""
    if mode == "wrap":
        return np.mod(indices, length)
    if mode == "clip":
        return np.clip(indices, 0, length - 1)
    return indices


def take_adjoint(y_bar, a, indices, axis=None, out=None, mode="raise"):
    if axis is None:
        flat = np.ravel(a)
        return add_at_index(ZERO, flat, _positions(indices, flat.size, mode), y_bar).reshape(np.shape(a))
    axis %= np.ndim(a)
    positions = _positions(np.asarray(indices), np.shape(a)[axis], mode)
    return add_at_index(ZERO, a, (slice(None),) * axis + (positions,), y_bar)


SamplePair = namedtuple("SamplePair", ["first", "second"])


def _getitem_samples():
    x, m, c = draw(5, 20), draw((3, 4), 21), draw((2, 3), 22, np.complex128)
    mask = np.array([[True, False, True, False], [False, False, True, True], [True, False, False, False]])
    return [
        Sample((x, 2)), Sample((x, -1)), Sample((x, slice(1, 4))), Sample((x, slice(None, None, -2))),
        Sample((m, (1, slice(None)))), Sample((m, (Ellipsis, 2))), Sample((m, (None, 1, slice(0, 3)))),
        Sample((m, (slice(None), None))), Sample((m, 1)), Sample((m, ())),
        Sample((x, np.array([0, 3, 3, 1, 3]))), Sample((x, [4, 4, 0])), Sample((m, (np.array([0, 2, 0]), np.array([1, 1, 1])))),
        Sample((m, (slice(None), [3, 0, 3]))), Sample((m, np.array([[0, 0], [2, 1]]))),
        Sample((m, mask)), Sample((x, x > 0)), Sample((m, (m[:, 0] > 0, slice(1, 3)))),
        Sample((c, (1, [0, 0, 2]))), Sample((m.astype(np.float32), [1, 1])),
        Sample(([1.5, draw(3, 23), -0.5], 1)), Sample(([1.5, draw(3, 23), -0.5], -1)),
        Sample(([1.5, draw(3, 23), -0.5, 2.0], slice(1, 3))), Sample(((1.5, 2.5, -0.5), 0)),
        Sample(((1.5, 2.5, -0.5), slice(None, None, 2))), Sample(({"a": draw(2, 24), "b": 2.0}, "a")),
        Sample((SamplePair(1.5, draw(2, 25)), 1)), Sample((SamplePair(1.5, draw(2, 25)), slice(0, 2))),
    ]


linear_rule(operator.getitem, getitem_adjoint, apply=getitem_tangent, samples=_getitem_samples)


def _take_samples():
    x, m = draw(5, 30), draw((3, 4), 31)
    return [
        Sample((x, [0, 3, 3])), Sample((x, 2)), Sample((m, [[0, 1], [1, 1]])), Sample((m, [0, 2, 2]), {"axis": 0}),
        Sample((m, np.array([3, 3, 1])), {"axis": -1}), Sample((m, 1, 1)), Sample((x, [6, -7]), {"mode": "wrap"}),
        Sample((m, [5, -1]), {"axis": 1, "mode": "clip"}),
    ]


linear_rule(np.take, take_adjoint, samples=_take_samples, batch_adjoint=False)  # (its adjoint adds at indices)
