"""Small helpers for building and inspecting gast nodes, shared by the passes."""
import ast

import gast

STORE, LOAD = gast.Store(), gast.Load()


def name(identifier, store=False):
    return gast.Name(id=identifier, ctx=gast.Store() if store else gast.Load(), annotation=None, type_comment=None)


def constant(value):
    return gast.Constant(value=value, kind=None)


def assign(target, value, line):
    target = name(target, store=True) if isinstance(target, str) else target
    return at_line(gast.Assign(targets=[target], value=value, type_comment=None), line)


def at_line(node, line):
    """Give `node` and everything below it the line `line` (where they have none)."""
    for child in gast.walk(node):
        if getattr(child, "lineno", None) is None and "lineno" in getattr(child, "_attributes", ()):
            child.lineno, child.col_offset = line, 0
    return node


def copied(node):
    """A copy of a gast tree (several times faster than `copy.deepcopy`, which it equals)."""
    if isinstance(node, list):
        return [copied(item) for item in node]
    if not isinstance(node, gast.AST):
        return node
    kind = type(node)
    result = kind.__new__(kind)
    result.__dict__.update((field, copied(value) if isinstance(value, (gast.AST, list)) else value)
                           for field, value in node.__dict__.items())
    return result


def renamed(node, renames):
    """A copy of `node` with the identifiers in `renames` replaced, except inside a lambda or def whose
    parameters shadow them."""
    if not renames:
        return node
    node = copied(node)

    def visit(current, active):
        if isinstance(current, (gast.Lambda, gast.FunctionDef)):
            arguments = current.args
            own = {a.id for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
            own |= {a.id for a in (arguments.vararg, arguments.kwarg) if a is not None}
            active = {k: v for k, v in active.items() if k not in own}
        if isinstance(current, gast.Name) and current.id in active:
            current.id = active[current.id]
        for child in gast.iter_child_nodes(current):
            visit(child, active)

    visit(node, renames)
    return node


def index_value(index):
    """An expression whose value is the index object of a subscript (slices become `slice(...)`)."""
    if isinstance(index, gast.Slice):
        parts = [p if p is not None else constant(None) for p in (index.lower, index.upper, index.step)]
        return gast.Call(func=name("slice"), args=parts, keywords=[])
    if isinstance(index, gast.Tuple):
        return gast.Tuple(elts=[index_value(e) for e in index.elts], ctx=gast.Load())
    return index


def names_in(node):
    """Every identifier used in `node` (loaded or stored)."""
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def loaded_names(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}


def stored_names(node):
    """Names bound by `node` and the statements below it (not inside nested functions)."""
    found = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, gast.Name) and isinstance(current.ctx, gast.Store):
            found.add(current.id)
        if isinstance(current, (gast.FunctionDef,)) and current is not node:
            found.add(current.name)
            continue
        if isinstance(current, gast.Lambda):
            continue
        stack.extend(gast.iter_child_nodes(current))
    return found


class Namer:
    """Fresh, deterministic names that collide with nothing in the function: `x_bar`, `x_bar_1`, ...

    `helper("runtime")` is the name under which the generated module binds a helper module; it is
    chosen once per function (`runtime`, or `runtime_1` if the user's code has a `runtime`).
    """

    def __init__(self, taken):
        self.taken = set(taken)
        self.helpers = {}

    def helper(self, module):
        if module not in self.helpers:
            self.helpers[module] = self.fresh(module)
        return self.helpers[module]

    def helper_call(self, module, function, *args):
        """A call node `<module>.<function>(*args)` on a helper module."""
        func = gast.Attribute(value=name(self.helper(module)), attr=function, ctx=gast.Load())
        return gast.Call(func=func, args=list(args), keywords=[])

    def fresh(self, base):
        candidate, number = base, 0
        while candidate in self.taken:
            number += 1
            candidate = f"{base}_{number}"
        self.taken.add(candidate)
        return candidate

    def numbered(self, base):
        number = 1
        while f"{base}_{number}" in self.taken:
            number += 1
        self.taken.add(f"{base}_{number}")
        return f"{base}_{number}"


def structure(node):
    """A hashable key equal for two nodes exactly when they print as the same code (positions and
    contexts aside; constants compared with their types, so `1` is not `1.0`)."""
    if isinstance(node, gast.AST):
        return (type(node).__name__,) + tuple(structure(getattr(node, f, None)) for f in node._fields
                                              if f not in ("ctx", "type_comment", "annotation", "kind"))
    if isinstance(node, list):
        return tuple(structure(item) for item in node)
    return type(node), node


def source(node):
    """The Python text of a gast node, each statement on one line (an expression without enclosing parentheses)."""
    return ast.unparse(gast.gast_to_ast(node))
