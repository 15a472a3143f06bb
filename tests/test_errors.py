"""Errors point at the user's code and say what to do; gradient leaves its inputs alone and is thread-safe."""
import concurrent.futures
import copy
import inspect
import math
import os
import re

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.rules.registry import lookup
from sourcediff.testing import fd_vjp

THIS_FILE = os.path.basename(__file__)


def _line_of(function, snippet):
    """The file line number of the first line of `function` containing `snippet`."""
    lines, first = inspect.getsourcelines(function)
    for offset, text in enumerate(lines):
        if snippet in text:
            return first + offset
    raise AssertionError(f"{snippet!r} not in {function.__name__}")


def _check_message(error, function, snippets, hint_words):
    """`error` names `function`, this file and the line of one of `snippets`, quotes that line, and has a hint."""
    message = str(error)
    assert isinstance(error, sd.SourceDiffError)
    assert function.__name__ in message, f"function name missing from:\n{message}"
    assert THIS_FILE in message, f"file name missing from:\n{message}"
    found = False
    for snippet in snippets:
        line = _line_of(function, snippet)
        if f"line {line}" in message and snippet in message:
            found = True
    assert found, f"none of the lines of {snippets} is named and quoted in:\n{message}"
    assert any(word in message.lower() for word in hint_words), f"no advice in:\n{message}"


# ---------------------------------------------------------------- unsupported syntax

def uses_try(x):
    y = x * 2.0
    try:
        y = y / x
    except ZeroDivisionError:
        y = 0.0
    return y


def uses_with(x):
    with np.errstate(divide="ignore"):
        y = np.log(x)
    return np.sum(y)


def uses_del(x):
    tmp = x * x
    y = tmp + 1.0
    del tmp
    return y


def _yield_squares(x):
    for xi in x:
        yield xi * xi


def uses_generator_function(x):
    return sum(_yield_squares(x))


def uses_walrus(x):
    if (y := x * 2.0) > 1.0:
        return y * x
    return x


def uses_walrus_in_comprehension(x):
    total = 0.0
    values = [(t := xi * 2.0) + t for xi in x]
    for v in values:
        total += v
    return total


def writes_into_a_view(x):
    m = np.ones((2, 2)) * x
    row = m[0]
    row[1] = 5.0 * x
    return np.sum(m)


def writes_into_an_alias(x):
    m = x * 1.0
    alias = m
    alias[0] = 2.0
    return np.sum(m)


def writes_while_a_list_holds_the_array(x):
    y = x * 2.0
    rows = [1.0, y]
    y[1] = 1.0
    return rows[1][0] * np.sum(y)


def writes_while_one_of_two_rows_is_held(x):
    m = np.ones((2, 2)) * x
    row = m[0] if x > 1.0 else m[1]
    m[0, 1] = 5.0 * x
    return np.sum(row)


def default_from_input(x):
    factor = x * 2.0
    scale = lambda t, k=factor: t * k
    return scale(x)


class _Counter:
    def __init__(self, total):
        self.total = total
        self.calls = 0

    def bump(self, value):
        self.calls += 1
        self.total = self.total + value
        return self.total * 2.0

    def update(self, value):  # named like dict.update: sourcediff does not expect it to change its object
        return self.bump(value)


def _make_counter(total):
    return _Counter(total)


def uses_a_method_that_changes_its_object(x):
    counter = _make_counter(x)
    doubled = counter.update(x)
    return doubled + counter.total


def uses_a_method_that_changes_a_local_object(x):
    counter = _Counter(x)
    doubled = counter.bump(x)
    return doubled + counter.total


def uses_a_method_that_changes_an_object_from_a_helper(x):
    counter = _make_counter(x)
    doubled = counter.bump(x)
    return doubled + counter.total


def counts_calls_in_a_method(x):
    counter = _Counter(0.0)
    counter.bump(x)
    counter.bump(x * x)
    return counter.total * counter.calls


def _sets_through_a_closure(v, *, scale=1.5):
    def g(t):
        v[1] = t * scale

    done = g(1.0)
    return done


def calls_a_helper_whose_closure_writes_a_row(m):
    """Fuzz seed 1207382: the helper changes a row of the caller's input through a closure."""
    for row in m:
        unused = _sets_through_a_closure(v=row)  # noqa: F841 (the assignment is the case)
    return 1.0


def _with_helper(helper):
    def calls_a_captured_helper(m):
        for row in m:
            unused = helper(v=row)  # noqa: F841 (the assignment is the case)
        return 1.0

    return calls_a_captured_helper


def _scales_through_an_alias(v, w):
    def g(t):
        alias = w
        alias[1] *= 3.0

    g(1.0)
    return v


def calls_a_helper_whose_closure_writes_through_an_alias(v):
    """Fuzz seed 1206208: a closure's local alias of a captured view writes into the caller's array."""
    items = [_scales_through_an_alias(t, v[1:]) for t in v]
    return items[-1] * 2.0


UNSUPPORTED = [
    (uses_try, (1.5,), uses_try, ["try:"]),
    (uses_with, (np.array([1.0, 2.0]),), uses_with, ["with np.errstate"]),
    (uses_del, (1.5,), uses_del, ["del tmp"]),
    (uses_generator_function, (np.array([1.0, 2.0]),), _yield_squares, ["yield xi * xi", "def _yield_squares"]),
    (uses_walrus, (1.5,), uses_walrus, ["(y := x * 2.0)"]),
    (uses_walrus_in_comprehension, (np.array([1.0, 2.0]),), uses_walrus_in_comprehension, ["(t := xi * 2.0)"]),
    (writes_while_a_list_holds_the_array, (np.array([1.0, 2.0]),), writes_while_a_list_holds_the_array, ["y[1] = 1.0"]),
    (writes_while_one_of_two_rows_is_held, (1.5,), writes_while_one_of_two_rows_is_held, ["m[0, 1] = 5.0 * x"]),
    (default_from_input, (1.5,), default_from_input, ["scale = lambda t, k=factor: t * k"]),
    (uses_a_method_that_changes_its_object, (1.5,), uses_a_method_that_changes_its_object, ["doubled = counter.update(x)"]),
    (calls_a_helper_whose_closure_writes_a_row, (np.array([[0.8, 1.1]]),), _sets_through_a_closure, ["done = g(1.0)"]),
    (_with_helper(_sets_through_a_closure), (np.array([[0.8, 1.1]]),), _sets_through_a_closure, ["done = g(1.0)"]),
    (calls_a_helper_whose_closure_writes_through_an_alias, (np.sin(np.array([1.2, 1.0, 0.7, 0.5])),),
     _scales_through_an_alias, ["g(1.0)"]),
]


@pytest.mark.parametrize("f, args, copy", [(writes_while_a_list_holds_the_array, (np.array([1.0, 2.0]),), "y = y.copy()"),
                                           (writes_while_one_of_two_rows_is_held, (1.5,), "m = m.copy()")])
def test_writes_through_shared_memory_suggest_the_copy_to_make(f, args, copy):
    with pytest.raises(sd.UnsupportedSyntaxError, match=re.escape(copy)):
        sd.gradient(f, *args)


@pytest.mark.parametrize("f, args", [(writes_into_a_view, (1.5,)), (writes_into_an_alias, (np.array([1.0, 2.0]),))],
                         ids=["writes_into_a_view", "writes_into_an_alias"])
def test_writes_through_views_and_aliases_follow_python(f, args):
    """A write through a view or an alias changes what the other name sees, in the gradient as in the value."""
    (gradient,) = sd.gradient(f, *copy.deepcopy(args))
    y, _ = sd.pullback(f, *copy.deepcopy(args))
    assert y == pytest.approx(f(*copy.deepcopy(args)))
    np.testing.assert_allclose(gradient, fd_vjp(f, copy.deepcopy(args), 1.0)[0], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("f, args, culprit, snippets", UNSUPPORTED, ids=[u[0].__name__ for u in UNSUPPORTED])
def test_unsupported_syntax(f, args, culprit, snippets):
    with pytest.raises(sd.UnsupportedSyntaxError) as info:
        sd.gradient(f, *args)
    _check_message(info.value, culprit, snippets, ["rewrite", "register", "instead", "use ", "copy"])


def test_unsupported_syntax_from_source():
    with pytest.raises(sd.UnsupportedSyntaxError) as info:
        sd.source(uses_del)
    _check_message(info.value, uses_del, ["del tmp"], ["rewrite", "register", "instead", "use "])


# ---------------------------------------------------------------- callees without rules

_RNG = np.random.default_rng(0)


def calls_frexp(x):
    mantissa, exponent = np.frexp(x)
    return np.sum(mantissa * x)


def calls_rng_normal(x):
    noise = _RNG.normal(x, 1.0)
    return np.sum(noise)


def calls_cumprod(x):
    return np.sum(np.cumprod(x))


def test_callees_really_have_no_rule():
    assert lookup(np.frexp) is None
    assert lookup(_RNG.normal) is None
    assert lookup(np.cumprod) is None


NO_RULE = [
    (calls_frexp, (np.array([1.5, 3.0]),), ["np.frexp(x)"]),
    (calls_rng_normal, (np.array([0.5, 1.0]),), ["_RNG.normal(x, 1.0)"]),
    (calls_cumprod, (np.array([0.5, 1.0, 2.0]),), ["np.cumprod(x)"]),
]


@pytest.mark.parametrize("f, args, snippets", NO_RULE, ids=[n[0].__name__ for n in NO_RULE])
def test_no_rule(f, args, snippets):
    with pytest.raises(sd.NoRuleError) as info:
        sd.gradient(f, *args)
    _check_message(info.value, f, snippets, ["register", "rrule"])


def test_inactive_call_without_rule_is_fine():
    def f(x):
        shift = np.cumprod(np.array([1.0, 2.0]))  # constant: needs no derivative
        return np.sum(x * shift)

    assert np.allclose(sd.gradient(f, np.array([1.0, 1.0]))[0], [1.0, 2.0])


# ---------------------------------------------------------------- non-scalar output

def returns_vector(x):
    y = x * 2.0
    return y


def returns_tuple(x):
    return x, x * 2.0


@pytest.mark.parametrize("f, args, snippets", [
    (returns_vector, (np.array([1.0, 2.0]),), ["return y", "def returns_vector"]),
    (returns_tuple, (1.0,), ["return x, x * 2.0", "def returns_tuple"]),
], ids=["returns_vector", "returns_tuple"])
def test_non_scalar_output(f, args, snippets):
    with pytest.raises(sd.NonScalarOutputError) as info:
        sd.gradient(f, *args)
    _check_message(info.value, f, snippets, ["np.sum", "pullback", "scalar"])


def test_non_scalar_output_works_with_pullback():
    y, back = sd.pullback(returns_vector, np.array([1.0, 2.0]))
    assert np.allclose(back(np.array([1.0, -1.0]))[0], [2.0, -2.0])


# ---------------------------------------------------------------- source unavailable

def test_source_unavailable():
    namespace = {}
    exec("def made_by_exec(x):\n    return x * x\n", namespace)
    with pytest.raises(sd.SourceUnavailableError) as info:
        sd.gradient(namespace["made_by_exec"], 2.0)
    message = str(info.value)
    assert "made_by_exec" in message
    assert "register" in message.lower() or ".py file" in message


def test_errors_are_source_diff_errors():
    for kind in (sd.UnsupportedSyntaxError, sd.NoRuleError, sd.NonScalarOutputError, sd.SourceUnavailableError):
        assert issubclass(kind, sd.SourceDiffError)


# ---------------------------------------------------------------- inputs are left unchanged

def mutates_input(x):
    x[0] = 2 * x[0]
    return np.sum(x * x)


def mutates_input_augmented(x, y):
    x += y
    x *= 3.0
    return np.sum(x * y)


def mutates_list_input(values):
    values[0] = values[0] * 3.0
    values.append(1.0)
    return sum(values)


def _fresh(f):
    """f applied to deep copies of its arguments, so finite differences do not see its mutations."""
    return lambda *args: f(*copy.deepcopy(args))


@pytest.mark.parametrize("f, args", [
    (mutates_input, (np.array([0.5, -1.5, 2.0]),)),
    (mutates_input_augmented, (np.array([0.5, -1.5]), np.array([1.2, 0.7]))),
    (mutates_list_input, ([0.5, 2.0],)),
], ids=["mutates_input", "mutates_input_augmented", "mutates_list_input"])
def test_gradient_does_not_change_inputs(f, args):
    saved = copy.deepcopy(args)
    grads = sd.gradient(f, *args)
    for before, after in zip(saved, args):
        assert type(before) is type(after)
        if isinstance(before, list):
            assert before == after, "the caller's list was changed"
        else:
            assert np.array_equal(before, after), "the caller's array was changed"
    expected = fd_vjp(_fresh(f), saved, 1.0)
    got = [g for g in grads]
    flat = [np.asarray(x, dtype=float) for g in got for x in (g if isinstance(g, list) else [g])]
    assert len(flat) == len(expected)
    for a, b in zip(flat, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_mutating_function_result_matches_plain_call():
    x = np.array([0.5, -1.5, 2.0])
    y, _ = sd.pullback(mutates_input, x)
    assert np.array_equal(x, [0.5, -1.5, 2.0])
    assert np.isclose(y, mutates_input(x.copy()))


# ---------------------------------------------------------------- threads

def threaded_target(x, w):
    total = 0.0
    for i in range(len(x)):
        total = total + math.sin(x[i] * w) * (i + 1)
    y = np.zeros(2)
    y[0] += w
    y[1] = np.sum(x ** 2)
    return total + np.sum(y * y)


def threaded_target_fresh(x, n):
    acc = 0.0
    k = 0
    while k < n:
        acc = acc + np.sum(np.tanh(x * (k + 1)))
        k += 1
    return acc


@pytest.mark.parametrize("f, args", [
    (threaded_target, (np.array([0.3, -0.8, 1.1]), 0.7)),
    (threaded_target_fresh, (np.array([0.2, 0.9]), 3)),
], ids=["threaded_target", "threaded_target_fresh"])
def test_gradient_from_eight_threads(f, args):
    sd.refresh()  # make the threads race to build the derivative as well as to run it
    expected = fd_vjp(f, copy.deepcopy(args), 1.0)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(sd.gradient, f, *copy.deepcopy(args)) for _ in range(8)]
        results = [future.result() for future in futures]
    for grads in results:
        floats = [g for g, a in zip(grads, args) if not isinstance(a, int)]
        assert len(floats) == len(expected)
        for got, want in zip(floats, expected):
            np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f", [uses_a_method_that_changes_a_local_object, uses_a_method_that_changes_an_object_from_a_helper])
def test_a_method_changing_its_object_is_differentiated_where_its_result_is_used(f):
    (gradient,) = sd.gradient(f, 0.75)
    assert sd.pullback(f, 0.75)[0] == pytest.approx(f(0.75))
    assert gradient == pytest.approx(float(fd_vjp(f, (0.75,), 1.0)[0]))


def test_methods_called_for_their_effect_are_differentiated():
    (gradient,) = sd.gradient(counts_calls_in_a_method, 0.75)
    assert gradient == pytest.approx(float(fd_vjp(counts_calls_in_a_method, (0.75,), 1.0)[0]))
