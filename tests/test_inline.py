"""Rules inlined into the generated code: elementwise rules on float64 arrays, specialised on each argument's kind."""
import copy

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.testing import fd_vjp

RNG = np.random.default_rng(5)


def _check(f, *args, **kwargs):
    """sd.gradient of `f` equals finite differences (argument by argument, dtype and shape kept), leaves the
    arguments alone and gives the primal."""
    saved = copy.deepcopy(args)
    grads = sd.gradient(f, *args, **kwargs)
    y, _ = sd.pullback(f, *copy.deepcopy(saved), **kwargs)
    np.testing.assert_allclose(y, f(*copy.deepcopy(saved), **kwargs), rtol=1e-12)
    for before, after in zip(saved, args):
        assert np.array_equal(before, after)
    expected = fd_vjp(lambda *a: f(*a, **kwargs), copy.deepcopy(saved), 1.0)
    for primal, got, want in zip(saved, grads, expected):
        assert np.shape(got) == np.shape(primal)
        if isinstance(primal, np.ndarray):
            assert isinstance(got, np.ndarray) and got.dtype == primal.dtype
        tolerance = 1e-3 if np.asarray(primal).dtype == np.float32 else 1e-7
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance)
    return grads


def layer(w, b, x):
    return np.sum(np.tanh(x @ w + b) ** 2)


def broadcasting(a, b, c):
    d = a * b - c / (1.5 + b * b)
    return np.sum(np.exp(-d) + np.sin(a) * c)


def mixed_scalars(x, s, t):
    y = s * x + np.cos(t) * x * x
    return np.mean(y / (2.0 + np.cos(y)))


def loop_carried(h, w, xs):
    for t in range(4):
        h = np.tanh(w @ h + xs[t])
    return np.sum(h * h)


def branch_changes_kind(x, flag):
    y = x * 2.0
    if flag > 0.0:
        y = [x, x]
    return np.sum(y[0] * y[1]) if flag > 0.0 else np.sum(y * y)


CASES = [
    (layer, (RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=(5, 3)))),
    (broadcasting, (RNG.normal(size=(3, 1)), RNG.normal(size=(1, 4)), RNG.normal(size=4))),
    (broadcasting, (RNG.normal(size=(2, 3)), RNG.normal(size=3), 0.7)),
    (mixed_scalars, (RNG.normal(size=(2, 3)), 0.4, np.float64(1.1))),
    (loop_carried, (RNG.normal(size=3), RNG.normal(size=(3, 3)) / 2, RNG.normal(size=(4, 3)))),
    (branch_changes_kind, (RNG.normal(size=3), 1.0)),
    (branch_changes_kind, (RNG.normal(size=3), -1.0)),
]


@pytest.mark.parametrize("f, args", CASES, ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(CASES)])
def test_inlined_elementwise_rules_match_finite_differences(f, args):
    _check(f, *args)


def test_elementwise_rules_on_float64_arrays_are_inlined():
    text = sd.source(layer, example=CASES[0][1])
    assert "tanh_rrule(" not in text and "add_rrule(" not in text
    assert "* (1 - tanh ** 2)" in text or "* (1 - " in text
    assert "runtime.unbroadcast_to(" in text  # `x @ w + b` broadcasts b
    assert "tanh_rrule(add)" in sd.source(layer)  # without an example nothing is known about the arguments


@pytest.mark.parametrize("dtype", [np.float32, np.complex128, np.int64])
def test_other_dtypes_get_the_rules_and_their_own_specialisation(dtype):
    """The inlined code is specialised on float64 arrays: other dtypes run the rules, with projections."""
    a = (RNG.normal(size=(2, 3)) * 3).astype(dtype)
    b = RNG.normal(size=3)
    args = (a, b, 0.5)
    if dtype is np.complex128:
        def real_part(a, b, c):
            return np.sum(np.abs(np.exp(-(a * b)) * c) ** 2)
        (a_bar, b_bar, c_bar) = sd.gradient(real_part, a, b, 0.5)
        step = 1e-6
        direction = RNG.normal(size=a.shape) + 1j * RNG.normal(size=a.shape)
        numeric = (real_part(a + step * direction, b, 0.5) - real_part(a - step * direction, b, 0.5)) / (2 * step)
        assert np.real(np.vdot(a_bar, direction)) == pytest.approx(numeric, rel=1e-6)
        assert "mul_rrule(a, b)" in sd.source(real_part, example=args)
        return
    text = sd.source(broadcasting, example=args)
    assert "mul_rrule(a, b)" in text
    grads = sd.gradient(broadcasting, *args)
    if dtype is np.int64:
        assert grads[1].dtype == np.float64
        _check(lambda b, c: broadcasting(a, b, c), b, 0.5)
    else:
        _check(broadcasting, *args)
    _check(broadcasting, a.astype(np.float64), b, 0.5)  # and the float64 version alongside it


def test_specialisations_for_different_ndims_are_kept_apart():
    def f(x, y):
        return np.sum(np.sin(x) * y)

    vector, matrix = RNG.normal(size=3), RNG.normal(size=(2, 3))
    for x, y in [(vector, vector), (matrix, vector), (vector, matrix), (matrix, 0.5), (0.5, matrix), (vector, vector)]:
        _check(f, x, y)


def test_data_passed_by_keyword_is_specialised_too():
    def loss(w, inputs, targets):
        return np.mean((np.tanh(inputs @ w) - targets) ** 2)

    w, inputs, targets = RNG.normal(size=(3, 2)), RNG.normal(size=(4, 3)), RNG.normal(size=(4, 2))
    (w_bar,) = _check(loss, w, inputs=inputs, targets=targets)
    assert w_bar.shape == (3, 2)


def test_an_array_an_inlined_rule_reads_is_not_changed_by_a_later_write():
    def f(x):
        y = x * 1.0
        z = np.sin(y)
        y[0] = 5.0
        return np.sum(z * y)

    _check(f, RNG.normal(size=3))


def test_accumulate_into_adds_in_place_only_into_arrays_nobody_else_sees():
    from sourcediff import runtime

    def owned():
        buffer = np.ones(3)
        before = id(buffer)
        buffer = runtime.accumulate_into(buffer, np.full(3, 2.0))
        return id(buffer) == before, buffer

    in_place, value = owned()
    assert in_place and np.array_equal(value, np.full(3, 3.0))

    shared = np.ones(3)
    alias = shared
    result = runtime.accumulate_into(alias, np.full(3, 2.0))
    assert np.array_equal(shared, np.ones(3)) and np.array_equal(result, np.full(3, 3.0))

    base = np.ones(4)

    def through_a_view():
        view = base[:3] * 1.0  # a new array: may be added into
        window = base[1:]  # a view of an array held elsewhere: may not
        return runtime.accumulate_into(view, np.ones(3)), runtime.accumulate_into(window, np.ones(3))

    added, windowed = through_a_view()
    assert np.array_equal(base, np.ones(4)) and np.array_equal(windowed, np.full(3, 2.0))
    assert np.array_equal(runtime.accumulate_into(np.ones(2, dtype=np.float32), np.ones(2)), np.full(2, 2.0))


def test_cotangents_accumulated_in_a_loop_are_right_and_arguments_unchanged():
    def f(w, xs):
        total = 0.0
        for t in range(3):
            total = total + np.sum(np.tanh(w @ xs[t]) * xs[t])
        return total

    _check(f, RNG.normal(size=(4, 4)) / 2, RNG.normal(size=(3, 4)))


def chain(x):
    return np.sum(np.exp(np.sin(x) * np.cos(x)) ** 2)


def cosine_in_a_branch(x, flag):
    s = np.sin(x)
    if flag > 0.0:
        c = np.cos(x)
        s = s * c
    return np.sum(s)


def operand_reassigned(x):
    c = np.cos(x)
    x = x * 2.0
    return np.sum(np.sin(x) * c)


def test_partials_reuse_what_the_forward_computed():
    x = RNG.normal(size=5)
    _check(chain, x)
    assert "np.cos(x)" not in _pullback_code(chain, (x,)) and "np.sin(x)" not in _pullback_code(chain, (x,))


@pytest.mark.parametrize("f, args", [(cosine_in_a_branch, (RNG.normal(size=4), 1.0)),
                                     (cosine_in_a_branch, (RNG.normal(size=4), -1.0)),
                                     (operand_reassigned, (RNG.normal(size=4),))])
def test_values_that_may_differ_are_not_reused(f, args):
    _check(f, *args)
    assert "np.cos(" in _pullback_code(f, args)


def _pullback_code(f, args):
    """The generated pullback's statements (no comments) for a call with `args`."""
    pullback = sd.source(f, example=args).split("_pullback(state")[1]
    return "\n".join(line for line in pullback.splitlines() if not line.strip().startswith("#"))


def elementwise_loop(x, w):
    total = 0.0
    out = np.zeros(len(x))
    for i in range(len(x)):
        total = total + x[i] * w[i] * x[i]
        out[i] = total * w[i]
    return np.sum(out * out)


def test_loops_over_elements_read_and_write_cotangents_in_place_and_stay_right():
    x, w = RNG.normal(size=6), RNG.normal(size=6)
    _check(elementwise_loop, x, w)
    assert "add_at_index" in sd.source(elementwise_loop, example=(x, w))


def test_own_copies_only_what_something_else_refers_to():
    from sourcediff import runtime
    from sourcediff.rules.registry import lookup

    own_rrule = lookup(runtime.own_array).rrule

    def alone():
        out = np.zeros(3)
        return own_rrule(out)[0] is out

    def held():
        out = np.zeros(3)
        holder = [out]
        return own_rrule(out)[0] is out or holder[0] is not out

    def a_view():
        base = np.zeros(4)
        out = base[1:]
        return own_rrule(out)[0] is out

    assert alone() and not held() and not a_view()


# Reductions along axes written as constants, and partials at constant arguments, are inlined too.

def reductions_along_axes(x, y):
    top = np.max(x, axis=1, keepdims=True)
    total = np.sum(np.exp(x - top), axis=-1)
    middle = np.mean(x * y, axis=0)
    low = np.min(y, axis=(0, 1))
    whole = np.mean(y, axis=None) * np.sum(np.max(x, axis=None, keepdims=True))
    return np.sum(np.log(total)) + np.sum(middle * middle) + np.sum(low * low) + whole


def powers(x):
    return np.sum(x ** 2 + x ** 3 - 0.5 * x ** -1 + x ** 1.5)


def test_reductions_along_constant_axes_are_inlined_and_right():
    args = (RNG.normal(size=(3, 4)), RNG.normal(size=(2, 3, 4)))
    _check(reductions_along_axes, *args)
    code = _pullback_code(reductions_along_axes, args)
    assert "_rrule" not in code and "_pullback(" not in code
    assert "spread_over(" in code and "extremum_cotangent(" in code


def test_a_reduction_along_an_axis_held_in_a_variable_calls_its_rule():
    def along(x, axis):
        return np.sum(np.sum(x, axis=axis) ** 2)

    assert "sum_rrule(x, axis=axis)" in sd.source(along, example=(RNG.normal(size=(3, 4)), 1))


def test_tied_extrema_along_an_axis_share_the_cotangent():
    def tops(x):
        return np.sum(np.max(x, axis=1)) + np.sum(np.min(x, axis=0, keepdims=True))

    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    assert "extremum_cotangent(" in _pullback_code(tops, (x,))
    (grad,) = sd.gradient(tops, x)
    np.testing.assert_array_equal(grad, [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5]] + np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))


def test_untied_extrema_put_the_cotangent_at_the_extremum():
    def weighted_tops(x, w):
        return np.sum(w * np.max(x, axis=0)) + np.sum(np.min(x, axis=(0, 2), keepdims=True) ** 2) + np.max(x) * 3.0

    x, w = RNG.normal(size=(4, 3, 5)), RNG.normal(size=(3, 5))
    _check(weighted_tops, x, w)
    grad, _ = sd.gradient(weighted_tops, x.astype(np.float32), w.astype(np.float32))
    assert grad.dtype == np.float32


def test_partials_at_constant_exponents_are_folded():
    x = RNG.uniform(0.5, 2.0, size=5)
    _check(powers, x)
    code = _pullback_code(powers, (x,))
    assert "power_base_partial" not in code
    assert "(2 * x)" in code and "(-1 * x ** (-2))" in code and "(1.5 * x ** 0.5)" in code
    assert "(3 * pow_1)" in code  # 3 * x ** 2, with x ** 2 the forward's


def test_folding_keeps_what_is_not_constant():
    import gast

    from sourcediff.transform.syntax import source
    from sourcediff.transform.templates import folded

    def fold(text):
        return source(folded(gast.parse(text, mode="eval").body))

    assert fold("type(2) is not int or 2 != 0") == "True"
    assert fold("a if 1 > 0 else b") == "a"
    assert fold("x or False") == "x or False"  # `x or False` is False, not x, when x is falsy
    assert fold("False or x") == "x"
    assert fold("x ** (2 - 1)") == "x"
    assert fold("2 ** 100") == "2 ** 100"  # big powers are left alone
    assert fold("1 / 0") == "1 / 0"  # what would raise is left for run time


def numpy_on_floats(x, a):
    for i in range(3):
        x = np.sin(x) * a + np.tanh(x * a)
    return x


def test_numpy_functions_on_scalars_have_math_twins_in_the_pullback():
    _check(numpy_on_floats, 0.4, 1.3)
    _check(numpy_on_floats, np.float64(0.4), 1.3)
    assert "scalar_cos(x)" in _pullback_code(numpy_on_floats, (0.4, 1.3))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_math_twins_give_what_numpy_gives_outside_maths_domain():
    from sourcediff.rules.numpy_elementwise import SCALAR_TWINS

    assert np.isnan(SCALAR_TWINS[np.cos](np.inf)) and np.isnan(SCALAR_TWINS[np.log](-1.0))
    assert SCALAR_TWINS[np.exp](1000.0) == np.inf and SCALAR_TWINS[np.log](0.0) == -np.inf
    assert SCALAR_TWINS[np.sqrt](2.25) == 1.5


def summed_twice(x):
    rows = np.sum(x, axis=1)
    return np.sum(rows) + np.sum(np.sum(x, axis=0, keepdims=True) * 3.0)


def test_cotangents_spread_over_reduced_axes_are_writable_arrays_of_the_users_own():
    x = RNG.normal(size=(3, 4))
    (grad,) = _check(summed_twice, x)
    np.testing.assert_array_equal(grad, np.full((3, 4), 4.0))
    assert grad.flags.writeable and grad.base is None
    y, back = sd.pullback(lambda x: np.sum(x, axis=0), x)
    (first,) = back(np.ones(4))
    first[0, 0] = 99.0  # the user's to change: the next cotangent is not affected
    np.testing.assert_array_equal(back(np.ones(4))[0], np.ones((3, 4)))
