"""Gradient of a 1000-step Python loop of float arithmetic: cost relative to the plain function.

Peers (autograd, PyTorch) are measured when installed (`pip install -e ".[bench]"`).
Run: python benchmarks/scalar_loop.py

Three runs on 2026-11-22 (2 cores): hand-written 2.5-2.6x the plain function, sourcediff
4.1-4.3x, PyTorch 485-580x, autograd 1300-1360x.
"""
import math
import sourcediff as sd
from harness import report

STEPS = 1000


def loop(x, a):
    for i in range(STEPS):
        x = x * a + math.sin(x) * 0.01
    return x


def hand_written_gradient(x, a):
    xs = []
    for i in range(STEPS):
        xs.append(x)
        x = x * a + math.sin(x) * 0.01
    x_bar, a_bar = 1.0, 0.0
    for x_old in reversed(xs):
        a_bar += x_bar * x_old
        x_bar = x_bar * (a + 0.01 * math.cos(x_old))
    return x_bar, a_bar


def peers():
    found = {}
    try:
        import autograd
        import autograd.numpy as anp

        def autograd_loop(x, a):
            for i in range(STEPS):
                x = x * a + anp.sin(x) * 0.01
            return x

        gradient = autograd.grad(autograd_loop, argnum=(0, 1))
        found["autograd"] = lambda: gradient(0.5, 0.999)
    except ImportError:
        pass
    try:
        import torch

        def torch_gradient():
            x = torch.tensor(0.5, requires_grad=True)
            a = torch.tensor(0.999, requires_grad=True)
            y = x
            for i in range(STEPS):
                y = y * a + torch.sin(y) * 0.01
            y.backward()
            return x.grad, a.grad

        found["pytorch"] = torch_gradient
    except ImportError:
        pass
    return found


def main():
    report(lambda: loop(0.5, 0.999), {
        "hand-written": (lambda: hand_written_gradient(0.5, 0.999), None),
        "sourcediff": (lambda: sd.gradient(loop, 0.5, 0.999), None),
        **{name: (run, 3) for name, run in peers().items()},
    }, number=20)
    ours, reference = sd.gradient(loop, 0.5, 0.999), hand_written_gradient(0.5, 0.999)
    assert all(abs(p - q) < 1e-9 * max(1.0, abs(q)) for p, q in zip(ours, reference)), (ours, reference)


if __name__ == "__main__":
    main()
