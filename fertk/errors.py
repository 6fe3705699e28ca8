"""Exception types: user errors (one line, no traceback) versus bugs."""

from __future__ import annotations


class FertkError(Exception):
    """A user error: bad input, an unknown name, a missing file or optional dependency.

    The CLI prints ``Error: <message>`` on one line and exits with status 1 or 2. Anything
    that is not a ``FertkError`` is a bug and keeps its traceback.
    """


class MissingDependencyError(FertkError):
    """An optional package that a component needs is not installed."""

    def __init__(self, component: str, package: str, extra: str | None = None):
        hint = f"pip install {package}" if extra is None else f"pip install '{extra}'"
        super().__init__(f"{component} needs the package '{package}', which is not installed ({hint})")
        self.component = component
        self.package = package


def one_line(exc: BaseException) -> str:
    """``"TypeName: first line of the message"`` (or just the type name) for error messages."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
