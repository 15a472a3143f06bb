"""The differential types and cotangent accumulation."""
import numpy as np
import pytest

import sourcediff as sd
from sourcediff.rules.differentials import ZERO, accumulate, is_zero


def test_zero_is_free_to_add_and_absorbs_products():
    x = np.arange(3.0)
    assert accumulate(ZERO, x) is x and accumulate(x, ZERO) is x
    assert isinstance(ZERO * x, sd.Zero) and isinstance(x * ZERO, sd.Zero)


def test_numpy_never_makes_an_object_array_from_zero():
    for result in (np.ones(3) + ZERO, ZERO + np.ones(3), np.ones(3, dtype=np.float32) + ZERO):
        assert result.dtype != object
    assert (np.ones(3, dtype=np.float32) + ZERO).dtype == np.float32


def test_one_is_the_multiplicative_unit():
    x = np.array([2.0, 3.0])
    assert sd.One() * x is x and x * sd.One() is x
    assert sd.extern(sd.One()) == 1.0


def test_thunk_is_lazy_and_computed_once():
    calls = []
    thunk = sd.Thunk(lambda: calls.append(1) or 4.0)
    assert calls == []
    assert sd.extern(thunk) == 4.0 and sd.extern(thunk) == 4.0 and thunk * 2.0 == 8.0
    assert calls == [1]


def test_unused_thunks_are_never_computed():
    thunk = sd.Thunk(lambda: pytest.fail("a thunk nobody asked for was computed"))
    assert accumulate(ZERO, ZERO) is ZERO
    del thunk


def test_inplaceable_thunk_adds_into_a_copy_and_never_into_the_caller_array():
    buffer = np.ones(3)
    inplaceable = sd.InplaceableThunk(sd.Thunk(lambda: np.full(3, 2.0)), lambda b: b.__iadd__(2.0))
    assert np.array_equal(accumulate(buffer, inplaceable), np.full(3, 3.0))
    assert np.array_equal(buffer, np.ones(3))
    assert np.array_equal(sd.extern(inplaceable), np.full(3, 2.0))


def test_structural_cotangents_add_entry_by_entry():
    assert accumulate([1.0, ZERO], [ZERO, 2.0]) == [1.0, 2.0]
    assert accumulate((1.0, 2.0), (3.0, 4.0)) == (4.0, 6.0)
    assert accumulate({"a": 1.0}, {"a": 2.0, "b": 3.0}) == {"a": 3.0, "b": 3.0}
    total = accumulate(sd.Tangent(x=1.0), sd.Tangent(x=2.0, y=5.0))
    assert (total.x, total.y) == (3.0, 5.0)
    assert is_zero(sd.Tangent(x=1.0).z)


def test_mismatched_structures_are_an_error_not_a_concatenation():
    with pytest.raises(TypeError):
        accumulate([1.0], [1.0, 2.0])


def test_no_fields_is_a_zero():
    assert is_zero(sd.NO_FIELDS) and repr(sd.NO_FIELDS) == "NO_FIELDS"


def test_tangent_of_a_namedtuple_is_read_by_position():
    import collections

    point = collections.namedtuple("Point", "x y")

    def f(p):
        return p.x * p.y + p.y

    t = sd.gradient(f, point(1.0, 2.0))[0]
    assert isinstance(t, sd.Tangent)
    assert (t[0], t[1], t[-1], t[0:2], len(t)) == (2.0, 2.0, 2.0, (2.0, 2.0), 2)
    gx, gy = t
    assert (gx, gy) == (2.0, 2.0) and list(t) == [2.0, 2.0]
    partial = sd.Tangent(point, y=3.0)
    assert is_zero(partial[0]) and partial[1] == 3.0 and partial[::-1] == (3.0, ZERO) and bool(partial)
    with pytest.raises(IndexError):
        partial[2]


def test_tangent_of_other_objects_has_no_positions():
    t = sd.Tangent(x=1.0)
    with pytest.raises(TypeError):
        len(t)
    with pytest.raises(TypeError):
        t[0]
    with pytest.raises(TypeError):
        iter(t)
    assert bool(t) and t.x == 1.0
