"""Jacobians by central differences, for tests (error O(step²) for smooth functions)."""
import numpy as np


def jacobian_by_differences(f, x, step=1e-6):
    """The Jacobian of `f` at the array `x`, shaped `f(x).shape + x.shape`."""
    columns = []
    for index in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[index] = step
        columns.append((f(x + e) - f(x - e)) / (2 * step))
    return np.stack(columns, axis=-1).reshape(np.shape(f(x)) + x.shape)
