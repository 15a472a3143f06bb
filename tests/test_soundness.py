"""No silent zeros, no internal crashes: each case of the soundness issue that is not a corpus function."""
import copy
import math
import sys

import numpy as np
import pytest

import sourcediff as sd
from sourcediff import runtime
from sourcediff.testing import fd_vjp


def _check(f, *args):
    """sd.gradient of `f` at `args` equals finite differences, leaves `args` alone, and gives the primal."""
    saved = copy.deepcopy(args)
    grads = sd.gradient(f, *args)
    y, _ = sd.pullback(f, *copy.deepcopy(saved))
    assert np.allclose(y, f(*copy.deepcopy(saved)))
    for before, after in zip(saved, args):
        assert np.array_equal(before, after)
    for got, want in zip(grads, fd_vjp(f, copy.deepcopy(saved), 1.0)):
        np.testing.assert_allclose(0.0 if got is None else got, want, rtol=1e-6, atol=1e-8)
    return grads


class _Lookup:
    def __init__(self, weight):
        self.weight = weight

    def __getitem__(self, t):
        return self.weight * t * t


def indexes_a_user_object(x, w):
    return _Lookup(w)[x]


def concatenates_with_r_and_c(x, y):
    return np.sum(np.r_[x, y] * np.r_[y, x]) + np.sum(np.c_[x, y] ** 2)


def test_an_index_carrying_a_derivative_is_differentiated():
    _check(indexes_a_user_object, 1.5, 2.0)
    _check(concatenates_with_r_and_c, np.array([1.0, 2.0]), np.array([3.0, -1.0]))


def copies_then_writes(x):
    y = np.array(x, copy=False)  # NumPy may return x itself: the write then changes x
    y[0] = 5.0
    return np.sum(y * x)


def helper_writes(buf, value):
    buf[1] = value


def calls_a_helper_that_writes(x):
    out = np.zeros(3)
    helper_writes(out, x * 2.0)
    return np.sum(out * out)


def copyto_and_out(x):
    out = np.zeros(2)
    np.copyto(out, x * 3.0)
    acc = np.zeros(2)
    np.multiply(x, x, out=acc)
    return np.sum(out * acc)


def test_writes_by_calls_are_differentiated():
    assert _check(copies_then_writes, np.array([1.0, 2.0]))[0][0] == 0.0
    _check(calls_a_helper_that_writes, 0.7)
    _check(copyto_and_out, np.array([0.5, -1.5]))


class scale_holder:  # a user object named like a module attribute path
    scale = 2.0


def uses_its_own_operator_name(x):
    operator = scale_holder()
    return x * operator.scale + x * x


def test_generated_names_never_collide_with_the_users():
    assert _check(uses_its_own_operator_name, 1.5) == (5.0,)


# Positions that carry no derivative, each from the activity pass's docstring

def compares(x):
    return float(x > 1.0) + x


def floor_divides(x):
    return x // 0.5 + x


def reads_shape(v):
    return v.shape[0] * v.size + np.sum(v)


def calls_len_and_argmax(v):
    return len(v) + float(np.argmax(v)) + np.sum(v)


def default_of_a_lambda(x):
    g = lambda t, k=2.0: t * k
    return g(x)


@pytest.mark.parametrize("f, args", [(compares, (1.5,)), (floor_divides, (0.7,)), (reads_shape, (np.array([1.0, 2.0]),)),
                                     (calls_len_and_argmax, (np.array([1.0, 3.0, 2.0]),)), (default_of_a_lambda, (0.7,))],
                         ids=["compare", "floordiv", "shape", "len-argmax", "lambda-default"])
def test_non_differentiable_positions_are_only_those_that_are_safe(f, args):
    _check(f, *args)


def test_an_exception_in_sourcediffs_own_code_becomes_an_internal_error(monkeypatch):
    monkeypatch.setattr(runtime, "restored", runtime.unpack)  # a helper called wrongly: a TypeError inside the pullback

    def loop(x):
        for i in range(3):
            x = x * x
        return x

    with pytest.raises(sd.errors.InternalError) as info:
        sd.gradient(loop, 0.5)
    assert "loop" in str(info.value) and "bug in sourcediff" in str(info.value) and __file__ in str(info.value)


def test_the_users_own_exception_passes_unchanged():
    def fails(x):
        raise ZeroDivisionError("mine")

    with pytest.raises(ZeroDivisionError, match="mine"):
        sd.gradient(fails, 1.0)
    with pytest.raises(ValueError):
        sd.gradient(lambda x: math.log(x), -1.0)


def deep(x, n):
    if n == 0:
        return x
    return deep(x * 0.999 + 0.001, n - 1)


def test_recursion_as_deep_as_the_primal_allows():
    """In every mode, and with the recursion limit back as it was afterwards (the room for the derivative's own
    frames is made where a derivative first calls the user's function)."""
    limit = sys.getrecursionlimit()
    assert sd.gradient(deep, 0.4, 900)[0] == pytest.approx(0.999 ** 900)
    assert sd.jvp(deep, (0.4, 900), (1.0, 0))[1] == pytest.approx(0.999 ** 900)
    assert sd.hvp(lambda x: deep(x, 400) ** 2, (0.4,), (1.0,))[0] == pytest.approx(2 * 0.999 ** 800)
    assert sys.getrecursionlimit() == limit


# Appends change the list alone: only the names that may hold the list follow them

def appends_while_an_alias_holds_the_list(x):
    items = []
    alias = items
    scale = x[0] * 0.5
    for k in range(3):
        items.append(x * (k + 1.0) + scale)
    return np.sum(sum(alias)) * len(items) + np.sum(np.asarray(alias) ** 2)


def appends_values_then_writes_one(x):
    row = x * 2.0
    items = []
    items.append(row)
    items.append(row * x)
    row[0] = 7.0  # the list holds `row`: it would see the write
    return np.sum(items[0] * items[1]) + np.sum(row * x)


def test_appends_follow_python_through_aliases_and_held_values():
    """An alias of the list sees its appends; a later write into a value the list holds is still checked (and,
    as the list shares its memory, refused)."""
    _check(appends_while_an_alias_holds_the_list, np.array([0.4, -1.2]))
    with pytest.raises(sd.UnsupportedSyntaxError, match="'row': 'items', still in use"):
        sd.gradient(appends_values_then_writes_one, np.array([0.4, -1.2, 0.9]))


def test_an_append_rebinds_only_the_names_that_may_hold_the_list():
    """The effects pass rebinds the names that may hold a list an append changes, not those the list holds."""
    from sourcediff.transform import pipeline

    effects_text = pipeline.stages(appends_while_an_alias_holds_the_list)["effects"]
    rebound = {line.split("=")[0].strip() for line in effects_text.splitlines() if ".rebind(" in line}
    assert rebound == {"alias"}
