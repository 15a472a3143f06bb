"""desugar: rewrite syntactic sugar into the core statements the later passes handle.

Guarantees: no `AugAssign`, `AnnAssign` or `Pass` (an augmented assignment calls the in-place
operator, `x = operator.iadd(x, v)`, as Python does); every remaining statement is one of Assign,
Expr, If, For, While, Return, Break, Continue, Assert, Raise or a nested FunctionDef. Anything
else raises `UnsupportedSyntaxError` naming the function, file and line.

    >>> import gast; from sourcediff.transform.syntax import source, Namer
    >>> tree = gast.parse("def f(x, v):\\n    x += 1\\n    v[0] *= x\\n    return x").body[0]
    >>> print(source(desugar(tree, None, Namer({"f", "x", "v"}))))
    def f(x, v):
        x = operator.iadd(x, 1)
        item = v[0]
        item = operator.imul(item, x)
        v[0] = item
        return x
"""

import gast

from .syntax import assign, at_line, copied, name

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
        """`target op= value` as Python runs it: `operator.i<op>` updates a mutable object in place.

        A name becomes `x = operator.iadd(x, v)`. A subscript or attribute target is read once,
        updated, and written back (`t = a[i]; t = operator.iadd(t, v); a[i] = t`), with the parts of
        the target that are not plain names evaluated once beforehand; `t` is recorded as written
        back into `a` (`function.writeback`).
        """
        line = node.lineno
        value = self.visit(node.value)
        update = INPLACE[type(node.op)]
        if isinstance(node.target, gast.Name):
            call = self.namer.helper_call("operator", update, name(node.target.id), value)
            return assign(node.target.id, call, line)
        before, target = self.evaluated_once(node.target, line)
        temporary = self.namer.fresh(_base_name(target))
        self.writeback[temporary] = _root_name(target)
        load = _with_context(target, gast.Load())
        call = self.namer.helper_call("operator", update, name(temporary), value)
        return before + [assign(temporary, load, line), assign(temporary, call, line), assign(target, name(temporary), line)]

    def evaluated_once(self, target, line):
        """Statements binding the non-name parts of an assignment target, and the target rebuilt on them."""
        out = []

        def simple(node):
            if isinstance(node, (gast.Name, gast.Constant)):
                return node
            if isinstance(node, gast.Slice):
                return gast.Slice(*(simple(p) if p is not None else None for p in (node.lower, node.upper, node.step)))
            if isinstance(node, gast.Tuple):
                return gast.Tuple(elts=[simple(e) for e in node.elts], ctx=gast.Load())
            if isinstance(node, gast.Attribute):
                return gast.Attribute(value=simple(node.value), attr=node.attr, ctx=gast.Load())
            if isinstance(node, gast.Subscript):
                return gast.Subscript(value=simple(node.value), slice=simple(node.slice), ctx=gast.Load())
            temporary = self.namer.fresh("part")
            out.append(assign(temporary, self.visit(node), line))
            return name(temporary)

        rebuilt = simple(target)
        return out, _with_context(rebuilt, gast.Store())

    def visit_AnnAssign(self, node):
        if node.value is None:
            return None
        return at_line(gast.Assign(targets=[node.target], value=self.visit(node.value), type_comment=None), node.lineno)

    def visit_Pass(self, node):
        return None


INPLACE = {
    gast.Add: "iadd", gast.Sub: "isub", gast.Mult: "imul", gast.Div: "itruediv", gast.FloorDiv: "ifloordiv",
    gast.Mod: "imod", gast.Pow: "ipow", gast.MatMult: "imatmul", gast.BitAnd: "iand", gast.BitOr: "ior",
    gast.BitXor: "ixor", gast.LShift: "ilshift", gast.RShift: "irshift",
}


def _with_context(node, context):
    """A copy of a target expression whose outermost node has `context` (inner parts are loads)."""
    node = copied(node)
    for child in gast.walk(node):
        if hasattr(child, "ctx"):
            child.ctx = gast.Load()
    node.ctx = context
    return node


def _root_name(target):
    while isinstance(target, (gast.Subscript, gast.Attribute)):
        target = target.value
    return target.id if isinstance(target, gast.Name) else None


def _base_name(target):
    if isinstance(target, gast.Attribute):
        return target.attr.strip("_") or "item"
    return "item"


def desugar(function, origin, namer):
    transformer = Desugar(origin)
    transformer.root, transformer.namer, transformer.writeback = function, namer, {}
    function = transformer.visit(function)
    function.writeback = transformer.writeback
    return function
