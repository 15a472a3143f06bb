"""normalize: flatten expressions into A-normal form, one operation per statement.

Guarantees, on the output of `lower_jumps`:
- every `Assign` has one target, a name, `name[index]` or `name.attr`, and a name target does
  not appear in its own value (`x = x * a` becomes `mul = x * a; x = mul`); its value is an atom
  (a name or constant; a dotted global such as `np.pi` counts as one), or one operation whose
  operands are atoms: BinOp, UnaryOp, Compare, Call, Attribute, Subscript, Tuple, List, Dict,
  Lambda or f-string. Calls keep a dotted global callee (`np.linalg.inv`) or a method form
  (`x.sum(...)` on an atom); subscripts keep slice syntax with atom bounds.
- a write into a nested target (`m[i][j] = v`) goes into a temporary for `m[i]`, which is then
  written back (`m[i] = t`), so the write reaches `m` whether `m[i]` was a view or not; a method
  called for its effect on a nested receiver (`self.items.append(v)`) is written back the same way;
- `and`/`or` and conditional expressions become `if` statements (keeping short-circuiting);
  comprehensions become loops that build the list/dict/set; tuple targets are unpacked by index
  from `runtime.unpack(value, count, starred)`, which takes any iterable and checks its length;
- helper modules are referenced by the names `namer.helper` reserves (`runtime.as_sequence`), and
  builtins the generated code calls (`len`, `range`) through `builtins.` where the user's names
  shadow them; every temporary written back into a container is recorded in `function.writeback`.
- every `for` loop iterates over `range(...)` with atom arguments and a name target; loops over
  sequences, `enumerate`, `zip` and `dict.items()` index their sequences explicitly.
- `if` and `while` tests are kept as written (they only decide control flow and carry no derivative),
  except that one calling something is computed into a name first (before the `if`; before the
  `while` and at the end of its body), so that a call changing its arguments is a statement.
- `Expr` statements hold a call; `return` returns an atom.

    >>> import gast; from sourcediff.transform.syntax import source, Namer
    >>> f = gast.parse("def f(x, y):\\n    return np.sin(x * y) + 1").body[0]
    >>> print(source(normalize(f, None, Namer({"f", "x", "y", "np"}), set())))
    def f(x, y):
        mul = x * y
        sin = np.sin(mul)
        add = sin + 1
        return add
"""

import gast

from .syntax import assign, constant, copied, loaded_names, name, renamed, stored_names

OPERATOR_NAMES = {
    gast.Add: "add", gast.Sub: "sub", gast.Mult: "mul", gast.Div: "div", gast.FloorDiv: "floordiv",
    gast.Mod: "mod", gast.Pow: "pow", gast.MatMult: "matmul", gast.USub: "neg", gast.UAdd: "pos",
    gast.Not: "not_", gast.Invert: "invert", gast.BitAnd: "and_", gast.BitOr: "or_", gast.BitXor: "xor",
    gast.LShift: "lshift", gast.RShift: "rshift",
}


def is_atom(node, local_names):
    if isinstance(node, (gast.Name, gast.Constant)):
        return True
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)) and isinstance(node.operand, gast.Constant):
        return True
    return global_path(node, local_names) is not None


def _constant_tuple(node):
    return isinstance(node, gast.Tuple) and all(isinstance(e, gast.Constant) and type(e.value) is int for e in node.elts)


def global_path(node, local_names):
    """`["np", "linalg", "inv"]` for a dotted name rooted at a global, else None."""
    parts = []
    while isinstance(node, gast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, gast.Name) and node.id not in local_names and parts:
        return [node.id] + parts[::-1]
    return None


CALL_NAMES = {"len": "length", "list": "keys", "as_sequence": "sequence", "min": "count", "range": "indices"}


def _temp_base(node):
    if isinstance(node, gast.Call):
        func = node.func
        base = func.attr if isinstance(func, gast.Attribute) else func.id if isinstance(func, gast.Name) else "call"
        return CALL_NAMES.get(base, base.strip("_") or "call")
    if isinstance(node, (gast.BinOp, gast.UnaryOp)):
        return OPERATOR_NAMES.get(type(node.op), "value")
    if isinstance(node, gast.Subscript):
        return "item"
    if isinstance(node, gast.Attribute):
        return node.attr.strip("_") or "attribute"
    if isinstance(node, gast.Compare):
        return "compare"
    if isinstance(node, (gast.Tuple,)):
        return "tuple"
    if isinstance(node, (gast.List, gast.ListComp, gast.GeneratorExp)):
        return "items"
    if isinstance(node, (gast.Dict, gast.DictComp)):
        return "mapping"
    if isinstance(node, gast.Lambda):
        return "function"
    return "value"


class Normalizer:
    def __init__(self, origin, namer, local_names):
        self.origin, self.namer, self.local_names = origin, namer, local_names
        self.out = None
        self.line = 1

    def fresh(self, base):
        """A new local name (known as local from here on, so `t.attr` is never taken for a global path)."""
        created = self.namer.fresh(base)
        self.local_names.add(created)
        return created

    # Statements

    def block(self, body):
        saved, self.out = self.out, []
        for statement in body:
            self.line = getattr(statement, "lineno", self.line)
            self.statement(statement)
        result, self.out = self.out, saved
        return result

    def emit(self, node):
        self.out.append(node)
        return node

    def statement(self, node):
        method = getattr(self, "statement_" + type(node).__name__, None)
        if method is None:
            self.emit(node)
        else:
            method(node)

    def statement_Assign(self, node):
        if len(node.targets) > 1:
            value = self.atom(node.value)
            for target in node.targets:
                self.store(target, value)
            return
        target = node.targets[0]
        if isinstance(target, gast.Name):
            value = self.operation(node.value)
            if target.id in loaded_names(value) and not is_atom(value, self.local_names):
                temporary = self.fresh(_temp_base(value))
                self.emit(assign(temporary, value, self.line))
                value = name(temporary)
            self.emit(assign(target.id, value, self.line))
        elif isinstance(target, (gast.Tuple, gast.List)) and isinstance(node.value, (gast.Tuple, gast.List)) \
                and len(target.elts) == len(node.value.elts) and not _has_starred(target.elts + node.value.elts):
            targets = stored_names(target)
            values = []
            for element in node.value.elts:
                atom = self.atom(element)
                if isinstance(atom, gast.Name) and atom.id in targets:
                    copy_name = self.fresh(atom.id + "_old")
                    self.emit(assign(copy_name, atom, self.line))
                    atom = name(copy_name)
                values.append(atom)
            for element, value in zip(target.elts, values):
                self.store(element, value)
        else:
            self.store(target, self.atom(node.value))

    def store(self, target, value):
        """Emit the statements storing the atom `value` into `target`."""
        if isinstance(target, gast.Name):
            self.emit(assign(target.id, value, self.line))
        elif isinstance(target, (gast.Tuple, gast.List)):
            starred = [i for i, t in enumerate(target.elts) if isinstance(t, gast.Starred)]
            count = len(target.elts)
            checked = self.namer.helper_call("runtime", "unpack", value, constant(count), constant(bool(starred)))
            value = self.atom(checked, "sequence")
            for position, element in enumerate(target.elts):
                if isinstance(element, gast.Starred):
                    stop = None if position == count - 1 else constant(position - count + 1)
                    part = gast.Subscript(value=value, slice=gast.Slice(lower=constant(position), upper=stop, step=None), ctx=gast.Load())
                    listed = self.atom(part)
                    self.store(element.value, self.atom(gast.Call(func=self.builtin("list"), args=[listed], keywords=[])))
                else:
                    index = position if not starred or position < starred[0] else position - count
                    item = gast.Subscript(value=value, slice=_index_constant(index), ctx=gast.Load())
                    self.store(element, self.atom(item) if not isinstance(element, gast.Name) else item)
        elif isinstance(target, gast.Subscript):
            nested = not is_atom(target.value, self.local_names)
            container = self.atom(target.value)
            self.emit(assign(gast.Subscript(value=container, slice=self.index(target.slice), ctx=gast.Store()), value, self.line))
            if nested:
                self.writeback[container.id] = _root(target)
                self.store(_as_store(target.value), container)
        elif isinstance(target, gast.Attribute):
            target = gast.Attribute(value=self.atom(target.value), attr=target.attr, ctx=gast.Store())
            self.emit(assign(target, value, self.line))
        else:
            raise self.origin.unsupported(target, "this assignment target")

    def statement_Expr(self, node):
        if isinstance(node.value, gast.Constant):
            return
        call = node.value
        nested_receiver = isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) \
            and not is_atom(call.func.value, self.local_names)
        value = self.operation(call)
        if isinstance(value, gast.Call):
            self.emit(gast.Expr(value=value, lineno=self.line, col_offset=0))
            if nested_receiver:
                receiver = value.func.value
                self.writeback[receiver.id] = _root(call.func.value)
                self.store(_as_store(call.func.value), receiver)

    def statement_Return(self, node):
        value = self.atom(node.value) if node.value is not None else constant(None)
        self.emit(gast.Return(value=value, lineno=self.line, col_offset=0))

    def statement_If(self, node):
        node.test = self.test(node.test)
        node.body = self.block(node.body) or [gast.Pass()]
        node.orelse = self.block(node.orelse)
        self.emit(node)

    def statement_While(self, node):
        if _calls(node.test):
            decision = self.fresh("going")
            self.emit(assign(decision, self.operation(node.test), self.line))
            saved_line = self.line
            again = self.block_of(lambda: self.emit(assign(decision, self.operation(copied(node.test)), saved_line)))
            node.body = self.block(node.body) + again
            node.test = name(decision)
            self.line = saved_line
        else:
            node.body = self.block(node.body) or [gast.Pass()]
        self.emit(node)

    def test(self, node):
        """An `if` test as written, or, when it calls something (which may change an argument), an atom
        computed just before the `if`, so that the call is a statement the later passes see."""
        return self.atom(node, "decision") if _calls(node) else node

    def statement_For(self, node):
        line = self.line
        iterable = node.iter
        if _is_call_to(iterable, "range", self.local_names) and isinstance(node.target, gast.Name) and not iterable.keywords:
            arguments = [self.atom(a) for a in iterable.args]
            header = gast.Call(func=self.builtin("range"), args=arguments, keywords=[])
            target, prologue = node.target, []
            if target.id in self.assigned_outside_loops:
                index = self.fresh(target.id + "_index")
                prologue = [assign(target.id, name(index), line)]
                target = name(index, store=True)
            self.emit_loop(target, header, prologue, node.body, line)
            return
        sequences, bind = self.iteration(iterable, node.target)
        lengths = [gast.Call(func=self.builtin("len"), args=[s], keywords=[]) for s in sequences]
        count = lengths[0] if len(lengths) == 1 else gast.Call(func=self.builtin("min"), args=lengths, keywords=[])
        count = self.atom(count)
        index = self.fresh(_index_base(node.target))
        header = gast.Call(func=self.builtin("range"), args=[count], keywords=[])
        self.emit_loop(name(index, store=True), header, bind(name(index)), node.body, line)

    def emit_loop(self, target, header, prologue, body, line):
        saved_line = self.line
        inner = self.block(prologue + body)
        self.line = saved_line
        self.emit(gast.For(target=target, iter=header, body=inner or [gast.Pass()], orelse=[], type_comment=None,
                           lineno=line, col_offset=0))

    def iteration(self, iterable, target):
        """The sequences a loop indexes, and a function giving the statements that bind its target."""
        line = self.line
        # enumerate and zip iterate their arguments as a loop would (a dict view is read live, as Python reads it)
        if _is_call_to(iterable, "enumerate", self.local_names) and isinstance(target, gast.Tuple) and len(target.elts) == 2 \
                and len(iterable.args) in (1, 2) and not iterable.keywords:
            sequences, bind_item = self.iteration(iterable.args[0], target.elts[1])
            start = self.atom(iterable.args[1]) if len(iterable.args) > 1 else None

            def bind(index):
                counter = index if start is None else gast.BinOp(left=index, op=gast.Add(), right=start)
                return [gast.Assign(targets=[target.elts[0]], value=counter, type_comment=None, lineno=line, col_offset=0)] \
                    + bind_item(index)

            return sequences, bind
        if _is_call_to(iterable, "zip", self.local_names) and isinstance(target, gast.Tuple) and \
                len(target.elts) == len(iterable.args) and not iterable.keywords:
            parts = [self.iteration(a, t) for a, t in zip(iterable.args, target.elts)]
            return [s for sequences, _ in parts for s in sequences], \
                lambda index: [statement for _, bind in parts for statement in bind(index)]
        method = iterable.func.attr if isinstance(iterable, gast.Call) and isinstance(iterable.func, gast.Attribute) else None
        if method in ("items", "values", "keys") and not iterable.args:
            mapping = self.atom(iterable.func.value)
            keys = self.atom(gast.Call(func=self.builtin("list"), args=[mapping], keywords=[]))

            def bind(index):
                key = gast.Subscript(value=keys, slice=index, ctx=gast.Load())
                value = gast.Subscript(value=mapping, slice=key, ctx=gast.Load())
                item = {"keys": key, "values": value, "items": gast.Tuple(elts=[key, value], ctx=gast.Load())}[method]
                return [gast.Assign(targets=[target], value=item, type_comment=None, lineno=line, col_offset=0)]

            return [keys], bind
        sequence = self.sequence(iterable)
        return [sequence], lambda index: [_item_assign(target, sequence, index, line)]

    def sequence(self, node):
        """An atom holding something indexable with the items `node` iterates over."""
        return self.atom(self.namer.helper_call("runtime", "as_sequence", node), "sequence")

    def builtin(self, identifier):
        """A reference to a builtin that the user's own names cannot shadow."""
        if identifier in self.shadowed:
            return gast.Attribute(value=name(self.namer.helper("builtins")), attr=identifier, ctx=gast.Load())
        return name(identifier)

    # Expressions

    def atom(self, node, base=None):
        if is_atom(node, self.local_names):
            return node
        value = self.operation(node)
        if is_atom(value, self.local_names):
            return value
        temp = self.fresh(base or _temp_base(node))
        self.emit(assign(temp, value, self.line))
        return name(temp)

    def index(self, node):
        if isinstance(node, gast.Slice):
            return gast.Slice(*(self.atom(part) if part is not None else None for part in (node.lower, node.upper, node.step)))
        if isinstance(node, gast.Tuple):
            return gast.Tuple(elts=[self.index(e) for e in node.elts], ctx=gast.Load())
        return self.atom(node)

    def operation(self, node):
        """`node` as one operation on atoms, emitting statements for its operands."""
        if is_atom(node, self.local_names):
            return node
        method = getattr(self, "operation_" + type(node).__name__, None)
        if method is None:
            raise self.origin.unsupported(node, f"this expression ({type(node).__name__})")
        return method(node)

    def operation_BinOp(self, node):
        return gast.BinOp(left=self.atom(node.left), op=node.op, right=self.atom(node.right))

    def operation_UnaryOp(self, node):
        return gast.UnaryOp(op=node.op, operand=self.atom(node.operand))

    def operation_Compare(self, node):
        return gast.Compare(left=self.atom(node.left), ops=node.ops, comparators=[self.atom(c) for c in node.comparators])

    def operation_Attribute(self, node):
        return gast.Attribute(value=self.atom(node.value), attr=node.attr, ctx=gast.Load())

    def operation_Subscript(self, node):
        return gast.Subscript(value=self.atom(node.value), slice=self.index(node.slice), ctx=gast.Load())

    def operation_Call(self, node):
        func = node.func
        if global_path(func, self.local_names) is None and not isinstance(func, gast.Name):
            if isinstance(func, gast.Attribute):
                func = gast.Attribute(value=self.atom(func.value), attr=func.attr, ctx=gast.Load())
            else:
                func = self.atom(func, "function")
        args = [gast.Starred(value=self.atom(a.value), ctx=gast.Load()) if isinstance(a, gast.Starred) else self.atom(a)
                for a in node.args]
        keywords = [gast.keyword(arg=k.arg, value=k.value if _constant_tuple(k.value) else self.atom(k.value))
                    for k in node.keywords]  # (`axis=(0, 1)` stays as written: the transformer reads it)
        return gast.Call(func=func, args=args, keywords=keywords)

    def operation_Tuple(self, node):
        return self.sequence_literal(node, gast.Tuple)

    def operation_List(self, node):
        return self.sequence_literal(node, gast.List)

    def operation_Set(self, node):
        return gast.Set(elts=[self.atom(e) for e in node.elts])

    def sequence_literal(self, node, kind):
        if _has_starred(node.elts):
            raise self.origin.unsupported(node, "a starred item inside a literal",
                                          "Build the sequence with concatenation or a loop instead.")
        return kind(elts=[self.atom(e) for e in node.elts], ctx=gast.Load())

    def operation_Dict(self, node):
        if any(k is None for k in node.keys):
            raise self.origin.unsupported(node, "** unpacking inside a dict literal", "Build the dict with a loop or dict.update instead.")
        return gast.Dict(keys=[self.atom(k) for k in node.keys], values=[self.atom(v) for v in node.values])

    def operation_Lambda(self, node):
        return node

    def operation_JoinedStr(self, node):
        return node

    def operation_BoolOp(self, node):
        result = self.fresh("either" if isinstance(node.op, gast.Or) else "both")
        self.emit(assign(result, self.operation(node.values[0]), self.line))
        for value in node.values[1:]:
            test = name(result) if isinstance(node.op, gast.And) else gast.UnaryOp(op=gast.Not(), operand=name(result))
            body = self.block_of(lambda v=value: self.emit(assign(result, self.operation(v), self.line)))
            self.emit(gast.If(test=test, body=body, orelse=[], lineno=self.line, col_offset=0))
        return name(result)

    def operation_IfExp(self, node):
        result = self.fresh("choice")
        body = self.block_of(lambda: self.emit(assign(result, self.operation(node.body), self.line)))
        orelse = self.block_of(lambda: self.emit(assign(result, self.operation(node.orelse), self.line)))
        self.emit(gast.If(test=self.test(node.test), body=body, orelse=orelse, lineno=self.line, col_offset=0))
        return name(result)

    def block_of(self, emit_statements):
        saved, self.out = self.out, []
        emit_statements()
        result, self.out = self.out, saved
        return result

    def comprehension(self, node, empty, add):
        line = self.line
        result = self.fresh(_temp_base(node))
        self.emit(assign(result, empty, line))
        renames = {}
        for generator in node.generators:
            for target in stored_names(generator.target):
                if target in self.local_names:
                    renames[target] = self.fresh(target)
        node = renamed(node, renames)
        inner = add(result, node)
        for generator in reversed(node.generators):
            for condition in reversed(generator.ifs):
                inner = [gast.If(test=condition, body=inner, orelse=[], lineno=line, col_offset=0)]
            inner = [gast.For(target=generator.target, iter=generator.iter, body=inner, orelse=[], type_comment=None,
                              lineno=line, col_offset=0)]
        for statement in inner:
            self.statement(statement)
        return name(result)

    def operation_ListComp(self, node):
        return self.comprehension(node, gast.List(elts=[], ctx=gast.Load()), _append_statement("append"))

    operation_GeneratorExp = operation_ListComp

    def operation_SetComp(self, node):
        return self.comprehension(node, gast.Call(func=self.builtin("set"), args=[], keywords=[]), _append_statement("add"))

    def operation_DictComp(self, node):
        def add(result, comprehension):
            target = gast.Subscript(value=name(result), slice=comprehension.key, ctx=gast.Store())
            return [gast.Assign(targets=[target], value=comprehension.value, type_comment=None, lineno=self.line, col_offset=0)]

        return self.comprehension(node, gast.Dict(keys=[], values=[]), add)


def _calls(node):
    return any(isinstance(n, gast.Call) for n in gast.walk(node))


def _root(target):
    while isinstance(target, (gast.Subscript, gast.Attribute)):
        target = target.value
    return target.id if isinstance(target, gast.Name) else None


def _as_store(node):
    """`node` (a subscript or attribute read) as an assignment target."""
    node = copied(node)
    node.ctx = gast.Store()
    return node


def _append_statement(method):
    def add(result, comprehension):
        call = gast.Call(func=gast.Attribute(value=name(result), attr=method, ctx=gast.Load()), args=[comprehension.elt], keywords=[])
        return [gast.Expr(value=call, lineno=comprehension.elt.lineno if hasattr(comprehension.elt, "lineno") else 1, col_offset=0)]

    return add


def _has_starred(elements):
    return any(isinstance(e, gast.Starred) for e in elements)


def _index_constant(index):
    return constant(index) if index >= 0 else gast.UnaryOp(op=gast.USub(), operand=constant(-index))


def _is_call_to(node, builtin, local_names):
    return isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id == builtin \
        and builtin not in local_names and not any(isinstance(a, gast.Starred) for a in node.args)


def _index_base(target):
    names = sorted(stored_names(target))
    return (names[0] if len(names) == 1 else "item") + "_index"


def _item_assign(target, sequence, index, line):
    item = gast.Subscript(value=sequence, slice=index, ctx=gast.Load())
    return gast.Assign(targets=[target], value=item, type_comment=None, lineno=line, col_offset=0)


def _assigned_outside_loop_headers(function):
    counts = {}
    for node in gast.walk(function):
        if isinstance(node, gast.For) and isinstance(node.target, gast.Name):
            counts.setdefault(node.target.id, 0)
        elif isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
            counts[node.id] = counts.get(node.id, 0) + 1
    headers = [n.target.id for n in gast.walk(function) if isinstance(n, gast.For) and isinstance(n.target, gast.Name)]
    parameters = {a.id for a in function.args.args + function.args.kwonlyargs + function.args.posonlyargs}
    return {t for t in headers if counts.get(t, 0) > headers.count(t) or t in parameters}


def normalize(function, origin, namer, free_names, global_names=()):
    """Normalise `function` in place; `global_names` are the names of its module (which may shadow builtins)."""
    arguments = function.args
    parameters = [a.id for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
    parameters += [a.id for a in (arguments.vararg, arguments.kwarg) if a is not None]
    local_names = set(parameters) | stored_names(function) | set(free_names)
    normalizer = Normalizer(origin, namer, local_names)
    normalizer.assigned_outside_loops = _assigned_outside_loop_headers(function)
    normalizer.writeback = getattr(function, "writeback", {})
    normalizer.shadowed = local_names | set(global_names)
    function.body = normalizer.block(function.body)
    function.writeback = normalizer.writeback
    return function
