"""The six workloads of the performance issue: each gradient's time as a multiple of the plain NumPy function.

Every tool differentiates the same function: each workload is written once against a module `np`,
and the peers run copies of it whose `np` is their own NumPy (`autograd.numpy`, `jax.numpy`, or a
small PyTorch shim). Rounds are interleaved in one process, on one thread, and every gradient is
checked against the hand-written one before anything is timed.

    python benchmarks/workloads.py               # all six, every peer that is installed
    python benchmarks/workloads.py W2 W4 --rounds 9

Peers are optional: `pip install -e ".[bench]"` (autograd, PyTorch CPU, JAX on the CPU).
"""
import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402

import sourcediff as sd  # noqa: E402

rng = np.random.default_rng(0)


# W1: a scalar loop on Python floats, with NumPy's sin and a branch.
def scalar_loop(x, a):
    for i in range(1000):
        if x > 0.0:
            x = x * a + np.sin(x) * 0.01
        else:
            x = x * a - np.sin(x) * 0.02
    return x


def scalar_loop_gradient(x, a):
    xs, signs = [], []
    for i in range(1000):
        xs.append(x)
        sign = 0.01 if x > 0.0 else -0.02
        signs.append(sign)
        x = x * a + np.sin(x) * sign
    x_bar, a_bar = 1.0, 0.0
    for x_old, sign in zip(reversed(xs), reversed(signs)):
        a_bar += x_bar * x_old
        x_bar = x_bar * (a + sign * math.cos(x_old))
    return x_bar, a_bar


# W2: a two-layer tanh network, batch 32, width 64, mean squared error.
def mlp(w1, b1, w2, b2, inputs, targets):
    hidden = np.tanh(inputs @ w1 + b1)
    predictions = hidden @ w2 + b2
    return np.mean((predictions - targets) ** 2)


def mlp_gradient(w1, b1, w2, b2, inputs, targets):
    hidden = np.tanh(inputs @ w1 + b1)
    residual = hidden @ w2 + b2 - targets
    predictions_bar = (2.0 / residual.size) * residual
    w2_bar = hidden.T @ predictions_bar
    b2_bar = predictions_bar.sum(axis=0)
    pre_bar = (predictions_bar @ w2.T) * (1.0 - hidden * hidden)
    return inputs.T @ pre_bar, pre_bar.sum(axis=0), w2_bar, b2_bar


# W3: one large matrix product.
def matmul_tanh(a, b):
    return np.sum(np.tanh(a @ b))


def matmul_tanh_gradient(a, b):
    c = np.tanh(a @ b)
    c_bar = 1.0 - c * c
    return c_bar @ b.T, a.T @ c_bar


# W4: a recurrent network, 50 steps of width 128.
def rnn(w, u, h, xs):
    for t in range(50):
        h = np.tanh(w @ h + u @ xs[t])
    return np.sum(h)


def rnn_gradient(w, u, h, xs):
    hs = [h]
    for t in range(50):
        h = np.tanh(w @ h + u @ xs[t])
        hs.append(h)
    w_bar, u_bar = np.zeros_like(w), np.zeros_like(u)
    h_bar = np.ones_like(h)
    for t in range(49, -1, -1):
        pre_bar = h_bar * (1.0 - hs[t + 1] * hs[t + 1])
        w_bar += np.outer(pre_bar, hs[t])
        u_bar += np.outer(pre_bar, xs[t])
        h_bar = w.T @ pre_bar
    return w_bar, u_bar, h_bar


# W5: cross-entropy through a stable logsumexp, 1000 samples of 100 classes.
def cross_entropy(logits, labels):
    top = np.max(logits, axis=1, keepdims=True)
    shifted = logits - top
    log_normaliser = np.log(np.sum(np.exp(shifted), axis=1))
    return np.mean(log_normaliser - np.sum(shifted * labels, axis=1))


def cross_entropy_gradient(logits, labels):
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    probabilities = exponentials / np.sum(exponentials, axis=1, keepdims=True)
    return ((probabilities - labels) / logits.shape[0],)


# W6: a long elementwise chain on a million elements.
def elementwise(x):
    return np.sum(np.exp(np.sin(x) * np.cos(x)) ** 2)


def elementwise_gradient(x):
    s, c = np.sin(x), np.cos(x)
    e = np.exp(s * c)
    return (2.0 * e * e * (c * c - s * s),)


def _labels():
    labels = np.zeros((1000, 100))
    labels[np.arange(1000), rng.integers(0, 100, 1000)] = 1.0
    return labels


WORKLOADS = {
    # name: (function, hand-written gradient, differentiated arguments, data arguments, rounds' calls)
    "W1": (scalar_loop, scalar_loop_gradient, (0.5, 0.999), (), 5),
    "W2": (mlp, mlp_gradient, (rng.normal(size=(64, 64)) / 8, rng.normal(size=64) / 8,
                               rng.normal(size=(64, 10)) / 8, rng.normal(size=10) / 8),
           (rng.normal(size=(32, 64)), rng.normal(size=(32, 10))), 200),
    "W3": (matmul_tanh, matmul_tanh_gradient, (rng.normal(size=(512, 512)) / 16, rng.normal(size=(512, 512)) / 16),
           (), 2),
    "W4": (rnn, rnn_gradient, (rng.normal(size=(128, 128)) / 12, rng.normal(size=(128, 128)) / 12,
                               rng.normal(size=128)), (rng.normal(size=(50, 128)),), 10),
    "W5": (cross_entropy, cross_entropy_gradient, (rng.normal(size=(1000, 100)),), (_labels(),), 10),
    "W6": (elementwise, elementwise_gradient, (rng.normal(size=1_000_000),), (), 1),
}


def rebound(function, namespace):
    """`function`'s code with `np` meaning `namespace` (the same source for every tool)."""
    globals_ = dict(function.__globals__, np=namespace)
    return types.FunctionType(function.__code__, globals_, function.__name__, function.__defaults__)


class TorchNumPy:
    """The few NumPy names the workloads use, on PyTorch tensors."""

    def __init__(self, torch):
        self.torch = torch
        for name in ("sin", "cos", "exp", "log", "tanh"):
            setattr(self, name, getattr(torch, name))

    def sum(self, x, axis=None):
        return self.torch.sum(x) if axis is None else self.torch.sum(x, dim=axis)

    def mean(self, x):
        return self.torch.mean(x)

    def max(self, x, axis, keepdims=False):
        return self.torch.amax(x, dim=axis, keepdim=keepdims)


def peers(function, arguments, data):
    """`{name: gradient function}` for every installed peer; each returns one gradient per argument."""
    count = len(arguments)
    found = {}
    try:
        import autograd
        import autograd.numpy as anp

        autograd_gradient = autograd.grad(rebound(function, anp), argnum=tuple(range(count)))
        found["autograd"] = lambda: autograd_gradient(*arguments, *data)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
        torch_function = rebound(function, TorchNumPy(torch))
        torch_data = [torch.tensor(d) for d in data]

        def torch_gradient():
            leaves = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arguments]
            torch_function(*leaves, *torch_data).backward()
            return tuple(leaf.grad for leaf in leaves)

        found["pytorch"] = torch_gradient
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)
        jax_gradient = jax.grad(rebound(function, jnp), argnums=tuple(range(count)))
        jax_arguments = [jnp.asarray(a) for a in arguments]
        jax_data = [jnp.asarray(d) for d in data]
        found["jax"] = lambda: jax.block_until_ready(jax_gradient(*jax_arguments, *jax_data))
        jitted = jax.jit(jax_gradient)
        found["jax.jit"] = lambda: jax.block_until_ready(jitted(*jax_arguments, *jax_data))
    except ImportError:
        pass
    return found


def agrees(ours, reference):
    return len(ours) == len(reference) and all(
        np.allclose(np.asarray(p, dtype=float), np.asarray(q), rtol=1e-6, atol=1e-9) for p, q in zip(ours, reference))


def measure(name, rounds):
    """`{tool: ratio}` for one workload (None where a tool fails or disagrees), and the plain time."""
    function, hand_written, arguments, data, calls = WORKLOADS[name]
    keywords = dict(zip(_parameter_names(function)[len(arguments):], data))
    tools = {
        "hand-written": lambda: hand_written(*arguments, *data),
        "sourcediff": lambda: sd.gradient(function, *arguments, **keywords),
        **peers(function, arguments, data),
    }
    reference = hand_written(*arguments, *data)
    failed = {}
    for tool, run in list(tools.items()):
        try:
            result = run()
            if not agrees([np.asarray(r) for r in result], reference):
                failed[tool] = "disagrees"
        except Exception as error:  # a peer that cannot differentiate this workload
            failed[tool] = type(error).__name__
        if tool in failed:
            del tools[tool]
    plain = lambda: function(*arguments, *data)  # noqa: E731
    best = {tool: math.inf for tool in ["plain", *tools]}
    for _ in range(rounds):
        for tool, run in [("plain", plain), *tools.items()]:
            start = time.perf_counter()
            for _ in range(calls):
                run()
            best[tool] = min(best[tool], (time.perf_counter() - start) / calls)
    ratios = {tool: best[tool] / best["plain"] for tool in tools}
    return best["plain"], ratios, failed


def peak_memory(run):
    """Peak bytes allocated (tracemalloc) while `run` runs once."""
    run()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _parameter_names(function):
    return function.__code__.co_varnames[:function.__code__.co_argcount]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    rows = {name: measure(name, options.rounds) for name in options.names}
    tools = ["hand-written", "sourcediff", "autograd", "pytorch", "jax", "jax.jit"]
    shown = [t for t in tools if any(t in ratios or t in failed for _, ratios, failed in rows.values())]
    print("| workload | plain | " + " | ".join(shown) + " |")
    print("|---|---|" + "---|" * len(shown))
    for name, (plain, ratios, failed) in rows.items():
        cells = [f"{ratios[t]:.2f}x" if t in ratios else f"fails ({failed[t]})" if t in failed else "-" for t in shown]
        print(f"| {name} | {plain * 1e6:.0f} µs | " + " | ".join(cells) + " |")
    if "W4" in rows:
        function, hand_written, arguments, data, _ = WORKLOADS["W4"]
        keywords = dict(zip(_parameter_names(function)[len(arguments):], data))
        ours = peak_memory(lambda: sd.gradient(function, *arguments, **keywords))
        theirs = peak_memory(lambda: hand_written(*arguments, *data))
        print(f"W4 gradient peak memory: sourcediff {ours / 1024:.0f} KiB, hand-written {theirs / 1024:.0f} KiB "
              f"({ours / theirs:.2f}x)")


if __name__ == "__main__":
    main()
