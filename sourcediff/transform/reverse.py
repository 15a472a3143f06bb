"""reverse: generate the forward function (primal plus saved state) and the pullback, as source.

Input: a function after `effects`, with its analyses. Output: the text of two functions,

    def f_forward(<the user's parameters>):   # runs the primal; returns (outputs, state)
    def f_pullback(state, result_bar, ...):    # one cotangent per output in, one per input out

The outputs are the returned value and, after it, the final values of the parameters the
function writes into (`function.written`).

Guarantees:
- only active statements get derivative code; everything else runs exactly as written;
- scalar operations get their partial derivatives inlined as arithmetic; other operations call
  their rule (`sin_rrule(x)`) or a transformed callee (`dispatch.call(g, x)`);
- every value the pullback reads is the value the forward had at that point: a name assigned
  more than once (or in a loop) is pushed on a stack named after it (`x_stack`) right after each
  assignment, and the pullback (which starts from a copy without the final value, its top) pops the
  value before where it undoes that assignment (None: unbound before); branch decisions and
  loop trip counts are recorded the same way;
- cotangents of the same value add up, whatever the path: what is statically known about each
  cotangent (certainly zero, certainly bound) is joined at branches and iterated to a fixed point
  at loops, so that an assignment `x_bar = ...` is emitted only where `x_bar` is certainly zero;
- the cotangent of a local closure called directly goes to its captured variables as they are
  when it is called; a closure passed on or stored gives it to them where it is defined, which is
  refused when one of them changes afterwards;
- a default value depending on a differentiated input, and a differentiated value written into an
  object reached through a global, raise `UnsupportedSyntaxError` naming the line.
"""
import contextlib
import copy
import dataclasses
import re

import gast
import numpy as np

from ..errors import NoRuleError
from ..rules.numpy_elementwise import SCALAR_TWINS
from .liveness import without_dead_zero_stores
from .dataflow import captured_names, captured_writes, closure_captures, definitely_bound, live_after, simple_statements
from .resolve import Kind
from .syntax import index_value, loaded_names, name as name_node, renamed, source
from .templates import free_names, is_number, module_value, number_value, substituted

CALLING = (Kind.RULE, Kind.CALL, Kind.METHOD, Kind.SPREAD)
COPIES = {"own", "own_array", "own_list", "own_resized"}


@dataclasses.dataclass(frozen=True)
class Cotangents:
    """What is known about the cotangent variables at a point of the pullback: which are certainly zero
    (or unbound), and which are certainly bound."""

    zero: frozenset
    bound: frozenset

    def join(self, other):
        return Cotangents(self.zero & other.zero, self.bound & other.bound)

    def assigned(self, bar):
        return Cotangents(self.zero - {bar}, self.bound | {bar})

    def cleared(self, bar, written):
        """`bar` is zero from here on; `written` says whether `bar = ZERO` was emitted (so it is bound)."""
        return Cotangents(self.zero | {bar}, self.bound | {bar} if written else self.bound)


@dataclasses.dataclass(frozen=True)
class Entry:
    """A cotangent term that adds itself into the current cotangent (`{current}` in its template)."""

    template: str


class Lines:
    """Generated lines, each with the line of the user's source it comes from."""

    def __init__(self):
        self.entries = []

    def add(self, depth, text, line):
        self.entries.extend(("    " * depth + part, line) for part in text.split("\n"))

    def extend(self, other):
        self.entries.extend(other.entries)

    def __bool__(self):
        return any(not text.strip().startswith("#") for text, _ in self.entries)


class ReverseGenerator:
    def __init__(self, function, origin, namer, classify, analyses, bind):
        self.function, self.origin, self.namer, self.classify = function, origin, namer, classify
        self.bound = {}  # what each name the generated code binds stands for

        def bound(name, value):
            found = bind(name, value)
            self.bound[found] = value
            return found

        self.bind = bound
        self.active, self.varying = analyses.active, analyses.varying
        self.scalar_names, self.inputs, self.user_names = analyses.scalar_names, analyses.inputs, analyses.user_names
        self.real_names = getattr(analyses, "real_names", {})
        self.runtime, self.dispatch, self.operator = namer.helper("runtime"), namer.helper("dispatch"), namer.helper("operator")
        self.body = function.body[:-1]
        self.result = function.body[-1].value.id
        self.outputs = [self.result] + list(getattr(function, "written", {}).values())
        self.captures = closure_captures(self.body)
        self.closures = _closure_names(self.body, self.captures, self.inputs)
        self.assignments = _assignments(self.body, self.inputs)
        self.writing_closures = {d.name if isinstance(d, gast.FunctionDef) else d.targets[0].id for d in _definitions(self.body)
                                 if captured_writes(d if isinstance(d, gast.FunctionDef) else d.value,
                                                    set(self.inputs) | set(self.assignments))}
        self.synthetic, self.bars, self.stacks, self.sites = {}, {}, {}, {}
        self.computed = None  # what `reuse` may take from the forward
        self.tracked, self.initialised = set(), set()
        self.loop_depth = 0

    # Names

    def bar(self, name):
        if name not in self.bars:
            self.bars[name] = self.namer.fresh(name + "_bar")
        return self.bars[name]

    def stack(self, name):
        if name not in self.stacks:
            self.stacks[name] = self.namer.fresh(name + "_stack")
        return self.stacks[name]

    def synthetic_name(self, node, base, numbered=False):
        """A name the generated code introduces for `node` (its pullback, branch decision or trip count)."""
        key = (base, id(node))
        if key not in self.synthetic:
            created = self.namer.numbered(base) if numbered else self.namer.fresh(base)
            self.synthetic[key] = created
            self.local_names.add(created)
            if self.loop_depth:
                self.tracked.add(created)
            elif self.branch_depth:
                self.initialised.add(created)
        return self.synthetic[key]

    def read(self, node):
        """Text of an atom the pullback reads, recording the local names it needs from the forward."""
        names = [node] if isinstance(node, str) else loaded_names(node)
        for identifier in names:
            if identifier in self.local_names and identifier not in self.reads:
                self.reads[identifier] = None
        if isinstance(node, str):
            return node
        return f"({source(node)})" if isinstance(node, gast.Tuple) else source(node)

    def holds_a_scalar(self, name):
        """Whether `name` always holds a real number (a Python or NumPy scalar), never an array."""
        return name in self.scalar_names or self.real_names.get(name) == 0

    def is_active(self, node):
        return isinstance(node, gast.Name) and node.id in self.active

    def site(self, value):
        if id(value) not in self.sites:
            self.sites[id(value)] = self.classify(value, self.scalar_names, self.real_names)
        return self.sites[id(value)]

    def helper_call(self, value, names):
        """The runtime helper an effects-pass call uses (`own`, `rebind`, ...), or None."""
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and \
                isinstance(value.func.value, gast.Name) and value.func.value.id == self.runtime and value.func.attr in names:
            return value.func.attr
        return None

    def skipped(self, node):
        """Effects-pass statements that do nothing for scalars (numbers are never shared or changed in place)."""
        value = node.value if isinstance(node, (gast.Assign, gast.Expr)) else None
        helper = self.helper_call(value, COPIES | {"rebind", "check_unshared"})
        if helper is None:
            return False
        scalar = [isinstance(a, gast.Name) and a.id in self.scalar_names for a in value.args]
        if helper == "check_unshared":
            return scalar[1] or all(scalar[7:])
        if helper == "rebind":
            return scalar[0] or scalar[2]
        return scalar[0]

    # Driver

    def generate(self, name):
        """The text of `<name>_forward` and `<name>_pullback`, and the user line of each generated line.

        A first emission learns which names the pullback reads; a second, with those that change
        saved on stacks, is the result.
        """
        self.local_names = set(self.inputs) | set(self.assignments)
        self.check_closures()
        for active_name in sorted(self.active | set(self.inputs) | set(self.outputs)):
            self.bar(active_name)
        self.branch_depth = 0
        taken = set(self.namer.taken)
        self.emit(name)
        self.namer.taken = taken | set(self.synthetic.values())
        self.decide_saving()
        for tracked in sorted(self.tracked):
            self.stack(tracked)
        return self.emit(name)

    def decide_saving(self):
        """Names the pullback reads that change, or may be unbound at the end, go on stacks."""
        bound_at_end = definitely_bound(self.body + [self.function.body[-1]], set(self.inputs)).get(id(self.function.body[-1]), set())
        synthetic = set(self.synthetic.values())
        for read_name in self.reads:
            if read_name in self.tracked or read_name in self.initialised or read_name in synthetic:
                continue
            count, in_loop = self.assignments.get(read_name, (0, False))
            if in_loop or count > 1:
                self.tracked.add(read_name)
            elif read_name not in bound_at_end and read_name not in self.inputs:
                (self.initialised if read_name not in self.user_names else self.tracked).add(read_name)

    def emit(self, name):
        self.reads, self.needs_init = {}, set()
        forward = self.forward_block(self.body, 1)
        seeds = frozenset(self.bar(n) for n in self.outputs)
        start = Cotangents(frozenset(self.bars.values()) - seeds, seeds)
        reverse, end = self.reverse_block(self.body, 1, start)
        results = []
        for input_name in self.inputs:
            bar = self.bar(input_name)
            if bar in end.zero:
                results.append(f"{self.runtime}.ZERO")
            else:
                self.use(bar, end)
                results.append(bar)
        return self.assemble(name, forward, reverse, results)

    @contextlib.contextmanager
    def scratch(self):
        """Emit code that is thrown away (a loop body analysed to its fixed point), keeping names stable."""
        taken, reads = set(self.namer.taken), dict(self.reads)
        yield
        self.namer.taken, self.reads = taken, reads

    # Checks

    def check_closures(self):
        """Refuse a closure whose cotangent could be given to its captured variables as they were not.

        A closure taken by an operation (called, or passed to `map`) gives its cotangent to its
        variables as they are at that operation; that is wrong only if the operation's result, which
        may keep the closure, is still in use when one of them changes. A closure stored (in another
        name, a container, another closure, the result) gives it where it is defined: none of its
        variables may change after that.
        """
        order = _statement_order(self.body)
        live = live_after(self.body, self.captures)
        for definition in _definitions(self.body):
            closure = definition.name if isinstance(definition, gast.FunctionDef) else definition.targets[0].id
            if closure not in self.closures:
                continue
            stored, holders = _closure_uses(self.body, closure, self.captures)
            position, loops = order[id(definition)]
            for captured in sorted(self.reached(closure) & self.varying):
                for change in _changes(self.body, captured):
                    if self.skipped(change):
                        continue
                    change_position, change_loops = order[id(change)]
                    late = change_position > position or set(loops) & set(change_loops)
                    if (stored and late) or holders & live.get(id(change), frozenset()):
                        raise self.origin.unsupported(
                            definition, f"a closure kept (stored or passed on) while {captured!r}, which it reads, changes",
                            f"Call the closure directly, or pass {captured!r} to it as an argument.")

    def check_defaults(self, function, node):
        """Default values are computed once, where the function is made; they cannot carry derivatives."""
        arguments = function.args
        defaults = list(arguments.defaults) + [d for d in arguments.kw_defaults if d is not None]
        if any(loaded_names(d) & self.varying for d in defaults):
            raise self.origin.unsupported(node, "a default argument value that depends on a differentiated input",
                                          "Use the value inside the function body (as a captured variable) instead of as a default.")

    def check_foreign(self, node):
        if node in getattr(self.function, "foreign_writes", ()) and loaded_names(node.value) & self.varying:
            raise self.origin.unsupported(
                node, "a differentiated value written into an object that may be reached through a global",
                "Build the result in a local array (for example a copy) and return it instead.")

    # Forward

    def forward_block(self, statements, depth):
        lines, last_line = Lines(), None
        for node in statements:
            line = getattr(node, "lineno", None)
            if line != last_line and line is not None:
                lines.add(depth, f"# line {line}: {self.origin.line_text(line) if self.origin else ''}".rstrip(), line)
                last_line = line
            if not self.skipped(node):
                self.forward_statement(node, depth, lines)
        if not lines:
            lines.add(depth, "pass", last_line)
        return lines

    def push(self, name, depth, lines, line):
        if name in self.tracked:
            lines.add(depth, f"{self.stack(name)}.append({name})", line)

    def forward_statement(self, node, depth, lines):
        line = getattr(node, "lineno", None)
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            if isinstance(target, gast.Name):
                self.forward_assign(target.id, node.value, depth, lines, line)
            else:
                self.check_foreign(node)
                lines.add(depth, source(node), line)
        elif isinstance(node, gast.Expr):
            lines.add(depth, self.forward_expression(node.value, node), line)
        elif isinstance(node, gast.If):
            self.forward_if(node, depth, lines)
        elif isinstance(node, (gast.For, gast.While)):
            self.forward_loop(node, depth, lines)
        elif isinstance(node, gast.FunctionDef):
            self.check_defaults(node, node)
            lines.add(depth, source(node), line)
            self.push(node.name, depth, lines, line)
        else:
            lines.add(depth, source(node), line)

    def forward_assign(self, target, value, depth, lines, line):
        if isinstance(value, gast.Lambda):
            self.check_defaults(value, value)
        site = self.operation_site(value) if target in self.active else None
        if site is not None and site.kind is Kind.NO_RULE:
            raise self.origin.error(NoRuleError, f"{site.text} has no derivative rule and no Python source to differentiate",
                                    value, f"Register a rule for it with @sd.register_rrule({site.text}) "
                                           "or declare it with sd.non_differentiable.")
        if site is not None and site.kind in CALLING:
            pullback = self.synthetic_name(value, target + "_pullback")
            lines.add(depth, f"{target}, {pullback} = {self.calling_text(value, site)}", line)
            self.push(pullback, depth, lines, line)
        elif self.calls_a_writing_closure(value) or self.calls_an_unknown_callee(value):
            arguments = "".join(", " + a for a in self.call_arguments(value))
            lines.add(depth, f"{target} = {self.dispatch}.call_for_effect({source(value.func)}{arguments})", line)
        else:
            lines.add(depth, f"{target} = {source(value)}", line)
        self.push(target, depth, lines, line)

    def calls_a_writing_closure(self, value):
        """A call of (or handing over) a local closure that may change a variable it captures in place: it goes
        through `dispatch.call_for_effect` (which refuses that) even when its value carries no derivative."""
        if not isinstance(value, gast.Call):
            return False
        handed = [value.func] + list(value.args) + [k.value for k in value.keywords]
        return any(isinstance(n, gast.Name) and n.id in self.writing_closures for n in handed)

    def calls_an_unknown_callee(self, value):
        """A call of a function known only at run time (a captured variable, say) with differentiated arguments:
        it may write into them, so it goes through `dispatch.call_for_effect` even when its value carries no
        derivative."""
        if not isinstance(value, gast.Call) or not (loaded_names(value) & self.varying):
            return False
        site = self.site(value)
        return site.kind in (Kind.CALL, Kind.SPREAD) and site.function is None

    def operation_site(self, value):
        """The `Site` of an assignment's value if it is an operation with a derivative rule or callee."""
        if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Call)):
            return self.site(value)
        if isinstance(value, gast.Subscript) and loaded_names(value.slice) & self.active:
            return self.site(self.getitem_call(value))
        return None

    def getitem_call(self, subscript):
        key = ("getitem", id(subscript))
        if key not in self.sites:
            self.sites[key] = _getitem_call(subscript, self.operator)
        return self.sites[key]

    def calling_text(self, value, site):
        """The forward call that returns a value and its pullback."""
        if isinstance(value, gast.Subscript):
            value = self.getitem_call(value)
        arguments = self.call_arguments(value)
        rest = "".join(", " + a for a in arguments)
        if site.kind is Kind.RULE:  # the rule found at build time (a guard of the build), called directly
            name = re.sub(r"\W", "_", getattr(site.function, "__name__", "") or "primitive")
            return f"{self.bind(name + '_rrule', site.rule.rrule)}({', '.join(arguments)})"
        if site.kind is Kind.METHOD:
            receiver_arguments = "".join(", " + a for a in arguments)
            return f"{self.dispatch}.call_method({source(value.func.value)}, {value.func.attr!r}{receiver_arguments})"
        if site.kind is Kind.SPREAD:
            positional = [a.value if isinstance(a, gast.Starred) else a for a in value.args]
            spread = tuple(isinstance(a, gast.Starred) for a in value.args)
            keywords = ", ".join(f"{k.arg!r}: {source(k.value)}" for k in value.keywords if k.arg)
            extra = next((source(k.value) for k in value.keywords if k.arg is None), "None")
            listed = ", ".join(source(a) for a in positional) + ("," if len(positional) == 1 else "")
            return f"{self.dispatch}.call_spread({source(value.func)}, ({listed}), {spread}, {{{keywords}}}, {extra})"
        return f"{self.dispatch}.call({source(value.func)}{rest})"

    def call_arguments(self, value):
        if isinstance(value, gast.BinOp):
            return [source(value.left), source(value.right)]
        if isinstance(value, gast.UnaryOp):
            return [source(value.operand)]
        parts = [f"({source(a)})" if isinstance(a, gast.Tuple) else source(a) for a in value.args]
        parts += [f"{k.arg}={source(k.value)}" if k.arg else f"**{source(k.value)}" for k in value.keywords]
        return parts

    def forward_expression(self, call, node):
        """A call made for its effect. One with differentiated arguments that may change them runs through
        `dispatch.call`, which refuses a callee that writes into its arguments."""
        if self.calls_a_writing_closure(call):
            arguments = "".join(", " + a for a in self.call_arguments(call))
            return f"{self.dispatch}.call_for_effect({source(call.func)}{arguments})"
        if not isinstance(call, gast.Call) or not (loaded_names(call) & self.varying):
            return source(call)
        site = self.site(call)
        if site.kind is Kind.NO_RULE:
            raise self.origin.error(
                NoRuleError, f"{site.text} is called for its effect on a differentiated value, and sourcediff cannot "
                             "tell whether it changes its arguments", node,
                f"Register a rule for it with @sd.register_rrule({site.text}) (or sd.non_differentiable if it "
                "changes nothing), or call it on values that carry no derivative.")
        if site.kind is Kind.METHOD:
            raise self.origin.unsupported(
                node, "a differentiated value handed to a method of an object that may be reached through a global",
                "Keep the values in a local variable (a list or array) instead, and return them.")
        if site.kind in (Kind.CALL, Kind.SPREAD) and site.function is None:
            arguments = "".join(", " + a for a in self.call_arguments(call))
            return f"{self.dispatch}.call_for_effect({source(call.func)}{arguments})"
        return source(call)

    def forward_if(self, node, depth, lines):
        line = node.lineno
        if self.relevant(node):
            condition = self.synthetic_name(node, "cond", numbered=True)
            lines.add(depth, f"{condition} = {source(node.test)}", line)
            self.push(condition, depth, lines, line)
            lines.add(depth, f"if {condition}:", line)
        else:
            lines.add(depth, f"if {source(node.test)}:", line)
        self.branch_depth += 1
        lines.extend(self.forward_block(node.body, depth + 1))
        if node.orelse:
            lines.add(depth, "else:", line)
            lines.extend(self.forward_block(node.orelse, depth + 1))
        self.branch_depth -= 1

    def forward_loop(self, node, depth, lines):
        line = node.lineno
        relevant = self.relevant(node)
        header = f"for {source(node.target)} in {source(node.iter)}:" if isinstance(node, gast.For) else f"while {source(node.test)}:"
        if relevant:
            counter = self.synthetic_name(node, "loop_count", numbered=True)
            lines.add(depth, f"{counter} = 0", line)
        lines.add(depth, header, line)
        self.loop_depth += 1
        if relevant:
            lines.add(depth + 1, f"{counter} += 1", line)
        if isinstance(node, gast.For):
            self.push(node.target.id, depth + 1, lines, line)
        lines.extend(self.forward_block(node.body, depth + 1))
        self.loop_depth -= 1
        if relevant:
            self.push(counter, depth, lines, line)

    def relevant(self, node):
        """Whether `node` needs code in the pullback (derivatives, or values to restore)."""
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            if isinstance(target, gast.Name):
                return (target.id in self.active or target.id in self.tracked) and not self.skipped(node)
            return target.value.id in self.active if isinstance(target.value, gast.Name) else False
        if isinstance(node, gast.FunctionDef):
            return node.name in self.active or node.name in self.tracked
        if isinstance(node, (gast.If, gast.For, gast.While)):
            return (isinstance(node, gast.For) and node.target.id in self.tracked) or \
                any(self.relevant(child) for child in node.body + node.orelse)
        return False

    # Pullback

    def reverse_block(self, statements, depth, state):
        lines, last_line = Lines(), None
        for node in reversed(statements):
            if not self.relevant(node):
                continue
            line = getattr(node, "lineno", None)
            block = Lines()
            state = self.reverse_statement(node, depth, block, state)
            if block.entries:
                if line is not None and line != last_line:
                    lines.add(depth, f"# line {line}: {self.origin.line_text(line) if self.origin else ''}".rstrip(), line)
                    last_line = line
                lines.extend(block)
        return lines, state

    def use(self, bar, state):
        """`bar` is read here: if it may be unbound, it is set to zero at the start of the pullback."""
        if bar not in state.bound:
            self.needs_init.add(bar)

    def add(self, name, term, depth, lines, line, state):
        """Accumulate `term` into the cotangent of `name` (an `Entry` adds itself, given the current cotangent)."""
        bar = self.bar(name)
        if isinstance(term, Entry):
            if bar not in state.zero:
                self.use(bar, state)
            current = f"{self.runtime}.ZERO" if bar in state.zero else bar
            lines.add(depth, f"{bar} = {term.template.format(current=current)}", line)
        elif bar in state.zero:
            lines.add(depth, f"{bar} = {term}", line)
        else:
            self.use(bar, state)
            if self.holds_a_scalar(name):
                lines.add(depth, f"{bar} = {bar} + {term}", line)
            else:
                lines.add(depth, f"{bar} = {self.runtime}.accumulate_into({bar}, {term})", line)
        return state.assigned(bar)

    def restore(self, name, depth, lines, line):
        """Undo an assignment to a saved name: it holds its previous value from here on."""
        if name in self.tracked:
            stack = self.read(self.stack(name))
            lines.add(depth, f"{name} = {stack}.pop() if {stack} else None", line)

    def clear(self, name, depth, lines, line, state):
        """The cotangent of `name` before its assignment starts at zero."""
        bar = self.bar(name)
        if bar in state.zero:
            return state
        count, in_loop = self.assignments.get(name, (0, False))
        written = in_loop or count > 1 or name in self.inputs
        if written:
            lines.add(depth, f"{bar} = {self.runtime}.ZERO", line)
        return state.cleared(bar, written)

    def reverse_statement(self, node, depth, lines, state):
        line = node.lineno
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            if isinstance(target, gast.Name):
                return self.reverse_assign(target.id, node.value, depth, lines, line, state)
            return self.reverse_store(target, node.value, depth, lines, line, state)
        if isinstance(node, gast.FunctionDef):
            state = self.reverse_definition(node.name, node, depth, lines, line, state)
            self.restore(node.name, depth, lines, line)
            return state
        if isinstance(node, gast.If):
            return self.reverse_if(node, depth, lines, state)
        return self.reverse_loop(node, depth, lines, state)

    def reverse_if(self, node, depth, lines, state):
        condition = self.synthetic_name(node, "cond", numbered=True)
        body, state_body = self.reverse_block(node.body, depth + 1, state)
        orelse, state_else = self.reverse_block(node.orelse, depth + 1, state)
        if body or orelse:
            lines.add(depth, f"if {self.read(condition)}:", node.lineno)
            if body:
                lines.extend(body)
            else:
                lines.add(depth + 1, "pass", node.lineno)
            if orelse:
                lines.add(depth, "else:", node.lineno)
                lines.extend(orelse)
        self.restore(condition, depth, lines, node.lineno)
        return state_body.join(state_else)

    def reverse_loop(self, node, depth, lines, state):
        counter = self.synthetic_name(node, "loop_count", numbered=True)
        head = state
        while True:
            with self.scratch():
                _, end = self.reverse_body(node, depth, head)
            joined = head.join(end)
            if joined == head:
                break
            head = joined
        body, _ = self.reverse_body(node, depth, head)
        lines.add(depth, f"for _ in range({self.read(counter)}):", node.lineno)
        lines.extend(body)
        self.restore(counter, depth, lines, node.lineno)
        return head

    def reverse_body(self, node, depth, state):
        self.loop_depth += 1
        body, state = self.reverse_block(node.body, depth + 1, state)
        if isinstance(node, gast.For):
            self.restore(node.target.id, depth + 1, body, node.lineno)
        if not body.entries:
            body.add(depth + 1, "pass", node.lineno)
        self.loop_depth -= 1
        return body, state

    def reverse_assign(self, target, value, depth, lines, line, state):
        bar = self.bar(target) if target in self.active else None
        same = isinstance(value, gast.Name) and value.id == target
        if bar is None or bar in state.zero or same or self.helper_call(value, COPIES):
            self.restore(target, depth, lines, line)
            return state
        self.use(bar, state)
        site = self.operation_site(value)
        if site is not None and site.kind in CALLING:
            state = self.reverse_pullback(target, value, site, depth, lines, line, state)
        else:
            for name, term in self.terms(target, value, site):
                state = self.add(name, term, depth, lines, line, state)
            state = self.clear(target, depth, lines, line, state)
        self.restore(target, depth, lines, line)
        return state

    def terms(self, target, value, site):
        """`(name, term)` pairs: `term` is added to the cotangent of `name` (None: a statement to emit)."""
        bar = self.bar(target)
        if isinstance(value, gast.Name):
            return [(value.id, bar)] if self.is_active(value) and value.id != target else []
        if site is not None and site.kind is Kind.INLINE:
            return self.inline_terms(target, value, site)
        if isinstance(value, gast.Subscript) and self.is_active(value.value):
            container = value.value.id
            index = self.read(index_value(value.slice))
            return [(container, Entry(f"{self.runtime}.add_at_index({{current}}, {self.read(container)}, {index}, {bar})"))]
        if isinstance(value, gast.Attribute) and self.is_active(value.value):
            return [(value.value.id, f"{self.runtime}.attribute_cotangent({self.read(value.value)}, {value.attr!r}, {bar})")]
        if isinstance(value, (gast.Tuple, gast.List)):
            return [(e.id, f"{self.runtime}.component({bar}, {p})") for p, e in enumerate(value.elts) if self.is_active(e)]
        if isinstance(value, gast.Dict):
            return [(e.id, f"{self.runtime}.component({bar}, {self.read(k)})") for k, e in zip(value.keys, value.values)
                    if self.is_active(e)]
        if isinstance(value, gast.Lambda):
            return self.closure_terms(bar, captured_names(value))
        return []

    def closure_terms(self, bar, captured, seen=()):
        """A closure's cotangent has one field per captured variable: each goes to its variable (a captured
        local closure's field, to the variables it captures in turn)."""
        terms = []
        for name in sorted(captured):
            field = f"{self.runtime}.component({bar}, {name!r})"
            if name in self.closures and name not in seen:
                terms += self.closure_terms(field, self.captures[name], seen + (name,))
            elif name in self.active:
                terms.append((name, field))
        return terms

    def reached(self, closure, seen=()):
        """The variables a local closure reads, directly or through the local closures it captures."""
        found = set()
        for name in self.captures.get(closure, ()):
            if name in self.closures and name not in seen:
                found |= self.reached(name, seen + (closure,))
            else:
                found.add(name)
        return found

    def reverse_definition(self, name, node, depth, lines, line, state):
        bar = self.bar(name) if name in self.active else None
        if bar is None or bar in state.zero:
            return state
        self.use(bar, state)
        for captured, term in self.closure_terms(bar, captured_names(node)):
            state = self.add(captured, term, depth, lines, line, state)
        return self.clear(name, depth, lines, line, state)

    def inline_terms(self, target, value, site):
        bar = self.bar(target)
        arguments = [value.left, value.right] if isinstance(value, gast.BinOp) else \
            [value.operand] if isinstance(value, gast.UnaryOp) else list(value.args)
        if site.pullback is not None:  # a specialised rule's cotangent expressions, pasted in
            names, expressions, module_globals = site.pullback
            atoms = {**dict(zip(names, arguments)), **dict(site.keywords), names[-2]: target}
            return [(argument.id, source(self.reuse(self.paste(expression, names, atoms, bar, module_globals))))
                    for argument, expression in zip(arguments, expressions) if self.is_active(argument)]
        # operands of another shape than the result (broadcast arrays) get their cotangents summed back: all but
        # an array whose only fellow operands are scalars (the result has its shape)
        arrays = [a for a in arguments if not is_number(a) and not (isinstance(a, gast.Name) and self.holds_a_scalar(a.id))]
        terms = []
        for argument, (parameters, template, module_globals) in zip(arguments, site.templates):
            if self.is_active(argument):
                partial = self.on_scalars(self.reuse(self.instantiate(template, parameters, arguments, target, module_globals)))
                term = _scaled(bar, partial)
                if arrays and len(arguments) > 1 and arrays != [argument]:
                    term = _unbroadcast(term, name_node(self.read(argument)), self.runtime)
                terms.append((argument.id, source(term)))
        return terms

    def reuse(self, expression):
        """`expression` with each part the forward already computed (`np.cos(x)` when `c = np.cos(x)` runs once,
        unconditionally, on operands assigned once) replaced by the name holding it."""
        if self.computed is None:
            def single(name):
                return name not in self.local_names and name not in self.inputs or self.assignments.get(name) == (1, False)

            self.computed = {}
            for node in self.body:
                if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) and \
                        isinstance(node.value, (gast.Call, gast.BinOp, gast.UnaryOp)) and single(node.targets[0].id) and \
                        node.targets[0].id in self.local_names and all(single(n) for n in loaded_names(node.value)):
                    self.computed.setdefault(source(node.value), node.targets[0].id)
        if not self.computed:
            return expression
        return _Reuse(self).visit(copy.deepcopy(expression))

    def on_scalars(self, expression):
        """`expression` with each NumPy function applied to a real scalar (`np.cos(x)`) replaced by its `math`
        twin (`SCALAR_TWINS`), which is several times faster on one number."""
        return _Twins(self).visit(expression)

    def paste(self, expression, names, atoms, bar, module_globals):
        """`expression` with its parameter names replaced by what the pullback reads of `atoms` (the operands and
        the output; the last name is the output's cotangent, `bar`) and its free names bound to the rule module's
        objects."""
        used = {n.id for n in gast.walk(expression) if isinstance(n, gast.Name)}
        replacements = {n: self.read(atoms[n]) for n in names[:-1] if n in used}
        renames = {free: self.bind(free, module_value(module_globals, free)) for free in free_names(expression, names)}
        return renamed(expression, {**replacements, names[-1]: bar, **renames})

    def instantiate(self, template, parameters, arguments, output, module_globals):
        """A partial's template at the call site: constant arguments folded in, the others' names read."""
        template = substituted(template, {p: a for p, a in zip(parameters, arguments) if is_number(a)})
        used = {n.id for n in gast.walk(template) if isinstance(n, gast.Name)}
        replacements = {p: self.read(a) for p, a in zip(parameters, arguments) if p in used}
        if len(parameters) > len(arguments) and parameters[len(arguments)] in used:
            replacements[parameters[len(arguments)]] = self.read(output)
        renames = {free: self.bind(free, module_value(module_globals, free)) for free in free_names(template, parameters)}
        return renamed(template, {**replacements, **renames})

    def reverse_pullback(self, target, value, site, depth, lines, line, state):
        """`_, a_bar, b_bar = t_pullback(t_bar)`: each active operand gets its part, the target's own last."""
        bar = self.bar(target)
        pullback = self.read(self.synthetic_name(value, target + "_pullback"))
        slots = self.slots(value, site)
        counts = {}
        for slot in slots:
            if self.is_active(slot):
                counts[slot.id] = counts.get(slot.id, 0) + 1
        counts[target] = counts.get(target, 0) + 1
        inactive = {p + 1 for p in site.rule.inactive_arguments} if site.rule is not None else set()
        names, pending, direct = [], [], []
        for position, slot in enumerate(slots):
            if position in inactive:
                names.append("_")
            elif isinstance(slot, gast.Name) and slot.id in self.closures and self.reached(slot.id) & self.active:
                part = self.namer.fresh(slot.id + "_bar")
                names.append(part)
                pending.extend(self.closure_terms(part, self.captures[slot.id]))
            elif isinstance(slot, gast.Tuple) and any(self.is_active(e) for e in slot.elts):
                part = self.namer.fresh("index_bar")  # an index tuple written out: its entries get their parts
                names.append(part)
                pending.extend((e.id, f"{self.runtime}.component({part}, {k})") for k, e in enumerate(slot.elts)
                               if self.is_active(e))
            elif not self.is_active(slot):
                names.append("_")
            elif slot.id != target and self.bar(slot.id) in state.zero and counts[slot.id] == 1:
                names.append(self.bar(slot.id))
                direct.append(slot.id)
            else:
                part = self.namer.fresh(slot.id + "_bar")
                names.append(part)
                pending.append((slot.id, part))
        if all(n == "_" for n in names):
            self.restore(self.synthetic_name(value, target + "_pullback"), depth, lines, line)
            return self.clear(target, depth, lines, line, state)
        unpack = ", ".join(names) + ("," if len(names) == 1 else "")
        lines.add(depth, f"{unpack} = {pullback}({bar})", line)
        for name in direct:
            state = state.assigned(self.bar(name))
        state = self.clear(target, depth, lines, line, state)
        for name, part in pending:
            state = self.add(name, part, depth, lines, line, state)
        self.restore(self.synthetic_name(value, target + "_pullback"), depth, lines, line)
        return state

    def slots(self, value, site):
        """The operands a pullback returns cotangents for, in order (the first is the callee's own)."""
        if isinstance(value, gast.Subscript):
            return [None, value.value, value.slice]
        if isinstance(value, gast.BinOp):
            return [None, value.left, value.right]
        if isinstance(value, gast.UnaryOp):
            return [None, value.operand]
        if site.kind is Kind.METHOD:
            return [value.func.value] + list(value.args) + [k.value for k in value.keywords]
        callee = value.func if site.kind in (Kind.CALL, Kind.SPREAD) and isinstance(value.func, gast.Name) else None
        slots = [callee] + [a.value if isinstance(a, gast.Starred) else a for a in value.args]
        if site.kind is Kind.SPREAD:
            slots += [k.value for k in value.keywords if k.arg]
            slots.append(next((k.value for k in value.keywords if k.arg is None), None))
        elif site.kind is Kind.CALL or (site.rule is not None and site.rule.updates):
            slots += [k.value for k in value.keywords]
        return slots

    def reverse_store(self, target, value, depth, lines, line, state):
        """`n[i] = v`: v gets the cotangent of entry i, which is then zero in the cotangent of n (before)."""
        container = target.value.id
        bar = self.bar(container) if container in self.active else None
        if bar is None or bar in state.zero:
            return state
        self.use(bar, state)
        key = self.read(index_value(target.slice)) if isinstance(target, gast.Subscript) else repr(target.attr)
        part = None
        if self.is_active(value):
            part = self.namer.fresh(value.id + "_bar")
            entry = f"{self.runtime}.component({bar}, {key})"
            if isinstance(target, gast.Subscript):
                entry = f"{self.runtime}.stored_cotangent({self.read(container)}, {self.read(value)}, {bar}, {key})"
            lines.add(depth, f"{part} = {entry}", line)
        lines.add(depth, f"{bar} = {self.runtime}.zero_at_index({bar}, {key})", line)
        state = state.assigned(bar)
        if part is not None:
            state = self.add(value.id, part, depth, lines, line, state)
        return state

    # Assembly

    def assemble(self, name, forward, reverse, results):
        parameters = _parameter_text(self.function, [n for n in self.inputs if n not in _parameter_names(self.function)])
        stacks = [self.stacks[n] for n in sorted(self.tracked) if n in self.stacks]
        state = [n for n in self.reads if n not in self.tracked and n not in self.stacks.values()] + stacks
        state_tuple = ", ".join(state) + ("," if len(state) == 1 else "")
        first, last = self.function.lineno, self.function.body[-1].lineno
        text = Lines()
        text.add(0, f"def {name}_forward({parameters}):", first)
        initialised = sorted(n for n in self.initialised if n in self.reads)
        if initialised:
            text.add(1, " = ".join(initialised) + " = None", first)
        for tracked in sorted(self.tracked):
            if tracked in self.stacks:
                text.add(1, f"{self.stacks[tracked]} = [{tracked if tracked in self.inputs else ''}]", first)
        text.extend(forward)
        outputs = "(" + ", ".join(self.outputs) + ")" if len(self.outputs) > 1 else self.result
        text.add(1, f"return {outputs}, ({state_tuple})", last)
        text.add(0, "", last)
        text.add(0, "", last)
        text.add(0, f"def {name}_pullback(state, {', '.join(self.bar(n) for n in self.outputs)}):", last)
        start = len(text.entries)
        if state:
            text.add(1, f"{state_tuple} = state", last)
        for tracked in sorted(self.tracked):
            if tracked in self.stacks:
                text.add(1, f"{self.stacks[tracked]}, {tracked} = {self.runtime}.restored({self.stacks[tracked]})", last)
        for bar in sorted(self.needs_init - {self.bar(n) for n in self.outputs}):
            text.add(1, f"{bar} = {self.runtime}.ZERO", last)
        text.extend(reverse)
        text.add(1, f"return ({', '.join(results)}{',' if len(results) == 1 else ''})", last)
        text.entries[start:] = without_dead_zero_stores(text.entries[start:], self.runtime)
        return text


def _getitem_call(subscript, operator_name):
    """`x[i]` as the call `operator.getitem(x, i)` (for a subscript whose index carries a derivative)."""
    func = gast.Attribute(value=gast.Name(id=operator_name, ctx=gast.Load(), annotation=None, type_comment=None),
                          attr="getitem", ctx=gast.Load())
    call = gast.Call(func=func, args=[subscript.value, index_value(subscript.slice)], keywords=[])
    return gast.copy_location(call, subscript) if hasattr(subscript, "lineno") else call


class _Reuse(gast.NodeTransformer):
    """See `ReverseGenerator.reuse`."""

    def __init__(self, generator):
        self.generator = generator

    def generic_visit(self, node):
        if isinstance(node, (gast.Call, gast.BinOp, gast.UnaryOp)):  # the kinds of value `computed` holds
            found = self.generator.computed.get(source(node))
            if found is not None:
                self.generator.read(found)
                return gast.Name(id=found, ctx=gast.Load(), annotation=None, type_comment=None)
        return super().generic_visit(node)


class _Twins(gast.NodeTransformer):
    """See `ReverseGenerator.on_scalars`."""

    def __init__(self, generator):
        self.generator = generator

    def visit_Call(self, node):
        self.generic_visit(node)
        func, generator = node.func, self.generator
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and len(node.args) == 1 and \
                not node.keywords and isinstance(node.args[0], gast.Name) and generator.holds_a_scalar(node.args[0].id):
            function = getattr(generator.bound.get(func.value.id), func.attr, None)
            twin = SCALAR_TWINS.get(function) if isinstance(function, np.ufunc) else None
            if twin is not None:
                node.func = gast.Name(id=generator.bind(twin.__name__, twin), ctx=gast.Load(), annotation=None,
                                      type_comment=None)
        return node


def _scaled(bar, partial):
    """The expression `bar * partial`, without a factor of one (`bar`, `-bar`), and `bar / b` for `1 / b`."""
    factor = number_value(partial)
    if factor == 1:
        return name_node(bar)
    if factor == -1:
        return gast.UnaryOp(op=gast.USub(), operand=name_node(bar))
    if isinstance(partial, gast.BinOp) and isinstance(partial.op, gast.Div) and number_value(partial.left) == 1:
        return gast.BinOp(left=name_node(bar), op=gast.Div(), right=partial.right)
    return gast.BinOp(left=name_node(bar), op=gast.Mult(), right=partial)


def _unbroadcast(term, primal, runtime):
    """`runtime.unbroadcast_to(term, primal)`, a negation taken out of it so it applies to the reduced array."""
    negated = isinstance(term, gast.UnaryOp) and isinstance(term.op, gast.USub)
    call = gast.Call(func=gast.Attribute(value=name_node(runtime), attr="unbroadcast_to", ctx=gast.Load()),
                     args=[term.operand if negated else term, primal], keywords=[])
    return gast.UnaryOp(op=gast.USub(), operand=call) if negated else call


def _assignments(body, inputs):
    """`{name: (number of assignments, whether one is inside a loop)}`; an input counts as assigned on entry."""
    counts = {n: (1, False) for n in inputs}

    def record(name, in_loop):
        count, looped = counts.get(name, (0, False))
        counts[name] = (count + 1, looped or in_loop)

    def visit(statements, in_loop):
        for node in statements:
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                record(node.targets[0].id, in_loop)
            elif isinstance(node, gast.FunctionDef):
                record(node.name, in_loop)
            elif isinstance(node, gast.For):
                record(node.target.id, True)
                visit(node.body, True)
            elif isinstance(node, gast.While):
                visit(node.body, True)
            elif isinstance(node, gast.If):
                visit(node.body, in_loop)
                visit(node.orelse, in_loop)

    visit(body, False)
    return counts


def _closure_names(body, captures, inputs):
    """Local names bound only to lambdas and nested defs (their cotangents go to what they capture)."""
    others = set(inputs)
    for node in simple_statements(body):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) and not isinstance(node.value, gast.Lambda):
            rebinding = isinstance(node.value, gast.Call) and isinstance(node.value.func, gast.Attribute) and \
                node.value.func.attr == "rebind"
            if not rebinding:
                others.add(node.targets[0].id)
    return set(captures) - others


def _definitions(body):
    for node in body:
        if isinstance(node, gast.FunctionDef) or (isinstance(node, gast.Assign) and isinstance(node.value, gast.Lambda)
                                                  and isinstance(node.targets[0], gast.Name)):
            yield node
        for field in ("body", "orelse"):
            if not isinstance(node, gast.FunctionDef):
                yield from _definitions(getattr(node, field, None) or [])


def _closure_uses(body, closure, captures):
    """`(stored, holders)` for a local closure: whether its value is stored somewhere that may outlive the
    statement using it, and the names bound to results of operations it is passed to."""
    stored, holders = False, set()
    for node in simple_statements(body):
        if isinstance(node, gast.FunctionDef):
            continue
        value = getattr(node, "value", None)
        if not isinstance(node, (gast.Assign, gast.Expr, gast.Return)) or closure not in loaded_names(node):
            continue
        target = node.targets[0] if isinstance(node, gast.Assign) else None
        if isinstance(value, (gast.Call, gast.BinOp, gast.UnaryOp)) and isinstance(target, (gast.Name, type(None))):
            passed = any(closure in loaded_names(a) for a in _operands(value))
            if passed and target is not None:
                holders.add(target.id)
        elif isinstance(value, gast.Lambda):
            continue
        elif not (isinstance(value, (gast.Attribute, gast.Subscript, gast.Compare)) and target is not None
                  and isinstance(target, gast.Name)):
            stored = True
    return stored, holders


def _operands(value):
    if isinstance(value, gast.BinOp):
        return [value.left, value.right]
    if isinstance(value, gast.UnaryOp):
        return [value.operand]
    return list(value.args) + [k.value for k in value.keywords] + \
        ([value.func.value] if isinstance(value.func, gast.Attribute) else [])





def _statement_order(body):
    """`{id(statement): (position in program order, ids of the loops around it)}`."""
    order = {}

    def visit(statements, loops):
        for node in statements:
            order[id(node)] = (len(order), loops)
            if isinstance(node, (gast.For, gast.While)):
                visit(node.body, loops + (id(node),))
            elif isinstance(node, gast.If):
                visit(node.body, loops)
                visit(node.orelse, loops)

    visit(body, ())
    return order


def _changes(body, name):
    """Statements that assign `name` or change its object in place."""
    for node in body:
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            base = target.value if isinstance(target, (gast.Subscript, gast.Attribute)) else target
            if isinstance(base, gast.Name) and base.id == name:
                yield node
        elif isinstance(node, gast.For) and node.target.id == name:
            yield node
        if isinstance(node, (gast.If, gast.For, gast.While)):
            yield from _changes(node.body, name)
            yield from _changes(node.orelse, name)


def _parameter_names(function):
    arguments = function.args
    names = [a.id for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs]
    return names + [a.id for a in (arguments.vararg, arguments.kwarg) if a is not None]


def _parameter_text(function, free):
    """The forward function's parameters: captured variables first, then the user's own (no defaults:
    the caller binds them when it calls)."""
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
