"""codegen: generated code as gast statements, built from templates written as Python, printed with the
user's lines.

A generator builds its functions' bodies as lists of gast statements. Statement shapes come from
`Template`s: a template is a Python function whose body is the code to generate and whose parameters
are its holes; filling the holes gives fresh statements (or, for a template that is one expression, that
expression). A `Comment` before the statements generated from a user's line names that line. `render`
prints a body as `(text, user line)` pairs, one per line of text, which is what the pipeline compiles
(each line mapped back to the user's) and what `sd.source` shows.

    >>> from sourcediff.transform.reverse_code import push
    >>> product = gast.parse("a * b", mode="eval").body
    >>> render([Comment(7, "x = a * b")] + push(7, stack="x_stack", value=product))
    [('# line 7: x = a * b', 7), ('x_stack.append(a * b)', 7)]
"""
import copy
import inspect
import textwrap

import gast

from .syntax import copied, name, source


class Comment(gast.stmt):
    """`# line N: <the user's code on line N>`, before the statements generated from it."""

    _fields = ()
    _attributes = ("lineno",)

    def __init__(self, lineno, text):
        super().__init__()
        self.lineno, self.text = lineno, text


class Template:
    """Code written as the body of a Python function; its parameters are the holes.

    A hole is filled with an identifier (a str) or an expression node (copied in). A starred hole
    (`f(*arguments)`, `a, *rest = ...`) takes a list of nodes spliced into its place, and `**keywords` a
    list of `gast.keyword`s.
    """

    def __init__(self, function):
        definition = gast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
        self.__name__, self.__doc__ = function.__name__, function.__doc__
        self.holes = {a.id for a in definition.args.args}
        self.body = [node for node in definition.body if not _is_docstring(node)]

    def __call__(self, line, **holes):
        """The template's statements with `holes` filled, each at the user's line `line`."""
        unknown = set(holes) ^ self.holes
        if unknown:
            raise TypeError(f"template {self.__name__} needs exactly the holes {sorted(self.holes)}, not {sorted(unknown)}")
        return [_filled(node, holes, line) for node in self.body]

    def expression(self, **holes):
        """The value of a template whose body is one expression, its holes filled."""
        (statement,) = self(None, **holes)
        return statement.value


def _is_docstring(node):
    return isinstance(node, gast.Expr) and isinstance(node.value, gast.Constant) and isinstance(node.value.value, str)


def _filled(node, holes, line):
    """A copy of the template node `node` with its holes filled (their values are used as they are, not copied)
    and its own nodes at `line`."""
    kind = type(node)
    if kind is gast.Name and node.id in holes:
        value = holes[node.id]
        if isinstance(value, str):
            return placed(name(value, store=isinstance(node.ctx, gast.Store)), line) if line else name(value)
        return _stored(copied(value)) if isinstance(node.ctx, gast.Store) else value
    result = kind.__new__(kind)
    fields = result.__dict__
    for field, value in node.__dict__.items():
        if type(value) is list:
            value = [part for item in value for part in _spliced(item, holes, line)] if value else []
        elif isinstance(value, gast.AST):
            value = _filled(value, holes, line)
        fields[field] = value
    if "lineno" in fields:
        result.lineno = result.end_lineno = line
        result.col_offset = result.end_col_offset = 0 if line else None
    return result


def _spliced(item, holes, line):
    """What a list entry of a template becomes: the list a starred hole (`*h`, `**h`) stands for, else the entry."""
    kind = type(item)
    if kind is gast.Starred and type(item.value) is gast.Name and type(holes.get(item.value.id)) is list:
        return holes[item.value.id]
    if kind is gast.keyword and item.arg is None and type(item.value) is gast.Name and item.value.id in holes:
        return holes[item.value.id]
    return [_filled(item, holes, line) if isinstance(item, gast.AST) else item]


def placed(statement, line):
    """`statement` at the user's line `line` (its parts keep theirs: only a statement's line is printed)."""
    statement.lineno, statement.col_offset = line, 0
    return statement


def assigned(target, value, line):
    """The statement `target = value` at `line`."""
    target = name(target, store=True) if isinstance(target, str) else target
    return placed(gast.Assign(targets=[target], value=value, type_comment=None), line)


def _stored(target):
    """`target` as an assignment target: its names, and the entries of its tuples and lists, stored into."""
    if isinstance(target, (gast.Name, gast.Tuple, gast.List, gast.Starred, gast.Subscript, gast.Attribute)):
        target.ctx = gast.Store()
    for entry in getattr(target, "elts", ()):
        _stored(entry)
    if isinstance(target, gast.Starred):
        _stored(target.value)
    return target


def render(statements, depth=0):
    """`(text, user line)` for each line of `statements` printed at indentation `depth`: the compound
    statements a generator builds (`if`, `for`, `while`) with their bodies rendered in turn, everything else
    as `ast.unparse` prints it."""
    entries, indent = [], "    " * depth
    for node in statements:
        line = getattr(node, "lineno", None)
        if isinstance(node, Comment):
            entries.append((f"{indent}# line {line}: {node.text}".rstrip(), line))
        elif isinstance(node, (gast.If, gast.For, gast.While)):
            entries.append((indent + header(node), line))
            entries += render(node.body, depth + 1)
            if node.orelse:
                entries.append((indent + "else:", line))
                entries += render(node.orelse, depth + 1)
        else:
            entries += [(indent + text, line) for text in source(node).split("\n")]
    return entries


def header(node):
    """The first line of a compound statement (`if x > 0:`, `def f(x):`)."""
    shell = copy.copy(node)
    shell.body = [gast.Pass()]
    if hasattr(shell, "orelse"):
        shell.orelse = []
    return source(shell).split("\n")[-2]
