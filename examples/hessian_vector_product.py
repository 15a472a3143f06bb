"""Second derivatives of a small model's loss: a Hessian-vector product by forward over reverse.

`sd.hvp` pushes a direction forward (forward mode) through the reverse-mode code sourcediff generated
for the gradient, so the product costs a small multiple of one gradient and never forms the Hessian.
The script prints the product, checks it against finite differences of the gradient, and prints the
forward-mode code `sd.jvp` runs for the loss.

Run: python examples/hessian_vector_product.py
"""
import numpy as np

import sourcediff as sd


def loss(weights, inputs, targets):
    """Logistic regression's negative log-likelihood with an L2 penalty."""
    scores = inputs @ weights
    return np.sum(np.log1p(np.exp(scores)) - targets * scores) + 0.05 * np.sum(weights * weights)


def main():
    rng = np.random.default_rng(0)
    weights, inputs = rng.standard_normal(5), rng.standard_normal((40, 5))
    targets = (rng.random(40) < 0.5).astype(float)
    direction = rng.standard_normal(5)

    product, _, _ = sd.hvp(loss, (weights, inputs, targets), (direction, 0.0, 0.0))
    step = 1e-5
    plus = sd.gradient(loss, weights + step * direction, inputs, targets)[0]
    minus = sd.gradient(loss, weights - step * direction, inputs, targets)[0]
    by_differences = (plus - minus) / (2 * step)
    print("Hessian-vector product:        ", np.round(product, 6))
    print("central differences of ∇loss:  ", np.round(by_differences, 6))
    hessian = sd.hessian(lambda w: loss(w, inputs, targets), weights)
    print("Hessian @ direction, in full:  ", np.round(hessian @ direction, 6))
    print("\nThe forward-mode (pushforward) code of loss:\n")
    print(sd.source(loss, mode="forward", example=(weights, inputs, targets)))
    return product, by_differences, hessian @ direction


if __name__ == "__main__":
    main()
