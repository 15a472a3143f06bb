"""Functions whose generated derivative code is kept as golden files."""
import math

import numpy as np


def scalar_loop(x, a):
    for i in range(3):
        x = x * a + math.sin(x)
    return x


def branchy(x):
    if x > 0:
        return x * x
    return -x


def mlp_loss(weights, inputs, targets):
    predictions = np.tanh(inputs @ weights)
    return np.mean((predictions - targets) ** 2)
