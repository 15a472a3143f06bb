"""Rules for building and walking Python containers: `list`, `tuple`, `map`, `zip`, `enumerate`,
`sorted`, `reversed`, the copies `list.copy` and `dict.copy`, and the dict methods `values`, `items`
and `get` (`keys` carries no derivative).

The cotangent of an iterable has the structure of what was iterated: a list for a list, a tuple for
a tuple, a `Tangent` for a namedtuple, an array (rows stacked) for an array, and a list, one entry
per item in iteration order, for a dict view, which the view's own rule maps back onto its dict
(`{key: ...}`). A dict iterated over its keys gets none (keys carry no derivative); a generator or
a set cannot receive one.
`map`, `zip`, `enumerate`, `sorted` and `reversed` return lists (iterating them behaves the same).

    >>> from sourcediff.rules.registry import rrule
    >>> pairs, zip_pullback = rrule(zip, [1.0, 2.0], (3.0, 4.0, 5.0))
    >>> pairs
    [(1.0, 3.0), (2.0, 4.0)]
    >>> zip_pullback([(0.5, ZERO), (1.5, 2.5)])
    (NO_FIELDS, [0.5, 1.5], (Zero(), 2.5, Zero()))
"""

import numpy as np

from ..errors import RuleError

from .differentials import NO_FIELDS, ZERO, Tangent, extern, is_zero
from .linear import linear_rule, project_tree, seeded_pullback
from .numpy_shapes import identity_adjoint
from .projection import project
from .registry import Sample, non_differentiable, register_frule, register_rrule

ROWS = np.array([[0.5, -1.0], [2.0, 0.25]])
DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))
SEQUENCES = (list, tuple, np.ndarray) + DICT_VIEWS


def _can_carry_gradient(item):
    if isinstance(item, np.ndarray):
        return item.dtype.kind in "fc"
    return not isinstance(item, (int, str, bytes, np.integer, np.bool_))


def regroup(primal, item_bars, items=None, name=None):
    """The cotangent of the iterable `primal` from the cotangents of its first items (the others get none).

    A list gets a list and a tuple a tuple (`ZERO` where no gradient flows), a namedtuple a
    `Tangent`, an array a new array of its rows (`ZERO` if no row has a gradient), a dict view a
    list, and a dict, which yields its keys, `ZERO`. Anything else (a generator, a set) cannot
    receive a gradient: `ZERO`, but if one should reach a float among `items`, the values it
    yielded, that is an error naming the function `name`.

        >>> regroup((1.0, 2.0, 3.0), [ZERO, 3.0])
        (Zero(), 3.0, Zero())
        >>> regroup(np.zeros((3, 2)), [ZERO, np.ones(2)])[1]
        array([1., 1.])
    """
    item_bars = list(item_bars)
    if isinstance(primal, np.ndarray):
        if all(is_zero(bar) for bar in item_bars):
            return ZERO
        rows = np.zeros(primal.shape, dtype=primal.dtype if primal.dtype.kind in "fc" else float)
        for index, bar in enumerate(item_bars):
            if not is_zero(bar):
                rows[index] = extern(bar) if rows.dtype.kind == "c" else np.real(extern(bar))
        return project(primal, rows)
    if isinstance(primal, SEQUENCES):
        entries = item_bars + [ZERO] * (len(primal) - len(item_bars))
        if hasattr(primal, "_fields"):
            return Tangent(type(primal), **{field: e for field, e in zip(primal._fields, entries) if not is_zero(e)})
        return tuple(entries) if isinstance(primal, tuple) else entries
    reached = items is not None and not isinstance(primal, dict) and any(
        not is_zero(bar) and _can_carry_gradient(item) for item, bar in zip(items, item_bars))
    if reached:
        raise RuleError(
            f"{name}() was given a {type(primal).__name__}, which cannot receive a gradient",
            hint=f"pass a list, tuple or array instead, e.g. {name}([...]) rather than {name}(... for ...)",
        )
    return ZERO


def item_tangents(primal, tangent, count):
    """The tangents of the first `count` items of the iterable `primal`, from its tangent (`ZERO` where it has none)."""
    if is_zero(tangent) or not isinstance(primal, SEQUENCES):
        return [ZERO] * count
    tangent = extern(tangent)
    return [tangent[index] for index in range(count)]


def _sequence_rules(kind):
    name = kind.__name__

    @register_rrule(kind, samples=[Sample(([1.5, -0.5],)), Sample(((0.5, np.array([1.0, 2.0])),)), Sample((ROWS,))])
    def sequence_rrule(iterable=()):
        y = kind(iterable)

        @seeded_pullback(1)
        def sequence_pullback(y_bar):
            return NO_FIELDS, regroup(iterable, y_bar, y, name)

        sequence_pullback.__name__ = f"{name}_pullback"
        sequence_pullback.adjoint_of = kind  # (linear, reads only the iterable's structure)
        return y, sequence_pullback

    sequence_rrule.rrule_of = kind

    @register_frule(kind, batch=True)
    def sequence_frule(iterable=()):
        y = kind(iterable)

        def sequence_pushforward(self_dot, iterable_dot=ZERO):
            if is_zero(iterable_dot) or not isinstance(iterable, SEQUENCES):
                return ZERO
            return kind(item_tangents(iterable, iterable_dot, len(y)))

        sequence_pushforward.__name__ = f"{name}_pushforward"
        return y, sequence_pushforward


_sequence_rules(list)
_sequence_rules(tuple)


# zip and enumerate: lists of tuples, whose cotangents are lists of tuples (or zeros) to split into columns.

def _columns(rows_bar, width):
    """The cotangent of a list of `width`-tuples, as `width` lists: one per position in the tuples."""
    columns = [[] for _ in range(width)]
    for row_bar in rows_bar:
        for column, entry in zip(columns, [ZERO] * width if is_zero(row_bar) else extern(row_bar)):
            column.append(entry)
    return columns


def _zip_samples():
    return [Sample(([1.5, -0.5], (2.0, 0.5, 3.0))), Sample((ROWS, [np.array([1.0, 2.0]), 0.5])), Sample(([0.5, 1.5],)),
            Sample((range(3), [1.5, -0.5], {"a": 1.0, "b": 2.0}))]


@register_rrule(zip, samples=_zip_samples)
def zip_rrule(*iterables, **options):
    """`zip` as a list of tuples; each iterable gets the cotangents of the items zip took from it."""
    rows = list(zip(*iterables, **options))

    @seeded_pullback(len(iterables))
    def zip_pullback(rows_bar):
        columns = _columns(rows_bar, len(iterables))
        return (NO_FIELDS,) + tuple(regroup(it, bars, [row[k] for row in rows], "zip")
                                    for k, (it, bars) in enumerate(zip(iterables, columns)))

    return rows, zip_pullback


@register_frule(zip)
def zip_frule(*iterables, **options):
    rows = list(zip(*iterables, **options))

    def zip_pushforward(self_dot, *iterable_dots):
        columns = [item_tangents(it, dot, len(rows)) for it, dot in zip(iterables, iterable_dots)]
        return [tuple(row) for row in zip(*columns)] if columns else []

    return rows, zip_pushforward


ENUMERATE_SAMPLES = [Sample(([1.5, -0.5],)), Sample(((0.5, np.array([1.0, 2.0])), 3)), Sample((ROWS,), {"start": 1})]


@register_rrule(enumerate, samples=ENUMERATE_SAMPLES)
def enumerate_rrule(iterable, *start, **options):
    """`enumerate` as a list of `(index, item)` tuples; the indices carry no derivative."""
    pairs = list(enumerate(iterable, *start, **options))

    @seeded_pullback(1 + len(start))
    def enumerate_pullback(pairs_bar):
        _, item_bars = _columns(pairs_bar, 2)
        return (NO_FIELDS, regroup(iterable, item_bars, [item for _, item in pairs], "enumerate")) + (ZERO,) * len(start)

    return pairs, enumerate_pullback


@register_frule(enumerate)
def enumerate_frule(iterable, *start, **options):
    pairs = list(enumerate(iterable, *start, **options))

    def enumerate_pushforward(self_dot, iterable_dot, *start_dots):
        return [(ZERO, dot) for dot in item_tangents(iterable, iterable_dot, len(pairs))]

    return pairs, enumerate_pushforward


# sorted and reversed: the items in a new order, as a list.

def _sorted_order(iterable, key=None, reverse=False):
    """The items of `iterable`, and the positions `sorted` takes them from (Python's stable order)."""
    items = list(iterable)
    rank = (lambda i: items[i]) if key is None else (lambda i: key(items[i]))
    return items, sorted(range(len(items)), key=rank, reverse=reverse)


def _reversed_order(sequence):
    """The items of `sequence`, and the positions `reversed` takes them from."""
    items = list(reversed(sequence))[::-1]
    return items, range(len(items) - 1, -1, -1)


def _reordering_rules(f, order, samples):
    """Register `f`, whose value is the list of its iterable's items at the positions `order(iterable, **options)` gives."""
    name = f.__name__

    @register_rrule(f, samples=samples)
    def reordering_rrule(iterable, **options):
        items, positions = order(iterable, **options)

        @seeded_pullback(1)
        def reordering_pullback(y_bar):
            item_bars = [ZERO] * len(items)
            for position, bar in zip(positions, y_bar):
                item_bars[position] = bar
            return NO_FIELDS, regroup(iterable, item_bars, items, name)

        reordering_pullback.__name__ = f"{name}_pullback"
        return [items[p] for p in positions], reordering_pullback

    @register_frule(f)
    def reordering_frule(iterable, **options):
        items, positions = order(iterable, **options)

        def reordering_pushforward(self_dot, iterable_dot):
            item_dots = item_tangents(iterable, iterable_dot, len(items))
            return [item_dots[p] for p in positions]

        reordering_pushforward.__name__ = f"{name}_pushforward"
        return [items[p] for p in positions], reordering_pushforward


_reordering_rules(sorted, _sorted_order, [
    Sample(([0.5, -1.5, 2.0, 1.0],)), Sample(((0.5, -1.5, 2.0),), {"reverse": True}), Sample((np.array([0.5, -1.5, 2.0]),)),
    Sample(([0.5, -1.5, 2.0],), {"key": abs})])
_reordering_rules(reversed, _reversed_order, [
    Sample(([0.5, -1.5, 2.0],)), Sample(((0.5, np.array([1.0, 2.0])),)), Sample((ROWS,))])


# Copies keep the structure of what they copy.

linear_rule(list.copy, identity_adjoint, samples=[Sample(([1.5, np.array([1.0, 2.0])],))])
linear_rule(dict.copy, identity_adjoint, samples=[Sample(({"a": 1.5, "b": np.array([1.0, 2.0])},))])


# Dict views: the value is the view itself; the cotangent is a list, one entry per item, mapped back here.

def _dict_cotangent(keys, entry_bars):
    """A dict's cotangent from the cotangents of its entries, listed in the order of `keys`."""
    return {key: bar for key, bar in zip(keys, entry_bars) if not is_zero(bar)}


def _value_bars(items_bar):
    """The cotangents of the values in a cotangent of `d.items()` (the keys' part is ignored)."""
    return _columns(items_bar, 2)[1]


def _view_rules(view, entry_bars, entry_tangent):
    """Register `dict.<view>`: `entry_bars(view_bar)` lists the values' cotangents, `entry_tangent(dot)` an entry's tangent."""
    name = view.__name__
    samples = [Sample(({"a": 1.5, "b": np.array([0.5, -1.0]), "c": 2.0},)), Sample(({},))]

    @register_rrule(view, samples=samples)
    def view_rrule(mapping):
        keys = list(mapping)

        @seeded_pullback(1)
        def view_pullback(view_bar):
            return NO_FIELDS, _dict_cotangent(keys, entry_bars(view_bar))

        view_pullback.__name__ = f"{name}_pullback"
        return view(mapping), view_pullback

    @register_frule(view)
    def view_frule(mapping):
        keys = list(mapping)

        def view_pushforward(self_dot, mapping_dot):
            if is_zero(mapping_dot):
                return ZERO
            mapping_dot = extern(mapping_dot)
            return [entry_tangent(mapping_dot.get(key, ZERO)) for key in keys]

        view_pushforward.__name__ = f"{name}_pushforward"
        return view(mapping), view_pushforward


_view_rules(dict.values, list, lambda value_dot: value_dot)
_view_rules(dict.items, _value_bars, lambda value_dot: (ZERO, value_dot))
non_differentiable(dict.keys)


GET_SAMPLES = [Sample(({"a": 1.5, "b": np.array([1.0, 2.0])}, "b")), Sample(({"a": 1.5}, "a", 0.5)),
               Sample(({"a": 1.5}, "z", np.array([0.5, 2.0])))]


@register_rrule(dict.get, samples=GET_SAMPLES)
def get_rrule(mapping, key, *default):
    """`d.get(key, default)`: the cotangent goes to the key's entry, or to the default when the key is absent."""
    present = key in mapping

    @seeded_pullback(2 + len(default))
    def get_pullback(y_bar):
        if present:
            return (NO_FIELDS, {key: project_tree(mapping[key], y_bar)}, ZERO) + (ZERO,) * len(default)
        return (NO_FIELDS, ZERO, ZERO) + tuple(project_tree(d, y_bar) for d in default)

    get_pullback.adjoint_of = dict.get  # (linear, reads only which key is present and the entries' types)
    return mapping.get(key, *default), get_pullback


get_rrule.rrule_of = dict.get


@register_frule(dict.get)
def get_frule(mapping, key, *default):
    present = key in mapping

    def get_pushforward(self_dot, mapping_dot, key_dot, *default_dots):
        if present:
            return ZERO if is_zero(mapping_dot) else extern(mapping_dot).get(key, ZERO)
        return default_dots[0] if default_dots else ZERO

    return mapping.get(key, *default), get_pushforward
