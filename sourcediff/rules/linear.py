"""Helpers shared by the rule tables, above all `linear_rule`: both modes of a linear function at once.

A linear function maps tangents the way it maps values, so its pushforward is the function itself
applied to the tangent; its pullback is its adjoint (transpose), which is all a table row supplies.
`seeded_pullback` gives a pullback the `Zero()` and `Thunk` handling every pullback needs,
`project_tree` projects through containers, and `draw` makes sample arrays.
"""
import functools

import numpy as np

from .. import batch as batches
from .differentials import NO_FIELDS, ZERO, extern, is_zero
from .projection import project
from .registry import register_frule, register_rrule


def draw(shape, seed=0, dtype=np.float64):
    """A standard-normal sample array (complex parts drawn separately for complex `dtype`)."""
    rng = np.random.default_rng(seed)
    value = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        value = value + 1j * rng.standard_normal(shape)
    return value.astype(dtype)


def seeded_pullback(arity):
    """Decorator for the pullback of a function of `arity` positional arguments.

    A `Zero()` seed gives `(NO_FIELDS, ZERO, ...)` without running the pullback; any other seed
    reaches it externed (a `Thunk` evaluated, containers entry by entry).
    """

    def decorate(pullback):
        @functools.wraps(pullback)
        def seeded(y_bar):
            if is_zero(y_bar):
                return (NO_FIELDS,) + (ZERO,) * arity
            return pullback(extern(y_bar))

        return seeded

    return decorate


def project_tree(primal, cotangent):
    """`project` entry by entry through lists, tuples and dicts, whose cotangents mirror them."""
    if isinstance(primal, (list, tuple)) and not hasattr(primal, "_fields") and isinstance(cotangent, (list, tuple)):
        return type(primal)(project_tree(p, c) for p, c in zip(primal, cotangent))
    if isinstance(primal, dict) and isinstance(cotangent, dict):
        return {key: project_tree(primal[key], c) for key, c in cotangent.items()}
    return project(primal, cotangent)


def _carries_derivative(value):
    """False for integer, boolean and other non-float NumPy results, which have no derivative."""
    return not isinstance(value, (np.ndarray, np.generic)) or value.dtype.kind in "fc"


def _all_zero(tangent):
    if isinstance(tangent, (list, tuple)):
        return all(_all_zero(t) for t in tangent)
    return is_zero(tangent)


def _dense(primal, tangent):
    """`tangent` with its `Zero()` entries replaced by zeros shaped like the matching primal entries."""
    tangent = extern(tangent)
    if isinstance(primal, (list, tuple)):
        entries = [ZERO] * len(primal) if is_zero(tangent) else tangent
        return type(primal)(_dense(p, t) for p, t in zip(primal, entries))
    if is_zero(tangent):
        return np.zeros_like(primal, dtype=np.result_type(primal, 0.0))
    return np.asarray(tangent) if isinstance(primal, np.ndarray) and type(tangent) is not batches.Batch else tangent


def linear_rule(f, adjoint, *, samples, apply=None, batch=None, batch_adjoint=True):
    """Register both modes of `f`, a function linear in its first positional argument.

    The other arguments (shapes, axes, indices) are not differentiated: they get `ZERO`
    cotangents and their tangents are ignored. The pullback is
    `project(x, adjoint(ȳ, x, *args, **kwargs))`: `adjoint` is the transpose of `f` and takes the
    arguments of `f` after the seed. The pushforward applies `f` itself to the tangent of `x` (a
    linear function maps tangents the way it maps values), with the `Zero()` entries of a
    container tangent filled in; `apply(ẋ, *args, **kwargs)` replaces `f` there where the
    tangent needs other handling (it then receives `ẋ` as it is). The pushforward takes batches of tangents
    (`register_frule`) unless `batch` is false, the pullback batches of cotangents unless `batch_adjoint` is
    false too; a method of `np.ndarray` takes neither.
    """
    name = getattr(f, "__name__", "linear")
    batch = batch is not False and not isinstance(f, type(np.ndarray.dot))

    @register_rrule(f, samples=samples, batch=batch and batch_adjoint)
    def linear_rrule(x, *args, **kwargs):
        y = f(x, *args, **kwargs)

        @seeded_pullback(1 + len(args))
        def linear_pullback(y_bar):
            x_bar = project_tree(x, adjoint(y_bar, x, *args, **kwargs)) if _carries_derivative(y) else ZERO
            return (NO_FIELDS, x_bar) + (ZERO,) * len(args)

        linear_pullback.__name__ = linear_pullback.__qualname__ = f"{name}_pullback"
        linear_pullback.adjoint_of = f  # (no primal value in it: see `calls.forward_call`)
        return y, linear_pullback

    linear_rrule.rrule_of = f

    @register_frule(f, batch=batch)
    def linear_frule(x, *args, **kwargs):
        y = f(x, *args, **kwargs)

        def linear_pushforward(self_dot, x_dot, *arg_dots):
            x_dot = extern(x_dot)
            if _all_zero(x_dot) or not _carries_derivative(y):
                return ZERO
            if apply is not None:
                return apply(x_dot, *args, **kwargs)
            return f(_dense(x, x_dot), *args, **kwargs)

        linear_pushforward.__name__ = linear_pushforward.__qualname__ = f"{name}_pushforward"
        return y, linear_pushforward



def jointly_linear_rule(f, positions, adjoint, *, samples, pure=None, updates=False, batch=False):
    """Register both modes of `f`, a function linear in its arguments at `positions` taken together (the
    others are shapes, keys or primals it reads): the pushforward is `f` itself with those arguments'
    tangents, the pullback `(NO_FIELDS, *adjoint(ȳ, *args))`, one cotangent per argument (`ZERO` for the
    others). The runtime's helpers for pullback code are such functions: their rules let forward (and
    reverse) mode differentiate generated pullbacks again. `pure` computes `f` without changing an argument
    in place, where `f` itself may (the rules never write into what they are given; `updates` declares
    that `f` does, so the code calling it makes that argument its own first). `batch` declares that `f` (or
    `pure`) computes on batches of tangents (see `register_frule`)."""
    name = getattr(f, "__name__", "linear")
    compute = pure or f

    @register_rrule(f, samples=samples, updates=updates)
    def jointly_linear_rrule(*args, **kwargs):
        y = compute(*args, **kwargs)

        @seeded_pullback(len(args))
        def jointly_linear_pullback(y_bar):
            return (NO_FIELDS,) + tuple(adjoint(y_bar, *args, **kwargs))

        jointly_linear_pullback.__name__ = f"{name}_pullback"
        return y, jointly_linear_pullback

    @register_frule(f, batch=batch)
    def jointly_linear_frule(*args, **kwargs):
        y = compute(*args, **kwargs)

        def jointly_linear_pushforward(self_dot, *arg_dots):
            tangents = [extern(arg_dots[p]) if p < len(arg_dots) else ZERO for p in positions]
            if all(_all_zero(t) for t in tangents):
                return ZERO
            called = list(args)
            for position, tangent in zip(positions, tangents):
                called[position] = tangent
            return compute(*called, **kwargs)

        jointly_linear_pushforward.__name__ = f"{name}_pushforward"
        return y, jointly_linear_pushforward

    return f
