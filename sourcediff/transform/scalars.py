r"""scalars: which names always hold real Python numbers (float or int).

Derivatives of operations on such names are inlined as arithmetic in the generated code. The
input kinds come from the call being compiled (the derivative is specialised on them); a name
is scalar if every assignment to it gives a scalar (checked to a fixed point). `is_scalar_call`
says whether a call maps scalars to a scalar, or answers "first" for a call whose value is a
scalar exactly when its first argument is (the copies and rebindings of the effects pass).

    >>> import gast
    >>> f = gast.parse("def f(x, v):\n    a = x * 2.0\n    b = v * a\n    return b").body[0]
    >>> sorted(scalars(f, {"x"}, lambda call: False))
    ['a', 'x']
"""
import gast

SCALAR_OPERATORS = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.Mod, gast.FloorDiv, gast.USub, gast.UAdd)


def scalars(function, scalar_inputs, is_scalar_call, captured=()):
    """Names of the normalised `function` that always hold real scalars (`captured`: its captured variables,
    inputs like its parameters)."""
    assignments = {}

    def visit(statements):
        for node in statements:
            if isinstance(node, gast.Assign):
                target = node.targets[0]
                if isinstance(target, gast.Name):
                    assignments.setdefault(target.id, []).append(node.value)
            elif isinstance(node, gast.For) and isinstance(node.target, gast.Name):
                assignments.setdefault(node.target.id, []).append("counter")
            for field in ("body", "orelse"):
                visit(getattr(node, field, None) or [])

    visit(function.body)
    arguments = function.args
    parameters = {a.id for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    for parameter in parameters | {a.id for a in (arguments.vararg, arguments.kwarg) if a is not None} | set(captured):
        if parameter not in scalar_inputs:
            assignments.setdefault(parameter, []).append(None)
    candidates = set(assignments) | set(scalar_inputs)

    def is_scalar(value):
        if value == "counter":
            return True
        if isinstance(value, gast.Constant):
            return type(value.value) in (int, float)
        if isinstance(value, gast.Name):
            return value.id in candidates
        if isinstance(value, gast.UnaryOp):
            return isinstance(value.op, SCALAR_OPERATORS) and is_scalar(value.operand)
        if isinstance(value, gast.BinOp):
            return isinstance(value.op, SCALAR_OPERATORS) and is_scalar(value.left) and is_scalar(value.right)
        if isinstance(value, gast.Call):
            kind = is_scalar_call(value)
            if kind == "first":
                return bool(value.args) and is_scalar(value.args[0])
            return kind and all(is_scalar(a) for a in value.args) and not value.keywords
        return False

    changed = True
    while changed:
        changed = False
        for target, values in assignments.items():
            if target in candidates and not all(is_scalar(v) for v in values):
                candidates.discard(target)
                changed = True
    return candidates
