"""The exception and warning types obskit raises.

Imports: standard library only. Everything else imports this module, never the reverse.

The tree::

    ObskitError
     +-- ConfigError              configure() or an integration got an option it cannot use
     |    +-- MissingDependencyError   the option needs an extra that is not installed
     +-- SLOSpecError             an SLO file is wrong (every problem with file, line and field)
    ObskitWarning (UserWarning)   configuration smells and deprecations, each warned once

None of these is ever raised in the request path: there, obskit drops what it cannot use,
counts it in ``obskit.diagnostics()`` and carries on.
"""

TYPE_CHECKING = False  # not typing.TYPE_CHECKING, nor `from __future__ import annotations`: `import obskit`
if TYPE_CHECKING:  # imports this module and nothing else, and `collections` alone costs a millisecond
    from collections.abc import Sequence

__all__ = [
    "ConfigError",
    "MissingDependencyError",
    "ObskitError",
    "ObskitWarning",
    "SLOProblem",
    "SLOSpecError",
]


class ObskitError(Exception):
    """Base class of every error obskit raises on purpose."""


class ConfigError(ObskitError, ValueError):
    """An option has a value obskit cannot use.

    The message names the option, the value it got and what it accepts, so the fix is in the
    message. Raised at configuration time only.
    """


class MissingDependencyError(ConfigError, ImportError):
    """A feature was asked for whose optional dependency is not installed.

    The message carries the ``pip install 'obskit[extra]'`` line that fixes it.
    """


class SLOProblem:
    """One mistake in an SLO file: where it is, what is wrong and how to fix it.

    A plain slotted class, not a dataclass: ``errors`` is imported by every module and
    ``dataclasses`` alone costs about 10 ms of import time.
    """

    __slots__ = ("field", "file", "fix", "line", "message")

    def __init__(
        self, file: str, line: int | None, field: str, message: str, fix: str | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        self.fix = fix

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SLOProblem):
            return NotImplemented
        return (self.file, self.line, self.field, self.message, self.fix) == (
            other.file, other.line, other.field, other.message, other.fix)

    def __hash__(self) -> int:
        return hash((self.file, self.line, self.field, self.message, self.fix))

    def __repr__(self) -> str:
        return (f"SLOProblem(file={self.file!r}, line={self.line!r}, field={self.field!r}, "
                f"message={self.message!r}, fix={self.fix!r})")

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        text = f"{where}: {self.field}: {self.message}"
        return f"{text}; {self.fix}" if self.fix else text


class SLOSpecError(ObskitError, ValueError):
    """An SLO file has one or more mistakes; ``problems`` lists every one of them."""

    def __init__(self, problems: "Sequence[SLOProblem]") -> None:
        self.problems: tuple[SLOProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ObskitWarning(UserWarning):
    """A configuration smell or a deprecation; emitted once per cause."""
