"""Differentiate an ordinary Python/NumPy function and read the code sourcediff generated for it.

Run: python examples/quickstart.py
"""
import math

import numpy as np

import sourcediff as sd


def damped_oscillator(x, decay, steps):
    """Energy left after `steps` steps of a damped, nonlinear oscillator started at `x`."""
    velocity = 0.0
    for step in range(steps):
        force = -math.sin(x) - decay * velocity
        velocity = velocity + 0.1 * force
        x = x + 0.1 * velocity
    return 0.5 * velocity ** 2 + (1 - math.cos(x))


def loss(weights, inputs, targets):
    """Mean squared error of a one-layer tanh network."""
    predictions = np.tanh(inputs @ weights)
    return np.mean((predictions - targets) ** 2)


def main():
    grads = sd.gradient(damped_oscillator, 1.0, 0.3, 50)
    print("gradient of damped_oscillator at (x=1.0, decay=0.3, steps=50):", grads)
    rng = np.random.default_rng(0)
    weights, inputs, targets = rng.normal(size=3), rng.normal(size=(5, 3)), rng.normal(size=5)
    print("gradient of loss with respect to weights:", sd.gradient(loss, weights, inputs=inputs, targets=targets)[0])
    print()
    print("generated derivative code of loss, as it runs for float64 arrays (its rules inlined):")
    print(sd.source(loss, example=(weights, inputs, targets)))
    return grads


if __name__ == "__main__":
    main()
