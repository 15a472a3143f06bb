"""The statements the reverse generator emits, as templates written as Python (see `codegen.Template`).

Each function's body is the code generated, its parameters the holes; `runtime` and `dispatch` stand for
the helper modules' names in the generated code. These functions are never run.
"""
# ruff: noqa: F821, F841
from .codegen import Template


@Template
def push(stack, value):
    stack.append(value)


@Template
def pop(value, stack):
    value = stack.pop() if stack else None


@Template
def call_with_pullback(value, pullback, call):
    value, pullback = call


@Template
def pulled_back(parts, pullback, bar):
    parts = pullback(bar)


@Template
def dispatched_call(dispatch, function, arguments, keywords):
    dispatch.call(function, *arguments, **keywords)


@Template
def dispatched_call_with_constants(dispatch, constants, function, arguments, keywords):
    dispatch.call_with_constants(constants, function, *arguments, **keywords)


@Template
def method_call(dispatch, receiver, method, arguments, keywords):
    dispatch.call_method(receiver, method, *arguments, **keywords)


@Template
def spread_call(dispatch, function, arguments, spread, keywords, extra):
    dispatch.call_spread(function, arguments, spread, keywords, extra)


@Template
def start_count(counter):
    counter = 0


@Template
def count(counter):
    counter = counter + 1


@Template
def repeat(counter):
    for _ in range(counter):
        pass


@Template
def zero(runtime, bar):
    bar = runtime.ZERO


@Template
def add_to(bar, term):
    bar = bar + term


@Template
def accumulate_into(runtime, bar, term):
    bar = runtime.accumulate_into(bar, term)


@Template
def add_at_index(runtime, current, container, index, bar):
    runtime.add_at_index(current, container, index, bar)


@Template
def attribute_cotangent(runtime, primal, attribute, bar):
    runtime.attribute_cotangent(primal, attribute, bar)


@Template
def component(runtime, bar, key):
    runtime.component(bar, key)


@Template
def stored_cotangent(runtime, container, value, bar, key):
    runtime.stored_cotangent(container, value, bar, key)


@Template
def zero_at_index(runtime, bar, key):
    bar = runtime.zero_at_index(bar, key)


@Template
def restored(runtime, stack, value):
    stack, value = runtime.restored(stack)


@Template
def unpack_state(names):
    names = state


@Template
def returned(value):
    return value
