"""The API of space policy and quotas: refusals at install and update answer 403 and
store nothing, members read, only cluster admins change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudos.errors import EnvironmentProblem
from cloudos.identity import create_token, create_user
from cloudos.settings import Settings
from cloudos.store import Database
from cloudos.store.models import AppRevision
from cloudos.templates import builtin_modifiers, modifier_from_dict
from cloudos.web import create_app


def _no_engine() -> Any:
    # The API shows apps without observed state when no engine answers.
    raise EnvironmentProblem("no engine in this test")


@pytest.fixture
def api(tmp_path: Path, database: Database, admin_token: str) -> Iterator[TestClient]:
    """A client of the control plane (no engine, no reconciler) sending the admin's token."""
    settings = Settings(data_dir=tmp_path, instance="t", router=False)
    app = create_app(
        settings=settings, database=database, connect_engine=_no_engine, reconcile=False
    )
    app.state.cloudos.apps.library = dict(builtin_modifiers())
    with TestClient(app, headers={"Authorization": f"Bearer {admin_token}"}) as client:
        yield client


@pytest.fixture
def member(database: Database) -> dict[str, str]:
    """Headers of a user who is not a cluster admin."""
    with database.session() as session:
        user = create_user(session, username="dev", password="pw")
        return {"Authorization": f"Bearer {create_token(session, user=user, name='dev')}"}


def template(service: dict[str, Any], **top: Any) -> str:
    return yaml.safe_dump(
        {
            "format": "cloudos.template/v1",
            "id": "org.example.web",
            "version": "1.0.0",
            "name": "Web",
            "services": {"web": {"image": "nginx:1", **service}},
            **top,
        }
    )


def install(api: TestClient, text: str, name: str = "web", **values: Any) -> Any:
    return api.post(
        "/api/v1/spaces/acme/apps",
        json={"name": name, "template_text": text, "values": values},
    )


def apps(api: TestClient) -> list[str]:
    return [app["name"] for app in api.get("/api/v1/spaces/acme/apps").json()]


@pytest.fixture
def acme(api: TestClient, member: dict[str, str]) -> TestClient:
    assert api.post("/api/v1/spaces", json={"name": "acme"}).status_code == 201
    # The member owns the space: even an owner may not change its policy or quotas.
    assert api.put("/api/v1/spaces/acme/members/dev", json={"role": "owner"}).status_code == 200
    return api


def test_privileged_is_refused_until_an_admin_allows_it(
    acme: TestClient, member: dict[str, str]
) -> None:
    answer = install(acme, template({"privileged": True}))
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "service web: privileged mode (services.web.privileged) is not allowed in space "
        "'acme' (a cluster admin can allow it: cloudos space policy acme --allow privileged)"
    )
    assert apps(acme) == []
    refused = acme.put("/api/v1/spaces/acme/policy", json={"allow": ["privileged"]}, headers=member)
    assert refused.status_code == 403
    assert "only a cluster admin" in refused.json()["detail"]
    read = acme.get("/api/v1/spaces/acme/policy", headers=member)
    assert read.status_code == 200
    assert read.json()["allow"] == []
    assert read.json()["ports"] is None
    assert set(read.json()["grants"]) == {
        "privileged",
        "docker_socket",
        "host_paths",
        "host_network",
        "capabilities",
        "foreign_secrets",
    }
    allowed = acme.put("/api/v1/spaces/acme/policy", json={"allow": ["privileged"]})
    assert allowed.json()["allow"] == ["privileged"]
    assert install(acme, template({"privileged": True})).status_code == 201
    assert apps(acme) == ["web"]


def test_a_socket_through_a_value_is_refused_and_an_update_too(acme: TestClient) -> None:
    text = template(
        {"volumes": ["${source}:/data"]},
        parameters={"source": {"type": "string", "default": "data"}},
    )
    assert install(acme, text).status_code == 201  # a named volume
    answer = acme.patch("/api/v1/spaces/acme/apps/web", json={"values": {"source": "/run"}})
    assert answer.status_code == 403, answer.text
    assert "a directory holding the Docker socket (/run)" in answer.json()["detail"]
    assert "--allow docker_socket" in answer.json()["detail"]
    revisions = acme.get("/api/v1/spaces/acme/apps/web/revisions").json()
    assert [revision["number"] for revision in revisions] == [1]
    answer = install(acme, text, name="other", source="/var/run/docker.sock")
    assert answer.status_code == 403
    assert "the Docker socket (/var/run/docker.sock) mounted" in answer.json()["detail"]
    assert apps(acme) == ["web"]


def test_a_modifier_cannot_add_what_the_template_may_not_ask(acme: TestClient) -> None:
    cast(FastAPI, acme.app).state.cloudos.apps.library["org.example.caps"] = modifier_from_dict(
        {
            "format": "cloudos.modifier/v1",
            "id": "org.example.caps",
            "version": "1.0.0",
            "operations": [{"op": "add", "path": "services.*.cap_add", "value": ["NET_ADMIN"]}],
        }
    )
    text = template({}, modifiers=[{"id": "org.example.caps"}])
    answer = install(acme, text)
    assert answer.status_code == 403
    assert (
        "service web: the capabilities NET_ADMIN (services.web.cap_add)"
        in (answer.json()["detail"])
    )
    assert apps(acme) == []
    acme.put("/api/v1/spaces/acme/policy", json={"allow": ["capabilities"]})
    assert install(acme, text).status_code == 201


def test_unknown_grants_and_spaces(acme: TestClient) -> None:
    answer = acme.put("/api/v1/spaces/acme/policy", json={"allow": ["root"]})
    assert answer.status_code == 422
    assert "unknown grant 'root'" in answer.json()["detail"]
    assert acme.get("/api/v1/spaces/nope/policy").status_code == 404
    assert acme.get("/api/v1/spaces/nope/quota").status_code == 404


def limited(cpus: str, memory: str = "256M") -> str:
    return template({"deploy": {"resources": {"limits": {"cpus": cpus, "memory": memory}}}})


def test_quotas_refuse_what_does_not_fit_and_show_the_use(
    acme: TestClient, member: dict[str, str]
) -> None:
    body = {"max_apps": 2, "max_cpus": 2, "max_memory": "1G"}
    assert acme.put("/api/v1/spaces/acme/quota", json=body, headers=member).status_code == 403
    answer = acme.put("/api/v1/spaces/acme/quota", json=body)
    assert answer.status_code == 200
    assert answer.json()["max_memory"] == 1 << 30
    assert install(acme, limited("1.5"), name="web").status_code == 201
    refused = install(acme, limited("1"), name="blog")
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "space 'acme' would use 2.5 of its 2 CPUs (app blog asks for 1)"
    )
    no_limit = install(acme, template({}), name="blog")
    assert "every service needs a CPU limit" in no_limit.json()["detail"]
    assert install(acme, limited("0.5"), name="blog").status_code == 201
    assert install(acme, limited("0"), name="third").json()["detail"] == (
        "space 'acme' has 2 of its 2 apps: app third would be one more"
    )
    assert apps(acme) == ["blog", "web"]
    shown = acme.get("/api/v1/spaces/acme/quota", headers=member).json()
    assert shown["usage"] == {
        "apps": 2,
        "cpus": 2.0,
        "memory": 512 << 20,
        "unlimited_cpus": [],
        "unlimited_memory": [],
    }
    listed = {space["name"]: space for space in acme.get("/api/v1/spaces").json()}
    assert (listed["acme"]["max_apps"], listed["acme"]["max_cpus"]) == (2, 2.0)
    assert listed["acme"]["policy"] == []
    cleared = acme.put("/api/v1/spaces/acme/quota", json={}).json()
    assert (cleared["max_apps"], cleared["max_cpus"], cleared["max_memory"]) == (None,) * 3
    assert install(acme, limited("4"), name="third").status_code == 201


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"max_memory": "lots"}, "max_memory 'lots' is not a size like 512M or 2G"),
        ({"max_apps": -1}, "max_apps -1: give 0 or more apps"),
        ({"max_cpus": -0.5}, "max_cpus -0.5: give 0 or more CPUs"),
    ],
)
def test_bad_quotas_say_what_is_wrong(acme: TestClient, body: dict[str, Any], detail: str) -> None:
    answer = acme.put("/api/v1/spaces/acme/quota", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"] == detail


def test_a_revision_made_before_usage_was_stored_is_counted_once(
    acme: TestClient, database: Database
) -> None:
    assert acme.put("/api/v1/spaces/acme/quota", json={"max_cpus": 4}).status_code == 200
    assert install(acme, limited("1.5"), name="web").status_code == 201
    with database.session() as session:
        revision = session.scalars(select(AppRevision)).one()
        assert revision.usage is not None
        assert revision.usage["cpus"] == 1.5
        revision.usage = None  # as a database upgraded from before the column had it
    assert acme.get("/api/v1/spaces/acme/quota").json()["usage"]["cpus"] == 1.5
    with database.session() as session:
        assert session.scalars(select(AppRevision.usage)).one() == {
            "apps": 1,
            "cpus": 1.5,
            "memory": 256 << 20,
            "unlimited_cpus": [],
            "unlimited_memory": [],
        }
    refused = install(acme, limited("3"), name="blog")
    assert refused.json()["detail"] == (
        "space 'acme' would use 4.5 of its 4 CPUs (app blog asks for 3)"
    )


def test_host_ports_are_refused_until_an_admin_allows_a_range(
    acme: TestClient, member: dict[str, str]
) -> None:
    text = template({"ports": [{"target": 80, "published": 20005, "mode": "host"}]})
    answer = install(acme, text)
    assert answer.status_code == 403
    assert answer.json()["detail"] == (
        "service web: host port 20005 (services.web.ports[0]): space 'acme' may publish no "
        "host ports (a cluster admin can allow a range: cloudos space policy acme --ports "
        "FROM-TO)"
    )
    body = {"allow": [], "ports": "20000-20100"}
    refused = acme.put("/api/v1/spaces/acme/policy", json=body, headers=member)
    assert refused.status_code == 403
    bad = acme.put("/api/v1/spaces/acme/policy", json={"allow": [], "ports": "20100-20000"})
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"].startswith("ports '20100-20000': ports go from 1 to 65535")
    assert acme.get("/api/v1/spaces/acme/policy").json()["ports"] is None  # nothing half-done
    allowed = acme.put("/api/v1/spaces/acme/policy", json=body)
    assert allowed.status_code == 200
    assert allowed.json()["ports"] == "20000-20100"
    assert acme.get("/api/v1/spaces/acme/policy", headers=member).json()["ports"] == "20000-20100"
    assert install(acme, text).status_code == 201
    outside = install(acme, template({"ports": ["21000:80"]}), name="other")
    assert outside.status_code == 403
    assert (
        "host port 21000:80 (services.web.ports[0]) is outside the ports space 'acme' may "
        "publish (20000-20100;" in outside.json()["detail"]
    )
    router = install(acme, template({"ports": ["80:80"]}), name="router")
    assert router.status_code == 403
    assert "is the router's own port 80: no app may publish it" in router.json()["detail"]
    assert apps(acme) == ["web"]


def test_another_spaces_secret_is_refused_through_the_api(acme: TestClient) -> None:
    assert acme.post("/api/v1/spaces", json={"name": "shop"}).status_code == 201
    other = "t-shop-blog_password_0123456789ab"
    for secrets in (
        {other: {"external": True}},
        {"pw": {"external": True, "name": other}},
        {"pw": {"external": {"name": other}}},
    ):
        uses = list(secrets)
        answer = install(acme, template({"secrets": uses}, secrets=secrets))
        assert answer.status_code == 403, answer.text
        assert f"the secret {other}, which is not the app's own" in answer.json()["detail"]
        assert "--allow foreign_secrets" in answer.json()["detail"]
    assert apps(acme) == []
