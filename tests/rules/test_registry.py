"""Every registered rule, both modes, against finite differences: adding a rule adds its test."""
import pytest

import sourcediff  # noqa: F401  (importing it registers the rule tables)
from sourcediff.rules.registry import RULES, samples_of
from sourcediff.testing import test_frule, test_rrule

# Rules that change an argument in place (`operator.iadd`, `list.append`, ...) cannot be checked by
# `test_rrule`, which requires a rule to leave its inputs alone: tests/rules/test_updates.py checks them
# through the gradients of functions that use them. Their forward rules come with the forward transform.
DIFFERENTIABLE = [(f, rule) for f, rule in RULES.items() if rule.differentiable and not rule.updates]
CASES = [pytest.param(f, sample, id=f"{getattr(f, '__qualname__', f)}-{n}")
         for f, rule in DIFFERENTIABLE for n, sample in enumerate(samples_of(rule))]


def test_every_rule_has_both_modes_and_samples():
    missing = [getattr(f, "__qualname__", repr(f)) for f, rule in DIFFERENTIABLE
               if rule.rrule is None or rule.frule is None or not samples_of(rule)]
    assert missing == []


@pytest.mark.parametrize("function, sample", CASES)
def test_rrule_matches_finite_differences(function, sample):
    test_rrule(function, *sample.args, **sample.kwargs)


@pytest.mark.parametrize("function, sample", CASES)
def test_frule_matches_finite_differences(function, sample):
    test_frule(function, *sample.args, **sample.kwargs)
