"""Rules for methods that change a list, dict or array in place (`lst.append(v)`, `d.update(e)`, `a.fill(v)`).

They follow the protocol of updating calls: `rule(obj, *args)` changes `obj` (which the generated
code has made its own) and returns `((result, obj), pullback)`, where `pullback((result_bar, obj_bar))`
gives `(NO_FIELDS, ∂obj before the call, ∂args...)`. A list's cotangent is a list with one entry
per item, a dict's a dict of the keys that carry one. The frules return `((result, obj), pushforward)`,
`pushforward(NO_FIELDS, obj_dot, *arg_dots)` giving `(result_dot, obj_dot after)`: the same change
applied to a copy of the tangent.
"""
import numpy as np

from .differentials import NO_FIELDS, ZERO, accumulate, extern, is_zero
from .containers import regroup
from .registry import register_frule, register_rrule


def _entries(cotangent, length):
    """A list cotangent as a list of `length` entries (zeros where it has none)."""
    if is_zero(cotangent):
        return [ZERO] * length
    return list(extern(cotangent))


def _split(outputs_bar):
    if is_zero(outputs_bar):
        return ZERO, ZERO
    return outputs_bar


def _position(index, length, inserting=False):
    """The index an `insert` or `pop` at `index` acts on, as Python resolves it."""
    if index < 0:
        index += length
    return min(max(index, 0), length) if inserting else index


def _list_update(method, adjoint):
    """Register `list.<method>`: `adjoint(after entries, result_bar, *args)` gives (before entries, arg bars)."""

    @register_rrule(getattr(list, method), updates=True)
    def list_method_rrule(items, *args):
        length = len(items)
        context = dict(length=length)
        if method == "pop":
            context["position"] = _position(args[0] if args else -1, length)
        elif method == "insert":
            context["position"] = _position(args[0], length, inserting=True)
        elif method == "remove":
            context["position"] = items.index(args[0])
        result = getattr(items, method)(*args)
        after_length = len(items)

        def list_method_pullback(outputs_bar):
            result_bar, after_bar = _split(outputs_bar)
            before, argument_bars = adjoint(_entries(after_bar, after_length), result_bar, context, *args)
            return (NO_FIELDS, before) + tuple(argument_bars)

        list_method_pullback.__name__ = f"{method}_pullback"
        return (result, items), list_method_pullback

    @register_frule(getattr(list, method))
    def list_method_frule(items, *args):
        position = items.index(args[0]) if method == "remove" else None
        length = len(items)
        result = getattr(items, method)(*args)
        added = len(items) - length

        def list_method_pushforward(self_dot, items_dot, *argument_dots):
            entries = _entries(items_dot, length)
            if method == "remove":
                del entries[position]
                return ZERO, entries
            dots = list(argument_dots)
            if method == "insert":
                dots[0] = args[0]  # the position, not its tangent
            elif method == "pop":
                dots = list(args)
            elif method == "extend":
                dots = [_entries(dots[0], added)]
            result_dot = getattr(entries, method)(*dots)
            return (ZERO if result_dot is None else result_dot), entries

        list_method_pushforward.__name__ = f"{method}_pushforward"
        return (result, items), list_method_pushforward

    return list_method_rrule


_list_update("append", lambda after, result_bar, context, value: (after[:-1], [after[-1]]))
_list_update("extend", lambda after, result_bar, context, values: (
    after[:context["length"]], [regroup(values, after[context["length"]:]) if isinstance(values, (list, tuple, np.ndarray)) else ZERO]))
_list_update("insert", lambda after, result_bar, context, index, value: (
    after[:context["position"]] + after[context["position"] + 1:], [ZERO, after[context["position"]]]))
_list_update("pop", lambda after, result_bar, context, *index: (
    after[:context["position"]] + [result_bar] + after[context["position"]:], [ZERO] * len(index)))
_list_update("remove", lambda after, result_bar, context, value: (
    after[:context["position"]] + [ZERO] + after[context["position"]:], [ZERO]))
_list_update("reverse", lambda after, result_bar, context: (after[::-1], []))
_list_update("clear", lambda after, result_bar, context: ([ZERO] * context["length"], []))


@register_rrule(dict.update, updates=True)
def _dict_update_rrule(mapping, other=(), **keywords):
    new = dict(other, **keywords)
    mapping.update(new)

    def update_pullback(outputs_bar):
        _, after_bar = _split(outputs_bar)
        after_bar = {} if is_zero(after_bar) else extern(after_bar)
        before = {k: v for k, v in after_bar.items() if k not in new}
        other_bar = {k: after_bar.get(k, ZERO) for k in dict(other)} if isinstance(other, dict) else ZERO
        return (NO_FIELDS, before, other_bar) + tuple(after_bar.get(k, ZERO) for k in keywords)

    return (None, mapping), update_pullback


@register_frule(dict.update)
def _dict_update_frule(mapping, other=(), **keywords):
    new = dict(other, **keywords)
    mapping.update(new)

    def update_pushforward(self_dot, mapping_dot, other_dot=ZERO):
        after = {} if is_zero(mapping_dot) else dict(extern(mapping_dot))
        for key in new:
            after.pop(key, None)
        if isinstance(other, dict) and not is_zero(other_dot):
            after.update({k: v for k, v in extern(other_dot).items() if k in new})
        return ZERO, after

    return (None, mapping), update_pushforward


@register_rrule(dict.setdefault, updates=True)
def _dict_setdefault_rrule(mapping, key, default=None):
    present = key in mapping
    result = mapping.setdefault(key, default)

    def setdefault_pullback(outputs_bar):
        result_bar, after_bar = _split(outputs_bar)
        after_bar = {} if is_zero(after_bar) else dict(extern(after_bar))
        entry = accumulate(after_bar.pop(key, ZERO), result_bar)
        if present:
            after_bar[key] = entry
            return NO_FIELDS, after_bar, ZERO, ZERO
        return NO_FIELDS, after_bar, ZERO, entry

    return (result, mapping), setdefault_pullback


@register_frule(dict.setdefault)
def _dict_setdefault_frule(mapping, key, default=None):
    present = key in mapping
    result = mapping.setdefault(key, default)

    def setdefault_pushforward(self_dot, mapping_dot, key_dot=ZERO, default_dot=ZERO):
        after = {} if is_zero(mapping_dot) else dict(extern(mapping_dot))
        if not present:
            after[key] = default_dot
        return after.get(key, ZERO), after

    return (result, mapping), setdefault_pushforward


@register_rrule(dict.pop, updates=True)
def _dict_pop_rrule(mapping, key, *default):
    present = key in mapping
    result = mapping.pop(key, *default)

    def pop_pullback(outputs_bar):
        result_bar, after_bar = _split(outputs_bar)
        before = {} if is_zero(after_bar) else dict(extern(after_bar))
        if present:
            before[key] = result_bar
            return (NO_FIELDS, before, ZERO) + (ZERO,) * len(default)
        return (NO_FIELDS, before, ZERO) + (result_bar,) * len(default)

    return (result, mapping), pop_pullback


@register_frule(dict.pop)
def _dict_pop_frule(mapping, key, *default):
    present = key in mapping
    result = mapping.pop(key, *default)

    def pop_pushforward(self_dot, mapping_dot, key_dot=ZERO, *default_dots):
        after = {} if is_zero(mapping_dot) else dict(extern(mapping_dot))
        if present:
            return after.pop(key, ZERO), after
        return (default_dots[0] if default_dots else ZERO), after

    return (result, mapping), pop_pushforward


@register_rrule(np.ndarray.fill, updates=True)
def _fill_rrule(array, value):
    array.fill(value)

    def fill_pullback(outputs_bar):
        _, after_bar = _split(outputs_bar)
        value_bar = ZERO if is_zero(after_bar) else np.sum(extern(after_bar))
        if isinstance(value, float):
            value_bar = ZERO if is_zero(value_bar) else float(np.real(value_bar))
        return NO_FIELDS, ZERO, value_bar

    return (None, array), fill_pullback


@register_frule(np.ndarray.fill)
def _fill_frule(array, value):
    array.fill(value)

    def fill_pushforward(self_dot, array_dot, value_dot):
        after = np.zeros(array.shape, np.result_type(array.dtype, np.float64))
        after[...] = 0 if is_zero(value_dot) else extern(value_dot)
        return ZERO, after

    return (None, array), fill_pushforward
