"""Checking derivatives against finite differences.

`central_fdm(p, q)` builds a p-point central estimator of the q-th derivative of a function of
one real number; `test_rrule` and `test_frule` check a registered rule against it, leaf by leaf
(every float or complex scalar or array inside the arguments), and check that cotangents have
the primal's shape and dtype and that the inputs are left unchanged.

    >>> import math
    >>> round(float(central_fdm(5, 1)(math.sin, 0.0)), 10)
    1.0
"""
import copy
import functools
import math

import numpy as np

from .rules.differentials import NO_FIELDS, ZERO, Tangent, extern, is_zero
from .rules.registry import frule, rrule


class FiniteDifferenceMethod:
    """A central finite-difference estimator with `points` points for derivative `order`."""

    def __init__(self, points, order, step=None):
        if points <= order:
            raise ValueError("central_fdm needs more points than the derivative order")
        self.points, self.order = points, order
        self.grid = np.arange(points) - (points - 1) / 2
        vandermonde = np.vander(self.grid, increasing=True).T
        target = np.zeros(points)
        target[order] = math.factorial(order)
        self.coefficients = np.linalg.solve(vandermonde, target)
        self.step = step if step is not None else np.finfo(float).eps ** (1 / (points + order - 1)) * 0.5

    def __call__(self, f, x):
        h = self.step * max(1.0, abs(x))
        total = sum(c * np.asarray(f(x + g * h), dtype=complex) for c, g in zip(self.coefficients, self.grid) if c)
        estimate = total / h**self.order
        return estimate.real if not np.iscomplexobj(estimate) or np.all(estimate.imag == 0) else estimate


def central_fdm(points, order=1, step=None):
    """A `points`-point central finite-difference estimator of the `order`-th derivative.

    `central_fdm(5, 1)(f, x)` estimates f'(x) for a function of one real number.
    """
    return FiniteDifferenceMethod(points, order, step)


# Leaves: the float and complex numbers and arrays inside a nested value.

def _is_leaf(value):
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, complex, np.floating, np.complexfloating)):
        return True
    return isinstance(value, np.ndarray) and value.dtype.kind in "fc"


def leaves(value):
    """The differentiable leaves of a nested tuple/list/dict value (or a map/zip of them), in a fixed order."""
    if isinstance(value, (map, zip)):
        value = list(value)
    if _is_leaf(value):
        return [value]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in leaves(item)]
    if isinstance(value, dict):
        return [leaf for key in value for leaf in leaves(value[key])]
    return []


def replace_leaves(value, new_leaves):
    """`value` with its leaves replaced, in the order `leaves` gives them."""
    iterator = iter(new_leaves)

    def rebuild(v):
        if _is_leaf(v):
            return next(iterator)
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            return type(v)(*(rebuild(item) for item in v))
        if isinstance(v, (list, tuple)):
            return type(v)(rebuild(item) for item in v)
        if isinstance(v, dict):
            return {k: rebuild(item) for k, item in v.items()}
        return v

    return rebuild(value)


def cotangent_leaves(primal, cotangent):
    """The leaves of a cotangent lined up with the leaves of its primal (None where it is zero)."""
    cotangent = extern(cotangent)
    if _is_leaf(primal):
        return [None if is_zero(cotangent) else cotangent]
    if isinstance(primal, (list, tuple)):
        if is_zero(cotangent):
            cotangent = [None] * len(primal)
        if isinstance(cotangent, Tangent):
            cotangent = [getattr(cotangent, f) for f in primal._fields]
        return [c for p, t in zip(primal, cotangent) for c in cotangent_leaves(p, t)]
    if isinstance(primal, dict):
        if is_zero(cotangent):
            cotangent = {}
        return [c for k in primal for c in cotangent_leaves(primal[k], cotangent.get(k))]
    return []


def _random_like(rng, value):
    def draw(leaf):
        shape = np.shape(leaf)
        sample = rng.standard_normal(shape)
        if np.iscomplexobj(leaf):
            sample = sample + 1j * rng.standard_normal(shape)
        if isinstance(leaf, np.ndarray):
            return sample.astype(leaf.dtype)
        return type(leaf)(sample) if isinstance(leaf, np.generic) else (complex(sample) if isinstance(leaf, complex) else float(sample))

    return replace_leaves(value, [draw(leaf) for leaf in leaves(value)])


def _inner(a_leaves, b_leaves):
    """Real inner product Re Σ conj(a)·b over matching leaves."""
    return sum(float(np.real(np.sum(np.conj(a) * np.asarray(b, dtype=complex)))) for a, b in zip(a_leaves, b_leaves))


def _upcast(leaf):
    if isinstance(leaf, np.ndarray):
        return leaf.astype(np.complex128 if leaf.dtype.kind == "c" else np.float64)
    return complex(leaf) if np.iscomplexobj(leaf) else float(leaf)


def _assert_close(actual, expected, rtol, atol, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        raise AssertionError(f"{what}: got {actual!r}, finite differences give {expected!r}")


def _assert_fits(primal, cotangent, what):
    if cotangent is None:
        return
    if np.shape(cotangent) != np.shape(primal):
        raise AssertionError(f"{what}: shape {np.shape(cotangent)} does not match the primal's {np.shape(primal)}")
    if isinstance(primal, np.ndarray) and np.asarray(cotangent).dtype != primal.dtype:
        raise AssertionError(f"{what}: dtype {np.asarray(cotangent).dtype} does not match the primal's {primal.dtype}")
    if not np.iscomplexobj(primal) and np.iscomplexobj(cotangent):
        raise AssertionError(f"{what}: a real input received a complex cotangent")


def fd_jvp(f, args, tangents, fdm=None):
    """Finite-difference directional derivative of `f(*args)` along `tangents` (leaf lists)."""
    fdm = fdm or central_fdm(5, 1)
    base = [_upcast(leaf) for leaf in leaves(args)]

    def along(t):
        moved = [b + t * d for b, d in zip(base, tangents)]
        return _flat(f(*replace_leaves(args, moved)))

    return fdm(along, 0.0)


def _flat(value):
    parts = [np.ravel(np.asarray(leaf, dtype=complex)) for leaf in leaves(value)]
    return np.concatenate(parts) if parts else np.zeros(0)


def fd_vjp(f, args, output_cotangent, fdm=None):
    """Finite-difference cotangents of the leaves of `args` for `f(*args)` seeded with `output_cotangent`."""
    fdm = fdm or central_fdm(5, 1)
    base = [_upcast(leaf) for leaf in leaves(args)]
    seed = leaves(output_cotangent)
    results = []
    for index, leaf in enumerate(base):
        flat = np.array(leaf, dtype=complex if np.iscomplexobj(leaf) else float).ravel()
        gradient = np.zeros(flat.shape, dtype=flat.dtype)
        for k in range(flat.size):
            directions = [1.0, 1j] if np.iscomplexobj(leaf) else [1.0]
            for direction in directions:

                def along(t, k=k, direction=direction):
                    moved = flat.copy()
                    moved[k] += t * direction
                    new = list(base)
                    new[index] = moved.reshape(np.shape(leaf)) if isinstance(leaf, np.ndarray) else moved[0]
                    return _inner(seed, leaves(f(*replace_leaves(args, new))))

                gradient[k] += direction * fdm(along, 0.0)
        results.append(gradient.reshape(np.shape(leaf)))
    return results


def _apply_rule(lookup, f, args, kwargs):
    """Run the rule `lookup` finds for `f` on a copy-checked `args`: (saved args, y, propagator)."""
    saved = copy.deepcopy(args)
    result = lookup(f, *args, **kwargs)
    if result is None:
        raise AssertionError(f"no {lookup.__name__} is registered for {f!r}")
    y, propagator = result
    _assert_close_structure(y, f(*saved, **kwargs), "primal value")
    return saved, y, propagator


def test_rrule(f, *args, output_cotangent=None, rtol=1e-6, atol=1e-6, fdm=None, rule=None, **kwargs):
    """Check the registered rrule of `f` (or the rrule `rule` of it, registered or not) at `args` against
    finite differences.

    Checks the primal value, the shape and dtype of every cotangent, that the inputs are not
    changed, and every cotangent leaf against a finite-difference vector-Jacobian product.
    """
    lookup = rrule if rule is None else functools.update_wrapper(lambda _, *a, **k: rule(*a, **k), rule)
    saved, y, pullback = _apply_rule(lookup, f, args, kwargs)
    seed = output_cotangent if output_cotangent is not None else _random_like(np.random.default_rng(1), y)
    cotangents = pullback(seed)
    if len(cotangents) != len(args) + 1:
        raise AssertionError(f"pullback returned {len(cotangents)} cotangents for {len(args)} arguments (plus ∂self)")
    _assert_unchanged(saved, args)
    expected = fd_vjp(lambda *a: f(*a, **kwargs), saved, seed, fdm)
    actual = [c for a, c in zip(saved, cotangents[1:]) for c in cotangent_leaves(a, c)]
    for number, (primal, got, want) in enumerate(zip(leaves(saved), actual, expected)):
        _assert_fits(primal, got, f"cotangent leaf {number} of {getattr(f, '__name__', f)}")
        _assert_close(0.0 if got is None else got, want, rtol, atol, f"cotangent leaf {number} of {getattr(f, '__name__', f)}")
    return cotangents


def test_frule(f, *args, tangents=None, rtol=1e-6, atol=1e-6, fdm=None, **kwargs):
    """Check the registered frule of `f` at `args` against a finite-difference directional derivative."""
    saved, y, pushforward = _apply_rule(frule, f, args, kwargs)
    if tangents is None:
        rng = np.random.default_rng(2)
        tangents = tuple(_random_like(rng, a) if leaves(a) else ZERO for a in saved)
    y_dot = pushforward(NO_FIELDS, *tangents)
    _assert_unchanged(saved, args)
    tangent_leaves = [_upcast(t) for a, t in zip(saved, tangents)
                      for t in ([np.zeros_like(_upcast(leaf)) for leaf in leaves(a)] if is_zero(t) else leaves(t))]
    expected = fd_jvp(lambda *a: f(*a, **kwargs), saved, tangent_leaves, fdm)
    got = cotangent_leaves(y, y_dot)
    got_flat = np.concatenate([np.ravel(np.zeros(np.shape(p)) if g is None else np.asarray(g, dtype=complex)) for p, g in zip(leaves(y), got)]) if got else np.zeros(0)
    _assert_close(got_flat, expected, rtol, atol, f"pushforward of {getattr(f, '__name__', f)}")
    return y_dot


def _assert_close_structure(actual, expected, what):
    a, e = leaves(actual), leaves(expected)
    if len(a) != len(e):
        raise AssertionError(f"{what}: {actual!r} differs from {expected!r}")
    for x, y in zip(a, e):
        _assert_close(x, y, 1e-12, 1e-12, what)


def _assert_unchanged(saved, args):
    for before, after in zip(leaves(saved), leaves(args)):
        if not np.array_equal(before, after):
            raise AssertionError("the rule changed its inputs")


test_rrule.__test__ = test_frule.__test__ = False
