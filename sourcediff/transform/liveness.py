"""liveness: drop the stores of a zero cotangent that nothing reads.

The reverse generator resets a cotangent to `runtime.ZERO` once its variable's assignment has been
differentiated, because an earlier assignment (in source order) may add to it again. Often nothing
does: the next mention of the cotangent, on every path, assigns it afresh (`x_bar = ...` with no
`x_bar` on the right), at the start of the next loop iteration and after the loop alike. Such stores
are removed from the generated pullback; every other line stays as it is.

    >>> lines = [("    x_bar = f(y_bar)", 1), ("    y_bar = runtime.ZERO", 1), ("    y_bar = g(x_bar)", 2),
    ...          ("    return (y_bar,)", 2)]
    >>> [text.strip() for text, _ in without_dead_zero_stores(lines, "runtime")]
    ['x_bar = f(y_bar)', 'y_bar = g(x_bar)', 'return (y_bar,)']
"""
import dataclasses
import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
READ, ASSIGN = "read", "assign"


@dataclasses.dataclass
class _Node:
    text: str
    index: int  # position in the entries
    body: list = None  # a compound statement's lines
    branches: list = None  # the bodies of an if statement's elif/else parts, after its own
    complete: bool = False  # an if statement with an else part


def without_dead_zero_stores(entries, runtime):
    """`entries` (`(text, user line)` pairs of generated statements) without the dead `X = <runtime>.ZERO` lines."""
    zero = f"{runtime}.ZERO"
    root = _parse(entries)
    dead, emptied = set(), set()

    def visit(block, ancestors):
        for position, node in enumerate(block):
            if node.body is None:
                target, _, value = node.text.strip().partition(" = ")
                if value == zero and IDENTIFIER.fullmatch(target) and _dead(target, block, position, ancestors):
                    dead.add(node.index)
                continue
            for body in [node.body] + (node.branches or []):
                visit(body, ancestors + [(node, block, position)])
        statements = [n for n in block if not (n.body is None and n.index in dead)]
        if block and not statements and ancestors:
            emptied.add(block[-1].index)  # a block with nothing left keeps a `pass`

    visit(root, [])
    kept = []
    for index, (text, line) in enumerate(entries):
        if index not in dead:
            kept.append((text, line))
        elif index in emptied:
            kept.append((text[: len(text) - len(text.lstrip())] + "pass", line))
    return kept


def _parse(entries):
    """The statements of `entries` as a tree of `_Node`s, by indentation (comments and blank lines left out).
    An `elif`/`else` part becomes a branch of the `if` before it; an `elif` branch starts with its condition."""
    root = []
    stack = [(-1, root)]
    for index, (text, _) in enumerate(entries):
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(text) - len(text.lstrip())
        while stack[-1][0] >= depth:
            stack.pop()
        siblings = stack[-1][1]
        if stripped.startswith(("else:", "elif ")):
            if not siblings or siblings[-1].branches is None:
                raise ValueError(f"{stripped!r} without its if")
            branch = [_Node(stripped[len("elif "):].rstrip(":"), index)] if stripped.startswith("elif ") else []
            siblings[-1].branches.append(branch)
            siblings[-1].complete = stripped == "else:"
            stack.append((depth, branch))
            continue
        node = _Node(stripped, index)
        siblings.append(node)
        if stripped.endswith(":"):
            node.body = []
            node.branches = [] if stripped.startswith("if ") else None
            stack.append((depth, node.body))
    return root


def _dead(name, block, position, ancestors):
    """Whether the value stored into `name` at `block[position]` is never read."""
    ancestors = list(ancestors)
    found = _first_use(name, block[position + 1:])
    while found is None:
        if not ancestors:
            return True
        node, parent, index = ancestors.pop()
        if node.branches is None:  # a loop: the next iteration starts from the top of its body
            if _mentions(name, node.text) or _first_use(name, node.body) == READ:
                return False
        found = _first_use(name, parent[index + 1:])
    return found == ASSIGN


def _first_use(name, statements):
    """READ if `name` may be read before it is assigned, ASSIGN if it is assigned first on every path, else None."""
    for node in statements:
        if node.body is None:
            if _mentions(name, node.text):
                return ASSIGN if _assigns(name, node.text) else READ
            continue
        header = node.text.rstrip(":")
        if _mentions(name, header):
            return READ
        if node.branches is None:  # a loop may run no iteration: what follows it decides, unless its body reads
            if _first_use(name, node.body) == READ:
                return READ
            continue
        found = [_first_use(name, body) for body in [node.body] + node.branches]
        if READ in found:
            return READ
        if node.complete and all(f == ASSIGN for f in found):
            return ASSIGN
    return None


def _mentions(name, text):
    return name in IDENTIFIER.findall(text)


def _assigns(name, text):
    """Whether `text` is an assignment to plain names including `name`, whose value does not read `name`."""
    targets, separator, value = text.partition(" = ")
    if not separator:
        return False
    names = [t.strip() for t in targets.split(",")]
    return name in names and all(IDENTIFIER.fullmatch(t) for t in names if t) and not _mentions(name, value)
