"""forward: generate the pushforward (the primal and the tangent of every active value), as source.

Input: a function after `effects`, with its analyses. Output: one function, printed as `(text, user
line)` pairs (`codegen.render`),

    def f_pushforward(tangents, <the user's parameters>):   # returns (outputs, output tangents)

`tangents` holds one tangent per input (captured variables, then parameters), in order. The outputs
are the returned value and, after it, the final values of the parameters the function writes into.

Guarantees:
- the primal runs exactly as written; each assignment of an active value is followed by the
  assignment of its tangent `x_dot`, so a tangent is bound exactly where its value is (branches and
  loops need nothing of their own);
- operations on real scalars and float arrays get their partial derivatives inlined as arithmetic
  (`sin_dot = math.cos(x) * x_dot`), with an operand's tangent broadcast to the result where other
  operands are arrays; other operations call their rule's frule;
- a tangent stored into (`h_dot[i] = v_dot`) is first copied unless nothing but its variable refers
  to it (`runtime.stored_tangent`), so the caller's tangents never change;
- what this generator does not differentiate yet (calls of Python functions, methods, closures) raises
  `UnsupportedSyntaxError` naming the line, never a wrong tangent.
"""
import operator
import re

import gast
import numpy as np

from ..errors import NoRuleError
from . import forward_code as code
from .codegen import assigned, placed, render
from .generation import Generator, call_parts, definition_line, names_tuple, parameter_names, scaled
from .templates import is_number
from .resolve import Kind
from .syntax import constant, index_value, loaded_names, name as name_node


# Operations whose tangents are pasted in for float64 arrays: products linear in each operand, and sums
BILINEAR = frozenset({operator.matmul, np.matmul})
SUMS = frozenset({np.sum, np.mean})
SUM_KEYWORDS = frozenset({"axis", "keepdims"})


class ForwardGenerator(Generator):
    def __init__(self, function, origin, namer, classify, analyses, bind):
        super().__init__(function, origin, namer, classify, analyses, bind)
        self.dots = {}

    def dot(self, name):
        if name not in self.dots:
            self.dots[name] = self.namer.fresh(name + "_dot")
        return self.dots[name]

    def tangent(self, node):
        """The tangent of an operand: its `_dot` name, or zero for a constant or an inactive value. A local
        closure's is made where it is used, one field per captured variable, from their tangents then."""
        if isinstance(node, gast.Name) and node.id in self.closures:
            return self.closure_tangent(node.id)
        if isinstance(node, gast.Name) and node.id in self.active:
            return name_node(self.dot(node.id))
        return self.zero_value()

    def closure_tangent(self, closure, seen=()):
        fields = []
        for captured in sorted(self.captures.get(closure, ())):
            if captured in self.closures and captured not in seen:
                fields.append(gast.keyword(arg=captured, value=self.closure_tangent(captured, seen + (closure,))))
            elif captured in self.active:
                fields.append(gast.keyword(arg=captured, value=name_node(self.dot(captured))))
        if not fields:
            return self.zero_value()
        return code.closure_tangent.expression(runtime=self.runtime, closure=closure, fields=fields)

    # Driver

    def generate(self, name):
        """The text of `<name>_pushforward`, with the user line of each generated line."""
        self.check_closures()
        for active_name in sorted(self.active | set(self.inputs)):
            self.dot(active_name)
        tangents = self.namer.fresh("tangents")
        first, last = self.function.lineno, self.function.body[-1].lineno
        unpacked = [name_node(self.dot(n) if n in self.active else "_", store=True) for n in self.inputs]
        body = []
        if any(n in self.active for n in self.inputs):
            target = gast.Tuple(elts=unpacked, ctx=gast.Store())
            body.append(placed(gast.Assign(targets=[target], value=name_node(tangents), type_comment=None), first))
        captured = set().union(*self.captures.values()) & self.active - set(self.inputs) if self.captures else set()
        for captured_name in sorted(captured):  # a closure's tangent may name a variable its closure does not read yet
            body.append(assigned(self.dot(captured_name), self.zero_value(), first))
        body += self.block(self.body)
        outputs = names_tuple(self.outputs) if len(self.outputs) > 1 else name_node(self.result)
        dots = [self.tangent(name_node(n)) for n in self.outputs]
        output_dots = gast.Tuple(elts=dots, ctx=gast.Load()) if len(dots) > 1 else dots[0]
        body += code.returned(last, value=gast.Tuple(elts=[outputs, output_dots], ctx=gast.Load()))
        free = [n for n in self.inputs if n not in parameter_names(self.function)]
        return [(definition_line(name + "_pushforward", self.function.args, [tangents] + free), first)] + render(body, 1)

    # Statements

    def block(self, statements):
        return self.commented(statements, self.statement)

    def statement(self, node, lines):
        line = getattr(node, "lineno", None)
        if isinstance(node, gast.Assign):
            target = node.targets[0]
            if isinstance(target, gast.Name) and self.skipped(node):  # a copy or rebinding of a number: no change
                lines.append(node)
            elif isinstance(target, gast.Name):
                self.assign(target.id, node.value, lines, line)
            else:
                self.check_foreign(node)
                lines.append(node)
                if isinstance(target.value, gast.Name) and target.value.id in self.active:
                    self.store(target, node.value, lines, line)
        elif isinstance(node, gast.Expr):
            lines.append(placed(gast.Expr(value=self.effect(node.value, node)), line))
        elif isinstance(node, gast.If):
            body = self.block(node.body)
            orelse = self.block(node.orelse) if node.orelse else []
            lines.append(placed(gast.If(test=node.test, body=body, orelse=orelse), line))
        elif isinstance(node, gast.For):
            if node.target.id in self.active:
                raise self.unsupported(node, "a loop over differentiated values")
            lines.append(placed(gast.For(target=node.target, iter=node.iter, body=self.block(node.body), orelse=[],
                                         type_comment=None), line))
        elif isinstance(node, gast.While):
            lines.append(placed(gast.While(test=node.test, body=self.block(node.body), orelse=[]), line))
        elif isinstance(node, gast.FunctionDef):
            self.check_defaults(node, node)
            if node.name in self.active and node.name not in self.closures:
                raise self.unsupported(node, "a function defined where a differentiated value is also assigned to its name")
            lines.append(node)
        else:
            lines.append(node)

    def unsupported(self, node, what):
        return self.origin.unsupported(
            node, f"{what} (forward mode does not differentiate it yet)",
            "Use reverse mode (sd.gradient, sd.pullback) for this function, or register an frule for the callee.")

    def effect(self, call, node):
        """A call made for its effect: one that may change a differentiated value is refused (the helpers of the
        effects pass and declared non-differentiable functions change nothing that carries a tangent)."""
        if not isinstance(call, gast.Call) or not (loaded_names(call) & self.varying):
            return call
        if self.helper_call(call, {"check_unshared"}) or self.site(call).kind is Kind.INACTIVE:
            return call
        raise self.unsupported(node, "a call made for its effect on a differentiated value")

    def assign(self, target, value, lines, line):
        if target not in self.active:
            if self.calls_a_writing_closure(value) or self.calls_an_unknown_callee(value):
                lines.append(assigned(target, self.called_for_effect(value), line))
            else:
                lines.append(assigned(target, value, line))
            return
        if isinstance(value, gast.Lambda):
            self.check_defaults(value, value)
            if target not in self.closures:
                raise self.unsupported(value, "a lambda assigned to a name that also holds other values")
            lines.append(assigned(target, value, line))  # its tangent is made where it is used
            return
        site = self.operation_site(value)
        if site is not None and site.kind is Kind.INLINE and site.templates is not None:
            self.inline(target, value, site, lines, line)
        elif site is not None and site.function in BILINEAR and self.on_real_arrays(value):
            self.bilinear(target, value, lines, line)
        elif site is not None and site.function in SUMS and self.on_real_arrays(value) and self.only_keywords(value, SUM_KEYWORDS):
            self.summed(target, value, lines, line)
        elif site is not None and site.kind is Kind.INACTIVE:
            lines += [assigned(target, value, line), assigned(self.dot(target), self.zero_value(), line)]
        elif site is not None and site.kind in (Kind.RULE, Kind.INLINE):  # (an inlined reverse specialisation)
            self.pushed(target, value, site, lines, line)
        elif site is not None and site.kind is Kind.METHOD:
            self.method(target, value, lines, line)
        elif site is not None and site.kind is Kind.CALL:
            self.python_call(target, value, lines, line)
        elif site is not None:
            if site.kind is Kind.NO_RULE:
                raise self.origin.error(NoRuleError, f"{site.text} has no derivative rule and no Python source to differentiate",
                                        value, f"Register a rule for it with @sd.register_frule({site.text}) "
                                               "or declare it with sd.non_differentiable.")
            raise self.unsupported(value, f"a call of {site.text or 'a Python function'}")
        else:
            lines.append(assigned(target, value, line))
            lines.append(assigned(self.dot(target), self.value_tangent(value), line))

    def value_tangent(self, value):
        """The tangent of a value that is not an operation: a name's, a read entry's or attribute's, a container's."""
        if isinstance(value, gast.Name):
            return self.tangent(value)
        if isinstance(value, gast.Subscript) and self.is_active(value.value):
            return code.component.expression(runtime=self.runtime, tangent=self.tangent(value.value),
                                             key=index_value(value.slice))
        if isinstance(value, gast.Attribute) and self.is_active(value.value):
            return code.attribute_tangent.expression(runtime=self.runtime, primal=value.value, attribute=constant(value.attr),
                                                     tangent=self.tangent(value.value))
        if isinstance(value, (gast.Tuple, gast.List)):
            return type(value)(elts=[self.tangent(e) for e in value.elts], ctx=gast.Load())
        if isinstance(value, gast.Dict):
            return gast.Dict(keys=list(value.keys), values=[self.tangent(v) for v in value.values])
        return self.zero_value()

    def inline(self, target, value, site, lines, line):
        """`t = a * b; t_dot = b * a_dot + a * b_dot`: each active operand's partial times its tangent."""
        arguments, _ = call_parts(value)

        def tangent(primal):
            terms, broadcast = [], False
            for argument, (parameters, template, module_globals) in zip(arguments, site.templates):
                if not self.is_active(argument):
                    continue
                partial = self.on_scalars(self.instantiate(template, parameters, arguments, primal, module_globals))
                terms.append(scaled(self.dot(argument.id), partial))
                broadcast = broadcast or self.is_broadcast(argument, arguments)
            total = self.total(terms)
            if broadcast:  # (the sum of the terms, once: it reaches the result's shape if a term does)
                total = code.broadcast.expression(runtime=self.runtime, tangent=total, primal=name_node(primal))
            return total

        self.pasted(target, value, lines, line, tangent)

    def pasted(self, target, value, lines, line, tangent):
        """`target = value; target_dot = <tangent(primal)>`, the value assigned to a fresh name first if it reads
        `target` (the tangent reads the operands as they were)."""
        arguments, _ = call_parts(value)
        primal = self.namer.fresh(target) if any(isinstance(a, gast.Name) and a.id == target for a in arguments) else target
        lines.append(assigned(primal, value, line))
        lines.append(assigned(self.dot(target), tangent(primal), line))
        if primal != target:
            lines.append(assigned(target, name_node(primal), line))

    def total(self, terms):
        """The sum of tangent terms (zero for none)."""
        total = terms[0] if terms else self.zero_value()
        for term in terms[1:]:
            total = gast.BinOp(left=total, op=gast.Add(), right=term)
        return total

    def on_real_arrays(self, value):
        """Whether every operand of an operation is a float64 array (or a real scalar) of known kind."""
        arguments, _ = call_parts(value)
        return bool(arguments) and all(is_number(a) or isinstance(a, gast.Name) and a.id in self.real_names for a in arguments)

    @staticmethod
    def only_keywords(value, allowed):
        return isinstance(value, gast.Call) and len(value.args) == 1 and all(k.arg in allowed for k in value.keywords)

    def bilinear(self, target, value, lines, line):
        """`y = a @ b; y_dot = a_dot @ b + a @ b_dot` (the terms of the active operands) for products of float64
        arrays (a zero tangent is absorbed: `Zero() @ b` is zero)."""
        arguments, _ = call_parts(value)

        def tangent(primal):
            terms = []
            for position, argument in enumerate(arguments):
                if self.is_active(argument):
                    replaced = [self.tangent(a) if k == position else a for k, a in enumerate(arguments)]
                    terms.append(gast.BinOp(left=replaced[0], op=gast.MatMult(), right=replaced[1]) if isinstance(value, gast.BinOp)
                                 else gast.Call(func=value.func, args=replaced, keywords=value.keywords))
            return self.total(terms)

        self.pasted(target, value, lines, line, tangent)

    def summed(self, target, value, lines, line):
        """`s = np.sum(x, axis=0); s_dot = np.sum(x_dot, axis=0)` (a sum or mean is linear), zero for a zero tangent."""
        def tangent(primal):
            operand = self.tangent(value.args[0])
            if not isinstance(operand, gast.Name):
                return operand  # (a zero)
            reduced = gast.Call(func=value.func, args=[operand], keywords=value.keywords)
            return gast.IfExp(test=gast.Compare(left=name_node(operand.id), ops=[gast.IsNot()], comparators=[self.zero_value()]),
                              body=reduced, orelse=self.zero_value())

        self.pasted(target, value, lines, line, tangent)

    def pushed(self, target, value, site, lines, line):
        """`t, t_pushforward = f_frule(a, b); t_dot = t_pushforward(NO_FIELDS, a_dot, b_dot)`."""
        if isinstance(value, gast.Subscript):
            value = self.getitem_call(value)
        if site.rule.frule is None and site.rule.updates:
            raise self.unsupported(value, "a call that changes its object or arguments in place (a list's append, say)")
        if site.rule.frule is None:
            raise self.origin.error(NoRuleError, f"{site.text} has a reverse rule but no forward rule (frule)", value,
                                    f"Register one with @sd.register_frule({site.text}), or use reverse mode.")
        arguments, keywords = call_parts(value)
        rule = re.sub(r"\W", "_", getattr(site.function, "__name__", "") or "primitive")
        frule_name = self.bind(rule + "_frule", site.rule.frule)
        self.rules[frule_name] = site.rule
        frule = name_node(frule_name)
        inactive = set(site.rule.inactive_arguments)
        dots = [self.zero_value() if position in inactive else self.tangent(a) for position, a in enumerate(arguments)]
        pushforward = self.namer.fresh(target + "_pushforward")
        lines += code.frule_call(line, value=target, pushforward=pushforward,
                                 call=gast.Call(func=frule, args=arguments, keywords=keywords))
        lines += code.pushed_forward(line, tangent=self.dot(target), pushforward=pushforward, runtime=self.runtime,
                                     tangents=dots)

    def method(self, target, value, lines, line):
        """`t, t_dot = dispatch.push_method(x, x_dot, 'name', (a,), (a_dot,))`: a method of a local value, found
        when it runs (a method whose function has a rule: `x.sum()`, `x.copy()`)."""
        arguments, keywords = call_parts(value)
        receiver = value.func.value
        lines += code.method_pushed(line, value=target, tangent=self.dot(target), dispatch=self.dispatch, receiver=receiver,
                                    receiver_tangent=self.tangent(receiver), method=constant(value.func.attr),
                                    arguments=gast.Tuple(elts=arguments, ctx=gast.Load()),
                                    tangents=gast.Tuple(elts=[self.tangent(a) for a in arguments], ctx=gast.Load()),
                                    keywords=keywords)

    def python_call(self, target, value, lines, line):
        """`t, t_dot = dispatch.push(f, f_dot, (a,), (a_dot,), {'k': v_dot}, k=v)`: a Python callable through its
        own pushforward (or a rule found when it runs)."""
        arguments, keywords = call_parts(value)
        keyword_tangents = gast.Dict(keys=[constant(k.arg) for k in keywords], values=[self.tangent(k.value) for k in keywords])
        lines += code.python_pushed(line, value=target, tangent=self.dot(target), dispatch=self.dispatch, function=value.func,
                                    function_tangent=self.tangent(value.func),
                                    arguments=gast.Tuple(elts=arguments, ctx=gast.Load()),
                                    tangents=gast.Tuple(elts=[self.tangent(a) for a in arguments], ctx=gast.Load()),
                                    keyword_tangents=keyword_tangents, keywords=keywords)

    def store(self, target, value, lines, line):
        """`c[k] = v` (or `c.k = v`): entry k of c's tangent becomes v's tangent."""
        container = target.value.id
        if isinstance(target, gast.Subscript):
            stored = code.stored_tangent.expression(runtime=self.runtime, tangent=name_node(self.dot(container)),
                                                    primal=name_node(container), key=index_value(target.slice),
                                                    value=self.tangent(value))
        else:
            stored = code.attribute_stored.expression(runtime=self.runtime, tangent=name_node(self.dot(container)),
                                                      primal=name_node(container), attribute=constant(target.attr),
                                                      value=self.tangent(value))
        lines.append(assigned(self.dot(container), stored, line))

