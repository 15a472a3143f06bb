"""desugar: rewrite syntactic sugar into the core statements the later passes handle.

Guarantees: no `AugAssign`, `AnnAssign` or `Pass`; every remaining statement is one of Assign,
Expr, If, For, While, Return, Break, Continue, Assert, Raise or a nested FunctionDef. Anything
else raises `UnsupportedSyntaxError` naming the function, file and line.

    >>> import gast; from sourcediff.transform.syntax import source, Namer
    >>> tree = gast.parse("def f(x):\\n    x += 1\\n    return x").body[0]
    >>> print(source(desugar(tree, None, Namer({"f", "x"}))))
    def f(x):
        x = x + 1
        return x
"""
import copy

import gast

from .syntax import assign, at_line, expression, name

UNSUPPORTED = {
    gast.Try: "a try statement", gast.With: "a with statement", gast.AsyncWith: "an async with statement",
    gast.AsyncFor: "an async for loop", gast.Global: "a global declaration", gast.Nonlocal: "a nonlocal declaration",
    gast.Delete: "a del statement", gast.ClassDef: "a class defined inside a function", gast.Import: "an import inside a function",
    gast.ImportFrom: "an import inside a function", gast.AsyncFunctionDef: "an async function",
}
UNSUPPORTED_EXPRESSIONS = {
    gast.NamedExpr: "an assignment expression (:=)", gast.Yield: "yield", gast.YieldFrom: "yield from", gast.Await: "await",
}


class Desugar(gast.NodeTransformer):
    def __init__(self, origin):
        self.origin = origin

    def generic_visit(self, node):
        for kind, what in {**UNSUPPORTED, **UNSUPPORTED_EXPRESSIONS}.items():
            if isinstance(node, kind):
                raise self.origin.unsupported(node, what)
        if hasattr(gast, "Match") and isinstance(node, gast.Match):
            raise self.origin.unsupported(node, "a match statement")
        return super().generic_visit(node)

    def visit_FunctionDef(self, node):
        if node is self.root:
            return self.generic_visit(node)
        return node

    def visit_Lambda(self, node):
        return node

    def visit_AugAssign(self, node):
        if isinstance(node.target, gast.Name) and self.aliases_of(node):
            return self.aliased_update(node)
        target = self.visit(node.target)
        load = copy.deepcopy(target)
        for child in gast.walk(load):
            if hasattr(child, "ctx"):
                child.ctx = gast.Load()
        for child in gast.walk(target):
            if hasattr(child, "ctx") and child is not target:
                child.ctx = gast.Load()
        value = gast.BinOp(left=load, op=node.op, right=self.visit(node.value))
        return at_line(gast.Assign(targets=[target], value=value, type_comment=None), node.lineno)

    def aliases_of(self, node):
        """Names that may refer to the same object as the target of `node`, bound before it."""
        group = self.alias_groups.get(node.target.id, {node.target.id})
        return sorted(n for n in group - {node.target.id} if self.first_binding.get(n, node.lineno) < node.lineno)

    def aliased_update(self, node):
        """`x op= v` where another name may share x's object: update x, then every alias still sharing
        the old object, when that object is mutable (arrays and lists are updated in place by Python)."""
        target = node.target.id
        before = self.namer.fresh(target + "_before")
        value = self.visit(node.value)
        update = gast.BinOp(left=name(target), op=node.op, right=value)
        out = [assign(before, name(target), node.lineno), assign(target, update, node.lineno)]
        for alias in self.aliases_of(node):
            test = expression("{alias} is {before} and hasattr({before}, '__iadd__')", alias=alias, before=before)
            out.append(at_line(gast.If(test=test, body=[assign(alias, name(target), node.lineno)], orelse=[]), node.lineno))
        return out

    def visit_AnnAssign(self, node):
        if node.value is None:
            return None
        return at_line(gast.Assign(targets=[node.target], value=self.visit(node.value), type_comment=None), node.lineno)

    def visit_Pass(self, node):
        return None


def _alias_groups(function):
    """Names linked by plain copies (`a = b`), and the line where each name is first bound."""
    groups, first_binding = {}, {}
    for argument in function.args.args + function.args.posonlyargs + function.args.kwonlyargs:
        first_binding[argument.id] = 0
    for node in gast.walk(function):
        if isinstance(node, (gast.Assign, gast.AugAssign, gast.For)):
            for target in node.targets if isinstance(node, gast.Assign) else [node.target]:
                for child in gast.walk(target):
                    if isinstance(child, gast.Name):
                        first_binding[child.id] = min(first_binding.get(child.id, node.lineno), node.lineno)
        if isinstance(node, gast.Assign) and isinstance(node.value, gast.Name):
            linked = {node.value.id} | {t.id for t in node.targets if isinstance(t, gast.Name)}
            merged = set().union(*(groups.get(n, {n}) for n in linked))
            for member in merged:
                groups[member] = merged
    return groups, first_binding


def desugar(function, origin, namer):
    transformer = Desugar(origin)
    transformer.root, transformer.namer = function, namer
    transformer.alias_groups, transformer.first_binding = _alias_groups(function)
    return transformer.visit(function)
