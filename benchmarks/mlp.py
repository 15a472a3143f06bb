"""Gradient of a two-layer network's loss (array code): sourcediff against a hand-written NumPy pullback.

The data go in as keyword arguments, which are not differentiated: their cotangents are thunks
that nobody evaluates, so sourcediff does the same work as the hand-written pullback.

Peers (autograd, PyTorch) are measured when installed (`pip install -e ".[bench]"`).
Run: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/mlp.py

Four runs on 2026-11-22 (2 cores) agreed: hand-written 2.1x the plain function, sourcediff 2.7x,
autograd 3.7x, PyTorch 3.6x. Timings on these machines drift between runs; compare ratios from
one run only.
"""
import numpy as np

import sourcediff as sd
from harness import report

rng = np.random.default_rng(0)
BATCH, IN, HIDDEN = 256, 64, 128
INPUTS, TARGETS = rng.normal(size=(BATCH, IN)), rng.normal(size=BATCH)
W1, W2 = rng.normal(size=(IN, HIDDEN)) / 8, rng.normal(size=HIDDEN) / 8


def loss(w1, w2, inputs, targets):
    hidden = np.tanh(inputs @ w1)
    predictions = hidden @ w2
    return np.mean((predictions - targets) ** 2)


def hand_written_gradient(w1, w2, inputs, targets):
    hidden = np.tanh(inputs @ w1)
    residual = hidden @ w2 - targets
    predictions_bar = 2.0 * residual / residual.size
    w2_bar = hidden.T @ predictions_bar
    hidden_bar = np.outer(predictions_bar, w2)
    w1_bar = inputs.T @ (hidden_bar * (1.0 - hidden ** 2))
    return w1_bar, w2_bar


def peers():
    found = {}
    try:
        import autograd
        import autograd.numpy as anp

        def autograd_loss(w1, w2):
            return anp.mean((anp.tanh(INPUTS @ w1) @ w2 - TARGETS) ** 2)

        gradient = autograd.grad(autograd_loss, argnum=(0, 1))
        found["autograd"] = lambda: gradient(W1, W2)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
        inputs, targets = torch.tensor(INPUTS), torch.tensor(TARGETS)

        def torch_gradient():
            w1, w2 = torch.tensor(W1, requires_grad=True), torch.tensor(W2, requires_grad=True)
            torch.mean((torch.tanh(inputs @ w1) @ w2 - targets) ** 2).backward()
            return w1.grad, w2.grad

        found["pytorch"] = torch_gradient
    except ImportError:
        pass
    return found


def main():
    report(lambda: loss(W1, W2, INPUTS, TARGETS), {
        "hand-written": (lambda: hand_written_gradient(W1, W2, INPUTS, TARGETS), None),
        "sourcediff": (lambda: sd.gradient(loss, W1, W2, inputs=INPUTS, targets=TARGETS), None),
        **{name: (run, None) for name, run in peers().items()},
    }, number=50)
    ours = sd.gradient(loss, W1, W2, inputs=INPUTS, targets=TARGETS)
    reference = hand_written_gradient(W1, W2, INPUTS, TARGETS)
    assert all(np.allclose(p, q) for p, q in zip(ours, reference))


if __name__ == "__main__":
    main()
