"""Every link a signed-in admin can follow answers, and every field has a label.

A crawl from the dashboard, breadth-first, through each same-site ``<a href>``,
GET form and HTMX ``hx-get`` of every page reached (GET never changes anything
here; sign-out is a POST form). Addresses on other hosts (an app's own URL) are
collected, not fetched: no test traffic leaves this machine.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, Cloud, install_sites, sign_in

BASE = "http://testserver"
UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class PageParts(HTMLParser):
    """The links and the form fields of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.fields: list[dict[str, str | None]] = []
        self.label_targets: set[str] = set()
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Collect what the crawl follows and what the label check looks at."""
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))
        if tag == "form" and (found.get("method") or "get").lower() == "get":
            self.links.append(str(found.get("action") or ""))
        if found.get("hx-get"):
            self.links.append(str(found["hx-get"]))
        if tag == "label":
            self.open_labels += 1
            if found.get("for"):
                self.label_targets.add(str(found["for"]))
        if tag in ("input", "select", "textarea"):
            if tag == "input" and (found.get("type") or "text").lower() in UNLABELLED_TYPES:
                return
            self.fields.append(
                {"tag": tag, **found, "in_label": "yes" if self.open_labels else None}
            )

    def handle_endtag(self, tag: str) -> None:
        """Leave a label."""
        if tag == "label" and self.open_labels:
            self.open_labels -= 1

    def unlabelled(self) -> list[str]:
        """The fields no label names."""
        return [
            f"<{field['tag']} name={field.get('name')!r} id={field.get('id')!r}>"
            for field in self.fields
            if not (
                field["in_label"]
                or field.get("aria-label")
                or field.get("aria-labelledby")
                or (field.get("id") and field["id"] in self.label_targets)
            )
        ]


@dataclass(frozen=True)
class Crawl:
    """What a crawl found: pages, broken links, addresses on other hosts, and links
    that answer only with an engine (this cloud has none: they say so, 503)."""

    pages: dict[str, PageParts]
    broken: dict[str, str]
    external: set[str]
    needs_engine: set[str]


def _crawl(client: TestClient) -> Crawl:
    """Every page reachable from the dashboard."""
    pages: dict[str, PageParts] = {}
    broken: dict[str, str] = {}
    external: set[str] = set()
    needs_engine: set[str] = set()
    seen = {"/"}
    queue = deque([("/", "/")])
    while queue:
        path, found_on = queue.popleft()
        answer = client.get(path)
        hops = 0
        while answer.is_redirect and hops < 5:
            target = urljoin(BASE + path, answer.headers["location"])
            answer, hops = client.get(target), hops + 1
        if answer.status_code == 503 and "no Docker engine answers" in answer.text:
            needs_engine.add(path)
            continue
        if answer.status_code != 200:
            broken[path] = f"{answer.status_code} (linked from {found_on})"
            continue
        if not answer.headers.get("content-type", "").startswith("text/html"):
            continue
        parts = PageParts()
        parts.feed(answer.text)
        pages[path] = parts
        for link in parts.links:
            absolute = urldefrag(urljoin(BASE + path, link)).url
            split = urlsplit(absolute)
            if split.scheme not in ("http", "https"):
                continue
            if split.netloc != "testserver":
                external.add(absolute)
                continue
            local = split.path + (f"?{split.query}" if split.query else "")
            if local not in seen and not local.startswith("/signout"):
                seen.add(local)
                queue.append((local, path))
    return Crawl(pages=pages, broken=broken, external=external, needs_engine=needs_engine)


@pytest.fixture
def crawled(cloud: Cloud, browser_client: TestClient) -> Crawl:
    """An admin's crawl of a cloud with two spaces and installed apps."""
    install_sites(cloud, range(3))
    csrf = sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    made = browser_client.post("/spaces", data={"csrf_token": csrf, "name": "team"})
    assert made.status_code == 303, made.text
    return _crawl(browser_client)


def test_every_link_of_every_page_answers(crawled: Crawl) -> None:
    pages = crawled.pages
    assert crawled.broken == {}
    assert len(pages) > 15, sorted(pages)
    for reached in ("/spaces/default/apps/site-0001", "/spaces/team/settings", "/account"):
        assert reached in pages, sorted(pages)
    assert "https://site-0001.default.localhost/" in crawled.external
    assert crawled.needs_engine == {
        f"/spaces/default/apps/site-000{n}/logs/stream" for n in range(3)
    }


def test_every_field_of_every_page_has_a_label(
    crawled: Crawl, cloud: Cloud, browser_client: TestClient
) -> None:
    pages = dict(crawled.pages)
    browser_client.cookies.clear()  # a fresh sign-in: a signed-in browser is shown no form
    csrf = sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    # Pages only a form's answer shows: the second factor's setup, the install preview.
    for path, form in (
        ("/account/2fa", {"begin_password": ADMIN_PASSWORD}),
        ("/catalog/org.cloudos.php-website", {"space": "team", "app_name": "x", "step": "preview"}),
    ):
        answer = browser_client.post(path, data={"csrf_token": csrf, **form})
        assert answer.status_code == 200, (path, answer.text)
        pages[f"POST {path}"] = parts = PageParts()
        parts.feed(answer.text)
    unlabelled = {path: parts.unlabelled() for path, parts in pages.items() if parts.unlabelled()}
    assert unlabelled == {}
    assert sum(len(parts.fields) for parts in pages.values()) > 30
