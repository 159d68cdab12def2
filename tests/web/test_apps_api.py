"""The apps API answers bad input with a problem naming it, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloudos.statuses import AppStatus, DesiredState
from tests.apps.conftest import hello


@pytest.fixture
def auth(client: TestClient, admin_token: str) -> dict[str, str]:
    """The admin's header, once app ``hello`` is installed in space ``default``."""
    # Through the manager: the API's answer would show the app's services, from the engine.
    client.app.state.cloudos.apps.install(  # type: ignore[attr-defined]
        space="default", name="hello", template=hello(), values={"http_port": 8080}
    )
    return {"Authorization": f"Bearer {admin_token}"}


@pytest.mark.parametrize("since", ["inf", "-inf", "nan", "1e300", "99999999999999"])
def test_logs_since_out_of_range_is_a_422(
    client: TestClient, auth: dict[str, str], since: str
) -> None:
    # Found probing the API with edge values: OverflowError from timedelta or datetime, a 500.
    response = client.get(
        "/api/v1/spaces/default/apps/hello/logs", params={"since": since}, headers=auth
    )
    assert response.status_code == 422
    assert response.json()["detail"] == f"since={since!r}: not a number of seconds ago"


@pytest.mark.parametrize("number", [2**63, 2**64, 0])
def test_a_revision_out_of_range_is_a_404(
    client: TestClient, auth: dict[str, str], number: int
) -> None:
    response = client.get(f"/api/v1/spaces/default/apps/hello/revisions/{number}", headers=auth)
    assert response.status_code == 404
    assert response.json()["detail"] == f"app 'hello' has no revision {number}"
    rollback = client.post(
        "/api/v1/spaces/default/apps/hello/rollback", json={"to": number + 2}, headers=auth
    )
    assert rollback.status_code == 404


def _enum_of(document: dict[str, Any], prop: dict[str, Any]) -> list[str]:
    """The allowed values of a property, following its ``$ref`` to the named schema."""
    name = prop["$ref"].rsplit("/", 1)[1]
    schema: dict[str, Any] = document["components"]["schemas"][name]
    assert schema["type"] == "string"
    return list(schema["enum"])


def test_the_openapi_schema_lists_exactly_the_app_statuses(client: TestClient) -> None:
    # Clients generate their types from the schema: it must name every status an app
    # may show, and the words must stay the ones the API has always answered.
    document = client.get("/api/v1/openapi.json").json()
    app_out = document["components"]["schemas"]["AppOut"]["properties"]
    statuses = _enum_of(document, app_out["status"])
    assert statuses == [status.value for status in AppStatus]
    assert statuses == [
        "pending",
        "waiting",
        "deploying",
        "starting",
        "updating",
        "restarting",
        "running",
        "stopping",
        "stopped",
        "rolling back",
        "rolled back",
        "failed",
        "removing",
    ]
    desired = _enum_of(document, app_out["desired_state"])
    assert desired == [state.value for state in DesiredState] == ["running", "stopped", "removed"]
