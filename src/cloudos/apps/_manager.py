"""App lifecycle requests: install, update, roll back, stop, start, remove.

Requests only write the desired state (and a new revision when the configuration
changes) in one transaction, then wake the reconciler, which does the work on the
swarm. A request therefore never leaves a half-done deployment behind: either the
revision is stored and will be converged to, or nothing changed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from cloudos.addons import (
    SERVER_KINDS,
    AddonNames,
    AddonServer,
    ServerKind,
    addon_names,
    app_server,
    credentials_for,
    generate_password,
    space_server,
    wants_dedicated,
)
from cloudos.apps._routes import default_routes
from cloudos.apps._stack import (
    SECRET_TYPES,
    AddonLink,
    BuiltStack,
    StackInputs,
    build_stack,
    parse_template,
)
from cloudos.errors import Conflict, InvalidInput, NotFound
from cloudos.spaces import (
    Quota,
    Usage,
    check_policy,
    check_quota,
    get_space,
    network_name,
    space_policy,
    space_ports,
    space_quota,
    stack_usage,
    total,
)
from cloudos.statuses import AppStatus, DesiredState
from cloudos.store import Database
from cloudos.store.models import (
    AddonBinding,
    AddonServerRow,
    App,
    AppEvent,
    AppRevision,
    Space,
    utcnow,
)
from cloudos.templates import Modifier, Template, builtin_modifiers
from cloudos.templates.catalog import template_paths
from cloudos.vault import Vault

APP_NAME = re.compile(r"[a-z][a-z0-9-]{0,23}")
MAX_SERVICE_NAME = 63
PLATFORM_MODIFIERS = (
    "org.cloudos.ownership",
    "org.cloudos.endpoint-mode",
)
UPDATE_POLICY = "org.cloudos.update-policy"


@dataclass(frozen=True)
class TemplateRef:
    """Where a template comes from: the catalog (by id) or a text with its source name."""

    catalog_id: str | None = None
    text: str | None = None
    source: str | None = None


def stack_name(instance: str, space: str, app: str) -> str:
    """The swarm stack of an app: unique per cloud, readable in ``docker stack ls``."""
    return f"{instance}-{space}-{app}"


def catalog_templates() -> dict[str, Path]:
    """Catalog template files by template id."""
    found: dict[str, Path] = {}
    for path in template_paths():
        template = parse_template(path.read_text(encoding="utf-8"), str(path))
        found[template.id] = path
    return found


class AppManager:
    """Writes desired state for apps; the reconciler converges the swarm to it."""

    def __init__(
        self,
        *,
        database: Database,
        vault: Vault,
        instance: str,
        endpoint_mode: Callable[[], str],
        wake: Callable[[], None] = lambda: None,
        library: Mapping[str, Modifier] | None = None,
        router_ports: Collection[int] = (80, 443),
    ) -> None:
        """``router_ports``: host ports no app may publish (the router's own)."""
        self.database = database
        self.router_ports = frozenset(router_ports)
        self.vault = vault
        self.instance = instance
        self._endpoint_mode = endpoint_mode
        self._wake = wake
        self.library = library if library is not None else builtin_modifiers()
        self._catalog: dict[str, Path] | None = None

    # -- requests -------------------------------------------------------------------

    def install(
        self,
        *,
        space: str,
        name: str,
        template: TemplateRef,
        values: Mapping[str, object],
        by: str | None = None,
        dedicated: Collection[str] = (),
    ) -> int:
        """Create an app at revision 1; returns its id. Nothing is stored if it is invalid.

        ``dedicated`` names addons of the template that get a server of their own, whatever
        the template says; the app keeps that server across updates and rollbacks.
        """
        _check_app_name(name)
        text, source = self._template_text(template)
        with self.database.session() as session:
            app = self._create(
                session,
                space=space,
                name=name,
                text=text,
                source=source,
                values=values,
                by=by,
                dedicated=dedicated,
            )
            app_id = app.id
        self._wake()
        return app_id

    def preview_install(
        self,
        *,
        space: str,
        name: str,
        template: TemplateRef,
        values: Mapping[str, object],
        dedicated: Collection[str] = (),
    ) -> str:
        """The stack YAML (secrets masked) that :meth:`install` would store, after the same
        checks (names, values, policy, quotas); nothing is stored."""
        _check_app_name(name)
        text, source = self._template_text(template)
        try:
            with self.database.session() as session:
                app = self._create(
                    session,
                    space=space,
                    name=name,
                    text=text,
                    source=source,
                    values=values,
                    by=None,
                    dedicated=dedicated,
                )
                raise _DryRun(self._revision(session, app, app.revision).stack_yaml)
        except _DryRun as done:  # leaving the session by an error rolls everything back
            return done.stack_yaml

    def _create(
        self,
        session: Session,
        *,
        space: str,
        name: str,
        text: str,
        source: str,
        values: Mapping[str, object],
        by: str | None,
        dedicated: Collection[str],
    ) -> App:
        """A new app at revision 1 in ``session``, with its routes and addon bindings."""
        found = get_space(session, space)
        existing = session.scalar(select(App).where(App.space_id == found.id, App.name == name))
        if existing is not None:
            removed = existing.desired_state == DesiredState.REMOVED
            state = "is being removed" if removed else "exists"
            raise Conflict(
                f"app {name!r} already {state} in space {space!r}", field="name", code="name_taken"
            )
        stack = stack_name(self.instance, space, name)
        # '-' may be in space and app names: "a-b"/"c" and "a"/"b-c" share a stack.
        if session.scalar(select(App.id).where(App.stack == stack)) is not None:
            raise Conflict(
                f"app {name!r} in space {space!r} would use stack {stack!r}, which "
                "another app already uses: choose another name",
                field="name",
                code="name_taken",
            )
        parsed = parse_template(text, source)
        _check_dedicated(parsed, dedicated)
        longest = max(len(service) for service in parsed.services)
        if len(stack) + 1 + longest > MAX_SERVICE_NAME:
            raise InvalidInput(
                f"app name {name!r} is too long for space {space!r}: service names "
                f"({stack}_...) must stay within {MAX_SERVICE_NAME} characters"
            )
        app = App(space=found, name=name, stack=stack, template_id=parsed.id)
        session.add(app)
        session.flush()
        for route in default_routes(session, app, parsed):
            session.add(route)
        self._bind_addons(session, app, parsed, dedicated=frozenset(dedicated))
        modifiers = self._modifiers(found, parsed.modifiers)
        self._add_revision(
            session,
            app,
            text=text,
            source=source,
            values=values,
            modifiers=modifiers,
            by=by,
            note="installed",
            current=None,
        )
        _event(session, app, "install", f"installed {parsed.id} {parsed.version} as revision 1")
        return app

    def update(
        self,
        *,
        space: str,
        name: str,
        values: Mapping[str, object],
        template: TemplateRef | None = None,
        by: str | None = None,
    ) -> bool:
        """New revision with changed values and/or template; False when nothing changed."""
        new_text = new_source = None
        if template is not None:
            new_text, new_source = self._template_text(template)
        with self.database.session() as session:
            app = self._get(session, space, name)
            current = self._revision(session, app, app.revision)
            text = new_text or current.template_text
            source = new_source or current.template_source
            parsed = parse_template(text, source)
            if parsed.id != app.template_id:
                raise InvalidInput(
                    f"template {parsed.id!r} is not {app.template_id!r}: "
                    "an app keeps its template id"
                )
            unknown = sorted(set(values) - set(parsed.parameters))
            if unknown:
                raise InvalidInput(f"template {parsed.id} has no parameter {unknown[0]!r}")
            old = {
                key: value
                for key, value in self._plain_values(current).items()
                if key in parsed.parameters
            }
            merged = {**old, **values}
            self._bind_addons(session, app, parsed)
            modifiers = self._modifiers(app.space, parsed.modifiers)
            revision = self._add_revision(
                session,
                app,
                text=text,
                source=source,
                values=merged,
                modifiers=modifiers,
                by=by,
                note="updated",
                dry_run=True,
                current=current,
            )
            if revision.spec_hash == current.spec_hash:
                return False
            self._store_revision(session, app, revision)
            _pending(app, AppStatus.UPDATING)
            changed = ", ".join(sorted(values)) or "template"
            _event(session, app, "update", f"revision {app.revision}: changed {changed}")
        self._wake()
        return True

    def rollback(
        self, *, space: str, name: str, to: int | None = None, by: str | None = None
    ) -> int:
        """New revision equal to revision ``to`` (default: the one before the current)."""
        with self.database.session() as session:
            app = self._get(session, space, name)
            target = to if to is not None else app.revision - 1
            if target < 1 or target == app.revision:
                raise InvalidInput(
                    f"app {name!r} is at revision {app.revision}: there is no earlier revision "
                    f"{target} to roll back to"
                    if to is None or target < 1
                    else f"app {name!r} is already at revision {target}"
                )
            old = self._revision(session, app, target)
            # The old revision was allowed then; the space's policy and quotas may have
            # changed since, and they apply to every stack that is deployed anew.
            self._admit(session, app, self.build(app, old), current=self._current(session, app))
            revision = AppRevision(
                number=0,
                template_text=old.template_text,
                template_source=old.template_source,
                template_version=old.template_version,
                values=dict(old.values),
                modifiers=list(old.modifiers),
                spec_hash=old.spec_hash,
                stack_yaml=old.stack_yaml,
                usage=old.usage,
                note=f"rollback to revision {target}",
                created_by=by,
            )
            self._store_revision(session, app, revision)
            _pending(app, AppStatus.UPDATING)
            _event(session, app, "rollback", f"revision {app.revision}: back to revision {target}")
            number = app.revision
        self._wake()
        return number

    def adopt(
        self,
        *,
        space: str,
        name: str,
        stack: str,
        document: Mapping[str, Any],
        by: str | None = None,
    ) -> int:
        """Take over an existing stack as app ``name``; it keeps its stack name and data."""
        if not APP_NAME.fullmatch(name):
            raise InvalidInput(f"app name {name!r}: use 1-24 lower-case letters, digits and '-'")
        text = yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)
        source = f"<adopted stack {stack}>"
        parsed = parse_template(text, source)
        with self.database.session() as session:
            found = get_space(session, space)
            if session.scalar(select(App).where(App.space_id == found.id, App.name == name)):
                raise Conflict(
                    f"app {name!r} already exists in space {space!r}",
                    field="name",
                    code="name_taken",
                )
            if session.scalar(select(App).where(App.stack == stack)):
                raise Conflict(f"stack {stack!r} is already an app of this cloud")
            app = App(space=found, name=name, stack=stack, template_id=parsed.id, adopted=True)
            session.add(app)
            session.flush()
            modifiers: list[dict[str, Any]] = [{"id": "org.cloudos.ownership", "values": {}}]
            self._add_revision(
                session,
                app,
                text=text,
                source=source,
                values={},
                modifiers=modifiers,
                by=by,
                note=f"adopted stack {stack}",
                current=None,
            )
            _event(session, app, "adopt", f"adopted stack {stack} as revision 1")
            app_id = app.id
        self._wake()
        return app_id

    def rotate(self, *, space: str, name: str, kind: str, by: str | None = None) -> int:
        """New password for the app's ``kind`` addon: a new revision, so the reconciler sets
        it on the server and restarts the app with it. Returns the revision number."""
        with self.database.session() as session:
            app = self._get(session, space, name)
            binding = self._binding(session, app, kind)
            binding.password = self.vault.encrypt(generate_password())
            session.flush()
            current = self._revision(session, app, app.revision)
            self._add_revision(
                session,
                app,
                text=current.template_text,
                source=current.template_source,
                values=self._plain_values(current),
                modifiers=list(current.modifiers),
                by=by,
                note=f"rotated {kind} credentials",
                current=current,
            )
            _pending(app, AppStatus.UPDATING)
            _event(session, app, "rotate", f"revision {app.revision}: new {kind} password")
            number = app.revision
        self._wake()
        return number

    def set_state(self, *, space: str, name: str, state: DesiredState) -> None:
        """Stop (scale to zero) or start an app."""
        with self.database.session() as session:
            app = self._get(session, space, name)
            if app.desired_state != state:
                app.desired_state = state
                stopping = state == DesiredState.STOPPED
                _pending(app, AppStatus.STOPPING if stopping else AppStatus.STARTING)
                _event(session, app, "stopped" if stopping else "start", f"desired: {state}")
        self._wake()

    def remove(self, *, space: str, name: str, purge: bool = False) -> None:
        """Remove an app; volumes and secrets go too with ``purge``."""
        with self.database.session() as session:
            app = self._get(session, space, name)
            app.desired_state = DesiredState.REMOVED
            app.purge = purge
            app.status = AppStatus.REMOVING
            _event(session, app, "remove", "remove requested" + (" (purge)" if purge else ""))
        self._wake()

    # -- reading ----------------------------------------------------------------------

    def get(self, session: Session, space: str, name: str) -> App:
        """The app, for views: also while it is being removed (status ``removing``)."""
        return self._get(session, space, name, removing=True)

    def list_apps(self, session: Session, space: str) -> list[App]:
        """Apps of a space, by name."""
        found = get_space(session, space)
        return list(
            session.scalars(
                select(App)
                .where(App.space_id == found.id)
                .options(selectinload(App.space))
                .order_by(App.name)
            )
        )

    def revision(self, session: Session, app: App, number: int) -> AppRevision:
        """Revision ``number`` of ``app``."""
        return self._revision(session, app, number)

    def revision_values(self, revision: AppRevision) -> dict[str, object]:
        """Parameter values of a revision with secrets masked (for display)."""
        parsed = parse_template(revision.template_text, revision.template_source)
        return {
            key: "********"
            if key in parsed.parameters and parsed.parameters[key].type in SECRET_TYPES
            else value
            for key, value in sorted(revision.values.items())
        }

    def build(self, app: App, revision: AppRevision, *, stopped: bool = False) -> BuiltStack:
        """The deployable stack of ``revision`` (secrets decrypted)."""
        return build_stack(self._inputs(app, revision), library=self.library, stopped=stopped)

    # -- internals --------------------------------------------------------------------

    def _get(self, session: Session, space: str, name: str, *, removing: bool = False) -> App:
        found = get_space(session, space)
        app = session.scalar(select(App).where(App.space_id == found.id, App.name == name))
        if app is None or (app.desired_state == DesiredState.REMOVED and not removing):
            raise NotFound(f"app {name!r} does not exist in space {space!r}")
        return app

    def _revision(self, session: Session, app: App, number: int) -> AppRevision:
        # Revisions are numbered 1..current; checking first also keeps a number too large
        # for the database's integer out of the query (SQLite raises OverflowError on it).
        revision = (
            session.scalar(
                select(AppRevision).where(
                    AppRevision.app_id == app.id, AppRevision.number == number
                )
            )
            if 1 <= number <= app.revision
            else None
        )
        if revision is None:
            raise NotFound(f"app {app.name!r} has no revision {number}")
        return revision

    def _template_text(self, ref: TemplateRef) -> tuple[str, str]:
        if ref.text is not None:
            return ref.text, ref.source or "<uploaded template>"
        if not ref.catalog_id:
            raise InvalidInput("give a template: a catalog id or a template file")
        if self._catalog is None:
            self._catalog = catalog_templates()
        path = self._catalog.get(ref.catalog_id)
        if path is None:
            known = ", ".join(sorted(self._catalog))
            raise NotFound(f"template {ref.catalog_id!r} is not in the catalog (known: {known})")
        return path.read_text(encoding="utf-8"), str(path)

    def _modifiers(self, space: Space, defaults: Any) -> list[dict[str, Any]]:
        listed = {use.id for use in defaults}
        modifiers: list[dict[str, Any]] = [
            {"id": "org.cloudos.ownership", "values": {}},
            {"id": "org.cloudos.endpoint-mode", "values": {"mode": self._endpoint_mode()}},
        ]
        if UPDATE_POLICY not in listed:
            modifiers.append({"id": UPDATE_POLICY, "values": {}})
        return modifiers

    def _inputs(self, app: App, revision: AppRevision) -> StackInputs:
        session = object_session(app)
        assert session is not None
        return StackInputs(
            addons=self.addon_links(session, app),
            app_id=app.id,
            app_name=app.name,
            space_name=app.space.name,
            space_domain=app.space.domain,
            stack=app.stack,
            space_network=network_name(self.instance, app.space.name),
            template_text=revision.template_text,
            template_source=revision.template_source,
            values=self._plain_values(revision),
            modifiers=revision.modifiers,
        )

    def _plain_values(self, revision: AppRevision) -> dict[str, object]:
        return {
            key: self.vault.decrypt(value) if isinstance(value, str) else value
            for key, value in revision.values.items()
        }

    def _add_revision(
        self,
        session: Session,
        app: App,
        *,
        text: str,
        source: str,
        values: Mapping[str, object],
        modifiers: list[dict[str, Any]],
        by: str | None,
        note: str,
        current: AppRevision | None,
        dry_run: bool = False,
    ) -> AppRevision:
        """Build the revision's stack, check it against the space's policy and quotas
        (``current``: the app's current revision, None for a new app), store it unless
        ``dry_run``. Nothing is stored when a check fails: the caller's transaction
        rolls back. A dry run that changes nothing is not checked."""
        draft = AppRevision(
            number=0,
            template_text=text,
            template_source=source,
            template_version="",
            values={},
            modifiers=modifiers,
            spec_hash="",
            stack_yaml="",
            note=note,
            created_by=by,
        )
        built = build_stack(
            StackInputs(
                app_id=app.id,
                app_name=app.name,
                space_name=app.space.name,
                space_domain=app.space.domain,
                stack=app.stack,
                space_network=network_name(self.instance, app.space.name),
                template_text=text,
                template_source=source,
                values=values,
                modifiers=modifiers,
                addons=self.addon_links(session, app),
            ),
            library=self.library,
        )
        if not (dry_run and current is not None and built.spec_hash == current.spec_hash):
            deployed = self.build(app, current) if current is not None else None
            self._admit(session, app, built, current=deployed)
            for note in built.notes:
                _event(session, app, "update-order", note)
        draft.template_version = built.template.version
        draft.values = {
            key: self.vault.encrypt(str(value)) if key in built.secret_params else value
            for key, value in sorted(built.values.items())
        }
        draft.spec_hash = built.spec_hash
        draft.stack_yaml = built.masked_yaml
        draft.usage = stack_usage(built.document, app=app.name).to_json()
        if not dry_run:
            self._store_revision(session, app, draft)
        return draft

    def _current(self, session: Session, app: App) -> BuiltStack:
        return self.build(app, self._revision(session, app, app.revision))

    def _admit(
        self, session: Session, app: App, built: BuiltStack, *, current: BuiltStack | None
    ) -> None:
        """Refuse (Forbidden) a stack the space's policy or quotas do not allow.

        ``current`` is the app's deployed stack (None for a new app): on a change the
        new stack counts instead of it.
        """
        space = app.space
        links = self.addon_links(session, app)
        check_policy(
            built.document,
            space=space.name,
            allowed=space_policy(space),
            name=app.stack,
            platform_networks={network_name(self.instance, space.name)}
            | {link.network for link in links.values()},
            ports=space_ports(space),
            router_ports=self.router_ports,
            also=built.reserved_labels,
        )
        quota = space_quota(space)
        if quota == Quota():
            return
        check_quota(
            quota,
            space=space.name,
            app=app.name,
            others=self.space_usage(session, space, excluding=app.id),
            new=stack_usage(built.document, app=app.name),
            current=stack_usage(current.document, app=app.name) if current else None,
        )

    def space_usage(self, session: Session, space: Space, *, excluding: int | None = None) -> Usage:
        """What the space's apps (all but ``excluding``) ask for, stopped ones included."""
        # Ids only: a thousand apps with their templates' texts cost more than the sum.
        rows = session.execute(
            select(
                App.id,
                App.name,
                App.revision,
                AppRevision.id.label("revision_id"),
                AppRevision.usage,
            )
            .outerjoin(
                AppRevision,
                (AppRevision.app_id == App.id) & (AppRevision.number == App.revision),
            )
            .where(App.space_id == space.id, App.desired_state != DesiredState.REMOVED)
            .order_by(App.name)
        ).all()
        usages = []
        for row in rows:
            if row.id == excluding:
                continue
            if row.revision_id is None:
                raise NotFound(f"app {row.name!r} has no revision {row.revision}")
            if row.usage is not None:
                usages.append(Usage.from_json(row.usage))
                continue
            # A revision made before usage was stored: count it once, for good.
            app = session.get_one(App, row.id)
            revision = session.get_one(AppRevision, row.revision_id)
            usage = stack_usage(self.build(app, revision).document, app=app.name)
            revision.usage = usage.to_json()
            usages.append(usage)
        return total(usages)

    def _bind_addons(
        self,
        session: Session,
        app: App,
        template: Template,
        *,
        dedicated: frozenset[str] = frozenset(),
    ) -> None:
        """Give the app its own database (and user) on the right server, once per kind.

        The binding is stored before anything is provisioned, with names derived from
        the app's stack (unique per cloud), so a crash at any point leaves nothing that
        the reconciler cannot finish, and no two apps ever get the same names. A kind
        already bound keeps its server: that is how an app keeps a dedicated server
        asked for at install through every later revision.
        """
        bound = set(session.scalars(select(AddonBinding.kind).where(AddonBinding.app_id == app.id)))
        for kind, addon in sorted(template.addons.items()):
            if kind in bound:
                continue
            if kind not in SERVER_KINDS:
                raise _no_addon(template.id, kind)
            server_kind = kind
            own = kind in dedicated or wants_dedicated(server_kind, addon.options)
            server = (
                app_server(
                    instance=self.instance, app_id=app.id, app_name=app.name, kind=server_kind
                )
                if own
                else space_server(instance=self.instance, space=app.space.name, kind=server_kind)
            )
            row = session.scalar(select(AddonServerRow).where(AddonServerRow.stack == server.stack))
            if row is None:
                row = AddonServerRow(
                    kind=kind,
                    stack=server.stack,
                    space_id=app.space.id,
                    app_id=app.id if own else None,
                    app_name=app.name if own else None,
                    root_password=self.vault.encrypt(generate_password()),
                )
                session.add(row)
                session.flush()
            names = addon_names(app.stack, server_kind)
            taken = session.scalar(
                select(AddonBinding.id).where(
                    AddonBinding.server_id == row.id, AddonBinding.database == names.database
                )
            )
            if taken is not None:
                raise Conflict(
                    f"the {kind} database {names.database} is still kept from an app removed "
                    "without --purge; remove it with `cloudos addon rm` or choose another name"
                )
            session.add(
                AddonBinding(
                    server_id=row.id,
                    app_id=app.id,
                    kind=kind,
                    database=names.database,
                    user=names.user,
                    password=self.vault.encrypt(generate_password()),
                )
            )
        session.flush()

    def addon_database(self, *, space: str, name: str, kind: str) -> tuple[AddonServer, AddonNames]:
        """The server and the names of the app's ``kind`` addon (to dump or restore it)."""
        with self.database.session() as session:
            app = self._get(session, space, name)
            binding = self._binding(session, app, kind)
            names = AddonNames(database=binding.database, user=binding.user)
            return self.server_of(session, binding.server), names

    def _binding(self, session: Session, app: App, kind: str) -> AddonBinding:
        binding = next((b for b in self.bindings(session, app.id) if b.kind == kind), None)
        if binding is None:
            declared = ", ".join(b.kind for b in self.bindings(session, app.id)) or "none"
            raise NotFound(f"app {app.name!r} has no {kind!r} addon (its addons: {declared})")
        return binding

    def endpoint_mode(self) -> str:
        """The endpoint mode services use on this engine."""
        return self._endpoint_mode()

    def server_of(self, session: Session, row: AddonServerRow) -> AddonServer:
        """The addon server a row stands for."""
        kind = cast(ServerKind, row.kind)
        if row.app_id is not None and row.app_name is not None:
            return app_server(
                instance=self.instance, app_id=row.app_id, app_name=row.app_name, kind=kind
            )
        space = session.get(Space, row.space_id)
        assert space is not None
        return space_server(instance=self.instance, space=space.name, kind=kind)

    def bindings(self, session: Session, app_id: int) -> list[AddonBinding]:
        """The app's addon bindings."""
        return list(
            session.scalars(
                select(AddonBinding)
                .where(AddonBinding.app_id == app_id)
                .order_by(AddonBinding.kind)
            )
        )

    def addon_links(self, session: Session, app: App) -> dict[str, AddonLink]:
        """Credentials and networks of every addon the app uses."""
        links = {}
        for binding in self.bindings(session, app.id):
            server = self.server_of(session, binding.server)
            names = AddonNames(database=binding.database, user=binding.user)
            credentials = credentials_for(server, names, self.vault.decrypt(binding.password))
            links[binding.kind] = AddonLink(credentials=credentials, network=server.network)
        return links

    def _store_revision(self, session: Session, app: App, revision: AppRevision) -> None:
        numbers = session.scalars(
            select(AppRevision.number).where(AppRevision.app_id == app.id)
        ).all()
        revision.number = max(numbers, default=0) + 1
        revision.app = app
        session.add(revision)
        app.revision = revision.number
        session.flush()


def _check_app_name(name: str) -> None:
    if not APP_NAME.fullmatch(name):
        raise InvalidInput(
            f"app name {name!r}: use 1-24 lower-case letters, digits and '-', "
            "starting with a letter"
        )


class _DryRun(Exception):
    """Leaves a preview's transaction (so it rolls back) carrying what it produced."""

    def __init__(self, stack_yaml: str) -> None:
        super().__init__("dry run")
        self.stack_yaml = stack_yaml


def _check_dedicated(template: Template, dedicated: Collection[str]) -> None:
    """Refuse a dedicated server for an addon the template does not declare."""
    for kind in sorted(set(dedicated)):
        if kind not in template.addons:
            declared = ", ".join(sorted(template.addons)) or "none"
            raise InvalidInput(
                f"a dedicated {kind!r} server was asked for, but template {template.id} "
                f"declares no {kind!r} addon (its addons: {declared})"
            )


def _no_addon(template_id: str, kind: str) -> InvalidInput:
    offered = ", ".join(sorted(SERVER_KINDS))
    return InvalidInput(
        f"template {template_id} needs the addon {kind!r}, which this cloud does not offer "
        f"yet (offered: {offered})"
    )


def _pending(app: App, status: AppStatus) -> None:
    """Show at once that a change is under way; the reconciler reports how it ends."""
    app.status, app.status_reason, app.status_since = status, None, utcnow()


def _event(session: Session, app: App, kind: str, message: str) -> None:
    session.add(AppEvent(app=app, kind=kind, message=message, at=utcnow()))


__all__ = ["APP_NAME", "AppManager", "TemplateRef", "catalog_templates", "stack_name"]
