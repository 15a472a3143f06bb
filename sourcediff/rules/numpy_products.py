"""Rules for products of arrays: matmul (`a @ b`), dot, inner, outer, vdot, kron, einsum and trace.

Every product here is linear in each operand, so one pushforward serves them all
(`multilinear_frule`): the sum, over the operands with a nonzero tangent, of the product with that
operand replaced by its tangent. Pullbacks follow the conjugating convention x̄ = conj(J)ᵀ ȳ:
the cotangent of one operand is the seed contracted with the conjugates of the others, so
`a @ b` gives ā = ȳ @ conj(b)ᵀ. dot, inner, outer and kron are einsum contractions, and share
the einsum pullback (`contraction_cotangents`). Broadcast operands are summed back by `project`.
"""
import operator
import string

import numpy as np

from .differentials import NO_FIELDS, ZERO, Thunk, extern, is_zero
from .linear import draw, linear_rule, seeded_pullback
from .projection import project, unbroadcast
from .registry import Sample, conj, register_frule, register_rrule


def conj_transpose(x):
    """The conjugate transpose of (a stack of) matrices: the last two axes swapped and conjugated."""
    return conj(np.swapaxes(x, -1, -2))


def _all_positions(args):
    return range(len(args))


def multilinear_frule(f, *, operand_positions=_all_positions):
    """Register the frule of `f`, linear in each of its operands (by default every positional argument).

    ẏ = Σₖ f(a₁, …, ȧₖ, …, aₙ) over the operands whose tangent is not zero.
    `operand_positions(args)` says where the operands are; other arguments (an einsum's
    subscripts) and keyword arguments are passed through undifferentiated.
    """
    name = getattr(f, "__name__", "product")

    # batches of tangents pass through NumPy's functions (a method such as `np.ndarray.dot` takes only arrays)
    @register_frule(f, batch=not isinstance(f, type(np.ndarray.dot)))
    def multilinear_rule(*args, **kwargs):
        y = f(*args, **kwargs)

        def multilinear_pushforward(self_dot, *arg_dots):
            y_dot = ZERO
            for k in operand_positions(args):
                if not is_zero(arg_dots[k]):
                    replaced = args[:k] + (extern(arg_dots[k]),) + args[k + 1:]
                    y_dot = y_dot + f(*replaced, **kwargs)
            return y_dot

        multilinear_pushforward.__name__ = multilinear_pushforward.__qualname__ = f"{name}_pushforward"
        return y, multilinear_pushforward


# matmul: the classic formulas, with 1-D operands promoted to matrices as np.matmul promotes them.

def _as_matrices(a, b, y_bar):
    if np.ndim(b) == 1:
        b, y_bar = np.asarray(b)[:, None], np.expand_dims(y_bar, -1)
    if np.ndim(a) == 1:
        a, y_bar = np.asarray(a)[None, :], np.expand_dims(y_bar, -2)
    return a, b, y_bar


def matmul_samples():
    a, b = draw((2, 3), 40), draw((3, 4), 41)
    return [
        Sample((a, b)), Sample((draw(3, 42), b)), Sample((a, draw(3, 43))), Sample((draw(3, 42), draw(3, 43))),
        Sample((draw((2, 2, 3), 44), b)), Sample((a, draw((2, 3, 2), 45))), Sample((draw((2, 1, 2, 3), 46), draw((3, 3, 2), 47))),
        Sample((draw((2, 2, 3), 44), draw(3, 43))), Sample((draw(3, 42), draw((2, 3, 2), 45))),
        Sample((draw((2, 3), 48, np.complex128), draw((3, 2), 49, np.complex128))), Sample((a, draw((3, 2), 49, np.complex128))),
        Sample((a.astype(np.float32), b)),
    ]


@register_rrule(np.matmul, samples=matmul_samples)
@register_rrule(operator.matmul, samples=matmul_samples)
def matmul_rrule(a, b):
    y = np.matmul(a, b)

    @seeded_pullback(2)
    def matmul_pullback(y_bar):
        if np.ndim(a) == 2 and np.ndim(b) == 1:
            return NO_FIELDS, Thunk(lambda: project(a, np.outer(y_bar, conj(b)))), \
                Thunk(lambda: project(b, conj(a).T @ y_bar))
        if np.ndim(a) == 1 and np.ndim(b) == 2:
            return NO_FIELDS, Thunk(lambda: project(a, conj(b) @ y_bar)), \
                Thunk(lambda: project(b, np.outer(conj(a), y_bar)))
        a2, b2, y2 = _as_matrices(a, b, y_bar)
        a_bar = Thunk(lambda: project(a, unbroadcast(y2 @ conj_transpose(b2), a2.shape).reshape(np.shape(a))))
        b_bar = Thunk(lambda: project(b, unbroadcast(conj_transpose(a2) @ y2, b2.shape).reshape(np.shape(b))))
        return NO_FIELDS, a_bar, b_bar

    matmul_pullback.adjoint_of = np.matmul  # (bilinear: see `calls._linear_rule_pushed`)
    return y, matmul_pullback


matmul_rrule.rrule_of, matmul_rrule.multilinear_in = np.matmul, _all_positions


multilinear_frule(np.matmul)
multilinear_frule(operator.matmul)


# Products of float64 vectors and matrices of known ndim, inlined by the transformer. The outer products are
# written with broadcasting (`y_bar[:, None] * b`) so that a `Zero()` or `Thunk` cotangent passes through.

def _matmul_specialisation(ndims, seed):
    """Register a rule as the specialisation of `@` and `np.matmul` for float64 operands of `ndims`."""
    shapes = {(2, 2): [(2, 3), (3, 4)], (2, 1): [(2, 3), (3,)], (1, 2): [(3,), (3, 4)], (1, 1): [(3,), (3,)]}[ndims]

    def samples():
        return [Sample((draw(shapes[0], seed), draw(shapes[1], seed + 1)))]

    def register(rule):
        register_rrule(np.matmul, ndims=ndims, samples=samples)(rule)
        return register_rrule(operator.matmul, ndims=ndims, samples=samples)(rule)

    return register


@_matmul_specialisation((2, 2), 50)
def matrix_matrix_rrule(a, b):
    y = a @ b

    def matrix_matrix_pullback(y_bar):
        return NO_FIELDS, y_bar @ b.T, a.T @ y_bar

    return y, matrix_matrix_pullback


@_matmul_specialisation((2, 1), 52)
def matrix_vector_rrule(a, b):
    y = a @ b

    def matrix_vector_pullback(y_bar):
        return NO_FIELDS, y_bar[:, None] * b, a.T @ y_bar

    return y, matrix_vector_pullback


@_matmul_specialisation((1, 2), 54)
def vector_matrix_rrule(a, b):
    y = a @ b

    def vector_matrix_pullback(y_bar):
        return NO_FIELDS, b @ y_bar, a[:, None] * y_bar

    return y, vector_matrix_pullback


@_matmul_specialisation((1, 1), 56)
def vector_vector_rrule(a, b):
    y = a @ b

    def vector_vector_pullback(y_bar):
        return NO_FIELDS, y_bar * b, y_bar * a

    return y, vector_vector_pullback


# einsum, and the products that are einsum contractions.

def explicit_subscripts(subscripts, operands):
    """The input and output subscripts of `np.einsum(subscripts, *operands)`, spelled out.

    '...' becomes unused letters (right-aligned, as NumPy broadcasts), and an implicit output
    becomes explicit: the broadcast letters, then the letters used once, in alphabetical order.
    """
    subscripts = subscripts.replace(" ", "")
    inputs, arrow, output = subscripts.partition("->")
    inputs = inputs.split(",")
    unused = [c for c in string.ascii_letters if c not in subscripts]
    extra = [np.ndim(op) - len(s.replace("...", "")) for s, op in zip(inputs, operands)]
    broadcast = "".join(unused[:max([n for s, n in zip(inputs, extra) if "..." in s], default=0)])
    inputs = [s.replace("...", broadcast[len(broadcast) - n:]) for s, n in zip(inputs, extra)]
    if arrow:
        return inputs, output.replace("...", broadcast)
    letters = "".join(inputs)
    return inputs, broadcast + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in broadcast))


def _operand_cotangent(y_bar, inputs, output, operands, k, optimize):
    """conj(J)ᵀ ȳ for operand `k` of the contraction `inputs -> output`: ȳ contracted with the other operands, conjugated.

    Letters the seed and the other operands lack (summed within operand k alone) are broadcast
    back, and a repeated letter (a diagonal, as in 'ii->') receives its values on the diagonal.
    """
    target, operand = inputs[k], operands[k]
    sizes = dict(zip(target, np.shape(operand)))
    others = [s for j, s in enumerate(inputs) if j != k]
    letters = "".join(dict.fromkeys(target))
    reached = "".join(c for c in letters if c in output or any(c in s for s in others))
    spec = ",".join([output] + others) + "->" + reached
    partial = np.einsum(spec, y_bar, *(conj(op) for j, op in enumerate(operands) if j != k), optimize=optimize)
    broadcast = tuple(i for i, c in enumerate(reached) if sizes[c] == 1 and partial.shape[i] != 1)
    partial = partial.sum(axis=broadcast, keepdims=True)
    spread = np.reshape(partial, [sizes[c] if c in reached else 1 for c in letters])
    if reached != letters:
        spread = np.broadcast_to(spread, [sizes[c] for c in letters]).copy()
    if letters == target:
        return spread
    cotangent = np.zeros(np.shape(operand), dtype=spread.dtype)
    np.einsum(f"{target}->{letters}", cotangent)[...] = spread
    return cotangent


def contraction_cotangents(y_bar, inputs, output, operands, optimize=False):
    """One `Thunk` per operand: the cotangents of `np.einsum('inputs->output', *operands)` for the seed `y_bar`."""
    return tuple(
        Thunk(lambda k=k: project(operands[k], _operand_cotangent(y_bar, inputs, output, operands, k, optimize)))
        for k in range(len(operands))
    )


def einsum_samples():
    a, b, c = draw((2, 3), 50), draw((3, 4), 51), draw((4, 2), 52)
    square, v = draw((3, 3), 53), draw(3, 54)
    z = draw((2, 3), 55, np.complex128)
    return [
        Sample(("ij,jk->ik", a, b)), Sample(("ij,jk", a, b)), Sample(("ij,jk,kl->il", a, b, c)), Sample(("ii->", square)),
        Sample(("ii", square)), Sample(("ii->i", square)), Sample(("ij->i", a)), Sample(("ij->", a)), Sample(("ij->ji", a)),
        Sample(("i,i->", v, v)), Sample(("i,j->ij", v, draw(2, 56))), Sample(("ij,ij->ij", a, draw((2, 3), 57))),
        Sample(("ij,i->j", a, draw(2, 56))), Sample(("iij,j->i", draw((3, 3, 2), 58), draw(2, 56))),
        Sample(("ba", a)), Sample(("i", v)), Sample(("...ij,...jk->...ik", draw((2, 2, 3), 59), b)),
        Sample(("...ij,jk", draw((2, 2, 3), 59), b)), Sample(("ij...->j...", draw((2, 3, 2), 60))),
        Sample(("bij,bjk->bik", draw((1, 2, 3), 61), draw((2, 3, 2), 62))), Sample(("ij,jk->ik", z, b)),
        Sample(("ij,ij->", z, draw((2, 3), 63, np.complex128))), Sample(("ij,jk->ik", a, b), {"optimize": True}),
        Sample(("i,i->", v.astype(np.float32), v)), Sample((a, [0, 1], b, [1, 2], [0, 2])), Sample((a, [0, 1], b, [1, 2])),
        Sample((square, [0, 0])), Sample((draw((2, 2, 3), 59), [Ellipsis, 0, 1], b, [1, 2], [Ellipsis, 0, 2])),
    ]


def einsum_operand_positions(args):
    """Where the operands are among the arguments of `np.einsum`, in either of its two call forms.

    `einsum('ij,jk->ik', a, b)` has them after the subscripts; `einsum(a, [0, 1], b, [1, 2], [0, 2])`
    alternates each operand with its sublist of axis numbers, with an optional output sublist last.
    """
    if isinstance(args[0], str):
        return range(1, len(args))
    return range(0, len(args) - len(args) % 2, 2)


def _spell(sublist):
    return "".join("..." if axis is Ellipsis else string.ascii_letters[axis] for axis in sublist)


def _sublist_subscripts(args):
    """The subscripts string of the sublist form of an einsum call."""
    inputs = ",".join(_spell(sublist) for sublist in args[1::2])
    return inputs + ("->" + _spell(args[-1]) if len(args) % 2 else "")


@register_rrule(np.einsum, samples=einsum_samples)
def einsum_rrule(*args, **kwargs):
    y = np.einsum(*args, **kwargs)
    positions = einsum_operand_positions(args)
    operands = tuple(args[k] for k in positions)
    subscripts = args[0] if isinstance(args[0], str) else _sublist_subscripts(args)
    inputs, output = explicit_subscripts(subscripts, operands)

    @seeded_pullback(len(args))
    def einsum_pullback(y_bar):
        cotangents = [ZERO] * len(args)
        for k, cotangent in zip(positions, contraction_cotangents(y_bar, inputs, output, operands, kwargs.get("optimize", False))):
            cotangents[k] = cotangent
        return (NO_FIELDS, *cotangents)

    einsum_pullback.adjoint_of = np.einsum  # (multilinear: see `calls._linear_rule_pushed`)
    return y, einsum_pullback


einsum_rrule.rrule_of, einsum_rrule.multilinear_in = np.einsum, einsum_operand_positions


multilinear_frule(np.einsum, operand_positions=einsum_operand_positions)


def _subscripts(a, b, contracted):
    """Letters for `a` and `b`, disjoint except at `contracted` = (axis of a, axis of b), which share one."""
    na, nb = np.ndim(a), np.ndim(b)
    a_letters = string.ascii_letters[:na]
    b_letters = list(string.ascii_letters[na:na + nb])
    if contracted is not None:
        b_letters[contracted[1]] = a_letters[contracted[0]]
    return a_letters, "".join(b_letters)


def _contraction(a_letters, b_letters):
    """`a_letters,b_letters -> output`, the output keeping every letter that is not shared, in order."""
    output = "".join(c for c in a_letters + b_letters if (a_letters + b_letters).count(c) == 1)
    return [a_letters, b_letters], output


def dot_subscripts(a, b):
    """einsum subscripts of `np.dot(a, b)`: the last axis of a with the second-to-last of b (a product if one is a scalar)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return _contraction(*_subscripts(a, b, None))
    return _contraction(*_subscripts(a, b, (-1, max(np.ndim(b) - 2, 0))))


def inner_subscripts(a, b):
    """einsum subscripts of `np.inner(a, b)`: the last axes of both (a product if one is a scalar)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return _contraction(*_subscripts(a, b, None))
    return _contraction(*_subscripts(a, b, (-1, -1)))


def contraction_rule(f, subscripts_of, *, samples, seed_shape=None):
    """Register both modes of the two-operand product `f`, an einsum contraction with subscripts `subscripts_of(a, b)`.

    `seed_shape(a, b)`, if given, is the shape the seed takes in the contraction (`np.outer`
    flattens what the contraction keeps as axes).
    """
    name = getattr(f, "__name__", "product")

    @register_rrule(f, samples=samples)
    def product_rrule(a, b):
        y = f(a, b)
        inputs, output = subscripts_of(a, b)

        @seeded_pullback(2)
        def product_pullback(y_bar):
            seed = y_bar if seed_shape is None else np.reshape(y_bar, seed_shape(a, b))
            return (NO_FIELDS,) + contraction_cotangents(seed, inputs, output, (a, b))

        product_pullback.__name__ = product_pullback.__qualname__ = f"{name}_pullback"
        product_pullback.adjoint_of = f  # (bilinear: see `calls._linear_rule_pushed`)
        return y, product_pullback

    product_rrule.rrule_of, product_rrule.multilinear_in = f, _all_positions

    multilinear_frule(f)


def outer_subscripts(a, b):
    return _contraction(*_subscripts(a, b, None))


def outer_seed_shape(a, b):
    return np.shape(a) + np.shape(b)


def kron_subscripts(a, b):
    """einsum subscripts of `np.kron` (the seed reshaped by `kron_seed_shape`): a's and b's axes interleaved."""
    ndim = max(np.ndim(a), np.ndim(b))
    a_letters = string.ascii_letters[:ndim][ndim - np.ndim(a):]
    b_letters = string.ascii_letters[ndim:2 * ndim][ndim - np.ndim(b):]
    output = "".join(x + y for x, y in zip(string.ascii_letters[:ndim], string.ascii_letters[ndim:2 * ndim]))
    return [a_letters, b_letters], output


def kron_seed_shape(a, b):
    ndim = max(np.ndim(a), np.ndim(b))
    a_shape = (1,) * (ndim - np.ndim(a)) + np.shape(a)
    b_shape = (1,) * (ndim - np.ndim(b)) + np.shape(b)
    return [n for pair in zip(a_shape, b_shape) for n in pair]


def _pair_samples(*pairs):
    return [Sample(pair) for pair in pairs]


A23, B34, V3, W3 = draw((2, 3), 70), draw((3, 4), 71), draw(3, 72), draw(3, 73)
Z23, Z3 = draw((2, 3), 74, np.complex128), draw(3, 75, np.complex128)

DOT_SAMPLES = _pair_samples(
    (V3, W3), (A23, V3), (A23, B34), (2.5, A23), (A23, np.float64(-1.5)), (1.5, -2.0), (V3, B34),
    (draw((2, 2, 3), 76), B34), (A23, draw((2, 3, 2), 77)), (draw((2, 2, 3), 76), draw((4, 3, 2), 78)),
    (Z23, Z3), (Z3, W3), (A23.astype(np.float32), V3),
)
contraction_rule(np.dot, dot_subscripts, samples=DOT_SAMPLES)
contraction_rule(np.ndarray.dot, dot_subscripts, samples=[s for s in DOT_SAMPLES if isinstance(s.args[0], np.ndarray)])
contraction_rule(np.inner, inner_subscripts, samples=_pair_samples(
    (V3, W3), (A23, V3), (A23, draw((4, 3), 79)), (draw((2, 2, 3), 76), A23), (2.0, A23), (Z23, Z3),
))
contraction_rule(np.outer, outer_subscripts, seed_shape=outer_seed_shape, samples=_pair_samples(
    (V3, draw(2, 80)), (A23, V3), (Z3, W3), (1.5, V3),
))
contraction_rule(np.kron, kron_subscripts, seed_shape=kron_seed_shape, samples=_pair_samples(
    (V3, draw(2, 80)), (A23, draw((2, 2), 81)), (V3, A23), (A23, V3), (Z3, draw((2, 1), 82)),
))


# vdot conjugates its first operand, so its pullback is its own: ā = conj(ȳ)·b, b̄ = ȳ·a (flattened).

@register_rrule(np.vdot, samples=_pair_samples((V3, W3), (Z3, Z3 * 1j + 0.5), (Z3, W3), (V3, Z3), (A23, draw(6, 83))))
def vdot_rrule(a, b):
    y = np.vdot(a, b)

    @seeded_pullback(2)
    def vdot_pullback(y_bar):
        a_bar = Thunk(lambda: project(a, np.conj(y_bar) * np.reshape(b, np.shape(a))))
        b_bar = Thunk(lambda: project(b, y_bar * np.reshape(a, np.shape(b))))
        return NO_FIELDS, a_bar, b_bar

    vdot_pullback.adjoint_of = np.vdot  # (bilinear over the reals: see `calls._linear_rule_pushed`)
    return y, vdot_pullback


vdot_rrule.rrule_of, vdot_rrule.multilinear_in = np.vdot, _all_positions


multilinear_frule(np.vdot)


# trace is linear in its one array: its adjoint puts the seed on the diagonal it sums.

def trace_adjoint(y_bar, a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    a = np.asarray(a)
    a_bar = np.zeros(a.shape, dtype=np.result_type(a, y_bar))
    rows, columns = np.nonzero(np.eye(a.shape[axis1], a.shape[axis2], k=offset, dtype=bool))
    np.moveaxis(a_bar, (axis1, axis2), (-2, -1))[..., rows, columns] = np.expand_dims(y_bar, -1)
    return a_bar


linear_rule(np.trace, trace_adjoint, samples=[
    Sample((draw((3, 3), 90),)), Sample((draw((3, 4), 91), 1)), Sample((draw((3, 4), 91),), {"offset": -1}),
    Sample((draw((2, 3, 3), 92),), {"axis1": 1, "axis2": 2}), Sample((draw((3, 2, 3), 93), 0, 0, 2)),
    Sample((draw((3, 3), 94, np.complex128),)), Sample((draw((2, 2), 95).astype(np.float32),)),
], batch_adjoint=False)
linear_rule(np.ndarray.trace, trace_adjoint, samples=[Sample((draw((3, 3), 96),)), Sample((draw((3, 4), 97), 1))])
