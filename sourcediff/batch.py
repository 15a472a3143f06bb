"""batch: many tangents pushed through one run of the generated code, stacked on a leading axis.

`Batch(stack)` stands for the tangents `stack[0], stack[1], ...` of one primal: every operation on it
means that operation applied to each tangent in turn, and computes it on the whole stack at once where
NumPy can (elementwise arithmetic with the batch axis kept apart from broadcasting, reductions and
reshapes with their axes moved past it, matrix products, indexing). Anything else runs once per tangent
and stacks the results, which is always right, only slower. A value that is not a `Batch` is the same
for every tangent.

Cotangents batch the same way. Generated code runs with batches (while `ACTIVE` is set) through a
second compilation of the same text whose bindings are batch-aware (`batched_binding`): a rule's
pushforward (pullback) runs on the whole batch only if the rule declares `batch=True` (`batch_pullback`:
it uses the operations above and nothing that looks at the tangent's type), else once per tangent; the
runtime helpers that generated code calls on tangents and cotangents have batch-aware forms, and a
helper that writes into a batch does so in place only when, as for arrays, nothing else holds it (no
view of its stack either). Converting a batch to one number or array (`float`, `bool`, `np.asarray`),
or writing a batch into an array that is not one, raises `BatchFallback`: the caller then pushes the
tangents one by one.

    >>> import numpy as np
    >>> t = Batch(np.eye(3))                   # three tangents of a vector of 3
    >>> (np.array([1.0, 2.0, 3.0]) * t).stack  # each one scaled
    array([[1., 0., 0.],
           [0., 2., 0.],
           [0., 0., 3.]])
    >>> np.sum(t).stack                        # each one summed
    array([1., 1., 1.])
"""
import contextvars
import functools
import operator
import sys
import types

import numpy as np

from .errors import SourceDiffError
from .rules.differentials import NO_FIELDS, ZERO, AbstractDifferential, Tangent, Thunk, extern, is_zero

ACTIVE = contextvars.ContextVar("sourcediff_batched", default=False)


class BatchFallback(SourceDiffError):
    """A batched run reached an operation that takes one tangent at a time; push them one by one instead.
    Never reaches users: every caller that starts a batched run catches it."""


def fell_back(error):
    """Whether `error` comes from a `BatchFallback` (NumPy turns one raised while it converts a batch into a
    `ValueError` caused by it; sourcediff may wrap that again)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, BatchFallback):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _per_sample_ndim(value):
    return value.stack.ndim - 1 if type(value) is Batch else np.ndim(value)


def _aligned(value, ndim):
    """`value` ready to broadcast with per-tangent operands of `ndim` dimensions: a batch's tangents get
    unit axes after the batch axis (NumPy broadcasting aligns the others from the right already)."""
    if type(value) is not Batch:
        return value
    stack = value.stack
    missing = ndim - (stack.ndim - 1)
    return stack.reshape(stack.shape[:1] + (1,) * missing + stack.shape[1:]) if missing > 0 else stack


def _axis(axis, ndim):
    """A per-tangent axis as an axis of the stack."""
    return operator.index(axis) % ndim + 1 if ndim else operator.index(axis) + 1


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, (tuple, list)):
        return tuple(_axis(a, ndim) for a in axis)
    return _axis(axis, ndim)


class Batch:
    """The tangents `stack[0], stack[1], ...` of one primal, shaped `(batch size, *the primal's shape)`."""

    __slots__ = ("stack",)
    __array_priority__ = 1000

    def __init__(self, stack):
        self.stack = stack

    def __repr__(self):
        return f"Batch({self.stack!r})"

    # What one tangent looks like

    @property
    def shape(self):
        return self.stack.shape[1:]

    @property
    def ndim(self):
        return self.stack.ndim - 1

    @property
    def size(self):
        return int(np.prod(self.stack.shape[1:], dtype=np.int64))

    @property
    def dtype(self):
        return self.stack.dtype

    @property
    def T(self):
        return Batch(self.stack.transpose((0,) + tuple(range(self.stack.ndim - 1, 0, -1))))

    @property
    def real(self):
        return Batch(self.stack.real)

    @property
    def imag(self):
        return Batch(self.stack.imag)

    def __len__(self):
        if self.stack.ndim < 2:
            raise TypeError("len() of unsized object")
        return self.stack.shape[1]

    def __iter__(self):
        return (Batch(self.stack[:, j]) for j in range(len(self)))

    # Conversions to one value: not defined for a batch

    def _fallback(self, *args, **kwargs):
        raise BatchFallback("a batch of tangents was converted to one value")

    __array__ = __float__ = __int__ = __complex__ = __bool__ = __index__ = _fallback

    # Indexing

    def __getitem__(self, key):
        batched = _batched_key(key)
        if batched is None:
            return _stacked([tangent[key] for tangent in self.stack])
        return Batch(self.stack[batched])

    def __setitem__(self, key, value):
        if isinstance(value, Thunk):
            value = value.value()
        batched = _batched_key(key)
        if batched is None or _holds_batch(key):
            for i, tangent in enumerate(self.stack):
                tangent[key] = _sample(value, i)
            return
        if type(value) is Batch:
            region = self.stack[batched].ndim - 1
            stack = value.stack
            extra = stack.ndim - 1 - region
            if extra > 0 and all(n == 1 for n in stack.shape[1:1 + extra]):
                stack = stack.reshape(stack.shape[:1] + stack.shape[1 + extra:])
            value = _aligned(Batch(stack), region)
        self.stack[batched] = value

    # Arithmetic (NumPy's ufuncs below do the work)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if any(isinstance(i, AbstractDifferential) for i in inputs):
            return NotImplemented
        out = kwargs.get("out")
        if method == "__call__" and ufunc.signature is None and out is None and type(kwargs.get("where")) is not Batch:
            ndim = max(_per_sample_ndim(i) for i in inputs)
            result = ufunc(*[_aligned(i, ndim) for i in inputs], **kwargs)
            return tuple(Batch(r) for r in result) if ufunc.nout > 1 else Batch(result)
        if ufunc is np.matmul and method == "__call__" and not kwargs:
            return _matmul(*inputs)
        if method == "at":
            return _per_sample_update(getattr(ufunc, method), inputs, kwargs, inputs[0])
        if out is not None:
            return _per_sample_update(getattr(ufunc, method), inputs, kwargs, *out)
        return _per_sample(getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        handler = HANDLERS.get(func)
        if handler is not None:
            result = handler(*args, **kwargs)
            if result is not NotImplemented:
                return result
        if func in METADATA:
            return func(*_first_samples(args), **_first_samples(kwargs))
        if kwargs.get("out") is not None:
            return _per_sample_update(func, args, kwargs, kwargs["out"])
        if func in MUTATORS:
            return _per_sample_update(func, args, kwargs, args[0] if args else None)
        return _per_sample(func, args, kwargs)

    def _binary(ufunc, reflected=False):
        def operation(self, other):
            if isinstance(other, AbstractDifferential):
                return NotImplemented
            return ufunc(other, self) if reflected else ufunc(self, other)

        return operation

    __add__, __radd__ = _binary(np.add), _binary(np.add, True)
    __sub__, __rsub__ = _binary(np.subtract), _binary(np.subtract, True)
    __mul__, __rmul__ = _binary(np.multiply), _binary(np.multiply, True)
    __truediv__, __rtruediv__ = _binary(np.true_divide), _binary(np.true_divide, True)
    __pow__, __rpow__ = _binary(np.power), _binary(np.power, True)
    __matmul__, __rmatmul__ = _binary(np.matmul), _binary(np.matmul, True)
    __eq__, __ne__ = _binary(np.equal), _binary(np.not_equal)
    __lt__, __le__, __gt__, __ge__ = _binary(np.less), _binary(np.less_equal), _binary(np.greater), _binary(np.greater_equal)
    __hash__ = None

    def _in_place(ufunc):
        def operation(self, other):
            if isinstance(other, Thunk):
                other = other.value()
            if is_zero(other):
                return self
            if isinstance(other, AbstractDifferential):
                return NotImplemented
            ufunc(self.stack, _aligned(other, self.stack.ndim - 1), out=self.stack)
            return self

        return operation

    __iadd__, __isub__, __imul__, __itruediv__ = (_in_place(np.add), _in_place(np.subtract), _in_place(np.multiply),
                                                  _in_place(np.true_divide))
    del _binary, _in_place

    def __neg__(self):
        return Batch(-self.stack)

    def __pos__(self):
        return self

    def __abs__(self):
        return Batch(np.abs(self.stack))

    # Methods: those of NumPy functions through them, the rest once per tangent

    def copy(self, order="K"):
        return Batch(self.stack.copy(order=order))

    def conj(self):
        return Batch(self.stack.conj())

    conjugate = conj

    def astype(self, dtype, *args, **kwargs):
        return Batch(self.stack.astype(dtype, *args, **kwargs))

    def reshape(self, *shape, order="C"):
        shape = shape[0] if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape
        return np.reshape(self, shape, order=order)

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)) else (axes or None)
        return np.transpose(self, axes)

    def ravel(self, order="C"):
        return np.reshape(self, -1, order=order)

    def flatten(self, order="C"):
        return np.reshape(self, -1, order=order).copy()

    def __getattr__(self, name):
        method = getattr(np.ndarray, name, None) if not name.startswith("__") else None
        if not callable(method):
            raise AttributeError(f"'Batch' object has no attribute {name!r}")
        if name in FUNCTION_METHODS:
            return functools.partial(getattr(np, name), self)
        return functools.partial(_per_sample_method, self, name)


FUNCTION_METHODS = {"sum", "mean", "cumsum", "swapaxes", "squeeze", "diagonal", "trace", "dot", "take", "flip"}


def _per_sample_method(batch, name, *args, **kwargs):
    if name in ("fill", "sort", "partition", "put", "itemset", "resize", "setfield"):  # they change the tangent
        for i, tangent in enumerate(batch.stack):
            getattr(tangent, name)(*_sample(args, i), **_sample(kwargs, i))
        return None
    return _per_sample(lambda tangent, *a, **k: getattr(tangent, name)(*a, **k), (batch,) + args, kwargs)


# Running once per tangent

def _batch_size(value):
    """The batch size of the first batch inside `value` (nested in tuples, lists, dicts, `Tangent`s), or None."""
    kind = type(value)
    if kind is Batch:
        return value.stack.shape[0]
    if kind is tuple or kind is list:
        for item in value:
            size = _batch_size(item)
            if size is not None:
                return size
    elif kind is dict:
        return _batch_size(tuple(value.values()))
    elif kind is Tangent:
        return _batch_size(tuple(value.fields.values()))
    elif isinstance(value, tuple):  # a namedtuple
        return _batch_size(tuple(value))
    elif isinstance(value, Thunk):  # (its value is needed to know: a pullback taking it would compute it anyway)
        return _batch_size(value.value())
    return None


def _holds_batch(value):
    return _batch_size(value) is not None


def _sample(value, i):
    """`value` with each batch inside replaced by its `i`-th tangent."""
    kind = type(value)
    if kind is Batch:
        return value.stack[i]
    if kind is tuple or kind is list:
        return kind(_sample(item, i) for item in value)
    if kind is dict:
        return {key: _sample(item, i) for key, item in value.items()}
    if kind is Tangent:
        return Tangent(value.primal_type, **{key: _sample(item, i) for key, item in value.fields.items()})
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return kind(*(_sample(item, i) for item in value))
    if isinstance(value, Thunk) and _batch_size(value.value()) is not None:
        return _sample(value.value(), i)
    return value


def _first_samples(value):
    return _sample(value, 0)


def _stacked(results):
    """One value standing for `results` (one per tangent): a batch of arrays and numbers, containers entry by entry."""
    first = results[0]
    if all(r is first for r in results):
        return first
    if any(isinstance(r, Thunk) for r in results):
        return _stacked([r.value() if isinstance(r, Thunk) else r for r in results])
    if all(is_zero(r) or _is_numeric(r) for r in results):
        present = next(r for r in results if not is_zero(r))
        arrays = [np.zeros_like(present) if is_zero(r) else r for r in results]
        if len({np.shape(a) for a in arrays}) != 1:
            raise BatchFallback("the tangents' results differ in shape")
        return Batch(np.stack([np.asarray(a) for a in arrays]))
    kind = type(first)
    if all(type(r) is kind for r in results):
        if kind is tuple or kind is list:
            if len({len(r) for r in results}) == 1:
                return kind(_stacked(list(entries)) for entries in zip(*results))
        elif kind is dict:
            if all(r.keys() == first.keys() for r in results):
                return {key: _stacked([r[key] for r in results]) for key in first}
        elif kind is Tangent:
            keys = list(dict.fromkeys(k for r in results for k in r.fields))
            return Tangent(first.primal_type, **{k: _stacked([r.fields.get(k, ZERO) for r in results]) for k in keys})
        elif isinstance(first, tuple) and hasattr(first, "_fields"):
            return kind(*(_stacked(list(entries)) for entries in zip(*results)))
    raise BatchFallback("the tangents' results cannot be stacked")


def _is_numeric(value):
    return isinstance(value, (np.ndarray, np.generic, float, complex, int)) and not isinstance(value, (bool, np.bool_)) \
        and (not isinstance(value, np.ndarray) or value.dtype.kind in "iufc")


def _per_sample(function, args, kwargs):
    size = _batch_size((args, kwargs))
    return _stacked([function(*_sample(args, i), **_sample(kwargs, i)) for i in range(size)])


def _per_sample_update(function, args, kwargs, *targets):
    """A function that writes into `targets`: once per tangent into each batch's own tangents, if every target
    is a batch (a single array would be overwritten by each tangent in turn)."""
    if not targets or any(type(t) is not Batch for t in targets):
        raise BatchFallback("a batch of tangents was written into an array that holds one")
    results = [function(*_sample(args, i), **_sample(kwargs, i)) for i in range(targets[0].stack.shape[0])]
    if all(r is None for r in results):
        return None
    return targets[0] if len(targets) == 1 else targets


# Indexing

def _batched_key(key):
    """The index of the stack that reads `key` of every tangent, or None where prepending the batch axis
    would move axes (advanced indices apart from each other)."""
    key = key if type(key) is tuple else (key,)
    kinds = []
    for part in key:
        if part is None or part is Ellipsis or isinstance(part, slice):
            kinds.append("basic")
        elif isinstance(part, (int, np.integer)) and not isinstance(part, (bool, np.bool_)):
            kinds.append("integer")
        elif isinstance(part, (np.ndarray, list)) and not _holds_batch(part):
            kinds.append("integer" if np.ndim(part) == 0 and np.asarray(part).dtype.kind in "iu" else "array")
        else:
            return None
    if "array" in kinds:
        advanced = [i for i, kind in enumerate(kinds) if kind != "basic"]
        if advanced != list(range(advanced[0], advanced[-1] + 1)):
            return None
    return (slice(None),) + key


# Products

def _matmul(a, b):
    if type(a) is Batch and type(b) is Batch:
        return _per_sample(np.matmul, (a, b), {})
    if type(a) is Batch:
        k, other = a.stack.ndim - 1, np.ndim(b)
        if k == 1 and other <= 2 or k >= 2 and other == 1:
            return Batch(np.matmul(a.stack, b))
        if k >= 2:
            return Batch(np.matmul(_aligned(a, max(k, other)), b))
        return _per_sample(np.matmul, (a, b), {})
    k, other = b.stack.ndim - 1, np.ndim(a)
    if k == 1 and other == 1:
        return Batch(np.matmul(b.stack, a))
    if k == 1 and other == 2:
        return Batch(np.matmul(b.stack, np.transpose(a)))
    if k >= 2 and other >= 1:
        return Batch(np.matmul(a, _aligned(b, max(k, other))))
    return _per_sample(np.matmul, (a, b), {})


def _dot(a, b, out=None):
    if out is not None or _per_sample_ndim(a) > 2 or _per_sample_ndim(b) > 2:
        return NotImplemented
    if _per_sample_ndim(a) == 0 or _per_sample_ndim(b) == 0:
        return np.multiply(a, b)
    return _matmul(a, b)


def _einsum(subscripts, *operands, **kwargs):
    batches = [i for i, o in enumerate(operands) if type(o) is Batch]
    if not isinstance(subscripts, str) or "->" not in subscripts or len(batches) != 1 or "out" in kwargs:
        return NotImplemented
    inputs, output = subscripts.replace(" ", "").split("->")
    terms = inputs.split(",")
    letter = next(c for c in "zyxwvutsrqponmlkjihgfedcbaZYXWVUTSRQPONMLKJIHGFEDCBA" if c not in subscripts)
    terms[batches[0]] = letter + terms[batches[0]]
    stacks = [o.stack if type(o) is Batch else o for o in operands]
    return Batch(np.einsum(",".join(terms) + "->" + letter + output, *stacks, **kwargs))


# Reductions, shapes and joins: their axes moved past the batch axis

def _reduction(function):
    def reduce(a, axis=None, dtype=None, out=None, keepdims=False, **rest):
        if type(a) is not Batch or out is not None or rest:
            return NotImplemented
        return Batch(function(a.stack, axis=_axes(axis, a.ndim), dtype=dtype, keepdims=keepdims))

    return reduce


def _cumsum(a, axis=None, dtype=None, out=None):
    if type(a) is not Batch or out is not None:
        return NotImplemented
    if axis is None:
        return Batch(np.cumsum(a.stack.reshape(a.stack.shape[0], -1), axis=1, dtype=dtype))
    return Batch(np.cumsum(a.stack, axis=_axis(axis, a.ndim), dtype=dtype))


def _reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    shape = newshape if shape is None else shape
    if type(a) is not Batch or order != "C" or copy is not None or shape is None:
        return NotImplemented
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return Batch(a.stack.reshape(a.stack.shape[:1] + shape))


def _transpose(a, axes=None):
    if type(a) is not Batch:
        return NotImplemented
    return a.T if axes is None else Batch(a.stack.transpose((0,) + tuple(_axis(x, a.ndim) for x in axes)))


def _swapaxes(a, axis1, axis2):
    if type(a) is not Batch:
        return NotImplemented
    return Batch(np.swapaxes(a.stack, _axis(axis1, a.ndim), _axis(axis2, a.ndim)))


def _moveaxis(a, source, destination):
    if type(a) is not Batch:
        return NotImplemented
    return Batch(np.moveaxis(a.stack, _axes(source, a.ndim), _axes(destination, a.ndim)))


def _squeeze(a, axis=None):
    if type(a) is not Batch:
        return NotImplemented
    if axis is None:
        axis = tuple(i for i, n in enumerate(a.shape) if n == 1)
    return Batch(np.squeeze(a.stack, axis=_axes(axis, a.ndim)))


def _expand_dims(a, axis):
    if type(a) is not Batch:
        return NotImplemented
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    return Batch(np.expand_dims(a.stack, tuple(_axis(x, a.ndim + len(axes)) for x in axes)))


def _broadcast_to(a, shape, subok=False):
    if type(a) is not Batch:
        return NotImplemented
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return Batch(np.broadcast_to(_aligned(a, len(shape)), a.stack.shape[:1] + shape))


def _promoted(values):
    """Each of `values` as a stack of the batch size of the batches among them."""
    size = _batch_size(list(values))
    return [v.stack if type(v) is Batch else np.broadcast_to(v, (size,) + np.shape(v)) for v in values]


def _concatenate(arrays, axis=0, out=None, **rest):
    arrays = list(arrays)
    if axis is None or out is not None or rest:
        return NotImplemented
    return Batch(np.concatenate(_promoted(arrays), axis=_axis(axis, _per_sample_ndim(arrays[0]))))


def _stack(arrays, axis=0, out=None, **rest):
    arrays = list(arrays)
    if out is not None or rest:
        return NotImplemented
    return Batch(np.stack(_promoted(arrays), axis=_axis(axis, _per_sample_ndim(arrays[0]) + 1)))


def _where(condition, *values):
    if len(values) != 2 or type(condition) is Batch:
        return NotImplemented
    ndim = max(_per_sample_ndim(v) for v in (condition,) + values)
    return Batch(np.where(condition, *[_aligned(v, ndim) for v in values]))


def _like(function):
    def made(a, *args, shape=None, **kwargs):
        if type(a) is not Batch or shape is not None or _holds_batch((args, kwargs)):
            return NotImplemented
        return Batch(function(a.stack, *args, **kwargs))

    return made


def _part(attribute):
    def part(value):
        return Batch(getattr(value.stack, attribute)) if type(value) is Batch else NotImplemented

    return part


def _copy(a, order="K", subok=False):
    return Batch(a.stack.copy(order=order)) if type(a) is Batch else NotImplemented


def _diagonal(a, offset=0, axis1=0, axis2=1):
    if type(a) is not Batch:
        return NotImplemented
    return Batch(np.diagonal(a.stack, offset, _axis(axis1, a.ndim), _axis(axis2, a.ndim)))


def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if type(a) is not Batch or out is not None:
        return NotImplemented
    return Batch(np.trace(a.stack, offset, _axis(axis1, a.ndim), _axis(axis2, a.ndim), dtype))


def _flip(m, axis=None):
    if type(m) is not Batch:
        return NotImplemented
    return Batch(np.flip(m.stack, _axes(axis, m.ndim)))


def _take(a, indices, axis=None, out=None, mode="raise"):
    if type(a) is not Batch or out is not None or _holds_batch(indices):
        return NotImplemented
    if axis is None:
        return Batch(np.take(a.stack.reshape(a.stack.shape[0], -1), indices, axis=1, mode=mode))
    return Batch(np.take(a.stack, indices, axis=_axis(axis, a.ndim), mode=mode))


HANDLERS = {
    np.sum: _reduction(np.sum), np.mean: _reduction(np.mean), np.cumsum: _cumsum, np.reshape: _reshape,
    np.transpose: _transpose, np.swapaxes: _swapaxes, np.moveaxis: _moveaxis, np.squeeze: _squeeze,
    np.expand_dims: _expand_dims, np.broadcast_to: _broadcast_to, np.concatenate: _concatenate, np.stack: _stack,
    np.where: _where, np.zeros_like: _like(np.zeros_like), np.ones_like: _like(np.ones_like),
    np.empty_like: _like(np.zeros_like), np.full_like: _like(np.full_like), np.real: _part("real"),
    np.imag: _part("imag"), np.copy: _copy, np.diagonal: _diagonal, np.trace: _trace, np.flip: _flip,
    np.take: _take, np.dot: _dot, np.einsum: _einsum,
}
# functions whose result depends only on the shape and dtype of their arguments: the first tangent answers
METADATA = {np.shape, np.ndim, np.size, np.result_type, np.iscomplexobj, np.isrealobj, np.min_scalar_type, np.can_cast}
# NumPy functions that write into their first argument
MUTATORS = {np.copyto, np.put, np.place, np.putmask, np.fill_diagonal, np.put_along_axis}



# Fitting to a primal (`rules.projection.project` of a batch)

def projected(primal, cotangent):
    """`project(primal, tangent)` of each tangent of the batch `cotangent`."""
    stack, kind = cotangent.stack, type(primal)
    size = stack.shape[0]
    if kind is bool or kind is str or primal is None:
        return ZERO
    if kind is float or kind is int:
        return Batch(np.real(stack.reshape(size, -1).sum(axis=1)).astype(np.float64))
    if kind is complex:
        return Batch(stack.reshape(size, -1).sum(axis=1).astype(complex))
    if kind is np.ndarray:
        if primal.dtype.kind in "bSUO":
            return ZERO
        if stack.shape[1:] != primal.shape:
            stack = _unbroadcast(stack, primal.shape)
            if stack.shape[1:] != primal.shape:
                stack = np.broadcast_to(_aligned(Batch(stack), primal.ndim), (size,) + primal.shape).copy()
        if primal.dtype.kind != "c" and np.iscomplexobj(stack):
            stack = stack.real
        if primal.dtype.kind in "fc" and stack.dtype != primal.dtype:
            stack = stack.astype(primal.dtype)
        return cotangent if stack is cotangent.stack else Batch(stack)  # (a new batch never shares a stack)
    if isinstance(primal, np.generic):
        if primal.dtype.kind in "bSUO":
            return ZERO
        summed = stack.reshape(size, -1).sum(axis=1)
        summed = summed.real if primal.dtype.kind != "c" and np.iscomplexobj(summed) else summed
        return Batch(summed.astype(primal.dtype if primal.dtype.kind in "fc" else np.float64))
    return cotangent


def _unbroadcast(stack, shape):
    """Each tangent in `stack` summed down to `shape`, undoing NumPy broadcasting (`projection.unbroadcast`)."""
    extra = stack.ndim - 1 - len(shape)
    if extra < 0:
        return stack
    if extra > 0:
        stack = np.add.reduce(stack, axis=tuple(range(1, extra + 1)))
    axes = tuple(i + 1 for i, n in enumerate(shape) if n == 1 and stack.shape[i + 1] != 1)
    return np.add.reduce(stack, axis=axes, keepdims=True) if axes else stack


# Generated code run with batches: its bindings

def looped(function):
    """`function` (of one tangent at a time) taking batches: run once per tangent, the results stacked."""
    @functools.wraps(function)
    def per_sample(*args, **kwargs):
        if _batch_size((args, kwargs)) is None:
            return function(*args, **kwargs)
        return _per_sample(function, args, kwargs)

    return per_sample


def batched_frule(frule, rule):
    """A rule's frule for batched code: its pushforward as it is if the rule declares `batch`, else looped."""
    return frule if rule.batch else _with_looped_propagator(frule)


def batched_rrule(rrule, rule):
    """A rule's rrule for batched code: its pullback as it is if the rule declares `batch_pullback`, else looped."""
    return rrule if rule.batch_pullback else _with_looped_propagator(rrule)


def _with_looped_propagator(rule_function):
    """`rule_function` (an frule or rrule) returning its pushforward or pullback looped."""
    @functools.wraps(rule_function)
    def one_at_a_time(*args, **kwargs):
        y, propagator = rule_function(*args, **kwargs)
        return y, looped(propagator)

    return one_at_a_time


def batched_binding(value, rule=None, reverse=False):
    """What a name bound in generated code (reverse-mode code if `reverse`) stands for in its batched
    compilation: a rule function made batch-aware, a helper module's batch-aware namespace; in reverse code,
    a function of sourcediff's own (a rule's pasted pullback calls them on cotangents) looped unless it is
    known to take batches."""
    if rule is not None:
        return batched_rrule(value, rule) if reverse else batched_frule(value, rule)
    namespaces = _helper_namespaces()[reverse]
    if id(value) in namespaces:
        return namespaces[id(value)]
    if reverse and isinstance(value, types.FunctionType) and (value.__module__ or "").startswith("sourcediff.") and \
            value not in _batch_safe_helpers():
        return looped(value)
    return value


@functools.lru_cache(maxsize=None)
def _batch_safe_helpers():
    from . import runtime
    from .rules import numpy_reductions, projection

    return {numpy_reductions.filled, projection.project, projection.unbroadcast, runtime.unbroadcast_to, runtime.component,
            runtime.accumulate_into}


@functools.lru_cache(maxsize=None)
def _helper_namespaces():
    """`{id(module): namespace}` for forward code (False) and reverse code (True)."""
    from . import dispatch, runtime

    return {reverse: {id(runtime): _namespace(runtime, _runtime_forms(runtime, reverse)),
                      id(dispatch): _namespace(dispatch, _dispatch_forms(dispatch, reverse))} for reverse in (False, True)}


def _namespace(module, forms):
    """A helper module for batched code: its own functions, but for the batch-aware `forms` of those that generated
    code hands tangents or cotangents to (the others are only ever given primal values, or are themselves values,
    such as `dispatch.call` in forward code, that other helpers recognise)."""
    namespace = types.SimpleNamespace(**{name: value for name, value in vars(module).items() if not name.startswith("__")})
    for name, value in forms.items():
        setattr(namespace, name, value)
    return namespace


def _stack_references(batch):
    return sys.getrefcount(batch.stack)


_SOLE = _stack_references(Batch(np.zeros(1)))  # (a stack nothing but its batch holds: no view of it lives)


def _owned(value, count, runtime):
    """Whether `value`, a batch whose reference count is `count` in the helper called by generated code, may change
    in place: nothing but the code's variable refers to it (as `runtime` lets arrays change) and no view of its
    stack lives."""
    return type(value) is Batch and count <= runtime._OWNED and _stack_references(value) <= _SOLE and \
        runtime._own_memory(value.stack)


def _buffer(current, primal, size, owned):
    """A batch for entries of `primal` to be written into: `current` itself if `owned` (nothing but the generated
    code's variable holds it, as `runtime` lets arrays change in place), else a copy (zeros for a zero)."""
    if owned and current.stack.shape == (size,) + primal.shape:
        return current
    kind = primal.dtype if primal.dtype.kind in "fc" else np.dtype(np.float64)
    buffer = Batch(np.zeros((size,) + primal.shape, kind))
    if not is_zero(current):
        buffer.stack[...] = _aligned(extern(current), primal.ndim)
    return buffer


def _runtime_forms(runtime, reverse):
    if reverse:
        return _runtime_reverse_forms(runtime)

    def stored_tangent(tangent, primal, key, value):
        """`runtime.stored_tangent` where the tangent or the stored value is a batch."""
        if type(tangent) is not Batch and type(value) is not Batch or type(primal) is not np.ndarray:
            return runtime.stored_tangent(tangent, primal, key, value)
        if primal.dtype.kind not in "fc":
            return tangent
        owned = _owned(tangent, sys.getrefcount(tangent), runtime)
        buffer = _buffer(tangent, primal, _batch_size((tangent, value)), owned)
        runtime.write_tangent_entry(buffer, key, value)
        return buffer

    # `component`, `broadcast_tangent`, `closure_tangent` and `attribute_stored` only index, broadcast or hold
    # tangents, which the operations of `Batch` do; an array's `.T` or `.real` goes through a rule's pushforward
    return {"stored_tangent": stored_tangent, "attribute_tangent": looped(runtime.attribute_tangent)}


def _runtime_reverse_forms(runtime):
    from .rules import numpy_indexing

    def add_at_index(cotangent, primal, index, value):
        """`runtime.add_at_index` where the cotangent or the added value is a batch (into a float array)."""
        value, cotangent = extern(value), cotangent.value() if isinstance(cotangent, Thunk) else cotangent
        if type(cotangent) is not Batch and type(value) is not Batch or type(primal) is not np.ndarray or \
                primal.dtype.kind != "f" or is_zero(value):
            return runtime.add_at_index(cotangent, primal, index, value)
        owned = _owned(cotangent, sys.getrefcount(cotangent), runtime)
        buffer = _buffer(cotangent, primal, _batch_size((cotangent, value)), owned)
        value = np.real(value) if np.iscomplexobj(value) else value
        key = _batched_key(index) if numpy_indexing.is_basic(index) else None
        if key is None:
            np.add.at(buffer, index, value)  # (once per cotangent: repeated indices add up)
        else:
            region = buffer.stack[key]
            region += _aligned(value, region.ndim - 1)
        return buffer

    def zero_at_index(cotangent, key):
        """`runtime.zero_at_index` of a batch."""
        cotangent = cotangent.value() if isinstance(cotangent, Thunk) else cotangent
        if type(cotangent) is not Batch:
            return runtime.zero_at_index(cotangent, key)
        buffer = cotangent if _owned(cotangent, sys.getrefcount(cotangent), runtime) else Batch(cotangent.stack.copy())
        buffer[key] = 0
        return buffer

    # `accumulate_into`, `unbroadcast_to`, `component`, `stored_cotangent` and `restored` add, project, index or
    # hold cotangents, which `Batch` and `project` do; an array's `.T` or `.real` goes through a rule's pullback
    return {"add_at_index": add_at_index, "zero_at_index": zero_at_index,
            "attribute_cotangent": looped(runtime.attribute_cotangent)}


def _dispatch_forms(dispatch, reverse):
    if reverse:
        return _dispatch_reverse_forms(dispatch)

    def push(function, function_dot, arguments, tangents, keyword_tangents, **kwargs):
        rule = dispatch.lookup(function)
        if rule is not None and rule.frule is not None and not rule.batch:
            y, pushforward = rule.frule(*arguments, **kwargs)
            return y, looped(pushforward)(NO_FIELDS, *tangents)
        return dispatch.push(function, function_dot, arguments, tangents, keyword_tangents, **kwargs)

    def push_method(receiver, receiver_dot, method, arguments, tangents, **kwargs):
        rule = dispatch.method_rule(receiver, method)
        if rule is not None and rule.frule is not None and not rule.batch:
            y, pushforward = rule.frule(receiver, *arguments, **kwargs)
            return y, looped(pushforward)(NO_FIELDS, receiver_dot, *tangents)
        return dispatch.push_method(receiver, receiver_dot, method, arguments, tangents, **kwargs)

    return {"push": push, "push_method": push_method}


def _dispatch_reverse_forms(dispatch):
    """The calls of reverse code found when they run: their pullbacks looped unless they take batches (the
    generated pullbacks of Python functions called in a batched run, the pullbacks of rules declaring
    `batch_pullback` called without keywords)."""
    def batch_aware(pullback, function, kwargs):
        if getattr(pullback, "takes_batches", False):
            return pullback
        rule = dispatch.lookup(function)
        return pullback if rule is not None and rule.batch_pullback and not kwargs else looped(pullback)

    def call(function, *args, **kwargs):
        y, pullback = dispatch.call(function, *args, **kwargs)
        return y, batch_aware(pullback, function, kwargs)

    def call_with_constants(constants, function, *args, **kwargs):
        y, pullback = dispatch.call_with_constants(constants, function, *args, **kwargs)
        return y, batch_aware(pullback, function, kwargs)

    def call_method(receiver, method, *args, **kwargs):
        y, pullback = dispatch.call_method(receiver, method, *args, **kwargs)
        return y, looped(pullback)

    def call_spread(function, arguments, spread, keywords, extra_keywords):
        y, pullback = dispatch.call_spread(function, arguments, spread, keywords, extra_keywords)
        return y, looped(pullback)

    return {"call": call, "call_with_constants": call_with_constants, "call_method": call_method,
            "call_spread": call_spread}
