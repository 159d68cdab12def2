"""The pages: sign-in, dashboard, space, catalog, install wizard, app.

Every page reads the database only, with a fixed number of queries whatever the
number of apps: an app's status is what the reconciler last recorded. The two
things only the engine knows (an app's services right now, the platform's health)
and the node's CPU and memory are fragments the page loads with HTMX after it is
shown, and links without JavaScript. Changes go through the same code the API uses (``AppManager``,
``create_space``, ``restart_app``) with the same role checks
(``identity.authorize``), and each leaves a line in the audit log.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudos.apps import AppManager, TemplateRef
from cloudos.apps._routes import add_space
from cloudos.apps._stack import parse_template
from cloudos.errors import CloudOSError, Forbidden, NotFound
from cloudos.identity import (
    Principal,
    SignInRefused,
    at_least,
    audit,
    authorize,
    end_session,
    members,
    role_in,
    roles_by_space,
    visible_space_ids,
)
from cloudos.statuses import TROUBLE, AppStatus, DesiredState
from cloudos.store.models import AddonBinding, App, AppEvent, AppRevision, Space
from cloudos.templates import Template, icon_of
from cloudos.templates.catalog import load_catalog_templates
from cloudos.ui import _shapes as shapes
from cloudos.ui import _usage as usage
from cloudos.ui import _wizard as wizard
from cloudos.ui._health import platform_health
from cloudos.ui._session import (
    SIGNIN_REFUSED,
    CurrentVisitor,
    Form,
    PageRoute,
    Visitor,
    compile_templates,
    fields_of,
    local_path,
    redirect,
    render,
    set_signin_cookie,
    signin_token,
    signin_token_ok,
)
from cloudos.web._apps_api import _addons, _app_out, _urls, restart_app
from cloudos.web._auth import (
    CSRF_FIELD,
    browser_session,
    client_address,
    forget_session_cookie,
    open_browser_session,
    set_session_cookie,
)
from cloudos.web._state import app_state

router = APIRouter(route_class=PageRoute, include_in_schema=False)

STATIC = {
    "htmx.min.js": "text/javascript",
    "cloudos.css": "text/css",
    "logs.js": "text/javascript",
}
EVENTS_SHOWN = 50
TIME_FORMAT = "%Y-%m-%d %H:%M"


@router.get("/ui/static/{name}")
def static(name: str) -> Response:
    """The interface's own scripts and styles (a fixed list: nothing else is served)."""
    media = STATIC.get(name)
    if media is None:
        raise NotFound(f"no file {name!r}")
    from cloudos.ui._session import HERE

    return FileResponse(
        HERE / "static" / name,
        media_type=media,
        headers={"Cache-Control": "public, max-age=3600"},
    )


# -- signing in ---------------------------------------------------------------------------


@router.get("/signin")
def signin_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form (signed-in visitors go on at once)."""
    try:
        signed_in = browser_session(request) is not None
    except CloudOSError:
        signed_in = False  # an ended session: sign in again
    if signed_in:
        return redirect(request, local_path(next))
    return _signin_form(request, _signin_context(next))


def _signin_context(
    next_path: str | None, *, username: str = "", error: str | None = None, code: bool = False
) -> dict[str, Any]:
    return {"next": local_path(next_path), "username": username, "error": error, "code": code}


def _signin_form(request: Request, context: dict[str, Any], *, status: int = 200) -> Response:
    """The sign-in form with its token, and the cookie the token must match."""
    token = signin_token(request)
    response = render(
        request, "signin.html", {**context, "signin_token": token}, visitor=None, status=status
    )
    set_signin_cookie(request, response, token)
    return response


@router.post("/signin")
def signin(request: Request, form: Form) -> Response:
    """Check name, password and (when turned on) the second factor; start a session."""
    sent = fields_of(form)
    username = sent.get("username", "")[:64]
    next_path = sent.get("next")
    if not signin_token_ok(request, sent.get(CSRF_FIELD)):
        # Never checked against the account: another site's post counts for nothing.
        context = _signin_context(next_path, username=username, error=SIGNIN_REFUSED)
        return _signin_form(request, context, status=403)
    try:
        opened = open_browser_session(
            request,
            username=username,
            password=sent.get("password", "")[:1024],
            code=sent.get("code", "").strip()[:64] or None,
        )
    except SignInRefused as refused:
        context = _signin_context(
            next_path,
            username=username,
            code=refused.needs_code or bool(sent.get("code")),
            error=(
                "Enter the code from your authenticator app, and your password again."
                if refused.needs_code
                else str(refused).capitalize() + "."
            ),
        )
        return _signin_form(request, context, status=200 if refused.needs_code else 401)
    response = redirect(request, local_path(next_path))
    set_session_cookie(request, response, opened.cookie)
    return response


@router.post("/signout")
def signout(request: Request, visitor: CurrentVisitor) -> Response:
    """End the session and forget its cookie."""
    database = app_state(request).database
    with database.session() as session:
        if visitor.principal.session_id is not None:
            end_session(session, visitor.principal.session_id)
        _audit(session, request, visitor, action="logout")
    response = redirect(request, "/signin")
    forget_session_cookie(request, response)
    return response


# -- dashboard and spaces -----------------------------------------------------------------


@router.get("/")
def dashboard(request: Request, visitor: CurrentVisitor) -> Response:
    """The visitor's spaces and apps; for cluster admins, the platform's health too."""
    with app_state(request).database.session() as session:
        context = _dashboard(session, visitor.principal)
    return render(request, "dashboard.html", context, visitor=visitor)


def _dashboard(session: Session, principal: Principal, **extra: Any) -> dict[str, Any]:
    visible = visible_space_ids(session, principal)
    space_query = select(Space).where(Space.removing.is_(False)).order_by(Space.name)
    app_query = (
        select(*_APP_COLUMNS, App.space_id, Space.name.label("space"))
        .join(Space, Space.id == App.space_id)
        .where(App.desired_state != DesiredState.REMOVED, Space.removing.is_(False))
        .order_by(Space.name, App.name)
    )
    event_query = (
        select(AppEvent.at, AppEvent.kind, AppEvent.message, App.name, Space.name.label("space"))
        .join(App, App.id == AppEvent.app_id)
        .join(Space, Space.id == App.space_id)
        .order_by(AppEvent.id.desc())
        .limit(RECENT_EVENTS)
    )
    if visible is not None:
        space_query = space_query.where(Space.id.in_(sorted(visible)))
        app_query = app_query.where(App.space_id.in_(sorted(visible)))
        event_query = event_query.where(App.space_id.in_(sorted(visible)))
    spaces = list(session.scalars(space_query))
    apps = list(session.execute(app_query))
    events = [
        {
            "at": row.at.strftime(TIME_FORMAT),
            "kind": row.kind,
            "message": row.message,
            "app": row.name,
            "space": row.space,
        }
        for row in session.execute(event_query)
    ]
    roles = roles_by_space(session, principal, spaces)
    counts: dict[str, int] = {}
    for row in apps:
        counts[row.space] = counts.get(row.space, 0) + 1
    return {
        "spaces": [
            {
                "name": space.name,
                "domain": space.domain,
                "apps": counts.get(space.name, 0),
                "role": roles.get(space.id, "viewer"),
            }
            for space in spaces
        ],
        "apps": [_app_row(row, row.space) for row in apps],
        "events": events,
        "problems": sum(1 for row in apps if row.status in TROUBLE),
        "is_admin": principal.is_admin,
        "space_errors": {},
        "space_sent": {},
        **extra,
    }


RECENT_EVENTS = 15
# An app in one of these states stays so until someone acts: its page stops polling.
SETTLED = TROUBLE | {AppStatus.RUNNING, AppStatus.STOPPED}


def status_tone(status: AppStatus) -> str:
    """The badge's class for an app's status: trouble is ``bad``, running is ``good``."""
    if status in TROUBLE:
        return "bad"
    return "good" if status == AppStatus.RUNNING else ""


def _app_row(app: Any, space: str) -> dict[str, Any]:
    """What the pages show of an app (an ``App`` or a row of its columns)."""
    return {
        "name": app.name,
        "space": space,
        "template": app.template_id,
        "status": app.status,
        "reason": app.status_reason,
        "since": app.status_since,
        "since_text": app.status_since.strftime(TIME_FORMAT),
        "tone": status_tone(app.status),
    }


# Listing pages read only these columns: a thousand ORM objects cost more than the page.
_APP_COLUMNS = (App.name, App.template_id, App.status, App.status_reason, App.status_since)


@router.get("/ui/health")
def health(request: Request, visitor: CurrentVisitor) -> Response:
    """The platform's health (engine, router, addon servers, nodes): cluster admins only."""
    if not visitor.principal.is_admin:
        raise Forbidden("only a cluster admin sees the platform's health")
    state = app_state(request)
    report = platform_health(state)
    return render(request, "_health.html", {"health": report}, visitor=visitor)


@router.get("/ui/usage")
def node_usage(request: Request, visitor: CurrentVisitor, history: str = "") -> Response:
    """CPU and memory of the control plane's node, plotted after the page's last readings.

    Cluster admins only, like the platform's health; polled by the dashboard.
    """
    if not visitor.principal.is_admin:
        raise Forbidden("only a cluster admin sees the node's CPU and memory")
    try:
        now = usage.read_node(usage.PROC)
    except CloudOSError as err:
        context: dict[str, Any] = {"error": str(err), "history": history}
        return render(request, "_usage.html", context, visitor=visitor)
    followed = usage.follow(history, now)
    context = {
        "error": None,
        "node": now,
        "cpu": followed.cpu_percent,
        "memory": f"{usage.size_text(now.memory_used)} of {usage.size_text(now.memory_total)}",
        "plot": shapes.plot(followed.samples) if followed.samples else None,
        "history": followed.history,
    }
    return render(request, "_usage.html", context, visitor=visitor)


@router.post("/spaces")
def space_create(request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Create a space (cluster admins), from the dashboard's form."""
    sent = fields_of(form)
    name = sent.get("name", "").strip()
    if not visitor.principal.is_admin:
        raise Forbidden("only a cluster admin may create a space")
    database = app_state(request).database
    try:
        with database.session() as session:
            add_space(
                session,
                name=name,
                domain=sent.get("domain", "").strip() or None,
                platform=app_state(request).settings.platform,
            )
            _audit(session, request, visitor, action="space_create", space=name)
    except CloudOSError as err:
        with database.session() as session:
            _audit(session, request, visitor, action="space_create", space=name, failed=err)
            context = _dashboard(
                session, visitor.principal, space_errors={"name": str(err)}, space_sent=sent
            )
        return render(request, "dashboard.html", context, visitor=visitor, status=422)
    return redirect(request, f"/spaces/{name}")


@router.get("/spaces/{space}")
def space_page(space: str, request: Request, visitor: CurrentVisitor) -> Response:
    """A space: its apps with their status, and its members."""
    with app_state(request).database.session() as session:
        found = authorize(session, visitor.principal, space, "viewer")
        role = role_in(session, visitor.principal, found)
        apps = session.execute(
            select(*_APP_COLUMNS)
            .where(App.space_id == found.id, App.desired_state != DesiredState.REMOVED)
            .order_by(App.name)
        )
        context = {
            "space": {"name": found.name, "domain": found.domain},
            "role": role,
            "can_install": at_least(role, "developer"),
            "apps": [_app_row(app, found.name) for app in apps],
            "members": [
                {"username": user.username, "role": membership.role, "since": membership.created_at}
                for user, membership in members(session, found)
            ],
        }
    return render(request, "space.html", context, visitor=visitor)


# -- the catalog and the install wizard -------------------------------------------------


@functools.cache
def _catalog() -> dict[str, Template]:
    """The built-in templates (read once: they ship with this version)."""
    return dict(sorted(load_catalog_templates().items(), key=lambda item: item[1].name.lower()))


def warm_up() -> None:
    """Do at start what the first visitors would otherwise wait for: compile the page
    templates (the dashboard's took about 150 ms) and read the catalog (about 100 ms)."""
    compile_templates()
    _catalog()


def _template(template_id: str) -> Template:
    found = _catalog().get(template_id)
    if found is None:
        raise NotFound(f"template {template_id!r} is not in the catalog")
    return found


def _matches(template: Template, words: list[str]) -> bool:
    text = " ".join(
        [
            template.id,
            template.name,
            template.vendor or "",
            wizard.text_of(template.description) or "",
            *template.categories,
        ]
    ).lower()
    return all(word in text for word in words)


@router.get("/catalog")
def catalog(
    request: Request, visitor: CurrentVisitor, q: str = "", space: str | None = None
) -> Response:
    """Templates to install, filtered by the words in ``q``."""
    words = q.lower().split()
    shown = [
        {
            "id": template.id,
            "name": template.name,
            "version": template.version,
            "vendor": template.vendor,
            "icon": icon_url(template),
            "description": wizard.text_of(template.description),
            "categories": template.categories,
        }
        for template in _catalog().values()
        if _matches(template, words)
    ]
    context = {"templates": shown, "q": q, "space": space, "total": len(_catalog())}
    return render(request, "catalog.html", context, visitor=visitor)


# The icon's URL holds a hash of its bytes, so a browser may keep it for a year: a new
# version of the file comes with a new URL.
ICON_CACHE = "public, max-age=31536000, immutable"
# An SVG is a document that can hold scripts: opened on its own it may run none of them.
ICON_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def icon_url(template: Template) -> str | None:
    """Where the interface loads the template's icon (``None``: show the app's initial).

    Only a file shipped in the template's folder has one: a remote URL is never loaded.
    """
    icon = icon_of(template)
    return None if icon is None else f"/catalog/{template.id}/icon?v={icon.digest}"


@router.get("/catalog/{template_id}/icon")
def template_icon(template_id: str, request: Request, v: str | None = None) -> Response:
    """A built-in template's icon file.

    No session needed, like the interface's own files: the built-in catalog ships with
    Cloud OS and is the same for everyone, and an image must load on the sign-in redirect
    path and behind the space's domain alike.
    """
    icon = icon_of(_template(template_id))
    if icon is None:
        raise NotFound(f"template {template_id!r} has no icon file")
    etag = f'"{icon.digest}"'
    headers = {
        # An old ``v`` must not pin today's bytes for a year: such a URL revalidates.
        "Cache-Control": ICON_CACHE if v == icon.digest else "no-cache",
        "ETag": etag,
        "Content-Security-Policy": ICON_POLICY,
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(icon.data, media_type=icon.media_type, headers=headers)


def _install_spaces(session: Session, principal: Principal) -> list[str]:
    """Spaces where the visitor may install apps (developer or more)."""
    visible = visible_space_ids(session, principal)
    query = select(Space).where(Space.removing.is_(False)).order_by(Space.name)
    if visible is not None:
        query = query.where(Space.id.in_(sorted(visible)))
    spaces = list(session.scalars(query))
    roles = roles_by_space(session, principal, spaces)
    return [space.name for space in spaces if at_least(roles.get(space.id), "developer")]


def _wizard_context(
    template: Template,
    spaces: list[str],
    sent: Mapping[str, str] | None,
    *,
    errors: Mapping[str, str] | None = None,
    error: str | None = None,
    preview: str | None = None,
) -> dict[str, Any]:
    return {
        "template": {
            "id": template.id,
            "name": template.name,
            "version": template.version,
            "description": wizard.text_of(template.description),
            "addons": sorted(template.addons),
            "credentials": template.credentials,
        },
        "fields": wizard.fields(template, sent),
        "spaces": spaces,
        "sent": dict(sent or {}),
        "errors": dict(errors or {}),
        "error": error,
        "preview": preview,
        "APP_FIELD": wizard.APP_FIELD,
        "SPACE_FIELD": wizard.SPACE_FIELD,
    }


@router.get("/catalog/{template_id}")
def install_form(
    template_id: str, request: Request, visitor: CurrentVisitor, space: str | None = None
) -> Response:
    """The install wizard: a form made from the template's parameters."""
    template = _template(template_id)
    with app_state(request).database.session() as session:
        spaces = _install_spaces(session, visitor.principal)
    sent = {wizard.SPACE_FIELD: space} if space else None
    context = _wizard_context(template, spaces, sent)
    return render(request, "install.html", context, visitor=visitor)


@router.post("/catalog/{template_id}")
def install(template_id: str, request: Request, visitor: CurrentVisitor, form: Form) -> Response:
    """Check the form; then show the generated YAML (``step=preview``) or install."""
    template = _template(template_id)
    sent = fields_of(form)
    state = app_state(request)
    with state.database.session() as session:
        spaces = _install_spaces(session, visitor.principal)
    errors = wizard.problems(template, sent)
    space = sent.get(wizard.SPACE_FIELD, "")
    if space and space not in spaces:
        errors[wizard.SPACE_FIELD] = f"you may not install apps in space {space!r}"
    if errors:
        context = _wizard_context(template, spaces, sent, errors=errors)
        return render(request, "install.html", context, visitor=visitor, status=422)
    name = sent[wizard.APP_FIELD]
    values = wizard.given_values(template, sent)
    ref = TemplateRef(catalog_id=template.id)
    manager: AppManager = state.apps
    try:
        if sent.get("step") == "preview":
            preview = manager.preview_install(space=space, name=name, template=ref, values=values)
            context = _wizard_context(template, spaces, sent, preview=preview)
            return render(request, "install.html", context, visitor=visitor)
        manager.install(
            space=space, name=name, template=ref, values=values, by=visitor.principal.username
        )
    except CloudOSError as err:
        with state.database.session() as session:
            _audit(
                session,
                request,
                visitor,
                action="app_install",
                space=space,
                target=name,
                failed=err,
            )
        # An error about the app's name (taken) shows at the wizard's name field.
        where = {wizard.APP_FIELD: str(err)} if err.field == "name" else {}
        context = _wizard_context(
            template, spaces, sent, errors=where, error=None if where else str(err)
        )
        return render(request, "install.html", context, visitor=visitor, status=err.http_status)
    with state.database.session() as session:
        _audit(session, request, visitor, action="app_install", space=space, target=name)
    return redirect(request, f"/spaces/{space}/apps/{name}")


# -- an app ----------------------------------------------------------------------------------


@router.get("/spaces/{space}/apps/{name}")
def app_page(space: str, name: str, request: Request, visitor: CurrentVisitor) -> Response:
    """An app: status, addresses, revisions, events; its services load on their own."""
    state = app_state(request)
    manager: AppManager = state.apps
    with state.database.session() as session:
        found = authorize(session, visitor.principal, space, "viewer")
        role = role_in(session, visitor.principal, found)
        app = manager.get(session, space, name)
        revisions = session.execute(
            select(
                AppRevision.number,
                AppRevision.template_version,
                AppRevision.created_at,
                AppRevision.created_by,
                AppRevision.note,
            )
            .where(AppRevision.app_id == app.id)
            .order_by(AppRevision.number.desc())
        ).all()
        events = session.scalars(
            select(AppEvent)
            .where(AppEvent.app_id == app.id)
            .order_by(AppEvent.id.desc())
            .limit(EVENTS_SHOWN)
        )
        context = {
            "space": space,
            "app": {
                **_app_row(app, space),
                "revision": app.revision,
                "desired": app.desired_state,
                "removing": app.desired_state == DesiredState.REMOVED,
                "stopped": app.desired_state == DesiredState.STOPPED,
            },
            "settled": app.status in SETTLED,
            "can_change": at_least(role, "developer"),
            "urls": _urls(request, session, [app.id]).get(app.id, []),
            "addons": _addons(session, [app.id]).get(app.id, []),
            "revisions": [row._asdict() for row in revisions],
            "events": [{"at": e.at, "kind": e.kind, "message": e.message} for e in events],
        }
    return render(request, "app.html", context, visitor=visitor)


@router.get("/spaces/{space}/apps/{name}/services")
def app_services(space: str, name: str, request: Request, visitor: CurrentVisitor) -> Response:
    """The app's services as the swarm reports them now (a fragment of the app page)."""
    with app_state(request).database.session() as session:
        authorize(session, visitor.principal, space, "viewer")
    out = _app_out(request, space, name)
    context = {"services": out.services, "status": out.status}
    return render(request, "_services.html", context, visitor=visitor)


@router.post("/spaces/{space}/apps/{name}/{action}")
def app_action(
    space: str, name: str, action: str, request: Request, visitor: CurrentVisitor, form: Form
) -> Response:
    """Stop, start, restart or remove (``purge``: with its data) an app."""
    state = app_state(request)
    manager: AppManager = state.apps
    with state.database.session() as session:
        authorize(session, visitor.principal, space, "developer")
    if action == "stop":
        manager.set_state(space=space, name=name, state=DesiredState.STOPPED)
    elif action == "start":
        manager.set_state(space=space, name=name, state=DesiredState.RUNNING)
    elif action == "restart":
        restart_app(request, space=space, name=name, by=visitor.principal.username)
    elif action == "remove":
        purge = fields_of(form).get("purge") == "true"
        manager.remove(space=space, name=name, purge=purge)
    else:
        raise NotFound(f"no action {action!r}")
    with state.database.session() as session:
        _audit(session, request, visitor, action=f"app_{action}", space=space, target=name)
    if action == "remove":
        return redirect(request, f"/spaces/{space}")
    return redirect(request, f"/spaces/{space}/apps/{name}")


@router.get("/spaces/{space}/apps/{name}/remove")
def remove_page(space: str, name: str, request: Request, visitor: CurrentVisitor) -> Response:
    """Ask before removing, naming what goes and what stays."""
    state = app_state(request)
    manager: AppManager = state.apps
    with state.database.session() as session:
        authorize(session, visitor.principal, space, "developer")
        app = manager.get(session, space, name)
        revision = manager.revision(session, app, app.revision)
        template = parse_template(revision.template_text, revision.template_source)
        databases = session.scalars(
            select(AddonBinding).where(AddonBinding.app_id == app.id).order_by(AddonBinding.kind)
        )
        context = {
            "space": space,
            "name": name,
            "services": sorted(template.services),
            "volumes": sorted(template.volumes),
            "databases": [f"{b.kind} database {b.database}" for b in databases],
            "urls": _urls(request, session, [app.id]).get(app.id, []),
            "revisions": app.revision,
        }
    return render(request, "remove.html", context, visitor=visitor)


def _audit(
    session: Session,
    request: Request,
    visitor: Visitor,
    *,
    action: str,
    space: str | None = None,
    target: str | None = None,
    failed: CloudOSError | None = None,
) -> None:
    """A line in the audit log, as the API writes one (``via: web`` tells them apart)."""
    audit.record(
        session,
        actor=visitor.principal.username,
        action=action,
        address=client_address(request),
        space=space,
        target=f"name={target}" if target else None,
        result="ok" if failed is None else f"failed {failed.http_status}",
        detail={"via": "web"} if failed is None else {"via": "web", "error": str(failed)},
    )


__all__ = ["router"]
