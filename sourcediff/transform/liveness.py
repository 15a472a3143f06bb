"""liveness: drop the stores of a zero cotangent that nothing reads.

The reverse generator resets a cotangent to `runtime.ZERO` once its variable's assignment has been
differentiated, because an earlier assignment (in source order) may add to it again. Often nothing
does: the next mention of the cotangent, on every path, assigns it afresh (`x_bar = ...` with no
`x_bar` on the right), at the start of the next loop iteration and after the loop alike. Such stores
are removed from the generated pullback's statements; every other statement stays as it is (a body
left empty gets a `pass`).

    >>> import gast; from sourcediff.transform.syntax import source
    >>> body = gast.parse("x_bar = f(y_bar)\\ny_bar = runtime.ZERO\\ny_bar = g(x_bar)\\nreturn (y_bar,)").body
    >>> [source(node) for node in without_dead_zero_stores(body, "runtime")]
    ['x_bar = f(y_bar)', 'y_bar = g(x_bar)', 'return (y_bar,)']
"""
import gast

from .codegen import Comment
from .syntax import names_in

READ, ASSIGN = "read", "assign"


def without_dead_zero_stores(statements, runtime):
    """`statements` (a generated body, with `if`/`for`/`while` and simple statements) without the dead
    `X = <runtime>.ZERO` stores."""
    dead, names = set(), _Names()

    def visit(block, ancestors):
        for position, node in enumerate(block):
            if isinstance(node, (gast.If, gast.For, gast.While)):
                for body in _bodies(node):
                    visit(body, ancestors + [(node, block, position)])
            elif _zero_store(node, runtime) and _dead(node.targets[0].id, block, position, ancestors, names):
                dead.add(id(node))

    visit(statements, [])
    return _kept(statements, dead)


def _kept(block, dead):
    kept = []
    for node in block:
        if id(node) in dead:
            continue
        if isinstance(node, (gast.If, gast.For, gast.While)):
            node = _rebuilt(node, dead)
        kept.append(node)
    return kept


def _rebuilt(node, dead):
    """A copy of a compound statement with the dead stores left out of its bodies (an emptied one: `pass`)."""
    copied = gast.If(test=node.test, body=[], orelse=[]) if isinstance(node, gast.If) else \
        gast.While(test=node.test, body=[], orelse=[]) if isinstance(node, gast.While) else \
        gast.For(target=node.target, iter=node.iter, body=[], orelse=[], type_comment=None)
    gast.copy_location(copied, node)
    for field in ("body", "orelse"):
        old = getattr(node, field)
        new = _kept(old, dead)
        if old and not any(not _is_comment(n) for n in new):
            new.append(gast.copy_location(gast.Pass(), old[-1]))
        setattr(copied, field, new)
    return copied


def _is_comment(node):
    return isinstance(node, Comment)


def _zero_store(node, runtime):
    return isinstance(node, gast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], gast.Name) \
        and isinstance(node.value, gast.Attribute) and node.value.attr == "ZERO" \
        and isinstance(node.value.value, gast.Name) and node.value.value.id == runtime


def _bodies(node):
    return [node.body, node.orelse] if isinstance(node, gast.If) else [node.body]


class _Names(dict):
    """The names each statement (or part of one) mentions, found once."""

    def of(self, node):
        found = self.get(id(node))
        if found is None:
            found = self[id(node)] = names_in(node)
        return found


def _dead(name, block, position, ancestors, names):
    """Whether the value stored into `name` at `block[position]` is never read."""
    ancestors = list(ancestors)
    found = _first_use(name, block[position + 1:], names)
    while found is None:
        if not ancestors:
            return True
        node, parent, index = ancestors.pop()
        if not isinstance(node, gast.If):  # a loop: the next iteration starts from the top of its body
            if name in _header_names(node, names) or _first_use(name, node.body, names) == READ:
                return False
        found = _first_use(name, parent[index + 1:], names)
    return found == ASSIGN


def _first_use(name, statements, names):
    """READ if `name` may be read before it is assigned, ASSIGN if it is assigned first on every path, else None."""
    for node in statements:
        if _is_comment(node):
            continue
        if not isinstance(node, (gast.If, gast.For, gast.While)):
            if name in names.of(node):
                return ASSIGN if _assigns(name, node, names) else READ
            continue
        if name in _header_names(node, names):
            return READ
        if not isinstance(node, gast.If):  # a loop may run no iteration: what follows it decides, unless its body reads
            if _first_use(name, node.body, names) == READ:
                return READ
            continue
        found = [_first_use(name, body, names) for body in _bodies(node)]
        if READ in found:
            return READ
        if node.orelse and all(f == ASSIGN for f in found):
            return ASSIGN
    return None


def _header_names(node, names):
    return names.of(node.test) if not isinstance(node, gast.For) else names.of(node.target) | names.of(node.iter)


def _assigns(name, node, names):
    """Whether `node` assigns plain names including `name`, with a value that does not read `name`."""
    if not isinstance(node, gast.Assign):
        return False
    targets = [e for t in node.targets for e in (t.elts if isinstance(t, gast.Tuple) else [t])]
    return all(isinstance(t, gast.Name) for t in targets) and name in {t.id for t in targets} \
        and name not in names.of(node.value)
