"""The statements the forward generator emits, as templates written as Python (see `codegen.Template`).

Each function's body is the code generated, its parameters the holes; `runtime` stands for the helper
module's name in the generated code. These functions are never run.
"""
# ruff: noqa: F821, F841
from .codegen import Template


@Template
def frule_call(value, pushforward, call):
    value, pushforward = call


@Template
def pushed_forward(tangent, pushforward, runtime, tangents):
    tangent = pushforward(runtime.NO_FIELDS, *tangents)


@Template
def method_pushed(value, tangent, dispatch, receiver, receiver_tangent, method, arguments, tangents, keywords):
    value, tangent = dispatch.push_method(receiver, receiver_tangent, method, arguments, tangents, **keywords)


@Template
def python_pushed(value, tangent, dispatch, function, function_tangent, arguments, tangents, keyword_tangents, keywords):
    value, tangent = dispatch.push(function, function_tangent, arguments, tangents, keyword_tangents, **keywords)


@Template
def closure_tangent(runtime, closure, fields):
    runtime.closure_tangent(closure, **fields)


@Template
def component(runtime, tangent, key):
    runtime.component(tangent, key)


@Template
def attribute_tangent(runtime, primal, attribute, tangent):
    runtime.attribute_tangent(primal, attribute, tangent)


@Template
def broadcast(runtime, tangent, primal):
    runtime.broadcast_tangent(tangent, primal)


@Template
def stored_tangent(runtime, tangent, primal, key, value):
    runtime.stored_tangent(tangent, primal, key, value)


@Template
def attribute_stored(runtime, tangent, primal, attribute, value):
    runtime.attribute_stored(tangent, primal, attribute, value)


@Template
def returned(value):
    return value
