r"""activity: which names carry derivatives that reach the output.

A name is *varying* when its value depends differentiably on an input (a parameter or a
captured variable), and *useful* when its value reaches the returned value. Active names are
both; only statements that assign or mutate an active name need derivative code. The analysis
is flow-insensitive over names (a name is active if any of its assignments is), which is safe.

    >>> import gast
    >>> f = gast.parse("def f(x, w):\n    y = x * w\n    unused = x + 1\n    n = len(x)\n    return y").body[0]
    >>> differentiable = lambda call: call.func.id != "len"
    >>> sorted(activity(f, varying_names(f, ["x", "w"], differentiable), differentiable))
    ['w', 'x', 'y']
"""
import gast

from .syntax import loaded_names

NON_DIFFERENTIABLE_ATTRIBUTES = {"shape", "ndim", "size", "dtype", "itemsize", "nbytes", "__class__", "__name__"}
MUTATING_METHODS = {"append", "extend", "insert", "update", "setdefault", "add"}


def _inputs(value, is_differentiable_call):
    """Names whose derivatives flow into the value of the operation `value`."""
    if isinstance(value, (gast.Compare, gast.JoinedStr)):
        return set()
    if isinstance(value, gast.UnaryOp) and isinstance(value.op, (gast.Not, gast.Invert)):
        return set()
    if isinstance(value, gast.BinOp) and isinstance(value.op, gast.FloorDiv):
        return set()
    if isinstance(value, gast.Attribute):
        return set() if value.attr in NON_DIFFERENTIABLE_ATTRIBUTES else loaded_names(value.value)
    if isinstance(value, gast.Subscript):
        return loaded_names(value.value)
    if isinstance(value, gast.Call):
        if not is_differentiable_call(value):
            return set()
        return loaded_names(value)
    if isinstance(value, gast.Lambda):
        return loaded_names(value.body) - {a.id for a in value.args.args}
    return loaded_names(value)


def flows(body, is_differentiable_call):
    """Pairs (target, sources): derivative flows from each source name into the target name."""
    edges = []

    def visit(statements):
        for node in statements:
            if isinstance(node, gast.Assign):
                target = node.targets[0]
                sources = _inputs(node.value, is_differentiable_call)
                if isinstance(target, gast.Name):
                    edges.append((target.id, sources))
                else:
                    edges.append((target.value.id, sources))
            elif isinstance(node, gast.Expr) and isinstance(node.value, gast.Call):
                func = node.value.func
                if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and is_differentiable_call(node.value):
                    edges.append((func.value.id, loaded_names(node.value) - {func.value.id}))
            elif isinstance(node, gast.FunctionDef):
                edges.append((node.name, loaded_names(node) - {a.id for a in node.args.args}))
            for field in ("body", "orelse"):
                visit(getattr(node, field, None) or [])

    visit(body)
    return edges


def varying_names(function, inputs, is_differentiable_call):
    """Names whose values depend differentiably on the inputs."""
    edges = flows(function.body, is_differentiable_call)
    varying = set(inputs)
    changed = True
    while changed:
        changed = False
        for target, sources in edges:
            if target not in varying and sources & varying:
                varying.add(target)
                changed = True
    return varying


def activity(function, varying, is_differentiable_call):
    """The set of active names of a normalised function, given its varying names."""
    edges = flows(function.body, is_differentiable_call)
    returned = function.body[-1].value
    useful = {returned.id} if isinstance(returned, gast.Name) else set()
    changed = True
    while changed:
        changed = False
        for target, sources in edges:
            if target in useful:
                new = (sources & varying) - useful
                if new:
                    useful |= new
                    changed = True
    return varying & useful
