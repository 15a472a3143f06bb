"""generation: what the reverse and forward generators share.

A generator walks a function after `effects` and emits gast statements. This module holds the parts
that do not depend on the direction: reading call sites (`site`, `operation_site`), the checks that
refuse what neither mode can differentiate (defaults, foreign writes, closures kept while what they read
changes), the helpers the effects pass inserted (`skipped` on scalars), inlined partial derivatives
(`instantiate`, `on_scalars`), and small builders of nodes.
"""
import gast
import numpy as np

from ..rules.numpy_elementwise import SCALAR_TWINS
from .codegen import Comment, Template, header, placed
from .dataflow import captured_writes, closure_captures, live_after, simple_statements
from .resolve import Kind
from .syntax import index_value, loaded_names, name as name_node, renamed
from .templates import free_names, is_number, module_value, number_value, substituted

COPIES = {"own", "own_array", "own_list", "own_resized"}


@Template
def _call_for_effect(dispatch, function, arguments, keywords):
    dispatch.call_for_effect(function, *arguments, **keywords)


class Generator:
    """The state and the checks both generators start from."""

    def __init__(self, function, origin, namer, classify, analyses, bind):
        self.function, self.origin, self.namer, self.classify = function, origin, namer, classify
        self.bound = {}  # what each name the generated code binds stands for
        self.rules = {}  # the name of each rule function the code calls -> its rule (see `batch.batched_binding`)

        def bound(name, value):
            found = bind(name, value)
            self.bound[found] = value
            return found

        self.bind = bound
        self.active, self.varying = analyses.active, analyses.varying
        self.scalar_names, self.inputs, self.user_names = analyses.scalar_names, analyses.inputs, analyses.user_names
        self.real_names = getattr(analyses, "real_names", {})
        self.runtime, self.dispatch, self.operator = namer.helper("runtime"), namer.helper("dispatch"), namer.helper("operator")
        self.body = function.body[:-1]
        self.result = function.body[-1].value.id
        self.outputs = [self.result] + list(getattr(function, "written", {}).values())
        self.captures = closure_captures(self.body)
        self.closures = closure_names(self.body, self.captures, self.inputs)
        self.assignments = assignments(self.body, self.inputs)
        self.writing_closures = {d.name if isinstance(d, gast.FunctionDef) else d.targets[0].id for d in definitions(self.body)
                                 if captured_writes(d if isinstance(d, gast.FunctionDef) else d.value,
                                                    set(self.inputs) | set(self.assignments))}
        self.sites = {}

    def zero_value(self):
        return gast.Attribute(value=name_node(self.runtime), attr="ZERO", ctx=gast.Load())

    def is_broadcast(self, argument, arguments):
        """Whether the result of an elementwise operation on `arguments` may have another shape than `argument`:
        an array operand beside others, unless all the others are scalars."""
        arrays = [a for a in arguments if not is_number(a) and not (isinstance(a, gast.Name) and self.holds_a_scalar(a.id))]
        return bool(arrays) and len(arguments) > 1 and arrays != [argument]

    def read(self, node):
        """An atom the generated code reads (a name, or a node)."""
        return name_node(node) if isinstance(node, str) else node

    def holds_a_scalar(self, name):
        """Whether `name` always holds a real number (a Python or NumPy scalar), never an array."""
        return name in self.scalar_names or self.real_names.get(name) == 0

    def is_active(self, node):
        return isinstance(node, gast.Name) and node.id in self.active

    def site(self, value):
        if id(value) not in self.sites:
            self.sites[id(value)] = self.classify(value, self.scalar_names, self.real_names)
        return self.sites[id(value)]

    def helper_call(self, value, names):
        """The runtime helper an effects-pass call uses (`own`, `rebind`, ...), or None."""
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
                isinstance(value.func.value, gast.Name) and value.func.value.id == self.runtime and value.func.attr in names:
            return value.func.attr
        return None

    def skipped(self, node):
        """Effects-pass statements that do nothing for scalars (numbers are never shared or changed in place)."""
        value = node.value if isinstance(node, (gast.Assign, gast.Expr)) else None
        helper = self.helper_call(value, COPIES | {"rebind", "check_unshared"})
        if helper is None:
            return False
        scalar = [isinstance(a, gast.Name) and a.id in self.scalar_names for a in value.args]
        if helper == "check_unshared":
            return scalar[1] or all(scalar[7:])
        if helper == "rebind":
            return scalar[0] or scalar[2]
        return scalar[0]

    def check_closures(self):
        """Refuse a closure whose cotangent could be given to its captured variables as they were not.

        A closure taken by an operation (called, or passed to `map`) gives its cotangent to its
        variables as they are at that operation; that is wrong only if the operation's result, which
        may keep the closure, is still in use when one of them changes. A closure stored (in another
        name, a container, another closure, the result) gives it where it is defined: none of its
        variables may change after that.
        """
        order = statement_order(self.body)
        live = live_after(self.body, self.captures)
        for definition in definitions(self.body):
            closure = definition.name if isinstance(definition, gast.FunctionDef) else definition.targets[0].id
            if closure not in self.closures:
                continue
            stored, holders = closure_uses(self.body, closure, self.captures)
            position, loops = order[id(definition)]
            for captured in sorted(self.reached(closure) & self.varying):
                for change in changes(self.body, captured):
                    if self.skipped(change):
                        continue
                    change_position, change_loops = order[id(change)]
                    late = change_position > position or set(loops) & set(change_loops)
                    if (stored and late) or holders & live.get(id(change), frozenset()):
                        raise self.origin.unsupported(
                            definition, f"a closure kept (stored or passed on) while {captured!r}, which it reads, changes",
                            f"Call the closure directly, or pass {captured!r} to it as an argument.")

    def check_defaults(self, function, node):
        """Default values are computed once, where the function is made; they cannot carry derivatives."""
        arguments = function.args
        defaults = list(arguments.defaults) + [d for d in arguments.kw_defaults if d is not None]
        if any(loaded_names(d) & self.varying for d in defaults):
            raise self.origin.unsupported(node, "a default argument value that depends on a differentiated input",
                                          "Use the value inside the function body (as a captured variable) instead of as a default.")

    def check_foreign(self, node):
        if node in getattr(self.function, "foreign_writes", ()) and loaded_names(node.value) & self.varying:
            raise self.origin.unsupported(
                node, "a differentiated value written into an object that may be reached through a global",
                "Build the result in a local array (for example a copy) and return it instead.")

    def commented(self, statements, emit):
        """What `emit(node, lines)` generates for each of `statements`, a comment naming each user line before its
        code (`pass` where nothing is generated)."""
        lines, last_line = [], None
        for node in statements:
            line = getattr(node, "lineno", None)
            if line != last_line and line is not None:
                lines.append(self.comment(line))
                last_line = line
            emit(node, lines)
        return or_pass(lines, last_line)

    def comment(self, line):
        return Comment(line, self.origin.line_text(line) if self.origin else "")

    def calls_a_writing_closure(self, value):
        """A call of (or handing over) a local closure that may change a variable it captures in place: it goes
        through `dispatch.call_for_effect` (which refuses that) even when its value carries no derivative."""
        if not isinstance(value, gast.Call):
            return False
        handed = [value.func] + list(value.args) + [k.value for k in value.keywords]
        return any(isinstance(n, gast.Name) and n.id in self.writing_closures for n in handed)

    def calls_an_unknown_callee(self, value):
        """A call of a function known only at run time (a captured variable, say) with differentiated arguments:
        it may write into them, so it goes through `dispatch.call_for_effect` even when its value carries no
        derivative."""
        if not isinstance(value, gast.Call) or not (loaded_names(value) & self.varying):
            return False
        site = self.site(value)
        return site.kind in (Kind.CALL, Kind.SPREAD) and site.function is None

    def operation_site(self, value):
        """The `Site` of an assignment's value if it is an operation with a derivative rule or callee."""
        if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Call)):
            return self.site(value)
        if isinstance(value, gast.Subscript) and loaded_names(value.slice) & self.active:
            return self.site(self.getitem_call(value))
        return None

    def getitem_call(self, subscript):
        key = ("getitem", id(subscript))
        if key not in self.sites:
            self.sites[key] = getitem_node(subscript, self.operator)
        return self.sites[key]

    def called_for_effect(self, call):
        arguments, keywords = call_parts(call)
        return _call_for_effect.expression(dispatch=self.dispatch, function=call.func, arguments=arguments, keywords=keywords)

    def reached(self, closure, seen=()):
        """The variables a local closure reads, directly or through the local closures it captures."""
        found = set()
        for name in self.captures.get(closure, ()):
            if name in self.closures and name not in seen:
                found |= self.reached(name, seen + (closure,))
            else:
                found.add(name)
        return found

    def on_scalars(self, expression):
        """`expression` with each NumPy function applied to a real scalar (`np.cos(x)`) replaced by its `math`
        twin (`SCALAR_TWINS`), which is several times faster on one number."""
        return _Twins(self).visit(expression)

    def instantiate(self, template, parameters, arguments, output, module_globals):
        """A partial's template at the call site: constant arguments folded in, the others' names read."""
        template = substituted(template, {p: a for p, a in zip(parameters, arguments) if is_number(a)})
        used = {n.id for n in gast.walk(template) if isinstance(n, gast.Name)}
        read = {p: self.read(a) for p, a in zip(parameters, arguments) if p in used}
        if len(parameters) > len(arguments) and parameters[len(arguments)] in used:
            read[parameters[len(arguments)]] = self.read(output)
        renames = {free: self.bind(free, module_value(module_globals, free)) for free in free_names(template, parameters)}
        return read_into(template, read, renames)


def getitem_node(subscript, operator_name):
    """`x[i]` as the call `operator.getitem(x, i)` (for a subscript whose index carries a derivative)."""
    func = gast.Attribute(value=gast.Name(id=operator_name, ctx=gast.Load(), annotation=None, type_comment=None),
                          attr="getitem", ctx=gast.Load())
    call = gast.Call(func=func, args=[subscript.value, index_value(subscript.slice)], keywords=[])
    return gast.copy_location(call, subscript) if hasattr(subscript, "lineno") else call


class _Twins(gast.NodeTransformer):
    """See `ReverseGenerator.on_scalars`."""

    def __init__(self, generator):
        self.generator = generator

    def visit_Call(self, node):
        self.generic_visit(node)
        func, generator = node.func, self.generator
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and len(node.args) == 1 and \
                not node.keywords and isinstance(node.args[0], gast.Name) and generator.holds_a_scalar(node.args[0].id):
            function = getattr(generator.bound.get(func.value.id), func.attr, None)
            twin = SCALAR_TWINS.get(function) if isinstance(function, np.ufunc) else None
            if twin is not None:
                node.func = gast.Name(id=generator.bind(twin.__name__, twin), ctx=gast.Load(), annotation=None,
                                      type_comment=None)
        return node


def read_into(expression, read, renames):
    """`expression` with parameter names replaced by what is read for them (names, or other atoms such as
    constants, folded in) and the names in `renames` renamed."""
    constants = {n: v for n, v in read.items() if not isinstance(v, gast.Name)}
    names = {n: v.id for n, v in read.items() if isinstance(v, gast.Name)}
    return renamed(substituted(expression, constants), {**names, **renames})


def call_parts(value):
    """The positional arguments and the keywords an operation passes (an operator's operands)."""
    if isinstance(value, gast.BinOp):
        return [value.left, value.right], []
    if isinstance(value, gast.UnaryOp):
        return [value.operand], []
    return list(value.args), list(value.keywords)


def has_code(statements):
    return any(not isinstance(node, Comment) for node in statements)


def or_pass(statements, line):
    """`statements`, or `pass` where they hold no code."""
    return statements if has_code(statements) else statements + [placed(gast.Pass(), line)]


def assignments(body, inputs):
    """`{name: (number of assignments, whether one is inside a loop)}`; an input counts as assigned on entry."""
    counts = {n: (1, False) for n in inputs}

    def record(name, in_loop):
        count, looped = counts.get(name, (0, False))
        counts[name] = (count + 1, looped or in_loop)

    def visit(statements, in_loop):
        for node in statements:
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                record(node.targets[0].id, in_loop)
            elif isinstance(node, gast.FunctionDef):
                record(node.name, in_loop)
            elif isinstance(node, gast.For):
                record(node.target.id, True)
                visit(node.body, True)
            elif isinstance(node, gast.While):
                visit(node.body, True)
            elif isinstance(node, gast.If):
                visit(node.body, in_loop)
                visit(node.orelse, in_loop)

    visit(body, False)
    return counts


def closure_names(body, captures, inputs):
    """Local names bound only to lambdas and nested defs (their cotangents go to what they capture)."""
    others = set(inputs)
    for node in simple_statements(body):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) and not isinstance(node.value, gast.Lambda):
            rebinding = isinstance(node.value, gast.Call) and isinstance(node.value.func, gast.Attribute) and \
                node.value.func.attr == "rebind"
            if not rebinding:
                others.add(node.targets[0].id)
    return set(captures) - others


def definitions(body):
    for node in body:
        if isinstance(node, gast.FunctionDef) or (isinstance(node, gast.Assign) and isinstance(node.value, gast.Lambda)
                                                  and isinstance(node.targets[0], gast.Name)):
            yield node
        for field in ("body", "orelse"):
            if not isinstance(node, gast.FunctionDef):
                yield from definitions(getattr(node, field, None) or [])


def closure_uses(body, closure, captures):
    """`(stored, holders)` for a local closure: whether its value is stored somewhere that may outlive the
    statement using it, and the names bound to results of operations it is passed to."""
    stored, holders = False, set()
    for node in simple_statements(body):
        if isinstance(node, gast.FunctionDef):
            continue
        value = getattr(node, "value", None)
        if not isinstance(node, (gast.Assign, gast.Expr, gast.Return)) or closure not in loaded_names(node):
            continue
        target = node.targets[0] if isinstance(node, gast.Assign) else None
        if isinstance(value, (gast.Call, gast.BinOp, gast.UnaryOp)) and isinstance(target, (gast.Name, type(None))):
            passed = any(closure in loaded_names(a) for a in operands(value))
            if passed and target is not None:
                holders.add(target.id)
        elif isinstance(value, gast.Lambda):
            continue
        elif not (isinstance(value, (gast.Attribute, gast.Subscript, gast.Compare)) and target is not None
                  and isinstance(target, gast.Name)):
            stored = True
    return stored, holders


def operands(value):
    if isinstance(value, gast.BinOp):
        return [value.left, value.right]
    if isinstance(value, gast.UnaryOp):
        return [value.operand]
    return list(value.args) + [k.value for k in value.keywords] + \
        ([value.func.value] if isinstance(value.func, gast.Attribute) else [])


def statement_order(body):
    """`{id(statement): (position in program order, ids of the loops around it)}`."""
    order = {}

    def visit(statements, loops):
        for node in statements:
            order[id(node)] = (len(order), loops)
            if isinstance(node, (gast.For, gast.While)):
                visit(node.body, loops + (id(node),))
            elif isinstance(node, gast.If):
                visit(node.body, loops)
                visit(node.orelse, loops)

    visit(body, ())
    return order


def changes(body, name):
    """Statements that assign `name` or change its object in place."""
    for node in body:
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            base = target.value if isinstance(target, (gast.Subscript, gast.Attribute)) else target
            if isinstance(base, gast.Name) and base.id == name:
                yield node
        elif isinstance(node, gast.For) and node.target.id == name:
            yield node
        if isinstance(node, (gast.If, gast.For, gast.While)):
            yield from changes(node.body, name)
            yield from changes(node.orelse, name)


def parameter_names(function):
    arguments = function.args
    names = [a.id for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
    return names + [a.id for a in (arguments.vararg, arguments.kwarg) if a is not None]


def names_tuple(names):
    return gast.Tuple(elts=[name_node(n) for n in names], ctx=gast.Load())


def arguments_node(names, posonly=(), vararg=None, kwonly=(), kwarg=None):
    def parameter(identifier):
        return gast.Name(id=identifier, ctx=gast.Param(), annotation=None, type_comment=None)

    return gast.arguments(posonlyargs=[parameter(n) for n in posonly], args=[parameter(n) for n in names],
                          vararg=vararg and parameter(vararg), kwonlyargs=[parameter(n) for n in kwonly],
                          kw_defaults=[None] * len(kwonly), kwarg=kwarg and parameter(kwarg), defaults=[])


def definition_line(name, arguments, free):
    """The `def` line of a generated function with the parameters of `arguments` (no defaults: the caller binds
    them when it calls), after the captured variables `free`."""
    posonly = [p.id for p in arguments.posonlyargs]
    names = [p.id for p in arguments.args]
    parameters = arguments_node(names if posonly else free + names, free + posonly if posonly else (),
                            arguments.vararg and arguments.vararg.id, [p.id for p in arguments.kwonlyargs],
                            arguments.kwarg and arguments.kwarg.id)
    definition = gast.parse("def f():\n    pass").body[0]
    definition.name, definition.args = name, parameters
    return header(definition)


def scaled(bar, partial):
    """The expression `bar * partial`, without a factor of one (`bar`, `-bar`), and `bar / b` for `1 / b`."""
    factor = number_value(partial)
    if factor == 1:
        return name_node(bar)
    if factor == -1:
        return gast.UnaryOp(op=gast.USub(), operand=name_node(bar))
    if isinstance(partial, gast.BinOp) and isinstance(partial.op, gast.Div) and number_value(partial.left) == 1:
        return gast.BinOp(left=name_node(bar), op=gast.Div(), right=partial.right)
    return gast.BinOp(left=name_node(bar), op=gast.Mult(), right=partial)
