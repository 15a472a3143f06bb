"""Mixed mode: Hessian-vector products and Hessians by forward over reverse, and Jacobians in either mode.

Forward over reverse is the forward transformation applied to the generated reverse-mode code: the
derivative `pipeline.derivative` built for a call (its forward pass and its pullback, both plain Python
that sourcediff generated and keeps the tree of) is pushed forward along the tangents, so the tangent of
the gradient comes out of one run of each. `sd.gradient` has rules of its own built on this, so a user's
`sd.jvp(lambda x: sd.gradient(f, x)[0], (x,), (v,))` and a gradient of a function that calls
`sd.gradient` work too. Jacobians and Hessians push (or pull) all their directions through one run as a
batch (`sourcediff.batch`), falling back to one direction at a time.

    >>> import sourcediff as sd
    >>> sd.hvp(lambda x, y: x * x * y, (2.0, 3.0), (1.0, 0.0))
    (6.0, 4.0)
"""
import contextlib
import types

import numpy as np

from . import batch, calls
from .api import _checked, _materialized, _name, _seed, gradient, jvp, materialize, paired_tangents, pullback
from .batch import BatchFallback
from .errors import NoRuleError, SourceDiffError
from .rules.differentials import NO_FIELDS, ZERO, Tangent, extern, is_zero
from .rules.registry import Sample, register_frule, register_rrule
from .transform import pipeline


def _python_callee(f, args, arg_tangents, caller):
    """`(function, args, tangents)` with a bound method's object made its first argument."""
    function, args, arg_tangents = calls.unbound(f, args, arg_tangents)
    if not isinstance(function, types.FunctionType):
        raise NoRuleError(f"{caller} differentiates the generated pullback of a Python function, and {_name(f)} is not one",
                          hint="Pass a Python function (a def or a lambda) that calls it.")
    return function, args, arg_tangents


def gradient_and_tangent(f, f_tangent, args, arg_tangents, kwargs, caller="sd.hvp", self_wanted=True):
    """`((∂self, ∂args...), (their tangents))` of the gradient of a real-scalar `f` at `args` pushed along
    `arg_tangents` (and `f_tangent`, a closure's captured variables' tangents): one forward-mode run of the
    forward pass of `f`'s reverse-mode derivative, then one of its pullback. Keyword arguments are constant;
    so are the captured variables when `self_wanted` is false and `f_tangent` zero (∂self is then zero)."""
    function, args, arg_tangents = _python_callee(f, args, arg_tangents, caller)
    entry, outputs, state, _, state_tangent = calls.pushed_forward_pass(
        function, f_tangent, args, arg_tangents, kwargs, constant_cells=not self_wanted and is_zero(f_tangent))
    y = outputs[0] if entry.written else outputs
    seeds = (_seed(y, f),) + (ZERO,) * len(entry.written)
    cotangents, cotangent_tangents = pipeline.pushed_value(
        entry.pullback, (state,) + seeds, {}, (state_tangent,) + (ZERO,) * len(seeds))
    arrange = calls._arrangement(entry, function, len(args), ())
    arranged, arranged_tangents = arrange(cotangents), arrange(calls.entries(cotangent_tangents, len(cotangents)))
    if function is not f:  # a bound method: its object is not one of the caller's arguments
        arranged, arranged_tangents = arranged[:1] + arranged[2:], arranged_tangents[:1] + arranged_tangents[2:]
    return arranged, arranged_tangents


def _gradient_pushed(f, f_tangent, args, arg_tangents, kwargs, caller, self_wanted=True):
    return pipeline.with_recursion_room(_checked, f, "forward", gradient_and_tangent, f, f_tangent, args, arg_tangents,
                                        kwargs, caller, self_wanted)


def hvp(f, primals, tangents, **kwargs):
    """The Hessian of a real-scalar `f` at `primals` times `tangents`: one entry per positional argument,
    shaped as its gradient entry, by forward over reverse. Keyword arguments are constant.

        >>> hvp(lambda x: x ** 3, (2.0,), (1.0,))
        (12.0,)
    """
    primals, tangents = paired_tangents(primals, tangents, "sd.hvp")
    cotangents, cotangent_tangents = _gradient_pushed(f, ZERO, primals, tangents, kwargs, "sd.hvp", self_wanted=False)
    return _gradient_tangents(_materialized(primals, cotangents), cotangent_tangents)


def _gradient_tangents(gradients, tangents):
    """The user-facing tangents of the entries of `sd.gradient`'s result, from `(∂self, ∂args...)` tangents."""
    return tuple(materialize(g, t) if g is not None else None for g, t in zip(gradients, tangents[1:]))


# The rules of `sd.gradient`: its pushforward is forward over reverse; its pullback too, since the
# Hessian is symmetric (∂(∇f)ᵀ ȳ = H ȳ, and the captured variables' parts are the mixed partials).

def _gradient_sample_function(x, y):
    return np.sum(np.sin(x) * y) + np.sum(x * x * x)


@register_frule(gradient, samples=[Sample((_gradient_sample_function, np.array([0.3, -1.2, 0.7]), 1.5))])
def gradient_frule(f, *args, **kwargs):
    grads = gradient(f, *args, **kwargs)

    def gradient_pushforward(self_tangent, f_tangent, *arg_tangents):
        _, tangents = _gradient_pushed(f, f_tangent, args, arg_tangents, kwargs, "the forward mode of sd.gradient")
        return _gradient_tangents(grads, tangents)

    return grads, gradient_pushforward


@register_rrule(gradient, samples=[Sample((_gradient_sample_function, np.array([0.3, -1.2, 0.7]), 1.5))])
def gradient_rrule(f, *args, **kwargs):
    grads = gradient(f, *args, **kwargs)

    def gradient_pullback(grads_bar):
        grads_bar = extern(grads_bar)
        entries = (ZERO,) * len(args) if is_zero(grads_bar) else tuple(extern(g) for g in grads_bar)
        directions = tuple(ZERO if g is None else e for g, e in zip(grads, entries))
        if all(is_zero(d) for d in directions):
            return (NO_FIELDS, ZERO) + (ZERO,) * len(args)
        _, tangents = _gradient_pushed(f, ZERO, args, directions, kwargs, "the reverse mode of sd.gradient")
        f_bar = tangents[0] if isinstance(tangents[0], Tangent) else ZERO
        return (NO_FIELDS, f_bar) + tuple(tangents[1:])

    return grads, gradient_pullback


# Jacobians and Hessians

def _leaves(value):
    """The float scalars and float arrays inside nested lists, tuples and dicts, in order."""
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for key in value for leaf in _leaves(value[key])]
    return [value]


def _rebuilt(structure, leaves):
    """`structure` with its leaves replaced, in order, by `leaves` (an iterator)."""
    if isinstance(structure, (list, tuple)) and not hasattr(structure, "_fields"):
        return type(structure)(_rebuilt(item, leaves) for item in structure)
    if isinstance(structure, dict):
        return {key: _rebuilt(structure[key], leaves) for key in structure}
    return next(leaves)


def _is_real(leaf):
    return isinstance(leaf, (float, np.floating)) and not isinstance(leaf, bool) or \
        isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f"


def _basis(structure):
    """Each one-hot direction of the real leaves of `structure`, as `(leaf index, element index, direction)`."""
    leaves = _leaves(structure)
    zeros = [np.zeros_like(leaf) if isinstance(leaf, np.ndarray) else type(leaf)(0) if _is_real(leaf) else ZERO
             for leaf in leaves]
    for position, leaf in enumerate(leaves):
        if not _is_real(leaf):
            continue
        for index in np.ndindex(np.shape(leaf)):
            if isinstance(leaf, np.ndarray):
                entry = np.zeros_like(leaf)
                entry[index] = 1
            else:
                entry = type(leaf)(1)
            direction = zeros[:position] + [entry] + zeros[position + 1:]
            yield position, index, _rebuilt(structure, iter(direction))


def _blocks(outputs, inputs):
    """Empty Jacobian blocks: for each output leaf, for each input leaf, an array of shape out + in."""
    return [[np.zeros(np.shape(y) + np.shape(x), dtype=np.result_type(y, x, 0.0)) if _is_real(x) and _is_real(y) else None
             for x in inputs] for y in outputs]


def _assembled(y, argument, blocks):
    """The Jacobian of output `y` with respect to one argument: the output's structure of the argument's structure
    of blocks (a float where both leaves are scalars)."""
    outputs, inputs = _leaves(y), _leaves(argument)

    def block(value, output, leaf):
        return value.item() if value is not None and np.ndim(output) == 0 and np.ndim(leaf) == 0 else value

    per_output = [_rebuilt(argument, iter([block(b, out, x) for b, x in zip(row, inputs)])) for row, out in zip(blocks, outputs)]
    return _rebuilt(y, iter(per_output))


def jacobian(f, *args, mode="reverse", **kwargs):
    """The Jacobian of `f` at `args`: one entry per positional argument, each shaped `y.shape + x.shape` for an
    array output `y` and argument `x` (nested outputs and arguments give the output's structure holding the
    argument's structure of such blocks). `mode="forward"` pushes one tangent per input element through the
    forward-mode code, `mode="reverse"` pulls one cotangent per output element back through the pullback: all
    of them at once, as one batch (`sourcediff.batch`), or one at a time where a batch meets an operation that
    needs a single tangent.

        >>> jacobian(lambda x: x * x, np.array([1.0, 2.0]))[0]
        array([[2., 0.],
               [0., 4.]])
    """
    if mode not in ("reverse", "forward"):
        raise SourceDiffError(f"sd.jacobian has mode='reverse' or mode='forward', not mode={mode!r}")
    if mode == "forward":
        return _batched_or(lambda: _batched_forward_jacobian(f, args, kwargs), lambda: _looped_forward_jacobian(f, args, kwargs))
    return _batched_or(lambda: _batched_reverse_jacobian(f, args, kwargs), lambda: _looped_reverse_jacobian(f, args, kwargs))


def _batched_or(batched, one_at_a_time):
    """`batched()` run with batches of tangents, or `one_at_a_time()` where a batch meets an operation that needs a
    single tangent (the function then runs again)."""
    try:
        with _batched():
            return batched()
    except Exception as error:
        if not batch.fell_back(error):
            raise
    return one_at_a_time()


def _batched_reverse_jacobian(f, args, kwargs):
    """Every output direction pulled back as one batch of cotangents through one run of the pullback."""
    y, back = pullback(f, *args, **kwargs)
    seeds, places, total = _batched_basis(y)
    outputs = _leaves(y)
    results = [_blocks(outputs, _leaves(a)) for a in args]
    if total:
        for argument, (primal, found) in enumerate(zip(args, back(seeds))):
            inputs = _leaves(primal)
            cotangents = _leaves(found) if found is not None else [None] * len(inputs)
            for position, (leaf, cotangent) in enumerate(zip(inputs, cotangents)):
                if cotangent is None or not any(results[argument][o][position] is not None for o in range(len(outputs))):
                    continue
                rows = _rows(cotangent, total, np.shape(leaf))
                for output, place in enumerate(places):
                    block = results[argument][output][position]
                    if block is not None and place is not None:
                        first, count = place
                        block[...] = rows[first: first + count].reshape(block.shape)
    return tuple(_assembled(y, a, r) for a, r in zip(args, results))


def _looped_reverse_jacobian(f, args, kwargs):
    y, back = pullback(f, *args, **kwargs)
    outputs = _leaves(y)
    results = [_blocks(outputs, _leaves(a)) for a in args]
    for output, index, direction in _basis(y):
        for argument, found in enumerate(back(direction)):
            for position, leaf in enumerate(_leaves(found) if found is not None else []):
                block = results[argument][output][position]
                if block is not None and leaf is not None:
                    block[index] = leaf
    return tuple(_assembled(y, a, r) for a, r in zip(args, results))


@contextlib.contextmanager
def _batched():
    token = batch.ACTIVE.set(True)
    try:
        yield
    finally:
        batch.ACTIVE.reset(token)


def _batched_basis(structure):
    """`(tangent, places, total)`: the tangent of `structure` that stacks the `total` one-hot directions of all its
    real leaves (a `Batch` per real leaf, a zero for the others), and each leaf's `(first row, count)` in the stack
    (None for the others)."""
    leaves = _leaves(structure)
    sizes = [int(np.size(leaf)) if _is_real(leaf) else 0 for leaf in leaves]
    total, first, tangents, places = sum(sizes), 0, [], []
    for leaf, size in zip(leaves, sizes):
        if not size:
            tangents.append(ZERO)
            places.append(None)
            continue
        stack = np.zeros((total, size), dtype=np.result_type(leaf, 0.0))
        stack[first: first + size] = np.eye(size)
        tangents.append(batch.Batch(stack.reshape((total,) + np.shape(leaf))))
        places.append((first, size))
        first += size
    return _rebuilt(structure, iter(tangents)), places, total


def _rows(tangent, total, shape):
    """The `total` tangents of a leaf of `shape` that a batched run gave, stacked: `(total, *shape)`."""
    if type(tangent) is batch.Batch:
        return tangent.stack
    if is_zero(tangent):
        return np.zeros((total,) + tuple(shape))
    if not isinstance(tangent, (np.ndarray, np.generic, float, int, complex)):
        raise BatchFallback(f"a batched run gave a tangent of type {type(tangent).__name__}")
    return np.broadcast_to(tangent, (total,) + tuple(shape))  # the same for every direction


def _batched_forward_jacobian(f, args, kwargs):
    zeros = tuple(ZERO for _ in args)
    y = None
    results = []
    for argument, primal in enumerate(args):
        direction, places, total = _batched_basis(primal)
        if not total:
            results.append(None)
            continue
        y, y_dot = jvp(f, args, zeros[:argument] + (direction,) + zeros[argument + 1:], **kwargs)
        inputs, outputs = _leaves(primal), _leaves(y)
        blocks = _blocks(outputs, inputs)
        for output, (leaf, tangent) in enumerate(zip(outputs, _leaves(_structured(y, y_dot)))):
            if not any(block is not None for block in blocks[output]):
                continue
            rows = _rows(tangent, total, np.shape(leaf))
            for position, place in enumerate(places):
                block = blocks[output][position]
                if block is not None:
                    first, count = place
                    block[...] = np.moveaxis(rows[first: first + count], 0, -1).reshape(block.shape)
        results.append(blocks)
    if y is None:
        y = f(*args, **kwargs)
    return tuple(_assembled(y, a, r if r is not None else _blocks(_leaves(y), _leaves(a))) for a, r in zip(args, results))


def _structured(y, y_dot):
    """The tangent `y_dot` of `y` with a zero spelled out as one zero per leaf."""
    if not is_zero(y_dot):
        return y_dot
    return _rebuilt(y, iter([ZERO] * len(_leaves(y))))


def _looped_forward_jacobian(f, args, kwargs):
    zeros = tuple(ZERO for _ in args)
    y = None
    results = []
    for argument, primal in enumerate(args):
        blocks = None
        for position, index, direction in _basis(primal):
            y, y_dot = jvp(f, args, zeros[:argument] + (direction,) + zeros[argument + 1:], **kwargs)
            if blocks is None:
                blocks = _blocks(_leaves(y), _leaves(primal))
            for output, leaf in enumerate(_leaves(y_dot)):
                block = blocks[output][position]
                if block is not None:
                    block[(Ellipsis,) + index] = leaf
        results.append(blocks)
    if y is None:
        y = f(*args, **kwargs)
    return tuple(_assembled(y, a, r if r is not None else _blocks(_leaves(y), _leaves(a))) for a, r in zip(args, results))


def hessian(f, x, **kwargs):
    """The Hessian of a real-scalar `f` of one float or float array `x`, shaped `x.shape + x.shape`, by forward
    over reverse: every direction of `x` pushed as one batch of tangents (`sourcediff.batch`) through one run,
    or one Hessian-vector product per element where the batched run reaches an operation that takes one
    tangent at a time.

        >>> hessian(lambda x: np.sum(x ** 3), np.array([1.0, 2.0]))
        array([[ 6.,  0.],
               [ 0., 12.]])
    """
    if not _is_real(x):
        raise SourceDiffError(f"sd.hessian needs a float or a float array, got {type(x).__name__}",
                              hint="Pass the variable as a float64 array (np.asarray(x, dtype=float)).")
    if np.ndim(x) == 0:
        return hvp(f, (x,), (type(x)(1),), **kwargs)[0]
    directions = batch.Batch(np.eye(x.size, dtype=x.dtype).reshape((x.size,) + x.shape))

    def batched():
        _, tangents = _gradient_pushed(f, ZERO, (x,), (directions,), kwargs, "sd.hessian", self_wanted=False)
        return np.moveaxis(_rows(tangents[1], x.size, x.shape), 0, -1).reshape(x.shape + x.shape).astype(x.dtype, copy=False)

    def one_at_a_time():
        result = np.zeros(x.shape + x.shape, dtype=x.dtype)
        for _, index, direction in _basis(x):
            result[(Ellipsis,) + index] = hvp(f, (x,), (direction,), **kwargs)[0]
        return result

    return _batched_or(batched, one_at_a_time)
