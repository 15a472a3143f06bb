"""The helpers that generated derivative code calls.

Generated code names these directly (they are bound when the code is compiled), so each one is
small, fast in the common case, and never mutates a cotangent it did not create.
"""
import copy
import inspect
import linecache
import sys
import types

import numpy as np

from .errors import NoRuleError, UnsupportedSyntaxError
from .rules.differentials import NO_FIELDS, ZERO, Tangent, Thunk, accumulate, extern, is_zero
from .rules.containers import regroup
from .rules.projection import project
from .rules.registry import Sample, lookup, register_frule, register_rrule, rrule

__all__ = ["ZERO", "rrule", "call_spread", "accumulate", "project", "add_at_index", "index_cotangent", "zero_at_index", "attribute_cotangent",
           "component", "pop_cotangent", "copy_for_write", "as_sequence", "call", "call_method", "call_updating"]


def _zeros_like(primal):
    if isinstance(primal, np.ndarray):
        return np.zeros(primal.shape, dtype=primal.dtype if primal.dtype.kind in "fc" else float)
    if isinstance(primal, (list, tuple)):
        return [ZERO] * len(primal)
    if isinstance(primal, dict):
        return {}
    raise TypeError(f"cannot index a cotangent of {type(primal).__name__}")


def add_at_index(cotangent, primal, index, value):
    """The cotangent of `primal` plus `value` at `primal[index]` (a new object; inputs untouched)."""
    if is_zero(value):
        return cotangent
    value = extern(value)
    if isinstance(primal, dict):
        result = dict(cotangent) if isinstance(cotangent, dict) else {}
        result[index] = accumulate(result.get(index), value)
        return result
    if isinstance(primal, tuple) and hasattr(primal, "_fields"):
        fields = primal._fields
        positions = range(*index.indices(len(primal))) if isinstance(index, slice) else [index]
        values = value if isinstance(index, slice) else [value]
        return accumulate(cotangent, Tangent(type(primal), **{fields[p]: v for p, v in zip(positions, values)}))
    if isinstance(primal, (list, tuple)):
        result = list(cotangent) if isinstance(cotangent, (list, tuple)) else [ZERO] * len(primal)
        if isinstance(index, slice):
            for position, item in zip(range(*index.indices(len(primal))), value):
                result[position] = accumulate(result[position], item)
        else:
            result[index] = accumulate(result[index], value)
        return tuple(result) if isinstance(primal, tuple) else result
    primal = np.asarray(primal)
    result = _zeros_like(primal) if is_zero(cotangent) else np.array(extern(cotangent), dtype=_zeros_like(primal).dtype)
    np.add.at(result, index, value)
    return result


def index_cotangent(cotangent, index):
    """`cotangent[index]`, zero where the cotangent is zero or has no entry."""
    if is_zero(cotangent):
        return ZERO
    cotangent = extern(cotangent)
    if isinstance(cotangent, dict):
        return cotangent.get(index, ZERO)
    return cotangent[index]


def zero_at_index(cotangent, primal, index):
    """The cotangent with its entries at `index` set to zero (a new object)."""
    if is_zero(cotangent):
        return ZERO
    cotangent = extern(cotangent)
    if isinstance(cotangent, Tangent):
        return cotangent.replace(**{index: ZERO})
    if isinstance(cotangent, dict):
        result = dict(cotangent)
        result.pop(index, None)
        return result
    if isinstance(cotangent, (list, tuple)):
        result = list(cotangent)
        if isinstance(index, slice):
            for position in range(*index.indices(len(result))):
                result[position] = ZERO
        else:
            result[index] = ZERO
        return type(cotangent)(result)
    result = np.array(cotangent)
    result[index] = 0
    return result


def attribute_cotangent(primal, attribute, value):
    """The cotangent of `primal` given the cotangent `value` of `primal.<attribute>`."""
    if is_zero(value):
        return ZERO
    if isinstance(primal, (np.ndarray, np.generic)):
        from .rules.numpy_shapes import ARRAY_PROPERTIES

        rule = lookup(ARRAY_PROPERTIES[attribute])
        _, pullback = rule.rrule(primal)
        return pullback(value)[1]
    return Tangent(type(primal), **{attribute: value})


def component(cotangent, key):
    """Entry `key` of a structural cotangent (a tuple, list or dict), zero when absent."""
    if is_zero(cotangent):
        return ZERO
    if isinstance(cotangent, Thunk):
        cotangent = cotangent.value()
    if isinstance(cotangent, dict):
        return cotangent.get(key, ZERO)
    if isinstance(cotangent, Tangent):
        return getattr(cotangent, key)
    return cotangent[key]


def pop_cotangent(cotangent):
    """Split the cotangent of a list into (the rest, the cotangent of its last item)."""
    if is_zero(cotangent):
        return ZERO, ZERO
    cotangent = extern(cotangent)
    return list(cotangent[:-1]), cotangent[-1]


def copy_for_write(value):
    """A copy of an array, list or dict about to be written in place, so earlier readers keep theirs."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, dict)):
        return copy.copy(value)
    return value


def as_sequence(iterable):
    """Something indexable holding the items a for loop over `iterable` visits."""
    if isinstance(iterable, (list, tuple, np.ndarray, range)):
        return iterable
    return list(iterable)


def _error_at_call_site(kind, problem, hint):
    """An error pointing at the line of generated code (hence of user code) that made the current call."""
    frame = sys._getframe(1)
    while frame is not None and not frame.f_code.co_name.endswith("_forward"):
        frame = frame.f_back
    where = {}
    if frame is not None:
        code = frame.f_code
        where = dict(function=code.co_name.removesuffix("_forward"), filename=code.co_filename, line=frame.f_lineno,
                     code=linecache.getline(code.co_filename, frame.f_lineno))
    return kind(problem, **where, hint=hint)


def _no_rule(function):
    name = getattr(function, "__qualname__", repr(function))
    return _error_at_call_site(
        NoRuleError, f"{name} has no derivative rule and no Python source to differentiate",
        f"Register a rule for it with @sd.register_rrule({getattr(function, '__name__', 'f')}) "
        "or declare it with sd.non_differentiable.")


def _differentiable_fields(value):
    """The attributes of an object that can carry derivatives (numbers, arrays, containers)."""
    fields = getattr(value, "__dict__", None)
    if not isinstance(fields, dict):
        return {}
    return {k: v for k, v in fields.items()
            if isinstance(v, (float, complex, np.ndarray, list, tuple, dict)) and not isinstance(v, bool)}


def receiver_first(pullback, name):
    """`pullback` without the callee's own ∂self, so the receiver's cotangent comes first."""

    def receiver_first_pullback(y_bar):
        return tuple(pullback(y_bar)[1:])

    receiver_first_pullback.__name__ = name
    return receiver_first_pullback


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
    from .transform.pipeline import reverse_call

    result = reverse_call(function, args, kwargs)
    if result is None:
        raise _no_rule(function)
    return result


def call_updating(receiver, method, *args, **kwargs):
    """`receiver.method(*args, **kwargs)` called for its effect: `(receiver, pullback)`.

    A Python method is differentiated as returning its (possibly changed) object, so the pullback
    takes the cotangent of the object after the call and returns (∂object before, ∂args..., ∂kwargs...).
    """
    from .transform.pipeline import updating_method_call

    static = inspect.getattr_static(type(receiver), method, None)
    if isinstance(static, types.FunctionType) and not isinstance(receiver, type):
        return updating_method_call(static, receiver, args, kwargs)
    getattr(receiver, method)(*args, **kwargs)
    count = len(args) + len(kwargs)

    def unchanged_receiver_pullback(receiver_bar):
        return (receiver_bar,) + (ZERO,) * count

    return receiver, unchanged_receiver_pullback


def call_method(receiver, method, *args, **kwargs):
    """`receiver.method(*args, **kwargs)` with a pullback returning (∂receiver, ∂args..., ∂kwarg values...)."""
    static = inspect.getattr_static(type(receiver), method, None)
    if static is None or isinstance(static, (staticmethod, classmethod)) or isinstance(receiver, (type, types.ModuleType)):
        y, bound_pullback = call(getattr(receiver, method), *args, **kwargs)

        def bound_method_pullback(y_bar):
            return (ZERO,) + tuple(bound_pullback(y_bar)[1:])

        return y, bound_method_pullback
    function = getattr(type(receiver), method)
    before = _differentiable_fields(receiver)
    y, method_pullback = call(function, receiver, *args, **kwargs)
    changed = [name for name, value in _differentiable_fields(receiver).items() if before.get(name) is not value]
    if changed:
        raise _error_at_call_site(
            UnsupportedSyntaxError, f"{type(receiver).__name__}.{method} changes {', '.join(changed)} of its object "
            "and its result is used as well", "Call the method as a statement of its own (its changes are then "
            "differentiated), or return the new state instead of storing it on the object.")

    return y, receiver_first(method_pullback, f"{method}_pullback")


@register_rrule(as_sequence, samples=[Sample(([0.5, -1.5, 2.0],)), Sample((np.array([[1.0, 2.0], [3.0, 4.0]]),))])
def _as_sequence_rrule(iterable):
    def as_sequence_pullback(y_bar):
        return NO_FIELDS, (ZERO if isinstance(iterable, (dict, set)) else y_bar)

    return as_sequence(iterable), as_sequence_pullback


@register_frule(as_sequence)
def _as_sequence_frule(iterable):
    def as_sequence_pushforward(self_dot, iterable_dot):
        return ZERO if isinstance(iterable, (dict, set)) else iterable_dot

    return as_sequence(iterable), as_sequence_pushforward


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
