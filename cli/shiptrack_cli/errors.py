"""Exit codes and the errors the CLI reports (docs/cli.md, "Errors and exit codes").

Commands raise a :class:`CliError` where something fails; the root command group is the one place that prints it
(:mod:`shiptrack_cli.render`) and exits with its :attr:`CliError.exit_code`.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What ``shiptrack`` exits with. Scripts may rely on these numbers."""

    OK = 0
    API_ERROR = 1  # the API answered with a problem (4xx/5xx), after the retries it allows
    USAGE = 2  # bad arguments, or an input file that cannot be imported (Click uses 2 for usage errors too)
    UNREACHABLE = 3  # the API (or the local stack's moto) could not be reached, or did not answer in time
    IMPORT_ROWS_FAILED = 4  # the import completed, but some rows failed (they are written to FILE.failed.csv)
    IMPORT_FAILED = 5  # the import itself ended with status `failed`
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class CliError(Exception):
    """Something the user must hear about, with the exit code it ends the command with."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputFileError(CliError):
    """An input file that cannot be sent: unreadable, not in the expected encoding or format, no rows."""

    exit_code = ExitCode.USAGE


class ApiUnreachableError(CliError):
    """No HTTP answer at all: connection refused, DNS, TLS, or a timeout."""

    exit_code = ExitCode.UNREACHABLE


class ApiError(CliError):
    """The API answered with an error status. ``problem`` is its problem+json body (RFC 9457) when it sent one."""

    exit_code = ExitCode.API_ERROR

    def __init__(
        self,
        status: int,
        problem: dict[str, Any],
        *,
        method: str,
        path: str,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        title = str(problem.get("title") or problem.get("message") or f"HTTP {status}")
        super().__init__(f"{status} {title}", hint=hint)
        self.status = status
        self.problem = problem
        self.method = method
        self.path = path
        self.retry_after = retry_after

    @property
    def code(self) -> str | None:
        code = self.problem.get("code")
        return str(code) if code is not None else None


class Interrupted(CliError):
    """Ctrl-C: the command stopped; the message says what goes on without it."""

    exit_code = ExitCode.INTERRUPTED
