"""The pipeline: the passes in order, compilation of the generated module, and the cache.

    parse_function -> desugar -> lower_jumps -> normalize -> activity, scalars -> reverse -> compile

A derivative is specialised on which inputs are real scalars (their operations are inlined) and
cached per code object; a cache hit costs a dict lookup. Registering a rule changes the registry
version, which makes cached derivatives rebuild on their next use.
"""
import ast
import builtins
import dataclasses
import operator
import re
import threading
import types

import gast
import numpy as np

from .. import runtime
from ..rules import registry
from ..rules.differentials import NO_FIELDS, Tangent
from .activity import activity, varying_names
from .desugar import desugar
from .lower_jumps import lower_jumps
from .normalize import global_path, normalize
from .reverse import OPERATORS, Callee, ReverseGenerator
from .scalars import scalars
from .source import parse_function
from .syntax import Namer, names_in, source
from .templates import partial_templates

SCALAR_TYPES = (float, int, np.float64)
SCALAR_BUILTINS = {abs, float, int, len, round, min, max, pow}
BUILTIN_NAMES = set(dir(builtins))


@dataclasses.dataclass
class Derivative:
    """A compiled reverse-mode derivative: `forward(*inputs) -> (y, state)`, `pullback(state, y_bar)`."""

    forward: object
    pullback: object
    source: str
    inputs: list
    free_names: list
    version: int


def _return_self(node):
    """Make an `__init__` return its object, so the object's cotangent seeds its pullback."""
    self_name = (node.args.posonlyargs + node.args.args)[0].id
    for child in gast.walk(node):
        if isinstance(child, gast.Return):
            child.value = gast.Name(id=self_name, ctx=gast.Load(), annotation=None, type_comment=None)
    line = node.body[-1].lineno
    node.body.append(gast.Return(value=gast.Name(id=self_name, ctx=gast.Load(), annotation=None, type_comment=None),
                                 lineno=line, col_offset=0))


def stages(function, returns_self=False):
    """Run the passes on `function`, returning each stage's output (for `dump --stage`)."""
    node, origin = parse_function(function)
    if returns_self:
        _return_self(node)
    free = list(function.__code__.co_freevars)
    namer = Namer(names_in(node) | BUILTIN_NAMES | set(free) | set(function.__globals__))
    result = {"parse": source(node)}
    node = desugar(node, origin, namer)
    result["desugar"] = source(node)
    node = lower_jumps(node, namer)
    result["lower_jumps"] = source(node)
    node = normalize(node, origin, namer, free)
    result["normalize"] = source(node)
    return node, origin, namer, free, result


class Resolver:
    """Decides how each call site is differentiated, from what its callee is at transform time."""

    def __init__(self, function, local_names):
        self.globals = function.__globals__
        self.builtins = self.globals.get("__builtins__", __builtins__)
        if isinstance(self.builtins, types.ModuleType):
            self.builtins = vars(self.builtins)
        self.local_names = local_names

    def value_of(self, node):
        if isinstance(node, gast.Name) and node.id not in self.local_names:
            if node.id == "as_sequence":
                return True, runtime.as_sequence
            if node.id in self.globals:
                return True, self.globals[node.id]
            if node.id in self.builtins:
                return True, self.builtins[node.id]
            return False, None
        path = global_path(node, self.local_names)
        if path is None:
            return False, None
        found, value = self.value_of(gast.Name(id=path[0], ctx=gast.Load(), annotation=None, type_comment=None))
        for part in path[1:]:
            if not found or not hasattr(value, part):
                return False, None
            value = getattr(value, part)
        return found, value

    def classify(self, node, scalar_names):
        if isinstance(node, (gast.BinOp, gast.UnaryOp)):
            function = getattr(operator, OPERATORS.get(type(node.op), "invert"))
            operands = [node.left, node.right] if isinstance(node, gast.BinOp) else [node.operand]
            return self.from_function(function, f"operator.{function.__name__}", operands, [], scalar_names)
        func = node.func
        if isinstance(func, gast.Attribute) and global_path(func, self.local_names) is None:
            if func.attr == "append":
                return Callee("append")
            return Callee("method")
        found, function = self.value_of(func)
        if not found:
            return Callee("call", function_text=source(func))
        return self.from_function(function, source(func), node.args, node.keywords, scalar_names)

    def from_function(self, function, text, arguments, keywords, scalar_names):
        rule = registry.lookup(function)
        if rule is not None and not rule.differentiable:
            return Callee("inactive", rule)
        if rule is not None and rule.rrule is not None:
            all_scalar = all(_is_scalar_atom(a, scalar_names) for a in arguments) and not keywords
            if all_scalar and rule.partials and len(rule.partials) == len(arguments):
                templates = partial_templates(rule)
                if templates is not None:
                    return Callee("inline", rule, text, templates)
            return Callee("rule", rule, text)
        if not _transformable(function):
            return Callee("no rule", function_text=text)
        return Callee("call", function_text=text)

    def is_differentiable_call(self, node):
        return self.classify(node, set()).kind != "inactive"

    def is_scalar_call(self, node):
        """Whether the call maps real numbers to a real number (a scalar builtin or a `math` row)."""
        found, function = self.value_of(node.func)
        if not found or not _hashable(function):
            return False
        if function in SCALAR_BUILTINS:
            return True
        rule = registry.lookup(function)
        return rule is not None and rule.partials is not None and getattr(function, "__module__", None) == "math"


def _transformable(function):
    """Whether sourcediff can differentiate calls to `function` without a rule."""
    if isinstance(function, (types.FunctionType, types.MethodType, type)):
        return True
    return isinstance(getattr(type(function), "__call__", None), types.FunctionType)


def _hashable(value):
    try:
        hash(value)
        return True
    except TypeError:
        return False


def _is_scalar_atom(node, scalar_names):
    if isinstance(node, gast.Constant):
        return type(node.value) in (int, float)
    if isinstance(node, gast.UnaryOp) and isinstance(node.operand, gast.Constant):
        return type(node.operand.value) in (int, float)
    return isinstance(node, gast.Name) and node.id in scalar_names


def build(function, scalar_inputs, returns_self=False):
    """Transform and compile the reverse-mode derivative of `function`."""
    node, origin, namer, free, _ = stages(function, returns_self)
    arguments = node.args
    parameters = [a.id for a in arguments.posonlyargs + arguments.args]
    parameters += [arguments.vararg.id] if arguments.vararg else []
    parameters += [a.id for a in arguments.kwonlyargs]
    parameters += [arguments.kwarg.id] if arguments.kwarg else []
    inputs = free + parameters
    local_names = set(inputs) | {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
    resolver = Resolver(function, local_names)
    varying = varying_names(node, inputs, resolver.is_differentiable_call)
    active = activity(node, varying, resolver.is_differentiable_call)
    scalar_names = scalars(node, scalar_inputs, resolver.is_scalar_call)
    bindings = {}
    user_names = names_in(node) | set(function.__globals__)

    def bind(name, value):
        for bound_name, bound_value in bindings.items():
            if bound_value is value and (bound_name == name or bound_name.startswith(name + "_")):
                return bound_name
        if name in user_names and function.__globals__.get(name) is value:
            return name
        bound_name = namer.fresh(name) if name in user_names or name in bindings else name
        namer.taken.add(bound_name)
        bindings[bound_name] = value
        return bound_name

    generator = ReverseGenerator(node, origin, namer, active, scalar_names, resolver.classify, inputs, bind, free, varying)
    generator.runtime = bind("runtime", runtime)
    if "as_sequence" in names_in(node):
        bind("as_sequence", runtime.as_sequence)
    name = node.name if node.name != "lambda" else "lambda_"
    text = generator.generate(name)
    if re.search(r"\boperator\.", text):
        operator_name = bind("operator", operator)
        text = re.sub(r"\boperator\.", operator_name + ".", text)
    factory = f"def sourcediff_derivative({', '.join(bindings)}):\n"
    body = "".join("    " + line + "\n" if line else "\n" for line in text.splitlines())
    module_text = factory + body + f"    return {name}_forward, {name}_pullback\n"
    forward, pullback = _compile(module_text, origin, bindings, function, free)
    return Derivative(forward, pullback, module_text, inputs, free, registry.version())


def _line_map(text, default):
    mapping, current = {}, default
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r"\s*# line (\d+):", line)
        if match:
            current = int(match.group(1))
        mapping[number] = current
    return mapping


def _compile(module_text, origin, bindings, function, free):
    tree = ast.parse(module_text)
    mapping = _line_map(module_text, origin.first_line)
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            node.lineno = mapping.get(node.lineno, origin.first_line)
            node.end_lineno = node.lineno
    code = compile(tree, origin.filename, "exec")
    namespace = {}
    exec(code, namespace)
    forward, pullback = namespace["sourcediff_derivative"](*bindings.values())
    forward = types.FunctionType(forward.__code__, function.__globals__, forward.__name__, None, forward.__closure__)
    pullback = types.FunctionType(pullback.__code__, function.__globals__, pullback.__name__, None, pullback.__closure__)
    if function.__defaults__:
        forward.__defaults__ = function.__defaults__
    if function.__kwdefaults__:
        forward.__kwdefaults__ = dict(function.__kwdefaults__)
    return forward, pullback


_cache = {}
_lock = threading.RLock()


def derivative(function, scalar_inputs=frozenset(), returns_self=False):
    """The cached reverse-mode `Derivative` of a Python function, specialised on its scalar inputs.

    `returns_self` builds an `__init__` as a function returning its object (for constructors).
    """
    key = (function.__code__, scalar_inputs, returns_self)
    entry = _cache.get(key)
    if entry is not None and entry.version == registry.version():
        return entry
    with _lock:
        entry = _cache.get(key)
        if entry is None or entry.version != registry.version():
            entry = _cache[key] = build(function, scalar_inputs, returns_self)
        return entry


def refresh():
    """Forget every cached derivative (they are rebuilt on next use)."""
    with _lock:
        _cache.clear()


def scalar_inputs_of(function, args):
    code = function.__code__
    names = code.co_varnames[: code.co_argcount]
    found = {n for n, a in zip(names, args) if type(a) in SCALAR_TYPES}
    if code.co_freevars and function.__closure__:
        found |= {n for n, cell in zip(code.co_freevars, function.__closure__) if type(_cell_value(cell)) in SCALAR_TYPES}
    return frozenset(found)


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:
        return None


def run_forward(function, args, kwargs, returns_self=False):
    """Run the derivative's forward for a call; returns (derivative, y, state)."""
    entry = derivative(function, scalar_inputs_of(function, args), returns_self)
    cells = [_cell_value(c) for c in function.__closure__] if entry.free_names else []
    y, state = entry.forward(*cells, *args, **kwargs)
    return entry, y, state


def reverse_call(function, args, kwargs):
    """`(y, pullback)` for calling a transformable callable, or None if it cannot be transformed.

    The pullback returns (∂self, ∂args..., ∂kwarg values...), as `runtime.call` promises.
    """
    if isinstance(function, types.MethodType):
        result = reverse_call(function.__func__, (function.__self__,) + tuple(args), kwargs)
        if result is None:
            return None
        y, pullback = result
        return y, runtime.receiver_first(pullback, f"{function.__name__}_pullback")
    if isinstance(function, type):
        return _construct(function, args, kwargs)
    if not isinstance(function, types.FunctionType):
        call_method = getattr(type(function), "__call__", None)
        if isinstance(call_method, types.FunctionType):
            return reverse_call(types.MethodType(call_method, function), args, kwargs)
        return None
    entry, y, state = run_forward(function, args, kwargs)
    return y, _pullback_for_call(entry, state, function, len(args), list(kwargs))


def _pullback_for_call(entry, state, function, positional_count, keyword_names):
    code = function.__code__
    free_count = len(entry.free_names)
    named = list(code.co_varnames[: code.co_argcount])
    has_varargs = bool(code.co_flags & 0x04)
    kwonly = list(code.co_varnames[code.co_argcount: code.co_argcount + code.co_kwonlyargcount])
    parameters = entry.inputs[free_count:]

    def function_pullback(y_bar):
        cotangents = entry.pullback(state, y_bar)
        free_cotangents, by_parameter = cotangents[:free_count], dict(zip(parameters, cotangents[free_count:]))
        self_cotangent = Tangent(function.__class__, **dict(zip(entry.free_names, free_cotangents))) if free_count else NO_FIELDS
        result = [self_cotangent]
        varargs = by_parameter.get(parameters[len(named)]) if has_varargs else None
        for position in range(positional_count):
            if position < len(named):
                result.append(by_parameter[named[position]])
            else:
                result.append(runtime.component(varargs, position - len(named)))
        varkw = by_parameter.get(parameters[-1]) if code.co_flags & 0x08 else None
        for keyword in keyword_names:
            result.append(by_parameter[keyword] if keyword in by_parameter and (keyword in named or keyword in kwonly)
                          else runtime.component(varkw, keyword))
        return tuple(result)

    function_pullback.__name__ = f"{function.__name__}_pullback"
    return function_pullback


def _construct(cls, args, kwargs):
    """Constructing a namedtuple or dataclass: the cotangent of each argument is its field's."""
    if issubclass(cls, tuple) and hasattr(cls, "_fields"):
        fields = list(cls._fields)
    elif dataclasses.is_dataclass(cls):
        fields = [f.name for f in dataclasses.fields(cls) if f.init]
    elif isinstance(cls.__init__, types.FunctionType) and cls.__new__ is object.__new__:
        return _construct_with_init(cls, args, kwargs)
    else:
        return None
    y = cls(*args, **kwargs)
    names = fields[: len(args)] + list(kwargs)

    def constructor_pullback(y_bar):
        if isinstance(y_bar, tuple):
            y_bar = dict(zip(fields, y_bar))
        return (NO_FIELDS,) + tuple(runtime.component(y_bar, n) for n in names)

    return y, constructor_pullback


def _construct_with_init(cls, args, kwargs):
    """Constructing a class with a Python `__init__`: differentiate `__init__` as returning the object."""
    instance = cls.__new__(cls)
    initializer = cls.__init__
    entry, y, state = run_forward(initializer, (instance,) + tuple(args), kwargs, returns_self=True)
    init_pullback = _pullback_for_call(entry, state, initializer, len(args) + 1, list(kwargs))

    def constructor_pullback(y_bar):
        cotangents = init_pullback(y_bar)
        return (cotangents[0],) + tuple(cotangents[2:])

    constructor_pullback.__name__ = f"{cls.__name__}_pullback"
    return y, constructor_pullback


def updating_method_call(function, receiver, args, kwargs):
    """A Python method called for its effect: differentiated as returning its (changed) object."""
    entry, y, state = run_forward(function, (receiver,) + tuple(args), kwargs, returns_self=True)
    method_pullback = _pullback_for_call(entry, state, function, len(args) + 1, list(kwargs))
    return y, runtime.receiver_first(method_pullback, f"{function.__name__}_pullback")
