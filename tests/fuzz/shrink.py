"""Minimise a failing program: `shrink(program, result) -> Program`.

The shrinker works on the program's Python AST, so it shrinks any program, hand-written ones
included. It tries reductions, largest first, and keeps a candidate when checking it gives the
same outcome and the same kind of detail (the same exception type and place, the same kind of
wrong result). Candidates must stay meaningful: invalid ones (that fail when run plainly) never
match, nor do ones that read a name bound nowhere in the module, nor ones in which a nested
function, lambda or comprehension that ran in the original no longer runs although the function
around it does (sourcediff transforms those with the function around them, so a failure could
otherwise move into code that never runs). Reductions:

- delete a statement (a module-level function or class, a method, a statement in any body);
- replace an `if`/`for`/`while` by one of its bodies;
- replace an expression by one of its sub-expressions, by `1.0`, or by a parameter's name;
- drop a parameter of a helper (and the matching argument at every call) or of the entry
  function (and its argument value);
- simplify argument values: drop the last entry of an array, list or dict, round floats.

It repeats until no reduction applies, `max_attempts` candidates have been checked or
`max_seconds` have passed. Most of the time goes into sourcediff differentiating candidates, so
statements are first deleted in chunks (halves, then quarters of a body), then one by one.
"""
import ast
import builtins
import copy
import sys
import time

import numpy as np

from . import checker, programs


def shrink(program, outcome, *, max_attempts=600, max_seconds=60.0, timeout=2.0, check=None):
    """The smallest program found that still gives `outcome` (a `checker.Result`, or just an outcome name).

    `check(program) -> Result` defaults to `checker.check` with a short timeout.
    """
    stop = time.monotonic() + max_seconds
    check = check or (lambda candidate: checker.check(candidate, timeout=timeout))
    target = outcome if isinstance(outcome, checker.Result) else checker.Result(outcome)

    unbound = _unbound_names(ast.parse(program.source))
    uncalled = _uncalled(program, timeout)

    def keeps(candidate):
        if not _unbound_names(ast.parse(candidate.source)) <= unbound:
            return False
        missed = _uncalled(candidate, timeout)
        if missed is None or (uncalled is not None and not missed <= uncalled):
            return False
        result = check(candidate)
        return result.outcome == target.outcome and (not target.kind or result.kind == target.kind)

    current = _normalized(program)
    tried = {_key(current)}
    attempts = 0
    position = 0
    while attempts < max_attempts and time.monotonic() < stop:
        candidates = list(_candidates(current))
        if not candidates:
            break
        accepted = False
        for step in range(len(candidates)):
            candidate = candidates[(position + step) % len(candidates)]()
            if candidate is None:
                continue
            key = _key(candidate)
            if key in tried:
                continue
            tried.add(key)
            attempts += 1
            if keeps(candidate):
                current, position, accepted = candidate, (position + step) % len(candidates), True
                break
            if attempts >= max_attempts or time.monotonic() >= stop:
                break
        if not accepted:
            break
    return current


def _unbound_names(tree):
    """Names read somewhere in the module but bound nowhere in it (nor builtins)."""
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - bound


def _uncalled(program, timeout):
    """Qualified names of the nested functions, lambdas and comprehensions of `program` that a plain
    run of it never enters although it enters the function around them; None if the run fails."""
    called = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename == path:
            called.add(frame.f_code.co_qualname)

    try:
        with programs.deadline(timeout), programs.loaded(program) as (function, args):
            path = function.__code__.co_filename
            sys.setprofile(profile)
            try:
                value = programs.run_plain(function, args)
            finally:
                sys.setprofile(None)
            if programs.value_problem(value):
                return None
            defined = _code_names(compile(program.source, path, "exec"))
    except (Exception, programs.Timeout):  # the candidate does not run
        return None
    return {name for name in defined - called if name.rsplit(".<locals>.", 1)[0] in called}


def _code_names(code):
    """Qualified names of the code objects nested in functions inside `code`."""
    names = set()
    for constant in code.co_consts:
        if isinstance(constant, type(code)):
            names |= _code_names(constant) | ({constant.co_qualname} if "<locals>" in constant.co_qualname else set())
    return names


def _normalized(program):
    """`program` with its source re-printed from the AST (so sizes of candidates compare fairly)."""
    return programs.Program(programs.format_source(ast.parse(program.source)), program.args, program.entry, program.seed)


def _key(program):
    return program.source, programs.value_source(program.args)


def _candidates(program):
    """Functions making smaller variants of `program`, roughly largest reductions first.

    Making a variant (copying and printing the AST) costs more than listing it, so the variants
    are only made when they are tried.
    """
    tree = ast.parse(program.source)
    yield from _source_candidates(program, tree, _statement_deletions)
    yield from _source_candidates(program, tree, _body_promotions)
    yield from _parameter_removals(program, tree)
    yield from _source_candidates(program, tree, _expression_replacements)
    yield from _argument_simplifications(program)


def _source_candidates(program, tree, edits):
    for edit in edits(tree):
        yield lambda edit=edit: _edited(program, tree, edit)


def _edited(program, tree, edit):
    """The program with `edit` applied to a copy of its tree, or None if the result is not valid syntax."""
    new = copy.deepcopy(tree)
    edit(new)
    try:
        source = programs.format_source(new)
        ast.parse(source)
    except (ValueError, SyntaxError):
        return None
    return programs.Program(source, program.args, program.entry, program.seed)


# Locations are paths from the module: tuples of (field name, index or None), so that an edit
# found on one tree can be applied to a copy of it.

def _resolve(tree, path):
    node = tree
    for field, index in path:
        node = getattr(node, field)
        if index is not None:
            node = node[index]
    return node


def _statement_lists(node, path=()):
    """`(path, list)` of every list of statements in the tree (module body, function bodies, branches, ...)."""
    for field, value in ast.iter_fields(node):
        if isinstance(value, list):
            if value and all(isinstance(item, ast.stmt) for item in value):
                yield path + ((field, None),), value
            for i, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield from _statement_lists(item, path + ((field, i),))
        elif isinstance(value, ast.AST):
            yield from _statement_lists(value, path + ((field, None),))


def _statement_deletions(tree):
    """Delete chunks of a body (halves, then quarters), then single statements."""
    lists = list(_statement_lists(tree))
    for fraction in (2, 4):
        for path, body in lists:
            size = len(body) // fraction
            if size >= 2:
                for start in range(0, len(body) - size + 1, size):
                    yield lambda new, path=path, start=start, size=size: _delete(_resolve(new, path), start, size)
    for path, body in lists:
        for i in range(len(body)):
            yield lambda new, path=path, i=i: _delete(_resolve(new, path), i, 1)


def _delete(body, start, size):
    _replace_statement(body, start, [], size)


def _body_promotions(tree):
    for path, body in _statement_lists(tree):
        for i, statement in enumerate(body):
            if isinstance(statement, (ast.If, ast.For, ast.While)):
                for field in ("body", "orelse"):
                    if getattr(statement, field):
                        yield lambda new, path=path, i=i, field=field: _replace_statement(
                            _resolve(new, path), i, getattr(_resolve(new, path)[i], field))


def _replace_statement(body, i, replacement, size=1):
    body[i:i + size] = replacement
    if not body:
        body.append(ast.Pass())


UNTOUCHED_FIELDS = {"annotation", "returns", "decorator_list", "func"}


def _expressions(node, path=()):
    """`(path, expression)` of every expression that is read (not assigned to), outermost first."""
    for field, value in ast.iter_fields(node):
        if field in UNTOUCHED_FIELDS or isinstance(node, ast.JoinedStr):
            continue
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            if not isinstance(item, ast.AST):
                continue
            here = path + ((field, index),)
            owner = isinstance(node, ast.Attribute) and isinstance(item, ast.Name)  # `np` in `np.sin`
            if isinstance(item, ast.expr) and not isinstance(getattr(item, "ctx", None), (ast.Store, ast.Del)) \
                    and not owner:
                yield here, item
            yield from _expressions(item, here)


def _expression_replacements(tree):
    entry_params = [a.arg for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "f"
                    for a in node.args.args]
    for path, expression in _expressions(tree):
        if isinstance(expression, ast.Constant):
            continue
        replacements = [child for child in ast.iter_child_nodes(expression)
                        if isinstance(child, ast.expr) and not isinstance(getattr(child, "ctx", None), ast.Store)]
        replacements.append(ast.Constant(1.0))
        if not isinstance(expression, ast.Name):
            replacements += [ast.Name(name, ast.Load()) for name in entry_params[:2]]
        for replacement in replacements:
            yield lambda new, path=path, replacement=replacement: _set(new, path, copy.deepcopy(replacement))


def _set(tree, path, value):
    parent = _resolve(tree, path[:-1])
    field, index = path[-1]
    if index is None:
        setattr(parent, field, value)
    else:
        getattr(parent, field)[index] = value


def _parameter_removals(program, tree):
    """Drop a parameter of the entry function (with its argument) or of a helper (with its call arguments)."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            for position, parameter in enumerate(node.args.args):
                yield lambda name=node.name, position=position, parameter=parameter.arg: _without_parameter(
                    program, tree, name, position, parameter)


def _without_parameter(program, tree, name, position, parameter):
    new = copy.deepcopy(tree)
    _drop_parameter(next(n for n in new.body if isinstance(n, ast.FunctionDef) and n.name == name), position)
    args = program.args
    if name == program.entry:
        args = args[:position] + args[position + 1:]
    else:
        _drop_call_arguments(new, name, position, parameter)
    return programs.Program(programs.format_source(new), args, program.entry, program.seed)


def _drop_parameter(function, position):
    arguments = function.args
    defaults_start = len(arguments.args) - len(arguments.defaults)
    if position >= defaults_start:
        del arguments.defaults[position - defaults_start]
    del arguments.args[position]


def _drop_call_arguments(tree, name, position, parameter):
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name:
            if len(call.args) > position:
                del call.args[position]
            call.keywords = [k for k in call.keywords if k.arg != parameter]


def _argument_simplifications(program):
    for position, value in enumerate(program.args):
        for simpler in _simpler_values(value):
            args = program.args[:position] + (simpler,) + program.args[position + 1:]
            yield lambda args=args: programs.Program(program.source, args, program.entry, program.seed)


def _simpler_values(value):
    """Simpler versions of an argument value: fewer entries, rounder numbers."""
    if isinstance(value, float):
        for simpler in (1.0, round(value, 1)):
            if simpler != value:
                yield simpler
    elif isinstance(value, np.ndarray):
        for axis in range(value.ndim):
            if value.shape[axis] > 1:
                yield np.delete(value, -1, axis=axis)
        rounded = np.round(value, 1)
        if not np.array_equal(rounded, value):
            yield rounded
    elif isinstance(value, (list, tuple)):
        if isinstance(value, list) and len(value) > 1:
            yield value[:-1]
        for i, item in enumerate(value):
            for simpler in _simpler_values(item):
                yield type(value)(value[:i]) + type(value)((simpler,)) + type(value)(value[i + 1:])
    elif isinstance(value, dict):
        if len(value) > 1:
            yield dict(list(value.items())[:-1])
        for key, item in value.items():
            for simpler in _simpler_values(item):
                yield {**value, key: simpler}
    elif isinstance(value, programs.Instance):
        for i, (name, item) in enumerate(value.fields):
            for simpler in _simpler_values(item):
                yield programs.Instance(value.cls, value.fields[:i] + ((name, simpler),) + value.fields[i + 1:])
