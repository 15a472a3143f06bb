"""Forward mode (`sd.jvp`, `sd.source(mode="forward")`) against finite differences along the tangent."""
import copy

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.testing import central_fdm

from ..corpus.functions import CORPUS

RTOL, ATOL = 1e-5, 1e-6


def _direction(value, rng):
    """A tangent for `value`: random for float64 arrays and floats, zero for everything else."""
    if isinstance(value, np.ndarray) and value.dtype == np.float64:
        return rng.standard_normal(value.shape)
    if type(value) is float:
        return float(rng.standard_normal())
    return sd.Zero()


def _along(function, args, tangents):
    """The derivative of `t -> function(args + t * tangents)` at 0, by finite differences."""
    def moved(t):
        shifted = [a + t * d if not isinstance(d, sd.Zero) else copy.deepcopy(a) for a, d in zip(args, tangents)]
        return np.asarray(function(*shifted), dtype=float)

    return central_fdm(5, 1)(moved, 0.0)


def loop_branch_store(x, W, n):
    h = np.zeros(3)
    s = 0.0
    for i in range(n):
        if x[i] > 0:
            s = s + np.sin(x[i]) * 2
        else:
            break
        h[i] = s
    ys = [s, s * s]
    d = {"a": ys[0]}
    return np.sum(W @ h) + d["a"] + np.exp(s) + np.sum(np.tanh(x) * 3.0 + 1.0)


def scalar_loop(x, n):
    for _ in range(n):
        x = np.sin(x) * 1.5 if x > 0.2 else x + 0.3
    return x


def writes_into_a_copy_of_its_input(x):
    h = x
    h[0] = 2.0 * h[1]
    return h * x[2]


def broadcast_scalar_into_array(a, b):
    return np.sum(a + b)


CASES = [
    (loop_branch_store, (np.array([0.3, 0.5, 0.7]), np.arange(6.0).reshape(2, 3) / 5, 3)),
    (loop_branch_store, (np.array([0.3, -0.5, 0.7]), np.arange(6.0).reshape(2, 3) / 5, 3)),
    (scalar_loop, (0.7, 20)),
    (writes_into_a_copy_of_its_input, (np.array([1.0, 2.0, 3.0]),)),
    (broadcast_scalar_into_array, (1.5, np.ones(4))),
    ("aliased_tangents", (np.array([1.0, 2.0, 3.0]),)),
]


def _case(function):
    return globals()[function] if isinstance(function, str) else function


@pytest.mark.parametrize("function, args", CASES, ids=[getattr(f, "__name__", f) + str(k) for k, (f, _) in enumerate(CASES)])
def test_jvp_matches_finite_differences(function, args):
    function = _case(function)
    rng = np.random.default_rng(0)
    tangents = [_direction(a, rng) for a in args]
    saved_args, saved_tangents = copy.deepcopy(args), copy.deepcopy(tangents)
    y, y_dot = sd.jvp(function, args, tangents)
    np.testing.assert_allclose(y, function(*copy.deepcopy(saved_args)), rtol=1e-12)
    np.testing.assert_allclose(y_dot, _along(function, saved_args, saved_tangents), rtol=RTOL, atol=ATOL)
    for before, after in zip(saved_args + tuple(saved_tangents), tuple(args) + tuple(tangents)):
        assert np.array_equal(np.asarray(before), np.asarray(after)), "sd.jvp changed an argument or a tangent"


def test_a_zero_tangent_gives_zeros_of_the_output_shape():
    y, y_dot = sd.jvp(writes_into_a_copy_of_its_input, (np.array([1.0, 2.0, 3.0]),), (0.0,))
    assert isinstance(y_dot, np.ndarray) and y_dot.shape == y.shape and not y_dot.any()


def test_forward_source_is_deterministic_and_shows_the_tangent_math():
    example = (np.array([0.3, 0.5, 0.7]), np.ones((2, 3)), 3)
    text = sd.source(loop_branch_store, mode="forward", example=example)
    assert text == sd.source(loop_branch_store, mode="forward", example=example)
    assert "def loop_branch_store_pushforward(tangents, x, W, n):" in text
    assert "tanh_dot = x_dot * (1 - tanh ** 2)" in text
    assert "# line " in text


def test_a_rule_is_used_for_a_function_without_source():
    assert sd.jvp(np.sin, (0.5,), (2.0,)) == (np.sin(0.5), 2.0 * np.cos(0.5))


def test_tangents_must_match_primals():
    with pytest.raises(sd.SourceDiffError):
        sd.jvp(scalar_loop, (0.5, 3), (1.0,))


@pytest.mark.parametrize("case", CORPUS, ids=[case.name for case in CORPUS])
def test_corpus_in_forward_mode_is_right_or_refused(case):
    """Every function of the reverse corpus: its jvp matches finite differences, or it is refused with a
    `SourceDiffError` (forward mode does not cover every construct yet), never a wrong tangent."""
    rng = np.random.default_rng(1)
    tangents = [_direction(a, rng) for a in case.args]
    saved = copy.deepcopy(case.args)
    try:
        _, y_dot = sd.jvp(case.function, copy.deepcopy(case.args), tangents)
    except sd.SourceDiffError:
        return
    np.testing.assert_allclose(np.asarray(y_dot, dtype=float), _along(case.function, saved, tangents),
                               rtol=RTOL, atol=ATOL)


def test_most_of_the_corpus_runs_in_forward_mode():
    rng = np.random.default_rng(1)
    done = 0
    for case in CORPUS:
        tangents = [_direction(a, rng) for a in case.args]
        try:
            sd.jvp(case.function, copy.deepcopy(case.args), tangents)
            done += 1
        except sd.SourceDiffError:
            pass
    assert done >= 150, f"forward mode differentiated only {done} of {len(CORPUS)} corpus functions"


def array_methods(x):
    y = x.copy()
    y += x
    return y.sum() * x.max()


def appends(x):
    out = []
    out.append(x * 2.0)
    out.extend([x, 3.0])
    out.insert(0, out.pop())
    return out[0] + out[1] * out[2]


def _product(a, b):
    return a * b


def spreads(x):
    pair = [x, 2.0]
    return _product(*pair)


def test_array_methods_and_in_place_operators():
    x = np.array([0.5, -1.0, 2.0])
    d = np.array([1.0, 0.5, -0.25])
    _, y_dot = sd.jvp(array_methods, (x,), (d,))
    np.testing.assert_allclose(y_dot, _along(array_methods, (x,), (d,)), rtol=RTOL, atol=ATOL)


def test_what_forward_mode_does_not_cover_yet_is_refused_at_the_users_line():
    with pytest.raises(sd.UnsupportedSyntaxError) as error:
        sd.jvp(spreads, (1.0,), (1.0,))
    assert error.value.line == spreads.__code__.co_firstlineno + 2
    assert "return _product(*pair)" in str(error.value)


def test_list_methods_change_the_tangent_as_they_change_the_list():
    _, y_dot = sd.jvp(appends, (1.5,), (1.0,))
    np.testing.assert_allclose(y_dot, _along(appends, (1.5,), (1.0,)), rtol=RTOL, atol=ATOL)


def _scaled_sum(v, k=1.0):
    return np.sum(v * k)


def calls_and_closures(x, w):
    t = x * 2.0

    def inner(z):
        return z * t

    scale = lambda z: z + w  # noqa: E731
    return inner(x) + _scaled_sum(np.array([x, w]), k=x) + scale(t)


def test_calls_of_python_functions_and_closures():
    _, y_dot = sd.jvp(calls_and_closures, (0.7, -1.3), (1.0, 0.5))
    np.testing.assert_allclose(y_dot, _along(calls_and_closures, (0.7, -1.3), (1.0, 0.5)), rtol=RTOL, atol=ATOL)


def test_a_stored_tangent_is_written_in_place_only_when_nothing_else_holds_it():
    from sourcediff import runtime

    def alone():
        h, h_dot = np.zeros(3), np.zeros(3)
        before = id(h_dot)
        h_dot = runtime.stored_tangent(h_dot, h, 0, 1.0)
        return id(h_dot) == before and h_dot[0] == 1.0

    def shared():
        h, h_dot = np.zeros(3), np.zeros(3)
        g_dot = h_dot
        h_dot = runtime.stored_tangent(h_dot, h, 0, 1.0)
        return g_dot[0] == 0.0 and h_dot[0] == 1.0

    assert alone() and shared()


def aliased_tangents(x):
    a = x * 2.0
    b = a
    a[0] = 5.0
    return np.sum(b * b) + np.sum(a)


def _products(a, b):
    return np.matmul(a, b) * 2.0 + a @ b


def _reductions(x):
    return np.sum(x, axis=0) + np.mean(x, axis=-1, keepdims=True) + np.mean(x) + np.sum(x)


@pytest.mark.parametrize("shapes", [((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 2))])
def test_products_and_sums_of_float_arrays_are_pasted_in(shapes):
    """`a @ b` and `np.sum`/`np.mean` of float64 arrays get their tangents as code (`a_dot @ b + a @ b_dot`,
    `np.sum(x_dot, axis=0)`), right for every ndim, with a zero tangent for either operand."""
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal(shape) for shape in shapes)
    text = sd.source(_products, mode="forward", example=(a, b))
    assert "a_dot @ b + a @ b_dot" in text and "frule" not in text
    for tangents in ((rng.standard_normal(a.shape), rng.standard_normal(b.shape)), (sd.Zero(), rng.standard_normal(b.shape)),
                     (rng.standard_normal(a.shape), 0.0)):
        _, y_dot = sd.jvp(_products, (a, b), tangents)
        np.testing.assert_allclose(y_dot, _along(_products, (a, b), tangents), rtol=1e-8, atol=1e-10)
    x = rng.standard_normal((3, 3))
    assert "np.sum(x_dot, axis=0)" in sd.source(_reductions, mode="forward", example=(x,))
    direction = rng.standard_normal(x.shape)
    np.testing.assert_allclose(sd.jvp(_reductions, (x,), (direction,))[1], _along(_reductions, (x,), (direction,)),
                               rtol=1e-8, atol=1e-10)


def _either(x, w, fixed, use_fixed):
    y = fixed if use_fixed else x
    return np.sum(y @ w) + np.mean(y, axis=0)[0]


def test_a_zero_tangent_met_at_run_time_in_pasted_code():
    """A name whose tangent is zero only on some paths (here the branch that takes a constant) passes the zero
    through the pasted products and sums."""
    x, w, fixed = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([0.3, -0.2]), np.eye(2)
    text = sd.source(_either, mode="forward", example=(x, w, fixed, True))
    assert "y_dot @ w + y @ w_dot" in text
    tangents = (np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([1.0, 0.5]), 0.0, 0.0)
    for use_fixed in (True, False):
        _, y_dot = sd.jvp(_either, (x, w, fixed, use_fixed), tangents)
        expected = _along(lambda a, b: _either(a, b, fixed, use_fixed), (x, w), tangents[:2])
        assert y_dot == pytest.approx(float(expected), rel=1e-9)
