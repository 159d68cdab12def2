"""Spaces: the unit apps live in, each with its own overlay network and domain."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloudos.errors import Conflict, InvalidInput, NotFound
from cloudos.statuses import DesiredState
from cloudos.store.models import App, Space

SPACE_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")
DOMAIN = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
)
DEFAULT_SPACE = "default"


@dataclass(frozen=True)
class SpaceView:
    """A space as the API shows it."""

    name: str
    domain: str
    network: str
    apps: int
    removing: bool
    created_at: datetime
    policy: list[str]  # grants allowed beyond the safe default
    max_apps: int | None
    max_cpus: float | None
    max_memory: int | None


def network_name(instance: str, space: str) -> str:
    """The overlay network of ``space`` in cloud ``instance``."""
    return f"{instance}-{space}"


def check_space_name(name: str) -> None:
    """Raise when ``name`` is not a valid space name."""
    if not SPACE_NAME.fullmatch(name):
        raise InvalidInput(
            f"space name {name!r}: use 1-20 lower-case letters, digits and '-', "
            "starting with a letter"
        )


def create_space(session: Session, *, name: str, domain: str | None = None) -> Space:
    """Add a space; its domain defaults to ``<name>.localhost``."""
    check_space_name(name)
    domain = (domain or f"{name}.localhost").lower().rstrip(".")
    if not DOMAIN.fullmatch(domain):
        raise InvalidInput(f"domain {domain!r} is not a valid domain name")
    same = session.scalar(select(Space).where(Space.name == name))
    if same is not None and same.removing:
        raise Conflict(
            f"space {name!r} is still being removed: its name is free once its apps and "
            "network are gone (`cloudos health` shows what it waits for)",
            field="name",
            code="name_taken",
        )
    if same is not None:
        raise Conflict(f"space {name!r} already exists", field="name", code="name_taken")
    if session.scalar(select(Space).where(Space.domain == domain)) is not None:
        raise Conflict(f"domain {domain!r} already belongs to another space")
    space = Space(name=name, domain=domain)
    session.add(space)
    session.flush()
    return space


def get_space(session: Session, name: str) -> Space:
    """The space called ``name``; NotFound otherwise (also while it is being removed)."""
    space = session.scalar(select(Space).where(Space.name == name))
    if space is None or space.removing:
        raise NotFound(f"space {name!r} does not exist")
    return space


def list_spaces(session: Session, *, instance: str) -> list[SpaceView]:
    """Every space with its number of apps."""
    counts = dict(
        session.execute(
            select(App.space_id, func.count())
            .where(App.desired_state != DesiredState.REMOVED)
            .group_by(App.space_id)
        ).all()
    )
    return [
        SpaceView(
            name=space.name,
            domain=space.domain,
            network=network_name(instance, space.name),
            apps=int(counts.get(space.id, 0)),
            removing=space.removing,
            created_at=space.created_at,
            policy=sorted(set(space.policy or [])),
            max_apps=space.max_apps,
            max_cpus=space.max_cpus,
            max_memory=space.max_memory,
        )
        for space in session.scalars(select(Space).order_by(Space.name))
    ]


def remove_space(session: Session, *, name: str, force: bool = False) -> list[App]:
    """Mark a space for removal; refuses while apps remain unless ``force``.

    With ``force`` its apps are removed (volumes kept); the reconciler deletes the
    space and its network once they are gone. Returns the apps that will go.
    """
    space = get_space(session, name)
    apps = [app for app in space.apps if app.desired_state != DesiredState.REMOVED]
    if apps and not force:
        names = ", ".join(sorted(app.name for app in apps))
        raise Conflict(
            f"space {name!r} still has {len(apps)} app(s) ({names}): remove them first, "
            "or pass --force to remove them with it"
        )
    for app in apps:
        app.desired_state = DesiredState.REMOVED
        app.purge = False
    space.removing = True
    return apps


__all__ = [
    "DEFAULT_SPACE",
    "SpaceView",
    "check_space_name",
    "create_space",
    "get_space",
    "list_spaces",
    "network_name",
    "remove_space",
]
