"""Inline templates: the partial derivatives of scalar rules as expressions to paste into code.

A `scalar_rule` row gives its partials as lambdas; their source is parsed once, and the body of
each becomes a gast expression whose parameters are replaced by the names at the call site.
Partials that are not lambdas are called by name. Free names of a template are reported so the
generated module can bind them to the objects the rule module meant.
"""
import ast
import functools
import inspect

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
