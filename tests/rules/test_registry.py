"""Every registered rule, both modes, against finite differences: adding a rule adds its test."""
import contextlib

import numpy as np
import pytest

import sourcediff  # noqa: F401  (importing it registers the rule tables)
from sourcediff.rules.differentials import ZERO, Thunk, extern, is_zero
from sourcediff.rules.registry import RULES, Rule, frule, rrule, samples_of
from sourcediff.testing import test_frule, test_rrule

# Rules that change an argument in place (`operator.iadd`, `list.append`, ...) cannot be checked by
# `test_rrule`, which requires a rule to leave its inputs alone: tests/rules/test_updates.py checks them
# through the gradients of functions that use them. Their forward rules come with the forward transform.
# Declared mutators (`np.copyto`, ...) have no rule of their own: they are differentiated as their
# functional form, which has its rules and samples and is checked here like any other rule.
DIFFERENTIABLE = [(f, rule) for f, rule in RULES.items()
                  if rule.differentiable and not rule.updates and not (rule.functional and rule.rrule is None)]
MUTATORS = [(f, rule) for f, rule in RULES.items() if rule.functional is not None]
CASES = [pytest.param(f, sample, id=f"{getattr(f, '__qualname__', f)}-{n}")
         for f, rule in DIFFERENTIABLE for n, sample in enumerate(samples_of(rule))]

# The checker reads lists, tuples and dicts, but these functions' Python values are lazy iterators
# or dict views (their rules' values are lists or the views themselves): their samples are checked
# through `list(f(...))`, whose rules are those of `f` followed by those of `list`.
THROUGH_LIST = {enumerate, reversed, dict.values, dict.items}


def _listed_rules(f):
    """`list(f(...))`, with both modes composed from the registered rules of `f` and of `list`."""

    def listed(*args, **kwargs):
        return list(f(*args, **kwargs))

    def listed_rrule(*args, **kwargs):
        y, pullback = rrule(f, *args, **kwargs)
        items, list_pullback = rrule(list, y)
        return items, lambda items_bar: pullback(list_pullback(items_bar)[1])

    def listed_frule(*args, **kwargs):
        y, pushforward = frule(f, *args, **kwargs)
        items, list_pushforward = frule(list, y)
        return items, lambda self_dot, *arg_dots: list_pushforward(self_dot, pushforward(self_dot, *arg_dots))

    return listed, Rule(listed, listed_rrule, listed_frule)


@contextlib.contextmanager
def checkable(f):
    """`f` itself, or for the functions of THROUGH_LIST `list(f(...))`, registered while the check runs."""
    if f not in THROUGH_LIST:
        yield f
        return
    listed, rule = _listed_rules(f)
    RULES[listed] = rule
    try:
        yield listed
    finally:
        del RULES[listed]


def test_every_rule_has_both_modes_and_samples():
    missing = [getattr(f, "__qualname__", repr(f)) for f, rule in DIFFERENTIABLE
               if rule.rrule is None or rule.frule is None or not samples_of(rule)]
    assert missing == []


def test_every_mutator_has_a_functional_form_with_rules():
    assert MUTATORS, "numpy_mutators declares mutators"
    for f, rule in MUTATORS:
        position, functional = rule.functional
        assert isinstance(position, int) and callable(functional)
        functional_rule = RULES.get(functional)
        assert functional_rule is not None and functional_rule.rrule and functional_rule.frule and functional_rule.fresh, f


@pytest.mark.parametrize("function, sample", CASES)
def test_rrule_matches_finite_differences(function, sample):
    with checkable(function) as checked:
        test_rrule(checked, *sample.args, **sample.kwargs)


@pytest.mark.parametrize("function, sample", CASES)
def test_frule_matches_finite_differences(function, sample):
    with checkable(function) as checked:
        test_frule(checked, *sample.args, **sample.kwargs)


def _arrays(value):
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, (list, tuple)):
        return [a for item in value for a in _arrays(item)]
    if isinstance(value, dict):
        return [a for item in value.values() for a in _arrays(item)]
    return []


FRESH_CASES = [pytest.param(f, sample, id=f"{getattr(f, '__qualname__', f)}-{n}")
               for f, rule in RULES.items() if rule.fresh for n, sample in enumerate(samples_of(rule))]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("function, sample", FRESH_CASES)
def test_fresh_results_share_no_memory_with_the_arguments(function, sample):
    result = function(*sample.args, **sample.kwargs)
    for output in _arrays(result):
        for argument in _arrays(sample.args) + _arrays(sample.kwargs):
            assert not np.shares_memory(output, argument)


def test_views_and_functions_that_may_return_their_argument_are_not_fresh():
    may_share = [np.reshape, np.ravel, np.transpose, np.squeeze, np.expand_dims, np.broadcast_to, np.asarray,
                 np.ndarray.astype, np.ndarray.reshape, np.swapaxes, np.moveaxis, np.flip, list, tuple, sum, max]
    assert [f for f in may_share if RULES[f].fresh] == []
    assert all(RULES[f].fresh for f in (np.sum, np.std, np.linalg.norm, np.full, np.linspace, np.arange, np.zeros, np.eye,
                                        np.dot, np.outer, np.concatenate, np.stack, np.where, np.array))


# Specialisations (rrules for float64 arguments of known ndim, inlined by the transformer): each is checked
# against finite differences on its samples, is in the form the transformer pastes, and passes Zero and
# Thunk cotangents through as the general rule does.
SPECIALISED = [pytest.param(f, specialisation, sample, id=f"{getattr(f, '__qualname__', f)}-{specialisation.rrule.__name__}-{n}")
               for f, rule in RULES.items() for specialisation in rule.specialisations
               for n, sample in enumerate(specialisation.samples())]


def test_specialisations_exist_and_are_inlinable():
    from sourcediff.transform.templates import pullback_templates

    assert len(SPECIALISED) >= 8
    for f, rule in RULES.items():
        for specialisation in rule.specialisations:
            assert pullback_templates(specialisation.rrule) is not None, specialisation.rrule


@pytest.mark.parametrize("function, specialisation, sample", SPECIALISED)
def test_specialised_rrule_matches_finite_differences(function, specialisation, sample):
    assert specialisation.matches([np.ndim(a) for a in sample.args], sample.kwargs)
    assert all(np.asarray(a).dtype == np.float64 for a in sample.args)
    y = function(*sample.args, **sample.kwargs)
    if specialisation.ndim is not None:
        assert specialisation.result_ndim([np.ndim(a) for a in sample.args], sample.kwargs) == np.ndim(y)
    cotangents = test_rrule(function, *sample.args, rule=specialisation.rrule, **sample.kwargs)
    general = test_rrule(function, *sample.args, **sample.kwargs)
    for ours, theirs in zip(cotangents[1:], general[1:]):
        np.testing.assert_allclose(extern(ours), extern(theirs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("function, specialisation, sample", SPECIALISED)
def test_specialised_pullbacks_take_zero_and_thunk_cotangents(function, specialisation, sample):
    y, pullback = specialisation.rrule(*sample.args, **sample.kwargs)
    assert all(is_zero(c) for c in pullback(ZERO)[1:])
    seed = np.random.default_rng(3).normal(size=np.shape(y))
    direct, deferred = pullback(seed), pullback(Thunk(lambda: seed))
    for a, b in zip(direct[1:], deferred[1:]):
        np.testing.assert_array_equal(extern(a), extern(b))
