"""Tables of the control plane's state.

Every capability keeps its rows here so that one Alembic history covers the whole
schema; the capability packages hold the logic that reads and writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cloudos.errors import EnvironmentProblem
from cloudos.statuses import AppStatus, DesiredState

# Stable constraint names, so migrations mean the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored without zone and always returned as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store as naive UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return as aware UTC."""
        return None if value is None else value.replace(tzinfo=UTC)


class StrEnumColumn(TypeDecorator[StrEnum]):
    """A ``StrEnum`` kept as its value in a plain ``VARCHAR(length)`` column.

    Not SQLAlchemy's ``Enum``: the column stays the ``VARCHAR`` the migrations made,
    so adding the enums needed no migration (every value ever stored is a member), and
    a new member later needs none either (no CHECK constraint to rebuild). The enum
    is enforced here instead, both ways: a value that is not a member is refused
    before it is written (the transaction rolls back, nothing is stored), and one read
    from the database (written by a newer version, or by hand) is refused with a
    message naming the column and the value, rather than acted on as something else.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int, *, column: str) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length
        self.column = column

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """Store the member's value; refuse anything that is not one."""
        if value is None:
            return None
        try:
            return self.enum(value).value
        except ValueError:
            raise ValueError(f"{self.column}: {value!r} is not one of {self._allowed()}") from None

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        """Return the member; refuse a stored value this version does not know."""
        if value is None:
            return None
        try:
            return self.enum(value)
        except ValueError:
            raise EnvironmentProblem(
                f"the database holds {value!r} in {self.column}, which is not one of "
                f"{self._allowed()}: was it written by a newer version of Cloud OS?"
            ) from None

    def _allowed(self) -> str:
        return ", ".join(repr(member.value) for member in self.enum)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


# The largest id an Integer primary key holds on every supported database (PostgreSQL's
# int4); a larger number names no row, and the drivers raise on it instead of finding none.
MAX_ROW_ID = 2**31 - 1


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    """A person who signs in; cluster admins may do everything."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Two-factor authentication: the TOTP secret (encrypted) once confirmed, and the
    # SHA-256 hashes of the unused recovery codes.
    totp_secret: Mapped[str | None] = mapped_column(Text, default=None)
    totp_pending: Mapped[str | None] = mapped_column(Text, default=None)
    recovery_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class ApiToken(Base):
    """A named API token; only a hash of its secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # A scoped token acts only in one space, with at most this role there.
    space_id: Mapped[int | None] = mapped_column(
        ForeignKey("spaces.id", ondelete="CASCADE"), default=None, index=True
    )
    role: Mapped[str | None] = mapped_column(String(16), default=None)

    user: Mapped[User] = relationship(back_populates="tokens")


class WebSession(Base):
    """A signed-in browser: the cookie's secret is kept only as a hash."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    csrf_token: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class Membership(Base):
    """A user's role in a space: owner, admin, developer or viewer."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "space_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    space: Mapped[Space] = relationship()


class Invitation(Base):
    """An invitation into a space with a role; its code is shown once and kept hashed."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_by: Mapped[str | None] = mapped_column(String(64), default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class LoginThrottle(Base):
    """Recent failed sign-ins of one account or one client address."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class KnownAddress(Base):
    """A client address a user signed in from; it spares them their account's lock."""

    __tablename__ = "known_addresses"
    __table_args__ = (UniqueConstraint("user_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(64))
    signed_in_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditEvent(Base):
    """One change: who, from where, what, on which object, with what result.

    Append-only: nothing in the code updates or deletes these rows, and the
    database refuses it too (triggers in the migration).
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64), default=None)
    action: Mapped[str] = mapped_column(String(64))
    space: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    target: Mapped[str | None] = mapped_column(String(255), default=None)
    result: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text, default=None)


class Space(Base):
    """A tenant: its own apps, overlay network and base domain."""

    __tablename__ = "spaces"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    domain: Mapped[str] = mapped_column(String(253))
    removing: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # What apps of this space may ask for beyond the safe default (see docs/security.md),
    # and its quotas (None: no limit).
    policy: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The host ports its apps may publish, "FROM-TO" (None: none).
    ports: Mapped[str | None] = mapped_column(String(16), default=None)
    max_apps: Mapped[int | None] = mapped_column(Integer, default=None)
    max_cpus: Mapped[float | None] = mapped_column(Float, default=None)
    max_memory: Mapped[int | None] = mapped_column(BigInteger, default=None)

    apps: Mapped[list[App]] = relationship(back_populates="space")


class App(Base):
    """An installed app: what the user wants (desired) and what was last seen (observed).

    ``desired_state`` and ``revision`` are written by requests; everything under
    "observed" only by the reconciler, so the two never race.
    """

    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("space_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    stack: Mapped[str] = mapped_column(String(63), unique=True)
    template_id: Mapped[str] = mapped_column(String(255))
    # desired
    desired_state: Mapped[DesiredState] = mapped_column(
        StrEnumColumn(DesiredState, 16, column="apps.desired_state"), default=DesiredState.RUNNING
    )
    revision: Mapped[int] = mapped_column(Integer, default=1)
    purge: Mapped[bool] = mapped_column(default=False)
    restart_generation: Mapped[int] = mapped_column(Integer, default=0)
    adopted: Mapped[bool] = mapped_column(default=False)
    # observed / acted on
    attempted_spec: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[AppStatus] = mapped_column(
        StrEnumColumn(AppStatus, 24, column="apps.status"), default=AppStatus.PENDING
    )
    status_reason: Mapped[str | None] = mapped_column(Text, default=None)
    status_since: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    deployed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    space: Mapped[Space] = relationship(back_populates="apps")
    revisions: Mapped[list[AppRevision]] = relationship(
        back_populates="app", cascade="all, delete-orphan", order_by="AppRevision.number"
    )
    events: Mapped[list[AppEvent]] = relationship(
        back_populates="app", cascade="all, delete-orphan", order_by="AppEvent.id"
    )


class AppRevision(Base):
    """One version of an app's configuration; every change makes a new one."""

    __tablename__ = "app_revisions"
    __table_args__ = (UniqueConstraint("app_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    template_text: Mapped[str] = mapped_column(Text)
    template_source: Mapped[str] = mapped_column(String(255))
    template_version: Mapped[str] = mapped_column(String(64))
    values: Mapped[dict[str, object]] = mapped_column(JSON)  # secrets encrypted
    modifiers: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    spec_hash: Mapped[str] = mapped_column(String(64))
    stack_yaml: Mapped[str] = mapped_column(Text)  # secrets masked
    # What its stack asks for (spaces' quotas), counted when the revision is made; None
    # for revisions older than this column, counted and stored on first need.
    usage: Mapped[dict[str, object] | None] = mapped_column(JSON, default=None)
    note: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    app: Mapped[App] = relationship(back_populates="revisions")


class AppEvent(Base):
    """A line of an app's timeline: what was asked, what happened."""

    __tablename__ = "app_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)

    app: Mapped[App] = relationship(back_populates="events")


class DomainClaim(Base):
    """A domain a space owns, with how its certificate is obtained."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    tls: Mapped[str | None] = mapped_column(String(16), default=None)  # acme|internal|uploaded
    certificate_pem: Mapped[str | None] = mapped_column(Text, default=None)
    key_pem: Mapped[str | None] = mapped_column(Text, default=None)  # encrypted
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RouteRow(Base):
    """An HTTP route: a domain and path prefix sent to a service port of an app."""

    __tablename__ = "routes"
    __table_args__ = (UniqueConstraint("domain", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253))
    path: Mapped[str] = mapped_column(String(255), default="/")
    service: Mapped[str] = mapped_column(String(63))
    port: Mapped[int] = mapped_column(Integer)
    is_default: Mapped[bool] = mapped_column(default=False)
    options: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RedirectRow(Base):
    """A domain (and path) that answers with a redirect."""

    __tablename__ = "redirects"
    __table_args__ = (UniqueConstraint("domain", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253))
    path: Mapped[str] = mapped_column(String(255), default="/")
    to: Mapped[str] = mapped_column(String(2048))
    status: Mapped[int] = mapped_column(Integer, default=301)
    keep_path: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AddonServerRow(Base):
    """A database or cache server the platform runs (per space, or for one app)."""

    __tablename__ = "addon_servers"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    stack: Mapped[str] = mapped_column(String(63), unique=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    app_id: Mapped[int | None] = mapped_column(Integer, default=None)  # a dedicated server's app
    app_name: Mapped[str | None] = mapped_column(String(32), default=None)
    root_password: Mapped[str] = mapped_column(Text)  # encrypted
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class AddonBinding(Base):
    """An app's own database (and user) on an addon server.

    Kept after the app is removed without purge (``app_id`` empty): its data stays and
    its names stay reserved, so no later app can get them.
    """

    __tablename__ = "addon_bindings"
    __table_args__ = (
        UniqueConstraint("server_id", "database", name="uq_addon_bindings_server_database"),
        UniqueConstraint("server_id", "user", name="uq_addon_bindings_server_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(
        ForeignKey("addon_servers.id", ondelete="CASCADE"), index=True
    )
    app_id: Mapped[int | None] = mapped_column(
        ForeignKey("apps.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    database: Mapped[str] = mapped_column(String(64))
    user: Mapped[str] = mapped_column(String(80))
    password: Mapped[str] = mapped_column(Text)  # encrypted
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    server: Mapped[AddonServerRow] = relationship()


__all__ = [
    "AddonBinding",
    "AddonServerRow",
    "ApiToken",
    "App",
    "AppEvent",
    "AppRevision",
    "AuditEvent",
    "Base",
    "DomainClaim",
    "Invitation",
    "LoginThrottle",
    "Membership",
    "RedirectRow",
    "RouteRow",
    "Space",
    "User",
    "UtcDateTime",
    "WebSession",
    "utcnow",
]
