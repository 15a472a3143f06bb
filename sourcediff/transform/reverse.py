"""reverse: generate the forward function (primal plus saved state) and the pullback, as source.

Input: a normalised function with its analyses. Output: the text of two functions,

    def f_forward(<the user's parameters>):   # runs the primal, returns (result, state)
    def f_pullback(state, result_bar):        # returns one cotangent per input

Guarantees:
- only active statements get derivative code; inactive ones run as written in the forward;
- scalar operations get their partial derivatives inlined as arithmetic; other operations call
  their rule (`runtime.rrule(np.sin, x)`) or a transformed callee (`runtime.call(g, x)`), keeping the pullback;
- a value the pullback reads that is overwritten later is pushed on a stack named after it
  (`x_stack`) before being overwritten and popped back at the same point of the pullback;
  branch decisions and loop trip counts are recorded the same way;
- arrays and lists written in place are copied first when an earlier operation captured them,
  so rules and the caller keep the values they saw;
- a cotangent known to be zero is assigned rather than added to, and never materialised.
"""
import gast

from ..errors import NoRuleError
from .syntax import loaded_names, renamed, source, stored_names
from .templates import free_names

OPERATORS = {
    gast.Add: "add", gast.Sub: "sub", gast.Mult: "mul", gast.Div: "truediv", gast.FloorDiv: "floordiv", gast.Mod: "mod",
    gast.Pow: "pow", gast.MatMult: "matmul", gast.USub: "neg", gast.UAdd: "pos",
}


class Callee:
    """How a call site is differentiated: `kind` is inline, rule, call, method, append or inactive."""

    def __init__(self, kind, rule=None, function_text=None, templates=None):
        self.kind, self.rule, self.function_text, self.templates = kind, rule, function_text, templates


class Lines:
    def __init__(self):
        self.lines = []

    def add(self, depth, text):
        self.lines.extend("    " * depth + part for part in text.split("\n"))

    def extend(self, other):
        self.lines.extend(other.lines)


class ReverseGenerator:
    def __init__(self, function, origin, namer, active, scalar_names, classify, inputs, bind, free=(), varying=()):
        self.free, self.varying = list(free), set(varying)
        self.function, self.origin, self.namer = function, origin, namer
        self.active, self.scalar_names, self.classify, self.inputs = active, scalar_names, classify, inputs
        self.bind = bind
        self.bars, self.stacks = {}, {}
        self.assign_counts = _assignment_counts(function, inputs)
        self.assigned_values = _assigned_values(function)
        self.result = function.body[-1].value.id
        self.synthetic = {}

    # Names

    def bar(self, name):
        if name not in self.bars:
            self.bars[name] = self.namer.fresh(name + "_bar")
        return self.bars[name]

    def stack(self, name):
        if name not in self.stacks:
            self.stacks[name] = self.namer.fresh(name + "_stack")
        return self.stacks[name]

    def read(self, node):
        """Text of an atom read by the pullback, recording the names it needs from the forward."""
        for identifier in loaded_names(node) if not isinstance(node, str) else [node]:
            if identifier not in self.reads_order and identifier in self.local_names:
                self.reads_order.append(identifier)
        if isinstance(node, str):
            return node
        return f"({source(node)})" if isinstance(node, gast.Tuple) else source(node)

    def is_active(self, node):
        return isinstance(node, gast.Name) and node.id in self.active

    # Driver

    def generate(self, name):
        """The module text of `<name>_forward` and `<name>_pullback`.

        The first pass learns which names the pullback reads; those assigned more than once are
        then saved on stacks by the second pass, whose text is the result.
        """
        self.local_names = set(self.inputs) | stored_names(self.function)
        self.restored = set()
        self.emit_all(name)
        multi = {n for n, count in self.assign_counts.items() if count > 1}
        self.restored = set(self.reads_order) & multi
        return self.emit_all(name)

    def emit_all(self, name):
        self.reads_order, self.needs_init, self.loop_depth, self.assigned_bars = [], set(), 0, set()
        self.captured = set(self.inputs)
        body = self.forward_block(self.function.body[:-1], 1)
        zero = {self.bar(n) for n in self.active | set(self.inputs)} - {self.bar(self.result)}
        bound = {self.bar(self.result)}
        reverse, zero, bound = self.reverse_block(self.function.body[:-1], 1, zero, bound)
        return self.assemble(name, body, reverse, zero, bound)

    # Forward

    def forward_block(self, statements, depth):
        lines, last_line = Lines(), None
        for node in statements:
            line = getattr(node, "lineno", None)
            if line != last_line and line is not None:
                lines.add(depth, f"# line {line}: {self.origin.line_text(line) if self.origin else ''}".rstrip())
                last_line = line
            self.forward_statement(node, depth, lines)
        if not lines.lines or all(text.strip().startswith("#") for text in lines.lines):
            lines.add(depth, "pass")
        return lines

    def push(self, name, depth, lines):
        if name in self.restored:
            lines.add(depth, f"{self.stack(name)}.append({name})")

    def forward_statement(self, node, depth, lines):
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            if isinstance(target, gast.Name):
                if isinstance(node.value, gast.Lambda):
                    self.check_defaults(node.value, node)
                self.push(target.id, depth, lines)
                lines.add(depth, self.assignment_text(target.id, node.value, depth, lines))
                if _is_fresh(node.value):
                    self.captured.discard(target.id)
                else:
                    self.captured |= _captured_by(node.value) | {target.id}
                return
            if isinstance(target, gast.Subscript):
                self.check_not_a_view(target.value.id, node)
                self.copy_before_write(target.value.id, depth, lines)
            lines.add(depth, source(node))
            return
        if isinstance(node, gast.Expr):
            call = node.value
            callee = self.classify(call, self.scalar_names) if isinstance(call, gast.Call) else None
            if callee is not None and callee.kind == "append":
                self.copy_before_write(call.func.value.id, depth, lines)
                lines.add(depth, source(node))
                self.captured |= set().union(*(_captured_by(a) for a in call.args))
                return
            if callee is not None and callee.kind in ("call", "method", "rule") and self.mutates_active(call):
                raise self.origin.unsupported(node, "a call that may change an object the output depends on",
                                              "Return the new value instead of changing an argument in place.")
            if self.is_update(node):
                receiver = call.func.value.id
                pullback = self.pullback_name(receiver, call)
                self.push(receiver, depth, lines)
                self.push(pullback, depth, lines)
                arguments = "".join(", " + part for part in self.call_arguments(call, callee))
                lines.add(depth, f"{receiver}, {pullback} = {self.runtime}.call_updating({receiver}, {call.func.attr!r}{arguments})")
                return
            lines.add(depth, source(node))
            return
        if isinstance(node, gast.If):
            if self.relevant(node):
                condition = self.condition_name(node)
                self.push(condition, depth, lines)
                lines.add(depth, f"{condition} = {source(node.test)}")
                lines.add(depth, f"if {condition}:")
            else:
                lines.add(depth, f"if {source(node.test)}:")
            lines.extend(self.forward_block(node.body, depth + 1))
            if node.orelse:
                lines.add(depth, "else:")
                lines.extend(self.forward_block(node.orelse, depth + 1))
            return
        if isinstance(node, (gast.For, gast.While)):
            self.forward_loop(node, depth, lines)
            return
        if isinstance(node, gast.FunctionDef):
            self.check_defaults(node, node)
        lines.add(depth, source(node))

    def forward_loop(self, node, depth, lines):
        relevant = self.relevant(node)
        header = f"for {source(node.target)} in {source(node.iter)}:" if isinstance(node, gast.For) else f"while {source(node.test)}:"
        self.captured |= self.loop_captures(node)
        if relevant:
            counter = self.counter_name(node)
            self.push(counter, depth, lines)
            lines.add(depth, f"{counter} = 0")
        lines.add(depth, header)
        self.loop_depth += 1
        if relevant:
            lines.add(depth + 1, f"{counter} += 1")
            if isinstance(node, gast.For) and node.target.id in self.restored:
                lines.add(depth + 1, f"{self.stack(node.target.id)}.append({node.target.id})")
        lines.extend(self.forward_block(node.body, depth + 1))
        self.loop_depth -= 1

    def loop_captures(self, node):
        """Names an operation anywhere in the loop may hold: on a later iteration, before any write."""
        captures = set()
        for child in gast.walk(node):
            if isinstance(child, gast.Assign) and isinstance(child.targets[0], gast.Name) and not _is_fresh(child.value):
                captures |= _captured_by(child.value)
        return captures

    def check_not_a_view(self, name, node):
        """Refuse an in-place write into an active name that may share memory with another array."""
        if name not in self.varying or name in self.function.view_temporaries or name in self.inputs:
            return
        shared = [value for value in self.assigned_values.get(name, ()) if _may_share_memory(value)]
        if shared:
            raise self.origin.unsupported(
                node, f"a write into {name!r}, which may share memory with another array or list",
                f"Write into the original directly (for example m[i, j] = v), or make {name!r} a copy first "
                f"({name} = {source(shared[0])}.copy()).")

    def copy_before_write(self, name, depth, lines):
        """Copy an active array or list about to be written in place if an operation may hold it."""
        if name in self.active and name in self.captured:
            lines.add(depth, f"{name} = {self.runtime}.copy_for_write({name})")
            self.captured.discard(name)

    def is_update(self, node):
        """A method called for its effect on an active object: it may change the object's fields."""
        call = node.value
        return isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) and isinstance(call.func.value, gast.Name) \
            and call.func.value.id in self.active and self.classify(call, self.scalar_names).kind == "method"

    def check_defaults(self, function, node):
        """Default values are computed once, where the function is made; they cannot carry derivatives."""
        arguments = function.args
        defaults = list(arguments.defaults) + [d for d in arguments.kw_defaults if d is not None]
        if any(loaded_names(d) & self.varying for d in defaults):
            raise self.origin.unsupported(node, "a default argument value that depends on a differentiated input",
                                          "Use the value inside the function body (as a captured variable) instead of as a default.")

    def mutates_active(self, call):
        func = call.func
        return isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and func.value.id in self.active \
            and func.attr in ("extend", "insert", "update", "setdefault", "sort", "reverse", "fill", "resize")

    def forward_value(self, target, value):
        """The right-hand side for an assignment in the forward function."""
        if target not in self.active:
            return source(value)
        kind = self.operation_kind(value)
        if kind is not None and kind.kind == "no rule":
            raise self.origin.error(NoRuleError, f"{kind.function_text} has no derivative rule and no Python source to differentiate",
                                    value, f"Register a rule for it with @sd.register_rrule({kind.function_text}) "
                                           "or declare it with sd.non_differentiable.")
        if kind is None or kind.kind in ("inline", "inactive", "append"):
            return source(value)
        arguments = ", ".join(self.call_arguments(value, kind))
        if kind.kind == "rule":
            return f"{self.runtime}.rrule({kind.function_text}, {arguments})" if arguments else f"{self.runtime}.rrule({kind.function_text})"
        if kind.kind == "spread":
            arguments = [a.value if isinstance(a, gast.Starred) else a for a in value.args]
            spread = [isinstance(a, gast.Starred) for a in value.args]
            keywords = ", ".join(f"{k.arg!r}: {source(k.value)}" for k in value.keywords if k.arg)
            extra = next((source(k.value) for k in value.keywords if k.arg is None), "None")
            listed = ", ".join(source(a) for a in arguments) + ("," if len(arguments) == 1 else "")
            return f"{self.runtime}.call_spread({kind.function_text}, ({listed}), {tuple(spread)}, {{{keywords}}}, {extra})"
        if kind.kind == "method":
            receiver, method = source(value.func.value), value.func.attr
            rest = f", {arguments}" if arguments else ""
            return f"{self.runtime}.call_method({receiver}, {method!r}{rest})"
        rest = f", {arguments}" if arguments else ""
        return f"{self.runtime}.call({kind.function_text}{rest})"

    def assignment_text(self, target, value, depth, lines):
        """The forward assignment; operations with a pullback also bind it (pushing the old one if needed)."""
        right = self.forward_value(target, value)
        kind = self.operation_kind(value) if target in self.active else None
        if kind is None or kind.kind not in ("rule", "call", "method", "spread"):
            return f"{target} = {right}"
        pullback = self.pullback_name(target, value)
        self.push(pullback, depth, lines)
        return f"{target}, {pullback} = {right}"

    def pullback_name(self, target, value):
        key = ("pullback", id(value))
        if key not in self.synthetic:
            self.synthetic[key] = self.namer.fresh(target + "_pullback")
            self.local_names.add(self.synthetic[key])
            self.assign_counts[self.synthetic[key]] = 2 if self.loop_depth > 0 else 1
        return self.synthetic[key]

    def call_arguments(self, value, kind):
        if isinstance(value, (gast.BinOp,)):
            return [source(value.left), source(value.right)]
        if isinstance(value, gast.UnaryOp):
            return [source(value.operand)]
        parts = [source(a) for a in value.args]
        parts += [f"{k.arg}={source(k.value)}" if k.arg else f"**{source(k.value)}" for k in value.keywords]
        return parts

    def operation_kind(self, value):
        if isinstance(value, (gast.BinOp, gast.UnaryOp)):
            return self.classify(value, self.scalar_names)
        if isinstance(value, gast.Call):
            kind = self.classify(value, self.scalar_names)
            if _spreads(value) and kind.kind not in ("inactive", "append"):
                if kind.kind == "method":
                    raise self.origin.unsupported(value, "a method call with *args or **kwargs spread into it",
                                                  "Call the method with its arguments written out.")
                return Callee("spread", function_text=source(value.func))
            return kind
        return None

    def condition_name(self, node):
        return self._synthetic_name(node, "cond")

    def counter_name(self, node):
        return self._synthetic_name(node, "loop_count")

    def _synthetic_name(self, node, base):
        key = (base, id(node))
        if key not in self.synthetic:
            self.synthetic[key] = self.namer.numbered(base)
            self.local_names.add(self.synthetic[key])
            self.assign_counts[self.synthetic[key]] = 2 if self.loop_depth > 0 else 1
        return self.synthetic[key]

    def relevant(self, node):
        """Whether `node` needs code in the pullback (derivatives, or values to restore)."""
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            name = target.id if isinstance(target, gast.Name) else target.value.id
            return name in self.active or (isinstance(target, gast.Name) and name in self.restored)
        if isinstance(node, gast.Expr) and isinstance(node.value, gast.Call):
            func = node.value.func
            return isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and func.value.id in self.active \
                and self.classify(node.value, self.scalar_names).kind in ("append", "method")
        if isinstance(node, gast.FunctionDef):
            return node.name in self.active
        if isinstance(node, (gast.If, gast.For, gast.While)):
            return any(self.relevant(child) for child in node.body + node.orelse)
        return False

    # Pullback

    def reverse_block(self, statements, depth, zero, bound):
        lines, last_line = Lines(), None
        for node in reversed(statements):
            if not self.relevant(node):
                continue
            line = getattr(node, "lineno", None)
            before = len(lines.lines)
            zero, bound = self.reverse_statement(node, depth, lines, zero, bound)
            if len(lines.lines) > before and line is not None and line != last_line:
                comment = f"# line {line}: {self.origin.line_text(line) if self.origin else ''}".rstrip()
                lines.lines.insert(before, "    " * depth + comment)
                last_line = line
        return lines, zero, bound

    def add(self, name, term, depth, lines, zero, bound):
        """Accumulate `term` into the cotangent of `name`."""
        bar = self.bar(name)
        if bar in zero:
            lines.add(depth, f"{bar} = {term}")
        elif name in self.scalar_names:
            self.note_read_bar(bar, bound)
            lines.add(depth, f"{bar} = {bar} + {term}")
        else:
            self.note_read_bar(bar, bound)
            lines.add(depth, f"{bar} = {self.runtime}.accumulate({bar}, {term})")
        self.mark_assigned(bar, zero, bound)

    def mark_assigned(self, bar, zero, bound):
        """Record that `bar` now holds a cotangent (it is bound, and no longer known to be zero)."""
        zero.discard(bar)
        bound.add(bar)
        self.assigned_bars.add(bar)

    def note_read_bar(self, bar, bound):
        if bar not in bound:
            self.needs_init.add(bar)

    def restore(self, name, depth, lines):
        if name in self.restored:
            self.read(self.stack(name))
            lines.add(depth, f"{name} = {self.stack(name)}.pop()")

    def reset(self, name, depth, lines, zero):
        bar = self.bar(name)
        if self.assign_counts.get(name, 0) > 1 and bar not in zero:
            lines.add(depth, f"{bar} = {self.runtime}.ZERO")
        zero.add(bar)

    def reverse_statement(self, node, depth, lines, zero, bound):
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            if isinstance(target, gast.Name):
                return self.reverse_assign(target.id, node.value, depth, lines, zero, bound)
            return self.reverse_store(target, node.value, depth, lines, zero, bound)
        if isinstance(node, gast.Expr) and self.is_update(node):
            receiver = node.value.func.value.id
            if self.bar(receiver) not in zero:
                self.note_read_bar(self.bar(receiver), bound)
                self.reverse_pullback(receiver, node.value, Callee("method"), depth, lines, zero, bound)
            self.restore(receiver, depth, lines)
            return zero, bound
        if isinstance(node, gast.Expr):
            receiver = node.value.func.value.id
            bar = self.bar(receiver)
            if bar not in zero:
                item = self.namer.fresh(receiver + "_item_bar")
                self.note_read_bar(bar, bound)
                lines.add(depth, f"{bar}, {item} = {self.runtime}.pop_cotangent({bar})")
                argument = node.value.args[0]
                if self.is_active(argument):
                    self.add(argument.id, item, depth, lines, zero, bound)
            return zero, bound
        if isinstance(node, gast.FunctionDef):
            return self.reverse_function_definition(node, depth, lines, zero, bound)
        if isinstance(node, gast.If):
            condition = self.condition_name(node)
            body, zero_body, bound_body = self.reverse_block(node.body, depth + 1, set(zero), set(bound))
            orelse, zero_else, bound_else = self.reverse_block(node.orelse, depth + 1, set(zero), set(bound))
            if body.lines or orelse.lines:
                lines.add(depth, f"if {self.read(condition)}:")
                lines.extend(body) if body.lines else lines.add(depth + 1, "pass")
                if orelse.lines:
                    lines.add(depth, "else:")
                    lines.extend(orelse)
            zero, bound = zero_body & zero_else, bound_body & bound_else
            self.restore(condition, depth, lines)
            return zero, bound
        return self.reverse_loop(node, depth, lines, zero, bound)

    def reverse_loop(self, node, depth, lines, zero, bound):
        counter = self.counter_name(node)
        self.loop_depth += 1
        _, zero_end, bound_end = self.reverse_body(node, depth, set(zero), set(bound))
        entry_zero, entry_bound = zero & zero_end, bound & bound_end
        body, zero_end, bound_end = self.reverse_body(node, depth, set(entry_zero), set(entry_bound))
        self.loop_depth -= 1
        lines.add(depth, f"for _ in range({self.read(counter)}):")
        lines.extend(body)
        self.restore(counter, depth, lines)
        return entry_zero & zero_end, entry_bound & bound_end

    def reverse_body(self, node, depth, zero, bound):
        lines = Lines()
        if isinstance(node, gast.For) and node.target.id in self.restored:
            self.read(self.stack(node.target.id))
            lines.add(depth + 1, f"{node.target.id} = {self.stack(node.target.id)}.pop()")
        body, zero, bound = self.reverse_block(node.body, depth + 1, zero, bound)
        lines.extend(body)
        if not lines.lines:
            lines.add(depth + 1, "pass")
        return lines, zero, bound

    def reverse_store(self, target, value, depth, lines, zero, bound):
        container = target.value.id
        bar = self.bar(container)
        if isinstance(target, gast.Subscript):
            index = self.read(_index_value(target.slice))
            if bar not in zero:
                self.note_read_bar(bar, bound)
                if self.is_active(value):
                    self.add(value.id, f"{self.runtime}.project({self.read(value)}, {self.runtime}.index_cotangent({bar}, {index}))", depth, lines, zero, bound)
                lines.add(depth, f"{bar} = {self.runtime}.zero_at_index({bar}, {self.read(container)}, {index})")
        else:
            if bar not in zero:
                self.note_read_bar(bar, bound)
                if self.is_active(value):
                    self.add(value.id, f"{self.runtime}.component({bar}, {target.attr!r})", depth, lines, zero, bound)
                lines.add(depth, f"{bar} = {self.runtime}.zero_at_index({bar}, None, {target.attr!r})")
        return zero, bound

    def reverse_assign(self, target, value, depth, lines, zero, bound):
        bar = self.bar(target)
        if target not in self.active or bar in zero:
            if target in self.active:
                zero.add(bar)
            self.restore(target, depth, lines)
            return zero, bound
        self.note_read_bar(bar, bound)
        self_referencing = target in loaded_names(value)
        kind = self.operation_kind(value)
        if isinstance(value, gast.Name):
            if value.id in self.active and value.id != target:
                self.add(value.id, bar, depth, lines, zero, bound)
        elif kind is not None and kind.kind == "inline":
            self.reverse_inline(target, value, kind, depth, lines, zero, bound, self_referencing)
            return zero, bound
        elif kind is not None and kind.kind in ("rule", "call", "method", "spread"):
            self.reverse_pullback(target, value, kind, depth, lines, zero, bound)
            if self_referencing:
                self.restore(target, depth, lines)
                return zero, bound
        elif isinstance(value, gast.Subscript) and self.is_active(value.value):
            container = value.value.id
            index = self.read(_index_value(value.slice))
            if container == target:
                self.restore(target, depth, lines)
                lines.add(depth, f"{bar} = {self.runtime}.add_at_index({self.runtime}.ZERO, {self.read(container)}, {index}, {bar})")
                return zero, bound
            term = f"{self.runtime}.add_at_index({{current}}, {self.read(container)}, {index}, {bar})"
            self.add_functional(container, term, depth, lines, zero, bound)
        elif isinstance(value, gast.Attribute) and self.is_active(value.value):
            term = f"{self.runtime}.attribute_cotangent({self.read(value.value)}, {value.attr!r}, {bar})"
            if value.value.id == target:
                self.restore(target, depth, lines)
                lines.add(depth, f"{bar} = {term}")
                return zero, bound
            self.add(value.value.id, term, depth, lines, zero, bound)
        elif isinstance(value, (gast.Tuple, gast.List)):
            for position, element in enumerate(value.elts):
                if self.is_active(element):
                    self.add(element.id, f"{self.runtime}.component({bar}, {position})", depth, lines, zero, bound)
        elif isinstance(value, gast.Dict):
            for key, element in zip(value.keys, value.values):
                if self.is_active(element):
                    self.add(element.id, f"{self.runtime}.component({bar}, {self.read(key)})", depth, lines, zero, bound)
        elif isinstance(value, gast.Lambda):
            self.reverse_closure(bar, _captured_names(value), depth, lines, zero, bound)
        if not self_referencing:
            self.reset(target, depth, lines, zero)
        self.restore(target, depth, lines)
        return zero, bound

    def reverse_closure(self, bar, captured, depth, lines, zero, bound):
        """A closure's cotangent has one field per captured variable: hand each to its variable."""
        for name in sorted(captured & self.active):
            self.add(name, f"{self.runtime}.component({bar}, {name!r})", depth, lines, zero, bound)

    def reverse_function_definition(self, node, depth, lines, zero, bound):
        bar = self.bar(node.name)
        if bar not in zero:
            self.note_read_bar(bar, bound)
            self.reverse_closure(bar, _captured_names(node), depth, lines, zero, bound)
            self.reset(node.name, depth, lines, zero)
        return zero, bound

    def add_functional(self, name, term, depth, lines, zero, bound):
        bar = self.bar(name)
        current = f"{self.runtime}.ZERO" if bar in zero else bar
        if bar not in zero:
            self.note_read_bar(bar, bound)
        lines.add(depth, f"{bar} = {term.format(current=current)}")
        self.mark_assigned(bar, zero, bound)

    def reverse_inline(self, target, value, kind, depth, lines, zero, bound, self_referencing):
        bar = self.bar(target)
        arguments = [value.left, value.right] if isinstance(value, gast.BinOp) else \
            [value.operand] if isinstance(value, gast.UnaryOp) else list(value.args)
        output = f"({source(value)})" if self_referencing else target
        if self_referencing:
            self.restore(target, depth, lines)
        terms = []
        for argument, (parameters, template, module_globals) in zip(arguments, kind.templates):
            if not self.is_active(argument):
                continue
            partial = self.instantiate(template, parameters, arguments, output, module_globals)
            terms.append((argument.id, _scale(bar, partial)))
        own = [term for name, term in terms if name == target]
        for name, term in terms:
            if name != target:
                self.add(name, term, depth, lines, zero, bound)
        if self_referencing:
            if own:
                lines.add(depth, f"{bar} = {' + '.join(own)}")
            else:
                lines.add(depth, f"{bar} = {self.runtime}.ZERO")
                zero.add(bar)
            return
        self.reset(target, depth, lines, zero)
        self.restore(target, depth, lines)

    def instantiate(self, template, parameters, arguments, output, module_globals):
        used = {n.id for n in gast.walk(template) if isinstance(n, gast.Name)}
        replacements = {p: self.read(a) for p, a in zip(parameters, arguments) if p in used}
        if len(parameters) > len(arguments) and parameters[len(arguments)] in used:
            replacements[parameters[len(arguments)]] = output if output.startswith("(") else self.read(output)
        renames = {}
        for free in free_names(template, parameters):
            renames[free] = self.bind(free, module_globals.get(free))
        text = source(renamed(template, {**replacements, **renames}))
        return text

    def reverse_pullback(self, target, value, kind, depth, lines, zero, bound):
        bar = self.bar(target)
        pullback = self.read(self.pullback_name(target, value))
        if isinstance(value, gast.BinOp):
            slots = [None, value.left, value.right]
        elif isinstance(value, gast.UnaryOp):
            slots = [None, value.operand]
        elif kind.kind == "method":
            slots = [value.func.value] + list(value.args) + [k.value for k in value.keywords]
        else:
            callee = value.func if kind.kind in ("call", "spread") and isinstance(value.func, gast.Name) else None
            slots = [callee] + [a.value if isinstance(a, gast.Starred) else a for a in value.args]
            if kind.kind == "call":
                slots += [k.value for k in value.keywords]
            elif kind.kind == "spread":
                slots += [k.value for k in value.keywords if k.arg]
                slots.append(next((k.value for k in value.keywords if k.arg is None), None))
        names = []
        direct = set()
        pending = []
        counts = {}
        for slot in slots:
            if self.is_active(slot):
                counts[slot.id] = counts.get(slot.id, 0) + 1
        for slot in slots:
            if not self.is_active(slot):
                names.append("_")
                continue
            slot_bar = self.bar(slot.id)
            if slot.id == target and counts[slot.id] == 1:
                names.append(slot_bar)
                direct.add(slot.id)
            elif slot_bar in zero and counts[slot.id] == 1 and slot.id != target:
                names.append(slot_bar)
                direct.add(slot.id)
            else:
                part = self.namer.fresh(slot.id + "_bar")
                names.append(part)
                pending.append((slot.id, part))
        if all(n == "_" for n in names):
            self.restore(pullback, depth, lines)
            return
        unpack = ", ".join(names) + ("," if len(names) == 1 else "")
        lines.add(depth, f"{unpack} = {pullback}({bar})")
        for name in direct:
            self.mark_assigned(self.bar(name), zero, bound)
        target_reassigned = target in direct
        for name, part in pending:
            if name == target and not target_reassigned:
                lines.add(depth, f"{bar} = {part}")
                target_reassigned = True
                self.mark_assigned(bar, zero, bound)
            else:
                self.add(name, part, depth, lines, zero, bound)
        self.restore(pullback, depth, lines)

    # Assembly

    def assemble(self, name, forward, reverse, zero, bound):
        inputs = list(self.inputs)
        parameters = _parameter_text(self.function, self.free)
        state = [n for n in self.reads_order]
        stacks = [self.stacks[n] for n in sorted(self.restored, key=self._order) if n in self.stacks]
        for stack in stacks:
            if stack not in state:
                state.append(stack)
        top_level = {t.id for node in self.function.body for t in getattr(node, "targets", []) if isinstance(t, gast.Name)}
        text = Lines()
        text.add(0, f"def {name}_forward({parameters}):")
        unbound = [n for n in state if n not in self.inputs and n not in self.stacks.values()
                   and (n not in top_level or n in self.restored)]
        if unbound:
            text.add(1, " = ".join(unbound) + " = None")
        for n in state:
            if n in self.stacks.values():
                text.add(1, f"{n} = []")
        text.extend(forward)
        state_tuple = ", ".join(state) + ("," if len(state) == 1 else "")
        text.add(1, f"return {self.result}, ({state_tuple})")
        text.add(0, "")
        text.add(0, "")
        text.add(0, f"def {name}_pullback(state, {self.bar(self.result)}):")
        if state:
            text.add(1, f"{state_tuple} = state")
        for stack in stacks:
            text.add(1, f"{stack} = list({stack})")
        init_position = len(text.lines)
        text.extend(reverse)
        self.needs_init |= {self.bar(n) for n in inputs if self.bar(n) in self.assigned_bars and self.bar(n) not in bound}
        results = [self.bar(n) if self.bar(n) in bound or self.bar(n) in self.needs_init else f"{self.runtime}.ZERO" for n in inputs]
        text.lines[init_position:init_position] = ["    " + f"{bar} = {self.runtime}.ZERO" for bar in sorted(self.needs_init)]
        if self.result in inputs:
            results = [r if n != self.result else self.bar(n) for r, n in zip(results, inputs)]
        text.add(1, f"return ({', '.join(results)}{',' if len(results) == 1 else ''})")
        return "\n".join(text.lines) + "\n"

    def _order(self, name):
        return self.reads_order.index(name) if name in self.reads_order else len(self.reads_order)


def _scale(bar, partial):
    if partial in ("1.0", "1"):
        return bar
    if partial in ("-1.0", "(-1.0)", "-1"):
        return f"-{bar}"
    return f"{bar} * {partial}" if _is_simple(partial) else f"{bar} * ({partial})"


def _is_simple(text):
    return text.replace("_", "").replace(".", "").isalnum() or (text.endswith(")") and text.count("(") == 1 and " " not in text.split("(")[0])


def _index_value(index):
    """An expression whose value is the index object of a subscript (slices become `slice(...)`)."""
    if isinstance(index, gast.Slice):
        parts = [p if p is not None else gast.Constant(value=None, kind=None) for p in (index.lower, index.upper, index.step)]
        return gast.Call(func=gast.Name(id="slice", ctx=gast.Load(), annotation=None, type_comment=None), args=parts, keywords=[])
    if isinstance(index, gast.Tuple):
        return gast.Tuple(elts=[_index_value(e) for e in index.elts], ctx=gast.Load())
    return index


def _spreads(call):
    return any(isinstance(a, gast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)


def _captured_names(function):
    """Names a lambda or nested def reads from the enclosing function."""
    arguments = function.args
    parameters = {a.id for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs}
    parameters |= {a.id for a in (arguments.vararg, arguments.kwarg) if a is not None}
    body = function.body if isinstance(function.body, list) else [function.body]
    inner = set().union(*(stored_names(statement) for statement in body)) if isinstance(function.body, list) else set()
    return set().union(*(loaded_names(statement) for statement in body)) - parameters - inner


VIEW_METHODS = {"T", "reshape", "ravel", "view", "transpose", "swapaxes", "squeeze", "real", "imag", "diagonal"}


def _may_share_memory(value):
    """Whether an assigned value may be (a view of) an object another name also holds."""
    if isinstance(value, (gast.Name, gast.Subscript)):
        return True
    if isinstance(value, gast.Attribute):
        return True
    if isinstance(value, gast.Call):
        func = value.func
        name = func.attr if isinstance(func, gast.Attribute) else func.id if isinstance(func, gast.Name) else ""
        return name in VIEW_METHODS or name in ("asarray", "atleast_1d", "atleast_2d", "broadcast_to", "expand_dims")
    return False


def _assigned_values(function):
    """Every value assigned to each plain name of a normalised function."""
    values = {}
    for node in gast.walk(function):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            values.setdefault(node.targets[0].id, []).append(node.value)
    return values


def _is_fresh(value):
    """Whether `value` makes a new object nobody else refers to (so writing into it is safe)."""
    if isinstance(value, (gast.List, gast.Dict, gast.Tuple, gast.BinOp, gast.UnaryOp)):
        return True
    if isinstance(value, gast.Call):
        func = value.func
        name = func.attr if isinstance(func, gast.Attribute) else func.id if isinstance(func, gast.Name) else ""
        return name in ("zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like", "array",
                        "copy", "list", "dict", "eye", "identity", "arange", "linspace")
    return False


def _captured_by(value):
    """Names whose whole value an operation hands to a rule or callee (which may keep it)."""
    if isinstance(value, gast.Subscript):
        return set()
    if isinstance(value, gast.Attribute):
        return set()
    return loaded_names(value)


def _parameter_text(function, free):
    """The forward function's parameters: captured variables first, then the user's own."""
    arguments = function.args
    parts = list(free) + [p.id for p in arguments.posonlyargs] + (["/"] if arguments.posonlyargs else [])
    parts += [p.id for p in arguments.args]
    if arguments.vararg:
        parts.append("*" + arguments.vararg.id)
    elif arguments.kwonlyargs:
        parts.append("*")
    parts += [p.id for p in arguments.kwonlyargs]
    if arguments.kwarg:
        parts.append("**" + arguments.kwarg.id)
    return ", ".join(parts)


def _assignment_counts(function, inputs):
    counts = {n: 1 for n in inputs}

    def visit(statements, weight):
        for node in statements:
            for target in getattr(node, "targets", []):
                if isinstance(target, gast.Name):
                    counts[target.id] = counts.get(target.id, 0) + weight
            if isinstance(node, gast.For):
                counts[node.target.id] = counts.get(node.target.id, 0) + 2
                visit(node.body, 2)
            elif isinstance(node, gast.While):
                visit(node.body, 2)
            elif isinstance(node, gast.If):
                visit(node.body, weight)
                visit(node.orelse, weight)

    visit(function.body, 1)
    return counts
