"""Every API operation, called by every kind of caller, answers as the permission
table in docs/security.md says: in the caller's own space and in another one.

Each call runs on a fresh copy of one seeded database, so what one call changes
(a removal, a new member) cannot hide what the next one would do.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudos.errors import EnvironmentProblem
from cloudos.identity import create_token, create_user, set_member
from cloudos.settings import Settings
from cloudos.store import open_database
from cloudos.store.models import Space
from cloudos.web import create_app
from cloudos.web._auth import (
    PERMISSIONS,
    SPACE_ROLES,
    api_operations,
    permission_table,
    unguarded,
)

DOCS = Path(__file__).parents[2] / "docs" / "security.md"
ROLE_RANK = {role: rank for rank, role in enumerate(SPACE_ROLES)}


@dataclass(frozen=True)
class Caller:
    """Someone calling the API: a cluster admin, a member with a role, or a stranger."""

    name: str
    token: str | None = None
    role: str | None = None  # role in the space "own"
    admin: bool = False
    scoped: bool = False  # a token scoped to one space


def _no_engine() -> Any:
    raise EnvironmentProblem("no engine in this test")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Caller]]:
    """A database with the spaces "own" and "other", an app, a route, a domain, a
    redirect, and a caller of every kind; returns its file and the callers."""
    root = tmp_path_factory.mktemp("seed")
    database = open_database(f"sqlite:///{root / 'cloudos.db'}")
    callers = [Caller("anonymous")]
    with database.session() as session:
        root_user = create_user(session, username="root", password="pw", is_admin=True)
        callers.append(
            Caller("cluster admin", create_token(session, user=root_user, name="t"), admin=True)
        )
    app = create_app(
        settings=Settings(data_dir=root, instance="perm", router=False),
        database=database,
        connect_engine=_no_engine,
        reconcile=False,
    )
    admin = {"Authorization": f"Bearer {callers[1].token}"}
    with TestClient(app, headers=admin) as api:
        for space in ("own", "other"):
            assert api.post("/api/v1/spaces", json={"name": space}).status_code == 201
        installed = api.post(
            "/api/v1/spaces/own/apps",
            json={"name": "app1", "template": "org.cloudos.static-website"},
        )
        assert installed.status_code == 201, installed.text
        assert (
            api.post(
                "/api/v1/domains", json={"space": "own", "name": "shop.example.com"}
            ).status_code
            == 201
        )
        assert (
            api.post(
                "/api/v1/redirects",
                json={"space": "own", "domain": "www.own.localhost", "to": "https://own.localhost"},
            ).status_code
            == 201
        )
    with database.session() as session:
        spaces = {space.name: space for space in session.query(Space)}
        for role in SPACE_ROLES:
            user = create_user(session, username=f"{role}-user", password="pw")
            set_member(
                session, spaces["own"], username=user.username, role=role, granted_by="owner"
            )
            callers.append(
                Caller(f"{role} in own", create_token(session, user=user, name="t"), role)
            )
        stranger = create_user(session, username="stranger", password="pw")
        set_member(session, spaces["other"], username="stranger", role="owner", granted_by="owner")
        callers.append(
            Caller("owner of another space", create_token(session, user=stranger, name="t"))
        )
        owner_user = create_user(session, username="scoped-owner", password="pw")
        set_member(
            session, spaces["own"], username="scoped-owner", role="owner", granted_by="owner"
        )
        scoped = create_token(
            session, user=owner_user, name="ci", space_id=spaces["own"].id, role="developer"
        )
        callers.append(
            Caller("owner's token scoped to own as developer", scoped, "developer", scoped=True)
        )
        scoped_viewer = create_token(
            session, user=owner_user, name="ro", space_id=spaces["own"].id, role="viewer"
        )
        callers.append(
            Caller("owner's token scoped to own as viewer", scoped_viewer, "viewer", scoped=True)
        )
        admin_user = session.query(type(root_user)).filter_by(username="root").one()
        admin_scoped = create_token(
            session, user=admin_user, name="ci", space_id=spaces["other"].id, role="viewer"
        )
        callers.append(Caller("admin's token scoped to another space", admin_scoped, scoped=True))
    database.close()
    return root / "cloudos.db", callers


# Concrete requests: path parameters, bodies and queries that name "own" objects.
PATH_VALUES = {
    "space": "own",
    "name": "app1",
    "kind": "mysql",
    "number": "1",
    "token_id": "1",
    "username": "viewer-user",
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/routes"): {
        "space": "own",
        "app": "app1",
        "domain": "extra.own.localhost",
        "port": 8080,
    },
    ("POST", "/api/v1/domains"): {"space": "own", "name": "new.example.com"},
    ("POST", "/api/v1/redirects"): {
        "space": "own",
        "domain": "old.own.localhost",
        "to": "https://own.localhost",
    },
}
QUERIES: dict[tuple[str, str], dict[str, str]] = {
    ("DELETE", "/api/v1/routes"): {"domain": "app1.own.localhost", "path": "/"},
    ("DELETE", "/api/v1/redirects"): {"domain": "www.own.localhost", "path": "/"},
}
OBJECT_PATHS = {("DELETE", "/api/v1/domains/{name}"): {"name": "shop.example.com"}}


def operations() -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as scratch:
        database = open_database(f"sqlite:///{scratch}/cloudos.db")
        app = create_app(
            settings=Settings(data_dir=Path(scratch), instance="perm", router=False),
            database=database,
            connect_engine=_no_engine,
            reconcile=False,
        )
        database.close()
    return api_operations(app.openapi())


OPERATIONS = operations()


def unguarded_operations() -> list[str]:
    return unguarded({"paths": {path: {method.lower(): {}} for method, path in OPERATIONS}})


def expected(rule_need: str, caller: Caller) -> str:
    """'allowed', or the status a refusal must have."""
    if caller.token is None:
        return "allowed" if rule_need == "public" else "401"
    if rule_need in ("public", "user"):
        return "allowed"
    if rule_need == "account":  # the whole account: no token scoped to one space
        return "403" if caller.scoped else "allowed"
    if rule_need == "cluster-admin":
        return "allowed" if caller.admin else "403"
    if caller.admin:
        return "allowed"
    if caller.role is None:
        return "404"  # another space's objects do not exist for this caller
    return "allowed" if ROLE_RANK[caller.role] >= ROLE_RANK[rule_need] else "403"


@pytest.fixture
def fresh(seeded: tuple[Path, list[Caller]], tmp_path: Path) -> Iterator[TestClient]:
    db_file, _ = seeded
    shutil.copy(db_file, tmp_path / "cloudos.db")
    database = open_database(f"sqlite:///{tmp_path / 'cloudos.db'}")
    app = create_app(
        settings=Settings(data_dir=db_file.parent, instance="perm", router=False),
        database=database,
        connect_engine=_no_engine,
        reconcile=False,
    )
    with TestClient(app) as client:
        yield client
    database.close()


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_every_caller_as_the_table_says(
    method: str, path: str, seeded: tuple[Path, list[Caller]], tmp_path: Path
) -> None:
    db_file, callers = seeded
    rule = PERMISSIONS[(method, path)]
    url = path
    for key, value in {**PATH_VALUES, **OBJECT_PATHS.get((method, path), {})}.items():
        url = url.replace("{" + key + "}", value)
    mismatches = []
    for index, caller in enumerate(callers):
        copy = tmp_path / f"case{index}.db"
        shutil.copy(db_file, copy)
        database = open_database(f"sqlite:///{copy}", migrate=False)
        app = create_app(
            settings=Settings(data_dir=db_file.parent, instance="perm", router=False),
            database=database,
            connect_engine=_no_engine,
            reconcile=False,
        )
        headers = {"Authorization": f"Bearer {caller.token}"} if caller.token else {}
        with TestClient(app, raise_server_exceptions=False) as client:
            answer = client.request(
                method,
                url,
                headers=headers,
                params=QUERIES.get((method, path)),
                json=BODIES.get((method, path), {}) if method in ("POST", "PUT", "PATCH") else None,
            )
        database.close()
        want = expected(rule.need, caller)
        got = answer.status_code
        detail = answer.text[:200]
        if want == "allowed":
            refused = got in (401, 403) or (got == 404 and "space 'own' not found" in detail)
            ok = not refused and (got < 500 or got == 503)
        else:
            ok = str(got) == want
            if want == "404":
                ok = ok and "app1" not in answer.text and "shop.example.com" not in answer.text
        if not ok:
            mismatches.append(f"{caller.name}: wanted {want}, got {got} {detail}")
    assert not mismatches, f"{method} {path} ({rule.need}):\n" + "\n".join(mismatches)


LISTINGS = ["/api/v1/spaces", "/api/v1/routes", "/api/v1/domains", "/api/v1/redirects"]


@pytest.mark.parametrize("path", LISTINGS)
def test_listings_show_strangers_nothing_of_other_spaces(
    path: str, fresh: TestClient, seeded: tuple[Path, list[Caller]]
) -> None:
    callers = {caller.name: caller for caller in seeded[1]}
    stranger = callers["owner of another space"]
    answer = fresh.get(path, headers={"Authorization": f"Bearer {stranger.token}"})
    assert answer.status_code == 200
    assert not re.search(r"\bown\b|app1|shop\.example\.com", answer.text), answer.text
    viewer = callers["viewer in own"]
    seen = fresh.get(path, headers={"Authorization": f"Bearer {viewer.token}"}).text
    assert re.search(r"\bown\b|app1|shop\.example\.com", seen), seen


def test_every_operation_has_a_rule_and_the_docs_show_the_table() -> None:
    assert not unguarded_operations(), "operations without a rule"
    assert set(PERMISSIONS) <= set(OPERATIONS), "rules for operations that do not exist"
    table = permission_table()
    assert table in DOCS.read_text(encoding="utf-8"), (
        "docs/security.md must contain the permission table as rendered by "
        "cloudos.web._auth.permission_table():\n" + table
    )
