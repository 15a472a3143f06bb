"""The public reverse-mode API: `pullback`, `gradient`, `differentiable`, `source`.

    >>> import math, sourcediff as sd
    >>> def f(x):
    ...     return math.sin(x) * x
    >>> sd.gradient(f, 0.5)  # doctest: +SKIP
    (0.9182...,)
"""
import linecache
import types

import gast

import numpy as np

from . import batch, calls, runtime
from .errors import InternalError, NonScalarOutputError, NoRuleError, SourceDiffError
from .rules.differentials import NO_FIELDS, ZERO, Tangent, extern, is_zero
from .rules.registry import lookup
from .transform import pipeline
from .transform.source import parse_function


ONE64 = np.float64(1.0)


def _name(f):
    return getattr(f, "__qualname__", None) or type(f).__name__


def materialize(primal, cotangent):
    """The user-facing cotangent of `primal`: zeros are spelled out, thunks evaluated."""
    kind = type(cotangent)
    if kind is type(primal) and (kind is float or kind is np.float64 or kind is np.ndarray and primal.dtype.kind in "fc"
                                 and cotangent.flags.writeable):
        return cotangent
    cotangent = extern(cotangent)
    if isinstance(primal, (bool, np.bool_, str, int, np.integer)) or primal is None:
        return None
    if isinstance(primal, (float, complex, np.number)):
        if is_zero(cotangent):
            return type(primal)(0) if isinstance(primal, (np.floating, np.complexfloating, complex)) else 0.0
        return cotangent
    if isinstance(primal, np.ndarray):
        if primal.dtype.kind not in "fciu":
            return None
        if is_zero(cotangent):
            return np.zeros(primal.shape, dtype=primal.dtype if primal.dtype.kind in "fc" else float)
        if isinstance(cotangent, np.ndarray) and not cotangent.flags.writeable:
            return cotangent.copy()  # a broadcast view the pullback made without copying
        return cotangent
    if isinstance(primal, (list, tuple)) and not hasattr(primal, "_fields"):
        entries = [ZERO] * len(primal) if is_zero(cotangent) else list(cotangent)
        return type(primal)(materialize(p, c) for p, c in zip(primal, entries))
    if isinstance(primal, dict):
        entries = {} if is_zero(cotangent) else cotangent
        return {k: materialize(v, entries.get(k, ZERO)) for k, v in primal.items()}
    if is_zero(cotangent):
        return None
    if isinstance(cotangent, Tangent):
        return Tangent(cotangent.primal_type, **{k: materialize(_field(primal, k), v) for k, v in cotangent.fields.items()})
    return cotangent


def _field(primal, name):
    """The value behind entry `name` of a structural tangent: a closure's captured variable, or an attribute."""
    if isinstance(primal, types.FunctionType) and name in primal.__code__.co_freevars:
        return primal.__closure__[primal.__code__.co_freevars.index(name)].cell_contents
    return getattr(primal, name, None)


def _forward(f, args, kwargs):
    """`(y, raw pullback)` for `f(*args, **kwargs)`: its rule, or its transformed source."""
    rule = lookup(f)
    if rule is not None and rule.rrule is not None:
        return batch.batched_rrule(rule.rrule, rule)(*args, **kwargs) if batch.ACTIVE.get() else rule.rrule(*args, **kwargs)
    if type(f) is types.FunctionType:
        return calls.run_top_level(f, args, kwargs)
    result = calls.reverse_call(f, args, kwargs, top_level=True)
    if result is None:
        raise NoRuleError(f"{_name(f)} has no derivative rule and no Python source to differentiate",
                          hint=f"Register a rule for it with @sd.register_rrule({getattr(f, '__name__', 'f')}).")
    return result


def _checked(f, phase, run, *arguments):
    """`run(*arguments)`, one phase of differentiating `f` ("forward" or "pullback"), with its exceptions
    classified by `_internal`."""
    try:
        return run(*arguments)
    except (SourceDiffError, RecursionError):
        raise
    except Exception as error:
        _raise_classified(f, phase, error)


def _raise_classified(f, phase, error):
    internal = _internal(f, phase, error)
    if internal is error:
        raise error
    raise internal from error


def _internal(f, phase, error):
    """The exception to raise for `error` (itself, or an `InternalError`), raised in one phase of differentiating
    `f`: an exception raised by sourcediff's own code (in the pullback: anything but the user's own rules)
    becomes an `InternalError` naming the user's function; the user's own exceptions pass unchanged."""
    origin = runtime.raised_by(error.__traceback__)
    if origin != "sourcediff" and (phase != "pullback" or origin == "user"):
        return error
    code = getattr(f, "__code__", None)
    where = dict(filename=code.co_filename, line=code.co_firstlineno,
                 code=linecache.getline(code.co_filename, code.co_firstlineno)) if code else {}
    return InternalError(f"sourcediff failed in the {phase} pass of {_name(f)}: {type(error).__name__}: {error}",
                         function=_name(f), **where, hint="This is a bug in sourcediff; please report it with this function.")


def pullback(f, *args, **kwargs):
    """`(y, back)`: `y = f(*args, **kwargs)` and `back(y_bar)` gives one cotangent per positional argument.

    Keyword arguments are not differentiated. `back` may be called any number of times. The
    arguments are never changed, even where `f` writes into them.

        >>> y, back = pullback(lambda x, y: x * y, 2.0, 3.0)
        >>> back(1.0)
        (3.0, 2.0)
    """
    y, raw = _checked(f, "forward", _forward, f, args, kwargs)

    def back(y_bar):
        return _materialized(args, _checked(f, "pullback", raw, y_bar))

    back.__name__ = f"{getattr(f, '__name__', 'f')}_pullback"
    return y, back


def _materialized(args, cotangents):
    """The user-facing cotangents of the positional arguments, from a pullback's `(∂self, ∂args...)`."""
    return tuple([materialize(a, c) for a, c in zip(args, cotangents[1: 1 + len(args)])])


def _return_site(f):
    """(file, line, code) of the last `return` of a Python function, or of its `def` line."""
    code = getattr(f, "__code__", None)
    if code is None:
        return {}
    line = code.co_firstlineno
    try:
        node, _ = parse_function(f)
        returns = [n.lineno for n in gast.walk(node) if isinstance(n, gast.Return)]
        line = max(returns, default=line)
    except SourceDiffError:
        pass
    return dict(function=_name(f), filename=code.co_filename, line=line, code=linecache.getline(code.co_filename, line))


def _seed(y, f):
    if type(y) is float:
        return 1.0
    if type(y) is np.float64:
        return ONE64
    if isinstance(y, (bool, np.bool_)) or not isinstance(y, (float, int, np.floating, np.integer, np.ndarray)) or \
            (isinstance(y, np.ndarray) and (y.shape != () or y.dtype.kind not in "fiu")):
        raise NonScalarOutputError(
            f"gradient needs a function returning a real scalar, but {_name(f)} returned "
            f"{type(y).__name__}{' of shape ' + str(y.shape) if isinstance(y, np.ndarray) else ''}",
            **_return_site(f),
            hint="Reduce the output to a scalar (e.g. with np.sum), or use sd.pullback with a cotangent of the output's shape.")
    if isinstance(y, (np.floating, np.ndarray)) and np.asarray(y).dtype.kind == "f":
        return np.asarray(y).dtype.type(1.0)
    return 1.0


def gradient(f, *args, **kwargs):
    """The gradient of a real-scalar-valued `f`: one entry per positional argument.

        >>> gradient(lambda x: x ** 3, 2.0)
        (12.0,)
    """
    phase = "forward"
    try:
        y, raw = _forward(f, args, kwargs)
        seed = _seed(y, f)
        phase = "pullback"
        cotangents = raw(seed)
    except (SourceDiffError, RecursionError):
        raise
    except Exception as error:
        _raise_classified(f, phase, error)
    return _materialized(args, cotangents)


def jvp(f, primals, tangents, **kwargs):
    """`(y, y_dot)`: `y = f(*primals, **kwargs)` and its tangent along `tangents` (one per primal), computed
    by the forward-mode transformation of `f`'s source (or `f`'s frule). Keyword arguments get no tangent.

        >>> jvp(lambda x, y: x * y, (2.0, 3.0), (1.0, 0.0))
        (6.0, 3.0)
    """
    primals, tangents = paired_tangents(primals, tangents, "sd.jvp")
    y, y_dot = _checked(f, "forward", _pushforward, f, primals, tangents, kwargs)
    return y, materialize(y, y_dot)


def paired_tangents(primals, tangents, caller):
    """`(primals, tangents)` as tuples of one tangent per primal, a number 0 for an array or object made `ZERO`."""
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise SourceDiffError(f"{caller} got {len(primals)} primals and {len(tangents)} tangents",
                              hint="Pass one tangent per primal (a zero, such as 0.0, for the ones not to vary).")
    return primals, tuple([ZERO if isinstance(t, (int, float)) and t == 0 and not isinstance(p, (int, float))
                           else t for p, t in zip(primals, tangents)])


def _pushforward(f, primals, tangents, kwargs):
    rule = lookup(f)
    if rule is not None and rule.frule is not None:
        y, pushforward = batch.batched_frule(rule.frule, rule)(*primals, **kwargs) if batch.ACTIVE.get() else \
            rule.frule(*primals, **kwargs)
        return y, pushforward(NO_FIELDS, *tangents)
    function = f.__func__ if isinstance(f, types.MethodType) else f
    if isinstance(f, types.MethodType):
        primals, tangents = (f.__self__,) + primals, (ZERO,) + tangents
    if not isinstance(function, types.FunctionType):
        raise NoRuleError(f"{_name(f)} has no forward rule and no Python source to differentiate",
                          hint=f"Register one with @sd.register_frule({getattr(f, '__name__', 'f')}).")
    entry, outputs, output_tangents = pipeline.run_pushforward(function, primals, kwargs, tangents)
    return (outputs[0], output_tangents[0]) if entry.written else (outputs, output_tangents)


def source(f, mode="reverse", example=None):
    """The generated derivative code of `f`, exactly as it runs.

    Derivatives are specialised on which arguments are Python floats (their arithmetic is inlined):
    pass `example`, a tuple of arguments, to see the code that runs for a call with those arguments.
    `mode="forward"` shows the pushforward code that `sd.jvp` runs.
    """
    if mode not in ("reverse", "forward"):
        raise SourceDiffError(f"mode={mode!r} is not available: sourcediff generates mode='reverse' or mode='forward' code")
    function = _python_function(f, "sd.source")
    kinds = pipeline.input_kinds(function, example) if example is not None else ((), ())
    if mode == "forward":
        return pipeline.forward_derivative(function, *kinds).source
    return pipeline.derivative(function, *kinds, pipeline.captured_constants(function)).source  # (as sd.gradient runs it)


def _python_function(f, caller):
    function = f.__func__ if isinstance(f, types.MethodType) else f
    if not isinstance(function, types.FunctionType):
        raise SourceDiffError(f"{caller} needs a Python function defined in source, got {_name(f)}",
                              hint="Functions without Python source are differentiated through their registered rules.")
    return function


def differentiable(f):
    """Mark `f` as differentiable: its derivative is built now (reporting problems early) and cached.

    Calling `f` still runs the original function.
    """
    pipeline.derivative(_python_function(f, "sd.differentiable"))
    f.__sourcediff__ = True
    return f


refresh = pipeline.refresh
