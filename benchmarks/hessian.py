"""The Hessian of a 100-dimensional log-likelihood (a matrix-vector product, log1p, exp): `sd.hessian` and
`sd.hvp` against a hand-written Hessian, `jax.hessian` (eager and jit), autograd's `hessian` and
`torch.autograd.functional.hessian`; and the Jacobian of a layer's activations in its weights, both modes,
against `jax.jacfwd`/`jax.jacrev`, autograd's `jacobian` and `torch.autograd.functional.jacobian`.

Times are medians over interleaved rounds in one process, one thread, with each tool's Hessian checked
against the hand-written one first. Peers that are not installed are skipped.

    python benchmarks/hessian.py [--rounds 5]
"""
import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import sourcediff as sd  # noqa: E402

DIMENSION, SAMPLES = 100, 200


def loglik(w, x, y):
    scores = x @ w
    return np.sum(y * scores - np.log1p(np.exp(scores))) - 0.5 * np.sum(w * w)


def hand_written_hessian(w, x, y):
    p = 1.0 / (1.0 + np.exp(-(x @ w)))
    return -(x.T * (p * (1.0 - p))) @ x - np.eye(w.size)


def layer(w, x):
    """The Jacobian workload: a layer's activations as a function of its weights (R^100 -> R^200)."""
    return np.tanh(x @ w) * 2.0 + w[0]


def hand_written_jacobian(w, x):
    jacobian = (2.0 * (1.0 - np.tanh(x @ w) ** 2))[:, None] * x
    jacobian[:, 0] += 1.0
    return jacobian


def _hessian_peers(x, y):
    peers = {}
    try:
        import autograd
        import autograd.numpy as anp

        def autograd_loglik(w):
            scores = anp.dot(x, w)
            return anp.sum(y * scores - anp.log1p(anp.exp(scores))) - 0.5 * anp.sum(w * w)

        peers["autograd"] = lambda w: autograd.hessian(autograd_loglik)(w)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def torch_loglik(w):
            scores = tx @ w
            return torch.sum(ty * scores - torch.log1p(torch.exp(scores))) - 0.5 * torch.sum(w * w)

        peers["pytorch"] = lambda w: torch.autograd.functional.hessian(torch_loglik, torch.from_numpy(w)).numpy()
    except ImportError:
        pass
    jax, jnp = _jax()
    if jax is not None:
        jx, jy = jnp.asarray(x), jnp.asarray(y)

        def jax_loglik(w):
            scores = jx @ w
            return jnp.sum(jy * scores - jnp.log1p(jnp.exp(scores))) - 0.5 * jnp.sum(w * w)

        eager, jitted = jax.hessian(jax_loglik), jax.jit(jax.hessian(jax_loglik))
        peers["jax"] = lambda w: np.asarray(eager(w))
        peers["jax.jit"] = lambda w: np.asarray(jitted(w).block_until_ready())
    return peers


def _jacobian_peers(x):
    peers = {}
    try:
        import autograd
        import autograd.numpy as anp

        peers["autograd jacobian"] = lambda w: autograd.jacobian(lambda u: anp.tanh(anp.dot(x, u)) * 2.0 + u[0])(w)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(1)
        tx = torch.from_numpy(x)

        def torch_layer(u):
            return torch.tanh(tx @ u) * 2.0 + u[0]

        for mode in ("forward", "reverse"):
            peers[f"pytorch ({mode})"] = lambda w, mode=mode: torch.autograd.functional.jacobian(
                torch_layer, torch.from_numpy(w), vectorize=True, strategy=f"{mode}-mode").numpy()
    except ImportError:
        pass
    jax, jnp = _jax()
    if jax is not None:
        jx = jnp.asarray(x)

        def jax_layer(u):
            return jnp.tanh(jx @ u) * 2.0 + u[0]

        for name, transform in (("jacfwd", jax.jacfwd), ("jacrev", jax.jacrev)):
            eager, jitted = transform(jax_layer), jax.jit(transform(jax_layer))
            peers[f"jax.{name}"] = lambda w, eager=eager: np.asarray(eager(w))
            peers[f"jax.jit({name})"] = lambda w, jitted=jitted: np.asarray(jitted(w).block_until_ready())
    return peers


def _jax():
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
    except ImportError:
        return None, None
    return jax, jnp


def _timed(every, argument, rounds):
    """The median time of each tool, over interleaved rounds."""
    times = {name: [] for name in every}
    for _ in range(rounds):
        for name, tool in every.items():
            calls, start = 0, time.perf_counter()
            while calls < 3 or time.perf_counter() - start < 0.2:
                tool(argument)
                calls += 1
            times[name].append((time.perf_counter() - start) / calls)
    return {name: statistics.median(t) for name, t in times.items()}


def _table(title, times):
    plain = times.pop("plain")
    print(f"{title}; plain function {plain * 1e6:.0f} µs")
    print("| tool | time | × plain |")
    print("|---|---|---|")
    for name, median in times.items():
        print(f"| {name} | {median * 1e3:.2f} ms | {median / plain:.0f}x |")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal(DIMENSION) * 0.1, rng.standard_normal((SAMPLES, DIMENSION))
    y = (rng.random(SAMPLES) < 0.5).astype(float)
    v = rng.standard_normal(DIMENSION)
    tools = {"hand-written": lambda w: hand_written_hessian(w, x, y),
             "sourcediff": lambda w: sd.hessian(lambda u: loglik(u, x, y), w)}
    tools.update(_hessian_peers(x, y))
    expected = hand_written_hessian(w, x, y)
    for name, tool in tools.items():
        assert np.allclose(tool(w), expected, rtol=1e-8, atol=1e-8), name
    hvp_expected = expected @ v
    hvp_tools = {"sourcediff hvp": lambda w: sd.hvp(loglik, (w, x, y), (v, 0.0, 0.0))[0],
                 "gradient (one)": lambda w: sd.gradient(loglik, w, x, y)[0]}
    assert np.allclose(hvp_tools["sourcediff hvp"](w), hvp_expected, rtol=1e-8)
    _table(f"Hessian of a {DIMENSION}-dimensional log-likelihood ({SAMPLES} samples)",
           _timed({**tools, **hvp_tools, "plain": lambda w: loglik(w, x, y)}, w, options.rounds))

    def activations(u):
        return layer(u, x)

    jacobians = {"hand-written": lambda w: hand_written_jacobian(w, x),
                 "sourcediff (forward)": lambda w: sd.jacobian(activations, w, mode="forward")[0],
                 "sourcediff (reverse)": lambda w: sd.jacobian(activations, w, mode="reverse")[0]}
    jacobians.update(_jacobian_peers(x))
    expected = hand_written_jacobian(w, x)
    for name, tool in jacobians.items():
        assert np.allclose(tool(w), expected, rtol=1e-8, atol=1e-8), name
    _table(f"Jacobian of a layer, R^{DIMENSION} -> R^{SAMPLES}",
           _timed({**jacobians, "plain": lambda w: layer(w, x)}, w, options.rounds))


if __name__ == "__main__":
    main()
