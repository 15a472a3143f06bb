"""Batches of tangents (`sourcediff.batch`): every operation on a batch is that operation on each tangent.

Each test computes the same thing tangent by tangent on plain arrays and compares it with the batched
result, which must agree to rounding (the batched forms reorder no sums but the per-axis ones NumPy does).
"""
import math

import numpy as np
import pytest

import sourcediff as sd
from sourcediff import batch
from sourcediff.batch import Batch, BatchFallback
from sourcediff.rules.differentials import NO_FIELDS, ZERO, Tangent, is_zero
from sourcediff.rules.registry import RULES, samples_of
from sourcediff.testing import _random_like, leaves

from ..differences import jacobian_by_differences

SIZE = 3


def stack_of(shape, seed=0, dtype=float):
    rng = np.random.default_rng(seed)
    stack = rng.standard_normal((SIZE,) + shape)
    return stack.astype(dtype) if dtype is not complex else stack + 1j * rng.standard_normal((SIZE,) + shape)


def assert_per_tangent(batched, per_tangent):
    """`batched` stands for the list `per_tangent` (one result per tangent)."""
    for i, expected in enumerate(per_tangent):
        got = batch._sample(batched, i)
        got_leaves, expected_leaves = _leaves(got), _leaves(expected)
        assert len(got_leaves) == len(expected_leaves), (got, expected)
        for g, e in zip(got_leaves, expected_leaves):
            if is_zero(e) or is_zero(g):
                assert np.all(np.asarray(0.0 if is_zero(g) else g) == 0) and np.all(np.asarray(0.0 if is_zero(e) else e) == 0)
                continue
            assert np.shape(g) == np.shape(e), (np.shape(g), np.shape(e))
            # (a Python float tangent is a float64 in a batch: against float32 arrays, float32's precision)
            single = np.result_type(g) == np.float32 or np.result_type(e) == np.float32
            np.testing.assert_allclose(g, e, rtol=1e-6 if single else 1e-12, atol=1e-6 if single else 1e-12)


def _leaves(value):
    if isinstance(value, Tangent):
        return [leaf for key in sorted(value.fields) for leaf in _leaves(value.fields[key])]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _leaves(value[key])]
    return [value]


def check(operation, *shapes, dtype=float):
    """`operation` of batches of random tangents of `shapes` against it tangent by tangent."""
    stacks = [stack_of(shape, seed, dtype) for seed, shape in enumerate(shapes)]
    batched = operation(*[Batch(s) for s in stacks])
    assert_per_tangent(batched, [operation(*[s[i] for s in stacks]) for i in range(SIZE)])
    return batched


# Elementwise arithmetic: the batch axis is never broadcast against the tangents' own axes

@pytest.mark.parametrize("shapes", [((), ()), ((4,), ()), ((), (4,)), ((2, 4), (4,)), ((4,), (2, 4)), ((2, 1), (1, 3))])
def test_binary_arithmetic_broadcasts_each_tangent_as_numpy_does(shapes):
    for operation in (np.add, np.subtract, np.multiply, lambda a, b: a * 2.0 - b / 3.0):
        check(operation, *shapes)


@pytest.mark.parametrize("primal_shape, tangent_shape", [((4,), ()), ((2, 4), (4,)), ((), ()), ((3, 1), (1, 2))])
def test_batches_mix_with_plain_arrays_the_same_for_every_tangent(primal_shape, tangent_shape):
    primal = np.random.default_rng(5).standard_normal(primal_shape) + 2.0
    for operation in (lambda t: primal * t, lambda t: t * primal, lambda t: t / primal, lambda t: primal - t,
                      lambda t: np.cos(primal) * t + t, lambda t: -t, lambda t: t ** 2, lambda t: np.exp(t) * primal,
                      lambda t: math.pi * t, lambda t: np.float64(2.0) * t):
        check(operation, tangent_shape)


def test_complex_tangents_and_their_parts():
    check(lambda t: (t.real, t.imag, np.conj(t), t.conj(), np.real(t), np.imag(t), abs(t)), (3,), dtype=complex)


def test_in_place_arithmetic_writes_each_tangent():
    def operation(t):
        t = t.copy()
        t += np.arange(4.0)
        t *= 2.0
        t -= 1.0
        return t

    check(operation, (2, 4))


# Reductions, shapes, joins

@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
def test_reductions_over_each_tangents_axes(axis):
    check(lambda t: (np.sum(t, axis=axis), np.mean(t, axis=axis), t.sum(axis=axis), np.sum(t, axis=axis, keepdims=True)),
          (2, 3))


def test_reductions_that_run_once_per_tangent():
    check(lambda t: (np.max(t, axis=0), np.prod(t), np.linalg.norm(t), t.max(), np.sort(t, axis=-1), np.add.reduce(t, 1)),
          (2, 3))


def test_shapes():
    check(lambda t: (np.reshape(t, (3, 2)), t.reshape(6), t.reshape(3, -1), t.T, np.transpose(t), t.transpose(1, 0),
                     np.swapaxes(t, 0, 1), np.moveaxis(t, 0, -1), np.expand_dims(t, 0), np.expand_dims(t, -1),
                     np.squeeze(np.expand_dims(t, 1)), np.broadcast_to(t, (4, 2, 3)), t.ravel(), t.flatten(),
                     np.flip(t), np.flip(t, 1), np.cumsum(t), np.cumsum(t, axis=1), np.diagonal(t), np.trace(t),
                     np.take(t, [0, 2], axis=1), np.take(t, [1, 4]), np.zeros_like(t), np.ones_like(t), np.copy(t), t.copy(),
                     t.astype(np.float32), len(t), list(t), t.tolist(), t.shape, t.ndim, t.size, np.shape(t), np.ndim(t)),
          (2, 3))


def test_squeeze_keeps_a_batch_of_one():
    squeezed = np.squeeze(Batch(np.ones((1, 1, 3))))
    assert squeezed.stack.shape == (1, 3)


def test_joins_with_plain_arrays():
    plain = np.arange(3.0)
    check(lambda a, b: (np.concatenate([a, b]), np.concatenate([a, plain]), np.stack([a, b], axis=1),
                        np.stack([plain, b]), np.where(plain > 0.5, a, b), np.where(plain > 0.5, a, 0.0)), (3,), (3,))


# Products

@pytest.mark.parametrize("tangent_ndim", [1, 2, 3])
@pytest.mark.parametrize("other_ndim", [1, 2, 3])
def test_matrix_products_on_either_side(tangent_ndim, other_ndim):
    tangent_shape = {1: (3,), 2: (4, 3), 3: (2, 4, 3)}[tangent_ndim]
    other = np.random.default_rng(9).standard_normal({1: (3,), 2: (3, 5), 3: (2, 3, 5)}[other_ndim])
    if not (tangent_ndim == 1 and other_ndim == 1):
        check(lambda t: t @ other, tangent_shape)
    left_shape = {1: (3,), 2: (3, 4), 3: (2, 3, 4)}[tangent_ndim]
    left = np.random.default_rng(9).standard_normal({1: (3,), 2: (5, 3), 3: (2, 5, 3)}[other_ndim])
    check(lambda t: left @ t, left_shape)
    check(lambda t: np.matmul(left, t), left_shape)


def test_dot_einsum_and_other_products():
    matrix = np.random.default_rng(3).standard_normal((4, 3))
    check(lambda t: (np.dot(matrix, t), np.dot(t, matrix.T), np.dot(2.0, t), np.einsum("ij,j->i", matrix, t),
                     np.einsum("...j,ij->...i", t, matrix), np.outer(t, t[:2]), np.inner(t, t), t.dot(matrix.T)), (3,))
    check(lambda a, b: a @ b, (2, 3), (3, 2))  # both batches: once per tangent


# Indexing

KEYS = [0, -1, slice(1, None), (Ellipsis, 0), (0, slice(None)), (slice(None), 1), None, (None, 0),
        [1, 0], np.array([1, 1]), (slice(None), [0, 2]), ([0, 1], [2, 0]), (slice(None), [0, 1], 0),
        ([0, 1], slice(None), [1, 0]), (0, slice(None), [1, 0]), np.array([[True, False, True, False], [False, True, True, False]]),
        (np.array([True, False]),), (1, 2, 3)]


@pytest.mark.parametrize("key", KEYS, ids=[repr(k)[:30] for k in KEYS])
def test_reading_entries(key):
    check(lambda t: t[key], (2, 4, 5))


@pytest.mark.parametrize("key", [0, (slice(None), 1), [1, 0], (Ellipsis, 1), ([0, 1], slice(None), [1, 0]), (0, slice(None), [1, 0])])
def test_writing_entries(key):
    shape = (2, 4, 5)

    def written(t, value):
        t = t.copy()
        t[key] = value
        return t

    region = np.empty(shape)[key].shape
    check(written, shape, region)
    check(lambda t: written(t, 1.5), shape)
    plain = np.random.default_rng(1).standard_normal(region)
    check(lambda t: written(t, plain), shape)


def test_views_of_a_batch_write_through_as_views_of_a_tangent_do():
    def operation(t):
        t = t.copy()
        row = t[0]
        row[1] = 7.0
        return t

    check(operation, (2, 3))


# What a batch cannot be: one value

@pytest.mark.parametrize("conversion", [float, bool, int, complex, np.asarray, np.array, lambda t: math.sin(t),
                                        lambda t: np.zeros(3) + np.asarray(t), lambda t: operator_index(t)])
def test_converting_a_batch_to_one_value_falls_back(conversion):
    with pytest.raises(BatchFallback):
        conversion(Batch(np.ones((SIZE, 3)) if conversion not in (float, bool, int, complex) else np.ones(SIZE)))


def operator_index(t):
    return [1, 2, 3][t]


def test_writing_a_batch_into_a_plain_array_falls_back():
    target = np.zeros(3)
    with pytest.raises(ValueError) as raised:  # (NumPy reports the fallback as the cause of its own error)
        target[0] = Batch(np.ones(SIZE))
    assert batch.fell_back(raised.value)
    with pytest.raises(BatchFallback):
        np.add.at(target, [0, 1], Batch(np.ones((SIZE, 2))))
    with pytest.raises(BatchFallback):
        np.copyto(target, Batch(np.ones((SIZE, 3))))
    with pytest.raises(BatchFallback):
        np.add(np.ones(3), Batch(np.ones((SIZE, 3))), out=target)
    np.testing.assert_array_equal(target, 0.0)


def test_writing_into_a_batch_once_per_tangent():
    def operation(t, v):
        t = t.copy()
        np.add.at(t, [0, 0, 2], v)
        np.copyto(t[1:], 5.0)
        return t

    check(operation, (3,), (3,))


def test_zeros_and_thunks_combine_with_batches():
    t = Batch(stack_of((3,)))
    assert (t + ZERO) is t and (ZERO + t) is t and is_zero(t * ZERO) and is_zero(ZERO * t)
    np.testing.assert_array_equal((sd.Thunk(lambda: np.ones(3)) + t).stack, t.stack + 1.0)
    np.testing.assert_array_equal((t + sd.One()).stack, t.stack + 1.0)


# Every registered rule: its frule in batched code, declared batch-aware or run once per tangent

def _rule_cases(mode):
    """One case per sample of every differentiable rule with an frule (`mode` "frule") or rrule."""
    return [pytest.param(f, rule, sample, id=f"{getattr(f, '__qualname__', f)}-{n}")
            for f, rule in RULES.items()
            if getattr(rule, mode) is not None and rule.differentiable and not rule.updates
            for n, sample in enumerate(samples_of(rule) or [])]


RULE_CASES, RRULE_CASES = _rule_cases("frule"), _rule_cases("rrule")


@pytest.mark.parametrize("function, rule, sample", RULE_CASES)
def test_every_frule_takes_a_batch_of_tangents(function, rule, sample):
    """A batch-aware pushforward gives, on a batch, what it gives tangent by tangent, without falling back;
    any other runs once per tangent in batched code, which must come to the same."""
    import copy

    args = copy.deepcopy(sample.args)
    y, pushforward = batch.batched_frule(rule.frule, rule)(*args, **sample.kwargs)
    rng = np.random.default_rng(4)
    tangent_sets = [[_random_like(rng, a) if leaves(a) else ZERO for a in args] for _ in range(SIZE)]
    per_tangent = [pushforward(NO_FIELDS, *tangents) for tangents in tangent_sets]
    batched_tangents = [batch._stacked([tangents[k] for tangents in tangent_sets]) for k in range(len(args))]
    batched = pushforward(NO_FIELDS, *batched_tangents)
    assert_per_tangent(batched, per_tangent)


@pytest.mark.parametrize("function, rule, sample", RRULE_CASES)
def test_every_rrule_takes_a_batch_of_cotangents(function, rule, sample):
    """A batch-aware pullback gives, on a batch, what it gives cotangent by cotangent; any other runs once per
    cotangent in batched code."""
    import copy

    args = copy.deepcopy(sample.args)
    y, pullback = batch.batched_rrule(rule.rrule, rule)(*args, **sample.kwargs)
    if not leaves(y):
        return  # (no cotangent to pull back: an integer result)
    rng = np.random.default_rng(6)
    seeds = [_random_like(rng, y) for _ in range(SIZE)]
    per_cotangent = [_externed(pullback(seed)) for seed in seeds]
    assert_per_tangent(_externed(pullback(batch._stacked(seeds))), per_cotangent)


def _externed(value):
    from sourcediff.rules.differentials import extern

    value = extern(value)
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_externed(v) for v in value)
    if isinstance(value, Tangent):
        return Tangent(value.primal_type, **{k: _externed(v) for k, v in value.fields.items()})
    return value


def test_batch_aware_rules_include_the_arithmetic_forward_over_reverse_reaches():
    import operator

    from sourcediff import runtime

    for f in (operator.add, operator.mul, operator.truediv, operator.neg, np.sin, np.exp, np.sum, np.matmul, operator.matmul,
              runtime.accumulate_into, runtime.unbroadcast_to, runtime.filled, runtime.unpack, tuple, list):
        assert RULES[f].batch, f


# Whole programs: the corpus, batched against one tangent at a time

def _corpus():
    from ..corpus.functions import CORPUS

    return CORPUS


def _directions(args, seed):
    from .test_jvp import _direction

    rng = np.random.default_rng(seed)
    return [[_direction(a, rng) for a in args] for _ in range(SIZE)]


def _batched_tangents(tangent_sets):
    return [batch._stacked([tangents[k] for tangents in tangent_sets]) for k in range(len(tangent_sets[0]))]


@pytest.mark.parametrize("case", _corpus(), ids=[case.name for case in _corpus()])
def test_corpus_jvp_of_a_batch_is_each_tangents_jvp(case):
    """A batch of tangents pushed through the generated forward code gives each tangent's jvp, or falls back
    (a conversion of a tangent to one value); never another result."""
    import copy

    from sourcediff import mixed

    tangent_sets = _directions(case.args, 3)
    try:
        expected = [sd.jvp(case.function, copy.deepcopy(case.args), tangents)[1] for tangents in tangent_sets]
    except sd.SourceDiffError:
        return
    try:
        with mixed._batched():
            _, batched = sd.jvp(case.function, copy.deepcopy(case.args), _batched_tangents(tangent_sets))
    except Exception as error:  # noqa: BLE001 (only a fallback may come out)
        assert batch.fell_back(error), error
        return
    assert_per_tangent(batched, expected)


@pytest.mark.parametrize("case", _corpus(), ids=[case.name for case in _corpus()])
def test_corpus_hessian_vector_products_of_a_batch(case):
    """Forward over reverse with a batch of tangents: each tangent's Hessian-vector product, or a fallback."""
    import copy

    from sourcediff import mixed

    tangent_sets = _directions(case.args, 5)
    try:
        expected = [sd.hvp(case.function, copy.deepcopy(case.args), tangents) for tangents in tangent_sets]
    except sd.SourceDiffError:
        return
    try:
        with mixed._batched():
            _, tangents = mixed._gradient_pushed(case.function, ZERO, tuple(copy.deepcopy(case.args)),
                                                 tuple(_batched_tangents(tangent_sets)), {}, "test", self_wanted=False)
    except Exception as error:  # noqa: BLE001
        assert batch.fell_back(error), error
        return
    assert_per_tangent(tuple(b for b, a in zip(tangents[1:], case.args) if isinstance(a, (float, np.ndarray))),
                       [tuple(p for p, a in zip(e, case.args) if isinstance(a, (float, np.ndarray))) for e in expected])


# The batched entry points

_differences = jacobian_by_differences


def test_forward_jacobian_runs_the_function_once_for_every_direction(capsys):
    def f(x):
        print("ran")
        return np.sin(x) * x[0] + np.cumsum(x) @ np.ones((4, 4))

    x = np.array([0.3, -0.7, 1.1, 0.4])
    (jacobian,) = sd.jacobian(f, x, mode="forward")
    assert capsys.readouterr().out.count("ran") == 1
    np.testing.assert_allclose(jacobian, _differences(f, x), rtol=1e-8, atol=1e-8)


def test_hessian_runs_the_function_once_for_every_direction(capsys):
    def f(x):
        print("ran")
        return np.sum(np.exp(x[:2] * x[1:]) * 2.0) + x[0] ** 3

    x = np.array([0.3, -0.7, 0.5])
    hessian = sd.hessian(f, x)
    assert capsys.readouterr().out.count("ran") == 1
    np.testing.assert_allclose(hessian, _differences(lambda u: sd.gradient(f, u)[0], x), rtol=1e-7, atol=1e-7)
    np.testing.assert_array_equal(hessian, hessian.T)


def scaled_sum(x):
    return 2.0 * np.sum(x)


def test_a_batch_that_meets_a_conversion_falls_back_to_one_direction_at_a_time(capsys):
    def converting_frule(x):
        def pushforward(self_dot, x_dot):
            return 2.0 * float(np.sum(x_dot))  # a float of a batch: the batched run falls back

        return scaled_sum(x), pushforward

    def f(x):
        print("ran")
        return scaled_sum(x) * x

    sd.register_frule(scaled_sum, batch=True)(converting_frule)  # (declared batch-aware, wrongly)
    try:
        x = np.array([0.5, -1.5, 2.0])
        (jacobian,) = sd.jacobian(f, x, mode="forward")
    finally:
        del RULES[scaled_sum]
    assert capsys.readouterr().out.count("ran") == 1 + x.size  # the batched run, then one per direction
    np.testing.assert_allclose(jacobian, _differences(f, x), rtol=1e-8, atol=1e-8)


def test_nested_outputs_and_several_arguments_in_one_batch():
    def f(a, b):
        return {"s": np.sum(a * b[0]), "v": (np.tanh(a) * b[1], b[0] * 2.0)}

    a, b = np.array([0.2, -0.4, 0.9]), (1.3, np.array([0.5, -0.25, 2.0]))
    forward, reverse = sd.jacobian(f, a, b, mode="forward"), sd.jacobian(f, a, b, mode="reverse")
    for got, expected in zip(leaves(forward), leaves(reverse)):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(forward[0]["v"][0], _differences(lambda u: np.tanh(u) * b[1], a), rtol=1e-8)


@pytest.mark.parametrize("case", _corpus(), ids=[case.name for case in _corpus()])
def test_corpus_pullback_of_a_batch_is_each_cotangents_pullback(case):
    """A batch of cotangents pulled back through the generated pullback (its forward pass run batched too) gives
    each cotangent's pullback, or falls back; never another result."""
    import copy

    from sourcediff import mixed

    try:
        y, back = sd.pullback(case.function, *copy.deepcopy(case.args))
        seeds = [_random_like(np.random.default_rng(k), y) for k in range(SIZE)]
        expected = [back(seed) for seed in seeds]
    except sd.SourceDiffError:
        return
    if not leaves(y):
        return
    try:
        with mixed._batched():
            _, batched_back = sd.pullback(case.function, *copy.deepcopy(case.args))
            batched = batched_back(batch._stacked(seeds))
    except Exception as error:  # noqa: BLE001
        assert batch.fell_back(error), error
        return
    assert_per_tangent(batched, expected)


def test_a_thunk_holding_a_batch_is_run_once_per_tangent():
    stack = stack_of((3,))
    doubled = batch.looped(lambda t: np.asarray(sd.extern(t)) * 2.0)(sd.Thunk(lambda: Batch(stack)))
    np.testing.assert_array_equal(doubled.stack, stack * 2.0)
    lazy = sd.Thunk(lambda: np.ones(3))
    kept = batch.looped(lambda t, u: t)(lazy, Batch(stack))
    np.testing.assert_array_equal(np.asarray(sd.extern(kept)), np.ones(3))  # an unbatched thunk is the same for each
