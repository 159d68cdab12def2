"""The app page's live parts and changes without a browser: progress, parameters,
revisions and rollback, who may do what, CSRF. (tests/e2e/test_ui_flow.py shows the
same pages on the real swarm: logs, CPU/memory, an app that really runs.)"""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudos.apps import AppManager
from cloudos.identity import create_user, set_member
from cloudos.spaces import create_space
from cloudos.statuses import AppStatus
from cloudos.store.models import App, AppRevision, AuditEvent, Space
from cloudos.ui._session import PAGES
from cloudos.ui._shapes import DiffLine
from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, Cloud, sign_in

PASSWORD = "another long passphrase"
APP = "/spaces/team/apps/site"


def _install(client: TestClient, csrf: str, template: str, **values: str) -> None:
    answer = client.post(
        f"/catalog/{template}",
        data={"csrf_token": csrf, "space": "team", "app_name": "site", "step": "install"}
        | {f"p_{key}": value for key, value in values.items()},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == APP


def _team(cloud: Cloud) -> None:
    with cloud.database.session() as session:
        team = create_space(session, name="team")
        create_space(session, name="other")
        for user in ("vera", "dev", "nobody"):
            create_user(session, username=user, password=PASSWORD)
        set_member(session, team, username="vera", role="viewer", granted_by="owner")
        set_member(session, team, username="dev", role="developer", granted_by="owner")


def _manager(cloud: Cloud) -> AppManager:
    manager: AppManager = cloud.app.state.cloudos.apps
    return manager


def _revision(cloud: Cloud, number: int) -> AppRevision:
    with cloud.database.session() as session:
        found = session.scalar(
            select(AppRevision)
            .join(App, App.id == AppRevision.app_id)
            .where(App.name == "site", AppRevision.number == number)
        )
        assert found is not None, number
        session.expunge(found)
        return found


def test_parameters_make_a_revision_the_diff_shows_it_and_rollback_goes_back(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _team(cloud)
    csrf = sign_in(browser_client, "dev", PASSWORD)
    _install(browser_client, csrf, "org.cloudos.php-website")

    form = browser_client.get(f"{APP}/parameters")
    assert form.status_code == 200
    assert re.search(r'id="p_memory_limit" name="p_memory_limit"[^>]*value="128M"', form.text)

    bad = browser_client.post(
        f"{APP}/revisions/new", data={"csrf_token": csrf, "p_memory_limit": "lots"}
    )
    assert bad.status_code == 422
    assert 'id="p_memory_limit-error"' in bad.text
    assert 'value="lots"' in bad.text
    assert _revision(cloud, 1).values["memory_limit"] == "128M"

    good = browser_client.post(
        f"{APP}/revisions/new", data={"csrf_token": csrf, "p_memory_limit": "256M"}
    )
    assert good.status_code == 303
    assert good.headers["location"] == APP
    assert _revision(cloud, 2).values == {"memory_limit": "256M", "upload_max_size": "16M"}
    same = browser_client.post(
        f"{APP}/revisions/new", data={"csrf_token": csrf, "p_memory_limit": "256M"}
    )
    assert same.status_code == 200
    assert "Nothing changed" in same.text

    page = browser_client.get(APP).text
    assert 'href="/spaces/team/apps/site/revisions/1/rollback"' in page
    assert "/revisions/2/rollback" not in page  # the current one
    diff = browser_client.get(f"{APP}/revisions/diff", params={"old": 1, "new": 2})
    assert diff.status_code == 200
    assert re.search(r"<ins>\+\s+PHP_MEMORY_LIMIT: 256M</ins>", diff.text)
    assert re.search(r"<del>-\s+PHP_MEMORY_LIMIT: 128M</del>", diff.text)
    assert "UPLOAD_MAX_FILESIZE" not in re.sub(r"<span class=\"diff-same\">.*", "", diff.text)

    confirm = browser_client.get(f"{APP}/revisions/1/rollback")
    assert confirm.status_code == 200
    assert "Roll site back to revision 1?" in confirm.text
    assert re.search(r"<ins>\+\s+PHP_MEMORY_LIMIT: 128M</ins>", confirm.text)
    refused = browser_client.post(f"{APP}/revisions/1/rollback", data={})
    assert refused.status_code == 403
    done = browser_client.post(f"{APP}/revisions/1/rollback", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert _revision(cloud, 3).values["memory_limit"] == "128M"
    assert _revision(cloud, 3).note == "rollback to revision 1"
    again = browser_client.post(f"{APP}/revisions/3/rollback", data={"csrf_token": csrf})
    assert again.status_code == 422
    assert "already at revision 3" in again.text

    with cloud.database.session() as session:
        lines = session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(("app_update", "app_rollback")))
        ).all()
        seen = [
            (line.action, line.result, line.actor, json.loads(line.detail or "{}")["via"])
            for line in lines
        ]
    assert ("app_update", "ok", "dev", "web") in seen
    assert ("app_rollback", "ok", "dev", "web") in seen
    assert ("app_rollback", "failed 422", "dev", "web") in seen


def test_a_secret_left_blank_keeps_its_value_and_is_never_shown(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _team(cloud)
    csrf = sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    secret = "first user password 1234"
    _install(browser_client, csrf, "org.cloudos.mariadb", password=secret)
    form = browser_client.get(f"{APP}/parameters").text
    assert secret not in form
    assert re.search(r'id="p_password" name="p_password"[^>]*type="password"[^>]*value=""', form)

    saved = browser_client.post(
        f"{APP}/revisions/new",
        data={"csrf_token": csrf, "p_database": "shop", "p_password": "", "p_root_password": ""},
    )
    assert saved.status_code == 303, saved.text
    manager = _manager(cloud)
    with cloud.database.session() as session:
        app = manager.get(session, "team", "site")
        first, second = (manager.revision(session, app, n) for n in (1, 2))
        values = [manager.build(app, r).values for r in (first, second)]
    assert values[1]["password"] == values[0]["password"] == secret
    assert values[1]["root_password"] == values[0]["root_password"]
    assert values[1]["database"] == "shop"
    diff = browser_client.get(f"{APP}/revisions/diff", params={"old": 1, "new": 2}).text
    assert secret not in diff
    assert "MARIADB_DATABASE: shop" in diff


def test_the_status_line_polls_until_the_app_settles(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _team(cloud)
    sign_in(browser_client, "vera", PASSWORD)
    admin = TestClient(cloud.app, follow_redirects=False)
    _install(admin, sign_in(admin, ADMIN, ADMIN_PASSWORD), "org.cloudos.php-website")
    pending = browser_client.get(f"{APP}/status")
    assert pending.status_code == 200
    assert 'hx-trigger="every 2s"' in pending.text
    assert 'data-settled="false"' in pending.text
    assert "pending" in pending.text
    assert 'hx-trigger="every 2s"' in browser_client.get(APP).text

    with cloud.database.session() as session:
        app = session.scalar(select(App).where(App.name == "site"))
        assert app is not None
        app.status, app.status_reason = AppStatus.FAILED, "tasks did not start within 60 s"
    failed = browser_client.get(f"{APP}/status").text
    assert "hx-trigger" not in failed
    assert 'data-settled="true"' in failed
    assert "failed" in failed
    assert "tasks did not start within 60 s" in failed


def test_a_viewer_watches_but_changes_nothing_and_strangers_see_nothing(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _team(cloud)
    admin = TestClient(cloud.app, follow_redirects=False)
    admin_csrf = sign_in(admin, ADMIN, ADMIN_PASSWORD)
    _install(admin, admin_csrf, "org.cloudos.php-website")
    assert (
        admin.post(
            f"{APP}/revisions/new", data={"csrf_token": admin_csrf, "p_memory_limit": "64M"}
        ).status_code
        == 303
    )

    csrf = sign_in(browser_client, "vera", PASSWORD)
    page = browser_client.get(APP).text
    assert "Parameters…" not in page
    assert "Roll back…" not in page
    assert 'id="logs-form"' in page
    assert browser_client.get(f"{APP}/status").status_code == 200
    assert browser_client.get(f"{APP}/revisions/diff").status_code == 200
    stats = browser_client.get(f"{APP}/stats", params={"history": '{"web": [[1, 2]]}'})
    assert stats.status_code == 200
    assert "No readings: no Docker engine answers" in stats.text
    logs = browser_client.get(f"{APP}/logs/stream", params={"tail": 10})
    assert "no Docker engine answers" in logs.text
    assert browser_client.get(f"{APP}/logs/stream", params={"tail": -1}).status_code == 422
    for path in (f"{APP}/parameters", f"{APP}/revisions/1/rollback"):
        assert browser_client.get(path).status_code == 403, path
    for path in (f"{APP}/revisions/new", f"{APP}/revisions/1/rollback"):
        answer = browser_client.post(path, data={"csrf_token": csrf, "p_memory_limit": "1G"})
        assert answer.status_code == 403, path
    assert _revision(cloud, 2).values["memory_limit"] == "64M"
    with cloud.database.session() as session:
        assert session.scalar(select(AppRevision).where(AppRevision.number == 3)) is None

    stranger = TestClient(cloud.app, follow_redirects=False)
    sign_in(stranger, "nobody", PASSWORD)
    for path in ("status", "stats", "logs/stream", "revisions/diff", "parameters"):
        assert stranger.get(f"{APP}/{path}").status_code == 404, path
    for path in ("revisions/new", "revisions/1/rollback"):
        assert stranger.post(f"{APP}/{path}", data={"csrf_token": "x"}).status_code in (403, 404)


def test_diff_and_logs_are_shown_as_text_never_as_markup() -> None:
    html = PAGES.get_template("_diff.html").render(
        lines=[DiffLine(kind="added", text="+  x: <script>alert(1)</script>")]
    )
    assert "<script>" not in html
    assert "<ins>+  x: &lt;script&gt;alert(1)&lt;/script&gt;</ins>" in html


def test_another_spaces_stack_yaml_is_refused_however_the_request_spells_it(
    cloud: Cloud, browser_client: TestClient
) -> None:
    """Revisions (API, `cloudos app revisions --show`) and their diff show stack YAML."""
    _team(cloud)
    with cloud.database.session() as session:
        other = session.scalar(select(Space).where(Space.name == "other"))
        assert other is not None
        set_member(session, other, username="nobody", role="admin", granted_by="owner")
    admin = TestClient(cloud.app, follow_redirects=False)
    _install(admin, sign_in(admin, ADMIN, ADMIN_PASSWORD), "org.cloudos.php-website")
    own = admin.get("/api/v1/spaces/team/apps/site/revisions/1")
    assert own.status_code == 200
    assert "cloudos/php" in own.json()["stack_yaml"]

    sign_in(browser_client, "nobody", PASSWORD)  # an admin, of another space
    spaces = ("team", "TEAM", "%74eam", "team%20", "other/../team")
    apps = ("site", "SITE", "%73ite")
    paths = [
        f"/api/v1/spaces/{space}/apps/{app}/revisions/{number}"
        for space in spaces
        for app in apps
        for number in ("1", "01")
    ]
    paths += [
        f"/spaces/{space}/apps/{app}/revisions/diff?a=1&b=1" for space in spaces for app in apps
    ]
    paths += [
        "/api/v1/spaces/other/apps/site/revisions/1",
        "/spaces/other/apps/site/revisions/diff",
    ]
    for path in paths:
        answer = browser_client.get(path)
        assert answer.status_code == 404, path
        assert "cloudos/php" not in answer.text, path
