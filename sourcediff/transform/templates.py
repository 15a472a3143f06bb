"""Inline templates: the partial derivatives of scalar rules as expressions to paste into code.

A `scalar_rule` row gives its partials as lambdas; their source is parsed once, and the body of
each becomes a gast expression whose parameters are replaced by the names at the call site.
Partials that are not lambdas are called by name. Free names of a template are reported so the
generated module can bind them to the objects the rule module meant.
"""
import ast
import builtins
import functools
import inspect
import math
import operator
import textwrap

import gast

from ..rules.registry import NOT_STATIC
from .syntax import copied


@functools.lru_cache(maxsize=None)
def _lambda_nodes(partial_code_key, partials):
    first = next(p for p in partials if p.__name__ == "<lambda>")
    try:
        lines, start = inspect.getsourcelines(first)
    except (OSError, TypeError):
        return None
    text = "".join(lines).strip()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and any(isinstance(a, ast.Lambda) for a in n.args)]
    if not calls:
        return None
    lambdas = [a for a in calls[0].args if isinstance(a, ast.Lambda)]
    if len(lambdas) != sum(p.__name__ == "<lambda>" for p in partials):
        return None
    return tuple(gast.ast_to_gast(node) for node in lambdas)


def partial_templates(rule):
    """One `(parameters, expression, globals)` per partial of `rule`, or None if not inlinable."""
    if not rule.partials:
        return None
    lambdas = _lambda_nodes(id(rule), tuple(rule.partials)) if any(p.__name__ == "<lambda>" for p in rule.partials) else ()
    if lambdas is None:
        return None
    templates, lambda_index = [], 0
    for partial in rule.partials:
        returned = None if partial.__name__ == "<lambda>" else _returned_expression(partial)
        if partial.__name__ == "<lambda>":
            node = lambdas[lambda_index]
            lambda_index += 1
            parameters = [a.id for a in node.args.args]
            templates.append((parameters, node.body, partial.__globals__))
        elif returned is not None:  # a def that returns one expression: pasted like a lambda
            templates.append((*returned, partial.__globals__))
        else:
            count = partial.__code__.co_argcount
            parameters = list(partial.__code__.co_varnames[:count])
            call = gast.Call(func=gast.Name(id=partial.__name__, ctx=gast.Load(), annotation=None, type_comment=None),
                             args=[gast.Name(id=p, ctx=gast.Load(), annotation=None, type_comment=None) for p in parameters],
                             keywords=[])
            templates.append((parameters, call, {partial.__name__: partial}))
    return templates


@functools.lru_cache(maxsize=None)
def _returned_expression(function):
    """`(parameters, expression)` of a function whose body is `return <expression>` (after a docstring), else None."""
    definition = _definition(function)
    if definition is None:
        return None
    arguments = definition.args
    body = definition.body[1:] if _is_docstring(definition.body[0]) else definition.body
    if arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.defaults or arguments.posonlyargs or \
            definition.decorator_list or len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
        return None
    if any(isinstance(n, (ast.Lambda, ast.NamedExpr, ast.Yield, ast.Await)) or isinstance(n, ast.comprehension)
           for n in ast.walk(body[0].value)):
        return None
    return [a.arg for a in arguments.args], gast.ast_to_gast(body[0].value)


def _definition(function):
    """The `ast.FunctionDef` of a function's own source, or None."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    return tree.body[0]


def _is_docstring(statement):
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str)


def substituted(expression, constants):
    """A copy of `expression` with the parameter names in `constants` replaced by those constant nodes, folded."""
    return folded(_Substitute(constants).visit(copied(expression))) if constants else expression


class _Substitute(gast.NodeTransformer):
    def __init__(self, constants):
        self.constants = constants

    def visit_Name(self, node):
        return copied(self.constants[node.id]) if node.id in self.constants and isinstance(node.ctx, gast.Load) else node


FOLDABLE = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul, gast.Div: operator.truediv,
            gast.Pow: operator.pow, gast.Eq: operator.eq, gast.NotEq: operator.ne, gast.Lt: operator.lt,
            gast.LtE: operator.le, gast.Gt: operator.gt, gast.GtE: operator.ge, gast.Is: operator.is_,
            gast.IsNot: operator.is_not, gast.USub: operator.neg, gast.Not: operator.not_}
NUMBERS = (int, float, bool)
TYPE_NAMES = {"int": int, "float": float, "bool": bool}


def folded(expression):
    """`expression` with the parts whose operands are numeric constants computed (a partial derivative at a
    constant argument, such as the exponent of `x ** 2`): arithmetic and comparisons of constants,
    `type(<constant>) is int`, `and`/`or`/`not` and `a if <constant> else b` on constants, and `x ** 1`."""
    return _Fold().visit(expression)


def static_value(node):
    """The value of a keyword argument written as a constant (an int, a tuple of ints, a bool or None), else
    `NOT_STATIC`."""
    if isinstance(node, gast.Constant) and node.value is None:
        return None
    if type(number_value(node)) in (int, bool):
        return number_value(node)
    if isinstance(node, gast.Tuple) and all(type(static_value(e)) is int for e in node.elts):
        return tuple(static_value(e) for e in node.elts)
    return NOT_STATIC


class _Fold(gast.NodeTransformer):
    """See `folded`."""

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right = number_value(node.left), number_value(node.right)
        if isinstance(node.op, gast.Pow) and right == 1 and type(right) is int:
            return node.left
        if left is not None and right is not None and type(node.op) in FOLDABLE and \
                not (isinstance(node.op, gast.Pow) and abs(right) > 64):
            return _constant_or(node, lambda: FOLDABLE[type(node.op)](left, right))
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        operand = number_value(node.operand)
        if operand is not None and type(node.op) in FOLDABLE and not isinstance(node.operand, gast.Constant):
            return _constant_or(node, lambda: FOLDABLE[type(node.op)](operand))
        if operand is not None and isinstance(node.op, gast.Not):
            return _constant_or(node, lambda: not operand)
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) != 1 or type(node.ops[0]) not in FOLDABLE:
            return node
        left, right = _value_or_type(node.left), _value_or_type(node.comparators[0])
        if left is None or right is None:
            return node
        return _constant_or(node, lambda: FOLDABLE[type(node.ops[0])](left[0], right[0]))

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        kept = []
        for position, value in enumerate(node.values):
            known = number_value(value)
            if known is None or (position == len(node.values) - 1 and kept):  # `x or False` is not `x`
                kept.append(value)
            elif bool(known) == isinstance(node.op, gast.Or):  # decides the whole operation
                return value if not kept else gast.BoolOp(op=node.op, values=kept + [value])
        if not kept:
            return node.values[-1]
        return kept[0] if len(kept) == 1 else gast.BoolOp(op=node.op, values=kept)

    def visit_IfExp(self, node):
        self.generic_visit(node)
        test = number_value(node.test)
        if test is None:
            return node
        return node.body if test else node.orelse


def is_number(node):
    return number_value(node) is not None


def number_value(node):
    """The value of a numeric constant node (`-1` included), else None."""
    if isinstance(node, gast.Constant) and type(node.value) in NUMBERS:
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and isinstance(node.operand, gast.Constant) \
            and type(node.operand.value) in (int, float):
        return -node.operand.value
    return None


def _value_or_type(node):
    """`(value,)` of a numeric constant, of `type(<numeric constant>)` or of `int`/`float`/`bool`; None otherwise."""
    number = number_value(node)
    if number is not None:
        return (number,)
    if isinstance(node, gast.Name) and node.id in TYPE_NAMES:
        return (TYPE_NAMES[node.id],)
    if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id == "type" and \
            len(node.args) == 1 and not node.keywords and number_value(node.args[0]) is not None:
        return (type(number_value(node.args[0])),)
    return None


def _constant_or(node, compute):
    try:
        value = compute()
    except (ArithmeticError, ValueError, TypeError):
        return node
    if type(value) not in NUMBERS or (type(value) is float and not math.isfinite(value)):
        return node
    if type(value) in (int, float) and value < 0:
        return gast.UnaryOp(op=gast.USub(), operand=gast.Constant(value=-value, kind=None))
    return gast.Constant(value=value, kind=None)


def module_value(module_globals, name):
    """What a free name of a template means in the rule module it comes from (a global, else a builtin)."""
    return module_globals[name] if name in module_globals else getattr(builtins, name, None)


def free_names(expression, parameters):
    return sorted({n.id for n in gast.walk(expression) if isinstance(n, gast.Name)} - set(parameters))


@functools.lru_cache(maxsize=None)
def pullback_templates(rrule):
    """`(parameters, [cotangent expression per parameter], globals)` of an rrule written in the inlinable form

        def f_rrule(a, b):
            y = <the primitive on a, b>
            def f_pullback(y_bar):
                return NO_FIELDS, <a's cotangent>, <b's cotangent>
            return y, f_pullback

    where the expressions read only the parameters (keyword-only ones too: a specialisation's keywords),
    `y`, `y_bar` and the rule module's globals; the parameters are followed by the output's and the
    cotangent's names. None for any other form."""
    function = _definition(rrule)
    if function is None:
        return None
    arguments = function.args
    if arguments.vararg or arguments.kwarg or arguments.defaults or arguments.posonlyargs:
        return None
    parameters = [a.arg for a in arguments.args]
    keywords = [a.arg for a in arguments.kwonlyargs]
    if len(function.body) != 3:
        return None
    forward, pullback, returned = function.body
    if not (isinstance(forward, ast.Assign) and len(forward.targets) == 1 and isinstance(forward.targets[0], ast.Name)
            and isinstance(pullback, ast.FunctionDef) and isinstance(returned, ast.Return)
            and isinstance(returned.value, ast.Tuple) and len(returned.value.elts) == 2):
        return None
    output = forward.targets[0].id
    if [getattr(e, "id", None) for e in returned.value.elts] != [output, pullback.name]:
        return None
    inner = pullback.args
    if len(inner.args) != 1 or inner.vararg or inner.kwarg or inner.kwonlyargs or pullback.decorator_list:
        return None
    cotangent = inner.args[0].arg
    if len(pullback.body) != 1 or not isinstance(pullback.body[0], ast.Return) or \
            not isinstance(pullback.body[0].value, ast.Tuple) or len(pullback.body[0].value.elts) != len(parameters) + 1:
        return None
    expressions = [gast.ast_to_gast(e) for e in pullback.body[0].value.elts[1:]]
    names = parameters + keywords + [output, cotangent]
    if any(isinstance(n, gast.Lambda) for e in expressions for n in gast.walk(e)):
        return None
    return names, expressions, rrule.__globals__
