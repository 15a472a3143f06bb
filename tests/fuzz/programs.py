"""Random programs for fuzzing sourcediff: `generate(seed) -> Program`.

A `Program` is the source of a module (module-level helper functions and classes, then an entry
function `f` returning a real scalar) and the positional arguments to call `f` with. The same seed
always gives the same source text and the same arguments.

How programs are written. `Body` writes the statements of one function. It knows the type of
every variable in scope (`Float`, `Vec(n)`, `Mat(r, c)`, `FList(n)`, `FDict(keys)`, `Obj(spec)`,
closures `Fn(arity)`, integers `Int(lo, hi)`, ...), so every expression it writes has a known type
and shape and every operation is valid. Statements come from *constructs*: small functions
registered with `@construct(weight)`, each writing one idiom (an accumulator loop, a write into a
copied array while an alias is held, a closure whose captured variable is reassigned before the
call, ...). Expressions come from *forms* registered per result kind with `@form(kind, weight)`.
To cover a new idiom, add a construct or a form; the weights say how often each is tried.

Values stay in safe ranges: arguments are in ±[0.3, 1.5], logarithms and square roots only see
expressions like 1 + x², exponentials only see bounded arguments, division is only by things like
1 + x², loops are bounded by counters. Each program is run before it is returned; if it raises,
or returns something that is not a finite real scalar of moderate size, the generator tries again
with a seed derived from the requested one.
"""
import ast
import atexit
import contextlib
import dataclasses
import importlib.util
import itertools
import linecache
import math
import os
import random
import re
import shutil
import signal
import string
import sys
import tempfile
import threading
import warnings

import numpy as np

# ---------------------------------------------------------------- programs and their arguments


@dataclasses.dataclass(frozen=True)
class Instance:
    """An object argument: `cls(**dict(fields))`, for a class that the program's module defines.

    It is built when the program is loaded, since the class exists only then.
    """

    cls: str
    fields: tuple


@dataclasses.dataclass
class Program:
    """A module's source, the name of its entry function and the positional arguments to call it with."""

    source: str
    args: tuple
    entry: str = "f"
    seed: int = None

    def args_source(self):
        """The arguments as a Python expression (evaluated in the program's module namespace)."""
        return value_source(self.args)

    def text(self, comment=""):
        """The program as a runnable file: `comment` lines, the source, then the arguments section
        (`ARGS = ...` and a main block printing sourcediff's gradient)."""
        header = "".join(f"# {line}\n" for line in comment.splitlines())
        return (f"{header}{self.source}\n\n{ARGUMENTS_MARKER}\nimport numpy as np\n\nARGS = {self.args_source()}\n\n"
                f"if __name__ == '__main__':\n    import sourcediff as sd\n    print(sd.gradient({self.entry}, *ARGS))\n")


ARGUMENTS_MARKER = "# ---- arguments (not part of the program)"


def from_text(text, entry="f"):
    """The `Program` of a file written by `Program.text`, or of any module defining `entry` and `ARGS = ...`."""
    head, marker, _ = text.partition(ARGUMENTS_MARKER)
    nodes = ast.parse(text).body
    args_node = next((node.value for node in nodes if isinstance(node, ast.Assign)
                      and [getattr(t, "id", None) for t in node.targets] == ["ARGS"]), None)
    if args_node is None:
        raise ValueError("the program has no `ARGS = ...` line")
    if marker:
        kept = ast.parse(head).body
    else:
        kept = [node for node in nodes if getattr(node, "value", None) is not args_node
                and not (isinstance(node, ast.If) and "__main__" in ast.unparse(node.test))]
    classes = {node.name for node in kept if isinstance(node, ast.ClassDef)}
    namespace = {"np": np, "math": math, **{name: _instance_maker(name) for name in classes}}
    args = eval(compile(ast.Expression(args_node), "<ARGS>", "eval"), namespace)
    return Program(format_source(ast.Module(kept, type_ignores=[])), tuple(args), entry)


def _instance_maker(name):
    return lambda **fields: Instance(name, tuple(fields.items()))


def value_source(value):
    """Python source for an argument value; floats and arrays are written so that they read back exactly."""
    if isinstance(value, Instance):
        return f"{value.cls}({', '.join(f'{k}={value_source(v)}' for k, v in value.fields)})"
    if isinstance(value, np.ndarray):
        dtype = "" if value.dtype == np.float64 else f", dtype=np.{value.dtype}"
        return f"np.array({_array_source(value)}{dtype})"
    if isinstance(value, tuple):
        items = ", ".join(value_source(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(value_source(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {value_source(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _array_source(array):
    if array.ndim == 0:
        return str(array.dtype.type(array)) if array.dtype == np.float32 else repr(float(array))
    return "[" + ", ".join(_array_source(row) for row in array) + "]"


def copy_value(value):
    """A deep copy of an argument value (arrays, lists, tuples, dicts and plain objects)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [copy_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(copy_value(v) for v in value)
    if isinstance(value, dict):
        return {k: copy_value(v) for k, v in value.items()}
    if hasattr(value, "__dict__") and not callable(value):
        new = object.__new__(type(value))
        new.__dict__.update({k: copy_value(v) for k, v in vars(value).items()})
        return new
    return value


def build_args(value, module):
    """`value` with every `Instance` replaced by an object of the module's class (arrays copied)."""
    if isinstance(value, Instance):
        return getattr(module, value.cls)(**{k: build_args(v, module) for k, v in value.fields})
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple)):
        return type(value)(build_args(v, module) for v in value)
    if isinstance(value, dict):
        return {k: build_args(v, module) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- loading and running programs

_workdir = []
_serial = itertools.count()


def workdir():
    """The temporary directory program files are written to (made on first use, removed at exit)."""
    if not _workdir:
        path = tempfile.mkdtemp(prefix="sourcediff-fuzz-")
        atexit.register(shutil.rmtree, path, True)
        _workdir.append(path)
    return _workdir[0]


@contextlib.contextmanager
def loaded(program):
    """Import `program` from a file under a unique module name; yields `(entry function, arguments)`.

    The module, its file and its cached lines are removed afterwards.
    """
    name = f"fuzz_program_{os.getpid()}_{next(_serial)}"
    path = os.path.join(workdir(), name + ".py")
    with open(path, "w") as file:
        file.write(program.source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            spec.loader.exec_module(module)
        yield getattr(module, program.entry), build_args(program.args, module)
    finally:
        del sys.modules[name]
        linecache.cache.pop(path, None)
        for leftover in (path, importlib.util.cache_from_source(path)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


class Timeout(BaseException):
    """Raised by `deadline` (a BaseException, so that no `except Exception` swallows it)."""


@contextlib.contextmanager
def deadline(seconds):
    """Raise `Timeout` in the body after `seconds` (only on the main thread, where signals work)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise Timeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_plain(function, args):
    """`function(*args)` on a copy of `args`, with NumPy's overflow and invalid-value warnings raised,
    and `np.empty` filling with NaN (so that reading memory a program never wrote is noticed)."""
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings(), _nan_empty():
        warnings.simplefilter("ignore")
        return function(*copy_value(args))


def _large_intermediate(function, args):
    """A description of a number larger than `LARGEST` held by a local variable of the program, or None."""
    name, magnitude = largest_local(lambda: run_plain(function, args), function.__code__.co_filename)
    return f"intermediate value too large: {name} reaches {magnitude:.3g}" if magnitude > LARGEST else None


def largest_local(call, filename):
    """`(name, magnitude)`: the local variable holding the largest number while `call()` runs, over the
    frames of code compiled from `filename` (the program, and the code sourcediff generates from it)."""
    largest = ["", 0.0]

    def trace(frame, event, argument):
        if frame.f_code.co_filename != filename:
            return None
        if event in ("line", "return"):
            for name, value in frame.f_locals.items():
                magnitude = _magnitude(value)
                if magnitude > largest[1]:
                    largest[:] = name, magnitude
        return trace

    sys.settrace(trace)
    try:
        call()
    finally:
        sys.settrace(None)
    return tuple(largest)


def _magnitude(value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number, np.ndarray, list, tuple)):
        return 0.0
    if isinstance(value, (list, tuple)):
        return max((_magnitude(v) for v in value), default=0.0)
    with np.errstate(all="ignore"):
        array = np.abs(np.asarray(value, dtype=complex if np.iscomplexobj(value) else float))
    return float(np.nanmax(array)) if array.size else 0.0


@contextlib.contextmanager
def _nan_empty():
    empty, empty_like = np.empty, np.empty_like

    def nan_filled(array):
        if array.dtype.kind in "fc":
            array.fill(np.nan)
        return array

    np.empty = lambda *args, **kwargs: nan_filled(empty(*args, **kwargs))
    np.empty_like = lambda *args, **kwargs: nan_filled(empty_like(*args, **kwargs))
    try:
        yield
    finally:
        np.empty, np.empty_like = empty, empty_like


def value_problem(value):
    """Why `value` is not a usable output (a finite real scalar of moderate size), or None."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (float, np.floating)):
        return f"returned {type(value).__name__}, not a real scalar"
    if not math.isfinite(value):
        return f"returned {value}"
    if abs(value) > 1e6:
        return f"returned a huge value {value:.3g}"
    return None


LARGEST = 1e8  # intermediate values beyond this make finite differences meaningless (rounding swamps the steps)


def problem(program, timeout=2.0):
    """Why `program` is not valid (it fails, hangs, returns an unusable value, or computes numbers so large
    that rounding hides what finite differences measure), or None."""
    try:
        with deadline(timeout), loaded(program) as (function, args):
            found = value_problem(run_plain(function, args))
            return found or _large_intermediate(function, args)
    except Timeout:
        return "timeout"
    except Exception as error:  # any failure of a generated program makes it invalid
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def format_source(tree):
    """The source of a module AST: statements unparsed, two blank lines around definitions."""
    parts = []
    for node in tree.body:
        text = ast.unparse(node)
        if parts:
            definition = isinstance(node, (ast.FunctionDef, ast.ClassDef)) or parts[-1][1]
            parts.append(("\n\n\n" if definition else "\n", False))
        parts.append((text, isinstance(node, (ast.FunctionDef, ast.ClassDef))))
    return "".join(text for text, _ in parts) + "\n"


# ---------------------------------------------------------------- types of generated variables


@dataclasses.dataclass(frozen=True)
class Float:
    """A real scalar (a Python float or a NumPy float scalar)."""


@dataclasses.dataclass(frozen=True)
class Int:
    """An integer count or index; `lo`/`hi` bound its value when known (None: unknown)."""

    lo: int = None
    hi: int = None

    def indexes(self, n):
        """True if this integer is always a valid index into a sequence of length `n`."""
        return self.lo is not None and 0 <= self.lo and self.hi < n


@dataclasses.dataclass(frozen=True)
class Str:
    """A string (a dict key in a loop over `.items()`)."""


@dataclasses.dataclass(frozen=True)
class Vec:
    """A 1-D float array of length n."""

    n: int


@dataclasses.dataclass(frozen=True)
class Mat:
    """A 2-D float array of shape (r, c)."""

    r: int
    c: int


@dataclasses.dataclass(frozen=True)
class FList:
    """A list of floats of length n (None: unknown length, so it is only summed or iterated)."""

    n: int = None


@dataclasses.dataclass(frozen=True)
class FTuple:
    """A tuple of n floats."""

    n: int


@dataclasses.dataclass(frozen=True)
class VList:
    """A list of n vectors of length k."""

    n: int
    k: int


@dataclasses.dataclass(frozen=True)
class FDict:
    """A dict from string keys to floats."""

    keys: tuple


@dataclasses.dataclass(frozen=True)
class Pair:
    """A tuple `(float, Vec(k))`."""

    k: int


@dataclasses.dataclass(frozen=True)
class Obj:
    """An instance of a class the module defines."""

    spec: object


@dataclasses.dataclass(frozen=True)
class Fn:
    """A closure taking `arity` floats and returning a float."""

    arity: int


FLOAT = Float()


@dataclasses.dataclass(eq=False)
class ClassSpec:
    """A generated class: constructor fields (stored as attributes) and methods."""

    name: str
    fields: tuple
    is_dataclass: bool
    items: bool = False
    methods: list = dataclasses.field(default_factory=list)

    def float_fields(self):
        return [name for name, ty in self.fields if isinstance(ty, Float)]

    def vec_fields(self):
        return [(name, ty) for name, ty in self.fields if isinstance(ty, Vec)]


@dataclasses.dataclass(frozen=True)
class Method:
    """A method of a generated class: whether it takes a float `t`, returns a float, changes the object."""

    name: str
    takes_value: bool
    returns: bool
    mutates: bool


@dataclasses.dataclass(frozen=True)
class Param:
    """A helper function's parameter: its name, type, default (source text or None), keyword-only flag."""

    name: str
    ty: object
    default: str = None
    kwonly: bool = False


@dataclasses.dataclass
class Helper:
    """A generated module-level function."""

    name: str
    params: list
    ret: object


# ---------------------------------------------------------------- names and constants

RESERVED = {"np", "math", "dataclass", "f", "self", "sum", "min", "max", "abs", "len", "range", "float", "int",
            "list", "dict", "tuple", "map", "zip", "enumerate", "sorted", "str", "round", "pow", "fn", "seq",
            "apply_twice", "compose_sum", "map_sum", "depth"}

PARAM_NAMES = {
    "float": ["x", "y", "z", "a", "b", "c"], "vec": ["v", "w", "u"], "mat": ["m", "W", "mat"],
    "list": ["xs", "vals", "coeffs"], "dict": ["d", "weights", "opts"], "pair": ["pair", "tp"],
    "dataclass": ["p", "cfg"], "object": ["obj", "st"], "int": ["n", "count"],
}
LOCAL_NAMES = {
    Float: ["s", "t", "acc", "total", "r", "q", "val", "res", "lo", "hi", "alpha", "beta", "tmp", "mid", "e1", "e2"],
    Vec: ["y", "zz", "out", "buf", "vec", "hv", "row", "col", "diff", "gv", "vv", "sv"],
    Mat: ["M", "P", "G", "grid", "mm", "blk"],
    FList: ["items", "parts", "lst", "seq2", "terms", "ws"],
    FTuple: ["firsts", "seconds", "tup", "tt"],
    VList: ["rows", "arrs", "stack"],
    FDict: ["table", "dd", "stats", "cfg2"],
    Obj: ["ob", "pt", "layer", "node"],
    Fn: ["g", "sq", "mix", "warp", "kernel", "h"],
    Int: ["k", "cnt", "steps", "idx", "kk"],
}
LOOP_NAMES = ["i", "j", "ii", "jj", "step"]
ELEMENT_NAMES = ["t", "e", "el", "item", "xi", "ti"]
HELPER_NAMES = ["scale", "combine", "smooth", "affine", "squash", "blend", "energy", "shifted", "norm2", "poly",
                "mixed", "relax"]
PAIR_HELPER_NAMES = ["split", "pair_of", "both", "polar"]
RECURSIVE_NAMES = ["descend", "rec", "fold", "unroll"]
CLASS_NAMES = ["Point", "Params", "Acc", "State", "Layer", "Cell", "Box"]
FLOAT_FIELDS = ["a", "b", "scale", "shift", "rate", "gain"]
VEC_FIELDS = ["w", "coef", "offset"]
DICT_KEYS = ["a", "b", "c", "w", "bias"]

CONSTANTS = (0.5, 1.5, 2.0, 0.3, 0.7, 1.2, 0.25, 3.0, 0.9, 1.1, 0.1, 0.8)
THRESHOLDS = (0.0, 0.5, 0.8, 1.0, 1.2, 1.5, 2.0, -0.5)
MAT_SHAPES = ((2, 3), (3, 2), (2, 2), (3, 3), (2, 4))
MAX_DEPTH = 2
MAX_HELPERS = 4


def number(value):
    """Source text of a float constant (always with a decimal point)."""
    return repr(float(round(value, 2)))


@dataclasses.dataclass(frozen=True)
class Weighted:
    """A registered construct or form: how often it is tried, the function, whether it nests blocks."""

    weight: float
    function: object
    compound: bool = False


def weighted_order(rng, options):
    """`options` (with `.weight`) in a random order where heavier ones tend to come first."""
    return sorted(options, key=lambda o: -rng.random() ** (1.0 / o.weight))


# ---------------------------------------------------------------- reading variables


def float_reads(b, name, ty):
    """Float-valued expressions that read variable `name` of type `ty`."""
    rng = b.rng
    if isinstance(ty, Float):
        return [name]
    if isinstance(ty, Int):
        return [f"({name} * 0.5)", f"float({name})", f"(({name} + 1) * 0.25)"]
    if isinstance(ty, Str):
        return [f"(len({name}) * 0.1)"]
    if isinstance(ty, Vec):
        i = rng.randrange(ty.n)
        return [f"{name}[{i}]", f"{name}[-1]", f"np.sum({name})", f"{name}.sum()", f"np.mean({name})", f"np.max({name})",
                f"{name}.min()", f"np.linalg.norm({name})", f"np.dot({name}, {name})", f"{name}[{i}]"]
    if isinstance(ty, Mat):
        i, j = rng.randrange(ty.r), rng.randrange(ty.c)
        return [f"{name}[{i}, {j}]", f"{name}[{i}][{j}]", f"np.sum({name})", f"{name}.mean()", f"np.max({name})",
                f"{name}[-1, -1]", f"{name}[{i}, {j}]"]
    if isinstance(ty, (FList, FTuple)):
        if not ty.n:
            return [f"sum({name})"]
        i = rng.randrange(ty.n)
        return [f"{name}[{i}]", f"{name}[-1]", f"sum({name})", f"max({name})", f"min({name})", f"{name}[{i}]"]
    if isinstance(ty, VList):
        return [f"np.sum({name}[{rng.randrange(ty.n)}])", f"{name}[{rng.randrange(ty.n)}][{rng.randrange(ty.k)}]",
                f"{name}[-1][0]"]
    if isinstance(ty, FDict):
        return [f"{name}[{k!r}]" for k in ty.keys] + [f"sum({name}.values())"]
    if isinstance(ty, Pair):
        return [f"{name}[0]", f"np.sum({name}[1])", f"{name}[1][{rng.randrange(ty.k)}]"]
    if isinstance(ty, Obj):
        return object_reads(b, name, ty.spec)
    if isinstance(ty, Fn):
        return [f"{name}({', '.join(b.float_atom() for _ in range(ty.arity))})"]
    return []


def object_reads(b, name, spec):
    reads = [f"{name}.{field}" for field in spec.float_fields()]
    reads += [f"np.sum({name}.{field})" for field, _ in spec.vec_fields()]
    reads += [f"{name}.{field}[{b.rng.randrange(ty.n)}]" for field, ty in spec.vec_fields()]
    if spec.items:
        reads.append(f"sum({name}.items)")
    for method in spec.methods:
        if method.returns and not method.mutates:
            reads.append(f"{name}.{method.name}({b.float_leaf() if method.takes_value else ''})")
    return reads


def vec_reads(name, ty, n, rng):
    """Expressions of length-`n` vectors read from variable `name` of type `ty`."""
    if isinstance(ty, Vec):
        if ty.n == n:
            return [name]
        if ty.n > n:
            return [f"{name}[:{n}]", f"{name}[{ty.n - n}:]", f"{name}[-{n}:]"]
    if isinstance(ty, Mat):
        reads = []
        if ty.c == n:
            i = rng.randrange(ty.r)
            reads += [f"{name}[{i}]", f"{name}[{i}, :]", f"{name}.sum(axis=0)", f"np.mean({name}, axis=0)",
                      f"{name}.max(axis=0)"]
        if ty.r == n:
            reads += [f"{name}[:, {rng.randrange(ty.c)}]", f"{name}.sum(axis=1)", f"np.min({name}, axis=1)"]
        if ty.r * ty.c == n:
            reads += [f"{name}.ravel()", f"{name}.reshape({n})", f"{name}.flatten()"]
        return reads
    if isinstance(ty, (FList, FTuple)) and ty.n == n:
        return [f"np.array({name})"]
    if isinstance(ty, VList) and ty.k == n:
        return [f"{name}[{rng.randrange(ty.n)}]", f"sum({name})"]
    if isinstance(ty, Pair) and ty.k == n:
        return [f"{name}[1]"]
    if isinstance(ty, Obj):
        return [f"{name}.{field}" for field, field_ty in ty.spec.vec_fields() if field_ty.n == n]
    return []


def mat_reads(name, ty, r, c):
    """Expressions of (r, c) matrices read from variable `name` of type `ty`."""
    if isinstance(ty, Mat):
        reads = []
        if (ty.r, ty.c) == (r, c):
            reads.append(name)
        if (ty.r, ty.c) == (c, r):
            reads += [f"{name}.T", f"np.transpose({name})"]
        if ty.c == c and ty.r > r:
            reads += [f"{name}[:{r}]", f"{name}[{ty.r - r}:]"]
        if ty.r == r and ty.c > c:
            reads.append(f"{name}[:, :{c}]")
        return reads
    if isinstance(ty, Vec) and ty.n == r * c:
        return [f"{name}.reshape({r}, {c})", f"np.reshape({name}, ({r}, {c}))"]
    if isinstance(ty, VList) and (ty.n, ty.k) == (r, c):
        return [f"np.stack({name})", f"np.array({name})"]
    return []


def float_iterables(b):
    """`(source, length or None)` of things a loop or comprehension can iterate over to get floats."""
    found = []
    for name, ty in b.visible().items():
        if isinstance(ty, Vec):
            found += [(name, ty.n), (f"{name}[1:]", ty.n - 1)]
        elif isinstance(ty, (FList, FTuple)):
            found.append((name, ty.n))
        elif isinstance(ty, FDict):
            found.append((f"{name}.values()", len(ty.keys)))
        elif isinstance(ty, Mat):
            found.append((f"{name}[{b.rng.randrange(ty.r)}]", ty.c))
    return found


# ---------------------------------------------------------------- expression forms

FORMS = {"float": [], "vec": [], "mat": []}


def form(kind, weight):
    """Register a function `(body, depth, *shape) -> source or None` writing an expression of `kind`."""
    def register(function):
        FORMS[kind].append(Weighted(weight, function))
        return function
    return register


FLOAT_FUNCTIONS = ("math.sin({})", "math.cos({})", "np.sin({})", "np.cos({})", "math.tanh({})", "np.tanh({})",
                   "math.exp(math.sin({}))", "np.exp(-({}) ** 2)", "math.exp(0.5 * math.tanh({}))",
                   "math.log(1.0 + ({}) ** 2)", "np.log(1.5 + np.sin({}))", "math.sqrt(1.0 + ({}) ** 2)",
                   "np.sqrt(({}) ** 2 + 0.25)", "abs({})", "({}) ** 2", "({}) ** 3", "-({})")
ARRAY_FUNCTIONS = ("np.sin({})", "np.cos({})", "np.tanh({})", "np.exp(np.tanh({}))", "np.log(1.0 + ({}) ** 2)",
                   "np.sqrt(({}) ** 2 + 0.5)", "np.abs({})", "({}) ** 2", "-({})", "np.exp(-({}) ** 2)")
SAFE_DIVISIONS = ("({a}) / (1.0 + ({b}) ** 2)", "({a}) / (2.0 + np.cos({b}))", "({a}) / 1.7")
VEC_REDUCTIONS = ("np.sum({a})", "np.mean({a})", "np.max({a})", "np.min({a})", "({a}).sum()", "({a}).mean()",
                  "({a}).max()", "np.prod({a})", "np.linalg.norm({a})", "np.dot({a}, {b})", "({a}) @ ({b})",
                  "np.sum(({a}) * ({b}))", "({a})[0]", "({a})[-1]")
MAT_REDUCTIONS = ("np.sum({m})", "({m}).mean()", "np.max({m})", "np.linalg.norm({m})", "({m}).sum()",
                  "np.min({m})", "np.sum(({m}) @ ({v}))")


@form("float", 5)
def _float_arithmetic(b, depth):
    return f"({b.float_expr(depth)}) {b.rng.choice('+-*')} ({b.float_expr(depth)})"


@form("float", 1)
def _float_division(b, depth):
    return b.fill(b.rng.choice(SAFE_DIVISIONS), a=lambda: b.float_expr(depth), b=lambda: b.float_expr(depth))


@form("float", 3)
def _float_function(b, depth):
    return b.rng.choice(FLOAT_FUNCTIONS).format(b.float_expr(depth))


@form("float", 1)
def _float_min_max(b, depth):
    arguments = ", ".join(b.float_expr(depth) for _ in range(b.rng.choice((2, 2, 3))))
    return f"{b.rng.choice(('min', 'max'))}({arguments})"


@form("float", 4)
def _float_vector_reduction(b, depth):
    n = b.some_length()
    return b.fill(b.rng.choice(VEC_REDUCTIONS), a=lambda: b.vec_expr(n, depth), b=lambda: b.vec_expr(n, depth))


@form("float", 2)
def _float_matrix_reduction(b, depth):
    r, c = b.some_shape()
    return b.fill(b.rng.choice(MAT_REDUCTIONS), m=lambda: b.mat_expr(r, c, depth), v=lambda: b.vec_expr(c, depth))


@form("float", 1)
def _float_conditional(b, depth):
    return f"(({b.float_expr(depth)}) if {b.condition()} else ({b.float_expr(depth)}))"


@form("float", 1.5)
def _float_closure_call(b, depth):
    closures = b.variables(Fn)
    if not closures:
        return None
    name, ty = b.rng.choice(closures)
    return f"{name}({', '.join(b.float_expr(depth) for _ in range(ty.arity))})"


@form("float", 1.5)
def _float_helper_call(b, depth):
    helper = b.module.helper(FLOAT)
    return helper and b.call(helper)


@form("float", 1)
def _float_sum_of_sequence(b, depth):
    iterables = float_iterables(b)
    if not iterables:
        return None
    source, n = b.rng.choice(iterables)
    choices = [f"sum({source})"]
    with b.bound(FLOAT) as t:
        choices.append(f"sum({b.float_expr(1, uses=t)} for {t} in {source})")
    closures = [name for name, ty in b.variables(Fn) if ty.arity == 1]
    if closures:
        choices.append(f"sum(map({b.rng.choice(closures)}, {source}))")
    if n:
        choices.append(f"{b.rng.choice(('max', 'min'))}({source})")
    return b.rng.choice(choices)


VEC_OPERATORS = "+-*"


@form("vec", 4)
def _vec_arithmetic(b, depth, n):
    left = b.vec_expr(n, depth)
    right = b.vec_expr(n, depth) if b.rng.random() < 0.6 else b.float_expr(depth)
    if b.rng.random() < 0.3:
        left, right = right, left
    return f"({left}) {b.rng.choice(VEC_OPERATORS)} ({right})"


@form("vec", 1)
def _vec_division(b, depth, n):
    divisor = (lambda: b.vec_expr(n, depth)) if b.rng.random() < 0.5 else (lambda: b.float_expr(depth))
    return b.fill(b.rng.choice(SAFE_DIVISIONS), a=lambda: b.vec_expr(n, depth), b=divisor)


@form("vec", 3)
def _vec_function(b, depth, n):
    return b.rng.choice(ARRAY_FUNCTIONS).format(b.vec_expr(n, depth))


@form("vec", 2)
def _vec_elementwise_choice(b, depth, n):
    kind = b.rng.randrange(4)
    if kind == 0:
        other = b.vec_expr(n, depth) if b.rng.random() < 0.5 else b.float_expr(depth)
        return f"np.{b.rng.choice(('maximum', 'minimum'))}({b.vec_expr(n, depth)}, {other})"
    if kind == 1:
        atom = b.vec_atom(n)
        return f"np.where({atom} > {number(b.rng.choice(THRESHOLDS))}, {atom}, {b.vec_expr(n, depth)})"
    if kind == 2:
        left, right = b.vec_atom(n), b.vec_atom(n)
        return f"np.where({left} > {right}, {left} * {right}, {left} - {right})"
    return f"np.clip({b.vec_expr(n, depth)}, 0.2, 1.2)"


@form("vec", 2)
def _vec_matrix_product(b, depth, n):
    k = b.some_length()
    kind = b.rng.randrange(3)
    if kind == 0:
        return f"({b.mat_expr(n, k, depth)}) @ ({b.vec_expr(k, depth)})"
    if kind == 1:
        return f"np.dot({b.mat_expr(n, k, depth)}, {b.vec_expr(k, depth)})"
    return f"({b.vec_expr(k, depth)}) @ ({b.mat_expr(k, n, depth)})"


@form("vec", 1)
def _vec_concatenate(b, depth, n):
    if n < 2:
        return None
    first = b.rng.randint(1, n - 1)
    return f"np.concatenate([{b.vec_expr(first, depth)}, {b.vec_expr(n - first, depth)}])"


@form("vec", 1)
def _vec_from_floats(b, depth, n):
    return "np.array([" + ", ".join(b.float_atom() for _ in range(n)) + "])"


@form("vec", 1.5)
def _vec_matrix_reduction(b, depth, n):
    k = b.some_length()
    if b.rng.random() < 0.5:
        template = b.rng.choice(("({}).sum(axis=0)", "np.mean({}, axis=0)", "({}).max(axis=0)"))
        return template.format(b.mat_expr(k, n, depth))
    template = b.rng.choice(("np.sum({}, axis=1)", "({}).min(axis=1)", "np.mean({}, axis=1)"))
    return template.format(b.mat_expr(n, k, depth))


@form("vec", 0.5)
def _vec_reversed(b, depth, n):
    return f"({b.vec_expr(n, depth)})[::-1]"


@form("vec", 0.7)
def _vec_conditional(b, depth, n):
    return f"(({b.vec_expr(n, depth)}) if {b.condition()} else ({b.vec_expr(n, depth)}))"


@form("mat", 3)
def _mat_arithmetic(b, depth, r, c):
    kind = b.rng.randrange(4)
    other = (b.mat_expr(r, c, depth), b.vec_expr(c, depth), b.float_expr(depth), f"({b.vec_atom(r)})[:, None]")[kind]
    left, right = (other, b.mat_expr(r, c, depth)) if b.rng.random() < 0.3 else (b.mat_expr(r, c, depth), other)
    return f"({left}) {b.rng.choice(VEC_OPERATORS)} ({right})"


@form("mat", 2)
def _mat_function(b, depth, r, c):
    return b.rng.choice(ARRAY_FUNCTIONS).format(b.mat_expr(r, c, depth))


@form("mat", 2)
def _mat_outer(b, depth, r, c):
    return f"np.outer({b.vec_expr(r, depth)}, {b.vec_expr(c, depth)})"


@form("mat", 1.5)
def _mat_transpose(b, depth, r, c):
    template = b.rng.choice(("({}).T", "np.transpose({})"))
    return template.format(b.mat_expr(c, r, depth))


@form("mat", 1.5)
def _mat_product(b, depth, r, c):
    k = b.some_length()
    template = b.rng.choice(("({}) @ ({})", "np.matmul({}, {})", "np.dot({}, {})"))
    return template.format(b.mat_expr(r, k, depth), b.mat_expr(k, c, depth))


@form("mat", 1)
def _mat_stack(b, depth, r, c):
    if r in (2, 3):
        return "np.stack([" + ", ".join(b.vec_expr(c, depth) for _ in range(r)) + "])"
    if c in (2, 3):
        return "np.stack([" + ", ".join(b.vec_expr(r, depth) for _ in range(c)) + "], axis=1)"
    return None


@form("mat", 1)
def _mat_reshape(b, depth, r, c):
    return f"({b.vec_expr(r * c, depth)}).reshape({r}, {c})"


@form("mat", 0.7)
def _mat_concatenate(b, depth, r, c):
    if r < 2:
        return None
    first = b.rng.randint(1, r - 1)
    return f"np.concatenate([{b.mat_expr(first, c, depth)}, {b.mat_expr(r - first, c, depth)}])"


@form("mat", 1)
def _mat_elementwise_choice(b, depth, r, c):
    atom = b.mat_atom(r, c)
    return b.rng.choice((f"np.maximum({b.mat_expr(r, c, depth)}, {number(b.rng.choice(CONSTANTS))})",
                         f"np.where({atom} > {number(b.rng.choice(THRESHOLDS))}, {atom}, {b.mat_expr(r, c, depth)})",
                         f"np.clip({b.mat_expr(r, c, depth)}, -0.5, 1.0)"))


# ---------------------------------------------------------------- statement constructs

CONSTRUCTS = []


def construct(weight, compound=False):
    """Register a function `(body) -> None` writing one idiom; `compound` ones nest blocks."""
    def register(function):
        CONSTRUCTS.append(Weighted(weight, function, compound))
        return function
    return register


def new_type(b):
    """A type for a new local variable."""
    kind = b.rng.choices(("float", "vec", "mat", "list", "dict", "vlist"), (6, 4, 1.5, 1.2, 0.6, 0.4))[0]
    if kind == "float":
        return FLOAT
    if kind == "vec":
        return Vec(b.some_length())
    if kind == "mat":
        return Mat(*b.some_shape())
    if kind == "list":
        return FList(b.some_length())
    if kind == "dict":
        return FDict(tuple(sorted(b.rng.sample(DICT_KEYS, b.rng.choice((2, 3))), key=DICT_KEYS.index)))
    return VList(b.rng.choice((2, 3)), b.some_length())


def assign(b, ty, value):
    """Write `name = value` for a new variable of type `ty`; returns the name."""
    name = b.fresh(ty)
    b.emit(f"{name} = {value}")
    b.define(name, ty)
    return name


@construct(5)
def assign_new(b):
    ty = new_type(b)
    assign(b, ty, b.expr(ty))


OVERWRITES = {
    Float: ("{x} * {e} + {e2}", "0.5 * {x} + math.tanh({e})", "math.sin({x}) + {e}", "{x} + {e}",
            "{x} * math.cos({e})", "{x} - 0.3 * {e}"),
    Vec: ("np.tanh({x}) * {e} + {v}", "{x} * {e} + {v}", "0.5 * {x} + np.sin({v})", "{x} + {v}", "{x}[::-1] * {e}"),
    Mat: ("{x} * {e} + {m}", "np.tanh({x}) + {m}", "0.5 * ({x} + {m})"),
}


@construct(5)
def overwrite(b):
    """`x = <expression of x>`: a variable (often a parameter) rebound many times."""
    variable = b.own_variable(Float, Vec, Mat)
    if not variable:
        return
    name, ty = variable
    template = b.rng.choice(OVERWRITES[type(ty)])
    value = b.fill(template, x=lambda: name, e=lambda: b.float_expr(1), e2=lambda: b.float_expr(1),
                   v=lambda: b.vec_expr(ty.n, 1), m=lambda: b.mat_expr(ty.r, ty.c, 1))
    b.emit(f"{name} = {value}")
    b.touch(name)


@construct(4)
def augmented(b):
    """`s += t`, `v *= 2.0`, `lst[0] *= 3.0`, `d['a'] += x`, `obj.a -= x`, ... on floats, arrays and containers."""
    variable = b.own_variable(Float, Vec, Mat, FList, FDict, Obj)
    if not variable:
        return
    name, ty = variable
    target, operand = name, b.float_expr(1)
    op = b.rng.choice(("+=", "-=", "*=", "/="))
    if isinstance(ty, Vec) and b.rng.random() < 0.6:
        operand = b.vec_expr(ty.n, 1)
    elif isinstance(ty, Mat) and b.rng.random() < 0.6:
        operand = b.mat_expr(ty.r, ty.c, 1) if b.rng.random() < 0.5 else b.vec_expr(ty.c, 1)
    elif isinstance(ty, FList):
        if not ty.n:
            return
        target = f"{name}[{b.rng.choice((0, -1, b.rng.randrange(ty.n)))}]"
    elif isinstance(ty, FDict):
        target = f"{name}[{b.rng.choice(ty.keys)!r}]"
    elif isinstance(ty, Obj):
        fields = ty.spec.float_fields()
        if not fields:
            return
        target = f"{name}.{b.rng.choice(fields)}"
    if op == "*=":
        operand = f"(1.0 + 0.2 * np.tanh({operand}))"
    elif op == "/=":
        operand = f"(1.0 + ({operand}) ** 2)"
    b.emit(f"{target} {op} {operand}")
    b.touch(name)


@construct(2)
def tuple_assignment(b):
    """`a, b = b, a + b` on two variables of one type, or `p, q = e1, e2` for new ones."""
    for kind in b.rng.sample((Float, Vec), 2):
        names = [name for name, ty in b.own_variables(kind)]
        same = [(x, y) for x in names for y in names if x < y and b.lookup(x) == b.lookup(y)]
        if same:
            x, y = b.rng.choice(same)
            template = b.rng.choice(("{a}, {b} = {b}, {a} + 0.5 * {b}", "{a}, {b} = {b} * {e}, {a}", "{a}, {b} = {b}, {a}"))
            b.emit(b.fill(template, a=lambda: x, b=lambda: y, e=lambda: b.float_expr(1)))
            b.touch(x)
            b.touch(y)
            return
    values = b.float_expr(), b.float_expr()
    first = b.fresh(FLOAT)
    second = b.fresh(FLOAT, avoid=(first,))
    b.emit(f"{first}, {second} = {values[0]}, {values[1]}")
    b.define(first, FLOAT)
    b.define(second, FLOAT)


@construct(1.5)
def unpack_sequence(b):
    """`p, q = map(float, v[:2])`, `a, b = zip(*[(t, t * s) for t in xs])`, `first, *rest = xs`, `c, vec = pair`."""
    pairs = b.variables(Pair)
    kind = b.rng.randrange(4)
    if kind == 0 and pairs:
        name, ty = b.rng.choice(pairs)
        first, second = b.fresh(FLOAT), b.fresh(Vec(ty.k))
        b.emit(f"{first}, {second} = {name}")
        b.define(first, FLOAT)
        b.define(second, Vec(ty.k))
        return
    known = [(source, n) for source, n in float_iterables(b) if n and n >= 2 and not source.endswith(".values()")]
    if not known:
        return
    source, n = b.rng.choice(known)
    if kind == 1:
        names = [b.fresh(FLOAT)]
        names.append(b.fresh(FLOAT, avoid=names))
        b.emit(f"{names[0]}, {names[1]} = map(float, {source}[:2])")
        for name in names:
            b.define(name, FLOAT)
    elif kind == 2:
        with b.bound(FLOAT) as t:
            second = b.float_expr(1, uses=t)
        names = [b.fresh(FTuple(n))]
        names.append(b.fresh(FTuple(n), avoid=names))
        b.emit(f"{names[0]}, {names[1]} = zip(*[({t}, {second}) for {t} in {source}])")
        for name in names:
            b.define(name, FTuple(n))
    else:
        first, rest = b.fresh(FLOAT), b.fresh(FList(n - 1))
        b.emit(f"{first}, *{rest} = {source}")
        b.define(first, FLOAT)
        b.define(rest, FList(n - 1))


@construct(4, compound=True)
def if_statement(b):
    """`if` / `elif` / `else` on data-dependent conditions, with branches that mostly update existing variables."""
    with b.block(f"if {b.condition()}:"):
        b.statements(b.rng.randint(1, 3))
    if b.rng.random() < 0.3:
        with b.block(f"elif {b.condition()}:"):
            b.statements(b.rng.randint(1, 2))
    if b.rng.random() < 0.6:
        with b.block("else:"):
            b.statements(b.rng.randint(1, 2))


@construct(3, compound=True)
def if_defines(b):
    """A new variable assigned in every branch of an `if`/`elif`/`else`, used afterwards."""
    ty = FLOAT if b.rng.random() < 0.7 else Vec(b.some_length())
    name = b.fresh(ty)
    headers = [f"if {b.condition()}:"] + [f"elif {b.condition()}:"] * b.rng.choice((0, 0, 1)) + ["else:"]
    for header in headers:
        with b.block(header):
            b.statements(b.rng.randint(0, 2))
            b.emit(f"{name} = {b.expr(ty)}")
    b.define(name, ty)


@construct(1.5)
def conditional_assignment(b):
    ty = FLOAT if b.rng.random() < 0.7 else Vec(b.some_length())
    assign(b, ty, f"{b.expr(ty, 1)} if {b.condition()} else {b.expr(ty, 1)}")


@construct(1.5, compound=True)
def early_return(b):
    """`if <condition>: return ...` in the middle of a function, a branch or a loop."""
    with b.block(f"if {b.condition()}:"):
        b.statements(b.rng.randint(0, 1))
        b.emit(b.return_statement())


@construct(2)
def break_or_continue(b):
    if not b.loops:
        return
    with b.block(f"if {b.condition()}:"):
        b.emit(b.rng.choice(("break", "continue")))


def loop_header(b):
    """A `for` header over something in scope, and the loop variables it binds."""
    kind = b.rng.randrange(8)
    k = b.rng.randint(2, 5)
    ints = [(name, ty) for name, ty in b.variables(Int) if ty.lo is not None and ty.lo == ty.hi]
    if kind == 0 and ints:
        name, ty = b.rng.choice(ints)
        i = b.fresh_loop_name()
        return f"for {i} in range({name}):", {i: Int(0, ty.hi - 1)}
    iterables = float_iterables(b)
    if kind in (1, 2) and iterables:
        source, n = b.rng.choice(iterables)
        t = b.fresh_element_name()
        if kind == 2 and n:
            i = b.fresh_loop_name()
            return f"for {i}, {t} in enumerate({source}):", {i: Int(0, n - 1), t: FLOAT}
        return f"for {t} in {source}:", {t: FLOAT}
    mats = b.variables(Mat)
    if kind == 3 and mats:
        name, ty = b.rng.choice(mats)
        row = b.fresh(Vec(ty.c))
        return f"for {row} in {name}:", {row: Vec(ty.c)}
    known = [(source, n) for source, n in iterables if n]
    if kind == 4 and len(known) >= 2:
        (first, _), (second, _) = b.rng.sample(known, 2)
        t = b.fresh_element_name()
        q = b.fresh_element_name(avoid=(t,))
        return f"for {t}, {q} in zip({first}, {second}):", {t: FLOAT, q: FLOAT}
    dicts = b.variables(FDict)
    if kind == 5 and dicts:
        name, ty = b.rng.choice(dicts)
        key, value = b.fresh_element_name(), b.fresh(FLOAT)
        return f"for {key}, {value} in {name}.items():", {key: Str(), value: FLOAT}
    vlists = b.variables(VList)
    if kind == 6 and vlists:
        name, ty = b.rng.choice(vlists)
        array = b.fresh(Vec(ty.k))
        return f"for {array} in {name}:", {array: Vec(ty.k)}
    i = b.fresh_loop_name()
    return f"for {i} in range({k}):", {i: Int(0, k - 1)}


def carried_update(b, name):
    """An update of float `name` from the loop's values (an accumulator, a product, a contraction)."""
    template = b.rng.choice(("{s} + {e}", "{s} * (1.0 + 0.1 * {e})", "0.5 * {s} + math.tanh({e})",
                             "{s} + {e} * {s} * 0.2", "{s} - 0.3 * {e}"))
    return f"{name} = " + b.fill(template, s=lambda: name, e=lambda: b.float_expr(2))


@construct(5, compound=True)
def accumulate_loop(b):
    """A loop carrying a value across iterations: `acc = 0.0; for ...: acc = acc + ...`."""
    existing = b.own_variables(Float)
    if existing and b.rng.random() < 0.4:
        name = b.rng.choice(existing)[0]
    else:
        name = assign(b, FLOAT, b.rng.choice(("0.0", "1.0", b.float_atom())))
    header, bind = loop_header(b)
    with b.block(header, bind, loop=True):
        b.statements(b.rng.randint(0, 2))
        b.emit(carried_update(b, name))
        b.touch(name)
        if b.rng.random() < 0.3:
            b.statements(1)


@construct(2, compound=True)
def recurrence_loop(b):
    """`term = term * x / (i + 1); total = total + term`: two values carried through the loop."""
    term = assign(b, FLOAT, "1.0")
    total = assign(b, FLOAT, "0.0")
    x = b.float_atom()
    i = b.fresh_loop_name()
    with b.block(f"for {i} in range({b.rng.randint(2, 6)}):", {i: Int(0, 5)}, loop=True):
        b.emit(f"{term} = {term} * {x} / ({i} + 1)")
        b.emit(f"{total} = {total} + {term}")


@construct(1.5, compound=True)
def pair_recurrence(b):
    """`a, b = b, a + b * c` repeated: a Fibonacci-like pair of carried values."""
    first = assign(b, FLOAT, b.float_atom())
    second = assign(b, FLOAT, b.float_atom())
    with b.block(f"for _ in range({b.rng.randint(2, 5)}):", loop=True):
        b.emit(f"{first}, {second} = {second}, {first} * 0.5 + {second} * {b.float_atom()} * 0.5")


@construct(2.5, compound=True)
def flipping_branch_loop(b):
    """`for i in range(k): if s > i * 0.4: ... else: ...`: a branch that changes direction across iterations."""
    floats = b.own_variables(Float)
    name = b.rng.choice(floats)[0] if floats else assign(b, FLOAT, b.float_expr(1))
    i = b.fresh_loop_name()
    k = b.rng.randint(2, 5)
    with b.block(f"for {i} in range({k}):", {i: Int(0, k - 1)}, loop=True):
        with b.block(f"if {name} > {i} * {number(b.rng.choice((0.2, 0.4, 0.5, 0.7)))}:"):
            b.emit(f"{name} = {name} * {b.rng.choice(('0.8', '0.6', '0.9'))} + 0.1 * {b.float_expr(1)}")
        with b.block("else:"):
            b.emit(f"{name} = {name} + {b.rng.choice(('0.3', '0.5'))} * {b.float_expr(1)}")
            if b.rng.random() < 0.3:
                b.statements(1)


@construct(1.5, compound=True)
def nested_loops(b):
    """Two nested loops over a matrix's indices (or two ranges), accumulating into a float."""
    total = assign(b, FLOAT, "0.0")
    mats = b.variables(Mat)
    if mats:
        name, ty = b.rng.choice(mats)
        rows, cols, element = ty.r, ty.c, f"{name}[{{i}}, {{j}}]"
    else:
        rows, cols, element = b.rng.randint(2, 3), b.rng.randint(2, 3), None
    i = b.fresh_loop_name()
    with b.block(f"for {i} in range({rows}):", {i: Int(0, rows - 1)}, loop=True):
        j = b.fresh_loop_name()
        stop = f"{i} + 1" if rows <= cols and b.rng.random() < 0.4 else str(cols)
        with b.block(f"for {j} in range({stop}):", {j: Int(0, cols - 1)}, loop=True):
            term = element.format(i=i, j=j) if element else b.float_expr(1)
            b.emit(f"{total} = {total} + {term} * {b.float_expr(1)}")
            if b.rng.random() < 0.3:
                b.statements(1)


@construct(2, compound=True)
def while_counter(b):
    """`k = 0; while k < K: k += 1; ...`, sometimes with a data-dependent condition or `while True: ... break`."""
    counter = assign(b, Int(None, None), "0")
    bound = b.rng.randint(2, 6)
    floats = b.own_variables(Float)
    carried = b.rng.choice(floats)[0] if floats else assign(b, FLOAT, b.float_atom())
    kind = b.rng.randrange(3)
    threshold = number(b.rng.choice((1.5, 2.0, 2.5, 3.0, 4.0)))
    header = (f"while {counter} < {bound}:", f"while {carried} < {threshold} and {counter} < {bound}:", "while True:")[kind]
    with b.block(header, loop=True):
        b.emit(f"{counter} += 1")
        if kind == 2:
            with b.block(f"if {counter} > {bound} or {carried} > {threshold}:"):
                b.emit("break")
        b.emit(f"{carried} = {carried} * {b.rng.choice(('1.2', '1.1', '0.9'))} + 0.2 * {b.float_expr(1)}")
        b.statements(b.rng.randint(0, 2))
    b.touch(carried)


@construct(2, compound=True)
def loop_with_exit(b):
    """A loop with `break`/`continue`/`return` on a condition of the carried value, maybe with `else:`."""
    total = assign(b, FLOAT, b.rng.choice(("0.0", b.float_atom())))
    header, bind = loop_header(b)
    with b.block(header, bind, loop=True):
        b.emit(carried_update(b, total))
        exit_kind = b.rng.choice(("break", "continue", "return"))
        with b.block(f"if {b.rng.choice((f'{total} > {number(b.rng.choice((1.0, 1.5, 2.0, 3.0)))}', b.condition()))}:"):
            b.emit(b.return_statement() if exit_kind == "return" else exit_kind)
        if b.rng.random() < 0.5:
            b.statements(1)
    if b.rng.random() < 0.25:
        with b.block("else:"):
            b.emit(f"{total} = {total} * {b.float_atom()}")


@construct(3)
def call_helper(b):
    helper = b.module.helper(FLOAT)
    if helper:
        assign(b, FLOAT, b.call(helper))


@construct(1.5)
def call_pair_helper(b):
    """`a, b = helper(...)`: a module-level helper returning a tuple."""
    ret = FTuple(2) if b.rng.random() < 0.6 else Pair(b.some_length())
    helper = b.module.helper(ret)
    if not helper:
        return
    second_ty = FLOAT if isinstance(ret, FTuple) else Vec(ret.k)
    first = b.fresh(FLOAT)
    second = b.fresh(second_ty, avoid=(first,))
    b.emit(f"{first}, {second} = {b.call(helper)}")
    b.define(first, FLOAT)
    b.define(second, second_ty)


@construct(1.5)
def call_recursive(b):
    helper = b.module.recursive_helper()
    if not helper:
        return
    ints = [name for name, ty in b.variables(Int) if ty.lo is not None and ty.hi <= 4]
    depth = b.rng.choice(ints) if ints and b.rng.random() < 0.4 else str(b.rng.randint(1, 4))
    assign(b, FLOAT, f"{helper.name}({b.expr(helper.params[0].ty, 1)}, {depth})")


def closure_body(b, arity):
    """`(parameters, expression)` for a lambda reading its parameters and the enclosing variables."""
    params = []
    with contextlib.ExitStack() as stack:
        for _ in range(arity):
            params.append(stack.enter_context(b.bound(FLOAT)))
        value = b.float_expr(2, uses=params[0])
    return ", ".join(params), value


def call_closure(b, name, arity):
    """Assign the result of calling closure `name` once, or accumulate it over a few calls."""
    if b.rng.random() < 0.6:
        assign(b, FLOAT, f"{name}({', '.join(b.float_expr(1) for _ in range(arity))})")
        return
    calls = " + ".join(f"{name}({', '.join(b.float_expr(1) for _ in range(arity))})" for _ in range(b.rng.randint(2, 3)))
    assign(b, FLOAT, calls)


@construct(2.5)
def lambda_closure(b):
    """`g = lambda t: ...` reading enclosing variables, then called once or several times."""
    arity = b.rng.choice((1, 1, 2))
    params, value = closure_body(b, arity)
    name = assign(b, Fn(arity), f"lambda {params}: {value}")
    if b.rng.random() < 0.4:
        b.statements(1)
    call_closure(b, name, arity)


@construct(2, compound=True)
def nested_function(b):
    """A nested `def` with a few statements of its own, reading the enclosing function's variables."""
    if b.nesting >= 1:
        return
    name = b.fresh(Fn(1))
    param = b.fresh_element_name()
    inner = Body(b.module, [(param, FLOAT)], enclosing=b, level=b.level + 1)
    inner.statements(b.rng.randint(0, 3))
    inner.emit(inner.return_statement(uses=param))
    b.emit(f"def {name}({param}):")
    b.lines.extend(inner.lines)
    b.define(name, Fn(1))
    call_closure(b, name, 1)


@construct(2)
def late_binding_closure(b):
    """A closure whose captured variable is reassigned after the closure is made and before it is called."""
    floats = b.own_variables(Float)
    captured = b.rng.choice(floats)[0] if floats and b.rng.random() < 0.5 else assign(b, FLOAT, b.float_expr(1))
    with b.bound(FLOAT) as t:
        extra = b.float_expr(1)
    name = assign(b, Fn(1), f"lambda {t}: {t} * {captured} + {extra}")
    b.emit(f"{captured} = {captured} * {b.float_expr(1)} + 0.1")
    b.touch(captured)
    call_closure(b, name, 1)


@construct(1.5, compound=True)
def closures_in_loop(b):
    """Closures made inside a loop: called in the loop, or collected (binding the index by default) and called after."""
    total = assign(b, FLOAT, "0.0")
    k = b.rng.randint(2, 4)
    i = b.fresh_loop_name()
    with b.bound(FLOAT) as t, b.bound(Int(0, k - 1), name=i):
        value = b.float_expr(2, uses=t)
    if b.rng.random() < 0.5:
        name = b.fresh(Fn(1), avoid=(i, t))
        with b.block(f"for {i} in range({k}):", {i: Int(0, k - 1)}, loop=True):
            b.emit(f"{name} = lambda {t}: {value}")
            b.emit(f"{total} = {total} + {name}({b.float_expr(1)})")
        return
    functions = b.fresh_from(["fns", "funcs", "handlers"], avoid=(i, t))
    b.emit(f"{functions} = []")
    with b.block(f"for {i} in range({k}):", {i: Int(0, k - 1)}, loop=True):
        b.emit(f"{functions}.append(lambda {t}, {i}={i}: {value})")
    g = b.fresh(Fn(1), avoid=(i, t, functions))
    b.emit(f"{total} = {total} + sum({g}({b.float_expr(1)}) for {g} in {functions})")


@construct(1.5)
def map_closure(b):
    """`list(map(g, xs))`, `sum(map(lambda t: ..., v))`, `[g(t) for t in xs]`."""
    iterables = float_iterables(b)
    if not iterables:
        return
    source, n = b.rng.choice(iterables)
    closures = [name for name, ty in b.variables(Fn) if ty.arity == 1]
    if closures and b.rng.random() < 0.6:
        function = b.rng.choice(closures)
    else:
        params, value = closure_body(b, 1)
        function = f"(lambda {params}: {value})"
    kind = b.rng.randrange(3)
    if kind == 0:
        assign(b, FList(n), f"list(map({function}, {source}))")
    elif kind == 1:
        assign(b, FLOAT, f"sum(map({function}, {source}))")
    else:
        t = b.fresh_element_name()
        assign(b, FList(n), f"[{function}({t}) for {t} in {source}]")


@construct(1)
def closure_to_helper(b):
    """A closure passed to a module-level higher-order helper (`apply_twice(g, x)`)."""
    closures = [name for name, ty in b.variables(Fn) if ty.arity == 1]
    if closures:
        function = b.rng.choice(closures)
    else:
        params, value = closure_body(b, 1)
        function = f"lambda {params}: {value}"
    name, takes_sequence = b.module.higher_order_helper()
    iterables = [source for source, n in float_iterables(b)]
    if takes_sequence and not iterables:
        return
    argument = b.rng.choice(iterables) if takes_sequence else b.float_expr(1)
    assign(b, FLOAT, f"{name}({function}, {argument})")


@construct(2, compound=True)
def list_append_loop(b):
    """`parts = []; for i in range(k): parts.append(...)`, then used as a list of floats."""
    k = b.rng.randint(2, 4)
    name = assign(b, FList(0), "[]")
    i = b.fresh_loop_name()
    start = len(b.lines)
    with b.block(f"for {i} in range({k}):", {i: Int(0, k - 1)}, loop=True):
        if b.rng.random() < 0.3:
            b.statements(1)
        b.emit(f"{name}.append({b.float_expr(2)})")
    exits = any(re.search(r"\b(break|continue|return)\b", line) for line in b.lines[start:])
    b.define(name, FList(None if exits else k))


@construct(2)
def list_comprehension(b):
    """`[... for t in xs]`, with a filter sometimes (unknown length), or over a range."""
    iterables = float_iterables(b)
    if iterables and b.rng.random() < 0.7:
        source, n = b.rng.choice(iterables)
        with b.bound(FLOAT) as t:
            value = b.float_expr(2, uses=t)
            condition = f" if {t} > {number(b.rng.choice(THRESHOLDS))}" if b.rng.random() < 0.3 else ""
        assign(b, FList(None if condition else n), f"[{value} for {t} in {source}{condition}]")
        return
    k = b.rng.randint(2, 4)
    with b.bound(Int(0, k - 1)) as i:
        value = b.float_expr(2, uses=i)
    assign(b, FList(k), f"[{value} for {i} in range({k})]")


@construct(1.5)
def sum_of_generator(b):
    """`sum(... for t in xs)` or `sum(v[i] * w[i] for i in range(n))`."""
    iterables = float_iterables(b)
    if not iterables:
        return
    source, n = b.rng.choice(iterables)
    with b.bound(FLOAT) as t:
        value = b.float_expr(2, uses=t)
    assign(b, FLOAT, f"sum({value} for {t} in {source})")


@construct(1)
def list_literal(b):
    n = b.rng.randint(2, 4)
    assign(b, FList(n), "[" + ", ".join(b.float_expr(1) for _ in range(n)) + "]")


@construct(2)
def list_write(b):
    """`lst[i] = v`, `lst[-1] += v`, `lst[0] *= 3.0` on a list in scope (an argument, an alias, a fresh list)."""
    lists = [(name, ty) for name, ty in b.variables(FList) if ty.n]
    if not lists:
        return
    name, ty = b.rng.choice(lists)
    index = b.index_into(ty.n)
    b.emit(b.rng.choice((f"{name}[{index}] = {b.float_expr(2)}", f"{name}[{index}] += {b.float_expr(1)}",
                         f"{name}[{index}] *= {b.rng.choice(('3.0', '0.5', '2.0'))}")))
    b.touch(name)


def in_scope(b, find, make):
    """`find()`, or, if it finds nothing, `find()` after `make(b)` has written a variable for it."""
    return find() or (make(b), find())[1]


@construct(1.5)
def list_append_after_read(b):
    """Read an element of a list, then append to the list (the element read must keep its value)."""
    lists = in_scope(b, lambda: [(name, ty) for name, ty in b.own_variables(FList) if ty.n and name not in b.iterated],
                     list_literal)
    if not lists:
        return
    name, ty = b.rng.choice(lists)
    first = assign(b, FLOAT, f"{name}[{b.rng.randrange(ty.n)}]")
    b.emit(f"{name}.append({first} * {b.float_expr(1)})")
    b.define(name, FList(ty.n + 1) if b.lookup_frame(name) is b.frames[-1] else FList(None))


@construct(1)
def list_of_arrays(b):
    n, k = b.rng.choice((2, 3)), b.some_length()
    assign(b, VList(n, k), "[" + ", ".join(b.vec_expr(k, 1) for _ in range(n)) + "]")


@construct(1)
def dict_literal(b):
    ty = new_type(b)
    while not isinstance(ty, FDict):
        ty = FDict(tuple(sorted(b.rng.sample(DICT_KEYS, 2), key=DICT_KEYS.index)))
    assign(b, ty, b.dict_expr(ty.keys))


@construct(1)
def dict_comprehension(b):
    dicts = b.variables(FDict)
    if dicts and b.rng.random() < 0.6:
        name, ty = b.rng.choice(dicts)
        with b.bound(Str()) as key, b.bound(FLOAT) as value:
            update = b.float_expr(1, uses=value)
        assign(b, ty, f"{{{key}: {update} for {key}, {value} in {name}.items()}}")
        return
    k = b.rng.randint(2, 3)
    with b.bound(Int(0, k - 1)) as i:
        value = b.float_expr(1, uses=i)
    assign(b, FDict(tuple(f"k{j}" for j in range(k))), f"{{f'k{{{i}}}': {value} for {i} in range({k})}}")


@construct(1.5)
def dict_write(b):
    """`d[k] += v`, `d[k] = v`, or a new key (in the block where the dict was made)."""
    dicts = in_scope(b, lambda: b.variables(FDict), dict_literal)
    if not dicts:
        return
    name, ty = b.rng.choice(dicts)
    if b.lookup_frame(name) is b.frames[-1] and name not in b.iterated and b.rng.random() < 0.3:
        key = next((k for k in DICT_KEYS if k not in ty.keys), None)
        if key:
            b.emit(f"{name}[{key!r}] = {b.float_expr(2)}")
            b.define(name, FDict(ty.keys + (key,)))
            return
    key = b.rng.choice(ty.keys)
    b.emit(b.rng.choice((f"{name}[{key!r}] += {b.float_expr(1)}", f"{name}[{key!r}] = {b.float_expr(2)}")))
    b.touch(name)


def array_write(b, name, ty):
    """A write into array `name`: an element, a slice, a row or column, the whole array; plain or augmented."""
    rng = b.rng
    if isinstance(ty, Vec):
        n = ty.n
        choices = [f"{name}[{b.index_into(n)}] = {b.float_expr(2)}",
                   f"{name}[{b.index_into(n)}] *= {number(rng.choice((2.0, 0.5, 3.0)))}",
                   f"{name}[:] = {b.vec_expr(n, 1)}", f"{name}[{b.index_into(n)}] += {b.float_expr(1)}"]
        if n >= 2:
            choices += [f"{name}[1:] = {name}[1:] ** 2", f"{name}[:-1] += {b.vec_expr(n - 1, 1)}",
                        f"{name}[1:] = {name}[:-1] * {b.float_atom()}"]
        return rng.choice(choices)
    r, c = ty.r, ty.c
    return rng.choice((f"{name}[{rng.randrange(r)}, {rng.randrange(c)}] = {b.float_expr(2)}",
                       f"{name}[{rng.randrange(r)}, :] *= {b.float_atom()}",
                       f"{name}[:, {rng.randrange(c)}] += {b.vec_expr(r, 1)}",
                       f"{name}[{rng.randrange(r)}] = {b.vec_expr(c, 1)}",
                       f"{name}[{rng.randrange(r)}][{rng.randrange(c)}] = {b.float_expr(1)}",
                       f"{name}[:] *= {b.float_atom()}"))


COPIES = ("{x}.copy()", "np.copy({x})", "{x} * 1.0", "np.array({x})", "{x} + 0.0")


@construct(3, compound=True)
def fill_loop(b):
    """`out = np.zeros(n); for i in range(n): out[i] = ...` (or rows of a matrix).

    Entries of `np.empty` are written before they are read: its element expression cannot read it.
    """
    if b.rng.random() < 0.7:
        n = b.some_length()
        i = b.fresh_loop_name()
        start = b.rng.choice(("np.zeros", "np.empty", "np.ones"))
        if start == "np.empty":
            with b.bound(Int(0, n - 1), name=i):
                value = b.float_expr(2)
        out = assign(b, Vec(n), f"{start}({n})")
        with b.block(f"for {i} in range({n}):", {i: Int(0, n - 1)}, loop=True):
            b.emit(f"{out}[{i}] = {value if start == 'np.empty' else b.float_expr(2)}")
        return
    r, c = b.some_shape()
    out = assign(b, Mat(r, c), b.rng.choice((f"np.zeros(({r}, {c}))", f"np.zeros_like({b.mat_atom(r, c)})")))
    i = b.fresh_loop_name()
    with b.block(f"for {i} in range({r}):", {i: Int(0, r - 1)}, loop=True):
        b.emit(b.rng.choice((f"{out}[{i}] = {b.vec_expr(c, 2)}", f"{out}[{i}, :] = {b.vec_expr(c, 2)}")))


@construct(3)
def copy_then_write(b):
    """`y = x.copy()` (or `x * 1.0`, ...) then one to three writes into `y`."""
    arrays = b.variables(Vec, Mat)
    if not arrays:
        return
    source, ty = b.rng.choice(arrays)
    name = assign(b, ty, b.rng.choice(COPIES).format(x=source))
    for _ in range(b.rng.randint(1, 3)):
        b.emit(array_write(b, name, ty))


@construct(3)
def index_write(b):
    """A write into any array in scope: an argument, a copy, a view, an alias, an enclosing variable."""
    arrays = b.variables(Vec, Mat)
    if not arrays:
        return
    name, ty = b.rng.choice(arrays)
    b.emit(array_write(b, name, ty))
    b.touch(name)


@construct(2)
def alias_write(b):
    """`z = y; y[0] = ...; use z`: a write through one name while another name aliases the array."""
    arrays = b.variables(Vec, Mat)
    if not arrays:
        return
    source, ty = b.rng.choice(arrays)
    if b.rng.random() < 0.5:
        source = assign(b, ty, b.rng.choice(COPIES).format(x=source))
    alias = assign(b, ty, source)
    writer, other = (source, alias) if b.rng.random() < 0.6 else (alias, source)
    b.emit(array_write(b, writer, ty))
    b.touch(other)


@construct(2)
def view_held(b):
    """`row = m[0]; m[0, 1] = ...; use row`: a write into an array while a view of it is held."""
    mats = b.variables(Mat)
    vecs = b.variables(Vec)
    if mats and (not vecs or b.rng.random() < 0.6):
        name, ty = b.rng.choice(mats)
        i = b.rng.randrange(ty.r)
        view = assign(b, Vec(ty.c), b.rng.choice((f"{name}[{i}]", f"{name}[{i}, :]")))
        b.emit(b.rng.choice((f"{name}[{i}, {b.rng.randrange(ty.c)}] = {b.float_expr(2)}", array_write(b, name, ty))))
    elif vecs:
        name, ty = b.rng.choice(vecs)
        if ty.n < 2:
            return
        view = assign(b, Vec(ty.n - 1), b.rng.choice((f"{name}[1:]", f"{name}[:-1]")))
        b.emit(array_write(b, name, ty))
    else:
        return
    b.touch(view)


@construct(1.5)
def view_write(b):
    """`v = m[1, :]; v -= 0.5; use m`: a write through a view into another array."""
    mats = b.variables(Mat)
    if mats and b.rng.random() < 0.7:
        name, ty = b.rng.choice(mats)
        view_ty = Vec(ty.c) if b.rng.random() < 0.7 else Mat(ty.c, ty.r)
        source = f"{name}[{b.rng.randrange(ty.r)}]" if isinstance(view_ty, Vec) else f"{name}.T"
    else:
        vecs = [(name, ty) for name, ty in b.variables(Vec) if ty.n >= 2]
        if not vecs:
            return
        name, ty = b.rng.choice(vecs)
        view_ty, source = Vec(ty.n - 1), f"{name}[1:]"
    view = assign(b, view_ty, source)
    if isinstance(view_ty, Vec) and b.rng.random() < 0.5:
        b.emit(f"{view} {b.rng.choice(('-=', '+=', '*='))} {number(b.rng.choice((0.5, 1.5, 2.0)))}")
    else:
        b.emit(array_write(b, view, view_ty))
    b.touch(name)


@construct(2)
def write_after_use(b):
    """`s = np.sum(y * v); v[0] = 5.0`: an array overwritten after a NumPy operation has used it."""
    vecs = b.variables(Vec)
    if not vecs:
        return
    name, ty = b.rng.choice(vecs)
    template = b.rng.choice(("np.sum({x} * {v})", "np.dot({x}, {v})", "np.max({x} + {v})", "({x} @ {v})"))
    assign(b, FLOAT, template.format(x=name, v=b.vec_expr(ty.n, 1)))
    b.emit(b.rng.choice((f"{name}[{b.rng.randrange(ty.n)}] = {number(b.rng.choice((5.0, 0.5, -1.0)))}",
                         array_write(b, name, ty))))


@construct(1.5)
def square_tail(b):
    """`y = x * 1.0; y[1:] = y[1:] ** 2`."""
    vecs = [(name, ty) for name, ty in b.variables(Vec) if ty.n >= 2]
    if not vecs:
        return
    source, ty = b.rng.choice(vecs)
    name = assign(b, ty, f"{source} * 1.0")
    b.emit(b.rng.choice((f"{name}[1:] = {name}[1:] ** 2", f"{name}[:-1] = {name}[:-1] * {name}[1:]")))


@construct(2)
def make_object(b):
    """An instance of a module-level class (a dataclass or a plain class) built from local values."""
    spec = b.module.local_class()
    values = [(field, b.expr(ty, 1)) for field, ty in spec.fields]
    keywords = b.rng.random() < 0.4
    arguments = ", ".join(f"{field}={value}" if keywords else value for field, value in values)
    assign(b, Obj(spec), f"{spec.name}({arguments})")


@construct(2.5, compound=True)
def object_updates(b):
    """Methods that change an object (`acc.add(v)`), called once or in a loop, on a local or argument object."""
    objects = in_scope(b, lambda: [(name, ty) for name, ty in b.variables(Obj)
                                   if any(m.mutates and not m.returns for m in ty.spec.methods)], make_object)
    if not objects:
        return
    name, ty = b.rng.choice(objects)
    method = b.rng.choice([m for m in ty.spec.methods if m.mutates and not m.returns])
    if b.rng.random() < 0.5:
        b.emit(f"{name}.{method.name}({b.float_expr(1)})")
    else:
        header, bind = loop_header(b)
        with b.block(header, bind, loop=True):
            b.emit(f"{name}.{method.name}({b.float_expr(1)})")
    b.touch(name)


@construct(1)
def object_attribute_write(b):
    """`obj.a = ...`, `obj.w[0] = ...`, `obj.w = obj.w * s`."""
    objects = in_scope(b, lambda: b.variables(Obj), make_object)
    if not objects:
        return
    name, ty = b.rng.choice(objects)
    choices = [f"{name}.{field} = {name}.{field} * {b.float_expr(1)} + 0.1" for field in ty.spec.float_fields()]
    for field, field_ty in ty.spec.vec_fields():
        choices += [f"{name}.{field}[{b.rng.randrange(field_ty.n)}] = {b.float_expr(1)}",
                    f"{name}.{field} = {name}.{field} * {b.float_atom()}"]
    b.emit(b.rng.choice(choices))
    b.touch(name)


@construct(0.4)
def object_mutating_result(b):
    """`r = obj.bump(v)`: a method whose result is used while it also changes its object."""
    objects = in_scope(b, lambda: [(name, ty) for name, ty in b.variables(Obj)
                                   if any(m.mutates and m.returns for m in ty.spec.methods)], make_object)
    if not objects:
        return
    name, ty = b.rng.choice(objects)
    method = b.rng.choice([m for m in ty.spec.methods if m.mutates and m.returns])
    assign(b, FLOAT, f"{name}.{method.name}({b.float_expr(1)})")


# ---------------------------------------------------------------- function bodies


class Body:
    """Writes the statements of one function, tracking the type of every variable in scope.

    `frames` are this function's scopes, innermost last (a block's variables are forgotten when it
    ends, since they may be unset after it); `enclosing` is the Body of the function this one is
    nested in, whose variables it may read (closures) but not rebind.
    """

    def __init__(self, module, params, ret=FLOAT, enclosing=None, level=1):
        self.module, self.rng = module, module.rng
        self.frames = [dict(params)]
        self.ret, self.enclosing, self.level = ret, enclosing, level
        self.nesting = enclosing.nesting + 1 if enclosing else 0
        self.lines, self.recent = [], []
        self.loops = self.depth = 0
        self.iterated = set()

    # -- scope

    def visible(self):
        names = self.enclosing.visible() if self.enclosing else {}
        for frame in self.frames:
            names.update(frame)
        return names

    def lookup(self, name):
        return self.visible().get(name)

    def lookup_frame(self, name):
        return next((frame for frame in reversed(self.frames) if name in frame), None)

    def variables(self, *kinds):
        """Visible `(name, type)` pairs whose type is one of `kinds`, in a fixed order."""
        return [(name, ty) for name, ty in self.visible().items() if isinstance(ty, kinds)]

    def own_variables(self, *kinds):
        own = {}
        for frame in self.frames:
            own.update(frame)
        return [(name, ty) for name, ty in own.items() if isinstance(ty, kinds)]

    def own_variable(self, *kinds):
        """A random variable of this function (not an enclosing one) of one of `kinds`, or None."""
        found = self.own_variables(*kinds)
        return self.rng.choice(found) if found else None

    def define(self, name, ty):
        (self.lookup_frame(name) or self.frames[-1])[name] = ty
        self.touch(name)

    def touch(self, name):
        """Note that `name` was just assigned (the final `return` prefers recent variables)."""
        if name in self.recent:
            self.recent.remove(name)
        self.recent.append(name)

    def taken(self):
        return set(self.visible()) | self.module.taken

    def fresh(self, ty, avoid=()):
        """An unused name for a new variable of type `ty`."""
        return self.fresh_from(LOCAL_NAMES[type(ty)], avoid)

    def fresh_loop_name(self, avoid=()):
        return self.fresh_from(LOOP_NAMES, avoid)

    def fresh_element_name(self, avoid=()):
        return self.fresh_from(ELEMENT_NAMES, avoid)

    def fresh_from(self, pool, avoid=()):
        taken = self.taken() | set(avoid)
        for name in pool + [f"{pool[0]}{k}" for k in range(2, 100)]:
            if name not in taken:
                return name
        raise RuntimeError("out of names")

    @contextlib.contextmanager
    def bound(self, ty, name=None):
        """Make a new name of type `ty` visible while an expression is written (a lambda or comprehension variable)."""
        name = name or self.fresh_element_name()
        self.frames.append({name: ty})
        yield name
        self.frames.pop()

    # -- writing

    def emit(self, line):
        self.lines.append("    " * self.level + line)

    @contextlib.contextmanager
    def block(self, header, bind=None, loop=False):
        """Write `header`, then the statements written inside the `with` one level deeper in a new scope."""
        self.emit(header)
        start = len(self.lines)
        iterated = set(re.findall(r"[A-Za-z_]\w*", header.split(" in ", 1)[1])) - self.iterated if " in " in header else set()
        self.level += 1
        self.depth += 1
        self.loops += loop
        self.iterated |= iterated
        self.frames.append(dict(bind or {}))
        yield
        if len(self.lines) == start:
            self.emit("pass")
        self.frames.pop()
        self.iterated -= iterated
        self.level -= 1
        self.depth -= 1
        self.loops -= loop

    def statements(self, budget):
        """Write constructs until about `budget` more lines have been written."""
        target = len(self.lines) + budget
        for _ in range(4 * budget):
            if len(self.lines) >= target:
                return
            allowed = [c for c in CONSTRUCTS if not c.compound or self.depth < MAX_DEPTH]
            self.rng.choices(allowed, [c.weight for c in allowed])[0].function(self)

    def return_statement(self, uses=None):
        """`return ...` of this function's return type, reading recently assigned variables."""
        value = self.final_expr(uses)
        if isinstance(self.ret, FTuple):
            return f"return {value}, {self.float_expr(1)}"
        if isinstance(self.ret, Pair):
            return f"return {value}, {self.vec_expr(self.ret.k, 1)}"
        return f"return {value}"

    def final_expr(self, uses=None):
        """A float combining reads of up to four variables, preferring recently assigned ones."""
        visible = self.visible()
        recent = [name for name in reversed(self.recent) if name in visible][:3]
        others = [name for name in visible if name not in recent]
        chosen = recent + self.rng.sample(others, min(len(others), self.rng.randint(0, 2)))
        if uses and uses not in chosen:
            chosen.append(uses)
        terms = [self.rng.choice(reads) for reads in (float_reads(self, n, visible[n]) for n in chosen) if reads]
        if not terms:
            return self.float_expr(2)
        if len(terms) > 1 and self.rng.random() < 0.3:
            return f"({' + '.join(terms[1:])}) * math.sin({terms[0]})"
        return " + ".join(terms)

    # -- expressions

    def fill(self, template, **makers):
        """`template.format(...)`, each field's text made by calling its maker (only for fields the template uses)."""
        fields = sorted({field for _, field, _, _ in string.Formatter().parse(template) if field})
        return template.format(**{field: makers[field]() for field in fields})

    def some_length(self):
        """A vector length, usually one that some variable in scope already has."""
        lengths = [ty.n for _, ty in self.variables(Vec)] + [n for _, ty in self.variables(Mat) for n in (ty.r, ty.c)]
        return self.rng.choice(lengths) if lengths and self.rng.random() < 0.8 else self.rng.randint(2, 4)

    def some_shape(self):
        shapes = [(ty.r, ty.c) for _, ty in self.variables(Mat)]
        return self.rng.choice(shapes) if shapes and self.rng.random() < 0.8 else self.rng.choice(MAT_SHAPES)

    def index_into(self, n):
        """An index valid for a sequence of length `n`: a constant, or a loop index in range."""
        ints = [name for name, ty in self.variables(Int) if ty.indexes(n)]
        if ints and self.rng.random() < 0.6:
            return self.rng.choice(ints)
        return str(self.rng.choice((0, -1, self.rng.randrange(n))))

    def expr(self, ty, depth=2):
        """An expression of type `ty`."""
        if isinstance(ty, Float):
            return self.float_expr(depth)
        if isinstance(ty, Vec):
            return self.vec_expr(ty.n, depth)
        if isinstance(ty, Mat):
            return self.mat_expr(ty.r, ty.c, depth)
        if isinstance(ty, FList):
            return self.list_expr(ty.n)
        if isinstance(ty, FDict):
            return self.dict_expr(ty.keys)
        if isinstance(ty, VList):
            return "[" + ", ".join(self.vec_expr(ty.k, 1) for _ in range(ty.n)) + "]"
        raise TypeError(f"no expressions of type {ty}")

    def float_expr(self, depth=2, uses=None):
        """A float expression; if `uses` is given, one that reads that name."""
        value = self._expr("float", depth, (), self.float_atom)
        if uses and not re.search(rf"\b{uses}\b", value):
            read = self.rng.choice(float_reads(self, uses, self.lookup(uses)))
            value = f"({value} {self.rng.choice('+-*')} {read})"
        return value

    def vec_expr(self, n, depth=2):
        return self._expr("vec", depth, (n,), self.vec_atom)

    def mat_expr(self, r, c, depth=2):
        return self._expr("mat", depth, (r, c), self.mat_atom)

    def _expr(self, kind, depth, shape, atom):
        """A form of `kind` (or an atom), parenthesized so that it can be put next to any operator."""
        if depth > 0 and self.rng.random() > 0.25:
            for option in weighted_order(self.rng, FORMS[kind]):
                value = option.function(self, depth - 1, *shape)
                if value:
                    return f"({value})"
        return f"({atom(*shape)})"

    def float_var_expr(self, depth=1):
        """A float expression that reads at least one variable (if any is visible)."""
        names = [name for name, ty in self.visible().items() if not isinstance(ty, Fn)]
        return self.float_expr(depth, uses=self.rng.choice(names) if names else None)

    def float_atom(self):
        """A variable read (most of the time) or a constant."""
        if self.rng.random() < 0.85:
            candidates = [(name, ty) for name, ty in self.visible().items() if not isinstance(ty, Fn)]
            if candidates:
                name, ty = self.rng.choice(candidates)
                reads = float_reads(self, name, ty)
                if reads:
                    return self.rng.choice(reads)
        return number(self.rng.choice(CONSTANTS))

    def float_leaf(self):
        """A float variable or a constant (no calls, so it never recurses)."""
        names = [name for name, _ in self.variables(Float)]
        return self.rng.choice(names) if names and self.rng.random() < 0.7 else number(self.rng.choice(CONSTANTS))

    def vec_atom(self, n):
        reads = [read for name, ty in self.visible().items() for read in vec_reads(name, ty, n, self.rng)]
        if reads and self.rng.random() < 0.85:
            return self.rng.choice(reads)
        if self.rng.random() < 0.5:
            return "np.array([" + ", ".join(self.float_atom() for _ in range(n)) + "])"
        return f"({self.float_atom()} * np.linspace(0.5, 1.5, {n}))"

    def mat_atom(self, r, c):
        reads = [read for name, ty in self.visible().items() for read in mat_reads(name, ty, r, c)]
        if reads and self.rng.random() < 0.85:
            return self.rng.choice(reads)
        return f"np.outer({self.vec_atom(r)}, {self.vec_atom(c)})"

    def list_expr(self, n):
        """An expression of a list of `n` floats: a literal, a comprehension, a copy or alias of a list."""
        same = [name for name, ty in self.variables(FList) if ty.n == n]
        iterables = [source for source, length in float_iterables(self) if length == n]
        kind = self.rng.randrange(4)
        if kind == 0 and same:
            return self.rng.choice(same) + self.rng.choice(("", "[:]", ".copy()"))
        if kind == 1 and iterables:
            source = self.rng.choice(iterables)
            with self.bound(FLOAT) as t:
                return f"[{self.float_expr(1, uses=t)} for {t} in {source}]"
        if kind == 2:
            with self.bound(Int(0, n - 1)) as i:
                return f"[{self.float_expr(1, uses=i)} for {i} in range({n})]"
        return "[" + ", ".join(self.float_expr(1) for _ in range(n)) + "]"

    def dict_expr(self, keys):
        return "{" + ", ".join(f"{k!r}: {self.float_expr(1)}" for k in keys) + "}"

    def condition(self, depth=1):
        """A data-dependent condition: comparisons, chained comparisons, `and`/`or`/`not`, integer tests."""
        kind = self.rng.random()
        if depth > 0 and kind < 0.15:
            return f"({self.condition(0)}) {self.rng.choice(('and', 'or'))} ({self.condition(0)})"
        if depth > 0 and kind < 0.2:
            return f"not ({self.condition(0)})"
        ints = [name for name, ty in self.variables(Int)]
        if ints and kind < 0.3:
            i = self.rng.choice(ints)
            return self.rng.choice((f"{i} % 2 == 0", f"{i} > {self.rng.randint(0, 2)}", f"{i} == {self.rng.randint(0, 2)}"))
        if kind < 0.4:
            low = self.rng.choice(THRESHOLDS)
            return f"{number(low)} < {self.float_var_expr()} < {number(low + self.rng.choice((0.5, 1.0, 2.0)))}"
        if kind < 0.6:
            return f"{self.float_var_expr()} > {self.float_var_expr()}"
        return f"{self.float_var_expr()} {self.rng.choice(('>', '<'))} {number(self.rng.choice(THRESHOLDS))}"

    def call(self, helper):
        """A call of `helper`: positional arguments, then keywords; defaulted parameters sometimes left out."""
        parts, keywords = [], False
        for param in helper.params:
            if param.default is not None and self.rng.random() < 0.4:
                keywords = True
                continue
            value = self.expr(param.ty, 1)
            keywords = keywords or param.kwonly or self.rng.random() < 0.15
            parts.append(f"{param.name}={value}" if keywords else value)
        return f"{helper.name}({', '.join(parts)})"


# ---------------------------------------------------------------- the module: helpers and classes

HIGHER_ORDER_HELPERS = {  # name: (source, whether its second argument is a sequence of floats)
    "apply_twice": ("def apply_twice(fn, t, times=2):\n    out = t\n    for _ in range(times):\n"
                    "        out = fn(out) * 0.5 + t\n    return out", False),
    "compose_sum": ("def compose_sum(fn, t):\n    return fn(t) + fn(fn(t) * 0.5)", False),
    "map_sum": ("def map_sum(fn, seq):\n    total = 0.0\n    for t in seq:\n        total = total + fn(t)\n"
                "    return total", True),
}


class Module:
    """The module being generated: module-level helper functions and classes, and the random sources."""

    def __init__(self, rng, nrng):
        self.rng, self.nrng = rng, nrng
        self.definitions = []
        self.helpers = []
        self.recursive = None
        self.classes = []
        self.taken = set(RESERVED)
        self.building = 0

    def name(self, pool):
        for name in pool + [f"{pool[0]}{k}" for k in range(2, 100)]:
            if name not in self.taken:
                self.taken.add(name)
                return name
        raise RuntimeError("out of names")

    def source(self, entry):
        header = "import math\n"
        if any(spec.is_dataclass for spec in self.classes):
            header += "from dataclasses import dataclass\n"
        header += "\nimport numpy as np\n"
        text = "\n\n".join([header] + self.definitions + [entry])
        return format_source(ast.parse(text))

    def helper(self, ret):
        """A helper function returning `ret`: an existing one, or a new one if there is room."""
        existing = [h for h in self.helpers if h.ret == ret]
        if existing and (self.rng.random() < 0.5 or len(self.helpers) >= MAX_HELPERS or self.building >= 2):
            return self.rng.choice(existing)
        if len(self.helpers) >= MAX_HELPERS or self.building >= 2:
            return None
        return self.make_helper(ret)

    def make_helper(self, ret):
        """A module-level function with 1-3 parameters (trailing ones with defaults, maybe keyword-only)."""
        rng = self.rng
        name = self.name(PAIR_HELPER_NAMES if not isinstance(ret, Float) else HELPER_NAMES)
        params = []
        names = iter(["x", "y", "z", "a", "b"])
        vec_names = iter(["v", "w", "u"])
        for position in range(rng.randint(1, 3)):
            kind = rng.choices(("float", "vec", "list", "mat"), (4, 2, 0.5, 0.5))[0]
            if kind == "float":
                params.append(Param(next(names), FLOAT))
            elif kind == "vec":
                params.append(Param(next(vec_names), Vec(rng.randint(2, 4))))
            elif kind == "list":
                params.append(Param("xs" if position == 0 else f"xs{position}", FList(rng.randint(2, 4))))
            else:
                params.append(Param("m" if position == 0 else f"m{position}", Mat(*rng.choice(MAT_SHAPES))))
        if rng.random() < 0.5:
            params.append(Param(next(names), FLOAT, number(rng.choice(CONSTANTS)), kwonly=rng.random() < 0.4))
        self.building += 1
        body = Body(self, [(p.name, p.ty) for p in params], ret=ret)
        body.statements(rng.randint(1, 5))
        body.emit(body.return_statement())
        self.building -= 1
        signature = []
        for param in params:
            if param.kwonly:
                signature.append("*")
            signature.append(param.name + (f"={param.default}" if param.default else ""))
        self.definitions.append(f"def {name}({', '.join(signature)}):\n" + "\n".join(body.lines))
        helper = Helper(name, params, ret)
        self.helpers.append(helper)
        return helper

    def recursive_helper(self):
        """The module's recursive helper `(x, depth)`, made on first use."""
        if self.recursive or self.building >= 2:
            return self.recursive
        rng = self.rng
        name = self.name(RECURSIVE_NAMES)
        ty = FLOAT if rng.random() < 0.7 else Vec(rng.randint(2, 4))
        x = "x" if isinstance(ty, Float) else "v"
        body = Body(self, [(x, ty), ("depth", Int())], level=2)
        base = body.float_expr(1, uses=x)
        step = (f"math.tanh({body.float_expr(1, uses=x)})" if isinstance(ty, Float)
                else f"np.tanh({body.vec_expr(ty.n, 1)}) * 0.9")
        lines = [f"def {name}({x}, depth):", "    if depth <= 0:", f"        return {base}"]
        if rng.random() < 0.4:
            lines += [f"    if {body.condition(0)}:",
                      f"        return {name}({step}, depth - 1) * 0.5 + {body.float_atom()}"]
        lines.append(f"    return {name}({step}, depth - 1) * {number(rng.choice((0.5, 0.8, 1.1)))} + {body.float_expr(1)}")
        self.definitions.append("\n".join(lines))
        self.recursive = Helper(name, [Param(x, ty), Param("depth", Int())], FLOAT)
        return self.recursive

    def higher_order_helper(self):
        """`(name, takes a sequence)` of a module-level helper that calls a function it is given."""
        name = self.rng.choice(sorted(HIGHER_ORDER_HELPERS))
        text, takes_sequence = HIGHER_ORDER_HELPERS[name]
        if text not in self.definitions:
            self.definitions.append(text)
        return name, takes_sequence

    def local_class(self):
        """A class for objects made inside functions: an existing one, or a new dataclass or plain class."""
        if self.classes and (self.rng.random() < 0.5 or len(self.classes) >= 3):
            return self.rng.choice(self.classes)
        fields = [(name, FLOAT) for name in self.rng.sample(FLOAT_FIELDS, self.rng.randint(1, 2))]
        if self.rng.random() < 0.5:
            fields.append((self.rng.choice(VEC_FIELDS), Vec(self.rng.randint(2, 4))))
        return self.make_class(fields, self.rng.random() < 0.5)

    def make_class(self, fields, is_dataclass):
        """A module-level class with `fields`, a pure method and one or two methods that change the object."""
        rng = self.rng
        spec = ClassSpec(self.name(CLASS_NAMES), tuple(fields), is_dataclass, items=not is_dataclass and rng.random() < 0.5)
        lines = ["@dataclass"] if is_dataclass else []
        lines.append(f"class {spec.name}:")
        if is_dataclass:
            lines += [f"    {name}: {'float' if isinstance(ty, Float) else 'np.ndarray'}" for name, ty in fields]
        else:
            lines.append(f"    def __init__(self, {', '.join(name for name, _ in fields)}):")
            lines += [f"        self.{name} = {name}" for name, _ in fields]
            if spec.items:
                lines.append("        self.items = []")
        self.classes.append(spec)
        for method in (self._value_method, self._update_method, self._update_method, self._bump_method):
            if rng.random() < 0.7:
                lines += [""] + method(spec)
        self.definitions.append("\n".join(lines))
        return spec

    def _method_body(self, spec, takes_value):
        params = [("self", Obj(spec))] + ([("t", FLOAT)] if takes_value else [])
        return Body(self, params, level=2)

    def _value_method(self, spec):
        takes_value = self.rng.random() < 0.4
        name = self.name(["value", "energy_of", "score", "measure"])
        body = self._method_body(spec, takes_value)
        value = body.float_expr(2, uses="t" if takes_value else None)
        spec.methods.append(Method(name, takes_value, returns=True, mutates=False))
        return [f"    def {name}(self{', t' if takes_value else ''}):", f"        return {value}"]

    def _update_lines(self, spec, body):
        rng = self.rng
        choices = []
        for field in spec.float_fields():
            choices += [f"self.{field} = self.{field} * {number(rng.choice((0.5, 0.9)))} + t * {body.float_expr(1)}",
                        f"self.{field} += t * {body.float_atom()}"]
        for field, ty in spec.vec_fields():
            choices += [f"self.{field} = self.{field} * 0.5 + t", f"self.{field} += t",
                        f"self.{field}[{rng.randrange(ty.n)}] = self.{field}[{rng.randrange(ty.n)}] * 0.5 + t"]
        if spec.items:
            choices.append(f"self.items.append(t * {body.float_atom()})")
        return rng.sample(choices, min(len(choices), rng.randint(1, 2)))

    def _update_method(self, spec):
        name = self.name(["add", "push", "update", "shift_by", "absorb"])
        body = self._method_body(spec, True)
        lines = self._update_lines(spec, body)
        spec.methods.append(Method(name, True, returns=False, mutates=True))
        return [f"    def {name}(self, t):"] + [f"        {line}" for line in lines]

    def _bump_method(self, spec):
        name = self.name(["bump", "step_and_get"])
        body = self._method_body(spec, True)
        lines = self._update_lines(spec, body)
        spec.methods.append(Method(name, True, returns=True, mutates=True))
        return [f"    def {name}(self, t):"] + [f"        {line}" for line in lines] + [f"        return {body.float_expr(1)}"]


# ---------------------------------------------------------------- arguments and the entry function

ARGUMENT_KINDS = ("float", "vec", "mat", "vec32", "mat32", "list", "dict", "pair", "dataclass", "object", "int")
ARGUMENT_WEIGHTS = (5, 4, 2, 0.8, 0.4, 1.2, 0.8, 0.6, 0.7, 0.6, 0.8)


def floats(nrng, shape=()):
    """Values safe for the generated code: in [0.5, 1.5], or signed with magnitude in [0.3, 1.5]; 3 decimals."""
    if nrng.random() < 0.6:
        values = nrng.uniform(0.5, 1.5, size=shape)
    else:
        values = nrng.uniform(0.3, 1.5, size=shape) * np.where(nrng.random(size=shape) < 0.5, -1.0, 1.0)
    values = np.round(values, 3)
    return float(values) if shape == () else values


def argument(module, kind):
    """`(type, value)` of an argument of `kind`."""
    rng, nrng = module.rng, module.nrng
    if kind == "float":
        return FLOAT, floats(nrng)
    if kind in ("vec", "vec32"):
        n = rng.randint(2, 4)
        return Vec(n), floats(nrng, (n,)).astype(np.float32 if kind == "vec32" else np.float64)
    if kind in ("mat", "mat32"):
        shape = rng.choice(MAT_SHAPES)
        return Mat(*shape), floats(nrng, shape).astype(np.float32 if kind == "mat32" else np.float64)
    if kind == "list":
        n = rng.randint(2, 4)
        return FList(n), [floats(nrng) for _ in range(n)]
    if kind == "dict":
        keys = tuple(sorted(rng.sample(DICT_KEYS, rng.randint(2, 3)), key=DICT_KEYS.index))
        return FDict(keys), {k: floats(nrng) for k in keys}
    if kind == "pair":
        k = rng.randint(2, 4)
        return Pair(k), (floats(nrng), floats(nrng, (k,)))
    if kind == "int":
        value = rng.randint(2, 4)
        return Int(value, value), value
    fields = [(name, FLOAT) for name in rng.sample(FLOAT_FIELDS, rng.randint(1, 2))]
    if rng.random() < 0.6:
        fields.append((rng.choice(VEC_FIELDS), Vec(rng.randint(2, 4))))
    spec = module.make_class(fields, kind == "dataclass")
    values = tuple((name, floats(nrng) if isinstance(ty, Float) else floats(nrng, (ty.n,))) for name, ty in fields)
    return Obj(spec), Instance(spec.name, values)


def build(seed, attempt=0):
    """The program for `seed` (attempt 0), or for a seed derived from it (later attempts); not yet validated."""
    derived = seed + (attempt << 48)
    module = Module(random.Random(derived), np.random.default_rng(derived))
    rng = module.rng
    params, args = [], []
    for kind in rng.choices(ARGUMENT_KINDS, ARGUMENT_WEIGHTS, k=rng.choices((1, 2, 3, 4), (2, 4, 3, 1))[0]):
        ty, value = argument(module, kind)
        pool = PARAM_NAMES[kind.removesuffix("32")]
        used = {name for name, _ in params}
        params.append((next(name for name in pool + [f"{pool[0]}{k}" for k in range(2, 9)] if name not in used), ty))
        args.append(value)
    body = Body(module, params)
    body.statements(int(rng.triangular(3, 25, 8)))
    body.emit(body.return_statement())
    entry = f"def f({', '.join(name for name, _ in params)}):\n" + "\n".join(body.lines)
    return Program(module.source(entry), tuple(args), "f", seed)


MAX_ATTEMPTS = 30


def generate(seed):
    """A valid random program for `seed` (a non-negative integer); the same seed gives the same program."""
    if seed < 0:
        raise ValueError("seeds are non-negative integers")
    for attempt in range(MAX_ATTEMPTS):
        program = build(seed, attempt)
        if problem(program) is None:
            return program
    raise RuntimeError(f"no valid program for seed {seed} in {MAX_ATTEMPTS} attempts")
