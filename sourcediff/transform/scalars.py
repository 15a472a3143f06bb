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


UNKNOWN = "unknown ndim"
PENDING = "not known yet"


def real_ndims(function, real_inputs, real_call, captured=(), counting=True):
    """`{name: ndim}` for the names of the normalised `function` that always hold float64 reals: Python
    floats, NumPy float64 scalars or float64 arrays (`ndim` is `UNKNOWN` where it varies or is not known).

    `real_inputs` maps parameters known (from the call being compiled) to hold such values to their
    ndim. `real_call(call, kinds)` gives the ndim of a call's value when it maps such reals to one (an
    elementwise rule, a reduction to a scalar), given the operands' kinds, or None. Elementwise rules on
    these values inline like scalar code, with cotangents summed back to each operand's shape. With
    `counting`, the variable of a loop over `range(...)` holds ints (pass False where `range` is rebound)."""
    assignments = {}

    def visit(statements):
        for node in statements:
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                assignments.setdefault(node.targets[0].id, []).append(node.value)
            elif isinstance(node, gast.For) and isinstance(node.target, gast.Name):
                assignments.setdefault(node.target.id, []).append("counter" if counting and _counts(node.iter) else None)
            for field in ("body", "orelse"):
                visit(getattr(node, field, None) or [])

    visit(function.body)
    arguments = function.args
    parameters = {a.id for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    parameters |= {a.id for a in (arguments.vararg, arguments.kwarg) if a is not None} | set(captured)
    for parameter in parameters:
        assignments.setdefault(parameter, []).append(("input", real_inputs[parameter]) if parameter in real_inputs else None)
    counters = {name for name, values in assignments.items() if all(v == "counter" for v in values)}
    candidates = {name: PENDING for name in assignments if name not in counters}  # optimistic: none known yet

    def kind(value):
        """The ndim of a real value, "int" for an integer operand, or None."""
        if isinstance(value, gast.Constant):
            return 0 if type(value.value) is float else "int" if type(value.value) is int else None
        if isinstance(value, gast.Name):
            return "int" if value.id in counters else candidates.get(value.id)
        if isinstance(value, gast.UnaryOp) and isinstance(value.op, (gast.USub, gast.UAdd)):
            return kind(value.operand)
        if isinstance(value, gast.BinOp):
            left, right = kind(value.left), kind(value.right)
            if left is None or right is None:
                return None
            if left is PENDING or right is PENDING:
                return PENDING
            if isinstance(value.op, gast.MatMult):
                return matmul_ndim(left, right)
            if not isinstance(value.op, (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow)) or left == right == "int":
                return None
            return broadcast_ndim([left, right])
        if isinstance(value, gast.Subscript):  # basic indexing of a float64 array: a float64 array or scalar
            base, index = kind(value.value), _basic_index(value.slice, kind)
            if index is None or base in (None, "int", 0):
                return None
            if base is PENDING or index is PENDING:
                return PENDING
            consumed, removed = index
            return UNKNOWN if base is UNKNOWN else base - removed if consumed <= base else None
        if isinstance(value, gast.Attribute) and value.attr == "T":
            base = kind(value.value)
            return None if base == "int" else base
        if isinstance(value, gast.Call):  # (keyword arguments: `real_call` reads the constant ones)
            operands = [kind(a) for a in value.args]
            if operands and all(o is not None for o in operands):
                return PENDING if PENDING in operands else real_call(value, operands)
            if operands and operands[0] is not None and operands[0] != "int":  # (an array, then shapes or axes)
                return real_call(value, operands)
        return None

    changed, rounds = True, 0
    while changed:
        changed, rounds = False, rounds + 1
        if rounds > 100:  # no fixed point in sight: claim nothing
            return {}
        for target, values in assignments.items():
            if target not in candidates:
                continue
            found = [v[1] if isinstance(v, tuple) else kind(v) if v is not None and v != "counter" else None
                     for v in values]
            joined = None if any(f is None or f == "int" for f in found) else _join([f for f in found if f is not PENDING])
            if joined != candidates[target]:
                changed = True
                if joined is None:
                    del candidates[target]
                else:
                    candidates[target] = joined
    return {name: ndim for name, ndim in candidates.items() if ndim is not PENDING}


def _basic_index(index, kind):
    """`(axes consumed, axes removed)` by a basic index of integers, slices, `...` and `None` (PENDING if an
    integer's kind is not known yet), or None for any other index."""
    parts = index.elts if isinstance(index, gast.Tuple) else [index]
    consumed = removed = 0
    pending = False
    for part in parts:
        if isinstance(part, gast.Slice):
            consumed += 1
        elif isinstance(part, gast.Constant) and part.value is Ellipsis:
            pass
        elif isinstance(part, gast.Constant) and part.value is None:
            removed -= 1
        else:
            found = kind(part)
            if found is PENDING:
                pending = True
            elif found != "int":
                return None
            consumed += 1
            removed += 1
    if sum(isinstance(p, gast.Constant) and p.value is Ellipsis for p in parts) > 1:
        return None
    return PENDING if pending else (consumed, removed)


def _counts(iterable):
    """Whether a loop runs over `range(...)` (its variable holds ints)."""
    return isinstance(iterable, gast.Call) and isinstance(iterable.func, gast.Name) and iterable.func.id == "range"


def _join(ndims):
    if not ndims:
        return PENDING
    return ndims[0] if all(n == ndims[0] for n in ndims) else UNKNOWN


def broadcast_ndim(operands):
    ndims = [0 if o == "int" else o for o in operands]
    return UNKNOWN if UNKNOWN in ndims else max(ndims)


def matmul_ndim(left, right):
    if left in (UNKNOWN,) or right in (UNKNOWN,):
        return UNKNOWN
    if left in (0, "int") or right in (0, "int"):
        return None  # matmul takes no scalars
    return {(1, 1): 0, (2, 1): 1, (1, 2): 1}.get((left, right), max(left, right))
