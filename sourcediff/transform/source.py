"""Reading a function's source into a gast `FunctionDef`.

Guarantees: the returned node is a `FunctionDef` (a lambda becomes one whose body returns its
expression) with decorators removed and line numbers that are the lines of the user's file.
`Origin` carries the function's name, file and source lines for messages and `# line` comments.
"""
import ast
import dataclasses
import inspect
import linecache
import textwrap

import gast

from ..runtime import GENERATED_CODE
from ..errors import SourceUnavailableError, UnsupportedSyntaxError, display_name


@dataclasses.dataclass
class Origin:
    """Where a function comes from: its name, file, and the text of each of its lines."""

    name: str
    filename: str
    first_line: int

    def line_text(self, line):
        return linecache.getline(self.filename, line).strip() if line else ""

    def error(self, kind, problem, node, hint):
        line = getattr(node, "lineno", None) or self.first_line
        return kind(problem, function=self.name, filename=self.filename, line=line, code=self.line_text(line), hint=hint)

    def unsupported(self, node, what, hint="Rewrite it with supported constructs, or register a rule for the function with sd.register_rrule."):
        return self.error(UnsupportedSyntaxError, f"sourcediff cannot differentiate {what}", node, hint)


def _unavailable(function, why):
    name = display_name(function)
    return SourceUnavailableError(
        f"cannot read the source of {name}: {why}",
        hint="Define it in a .py file (not in the interactive prompt or exec), or register a rule for it with sd.register_rrule.",
    )


def parse_function(function):
    """Return `(FunctionDef, Origin)` for a Python function or lambda."""
    code = function.__code__
    generated = GENERATED_CODE.get(code)
    if generated is not None:  # code sourcediff generated: its tree, positioned on the user's lines
        node, origin = generated
        return gast.ast_to_gast(node), origin
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR | inspect.CO_COROUTINE):
        origin = Origin(function.__qualname__, code.co_filename, code.co_firstlineno)
        kind = "generator" if code.co_flags & inspect.CO_GENERATOR else "coroutine"
        raise origin.unsupported(None, f"a {kind} function",
                                 "Return a list or array instead of yielding values, or register a rule for the function.")
    try:
        lines, first_line = inspect.getsourcelines(function)
    except (OSError, TypeError) as error:
        raise _unavailable(function, str(error)) from None
    origin = Origin(function.__qualname__, code.co_filename, first_line)
    try:
        tree = ast.parse(textwrap.dedent("".join(lines)))
        ast.increment_lineno(tree, first_line - 1)
    except SyntaxError:
        tree = ast.parse("".join(linecache.getlines(code.co_filename)))
    node = _find(tree, function, origin)
    node = gast.ast_to_gast(node)
    if isinstance(node, gast.Lambda):
        node = gast.FunctionDef(
            name="lambda", args=node.args, body=[gast.Return(node.body, lineno=node.lineno, col_offset=0)],
            decorator_list=[], returns=None, type_comment=None, type_params=[], lineno=node.lineno, col_offset=0)
    node.decorator_list = []
    return node, origin


def _find(tree, function, origin):
    """The node in `tree` that defines `function` (matched by kind, name, line and arguments)."""
    code = function.__code__
    is_lambda = function.__name__ == "<lambda>"
    wanted = ast.Lambda if is_lambda else (ast.FunctionDef, ast.AsyncFunctionDef)
    candidates = [n for n in ast.walk(tree) if isinstance(n, wanted)]
    if not is_lambda:
        candidates = [n for n in candidates if n.name == function.__name__]
    arg_names = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    candidates = [n for n in candidates if tuple(a.arg for a in n.args.posonlyargs + n.args.args + n.args.kwonlyargs) == arg_names]
    if len(candidates) > 1:
        # (the first instructions of a closure copy its cells, at a made-up position of width zero: skipped)
        positions = [p for p in code.co_positions() if p[0] is not None and p[2] != p[3]] if hasattr(code, "co_positions") \
            else []
        if positions:
            line, col = positions[0][0], positions[0][2]
            located = [n for n in candidates if n.lineno <= line <= n.end_lineno and (n.lineno, n.col_offset) <= (line, col)]
            candidates = located[-1:] or candidates
        else:
            candidates = [n for n in candidates if n.lineno == code.co_firstlineno] or candidates
    if len(candidates) != 1:
        what = "lambda" if is_lambda else "function"
        raise _unavailable(function, f"cannot tell which {what} on line {code.co_firstlineno} it is") if candidates else \
            _unavailable(function, "its definition was not found in its source")
    return candidates[0]
