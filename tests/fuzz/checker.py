"""Differentiate a program with sourcediff and judge the result: `check(program) -> Result`.

Outcomes:
    pass       every check below held (and `sd.jvp` along a random direction agrees with the gradient,
               or forward mode refused the program: the detail then says so)
    wrong      sourcediff returned without error but something is wrong: the primal value, an
               argument changed by the call, cotangents of the wrong type/shape/dtype, a pullback
               that is not linear, a cotangent that differs from finite differences, or a tangent
               (`sd.jvp`) that differs from the checked gradient along its direction
    refused    sourcediff raised a `SourceDiffError` (an intended refusal, not an InternalError)
    crashed    sourcediff raised anything else (or an InternalError), or did not finish in time
    invalid    the program itself fails or returns an unusable value (a generator bug)
    nonsmooth  finite differences at two step sizes disagree: the point sits at a kink or jump
               (a branch that flips, a max tie, abs at 0), so no derivative can be checked there;
               also a mismatch that rounding explains: wider stencils move towards sourcediff's
               value (huge intermediates in the function), or sourcediff's own rounding error is as
               large as the mismatch (huge cotangents that cancel; see `_rounding`)

Finite differences. Each float in the arguments (scalars, array entries, list/dict/tuple
entries, object fields) is moved alone. A 5-point central stencil estimates the partial
derivative at step h = 1e-3·max(1, |x|), then at h/2, h/4, h/8 until two successive estimates
agree to 1e-7 (relative) plus a bound on rounding error (~1e-13·|f|/h). The stencil's truncation
error is O(h⁴), so for a smooth function successive estimates agree at once and the finer one is
accurate far below the comparison tolerance (rtol 1e-4, atol 1e-6; 2e-3 and 1e-4 when an argument
is float32, since sourcediff then computes in float32 while the finite differences run the same
code in float64). A kink or jump at distance d from the point disturbs only the stencils wider
than d. A kink exactly at the point can fool central differences (|x| gives 0 at every step), so
each step s also compares the one-sided asymmetry A(s) = (f(x+s) - 2f(x) + f(x-s))/s with A(2s):
for a smooth function A(s) = s·f''(x) + O(s³) halves with s, at a kink it stays the jump in slope.
If no step passes both tests, the point is within about 2.5e-4 of a kink or jump and the program
is "nonsmooth" (never counted as wrong). The error bound used in the comparison is the difference
of the last two estimates plus the rounding bound.
"""
import contextlib
import dataclasses
import inspect
import math
import os
import re
import traceback

import numpy as np

import sourcediff as sd
import sourcediff.errors

from . import programs

DEFAULT_TIMEOUT = 5.0
RTOL, ATOL = 1e-4, 1e-6  # reverse mode adds up cancelling terms in another order than the function: rounding
RTOL32, ATOL32 = 2e-3, 1e-4
SMOOTH_RTOL = 1e-7
VALUE_ERROR = 1e-13  # relative error assumed for each evaluation of a program
STENCIL = ((-2, 1 / 12), (-1, -8 / 12), (1, 8 / 12), (2, -1 / 12))
HALVINGS = 3
LINEAR_RTOL, LINEAR_RTOL32 = 1e-9, 1e-5
CANCELLATION = 1e-15  # error left by cancelling terms of size M: a few float64 roundings of M
PACKAGE = os.path.dirname(os.path.abspath(sd.__file__))


@dataclasses.dataclass
class Result:
    """An outcome, a one-line `detail` and a `kind`: the detail without specifics, for grouping failures."""

    outcome: str
    detail: str = ""
    kind: str = ""


class Mismatch(Exception):
    """A wrong result found while checking (becomes a "wrong" Result)."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def check(program, timeout=DEFAULT_TIMEOUT):
    """Load `program` and check sourcediff's derivatives of its entry function at its arguments."""
    with contextlib.ExitStack() as stack:
        try:
            function, args = stack.enter_context(programs.loaded(program))
        except Exception as error:  # the program does not even import
            return Result("invalid", f"cannot load the program: {describe(error)}", "load")
        return check_function(function, args, timeout)


def check_function(function, args, timeout=DEFAULT_TIMEOUT):
    """Check sourcediff's derivatives of a Python function at `args` (a tuple of arguments)."""
    stage = ["the plain run"]
    try:
        with programs.deadline(timeout):
            return _check(function, tuple(args), stage)
    except programs.Timeout:
        if stage[0].startswith(("the plain run", "finite differences")):
            return Result("invalid", f"timeout in {stage[0]}", "timeout")
        return Result("crashed", f"timeout in {stage[0]}", "timeout")
    finally:
        sd.refresh()


def _check(function, args, stage):
    """The checks of `check_function`, in order; `stage[0]` names the one in progress (for timeouts)."""
    try:
        plain = programs.run_plain(function, args)
    except Exception as error:  # the program itself fails
        return Result("invalid", f"the function fails: {describe(error)}", "plain run")
    problem = programs.value_problem(plain)
    if problem:
        return Result("invalid", f"the function {problem}", "plain run")
    names = _parameter_names(function, len(args))
    own = _program_names(function)
    saved = programs.copy_value(args)
    float32 = any(np.asarray(leaf).dtype == np.float32 for _, leaf in primal_leaves(saved, names))

    stage[0] = "sd.pullback"
    result = _call(lambda: sd.pullback(function, *args), stage[0], own)
    if isinstance(result, Result):
        return result
    y, back = result
    calls = {}
    try:
        _assert_unchanged(saved, args, names, stage[0])
        if not (isinstance(y, (float, np.floating)) and np.isclose(y, plain, rtol=1e-12, atol=1e-12)):
            raise Mismatch("primal mismatch", f"sd.pullback gives y = {y!r}, the function {plain!r}")
        for label, call in (("back(1.0)", lambda: back(1.0)), ("back(2.0)", lambda: back(2.0)),
                            ("sd.gradient", lambda: sd.gradient(function, *args))):
            stage[0] = label
            result = _call(call, label, own)
            if isinstance(result, Result):
                return result
            _assert_unchanged(saved, args, names, label)
            calls[label] = aligned_cotangents(saved, result, names, label)
        stage[0] = "checking the cotangents"
        linear_rtol = LINEAR_RTOL32 if float32 else LINEAR_RTOL
        _assert_proportional(calls["back(1.0)"], calls["back(2.0)"], 2.0, linear_rtol, "back(2.0) is not 2 * back(1.0)",
                             "not linear")
        _assert_proportional(calls["back(1.0)"], calls["sd.gradient"], 1.0, linear_rtol,
                             "sd.gradient differs from back(1.0)", "gradient != back(1.0)")
        stage[0] = "finite differences"
        estimates = finite_differences(function, saved, names)
        rough = [(row.path, row.index, row.note) for row in estimates if row.note]
        if rough:
            path, index, note = rough[0]
            return Result("nonsmooth", f"{_entry(path, index)}: {note}", "nonsmooth")
        rtol, atol = (RTOL32, ATOL32) if float32 else (RTOL, ATOL)
        try:
            _assert_matches(calls["sd.gradient"], estimates, rtol, atol)
        except Mismatch:
            unreliable = (_unreliable(function, saved, names, calls["sd.gradient"], estimates, rtol, atol)
                          or _rounding(back, saved, names, calls["sd.gradient"], estimates, rtol, atol,
                                       function.__code__.co_filename))
            if unreliable:
                return Result("nonsmooth", unreliable, "nonsmooth")
            raise
        stage[0] = "sd.jvp"
        refused = _check_forward(function, saved, own)
        if isinstance(refused, Result):
            return refused
        stage[0] = "batches"
        batch_note = _check_batches(function, saved, names, own, back, calls["back(1.0)"], float32)
        if isinstance(batch_note, Result):
            return batch_note
        refused = "; ".join(note for note in (refused, batch_note) if note)
        stage[0] = "sd.hvp"
        hvp_refused = _check_hvp(function, saved, own) if os.environ.get("SOURCEDIFF_FUZZ_HVP") else None
        if isinstance(hvp_refused, Result):
            return hvp_refused
        refused = "; ".join(note for note in (refused, hvp_refused) if note)
    except Mismatch as mismatch:
        return Result("wrong", mismatch.detail, mismatch.kind)
    return Result("pass", f"{len(estimates)} partial derivatives checked" + (f"; {refused}" if refused else ""))


def _check_forward(function, args, names):
    """`sd.jvp` along a random direction of the float64 arguments against the inner product of that direction
    with the gradient (already checked against finite differences): None or a note when they agree or forward
    mode refuses, a crashed Result, or a Mismatch."""
    rng = np.random.default_rng(0)
    directions = [rng.standard_normal(np.shape(a)) if (type(a) is float or isinstance(a, np.ndarray) and a.dtype == np.float64)
                  else sd.Zero() for a in args]
    if all(isinstance(d, sd.Zero) for d in directions):
        return None
    grads = sd.gradient(function, *programs.copy_value(args))
    terms = [np.asarray(g, dtype=float) * d for g, d in zip(grads, directions) if not isinstance(d, sd.Zero) and g is not None]
    expected = float(sum(np.sum(t) for t in terms))
    scale = float(sum(np.sum(np.abs(t)) for t in terms))
    result = _call(lambda: sd.jvp(function, programs.copy_value(args), directions), "sd.jvp", names)
    if isinstance(result, Result):
        return result if result.outcome != "refused" else "forward mode refused"
    y_dot = float(np.real(result[1]))
    if not np.isclose(y_dot, expected, rtol=1e-6, atol=1e-9 * (1.0 + scale)):
        raise Mismatch("forward mismatch", f"sd.jvp gives {y_dot!r}, the gradient along the same direction {expected!r}")
    return None


def _check_batches(function, args, names, own, back, unit, float32):
    """Three cotangents pulled back as one batch (the forward pass run batched too) against `back` of each, and
    three tangents pushed as one batch against `sd.jvp` of each: None or a note (a fallback, or forward mode
    refusing), a crashed Result, or a Mismatch."""
    from sourcediff import batch, mixed

    seeds = (1.0, -2.0, 0.5)  # (powers of two: scaling back(1.0) by them is exact, in float32 too)
    try:
        with mixed._batched():
            y, batched_back = sd.pullback(function, *programs.copy_value(args))
            # (of the output's precision: a float32 output's cotangents are float32 one at a time too)
            pulled = batched_back(batch.Batch(np.array(seeds, dtype=np.result_type(y, 0.0))))
    except Exception as error:  # noqa: BLE001 (a fallback is allowed, anything else is reported)
        if batch.fell_back(error):
            return "the batched pullback fell back"
        return classify(error, "batched pullback", own)
    rtol = LINEAR_RTOL32 if float32 else 1e-9
    for k, seed in enumerate(seeds):
        sample = aligned_cotangents(args, batch._sample(pulled, k), names, f"batched pullback {k}")
        _assert_proportional(unit, sample, seed, rtol, f"entry {k} of the batched pullback is not back({seed})", "batch mismatch")
    rng = np.random.default_rng(2)
    sets = [[rng.standard_normal(np.shape(a)) if _is_float(a) else sd.Zero() for a in args] for _ in seeds]
    if all(isinstance(d, sd.Zero) for d in sets[0]):
        return None
    one_at_a_time = _call(lambda: [sd.jvp(function, programs.copy_value(args), d)[1] for d in sets], "sd.jvp", own)
    if isinstance(one_at_a_time, Result):
        return None if one_at_a_time.outcome == "refused" else one_at_a_time
    stacked = [batch._stacked([d[i] for d in sets]) for i in range(len(args))]
    try:
        with mixed._batched():
            _, pushed = sd.jvp(function, programs.copy_value(args), stacked)
    except Exception as error:  # noqa: BLE001
        if batch.fell_back(error):
            return "the batched jvp fell back"
        return classify(error, "batched jvp", own)
    for k, expected in enumerate(one_at_a_time):
        got = float(np.real(batch._sample(pushed, k)))
        if not np.isclose(got, float(np.real(expected)), rtol=1e-9 if not float32 else 1e-5, atol=1e-12):
            raise Mismatch("batch mismatch", f"entry {k} of the batched jvp is {got!r}, sd.jvp {expected!r}")
    return None


def _is_float(value):
    return type(value) is float or isinstance(value, np.ndarray) and value.dtype == np.float64


def _check_hvp(function, args, names):
    """`sd.hvp` along a random direction of the float64 arguments against central differences of the gradient
    (already checked against finite differences) along it, at two steps: None or a note when they agree, forward
    over reverse refuses, or the two steps disagree (the gradient is not smooth there), a crashed Result, or a
    Mismatch."""
    rng = np.random.default_rng(1)
    directions = [rng.standard_normal(np.shape(a)) if _is_float(a) else sd.Zero() for a in args]
    if all(isinstance(d, sd.Zero) for d in directions):
        return None
    result = _call(lambda: sd.hvp(function, programs.copy_value(args), directions), "sd.hvp", names)
    if isinstance(result, Result):
        return result if result.outcome != "refused" else "forward over reverse refused"
    floats = [i for i, a in enumerate(args) if _is_float(a)]

    def gradient_at(t):
        shifted = [a + t * d if not isinstance(d, sd.Zero) else a for a, d in zip(programs.copy_value(args), directions)]
        grads = sd.gradient(function, *shifted)
        return np.concatenate([np.ravel(np.asarray(grads[i], dtype=float)) for i in floats])

    try:
        coarse, fine = ((gradient_at(h) - gradient_at(-h)) / (2 * h) for h in (1e-4, 1e-5))
    except Exception:
        return "hvp not checked (the gradient failed near the point)"
    got = np.concatenate([np.ravel(np.asarray(result[i], dtype=float)) for i in floats])
    atol = 1e-6 * (1.0 + float(np.max(np.abs(fine), initial=0.0)))
    if not np.allclose(coarse, fine, rtol=1e-3, atol=atol):
        return "hvp not checked (the gradient is not smooth here)"
    if got.shape != fine.shape or not np.allclose(got, fine, rtol=1e-3, atol=atol):
        raise Mismatch("hvp mismatch", f"sd.hvp gives {got!r}, differences of the gradient {fine!r}")
    return None


def _parameter_names(function, count):
    """Names for the `count` positional arguments (parameter names; `argN` beyond them)."""
    try:
        names = [p.name for p in inspect.signature(function).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    except (TypeError, ValueError):
        names = []
    names = names[:count] if len(names) >= count else names + [f"arg{i}" for i in range(len(names), count)]
    return names


def _program_names(function):
    """Names of the functions and classes of `function`'s module, longest first (blanked in failure kinds)."""
    module = function.__module__
    return sorted({name for name, value in function.__globals__.items()
                   if callable(value) and getattr(value, "__module__", None) == module}, key=len, reverse=True)


def _call(call, label, names=()):
    """`call()`, or the Result for what it raised (refused or crashed)."""
    try:
        return call()
    except Exception as error:  # anything sourcediff raises is classified
        return classify(error, label, names)


def classify(error, label, names=()):
    """The Result for an exception raised by sourcediff during `label`.

    Its kind blanks the specifics of the message, including the program's own function and class
    `names`; for a crash it names the innermost frame in sourcediff (or in the generated code) of
    the exception itself, or for an InternalError of the exception it wraps.
    """
    internal = getattr(sourcediff.errors, "InternalError", None)
    message = _first_line(error)
    name = type(error).__name__
    kind = f"{name}: {_normalize(message, names)}"
    if isinstance(error, sd.SourceDiffError) and not (internal and isinstance(error, internal)):
        return Result("refused", f"{label}: {name}: {message}", kind)
    root = (error.__cause__ or error.__context__ or error) if internal and isinstance(error, internal) else error
    where, place = _frame(root)
    return Result("crashed", f"{label}: {name}: {message} [{where}]", f"{kind} [{place}]")


def describe(error):
    """`Type: first line of the message`."""
    return f"{type(error).__name__}: {_first_line(error)}"


def _first_line(error):
    text = str(error)
    return text.splitlines()[0][:200] if text else ""


def _normalize(message, names=()):
    """A message with its specifics (quoted names, numbers, addresses, the program's names) blanked."""
    if names:
        message = re.sub(rf"\b(?:{'|'.join(map(re.escape, names))})(?:\.\w+)*\b", "…", message)
    message = re.sub(r"\S*<locals>\S*", "…", message)
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", message)
    message = re.sub(r"0x[0-9a-f]+|\b\d+(\.\d+)?\b", "N", message)
    return message[:120]


def _frame(error):
    """(`file:line in function`, `file:function`) of the innermost frame in sourcediff or in the program."""
    frames = traceback.extract_tb(error.__traceback__)
    workdir = programs.workdir()
    ours = [f for f in frames if f.filename.startswith((PACKAGE, workdir))]
    frame = (ours or frames or [None])[-1]
    if frame is None:
        return "no traceback", "no traceback"
    if frame.filename.startswith(workdir):
        role = next((r for r in ("forward", "pullback") if frame.name.endswith(r)), "program code")
        return f"<program>:{frame.lineno} in {frame.name}", f"<program> {role}"
    filename = os.path.relpath(frame.filename, os.path.dirname(PACKAGE))
    return f"{filename}:{frame.lineno} in {frame.name}", f"{filename}:{frame.name}"


# ---------------------------------------------------------------- leaves: the floats inside argument values


def primal_leaves(value, path):
    """`(path, leaf)` for every float scalar and float array inside `value` (containers and object fields)."""
    if isinstance(path, list):
        return [leaf for v, name in zip(value, path) for leaf in primal_leaves(v, name)]
    if isinstance(value, (bool, np.bool_)):
        return []
    if isinstance(value, (float, np.floating)) or (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
        return [(path, value)]
    if isinstance(value, (list, tuple)):
        return [leaf for i, v in enumerate(value) for leaf in primal_leaves(v, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in primal_leaves(v, f"{path}[{k!r}]")]
    if _is_object(value):
        return [leaf for k, v in vars(value).items() for leaf in primal_leaves(v, f"{path}.{k}")]
    return []


def _is_object(value):
    return hasattr(value, "__dict__") and not callable(value) and not isinstance(value, np.ndarray)


def with_leaves(value, new):
    """A fresh copy of `value` (a tuple of arguments) with its leaves, in `primal_leaves` order, replaced by `new`."""
    iterator = iter(new)

    def rebuild(v):
        if isinstance(v, (bool, np.bool_)):
            return v
        if isinstance(v, (float, np.floating)):
            return type(v)(next(iterator))
        if isinstance(v, np.ndarray):
            return next(iterator).copy() if v.dtype.kind == "f" else v.copy()
        if isinstance(v, (list, tuple)):
            return type(v)(rebuild(item) for item in v)
        if isinstance(v, dict):
            return {k: rebuild(item) for k, item in v.items()}
        if _is_object(v):
            copy = object.__new__(type(v))
            copy.__dict__.update({k: rebuild(item) for k, item in vars(v).items()})
            return copy
        return v

    return rebuild(value)


def aligned_cotangents(primal, cotangents, names, label):
    """`(path, primal leaf, cotangent leaf or None)` for every leaf; raises Mismatch if the structure is wrong."""
    if not isinstance(cotangents, tuple) or len(cotangents) != len(primal):
        raise Mismatch("cotangent structure", f"{label} returned {_brief(cotangents)} for {len(primal)} arguments")
    return [leaf for p, c, name in zip(primal, cotangents, names) for leaf in _align(p, c, name, label, False)]


def _align(primal, cotangent, path, label, optional):
    """Cotangent leaves of `primal`; `optional`: inside a `Tangent`, where a missing field is `Zero()`."""
    zero = isinstance(cotangent, sd.Zero) and optional
    if isinstance(primal, (bool, np.bool_, int, np.integer)):
        if cotangent is not None and not isinstance(cotangent, sd.Zero) and not (np.ndim(cotangent) == 0 and cotangent == 0):
            raise Mismatch("cotangent type", f"{label}: the integer {path} got cotangent {_brief(cotangent)}")
        return []
    if isinstance(primal, (float, np.floating)):
        if zero:
            return [(path, primal, None)]
        if isinstance(cotangent, (np.ndarray, bool, np.bool_)) or not isinstance(cotangent, (float, np.floating)):
            raise Mismatch("cotangent type", f"{label}: the float {path} got cotangent {_brief(cotangent)}")
        return [(path, primal, cotangent)]
    if isinstance(primal, np.ndarray):
        if primal.dtype.kind != "f":
            return []
        if zero:
            return [(path, primal, None)]
        if not isinstance(cotangent, np.ndarray):
            raise Mismatch("cotangent type", f"{label}: the array {path} got cotangent {_brief(cotangent)}")
        if cotangent.shape != primal.shape:
            raise Mismatch("cotangent shape", f"{label}: {path} has shape {primal.shape}, its cotangent {cotangent.shape}")
        if cotangent.dtype != primal.dtype:
            raise Mismatch("cotangent dtype", f"{label}: {path} is {primal.dtype}, its cotangent {cotangent.dtype}")
        return [(path, primal, cotangent)]
    if isinstance(primal, (list, tuple)):
        if not zero and (type(cotangent) is not type(primal) or len(cotangent) != len(primal)):
            raise Mismatch("cotangent type", f"{label}: the {type(primal).__name__} {path} got cotangent {_brief(cotangent)}")
        entries = [sd.Zero()] * len(primal) if zero else cotangent
        return [leaf for i, (p, c) in enumerate(zip(primal, entries)) for leaf in _align(p, c, f"{path}[{i}]", label, zero)]
    if isinstance(primal, dict):
        entries = {k: sd.Zero() for k in primal} if zero else cotangent
        if not isinstance(entries, dict) or set(entries) != set(primal):
            raise Mismatch("cotangent type", f"{label}: the dict {path} got cotangent {_brief(cotangent)}")
        return [leaf for k, p in primal.items() for leaf in _align(p, entries[k], f"{path}[{k!r}]", label, zero)]
    if _is_object(primal):
        if cotangent is None or isinstance(cotangent, sd.Zero):
            return [(p, leaf, None) for p, leaf in primal_leaves(primal, path)]
        if not isinstance(cotangent, sd.Tangent):
            raise Mismatch("cotangent type", f"{label}: the object {path} got cotangent {_brief(cotangent)}")
        return [leaf for k, p in vars(primal).items()
                for leaf in _align(p, getattr(cotangent, k), f"{path}.{k}", label, True)]
    return []


def _brief(value):
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


def _dense(primal, cotangent):
    return np.zeros(np.shape(primal)) if cotangent is None else np.asarray(cotangent, dtype=float)


def _assert_proportional(first, second, factor, rtol, what, kind):
    for (path, primal, a), (_, _, b) in zip(first, second):
        expected, got = factor * _dense(primal, a), _dense(primal, b)
        if not np.allclose(got, expected, rtol=rtol, atol=1e-12, equal_nan=True):  # an infinite gradient scales to itself
            index = _worst(got, expected)
            raise Mismatch(kind, f"{what}: {_entry(path, index)} is {got[index]:.6g}, expected {expected[index]:.6g}")


def _assert_unchanged(before, after, names, label):
    for value, new, name in zip(before, after, names):
        where = difference(value, new, name)
        if where:
            raise Mismatch("argument modified", f"{label} changed the argument {where}")


def difference(before, after, path):
    """The path of the first place where `after` differs from `before` (exactly, dtypes included), or None."""
    if isinstance(before, np.ndarray):
        same = (isinstance(after, np.ndarray) and before.dtype == after.dtype and before.shape == after.shape
                and np.array_equal(before, after))
        return None if same else path
    if isinstance(before, (list, tuple)):
        if type(after) is not type(before) or len(after) != len(before):
            return path
        return next((d for i, (b, a) in enumerate(zip(before, after)) if (d := difference(b, a, f"{path}[{i}]"))), None)
    if isinstance(before, dict):
        if type(after) is not dict or list(after) != list(before):
            return path
        return next((d for k in before if (d := difference(before[k], after[k], f"{path}[{k!r}]"))), None)
    if _is_object(before):
        if type(after) is not type(before) or list(vars(after)) != list(vars(before)):
            return path
        fields = vars(after)
        return next((d for k, v in vars(before).items() if (d := difference(v, fields[k], f"{path}.{k}"))), None)
    return None if type(after) is type(before) and after == before else path


# ---------------------------------------------------------------- finite differences


@dataclasses.dataclass
class Estimate:
    """A finite-difference partial derivative: which entry, the estimate, a bound on its error, and why
    it cannot be trusted (`note`, None if the function is smooth there)."""

    path: str
    index: tuple
    value: float
    error: float
    note: str = None


def finite_differences(function, args, names):
    """An `Estimate` of the partial derivative of `function(*args)` for every float entry of the arguments."""
    leaves = primal_leaves(args, names)
    base = [np.array(leaf, dtype=np.float64) for _, leaf in leaves]
    with np.errstate(all="ignore"):
        return [_partial(function, args, base, k, path, index)
                for k, (path, _) in enumerate(leaves) for index in np.ndindex(base[k].shape)]


def _partial(function, args, base, k, path, index, scale=1.0):
    """The `Estimate` of ∂f/∂(entry `index` of leaf k): 5-point stencils at steps h, h/2, ... until two agree."""
    x = float(base[k][index])
    h = scale * 1e-3 * max(1.0, abs(x))
    values = {}

    def at(offset):
        if offset not in values:
            moved = base[k].copy()
            moved[index] = x + offset
            values[offset] = float(function(*with_leaves(args, base[:k] + [moved] + base[k + 1:])))
        return values[offset]

    def stencil(step):
        return sum(c * at(o * step) for o, c in STENCIL) / step

    def asymmetry(step):
        return (at(step) - 2.0 * at(0.0) + at(-step)) / step

    try:
        previous = stencil(h)
        for halving in range(1, HALVINGS + 1):
            step = h / 2 ** halving
            current = stencil(step)
            kink = asymmetry(step) - asymmetry(2 * step) / 2
            if not all(map(math.isfinite, values.values())):
                return Estimate(path, index, math.nan, math.inf, "the function is not finite near the point")
            noise = 4.0 * VALUE_ERROR * max(map(abs, values.values())) / step
            tolerance = SMOOTH_RTOL * max(1.0, abs(current)) + noise
            if abs(current - previous) <= tolerance and abs(kink) <= tolerance:
                return Estimate(path, index, current, abs(current - previous) + noise)
            previous = current
    except Exception as error:  # the function fails near the point: it is at the edge of its domain
        return Estimate(path, index, math.nan, math.inf, f"the function fails near the point ({describe(error)})")
    if abs(kink) > tolerance:
        note = f"one-sided differences at step {step:.1e} differ by {2 * kink:.3g} (a kink)"
    else:
        note = f"finite differences at steps {2 * step:.1e} and {step:.1e} give {previous:.6g} and {current:.6g}"
    return Estimate(path, index, current, math.inf, note)


def _unreliable(function, args, names, aligned, estimates, rtol, atol):
    """Why finite differences cannot settle a mismatch, or None: a stencil 4, 16 or 64 times wider comes
    at least twice as close to sourcediff's value (rounding in huge intermediate values, which the
    rounding bound, taken from the function's value, does not see, shrinks with the step)."""
    cotangents = {path: _dense(primal, c) for path, primal, c in aligned}
    leaves = primal_leaves(args, names)
    base = [np.array(leaf, dtype=np.float64) for _, leaf in leaves]
    positions = {path: k for k, (path, _) in enumerate(leaves)}
    with np.errstate(all="ignore"):
        for row in estimates:
            got = float(cotangents[row.path][row.index])
            if abs(got - row.value) <= atol + rtol * abs(row.value) + row.error:
                continue
            wider = [_partial(function, args, base, positions[row.path], row.path, row.index, scale).value
                     for scale in (4.0, 16.0, 64.0)]
            closer = any(math.isfinite(w) and abs(w - got) < 0.5 * abs(row.value - got) for w in wider)
            if not closer:
                return None
    return "finite differences move towards sourcediff's value at wider steps (rounding in large intermediate values)"


def _rounding(back, args, names, aligned, estimates, rtol, atol, filename):
    """Why sourcediff's own value cannot settle a mismatch, or None: its rounding error may be a quarter
    of the mismatch. Two estimates of that error: a pullback is linear, so back(c)/c for a c that is not
    a power of two differs from back(1.0) only by rounding; and terms of size M that cancel leave an
    error up to about `CANCELLATION * M`, M the largest number the pullback's frames hold while it runs
    (huge cotangents that cancel exactly where the function's value has no such terms)."""
    cotangents = {path: _dense(primal, c) for path, primal, c in aligned}
    scaled = []
    with np.errstate(all="ignore"):
        try:
            for factor in (0.7, 0.3, 1.3):
                scaled.append({path: _dense(primal, c) / factor
                               for path, primal, c in aligned_cotangents(args, back(factor), names, "back")})
            _, largest = programs.largest_local(lambda: back(1.0), filename)
        except Exception:  # the checks that called back(1.0) and back(2.0) have judged this already
            return None
        for row in estimates:
            got = float(cotangents[row.path][row.index])
            miss = abs(got - row.value)
            if miss <= atol + rtol * abs(row.value) + row.error:
                continue
            noise = max([abs(float(s[row.path][row.index]) - got) for s in scaled] + [CANCELLATION * largest])
            if not noise >= 0.25 * miss:
                return None
    return (f"sourcediff's value has rounding errors as large as the mismatch (back(c)/c varies with c, "
            f"or its pullback holds numbers up to {largest:.3g})")


def _assert_matches(aligned, estimates, rtol, atol):
    """Raise Mismatch if a cotangent entry differs from its finite-difference estimate."""
    cotangents = {path: _dense(primal, c) for path, primal, c in aligned}
    bad = []
    for row in estimates:
        got = float(cotangents[row.path][row.index])
        if not abs(got - row.value) <= atol + rtol * abs(row.value) + row.error:
            bad.append((row.path, row.index, got, row.value))
    if bad:
        path, index, got, want = bad[0]
        raise Mismatch("gradient mismatch", f"{len(bad)} of {len(estimates)} partial derivatives differ; "
                                            f"{_entry(path, index)}: got {got:.6g}, finite differences {want:.6g}")


def _entry(path, index):
    return f"{path}[{', '.join(map(str, index))}]" if index else path


def _worst(got, expected):
    errors = np.abs(np.atleast_1d(got - expected))
    return np.unravel_index(int(np.argmax(errors)), np.shape(got)) if np.ndim(got) else ()
