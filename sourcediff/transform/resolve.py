"""resolve: what the global names, dotted paths and call sites of a normalised function refer to.

Guarantees: every value the later passes learn about the world goes through one `Resolution`,
which records it as a guard (the path looked up and the object found, or that it was missing;
the rule registered for a callee and its parts). A derivative built from a resolution stays valid
exactly as long as every guard still holds (`Guards.hold`), checked by identity on each cache hit.
Names bound by the generated module itself (`runtime`, `operator`) resolve to those modules.

    >>> import math
    >>> resolution = Resolution(math.sin.__self__.__dict__, {}, set())
    >>> resolution.value_of(gast.parse("pi", mode="eval").body)
    (True, 3.141592653589793)
    >>> resolution.guards.hold()
    True
"""
import builtins
import dataclasses
import enum
import operator
import types

import gast
import numpy as np

from ..rules import registry
from .normalize import global_path
from .syntax import constant, source
from .templates import partial_templates, pullback_templates, static_value

MISSING = object()
BOUND_METHODS = (types.MethodType, types.BuiltinMethodType)  # made anew on each lookup: equal, not identical
SCALAR_BUILTINS = {abs, float, int, len, round, min, max, pow}
SCALAR_MODULES = ("math", "_operator", "operator")
OPERATORS = {
    gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul, gast.Div: operator.truediv,
    gast.FloorDiv: operator.floordiv, gast.Mod: operator.mod, gast.Pow: operator.pow, gast.MatMult: operator.matmul,
    gast.USub: operator.neg, gast.UAdd: operator.pos, gast.Not: operator.not_, gast.Invert: operator.invert,
    gast.BitAnd: operator.and_, gast.BitOr: operator.or_, gast.BitXor: operator.xor,
    gast.LShift: operator.lshift, gast.RShift: operator.rshift,
}


class Kind(enum.Enum):
    """How a call site is differentiated."""

    INLINE = "partial derivatives inlined as arithmetic"
    RULE = "a registered rrule"
    CALL = "a transformed Python callable (or one found at run time)"
    METHOD = "a method of a local object, found at run time"
    SPREAD = "a call with *args or **kwargs, found at run time"
    INACTIVE = "declared non-differentiable"
    NO_RULE = "neither a rule nor Python source"


@dataclasses.dataclass(frozen=True)
class Site:
    """A classified call site: its kind, the resolved callee (if any), its rule and inline templates."""

    kind: Kind
    text: str = ""
    function: object = None
    rule: object = None
    templates: object = None
    pullback: object = None  # an inlined specialisation's `pullback_templates`
    keywords: tuple = ()  # and `(name, value node)` for each keyword it takes


class Guards:
    """What a build resolved: `(lookup, expected)` pairs, each re-run and compared by identity in `hold`.

    The guards on rules are re-run only when the registry has changed since they last held (every
    change of a rule or of the registry's dict changes its version)."""

    def __init__(self):
        self.entries, self.rules = {}, {}
        self.rules_version = None
        self.paths = {}  # ("path", path) guards: path -> (where its root is looked up, expected), checked compiled
        self.compiled = None

    def add(self, key, lookup, expected, root=None):
        """Record a guard; `root` (`(globals, builtins, bindings)`) marks a dotted path's lookup, which `hold`
        checks in one compiled expression unless its value is missing or a bound method."""
        if root is not None and expected is not MISSING and not isinstance(expected, BOUND_METHODS):
            self.paths.setdefault(key[1], (root, expected))
            self.compiled = None
            return
        (self.rules if key[0] == "rule" else self.entries).setdefault(key, (lookup, expected))

    def hold(self):
        version = registry.version()
        if version != self.rules_version:
            if not _all_hold(self.rules.values()):
                return False
            self.rules_version = version
        if self.paths:
            check = self.compiled or self._compile()
            if not check():
                return False
        return not self.entries or _all_hold(self.entries.values())

    def _compile(self):
        """One function checking every path guard: `G.get('np', M) is v0 and getattr(v0, 'sin', M) is v1 ...`."""
        values, terms = {}, []
        for path, ((global_names, builtin_names, bindings), expected) in self.paths.items():
            root = path[0]
            if root in bindings:
                current = _constant(values, bindings[root])
            else:
                current = (f"({_constant(values, global_names)}[{root!r}] if {root!r} in {_constant(values, global_names)} "
                           f"else {_constant(values, builtin_names)}.get({root!r}, M))")
            for part in path[1:]:
                current = f"getattr({current}, {part!r}, M)"
            terms.append(f"{current} is {_constant(values, expected)}")
        text = "def check():\n    try:\n        return " + " and ".join(terms) + "\n    except Exception:\n        return False\n"
        namespace = {**values, "M": MISSING, "getattr": getattr}
        exec(compile(text, "<sourcediff guards>", "exec"), namespace)
        self.compiled = namespace["check"]
        return self.compiled


def _constant(values, value):
    """The name under which the compiled guard check reads `value`."""
    for name, known in values.items():
        if known is value:
            return name
    name = f"v{len(values)}"
    values[name] = value
    return name


def _all_hold(guards):
    for lookup, expected in guards:
        found = lookup()
        if found is not expected and not (isinstance(expected, BOUND_METHODS) and found == expected):
            return False
    return True


def _rule_parts(rule):
    """What a build reads from a rule: a tuple compared entry by entry (None for no rule)."""
    if rule is None:
        return None
    return (rule, rule.rrule, rule.frule, rule.partials, rule.differentiable, rule.fresh, rule.functional,
            rule.inactive_arguments, rule.updates, rule.specialisations)


class _RuleGuard:
    """Re-reads the registry entry of `function`; equal while the rule and all its parts are the same objects."""

    def __init__(self, function, parts):
        self.function, self.parts = function, parts

    def __call__(self):
        current = _rule_parts(registry.lookup(self.function))
        if current is None or self.parts is None:
            return self.parts if current == self.parts else None
        return self.parts if all(a is b for a, b in zip(current, self.parts)) else None


class Resolution:
    """Resolves names and call sites of one function against its globals, recording guards."""

    def __init__(self, global_names, bindings, local_names):
        self.globals = global_names
        self.builtins = global_names.get("__builtins__", builtins)
        if isinstance(self.builtins, types.ModuleType):
            self.builtins = vars(self.builtins)
        self.bindings = bindings
        self.local_names = local_names
        self.guards = Guards()

    def _lookup_name(self, name):
        if name in self.bindings:
            return self.bindings[name]
        if name in self.globals:
            return self.globals[name]
        return self.builtins.get(name, MISSING)

    def _lookup_path(self, path):
        value = self._lookup_name(path[0])
        for part in path[1:]:
            if value is MISSING:
                return MISSING
            try:
                value = getattr(value, part)
            except Exception:
                return MISSING
        return value

    def path_value(self, path):
        """The object at a dotted global path (a tuple of names), or MISSING; recorded as a guard."""
        path = tuple(path)
        value = self._lookup_path(path)
        self.guards.add(("path", path), lambda: self._lookup_path(path), value, (self.globals, self.builtins, self.bindings))
        return value

    def value_of(self, node):
        """`(found, value)` for a global name or dotted path rooted at a global; `(False, None)` otherwise."""
        if isinstance(node, gast.Name):
            path = [node.id] if node.id not in self.local_names else None
        else:
            path = global_path(node, self.local_names)
        if path is None:
            return False, None
        value = self.path_value(path)
        return (False, None) if value is MISSING else (True, value)

    def rule_of(self, function):
        """The registered `Rule` of `function` (or None), recorded as a guard on the rule and its parts."""
        rule = registry.lookup(function)
        if hashable(function):
            parts = _rule_parts(rule)
            self.guards.add(("rule", id(function)), _RuleGuard(function, parts), parts)
        return rule

    def callee(self, node):
        """The object a call's function expression resolves to, or None when only known at run time."""
        if isinstance(node, (gast.BinOp, gast.UnaryOp)):
            return OPERATORS[type(node.op)]
        found, value = self.value_of(node.func)
        return value if found else None

    def classify(self, node, scalar_names, real_names=None):
        """The `Site` of a call, binary or unary operation (`scalar_names`: names holding real scalars;
        `real_names`: names holding float64 reals of any shape, whose elementwise rules are inlined too)."""
        if isinstance(node, (gast.BinOp, gast.UnaryOp)):
            function = OPERATORS[type(node.op)]
            operands = [node.left, node.right] if isinstance(node, gast.BinOp) else [node.operand]
            return self._site(function, f"operator.{function.__name__}", operands, [], scalar_names, real_names)
        func = node.func
        if isinstance(func, gast.Attribute) and global_path(func, self.local_names) is None:
            return Site(Kind.METHOD, source(func))
        found, function = self.value_of(func)
        if not found:
            kind = Kind.SPREAD if _spreads(node) else Kind.CALL
            return Site(kind, source(func))
        site = self._site(function, source(func), node.args, node.keywords, scalar_names, real_names)
        if _spreads(node) and site.kind not in (Kind.INACTIVE, Kind.NO_RULE):
            return Site(Kind.SPREAD, site.text, function, site.rule)
        return site

    def _site(self, function, text, arguments, keywords, scalar_names, real_names=None):
        rule = self.rule_of(function)
        if rule is not None and not rule.differentiable:
            return Site(Kind.INACTIVE, text, function, rule)
        if rule is not None and rule.specialisations and real_names:
            ndims = [real_names.get(a.id) if isinstance(a, gast.Name) else None for a in arguments]
            specialisation = matching_specialisation(rule, ndims, keywords)
            templates = pullback_templates(specialisation.rrule) if specialisation is not None else None
            if templates is not None:
                given = {k.arg: k.value for k in keywords}
                pasted = tuple((name, given[name] if name in given else constant(default))
                               for name, default in specialisation.keywords)
                return Site(Kind.INLINE, text, function, rule, pullback=templates, keywords=pasted)
        if rule is not None and rule.rrule is not None:
            all_scalar = all(_is_scalar_atom(a, scalar_names) for a in arguments) and not keywords
            if not all_scalar and real_names and not keywords:
                zero_dimensional = {n for n, ndim in real_names.items() if ndim == 0}
                all_scalar = all(_is_scalar_atom(a, real_names if _elementwise(function) else zero_dimensional)
                                 for a in arguments)
            if all_scalar and rule.partials and len(rule.partials) == len(arguments):
                templates = partial_templates(rule)
                if templates is not None:
                    return Site(Kind.INLINE, text, function, rule, templates)
            return Site(Kind.RULE, text, function, rule)
        if not transformable(function):
            return Site(Kind.NO_RULE, text, function)
        return Site(Kind.CALL, text, function)

    def is_differentiable_call(self, node):
        return self.classify(node, frozenset()).kind is not Kind.INACTIVE

    def is_scalar_call(self, node):
        """Whether the call maps real numbers to a real number (a scalar builtin or a `math` row)."""
        found, function = self.value_of(node.func)
        if not found or not hashable(function):
            return False
        if function in SCALAR_BUILTINS:
            return True
        rule = self.rule_of(function)
        return rule is not None and rule.partials is not None and getattr(function, "__module__", None) in SCALAR_MODULES

    def is_fresh(self, node):
        """Whether the value of an operation shares no mutable object with anything else (new arrays, numbers).

        Arithmetic makes new numbers and arrays; only `+` and `*` can also make a list or tuple that
        holds its operands' items (unless an operand is a float, which lists do not take).
        """
        if isinstance(node, gast.UnaryOp):
            return True
        if isinstance(node, gast.BinOp) and (not isinstance(node.op, (gast.Add, gast.Mult)) or any(
                isinstance(o, gast.Constant) and isinstance(o.value, (float, complex)) for o in (node.left, node.right))
                or isinstance(node.op, gast.Add) and any(isinstance(o, gast.Constant) and isinstance(o.value, int)
                                                         for o in (node.left, node.right))):
            return True  # (a list or tuple cannot be added to a number, though one can be multiplied by an int)
        if isinstance(node, (gast.Call, gast.BinOp)):
            if isinstance(node, gast.Call) and any(k.arg in ("out", "copy") for k in node.keywords):
                return False  # writes into `out`, or may return its argument itself (np.array(x, copy=False))
            function = self.callee(node)
            if function is None:
                return False
            if isinstance(function, np.ufunc):
                return True
            rule = self.rule_of(function)
            return rule is not None and rule.fresh
        return isinstance(node, (gast.Constant, gast.JoinedStr, gast.Compare, gast.Lambda))


def matching_specialisation(rule, ndims, keywords):
    """The first specialisation of `rule` serving a call with arguments of `ndims` and these keyword nodes."""
    if any(k.arg is None for k in keywords):
        return None
    values = keyword_values(keywords)
    for specialisation in rule.specialisations:
        if specialisation.matches(ndims, values):
            return specialisation
    return None


def keyword_values(keywords):
    """`{name: constant value}` of a call's keyword arguments (`NOT_STATIC` where not a constant)."""
    return {k.arg: static_value(k.value) for k in keywords}


def transformable(function):
    """Whether sourcediff can differentiate calls to `function` without a rule (it has Python source)."""
    if isinstance(function, (types.FunctionType, types.MethodType, type)):
        return True
    return isinstance(getattr(type(function), "__call__", None), types.FunctionType)


def hashable(value):
    try:
        hash(value)
        return True
    except TypeError:
        return False


def _elementwise(function):
    """Whether a rule's partials are elementwise on arrays too (a ufunc, or an arithmetic operator)."""
    return isinstance(function, np.ufunc) or any(function is f for f in OPERATORS.values())


def _spreads(call):
    return any(isinstance(a, gast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)


def _is_scalar_atom(node, scalar_names):
    if isinstance(node, gast.Constant):
        return type(node.value) in (int, float)
    if isinstance(node, gast.UnaryOp) and isinstance(node.operand, gast.Constant):
        return type(node.operand.value) in (int, float)
    return isinstance(node, gast.Name) and node.id in scalar_names
