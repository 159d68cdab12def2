"""The web interface on the real swarm and router, in Debian's Chromium: sign in,
create a space, install a PHP + MySQL app (the catalog's guestbook) in it through the
wizard, watch it become running, open it through the router and sign the guestbook,
open it again from the space's portal (from the space's own domain, at the platform
host), see the cluster's health and CPU/memory on the dashboard, read its logs,
change a parameter, compare revisions, roll back, remove it."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

from tests.conftest import unavailable
from tests.e2e.conftest import ControlPlane
from tests.helpers import wait_until
from tests.ui.conftest import CHROMIUM, screenshot

USER, PASSWORD = "web-admin", "a long passphrase for the browser"
TEMPLATE = "org.cloudos.php-guestbook"
SPACE = "shop"  # its domain: shop.localhost, which Chromium resolves to 127.0.0.1
SLOW = 300_000  # ms: deploying on a 2-core machine, image start, health checks


@pytest.fixture
def tab(routed_plane: ControlPlane) -> Iterator[Any]:
    """A browser tab that accepts the router's self-signed certificates."""
    if shutil.which(CHROMIUM) is None:
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium (the browser tests need it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, ignore_https_errors=True
        )
        context.set_default_timeout(30_000)
        # Only this machine: the control plane on 127.0.0.1, apps at *.localhost.
        context.route(
            re.compile(r"^https?://(?!127\.0\.0\.1[:/])(?![a-z0-9.-]*localhost[:/])"),
            lambda route: route.abort(),
        )
        page = context.new_page()
        # Pages here wait on a real swarm on a 2-core machine: no assertion gives up
        # in Playwright's default 5 s.
        expect.set_options(timeout=30_000)
        try:
            yield page
        finally:
            expect.set_options(timeout=5_000)
            screenshot(page, "e2e-last")  # where the flow ended, to see why if it failed
        context.close()
        browser.close()


def _status(page: Any) -> Any:
    """The status word alone (the line also says "desired running")."""
    return page.locator("#app-status .status")


def test_install_open_log_update_rollback_and_remove_in_the_browser(
    routed_plane: ControlPlane, tab: Any
) -> None:
    plane = routed_plane
    made = plane.api.post("/users", json={"username": USER, "password": PASSWORD, "is_admin": True})
    assert made.status_code == 201, made.text
    page = tab

    page.goto(plane.url + "/")
    expect(page).to_have_url(re.compile(r"/signin\?next=/$"))
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    screenshot(page, "e2e-dashboard")

    # A space of its own, then its catalog, then the wizard.
    page.get_by_label("Name", exact=True).fill(SPACE)
    page.get_by_role("button", name="Create space").click()
    expect(page).to_have_url(f"{plane.url}/spaces/{SPACE}")
    page.get_by_role("link", name="Install an app").click()
    expect(page).to_have_url(f"{plane.url}/catalog?space={SPACE}")
    page.get_by_label("Search templates").press_sequentially("guestbook")
    page.locator("#templates .card").filter(has_text="PHP guestbook").get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile("Install PHP guestbook"))).to_be_visible()
    expect(page.get_by_label("Space")).to_have_value(SPACE)
    page.get_by_label("App name").fill("site")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".preview pre")).to_contain_text("PHP_MEMORY_LIMIT: 128M")
    screenshot(page, "e2e-install-preview")
    page.get_by_role("button", name="Install").click()
    expect(page).to_have_url(f"{plane.url}/spaces/{SPACE}/apps/site")
    screenshot(page, "e2e-app-deploying")

    # The status line updates itself until the app runs.
    expect(_status(page)).to_have_text("running", timeout=SLOW)
    expect(page.locator("#app-status")).to_have_attribute("data-settled", "true")
    expect(page.locator("#services")).to_contain_text("web")
    # CPU and memory: a reading per service, and after a few polls a plot of them.
    stats = page.locator("#stats")
    expect(stats.locator("td").first).to_have_text("web", timeout=60_000)
    expect(stats).to_contain_text("MiB")
    expect(stats.locator("th").last).to_contain_text(re.compile(r"Last (?:[2-9]|\d{2,}) readings"))
    points = stats.locator("polyline.cpu").get_attribute("points") or ""
    assert len(points.split()) >= 2, points
    screenshot(page, "e2e-app-running")

    # Open it through the router: the PHP runtime's own page.
    address = page.locator(f'#main a[href^="https://site.{SPACE}."]')
    url = address.get_attribute("href")
    assert url is not None
    assert url.endswith(f":{plane.https_port}/"), url
    marker = f"ui-flow-{uuid.uuid4().hex[:8]}"
    site = page.context.new_page()

    def served() -> bool:
        try:
            answer = site.goto(f"{url}?visit={marker}", wait_until="load")
        except PlaywrightError:  # the router may need a moment for the new route
            return False
        return answer is not None and answer.status == 200

    wait_until(served, timeout=120, what="the app answers through the router")
    # A PHP page on its own MySQL database: a row written through the router reads back.
    expect(site.get_by_role("heading", name="Guestbook")).to_be_visible()
    expect(site.locator("#count")).to_have_text("0 entries")
    site.get_by_label("Message").fill(marker)
    site.get_by_role("button", name="Sign").click()
    expect(site.locator("#count")).to_have_text("1 entries")
    expect(site.locator("li")).to_contain_text([marker])
    screenshot(site, "e2e-app-through-router")
    site.close()

    # The space's portal from the space's own domain, through the router: it leads to
    # the platform host, the one place to sign in (the cookie belongs to that host
    # only), then a tile opens the app.
    portal = page.context.new_page()
    portal_url = f"https://{SPACE}.localhost:{plane.https_port}/"
    wait_until(
        lambda: (reply := portal.goto(portal_url)) is not None and reply.status == 200,
        timeout=60,
        what="the portal answers from the space's domain",
    )
    at_platform = f"https://cloud.localhost:{plane.https_port}"
    expect(portal).to_have_url(f"{at_platform}/signin?next=/portal/{SPACE}")
    portal.get_by_label("User name").fill(USER)
    portal.get_by_label("Password").fill(PASSWORD)
    portal.get_by_role("button", name="Sign in").click()
    expect(portal).to_have_url(f"{at_platform}/portal/{SPACE}")
    tile = portal.locator(".tile").filter(has_text="site")
    expect(tile).to_contain_text("running")
    screenshot(portal, "e2e-portal")
    tile.get_by_role("link").click()
    expect(portal).to_have_url(re.compile(rf"^https://site\.{SPACE}\.localhost:\d+/"))
    expect(portal.locator("li")).to_contain_text([marker])
    portal.close()

    # The dashboard on the real cluster: the engine, the router and the space's MySQL
    # server are healthy, this node is ready, and its CPU and memory are plotted.
    page.goto(plane.url + "/")
    health = page.locator("#health")
    expect(health).to_contain_text("Docker engine: ok")
    expect(health).to_contain_text("Router: ok")
    expect(health).to_contain_text(re.compile(rf"mysql server \S*{SPACE}\S*: ok"))
    expect(health.locator("td.good").first).to_have_text("ready")
    usage = page.locator("#usage")
    expect(usage).to_contain_text(re.compile(r"\d+\.\d %"))  # from the second reading on
    expect(usage.locator("th").last).to_contain_text(re.compile(r"Last (?:[3-9]|\d{2,}) readings"))
    points = usage.locator("polyline.cpu").get_attribute("points") or ""
    assert len(points.split()) >= 3, points
    expect(page.get_by_role("link", name="site", exact=True)).to_be_visible()
    screenshot(page, "e2e-dashboard-running")

    # Its logs on the app page hold the visit just made (nginx's access log).
    page.get_by_role("link", name="site", exact=True).click()
    expect(page).to_have_url(f"{plane.url}/spaces/{SPACE}/apps/site")
    logs = page.locator("#logs")
    expect(logs).to_contain_text(f"visit={marker}", timeout=60_000)
    expect(logs).to_contain_text("web | ")
    expect(page.locator("#logs-state")).to_contain_text("Following")
    # Following: a visit made now appears in the open page without a reload.
    later = f"ui-flow-later-{uuid.uuid4().hex[:8]}"
    other = page.context.new_page()
    answer = other.goto(f"{url}?visit={later}")
    assert answer is not None
    assert answer.status == 200
    other.close()
    expect(logs).to_contain_text(f"visit={later}", timeout=60_000)
    expect(page.locator("#stats polyline.cpu")).to_have_count(1, timeout=60_000)
    screenshot(page, "e2e-app-logs")

    # Change a parameter: a new revision, rolled out.
    page.get_by_role("link", name="Parameters…").click()
    expect(page.get_by_label("PHP memory limit")).to_have_value("128M")
    page.get_by_label("PHP memory limit").fill("lots")
    page.get_by_role("button", name="Save as a new revision").click()
    expect(page.locator("#p_memory_limit-error")).to_be_visible()
    screenshot(page, "e2e-parameters-invalid")
    page.get_by_label("PHP memory limit").fill("256M")
    page.get_by_role("button", name="Save as a new revision").click()
    expect(page).to_have_url(f"{plane.url}/spaces/{SPACE}/apps/site")
    expect(page.locator("#app-status")).to_contain_text("revision 2")
    expect(_status(page)).to_have_text("running", timeout=SLOW)
    assert plane.app("site", space=SPACE)["revision"] == 2
    screenshot(page, "e2e-app-updated")

    # The difference between the two revisions.
    page.get_by_role("button", name="Show the differences").click()
    expect(page.get_by_role("heading", name="site: revision 1 → 2")).to_be_visible()
    expect(page.locator(".diff ins")).to_contain_text(["PHP_MEMORY_LIMIT: 256M"])
    expect(page.locator(".diff del")).to_contain_text(["PHP_MEMORY_LIMIT: 128M"])
    screenshot(page, "e2e-revisions-diff")

    # Roll back to revision 1, after a confirmation.
    page.goto(f"{plane.url}/spaces/{SPACE}/apps/site")
    page.get_by_role("link", name="Roll back to revision 1").click()
    expect(page.get_by_role("heading", name="Roll site back to revision 1?")).to_be_visible()
    screenshot(page, "e2e-rollback-confirm")
    page.get_by_role("button", name="Roll back to revision 1").click()
    expect(page).to_have_url(f"{plane.url}/spaces/{SPACE}/apps/site")
    expect(page.locator("#app-status")).to_contain_text("revision 3")
    expect(_status(page)).to_have_text("running", timeout=SLOW)
    detail = plane.api.get(f"/spaces/{SPACE}/apps/site/revisions/3").json()
    assert detail["values"]["memory_limit"] == "128M"
    assert detail["note"] == "rollback to revision 1"
    screenshot(page, "e2e-app-rolled-back")
    # The database kept its row through the update and the rollback.
    again = page.context.new_page()
    wait_until(
        lambda: (reply := again.goto(url)) is not None and reply.status == 200,
        timeout=120,
        what="the rolled-back app answers",
    )
    expect(again.locator("li")).to_contain_text([marker])
    again.close()

    # Remove it, after the confirmation that names what goes.
    page.get_by_role("link", name="Remove…").click()
    expect(page.locator("main")).to_contain_text("site")
    screenshot(page, "e2e-remove-confirm")
    page.get_by_role("button", name="Remove site").click()
    expect(page).to_have_url(f"{plane.url}/spaces/{SPACE}")
    wait_until(
        lambda: plane.api.get(f"/spaces/{SPACE}/apps/site").status_code == 404,
        timeout=180,
        what="the app is gone",
    )
    page.reload()
    expect(page.get_by_role("link", name="site", exact=True)).to_have_count(0)
    screenshot(page, "e2e-removed")
