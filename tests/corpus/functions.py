"""Small functions written the way users write them, each with sample arguments.

Every function returns a real scalar.  Arguments are floats, small float arrays from a seeded
generator (kept away from kinks), containers of those, namedtuples and dataclasses of floats,
and integers used as counts.
"""
import math
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from . import Case

_rng = np.random.default_rng(20241122)


def _vec(n, low=0.5, high=1.5):
    """A vector with entries in [low, high) (positive, so logs and square roots are safe)."""
    return _rng.uniform(low, high, size=n)


def _sym(n):
    """A signed vector with entries bounded away from zero."""
    magnitude = _rng.uniform(0.3, 1.2, size=n)
    sign = np.where(_rng.uniform(size=n) < 0.5, -1.0, 1.0)
    return magnitude * sign


def _mat(r, c, low=-1.0, high=1.0):
    return _rng.uniform(low, high, size=(r, c))


def _spd(n):
    a = _rng.uniform(-1.0, 1.0, size=(n, n))
    return a @ a.T + n * np.eye(n)


Point = namedtuple("Point", ["x", "y"])


class _State:
    def __init__(self, values):
        self.values = values


@dataclass
class Params:
    scale: float
    shift: float


# ---------------------------------------------------------------- scalar arithmetic

def scalar_poly(x, y):
    return 3.0 * x ** 3 - 2.0 * x * y + y ** 2 / 4.0 - 1.0


def scalar_division_chain(x, y):
    z = x / y
    w = (z - 1.0) / (x + y)
    return -w + z * z


def scalar_unary_ops(x):
    a = -x
    b = +a
    return b * abs(x) + x ** -2


def scalar_pow_forms(x, y):
    return x ** y + 2.0 ** x + pow(y, 3) + x ** 0.5


# ---------------------------------------------------------------- math.* and np.* elementwise

def math_functions(x):
    return (math.sin(x) * math.cos(x) + math.exp(-x) + math.log(x) + math.sqrt(x)
            + math.tanh(x) + math.atan(x) + math.log1p(x))


def math_more(x, y):
    return math.hypot(x, y) + math.atan2(y, x) + math.pow(x, 1.5) + math.log(y, 2.0) + math.expm1(x) * math.cosh(y)


def np_elementwise(x):
    return np.sum(np.sin(x) + np.cos(x) * np.exp(x) + np.log(x) + np.sqrt(x) + np.tanh(x))


def np_elementwise_more(x):
    y = np.arctan(x) + np.log1p(x) + np.expm1(x) + np.square(x) + np.reciprocal(x)
    return np.sum(y * np.abs(x) + np.log2(x) - np.log10(x) + np.cbrt(x))


def np_maximum_where(x, y):
    m = np.maximum(x, y) + np.minimum(x, y) * 2.0
    w = np.where(x > y, x * y, x - y)
    return np.sum(m + w + np.clip(x, 0.6, 1.3))


def np_power_and_exp(x, y):
    return np.sum(np.power(x, 2.5) + np.exp2(y) + np.power(x, y) + x ** y)


def np_scalar_functions(x):
    return np.sin(x) * np.exp(x) + np.sqrt(x) + np.log(x)


# ---------------------------------------------------------------- broadcasting

def broadcast_scalar_array(x, a):
    return np.sum(a * x + x / a - a ** 2)


def broadcast_row_column(m, r, c):
    return np.sum(m * r + c[:, None] * m - r / (1.5 + c[:, None] ** 2))


def broadcast_vector_matrix(m, v):
    return np.sum((m + v) ** 2 / (1.0 + v * v))


# ---------------------------------------------------------------- reductions

def reductions_axis(m):
    a = m.sum(axis=0)
    b = np.mean(m, axis=1)
    c = np.prod(m + 2.0, axis=0)
    return np.sum(a * a) + np.sum(b) + np.sum(c)


def reductions_keepdims(m):
    centered = m - m.mean(axis=1, keepdims=True)
    scale = np.sqrt(np.sum(centered ** 2, axis=1, keepdims=True) + 1.0)
    return np.sum(centered / scale)


def reductions_max_min(x):
    return np.max(x) * 2.0 + np.min(x) + x.max() - np.amax(x ** 2)


def reductions_var_std(m):
    return np.sum(np.var(m, axis=0)) + np.std(m) + m.std(axis=1).sum()


def logsumexp(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


def softmax_cross_entropy(logits, target):
    shifted = logits - np.max(logits)
    p = np.exp(shifted) / np.sum(np.exp(shifted))
    return -np.sum(target * np.log(p))


def cumsum_reduce(x):
    return np.sum(np.cumsum(x) * x)


# ---------------------------------------------------------------- products

def dot_matmul(a, b, v):
    return np.dot(v, a @ b @ v) + np.sum(np.matmul(a, b))


def outer_and_trace(u, v, m):
    return np.trace(np.outer(u, v) @ m) + np.sum(np.outer(u, u))


def einsum_forms(a, b):
    c = np.einsum("ij,jk->ik", a, b)
    return np.einsum("ii->", c) + np.einsum("ij,ij->", a, a) + np.sum(np.einsum("ij->j", b))


def method_dot(x, w):
    return np.sum(x.dot(w) ** 2) + x.T.dot(x).trace()


def inner_vdot(u, v):
    return np.inner(u, v) + np.vdot(u, u) + u @ v


# ---------------------------------------------------------------- shapes

def reshape_transpose(x):
    m = x.reshape(2, 3)
    t = m.T
    u = np.transpose(m)
    return np.sum(t * u) + np.sum(np.reshape(x, (3, 2)) @ m)


def ravel_flatten(m):
    v = m.ravel()
    w = m.flatten()
    return np.sum(v * w * np.arange(v.size))


def concatenate_stack(a, b):
    c = np.concatenate([a, b])
    s = np.stack([a, b], axis=0)
    h = np.hstack((a, b))
    v = np.vstack([a, b])
    return np.sum(c ** 2) + np.sum(s[0] * s[1]) + np.sum(h) + np.sum(v * s)


def sort_and_pick(x):
    s = np.sort(x)
    return s[0] + 2.0 * s[-1] + np.sum(s * np.arange(len(s)))


def expand_squeeze(x):
    y = x[None, :] * x[:, None]
    z = np.expand_dims(x, 0)
    return np.sum(y) + np.sum(np.squeeze(z) ** 3)


def tile_repeat(x):
    return np.sum(np.tile(x, 2) * np.arange(2 * len(x))) + np.sum(np.repeat(x, 2) ** 2)


# ---------------------------------------------------------------- indexing

def index_basic(x, m):
    return x[0] * x[2] + m[1, 2] * m[0][1] + x[-1] - m[-1, -1]


def index_slices(x, m):
    return np.sum(x[1:4] * x[:3]) + np.sum(m[:, 1]) + np.sum(m[1:, ::2]) + np.sum(x[::-1] * x)


def index_fancy_repeated(x):
    idx = np.array([0, 2, 2, 4, 0])
    return np.sum(x[idx] ** 2) + np.sum(x[[1, 1, 3]])


def index_boolean_mask(x):
    mask = x > 0.0
    return np.sum(x[mask] ** 2) - np.sum(x[~mask])


def index_negative(x):
    return x[-1] * x[-2] + np.sum(x[-3:]) + x[len(x) - 1]


def index_matrix_rows(m):
    return np.sum(m[[0, 2, 0]] * 2.0) + np.sum(m[:, [1, 1]])


# ---------------------------------------------------------------- linear algebra

def linalg_inv_solve(a, b):
    x = np.linalg.solve(a, b)
    return np.sum(x) + np.sum(np.linalg.inv(a) @ b)


def linalg_det_slogdet(a):
    sign, logdet = np.linalg.slogdet(a)
    return np.linalg.det(a) + sign * logdet


def linalg_cholesky(a, b):
    l = np.linalg.cholesky(a)
    return np.sum(l) + np.sum(np.linalg.solve(l, b) ** 2)


def linalg_norms(x, m):
    return np.linalg.norm(x) + np.linalg.norm(m) + np.sum(np.linalg.norm(m, axis=0))


def gaussian_logpdf(x, mean, cov):
    d = x - mean
    sign, logdet = np.linalg.slogdet(cov)
    return -0.5 * (d @ np.linalg.solve(cov, d) + logdet + len(x) * math.log(2 * math.pi))


# ---------------------------------------------------------------- assignment

def tuple_unpacking(x, y):
    a, b = x * y, x + y
    a, b = b, a
    (c, d), e = (a - b, a * b), 2.0
    return c * d + e * a


def starred_unpacking(v):
    first, *middle, last = v
    return first * last + sum(middle)


def augmented_scalars(x, y):
    z = x
    z += y
    z *= 2.0
    z -= x / 3.0
    z /= y
    z **= 2
    return z


def augmented_arrays(x, y):
    z = x.copy()
    z += y
    z *= 2.0
    w = z
    w -= x
    return np.sum(z * w)


def augmented_alias(x):
    z = x * 1.0
    alias = z
    z += x
    return np.sum(alias * x)


def chained_assignment(x):
    a = b = x * 2.0
    return a * b + a


# ---------------------------------------------------------------- conditionals

def if_elif_else(x):
    if x > 2.0:
        y = x ** 2
    elif x > 0.5:
        y = math.sin(x) * 3.0
    else:
        y = -x
    return y * x


def if_on_array_value(x):
    if np.sum(x) > 1.0:
        return np.sum(x ** 2)
    return np.sum(x)


def conditional_expression(x, y):
    z = x * y if x < y else x + y
    w = math.exp(x) if z > 100.0 else math.log(y)
    return z + w


def nested_if(x, y):
    out = 0.0
    if x > 0:
        if y > 1.0:
            out = x * y
        else:
            out = x / y
    else:
        out = y
    return out + x


def boolean_ops(x, y):
    if x > 0 and y > 0 and not x > 10:
        return x * y
    elif x > 0 or y > 0:
        return x + y
    return 0.0


# ---------------------------------------------------------------- loops

def for_range(x, n):
    total = 0.0
    for i in range(n):
        total = total + x ** i / (i + 1)
    return total


def for_range_step(x):
    acc = 1.0
    for i in range(10, 0, -3):
        acc = acc * x + i
    return acc


def for_over_list(values, w):
    total = 0.0
    for v in values:
        total += v * w
    return total


def for_over_array(x):
    total = 0.0
    for xi in x:
        total = total + math.sin(xi) * xi
    return total


def for_over_matrix_rows(m, v):
    total = 0.0
    for row in m:
        total = total + np.dot(row, v) ** 2
    return total


def for_enumerate(x):
    total = 0.0
    for i, xi in enumerate(x):
        total = total + (i + 1) * xi ** 2
    return total


def for_zip(x, y):
    total = 0.0
    for a, b in zip(x, y):
        total += a * b
    return total


def nested_loops(m):
    total = 0.0
    rows, cols = m.shape
    for i in range(rows):
        for j in range(cols):
            total = total + m[i, j] * (i - j)
    return total


def while_data_dependent(x):
    y = x
    steps = 0
    while y < 10.0:
        y = y * 1.7 + 0.3
        steps += 1
    return y * steps


def while_newton_sqrt(a):
    guess = a
    while abs(guess * guess - a) > 1e-12:
        guess = 0.5 * (guess + a / guess)
    return guess


def loop_break(x):
    total = 0.0
    for i in range(100):
        total = total + x * i
        if total > 5.0:
            break
    return total


def loop_continue(x):
    total = 0.0
    for i, xi in enumerate(x):
        if i % 2 == 1:
            continue
        total = total + xi ** 3
    return total


def early_return_in_loop(x):
    acc = x
    for i in range(20):
        acc = acc * 1.3
        if acc > 4.0:
            return acc * i
    return -acc


def multiple_returns(x):
    if x < 0.0:
        return x ** 2
    for i in range(3):
        if x * i > 2.0:
            return x * i
    while x < 3.0:
        x = x * 2.0
        if x > 2.5:
            return x + 1.0
    return x


def while_else_loop(x):
    i = 0
    while i < 3:
        x = x * 1.1
        i += 1
    else:
        x = x + 1.0
    return x


def for_else_loop(values):
    out = 0.0
    for v in values:
        if v > 100.0:
            break
        out += v
    else:
        out = out * 2.0
    return out


# ---------------------------------------------------------------- calls

def _helper_scale(x, factor=2.0, *, offset=0.0):
    return x * factor + offset


def _helper_varargs(*xs):
    total = 0.0
    for x in xs:
        total += x * x
    return total


def _helper_kwargs(x, **options):
    out = x
    for key, value in options.items():
        out = out + value * x
    return out


def _poly_recursive(coefficients, x):
    if len(coefficients) == 1:
        return coefficients[0]
    return coefficients[0] + x * _poly_recursive(coefficients[1:], x)


def _power_recursive(x, n):
    if n == 0:
        return 1.0
    if n % 2 == 0:
        half = _power_recursive(x, n // 2)
        return half * half
    return x * _power_recursive(x, n - 1)


def _apply(f, x):
    return f(x)


def call_defaults_keywords(x, y):
    return _helper_scale(x) + _helper_scale(y, 3.0) + _helper_scale(x, factor=y, offset=x * y)


def call_varargs(x, y):
    return _helper_varargs(x, y, x * y) + _helper_varargs(*[x, y])


def call_kwargs(x, y):
    return _helper_kwargs(x, a=y, b=2.0) + _helper_kwargs(y, **{"c": x})


def recursive_power(x):
    return _power_recursive(x, 7)


def recursive_polynomial(x, c):
    return _poly_recursive(c, x)


def closure_capture(x, y):
    scale = y * 2.0

    def inner(z):
        return z * scale + y

    return inner(x) + inner(x * x)


def lambda_assigned(x, y):
    square = lambda t: t * t
    mix = lambda a, b: a * b + square(a)
    return square(x) + mix(x, y)


def lambda_passed_to_helper(x, w):
    return _apply(lambda t: t * w + math.sin(t), x) + _apply(math.exp, x)


def builtin_higher_order(x):
    return sum(map(lambda t: t * t, x)) + max(x[0], x[1]) * min(x[2], x[3])


class _Affine:
    def __init__(self, weight, bias):
        self.weight = weight
        self.bias = bias

    def apply(self, x):
        return self.weight * x + self.bias

    def energy(self):
        return self.weight ** 2 + self.bias ** 2


class _Quadratic:
    def __init__(self, a):
        self.a = a

    def __call__(self, x):
        return self.a * x * x


def method_on_local_instance(x, w, b):
    layer = _Affine(w, b)
    return np.sum(layer.apply(x) ** 2) + layer.energy()


def callable_object(x, a):
    q = _Quadratic(a)
    return q(x) + q(x + 1.0)


def namedtuple_attributes(p, s):
    return p.x * p.y + math.sin(p.x) * s


def namedtuple_index_and_unpack(p):
    x, y = p
    return x * p[1] + y ** 2


def dataclass_attributes(params, x):
    return np.sum(params.scale * x + params.shift) + params.scale * params.shift


def construct_namedtuple(x, y):
    p = Point(x * 2.0, y)
    return p.x * p.y + p[0]


# ---------------------------------------------------------------- lists

def list_literal_index(x, y):
    items = [x, y, x * y]
    return items[0] * items[2] + items[-1] - items[1]


def list_append_sum(x):
    parts = []
    for i in range(4):
        parts.append(x ** (i + 1))
    return sum(parts)


def list_append_np_array(x):
    rows = []
    for i in range(3):
        rows.append(x * (i + 1.0))
    stacked = np.array(rows)
    return np.sum(stacked ** 2)


def list_comprehension(x):
    squares = [xi * xi for xi in x]
    return sum(squares) + sum([2.0 * xi for xi in x if xi > 0.0])


def generator_in_sum(x, y):
    return sum(a * b for a, b in zip(x, y)) + sum(x[i] ** 2 for i in range(len(x)))


def list_argument_elements(values):
    return values[0] * values[1] + np.sum(values[2] ** 2)


def tuple_argument(pair):
    a, b = pair
    return a * np.sum(b)


def list_of_arrays_loop(arrays):
    total = 0.0
    for a in arrays:
        total = total + np.sum(a * a)
    return total


def list_inplace_element(x, w):
    v = [x, 2.0 * x, 3.0]
    v[0] += w
    v[2] = v[1] * w
    return v[0] * v[1] + v[2]


def nested_list_comprehension(m):
    return sum(sum(m[i, j] * (i + 1) for j in range(m.shape[1])) for i in range(m.shape[0]))


# ---------------------------------------------------------------- dicts

def dict_literal_index(x, y):
    d = {"a": x, "b": y, "ab": x * y}
    return d["a"] * d["ab"] + d["b"]


def dict_items_loop(weights):
    total = 0.0
    for name, value in weights.items():
        total = total + value * value * len(name)
    return total


def dict_argument_arrays(params, x):
    return np.sum(params["w"] * x + params["b"])


def dict_update_loop(x):
    d = {}
    for i in range(3):
        d[i] = x * (i + 1)
    return d[0] + d[1] * d[2]


# ---------------------------------------------------------------- in-place writes

def inplace_numpy_loop(x):
    y = np.zeros(3)
    for i in range(3):
        y[i] = x[i] * x[i + 1]
    return np.sum(y * y)


def inplace_numpy_augmented(x, w):
    y = np.zeros(3)
    y[0] += w
    y[1:] = x[:2] * w
    y[2] *= 3.0
    return np.sum(y * x[:3])


def inplace_numpy_copy(x):
    y = x.copy()
    y[0] = 2.0 * y[0]
    y[1:] += y[:-1]
    return np.sum(y ** 2)


def inplace_mask_write(x):
    y = x.copy()
    y[y < 0.0] = 0.0
    return np.sum(y * x)


def inplace_row_write(m, v):
    out = np.zeros_like(m)
    for i in range(m.shape[0]):
        out[i] = m[i] * v
    return np.sum(out ** 2)


def inplace_empty_fill(x):
    y = np.empty(len(x))
    for i in range(len(x)):
        y[i] = math.exp(x[i])
    return np.sum(y)


def branch_index(x):
    if x[0] > 0:
        y = x[1] * 2.0
    else:
        y = 1.0
    return y


def inplace_nested_write(x):
    m = np.zeros((2, 2))
    m[0][1] = x * 3.0
    m[1][0] = x * x
    return np.sum(m * m)


def inplace_nested_list_write(x, y):
    grid = [[0.0, 0.0], [0.0, 0.0]]
    grid[0][1] = x * y
    grid[1][1] += x
    return sum(sum(row) for row in grid) * grid[0][1]


def inplace_attribute_array_write(x):
    state = _State(np.zeros(2))
    state.values[1] = x * 2.0
    return np.sum(state.values * x)


# ---------------------------------------------------------------- harder control flow and state

def _pair(x, y):
    return x * y, x + y


def tuple_return(x, y):
    a, b = _pair(x, y)
    c, d = _pair(a, b)
    return c * d


def nested_counts(x):
    total = 0.0
    for i in range(4):
        for j in range(i):
            total = total + x ** j * math.sin(total + i)
    return total


class _Accumulator:
    def __init__(self, start):
        self.total = start
        self.history = []

    def add(self, value):
        self.total = self.total + value * self.total
        self.history.append(self.total)


def object_state(x, y):
    acc = _Accumulator(x)
    for k in range(3):
        acc.add(y * k)
    return acc.total + sum(acc.history)


def recursive_branches(x, n):
    if n == 0:
        return x
    if n % 2 == 0:
        return recursive_branches(math.sin(x) * 2.0, n - 1)
    return recursive_branches(x * x - 0.5, n - 1)


def while_break(x):
    y = x
    steps = 0
    while True:
        y = y * 0.9 + math.cos(y)
        steps += 1
        if y > 2.5 or steps > 20:
            break
    return y * steps


def reuse_after_loop(x):
    v = x
    for i in range(3):
        v = v * x
    w = v + x
    v = w * w
    return v + w


def shadowed_loop_variable(xs):
    i = 10.0
    total = 0.0
    for i in range(len(xs)):
        total = total + xs[i] * i
    return total * i


def array_loop_accumulate(x, w):
    h = np.zeros(3)
    for t in range(4):
        h = np.tanh(w @ h + x[t])
    return np.sum(h ** 2)


def dict_state(x):
    params = {"a": x, "b": 2.0 * x}
    params["a"] = params["a"] * params["b"]
    params["c"] = params["a"] + 1.0
    return params["c"] * params["b"]


def list_mutation_loop(x):
    values = [x, x * 2.0, x * 3.0]
    for i in range(len(values)):
        values[i] = values[i] * values[i - 1]
    return sum(values)


def conditional_expression_loop(x):
    y = 0.0
    for k in range(5):
        y = y + (x * k if k % 2 else math.sin(x) / (k + 1))
    return y


def keyword_only(x, *, scale=2.0, power=3):
    return scale * x ** power


def calls_keyword_only(x, s):
    return keyword_only(x, scale=s) + keyword_only(s, power=2)



# ---------------------------------------------------------------- side effects on inactive data

def counter_side_effect(x):
    calls = 0
    total = 0.0
    for i in range(4):
        calls += 1
        total += x * calls
    return total * calls


_LOG = []


def log_side_effect(x, y):
    log = []
    log.append("start")
    z = x * y
    log.append(f"z={z:.3f}")
    _LOG.append(len(log))
    return z + len(log)


def global_constant_use(x):
    return x * _SCALE + math.pi


_SCALE = 1.5


# ---------------------------------------------------------------- float32 and integer counts

def float32_function(x):
    return np.sum(np.sin(x) * x + x ** 2)


def float32_matrix(m, v):
    return np.sum((m @ v) ** 2)


def integer_count(x, n):
    total = 0.0
    for i in range(n):
        total += x * (i + 1)
    return total


def integer_exponent(x, n):
    return np.sum(x ** n) + n * np.sum(x)


def integer_array_index(x, idx):
    return np.sum(x[idx] ** 2)


# ---------------------------------------------------------------- small models

def mlp_loss(w1, b1, w2, x, y):
    h = np.tanh(x @ w1 + b1)
    pred = h @ w2
    return np.mean((pred - y) ** 2)


def logistic_regression(w, x, y):
    z = x @ w
    p = 1.0 / (1.0 + np.exp(-z))
    return -np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


def rnn_unroll(w, xs):
    h = 0.0
    for x in xs:
        h = math.tanh(w * h + x)
    return h


def ode_euler(k, y0):
    y = y0
    dt = 0.1
    for _ in range(10):
        y = y + dt * (-k * y + math.sin(y))
    return y


def horner(coefficients, x):
    result = 0.0
    for c in coefficients[::-1]:
        result = result * x + c
    return result


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def pairwise_distances(points):
    total = 0.0
    n = len(points)
    for i in range(n):
        for j in range(i + 1, n):
            total = total + np.sqrt(np.sum((points[i] - points[j]) ** 2))
    return total


def matrix_power_loop(a, n):
    result = np.eye(a.shape[0])
    for _ in range(n):
        result = result @ a
    return np.trace(result)


def astype_and_constants(x):
    y = x.astype(np.float64) * np.pi
    return float(np.sum(y)) + np.sum(np.ones_like(x) * x)


def float_conversions(x):
    return float(x[0]) * 2.0 + float(np.sum(x))


def scalar_from_array_item(x):
    return x[0].item() * x[1] + np.sum(x)




# ---------------------------------------------------------------- soundness: root causes of wrong gradients (issue 5)
# and the minimised programs the fuzzer found while they were being fixed

def loop_carried_accumulation(x):
    total = 0.0
    term = 1.0
    for k in range(4):
        total = total + term
        term = term * x
    return total


def closure_reads_at_call_time(x):
    g = lambda t: x * t
    x = x * 2.0
    return g(1.0)


def closure_variable_bound_after_def(x):
    def g(t):
        return y * t

    y = x * 3.0
    return g(2.0)


def closure_captured_array_changed(v):
    w = v * 1.0
    g = lambda t: np.sum(w * t)
    w[0] = 5.0
    return g(2.0)


def closure_through_closure(x):
    s = x
    g = lambda t: s * t
    s = s * 3.0

    def outer(e):
        return g(e) + e

    return outer(2.0)


def closure_passed_in_a_loop(v, x):
    total = 0.0
    for t in v:
        total = total + _apply(lambda e: e * t + x, x)
    return total


def write_while_an_alias_holds(x):
    y = x * 1.0
    z = y
    y[0] = 5.0
    return np.sum(z * x)


def write_while_a_view_holds(m):
    m = m * 1.0
    row = m[0]
    m[0, 1] = 5.0
    return np.sum(row * row)


def write_through_a_view(m):
    m = m * 1.0
    v = m[1, :]
    v -= 0.5
    return np.sum(m * m)


def write_through_a_transpose(m):
    t = m.T
    t[1] *= 0.25
    return np.sum(m * m)


def write_into_a_constant_row(x):
    m = np.ones((2, 3))
    m[0] *= x
    return np.sum(m)


def write_slice_of_itself(v):
    v = v * 1.0
    v[1:] = v[1:] ** 2
    return np.sum(v)


def write_all_of_itself(v):
    v = v * 1.0
    v[:] = v
    return np.sum(v * v)


def list_append_after_reading(x, y):
    lst = [x]
    s = lst[-1]
    lst.append(y)
    return s * lst[-1]


def write_after_a_rule_read_it(y):
    v = np.ones(3)
    s = np.sum(y * v)
    v[0] = 5.0
    return s + np.sum(v * y)


def branch_in_loop_flips(s):
    y = 1.0
    for i in range(3):
        if s > i * 0.5:
            y = 0.5
        y = y * s
    return y


def augmented_with_an_alias_on_one_path(x):
    if x > 5.0:
        y = x  # noqa: F841  (the alias matters, not its use)
    x += 1.0
    return x * x


def recomputed_value_in_a_list(x):
    x = math.tanh(x)
    return [x][0]


def comprehension_then_augmented_item(x):
    lst = [t * 2 for t in x]
    lst[0] *= 3
    return lst[0] + lst[1]


def long_lines_wrapped_by_printers(x):
    g = lambda t: x * t + x * x * t + math.sin(x) * t * t + math.cos(x) * t * t * t + math.exp(x) * t * t * t * t + x

    def h(t):
        return x * t + x * x * t + math.sin(x) * t * t + math.cos(x) * t * t * t + math.exp(x) * t * t * t * t + x

    if x * x + math.sin(x) * math.cos(x) + math.exp(x) * math.tanh(x) > 0.0 and x + x * x + x * x * x > -100.0:
        return g(0.5) + h(0.25)
    return g(0.5)


def unpacking_a_map(x, loc, scale):
    x, loc, scale = map(np.asarray, (x, loc, scale))
    return np.sum((x - loc) / scale)


def unpacking_zip_and_iterators(xs):
    firsts, seconds = zip(*[(1.0, t) for t in xs])
    a, b = (t * 2.0 for t in xs[:2])
    return seconds[1] * a + b


def self_assignment(m):
    m = m
    return np.sum(m * m)


def attribute_of_a_temporary(m):
    return np.max(m.T.T) + np.sum(m.T[0])


def helper_writing_its_argument(v):
    w = v * 1.0
    _fill(w, v[0] * 3.0)
    return np.sum(w * w)


def _fill(buf, value):
    buf[1] = value


def if_test_calling_a_writing_helper(v):
    w = v * 1.0
    t = 1.0 if _fill(w, v[0]) is None else 0.0
    return np.sum(w) * t


class _Scaled:
    def __init__(self, weight):
        self.weight = weight
        self.history = []

    def step(self, x):
        self.weight = self.weight * x
        self.history.append(self.weight)
        return self.weight * 2.0


def method_changing_its_object_result_used(x, w):
    model = _Scaled(w)
    first = model.step(x)
    second = model.step(x)
    return first + second + model.weight + sum(model.history)


def recursion_deeper_than_the_default_limit_allows(x):
    return _deep(x, 300)


def _deep(x, n):
    if n == 0:
        return x
    return _deep(x * 0.999 + 0.001, n - 1)


def view_made_after_a_write_read_by_a_closure(v):
    y = v * 1.0
    y[0] *= 0.5
    first = lambda t: 0.25 * t
    s = first(1.0)
    zz = y[1]

    def later(e):
        return zz * e

    return later(2.0) + s


def float_equal_to_a_read_item_after_an_update(xs):
    s = xs[0] * 3.0
    t = xs[0]
    xs.append(1.0)
    table = {'a': 1.0, 'c': min(xs)}
    table['c'] += 1.0
    return s + t * table['a']


def values_read_live_through_enumerate(d):
    """Fuzz seed 1409573: a dict's values view is read live while the loop changes an entry."""
    for i, e in enumerate(d.values()):
        d["c"] += e * (i + 1.0)
    return d["c"]


def enumerate_with_start_keyword(xs):
    total = 0.0
    for i, (a, b) in enumerate(zip(xs, xs[1:]), start=2):
        total = total + i * a * b
    return total


def name_rebound_to_a_second_closure(v):
    """Fuzz seed 2901609: `g` names two lambdas; the first call's closure tangent named a variable only the
    second one reads, before it was assigned (forward mode)."""
    g = lambda t: 0.25  # noqa: E731
    s = g(1.0)
    t = sum(v)
    g = lambda e: t - s  # noqa: E731
    return g(1.0)


def float_stored_into_an_integer_array(x):
    """Fuzz seed 1600635: an integer array truncates what is written into it, so no derivative passes."""
    w = np.array([0, 0])
    w[1] += x
    w[0] = x * 2.0
    return w.sum() * 1.0 + x


def float32_slices_outer_norm(xs, v):
    """Fuzz seed 3901028, minimised: float32 slices in an outer product, a norm, and sums of a list and a dict's
    values (a batched pullback once looked wrong here: the checker compared against a rounded scaling)."""
    table = {"a": 0.5, "c": np.linalg.norm(np.outer(v[:2], np.array(xs)))}
    items = [v[1] - 1.0, 0.5, 0.25, sum(xs) - sum(table.values())]
    return sum(items) * math.cos(1.0) * (1.5 + np.sin(np.mean(v)))


def _scaled(x, *extra, **opts):
    return x * opts["scale"] + sum(extra) * opts.get("shift", 1.0)


def keywords_into_a_double_star_helper(x, s):
    """Differentiated keywords that only `**opts` takes (forward mode once dropped their tangents)."""
    return _scaled(x, x * s, scale=s, shift=x) + _scaled(s, scale=2.0) + _scaled(x, s, shift=s, scale=x * x)


CORPUS = [
    Case(scalar_poly, (0.7, -1.3)),
    Case(scalar_division_chain, (1.2, 0.8)),
    Case(scalar_unary_ops, (-1.4,)),
    Case(scalar_pow_forms, (1.3, 0.9)),
    Case(math_functions, (0.8,)),
    Case(math_more, (1.1, 0.7)),
    Case(np_elementwise, (_vec(5),)),
    Case(np_elementwise_more, (_vec(4),)),
    Case(np_maximum_where, (np.array([0.5, 1.4, 0.9, 1.2]), np.array([1.0, 0.7, 1.3, 0.55]))),
    Case(np_power_and_exp, (_vec(3), _vec(3))),
    Case(np_scalar_functions, (0.9,)),
    Case(broadcast_scalar_array, (0.6, _vec(4))),
    Case(broadcast_row_column, (_mat(2, 3), _sym(3), _sym(2))),
    Case(broadcast_vector_matrix, (_mat(3, 2), _sym(2))),
    Case(reductions_axis, (_mat(2, 3),)),
    Case(reductions_keepdims, (_mat(2, 3),)),
    Case(reductions_max_min, (np.array([0.3, -1.1, 0.8, 1.7, -0.2]),)),
    Case(reductions_var_std, (_mat(3, 2),)),
    Case(logsumexp, (_sym(5),)),
    Case(softmax_cross_entropy, (_sym(4), np.array([0.1, 0.2, 0.3, 0.4]))),
    Case(cumsum_reduce, (_sym(5),)),
    Case(dot_matmul, (_mat(3, 3), _mat(3, 3), _sym(3))),
    Case(outer_and_trace, (_sym(3), _sym(2), _mat(2, 3))),
    Case(einsum_forms, (_mat(2, 3), _mat(3, 2))),
    Case(method_dot, (_mat(2, 3), _sym(3))),
    Case(inner_vdot, (_sym(4), _sym(4))),
    Case(reshape_transpose, (_sym(6),)),
    Case(ravel_flatten, (_mat(2, 3),)),
    Case(concatenate_stack, (_sym(3), _sym(3))),
    Case(sort_and_pick, (np.array([0.4, -1.2, 2.1, 0.9, -0.3]),)),
    Case(expand_squeeze, (_sym(3),)),
    Case(tile_repeat, (_sym(3),)),
    Case(index_basic, (_sym(4), _mat(2, 3))),
    Case(index_slices, (_sym(5), _mat(3, 3))),
    Case(index_fancy_repeated, (_sym(5),)),
    Case(index_boolean_mask, (_sym(6),)),
    Case(index_negative, (_sym(5),)),
    Case(index_matrix_rows, (_mat(3, 2),)),
    Case(linalg_inv_solve, (_spd(3), _sym(3))),
    Case(linalg_det_slogdet, (_spd(3),)),
    Case(linalg_cholesky, (_spd(2), _sym(2))),
    Case(linalg_norms, (_sym(4), _mat(2, 2))),
    Case(gaussian_logpdf, (_sym(2), _sym(2), _spd(2))),
    Case(tuple_unpacking, (0.6, 1.7)),
    Case(starred_unpacking, (_sym(5),)),
    Case(augmented_scalars, (0.9, 1.6)),
    Case(augmented_arrays, (_sym(3), _sym(3))),
    Case(augmented_alias, (_sym(3),)),
    Case(chained_assignment, (1.3,)),
    Case(if_elif_else, (1.1,)),
    Case(if_on_array_value, (_vec(3),)),
    Case(conditional_expression, (0.4, 1.9)),
    Case(nested_if, (0.8, 0.6)),
    Case(boolean_ops, (0.7, 1.2)),
    Case(for_range, (0.8, 5)),
    Case(for_range_step, (1.1,)),
    Case(for_over_list, ([0.5, -1.2, 2.0], 0.3)),
    Case(for_over_array, (_sym(4),)),
    Case(for_over_matrix_rows, (_mat(3, 2), _sym(2))),
    Case(for_enumerate, (_sym(4),)),
    Case(for_zip, (_sym(3), _sym(3))),
    Case(nested_loops, (_mat(2, 3),)),
    Case(while_data_dependent, (0.7,)),
    Case(while_newton_sqrt, (2.3,)),
    Case(loop_break, (0.45,)),
    Case(loop_continue, (_sym(5),)),
    Case(early_return_in_loop, (0.9,)),
    Case(multiple_returns, (0.35,)),
    Case(while_else_loop, (0.8,)),
    Case(for_else_loop, ([0.3, 1.5, -0.7],)),
    Case(call_defaults_keywords, (0.7, 1.4)),
    Case(call_varargs, (0.6, -0.9)),
    Case(call_kwargs, (1.2, 0.5)),
    Case(recursive_power, (1.1,)),
    Case(recursive_polynomial, (0.7, [1.0, -2.0, 0.5, 3.0])),
    Case(closure_capture, (0.9, 1.3)),
    Case(lambda_assigned, (0.8, -0.4)),
    Case(lambda_passed_to_helper, (0.6, 1.7)),
    Case(builtin_higher_order, (np.array([0.3, 1.2, -0.4, 0.9]),)),
    Case(method_on_local_instance, (_sym(3), 0.7, -0.2)),
    Case(callable_object, (0.9, 1.4)),
    Case(namedtuple_attributes, (Point(0.6, -1.1), 2.0)),
    Case(namedtuple_index_and_unpack, (Point(1.2, 0.4),)),
    Case(dataclass_attributes, (Params(1.3, -0.4), _sym(3))),
    Case(construct_namedtuple, (0.7, 1.9)),
    Case(list_literal_index, (1.1, 0.3)),
    Case(list_append_sum, (0.8,)),
    Case(list_append_np_array, (_sym(3),)),
    Case(list_comprehension, (_sym(4),)),
    Case(generator_in_sum, (_sym(3), _sym(3))),
    Case(list_argument_elements, ([0.5, 1.5, _sym(3)],)),
    Case(tuple_argument, ((0.7, _sym(2)),)),
    Case(list_of_arrays_loop, ([_sym(2), _sym(3)],)),
    Case(list_inplace_element, (0.6, 1.3)),
    Case(nested_list_comprehension, (_mat(2, 2),)),
    Case(dict_literal_index, (0.5, 1.5)),
    Case(dict_items_loop, ({"alpha": 0.5, "b": -1.2, "gamma": 2.0},)),
    Case(dict_argument_arrays, ({"w": _sym(3), "b": 0.4}, _sym(3))),
    Case(dict_update_loop, (0.9,)),
    Case(inplace_numpy_loop, (_sym(4),)),
    Case(inplace_numpy_augmented, (_sym(3), 0.8)),
    Case(inplace_numpy_copy, (_sym(4),)),
    Case(inplace_mask_write, (_sym(5),)),
    Case(inplace_row_write, (_mat(2, 3), _sym(3))),
    Case(inplace_empty_fill, (_sym(3),)),
    Case(inplace_nested_write, (1.5,)),
    Case(branch_index, (np.array([0.5, 1.5]),)),
    Case(tuple_return, (0.7, 1.3)), Case(nested_counts, (0.6,)), Case(object_state, (0.5, 0.3)),
    Case(recursive_branches, (0.4, 4)), Case(while_break, (0.3,)), Case(reuse_after_loop, (0.9,)),
    Case(shadowed_loop_variable, (np.array([0.5, 1.5, -0.25]),)),
    Case(array_loop_accumulate, (np.array([0.1, 0.2, -0.3, 0.4]), np.eye(3) * 0.5 + 0.1)),
    Case(dict_state, (0.8,)), Case(list_mutation_loop, (0.6,)), Case(conditional_expression_loop, (0.7,)),
    Case(calls_keyword_only, (0.7, 1.1)),
    Case(inplace_nested_list_write, (0.7, 1.3)),
    Case(inplace_attribute_array_write, (1.25,)),
    Case(counter_side_effect, (0.9,)),
    Case(log_side_effect, (0.4, 1.7)),
    Case(global_constant_use, (0.3,)),
    Case(float32_function, (_vec(4).astype(np.float32),)),
    Case(float32_matrix, (_mat(2, 2).astype(np.float32), _sym(2).astype(np.float32))),
    Case(integer_count, (0.7, 4)),
    Case(integer_exponent, (_vec(3), 3)),
    Case(integer_array_index, (_sym(4), np.array([0, 3, 3]))),
    Case(mlp_loss, (_mat(3, 2), _sym(2), _sym(2), _mat(2, 3), _sym(2))),
    Case(logistic_regression, (_sym(2), _mat(3, 2), np.array([0.0, 1.0, 1.0]))),
    Case(rnn_unroll, (0.8, [0.1, -0.4, 0.7])),
    Case(ode_euler, (0.6, 1.2)),
    Case(horner, (np.array([1.0, -0.5, 0.25, 2.0]), 0.7)),
    Case(rosenbrock, (np.array([0.4, 1.1, 0.8]),)),
    Case(pairwise_distances, (_mat(3, 2),)),
    Case(matrix_power_loop, (_mat(2, 2), 3)),
    Case(astype_and_constants, (_sym(3),)),
    Case(float_conversions, (_sym(3),)),
    Case(scalar_from_array_item, (_sym(3),)),
    Case(loop_carried_accumulation, (0.5,)),
    Case(closure_reads_at_call_time, (1.5,)),
    Case(closure_variable_bound_after_def, (0.7,)),
    Case(closure_captured_array_changed, (_sym(3),)),
    Case(closure_through_closure, (0.8,)),
    Case(closure_passed_in_a_loop, (_sym(3), 0.6)),
    Case(write_while_an_alias_holds, (_sym(3),)),
    Case(write_while_a_view_holds, (_mat(2, 3),)),
    Case(write_through_a_view, (_mat(2, 3),)),
    Case(write_through_a_transpose, (_mat(2, 3),)),
    Case(write_into_a_constant_row, (0.7,)),
    Case(write_slice_of_itself, (_sym(3),)),
    Case(write_all_of_itself, (_sym(2),)),
    Case(list_append_after_reading, (0.9, 1.7)),
    Case(write_after_a_rule_read_it, (_sym(3),)),
    Case(branch_in_loop_flips, (1.3,)),
    Case(branch_in_loop_flips, (0.3,)),
    Case(augmented_with_an_alias_on_one_path, (1.0,)),
    Case(recomputed_value_in_a_list, (0.3,)),
    Case(comprehension_then_augmented_item, ([1.0, 2.0],)),
    Case(long_lines_wrapped_by_printers, (0.3,)),
    Case(unpacking_a_map, (_sym(3), _sym(3), _vec(3))),
    Case(unpacking_zip_and_iterators, ([0.5, -1.5, 2.0],)),
    Case(self_assignment, (_mat(2, 2),)),
    Case(attribute_of_a_temporary, (_mat(2, 3),)),
    Case(helper_writing_its_argument, (_sym(3),)),
    Case(if_test_calling_a_writing_helper, (_sym(3),)),
    Case(method_changing_its_object_result_used, (0.9, 1.2)),
    Case(recursion_deeper_than_the_default_limit_allows, (0.4,)),
    Case(view_made_after_a_write_read_by_a_closure, (_sym(2),)),
    Case(float_equal_to_a_read_item_after_an_update, ([1.0],)),
    Case(values_read_live_through_enumerate, ({"a": 1.0, "b": 2.0, "c": 0.5},)),
    Case(enumerate_with_start_keyword, ([0.5, -1.5, 2.0, 0.25],)),
    Case(float_stored_into_an_integer_array, (0.7,)),
    Case(name_rebound_to_a_second_closure, (_vec(2),)),
    Case(float32_slices_outer_norm, ([1.4, 1.4, 1.2], np.array([1.3, 0.6, 1.2], dtype=np.float32))),
    Case(keywords_into_a_double_star_helper, (0.7, 1.3)),
]
