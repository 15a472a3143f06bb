"""lower_jumps: replace early `return`, `break` and `continue` by flags.

Guarantees: the function body ends with its only `return`, of a name (`None` when the function
falls off its end); no `continue` remains; a loop's only `break` is its body's last statement,
`if <loop>_break: break`, so every iteration runs its body to the end, with the skipped
statements guarded by `if not <loop>_skip:`. Loop `else` clauses run when no break happened.

    >>> import gast; from sourcediff.transform.syntax import source, Namer
    >>> f = gast.parse("def f(x):\\n    if x > 0:\\n        return x\\n    return -x").body[0]
    >>> print(source(lower_jumps(f, Namer({"f", "x"}))))
    def f(x):
        if x > 0:
            result = x
        else:
            result = -x
        return result
"""
import gast

from .syntax import assign, at_line, constant, name


def _contains(nodes, kinds, into_loops):
    for node in nodes:
        for child in _walk(node, into_loops):
            if isinstance(child, kinds):
                return True
    return False


def _walk(node, into_loops):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, (gast.FunctionDef, gast.Lambda)):
            continue
        if not into_loops and isinstance(current, (gast.For, gast.While)) and current is not node:
            continue
        stack.extend(gast.iter_child_nodes(current))


def _always_returns(body):
    if not body:
        return False
    last = body[-1]
    if isinstance(last, (gast.Return, gast.Raise)):
        return True
    if isinstance(last, gast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False


class Lowering:
    def __init__(self, namer):
        self.namer = namer
        self.result = namer.fresh("result")
        self.returned = None
        self.loops = []

    def returned_flag(self):
        if self.returned is None:
            self.returned = self.namer.fresh("returned")
        return self.returned

    def block(self, body, tail):
        """Lower a list of statements; `tail` means falling off its end ends the function."""
        out = []
        for index, statement in enumerate(body):
            rest = body[index + 1:]
            last = not rest
            line = getattr(statement, "lineno", 1)
            if isinstance(statement, gast.Return):
                value = statement.value if statement.value is not None else constant(None)
                out.append(assign(self.result, value, line))
                if not (tail and last):
                    out.extend(self.jump_out(line, returning=True))
                return out
            if isinstance(statement, gast.Break):
                out.extend(self.jump_out(line, returning=False))
                return out
            if isinstance(statement, gast.Continue):
                loop = self.loops[-1]
                out.append(_flag(loop["skip"], True, line))
                return out
            if isinstance(statement, gast.If):
                if tail and rest and not self.loops and _always_returns(statement.body) and not _always_returns(statement.orelse):
                    statement.orelse = statement.orelse + rest
                    rest, last = [], True
                statement.body = self.block(statement.body, tail and last) or [gast.Pass()]
                statement.orelse = self.block(statement.orelse, tail and last)
                out.append(statement)
                if last:
                    return out
            elif isinstance(statement, (gast.For, gast.While)):
                out.extend(self.loop(statement))
            else:
                out.append(statement)
            if rest and self.jumps(statement):
                guard = self.guard_test()
                lowered_rest = self.block(rest, tail)
                if lowered_rest:
                    out.append(gast.If(test=guard, body=lowered_rest, orelse=[], lineno=line, col_offset=0))
                return out
        return out

    def jumps(self, statement):
        """Whether `statement` may leave the current block early (by return, break or continue)."""
        if not isinstance(statement, (gast.If, gast.For, gast.While)):
            return False
        if self.returned is not None and _mentions(statement, self.returned):
            return True
        if self.loops:
            loop = self.loops[-1]
            return _mentions(statement, loop["skip"])
        return False

    def guard_test(self):
        """`not <flag>` for the flag that says the rest of the current block is skipped."""
        return _not(self.loops[-1]["skip"] if self.loops else self.returned)

    def jump_out(self, line, returning):
        out = []
        if returning:
            out.append(_flag(self.returned_flag(), True, line))
        if self.loops:
            loop = self.loops[-1]
            out += [_flag(loop["skip"], True, line), _flag(loop["stop"], True, line)]
        return out

    def loop(self, node):
        line = node.lineno
        if not _contains(node.body, (gast.Break, gast.Continue, gast.Return), into_loops=False) and not \
                _contains(node.body, (gast.Return,), into_loops=True):
            node.body = self.block(node.body, False) or [gast.Pass()]
            orelse, node.orelse = node.orelse, []
            return [node] + self.block(orelse, False)
        base = self.namer.numbered("loop")
        loop = {"skip": self.namer.fresh(base + "_skip"), "stop": self.namer.fresh(base + "_break")}
        self.loops.append(loop)
        body = self.block(node.body, False)
        self.loops.pop()
        before = [_flag(loop["stop"], False, line)]
        node.body = [_flag(loop["skip"], False, line)] + body + \
            [at_line(gast.If(test=name(loop["stop"]), body=[gast.Break()], orelse=[]), line)]
        orelse, node.orelse = node.orelse, []
        after = []
        if orelse:
            after.append(gast.If(test=_not(loop["stop"]),
                                 body=self.block(orelse, False), orelse=[], lineno=line, col_offset=0))
        if self.returned is not None and _mentions(node, self.returned) and self.loops:
            outer = self.loops[-1]
            after.append(at_line(gast.If(test=name(self.returned), body=[_flag(outer["skip"], True, line), _flag(outer["stop"], True, line)],
                                         orelse=[]), line))
        return before + [node] + after


def _flag(flag, value, line):
    """`flag = True` (or False) at `line`."""
    return assign(flag, constant(value), line)


def _not(flag):
    return gast.UnaryOp(op=gast.Not(), operand=name(flag))


def _mentions(node, identifier):
    return any(isinstance(n, gast.Name) and n.id == identifier for n in gast.walk(node))


def lower_jumps(function, namer):
    lowering = Lowering(namer)
    line = function.body[-1].lineno if function.body else function.lineno
    if not _always_returns(function.body):
        function.body.append(gast.Return(value=None, lineno=line, col_offset=0))
    body = lowering.block(function.body, tail=True)
    if lowering.returned is not None:
        body = [_flag(lowering.returned, False, function.lineno)] + body
    body.append(gast.Return(value=name(lowering.result), lineno=line, col_offset=0))
    function.body = body
    return function
