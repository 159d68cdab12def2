"""The real control plane app, served by uvicorn on a free port, for the pages' tests.

No engine: the pages must work from the database alone (an app's status is what the
reconciler last recorded), and the parts that ask the engine say it cannot be
reached. The browser is Debian's Chromium, driven by Playwright.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloudos.apps import TemplateRef
from cloudos.errors import EnvironmentProblem
from cloudos.identity import create_user
from cloudos.settings import Settings
from cloudos.store import Database, open_database
from cloudos.store.models import App, AppRevision, RouteRow, Space
from cloudos.web import create_app
from tests.conftest import unavailable
from tests.helpers import free_port

ADMIN, ADMIN_PASSWORD = "root", "correct horse battery staple"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"


def no_engine() -> Any:
    """The engine connector of a machine where no engine answers."""
    raise EnvironmentProblem("no Docker engine answers (this test runs without one)")


@dataclass(frozen=True)
class Cloud:
    """A control plane app on a fresh database."""

    app: Any
    database: Database


def new_cloud(data_dir: Path, *, instance: str = "ui-test") -> Cloud:
    """The app on a fresh SQLite database in ``data_dir``: a cluster admin, reconciler
    off, no engine (bench/bench_ui_pages.py uses it too)."""
    database = open_database(f"sqlite:///{data_dir / 'cloudos.db'}")
    with database.session() as session:
        create_user(session, username=ADMIN, password=ADMIN_PASSWORD, is_admin=True)
    settings = Settings(data_dir=data_dir, instance=instance, endpoint_mode="dnsrr")
    app = create_app(
        settings=settings, database=database, connect_engine=no_engine, reconcile=False
    )
    return Cloud(app=app, database=database)


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    """The app with a cluster admin, reconciler off, no engine."""
    made = new_cloud(tmp_path)
    yield made
    made.database.close()


@pytest.fixture
def browser_client(cloud: Cloud) -> Iterator[TestClient]:
    """A client that behaves like a browser: keeps cookies, does not follow redirects."""
    with TestClient(cloud.app, follow_redirects=False) as client:
        yield client


def _renamed(usage: dict[str, Any] | None, old: str, new: str) -> dict[str, Any] | None:
    """A revision's usage for a copy of its app (services are named ``app/service``)."""
    if usage is None:
        return None
    lists = ("unlimited_cpus", "unlimited_memory")
    return {**usage, **{key: [f"{new}/{s.split('/', 1)[1]}" for s in usage[key]] for key in lists}}


def install_sites(cloud: Cloud, numbers: range, *, space: str = "default") -> None:
    """Static websites ``site-NNNN`` in ``space``, each with its revision and default route.

    The first is installed as the wizard does (``AppManager.install``); the others are
    copies of its rows under their own names, because installing a thousand apps one
    by one takes minutes (each install checks the whole route table).
    """
    manager = cloud.app.state.cloudos.apps
    first = f"site-{numbers[0]:04}"
    ref = TemplateRef(catalog_id="org.cloudos.static-website")
    manager.install(space=space, name=first, template=ref, values={})
    with cloud.database.session() as session:
        model = session.scalar(
            select(App).join(Space).where(Space.name == space, App.name == first)
        )
        assert model is not None
        revision = session.scalars(select(AppRevision).where(AppRevision.app_id == model.id)).one()
        route = session.scalars(select(RouteRow).where(RouteRow.app_id == model.id)).one()
        for n in numbers[1:]:
            name = f"site-{n:04}"
            app = App(
                space_id=model.space_id,
                name=name,
                stack=model.stack.replace(first, name),
                template_id=model.template_id,
                status="running",
            )
            app.revisions.append(
                AppRevision(
                    number=1,
                    template_text=revision.template_text,
                    template_source=revision.template_source,
                    template_version=revision.template_version,
                    values=revision.values,
                    modifiers=revision.modifiers,
                    spec_hash=revision.spec_hash,
                    stack_yaml=revision.stack_yaml.replace(first, name),
                    usage=_renamed(revision.usage, first, name),
                )
            )
            session.add(app)
            session.flush()
            session.add(
                RouteRow(
                    space_id=model.space_id,
                    app_id=app.id,
                    domain=route.domain.replace(first, name),
                    path=route.path,
                    service=route.service,
                    port=route.port,
                    is_default=True,
                )
            )


def signin_form(client: TestClient, **headers: str) -> dict[str, str]:
    """The sign-in form's hidden token, as a browser gets it with the form (and its cookie)."""
    page = client.get("/signin", headers=headers)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return {"csrf_token": found.group(1)}


def sign_in(client: TestClient, username: str, password: str) -> str:
    """Sign in through the form; returns the CSRF token the pages carry."""
    form = {"username": username, "password": password, **signin_form(client)}
    answer = client.post("/signin", data=form)
    assert answer.status_code == 303, answer.text
    page = client.get("/")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


@pytest.fixture
def server(cloud: Cloud) -> Iterator[str]:
    """The app served over HTTP on 127.0.0.1; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(cloud.app, host="127.0.0.1", port=port, log_level="warning")
    serving = uvicorn.Server(config)
    thread = threading.Thread(target=serving.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not serving.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 20 s"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    serving.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless (scripts/ensure-test-services.sh installs it)."""
    if shutil.which(CHROMIUM) is None:
        unavailable(f"{CHROMIUM} is missing: apt-get install chromium (the browser tests need it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser tab (own cookies), desktop-sized."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    # The interface works offline: any request for another site fails, as it would there.
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    tab = context.new_page()
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> None:
    """Keep a picture of the page for people to look at (test-artifacts/, git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
