"""The corpus of differentiated functions: `Case(function, args)` pairs in `functions.CORPUS`."""
from dataclasses import dataclass, field


@dataclass
class Case:
    """A function to differentiate and the positional arguments to differentiate it at."""

    function: object
    args: tuple = field(default_factory=tuple)

    @property
    def name(self):
        return self.function.__name__
