"""Fitting a cotangent to its primal: undo broadcasting, keep the dtype, stay real for real inputs.

    >>> import numpy as np
    >>> project(np.ones(3, dtype=np.float32), np.ones((2, 3))).dtype
    dtype('float32')
    >>> project(2.0, np.array([1.0, 2.0]))
    3.0
"""
import numpy as np

from .. import batch
from .differentials import ZERO, Thunk, is_zero


def unbroadcast(cotangent, shape):
    """Sum `cotangent` down to `shape`, undoing NumPy broadcasting."""
    extra = cotangent.ndim - len(shape)
    if extra < 0:
        return cotangent
    if extra > 0:  # (`np.add.reduce` is `ndarray.sum` without its wrapper: this runs at most primitives)
        cotangent = np.add.reduce(cotangent, axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and cotangent.shape[i] != 1)
    if axes:
        cotangent = np.add.reduce(cotangent, axis=axes, keepdims=True)
    return cotangent


def _real_if_needed(value, primal_is_complex):
    if not primal_is_complex and np.iscomplexobj(value):
        return value.real
    return value


def project(primal, cotangent):
    """Return `cotangent` shaped and typed like `primal` (see module docstring)."""
    if is_zero(cotangent):
        return ZERO
    if isinstance(cotangent, Thunk):
        cotangent = cotangent.value()
    if type(cotangent) is batch.Batch:
        return batch.projected(primal, cotangent)
    kind = type(primal)
    if kind is float or kind is int:
        if type(cotangent) is float:
            return cotangent
        return float(np.real(np.sum(cotangent)))
    if kind is bool or kind is str or primal is None:
        return ZERO
    if kind is complex:
        return complex(np.sum(cotangent))
    if kind is np.ndarray:
        if primal.dtype.kind in "bSUO":
            return ZERO
        value = np.asarray(cotangent)
        if value.shape != primal.shape:
            value = unbroadcast(value, primal.shape)
            if value.shape != primal.shape:
                value = np.broadcast_to(value, primal.shape).copy()
        value = _real_if_needed(value, primal.dtype.kind == "c")
        if primal.dtype.kind in "fc" and value.dtype != primal.dtype:
            value = value.astype(primal.dtype)
        return value
    if isinstance(primal, np.generic):
        if primal.dtype.kind in "bSUO":
            return ZERO
        value = _real_if_needed(np.sum(cotangent), primal.dtype.kind == "c")
        return value.astype(primal.dtype) if primal.dtype.kind in "fc" else float(value)
    return cotangent
