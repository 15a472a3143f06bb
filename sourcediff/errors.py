"""The errors sourcediff raises on purpose; all derive from `SourceDiffError`."""


class SourceDiffError(Exception):
    """Base of every error sourcediff raises on purpose.

    Where the error concerns user code, the message names the function, its file and line,
    quotes the offending code and says what to do.
    """

    def __init__(self, problem, *, function=None, filename=None, line=None, code=None, hint=None):
        self.problem, self.function, self.filename, self.line = problem, function, filename, line
        self.code, self.hint = code, hint
        super().__init__(self._message())

    def _message(self):
        parts = [self.problem]
        if self.function is not None:
            where = f"in {self.function}"
            if self.filename is not None:
                where += f" ({self.filename}, line {self.line})"
            parts.append(where)
        if self.code:
            parts.append("    " + self.code.strip())
        if self.hint:
            parts.append(self.hint)
        return "\n".join(parts)


class UnsupportedSyntaxError(SourceDiffError):
    """A construct the transformer cannot differentiate."""


class NoRuleError(SourceDiffError):
    """A callee has neither a registered rule nor Python source to transform."""


class SourceUnavailableError(SourceDiffError):
    """The source of a function to differentiate cannot be read."""


class NonScalarOutputError(SourceDiffError):
    """`gradient` was asked for a function whose output is not a real scalar."""


class RuleError(SourceDiffError):
    """A rule was registered or used incorrectly."""


class InternalError(SourceDiffError):
    """sourcediff itself failed: a bug to report. The message names the function being differentiated."""


def display_name(function):
    """The name of a function as the user wrote it (without the generated functions it was made in)."""
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or type(function).__name__
    while "sourcediff_derivative.<locals>." in name:
        prefix, _, rest = name.partition("sourcediff_derivative.<locals>.")
        generated, _, rest = rest.partition(".<locals>.")
        name = prefix + generated.removesuffix("_forward").removesuffix("_pullback") + ".<locals>." + rest
    return name
