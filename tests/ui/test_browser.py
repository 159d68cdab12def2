"""The web interface in a real browser: sign in, create a space, find a template,
install it through the wizard, look after the app, remove it, sign out."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, screenshot


def test_sign_in_install_through_the_wizard_and_remove(server: str, page: Any) -> None:
    page.goto(server + "/")
    expect(page).to_have_url(re.compile(r"/signin\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "signin")

    page.get_by_label("User name").fill(ADMIN)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator("#signin-error")
    expect(error).to_contain_text("Sign-in refused: wrong user name, password or code")
    expect(page.get_by_label("User name")).to_have_value(ADMIN)
    expect(page.get_by_label("User name")).to_have_attribute("aria-describedby", "signin-error")
    screenshot(page, "signin-refused")

    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server + "/")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    # The platform's health loads after the page: here no engine answers, and it says so.
    expect(page.locator("#health")).to_contain_text("Docker engine: problem")
    # The node's CPU and memory: the first poll has memory only; the next one (5 s on)
    # sends the counters back, has a CPU figure and starts the plot.
    usage = page.locator("#usage")
    expect(usage).to_contain_text("the node the control plane runs on")
    expect(usage).to_contain_text(re.compile(r"[\d.]+ [MG]iB of [\d.]+ [MG]iB"))
    plot = usage.get_by_role("img", name=re.compile(r"^CPU \(solid\) and memory"))
    expect(plot).to_be_visible(timeout=15_000)
    expect(usage).to_contain_text(re.compile(r"\d+\.\d %"))

    page.get_by_label("Name", exact=True).fill("Team A")
    page.get_by_role("button", name="Create space").click()
    expect(page.locator("#name-error")).to_contain_text("use 1-20 lower-case letters")
    page.get_by_label("Name", exact=True).fill("team")
    page.get_by_role("button", name="Create space").click()
    expect(page).to_have_url(server + "/spaces/team")
    expect(page.get_by_role("heading", name="Space team")).to_be_visible()
    screenshot(page, "space")

    page.get_by_role("link", name="Install an app").click()
    expect(page).to_have_url(server + "/catalog?space=team")
    cards = page.locator("#templates .card")
    assert cards.count() >= 5
    # Icons come from the control plane (the page's policy allows no other site).
    page.wait_for_function(
        "() => [...document.querySelectorAll('#templates img')].slice(0, 3)"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    screenshot(page, "catalog-all")
    # Typing filters as you type (HTMX), without a page load.
    page.get_by_label("Search templates").press_sequentially("wordp")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("WordPress")
    expect(page).to_have_url(re.compile(r"q=wordp"))
    screenshot(page, "catalog")

    cards.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile("Install WordPress"))).to_be_visible()
    expect(page.get_by_label("Space")).to_have_value("team")
    expect(page.get_by_label("Table prefix")).to_have_value("wp_")
    page.get_by_label("App name").fill("My Blog")
    page.get_by_label("Table prefix").fill("wp-")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#app_name-error")).to_contain_text("lower-case letters")
    expect(page.locator("#p_table_prefix-error")).to_contain_text("does not match the pattern")
    expect(page.get_by_label("Table prefix")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "install-invalid")

    page.get_by_label("App name").fill("blog")
    page.get_by_label("Table prefix").fill("blog_")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator(".preview pre")
    expect(preview).to_contain_text("WORDPRESS_TABLE_PREFIX: blog_")
    expect(preview).to_contain_text("ui-test-team-blog")
    expect(page.locator(".field-error")).to_have_count(0)
    screenshot(page, "install-preview")

    page.get_by_role("button", name="Install").click()
    expect(page).to_have_url(server + "/spaces/team/apps/blog")
    expect(page.get_by_role("heading", name=re.compile("^blog"))).to_be_visible()
    expect(page.locator(".app-status")).to_contain_text("pending")
    expect(page.locator("a[href^='https://blog.team.localhost']")).to_be_visible()
    expect(page.locator("#services")).to_contain_text("No service of this app runs")
    expect(page.locator(".events")).to_contain_text("installed org.wordpress.wordpress")
    expect(page.get_by_role("row", name=re.compile(r"1 \(current\)"))).to_contain_text("installed")
    screenshot(page, "app")

    page.get_by_role("button", name="Stop").click()
    expect(page.locator(".app-status")).to_contain_text("stopping")
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    expect(page.locator(".events")).to_contain_text("desired: stopped")

    page.get_by_role("link", name="Remove…").click()
    expect(page.get_by_role("heading", name="Remove blog from team?")).to_be_visible()
    expect(page.locator(".warning")).to_contain_text("volume content")
    expect(page.locator(".warning")).to_contain_text("mysql database")
    expect(page.locator(".warning")).to_contain_text("https://blog.team.localhost")
    screenshot(page, "remove")
    page.get_by_role("button", name="Remove blog").click()
    expect(page).to_have_url(server + "/spaces/team")
    expect(page.locator("main")).to_contain_text("No apps in this space yet.")

    page.get_by_role("link", name="Dashboard").first.click()
    screenshot(page, "dashboard")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    page.goto(server + "/spaces/team")
    expect(page).to_have_url(re.compile(r"/signin\?next=/spaces/team$"))


def test_keyboard_and_phone(server: str, page: Any, chromium: Any) -> None:
    page.goto(server + "/signin")
    # Signing in with the keyboard alone: the user name has the focus from the start.
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type(ADMIN)
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    # On every page the first Tab reaches the skip link, and the focus is visible.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    # Every input of every page so far has a label.
    for path in ("/", "/catalog", "/catalog/org.wordpress.wordpress"):
        page.goto(server + path)
        unlabelled = page.evaluate(
            """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
               .filter(e => !e.labels || e.labels.length === 0).map(e => e.name)"""
        )
        assert unlabelled == [], (path, unlabelled)

    phone = chromium.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    try:
        tab = phone.new_page()
        tab.goto(server + "/signin")
        tab.get_by_label("User name").fill(ADMIN)
        tab.get_by_label("Password").fill(ADMIN_PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        for path, name in (("/", "phone-dashboard"), ("/catalog", "phone-catalog")):
            tab.goto(server + path)
            wider = tab.evaluate("document.documentElement.scrollWidth > window.innerWidth")
            assert not wider, f"{path} scrolls sideways on a phone"
            screenshot(tab, name)
    finally:
        phone.close()
