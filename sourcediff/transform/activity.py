r"""activity: which names carry derivatives that reach the output.

A name is *varying* when its value may depend differentiably on an input (a parameter or a
captured variable), and *useful* when its value may reach the returned value (or the final value
of a written parameter). Active names are both; only statements that assign or change an active
name get derivative code. The analysis is flow-insensitive over names (a name is active if any of
its assignments is), which over-approximates: an inactive name can never hold a derivative.

A derivative flows into the target of every operation from all of its operands, except from
these positions, which carry none:

- comparisons, `not`, `~` and f-strings: their values are booleans, integers or strings;
- floor division `a // b`: piecewise constant, so its derivative is zero wherever it exists;
- the attributes `shape`, `ndim`, `size`, `dtype`, `itemsize`, `nbytes`, `__class__`, `__name__`:
  integers, types and names, whatever the object;
- a call to a function declared non-differentiable (`len`, `np.argmax`, `np.zeros`, ...): the rule
  table declares that its output carries no derivative;
- the argument positions a rule declares inactive (`Rule.inactive_arguments`, such as the
  `before` and `owner` of `runtime.rebind`, which are only compared by identity);
- default values of lambdas and nested defs, which are computed where the function is made (the
  reverse pass refuses a default that depends on a varying name).

Everything else flows, including the index of a subscript (a custom `__getitem__` such as
`np.r_[x, y]` differentiates through it), every captured variable of a closure into the closure,
and every argument of a call into its result.

    >>> import gast
    >>> f = gast.parse("def f(x, w):\n    y = x * w\n    unused = x + 1\n    n = len(x)\n    return y").body[0]
    >>> inactive = lambda call: "all" if call.func.id == "len" else ()
    >>> sorted(activity(f, varying_names(f, ["x", "w"], inactive), inactive))
    ['w', 'x', 'y']
"""
import gast

from .dataflow import captured_names
from .syntax import loaded_names

NON_DIFFERENTIABLE_ATTRIBUTES = {"shape", "ndim", "size", "dtype", "itemsize", "nbytes", "__class__", "__name__"}


def _inputs(value, inactive_positions):
    """Names whose derivatives flow into the value of the operation `value`."""
    if isinstance(value, (gast.Compare, gast.JoinedStr)):
        return set()
    if isinstance(value, gast.UnaryOp) and isinstance(value.op, (gast.Not, gast.Invert)):
        return set()
    if isinstance(value, gast.BinOp) and isinstance(value.op, gast.FloorDiv):
        return set()
    if isinstance(value, gast.Attribute):
        return set() if value.attr in NON_DIFFERENTIABLE_ATTRIBUTES else loaded_names(value.value)
    if isinstance(value, gast.Call):
        inactive = inactive_positions(value)
        if inactive == "all":
            return set()
        names = loaded_names(value.func)
        for position, argument in enumerate(value.args):
            if position not in inactive:
                names |= loaded_names(argument)
        for keyword in value.keywords:
            names |= loaded_names(keyword.value)
        return names
    if isinstance(value, gast.Lambda):
        return captured_names(value)
    return loaded_names(value)


def flows(body, inactive_positions):
    """Pairs (target, sources): derivative flows from each source name into the target name."""
    edges = []

    def visit(statements):
        for node in statements:
            if isinstance(node, gast.Assign):
                target = node.targets[0]
                sources = _inputs(node.value, inactive_positions)
                edges.append((target.id if isinstance(target, gast.Name) else target.value.id, sources))
            elif isinstance(node, gast.FunctionDef):
                edges.append((node.name, captured_names(node)))
                continue
            for field in ("body", "orelse"):
                visit(getattr(node, field, None) or [])

    visit(body)
    return [(target, sources) for target, sources in edges if isinstance(target, str)]


def varying_names(function, inputs, inactive_positions):
    """Names whose values may depend differentiably on the inputs.

    `inactive_positions(call)` gives the argument positions of a call that carry no derivative,
    or "all" when its output carries none.
    """
    edges = flows(function.body, inactive_positions)
    varying = set(inputs)
    changed = True
    while changed:
        changed = False
        for target, sources in edges:
            if target not in varying and sources & varying:
                varying.add(target)
                changed = True
    return varying


def activity(function, varying, inactive_positions, outputs=None):
    """The set of active names of a normalised function, given its varying names and its output names."""
    edges = flows(function.body, inactive_positions)
    if outputs is None:
        returned = function.body[-1].value
        outputs = [returned.id] if isinstance(returned, gast.Name) else []
    useful = set(outputs)
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
