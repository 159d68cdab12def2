"""Running commands inside a service's task container on this node (``docker exec``).

The control plane provisions databases without joining their networks: it runs the
server's own client (``mariadb``, ``psql``, ``redis-cli``) inside the server's
container. Secrets go in through the environment or stdin, never the command line,
so no process list shows them. Output comes back demultiplexed (stdout, stderr).

Only containers on the engine this client talks to are visible, so a service whose
commands are run here must be placed on this node.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import docker
from docker.errors import APIError, DockerException, NotFound

from cloudos.errors import EnvironmentProblem

SERVICE_NAME_LABEL = "com.docker.swarm.service.name"
_STDOUT, _STDERR = 1, 2
_CHUNK = 64 * 1024
_ERROR_TAIL = 4096


class ExecResult(NamedTuple):
    """What a command run in a container left: exit code, stdout, stderr."""

    exit_code: int
    output: bytes
    errors: bytes


def running_container(client: docker.DockerClient, *, service: str) -> Any:
    """A running task container of ``service`` on this node (healthy ones first)."""
    try:
        containers = client.containers.list(
            filters={"label": f"{SERVICE_NAME_LABEL}={service}", "status": "running"}
        )
    except APIError as err:
        raise EnvironmentProblem(
            f"the Docker engine refused to list containers: {err.explanation or err}"
        ) from err
    if not containers:
        raise EnvironmentProblem(f"service {service} has no running task on this node")
    return sorted(containers, key=lambda container: _health(container) != "healthy")[0]


def service_health(client: docker.DockerClient, *, service: str) -> str | None:
    """Health of the running task of ``service`` on this node (None: none is running).

    One of ``healthy``, ``unhealthy``, ``starting`` or ``none`` (no health check).
    """
    try:
        container = running_container(client, service=service)
    except EnvironmentProblem:
        return None
    return _health(container)


def _health(container: Any) -> str:
    state = container.attrs.get("State") or {}
    return str((state.get("Health") or {}).get("Status") or "none")


def exec_in_service(
    client: docker.DockerClient,
    *,
    service: str,
    argv: list[str],
    env: Mapping[str, str] | None = None,
    stdin: bytes | Iterable[bytes] | None = None,
    user: str | None = None,
    timeout: float = 60.0,
) -> ExecResult:
    """Run ``argv`` in a running task of ``service``; wait at most ``timeout`` seconds."""
    output: list[bytes] = []
    errors: list[bytes] = []
    deadline = time.monotonic() + timeout
    with _Exec(client, service=service, argv=argv, env=env, stdin=stdin, user=user) as run:
        for stream, data in run.frames(idle_timeout=timeout):
            (output if stream == _STDOUT else errors).append(data)
            if time.monotonic() > deadline:
                raise EnvironmentProblem(
                    f"{argv[0]} in service {service} did not finish within {timeout:.0f} s"
                )
        return ExecResult(run.exit_code(), b"".join(output), b"".join(errors))


def exec_stream(
    client: docker.DockerClient,
    *,
    service: str,
    argv: list[str],
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    idle_timeout: float = 300.0,
) -> Iterator[bytes]:
    """Stream the stdout of ``argv`` run in ``service``; raise at the end if it failed.

    ``idle_timeout`` bounds the wait for each chunk, not the whole stream (dumps of any
    size take as long as they take).
    """
    errors = bytearray()
    with _Exec(client, service=service, argv=argv, env=env, stdin=None, user=user) as run:
        for stream, data in run.frames(idle_timeout=idle_timeout):
            if stream == _STDOUT:
                yield data
            else:
                errors += data
                del errors[:-_ERROR_TAIL]
        code = run.exit_code()
    if code != 0:
        raise EnvironmentProblem(
            f"{argv[0]} in service {service} failed (exit code {code}): {_last_line(bytes(errors))}"
        )


def _last_line(data: bytes) -> str:
    lines = data.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no error output"


class _Exec:
    """One exec instance: created, started with a hijacked socket, inspected at the end."""

    def __init__(
        self,
        client: docker.DockerClient,
        *,
        service: str,
        argv: list[str],
        env: Mapping[str, str] | None,
        stdin: bytes | Iterable[bytes] | None,
        user: str | None,
    ) -> None:
        self._client = client
        self._service = service
        self._argv = argv
        self._env = dict(env or {})
        self._stdin = stdin
        self._user = user
        self._id = ""
        self._socket: socket.socket | None = None
        self._hijacked: Any = None
        self._writer: threading.Thread | None = None
        self._write_error: BaseException | None = None

    def __enter__(self) -> _Exec:
        container = running_container(self._client, service=self._service)
        try:
            created = self._client.api.exec_create(
                container.id,
                self._argv,
                stdout=True,
                stderr=True,
                stdin=self._stdin is not None,
                environment=self._env or None,
                user=self._user or "",
            )
            self._id = str(created["Id"])
            hijacked = self._client.api.exec_start(self._id, socket=True)
        except NotFound as err:
            raise EnvironmentProblem(
                f"the task of service {self._service} went away: {err.explanation or err}"
            ) from err
        except (APIError, DockerException) as err:
            raise EnvironmentProblem(
                f"could not run {self._argv[0]} in service {self._service}: {err}"
            ) from err
        self._hijacked = hijacked
        raw: Any = hijacked
        self._socket = getattr(raw, "_sock", raw)
        if self._stdin is not None:
            self._writer = threading.Thread(target=self._write, daemon=True)
            self._writer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._socket is not None:
            self._socket.close()
        if self._writer is not None:
            self._writer.join(timeout=5)
        if self._hijacked is not None:
            # The socket only really closes once the file object made from it is closed.
            with contextlib.suppress(OSError):
                self._hijacked.close()

    def _write(self) -> None:
        assert self._socket is not None
        chunks = [self._stdin] if isinstance(self._stdin, bytes) else self._stdin
        try:
            for chunk in chunks or ():
                if chunk:
                    self._socket.sendall(chunk)
        except BaseException as err:  # reported by exit_code(); the reader sees EOF
            self._write_error = err
        finally:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_WR)  # EOF on the command's stdin

    def frames(self, *, idle_timeout: float) -> Iterator[tuple[int, bytes]]:
        """(stream, data) frames until the command closes its output."""
        assert self._socket is not None
        self._socket.settimeout(idle_timeout)
        try:
            while True:
                header = self._read_exactly(8)
                if header is None:
                    return
                stream, size = struct.unpack(">BxxxL", header)
                data = self._read_exactly(size) if size else b""
                if data is None:
                    return
                yield stream, data
        except TimeoutError as err:
            raise EnvironmentProblem(
                f"{self._argv[0]} in service {self._service} gave no output for "
                f"{idle_timeout:.0f} s"
            ) from err

    def _read_exactly(self, size: int) -> bytes | None:
        assert self._socket is not None
        buffer = bytearray()
        while len(buffer) < size:
            chunk = self._socket.recv(min(size - len(buffer), _CHUNK))
            if not chunk:
                return None
            buffer += chunk
        return bytes(buffer)

    def exit_code(self) -> int:
        """The command's exit code (waits briefly for the engine to record it)."""
        if self._writer is not None:
            self._writer.join(timeout=5)
        if self._write_error is not None:
            raise EnvironmentProblem(
                f"could not send input to {self._argv[0]} in service {self._service}: "
                f"{self._write_error}"
            ) from self._write_error
        deadline = time.monotonic() + 10
        while True:
            try:
                state = self._client.api.exec_inspect(self._id)
            except (APIError, DockerException) as err:
                raise EnvironmentProblem(f"could not inspect a command's result: {err}") from err
            if not state.get("Running") and state.get("ExitCode") is not None:
                return int(state["ExitCode"])
            if time.monotonic() > deadline:
                raise EnvironmentProblem(
                    f"{self._argv[0]} in service {self._service} closed its output but did not exit"
                )
            time.sleep(0.05)


__all__ = [
    "ExecResult",
    "exec_in_service",
    "exec_stream",
    "service_health",
]
