"""Forward mode: `sd.jvp` of three workloads of `workloads.py` against a hand-written NumPy forward derivative.

Ratios are to the plain function, one thread, interleaved rounds in one process; every tangent is checked
against the hand-written one before anything is timed.

    python benchmarks/forward.py [--rounds 7]
"""
import argparse
import math
import time

import numpy as np

import sourcediff as sd
from workloads import WORKLOADS


def scalar_loop_jvp(x, a, x_dot, a_dot):
    for i in range(1000):
        sign = 0.01 if x > 0.0 else -0.02
        x_dot = x_dot * a + x * a_dot + sign * math.cos(x) * x_dot
        x = x * a + np.sin(x) * sign
    return x, x_dot


def mlp_jvp(w1, b1, w2, b2, inputs, targets, w1_dot, b1_dot, w2_dot, b2_dot):
    hidden = np.tanh(inputs @ w1 + b1)
    hidden_dot = (1.0 - hidden * hidden) * (inputs @ w1_dot + b1_dot)
    residual = hidden @ w2 + b2 - targets
    predictions_dot = hidden_dot @ w2 + hidden @ w2_dot + b2_dot
    return np.mean(residual ** 2), 2.0 * np.mean(residual * predictions_dot)


def rnn_jvp(w, u, h, xs, w_dot, u_dot, h_dot):
    for t in range(50):
        pre_dot = w_dot @ h + w @ h_dot + u_dot @ xs[t]
        h = np.tanh(w @ h + u @ xs[t])
        h_dot = (1.0 - h * h) * pre_dot
    return np.sum(h), np.sum(h_dot)


HAND_WRITTEN = {"W1": scalar_loop_jvp, "W2": mlp_jvp, "W4": rnn_jvp}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    rng = np.random.default_rng(1)
    print("| workload | plain | hand-written jvp | sourcediff jvp |")
    print("|---|---|---|---|")
    for name, hand_written in HAND_WRITTEN.items():
        function, _, arguments, data, calls = WORKLOADS[name]
        tangents = tuple(rng.standard_normal(np.shape(a)) if np.ndim(a) else float(rng.standard_normal()) for a in arguments)
        primals = tuple(arguments) + tuple(data)
        zeros = tuple(0.0 for _ in data)
        ours = sd.jvp(function, primals, tangents + zeros)
        reference = hand_written(*primals, *tangents)
        assert np.allclose(ours[1], reference[1], rtol=1e-8), (name, ours, reference)
        tools = {"plain": lambda: function(*primals),
                 "hand-written": lambda: hand_written(*primals, *tangents),
                 "sourcediff": lambda: sd.jvp(function, primals, tangents + zeros)}
        best = dict.fromkeys(tools, math.inf)
        for _ in range(options.rounds):
            for tool, run in tools.items():
                start = time.perf_counter()
                for _ in range(calls):
                    run()
                best[tool] = min(best[tool], (time.perf_counter() - start) / calls)
        plain = best["plain"]
        print(f"| {name} | {plain * 1e6:.0f} µs | {best['hand-written'] / plain:.2f}x | {best['sourcediff'] / plain:.2f}x |")


if __name__ == "__main__":
    main()
