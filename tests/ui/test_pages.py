"""The pages without a browser: who may see and do what, CSRF, sign-in rules, queries."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from cloudos.identity import begin_totp, confirm_totp, create_user, set_member
from cloudos.identity._signin import PAIR_MAX_FAILURES
from cloudos.spaces import create_space
from cloudos.statuses import AppStatus
from cloudos.store.models import App, AppEvent, AuditEvent, LoginThrottle, Space, User
from cloudos.ui import _pages
from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, Cloud, install_sites, sign_in, signin_form

PASSWORD = "another long passphrase"


def _people(cloud: Cloud) -> None:
    """Spaces 'team' (vera viewer, dev developer) and 'other', each with one app."""
    with cloud.database.session() as session:
        for name in ("team", "other"):
            space = create_space(session, name=name)
            session.add(App(space=space, name=f"{name}-app", stack=f"s-{name}", template_id="t.x"))
        for user in ("vera", "dev", "nobody"):
            create_user(session, username=user, password=PASSWORD)
        team = session.scalar(select(Space).where(Space.name == "team"))
        assert team is not None
        set_member(session, team, username="vera", role="viewer", granted_by="owner")
        set_member(session, team, username="dev", role="developer", granted_by="owner")


def test_every_page_but_sign_in_needs_a_session(browser_client: TestClient) -> None:
    for path in ("/", "/catalog", "/spaces/default", "/catalog/org.wordpress.wordpress"):
        answer = browser_client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/signin?next=")
    assert browser_client.post("/spaces", data={"name": "x"}).status_code == 303
    assert browser_client.get("/signin").status_code == 200


def test_a_viewer_reads_but_changes_nothing_and_other_spaces_do_not_exist(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "vera", PASSWORD)
    dashboard = browser_client.get("/").text
    assert "team-app" in dashboard
    assert "other-app" not in dashboard
    assert "Platform health" not in dashboard
    assert browser_client.get("/ui/health").status_code == 403
    assert "/ui/usage" not in dashboard
    assert browser_client.get("/ui/usage").status_code == 403
    assert browser_client.get("/spaces/team/apps/team-app").status_code == 200
    for path in ("/spaces/other", "/spaces/other/apps/other-app"):
        answer = browser_client.get(path)
        assert answer.status_code == 404, path
        assert "other-app" not in answer.text
    stop = browser_client.post("/spaces/team/apps/team-app/stop", data={"csrf_token": csrf})
    assert stop.status_code == 403
    assert "developer role" in stop.text
    assert browser_client.post("/spaces", data={"csrf_token": csrf, "name": "x"}).status_code == 403
    wizard = browser_client.get("/catalog/org.wordpress.wordpress").text
    assert "You may install apps in no space" in wizard
    with cloud.database.session() as session:
        app = session.scalar(select(App).where(App.name == "team-app"))
        assert app is not None
        assert app.desired_state == "running"


def test_a_developer_acts_only_in_their_space(cloud: Cloud, browser_client: TestClient) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "dev", PASSWORD)
    other = browser_client.post("/spaces/other/apps/other-app/stop", data={"csrf_token": csrf})
    assert other.status_code == 404
    install = browser_client.post(
        "/catalog/org.cloudos.static-website",
        data={"csrf_token": csrf, "space": "other", "app_name": "site", "step": "install"},
    )
    assert install.status_code == 422
    assert "you may not install apps in space &#39;other&#39;" in install.text
    stop = browser_client.post("/spaces/team/apps/team-app/stop", data={"csrf_token": csrf})
    assert (stop.status_code, stop.headers["location"]) == (303, "/spaces/team/apps/team-app")
    with cloud.database.session() as session:
        apps = {app.name: app.desired_state for app in session.scalars(select(App))}
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "app_stop")).all()
    assert apps == {"team-app": "stopped", "other-app": "running"}
    assert [(line.actor, line.space, line.result) for line in audit] == [("dev", "team", "ok")]


def _set_status(cloud: Cloud, status: AppStatus) -> None:
    with cloud.database.session() as session:
        app = session.scalar(select(App).where(App.name == "team-app"))
        assert app is not None
        app.status = status


def test_every_page_marks_trouble_and_running_in_the_status_badge(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    sign_in(browser_client, "dev", PASSWORD)
    pages = ("/", "/spaces/team", "/spaces/team/apps/team-app", "/portal/team")
    for status, badge in (
        (AppStatus.ROLLED_BACK, '<span class="status bad">rolled back</span>'),
        (AppStatus.FAILED, '<span class="status bad">failed</span>'),
        (AppStatus.RUNNING, '<span class="status good">running</span>'),
        (AppStatus.DEPLOYING, '<span class="status">deploying</span>'),
    ):
        _set_status(cloud, status)
        for path in pages:
            assert badge in browser_client.get(path).text, (path, status)


def test_the_app_page_offers_start_only_to_a_stopped_app(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "dev", PASSWORD)
    app = "/spaces/team/apps/team-app"

    def offered() -> set[str]:
        page = browser_client.get(app).text
        return set(re.findall(rf'action="{app}/(start|stop|restart)"', page))

    assert offered() == {"stop", "restart"}
    browser_client.post(f"{app}/stop", data={"csrf_token": csrf})
    assert offered() == {"start"}


def test_a_taken_app_name_is_shown_at_the_wizards_name_field(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "dev", PASSWORD)
    taken = browser_client.post(
        "/catalog/org.cloudos.static-website",
        data={"csrf_token": csrf, "space": "team", "app_name": "team-app", "step": "install"},
    )
    assert taken.status_code == 409
    assert re.search(r'id="app_name-error">[^<]*already exists in space', taken.text)
    assert 'aria-invalid="true"' in taken.text


def test_a_form_without_the_session_csrf_token_changes_nothing(
    cloud: Cloud, browser_client: TestClient
) -> None:
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    for sent in ({}, {"csrf_token": "forged"}):
        answer = browser_client.post("/spaces", data={"name": "sneaky", **sent})
        assert answer.status_code == 403
        assert "CSRF token missing or wrong" in answer.text
    with cloud.database.session() as session:
        assert session.scalar(select(Space).where(Space.name == "sneaky")) is None


def test_sign_in_with_a_second_factor(cloud: Cloud, browser_client: TestClient) -> None:
    with cloud.database.session() as session:
        user = session.scalar(select(User).where(User.username == ADMIN))
        assert user is not None
        secret = begin_totp(user, cloud.app.state.cloudos.apps.vault)[0]
        confirm_totp(user, cloud.app.state.cloudos.apps.vault, pyotp.TOTP(secret).now())
    form = {"username": ADMIN, "password": ADMIN_PASSWORD, **signin_form(browser_client)}
    first = browser_client.post("/signin", data=form)
    assert first.status_code == 200
    assert 'name="code"' in first.text
    assert "Enter the code from your authenticator app" in first.text
    wrong = browser_client.post("/signin", data={**form, "code": "000000"})
    assert wrong.status_code == 401
    assert 'name="code"' in wrong.text
    right = browser_client.post("/signin", data={**form, "code": pyotp.TOTP(secret).now()})
    assert (right.status_code, right.headers["location"]) == (303, "/")


def test_lockout_refuses_even_the_right_password_with_the_same_words(
    browser_client: TestClient,
) -> None:
    token = signin_form(browser_client)
    for _ in range(PAIR_MAX_FAILURES):
        browser_client.post("/signin", data={"username": ADMIN, "password": "wrong", **token})
    locked = browser_client.post(
        "/signin", data={"username": ADMIN, "password": ADMIN_PASSWORD, **token}
    )
    assert locked.status_code == 401
    assert "or too many attempts" in locked.text
    assert browser_client.get("/", follow_redirects=False).status_code == 303


def test_the_sign_in_form_refuses_a_post_without_its_token_or_with_another(
    browser_client: TestClient, cloud: Cloud
) -> None:
    # Issue 16 (login CSRF): another site could sign the visitor into its own account.
    form = {"username": ADMIN, "password": ADMIN_PASSWORD}
    for token in ({}, {"csrf_token": "forged-by-another-site-0123456789"}):
        refused = browser_client.post("/signin", data={**form, **token})
        assert refused.status_code == 403
        assert "expired or was sent from another site" in refused.text
        assert "cloudos_session" not in refused.headers.get("set-cookie", "")
        assert browser_client.get("/", follow_redirects=False).status_code == 303
    # A token without the cookie it was handed out with is as good as none.
    token = signin_form(browser_client)
    browser_client.cookies.clear()
    assert browser_client.post("/signin", data={**form, **token}).status_code == 403
    # The refusal's own form carries a fresh pair, so signing in from it works.
    again = browser_client.post("/signin", data=form)
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', again.text)
    assert fresh is not None
    signed_in = browser_client.post("/signin", data={**form, "csrf_token": fresh.group(1)})
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/")
    with cloud.database.session() as session:  # refused posts were never tried on the account
        assert session.scalar(select(LoginThrottle).where(LoginThrottle.failures > 0)) is None


def test_sign_in_goes_back_only_to_pages_of_this_site(browser_client: TestClient) -> None:
    form = {"username": ADMIN, "password": ADMIN_PASSWORD, **signin_form(browser_client)}
    for target, expected in (
        ("/catalog?q=db", "/catalog?q=db"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
    ):
        answer = browser_client.post("/signin", data={**form, "next": target})
        assert answer.headers["location"] == expected


# The pages a signed-in cluster admin reaches from the menu and the space/app links.
MAIN_PAGES = (
    "/",
    "/spaces/default",
    "/spaces/default/settings",
    "/spaces/default/routes",
    "/spaces/default/audit",
    "/spaces/default/apps/site-0005",
    "/spaces/default/apps/site-0005/parameters",
    "/portal/default",
    "/catalog",
    "/catalog/org.cloudos.static-website",
    "/audit",
    "/account",
)


def _statements_per_page(
    cloud: Cloud, client: TestClient, pages: tuple[str, ...] = MAIN_PAGES
) -> dict[str, int]:
    """How many SQL statements each page runs (the second visit: nothing cached cold)."""
    counted: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        counted.append(statement)

    out = {}
    for path in pages:
        assert client.get(path).status_code == 200, path
        event.listen(cloud.database.engine, "before_cursor_execute", count)
        try:
            answer = client.get(path)
        finally:
            event.remove(cloud.database.engine, "before_cursor_execute", count)
        assert answer.status_code == 200, path
        out[path], counted[:] = len(counted), []
    return out


@pytest.mark.slow
def test_pages_run_as_many_queries_with_a_thousand_apps_as_with_ten(
    cloud: Cloud, browser_client: TestClient
) -> None:
    # Render time itself is measured by bench/bench_ui_pages.py (docs/benchmarks.md);
    # here the cause of slow pages that grows with the data: a query per app or space.
    install_sites(cloud, range(10))
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    with_ten = _statements_per_page(cloud, browser_client)
    install_sites(cloud, range(10, 1000))
    with_a_thousand = _statements_per_page(cloud, browser_client)
    assert with_a_thousand == with_ten
    dashboard = browser_client.get("/").text
    assert len(set(re.findall(r'href="/spaces/default/apps/(site-\d+)"', dashboard))) == 1000
    assert "site-0999" in browser_client.get("/spaces/default").text


def _join_spaces(cloud: Cloud, names: range) -> None:
    """Spaces s-NN with one app each, where 'dev' is a developer."""
    with cloud.database.session() as session:
        for n in names:
            space = create_space(session, name=f"s-{n:02}")
            session.add(App(space=space, name="app", stack=f"st-{n}", template_id="t.x"))
            set_member(session, space, username="dev", role="developer", granted_by="owner")


def test_a_members_pages_run_as_many_queries_in_twenty_spaces_as_in_two(
    cloud: Cloud, browser_client: TestClient
) -> None:
    # A member's role is looked up for every space a page lists: once, not per space.
    with cloud.database.session() as session:
        create_user(session, username="dev", password=PASSWORD)
    _join_spaces(cloud, range(2))
    sign_in(browser_client, "dev", PASSWORD)
    pages = ("/", "/account", "/catalog/org.cloudos.static-website", "/spaces/s-01")
    in_two = _statements_per_page(cloud, browser_client, pages)
    _join_spaces(cloud, range(2, 20))
    in_twenty = _statements_per_page(cloud, browser_client, pages)
    assert in_twenty == in_two
    wizard = browser_client.get("/catalog/org.cloudos.static-website").text
    assert len(re.findall(r"<option(?: selected)?>s-\d+</option>", wizard)) == 20
    assert browser_client.get("/account").text.count("developer") >= 20


def test_the_dashboard_shows_recent_events_of_the_visitors_spaces_only(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    with cloud.database.session() as session:
        for app in session.scalars(select(App)):
            session.add(AppEvent(app=app, kind="status", message=f"{app.name} went wrong"))
    sign_in(browser_client, "vera", PASSWORD)
    dashboard = browser_client.get("/").text
    assert "Recent events" in dashboard
    assert "team-app went wrong" in dashboard
    assert "other-app went wrong" not in dashboard


def test_the_install_page_says_how_the_app_takes_its_addon_passwords(
    browser_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    page = browser_client.get("/catalog/org.wordpress.wordpress").text
    assert "from secret files, never from its environment" in page
    wordpress = _pages._catalog()["org.wordpress.wordpress"]
    plain = wordpress.model_copy(update={"credentials": "env"})
    monkeypatch.setattr(_pages, "_catalog", lambda: {"org.wordpress.wordpress": plain})
    page = browser_client.get("/catalog/org.wordpress.wordpress").text
    assert "from environment variables, which anyone who may inspect its services" in page
    assert "from secret files" not in page
