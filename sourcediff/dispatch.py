"""The calls generated code makes: a primitive through its rule, anything else through its derivative.

`call(f, *args)` returns `(value, pullback)`, the pullback giving (∂self, ∂args..., ∂kwarg values...);
methods, calls that change their object or arguments, and calls with `*args` have helpers of their own.
A Python function goes through `reverse_call`, which `sourcediff.calls` installs: the compiler sits
above this module, which imports nothing of it.
"""
import inspect
import operator
import types

import numpy as np

from .errors import NoRuleError, RuleError, UnsupportedSyntaxError
from .rules.containers import item_tangents, regroup
from .rules.differentials import NO_FIELDS, ZERO, accumulate, extern, is_zero
from .rules.registry import Sample, frule, lookup, register_frule, register_rrule
from .runtime import error_at_call_site, own

reverse_call = None
forward_call = None


def _no_rule(function):
    name = getattr(function, "__qualname__", repr(function))
    return error_at_call_site(
        NoRuleError, f"{name} has no derivative rule and no Python source to differentiate",
        f"Register a rule for it with @sd.register_rrule({getattr(function, '__name__', 'f')}) "
        "or declare it with sd.non_differentiable.")


def call(function, *args, **kwargs):
    """`(function(*args, **kwargs), pullback)`; the pullback returns (∂self, ∂args..., ∂kwarg values...)."""
    rule = lookup(function)
    if rule is not None and rule.rrule is not None:
        y, rule_pullback = rule.rrule(*args, **kwargs)
        if not kwargs:
            return y, rule_pullback
        padding = (ZERO,) * len(kwargs)

        def rule_with_keywords_pullback(y_bar):
            return tuple(rule_pullback(y_bar)) + padding

        return y, rule_with_keywords_pullback
    result = reverse_call(function, args, kwargs)
    if result is None:
        raise _no_rule(function)
    return result


def push(function, function_dot, arguments, tangents, keyword_tangents, **kwargs):
    """`(function(*arguments, **kwargs), its tangent)` in forward mode: a primitive through its frule (keyword
    arguments get no tangent), anything else through its pushforward (`forward_call`, which `sourcediff.calls`
    installs)."""
    rule = lookup(function)
    if rule is not None and rule.frule is not None:
        y, pushforward = rule.frule(*arguments, **kwargs)
        return y, pushforward(NO_FIELDS, *tangents)
    if rule is not None and not rule.differentiable:
        return function(*arguments, **kwargs), ZERO
    result = forward_call(function, function_dot, arguments, tangents, kwargs, keyword_tangents)
    if result is None:
        raise error_at_call_site(
            NoRuleError, f"{getattr(function, '__qualname__', repr(function))} has no forward rule and no Python source "
            "to differentiate", f"Register one with @sd.register_frule({getattr(function, '__name__', 'f')}).")
    return result


def call_with_constants(constants, function, *args, **kwargs):
    """`call(function, *args, **kwargs)` where the positional arguments at the positions `constants` carry no
    derivative (the caller needs no cotangent for them): a Python callee's derivative is specialised not to
    compute theirs (their entries of the pullback's result are zeros)."""
    rule = lookup(function)
    if rule is not None and rule.rrule is not None:
        return call(function, *args, **kwargs)
    result = reverse_call(function, args, kwargs, constants=constants)
    if result is None:
        raise _no_rule(function)
    return result


def call_for_effect(function, *args, **kwargs):
    """`function(*args, **kwargs)` through its derivative, refusing a callee that writes into its arguments
    or captured variables (see `reverse_call`); its value carries no derivative here."""
    return call(function, *args, **kwargs)[0]


def receiver_first(pullback, name):
    """`pullback` without the callee's own ∂self, so the receiver's cotangent comes first."""

    def receiver_first_pullback(y_bar):
        return tuple(pullback(y_bar)[1:])

    receiver_first_pullback.__name__ = name
    return receiver_first_pullback


def _python_method(receiver, method):
    static = inspect.getattr_static(type(receiver), method, None)
    if isinstance(static, types.FunctionType) and not isinstance(receiver, (type, types.ModuleType)):
        return static
    return None


def call_method(receiver, method, *args, **kwargs):
    """`receiver.method(*args, **kwargs)` with a pullback returning (∂receiver, ∂args..., ∂kwarg values...)."""
    function = _python_method(receiver, method)
    if function is None:
        static = inspect.getattr_static(type(receiver), method, None)
        if not isinstance(receiver, (type, types.ModuleType)) and lookup(static) is not None:
            y, pullback = call(static, receiver, *args, **kwargs)
            return y, receiver_first(pullback, f"{method}_pullback")
        y, bound_pullback = call(getattr(receiver, method), *args, **kwargs)

        def bound_method_pullback(y_bar):
            return (ZERO,) + tuple(bound_pullback(y_bar)[1:])

        return y, bound_method_pullback
    y, pullback = call(function, receiver, *args, **kwargs)
    return y, receiver_first(pullback, f"{method}_pullback")


def method_rule(receiver, method):
    """The rule of the function a method of `receiver` is (`np.ndarray.sum` for `x.sum`), or None."""
    static = inspect.getattr_static(type(receiver), method, None)
    return lookup(static) if not isinstance(receiver, (type, types.ModuleType)) and static is not None else None


def push_method(receiver, receiver_dot, method, arguments, tangents, **kwargs):
    """`(receiver.method(*arguments, **kwargs), its tangent)` in forward mode, for a method whose function has
    a rule (`x.sum()`, `x.copy()`); keyword arguments get no tangent."""
    rule = method_rule(receiver, method)
    if rule is None or rule.frule is None:
        raise error_at_call_site(
            UnsupportedSyntaxError, f"forward mode cannot differentiate {type(receiver).__name__}.{method} yet",
            "Use reverse mode (sd.gradient, sd.pullback) for this function, or register an frule for the method.")
    y, pushforward = rule.frule(receiver, *arguments, **kwargs)
    return y, pushforward(NO_FIELDS, receiver_dot, *tangents)


def call_updating(receiver, method, *args, **kwargs):
    """`receiver.method(*args, **kwargs)` called for its effect; the receiver as it is afterwards."""
    return call_updating_with_result(receiver, method, *args, **kwargs)[1]


def call_updating_with_result(receiver, method, *args, **kwargs):
    """`(receiver.method(*args, **kwargs), the receiver afterwards)`."""
    return getattr(receiver, method)(*args, **kwargs), receiver


def _updating_rrule(receiver, method, *args, **kwargs):
    """`((result, receiver after), pullback)`: a Python method through its source (its object is a written
    argument), a built-in container's method through the rule of the method itself."""
    function = _python_method(receiver, method)
    if function is not None:
        outputs, pullback = reverse_call(function, (receiver,) + args, kwargs, (0,))
        return outputs, receiver_first(pullback, f"{method}_pullback")
    static = inspect.getattr_static(type(receiver), method, None)
    rule = lookup(static)
    if rule is None or rule.rrule is None:
        raise error_at_call_site(
            UnsupportedSyntaxError, f"sourcediff cannot differentiate {type(receiver).__name__}.{method} changing its object",
            "Compute the new value and assign it instead (for example sorted(v) instead of v.sort()).")
    (result, after), pullback = rule.rrule(receiver, *args, **kwargs)
    return (result, after), receiver_first(pullback, f"{method}_pullback")


# Methods of lists and dicts whose rules only move items (or choose them by comparisons): their pullbacks are
# linear and hold no primal value that a tangent moves (see `calls._linear_rule_pushed`)
_MOVING_ITEMS = {list: frozenset(["append", "extend", "insert", "pop", "clear", "reverse", "remove", "sort"]),
                 dict: frozenset(["update", "setdefault", "pop", "popitem", "clear"])}


def moves_items(receiver, method, *args, **kwargs):
    """Whether `receiver.method(...)` is a list's or dict's method that only moves items."""
    return method in _MOVING_ITEMS.get(type(receiver), ()) and not (method == "sort" and kwargs.get("key") is not None)


@register_rrule(call_updating_with_result, updates=True)
def _call_updating_with_result_rrule(receiver, method, *args, **kwargs):
    outputs, pullback = _updating_rrule(receiver, method, *args, **kwargs)

    def call_updating_pullback(outputs_bar):
        parts = pullback(outputs_bar)
        return (NO_FIELDS, parts[0], ZERO) + tuple(parts[1:])

    if moves_items(receiver, method, *args, **kwargs):
        call_updating_pullback.adjoint_of = call_updating_with_result
    return outputs, call_updating_pullback


_call_updating_with_result_rrule.rrule_of, _call_updating_with_result_rrule.linear_when = call_updating_with_result, moves_items


def _updating_frule(receiver, method, *args, **kwargs):
    """`((result, receiver after), pushforward)` for a built-in container's method changing it (forward mode)."""
    static = inspect.getattr_static(type(receiver), method, None)
    rule = lookup(static) if _python_method(receiver, method) is None else None
    if rule is None or rule.frule is None:
        raise error_at_call_site(
            UnsupportedSyntaxError, f"forward mode cannot differentiate {type(receiver).__name__}.{method} changing its "
            "object yet", "Compute the new value and assign it instead, or use reverse mode.")
    return rule.frule(receiver, *args, **kwargs)


@register_frule(call_updating_with_result)
def _call_updating_with_result_frule(receiver, method, *args, **kwargs):
    outputs, pushforward = _updating_frule(receiver, method, *args, **kwargs)

    def call_updating_pushforward(self_dot, receiver_dot, method_dot, *argument_dots):
        return pushforward(NO_FIELDS, receiver_dot, *argument_dots)

    return outputs, call_updating_pushforward


@register_frule(call_updating)
def _call_updating_frule(receiver, method, *args, **kwargs):
    (_, after), pushforward = _updating_frule(receiver, method, *args, **kwargs)

    def call_updating_pushforward(self_dot, receiver_dot, method_dot, *argument_dots):
        return pushforward(NO_FIELDS, receiver_dot, *argument_dots)[1]

    return after, call_updating_pushforward


@register_rrule(call_updating, updates=True)
def _call_updating_rrule(receiver, method, *args, **kwargs):
    (_, after), pullback = _updating_rrule(receiver, method, *args, **kwargs)

    def call_updating_pullback(after_bar):
        parts = pullback((ZERO, after_bar))
        return (NO_FIELDS, parts[0], ZERO) + tuple(parts[1:])

    if moves_items(receiver, method, *args, **kwargs):
        call_updating_pullback.adjoint_of = call_updating
    return after, call_updating_pullback


_call_updating_rrule.rrule_of, _call_updating_rrule.linear_when = call_updating, moves_items


def call_writing(function, positions, *args, **kwargs):
    """`function(*args, **kwargs)` for a function that writes into the arguments at `positions` (ints or
    keywords): `(its value, the new values of those arguments)`. They are copied first, so that nothing
    else holding them sees the change; the caller rebinds its names."""
    args, kwargs = list(args), dict(kwargs)
    for position in positions:
        if isinstance(position, int):
            args[position] = own(args[position])
        else:
            kwargs[position] = own(kwargs[position])
    result = function(*args, **kwargs)
    return (result,) + tuple(args[p] if isinstance(p, int) else kwargs[p] for p in positions)


@register_rrule(call_writing, updates=True)
def _call_writing_rrule(function, positions, *args, **kwargs):
    outputs, pullback = reverse_call(function, args, kwargs, tuple(positions))

    def call_writing_pullback(outputs_bar):
        parts = pullback(tuple(ZERO for _ in outputs) if is_zero(outputs_bar) else tuple(outputs_bar))
        return (NO_FIELDS, parts[0], ZERO) + tuple(parts[1:])

    return outputs, call_writing_pullback


def call_spread(function, arguments, spread, keywords, extra_keywords):
    """`function(*flattened arguments, **keywords, **extra_keywords)` where `spread[i]` marks `*arguments[i]`.

    The pullback returns (∂self, one cotangent per entry of `arguments`, one per keyword, a dict for
    `extra_keywords`).
    """
    flat = []
    for value, is_spread in zip(arguments, spread):
        if is_spread:
            flat.extend(value)
        else:
            flat.append(value)
    extra = dict(extra_keywords or {})
    y, pullback = call(function, *flat, **keywords, **extra)

    def spread_call_pullback(y_bar):
        parts = pullback(y_bar)
        result, position = [parts[0]], 1
        for value, is_spread in zip(arguments, spread):
            if is_spread:
                count = len(value)
                result.append(regroup(value, list(parts[position: position + count])))
                position += count
            else:
                result.append(parts[position])
                position += 1
        result.extend(parts[position: position + len(keywords)])
        result.append(dict(zip(extra, parts[position + len(keywords):])))
        return tuple(result)

    return y, spread_call_pullback


@register_rrule(map, samples=[Sample((np.sin, [0.5, 1.5])), Sample((operator.mul, [0.5, 1.0], (2.0, -1.0, 3.0)))])
def map_rrule(function, *iterables):
    """`map` differentiated item by item; its value is a list (iterating it behaves the same)."""
    rows, results, pullbacks = list(zip(*iterables)), [], []
    for items in rows:
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
        return (NO_FIELDS, function_bar) + tuple(regroup(it, bars, [row[k] for row in rows], "map")
                                                 for k, (it, bars) in enumerate(zip(iterables, item_bars)))

    return results, map_pullback


@register_frule(map)
def map_frule(function, *iterables):
    """Forward mode of `map` through the mapped function's own frule."""
    applied = [frule(function, *items) for items in zip(*iterables)]
    if any(result is None for result in applied):
        raise RuleError(f"forward mode of map needs an frule for {getattr(function, '__name__', function)!r}")

    def map_pushforward(self_dot, function_dot, *iterable_dots):
        columns = [item_tangents(it, d, len(applied)) for it, d in zip(iterables, iterable_dots)]
        return [pushforward(NO_FIELDS, *dots) for (_, pushforward), dots in zip(applied, zip(*columns))]

    return [y for y, _ in applied], map_pushforward


_container_getitem = lookup(operator.getitem).rrule


@register_rrule(operator.getitem)
def _getitem_rrule(container, index):
    """`container[index]`: built-in containers and arrays by the indexing rule, anything else through its
    type's `__getitem__` (a rule, or its Python source)."""
    if isinstance(container, (np.ndarray, np.generic, list, tuple, dict, str, bytes, range)):
        return _container_getitem(container, index)
    y, pullback = call(type(container).__getitem__, container, index)

    def getitem_pullback(y_bar):
        return (NO_FIELDS,) + tuple(pullback(y_bar)[1:])

    return y, getitem_pullback
