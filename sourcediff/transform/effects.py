r"""effects: make every change of an object in place explicit, so that later passes see only values.

Python code changes objects in place (`out[i] = v`, `v += w` on an array, `lst.append(v)`,
`np.copyto(out, v)`, a helper writing into its argument); other names may share the object (an
alias, a view, a list holding it), and a rule's pullback may hold it. This pass rewrites the
normalised function so that the derivative is computed from values alone:

- calls that change an argument become explicit: `f(a, out=o)` and a declared mutator such as
  `np.copyto(o, a)` compute the new value and store it (`o[...] = new`); a method called for its
  effect becomes `o = dispatch.call_updating(o, 'm', ...)`; a Python function that writes into an
  argument becomes `updated = dispatch.call_writing(f, positions, ...)`, and each written argument
  is rebound to its new value (`a = updated[1]`);
- before a write into an object that something may still read (an input, anything an operation
  took as an operand, anything that may share an object with those), the object is copied:
  `o = runtime.own(o)`, so pullbacks keep what they saw and the caller's inputs never change;
- after a write, every live name that may hold the same object is rebound to the written one
  (`c = runtime.rebind(c, o_before, o, o)`, a no-op unless `c is o_before`), and
  `runtime.check_unshared(o_before, o, c, ...)` raises a `SourceDiffError` if one of them shares
  memory with the object in any other way (a view, a list holding it);
- each parameter that may be written gets a name standing for the caller's reference
  (`x_caller = x`), kept up to date the same way; `function.written` maps those parameters to
  those names, and the derivative returns their final values so that a caller can rebind them.

Guarantees: after this pass, a statement that changes an object in place changes one that no
pullback holds and that no other live name holds except through the inserted rebindings (which
make the flow of values explicit), or a `SourceDiffError` is raised at run time. Writes into
objects that may be reached through globals are left in place when nothing captured them;
`function.foreign_writes` lists them (a differentiated value may not be written there).

    >>> import gast; from sourcediff.transform.syntax import source, Namer
    >>> f = gast.parse("def f(x):\n    z = x\n    x[0] = 1.0\n    return z").body[0]
    >>> print(source(effects(f, Namer({"f", "x", "z"}), None, ["x"], lambda function: None)))
    def f(x):
        x_caller = x
        z = x
        x_before = x
        x = runtime.own(x)
        x[0] = 1.0
        x_caller = runtime.rebind(x_caller, x_before, x, x)
        z = runtime.rebind(z, x_before, x, x)
        runtime.check_unshared(x_before, x, 'x', '', False, ('x_caller', 'z'), (), x_caller, z)
        return z
"""
import inspect
import types

import gast
import numpy as np

from .dataflow import captured_names, closure_captures, definitely_bound, forward, live_after, simple_statements
from .sharing import Exposure, Sharing
from .normalize import global_path
from .syntax import assign, constant, index_value, loaded_names, name, source

INPLACE_OPERATORS = {"iadd", "isub", "imul", "itruediv", "ifloordiv", "imod", "ipow", "imatmul", "iand", "ior",
                     "ixor", "ilshift", "irshift"}
EXPRESSION_MUTATORS = {"pop", "popitem", "setdefault"}
BUILTIN_METHODS = {name for kind in (np.ndarray, list, dict, tuple, str, float, int, complex, set, bytes, np.generic)
                   for name in dir(kind)}
COPIES = {"own": (True, True, True), "own_array": (False, True, False), "own_list": (False, False, True),
          "own_resized": (False, False, False)}
DISPATCHED = {"call_updating", "call_updating_with_result", "call_writing"}  # helpers of sourcediff.dispatch
NOT_CAPTURING = set(COPIES) | {"rebind", "rebind_view", "is_view", "linked_bases", "check_unshared", "unpack", "checked_output"}


class Mutation:
    """A statement changing the object of `written` in place; `result` names the changed object after it
    (an in-place operator binds it to its target), `copyable` says whether a copy may go first (`copies`: whether
    one is made; a view made again from its base needs none), and
    `resizing` whether it may change a list's length (a method, `+=`, or a store at an index that may be
    a slice, which `resizing` then names)."""

    def __init__(self, written, result=None, copyable=True, resizing=True, copies=True):
        self.written, self.result, self.copyable, self.resizing = written, result or written, copyable, resizing
        self.copies = copies
        self.updating = False


class Effects:
    def __init__(self, function, namer, resolution, inputs, written_parameters, stacks=frozenset()):
        self.function, self.namer, self.resolution, self.stacks = function, namer, resolution, stacks
        self.inputs = list(inputs)
        self.written_parameters = written_parameters
        self.runtime = namer.helper("runtime")
        self.writeback = dict(getattr(function, "writeback", {}))
        self.local_names = set(self.inputs) | {n.id for n in gast.walk(function) if isinstance(n, gast.Name)
                                               and isinstance(n.ctx, gast.Store)}
        self.captures = closure_captures(function.body)
        self.written_through, self.rebound, self.changed_in_place, self.popped = {}, None, set(), set()
        self.flags, self.link_of, self.captured_memo, self.remade, self.view_bases = set(), {}, {}, {}, {}

    def new_name(self, base):
        """A new local name of the generated code."""
        created = self.namer.fresh(base)
        self.local_names.add(created)
        return created

    def is_local(self, node):
        return isinstance(node, gast.Name) and node.id in self.local_names

    def helper(self, function, args, keywords=()):
        call = self.namer.helper_call("dispatch" if function in DISPATCHED else "runtime", function, *args)
        call.keywords = list(keywords)
        return call

    def helper_name(self, value, names):
        """The runtime helper `value` calls, if it is one of `names`."""
        if isinstance(value, gast.Call) and self.is_helper(value.func, names):
            return value.func.attr
        return None

    def is_helper(self, func, names):
        return isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) and func.attr in names \
            and func.value.id == self.namer.helper("dispatch" if func.attr in DISPATCHED else "runtime")

    # 1. Calls that change their arguments, in explicit forms

    def canonical(self, body):
        out = []
        for node in body:
            if isinstance(node, (gast.If, gast.For, gast.While)):
                node.body, node.orelse = self.canonical(node.body), self.canonical(node.orelse)
                out.append(node)
            elif isinstance(node, (gast.Expr, gast.Assign)) and isinstance(node.value, gast.Call):
                out.extend(self.canonical_call(node))
            else:
                out.append(node)
        return out

    def canonical_call(self, node):
        call, line = node.value, node.lineno
        target = node.targets[0] if isinstance(node, gast.Assign) else None
        if target is not None and not isinstance(target, gast.Name):
            return [node]
        output = next((k for k in call.keywords if k.arg == "out"), None)
        if output is not None and self.is_local(output.value):
            return self.write_result(call, output, target, line)
        func = call.func
        if isinstance(func, gast.Attribute) and global_path(func, self.local_names) is None:
            receiver = func.value
            if not self.is_local(receiver) or self.is_helper(func, {"call_updating", "call_updating_with_result"}):
                return [node]
            if target is None:
                update = self.helper("call_updating", [receiver, constant(func.attr)] + call.args, call.keywords)
                return [assign(receiver.id, update, line)]
            if func.attr in EXPRESSION_MUTATORS or func.attr not in BUILTIN_METHODS or \
                    self.method_writes_self(receiver.id, func.attr):
                updated = self.new_name("updated")
                update = self.helper("call_updating_with_result", [receiver, constant(func.attr)] + call.args, call.keywords)
                call_node, rebind = assign(updated, update, line), _item(receiver.id, updated, 1, line)
                self.written_through[id(call_node)] = [(receiver.id, rebind)]
                self.changed_in_place.add(id(call_node))
                if func.attr == "pop":
                    self.popped.add(id(rebind))
                return [call_node, _item(target.id, updated, 0, line), rebind]
            return [node]
        function = self.resolution.callee(call) if self.resolution is not None else None
        if function is None:
            return [node]
        rule = self.resolution.rule_of(function)
        if rule is not None and rule.functional is not None:
            return self.write_functional(call, rule.functional, target, line)
        if rule is None:
            written = self.written_parameters(function)
            positions = [p for p in _written_positions(function, call, written or ())
                         if self.is_local(call.args[p] if isinstance(p, int) else _keyword(call, p))]
            if positions:
                return self.write_through(call, positions, target, line)
        return [node]

    def method_writes_self(self, receiver, method):
        """Whether `receiver`, made here from a known class, has a Python method `method` that writes into its object."""
        classes = self.constructed.get(receiver)
        if not classes:
            return False
        for cls in classes:
            function = inspect.getattr_static(cls, method, None)
            if not isinstance(function, types.FunctionType):
                return False
            written = self.written_parameters(function)
            if written is None or function.__code__.co_varnames[:1] and function.__code__.co_varnames[0] in written:
                return True
        return False

    def constructed_classes(self, body):
        """For names every assignment of which constructs an object of a resolved class: those classes."""
        found, others = {}, set()
        for node in simple_statements(body):
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                target, value = node.targets[0].id, node.value
                cls = self.resolution.callee(value) if isinstance(value, gast.Call) and self.resolution is not None else None
                if isinstance(cls, type):
                    found.setdefault(target, set()).add(cls)
                else:
                    others.add(target)
        return {n: c for n, c in found.items() if n not in others and n not in self.inputs}

    def find_views(self, body):
        """Names bound once, to `base[index]` of a local array that this function writes into (or that is
        itself written into): `{name: (base, name of the saved index)}`."""
        bindings, written, results = {}, set(), set()
        rebinds = {id(rebind) for pairs in self.written_through.values() for _, rebind in pairs}
        for node in simple_statements(body):
            mutation = self.mutation_at(node)
            if mutation is not None:
                written.add(mutation.written)
                results.add((mutation.written, mutation.result))
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                value = node.value
                if not (isinstance(value, gast.Name) and (node.targets[0].id, value.id) in results) and id(node) not in rebinds:
                    bindings.setdefault(node.targets[0].id, []).append(value)
        aliases = Sharing(self.local_names)
        for bound, values in bindings.items():
            for value in values:
                if self.is_local(value):
                    aliases.same(bound, value.id)
        views = {}
        for bound, values in bindings.items():
            value = values[0]
            viewing = isinstance(value, gast.Subscript) or (isinstance(value, gast.Attribute) and value.attr == "T")
            if len(values) == 1 and viewing and self.is_local(value.value) and value.value.id != bound and \
                    (bound in written or aliases.same_as(value.value.id) & written) and bound not in self.inputs \
                    and bound not in self.writeback:
                views[bound] = (value.value.id, self.new_name(bound + "_index"))
                if isinstance(value, gast.Attribute):
                    self.transposes.add(bound)
        changed = True
        while changed:  # an alias bound once to a view is that view (same base, same index)
            changed = False
            for bound, values in bindings.items():
                value = values[0]
                if len(values) == 1 and bound not in views and self.is_local(value) and value.id in views and \
                        bound not in self.inputs and bound not in self.writeback:
                    views[bound] = views[value.id]
                    if value.id in self.transposes:
                        self.transposes.add(bound)
                    changed = True
        return views

    def link_views(self, body):
        """Save the index of each view where it is made; a write into a view is written back into its base,
        and the view made again from it, when it really was a view (`runtime.is_view` decides)."""
        out, pending = [], None
        for node in body:
            if isinstance(node, (gast.If, gast.For, gast.While)):
                node.body, node.orelse = self.link_views(node.body), self.link_views(node.orelse)
                out.append(node)
                continue
            target = node.targets[0].id if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) else None
            mutation = self.mutation_at(node)
            line = getattr(node, "lineno", None)
            if mutation is not None and mutation.written in self.views:
                view = mutation.written
                base, index = self.views[view]
                linked = self.new_name(view + "_linked")
                self.flags.add(linked)
                self.link_of[id(node)] = linked
                out.append(assign(linked, self.helper("is_view", [name(view), name(base), name(index)]), line))
                out.append(node)
                if self.transposed(view):
                    back = self.new_name(view + "_back")
                    store = [assign(back, gast.Attribute(value=name(view), attr="T", ctx=gast.Load()), line),
                             _store_all(base, name(back), line)]
                    again = assign(view, gast.Attribute(value=name(base), attr="T", ctx=gast.Load()), line)
                else:
                    store = [assign(gast.Subscript(value=name(base), slice=name(index), ctx=gast.Store()), name(view), line)]
                    again = assign(view, gast.Subscript(value=name(base), slice=name(index), ctx=gast.Load()), line)
                write_back = gast.If(test=name(linked), body=store + [again], orelse=[], lineno=line, col_offset=0)
                if base in self.views and base != view:  # the base is a view in turn: its base gets the write too
                    write_back.body = self.link_views(store) + [again]
                self.remade[id(again)] = view  # made again from its base: names sharing the old object follow it
                self.view_bases[view] = base
                if mutation.result == view:
                    out.append(write_back)
                else:
                    pending = (view, mutation.result, write_back)
                continue
            out.append(node)
            if pending is not None and isinstance(node, gast.Assign) and target == pending[0] and \
                    isinstance(node.value, gast.Name) and node.value.id == pending[1]:
                out.append(pending[2])
                pending = None
            if target in self.views and isinstance(node.value, gast.Subscript):
                out.append(assign(self.views[target][1], index_value(node.value.slice), line))
            elif target in self.views and isinstance(node.value, gast.Attribute):
                transpose = gast.Attribute(value=name(self.runtime), attr="TRANSPOSE", ctx=gast.Load())
                out.append(assign(self.views[target][1], transpose, line))
        return out

    def transposed(self, view):
        return view in self.transposes

    def write_result(self, call, output, target, line):
        """`f(args, out=o)`: compute `f(args)`, store it into `o` (with NumPy's casting check), bind `o`."""
        call.keywords = [k for k in call.keywords if k is not output]
        new = self.new_name("new")
        checked = self.helper("checked_output", [name(new), output.value])
        out = [assign(new, call, line), assign(new, checked, line), _store_all(output.value.id, name(new), line)]
        if target is not None:
            out.append(assign(target.id, name(output.value.id), line))
        return out

    def write_functional(self, call, functional, target, line):
        """A declared mutator: the argument it writes gets the value its functional form computes."""
        position, function = functional
        if position >= len(call.args) or not self.is_local(call.args[position]):
            return [gast.Expr(value=self.helper("refuse_mutator", [call.func]), lineno=line, col_offset=0)]
        binding = self.new_name(getattr(function, "__name__", "functional"))
        self.resolution.bindings[binding] = function
        new = self.new_name("new")
        computed = gast.Call(func=name(binding), args=call.args, keywords=call.keywords)
        out = [assign(new, computed, line), _store_all(call.args[position].id, name(new), line)]
        if target is not None:
            out.append(assign(target.id, constant(None), line))
        return out

    def write_through(self, call, positions, target, line):
        """A Python function writing into arguments: `call_writing` returns their new values, which are rebound."""
        updated = self.new_name("updated")
        listed = gast.Tuple(elts=[constant(p) for p in positions], ctx=gast.Load())
        call_node = assign(updated, self.helper("call_writing", [call.func, listed] + call.args, call.keywords), line)
        out = [call_node]
        if target is not None:
            out.append(_item(target.id, updated, 0, line))
        rebinds = []
        for number, position in enumerate(positions):
            argument = call.args[position] if isinstance(position, int) else _keyword(call, position)
            rebind = _item(argument.id, updated, number + 1, line)
            rebinds.append((argument.id, rebind))
            out.append(rebind)
        self.written_through[id(call_node)] = rebinds
        return out

    # 2. What changes objects in place, which names may share objects, which objects may be read

    def mutation(self, node):
        """The `Mutation` a simple statement performs, or None."""
        if not isinstance(node, gast.Assign):
            return None
        target, value = node.targets[0], node.value
        if isinstance(target, (gast.Subscript, gast.Attribute)):
            if not self.is_local(target.value):
                return None
            index = target.slice if isinstance(target, gast.Subscript) else None
            constant_index = index is None or isinstance(index, (gast.Constant, gast.Tuple)) or (
                isinstance(index, gast.UnaryOp) and isinstance(index.operand, gast.Constant))
            return Mutation(target.value.id, resizing=False if constant_index else index)
        if isinstance(value, gast.Call) and isinstance(value.func, gast.Attribute) and isinstance(value.func.value, gast.Name):
            module, attr = value.func.value.id, value.func.attr
            if module == self.namer.helpers.get("operator") and attr in INPLACE_OPERATORS and self.is_local(value.args[0]):
                return Mutation(value.args[0].id, target.id)
            if self.is_helper(value.func, {"call_updating"}) and self.is_local(value.args[0]):
                mutation = Mutation(value.args[0].id)
                mutation.updating = True  # a method: it may change what its object holds, in place
                return mutation
        return None

    def mutations(self, body):
        return {id(node): m for node in simple_statements(body) for m in [self.mutation_at(node)] if m is not None}

    def mutation_at(self, node):
        """The `Mutation` of a simple statement, including the rebinding of an argument a call wrote into."""
        if self.rebound is None:
            self.rebound = {id(rebind): written for pairs in self.written_through.values() for written, rebind in pairs}
        if id(node) in self.rebound:
            return Mutation(self.rebound[id(node)], copyable=False)
        if id(node) in self.remade:
            return Mutation(self.remade[id(node)], resizing=False, copies=False)
        return self.mutation(node)

    def sharing(self, body):
        sharing = Sharing(self.local_names)
        for node in simple_statements(body):
            sharing.statement(node, self.relation, self.captures)
        return sharing

    def fresh(self, value):
        return self.resolution is not None and self.resolution.is_fresh(value)

    def relation(self, value):
        """"fresh" for a value sharing nothing, "new" for a new object that may hold its arguments, else None."""
        if self.fresh(value):
            return "fresh"
        if isinstance(value, gast.Call) and self.is_helper(value.func, {"call_updating", "call_updating_with_result"}):
            return "updating"
        if isinstance(value, gast.Call) and self.resolution is not None and isinstance(self.resolution.callee(value), type):
            return "new"
        return None

    def copy_advice(self, body):
        """For names bound once to a view-like value (`row = m[0]`), the copy that would make them their own."""
        bindings = {}
        for node in simple_statements(body):
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                bindings.setdefault(node.targets[0].id, []).append(node.value)
        advice = {}
        for bound, values in bindings.items():
            if len(values) == 1 and isinstance(values[0], (gast.Subscript, gast.Attribute, gast.Name)):
                advice[bound] = f"{bound} = {source(values[0])}.copy()"
        return advice

    def foreign(self, body, sharing):
        """Local names whose objects may be reached through a global."""
        roots = set()
        for node in simple_statements(body):
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                value = node.value
                base = value.value if isinstance(value, (gast.Subscript, gast.Attribute)) else value
                if isinstance(base, (gast.Name, gast.Attribute)) and self.mutable_global(base):
                    roots.add(node.targets[0].id)
        return set().union(*(sharing.holding(r) | sharing.inside(r) for r in roots)) if roots else set()

    def mutable_global(self, node):
        """Whether `node` names a global object that can change in place (not a function, module, class or number)."""
        if self.resolution is None:
            return False
        found, value = self.resolution.value_of(node)
        if not found or value is None or isinstance(value, (types.FunctionType, types.BuiltinFunctionType, types.ModuleType,
                                                              type, int, float, complex, str, bytes, bool, frozenset)):
            return False
        return not callable(value) or hasattr(value, "__dict__") and not isinstance(value, np.ufunc)

    def captured_by(self, node):
        """Local names an operation takes as whole values (a pullback may keep them), its target included."""
        if id(node) not in self.captured_memo:
            self.captured_memo[id(node)] = frozenset(self.captured_by_statement(node))
        return self.captured_memo[id(node)]

    def captured_by_statement(self, node):
        value = node.value if isinstance(node, (gast.Assign, gast.Expr)) else None
        names = set(self.captured_by_value(value))
        if names and isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) and self.receiver(node) is None:
            names.add(node.targets[0].id)
        return names

    def captured_by_value(self, value):
        if not isinstance(value, (gast.Call, gast.BinOp, gast.UnaryOp)):
            return set()
        if isinstance(value, gast.Call):
            if self.is_helper(value.func, NOT_CAPTURING):
                return set()
            if self.is_helper(value.func, {"call_updating", "call_updating_with_result"}):
                return {n for a in value.args[2:] + [k.value for k in value.keywords] for n in loaded_names(a) & self.local_names}
            function = self.resolution.callee(value) if self.resolution is not None else None
            rule = self.resolution.rule_of(function) if function is not None else None
            if rule is not None and not rule.differentiable:
                return set()
        names = loaded_names(value) & self.local_names
        for loaded in list(names):
            names |= self.captures.get(loaded, set())
        return names

    def exposure(self, body, sharing):
        """`{id(statement): Exposure}`: what pullbacks may still read of each object, before each statement."""
        record = {}

        def transfer(node, state):
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                target, value = node.targets[0].id, node.value
                state = state.set(target, self.levels_of(value, state))
            state = state.captured(sharing, self.captured_by(node))
            receiver = self.receiver(node)
            if receiver is not None:
                state = state.parts_captured(sharing, [receiver])
            if isinstance(node, gast.Assign) and isinstance(node.value, gast.Subscript) and self.is_local(node.value.value):
                state = state.shape_read(sharing, [node.value.value.id])
            return state

        forward(body, Exposure(whole=self.inputs), transfer, Exposure.join, record)
        return record

    def levels_of(self, value, state):
        """The exposure levels of a name just assigned `value`."""
        copy = self.helper_name(value, COPIES)
        if copy is not None:
            return tuple(level and not cleared for level, cleared in zip(state.of(value.args[0].id), COPIES[copy]))
        if isinstance(value, gast.Call) and self.is_helper(value.func, {"rebind"}):
            candidate, after = value.args[0], value.args[3]
            return tuple(a or b for a, b in zip(state.of(candidate.id), state.of(after.id)))
        if isinstance(value, gast.Name):
            return state.of(value.id) if self.is_local(value) else (False, False, False)
        if isinstance(value, (gast.Subscript, gast.Attribute)):
            if not self.is_local(value.value):
                return (False, False, False)
            whole, parts, _ = state.of(value.value.id)
            return (whole or parts, False, False)
        if isinstance(value, (gast.Call, gast.BinOp, gast.UnaryOp)):
            relation = self.relation(value)
            if relation == "updating":
                return state.of(value.args[0].id)
            if relation == "new":
                return (False, True, False)
            if self.captured_by_value(value) or relation is None:
                return (True, False, False)
        return (False, False, False)

    def receiver(self, node):
        """The object a method is called on for its effect (its pullback may keep what it holds)."""
        value = node.value if isinstance(node, gast.Assign) else None
        if isinstance(value, gast.Call) and self.is_helper(value.func, {"call_updating", "call_updating_with_result"}) \
                and self.is_local(value.args[0]):
            return value.args[0].id
        return None

    # 3. Copies before writes, rebindings and checks after them

    def protect(self, body, facts):
        out = []
        for node in body:
            if isinstance(node, (gast.If, gast.For, gast.While)):
                node.body, node.orelse = self.protect(node.body, facts), self.protect(node.orelse, facts)
                out.append(node)
                continue
            for written, rebind in self.written_through.get(id(node), ()):
                before = self.before_name(written, rebind, facts)
                if before:
                    out.append(assign(before, name(written), node.lineno))
                if id(node) in self.changed_in_place:  # a built-in container's method changes it in place
                    out.extend(self.copy_first(Mutation(written), facts.exposed[id(node)], written in facts.foreign, node.lineno))
            mutation = facts.mutations.get(id(node))
            if mutation is None:
                out.append(node)
                continue
            written, line = mutation.written, node.lineno
            before = self.before_name(written, node, facts)
            if mutation.copyable:
                if before:
                    out.append(assign(before, name(written), line))
                if mutation.copies:
                    out.extend(self.copy_first(mutation, facts.exposed[id(node)], written in facts.foreign, line))
            if written in facts.foreign:
                self.foreign_writes.append(node)
            out.append(node)
            out.extend(self.rebinding(mutation, node, before, facts))
        return out

    def copy_first(self, mutation, exposure, foreign, line):
        """The copy a write needs first: of anything a pullback may read whole; of an array whose parts it
        may read; of a list whose length it read, when the write may change its length."""
        written = mutation.written
        whole, parts, shape = exposure.of(written)
        resizing = shape and mutation.resizing is not False
        if not (whole or parts or resizing):
            return []
        if foreign:
            return [gast.Expr(value=self.helper("refuse_shared_write", [constant(written)]), lineno=line, col_offset=0)]
        if whole or (parts and resizing):
            copy = self.helper("own", [name(written)])
        elif parts:
            copy = self.helper("own_array", [name(written)])
        elif mutation.resizing is True:
            copy = self.helper("own_list", [name(written)])
        else:
            copy = self.helper("own_resized", [name(written), index_value(mutation.resizing)])
        return [assign(written, copy, line)]

    def before_name(self, written, node, facts):
        """The name saving the object about to change (made once per mutation, only if it is needed)."""
        key = id(node)
        if key not in facts.before:
            candidates = self.candidates(written, node, facts)
            facts.before[key] = (self.new_name(written + "_before") if candidates else None, candidates)
        return facts.before[key][0]

    def rebinding(self, mutation, node, before, facts):
        _, candidates = facts.before[id(node)]
        if not candidates:
            return []
        line, written, after = node.lineno, mutation.written, mutation.result
        bound = facts.bound.get(id(node), frozenset()) | set(facts.callers.values())
        out, checked = [], []
        chain = self.writeback_chain(written)
        linked = self.link_of.get(id(node))  # a view, written back into its base if it really is one
        bases = chain | ({self.view_bases[written]} if linked else set())
        siblings = {c for c, (base, _) in self.views.items() if base in bases}  # made again where `written` is written back
        for candidate in candidates:
            if candidate in siblings:
                checked.append(name(candidate) if candidate in bound else _local_or_none(candidate))
                continue
            view = self.views.get(candidate)
            if view is not None and view[0] in facts.sharing.same_as(written):
                arguments = [name(candidate), name(before), name(written), name(after), name(view[1])]
                rebind = assign(candidate, self.helper("rebind_view", arguments), line)
                out.append(rebind if candidate in bound else _if_bound(candidate, rebind, line))
                continue
            rebind = assign(candidate, self.helper("rebind", [name(candidate), name(before), name(written), name(after)]), line)
            if candidate in bound:
                out.append(rebind)
                checked.append(name(candidate))
            else:
                out.append(_if_bound(candidate, rebind, line))
                checked.append(_local_or_none(candidate))
        candidates = [c for c in candidates if not (c in self.views and self.views[c][0] in facts.sharing.same_as(written))]
        if not candidates:
            return out
        names = gast.Tuple(elts=[constant(c) for c in candidates], ctx=gast.Load())
        unconditional = chain | (siblings & set(candidates) - set(self.views_of(bases - chain)))
        through = gast.Tuple(elts=[name(b) for b in sorted(unconditional)], ctx=gast.Load())
        if linked:  # these see the write only if it is written back, that is if it really is a view
            conditional = gast.Tuple(elts=[name(b) for b in sorted(bases | (siblings & set(candidates)))], ctx=gast.Load())
            through = gast.IfExp(test=name(linked), body=conditional, orelse=through)
        viewing = sorted(b for b in chain if b in self.views)
        if viewing:  # a container written back into is a view in turn: its base sees the write if it really is one
            triples = [a for b in viewing for a in (name(b), name(self.views[b][0]), name(self.views[b][1]))]
            through = gast.BinOp(left=through, op=gast.Add(), right=self.helper("linked_bases", triples))
        updating = not mutation.copyable or self.helper_name(node.value, {"call_updating"}) is not None
        arguments = [name(before), name(after), constant(written), constant(self.advice.get(written, "")), constant(updating),
                     names, through]
        arguments += checked
        out.append(gast.Expr(value=self.helper("check_unshared", arguments), lineno=line, col_offset=0))
        return out

    def candidates(self, written, node, facts):
        """Live names that may hold the object changed at `node`, other than the changed name itself."""
        live = facts.live.get(id(node), frozenset()) | set(facts.callers.values())
        mutation = facts.mutations.get(id(node))
        chain = self.writeback_chain(written)
        excluded = {written, mutation.result if mutation else written} | chain | self.flags | self.counters
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            excluded.add(node.targets[0].id)
        sharing = facts.sharing
        if id(node) in self.growing:  # what the list holds does not change: only the names that may hold it
            return sorted(self.growing[id(node)] & live - excluded)
        related = {n for n in live if n in self.local_names and (sharing.reaches(n, written) or sharing.reaches(written, n))}
        parts = sharing.inside(written)  # views of an array share its memory; a method may change what an object holds
        related |= {n for n in live if n in self.local_names and any(sharing.reaches(n, p) for p in parts)}
        if any(sharing.reaches(p, written) for p in self.inputs):
            related |= (set(self.inputs) | set(facts.callers.values())) & live  # the caller may pass related objects
        return sorted(related - excluded)

    def loop_counters(self, body):
        """Names that only ever hold ints: targets of `for ... in range(...)` and int arithmetic of them and of int
        constants (`i + 1`, `i % 2`). No object is one of them or inside one."""
        def counting(node):
            return isinstance(node, gast.For) and isinstance(node.target, gast.Name) and isinstance(node.iter, gast.Call) \
                and isinstance(node.iter.func, gast.Name) and node.iter.func.id == "range" and "range" not in self.local_names \
                and (self.resolution is None or self.resolution.callee(node.iter) is range)

        bindings = {bound: [node.value if isinstance(node, gast.Assign) else "int" if counting(node) else None
                            for node in nodes] for bound, nodes in _bindings(body).items()}
        integer_operators = (gast.Add, gast.Sub, gast.Mult, gast.FloorDiv, gast.Mod)
        counters = set()

        def integral(value):
            if value == "int":
                return True
            if isinstance(value, gast.Constant):
                return type(value.value) is int
            if isinstance(value, gast.Name):
                return value.id in counters
            if isinstance(value, gast.BinOp) and isinstance(value.op, integer_operators):
                return integral(value.left) and integral(value.right)
            return False

        changed = True
        while changed:
            changed = False
            for bound, values in bindings.items():
                if bound not in counters and bound not in self.inputs and all(v is not None and integral(v) for v in values):
                    counters.add(bound)
                    changed = True
        return counters

    def growing_lists(self, body, mutations):
        """`{mutation: names that may hold the list}` for the mutations `l.append(v)` of a local list made here
        (every binding of `l` a list display or such an append: the stacks of generated code). An append changes
        the list alone, never what it holds, so only names that may hold the list see it: those bound by a
        statement that reads the list or one of them (the final state tuple, ...)."""
        bindings, reads = _bindings(body), list(simple_statements(body))

        def appends(node, name, methods=("append",), helpers=("call_updating",)):
            value = node.value
            return isinstance(value, gast.Call) and self.is_helper(value.func, set(helpers)) and \
                isinstance(value.args[1], gast.Constant) and value.args[1].value in methods and \
                isinstance(value.args[0], gast.Name) and value.args[0].id == name and not value.keywords

        def pops(node, name):
            return isinstance(node, gast.Assign) and appends(node, name, ("pop",), ("call_updating_with_result",))

        def holders(name):
            held = {name}
            changed = True
            while changed:
                changed = False
                for node in reads:
                    if isinstance(node, gast.Assign) and appends(node, name) or pops(node, name):
                        continue  # (a pop's value was in the list: it holds nothing of the list)
                    loaded = captured_names(node) if isinstance(node, gast.FunctionDef) else loaded_names(node)
                    if loaded & held:
                        bound = {node.name} if isinstance(node, gast.FunctionDef) else {
                            n.id for target in getattr(node, "targets", ()) for n in gast.walk(target)
                            if isinstance(n, gast.Name)}
                        if not bound <= held:
                            held |= bound
                            changed = True
            return held - {name}

        lists = {n for n, nodes in bindings.items() if n not in self.inputs and all(
            isinstance(node, gast.Assign) and (isinstance(node.value, gast.List) or appends(node, n)) for node in nodes)}
        lists |= self.stacks - set(self.inputs)
        found = {n: holders(n) for n in lists}
        return {key: found[m.written] for key, m in mutations.items()
                if m.written in lists and (m.updating or key in self.popped and m.written in self.stacks)}

    def views_of(self, bases):
        return {c for c, (base, _) in self.views.items() if base in bases}

    def writeback_chain(self, written):
        """The containers a write-back temporary is written into right after it changes (`t = m[0]` ... `m[0] = t`)."""
        chain = set()
        while written in self.writeback and self.writeback[written] not in chain:
            written = self.writeback[written]
            chain.add(written)
        return chain

    # Driver

    def run(self):
        function = self.function
        self.constructed = self.constructed_classes(function.body[:-1])
        body = self.canonical(function.body[:-1])
        self.transposes = set()
        self.views = self.find_views(body)
        body = self.link_views(body)
        facts = Facts()
        facts.mutations = self.mutations(body)
        self.growing = self.growing_lists(body, facts.mutations)
        self.counters = self.loop_counters(body)
        facts.sharing = sharing = self.sharing(body)
        written_names = {m.written for m in facts.mutations.values()}
        updated_parts = set().union(*(sharing.inside(m.written) for key, m in facts.mutations.items()
                                      if (not m.copyable or m.updating) and key not in self.growing))
        facts.callers = {}
        for parameter in self.inputs:
            if any(sharing.reaches(parameter, w) for w in written_names | updated_parts):
                caller = self.new_name(parameter + "_caller")
                facts.callers[parameter] = caller
                self.local_names.add(caller)
                sharing.names.add(caller)
                sharing.same(caller, parameter)
        returned = function.body[-1].value
        live_end = ({returned.id} if isinstance(returned, gast.Name) else set()) | set(facts.callers.values())
        facts.live = live_after(body, self.captures, live_end)
        facts.exposed = self.exposure(body, sharing)
        facts.bound = definitely_bound(body, set(self.inputs))
        facts.foreign = self.foreign(body, sharing)
        self.advice = self.copy_advice(body)
        self.foreign_writes = []
        body = self.protect(body, facts)
        prologue = [assign(caller, name(parameter), function.lineno) for parameter, caller in facts.callers.items()]
        function.body = prologue + body + [function.body[-1]]
        function.written = facts.callers
        function.foreign_writes = self.foreign_writes
        return function


def _bindings(body):
    """`{name: the nodes binding it}`: assignments to the name, the loops and comprehensions with it among their
    targets, the nested defs of that name."""
    bindings = {}
    for node in simple_statements(body):
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            bindings.setdefault(node.targets[0].id, []).append(node)
        elif isinstance(node, gast.FunctionDef):
            bindings.setdefault(node.name, []).append(node)
    for node in gast.walk(gast.Module(body=body, type_ignores=[])):
        if isinstance(node, (gast.For, gast.comprehension)):
            for target in gast.walk(node.target):
                if isinstance(target, gast.Name):
                    bindings.setdefault(target.id, []).append(node)
    return bindings


class Facts:
    """What `Effects.protect` reads: mutations, sharing, liveness, exposure, bound names, callers."""

    def __init__(self):
        self.before = {}


def _if_bound(identifier, statement, line):
    """`if 'x' in locals(): statement`, for a name that may not be bound yet."""
    test = gast.Compare(left=constant(identifier), ops=[gast.In()], comparators=[gast.Call(func=name("locals"), args=[], keywords=[])])
    return gast.If(test=test, body=[statement], orelse=[], lineno=line, col_offset=0)


def _local_or_none(identifier):
    """`locals().get('x')`: the value of a name that may be unbound."""
    get = gast.Attribute(value=gast.Call(func=name("locals"), args=[], keywords=[]), attr="get", ctx=gast.Load())
    return gast.Call(func=get, args=[constant(identifier)], keywords=[])


def _item(target, sequence, index, line):
    return assign(target, gast.Subscript(value=name(sequence), slice=constant(index), ctx=gast.Load()), line)


def _store_all(written, value, line):
    return assign(gast.Subscript(value=name(written), slice=constant(Ellipsis), ctx=gast.Store()), value, line)


def _keyword(call, parameter):
    return next((k.value for k in call.keywords if k.arg == parameter), None)


def _written_positions(function, call, written):
    """The positions (ints) and keywords (names) of `call`'s arguments binding parameters that `function` writes."""
    code = getattr(function, "__code__", None)
    if code is None or not written or any(isinstance(a, gast.Starred) for a in call.args):
        return []
    names = code.co_varnames[: code.co_argcount]
    positions = [p for p, parameter in enumerate(names[: len(call.args)]) if parameter in written]
    return positions + [k.arg for k in call.keywords if k.arg in written and k.arg in names[len(call.args):]]


def effects(function, namer, resolution, inputs, written_parameters, stacks=frozenset()):
    """Make the in-place effects of the normalised `function` explicit (see the module docstring).

    `inputs` are its parameters and captured variables; `written_parameters(callee)` gives the
    names of the parameters a Python callee writes into (or None when unknown). `stacks` names the
    lists of generated code that are only pushed and popped (the reverse generator's stacks).
    """
    return Effects(function, namer, resolution, inputs, written_parameters, stacks).run()
