"""Random programs must get correct derivatives; and the fuzzer's own parts must work.

`test_random_programs` runs a few hundred generated programs through the checker (tools/fuzz.py
runs more, in parallel, and prints a report). The other tests make sure the checker cannot pass
vacuously: a correct program passes, a wrong rule is caught, an unsupported construct is a
refusal, and the shrinker reduces a padded failure to its core.
"""
import math
import sys
import types

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.rules import registry

from . import checker, programs, shrink

SEED, COUNT = 20240917, 300
FAILING = ("wrong", "crashed")


def test_random_programs():
    results = [(seed, checker.check(programs.generate(seed))) for seed in range(SEED, SEED + COUNT)]
    failures = [(seed, result) for seed, result in results if result.outcome in FAILING]
    lines = [f"  seed {seed}: {result.outcome}: {result.detail}" for seed, result in failures]
    message = f"{len(failures)} of {COUNT} random programs failed (python tools/fuzz.py --seed S --one):\n"
    message += "\n".join(lines[:40]) + (f"\n  ... and {len(lines) - 40} more" if len(lines) > 40 else "")
    if failures:
        seed, result = failures[0]
        small = shrink.shrink(programs.generate(seed), result, max_seconds=10)
        message += f"\nseed {seed}, minimised:\n{small.source}ARGS = {small.args_source()}"
    assert not failures, message


def test_generator_is_deterministic_and_valid():
    for seed in range(40):
        first, second = programs.generate(seed), programs.generate(seed)
        assert (first.source, first.args_source()) == (second.source, second.args_source())
        assert programs.problem(first) is None, seed
    assert programs.generate(1).source != programs.generate(2).source


def test_arguments_are_written_so_that_they_read_back_exactly():
    program = next(p for p in map(programs.generate, range(100)) if any(
        isinstance(a, np.ndarray) and a.dtype == np.float32 for a in p.args))
    again = programs.from_text(program.text("a comment"))
    assert again.source == program.source and again.args_source() == program.args_source()
    for before, after in zip(program.args, again.args):
        assert checker.difference(before, after, "arg") is None


CORRECT = '''
import math
import numpy as np


def f(x, v, xs):
    s = 0.0
    for i in range(2):
        s = s + math.sin(x) * v[i] + xs[i] ** 2
    return s + np.sum(np.tanh(v)) * x
'''


def test_a_correct_program_passes():
    result = checker.check(programs.Program(CORRECT, (0.7, np.array([0.5, 1.2, -0.4]), [0.3, 0.9])))
    assert result.outcome == "pass", result


def test_finite_differences_are_accurate_and_see_kinks():
    def f(x, v):
        return math.sin(x) * np.sum(v ** 2)

    x, v = 0.7, np.array([0.5, -1.2])
    estimates = checker.finite_differences(f, (x, v), ["x", "v"])
    exact = [math.cos(x) * np.sum(v ** 2), *(2 * math.sin(x) * v)]
    assert [e.note for e in estimates] == [None] * 3
    np.testing.assert_allclose([e.value for e in estimates], exact, rtol=1e-10)

    def kink(x):
        return abs(x - 0.7)

    assert checker.finite_differences(kink, (0.70001,), ["x"])[0].note
    assert checker.finite_differences(kink, (0.9,), ["x"])[0].note is None


def _triple(t):
    return 3.0 * t


@pytest.fixture
def support(monkeypatch):
    """A module `fuzz_support` with `triple`, which programs can import."""
    module = types.ModuleType("fuzz_support")
    module.triple = _triple
    monkeypatch.setitem(sys.modules, "fuzz_support", module)
    sd.refresh()
    yield
    sd.refresh()


@pytest.fixture
def wrong_rule(support):
    """`triple` with a registered rrule whose derivative is 2 instead of 3."""
    @sd.register_rrule(_triple)
    def wrong(t):
        return 3.0 * t, lambda y_bar: (sd.NO_FIELDS, 2.0 * y_bar)

    sd.refresh()
    yield
    registry.RULES.pop(_triple, None)
    sd.refresh()


USES_TRIPLE = '''
import numpy as np
from fuzz_support import triple


def f(x, v):
    return triple(x) * np.sum(v)
'''
TRIPLE_ARGS = (0.7, np.array([1.0, 2.0]))


def test_a_program_using_a_correct_function_passes(support):
    assert checker.check(programs.Program(USES_TRIPLE, TRIPLE_ARGS)).outcome == "pass"


def test_a_wrong_rule_is_caught(wrong_rule):
    result = checker.check(programs.Program(USES_TRIPLE, TRIPLE_ARGS))
    assert (result.outcome, result.kind) == ("wrong", "gradient mismatch"), result
    assert "x: got 6, finite differences 9" in result.detail


def test_an_unsupported_construct_is_refused():
    source = "def f(x):\n    try:\n        y = x * 2.0\n    except ValueError:\n        y = x\n    return y\n"
    result = checker.check(programs.Program(source, (0.5,)))
    assert result.outcome == "refused", result


PADDED = '''
import math
import numpy as np
from fuzz_support import triple


def helper(a, b):
    return a * b + math.sin(a)


def f(x, y, v):
    s = helper(x, y)
    t = s * 2.0
    for i in range(3):
        t = t + v[i % 2] * i
    u = np.tanh(v) * s
    w = triple(x) * y
    total = t + np.sum(u)
    if total > 100.0:
        total = total * 0.5
    return total + w
'''


def test_the_shrinker_reduces_a_padded_failure(wrong_rule):
    program = programs.Program(PADDED, (0.7, 1.3, np.array([0.4, 0.9])))
    result = checker.check(program)
    assert result.outcome == "wrong", result
    small = shrink.shrink(program, result)
    assert checker.check(small).outcome == "wrong"
    assert "triple(" in small.source and "helper" not in small.source and "for " not in small.source
    assert len(small.source.strip().splitlines()) <= 6, small.source
