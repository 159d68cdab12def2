"""Every request says only what the operation takes: unknown fields and parameters are 422."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudos.identity import create_token, create_user, set_member
from cloudos.spaces import create_space, get_space
from cloudos.store import Database
from cloudos.store.models import App
from tests.apps.conftest import hello


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_request_body_of_the_api_forbids_unknown_fields(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    bodies = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                schema = _schema(document, media["schema"])
                bodies[f"{method.upper()} {path}"] = schema.get("additionalProperties")
    assert len(bodies) >= 20  # every body the API takes today
    assert {op: extra for op, extra in bodies.items() if extra is not False} == {}


def test_an_unknown_field_is_refused_and_named(client: TestClient, admin_token: str) -> None:
    answer = client.post(
        "/api/v1/spaces", json={"name": "shop", "domian": "x.test"}, headers=auth(admin_token)
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == "body.domian: unknown field"
    assert answer.json()["code"] == "invalid_input"
    assert answer.json()["field"] == "domian"
    assert client.get("/api/v1/spaces", headers=auth(admin_token)).json()[0]["name"] != "shop"


def test_a_wrong_value_deep_in_a_body_names_its_dotted_path(
    client: TestClient, admin_token: str
) -> None:
    answer = client.post(
        "/api/v1/spaces/default/apps",
        json={"name": "blog", "template": "hello", "dedicated": ["mysql", 5]},
        headers=auth(admin_token),
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert (problem["code"], problem["field"]) == ("invalid_input", "dedicated.1")
    assert problem["detail"].startswith("body.dedicated.1: ")


def test_an_unknown_query_parameter_is_the_field_of_its_problem(
    client: TestClient, admin_token: str
) -> None:
    answer = client.get("/api/v1/spaces?nmae=shop", headers=auth(admin_token))
    assert answer.status_code == 422
    assert (answer.json()["code"], answer.json()["field"]) == ("invalid_input", "nmae")


@pytest.fixture
def blog(client: TestClient) -> str:
    """App ``blog`` in space ``default``, at its second revision; its API path."""
    # Through the manager: the API's answer would show the app's services, from the engine.
    manager = client.app.state.cloudos.apps  # type: ignore[attr-defined]
    manager.install(space="default", name="blog", template=hello(), values={"http_port": 8080})
    manager.update(
        space="default", name="blog", values={"http_port": 8081}, template=None, by="root"
    )
    return "/api/v1/spaces/default/apps/blog"


def test_a_rollback_with_a_misspelt_field_rolls_nothing_back(
    client: TestClient, admin_token: str, blog: str, database: Database
) -> None:
    answer = client.post(f"{blog}/rollback", json={"revision": "abc"}, headers=auth(admin_token))
    assert answer.status_code == 422
    assert answer.json()["detail"] == "body.revision: unknown field"
    with database.session() as session:
        assert session.query(App).one().revision == 2  # no new revision was made


@pytest.mark.parametrize("query", ["lines=-5", "lines=100000000", "tail=-5", "tail=100000000"])
def test_log_lines_out_of_bounds_or_misnamed_are_refused(
    client: TestClient, admin_token: str, blog: str, query: str
) -> None:
    answer = client.get(f"{blog}/logs?{query}", headers=auth(admin_token))
    assert answer.status_code == 422, answer.text
    name = query.split("=")[0]
    assert answer.json()["detail"].startswith(f"query.{name}:")


def test_an_unknown_query_parameter_names_what_the_operation_takes(
    client: TestClient, admin_token: str
) -> None:
    answer = client.get("/api/v1/audit?limt=5", headers=auth(admin_token))
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "query.limt: unknown query parameter "
        "(this operation takes: action, actor, format, limit, since, space)"
    )
    assert client.get("/api/v1/audit?limit=5", headers=auth(admin_token)).status_code == 200


def test_a_stranger_learns_nothing_from_a_wrong_parameter(
    client: TestClient, database: Database, blog: str
) -> None:
    with database.session() as session:
        create_space(session, name="other", domain="other.test")
        stranger = create_user(session, username="eve", password="a long password")
        token = create_token(session, user=stranger, name="t")
        set_member(
            session, get_space(session, "other"), username="eve", role="owner", granted_by="owner"
        )
    for path in (f"{blog}/logs?lines=-5", "/api/v1/spaces/nowhere/apps/x/logs?lines=-5"):
        answer = client.get(path, headers=auth(token))
        assert answer.status_code == 404, (path, answer.text)
    bad_body = client.post(f"{blog}/rollback", json={"revision": 1}, headers=auth(token))
    assert bad_body.status_code == 404
