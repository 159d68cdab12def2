"""Account, space settings, routes, audit log and portal pages: roles as in the API's
permission table, CSRF, and the main path of each."""

from __future__ import annotations

import re

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudos.identity import create_user, set_member, verify_password
from cloudos.settings import Settings
from cloudos.spaces import create_space
from cloudos.store.models import (
    ApiToken,
    App,
    AuditEvent,
    DomainClaim,
    Membership,
    RouteRow,
    Space,
    User,
)
from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, Cloud, sign_in

PASSWORD = "another long passphrase"


def _people(cloud: Cloud) -> None:
    """Space 'team' (vera viewer, adam admin, olga owner), space 'other'; 'nobody'."""
    with cloud.database.session() as session:
        for name in ("team", "other"):
            space = create_space(session, name=name)
            session.add(
                App(
                    space=space,
                    name=f"{name}-app",
                    stack=f"s-{name}",
                    template_id="org.wordpress.wordpress",
                )
            )
        for user in ("vera", "adam", "olga", "nobody"):
            create_user(session, username=user, password=PASSWORD)
        team = session.scalar(select(Space).where(Space.name == "team"))
        assert team is not None
        set_member(session, team, username="vera", role="viewer", granted_by="owner")
        set_member(session, team, username="adam", role="admin", granted_by="owner")
        set_member(session, team, username="olga", role="owner", granted_by="owner")


def _roles(cloud: Cloud) -> dict[str, str]:
    with cloud.database.session() as session:
        rows = session.execute(
            select(User.username, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .join(Space, Space.id == Membership.space_id)
            .where(Space.name == "team")
        )
        return {row.username: row.role for row in rows}


def test_a_stranger_finds_no_page_of_another_space(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "nobody", PASSWORD)
    for path in (
        "/spaces/team/settings",
        "/spaces/team/routes",
        "/spaces/team/audit",
        "/spaces/team/certificates",
        "/portal/team",
    ):
        answer = browser_client.get(path)
        assert answer.status_code == 404, path
        assert "team-app" not in answer.text
    for path, form in (
        ("/spaces/team/members", {"username": "nobody", "role": "owner"}),
        ("/spaces/team/invitations", {"role": "viewer"}),
        ("/spaces/team/domains", {"name": "x.localhost"}),
        ("/spaces/team/routes", {"app": "team-app", "domain": "x.localhost"}),
    ):
        assert browser_client.post(path, data={"csrf_token": csrf, **form}).status_code == 404
    assert _roles(cloud) == {"vera": "viewer", "adam": "admin", "olga": "owner"}
    assert browser_client.get("/audit").status_code == 403


def test_a_viewer_reads_settings_but_changes_nothing(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "vera", PASSWORD)
    page = browser_client.get("/spaces/team/settings")
    assert page.status_code == 200
    assert "olga" in page.text
    assert "Quotas" in page.text
    assert "Add a member" not in page.text
    assert "Save quotas" not in page.text
    refused = browser_client.post(
        "/spaces/team/members", data={"csrf_token": csrf, "username": "vera", "role": "owner"}
    )
    assert refused.status_code == 403
    assert "admin role in space &#39;team&#39; needed" in refused.text
    assert browser_client.get("/spaces/team/audit").status_code == 403
    routes = browser_client.get("/spaces/team/routes")
    assert routes.status_code == 200
    assert "Add a route" not in routes.text
    assert _roles(cloud)["vera"] == "viewer"
    with cloud.database.session() as session:
        denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "member_set"))
        assert [(e.actor, e.result) for e in denied] == [("vera", "failed 403")]


def test_an_admin_manages_members_but_only_owners_make_owners(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "adam", PASSWORD)
    added = browser_client.post(
        "/spaces/team/members",
        data={"csrf_token": csrf, "username": "nobody", "role": "developer"},
    )
    assert (added.status_code, added.headers["location"]) == (303, "/spaces/team/settings")
    owner = browser_client.post(
        "/spaces/team/members",
        data={"csrf_token": csrf, "username": "vera", "role": "owner", "field": "member-vera"},
    )
    assert owner.status_code == 403
    assert 'id="member-vera-error"' in owner.text
    assert "only an owner may make someone an owner" in owner.text
    unknown = browser_client.post(
        "/spaces/team/members", data={"csrf_token": csrf, "username": "ghost", "role": "viewer"}
    )
    assert unknown.status_code == 404
    assert 'id="member-error"' in unknown.text
    assert "ghost" in unknown.text
    removed = browser_client.post("/spaces/team/members/olga/remove", data={"csrf_token": csrf})
    assert removed.status_code == 403
    gone = browser_client.post("/spaces/team/members/vera/remove", data={"csrf_token": csrf})
    assert gone.status_code == 303
    assert _roles(cloud) == {"adam": "admin", "olga": "owner", "nobody": "developer"}

    invitation = browser_client.post(
        "/spaces/team/invitations", data={"csrf_token": csrf, "role": "viewer"}
    )
    assert invitation.status_code == 200
    code = re.search(r'id="invitation-code"[^>]*>([^<]+)<', invitation.text)
    assert code is not None
    assert len(code.group(1)) > 16
    again = browser_client.get("/spaces/team/settings").text
    assert code.group(1) not in again
    assert 'viewer <span class="muted">by adam' in again
    as_owner = browser_client.post(
        "/spaces/team/invitations", data={"csrf_token": csrf, "role": "owner"}
    )
    assert as_owner.status_code == 403
    assert 'id="invitation-error"' in as_owner.text

    claimed = browser_client.post(
        "/spaces/team/domains", data={"csrf_token": csrf, "name": "team.example.com"}
    )
    assert claimed.status_code == 303
    twice = browser_client.post(
        "/spaces/team/domains", data={"csrf_token": csrf, "name": "team.example.com"}
    )
    assert twice.status_code == 409
    assert 'id="domain-error"' in twice.text
    assert "team.example.com" in browser_client.get("/spaces/team/settings").text
    released = browser_client.post(
        "/spaces/team/domains/team.example.com/release", data={"csrf_token": csrf}
    )
    assert released.status_code == 303
    with cloud.database.session() as session:
        assert session.scalar(select(DomainClaim)) is None
    # Quotas and policy: only a cluster admin changes them.
    quota = browser_client.post("/spaces/team/quota", data={"csrf_token": csrf, "max_apps": "1"})
    assert quota.status_code == 403
    with cloud.database.session() as session:
        team = session.scalar(select(Space).where(Space.name == "team"))
        assert team is not None
        assert team.max_apps is None
        lines = session.execute(
            select(AuditEvent.action, AuditEvent.result, AuditEvent.detail).where(
                AuditEvent.actor == "adam"
            )
        ).all()
    assert ("member_set", "ok") in [(a, r) for a, r, _ in lines]
    assert all('"via": "web"' in (detail or "") for a, _, detail in lines if a != "login")


def test_a_cluster_admin_sets_quotas_and_policy(cloud: Cloud, browser_client: TestClient) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    bad = browser_client.post("/spaces/team/quota", data={"csrf_token": csrf, "max_apps": "many"})
    assert bad.status_code == 422
    assert 'id="quota-error"' in bad.text
    ok = browser_client.post(
        "/spaces/team/quota",
        data={"csrf_token": csrf, "max_apps": "5", "max_cpus": "2", "max_memory": "1G"},
    )
    assert ok.status_code == 303
    policy = browser_client.post(
        "/spaces/team/policy",
        data={"csrf_token": csrf, "host_paths": "true", "nonsense": "true"},
    )
    assert policy.status_code == 303
    with cloud.database.session() as session:
        team = session.scalar(select(Space).where(Space.name == "team"))
        assert team is not None
        assert (team.max_apps, team.max_cpus, team.max_memory) == (5, 2.0, 1024**3)
        assert team.policy == ["host_paths"]
    shown = browser_client.get("/spaces/team/settings").text
    assert "of 5</dd>" in shown
    assert "of 2.0</dd>" in shown


def test_a_cluster_admin_allows_host_ports_on_the_settings_page(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    bad = browser_client.post(
        "/spaces/team/policy", data={"csrf_token": csrf, "host_paths": "true", "ports": "9-1"}
    )
    assert bad.status_code == 422
    assert "ports &#39;9-1&#39;: ports go from 1 to 65535" in bad.text
    assert 'value="9-1"' in bad.text  # what was typed stays in the field
    ok = browser_client.post(
        "/spaces/team/policy", data={"csrf_token": csrf, "ports": "20000-20100"}
    )
    assert ok.status_code == 303
    with cloud.database.session() as session:
        team = session.scalar(select(Space).where(Space.name == "team"))
        assert team is not None
        assert (team.policy, team.ports) == ([], "20000-20100")
    assert 'value="20000-20100"' in browser_client.get("/spaces/team/settings").text
    cleared = browser_client.post("/spaces/team/policy", data={"csrf_token": csrf, "ports": ""})
    assert cleared.status_code == 303
    with cloud.database.session() as session:
        assert session.scalar(select(Space.ports).where(Space.name == "team")) is None


def test_changes_without_the_csrf_token_are_refused(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    sign_in(browser_client, "olga", PASSWORD)
    for path, form in (
        ("/spaces/team/members", {"username": "nobody", "role": "viewer"}),
        ("/spaces/team/invitations", {"role": "viewer"}),
        ("/account/password", {"current_password": PASSWORD, "new_password": "x" * 12}),
        ("/account/tokens", {"name": "ci"}),
        ("/account/2fa", {}),
    ):
        answer = browser_client.post(path, data={"csrf_token": "forged", **form})
        assert answer.status_code == 403, path
        assert "CSRF token missing or wrong" in answer.text
    assert "nobody" not in _roles(cloud)
    with cloud.database.session() as session:
        assert session.scalar(select(ApiToken)) is None
        olga = session.scalar(select(User).where(User.username == "olga"))
        assert olga is not None
        assert olga.totp_secret is None


def test_account_password_two_factor_and_tokens(cloud: Cloud, browser_client: TestClient) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "vera", PASSWORD)
    wrong = browser_client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": "nope", "new_password": "x" * 12},
    )
    assert wrong.status_code == 403
    # Each error lands on the field it is about, without repeating the field's name.
    assert 'id="current_password-error">wrong password</p>' in wrong.text
    short = browser_client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": "short"},
    )
    assert short.status_code == 422
    assert 'id="new_password-error">use at least 10 characters</p>' in short.text

    unproven = browser_client.post(
        "/account/2fa", data={"csrf_token": csrf, "begin_password": "no"}
    )
    assert unproven.status_code == 403
    assert 'id="begin_password-error"' in unproven.text
    assert 'id="totp-secret"' not in unproven.text
    begun = browser_client.post(
        "/account/2fa", data={"csrf_token": csrf, "begin_password": PASSWORD}
    )
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', begun.text)
    assert secret is not None
    assert "otpauth://totp/" in begun.text
    bad = browser_client.post("/account/2fa/confirm", data={"csrf_token": csrf, "code": "000000"})
    assert bad.status_code in (403, 422)
    assert 'id="code-error"' in bad.text
    confirmed = browser_client.post(
        "/account/2fa/confirm",
        data={"csrf_token": csrf, "code": pyotp.TOTP(secret.group(1)).now()},
    )
    assert confirmed.status_code == 200
    assert confirmed.text.count("<li><code>") == 10
    totp = pyotp.TOTP(secret.group(1))
    off = browser_client.post(
        "/account/2fa/disable",
        data={"csrf_token": csrf, "disable_password": "nope", "disable_code": totp.now()},
    )
    assert off.status_code == 403
    assert 'id="disable_password-error"' in off.text
    no_code = browser_client.post(
        "/account/2fa/disable", data={"csrf_token": csrf, "disable_password": PASSWORD}
    )
    assert no_code.status_code == 403
    assert 'id="disable_code-error">the current two-factor code' in no_code.text
    assert "Two-factor authentication is off" not in no_code.text

    above = browser_client.post(
        "/account/tokens",
        data={"csrf_token": csrf, "name": "ci", "space": "team", "role": "developer"},
    )
    assert above.status_code == 403
    assert 'id="role-error">you are viewer in space &#39;team&#39;, not developer</p>' in above.text
    spoof = browser_client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "ci-\u202edorp"}
    )
    assert spoof.status_code == 422
    assert 'id="name-error"' in spoof.text
    assert "character 4 is U+202E (RIGHT-TO-LEFT OVERRIDE)" in spoof.text
    elsewhere = browser_client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "ci", "space": "other"}
    )
    assert elsewhere.status_code == 404
    assert 'id="space-error"' in elsewhere.text
    made = browser_client.post(
        "/account/tokens",
        data={"csrf_token": csrf, "name": "ci", "space": "team", "expires_days": "30"},
    )
    assert made.status_code == 200
    token = re.search(r'id="new-token"[^>]*>([^<]+)<', made.text)
    assert token is not None
    assert (
        browser_client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"}
        ).status_code
        == 200
    )
    listed = browser_client.get("/account").text
    assert token.group(1) not in listed
    assert "viewer in team" in listed
    with cloud.database.session() as session:
        row = session.scalar(select(ApiToken))
        assert row is not None
        token_id = row.id
    revoked = browser_client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303
    assert (
        browser_client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {token.group(1)}"}
        ).status_code
        == 401
    )

    uncoded = browser_client.post(
        "/account/password",
        data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": "x" * 12},
    )
    assert uncoded.status_code == 403  # two-factor sign-in is on: a code is due too
    assert 'id="password_code-error">the current two-factor code' in uncoded.text
    changed = browser_client.post(
        "/account/password",
        data={
            "csrf_token": csrf,
            "current_password": PASSWORD,
            "new_password": "x" * 12,
            "password_code": totp.now(),
        },
    )
    assert changed.status_code == 200, changed.text
    with cloud.database.session() as session:
        vera = session.scalar(select(User).where(User.username == "vera"))
        assert vera is not None
        assert verify_password(vera.password_hash, "x" * 12)


def test_audit_log_for_cluster_and_space_admins(cloud: Cloud, browser_client: TestClient) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "adam", PASSWORD)
    browser_client.post("/spaces/team/invitations", data={"csrf_token": csrf, "role": "viewer"})
    page = browser_client.get("/spaces/team/audit?actor=adam")
    assert page.status_code == 200
    assert "invitation_create" in page.text
    assert "/api/v1/spaces/team/audit?format=jsonl" in page.text
    assert browser_client.get("/spaces/team/audit?since=yesterday").status_code == 422
    assert browser_client.get("/audit").status_code == 403
    export = browser_client.get("/api/v1/spaces/team/audit?format=jsonl&actor=adam")
    assert export.status_code == 200
    assert '"invitation_create"' in export.text
    browser_client.post("/signout", data={"csrf_token": csrf})
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    everything = browser_client.get("/audit?action=invitation_create&since=2000-01-01")
    assert everything.status_code == 200
    assert "adam" in everything.text
    assert "Nothing recorded with these filters" in browser_client.get("/audit?actor=ghost").text


def test_portal_shows_the_space_apps_as_tiles(cloud: Cloud, browser_client: TestClient) -> None:
    _people(cloud)
    sign_in(browser_client, "vera", PASSWORD)
    page = browser_client.get("/portal/team")
    assert page.status_code == 200
    assert "team-app" in page.text
    assert "WordPress" in page.text
    assert "other-app" not in page.text
    assert 'class="tile"' in page.text


def test_a_portal_tile_opens_the_apps_default_route(
    cloud: Cloud, browser_client: TestClient
) -> None:
    """An app with an alias sorted before its default domain still opens at its own."""
    _people(cloud)
    with cloud.database.session() as session:
        app = session.scalar(select(App).where(App.name == "team-app"))
        assert app is not None
        for domain, default in (("team-app.team.localhost", True), ("aaa.example.test", False)):
            session.add(
                RouteRow(
                    space_id=app.space_id,
                    app_id=app.id,
                    domain=domain,
                    service="web",
                    port=80,
                    is_default=default,
                )
            )
    sign_in(browser_client, "vera", PASSWORD)
    port = "" if Settings().https_port == 443 else f":{Settings().https_port}"
    page = browser_client.get("/portal/team")
    assert f'href="https://team-app.team.localhost{port}/"' in page.text
    assert "aaa.example.test" not in page.text


def test_routes_page_for_developers(cloud: Cloud, browser_client: TestClient) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "adam", PASSWORD)
    page = browser_client.get("/spaces/team/routes")
    assert page.status_code == 200
    assert "Add a route" in page.text
    assert 'hx-get="/spaces/team/certificates"' in page.text
    bad = browser_client.post(
        "/spaces/team/redirects",
        data={
            "csrf_token": csrf,
            "domain": "www.team.localhost",
            "to": "https://team.localhost",
            "status": "999",
        },
    )
    assert bad.status_code == 422
    assert 'id="redirect-error"' in bad.text
    made = browser_client.post(
        "/spaces/team/redirects",
        data={
            "csrf_token": csrf,
            "domain": "www.team.localhost",
            "to": "https://team.localhost",
            "status": "301",
            "keep_path": "true",
        },
    )
    assert made.status_code == 303, made.text
    assert (
        "www.team.localhost/ → https://team.localhost"
        in browser_client.get("/spaces/team/routes").text
    )
    removed = browser_client.post(
        "/spaces/team/redirects/remove",
        data={"csrf_token": csrf, "domain": "www.team.localhost", "path": "/"},
    )
    assert removed.status_code == 303
    certificates = browser_client.get("/spaces/team/certificates")
    assert certificates.status_code == 200
    assert "cannot be read now" in certificates.text


def test_the_routes_page_refuses_another_spaces_names_and_the_platforms(
    cloud: Cloud, browser_client: TestClient
) -> None:
    _people(cloud)
    csrf = sign_in(browser_client, "adam", PASSWORD)
    for name, message in (
        ("OTHER.localhost.", "domain other.localhost belongs to another space"),
        ("www.other.localhost", "domain www.other.localhost belongs to another space"),
        ("cloud.localhost", "domain cloud.localhost is reserved for the platform"),
    ):
        redirect = browser_client.post(
            "/spaces/team/redirects",
            data={"csrf_token": csrf, "domain": name, "to": "https://team.localhost"},
        )
        assert redirect.status_code == 409
        assert message in redirect.text
        claim = browser_client.post(
            "/spaces/team/domains", data={"csrf_token": csrf, "name": name, "tls": ""}
        )
        assert claim.status_code == 409
        assert message in claim.text
    page = browser_client.get("/spaces/team/routes").text
    assert "other.localhost" not in page
    assert "cloud.localhost" not in page
