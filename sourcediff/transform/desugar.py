"""desugar: rewrite syntactic sugar into the core statements the later passes handle.

Guarantees: no `AugAssign`, `AnnAssign` or `Pass`; every remaining statement is one of Assign,
Expr, If, For, While, Return, Break, Continue, Assert, Raise or a nested FunctionDef. Anything
else raises `UnsupportedSyntaxError` naming the function, file and line.

    >>> import gast; from sourcediff.transform.syntax import source
    >>> tree = gast.parse("def f(x):\\n    x += 1\\n    return x").body[0]
    >>> print(source(desugar(tree, None)))
    def f(x):
        x = x + 1
        return x
"""
import copy

import gast

from .syntax import at_line

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

    def visit_AnnAssign(self, node):
        if node.value is None:
            return None
        return at_line(gast.Assign(targets=[node.target], value=self.visit(node.value), type_comment=None), node.lineno)

    def visit_Pass(self, node):
        return None


def desugar(function, origin):
    transformer = Desugar(origin)
    transformer.root = function
    return transformer.visit(function)
