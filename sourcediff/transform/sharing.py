r"""sharing: which names may hold the same object, or one inside the other; which objects pullbacks read.

Two relations over the names of a normalised function, flow-insensitive (so over-approximate):

- *same*: two names may hold the same object (`a = b`; a call that may return its argument);
- *holds*: the object of one name may hold the object of another among its items, entries or
  attributes, or (an array) share its memory as a view (`lst = [a]`, `v = m[0]`, `obj.w = a`);
- *may be*: the value of a call may be (or hold) any one of its arguments, without these being
  related to each other.

`Sharing.reaches(c, w)` says whether the object of `w` may be that of `c` or inside it, so that
changing it in place changes what `c` holds (or, the other way round, whether `c` is inside `w`).

`Exposure` follows, statement by statement (to a fixed point at loops), which objects a pullback
may still read, at three levels: *whole* (an operation took the object as an operand, or made it:
a write into it must copy it first), *parts* (something inside it was taken: only an array, whose
parts are views, must be copied), and *shape* (its length was read, as indexing does: only a list
about to change length must be copied).

    >>> import gast
    >>> f = gast.parse("def f(x):\n    row = x[0]\n    items = [x, 1.0]\n    y = x * 2.0\n    return y").body[0]
    >>> sharing = Sharing(["x", "row", "items", "y"])
    >>> for node in f.body[:-1]:
    ...     sharing.statement(node, lambda value: "fresh" if isinstance(value, gast.BinOp) else None)
    >>> sharing.reaches("items", "row"), sharing.reaches("row", "items"), sharing.reaches("y", "x")
    (True, False, False)
"""
import gast

from .syntax import loaded_names


class Sharing:
    """The same/holds relations, as a union-find over names and their items, with containment edges."""

    def __init__(self, names):
        self.names = set(names)
        self.parent = {}
        self.edges = set()
        self._reachable, self._memos = None, {}

    def find(self, node):
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def items(self, name):
        """The node standing for whatever the object of `name` holds."""
        node = ("items", name)
        if (name, node, "holds") not in self.edges:
            self.edges.add((name, node, "holds"))
            self._reachable, self._memos = None, {}
        return node

    def may_be(self, name, *others):
        """`name` may be any one of `others` (or hold it): a call's value may be one of its arguments."""
        for other in others:
            self.edges.add((name, other, "maybe"))
        self._reachable, self._memos = None, {}

    def same(self, *nodes):
        roots = [self.find(n) for n in nodes]
        for root in roots[1:]:
            self.parent[root] = roots[0]
        self._reachable = None
        self._memos = {}

    def statement(self, node, fresh, captures=None):
        """Record what a simple statement says about sharing; `fresh(value)` is "fresh" for a value that
        shares nothing, "new" for a new object that may hold its arguments (a constructor), "updating" for a method
        called for its effect (its object may hold the arguments), else None."""
        captures = captures or {}
        if isinstance(node, gast.Assign):
            target, value = node.targets[0], node.value
            if isinstance(target, gast.Name):
                self.assignment(target.id, value, fresh, captures)
            elif isinstance(target.value, gast.Name) and target.value.id in self.names:
                self.same(self.items(target.value.id), *self.local(value))

    def assignment(self, target, value, fresh, captures):
        if isinstance(value, gast.Name):
            self.same(target, *self.local(value))
        elif isinstance(value, (gast.Subscript, gast.Attribute)):
            base = value.value
            if isinstance(base, gast.Name) and base.id in self.names:
                self.same(target, self.items(base.id))
        elif isinstance(value, (gast.Tuple, gast.List, gast.Set)):
            elements = [n for e in value.elts for n in self.local(e)]
            if elements:
                self.same(self.items(target), *elements)
        elif isinstance(value, gast.Dict):
            elements = [n for e in value.values for n in self.local(e)]
            if elements:
                self.same(self.items(target), *elements)
        elif isinstance(value, gast.BinOp) and fresh(value) != "fresh":
            operands = [self.items(n) for o in (value.left, value.right) for n in self.local(o)]
            if operands:
                self.same(self.items(target), *operands)
        elif isinstance(value, gast.Call) and fresh(value) != "fresh":
            related = set(self.local_names_in(gast.Tuple(elts=value.args + [k.value for k in value.keywords], ctx=gast.Load())))
            if isinstance(value.func, gast.Attribute):
                related |= set(self.local_names_in(value.func))
            elif isinstance(value.func, gast.Name):
                related |= captures.get(value.func.id, set()) & self.names
            for name in list(related):
                related |= captures.get(name, set()) & self.names
            if fresh(value) == "updating":
                related -= set(self.local(value.args[0]))
                if related:
                    self.same(self.items(value.args[0].id), *sorted(related))
            elif related:
                if fresh(value) == "new":
                    self.same(self.items(target), *sorted(related))
                elif len(related) == 1:
                    self.same(target, *related)  # one candidate: the value may be that very object
                else:
                    self.may_be(target, *sorted(related))

    def local(self, node):
        return [node.id] if isinstance(node, gast.Name) and node.id in self.names else []

    def local_names_in(self, node):
        return sorted(loaded_names(node) & self.names)

    def reachable(self, name, kinds=("holds", "maybe")):
        """Roots of the classes whose objects may be the object of `name` or inside it (following `kinds` of edges)."""
        if self._reachable is None:
            self._reachable = {}
        root = self.find(name)
        key = (root, kinds)
        if key not in self._reachable:
            successors = {}
            for source, target, kind in self.edges:
                if kind in kinds:
                    successors.setdefault(self.find(source), set()).add(self.find(target))
            seen, stack = {root}, [root]
            while stack:
                for following in successors.get(stack.pop(), ()):
                    if following not in seen:
                        seen.add(following)
                        stack.append(following)
            self._reachable[key] = seen
        return self._reachable[key]

    def reaches(self, holder, name, kinds=("holds", "maybe")):
        """Whether the object of `name` may be that of `holder` or inside it."""
        return self.find(name) in self.reachable(holder, kinds)

    def _memo(self, kind, name, compute):
        key = (kind, name)
        if key not in self._memos:
            self._memos[key] = compute()
        return self._memos[key]

    def same_as(self, name):
        """Names whose objects may be the object of `name` (one class, or a call's value that may be it)."""
        root = self.find(name)
        return self._memo("same", name, lambda: frozenset(
            n for n in self.names if self.find(n) == root or self.reaches(n, name, ("maybe",))))

    def inside(self, name):
        """Names whose objects may be the object of `name` or inside it."""
        roots = self.reachable(name)
        return self._memo("inside", name, lambda: frozenset(n for n in self.names if self.find(n) in roots))

    def holding(self, name):
        """Names whose objects may hold (or be) the object of `name`."""
        return self._memo("holding", name, lambda: frozenset(n for n in self.names if self.reaches(n, name)))


class Exposure:
    """What pullbacks may read of each object: `whole`, `parts` and `shape` sets of names (see the module)."""

    def __init__(self, whole=frozenset(), parts=frozenset(), shape=frozenset()):
        self.whole, self.parts, self.shape = frozenset(whole), frozenset(parts), frozenset(shape)

    def __eq__(self, other):
        return (self.whole, self.parts, self.shape) == (other.whole, other.parts, other.shape)

    def join(self, other):
        return Exposure(self.whole | other.whole, self.parts | other.parts, self.shape | other.shape)

    def of(self, name):
        return (name in self.whole, name in self.parts, name in self.shape)

    def set(self, name, levels):
        whole, parts, shape = levels
        return Exposure(self.whole - {name} | ({name} if whole else set()), self.parts - {name} | ({name} if parts else set()),
                        self.shape - {name} | ({name} if shape else set()))

    def captured(self, sharing, names):
        """Operations took these objects as operands: they, and everything inside them, are read."""
        whole, parts = set(self.whole), set(self.parts)
        for name in names:
            whole |= sharing.same_as(name) | sharing.inside(name)
            parts |= sharing.holding(name)
        return Exposure(whole, parts, self.shape)

    def parts_captured(self, sharing, names):
        """Something inside these objects may be read (a method's pullback may keep its object's attributes)."""
        whole, parts = set(self.whole), set(self.parts)
        for name in names:
            parts |= sharing.holding(name)
            whole |= sharing.inside(name) - sharing.same_as(name)
        return Exposure(whole, parts, self.shape)

    def shape_read(self, sharing, names):
        shape = set(self.shape)
        for name in names:
            shape |= sharing.same_as(name)
        return Exposure(self.whole, self.parts, shape)
