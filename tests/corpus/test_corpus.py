"""Differentiate every function of the corpus and check it against finite differences."""
import copy
import dataclasses

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.testing import central_fdm, cotangent_leaves, fd_vjp, leaves

from .functions import CORPUS

RTOL, ATOL = 1e-5, 1e-6
RTOL32, ATOL32 = 2e-3, 1e-4  # float32 gradients are compared with float64 finite differences


def _same(before, after):
    """Deep equality of argument values (arrays compared exactly, dtype included)."""
    if isinstance(before, np.ndarray):
        return isinstance(after, np.ndarray) and before.dtype == after.dtype and before.shape == after.shape \
            and np.array_equal(before, after)
    if isinstance(before, (list, tuple)):
        return type(before) is type(after) and len(before) == len(after) and all(map(_same, before, after))
    if isinstance(before, dict):
        return type(after) is dict and list(before) == list(after) and all(_same(before[k], after[k]) for k in before)
    if dataclasses.is_dataclass(before):
        return type(before) is type(after) and all(
            _same(getattr(before, f.name), getattr(after, f.name)) for f in dataclasses.fields(before))
    return type(before) is type(after) and before == after


def _check_leaf(primal, got, want, what):
    if got is None:
        got = np.zeros(np.shape(primal))
    else:
        assert np.shape(got) == np.shape(primal), f"{what}: shape {np.shape(got)} != primal shape {np.shape(primal)}"
        if isinstance(primal, np.ndarray):
            assert isinstance(got, np.ndarray), f"{what}: cotangent of an array is {type(got).__name__}"
            assert got.dtype == primal.dtype, f"{what}: dtype {got.dtype} != primal dtype {primal.dtype}"
        else:
            assert np.ndim(got) == 0, f"{what}: cotangent of a scalar is {got!r}"
        assert not np.iscomplexobj(got), f"{what}: complex cotangent for a real input"
    low = isinstance(primal, np.ndarray) and primal.dtype == np.float32
    rtol, atol = (RTOL32, ATOL32) if low else (RTOL, ATOL)
    np.testing.assert_allclose(np.asarray(got, dtype=float), want, rtol=rtol, atol=atol, err_msg=what)


def _check_dataclass(case, index, primal, cotangent):
    """Finite differences over the float fields of a dataclass argument (fd_vjp does not see them)."""
    fdm = central_fdm(5, 1)
    for f in dataclasses.fields(primal):
        value = getattr(primal, f.name)
        if not isinstance(value, float):
            continue

        def along(t, name=f.name, value=value):
            args = list(copy.deepcopy(case.args))
            args[index] = dataclasses.replace(primal, **{name: value + t})
            return float(case.function(*args))

        want = fdm(along, 0.0)
        got = getattr(cotangent, f.name, 0.0) if cotangent is not None else 0.0
        got = 0.0 if sd.rules.differentials.is_zero(got) else got
        np.testing.assert_allclose(float(got), want, rtol=RTOL, atol=ATOL,
                                   err_msg=f"argument {index} field {f.name}")


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_gradient_matches_finite_differences(case):
    saved = copy.deepcopy(case.args)
    grads = sd.gradient(case.function, *case.args)

    for number, (before, after) in enumerate(zip(saved, case.args)):
        assert _same(before, after), f"argument {number} was changed by sd.gradient"
    assert isinstance(grads, tuple) and len(grads) == len(case.args)

    expected = fd_vjp(case.function, saved, 1.0)
    primal_leaves = leaves(saved)
    for index, (primal, grad) in enumerate(zip(saved, grads)):
        if isinstance(primal, (int, np.integer)) and not isinstance(primal, bool):
            assert grad is None or grad == 0, f"argument {index} (an integer count) has cotangent {grad!r}"
        if isinstance(primal, np.ndarray) and primal.dtype.kind in "iub":
            assert grad is None or not np.any(grad), f"integer array argument {index} has cotangent {grad!r}"
        if dataclasses.is_dataclass(primal):
            _check_dataclass(case, index, primal, grad)
    actual = [leaf for primal, grad in zip(saved, grads) for leaf in cotangent_leaves(primal, grad)]
    assert len(actual) == len(primal_leaves) == len(expected)
    for number, (primal, got, want) in enumerate(zip(primal_leaves, actual, expected)):
        _check_leaf(primal, got, want, f"{case.name}: cotangent leaf {number}")

    for number, (before, after) in enumerate(zip(saved, case.args)):
        assert _same(before, after), f"argument {number} was changed"


_TWICE = [case for case in CORPUS if case.name in {
    "mlp_loss", "inplace_numpy_loop", "while_data_dependent", "list_append_sum", "dict_items_loop",
    "augmented_arrays", "closure_capture", "namedtuple_attributes", "list_inplace_element", "inplace_numpy_copy"}]


@pytest.mark.parametrize("case", _TWICE, ids=[case.name for case in _TWICE])
def test_pullback_can_be_called_twice(case):
    saved = copy.deepcopy(case.args)
    y, back = sd.pullback(case.function, *case.args)
    np.testing.assert_allclose(y, case.function(*saved), rtol=1e-12)
    first = back(1.0)
    second = back(1.0)
    a = [leaf for p, g in zip(saved, first) for leaf in cotangent_leaves(p, g)]
    b = [leaf for p, g in zip(saved, second) for leaf in cotangent_leaves(p, g)]
    assert len(a) == len(b)
    for x, z in zip(a, b):
        np.testing.assert_array_equal(0.0 if x is None else x, 0.0 if z is None else z)
    scaled = back(2.0)
    c = [leaf for p, g in zip(saved, scaled) for leaf in cotangent_leaves(p, g)]
    for x, z in zip(a, c):
        np.testing.assert_allclose(2.0 * np.asarray(0.0 if x is None else x), 0.0 if z is None else z, rtol=1e-12)
    for before, after in zip(saved, case.args):
        assert _same(before, after)
