"""reverse: generate the forward function (primal plus saved state) and the pullback, as source.

Input: a function after `effects`, with its analyses. Output: two functions, printed as `(text, user
line)` pairs (`codegen.render`),

    def f_forward(<the user's parameters>):   # runs the primal; returns (outputs, state)
    def f_pullback(state, result_bar, ...):    # one cotangent per output in, one per input out

Their statements are built from the templates of `reverse_code`, written as Python (`codegen.Template`).

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
import dataclasses
import re

import gast

from ..errors import NoRuleError
from . import reverse_code as code
from .codegen import Template, assigned, placed, render
from .dataflow import captured_names, definitely_bound
from .generation import (COPIES, Generator, scaled, arguments_node, call_parts, definition_line, has_code, names_tuple, or_pass,
                         parameter_names, read_into)
from .liveness import without_dead_zero_stores
from .resolve import Kind
from .syntax import constant, copied, index_value, loaded_names, name as name_node, structure
from .templates import free_names, module_value

CALLING = (Kind.RULE, Kind.CALL, Kind.METHOD, Kind.SPREAD)


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
    """A cotangent term that adds itself into the current cotangent: `template` with the hole `current`
    filled with it, and the others from `holes`."""

    template: Template
    holes: dict


class ReverseGenerator(Generator):
    def __init__(self, function, origin, namer, classify, analyses, bind):
        super().__init__(function, origin, namer, classify, analyses, bind)
        self.synthetic, self.bars, self.stacks = {}, {}, {}
        self.computed = None  # what `reuse` may take from the forward
        self.tracked, self.initialised = set(), set()
        self.loop_depth = 0
        self.deferred = set()  # copied names saved only after the write that follows their copy

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
        """An atom the pullback reads (a name, or a node), recording the local names it needs from the forward."""
        names = [node] if isinstance(node, str) else loaded_names(node)
        for identifier in names:
            if identifier in self.local_names and identifier not in self.reads:
                self.reads[identifier] = None
        return name_node(node) if isinstance(node, str) else node


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
        self.emit()
        self.namer.taken = taken | set(self.synthetic.values())
        self.decide_saving()
        for tracked in sorted(self.tracked):
            self.stack(tracked)
        return self.assemble(name, *self.emit())

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

    def emit(self):
        """The forward's body, the pullback's, and the pullback's results."""
        self.reads, self.needs_init = {}, set()
        forward = self.forward_block(self.body)
        seeds = frozenset(self.bar(n) for n in self.outputs)
        start = Cotangents(frozenset(self.bars.values()) - seeds, seeds)
        reverse, end = self.reverse_block(self.body, start)
        results = []
        for input_name in self.inputs:
            bar = self.bar(input_name)
            if bar in end.zero:
                results.append(self.zero_value())
            else:
                self.use(bar, end)
                results.append(name_node(bar))
        return forward, reverse, results

    @contextlib.contextmanager
    def scratch(self):
        """Emit code that is thrown away (a loop body analysed to its fixed point), keeping names stable."""
        taken, reads = set(self.namer.taken), dict(self.reads)
        yield
        self.namer.taken, self.reads = taken, reads

    # Forward

    def forward_block(self, statements):
        written_next = {id(node): self.copied_for_a_write(node, after) for node, after in zip(statements, statements[1:])}

        def emit(node, lines):
            if self.skipped(node):
                return
            copied = written_next.get(id(node))
            if copied is not None:  # `y = own(y)` then `y[i] = v`: y is saved after the write, the copy it changes
                self.deferred.add(copied)
            self.forward_statement(node, lines)
            if self.deferred and not copied:
                for deferred in sorted(self.deferred):
                    self.deferred.discard(deferred)
                    self.push(deferred, lines, getattr(node, "lineno", None))

        return self.commented(statements, emit)

    def copied_for_a_write(self, node, after):
        """The name `node` copies (`y = runtime.own_array(y)`) when `after` writes into it (`y[i] = v`), else None."""
        if not (isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) and self.helper_call(node.value, COPIES)):
            return None
        copied = node.targets[0].id
        target = after.targets[0] if isinstance(after, gast.Assign) else None
        if isinstance(target, (gast.Subscript, gast.Attribute)) and isinstance(target.value, gast.Name) and target.value.id == copied:
            return copied
        return None

    def push(self, name, lines, line):
        if name in self.deferred:
            return
        if name in self.tracked:
            lines += code.push(line, stack=self.stack(name), value=name)

    def forward_statement(self, node, lines):
        line = getattr(node, "lineno", None)
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            if isinstance(target, gast.Name):
                self.forward_assign(target.id, node.value, lines, line)
            else:
                self.check_foreign(node)
                lines.append(node)
        elif isinstance(node, gast.Expr):
            lines.append(placed(gast.Expr(value=self.forward_expression(node.value, node)), line))
        elif isinstance(node, gast.If):
            self.forward_if(node, lines)
        elif isinstance(node, (gast.For, gast.While)):
            self.forward_loop(node, lines)
        elif isinstance(node, gast.FunctionDef):
            self.check_defaults(node, node)
            lines.append(node)
            self.push(node.name, lines, line)
        else:
            lines.append(node)

    def forward_assign(self, target, value, lines, line):
        if isinstance(value, gast.Lambda):
            self.check_defaults(value, value)
        site = self.operation_site(value) if target in self.active else None
        if site is not None and site.kind is Kind.NO_RULE:
            raise self.origin.error(NoRuleError, f"{site.text} has no derivative rule and no Python source to differentiate",
                                    value, f"Register a rule for it with @sd.register_rrule({site.text}) "
                                           "or declare it with sd.non_differentiable.")
        if site is not None and site.kind in CALLING:
            pullback = self.synthetic_name(value, target + "_pullback")
            lines += code.call_with_pullback(line, value=target, pullback=pullback, call=self.calling(value, site))
            self.push(pullback, lines, line)
        elif self.calls_a_writing_closure(value) or self.calls_an_unknown_callee(value):
            lines.append(assigned(target, self.called_for_effect(value), line))
        else:
            lines.append(assigned(target, value, line))
        self.push(target, lines, line)


    def calling(self, value, site):
        """The forward call that returns a value and its pullback."""
        if isinstance(value, gast.Subscript):
            value = self.getitem_call(value)
        arguments, keywords = call_parts(value)
        if site.kind is Kind.RULE:  # the rule found at build time (a guard of the build), called directly
            rule = re.sub(r"\W", "_", getattr(site.function, "__name__", "") or "primitive")
            rrule = self.bind(rule + "_rrule", site.rule.rrule)
            self.rules[rrule] = site.rule
            return gast.Call(func=name_node(rrule), args=arguments, keywords=keywords)
        if site.kind is Kind.METHOD:
            return code.method_call.expression(dispatch=self.dispatch, receiver=value.func.value, method=constant(value.func.attr),
                                          arguments=arguments, keywords=keywords)
        if site.kind is Kind.SPREAD:
            positional = [a.value if isinstance(a, gast.Starred) else a for a in value.args]
            named = [k for k in value.keywords if k.arg]
            extra = next((k.value for k in value.keywords if k.arg is None), constant(None))
            return code.spread_call.expression(
                dispatch=self.dispatch, function=value.func, arguments=gast.Tuple(elts=positional, ctx=gast.Load()),
                spread=constant(tuple(isinstance(a, gast.Starred) for a in value.args)),
                keywords=gast.Dict(keys=[constant(k.arg) for k in named], values=[k.value for k in named]), extra=extra)
        constants = tuple(i for i, a in enumerate(arguments) if not (loaded_names(a) & self.varying))
        if constants:  # (arguments that carry no derivative: the callee computes no cotangent for them)
            return code.dispatched_call_with_constants.expression(dispatch=self.dispatch, constants=constant(constants),
                                                                  function=value.func, arguments=arguments, keywords=keywords)
        return code.dispatched_call.expression(dispatch=self.dispatch, function=value.func, arguments=arguments, keywords=keywords)


    def forward_expression(self, call, node):
        """A call made for its effect. One with differentiated arguments that may change them runs through
        `dispatch.call`, which refuses a callee that writes into its arguments."""
        if self.calls_a_writing_closure(call):
            return self.called_for_effect(call)
        if not isinstance(call, gast.Call) or not (loaded_names(call) & self.varying):
            return call
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
            return self.called_for_effect(call)
        return call

    def forward_if(self, node, lines):
        line, test = node.lineno, node.test
        if self.relevant(node):
            condition = self.synthetic_name(node, "cond", numbered=True)
            lines.append(assigned(condition, node.test, line))
            self.push(condition, lines, line)
            test = name_node(condition)
        self.branch_depth += 1
        body = self.forward_block(node.body)
        orelse = self.forward_block(node.orelse) if node.orelse else []
        self.branch_depth -= 1
        lines.append(placed(gast.If(test=test, body=body, orelse=orelse), line))

    def forward_loop(self, node, lines):
        line = node.lineno
        relevant = self.relevant(node)
        if relevant:
            counter = self.synthetic_name(node, "loop_count", numbered=True)
            lines += code.start_count(line, counter=counter)
        self.loop_depth += 1
        body = code.count(line, counter=counter) if relevant else []
        if isinstance(node, gast.For):
            self.push(node.target.id, body, line)
        body += self.forward_block(node.body)
        self.loop_depth -= 1
        loop = gast.For(target=node.target, iter=node.iter, body=body, orelse=[], type_comment=None) \
            if isinstance(node, gast.For) else gast.While(test=node.test, body=body, orelse=[])
        lines.append(placed(loop, line))
        if relevant:
            self.push(counter, lines, line)

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

    def reverse_block(self, statements, state):
        lines, last_line = [], None
        for node in reversed(statements):
            if not self.relevant(node):
                continue
            line = getattr(node, "lineno", None)
            block = []
            state = self.reverse_statement(node, block, state)
            if block:
                if line is not None and line != last_line:
                    lines.append(self.comment(line))
                    last_line = line
                lines.extend(block)
        return lines, state

    def use(self, bar, state):
        """`bar` is read here: if it may be unbound, it is set to zero at the start of the pullback."""
        if bar not in state.bound:
            self.needs_init.add(bar)

    def add(self, name, term, lines, line, state):
        """Accumulate `term` into the cotangent of `name` (an `Entry` adds itself, given the current cotangent)."""
        bar = self.bar(name)
        if isinstance(term, Entry):
            if bar not in state.zero:
                self.use(bar, state)
            current = self.zero_value() if bar in state.zero else name_node(bar)
            lines.append(assigned(bar, term.template.expression(current=current, **term.holes), line))
        elif bar in state.zero:
            lines.append(assigned(bar, term, line))
        elif self.holds_a_scalar(name):
            self.use(bar, state)
            lines += code.add_to(line, bar=bar, term=term)
        else:
            self.use(bar, state)
            lines += code.accumulate_into(line, runtime=self.runtime, bar=bar, term=term)
        return state.assigned(bar)

    def restore(self, name, lines, line):
        """Undo an assignment to a saved name: it holds its previous value from here on."""
        if name in self.tracked:
            lines += code.pop(line, value=name, stack=self.read(self.stack(name)))

    def clear(self, name, lines, line, state):
        """The cotangent of `name` before its assignment starts at zero."""
        bar = self.bar(name)
        if bar in state.zero:
            return state
        count, in_loop = self.assignments.get(name, (0, False))
        written = in_loop or count > 1 or name in self.inputs
        if written:
            lines += code.zero(line, runtime=self.runtime, bar=bar)
        return state.cleared(bar, written)

    def reverse_statement(self, node, lines, state):
        line = node.lineno
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            if isinstance(target, gast.Name):
                return self.reverse_assign(target.id, node.value, lines, line, state)
            return self.reverse_store(target, node.value, lines, line, state)
        if isinstance(node, gast.FunctionDef):
            state = self.reverse_definition(node.name, node, lines, line, state)
            self.restore(node.name, lines, line)
            return state
        if isinstance(node, gast.If):
            return self.reverse_if(node, lines, state)
        return self.reverse_loop(node, lines, state)

    def reverse_if(self, node, lines, state):
        condition = self.synthetic_name(node, "cond", numbered=True)
        body, state_body = self.reverse_block(node.body, state)
        orelse, state_else = self.reverse_block(node.orelse, state)
        if has_code(body) or has_code(orelse):
            lines.append(placed(gast.If(test=self.read(name_node(condition)), body=or_pass(body, node.lineno),
                                         orelse=orelse), node.lineno))
        self.restore(condition, lines, node.lineno)
        return state_body.join(state_else)

    def reverse_loop(self, node, lines, state):
        counter = self.synthetic_name(node, "loop_count", numbered=True)
        head = state
        while True:
            with self.scratch():
                _, end = self.reverse_body(node, head)
            joined = head.join(end)
            if joined == head:
                break
            head = joined
        body, _ = self.reverse_body(node, head)
        (loop,) = code.repeat(node.lineno, counter=self.read(name_node(counter)))
        loop.body = body
        lines.append(loop)
        self.restore(counter, lines, node.lineno)
        return head

    def reverse_body(self, node, state):
        self.loop_depth += 1
        body, state = self.reverse_block(node.body, state)
        if isinstance(node, gast.For):
            self.restore(node.target.id, body, node.lineno)
        self.loop_depth -= 1
        return or_pass(body, node.lineno), state

    def reverse_assign(self, target, value, lines, line, state):
        bar = self.bar(target) if target in self.active else None
        same = isinstance(value, gast.Name) and value.id == target
        if bar is None or bar in state.zero or same or self.helper_call(value, COPIES):
            self.restore(target, lines, line)
            return state
        self.use(bar, state)
        site = self.operation_site(value)
        if site is not None and site.kind in CALLING:
            state = self.reverse_pullback(target, value, site, lines, line, state)
        else:
            for name, term in self.terms(target, value, site):
                state = self.add(name, term, lines, line, state)
            state = self.clear(target, lines, line, state)
        self.restore(target, lines, line)
        return state

    def terms(self, target, value, site):
        """`(name, term)` pairs: `term` (an expression, or an `Entry`) is added to the cotangent of `name`."""
        bar = self.bar(target)
        if isinstance(value, gast.Name):
            return [(value.id, name_node(bar))] if self.is_active(value) and value.id != target else []
        if site is not None and site.kind is Kind.INLINE:
            return self.inline_terms(target, value, site)
        if isinstance(value, gast.Subscript) and self.is_active(value.value):
            container = value.value.id
            holes = dict(runtime=self.runtime, container=self.read(container), index=self.read(index_value(value.slice)), bar=bar)
            return [(container, Entry(code.add_at_index, holes))]
        if isinstance(value, gast.Attribute) and self.is_active(value.value):
            return [(value.value.id, code.attribute_cotangent.expression(runtime=self.runtime, primal=self.read(value.value),
                                                                    attribute=constant(value.attr), bar=bar))]
        if isinstance(value, (gast.Tuple, gast.List)):
            return [(e.id, self.component(bar, constant(p))) for p, e in enumerate(value.elts) if self.is_active(e)]
        if isinstance(value, gast.Dict):
            return [(e.id, self.component(bar, self.read(k))) for k, e in zip(value.keys, value.values) if self.is_active(e)]
        if isinstance(value, gast.Lambda):
            return self.closure_terms(bar, captured_names(value))
        return []

    def closure_terms(self, bar, captured, seen=()):
        """A closure's cotangent has one field per captured variable: each goes to its variable (a captured
        local closure's field, to the variables it captures in turn)."""
        terms = []
        for name in sorted(captured):
            field = self.component(bar, constant(name))
            if name in self.closures and name not in seen:
                terms += self.closure_terms(field, self.captures[name], seen + (name,))
            elif name in self.active:
                terms.append((name, field))
        return terms

    def component(self, bar, key):
        """The cotangent of entry `key` of a container (or field of a closure) whose cotangent is `bar`."""
        return code.component.expression(runtime=self.runtime, bar=bar, key=key)


    def reverse_definition(self, name, node, lines, line, state):
        bar = self.bar(name) if name in self.active else None
        if bar is None or bar in state.zero:
            return state
        self.use(bar, state)
        for captured, term in self.closure_terms(bar, captured_names(node)):
            state = self.add(captured, term, lines, line, state)
        return self.clear(name, lines, line, state)

    def inline_terms(self, target, value, site):
        bar = self.bar(target)
        arguments = [value.left, value.right] if isinstance(value, gast.BinOp) else \
            [value.operand] if isinstance(value, gast.UnaryOp) else list(value.args)
        if site.pullback is not None:  # a specialised rule's cotangent expressions, pasted in
            names, expressions, module_globals = site.pullback
            atoms = {**dict(zip(names, arguments)), **dict(site.keywords), names[-2]: target}
            return [(argument.id, self.reuse(self.paste(expression, names, atoms, bar, module_globals)))
                    for argument, expression in zip(arguments, expressions) if self.is_active(argument)]
        # operands of another shape than the result (broadcast arrays) get their cotangents summed back: all but
        # an array whose only fellow operands are scalars (the result has its shape)
        terms = []
        for argument, (parameters, template, module_globals) in zip(arguments, site.templates):
            if self.is_active(argument):
                partial = self.on_scalars(self.reuse(self.instantiate(template, parameters, arguments, target, module_globals)))
                term = scaled(bar, partial)
                if self.is_broadcast(argument, arguments):
                    term = _unbroadcast(term, self.read(argument), self.runtime)
                terms.append((argument.id, term))
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
                    self.computed.setdefault(structure(node.value), node.targets[0].id)
        if not self.computed:
            return expression
        return _Reuse(self).visit(copied(expression))


    def paste(self, expression, names, atoms, bar, module_globals):
        """`expression` with its parameter names replaced by what the pullback reads of `atoms` (the operands and
        the output; the last name is the output's cotangent, `bar`) and its free names bound to the rule module's
        objects."""
        used = {n.id for n in gast.walk(expression) if isinstance(n, gast.Name)}
        read = {n: self.read(atoms[n]) for n in names[:-1] if n in used}
        renames = {free: self.bind(free, module_value(module_globals, free)) for free in free_names(expression, names)}
        return read_into(expression, read, {names[-1]: bar, **renames})


    def reverse_pullback(self, target, value, site, lines, line, state):
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
                pending.extend((e.id, self.component(part, constant(k))) for k, e in enumerate(slot.elts)
                               if self.is_active(e))
            elif not self.is_active(slot):
                names.append("_")
            elif slot.id != target and self.bar(slot.id) in state.zero and counts[slot.id] == 1:
                names.append(self.bar(slot.id))
                direct.append(slot.id)
            else:
                part = self.namer.fresh(slot.id + "_bar")
                names.append(part)
                pending.append((slot.id, name_node(part)))
        if all(n == "_" for n in names):
            self.restore(self.synthetic_name(value, target + "_pullback"), lines, line)
            return self.clear(target, lines, line, state)
        lines += code.pulled_back(line, parts=gast.Tuple(elts=[name_node(n) for n in names], ctx=gast.Store()),
                             pullback=pullback, bar=bar)
        for name in direct:
            state = state.assigned(self.bar(name))
        state = self.clear(target, lines, line, state)
        for name, part in pending:
            state = self.add(name, part, lines, line, state)
        self.restore(self.synthetic_name(value, target + "_pullback"), lines, line)
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

    def reverse_store(self, target, value, lines, line, state):
        """`n[i] = v`: v gets the cotangent of entry i, which is then zero in the cotangent of n (before)."""
        container = target.value.id
        bar = self.bar(container) if container in self.active else None
        if bar is None or bar in state.zero:
            return state
        self.use(bar, state)
        key = self.read(index_value(target.slice)) if isinstance(target, gast.Subscript) else constant(target.attr)
        part = None
        if self.is_active(value):
            part = self.namer.fresh(value.id + "_bar")
            entry = code.stored_cotangent.expression(runtime=self.runtime, container=self.read(container), value=self.read(value),
                                                bar=bar, key=key) if isinstance(target, gast.Subscript) else self.component(bar, key)
            lines.append(assigned(part, entry, line))
        lines += code.zero_at_index(line, runtime=self.runtime, bar=bar, key=key)
        state = state.assigned(bar)
        if part is not None:
            state = self.add(value.id, name_node(part), lines, line, state)
        return state

    # Assembly

    def assemble(self, name, forward, reverse, results):
        """The two functions as `(text, user line)` pairs, the forward's body `forward` and the pullback's `reverse`."""
        free = [n for n in self.inputs if n not in parameter_names(self.function)]
        stacks = [self.stacks[n] for n in sorted(self.tracked) if n in self.stacks]
        state = [n for n in self.reads if n not in self.tracked and n not in self.stacks.values()] + stacks
        first, last = self.function.lineno, self.function.body[-1].lineno
        opening = []
        initialised = sorted(n for n in self.initialised if n in self.reads)
        if initialised:
            opening.append(placed(gast.Assign(targets=[name_node(n, store=True) for n in initialised], value=constant(None),
                                               type_comment=None), first))
        for tracked in sorted(self.tracked):
            if tracked in self.stacks:
                saved = [name_node(tracked)] if tracked in self.inputs else []
                opening.append(assigned(self.stacks[tracked], gast.List(elts=saved, ctx=gast.Load()), first))
        outputs = names_tuple(self.outputs) if len(self.outputs) > 1 else name_node(self.result)
        forward = opening + forward + code.returned(last, value=gast.Tuple(elts=[outputs, names_tuple(state)], ctx=gast.Load()))
        pullback = code.unpack_state(last, names=names_tuple(state)) if state else []
        for tracked in sorted(self.tracked):
            if tracked in self.stacks:
                pullback += code.restored(last, runtime=self.runtime, stack=self.stacks[tracked], value=tracked)
        for bar in sorted(self.needs_init - {self.bar(n) for n in self.outputs}):
            pullback += code.zero(last, runtime=self.runtime, bar=bar)
        pullback += reverse + code.returned(last, value=gast.Tuple(elts=results, ctx=gast.Load()))
        pullback = without_dead_zero_stores(pullback, self.runtime)
        cotangents = ["state"] + [self.bar(n) for n in self.outputs]
        return [(definition_line(name + "_forward", self.function.args, free), first)] + render(forward, 1) + \
            [("", last), ("", last), (definition_line(name + "_pullback", arguments_node(cotangents), []), last)] + render(pullback, 1)


class _Reuse(gast.NodeTransformer):
    """See `ReverseGenerator.reuse`."""

    def __init__(self, generator):
        self.generator = generator

    def generic_visit(self, node):
        if isinstance(node, (gast.Call, gast.BinOp, gast.UnaryOp)):  # the kinds of value `computed` holds
            found = self.generator.computed.get(structure(node))
            if found is not None:
                self.generator.read(found)
                return gast.Name(id=found, ctx=gast.Load(), annotation=None, type_comment=None)
        return super().generic_visit(node)


def _unbroadcast(term, primal, runtime):
    """`runtime.unbroadcast_to(term, primal)`, a negation taken out of it so it applies to the reduced array."""
    negated = isinstance(term, gast.UnaryOp) and isinstance(term.op, gast.USub)
    call = gast.Call(func=gast.Attribute(value=name_node(runtime), attr="unbroadcast_to", ctx=gast.Load()),
                     args=[term.operand if negated else term, primal], keywords=[])
    return gast.UnaryOp(op=gast.USub(), operand=call) if negated else call


