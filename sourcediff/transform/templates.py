"""Inline templates: the partial derivatives of scalar rules as expressions to paste into code.

A `scalar_rule` row gives its partials as lambdas; their source is parsed once, and the body of
each becomes a gast expression whose parameters are replaced by the names at the call site.
Partials that are not lambdas are called by name. Free names of a template are reported so the
generated module can bind them to the objects the rule module meant.
"""
import ast
import functools
import inspect
import textwrap

import gast


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
        if partial.__name__ == "<lambda>":
            node = lambdas[lambda_index]
            lambda_index += 1
            parameters = [a.id for a in node.args.args]
            templates.append((parameters, node.body, partial.__globals__))
        else:
            count = partial.__code__.co_argcount
            parameters = list(partial.__code__.co_varnames[:count])
            call = gast.Call(func=gast.Name(id=partial.__name__, ctx=gast.Load(), annotation=None, type_comment=None),
                             args=[gast.Name(id=p, ctx=gast.Load(), annotation=None, type_comment=None) for p in parameters],
                             keywords=[])
            templates.append((parameters, call, {partial.__name__: partial}))
    return templates


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

    where the expressions read only the parameters, `y`, `y_bar` and the rule module's globals; the
    parameters are followed by the output's and the cotangent's names. None for any other form."""
    try:
        text = textwrap.dedent(inspect.getsource(rrule))
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef):
        return None
    function = tree.body[0]
    arguments = function.args
    if arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.defaults or arguments.posonlyargs:
        return None
    parameters = [a.arg for a in arguments.args]
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
    names = parameters + [output, cotangent]
    if any(isinstance(n, gast.Lambda) for e in expressions for n in gast.walk(e)):
        return None
    return names, expressions, rrule.__globals__
