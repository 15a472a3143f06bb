"""Timing and reporting shared by the benchmarks: every gradient as a ratio to the plain function."""
import timeit


def best(function, number):
    """The best time of one call, in seconds, over five repeats of `number` calls."""
    return min(timeit.repeat(function, number=number, repeat=5)) / number


def report(plain, gradients, number):
    """Time `plain` and each named gradient function; print each as a multiple of the plain function."""
    plain_seconds = best(plain, number)
    print(f"plain function: {plain_seconds * 1e6:.0f} µs")
    for name, (run, runs) in gradients.items():
        seconds = best(run, runs or number)
        print(f"{name:>14}: {seconds * 1e6:8.0f} µs  {seconds / plain_seconds:6.1f}x the plain function")
