r"""dataflow: fixed-point analyses over the structured statements of a normalised function.

Control flow after `lower_jumps` and `normalize` is structured: blocks of statements, `if`,
`for` over `range` with a name target, and `while`, every loop body running to its end (the only
`break` is a flag test at the end of the body). An analysis is a transfer function on one simple
statement and a join; `forward` and `backward` run it over a block, iterating loops to a fixed
point, and return the state before (forward) or after (backward) every statement.

Three analyses live here because several passes read them: `live_after` (names read later),
`definitely_bound` (names bound on every path) and `closure_captures` (what local closures read).

    >>> import gast
    >>> f = gast.parse("def f(x):\n    s = 0.0\n    for i in range(3):\n        s = s + x\n    return s").body[0]
    >>> live = live_after(f.body, {})
    >>> sorted(live[id(f.body[0])])  # after `s = 0.0`: the loop reads range, s and x
    ['range', 's', 'x']
"""
import gast

from .syntax import loaded_names


def forward(body, state, transfer, join, record=None, test=None):
    """Run a forward analysis over `body` from `state`; `record[id(s)]` is the state before each statement.

    `transfer(statement, state)` handles simple statements, `test(node, state)` the test of an `if`
    or `while` and the header of a `for` (default: no effect). Returns the state after `body`.
    """
    record = {} if record is None else record
    test = test or (lambda node, s: s)
    for node in body:
        record[id(node)] = state
        if isinstance(node, gast.If):
            state = test(node, state)
            state = join(forward(node.body, state, transfer, join, record, test),
                         forward(node.orelse, state, transfer, join, record, test))
        elif isinstance(node, (gast.For, gast.While)):
            head = state
            while True:
                entry = test(node, head)
                end = forward(node.body, entry, transfer, join, record, test)
                new_head = join(head, end)
                if new_head == head:
                    break
                head = new_head
            state = test(node, head) if isinstance(node, gast.While) else head
        else:
            state = transfer(node, state)
    return state


def backward(body, state, transfer, join, record=None, uses_of_test=None):
    """Run a backward analysis over `body` ending in `state`; `record[id(s)]` is the state after each statement.

    `uses_of_test(node, state)` adds what an `if`/`while` test or a `for` header reads. Returns
    the state before `body`.
    """
    record = {} if record is None else record
    uses_of_test = uses_of_test or (lambda node, s: s)
    for node in reversed(body):
        record[id(node)] = state
        if isinstance(node, gast.If):
            state = uses_of_test(node, join(backward(node.body, state, transfer, join, record, uses_of_test),
                                            backward(node.orelse, state, transfer, join, record, uses_of_test)))
        elif isinstance(node, (gast.For, gast.While)):
            head = uses_of_test(node, state)
            while True:
                end = backward(node.body, head, transfer, join, record, uses_of_test)
                if isinstance(node, gast.For):
                    end = end - {node.target.id}
                new_head = uses_of_test(node, join(head, end))
                if new_head == head:
                    break
                head = new_head
            state = head
        else:
            state = transfer(node, state)
    return state


def simple_statements(body):
    """Every statement of `body` that is not an `if` or a loop, in program order, at any depth."""
    for node in body:
        if isinstance(node, (gast.If, gast.For, gast.While)):
            yield from simple_statements(node.body)
            yield from simple_statements(node.orelse)
        else:
            yield node


def assigned_name(node):
    """The name a simple statement binds (an `Assign` to a name, a nested `def`), else None."""
    if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
        return node.targets[0].id
    if isinstance(node, gast.FunctionDef):
        return node.name
    return None


def closure_captures(body):
    """For each name bound to a local lambda or nested `def`, the enclosing names its body reads."""
    captures = {}

    def visit(statements):
        for node in statements:
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) and isinstance(node.value, gast.Lambda):
                captures.setdefault(node.targets[0].id, set()).update(captured_names(node.value))
            elif isinstance(node, gast.FunctionDef):
                captures.setdefault(node.name, set()).update(captured_names(node))
                continue
            for field in ("body", "orelse"):
                visit(getattr(node, field, None) or [])

    visit(body)
    return captures


def captured_names(function):
    """Names a lambda or nested def reads from its enclosing function (its free names)."""
    arguments = function.args
    parameters = {a.id for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    parameters |= {a.id for a in (arguments.vararg, arguments.kwarg) if a is not None}
    body = function.body if isinstance(function.body, list) else [function.body]
    bound = set(parameters)
    for node in body:
        for child in gast.walk(node):
            if isinstance(child, gast.Name) and isinstance(child.ctx, (gast.Store, gast.Param)):
                bound.add(child.id)
    return set().union(*(loaded_names(node) for node in body)) - bound


def captured_writes(function, local_names):
    """The variables of the enclosing function (among `local_names`) that a lambda or nested def may change in
    place: written into (`v[0] = ...`, `v += ...` on a captured name), passed to a call or a method, directly or
    through a local alias of theirs (`w = v; w[1] *= 3.0`)."""
    captured = captured_names(function) & set(local_names)
    body = function.body if isinstance(function.body, list) else [function.body]
    nodes = [child for node in body for child in gast.walk(node)]
    sources = {}  # alias -> the captured variables it may hold (assigned from an expression reading them)
    changed = True
    while changed:
        changed = False
        for child in nodes:
            pairs = [(t, child.value) for t in child.targets] if isinstance(child, gast.Assign) else \
                [(child.target, child.iter)] if isinstance(child, gast.For) else []
            for target, value in pairs:
                reached = set().union(*(sources.get(n, set()) | ({n} & captured) for n in loaded_names(value)))
                for name in _bound_names(target):
                    if reached - sources.get(name, set()):
                        sources[name] = sources.get(name, set()) | reached
                        changed = True

    def held(node):
        while isinstance(node, (gast.Subscript, gast.Attribute)):
            node = node.value
        return sources.get(node.id, set()) | ({node.id} & captured) if isinstance(node, gast.Name) else set()

    found = set()
    for child in nodes:
        targets = child.targets if isinstance(child, gast.Assign) else [child.target] if isinstance(child, gast.AugAssign) \
            else []
        for target in targets:
            if not isinstance(target, gast.Name) or isinstance(child, gast.AugAssign):
                found |= held(target)
        if isinstance(child, gast.Call):
            operands = list(child.args) + [k.value for k in child.keywords]
            if isinstance(child.func, gast.Attribute):
                operands.append(child.func.value)
            for operand in operands:
                found |= held(operand.value if isinstance(operand, gast.Starred) else operand)
    return found


def _bound_names(target):
    """The names an assignment target rebinds (not those written into, as `v` in `v[0] = ...`)."""
    if isinstance(target, gast.Name):
        return [target.id]
    if isinstance(target, (gast.Tuple, gast.List)):
        return [name for element in target.elts for name in _bound_names(element)]
    if isinstance(target, gast.Starred):
        return _bound_names(target.value)
    return []


def nested_definitions(body):
    """The nested defs and lambdas of a function body, at any depth (not inside one another)."""
    for node in body:
        for child in gast.walk(node):
            if isinstance(child, (gast.FunctionDef, gast.Lambda)):
                yield child


def reads(node, captures):
    """Names a simple statement (or a compound statement's test/header) reads, closures' captures included."""
    if isinstance(node, gast.If) or isinstance(node, gast.While):
        names = loaded_names(node.test)
    elif isinstance(node, gast.For):
        names = loaded_names(node.iter)
    elif isinstance(node, gast.FunctionDef):
        defaults = node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
        names = set().union(*(loaded_names(d) for d in defaults)) if defaults else set()
    elif isinstance(node, gast.Assign) and isinstance(node.value, gast.Lambda):
        lam = node.value.args
        defaults = lam.defaults + [d for d in lam.kw_defaults if d is not None]
        names = set().union(*(loaded_names(d) for d in defaults)) if defaults else set()
        names |= loaded_names(node.targets[0]) if not isinstance(node.targets[0], gast.Name) else set()
    else:
        names = loaded_names(node)
    for name in list(names):
        names |= captures.get(name, set())
    return names


def live_after(body, captures, live_at_end=frozenset()):
    """`{id(statement): names that may be read after it}` for every statement of `body`."""
    record, read = {}, {}

    def reads_of(node):
        if id(node) not in read:
            read[id(node)] = reads(node, captures)
        return read[id(node)]

    def transfer(node, live):
        bound = assigned_name(node)
        return (live - {bound} if bound else live) | reads_of(node)

    backward(body, frozenset(live_at_end), transfer, frozenset.union, record, lambda node, live: live | reads_of(node))
    return {key: frozenset(value) for key, value in record.items()}


def definitely_bound(body, initial):
    """`{id(statement): names bound on every path reaching it}` for every statement of `body`."""
    record = {}

    def transfer(node, bound):
        name = assigned_name(node)
        return bound | {name} if name else bound

    def header(node, bound):
        return bound | {node.target.id} if isinstance(node, gast.For) else bound

    forward(body, frozenset(initial), transfer, frozenset.intersection, record, header)
    return record
