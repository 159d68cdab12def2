"""AppManager on a real SQLite database: requests write desired state and revisions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from cloudos.apps import AppManager, TemplateRef
from cloudos.errors import Conflict, InvalidInput, NotFound
from cloudos.spaces import create_space, set_ports
from cloudos.statuses import DesiredState
from cloudos.store.models import App, AppEvent, AppRevision
from cloudos.vault import Vault, is_encrypted
from tests.apps.conftest import hello

PASSWORD = "correct-horse-battery"


def install(manager: AppManager, name: str = "hello", **values: object) -> int:
    return manager.install(
        space="default",
        name=name,
        template=hello(),
        values={"http_port": 8080, "password": PASSWORD, **values},
        by="admin",
    )


def app_row(manager: AppManager, name: str = "hello") -> App:
    with manager.database.session() as session:
        return manager.get(session, "default", name)


def revisions(manager: AppManager, name: str = "hello") -> list[AppRevision]:
    with manager.database.session() as session:
        app = manager.get(session, "default", name)
        return list(
            session.scalars(
                select(AppRevision).where(AppRevision.app_id == app.id).order_by(AppRevision.number)
            )
        )


def count(manager: AppManager, model: type[App] | type[AppRevision]) -> int:
    with manager.database.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_install_writes_revision_1_with_secrets_encrypted(
    manager: AppManager, vault: Vault
) -> None:
    app_id = install(manager)
    app = app_row(manager)
    assert (app.id, app.revision, app.desired_state, app.status) == (
        app_id,
        1,
        "running",
        "pending",
    )
    assert app.stack == "t-default-hello"
    assert app.template_id == "org.cloudos.test.hello"
    [revision] = revisions(manager)
    stored = revision.values["password"]
    assert stored != PASSWORD
    assert is_encrypted(stored)
    assert vault.decrypt(str(stored)) == PASSWORD
    assert revision.values["http_port"] == 8080
    assert PASSWORD not in revision.stack_yaml
    assert (revision.note, revision.created_by, revision.template_version) == (
        "installed", "admin", "1.0.0"
    )  # fmt: skip
    assert manager.wakes == [None]  # type: ignore[attr-defined]


def test_a_generated_password_is_stored_encrypted_and_masked(manager: AppManager) -> None:
    manager.install(space="default", name="gen", template=hello(), values={"http_port": 8081})
    [revision] = revisions(manager, "gen")
    assert is_encrypted(revision.values["password"])
    assert manager.revision_values(revision)["password"] == "********"
    plain = manager._plain_values(revision)["password"]
    assert isinstance(plain, str)
    assert plain not in revision.stack_yaml


def test_the_built_stack_carries_the_decrypted_secret(manager: AppManager) -> None:
    install(manager)
    with manager.database.session() as session:
        app = manager.get(session, "default", "hello")
        built = manager.build(app, manager.revision(session, app, 1))
    assert list(built.secrets.values()) == [PASSWORD]
    assert built.spec_hash == revisions(manager)[0].spec_hash


@pytest.mark.parametrize(
    ("values", "field"),
    [({"http_port": "not-a-port"}, "http_port"), ({"http_port": 8080, "nope": 1}, "nope")],
)
def test_invalid_values_raise_and_store_nothing(
    manager: AppManager, values: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput, match=field):
        manager.install(space="default", name="bad", template=hello(), values=values)
    assert count(manager, App) == 0
    assert count(manager, AppRevision) == 0


def test_a_missing_required_value_stores_nothing(manager: AppManager) -> None:
    with pytest.raises(InvalidInput, match="http_port"):
        manager.install(space="default", name="bad", template=hello(), values={})
    assert count(manager, App) == 0


@pytest.mark.parametrize("name", ["", "Hello", "1app", "a_b", "a" * 25])
def test_invalid_app_names_are_refused(manager: AppManager, name: str) -> None:
    with pytest.raises(InvalidInput, match="app name"):
        manager.install(space="default", name=name, template=hello(), values={"http_port": 1})
    assert count(manager, App) == 0


def test_duplicate_name_conflicts(manager: AppManager) -> None:
    install(manager)
    with pytest.raises(Conflict, match="already exists"):
        install(manager)
    manager.remove(space="default", name="hello")
    with pytest.raises(Conflict, match="is being removed"):
        install(manager)


def test_names_that_would_give_the_same_stack_conflict(manager: AppManager) -> None:
    # space "shop" + app "eu-web" and space "shop-eu" + app "web" are both stack t-shop-eu-web.
    with manager.database.session() as session:
        create_space(session, name="shop")
        create_space(session, name="shop-eu")
        set_ports(session, name="shop", ports="2000-2001")
    manager.install(space="shop", name="eu-web", template=hello(), values={"http_port": 2000})
    with pytest.raises(Conflict, match="t-shop-eu-web"):
        manager.install(space="shop-eu", name="web", template=hello(), values={"http_port": 2001})
    assert count(manager, App) == 1


def test_names_too_long_for_swarm_service_names_are_refused(database, vault) -> None:  # type: ignore[no-untyped-def]
    manager = AppManager(
        database=database, vault=vault, instance="c" * 30, endpoint_mode=lambda: "dnsrr"
    )
    with manager.database.session() as session:
        create_space(session, name="s" * 20)
    with pytest.raises(InvalidInput, match="too long"):
        manager.install(space="s" * 20, name="a" * 10, template=hello(), values={"http_port": 1})
    assert count(manager, App) == 0


def test_unknown_space_or_app_is_not_found(manager: AppManager) -> None:
    with pytest.raises(NotFound, match="space 'nowhere'"):
        manager.install(space="nowhere", name="x", template=hello(), values={"http_port": 1})
    for call in (
        lambda: manager.update(space="default", name="ghost", values={}),
        lambda: manager.rollback(space="default", name="ghost"),
        lambda: manager.set_state(space="default", name="ghost", state=DesiredState.STOPPED),
        lambda: manager.remove(space="default", name="ghost"),
    ):
        with pytest.raises(NotFound, match="app 'ghost'"):
            call()


def test_catalog_templates_resolve_by_id(manager: AppManager) -> None:
    manager.install(
        space="default",
        name="site",
        template=TemplateRef(catalog_id="org.cloudos.static-website"),
        values={},
    )
    assert app_row(manager, "site").template_id == "org.cloudos.static-website"
    with pytest.raises(NotFound, match=r"org\.cloudos\.static-website"):  # lists them
        manager.install(
            space="default", name="x", template=TemplateRef(catalog_id="org.nope"), values={}
        )


def test_update_creates_a_new_revision_keeping_other_values(manager: AppManager) -> None:
    install(manager, message="first")
    assert manager.update(space="default", name="hello", values={"message": "second"}, by="bob")
    first, second = revisions(manager)
    assert second.number == 2
    assert second.note == "updated"
    assert second.created_by == "bob"
    assert second.values["message"] == "second"
    assert second.values["http_port"] == 8080
    assert second.values["password"] != first.values["password"]  # re-encrypted ...
    assert manager._plain_values(second)["password"] == PASSWORD  # ... same value
    assert second.spec_hash != first.spec_hash
    app = app_row(manager)
    assert (app.revision, app.status) == (2, "updating")


def test_update_with_nothing_changed_creates_no_revision(manager: AppManager) -> None:
    install(manager, message="same")
    before = app_row(manager).status
    assert manager.update(space="default", name="hello", values={"message": "same"}) is False
    assert manager.update(space="default", name="hello", values={}) is False
    assert [r.number for r in revisions(manager)] == [1]
    assert app_row(manager).status == before


def test_update_refuses_unknown_parameters_and_other_templates(manager: AppManager) -> None:
    install(manager)
    with pytest.raises(InvalidInput, match="nope"):
        manager.update(space="default", name="hello", values={"nope": 1})
    with pytest.raises(InvalidInput, match="keeps its template id"):
        manager.update(
            space="default",
            name="hello",
            values={},
            template=TemplateRef(catalog_id="org.cloudos.static-website"),
        )
    assert len(revisions(manager)) == 1


def test_rollback_creates_a_new_revision_equal_to_the_target(manager: AppManager) -> None:
    install(manager, message="one")
    manager.update(space="default", name="hello", values={"message": "two"})
    manager.update(space="default", name="hello", values={"message": "three"})
    assert manager.rollback(space="default", name="hello", to=1) == 4
    one, _, three, four = revisions(manager)
    assert four.spec_hash == one.spec_hash
    assert four.values == one.values
    assert four.note == "rollback to revision 1"
    assert manager.rollback(space="default", name="hello") == 5  # default: the one before
    assert revisions(manager)[-1].spec_hash == three.spec_hash


def test_rollback_without_an_earlier_revision_is_refused(manager: AppManager) -> None:
    install(manager)
    with pytest.raises(InvalidInput, match="no earlier revision"):
        manager.rollback(space="default", name="hello")
    with pytest.raises(InvalidInput, match="already at revision 1"):
        manager.rollback(space="default", name="hello", to=1)
    with pytest.raises(NotFound, match="no revision 9"):
        manager.rollback(space="default", name="hello", to=9)


def test_a_revision_number_beyond_any_integer_column_is_not_found(manager: AppManager) -> None:
    # Found probing the API with edge values: SQLite overflowed (a 500) on numbers >= 2**63.
    install(manager)
    with pytest.raises(NotFound, match=f"no revision {2**64}"):
        manager.rollback(space="default", name="hello", to=2**64)
    with manager.database.session() as session:
        app = manager.get(session, "default", "hello")
        for number in (2**63, 0, -(2**70)):
            with pytest.raises(NotFound, match=f"no revision {number}"):
                manager.revision(session, app, number)


def test_stop_and_start_set_desired_state_and_status(manager: AppManager) -> None:
    install(manager)
    manager.set_state(space="default", name="hello", state=DesiredState.STOPPED)
    app = app_row(manager)
    assert (app.desired_state, app.status) == ("stopped", "stopping")
    manager.set_state(space="default", name="hello", state=DesiredState.RUNNING)
    app = app_row(manager)
    assert (app.desired_state, app.status) == ("running", "starting")
    assert len(revisions(manager)) == 1, "stop and start are not new revisions"


def test_remove_marks_removed_and_hides_the_app(manager: AppManager) -> None:
    install(manager)
    manager.remove(space="default", name="hello", purge=True)
    app = app_row(manager)  # still readable while the reconciler removes it
    assert (app.desired_state, app.purge, app.status) == ("removed", True, "removing")
    with pytest.raises(NotFound):
        manager.update(space="default", name="hello", values={"message": "x"})
    with manager.database.session() as session:
        assert manager.list_apps(session, "default")[0].desired_state == "removed"
        kinds = session.scalars(select(AppEvent.kind).order_by(AppEvent.id)).all()
    assert kinds == ["install", "remove"]
