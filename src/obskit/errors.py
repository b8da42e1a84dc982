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

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class SLOProblem:
    """One mistake in an SLO file: where it is, what is wrong and how to fix it."""

    file: str
    line: int | None
    field: str
    message: str
    fix: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        text = f"{where}: {self.field}: {self.message}"
        return f"{text}; {self.fix}" if self.fix else text


class SLOSpecError(ObskitError, ValueError):
    """An SLO file has one or more mistakes; ``problems`` lists every one of them."""

    def __init__(self, problems: Sequence[SLOProblem]) -> None:
        self.problems: tuple[SLOProblem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ObskitWarning(UserWarning):
    """A configuration smell or a deprecation; emitted once per cause."""
