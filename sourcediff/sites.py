"""Forward over reverse through a reverse rule that generated code calls: the call, re-derived at its run-time kinds.

A pullback that calls a rule's own pullback (`mul_pullback(ȳ)`, made where the kinds of `a * b` were unknown
when the code was generated) cannot be pushed forward as it is: the pullback is a closure over primal values,
and its tangent needs the rule's second derivative. But when forward over reverse reaches the rule's call, the
arguments are at hand: a float64 array times a float64 array is a product whose reverse rule the transformer
inlines. So the call becomes a *site*: a one-line Python function of the call's variable arguments (its
constant ones — ints, strings, tuples of them, None — written in as literals, as the transformer needs them),

    def mul(a, b):
        return a * b

differentiated as any user function is (reverse mode at the arguments' kinds, then forward mode over that), and
its pullback takes the place of the rule's. A site's lines are the user's line of the call, so what goes wrong in
it is reported there. A site whose derivative again calls a rule's own pullback is refused: the kinds did not help.
"""
import ast
import builtins
import contextvars
import operator

import numpy as np

from . import runtime
from .errors import UnsupportedSyntaxError, display_name
from .rules.differentials import NO_FIELDS, ZERO
from .rules.operators import INPLACE
from .rules.registry import RULES, version
from .transform.source import Origin

_BINARY = {operator.add: "+", operator.sub: "-", operator.mul: "*", operator.truediv: "/", operator.floordiv: "//",
           operator.mod: "%", operator.pow: "**", operator.matmul: "@"}
_UNARY = {operator.neg: "-", operator.pos: "+"}

# methods of arrays that are the NumPy function of the same name with the array first (the transformer inlines
# the functions' rules); those in _PACKED take a shape or axes as several arguments or one tuple
_AS_FUNCTIONS = frozenset(["sum", "mean", "prod", "max", "min", "std", "var", "cumsum", "cumprod", "dot", "ravel",
                           "squeeze", "trace", "diagonal", "conj", "conjugate", "clip", "repeat", "take", "reshape",
                           "transpose", "copy", "swapaxes", "round", "argmax", "argmin", "any", "all", "nonzero"])
_PACKED = frozenset(["reshape", "transpose"])

_INSIDE = contextvars.ContextVar("sourcediff_inside_site", default=False)
_owners = {}  # rrule function -> the function it is the rule of, as of a registry version
_sites = {}  # (what is called, its constant arguments, its keywords, file, line) -> the site function


def owner(rrule):
    """The function whose registered rrule `rrule` is, or None."""
    found = _owners.get(rrule)
    if found is None or found[0] != version():
        rules = list(RULES.values())
        for rule in rules:
            if rule.rrule is not None:
                _owners[rule.rrule] = (version(), rule.function)
        found = _owners.get(rrule, (version(), None))
        _owners[rrule] = found
    return found[1]


def _constant(value):
    """Whether `value` is written into a site as a literal (what the transformer reads as a static argument)."""
    if value is None or type(value) in (bool, int, str):
        return True
    return type(value) is tuple and all(_constant(v) for v in value)


def pushed_rule_call(function, args, tangents, kwargs, method=None):
    """`((y, pullback), their tangents)` for the call `function(*args, **kwargs)` of a rule's rrule (or, with
    `method`, `dispatch.call_method(args[0], method, *args[1:], **kwargs)`) pushed forward through its site, or
    None when it has no site (not a rule of sourcediff's, a rule that changes its arguments)."""
    if method is None:
        primal = owner(function)
        if primal is not None and RULES.get(primal).updates:  # `a += b`: the generated code made `a` its own, and
            primal = INPLACE.get(primal)  # rebinds the names that held it, so `a + b` gives what it needs
        if primal is None:
            return None
    else:
        primal = method
    if _INSIDE.get():
        return None
    frame = runtime.calling_user_frame()
    where = (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("<unknown>", 0)
    shape = tuple(repr(a) if _constant(a) else None for a in args)
    key_words = tuple(sorted((k, repr(v)) for k, v in kwargs.items()))
    if not all(_constant(v) for v in kwargs.values()):
        return None
    key = (primal if method is None else ("method", method, type(args[0])), shape, key_words, where)
    site = _sites.get(key)
    if site is None:
        site = _sites[key] = _make_site(primal, method, args, kwargs, where, frame)
    variable = [k for k, a in enumerate(args) if not _constant(a)]
    token = _INSIDE.set(True)
    try:
        from .calls import push_call  # (calls imports this module)
        (y, pullback), (y_dot, pullback_dot) = push_call(site, ZERO, [args[k] for k in variable],
                                                         [tangents[k] for k in variable], {}, {})
    finally:
        _INSIDE.reset(token)
    pullback.arrange = _spread(pullback.arrange, variable, len(args), len(kwargs) if method is not None else None)
    return (y, pullback), (y_dot, pullback_dot)


def _spread(arrange, variable, count, keyword_count):
    """The site's cotangents `(∂site, ∂variable args...)` as the rule's `(NO_FIELDS, ∂args...)`, or with a
    `keyword_count` as `dispatch.call_method`'s `(∂receiver, ∂args..., ∂kwarg values...)`."""

    def spread(cotangents):
        arranged = arrange(cotangents)
        result = [ZERO] * count
        for position, cotangent in zip(variable, arranged[1:]):
            result[position] = cotangent
        if keyword_count is not None:
            return tuple(result) + (ZERO,) * keyword_count
        return (NO_FIELDS,) + tuple(result)

    return spread


def _make_site(primal, method, args, kwargs, where, frame):
    """The site function of a call: named after the user's function, so that errors inside it name that."""
    names = [f"a{k}" if not _constant(a) else None for k, a in enumerate(args)]
    operands = [n if n is not None else repr(a) for n, a in zip(names, args)]
    keywords = [f"{k}={v!r}" for k, v in kwargs.items()]
    if method in _PACKED and type(args[0]) is np.ndarray and len(args) > 2:  # a.reshape(2, 3): np.reshape(a, (2, 3))
        expression = f"np.{method}({operands[0]}, ({', '.join(operands[1:])}), {', '.join(keywords)})"
    elif method in _AS_FUNCTIONS and type(args[0]) is np.ndarray:
        expression = f"np.{method}({', '.join(operands + keywords)})"
    elif method is not None:
        expression = f"{operands[0]}.{method}({', '.join(operands[1:] + keywords)})"
    elif primal in _BINARY and len(args) == 2 and not kwargs:
        expression = f"{operands[0]} {_BINARY[primal]} {operands[1]}"
    elif primal in _UNARY and len(args) == 1 and not kwargs:
        expression = f"{_UNARY[primal]}{operands[0]}"
    elif primal is operator.getitem and len(args) == 2 and not kwargs:
        expression = f"{operands[0]}[{operands[1]}]"
    else:
        expression = f"function({', '.join(operands + keywords)})"
    user = runtime.user_function_name(frame.f_code.co_name) if frame is not None else "site"
    name = user if user.isidentifier() and user not in ("function", "np") else "site"
    filename, line = where
    text = f"def {name}({', '.join(n for n in names if n is not None)}):\n    return {expression}\n"
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            node.lineno = node.end_lineno = line
    namespace = {"__name__": "sourcediff_site", "__builtins__": builtins, "function": primal, "np": np}
    exec(compile(tree, filename, "exec"), namespace)
    site = namespace[name]
    runtime.GENERATED_CODE[site.__code__] = (tree.body[0], Origin(user, filename, line))
    return site


def refused(function):
    """The error for a rule's pullback that forward over reverse cannot push (no site, or one that did not help)."""
    return runtime.error_at_call_site(
        UnsupportedSyntaxError, f"forward mode does not differentiate {display_name(function)}, a part of sourcediff "
        "(forward over reverse reaches the operations whose reverse rules the generated pullback inlines, the calls "
        "of rules whose arguments are float64 arrays or Python floats, and calls of Python functions)",
        "Pass float64 arrays or Python floats, so the reverse rules are inlined; sd.jacobian(lambda x: "
        "sd.gradient(f, x)[0], x) computes the same second derivatives in reverse mode alone.")

