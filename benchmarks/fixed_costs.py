"""The fixed costs of the performance issue: a cache hit, and the first call of a 30-line function.

    python benchmarks/fixed_costs.py

A cache hit is the whole `sd.gradient(f, 3.0)` call for `f(x) = x * x` (best of several runs);
the first call is transforming, compiling and running the gradient of `thirty_lines` once, after
another function was differentiated (so the rule modules' templates are read already), in a fresh
process per measurement (the median of five).
"""
import math
import os
import statistics
import subprocess
import sys
import time
import timeit

import numpy as np

import sourcediff as sd


def thirty_lines(x, w, b, scale):
    h = np.tanh(x @ w + b)
    total = 0.0
    for i in range(3):
        if scale > 0.0:
            h = h * scale + np.sin(h)
        else:
            h = h - scale * np.cos(h)
        total = total + np.sum(h * h)
    values = [np.mean(h), np.max(h, axis=0, keepdims=True).sum()]
    acc = 0.0
    for v in values:
        acc = acc + v * 2.0
    norm = np.sqrt(np.sum(w * w) + 1.0)
    z = np.exp(-h / norm)
    ratio = z / (1.0 + z)
    count = 0
    while count < 2:
        ratio = ratio * 0.5 + 0.25
        count += 1
    extra = math.log(1.0 + scale * scale)
    parts = {"a": total, "b": acc}
    result = parts["a"] + parts["b"] + np.sum(ratio) + extra
    if result > 1e6:
        result = result / 2.0
    scaled = result * scale
    shifted = scaled - np.mean(b)
    return shifted + total * 0.5


def warm_up(x, w, b, scale):
    return np.sum(np.tanh(x @ w + b) * np.sin(scale)) + np.mean(np.max(x, axis=0, keepdims=True)) + math.cos(scale)


def square(x):
    return x * x


def _arguments():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5), 0.7


def first_call():
    """Seconds for the first gradient of `thirty_lines` (in this process)."""
    sd.gradient(warm_up, *_arguments())
    start = time.perf_counter()
    sd.gradient(thirty_lines, *_arguments())
    return time.perf_counter() - start


def main():
    if sys.argv[1:] == ["--first-call"]:
        print(first_call())
        return
    sd.gradient(square, 3.0)
    calls = 100_000
    hit = min(timeit.repeat(lambda: sd.gradient(square, 3.0), number=calls, repeat=7)) / calls
    runs = [float(subprocess.run([sys.executable, __file__, "--first-call"], capture_output=True, text=True, check=True,
                                 env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout) for _ in range(5)]
    print(f"cache hit, sd.gradient of x * x: {hit * 1e6:.2f} µs")
    print(f"first call of a 30-line function: {statistics.median(runs) * 1e3:.1f} ms "
          f"(runs: {', '.join(f'{r * 1e3:.0f}' for r in runs)} ms)")


if __name__ == "__main__":
    main()
