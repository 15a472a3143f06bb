"""Differential types (ChainRules vocabulary) and the arithmetic of cotangents.

`Zero()` and `One()` are cheap stand-ins for 0 and 1, `Thunk` defers work until `extern` is
called, `InplaceableThunk` can also add itself into an existing buffer, and `Tangent` is the
structural differential of an object, dataclass, namedtuple or closure (one entry per field).
Lists, tuples and dicts are their own structural differentials.

    >>> import numpy as np
    >>> accumulate(Zero(), 2.0)
    2.0
    >>> (np.ones(2) + Zero()).dtype
    dtype('float64')
    >>> extern(Thunk(lambda: 3.0) * 2.0)
    6.0
"""
import numpy as np


class AbstractDifferential:
    """Base of the special differential types. NumPy defers binary operations to them."""

    __array_ufunc__ = None
    __slots__ = ()


class Zero(AbstractDifferential):
    """The zero differential: adding it is free and multiplying by it gives `Zero()`."""

    __slots__ = ()

    def __new__(cls):
        instance = cls.__dict__.get("_instance")
        if instance is None:
            instance = object.__new__(cls)
            cls._instance = instance
        return instance

    def __repr__(self):
        return "Zero()"

    def __bool__(self):
        return False

    def __add__(self, other):
        return other

    __radd__ = __add__

    def __sub__(self, other):
        return -extern(other)

    def __rsub__(self, other):
        return other

    def __mul__(self, other):
        return self

    __rmul__ = __matmul__ = __rmatmul__ = __truediv__ = __mul__

    def __neg__(self):
        return self

    def __getitem__(self, index):
        return self

    __iter__ = None  # every entry is zero, but a zero has no length: iterating it is an error, not an endless loop

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __eq__(self, other):
        return isinstance(other, Zero) or (not isinstance(other, AbstractDifferential) and np.all(other == 0))

    def __hash__(self):
        return 0


class NoFields(Zero):
    """The `∂self` of a function that has no fields (ChainRules' `NO_FIELDS`)."""

    __slots__ = ()

    def __repr__(self):
        return "NO_FIELDS"


NO_FIELDS = NoFields()
ZERO = Zero()


class One(AbstractDifferential):
    """The unit differential: multiplying by it returns the other factor unchanged."""

    __slots__ = ()

    def __repr__(self):
        return "One()"

    def __mul__(self, other):
        return other

    __rmul__ = __mul__

    def __add__(self, other):
        return 1.0 + extern(other)

    __radd__ = __add__

    def __neg__(self):
        return -1.0

    def __float__(self):
        return 1.0


class Thunk(AbstractDifferential):
    """A deferred differential: `fn()` runs only when the value is needed, and at most once."""

    __slots__ = ("fn", "_value")

    def __init__(self, fn):
        self.fn = fn
        self._value = _UNSET

    def __repr__(self):
        return f"Thunk({self.fn!r})"

    def value(self):
        if self._value is _UNSET:
            self._value = extern(self.fn())
        return self._value

    def __add__(self, other):
        return accumulate(self.value(), other)

    def __radd__(self, other):
        return accumulate(other, self.value())

    def __sub__(self, other):
        return self.value() - extern(other)

    def __rsub__(self, other):
        return extern(other) - self.value()

    def __mul__(self, other):
        return self.value() * extern(other)

    def __rmul__(self, other):
        return extern(other) * self.value()

    def __matmul__(self, other):
        return self.value() @ extern(other)

    def __rmatmul__(self, other):
        return extern(other) @ self.value()

    def __truediv__(self, other):
        return self.value() / extern(other)

    def __neg__(self):
        return -self.value()

    def __getitem__(self, index):
        return self.value()[index]

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.value(), name)


class InplaceableThunk(Thunk):
    """A `Thunk` that can also add itself into an array it may overwrite.

    `add_into(buffer)` adds the differential to `buffer` in place and returns it; `thunk`
    computes the differential on its own.
    """

    __slots__ = ("add_into",)

    def __init__(self, thunk, add_into):
        super().__init__(thunk.fn if isinstance(thunk, Thunk) else thunk)
        self.add_into = add_into


_UNSET = object()


class Tangent:
    """Structural differential of an object: one entry per field, read by attribute.

    Fields that are absent are zero. `primal_type` records what the tangent belongs to. The
    tangent of a namedtuple is also read by position, as the namedtuple is: indexing, slicing
    (a tuple), `len`, iteration and unpacking go through its fields in order.

        >>> t = Tangent(x=1.0) + Tangent(x=2.0, y=3.0)
        >>> t.x, t.y
        (3.0, 3.0)
        >>> from collections import namedtuple
        >>> x_bar, y_bar = Tangent(namedtuple("Point", "x y"), y=2.0)
        >>> x_bar, y_bar
        (Zero(), 2.0)
    """

    __slots__ = ("primal_type", "fields")

    def __init__(self, primal_type=None, /, **fields):
        object.__setattr__(self, "primal_type", primal_type)
        object.__setattr__(self, "fields", fields)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self.fields.get(name, ZERO)

    def __setattr__(self, name, value):
        raise AttributeError("Tangent is immutable; use tangent.replace(name=value)")

    def replace(self, **changes):
        return Tangent(self.primal_type, **{**self.fields, **changes})

    def _entries(self):
        """The entries in field order, for a namedtuple's tangent; a TypeError for any other."""
        names = getattr(self.primal_type, "_fields", None)
        if not isinstance(self.primal_type, type) or not issubclass(self.primal_type, tuple) or names is None:
            raise TypeError(f"the tangent of {getattr(self.primal_type, '__name__', 'an object')} has no positions")
        return [self.fields.get(name, ZERO) for name in names]

    def __getitem__(self, index):
        entries = self._entries()
        return tuple(entries[index]) if isinstance(index, slice) else entries[index]

    def __len__(self):
        return len(self._entries())

    def __iter__(self):
        return iter(self._entries())

    def __bool__(self):
        return True

    def __repr__(self):
        name = getattr(self.primal_type, "__name__", None)
        items = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"Tangent({name}, {items})" if name else f"Tangent({items})"

    def __eq__(self, other):
        if not isinstance(other, Tangent):
            return NotImplemented
        keys = set(self.fields) | set(other.fields)
        return all(np.all(extern(getattr(self, k)) == extern(getattr(other, k))) for k in keys)

    __hash__ = None

    def __add__(self, other):
        return accumulate(self, other)

    __radd__ = __add__

    def __mul__(self, scale):
        return Tangent(self.primal_type, **{k: v * scale for k, v in self.fields.items()})

    __rmul__ = __mul__


def is_zero(d):
    """True for `Zero()` (and `NO_FIELDS`) and `None`, the two spellings of 'no differential'."""
    return d is None or isinstance(d, Zero)


def extern(d):
    """Turn a differential into an ordinary value: thunks are evaluated, `One()` is 1.0.

    `Zero()` stays `Zero()`, since its shape is unknown; containers are externed entry by entry.
    """
    kind = type(d)
    if kind is float or kind is np.ndarray:
        return d
    if isinstance(d, Thunk):
        return d.value()
    if kind is One:
        return 1.0
    if kind is list:
        return [extern(v) for v in d]
    if kind is tuple:
        return tuple(extern(v) for v in d)
    if kind is dict:
        return {k: extern(v) for k, v in d.items()}
    return d


def accumulate(a, b):
    """The sum of two cotangents of the same primal, for every combination of differentials.

    Zeros are never materialised, containers are added entry by entry (a list cotangent is
    not concatenated), and `Tangent`s field by field.
    """
    if a is None or isinstance(a, Zero):
        return ZERO if b is None else b
    if b is None or isinstance(b, Zero):
        return a
    kind_a, kind_b = type(a), type(b)
    if kind_b is InplaceableThunk and kind_a is np.ndarray:
        return b.add_into(a.copy())
    if isinstance(a, Thunk):
        a = a.value()
        kind_a = type(a)
    if isinstance(b, Thunk):
        b = b.value()
        kind_b = type(b)
    if kind_a is list or kind_a is tuple:
        if kind_b is not kind_a or len(a) != len(b):
            raise TypeError(f"cannot add cotangents {a!r} and {b!r}")
        return kind_a(accumulate(x, y) for x, y in zip(a, b))
    if kind_a is dict:
        merged = dict(a)
        for key, value in b.items():
            merged[key] = accumulate(merged.get(key), value)
        return merged
    if kind_a is Tangent:
        if kind_b is not Tangent:
            raise TypeError(f"cannot add cotangents {a!r} and {b!r}")
        fields = dict(a.fields)
        for key, value in b.fields.items():
            fields[key] = accumulate(fields.get(key), value)
        return Tangent(a.primal_type or b.primal_type, **fields)
    return extern(a) + extern(b)
