"""NumPy functions that write into an argument: `np.copyto`, `np.fill_diagonal`, `np.put`, `np.place`,
`np.putmask`, and `np.add.at`, `np.subtract.at`, `np.multiply.at`.

Each is declared a mutator (`registry.mutator`) with its functional form: the same function run on a
copy of the array it writes, returning that copy, so that NumPy decides every detail (casting,
`where=`, `wrap=`, `mode=`, values repeated to fill). The transformer differentiates
`np.copyto(dst, src)` as `new = copyto_functional(dst, src); dst[...] = new`. The functional forms
of the functions that only write entries of their values (all but the `ufunc.at` ones) get their
rules from `rearranging_rule`, which follows the entries by running the function on integer ids.
`ufunc.at` adds or multiplies in, with repeated indices acting repeatedly: its rules come from the
partial derivatives of one application per (index, value) pair.

    >>> import numpy as np
    >>> from sourcediff.rules.registry import rrule
    >>> y, pullback = rrule(put_functional, np.zeros(3), [0, 2], np.array([5.0, 7.0]))
    >>> y
    array([5., 0., 7.])
    >>> pullback(np.array([1.0, 2.0, 3.0]))[1:]
    (array([0., 2., 0.]), Zero(), array([1., 3.]))
"""
import numpy as np

from .differentials import NO_FIELDS, ZERO, extern, is_zero
from .linear import draw, seeded_pullback
from .numpy_shapes import cast_tangent, rearranging_rule
from .projection import project
from .registry import Sample, fresh, mutator, register_frule, register_rrule


def functional_form(f, writes, name):
    """The function computing, without changing anything, what `f(*args, **kwargs)` leaves in its
    argument at position `writes`: `f` run on a copy of that argument (an array; anything else is
    passed as it is, for `f` to refuse as NumPy does)."""

    def functional(*args, **kwargs):
        args = list(args)
        if isinstance(args[writes], np.ndarray):
            args[writes] = args[writes].copy()
        f(*args, **kwargs)
        return args[writes]

    functional.__name__ = functional.__qualname__ = f"{name}_functional"
    functional.__doc__ = f"What `{name}` leaves in its argument {writes}, computed on a copy."
    return functional


def declare(f, functional):
    """Declare `f` a mutator of its first argument, with `functional` (which makes a new array) as its functional form."""
    fresh(functional)
    mutator(f, 0, functional)
    return functional


def writing_mutator(f, name, values, samples):
    """Declare `f`, which writes entries of its argument at position `values` into its first argument and
    does nothing else; its functional form, returned, gets its rules from `rearranging_rule`."""
    functional = functional_form(f, 0, name)

    def slots(args):
        return [(0,), (values,)] if len(args) > values else [(0,)]

    rearranging_rule(functional, slots, samples=samples)
    return declare(f, functional)


M, V, Z = draw((3, 4), 60), draw(4, 61), draw((3, 3), 62, np.complex128)
MASK = np.array([[True, False, True, False], [False, False, True, True], [True, False, False, False]])

copyto_functional = writing_mutator(np.copyto, "copyto", 1, [
    Sample((M, draw((3, 4), 63))), Sample((M, V)), Sample((M, 2.5)), Sample((M, V), {"where": MASK}),
    Sample((M.astype(np.float32), V), {"casting": "same_kind"}), Sample((Z, M[:, :3])), Sample((M, [1, 2, 3, 4])),
    Sample((M, draw((3, 1), 64), "same_kind", MASK)),
])
fill_diagonal_functional = writing_mutator(np.fill_diagonal, "fill_diagonal", 1, [
    Sample((M, 1.5)), Sample((M, np.array([0.5, -1.0]))), Sample((draw((5, 2), 65), V), {"wrap": True}),
    Sample((draw((5, 2), 65), 0.5, False)), Sample((draw((3, 3, 3), 66), np.array([1.5, 2.5, 3.5]))), Sample((Z, 2.0)),
])
put_functional = writing_mutator(np.put, "put", 2, [
    Sample((M, [0, 5, 11], np.array([1.5, -2.0, 0.5]))), Sample((M, [1, 2, 3, 4, 7], np.array([1.5, 2.5]))),
    Sample((M, np.array([[0, 13], [-1, 2]]), V[:2]), {"mode": "wrap"}), Sample((M, [20, -20], V[:2], "clip")),
    Sample((V, 2, 3.5)), Sample((M, [3, 3], V[:2])),
])
place_functional = writing_mutator(np.place, "place", 2, [
    Sample((M, MASK, V)), Sample((M, MASK, [1.5, 2.5])), Sample((M, M > 0, V[:1])), Sample((Z, np.eye(3, dtype=bool), V)),
])
putmask_functional = writing_mutator(np.putmask, "putmask", 2, [
    Sample((M, MASK, draw((3, 4), 67))), Sample((M, MASK, V[:3])), Sample((M, M > 0, 2.5)), Sample((Z, np.eye(3, dtype=bool), V)),
])


# ufunc.at: one application `a[p] = a[p] op v` per (index, value) pair, repeated indices again and again.
# With p the flat positions the indices pick (one per value, after broadcasting) and v the values,
# each ufunc's partials give `(a_scale, weights)`: y = a_scale·a + (what the values add), ∂y[p_k]/∂v_k = weights_k.

def _multiply_at_partials(a, positions, values):
    """y = a·F with F[p] the product of the values at p; ∂y[p_k]/∂v_k = a[p_k]·(product of the others at p_k),
    exact where values are zero (zeros are counted, not divided by)."""
    zero = values == 0
    nonzero_product = np.ones(a.size, dtype=np.result_type(a, values))
    np.multiply.at(nonzero_product, positions, np.where(zero, 1, values))
    zeros = np.bincount(positions, zero, a.size)
    others = nonzero_product[positions] / np.where(zero, 1, values)
    others = np.where(zeros[positions] == np.where(zero, 1, 0), others, 0)
    return (nonzero_product * (zeros == 0)).reshape(a.shape), np.ravel(a)[positions] * others


AT_PARTIALS = {
    np.add: lambda a, positions, values: (1.0, np.ones(values.shape)),
    np.subtract: lambda a, positions, values: (1.0, -np.ones(values.shape)),
    np.multiply: _multiply_at_partials,
}


def _applications(a, indices, b):
    """The flat position in `a` and the value of each application of `ufunc.at(a, indices, b)`."""
    picked = np.arange(np.size(a)).reshape(np.shape(a))[indices]
    return np.ravel(picked), np.ravel(np.broadcast_to(b, picked.shape)), picked.shape


def ufunc_at_mutator(ufunc, samples):
    """Declare `ufunc.at`; its functional form, returned, gets its rules from the row of `AT_PARTIALS`."""
    name = f"{ufunc.__name__}_at"
    functional = functional_form(ufunc.at, 0, name)
    partials = AT_PARTIALS[ufunc]

    def derivatives(a, indices, b):
        positions, values, shape = _applications(a, indices, b)
        a_scale, weights = partials(np.asarray(a), positions, values)
        return positions, shape, a_scale, weights

    @register_rrule(functional, samples=samples)
    def at_rrule(a, indices, b):
        y = functional(a, indices, b)
        positions, shape, a_scale, weights = derivatives(a, indices, b)

        @seeded_pullback(3)
        def at_pullback(y_bar):
            if y.dtype.kind not in "fc":
                return NO_FIELDS, ZERO, ZERO, ZERO
            y_bar = np.asarray(y_bar)
            b_bar = (np.conj(weights) * np.ravel(y_bar)[positions]).reshape(shape)
            return NO_FIELDS, project(a, np.conj(a_scale) * y_bar), ZERO, project(b, b_bar)

        at_pullback.__name__ = at_pullback.__qualname__ = f"{name}_pullback"
        return y, at_pullback

    @register_frule(functional)
    def at_frule(a, indices, b):
        y = functional(a, indices, b)
        positions, shape, a_scale, weights = derivatives(a, indices, b)

        def at_pushforward(self_dot, a_dot, indices_dot, b_dot):
            dots = [np.asarray(extern(d)) for d in (a_dot, b_dot) if not is_zero(d)]
            if y.dtype.kind not in "fc" or not dots:
                return ZERO
            y_dot = np.zeros(y.shape, np.result_type(y, weights, *dots))
            if not is_zero(a_dot):
                y_dot += a_scale * extern(a_dot)
            if not is_zero(b_dot):
                np.add.at(y_dot.reshape(-1), positions, weights * np.ravel(np.broadcast_to(extern(b_dot), shape)))
            return cast_tangent(y_dot, y.dtype)

        at_pushforward.__name__ = at_pushforward.__qualname__ = f"{name}_pushforward"
        return y, at_pushforward

    return declare(ufunc.at, functional)


def _at_samples(with_zeros=False):
    b = np.array([0.0, 1.5, 0.0, -0.5]) if with_zeros else draw(4, 68)
    return [
        Sample((V, [0, 2, 2, 3], b)), Sample((V, [1, 1, 1, 1], b)), Sample((V, np.array([3, 0]), 1.5)),
        Sample((M, ([0, 2, 2], [1, 3, 3]), draw(3, 69))), Sample((M, [2, 0, 2], V)), Sample((M, (slice(None), 1), b[:3])),
        Sample((M.astype(np.float32), [0, 0], V.astype(np.float32))), Sample((Z, ([0, 0], [1, 1]), draw(2, 70, np.complex128))),
    ]


add_at_functional = ufunc_at_mutator(np.add, _at_samples())
subtract_at_functional = ufunc_at_mutator(np.subtract, _at_samples())
multiply_at_functional = ufunc_at_mutator(np.multiply, _at_samples(with_zeros=True))
