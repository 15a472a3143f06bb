"""Rules for `np.linalg`: inv, solve, det, slogdet, cholesky and norm.

Every rule works on stacks of matrices (the last two axes) and follows the conjugating
convention x̄ = conj(J)ᵀ ȳ, so for complex matrices transposes become conjugate transposes
(`conj_transpose`). At a point where a norm is 0 (the zero vector), where it has no derivative,
its rules use the subgradient 0, for every `ord` and `axis`.

Cholesky: `np.linalg.cholesky(a)` reads only the lower triangle of `a` (the upper one with
`upper=True`) and never checks symmetry. Its rules are the exact derivatives of that function:
the pullback puts the whole cotangent in the triangle that is read (zeros elsewhere), and the
pushforward ignores the tangent's other triangle. So finite differences agree with both rules
for any perturbation, symmetric or not. For symmetric (Hermitian) perturbations, the only ones
that keep `a` a valid input, this cotangent gives the same directional derivatives as the
symmetrised cotangent other libraries return, and through a symmetric construction such as
`a = x @ x.T` the two give the same cotangent of `x`.
"""
import numpy as np

from .differentials import NO_FIELDS, ZERO, Tangent, Thunk, accumulate, extern, is_zero
from .numpy_products import conj_transpose
from .numpy_reductions import divide_or_zero
from .linear import draw, seeded_pullback
from .projection import project
from .registry import Sample, conj, fresh, register_frule, register_rrule


def _trace(m):
    return np.trace(m, axis1=-2, axis2=-1)


def _scaled(scalars, matrices):
    """Each matrix of a stack times the matching scalar."""
    return np.asarray(scalars)[..., None, None] * matrices


def _well_conditioned(n, seed, dtype=np.float64, batch=()):
    """A sample matrix far from singular: the identity times n plus a small random part."""
    return n * np.eye(n) + 0.5 * draw(batch + (n, n), seed, dtype)


def _positive_definite(n, seed, dtype=np.float64, batch=()):
    """A sample Hermitian positive definite matrix."""
    x = draw(batch + (n, n), seed, dtype)
    return x @ conj_transpose(x) + n * np.eye(n)


# inv: Y = A⁻¹, Ȳ ↦ Ā = -Yᴴ Ȳ Yᴴ, Ȧ ↦ Ẏ = -Y Ȧ Y.

INV_SAMPLES = [
    Sample((_well_conditioned(3, 100),)), Sample((_well_conditioned(2, 101, batch=(2,)),)),
    Sample((_well_conditioned(2, 102, np.complex128),)),
]


@register_rrule(np.linalg.inv, samples=INV_SAMPLES)
def inv_rrule(a):
    y = np.linalg.inv(a)

    @seeded_pullback(1)
    def inv_pullback(y_bar):
        y_h = conj_transpose(y)
        return NO_FIELDS, project(a, -(y_h @ y_bar @ y_h))

    return y, inv_pullback


@register_frule(np.linalg.inv)
def inv_frule(a):
    y = np.linalg.inv(a)

    def inv_pushforward(self_dot, a_dot):
        if is_zero(a_dot):
            return ZERO
        return -(y @ extern(a_dot) @ y)

    return y, inv_pushforward


# solve: x = A⁻¹ b, b̄ = A⁻ᴴ x̄, Ā = -b̄ xᴴ; ẋ = A⁻¹ (ḃ - Ȧ x).

def _solves_vector(a, b):
    """Whether `np.linalg.solve(a, b)` takes `b` as a vector (NumPy 2: when it is 1-D)."""
    return np.ndim(b) == 1 or (np.lib.NumpyVersion(np.__version__) < "2.0.0" and np.ndim(b) == np.ndim(a) - 1)


def _column(v, vector):
    """`v` as a stack of matrices: a vector (stack) becomes a column."""
    return np.expand_dims(v, -1) if vector else v


def _uncolumn(m, vector):
    return m[..., 0] if vector else m


SOLVE_SAMPLES = [
    Sample((_well_conditioned(3, 110), draw(3, 111))), Sample((_well_conditioned(3, 110), draw((3, 2), 112))),
    Sample((_well_conditioned(2, 113, batch=(2,)), draw((2, 2, 3), 114))), Sample((_well_conditioned(2, 113, batch=(2,)), draw(2, 115))),
    Sample((_well_conditioned(2, 116), draw((3, 2, 1), 117))),
    Sample((_well_conditioned(2, 118, np.complex128), draw(2, 119, np.complex128))), Sample((_well_conditioned(2, 118, np.complex128), draw(2, 119))),
]


@register_rrule(np.linalg.solve, samples=SOLVE_SAMPLES)
def solve_rrule(a, b):
    x = np.linalg.solve(a, b)
    vector = _solves_vector(a, b)

    @seeded_pullback(2)
    def solve_pullback(x_bar):
        b_column_bar = Thunk(lambda: np.linalg.solve(conj_transpose(a), _column(x_bar, vector)))
        a_bar = Thunk(lambda: project(a, -(b_column_bar.value() @ conj_transpose(_column(x, vector)))))
        b_bar = Thunk(lambda: project(b, _uncolumn(b_column_bar.value(), vector)))
        return NO_FIELDS, a_bar, b_bar

    return x, solve_pullback


@register_frule(np.linalg.solve)
def solve_frule(a, b):
    x = np.linalg.solve(a, b)
    vector = _solves_vector(a, b)

    def solve_pushforward(self_dot, a_dot, b_dot):
        if is_zero(a_dot) and is_zero(b_dot):
            return ZERO
        rhs = _column(extern(b_dot), vector) - extern(a_dot) @ _column(x, vector)
        return _uncolumn(np.linalg.solve(a, rhs), vector)

    return x, solve_pushforward


# det: d = det A, Ā = ȳ conj(d) A⁻ᴴ; ḋ = d tr(A⁻¹ Ȧ).

DET_SAMPLES = [
    Sample((_well_conditioned(3, 120),)), Sample((draw((2, 2), 121) + 2 * np.eye(2),)), Sample((_well_conditioned(2, 122, batch=(3,)),)),
    Sample((_well_conditioned(2, 123, np.complex128),)), Sample((-_well_conditioned(3, 124),)),
]


@register_rrule(np.linalg.det, samples=DET_SAMPLES)
def det_rrule(a):
    d = np.linalg.det(a)

    @seeded_pullback(1)
    def det_pullback(y_bar):
        return NO_FIELDS, project(a, _scaled(y_bar * conj(d), np.linalg.inv(conj_transpose(a))))

    return d, det_pullback


@register_frule(np.linalg.det)
def det_frule(a):
    d = np.linalg.det(a)

    def det_pushforward(self_dot, a_dot):
        if is_zero(a_dot):
            return ZERO
        return d * _trace(np.linalg.solve(a, extern(a_dot)))

    return d, det_pushforward


# slogdet: with g = log det A (holomorphic), logabsdet = Re g and sign = exp(i Im g). A real sign
# is locally constant (no derivative); a complex one turns with Im g.

def _slogdet_seeds(y_bar):
    """The seeds of (sign, logabsdet), from a tuple, a namedtuple or a `Tangent`."""
    if isinstance(y_bar, Tangent):
        return extern(y_bar.sign), extern(y_bar.logabsdet)
    return y_bar


SLOGDET_SAMPLES = [
    Sample((_well_conditioned(3, 130),)), Sample((-_well_conditioned(3, 131),)), Sample((_well_conditioned(2, 132, batch=(2,)),)),
    Sample((_well_conditioned(2, 133, np.complex128),)), Sample((_well_conditioned(2, 134, np.complex128, batch=(2,)),)),
]


@register_rrule(np.linalg.slogdet, samples=SLOGDET_SAMPLES)
def slogdet_rrule(a):
    y = np.linalg.slogdet(a)

    @seeded_pullback(1)
    def slogdet_pullback(y_bar):
        sign_bar, g_bar = _slogdet_seeds(y_bar)
        if np.iscomplexobj(y[0]) and not is_zero(sign_bar):
            g_bar = accumulate(g_bar, -1j * np.imag(np.conj(sign_bar) * y[0]))
        if is_zero(g_bar):
            return NO_FIELDS, ZERO
        return NO_FIELDS, project(a, _scaled(g_bar, np.linalg.inv(conj_transpose(a))))

    return y, slogdet_pullback


@register_frule(np.linalg.slogdet)
def slogdet_frule(a):
    y = np.linalg.slogdet(a)

    def slogdet_pushforward(self_dot, a_dot):
        if is_zero(a_dot):
            return ZERO
        g_dot = _trace(np.linalg.solve(a, extern(a_dot)))
        sign_dot = y[0] * 1j * np.imag(g_dot) if np.iscomplexobj(y[0]) else ZERO
        return type(y)(sign_dot, np.real(g_dot))

    return y, slogdet_pushforward


# cholesky (see the module docstring): L = chol(A) with A = L Lᴴ, reading the lower triangle.
# With Φ(M) = tril(M) - diag(M)/2: L̇ = L Φ(L⁻¹ Ȧ L⁻ᴴ) for Hermitian Ȧ, and
# Ā = Φ(S + Sᴴ) with S = L⁻ᴴ Φ(Lᴴ L̄) L⁻¹. upper=True is the same function of Aᴴ, transposed.

def _phi(m):
    return np.tril(m) - 0.5 * (np.eye(m.shape[-1]) * m)


def _hermitian_from_lower(m):
    """The Hermitian matrix (stack) a Cholesky factorisation of `m` sees: its lower triangle, with a real diagonal."""
    below = np.tril(m, -1)
    return below + conj_transpose(below) + np.eye(m.shape[-1]) * np.real(m)


def _cholesky_cotangent(lower, lower_bar):
    """Ā (in the lower triangle) for L = cholesky(A) and the seed L̄."""
    inverse = np.linalg.inv(lower)
    s = conj_transpose(inverse) @ _phi(conj_transpose(lower) @ lower_bar) @ inverse
    return _phi(s + conj_transpose(s))


def _cholesky_tangent(lower, a_dot):
    inverse = np.linalg.inv(lower)
    return lower @ _phi(inverse @ _hermitian_from_lower(a_dot) @ conj_transpose(inverse))


CHOLESKY_SAMPLES = [
    Sample((_positive_definite(3, 140),)), Sample((_positive_definite(2, 141, batch=(2,)),)),
    Sample((_positive_definite(2, 142, np.complex128),)),
    Sample((_positive_definite(3, 143),), {"upper": True}), Sample((_positive_definite(2, 144, np.complex128),), {"upper": True}),
]


@register_rrule(np.linalg.cholesky, samples=CHOLESKY_SAMPLES)
def cholesky_rrule(a, **kwargs):
    y = np.linalg.cholesky(a, **kwargs)
    upper = kwargs.get("upper", False)

    @seeded_pullback(1)
    def cholesky_pullback(y_bar):
        if upper:
            return NO_FIELDS, project(a, conj_transpose(_cholesky_cotangent(conj_transpose(y), conj_transpose(y_bar))))
        return NO_FIELDS, project(a, _cholesky_cotangent(y, y_bar))

    return y, cholesky_pullback


@register_frule(np.linalg.cholesky)
def cholesky_frule(a, **kwargs):
    y = np.linalg.cholesky(a, **kwargs)
    upper = kwargs.get("upper", False)

    def cholesky_pushforward(self_dot, a_dot):
        if is_zero(a_dot):
            return ZERO
        if upper:
            return conj_transpose(_cholesky_tangent(conj_transpose(y), conj_transpose(extern(a_dot))))
        return _cholesky_tangent(y, extern(a_dot))

    return y, cholesky_pushforward


# norm: every norm is real, so one gradient G (the cotangent for the seed 1) gives both modes:
# x̄ = ȳ G and ẏ = Re Σ conj(G) ẋ over the reduced axes.

def _norm_axes(x, ord, axis):
    """The axes `np.linalg.norm(x, ord, axis)` reduces, and whether it takes a matrix norm over them."""
    if axis is None:
        if ord is None or x.ndim == 1:
            return tuple(range(x.ndim)), False
        return (0, 1), ord != "fro"
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(a % x.ndim for a in axes), len(axes) == 2 and ord not in (None, "fro")


def _phase(x):
    """x/|x|, and 0 where x = 0 (the sign of a real x)."""
    return divide_or_zero(x, np.abs(x))


def _vector_norm_gradient(x, y, ord, axes):
    """∂‖x‖ for a vector norm over `axes`, `y` the norm with those axes kept (`ord` None and 'fro' are 2).

    Where several entries share the largest (smallest) magnitude, ord=±inf splits the gradient among them.
    """
    if ord in (np.inf, -np.inf):
        extreme = np.abs(x) == y
        return _phase(x) * extreme / extreme.sum(axis=axes, keepdims=True)
    if ord == 0:
        return np.zeros_like(x)
    p = 2 if ord in (None, "fro") else ord
    return _phase(x) * (np.abs(x) / y) ** (p - 1)


def _matrix_norm_gradient(x, y, ord):
    """∂‖x‖ for a matrix norm over the last two axes (`y` with them kept); ties split as for vectors."""
    if ord in ("nuc", 2, -2):
        u, _, vh = np.linalg.svd(x, full_matrices=False)
        if ord == "nuc":
            return u @ vh
        pick = slice(0, 1) if ord == 2 else slice(-1, None)
        return u[..., :, pick] @ vh[..., pick, :]
    summed = -1 if ord in (np.inf, -np.inf) else -2
    totals = np.abs(x).sum(axis=summed, keepdims=True)
    extreme = totals == y
    return _phase(x) * extreme / extreme.sum(axis=(-2, -1), keepdims=True)


def _norm_gradient(x, ord, axis):
    """G, the cotangent of `x` for the seed 1 (shaped like `x`), and the axes the norm reduces.

    Where the norm is 0 (at the zero vector or matrix, say), it is not differentiable: G is 0
    there, a subgradient (the norm is at its minimum), whatever `ord` and `axis`.
    """
    x = np.asarray(x)
    axes, matrix = _norm_axes(x, ord, axis)
    y = np.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    if matrix:
        gradient = np.moveaxis(_matrix_norm_gradient(np.moveaxis(x, axes, (-2, -1)), np.moveaxis(y, axes, (-2, -1)), ord), (-2, -1), axes)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            gradient = _vector_norm_gradient(x, y, ord, axes)
    return np.where(y == 0, 0, gradient), axes


def _norm_options(x, ord=None, axis=None, keepdims=False):
    """`ord`, `axis` and `keepdims` of a call `np.linalg.norm(x, ...)`, passed by position or by name."""
    return ord, axis, keepdims


NORM_SAMPLES = [
    Sample((draw(4, 150),)), Sample((draw((2, 3), 151),)), Sample((draw(4, 150), 1)), Sample((draw(4, 150),), {"ord": np.inf}),
    Sample((draw(4, 150),), {"ord": -np.inf}), Sample((draw(4, 150), 3)), Sample((draw((2, 3), 151), "fro")),
    Sample((draw((2, 3), 151),), {"axis": 1}), Sample((draw((2, 3), 151),), {"axis": 0, "keepdims": True}),
    Sample((draw((2, 3), 151), 1), {"axis": -1}), Sample((draw((3, 3), 152), "nuc")), Sample((draw((3, 2), 153), 2)),
    Sample((draw((3, 2), 153), -2)), Sample((draw((3, 3), 152), 1)), Sample((draw((3, 3), 152), np.inf)),
    Sample((draw((2, 3, 2), 154),), {"axis": (0, 2)}), Sample((draw((2, 3, 2), 154), "nuc", (1, 2))),
    Sample((draw((2, 3), 151),), {"keepdims": True}), Sample((draw(3, 155, np.complex128),)),
    Sample((draw((2, 2), 156, np.complex128), "nuc")), Sample((draw(3, 155, np.complex128), 1)), Sample((draw(4, 150), 0)),
    Sample((draw((3, 3), 152), -1)), Sample((draw((3, 3), 152), -np.inf)), Sample((draw((2, 3), 151), 2, 1)),
]


@register_rrule(np.linalg.norm, samples=NORM_SAMPLES)
def norm_rrule(x, *args, **kwargs):
    y = np.linalg.norm(x, *args, **kwargs)
    ord, axis, keepdims = _norm_options(x, *args, **kwargs)

    @seeded_pullback(1 + len(args))
    def norm_pullback(y_bar):
        gradient, axes = _norm_gradient(x, ord, axis)
        seed = y_bar if keepdims else np.expand_dims(y_bar, axes)
        return (NO_FIELDS, project(x, seed * gradient)) + (ZERO,) * len(args)

    return y, norm_pullback


@register_frule(np.linalg.norm)
def norm_frule(x, *args, **kwargs):
    y = np.linalg.norm(x, *args, **kwargs)
    ord, axis, keepdims = _norm_options(x, *args, **kwargs)

    def norm_pushforward(self_dot, x_dot, *arg_dots):
        if is_zero(x_dot):
            return ZERO
        gradient, axes = _norm_gradient(x, ord, axis)
        return np.real(np.sum(np.conj(gradient) * extern(x_dot), axis=axes, keepdims=keepdims))

    return y, norm_pushforward


# Results that share no mutable object with the arguments; the products' rules are in numpy_products.
fresh(np.linalg.inv, np.linalg.solve, np.linalg.det, np.linalg.slogdet, np.linalg.cholesky, np.linalg.norm,
      np.dot, np.ndarray.dot, np.inner, np.outer, np.kron, np.vdot, np.trace, np.ndarray.trace)
