"""The rule registry: one plain dict from a function to its `Rule`.

Registration stands next to the rule it registers. Every rule in sourcediff's own tables carries
sample inputs (its domain), so that one test can check every rule, both modes, against finite
differences.

    >>> import math
    >>> y, sin_pullback = rrule(math.sin, 0.0)
    >>> sin_pullback(1.0)
    (NO_FIELDS, 1.0)
"""
import dataclasses
import inspect
import threading

import numpy as np

from .differentials import NO_FIELDS, ZERO, Thunk, extern, is_zero
from .projection import project


@dataclasses.dataclass
class Rule:
    """What sourcediff knows about one function."""

    function: object
    rrule: object = None
    frule: object = None
    samples: object = None
    partials: tuple = None
    differentiable: bool = True
    fresh: bool = False
    functional: object = None
    inactive_arguments: tuple = ()
    updates: bool = False
    specialisations: tuple = ()
    batch: bool = False  # the frule's pushforward takes `sourcediff.batch.Batch` tangents (see `register_frule`)
    batch_pullback: bool = False  # the rrule's pullback takes batches of cotangents (see `register_rrule`)

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)
        _version[0] += 1  # every change of a rule is a new version (cached derivatives re-check their rules)


ANY_ARRAY = "any array"
REQUIRED = "required"  # a keyword a specialisation's call must pass
NOT_STATIC = "not static"  # the value of a keyword argument the transformer cannot read from the source


@dataclasses.dataclass(frozen=True)
class Specialisation:
    """An rrule for float64 arguments of the given ndims (an int, or `ANY_ARRAY` for any ndim ≥ 1).

    Its pullback's cotangents are expressions of the arguments, the output and `y_bar` only, which also
    hold for `Zero()` and `Thunk` cotangents, so the transformer pastes them into the generated code.
    `keywords` are `(name, default)` pairs, the rrule's keyword-only parameters: keyword arguments the call
    may pass (a `REQUIRED` one must), each a constant in the source (an int, a tuple of ints, a bool or
    None). `ndim` is the ndim of the result: an int, or a function of the arguments' ndims and the
    keywords' values (None when unknown).
    """

    ndims: tuple
    rrule: object
    samples: object = None
    keywords: tuple = ()
    ndim: object = None

    def matches(self, ndims, keywords=None):
        """Whether a call with arguments of `ndims` and keyword arguments `{name: constant value}` (`NOT_STATIC`
        where the value is not a constant) is one this specialisation serves."""
        keywords = keywords or {}
        declared = dict(self.keywords)
        if any(name not in declared or value is NOT_STATIC for name, value in keywords.items()):
            return False
        if any(default is REQUIRED and name not in keywords for name, default in self.keywords):
            return False
        return len(ndims) == len(self.ndims) and all(
            n == wanted or (wanted == ANY_ARRAY and isinstance(n, int) and n >= 1) for n, wanted in zip(ndims, self.ndims))

    def keyword_values(self, keywords):
        """The value of every declared keyword for a call passing `keywords` (the defaults for the others)."""
        return {name: keywords.get(name, default) for name, default in self.keywords}

    def result_ndim(self, ndims, keywords=None):
        if callable(self.ndim):
            return self.ndim(ndims, self.keyword_values(keywords or {}))
        return self.ndim


class _Rules(dict):
    """The registry's dict: adding, replacing or removing an entry changes the version."""

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        _version[0] += 1

    def __delitem__(self, key):
        super().__delitem__(key)
        _version[0] += 1

    def pop(self, *args):
        _version[0] += 1
        return super().pop(*args)


RULES = _Rules()
_lock = threading.Lock()
_version = [0]


def version():
    """A number that changes whenever a rule is registered; caches of derivatives compare it."""
    return _version[0]


def lookup(f):
    """The `Rule` registered for `f`, or None."""
    try:
        return RULES.get(f)
    except TypeError:
        return None


def _update(f, **changes):
    """Set fields of the rule of `f` (made if absent), then change the version, so no build sees half a rule."""
    with _lock:
        rule = RULES.get(f)
        if rule is None:
            rule = RULES[f] = Rule(f)
        for name, value in changes.items():
            setattr(rule, name, value)
        _version[0] += 1
        return rule


def _registrar(f, mode, samples, inactive_arguments=None, updates=False, batch=False):
    def register(rule_function):
        changes = {mode: rule_function, "differentiable": True, "batch" if mode == "frule" else "batch_pullback": batch}
        if updates:
            changes["updates"] = True
        if samples is not None:
            changes["samples"] = samples
        if inactive_arguments is not None:
            changes["inactive_arguments"] = tuple(inactive_arguments)
        _update(f, **changes)
        return rule_function

    return register


def register_rrule(f, *, samples=None, inactive_arguments=None, updates=False, ndims=None, ndim=None, batch=False):
    """Decorator registering `rule(*args, **kwargs) -> (y, pullback)` as the rrule of `f`.

    `pullback(y_bar)` returns `(∂self, ∂arg1, ...)`: one entry per positional argument, after the
    differential of the function's own fields (`NO_FIELDS` for a plain function).
    `inactive_arguments` lists positions that never carry a derivative (the transformer then
    generates no derivative code for what flows into them). `updates` marks a rule that changes
    an argument in place (the generated code has made that argument its own first), such as the
    rule of `operator.iadd` or of `list.append`.

    With `ndims`, the rule is a `Specialisation` for float64 arguments of those ndims, kept beside
    the general rrule (which still serves every other call): its pullback must be the single statement
    `return NO_FIELDS, <one cotangent expression per positional argument>`. Its keyword-only
    parameters are the keywords a call may pass (those without a default must be passed), and `ndim`
    is the ndim of the result (see `Specialisation`). `batch=True` declares that the pullback also takes a
    batch of cotangents (`sourcediff.batch.Batch`, which `sd.jacobian` pulls back in one run), as
    `register_frule`'s `batch` does for pushforwards.
    """
    if ndims is not None:
        def specialise(rule_function):
            rule = lookup(f)
            existing = rule.specialisations if rule is not None else ()
            keywords = tuple((p.name, REQUIRED if p.default is p.empty else p.default)
                             for p in inspect.signature(rule_function).parameters.values() if p.kind is p.KEYWORD_ONLY)
            made = Specialisation(tuple(ndims), rule_function, samples, keywords, ndim)
            _update(f, specialisations=existing + (made,))
            return rule_function

        return specialise
    return _registrar(f, "rrule", samples, inactive_arguments, updates, batch)


def register_frule(f, *, samples=None, batch=False):
    """Decorator registering `rule(*args, **kwargs) -> (y, pushforward)` as the frule of `f`.

    `pushforward(Δself, Δarg1, ...)` returns the differential of the output. With `batch=True` the
    pushforward also takes a batch of tangents (`sourcediff.batch.Batch`, which `sd.jacobian` and
    `sd.hessian` push in one run) and returns theirs: declare it only for pushforwards that use NumPy
    operations on the tangents and never their type (`isinstance`, `np.asarray`); without it, batched
    code calls the pushforward once per tangent.
    """
    return _registrar(f, "frule", samples, batch=batch)


def rrule(f, *args, **kwargs):
    """`(f(*args, **kwargs), pullback)` from the registered rule of `f`, or None if it has none."""
    rule = lookup(f)
    if rule is None or rule.rrule is None:
        return None
    return rule.rrule(*args, **kwargs)


def frule(f, *args, **kwargs):
    """`(f(*args, **kwargs), pushforward)` from the registered rule of `f`, or None if it has none."""
    rule = lookup(f)
    if rule is None or rule.frule is None:
        return None
    return rule.frule(*args, **kwargs)


def conj(value):
    """Complex conjugate, leaving real values (and their types) alone."""
    if isinstance(value, complex) or np.iscomplexobj(value):
        return np.conj(value)
    return value


def non_differentiable(*functions):
    """Declare functions whose outputs carry no derivative (`argmax`, `len`, comparisons, ...)."""
    for f in functions:
        name = getattr(f, "__name__", "function")

        def nondifferentiable_rrule(*args, _f=f, **kwargs):
            def no_pullback(y_bar):
                return (NO_FIELDS,) + (ZERO,) * len(args)

            no_pullback.__name__ = f"{name}_pullback"
            return _f(*args, **kwargs), no_pullback

        def nondifferentiable_frule(*args, _f=f, **kwargs):
            def no_pushforward(self_dot, *arg_dots):
                return ZERO

            no_pushforward.__name__ = f"{name}_pushforward"
            return _f(*args, **kwargs), no_pushforward

        _update(f, rrule=nondifferentiable_rrule, frule=nondifferentiable_frule, differentiable=False, samples=None,
                partials=None, batch=True, batch_pullback=True)


def scalar_rule(f, *partials, domain=(-2.0, 2.0), samples=None):
    """Register both modes of an elementwise `f` from its partial derivatives.

    `partials[i](*args, y)` is ∂y/∂args[i] at the inputs `args` and output `y`. The reverse rule
    follows the conjugating convention (x̄ = conj(∂y/∂x)·ȳ). `domain` is the interval the sample
    inputs are drawn from (one interval, or one per argument). The transformer inlines the
    partials as expressions for scalar code.

        scalar_rule(math.tanh, lambda x, y: 1 - y**2)
    """
    name = getattr(f, "__name__", "f")
    arity = len(partials)

    def elementwise_rrule(*args):
        y = f(*args)

        def elementwise_pullback(y_bar):
            if is_zero(y_bar):
                return (NO_FIELDS,) + (ZERO,) * arity
            if arity == 1:
                return NO_FIELDS, project(args[0], y_bar * conj(partials[0](*args, y)))
            return (NO_FIELDS,) + tuple(
                Thunk(lambda p=p, a=a: project(a, y_bar * conj(p(*args, y))))
                for p, a in zip(partials, args)
            )

        elementwise_pullback.__name__ = f"{name}_pullback"
        return y, elementwise_pullback

    def elementwise_frule(*args):
        y = f(*args)

        def elementwise_pushforward(self_dot, *arg_dots):
            y_dot = ZERO
            for p, a_dot in zip(partials, arg_dots):
                if not is_zero(a_dot):
                    y_dot = y_dot + p(*args, y) * extern(a_dot)
            if isinstance(y, np.ndarray) and not is_zero(y_dot) and np.shape(y_dot) != y.shape:
                y_dot = np.broadcast_to(y_dot, y.shape).copy()
            return y_dot

        elementwise_pushforward.__name__ = f"{name}_pushforward"
        return y, elementwise_pushforward

    return _update(f, rrule=elementwise_rrule, frule=elementwise_frule, differentiable=True, partials=partials, batch=True, batch_pullback=True,
                   samples=samples if samples is not None else ElementwiseDomain(f, arity, domain))


def fresh(*functions):
    """Declare functions whose results share no mutable object with their arguments (new arrays, numbers).

    The transformer then knows that writing into such a result cannot change anything else.
    """
    for f in functions:
        _update(f, fresh=True)


def mutator(f, writes, functional):
    """Declare `f` as changing its argument `writes` (a position) in place.

    `functional(*args, **kwargs)` computes, without changing anything, what that argument holds
    after the call; the transformer differentiates the call as that computation followed by
    writing the result into the argument (`arg[...] = new`). `functional` is a Python function
    (differentiated through its source) or has rules of its own.
    """
    _update(f, functional=(writes, functional))


@dataclasses.dataclass
class Sample:
    """One set of inputs for testing a rule: `f(*args, **kwargs)`."""

    args: tuple
    kwargs: dict = dataclasses.field(default_factory=dict)


class ElementwiseDomain:
    """Samples for an elementwise rule: scalars, and for NumPy ufuncs arrays with broadcasting."""

    def __init__(self, f, arity, domain):
        self.f, self.arity = f, arity
        self.intervals = [domain] * arity if np.isscalar(domain[0]) else list(domain)

    def __call__(self):
        rng = np.random.default_rng(0)
        draw = lambda interval, shape: rng.uniform(*interval, size=shape)
        samples = [Sample(tuple(float(draw(i, ())) for i in self.intervals))]
        if isinstance(self.f, np.ufunc):
            samples.append(Sample(tuple(draw(i, (3,)) for i in self.intervals)))
            if self.arity == 2:
                samples.append(Sample((draw(self.intervals[0], (2, 3)), float(draw(self.intervals[1], ())))))
                samples.append(Sample((draw(self.intervals[0], (1, 3)), draw(self.intervals[1], (2, 1)))))
        return samples


def samples_of(rule):
    """The `Sample`s of a rule (its `samples` may be a list or a callable making one)."""
    samples = rule.samples() if callable(rule.samples) else rule.samples
    return [s if isinstance(s, Sample) else Sample(tuple(s)) for s in samples or ()]
