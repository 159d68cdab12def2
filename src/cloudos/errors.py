"""The project's own errors.

Adapters translate library errors into these once, at the boundary
(``raise ... from err``); the command line turns them into one line and an exit code,
the web layer into a problem response. A user never sees a traceback for bad input.
"""

from __future__ import annotations


class CloudOSError(Exception):
    """Base of every error a user may see; ``str()`` is the message shown."""

    exit_code: int = 1
    http_status: int = 400


class InvalidInput(CloudOSError):
    """Input (a file, a value, a flag) is not valid; the message says where and why."""

    exit_code = 1
    http_status = 422


class Forbidden(CloudOSError):
    """The caller may not do this: a role it lacks, or a space's policy or quota."""

    exit_code = 1
    http_status = 403


class NotFound(CloudOSError):
    """An object the request names does not exist (or is not visible to the caller)."""

    exit_code = 1
    http_status = 404


class Unauthenticated(CloudOSError):
    """The caller did not prove who they are (no, bad or expired credentials)."""

    exit_code = 1
    http_status = 401


class Conflict(CloudOSError):
    """The request conflicts with the current state (a name taken, a port in use)."""

    exit_code = 1
    http_status = 409


class EnvironmentProblem(CloudOSError):
    """The machine cannot run the cloud as asked: no engine, port taken, not writable."""

    exit_code = 2
    http_status = 503


__all__ = [
    "CloudOSError",
    "Conflict",
    "EnvironmentProblem",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "Unauthenticated",
]
