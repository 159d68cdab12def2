"""Templates' icons come from the control plane itself: the interface works offline."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from cloudos.spaces import create_space
from cloudos.store.models import App
from cloudos.templates import Template, icon_of, template_from_dict
from cloudos.templates.catalog import catalog_dir
from cloudos.ui import _admin_pages, _pages
from tests.templates.conftest import template_doc
from tests.ui.conftest import ADMIN, ADMIN_PASSWORD, Cloud, sign_in

WORDPRESS = "org.wordpress.wordpress"
ICON_FILE = catalog_dir() / "templates" / "wordpress" / "icon.svg"


def wordpress_icon_url() -> str:
    icon = icon_of(_pages._catalog()[WORDPRESS])
    assert icon is not None
    return f"/catalog/{WORDPRESS}/icon?v={icon.digest}"


def test_the_icon_is_served_with_its_bytes_and_safe_headers(browser_client: TestClient) -> None:
    """No session needed (like the interface's own files); a year's cache for a hashed URL."""
    answer = browser_client.get(wordpress_icon_url())
    assert answer.status_code == 200
    assert answer.content == ICON_FILE.read_bytes()
    assert answer.headers["content-type"] == "image/svg+xml"
    assert answer.headers["x-content-type-options"] == "nosniff"
    policy = answer.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'; style-src 'unsafe-inline'")
    assert "script-src" not in policy
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = browser_client.get(
        wordpress_icon_url(), headers={"If-None-Match": answer.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")


def test_an_icon_url_without_the_current_hash_is_not_kept(browser_client: TestClient) -> None:
    for query in ("", "?v=0ld"):
        answer = browser_client.get(f"/catalog/{WORDPRESS}/icon{query}")
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-cache"


@pytest.fixture
def remote_icon_catalog(monkeypatch: pytest.MonkeyPatch) -> dict[str, Template]:
    """The catalog plus a template whose icon is a vendor's URL (as importers give)."""
    remote = template_from_dict(
        template_doc(id="org.example.remote", name="Remote", icon="https://example.com/r.png")
    )
    catalog = {**_pages._catalog(), remote.id: remote}
    monkeypatch.setattr(_pages, "_catalog", lambda: catalog)
    monkeypatch.setattr(_admin_pages, "_catalog", lambda: catalog)
    return catalog


def test_no_icon_file_is_not_found(
    browser_client: TestClient, remote_icon_catalog: dict[str, Template]
) -> None:
    assert browser_client.get("/catalog/org.example.remote/icon").status_code == 404
    assert browser_client.get("/catalog/org.example.missing/icon").status_code == 404


def test_the_catalog_shows_local_icons_and_never_a_remote_one(
    browser_client: TestClient, remote_icon_catalog: dict[str, Template]
) -> None:
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    page = browser_client.get("/catalog")
    assert page.status_code == 200
    assert f'<img src="{wordpress_icon_url()}"' in page.text
    assert "example.com" not in page.text
    assert re.search(r'<span class="tile-letter" aria-hidden="true">R</span>', page.text)
    images = re.findall(r'<img src="([^"]+)"', page.text)
    assert images, page.text
    assert all(src.startswith("/catalog/") for src in images)


def test_a_portal_tile_shows_the_local_icon_or_the_initial(
    cloud: Cloud, browser_client: TestClient, remote_icon_catalog: dict[str, Template]
) -> None:
    with cloud.database.session() as session:
        space = create_space(session, name="team")
        for name, template in (("blog", WORDPRESS), ("elsewhere", "org.example.remote")):
            session.add(App(space=space, name=name, stack=f"s-{name}", template_id=template))
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    page = browser_client.get("/portal/team")
    assert page.status_code == 200
    assert f'<img src="{wordpress_icon_url()}"' in page.text
    assert "example.com" not in page.text
    assert '<span class="tile-letter" aria-hidden="true">E</span>' in page.text


def test_pages_load_images_only_from_the_control_plane(browser_client: TestClient) -> None:
    sign_in(browser_client, ADMIN, ADMIN_PASSWORD)
    policy = browser_client.get("/catalog").headers["content-security-policy"]
    assert "img-src 'self' data:;" in policy
    assert "https:" not in policy
    assert "http:" not in policy
