"""The project's own errors.

Adapters translate library errors into these once, at the boundary
(``raise ... from err``); the command line turns them into one line and an exit code,
the web layer into a problem response. A user never sees a traceback for bad input.

Each error also says, for programs, what it is about: ``field`` names the input it
concerns (a form field, a request body's key), or is None; ``code`` is a stable
snake_case word a client may branch on. Every class has its own code; a raise may give
a more specific one (``name_taken``). The codes are listed in docs/architecture.md and,
once there, never change meaning.
"""

from __future__ import annotations


class CloudOSError(Exception):
    """Base of every error a user may see; ``str()`` is the message shown."""

    exit_code: int = 1
    http_status: int = 400
    default_code: str = "error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.code = code or self.default_code


class InvalidInput(CloudOSError):
    """Input (a file, a value, a flag) is not valid; the message says where and why."""

    exit_code = 1
    http_status = 422
    default_code = "invalid_input"


class Forbidden(CloudOSError):
    """The caller may not do this: a role it lacks, or a space's policy or quota."""

    exit_code = 1
    http_status = 403
    default_code = "forbidden"


class NotFound(CloudOSError):
    """An object the request names does not exist (or is not visible to the caller)."""

    exit_code = 1
    http_status = 404
    default_code = "not_found"


class Unauthenticated(CloudOSError):
    """The caller did not prove who they are (no, bad or expired credentials)."""

    exit_code = 1
    http_status = 401
    default_code = "unauthenticated"


class Conflict(CloudOSError):
    """The request conflicts with the current state (a name taken, a port in use)."""

    exit_code = 1
    http_status = 409
    default_code = "conflict"


class EnvironmentProblem(CloudOSError):
    """The machine cannot run the cloud as asked: no engine, port taken, not writable."""

    exit_code = 2
    http_status = 503
    default_code = "environment_problem"


__all__ = [
    "CloudOSError",
    "Conflict",
    "EnvironmentProblem",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "Unauthenticated",
]
