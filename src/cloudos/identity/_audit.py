"""The audit log: every change, who made it, from where, on what, and how it ended.

Rows are only ever added (the database refuses updates and deletes). Details pass
through :func:`redact` first, so secrets never reach the log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloudos.store.models import AuditEvent, utcnow

_SECRET_KEY = re.compile(r"pass|secret|token|key|code|credential|pem", re.IGNORECASE)
MASK = "********"


def redact(value: Any) -> Any:
    """``value`` with every field whose name suggests a secret masked, at any depth."""
    if isinstance(value, Mapping):
        return {
            str(key): MASK if _SECRET_KEY.search(str(key)) and item else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    result: str,
    address: str | None = None,
    space: str | None = None,
    target: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event."""
    row = AuditEvent(
        at=utcnow(),
        actor=actor,
        client_address=address,
        action=action,
        space=space,
        target=target,
        result=result,
        detail=json.dumps(redact(detail), sort_keys=True, default=str) if detail else None,
    )
    session.add(row)
    return row


def query(
    session: Session,
    *,
    spaces: set[str] | None = None,
    space: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[AuditEvent]:
    """Events, newest first; ``spaces`` limits them to those spaces (``None``: all)."""
    statement = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if spaces is not None:
        statement = statement.where(AuditEvent.space.in_(sorted(spaces)))
    if space is not None:
        statement = statement.where(AuditEvent.space == space)
    if actor is not None:
        statement = statement.where(AuditEvent.actor == actor)
    if action is not None:
        statement = statement.where(AuditEvent.action.startswith(action))
    if since is not None:
        statement = statement.where(AuditEvent.at >= since)
    return list(session.scalars(statement))


__all__ = ["MASK", "query", "record", "redact"]
