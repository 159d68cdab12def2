"""The app page's live parts and its changes: progress, logs, CPU/memory, parameters,
revisions (diff and rollback).

Reading needs the viewer role in the app's space, changing the developer role, as in
the API; the engine's answers (logs, stats) come from the same functions the API
serves them with. Changes go through ``AppManager`` and leave a line in the audit log
(``via: web``). Every POST path here has two segments after the app's name, so the
app page's ``/{action}`` route never takes them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from cloudos.apps import AppManager
from cloudos.apps._stack import parse_template
from cloudos.errors import CloudOSError, InvalidInput
from cloudos.identity import authorize
from cloudos.store.models import AppRevision
from cloudos.templates.values import resolve
from cloudos.ui import _shapes as shapes
from cloudos.ui import _wizard as wizard
from cloudos.ui._pages import SETTLED, _app_row, _audit
from cloudos.ui._session import CurrentVisitor, Form, PageRoute, fields_of, redirect, render
from cloudos.web._apps_api import app_logs, app_stats
from cloudos.web._state import app_state

router = APIRouter(route_class=PageRoute, include_in_schema=False)

LOG_TAIL_MAX = 10_000


def _base(space: str, name: str) -> str:
    return f"/spaces/{space}/apps/{name}"


# -- progress ---------------------------------------------------------------------------


def status_context(app: Any, space: str) -> dict[str, Any]:
    """What the status line shows, and whether the page should keep asking."""
    return {
        "space": space,
        "app": {
            **_app_row(app, space),
            "revision": app.revision,
            "desired": app.desired_state,
        },
        "settled": app.status in SETTLED,
    }


@router.get("/spaces/{space}/apps/{name}/status")
def app_status(space: str, name: str, request: Request, visitor: CurrentVisitor) -> Response:
    """The app's status line (polled by the app page every 2 s until it settles)."""
    manager: AppManager = app_state(request).apps
    with manager.database.session() as session:
        authorize(session, visitor.principal, space, "viewer")
        context = status_context(manager.get(session, space, name), space)
    return render(request, "_status.html", context, visitor=visitor)


# -- logs and resources -------------------------------------------------------------------


@router.get("/spaces/{space}/apps/{name}/logs/stream")
def app_log_stream(
    space: str,
    name: str,
    request: Request,
    visitor: CurrentVisitor,
    tail: int = 100,
    follow: bool = False,
) -> Response:
    """The app's merged log lines as plain text (``follow``: kept open), as the API."""
    if not 0 <= tail <= LOG_TAIL_MAX:
        raise InvalidInput(f"tail={tail}: give 0 to {LOG_TAIL_MAX} lines")
    with app_state(request).database.session() as session:
        authorize(session, visitor.principal, space, "viewer")
    stream = app_logs(space, name, request, visitor.principal, tail=tail, since=None, follow=follow)
    # Plain text, never sniffed as HTML: the page shows it with textContent.
    stream.headers["X-Content-Type-Options"] = "nosniff"
    return stream


@router.get("/spaces/{space}/apps/{name}/stats")
def app_stats_fragment(
    space: str, name: str, request: Request, visitor: CurrentVisitor, history: str = ""
) -> Response:
    """CPU and memory per service now, plotted after the samples the page sent back."""
    with app_state(request).database.session() as session:
        authorize(session, visitor.principal, space, "viewer")
    try:
        now = app_stats(space, name, request, visitor.principal)
    except CloudOSError as err:
        context: dict[str, Any] = {"error": str(err), "rows": [], "history": history}
        return render(request, "_stats.html", context, visitor=visitor)
    previous = shapes.parse_history(history, [row.service for row in now])
    kept: dict[str, list[shapes.Sample]] = {}
    rows: list[dict[str, Any]] = []
    for row in now:
        samples = shapes.add_sample(previous, row.service, (row.cpu_percent, row.memory_bytes))
        kept[row.service] = samples
        rows.append(
            {
                "service": row.service,
                "cpu": row.cpu_percent,
                "memory_mib": row.memory_bytes / 2**20,
                "limit_mib": row.memory_limit_bytes / 2**20,
                "plot": shapes.plot(samples),
            }
        )
    context = {"error": None, "rows": rows, "history": shapes.dump_history(kept)}
    return render(request, "_stats.html", context, visitor=visitor)


# -- parameters -------------------------------------------------------------------------


def _parameters_context(
    request: Request,
    space: str,
    name: str,
    *,
    sent: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    manager: AppManager = app_state(request).apps
    with manager.database.session() as session:
        app = manager.get(session, space, name)
        revision = manager.revision(session, app, app.revision)
        template = parse_template(revision.template_text, revision.template_source)
        shown = sent if sent is not None else wizard.current_form(template, revision.values)
        return {
            "space": space,
            "name": name,
            "revision": app.revision,
            "template": {"id": template.id, "name": template.name},
            "fields": wizard.fields(template, shown),
            "errors": errors or {},
            "error": error,
            "notice": notice,
        }


@router.get("/spaces/{space}/apps/{name}/parameters")
def parameters_page(space: str, name: str, request: Request, visitor: CurrentVisitor) -> Response:
    """The app's parameters in the wizard's form; saving makes a new revision."""
    with app_state(request).database.session() as session:
        authorize(session, visitor.principal, space, "developer")
    context = _parameters_context(request, space, name)
    return render(request, "parameters.html", context, visitor=visitor)


@router.post("/spaces/{space}/apps/{name}/revisions/new")
def parameters_save(
    space: str, name: str, request: Request, visitor: CurrentVisitor, form: Form
) -> Response:
    """Save changed parameters as a new revision (a blank secret keeps its value)."""
    state = app_state(request)
    manager: AppManager = state.apps
    sent = fields_of(form)
    with state.database.session() as session:
        authorize(session, visitor.principal, space, "developer")
        app = manager.get(session, space, name)
        revision = manager.revision(session, app, app.revision)
        template = parse_template(revision.template_text, revision.template_source)
    given = wizard.given_values(template, sent)
    _resolved, bad = resolve(template.parameters, given)
    # A field left blank keeps its value: only what was typed can be wrong here.
    errors = {wizard.PARAM_PREFIX + key: message for key, message in bad.items() if key in given}
    if errors:
        context = _parameters_context(request, space, name, sent=sent, errors=errors)
        return render(request, "parameters.html", context, visitor=visitor, status=422)
    try:
        changed = manager.update(
            space=space, name=name, values=given, by=visitor.principal.username
        )
    except CloudOSError as err:
        with state.database.session() as session:
            _audit(
                session, request, visitor, action="app_update", space=space, target=name, failed=err
            )
        context = _parameters_context(request, space, name, sent=sent, error=str(err))
        return render(request, "parameters.html", context, visitor=visitor, status=err.http_status)
    if not changed:
        context = _parameters_context(
            request, space, name, sent=sent, notice="Nothing changed: no new revision was made."
        )
        return render(request, "parameters.html", context, visitor=visitor)
    with state.database.session() as session:
        _audit(session, request, visitor, action="app_update", space=space, target=name)
    return redirect(request, _base(space, name))


# -- revisions ----------------------------------------------------------------------------


@router.get("/spaces/{space}/apps/{name}/revisions/diff")
def revisions_diff(
    space: str,
    name: str,
    request: Request,
    visitor: CurrentVisitor,
    old: int | None = None,
    new: int | None = None,
) -> Response:
    """The unified diff of two revisions' stack YAML (secrets masked in both)."""
    manager: AppManager = app_state(request).apps
    with manager.database.session() as session:
        authorize(session, visitor.principal, space, "viewer")
        app = manager.get(session, space, name)
        numbers = list(
            session.scalars(
                select(AppRevision.number)
                .where(AppRevision.app_id == app.id)
                .order_by(AppRevision.number)
            )
        )
        new_number = new if new is not None else app.revision
        old_number = old if old is not None else max(new_number - 1, 1)
        older = manager.revision(session, app, old_number)
        newer = manager.revision(session, app, new_number)
        lines = shapes.diff_lines(
            older.stack_yaml,
            newer.stack_yaml,
            old_name=f"revision {old_number}",
            new_name=f"revision {new_number}",
        )
    context = {
        "space": space,
        "name": name,
        "numbers": numbers,
        "old": old_number,
        "new": new_number,
        "lines": lines,
    }
    return render(request, "diff.html", context, visitor=visitor)


@router.get("/spaces/{space}/apps/{name}/revisions/{number}/rollback")
def rollback_page(
    space: str, name: str, number: int, request: Request, visitor: CurrentVisitor
) -> Response:
    """Ask before rolling back, showing what changes."""
    manager: AppManager = app_state(request).apps
    with manager.database.session() as session:
        authorize(session, visitor.principal, space, "developer")
        app = manager.get(session, space, name)
        target = manager.revision(session, app, number)
        current = manager.revision(session, app, app.revision)
        context = {
            "space": space,
            "name": name,
            "number": number,
            "current": app.revision,
            "note": target.note,
            "lines": shapes.diff_lines(
                current.stack_yaml,
                target.stack_yaml,
                old_name=f"revision {app.revision} (now)",
                new_name=f"revision {number}",
            ),
        }
    return render(request, "rollback.html", context, visitor=visitor)


@router.post("/spaces/{space}/apps/{name}/revisions/{number}/rollback")
def rollback(
    space: str, name: str, number: int, request: Request, visitor: CurrentVisitor
) -> Response:
    """Go back to revision ``number`` (as a new revision)."""
    state = app_state(request)
    manager: AppManager = state.apps
    with state.database.session() as session:
        authorize(session, visitor.principal, space, "developer")
    try:
        manager.rollback(space=space, name=name, to=number, by=visitor.principal.username)
    except CloudOSError as err:
        with state.database.session() as session:
            _audit(
                session,
                request,
                visitor,
                action="app_rollback",
                space=space,
                target=name,
                failed=err,
            )
        raise
    with state.database.session() as session:
        _audit(session, request, visitor, action="app_rollback", space=space, target=name)
    return redirect(request, _base(space, name))


__all__ = ["router", "status_context"]
