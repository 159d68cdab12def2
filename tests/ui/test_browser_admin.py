"""The people-and-access pages in a real browser: two-factor on the account page,
members and invitations, the audit log, the space portal (desktop and phone)."""

from __future__ import annotations

import re
from typing import Any

import pyotp
from playwright.sync_api import expect

from cloudos.identity import create_user
from cloudos.spaces import create_space
from cloudos.store.models import App
from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, Cloud, screenshot


def test_account_members_invitations_audit_and_portal(cloud: Cloud, server: str, page: Any) -> None:
    with cloud.database.session() as session:
        team = create_space(session, name="team", domain="team.localhost")
        session.add(
            App(space=team, name="blog", stack="team-blog", template_id="org.wordpress.wordpress")
        )
        create_user(session, username="maria", password="a long enough passphrase")

    page.goto(server + "/account")
    page.get_by_label("User name").fill(ADMIN)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Account of {ADMIN}")).to_be_visible()

    page.locator("#begin_password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Set up two-factor authentication").click()
    secret = page.locator("#totp-secret").inner_text()
    expect(page.locator("#totp-uri")).to_contain_text("otpauth://totp/")
    page.get_by_label("Code from the app").fill("000000")
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#code-error")).to_be_visible()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_label("Token name").fill("ci")
    page.locator("#space").select_option("team")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_contain_text("cos_")
    screenshot(page, "account")

    page.goto(server + "/spaces/team")
    page.get_by_role("link", name="Members and settings").click()
    expect(page.get_by_role("heading", name="Settings of space team")).to_be_visible()
    page.get_by_label("User name").fill("ghost")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator("#member-error")).to_contain_text("ghost")
    page.get_by_label("User name").fill("maria")
    page.locator("#member-role").select_option("developer")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_label("Role of maria")).to_have_value("developer")
    page.get_by_label("Role of the invited person").select_option("viewer")
    page.get_by_role("button", name="Create invitation").click()
    expect(page.locator("#invitation-code")).not_to_be_empty()
    screenshot(page, "space-settings")

    page.get_by_role("link", name="Audit log").first.click()
    expect(page).to_have_url(server + "/audit")
    page.get_by_label("Action").fill("member_set")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"action=member_set"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)  # ghost refused, maria added
    expect(page.locator("#export")).to_have_attribute("href", re.compile("format=jsonl"))
    screenshot(page, "audit")

    page.goto(server + "/portal/team")
    expect(page.locator(".tile")).to_have_count(1)
    expect(page.locator(".tile")).to_contain_text("blog")
    screenshot(page, "portal")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "portal-phone")
    page.goto(server + "/spaces/team/settings")
    screenshot(page, "space-settings-phone")
