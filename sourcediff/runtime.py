"""The helpers that generated derivative code calls.

Generated code names these directly (they are bound when the code is compiled), so each one is
small, fast in the common case, and never mutates a cotangent it did not create. The calls it makes
(`call`, `call_method`, ...) are in `sourcediff.dispatch`.
"""
import copy
import linecache
import sys
import sysconfig
import types

import numpy as np

from .errors import UnsupportedSyntaxError, display_name
from .rules.containers import regroup
from .rules.differentials import NO_FIELDS, ZERO, InplaceableThunk, Tangent, accumulate, extern, is_zero
from .rules import numpy_indexing
from .rules.linear import jointly_linear_rule
from .rules.projection import project, unbroadcast
from .rules.numpy_reductions import all_axes, filled, spread_over
from .rules.registry import Sample, lookup, non_differentiable, register_frule, register_rrule

__all__ = ["ZERO", "accumulate", "project", "add_at_index", "component", "zero_at_index", "attribute_cotangent",
           "own", "rebind", "check_unshared", "unpack", "as_sequence", "checked_output", "restored"]

GENERATED_CODE = {}  # code object of each generated function -> its (gast tree, Origin), so it can be transformed again
GENERATED_STACKS = {}  # code object of a generated function -> the names of the lists it only pushes onto and pops


# Cotangents of containers

def _reference_count(value):
    return sys.getrefcount(value)


def _owned_count():
    """References to an array held by one local variable of the calling frame, as a function it is passed to
    counts them (`accumulate_into` and the others below count in their own frame)."""
    owned = np.zeros(1)
    return _reference_count(owned)


def _own_memory(value):
    """Whether `value` is a writable array that is not a view (called once its reference count said it is unshared)."""
    return type(value) is np.ndarray and value.base is None and value.flags.writeable


# (reference counts are not exact where the interpreter runs without its global lock: no in-place adds there)
_OWNED = -1 if sysconfig.get_config_var("Py_GIL_DISABLED") else _owned_count()


def accumulate_into(current, term):
    """`accumulate(current, term)`, adding in place when `current` is a float array that nothing but the calling
    pullback's variable refers to (so no one else can see it change): no new array per accumulation."""
    if sys.getrefcount(current) <= _OWNED and _own_memory(current) and current.dtype.kind == "f":
        if type(term) is np.ndarray and current.shape == term.shape and current.dtype == term.dtype:
            current += term
            return current
        if type(term) is InplaceableThunk:
            return term.add_into(current)
    return accumulate(current, term)


def unbroadcast_to(cotangent, primal):
    """The cotangent of an operand of an inlined elementwise operation: `cotangent` summed over the axes along
    which `primal` was broadcast, as `project` does (free when the shapes already agree)."""
    if type(cotangent) is np.ndarray and type(primal) is np.ndarray:
        if cotangent.shape == primal.shape:
            return cotangent
        if cotangent.dtype == primal.dtype:
            summed = unbroadcast(cotangent, primal.shape)
            if summed.shape == primal.shape:
                return summed
    return project(primal, cotangent)


def component(cotangent, key):
    """Entry `key` of a cotangent (of an array, list, tuple, dict, namedtuple or object), zero when absent."""
    if is_zero(cotangent):
        return ZERO
    cotangent = extern(cotangent)
    if isinstance(cotangent, dict):
        return cotangent.get(key, ZERO)
    if isinstance(cotangent, Tangent):
        if isinstance(key, str):
            return getattr(cotangent, key)
        fields = cotangent.primal_type._fields[key]
        return getattr(cotangent, fields) if isinstance(fields, str) else tuple(getattr(cotangent, f) for f in fields)
    return cotangent[key]


def add_at_index(cotangent, primal, index, value):
    """`rules.numpy_indexing.add_at_index`, adding into `cotangent` itself when it is a float array of the primal's
    shape that nothing but the calling pullback's variable refers to (a loop over `x[i]` then costs O(1) per
    element, not a copy of the whole cotangent)."""
    if sys.getrefcount(cotangent) <= _OWNED and _own_memory(cotangent) and type(primal) is np.ndarray and \
            cotangent.dtype == primal.dtype and cotangent.dtype.kind == "f" and cotangent.shape == primal.shape and \
            numpy_indexing.is_basic(index):
        value = extern(value)
        if not is_zero(value):
            cotangent[index] += np.real(value) if np.iscomplexobj(value) else value
        return cotangent
    return numpy_indexing.add_at_index(cotangent, primal, index, value)


def stored_cotangent(container, value, cotangent, key):
    """The cotangent of `value` after `container[key] = value`: its entry's in the container's cotangent, or
    zero where the container (an array of integers or booleans) rounded the value away."""
    if type(container) is np.ndarray and container.dtype.kind not in "fc":
        return ZERO
    return project(value, component(cotangent, key))


def zero_at_index(cotangent, key):
    """The cotangent with its entry `key` zero: the part overwritten by `x[key] = v` (a new object, unless
    nothing but the calling pullback's variable refers to the cotangent)."""
    if sys.getrefcount(cotangent) <= _OWNED and _own_memory(cotangent):
        cotangent[key] = 0
        return cotangent
    if is_zero(cotangent):
        return ZERO
    cotangent = extern(cotangent)
    if isinstance(cotangent, Tangent):
        if not isinstance(key, str):
            fields = cotangent.primal_type._fields[key]
            return cotangent.replace(**{f: ZERO for f in ([fields] if isinstance(fields, str) else fields)})
        return cotangent.replace(**{key: ZERO})
    if isinstance(cotangent, dict):
        result = dict(cotangent)
        result.pop(key, None)
        return result
    if isinstance(cotangent, (list, tuple)):
        result = list(cotangent)
        positions = range(len(result))[key] if isinstance(key, slice) else [key]
        for position in positions:
            result[position] = ZERO
        return type(cotangent)(result)
    result = np.array(cotangent)
    result[key] = 0
    return result


def attribute_cotangent(primal, attribute, value):
    """The cotangent of `primal` given the cotangent `value` of `primal.<attribute>`."""
    if is_zero(value):
        return ZERO
    if isinstance(primal, (np.ndarray, np.generic, complex, float, int)):
        from .rules.numpy_shapes import ARRAY_PROPERTIES

        _, pullback = lookup(ARRAY_PROPERTIES[attribute]).rrule(primal)
        return pullback(value)[1]
    return Tangent(type(primal), **{attribute: value})


# Tangents (forward mode)

def attribute_tangent(primal, attribute, tangent):
    """The tangent of `primal.<attribute>` given the tangent of `primal` (an array's `.T`, `.real`, `.imag` through
    their rules; an object's field)."""
    if is_zero(tangent):
        return ZERO
    if isinstance(primal, (np.ndarray, np.generic, complex, float, int)):
        from .rules.numpy_shapes import ARRAY_PROPERTIES

        _, pushforward = lookup(ARRAY_PROPERTIES[attribute]).frule(primal)
        return pushforward(NO_FIELDS, tangent)
    return component(tangent, attribute)


def closure_tangent(closure, **fields):
    """The tangent of a local closure: one field per captured variable that carries one (∂self)."""
    return Tangent(type(closure), **fields)


def broadcast_tangent(tangent, primal):
    """An operand's tangent term with the shape of the result `primal` it was broadcast into."""
    if type(tangent) is np.ndarray and type(primal) is np.ndarray:  # (the common case, tested first: this runs
        if tangent.shape == primal.shape:                            # after every broadcasting operation)
            return tangent
    elif is_zero(tangent) or np.shape(tangent) == np.shape(primal):
        return tangent
    return np.broadcast_to(tangent, np.broadcast_shapes(np.shape(tangent), np.shape(primal)))


def _tangent_buffer(tangent, primal):
    """A tangent of `primal` that the generated code calling `stored_tangent` may change in place: `tangent` itself
    when nothing but its variable refers to it (one frame more than `_OWNED` counts), else a copy; zeros for a
    zero tangent."""
    if type(primal) is np.ndarray:
        if type(tangent) is np.ndarray and sys.getrefcount(tangent) <= _OWNED + 1 and _own_memory(tangent) and \
                tangent.shape == primal.shape:
            return tangent
        kind = np.result_type(primal.dtype, np.float64) if primal.dtype.kind not in "fc" else primal.dtype
        buffer = np.zeros(primal.shape, kind)
        if not is_zero(tangent):
            buffer[...] = extern(tangent)
        return buffer
    if type(primal) is list:
        return [ZERO] * len(primal) if is_zero(tangent) else list(extern(tangent))
    if type(primal) is dict:
        return {} if is_zero(tangent) else dict(extern(tangent))
    raise error_at_call_site(UnsupportedSyntaxError, f"forward mode cannot write into the tangent of a {type(primal).__name__}",
                             "Write into a local array, list or dict instead.")


def write_tangent_entry(buffer, key, value):
    """`buffer[key] = value` for an array tangent (or a batch of them): zero for a zero, the real part into a real one."""
    value = extern(value)
    buffer[key] = 0 if is_zero(value) else (np.real(value) if buffer.dtype.kind == "f" and np.iscomplexobj(value) else value)


def stored_tangent(tangent, primal, key, value):
    """The tangent of `primal` after `primal[key] = value`, whose tangent is `value` (`primal` is already written)."""
    if type(primal) is np.ndarray and primal.dtype.kind not in "fc":
        return tangent  # an array of integers or booleans rounds the value: no tangent flows in
    buffer = _tangent_buffer(tangent, primal)
    if type(buffer) is np.ndarray:
        write_tangent_entry(buffer, key, value)
    elif type(buffer) is list and isinstance(key, slice):
        entries = range(len(primal))[key]
        buffer[key] = [ZERO] * len(entries) if is_zero(value) else list(extern(value))
    else:
        buffer[key] = value
    return buffer


def attribute_stored(tangent, primal, attribute, value):
    """The tangent of `primal` after `primal.<attribute> = value`."""
    if is_zero(tangent):
        return Tangent(type(primal), **{attribute: value})
    tangent = extern(tangent)
    if isinstance(tangent, Tangent):
        return tangent.replace(**{attribute: value})
    raise error_at_call_site(UnsupportedSyntaxError, f"forward mode cannot write into a tangent of type {type(tangent).__name__}",
                             "Pass a sd.Tangent (or zero) as the tangent of an object the function changes.")


# Saved values in the pullback

def restored(stack):
    """A pullback's own copy of a saved stack without its top, and the top (the name's final value): popping
    the copy undoes one assignment."""
    return stack[:-1], (stack[-1] if stack else None)


# Errors at the line of the user's code

def error_at_call_site(kind, problem, hint):
    """An error pointing at the line of generated code (hence of user code) that made the current call."""
    frame = calling_user_frame()
    where = {}
    if frame is not None:
        code = frame.f_code
        where = dict(function=user_function_name(code.co_name), filename=code.co_filename, line=frame.f_lineno,
                     code=linecache.getline(code.co_filename, frame.f_lineno))
    return kind(problem, **where, hint=hint)


def calling_user_frame():
    """The innermost frame of generated code on the stack (its line is the user's line being run), or None."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code not in GENERATED_CODE:
        frame = frame.f_back
    return frame


def user_function_name(generated_name):
    """The user's function a generated one was made from: `f` of `f_forward`, `f_pullback_pushforward`, ..."""
    parts = generated_name.split("_")
    while len(parts) > 1 and parts[-1] in ("forward", "pullback", "pushforward"):
        parts.pop()
    return "_".join(parts)


# Objects changed in place (the effects pass)

def own(value):
    """A copy of an object about to be changed in place, so whatever else holds it keeps what it saw.

    Arrays, lists, dicts, sets and objects are copied (shallowly); numbers, strings and tuples,
    which cannot change, are returned as they are.
    """
    if isinstance(value, np.ndarray):
        return value.copy(order="K")  # the same memory layout, so that sums add up in the same order
    if isinstance(value, (list, dict, set, bytearray)):
        return copy.copy(value)
    if value is None or isinstance(value, (int, float, complex, str, bytes, tuple, np.generic, types.FunctionType)):
        return value
    return copy.copy(value)


def own_array(value):
    """`own(value)` for an array (a pullback may hold a view of it), anything else as it is."""
    return value.copy(order="K") if isinstance(value, np.ndarray) else value


def own_list(value):
    """`own(value)` for a list (a pullback read its length, which is about to change), anything else as it is."""
    return list(value) if type(value) is list else value


def own_resized(value, index):
    """`own(value)` for a list about to be written at a slice (which may change its length)."""
    return list(value) if type(value) is list and isinstance(index, slice) else value


def _identity_rule(function, samples):
    @register_rrule(function, samples=samples)
    def copy_rrule(value, *options):
        def copy_pullback(y_bar):
            return (NO_FIELDS, y_bar) + (ZERO,) * len(options)

        copy_pullback.__name__ = f"{function.__name__}_pullback"
        copy_pullback.adjoint_of = function  # (no primal value in it: see `calls.forward_call`)
        # an array or list that nothing but the calling code's variable refers to (no pullback, saved value,
        # view or container) is already the caller's own: no copy (a loop writing x[i] is then O(1) per write)
        if sys.getrefcount(value) <= _OWNED and function is not own_resized and (_own_memory(value) or type(value) is list):
            return value, copy_pullback
        return function(value, *options), copy_pullback

    copy_rrule.rrule_of = function

    @register_frule(function)
    def copy_frule(value, *options):
        def copy_pushforward(self_dot, value_dot, *option_dots):
            return value_dot  # (a tangent written into later is copied then, unless its variable alone holds it)

        if sys.getrefcount(value) <= _OWNED and function is not own_resized and (_own_memory(value) or type(value) is list):
            return value, copy_pushforward  # already the caller's own, as in copy_rrule
        return function(value, *options), copy_pushforward


_COPY_SAMPLES = [Sample((np.array([0.5, -1.5]),)), Sample(([1.5, np.array([2.0, -0.5])],)), Sample((0.7,))]
for _copy in (own, own_array, own_list):
    _identity_rule(_copy, _COPY_SAMPLES)
_identity_rule(own_resized, [Sample(([1.5, -0.5],) + (slice(1, None),)), Sample((np.array([0.5, 2.0]), 0))])


def rebind(candidate, before, owner, after):
    """`after` if `candidate` held the object that changed in place (`before`, now `owner`, whose new
    value is `after`), else `candidate`."""
    return after if candidate is before and after is owner else candidate


_SHARED = np.array([0.5, -1.5])


@register_rrule(rebind, inactive_arguments=(1, 2),
                samples=[Sample((np.array([2.0, 1.0]), _SHARED, _SHARED, _SHARED))])
def _rebind_rrule(candidate, before, owner, after):
    rebound = candidate is before and after is owner

    def rebind_pullback(y_bar):
        return (NO_FIELDS, ZERO, ZERO, ZERO, y_bar) if rebound else (NO_FIELDS, y_bar, ZERO, ZERO, ZERO)

    rebind_pullback.adjoint_of = rebind  # (linear: it routes y_bar by identity, see `calls.forward_call`)
    return (after if rebound else candidate), rebind_pullback


_rebind_rrule.rrule_of = rebind


@register_frule(rebind)
def _rebind_frule(candidate, before, owner, after):
    rebound = candidate is before and after is owner

    def rebind_pushforward(self_dot, candidate_dot, before_dot, owner_dot, after_dot):
        return after_dot if rebound else candidate_dot

    return (after if rebound else candidate), rebind_pushforward


TRANSPOSE = type("Transpose", (), {"__repr__": lambda self: "TRANSPOSE"})()


def view_of(base, index):
    """`base[index]`, or `base.T` for the index `TRANSPOSE`."""
    return base.T if index is TRANSPOSE else base[index]


def is_view(view, base, index):
    """Whether the array `view` is exactly `base[index]` (or `base.T`) as a view of `base`'s memory (not a copy)."""
    if not (isinstance(view, np.ndarray) and isinstance(base, np.ndarray)) or not np.may_share_memory(view, base):
        return False
    try:
        expected = view_of(base, index)
    except (IndexError, TypeError, ValueError):
        return False
    return isinstance(expected, np.ndarray) and expected.__array_interface__["data"][0] == view.__array_interface__["data"][0] \
        and expected.shape == view.shape and expected.strides == view.strides and expected.dtype == view.dtype


def linked_bases(*triples):
    """The bases of the views among `(view, base, index)` triples that really are `base[index]` views."""
    return tuple(base for view, base, index in zip(triples[::3], triples[1::3], triples[2::3]) if is_view(view, base, index))


def rebind_view(candidate, before, owner, after, index):
    """A view `candidate = before[index]`, made again from `after` (the array written into, perhaps a copy of
    `before`) if the write changed it in place (`after` is `owner`, the object written into); any other name
    is returned as it is. A view of `before` that is not that one is refused."""
    kind = _view_kind(candidate, before, owner, after, index)
    if kind == "whole":
        return after
    if kind == "view":
        return view_of(after, index)
    return candidate


def _view_kind(candidate, before, owner, after, index):
    """"whole" if `candidate` is the object written, "view" if it is the view `before[index]`, else None,
    for a write that changed `owner` in place (a write that made a new object changes no view)."""
    if after is not owner:
        return None
    if candidate is before:
        return "whole"
    if is_view(candidate, before, index):
        return "view"
    if isinstance(candidate, np.ndarray) and isinstance(before, np.ndarray) and np.shares_memory(candidate, before):
        raise error_at_call_site(UnsupportedSyntaxError, "sourcediff cannot follow this write: a view of the array "
                                 "written into is still in use, and it is not the one it was made as",
                                 "Make the view a copy first (.copy()), or write into the original directly.")
    return None


@register_rrule(rebind_view, inactive_arguments=(1, 2, 4),
                samples=[Sample((np.array([2.0, 1.0]), _SHARED, _SHARED, _SHARED, 0))])
def _rebind_view_rrule(candidate, before, owner, after, index):
    kind = _view_kind(candidate, before, owner, after, index)
    value = rebind_view(candidate, before, owner, after, index)

    def rebind_view_pullback(y_bar):
        if kind == "view" and index is TRANSPOSE:
            return NO_FIELDS, ZERO, ZERO, ZERO, ZERO if is_zero(y_bar) else np.transpose(extern(y_bar)), ZERO
        if kind == "view":
            return NO_FIELDS, ZERO, ZERO, ZERO, add_at_index(ZERO, after, index, y_bar), ZERO
        if kind == "whole":
            return NO_FIELDS, ZERO, ZERO, ZERO, y_bar, ZERO
        return NO_FIELDS, y_bar, ZERO, ZERO, ZERO, ZERO

    rebind_view_pullback.adjoint_of = rebind_view  # (linear, as rebind_pullback)
    return value, rebind_view_pullback


_rebind_view_rrule.rrule_of = rebind_view


@register_frule(rebind_view)
def _rebind_view_frule(candidate, before, owner, after, index):
    kind = _view_kind(candidate, before, owner, after, index)

    def rebind_view_pushforward(self_dot, candidate_dot, before_dot, owner_dot, after_dot, index_dot):
        if kind == "view":
            return np.transpose(after_dot) if index is TRANSPOSE else component(after_dot, index)
        return after_dot if kind == "whole" else candidate_dot

    return rebind_view(candidate, before, owner, after, index), rebind_view_pushforward


def _reaches(holder, target, depth=0):
    """Whether changing `target` in place changes what `holder` holds (it is, contains or views it)."""
    if holder is target:
        return True
    if isinstance(holder, np.ndarray) and isinstance(target, np.ndarray):
        return np.may_share_memory(holder, target) and np.shares_memory(holder, target, max_work=10 ** 6)
    if depth > 8 or holder is None or isinstance(holder, (int, float, complex, str, bytes, np.generic)):
        return False
    if isinstance(holder, (list, tuple, set, frozenset)):
        return any(_reaches(item, target, depth + 1) for item in holder)
    if isinstance(holder, dict):
        return any(_reaches(item, target, depth + 1) for item in holder.values())
    fields = getattr(holder, "__dict__", None)
    if isinstance(fields, dict) and not isinstance(holder, (type, types.ModuleType, types.FunctionType)):
        return any(_reaches(item, target, depth + 1) for item in fields.values())
    return False


def _parts(value, depth=0):
    """The mutable objects inside `value` (its items, entries and attributes, recursively)."""
    children = []
    if isinstance(value, (list, tuple, set, frozenset)):
        children = list(value)
    elif isinstance(value, dict):
        children = list(value.values())
    elif isinstance(getattr(value, "__dict__", None), dict) and not isinstance(value, (type, types.ModuleType, types.FunctionType)):
        children = list(vars(value).values())
    found = []
    for child in children:
        if _mutable(child):
            found.append(child)
            if depth < 8:
                found.extend(_parts(child, depth + 1))
    return found


def _mutable(value):
    return not (value is None or isinstance(value, (int, float, complex, str, bytes, tuple, np.generic, types.FunctionType)))


def check_unshared(before, after, written, advice, updating, names, through, *candidates):
    """Refuse a write into `written` (its object `before`, now `after`) that a live name in `names` (with
    values `candidates`) would see other than as the same object: a view of it, or a container holding it;
    or, when a method or function changed the object (`updating`), something it held that it no longer holds (Python
    would have changed that part in place, sourcediff's derivative changed a copy).

    `through` are the objects `written` is written back into right after (`t = m[0] ... m[0] = t`):
    a candidate that is one of them sees the write through that write-back.
    """
    if before is None or isinstance(before, (int, float, complex, str, bytes, tuple, np.generic)):
        return
    for name, candidate in zip(names, candidates):
        if candidate is after or any(candidate is base for base in through):
            continue
        replaced = updating and after is not before and not isinstance(before, np.ndarray) and \
            any(not _reaches(after, part) for part in _parts(before) if _reaches(candidate, part))
        shown = "the caller's argument" if name.endswith("_caller") else repr(name)
        if replaced:
            raise error_at_call_site(
                UnsupportedSyntaxError, f"sourcediff cannot follow this call changing {written!r}: {shown}, still in use, "
                f"shares an object with {written!r} that the call may have changed in place",
                f"Use {written!r} to reach it after the call instead of {shown}, or have the method assign a new value.")
        if _reaches(candidate, before):
            raise error_at_call_site(
                UnsupportedSyntaxError, f"sourcediff cannot follow this write into {written!r}: {shown}, still in use, "
                f"shares memory with it (a view of it, or a list or object holding it)",
                f"Make a copy first ({advice}), or write into the original directly." if advice else
                f"Make {written!r} a copy first ({written} = {written}.copy()), or write into the original directly.")


def refuse_mutator(function):
    raise error_at_call_site(
        UnsupportedSyntaxError, f"sourcediff can differentiate {display_name(function)} only when the array it writes "
        "into is a local variable", "Assign the array to a local variable first, pass that, and use it afterwards.")


def refuse_shared_write(written):
    raise error_at_call_site(
        UnsupportedSyntaxError, f"sourcediff cannot differentiate this write into {written!r}: the object may be "
        "reached through a global, and an earlier operation still needs its old value",
        f"Work on a copy ({written} = {written}.copy()) or on a local array instead.")


def checked_output(new, out):
    """`new`, checked to fit `out=out` as NumPy's casting rule ('same_kind') requires."""
    if isinstance(out, np.ndarray) and not np.can_cast(np.result_type(new), out.dtype, casting="same_kind"):
        raise TypeError(f"Cannot cast ufunc output from {np.result_type(new)} to {out.dtype} with casting rule 'same_kind'")
    return new


@register_rrule(checked_output, inactive_arguments=(1,), samples=[Sample((np.array([0.5, 2.0]), np.zeros(2)))])
def _checked_output_rrule(new, out):
    def checked_output_pullback(y_bar):
        return NO_FIELDS, y_bar, ZERO

    return checked_output(new, out), checked_output_pullback


@register_frule(checked_output)
def _checked_output_frule(new, out):
    def checked_output_pushforward(self_dot, new_dot, out_dot):
        return new_dot

    return checked_output(new, out), checked_output_pushforward


non_differentiable(check_unshared, refuse_shared_write, refuse_mutator, is_view, linked_bases)


# Sequences

def as_sequence(iterable):
    """Something indexable holding the items a for loop over `iterable` visits."""
    if isinstance(iterable, (list, tuple, np.ndarray, range)):
        return iterable
    return list(iterable)


def unpack(value, count, starred=False):
    """The items of `value` for a tuple assignment with `count` targets, checked as Python checks them."""
    sequence = as_sequence(value)
    length = len(sequence)
    if starred and length < count - 1:
        raise ValueError(f"not enough values to unpack (expected at least {count - 1}, got {length})")
    if not starred and length != count:
        if length > count:
            raise ValueError(f"too many values to unpack (expected {count})")
        raise ValueError(f"not enough values to unpack (expected {count}, got {length})")
    return sequence


def _sequence_rules(function):
    @register_rrule(function, samples=[Sample(([0.5, -1.5, 2.0],) + (() if function is as_sequence else (3,))),
                                       Sample((np.array([[1.0, 2.0], [3.0, 4.0]]),) + (() if function is as_sequence else (2,)))])
    def sequence_rrule(iterable, *options):
        def sequence_pullback(y_bar):
            carried = ZERO if isinstance(iterable, (dict, set)) or is_zero(y_bar) else \
                (y_bar if isinstance(iterable, (list, tuple, np.ndarray, range)) else regroup(list(iterable), list(extern(y_bar))))
            return (NO_FIELDS, carried) + (ZERO,) * len(options)

        sequence_pullback.adjoint_of = function  # (linear, reads only the iterable's structure)
        return function(iterable, *options), sequence_pullback

    sequence_rrule.rrule_of = function

    @register_frule(function, batch=True)
    def sequence_frule(iterable, *options):
        def sequence_pushforward(self_dot, iterable_dot, *option_dots):
            return ZERO if isinstance(iterable, (dict, set)) else iterable_dot

        return function(iterable, *options), sequence_pushforward


_sequence_rules(as_sequence)
_sequence_rules(unpack)


def raised_by(traceback):
    """Whose code raised an exception: its innermost frame outside libraries is "generated" code,
    a "rule" of sourcediff's tables, the rest of "sourcediff", or the "user"'s."""
    package = __name__.rsplit(".", 1)[0]
    last = "user"
    while traceback is not None:
        frame = traceback.tb_frame
        module = frame.f_globals.get("__name__", "")
        if frame.f_code in GENERATED_CODE:
            last = "generated"
        elif module.startswith(package + ".rules"):
            last = "rule"
        elif module == package or module.startswith(package + "."):
            last = "sourcediff"
        elif not _is_library(frame.f_code.co_filename):
            last = "user"
        traceback = traceback.tb_next
    return last


def is_internal(function):
    """Whether `function` is part of sourcediff itself (its helpers and rules are never transformed as user code)."""
    module = getattr(function, "__module__", None) or ""
    return module == __package__ or module.startswith(__package__ + ".")


def _is_library(filename):
    return "site-packages" in filename or filename.startswith(sys.prefix) or filename.startswith(sys.base_prefix) \
        or filename.startswith("<")



# Pullback code differentiated again (forward over reverse, reverse over reverse): the helpers it calls
# are linear in the cotangents they take, and these are their adjoints

def _at(y_bar, like, key):
    """A cotangent shaped like the array `like`, holding `y_bar` at `key` and zeros elsewhere."""
    result = np.zeros(np.shape(like), dtype=np.result_type(like, y_bar, 0.0))
    result[key] = y_bar
    return result


def _spread_over_adjoint(y_bar, x, cotangent, axis, keepdims):
    return ZERO, project(cotangent, np.sum(y_bar, axis=all_axes(x, axis), keepdims=keepdims)), ZERO, ZERO


def _attribute_adjoint(y_bar, primal, attribute, value):
    if isinstance(primal, (np.ndarray, np.generic, complex, float, int)):
        return ZERO, ZERO, project(value, getattr(np.asarray(y_bar), attribute))
    return ZERO, ZERO, component(y_bar, attribute)


def _zero_at_index_copied(cotangent, key):
    """`zero_at_index` on a copy of an array cotangent (never in place)."""
    return zero_at_index(np.array(cotangent) if isinstance(cotangent, np.ndarray) else cotangent, key)


def _samples(*args_lists):
    return [Sample(tuple(args)) for args in args_lists]


_vector, _matrix = np.array([0.5, -1.0, 2.0]), np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
_BATCHED = {accumulate_into, unbroadcast_to, component, filled, spread_over, restored}  # (`sourcediff.batch`)
_PURE = {accumulate_into: accumulate, add_at_index: numpy_indexing.add_at_index, zero_at_index: _zero_at_index_copied}
for _helper, _positions, _adjoint, _helper_samples in (
        (accumulate_into, (0, 1), lambda y_bar, current, term: (y_bar, y_bar), _samples((_vector, _vector * 3))),
        (unbroadcast_to, (0,), lambda y_bar, c, primal: (np.broadcast_to(y_bar, np.shape(c)).copy(), ZERO),
         _samples((_matrix, _vector))),
        (component, (0,), lambda y_bar, c, key: (_at(y_bar, c, key), ZERO), _samples((_vector, 1))),
        (add_at_index, (0, 3), lambda y_bar, c, primal, index, value: (y_bar, ZERO, ZERO, y_bar[index]),
         _samples((_vector, _vector, 2, 1.5))),
        (stored_cotangent, (2,), lambda y_bar, container, value, c, key: (ZERO, ZERO, _at(y_bar, c, key), ZERO),
         _samples((_vector, 1.5, _vector * 2, 0))),
        (zero_at_index, (0,), lambda y_bar, c, key: (_zero_at_index_copied(y_bar, key), ZERO), _samples((_vector, 1))),
        (attribute_cotangent, (2,), _attribute_adjoint, _samples((_matrix, "T", _matrix.T.copy()))),
        (restored, (0,), lambda y_bar, stack: (list(component(y_bar, 0)) + [component(y_bar, 1)],),
         _samples(([0.5, 1.5, -2.0],))),
        (filled, (1,), lambda y_bar, x, value: (ZERO, project(value, np.sum(y_bar))), _samples((_matrix, 1.5))),
        (spread_over, (1,), _spread_over_adjoint, _samples((_matrix, _vector, 0, False), (_matrix, 1.5, None, False)))):
    jointly_linear_rule(_helper, _positions, _adjoint, samples=_helper_samples, pure=_PURE.get(_helper),
                        updates=_helper in _PURE, batch=_helper in _BATCHED)
