"""Running the derivative of a Python callable: functions, methods, callable objects and constructors.

`reverse_call(f, args, kwargs, writes)` returns `(outputs, pullback)` for a call of a Python
callable through its transformed source. The outputs are the call's value, followed by the new
values of the arguments at the positions in `writes` (a derivative never changes its arguments
in place; a caller that passes `writes` rebinds its names to the new values). A callee that
writes into an argument the caller did not list is refused: the caller could not follow it.
The pullback takes one cotangent per output and returns `(∂self, ∂args..., ∂kwarg values...)`.
"""
import dataclasses
import types

from . import batch, dispatch, runtime, sites
from .errors import UnsupportedSyntaxError, display_name
from .rules.differentials import NO_FIELDS, ZERO, Tangent, accumulate, is_zero
from .rules.registry import lookup
from .transform import pipeline


def reverse_call(function, args, kwargs, writes=(), top_level=False, constants=()):
    """`(outputs, pullback)` for calling a transformable callable, or None if it has no Python source.

    `top_level` (a call from `sd.pullback`) lets the callee write into its arguments: the caller's
    objects stay as they were, and the new values get no cotangent. The positional arguments at
    `constants` carry no derivative: the callee's derivative computes no cotangent for them.
    """
    if isinstance(function, types.MethodType):
        result = reverse_call(function.__func__, (function.__self__,) + tuple(args), kwargs, tuple(_shift(writes)), top_level,
                              tuple(_shift(constants)))
        if result is None:
            return None
        outputs, pullback = result
        return outputs, dispatch.receiver_first(pullback, f"{function.__name__}_pullback")
    if isinstance(function, type):
        return _construct(function, args, kwargs, writes)
    if not isinstance(function, types.FunctionType):
        call_method = getattr(type(function), "__call__", None)
        if isinstance(call_method, types.FunctionType):
            return reverse_call(types.MethodType(call_method, function), args, kwargs, writes, top_level, constants)
        return None
    return _run(function, args, kwargs, writes, top_level, constants)


def _shift(writes):
    for position in writes:
        yield position + 1 if isinstance(position, int) else position


def run_top_level(function, args, kwargs):
    """`(y, pullback)` for a Python function called by `sd.pullback` or `sd.gradient`: the caller's objects
    stay as they were whatever it writes into, so there is nothing to check or rebind; its captured variables
    get no cotangent (the caller takes only the arguments')."""
    entry, outputs, state = pipeline.run_forward(function, args, kwargs, keywords_inactive=True,
                                                 constant_names=pipeline.captured_constants(function))
    arrange = _arrangement(entry, function, len(args), tuple(kwargs) if kwargs else ())
    # (not `_pullback_for_call`: no name to give a pullback only `sd.pullback` sees, on every call)
    return outputs[0] if entry.written else outputs, CallPullback(arrange, entry.pullback, state, len(entry.written),
                                                                  run=entry.pullback_to_run())


def _constant_names(function, constants):
    """The parameter names of `function` that the positional arguments at `constants` are bound to."""
    code = function.__code__
    return frozenset(code.co_varnames[p] for p in constants if p < code.co_argcount)


def _run(function, args, kwargs, writes, top_level=False, constants=()):
    if top_level and not writes:
        return run_top_level(function, args, kwargs)
    entry, outputs, state = pipeline.with_recursion_room(pipeline.run_forward, function, args, kwargs, top_level,
                                                         _constant_names(function, constants))
    code = function.__code__
    parameters = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    written = dict(entry.written)
    result = outputs[0] if written else outputs
    wanted = []
    for position in writes:
        parameter = parameters[position] if isinstance(position, int) else position
        wanted.append(written.get(parameter))
    listed = {parameters[p] if isinstance(p, int) else p for p in writes}
    cells = dict(zip(code.co_freevars, function.__closure__ or ()))
    for parameter, output in written.items():
        if top_level:
            continue
        if parameter in cells:
            if outputs[output] is not cells[parameter].cell_contents:
                raise runtime.error_at_call_site(
                    UnsupportedSyntaxError, f"{display_name(function)} changes {parameter!r}, a variable it captures, in "
                    "place, and sourcediff cannot follow the change from here",
                    f"Return the new value from {function.__name__} instead and assign it to {parameter!r}.")
            continue
        if parameter not in parameters:
            continue
        position = parameters.index(parameter)
        original = args[position] if position < len(args) else kwargs.get(parameter, _default(function, parameter))
        if parameter not in listed and outputs[output] is not original:
            raise runtime.error_at_call_site(
                UnsupportedSyntaxError, f"{display_name(function)} changes its argument {parameter!r} in place, "
                "and sourcediff cannot follow the change from here",
                f"Return the new value from {function.__name__} instead and assign it, or call {function.__name__} "
                "as a statement of its own with the argument as a plain name.")
    new_values = tuple(outputs[o] if o is not None else (args[p] if isinstance(p, int) else kwargs[p])
                       for o, p in zip(wanted, writes))
    values = (result,) + new_values if writes else result
    pullback = _pullback_for_call(entry, state, function, len(args), list(kwargs), wanted, writes)
    return values, pullback


def _default(function, parameter):
    """The default value of a parameter of `function` (None if it has none)."""
    code = function.__code__
    positional = code.co_varnames[: code.co_argcount]
    defaults = function.__defaults__ or ()
    if parameter in positional:
        index = positional.index(parameter) - (len(positional) - len(defaults))
        return defaults[index] if index >= 0 else None
    return (function.__kwdefaults__ or {}).get(parameter)


def _pullback_for_call(entry, state, function, positional_count, keyword_names, wanted=(), writes=()):
    """The pullback of one call: `(∂self, ∂args..., ∂kwarg values...)` from the cotangents of its outputs."""
    arrange = _arrangement(entry, function, positional_count, tuple(keyword_names))
    output_count = len(entry.written)
    pullback = entry.pullback_to_run()
    if not writes:
        function_pullback = CallPullback(arrange, entry.pullback, state, output_count, run=pullback)
    else:
        def function_pullback(y_bar):
            if wanted and is_zero(y_bar):
                result_bar, written_bars = ZERO, []
            elif wanted:
                result_bar, *written_bars = y_bar
            else:
                result_bar, written_bars = y_bar, []
            seeds = [ZERO] * output_count
            for output, bar in zip(wanted, written_bars):
                if output is not None:
                    seeds[output - 1] = bar
            result = list(arrange(pipeline.with_recursion_room(pullback, state, result_bar, *seeds)))
            for position, output, bar in zip(writes, wanted, written_bars):
                if output is None:  # not written after all: the argument after the call is the one before it
                    slot = 1 + (position if isinstance(position, int) else positional_count + keyword_names.index(position))
                    result[slot] = accumulate(result[slot], bar)
            return tuple(result)

        function_pullback.takes_batches = pullback is not entry.pullback
    function_pullback.__name__ = f"{function.__name__}_pullback"
    return function_pullback


class CallPullback:
    """The pullback of a call whose caller takes no argument's new value (those get no cotangent):
    `(∂self, ∂args..., ∂kwarg values...)` from the cotangent of the call's value. An object rather than a
    closure so that forward mode can push it: its tangent is a `Tangent` with the tangent of its `state`."""

    __slots__ = ("arrange", "pullback", "state", "seeds", "__name__", "run")

    def __init__(self, arrange, pullback, state, output_count, name="call_pullback", run=None):
        """`pullback` is the generated pullback; `run`, what runs when this is called (the same code compiled
        for batches of cotangents, in a batched run)."""
        self.arrange, self.pullback, self.state, self.seeds = arrange, pullback, state, (ZERO,) * output_count
        self.__name__, self.run = name, run or pullback

    def __call__(self, y_bar):
        return self.arrange(pipeline.with_recursion_room(self.run, self.state, y_bar, *self.seeds))

    @property
    def takes_batches(self):
        return self.run is not self.pullback

    def pushed(self, tangent, y_bar, y_bar_tangent):
        """`(self(y_bar), its tangent)` along the tangents of `y_bar` and of this pullback's state."""
        cotangents, cotangent_tangents = pipeline.with_recursion_room(
            pipeline.pushed_value, self.pullback, (self.state, y_bar) + self.seeds, {},
            (runtime.component(tangent, "state"), y_bar_tangent) + self.seeds)
        return self.arrange(cotangents), self.arrange(entries(cotangent_tangents, len(cotangents)))


def entries(tangent, count):
    """The tangent of a tuple of `count` entries, entry by entry (a zero one gives zeros)."""
    return (ZERO,) * count if is_zero(tangent) else tangent


def pushed_forward_pass(function, function_tangent, args, tangents, kwargs, keyword_tangents=None, constant_cells=False,
                        constants=()):
    """`(derivative, outputs, state, their tangents)`: the forward pass of the reverse-mode derivative of a
    Python function pushed along the tangents of its arguments and of its captured variables (the fields
    of `function_tangent`); keyword arguments without a tangent get no cotangent, nor do the positional
    arguments at `constants` or, with `constant_cells`, the captured variables. The first half of forward
    over reverse."""
    keyword_tangents = keyword_tangents or {}
    inactive = pipeline.untangented_keywords(kwargs, keyword_tangents) | _constant_names(function, constants)
    if constant_cells:
        inactive = inactive | pipeline.captured_constants(function)
    scalar_inputs, real_inputs = pipeline.input_kinds(function, args, kwargs)
    entry = pipeline.derivative(function, scalar_inputs, real_inputs, inactive)
    cells, cell_tangents = (), ()
    if entry.free_names:
        cells = tuple(pipeline._cell_value(c) for c in function.__closure__)
        cell_tangents = tuple(runtime.component(function_tangent, name) for name in function.__code__.co_freevars)
    (outputs, state), pair_tangent = pipeline.with_recursion_room(
        pipeline.pushed_value, entry.forward_for(function), cells + tuple(args), kwargs, cell_tangents + tuple(tangents),
        keyword_tangents)
    outputs_tangent, state_tangent = entries(pair_tangent, 2)
    return entry, outputs, state, outputs_tangent, state_tangent


def push_call(function, function_tangent, args, tangents, kwargs, keyword_tangents, constants=()):
    """`((y, pullback), their tangents)` for `dispatch.call(function, *args, **kwargs)` (or `call_with_constants`)
    pushed forward: the generated reverse-mode code differentiated again, in forward mode (forward over reverse)."""
    callee, arguments, argument_tangents = unbound(function, args, tangents)
    constants = tuple(_shift(constants)) if callee is not function else constants
    if lookup(function) is not None or not isinstance(callee, types.FunctionType):
        raise runtime.error_at_call_site(
            UnsupportedSyntaxError, f"forward over reverse does not differentiate the call of {display_name(function)} "
            "here yet (only calls of Python functions)", "Compute this derivative with reverse mode alone, or call the "
            "function from a Python function of your own.")
    entry, outputs, state, outputs_tangent, state_tangent = pushed_forward_pass(
        callee, function_tangent, arguments, argument_tangents, kwargs, keyword_tangents, constants=constants)
    if entry.written:
        raise runtime.error_at_call_site(
            UnsupportedSyntaxError, f"forward over reverse does not follow {display_name(function)}, which changes its "
            "arguments in place, yet", f"Return the new values from {callee.__name__} instead.")
    arrange = _arrangement(entry, callee, len(arguments), tuple(kwargs))
    if callee is not function:
        arrange = _receiver_first(arrange)
    pullback = CallPullback(arrange, entry.pullback, state, 0, f"{callee.__name__}_pullback")
    return (outputs, pullback), (outputs_tangent, Tangent(CallPullback, state=state_tangent))


def unbound(function, args, tangents):
    """`(function, args, tangents)`, a bound method's function with its object (of zero tangent) made the first
    argument."""
    if isinstance(function, types.MethodType):
        return function.__func__, (function.__self__,) + tuple(args), (ZERO,) + tuple(tangents)
    return function, tuple(args), tuple(tangents)


def _receiver_first(arrange):
    def receiver_first(cotangents):
        return tuple(arrange(cotangents)[1:])

    return receiver_first


def _arrangement(entry, function, positional_count, keyword_names):
    """How the derivative's cotangents (captured variables, then parameters) become a call's
    `(∂self, ∂args..., ∂kwarg values...)`; made once per derivative and shape of call."""
    key = (positional_count, keyword_names)
    found = entry.arrangements.get(key)
    if found is not None:
        return found
    code = function.__code__
    free_count = len(entry.free_names)
    named = list(code.co_varnames[: code.co_argcount])
    has_varargs, has_varkw = bool(code.co_flags & 0x04), bool(code.co_flags & 0x08)
    kwonly = list(code.co_varnames[code.co_argcount: code.co_argcount + code.co_kwonlyargcount])
    parameters = entry.inputs[free_count:]
    direct = (not free_count and not has_varargs and not has_varkw and positional_count <= len(named)
              and all(k in named or k in kwonly for k in keyword_names))
    if direct:  # every cotangent is a parameter's: pick them by position
        indices = [entry.inputs.index(n) for n in named[:positional_count] + list(keyword_names)]

        def arrange(cotangents):
            return (NO_FIELDS, *[cotangents[i] for i in indices])
    else:
        def arrange(cotangents):
            free_cotangents, by_parameter = cotangents[:free_count], dict(zip(parameters, cotangents[free_count:]))
            self_cotangent = Tangent(function.__class__, **dict(zip(entry.free_names, free_cotangents))) if free_count else NO_FIELDS
            result = [self_cotangent]
            varargs = by_parameter.get(parameters[len(named)]) if has_varargs else None
            for position in range(positional_count):
                if position < len(named):
                    result.append(by_parameter[named[position]])
                else:
                    result.append(runtime.component(varargs, position - len(named)))
            varkw = by_parameter.get(parameters[-1]) if has_varkw else None
            for keyword in keyword_names:
                result.append(by_parameter[keyword] if keyword in by_parameter and (keyword in named or keyword in kwonly)
                              else runtime.component(varkw, keyword))
            return tuple(result)
    entry.arrangements[key] = arrange
    return arrange


def _construct(cls, args, kwargs, writes):
    """Constructing a namedtuple or dataclass: the cotangent of each argument is its field's."""
    fields = _constructor_fields(cls)
    if fields is None and isinstance(cls.__init__, types.FunctionType) and cls.__new__ is object.__new__:
        return _construct_with_init(cls, args, kwargs, writes)
    if fields is None:
        return None
    y = cls(*args, **kwargs)
    names = fields[: len(args)] + list(kwargs)

    def constructor_pullback(y_bar):
        if writes:
            y_bar = y_bar[0]
        if isinstance(y_bar, tuple):
            y_bar = dict(zip(fields, y_bar))
        return (NO_FIELDS,) + tuple(runtime.component(y_bar, n) for n in names)

    values = (y,) + tuple(args[p] if isinstance(p, int) else kwargs[p] for p in writes) if writes else y
    return values, constructor_pullback


def _constructor_fields(cls):
    """The fields a namedtuple's or dataclass's constructor takes, in order (None for another class)."""
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        return list(cls._fields)
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    return None


def _construct_with_init(cls, args, kwargs, writes):
    """A class with a Python `__init__`: differentiated as writing into a new object, which it returns."""
    instance = cls.__new__(cls)
    outputs, init_pullback = _run(cls.__init__, (instance,) + tuple(args), kwargs, (0,) + tuple(_shift(writes)))
    made, others = outputs[1], outputs[2:]

    def constructor_pullback(y_bar):
        made_bar, other_bars = (y_bar[0], y_bar[1:]) if writes else (y_bar, ())
        cotangents = init_pullback((ZERO, made_bar) + tuple(other_bars))
        return (NO_FIELDS,) + tuple(cotangents[2:])

    constructor_pullback.__name__ = f"{cls.__name__}_pullback"
    return ((made,) + tuple(others) if writes else made), constructor_pullback


def forward_call(function, function_dot, args, tangents, kwargs, keyword_tangents):
    """`(y, y_dot)` for calling a transformable callable through its pushforward, or None if it has no Python
    source. `function_dot` is the callable's own tangent (a closure's captured variables, an object's fields).
    A callee that changes an argument in place is refused: forward mode does not follow that yet."""
    if type(function) is CallPullback:
        return function.pushed(function_dot, *args, *tangents)
    if function is dispatch.call:
        return push_call(args[0], tangents[0], args[1:], tangents[1:], kwargs, keyword_tangents)
    if function is dispatch.call_with_constants:
        return push_call(args[1], tangents[1], args[2:], tangents[2:], kwargs, keyword_tangents, args[0])
    untangented = all(is_zero(t) for t in (keyword_tangents or {}).values())
    if function is dispatch.call_method and isinstance(args[1], str) and untangented:
        receiver_args, receiver_tangents = (args[0],) + tuple(args[2:]), (tangents[0],) + tuple(tangents[2:])
        pushed = _linear_method_pushed(args[1], receiver_args, receiver_tangents, kwargs) or \
            sites.pushed_rule_call(function, receiver_args, receiver_tangents, kwargs, method=args[1])
        if pushed is not None:
            return pushed
    if isinstance(function, types.MethodType):
        if not is_zero(function_dot):
            raise runtime.error_at_call_site(
                UnsupportedSyntaxError, f"forward mode cannot differentiate the bound method {display_name(function)} "
                "handed over as a value yet", "Call the method on its object directly.")
        return forward_call(function.__func__, ZERO, (function.__self__,) + tuple(args), (ZERO,) + tuple(tangents),
                            kwargs, keyword_tangents)
    if isinstance(function, type):
        return _construct_forward(function, args, tangents, kwargs, keyword_tangents)
    if not isinstance(function, types.FunctionType):
        call_method = getattr(type(function), "__call__", None)
        if isinstance(call_method, types.FunctionType):
            return forward_call(call_method, ZERO, (function,) + tuple(args), (function_dot,) + tuple(tangents), kwargs,
                                keyword_tangents)
        return None
    pushed = _linear_rule_pushed(function, function_dot, args, tangents, kwargs)
    if pushed is not None:
        return pushed
    if runtime.is_internal(function):
        pushed = sites.pushed_rule_call(function, args, tangents, kwargs) if untangented else None
        if pushed is None:
            raise sites.refused(function)
        return pushed
    cells = {name: runtime.component(function_dot, name) for name in function.__code__.co_freevars}
    entry, outputs, output_tangents = pipeline.with_recursion_room(pipeline.run_pushforward, function, args, kwargs,
                                                                   tangents, keyword_tangents, cells)
    if not entry.written:
        return outputs, output_tangents
    code = function.__code__
    parameters = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    for parameter, output in entry.written:
        position = parameters.index(parameter) if parameter in parameters else None
        original = args[position] if position is not None and position < len(args) else kwargs.get(parameter)
        if outputs[output] is not original:
            raise runtime.error_at_call_site(
                UnsupportedSyntaxError, f"{display_name(function)} changes {parameter!r} in place, which forward mode "
                "does not follow yet", f"Return the new value from {function.__name__} instead and assign it.")
    return outputs[0], output_tangents[0]


def _linear_rule_pushed(function, function_dot, args, tangents, kwargs):
    """Forward over reverse through a rule's rrule that generated code calls, or through the pullback it returned,
    for the rules marked so (`rrule_of` on the rrule, `adjoint_of` on its pullbacks); None for any other function.

    A pullback that is linear in ȳ and does not change with the primal near it (a linear function's, a copy's, a
    sum's; a maximum's or a sort's, which hold a choice of entries) has the tangent `pullback(ȳ̇)`: the rrule's
    call `(y, pullback)` gets the tangent `(ẏ, zero)` from the function's frule. The rule of a multilinear function
    (a product: `multilinear_in(args)` on the rrule names its operands) has a pullback whose cotangent of one
    operand is linear in ȳ and in each other operand, so its tangent also has, for each operand k with a tangent,
    the terms the pullback of the rrule at the operands with ȧₖ in place of aₖ gives the other operands: the
    pullback's tangent holds those pullbacks (a `_Crossed`)."""
    owner = getattr(function, "rrule_of", None)
    if owner is not None:
        rule = lookup(owner)
        if rule is None or rule.rrule is not function or rule.frule is None:
            return None
        linear_when = getattr(function, "linear_when", None)  # (a rule linear for some arguments only)
        if linear_when is not None and not linear_when(*args, **kwargs):
            return None
        # (a rule that changes its first argument changes it once: its frule gets a copy)
        _, pushforward = rule.frule(*((runtime.own(args[0]),) + tuple(args[1:]) if rule.updates else args), **kwargs)
        pair = function(*args, **kwargs)
        operands = getattr(function, "multilinear_in", None)
        moving = [k for k in operands(args) if not is_zero(tangents[k])] if operands is not None else ()
        crossed = _Crossed(function, args, kwargs, tuple((k, tangents[k]) for k in moving)) if moving else ZERO
        return pair, (pushforward(NO_FIELDS, *tangents), crossed)
    owner = getattr(function, "adjoint_of", None)
    if owner is None or kwargs or len(args) != 1:
        return None
    rule = lookup(owner)
    pullback = function if rule is None or rule.batch_pullback or not batch.ACTIVE.get() else batch.looped(function)
    pushed = pullback(*tangents)
    if type(function_dot) is _Crossed and not is_zero(args[0]):
        pushed = function_dot.added_to(pushed, args[0])
    return function(*args), pushed


def _linear_method_pushed(method, args, tangents, kwargs):
    """Forward over reverse through `dispatch.call_method(args[0], method, *args[1:], **kwargs)` when the method's
    function has a rule whose pullbacks are marked linear and locally constant (`d.get(k)`, `items.copy()`), or
    None: the call's `(y, pullback)` (the pullback giving `(∂receiver, ∂args..., ∂kwarg values...)`, as
    `call_method`'s) and its tangent `(ẏ, zero)`. For the methods of lists, dicts and tuples (those of arrays
    and NumPy scalars have sites, which call NumPy's functions: those take batches of tangents)."""
    rule = dispatch.method_rule(args[0], method) if type(args[0]) in (list, dict, tuple) else None
    if rule is None or rule.rrule is None or getattr(rule.rrule, "multilinear_in", None) is not None:
        return None
    pushed = _linear_rule_pushed(rule.rrule, ZERO, args, tangents, kwargs)
    if pushed is None or getattr(pushed[0][1], "adjoint_of", None) is None:
        return None
    (y, pullback), (y_dot, _) = pushed
    padding = (ZERO,) * len(kwargs)

    def method_pullback(y_bar):
        return tuple(pullback(y_bar)[1:]) + padding

    method_pullback.__name__, method_pullback.adjoint_of = f"{method}_pullback", pullback.adjoint_of
    return (y, method_pullback), (y_dot, ZERO)


class _Crossed:
    """The tangent of a multilinear function's pullback: its rrule, the call's arguments and the tangents of the
    operands that have one (used by `calls._linear_rule_pushed`)."""

    __slots__ = ("rrule", "args", "kwargs", "moving")

    def __init__(self, rrule, args, kwargs, moving):
        self.rrule, self.args, self.kwargs, self.moving = rrule, args, kwargs, moving

    def added_to(self, pushed, y_bar):
        """`pushed` (the pullback of ȳ̇) plus, for each moving operand k, the other operands' cotangents of ȳ
        from the pullback at the operands with ȧₖ in place of aₖ (one tangent at a time in a batched run)."""
        pushed = [] if is_zero(pushed) else list(pushed)
        for k, tangent in self.moving:
            def crossed(y_bar, tangent, k=k):
                return self.rrule(*self.args[:k], tangent, *self.args[k + 1:], **self.kwargs)[1](y_bar)

            cotangents = (batch.looped(crossed) if batch.ACTIVE.get() else crossed)(y_bar, tangent)
            pushed = pushed or [ZERO] * len(cotangents)
            for j in range(1, len(cotangents)):
                if j != k + 1:
                    pushed[j] = accumulate(pushed[j], cotangents[j])
        return tuple(pushed)


def _construct_forward(cls, args, tangents, kwargs, keyword_tangents):
    """Constructing a namedtuple or dataclass: its tangent has the arguments' tangents as fields."""
    fields = _constructor_fields(cls)
    if fields is None:
        return None
    y = cls(*args, **kwargs)
    given = {**dict(zip(fields, tangents)), **{k: keyword_tangents.get(k, ZERO) for k in kwargs}}
    return y, Tangent(cls, **{k: v for k, v in given.items() if not is_zero(v)})


dispatch.reverse_call = reverse_call
dispatch.forward_call = forward_call
