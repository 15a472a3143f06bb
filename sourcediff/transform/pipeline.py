"""The pipeline: the passes in order, compilation of the generated module, and the cache.

    parse_function -> desugar -> lower_jumps -> normalize -> effects -> activity, scalars -> reverse -> compile

A derivative is specialised on which inputs are real scalars (their operations are inlined) and
cached per code object; it is reused only while every name, path and rule its build resolved is
still the same object (see `cache` and `resolve`). Default values are bound when it is called.
An unexpected exception while building becomes an `InternalError` naming the user's function.
"""
import ast
import builtins
import dataclasses
import linecache
import operator
import re
import sys
import threading
import types

import gast
import numpy as np

from .. import batch, dispatch, runtime
from ..errors import InternalError, SourceDiffError
from .activity import activity, varying_names
from .cache import DerivativeCache
from .dataflow import captured_writes, nested_definitions
from .desugar import desugar
from .effects import effects
from .lower_jumps import lower_jumps
from .normalize import normalize
from .resolve import Kind, Resolution, hashable, keyword_values, matching_specialisation
from .forward import ForwardGenerator
from .reverse import ReverseGenerator
from .scalars import PENDING, UNKNOWN, broadcast_ndim, matmul_ndim, real_ndims, scalars
from .source import Origin, parse_function
from .syntax import Namer, names_in, source

SCALAR_TYPES = (float, int, np.float64)
FLOAT64 = np.dtype(np.float64)
NDARRAY, NUMPY_FLOAT = np.ndarray, np.float64
BUILTIN_NAMES = set(dir(builtins))
HELPER_MODULES = {"runtime": runtime, "dispatch": dispatch, "operator": operator, "builtins": builtins}
# functions that rearrange (or copy) the entries of their first argument, keeping its dtype: a float64 array
# gives a float64 array (with no keyword, and at most two arguments after it: shapes, axes, indices)
SHAPE_FUNCTIONS = frozenset({np.reshape, np.ravel, np.expand_dims, np.squeeze, np.transpose, np.swapaxes, np.moveaxis,
                             np.flip, np.copy, np.broadcast_to, np.tile, np.repeat, np.take})
# the effects pass's copies and rebindings: their value is of the kind of their first argument
FIRST_ARGUMENT_KIND = (runtime.own, runtime.own_array, runtime.own_list, runtime.own_resized, runtime.rebind)


@dataclasses.dataclass
class Derivative:
    """A compiled reverse-mode derivative: `forward(*cells, *args) -> (outputs, state)`, `pullback(state, *output_bars)`.

    The outputs are the returned value and then the final values of the parameters in `written`
    (parameter name -> the position of its output after the result).
    """

    forward: object
    pullback: object
    source: str
    inputs: list
    free_names: list
    written: list
    guards: object
    global_names: dict
    defaults: tuple = (None, None, None)
    arrangements: dict = dataclasses.field(default_factory=dict)  # see calls._arrangement
    remade: object = None  # the generated functions compiled again with other values of their bindings
    bindings: dict = None  # the names the generated code binds -> their values
    rules: dict = None  # the names of the rule functions it calls -> their rules
    batched: list = None  # the functions compiled for batches of tangents or cotangents, once made
    parameter_inputs: int = -1  # the number of positional parameters when `inputs` are exactly them, else -1

    def forward_for(self, function):
        """The forward function with `function`'s current default values (bound at call time)."""
        defaults, kwdefaults, bound = self.defaults
        if defaults is function.__defaults__ and kwdefaults is function.__kwdefaults__ and bound is not None:
            return bound
        if not function.__defaults__ and not function.__kwdefaults__:
            return self.forward
        bound = _with_defaults(self.forward, function)
        self.defaults = (function.__defaults__, function.__kwdefaults__, bound)
        return bound

    def batched_functions(self):
        """The generated functions run with batches of tangents or cotangents (`sourcediff.batch`): the same
        code, compiled with batch-aware helpers and rules."""
        if self.batched is None:
            reverse = self.pullback is not None
            self.batched = self.remade([batch.batched_binding(value, self.rules.get(name), reverse)
                                        for name, value in self.bindings.items()])
        return self.batched

    def batched_forward_for(self, function):
        forward = self.batched_functions()[0]
        return forward if not function.__defaults__ and not function.__kwdefaults__ else _with_defaults(forward, function)

    def pullback_to_run(self):
        """The pullback to run now: the batched one inside a batched run."""
        return self.batched_functions()[1] if batch.ACTIVE.get() else self.pullback


def _with_defaults(generated, function):
    bound = types.FunctionType(generated.__code__, generated.__globals__, generated.__name__, function.__defaults__,
                               generated.__closure__)
    bound.__kwdefaults__ = function.__kwdefaults__
    return bound


@dataclasses.dataclass
class Front:
    """A function after the passes up to `effects`, with what they resolved."""

    node: object
    origin: object
    namer: object
    free: list
    inputs: list
    resolution: object
    user_names: set
    stages: dict


_building = threading.local()


def front(function, record=False):
    """Run the passes up to `effects` on `function` (recording each stage's text when `record`)."""
    node, origin = parse_function(function)
    free = list(function.__code__.co_freevars)
    # generated code's captured variables are the objects its module was made with, which never change
    constants = dict(zip(free, map(_cell_value, function.__closure__ or ()))) if function.__code__ in runtime.GENERATED_CODE else {}
    free = [name for name in free if name not in constants]
    user_names = names_in(node)
    namer = Namer(user_names | BUILTIN_NAMES | set(free) | set(function.__globals__) | {"sourcediff_derivative"})
    texts = {"parse": source(node)} if record else {}
    node = desugar(node, origin, namer)
    texts.update({"desugar": source(node)} if record else {})
    node = lower_jumps(node, namer)
    texts.update({"lower_jumps": source(node)} if record else {})
    node = normalize(node, origin, namer, free, function.__globals__)
    texts.update({"normalize": source(node)} if record else {})
    arguments = node.args
    parameters = [a.id for a in arguments.posonlyargs + arguments.args]
    parameters += [arguments.vararg.id] if arguments.vararg else []
    parameters += [a.id for a in arguments.kwonlyargs]
    parameters += [arguments.kwarg.id] if arguments.kwarg else []
    inputs = free + parameters
    bindings = {namer.helper(module): value for module, value in HELPER_MODULES.items()}
    bindings.update(constants)
    local_names = set(inputs) | {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
    resolution = Resolution(function.__globals__, bindings, local_names)
    node = effects(node, namer, resolution, inputs,
                   lambda callee: None if runtime.is_internal(callee) else written_parameters(callee, resolution),
                   runtime.GENERATED_STACKS.get(function.__code__, frozenset()))
    local_names |= {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
    texts.update({"effects": source(node)} if record else {})
    return Front(node, origin, namer, free, inputs, resolution, user_names, texts)


def stages(function):
    """The text of each stage of the pipeline for `function` (for `sourcediff dump --stage`)."""
    return _guarded(function, lambda: front(function, record=True)).stages


def written_parameters(callee, resolution):
    """Names of the parameters the Python function `callee` writes into (None when unknown); the answer
    is recorded as a guard of `resolution`, valid while the callee's own resolution still holds."""
    function = callee.__func__ if isinstance(callee, types.MethodType) else callee
    if not isinstance(function, types.FunctionType):
        return None
    in_progress = getattr(_building, "functions", set())
    if function.__code__ in in_progress:
        return None
    try:
        found = _cache.get(function.__code__, function.__globals__, "written", lambda: _guarded(function, lambda: _written(function)))
    except SourceDiffError:
        return None
    resolution.guards.add(("written", id(function.__code__)), found.guards.hold, True)
    return found.names


@dataclasses.dataclass
class _Written:
    """The parameters a function writes into, and the guards of the analysis that found them."""

    names: set
    guards: object
    global_names: dict


def _front_while_building(function):
    """`front(function)`, with the function marked as being built meanwhile (for recursive calls)."""
    stack = getattr(_building, "functions", None)
    if stack is None:
        stack = _building.functions = set()
    stack.add(function.__code__)
    try:
        return front(function)
    finally:
        stack.discard(function.__code__)


def _written(function):
    """The parameters `function` writes into: directly, or through a nested def or lambda that may change them."""
    built = _front_while_building(function)
    names = set(getattr(built.node, "written", {}))
    for definition in nested_definitions(built.node.body):
        names |= captured_writes(definition, built.inputs)
    return _Written(names, built.resolution.guards, function.__globals__)


class Analyses:
    """What the reverse generator reads about a function."""

    def __init__(self, **facts):
        self.__dict__.update(facts)


def build(function, scalar_inputs, real_inputs=(), inactive_inputs=frozenset()):
    """Transform and compile the reverse-mode derivative of `function` (specialised on which inputs are
    real scalars and which float64 arrays, of which ndim, and on the inputs whose cotangents nobody
    wants: those `sd.gradient` and `sd.pullback` get by keyword)."""
    return _generated(function, ReverseGenerator, ("forward", "pullback"), scalar_inputs, real_inputs, inactive_inputs)


def build_forward(function, scalar_inputs, real_inputs=(), inactive_inputs=frozenset()):
    """Transform and compile the forward-mode derivative (pushforward) of `function`, specialised as `build`."""
    return _generated(function, ForwardGenerator, ("pushforward",), scalar_inputs, real_inputs, inactive_inputs)


def _generated(function, generator_class, suffixes, scalar_inputs, real_inputs, inactive_inputs):
    """The `Derivative` whose functions `<name>_<suffix>` a generator of `generator_class` writes (a pullback
    only in reverse mode)."""
    built, analyses, resolution, bindings, bind = _analysed(function, scalar_inputs, real_inputs, inactive_inputs)
    generator = generator_class(built.node, built.origin, built.namer, resolution.classify, analyses, bind)
    name = built.node.name if built.node.name != "lambda" else "lambda_"
    lines = generator.generate(name)
    module_text, made, remade, used = _module(lines, [f"{name}_{suffix}" for suffix in suffixes], bindings, built, function)
    forward, pullback = made if len(made) == 2 else (made[0], None)
    for made_function in made:  # (so that forward over reverse knows its stacks are lists only pushed and popped)
        runtime.GENERATED_STACKS[made_function.__code__] = frozenset(getattr(generator, "stacks", {}).values())
    written_list = [(parameter, position) for position, parameter in enumerate(getattr(built.node, "written", {}), start=1)]
    code = function.__code__
    parameters = list(code.co_varnames[: code.co_argcount])
    return Derivative(forward, pullback, module_text, built.inputs, built.free, written_list, resolution.guards,
                      function.__globals__, remade=remade, bindings=used, rules=getattr(generator, "rules", {}),
                      parameter_inputs=len(parameters) if built.inputs == parameters else -1)


def _analysed(function, scalar_inputs, real_inputs, inactive_inputs):
    """The front of `function` and what the generators read of it: its analyses, the resolution, and `bind`
    (which gives a name in the generated module to an object it uses, recorded in `bindings`)."""
    built = _front_while_building(function)
    node, resolution, namer = built.node, built.resolution, built.namer

    def inactive_positions(call):
        site = resolution.classify(call, frozenset())
        if site.kind is Kind.INACTIVE:
            return "all"
        return site.rule.inactive_arguments if site.rule is not None else ()

    def is_scalar_call(call):
        callee = resolution.callee(call)
        if callee in FIRST_ARGUMENT_KIND:
            return "first"
        return resolution.is_scalar_call(call)

    def real_call(call, operands):
        """The kind of a call's value from its operands' (`scalars.real_ndims`; the operands after the first may be
        unknown: shapes, axes, indices)."""
        callee = resolution.callee(call)
        if not hashable(callee):
            return None
        if callee in SHAPE_FUNCTIONS and not call.keywords and len(operands) <= 3:
            return PENDING if operands[0] is PENDING else UNKNOWN  # (float64 in, float64 out, of some ndim)
        if None in operands:
            return None
        if callee in FIRST_ARGUMENT_KIND and not call.keywords:
            return operands[0]
        if callee is np.matmul and len(operands) == 2 and not call.keywords:
            return matmul_ndim(*operands)
        rule = resolution.rule_of(callee)
        if rule is None:
            return None
        specialisation = matching_specialisation(rule, operands, call.keywords) if rule.specialisations else None
        if specialisation is not None and specialisation.ndim is not None:
            return specialisation.result_ndim(operands, keyword_values(call.keywords))
        if call.keywords or rule.partials is None or len(rule.partials) != len(operands):
            return None
        if isinstance(callee, np.ufunc):
            return broadcast_ndim(operands)
        return 0 if getattr(callee, "__module__", None) == "math" else None

    scalar_names = scalars(node, scalar_inputs, is_scalar_call, built.free)
    counting = "range" not in function.__globals__ and not any(
        isinstance(n, gast.Name) and n.id == "range" and not isinstance(n.ctx, gast.Load) for n in gast.walk(node))
    real_names = real_ndims(node, {**dict.fromkeys(scalar_inputs, 0), **dict(real_inputs)}, real_call, built.free,
                            counting) if real_inputs or scalar_inputs else {}
    written = getattr(node, "written", {})
    outputs = [node.body[-1].value.id] + list(written.values())
    varying = varying_names(node, [i for i in built.inputs if i not in inactive_inputs], inactive_positions)
    analyses = Analyses(active=activity(node, varying, inactive_positions, outputs), varying=varying,
                        scalar_names=scalar_names, real_names=real_names, inputs=built.inputs,
                        user_names=built.user_names)
    bindings = dict(resolution.bindings)
    user_names = names_in(node) | set(function.__globals__)

    def bind(name, value):
        for bound_name, bound_value in bindings.items():
            if bound_value is value and (bound_name == name or bound_name.startswith(name + "_")):
                return bound_name
        if name in user_names and function.__globals__.get(name) is value:
            return name
        if name not in user_names and name not in bindings and getattr(builtins, name, None) is value:
            return name  # a builtin the user's module does not shadow
        bound_name = namer.fresh(name) if name in user_names or name in bindings else name
        namer.taken.add(bound_name)
        bindings[bound_name] = value
        return bound_name

    return built, analyses, resolution, bindings, bind


def _module(lines, names, bindings, built, function):
    """Compile the generated functions `names` (printed as `lines`): `(module text, functions, remade, bindings)`,
    `remade(values)` compiling them again with other values of `bindings` (those the text uses)."""
    used = {n for text, _ in lines for n in _identifiers(text)}
    bindings = {n: v for n, v in bindings.items() if n in used}
    entries = [(f"def sourcediff_derivative({', '.join(bindings)}):", built.origin.first_line)]
    entries += [("    " + text if text else "", line) for text, line in lines]
    entries.append((f"    return {', '.join(names)}", lines[-1][1]))
    module_text = "\n".join(text for text, _ in entries) + "\n"
    made, remade = _compile(module_text, [line for _, line in entries], built.origin, bindings, function)
    return module_text, made, remade, bindings


def _identifiers(text):
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def _compile(module_text, origins, origin, bindings, function):
    """Compile the generated module with every node positioned on the user's line it comes from."""
    tree = ast.parse(module_text)
    for node in ast.walk(tree):
        if hasattr(node, "lineno") and node.lineno is not None:
            line = origins[node.lineno - 1] or origin.first_line
            node.lineno = node.end_lineno = line
            node.col_offset = 0
            node.end_col_offset = len(linecache.getline(origin.filename, line).rstrip("\n").encode())
    code = compile(tree, origin.filename, "exec")
    namespace = {}
    exec(code, namespace)

    def remade(values):
        made = namespace["sourcediff_derivative"](*values)
        made = made if isinstance(made, tuple) else (made,)
        return [types.FunctionType(f.__code__, function.__globals__, f.__name__, None, f.__closure__) for f in made]

    made = remade(bindings.values())
    definitions = {node.name: node for node in tree.body[0].body if isinstance(node, ast.FunctionDef)}
    for made_function in made:
        node = definitions[made_function.__name__]
        generated_origin = Origin(f"{origin.name} ({made_function.__name__})", origin.filename, node.lineno)
        runtime.GENERATED_CODE[made_function.__code__] = (node, generated_origin)
    return made, remade


_cache = DerivativeCache()


def _guarded(function, build_step):
    """Run a build step, turning an unexpected exception into an `InternalError` naming `function`."""
    try:
        return build_step()
    except SourceDiffError:
        raise
    except RecursionError:
        raise
    except Exception as error:
        code = function.__code__
        raise InternalError(
            f"sourcediff failed while transforming {function.__qualname__}: {type(error).__name__}: {error}",
            function=function.__qualname__, filename=code.co_filename, line=code.co_firstlineno,
            code=linecache.getline(code.co_filename, code.co_firstlineno),
            hint="This is a bug in sourcediff; please report it with this function.") from error


def derivative(function, scalar_inputs=(), real_inputs=(), inactive_inputs=frozenset()):
    """The cached reverse-mode `Derivative` of a Python function, specialised on its scalar inputs, its
    float64 array inputs (`(name, ndim)` pairs) and the inputs that get no cotangent."""
    return _cache.get(function.__code__, function.__globals__, _key(scalar_inputs, real_inputs, inactive_inputs),
                      lambda: _guarded(function, lambda: build(function, scalar_inputs, real_inputs, inactive_inputs)))


def forward_derivative(function, scalar_inputs=(), real_inputs=(), inactive_inputs=frozenset()):
    """The cached forward-mode `Derivative` of a Python function (its `forward` is the pushforward), specialised
    as `derivative` is."""
    return _cache.get(function.__code__, function.__globals__, ("forward", scalar_inputs, real_inputs, inactive_inputs),
                      lambda: _guarded(function, lambda: build_forward(function, scalar_inputs, real_inputs, inactive_inputs)))


def run_pushforward(function, args, kwargs, tangents, keyword_tangents=None, cell_tangents=None):
    """`(derivative, outputs, output tangents)` of a call of `function` with one tangent per positional argument
    in `tangents` (and per keyword argument in `keyword_tangents`, per captured variable in `cell_tangents`;
    the others get none)."""
    code = function.__code__
    parameters = code.co_varnames[: code.co_argcount]
    # the inputs without a tangent get no tangent code (the derivative is specialised on which they are; this
    # runs on every call, so it is built for speed)
    zero = [name for name, tangent in zip(parameters, tangents) if tangent is None or isinstance(tangent, ZERO_TYPE)]
    if code.co_freevars:
        zero += [name for name in code.co_freevars if runtime.is_zero((cell_tangents or EMPTY).get(name))]
    if kwargs:
        zero += untangented_keywords(kwargs, keyword_tangents or EMPTY)
    inactive = frozenset(zero) if zero else EMPTY_SET
    scalar_inputs, real_inputs = input_kinds(function, args, kwargs)
    entry = _cache.lookup(code, function.__globals__, ("forward", scalar_inputs, real_inputs, inactive)) or \
        forward_derivative(function, scalar_inputs, real_inputs, inactive)
    cells = [_cell_value(c) for c in function.__closure__] if entry.free_names else []
    if entry.parameter_inputs == len(tangents) and not keyword_tangents and not cell_tangents:
        inputs = tangents  # (the inputs without a tangent are unpacked to `_`: None or a zero is never read)
    else:
        by_name = dict(zip(parameters, tangents))
        if len(args) > code.co_argcount and code.co_flags & 0x04:
            by_name[code.co_varnames[code.co_argcount + code.co_kwonlyargcount]] = tuple(tangents[code.co_argcount:])
        if keyword_tangents:
            by_name.update(keyword_tangents)
            if code.co_flags & 0x08:  # the keywords that no named parameter takes are the `**` parameter's entries
                named = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
                extra = {k: keyword_tangents.get(k, runtime.ZERO) for k in kwargs if k not in named}
                by_name[code.co_varnames[code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 0x04)]] = \
                    extra if any(not runtime.is_zero(t) for t in extra.values()) else runtime.ZERO
        if cell_tangents:
            by_name.update(cell_tangents)
        inputs = tuple([by_name.get(name, runtime.ZERO) for name in entry.inputs])
    forward = entry.batched_forward_for(function) if batch.ACTIVE.get() else entry.forward_for(function)
    outputs, output_tangents = forward(inputs, *cells, *args, **kwargs)
    return entry, outputs, output_tangents


EMPTY, EMPTY_SET, ZERO_TYPE = {}, frozenset(), type(runtime.ZERO)


def untangented_keywords(kwargs, keyword_tangents):
    """The keyword arguments of a call that get no tangent (a zero or none)."""
    return frozenset(k for k in kwargs if runtime.is_zero(keyword_tangents.get(k))) if kwargs else frozenset()


def pushed_value(function, args, kwargs, tangents, keyword_tangents=None):
    """`(value, tangent)` of a call of `function` in forward mode (without the new values of the arguments it
    writes into, which forward mode's callers check on their own)."""
    entry, outputs, output_tangents = run_pushforward(function, args, kwargs, tangents, keyword_tangents)
    return (outputs[0], output_tangents[0]) if entry.written else (outputs, output_tangents)


def _key(scalar_inputs, real_inputs, inactive_inputs):
    return (scalar_inputs, real_inputs, inactive_inputs) if real_inputs or inactive_inputs else scalar_inputs


def refresh():
    """Forget every cached derivative (they are rebuilt on next use; never required for correctness)."""
    _cache.clear()


def input_kinds(function, args, kwargs=None):
    """`(scalar inputs, real array inputs)` of a call: the names of the positional parameters (and captured
    variables) holding real scalars, and `(name, ndim)` for the parameters holding float64 arrays (tuples in
    the order of the parameters: this is the key of the cache, run on every call, so it is built for speed)."""
    code = function.__code__
    if len(args) > code.co_argcount:
        args = args[: code.co_argcount]
    found, arrays = [], []
    for name, argument in zip(code.co_varnames, args):
        kind = type(argument)
        if kind is NDARRAY:
            if argument.dtype is FLOAT64:
                arrays.append((name, argument.ndim))
        elif kind is float or kind is int or kind is NUMPY_FLOAT:
            found.append(name)
    if kwargs:
        parameters = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
        keyword_arrays = [(name, argument.ndim) for name, argument in kwargs.items()
                          if type(argument) is NDARRAY and argument.dtype is FLOAT64 and name in parameters]
        if keyword_arrays:
            arrays = sorted(arrays + keyword_arrays)
    if code.co_freevars and function.__closure__:
        found += [n for n, cell in zip(code.co_freevars, function.__closure__) if type(_cell_value(cell)) in SCALAR_TYPES]
    return tuple(found), tuple(arrays)


def _cell_value(cell):
    try:
        return cell.cell_contents
    except ValueError:
        return None


def captured_constants(function):
    """The captured variables of a function differentiated by `sd.pullback` or `sd.gradient`, which return no
    cotangent for them: its derivative there computes none."""
    return frozenset(function.__code__.co_freevars)


def run_forward(function, args, kwargs, keywords_inactive=False, constant_names=frozenset()):
    """Run the derivative's forward for a call: `(derivative, outputs, state)`.

    The outputs are the value of the call, and then the final values of the parameters it writes
    into. A captured variable that changes while the call runs is refused. The parameters in
    `constant_names` (and the keyword arguments, with `keywords_inactive`) get no cotangent.
    """
    inactive = frozenset(kwargs) | constant_names if keywords_inactive and kwargs else constant_names
    scalar_inputs, real_inputs = input_kinds(function, args, kwargs)
    entry = _cache.lookup(function.__code__, function.__globals__, _key(scalar_inputs, real_inputs, inactive)) or derivative(
        function, scalar_inputs, real_inputs, inactive)
    cells = [_cell_value(c) for c in function.__closure__] if entry.free_names else []
    forward = entry.batched_forward_for(function) if batch.ACTIVE.get() else entry.forward_for(function)
    outputs, state = forward(*cells, *args, **kwargs)
    if cells and any(_cell_value(c) is not v for c, v in zip(function.__closure__, cells)):
        raise runtime.error_at_call_site(
            SourceDiffError, f"a variable captured by {function.__qualname__} changed while it ran",
            "Pass the value as an argument instead of changing a captured variable from elsewhere.")
    return entry, outputs, state


_room_lock = threading.Lock()
_room = [0, None]  # how many differentiations are running, and the recursion limit before the first began
_room_here = threading.local()  # whether this thread already runs inside `with_recursion_room`


def with_recursion_room(run, *arguments):
    """`run(*arguments)` with a recursion limit that leaves room for the derivative's own frames (a few per
    call of the user's code); the limit is restored when the last differentiation running ends. Entered where
    a derivative runs the derivative of a call of a user's function (and so may recurse), not on every call of
    `sd.jvp` or `sd.gradient`: the limit's lock and updates cost several microseconds."""
    here = _room_here
    if getattr(here, "inside", False):
        return run(*arguments)
    _room_lock.acquire()  # (not `with`: this runs on every call, and nothing between can raise)
    if not _room[0]:
        _room[1] = sys.getrecursionlimit()
        sys.setrecursionlimit(8 * _room[1])
    _room[0] += 1
    _room_lock.release()
    here.inside = True
    try:
        return run(*arguments)
    finally:
        here.inside = False
        _room_lock.acquire()
        _room[0] -= 1
        if not _room[0]:
            sys.setrecursionlimit(_room[1])
        _room_lock.release()
