"""Rules for building Python containers: `list`, `tuple` and `map`.

The cotangent of a converted sequence has the structure of what was converted: a list for a list,
a tuple for a tuple, an array (rows stacked) for an array; converting a dict or set (which yields
keys) carries no derivative.
"""
import operator

import numpy as np

from ..errors import RuleError

from .differentials import NO_FIELDS, ZERO, accumulate, extern, is_zero
from .registry import Sample, frule, register_frule, register_rrule

ROWS = np.array([[0.5, -1.0], [2.0, 0.25]])


def regroup(primal, items):
    """The cotangent of the sequence `primal` from the cotangents of its items."""
    if isinstance(primal, np.ndarray):
        if not items:
            return np.zeros_like(primal)
        return np.stack([np.zeros(primal.shape[1:], dtype=primal.dtype) if is_zero(i) else extern(i) for i in items])
    if isinstance(primal, (list, tuple)):
        return type(primal)(items) if not hasattr(primal, "_fields") else tuple(items)
    return ZERO


def _carries_items(iterable):
    return isinstance(iterable, (list, tuple, np.ndarray))


def _sequence_rules(kind):
    name = kind.__name__

    @register_rrule(kind, samples=[Sample(([1.5, -0.5],)), Sample(((0.5, np.array([1.0, 2.0])),)), Sample((ROWS,))])
    def sequence_rrule(iterable=()):
        y = kind(iterable)

        def sequence_pullback(y_bar):
            if is_zero(y_bar) or not _carries_items(iterable):
                return NO_FIELDS, ZERO
            return NO_FIELDS, regroup(iterable, list(extern(y_bar)))

        sequence_pullback.__name__ = f"{name}_pullback"
        return y, sequence_pullback

    @register_frule(kind)
    def sequence_frule(iterable=()):
        y = kind(iterable)

        def sequence_pushforward(self_dot, iterable_dot=ZERO):
            if is_zero(iterable_dot) or not _carries_items(iterable):
                return ZERO
            return kind(extern(iterable_dot))

        sequence_pushforward.__name__ = f"{name}_pushforward"
        return y, sequence_pushforward


_sequence_rules(list)
_sequence_rules(tuple)


@register_rrule(map, samples=[Sample((np.sin, [0.5, 1.5])), Sample((operator.mul, [0.5, 1.0], (2.0, -1.0)))])
def map_rrule(function, *iterables):
    """`map` differentiated item by item; its value is a list (iterating it behaves the same)."""
    from ..runtime import call

    results, pullbacks = [], []
    for items in zip(*iterables):
        y, item_pullback = call(function, *items)
        results.append(y)
        pullbacks.append(item_pullback)

    def map_pullback(y_bar):
        if is_zero(y_bar):
            return (NO_FIELDS, ZERO) + (ZERO,) * len(iterables)
        function_bar, item_bars = ZERO, [[] for _ in iterables]
        for item_pullback, item_bar in zip(pullbacks, extern(y_bar)):
            parts = item_pullback(item_bar) if not is_zero(item_bar) else (ZERO,) * (1 + len(iterables))
            function_bar = accumulate(function_bar, parts[0])
            for bars, part in zip(item_bars, parts[1:]):
                bars.append(part)
        return (NO_FIELDS, function_bar) + tuple(regroup(it, bars) for it, bars in zip(iterables, item_bars))

    return results, map_pullback


@register_frule(map)
def map_frule(function, *iterables):
    """Forward mode of `map` through the mapped function's own frule."""
    applied = [frule(function, *items) for items in zip(*iterables)]
    if any(result is None for result in applied):
        raise RuleError(f"forward mode of map needs an frule for {getattr(function, '__name__', function)!r}")

    def map_pushforward(self_dot, function_dot, *iterable_dots):
        columns = [[ZERO] * len(applied) if is_zero(d) else list(extern(d)) for d in iterable_dots]
        return [pushforward(NO_FIELDS, *dots) for (_, pushforward), dots in zip(applied, zip(*columns))]

    return [y for y, _ in applied], map_pushforward
