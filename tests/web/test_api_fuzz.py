"""Schemathesis walks every operation of the OpenAPI document: every answer is documented.

This is ``schemathesis run`` in-process: the schema is read from the real app
(``/api/v1/openapi.json``) and every operation gets requests with valid and invalid
data (Schemathesis' positive and negative generation) over the ASGI transport (no
network, no server), as three callers in turn: a cluster admin, a viewer of the seeded
space, and a stranger to it (the owner of another space). No answer may be a 5xx, and
each must be one the document declares, with the declared content type and a body
that matches the declared schema (Schemathesis' conformance checks). The loop is
written here rather than with ``schema.parametrize()``: Schemathesis' pytest plugin
fails on pytest 9.2 (it sets ``request.node._nodeid``), and each operation needs its
own database anyway.

Each operation gets a fresh control plane (its own SQLite database), seeded through
the API with a space, a WordPress app from the catalog (it has a MySQL addon), a route,
a domain and a redirect, so no operation's deletes starve the next of objects. Half of
the fuzzed requests name the seeded objects wherever a field names one (``space``,
``name``, ``app``, ``template``...), so the fuzzer reaches the code behind the 404s.

The engine is a fake swarm that runs nothing: these requests must never create Docker
objects, and no reconciler runs (``reconcile=False``), so an empty swarm is also what a
real engine would show.

Deterministic: Hypothesis derandomized and without its example database, so every
run sends the same requests. ``CLOUDOS_FUZZ_EXAMPLES`` (default 25) is the
number of fuzzed examples per operation for the admin (a third of it for the viewer
and the stranger, who are mostly refused early); raise it by hand for a deeper run.
"""

from __future__ import annotations

import os
import shutil
import traceback
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import docker.errors
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Ok

from cloudos.identity import create_token, create_user, set_member
from cloudos.settings import Settings
from cloudos.spaces import get_space
from cloudos.store import Database, open_database
from cloudos.web import create_app

MAX_EXAMPLES = int(os.environ.get("CLOUDOS_FUZZ_EXAMPLES", "25"))
# The viewer and the stranger are mostly refused early: fewer examples find as much.
CALLERS = {
    "admin": MAX_EXAMPLES,
    "viewer": max(1, MAX_EXAMPLES // 5),
    "stranger": max(1, MAX_EXAMPLES // 5),
}
SEED = 20251122  # Schemathesis' own seed; Hypothesis is derandomized on top of it

SPACE, APP, TEMPLATE, ROUTE_DOMAIN = "acme", "blog", "org.wordpress.wordpress", "www.acme.test"
OTHER_SPACE = "rival"  # the stranger owns it: a member of the cloud, not of SPACE
NO_SPACE = "nowhere"  # no such space: what SPACE must look like to the stranger
# The seeded objects, by the name of the field that names one.
SEEDED: dict[str, str | int] = {
    "space": SPACE,
    "app": APP,
    "template": TEMPLATE,
    "kind": "mysql",
    "number": 1,
    "domain": ROUTE_DOMAIN,
}
# In a path ``name`` is an existing app; in a body it names a new object.
SEEDED_PATH = {**SEEDED, "name": APP}

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_Case: TypeAlias = "schemathesis.Case[schemathesis.APIOperation[Any, Any, Any, Any]]"


class _Nothing:
    """A Docker SDK collection (services, containers, volumes...) with nothing in it."""

    def list(self, *args: object, **kwargs: object) -> list[object]:
        return []

    def get(self, name: str, *args: object, **kwargs: object) -> object:
        raise docker.errors.NotFound(f"no such object: {name}")


class _NothingApi:
    """The low-level API of an engine with no services, tasks or networks."""

    def services(self, *args: object, **kwargs: object) -> list[object]:
        return []

    def tasks(self, *args: object, **kwargs: object) -> list[object]:
        return []

    def networks(self, *args: object, **kwargs: object) -> list[object]:
        return []


class _EmptySwarm:
    """A swarm manager running nothing: what a cloud that never reconciled observes."""

    def __init__(self) -> None:
        self.api = _NothingApi()
        self.services = self.containers = self.volumes = _Nothing()
        self.networks = self.secrets = self.configs = _Nothing()

    def version(self) -> dict[str, object]:
        return {"Version": "28.2.2", "ApiVersion": "1.50"}

    def info(self) -> dict[str, object]:
        return {
            "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
            "Architecture": "x86_64",
            "Swarm": {"LocalNodeState": "active", "ControlAvailable": True, "Nodes": 1},
        }

    def close(self) -> None:
        pass


def _control_plane(data_dir: Path) -> tuple[FastAPI, Database]:
    """The control plane of the data directory ``data_dir``, on a fake empty swarm."""
    database = open_database(f"sqlite:///{data_dir / 'cloudos.db'}")
    settings = Settings(data_dir=data_dir, instance="fuzz", endpoint_mode="vip")
    app = create_app(
        settings=settings,
        database=database,
        connect_engine=_EmptySwarm,  # type: ignore[arg-type]  # a fake: what the API reaches
        reconcile=False,
    )
    return app, database


def _seed(data_dir: Path) -> dict[str, str]:
    """Fill a new data directory with the seeded objects; a token of each caller."""
    data_dir.mkdir()
    app, database = _control_plane(data_dir)
    with database.session() as session:
        user = create_user(session, username="root", password="pw", is_admin=True)
        tokens = {"admin": create_token(session, user=user, name="fuzz")}
        for name in ("viewer", "stranger"):
            tokens[name] = create_token(
                session, user=create_user(session, username=name, password="pw"), name="fuzz"
            )
    seeds: list[tuple[str, dict[str, object]]] = [
        ("/api/v1/spaces", {"name": SPACE}),
        ("/api/v1/spaces", {"name": OTHER_SPACE}),
        (f"/api/v1/spaces/{SPACE}/apps", {"name": APP, "template": TEMPLATE}),
        ("/api/v1/routes", {"space": SPACE, "app": APP, "domain": ROUTE_DOMAIN}),
        ("/api/v1/domains", {"space": SPACE, "name": "acme.test", "tls": "internal"}),
        (
            "/api/v1/redirects",
            {"space": SPACE, "domain": "acme.test", "to": f"https://{ROUTE_DOMAIN}"},
        ),
    ]
    with TestClient(app, headers={"Authorization": f"Bearer {tokens['admin']}"}) as client:
        for path, body in seeds:
            response = client.post(path, json=body)
            assert response.status_code == 201, (path, response.text)
    with database.session() as session:
        for space, name, role in ((SPACE, "viewer", "viewer"), (OTHER_SPACE, "stranger", "owner")):
            set_member(
                session, get_space(session, space), username=name, role=role, granted_by="owner"
            )
    database.close()
    return tokens


@dataclass
class _FreshPerOperation:
    """An ASGI app that is a new seeded control plane for every operation.

    The objects are seeded once; each operation gets a copy of that data directory
    (database and vault key), which is much cheaper than seeding again.

    The server's own error middleware has answered 500 before an exception reaches
    here; uvicorn would log it and go on, this keeps it for the failure's report.
    """

    root: Path
    label: str | None = None
    app: FastAPI | None = None
    database: Database | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    caller: str = "admin"
    built: int = field(default=0)
    raised: Exception | None = None

    def use(self, label: str) -> dict[str, str]:
        """Switch to a fresh control plane when ``label`` is a new operation; the caller's
        auth header."""
        seeded = self.root / "seeded"
        if not self.tokens:
            self.tokens = _seed(seeded)
        if label != self.label or self.app is None:
            self.close()
            self.built += 1
            copy = self.root / f"operation-{self.built}"
            shutil.copytree(seeded, copy)
            self.app, self.database = _control_plane(copy)
            self.label = label
        return {"Authorization": f"Bearer {self.tokens[self.caller]}"}

    def close(self) -> None:
        """Close the current control plane's database."""
        if self.database is not None:
            self.database.close()
            self.database = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:  # the schema is read before any operation runs
            self.use("")
        assert self.app is not None
        try:
            await self.app(scope, receive, send)
        except Exception as err:
            if scope["type"] != "http":
                raise
            self.raised = err

    def where_it_raised(self) -> str | None:
        """The last exception the app raised, with the project's own frames only."""
        if self.raised is None:
            return None
        frames = [
            frame
            for frame in traceback.extract_tb(self.raised.__traceback__)
            if "/cloudos/" in frame.filename
        ]
        lines = traceback.format_list(frames)
        return "".join([*lines, *traceback.format_exception_only(self.raised)])


def _names_the_space(case: _Case) -> bool:
    body = case.body
    return (case.path_parameters or {}).get("space") == SPACE or (
        isinstance(body, dict) and body.get("space") == SPACE
    )


def _elsewhere(case: _Case) -> _Case:
    """The same request, naming a space that does not exist instead of the seeded one."""
    body = case.body
    if isinstance(body, dict) and body.get("space") == SPACE:
        body = {**body, "space": NO_SPACE}
    path = case.path_parameters or {}
    return case.operation.Case(
        path_parameters={**path, "space": NO_SPACE} if path.get("space") == SPACE else path,
        query=case.query,
        headers=case.headers,
        cookies=case.cookies,
        body=body,
        media_type=case.media_type,
    )


def _tenant_boundary(caller: str) -> Callable[..., bool | None]:
    """A check that the seeded space holds against ``caller``, however a request names it.

    For a stranger the space does not exist: a request naming it gets exactly the
    answer the same request naming a space that does not exist gets. A viewer's
    change in it never succeeds.
    """

    @schemathesis.check
    def tenant_boundary(ctx: Any, response: Any, case: _Case) -> bool | None:
        if not _names_the_space(case):
            return None
        status = response.status_code
        if caller == "stranger":
            expected = _elsewhere(case).call().status_code
            assert status == expected, (
                f"a stranger to {SPACE!r} got {status}; for a space that does not exist, {expected}"
            )
        if caller == "viewer" and case.method.upper() != "GET":
            assert status >= 400, f"a viewer of {SPACE!r} changed something: {status}"
        return None

    return tenant_boundary


def _checks(caller: str) -> list[Callable[..., bool | None]]:
    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        _tenant_boundary(caller),
    ]


def _naming_seeds(case: _Case) -> _Case:
    """The same request, naming the seeded objects wherever a field names one."""
    body = case.body
    if isinstance(body, dict):
        body = {key: SEEDED.get(key, value) for key, value in body.items()}
        values = body.get("values")
        if isinstance(values, dict) and values:
            # A fuzzed value for a parameter the seeded template has.
            body["values"] = {"table_prefix": next(iter(values.values()))}
    return case.operation.Case(
        path_parameters={
            key: SEEDED_PATH.get(key, value) for key, value in (case.path_parameters or {}).items()
        },
        query={key: SEEDED.get(key, value) for key, value in (case.query or {}).items()},
        headers=case.headers,
        cookies=case.cookies,
        body=body,
        media_type=case.media_type,
    )


@pytest.fixture
def control_plane(tmp_path: Path) -> Iterator[_FreshPerOperation]:
    """The app under test: a fresh seeded control plane for each operation."""
    app = _FreshPerOperation(tmp_path)
    yield app
    app.close()


@pytest.mark.slow
@pytest.mark.parametrize("caller", list(CALLERS))
def test_every_answer_is_a_documented_one(
    control_plane: _FreshPerOperation, subtests: pytest.Subtests, caller: str
) -> None:
    control_plane.caller = caller
    checks = _checks(caller)
    config = schemathesis.Config.from_dict({"seed": SEED, "generation": {"database": "none"}})
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", control_plane, config=config)
    # An operation Schemathesis cannot read (an Err) is missing from the count below.
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    documented = schema.raw_schema["paths"]
    assert len(operations) == sum(len(methods) for methods in documented.values())
    for operation in operations:
        with subtests.test(operation.label):
            cases = st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )

            @settings(
                max_examples=CALLERS[caller],
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(cases.flatmap(lambda case: st.sampled_from([case, _naming_seeds(case)])))
            def send(case: _Case) -> None:
                # Negative cases may carry their own Authorization: always send the caller's.
                auth = control_plane.use(case.operation.label)
                # Kept a plain dict, as before: Schemathesis takes one where it types its own.
                case.headers = {**dict(case.headers or {}), **auth}  # type: ignore[assignment]
                control_plane.raised = None
                try:
                    case.call_and_validate(checks=checks)
                except (Exception, BaseExceptionGroup) as failure:
                    where = control_plane.where_it_raised()
                    if where is not None:
                        failure.add_note(f"The app raised:\n{where}")
                    raise

            send()
