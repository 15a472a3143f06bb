"""Small helpers for building and inspecting gast nodes, shared by the passes."""
import ast
import copy

import astor
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


def statements(template, line, **names):
    """Parse a template of Python statements, with `{key}` filled from `names`, at line `line`."""
    body = gast.parse(template.format(**names)).body
    for node in body:
        for child in gast.walk(node):
            if "lineno" in getattr(child, "_attributes", ()):
                child.lineno, child.col_offset = line, 0
    return body


def expression(template, line=None, **names):
    node = gast.parse(template.format(**names), mode="eval").body
    return at_line(node, line) if line else node


def renamed(node, renames):
    """A copy of `node` with the identifiers in `renames` replaced."""
    if not renames:
        return node
    node = copy.deepcopy(node)
    for child in gast.walk(node):
        if isinstance(child, gast.Name) and child.id in renames:
            child.id = renames[child.id]
    return node


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
    """Fresh, deterministic names that collide with nothing in the function: `x_bar`, `x_bar_1`, ..."""

    def __init__(self, taken):
        self.taken = set(taken)

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


def source(node):
    """The Python text of a gast node (an expression is printed without enclosing parentheses)."""
    tree = gast.gast_to_ast(node)
    if isinstance(tree, ast.expr):
        tree = ast.Expr(value=tree)
    return astor.to_source(tree).strip()
