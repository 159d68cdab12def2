"""Server identities: stack names no app can take, and no two servers share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudos.addons import SERVER_KINDS, ServerKind, app_server, space_server, wants_dedicated

# The names the apps and spaces packages accept (apps._manager.APP_NAME, SPACE_NAME).
space_names = st.from_regex(r"[a-z][a-z0-9-]{0,19}", fullmatch=True)
app_names = st.from_regex(r"[a-z][a-z0-9-]{0,23}", fullmatch=True)
kinds = st.sampled_from(SERVER_KINDS)


def test_names_of_a_space_server() -> None:
    server = space_server(instance="cloudos", space="default", kind="mysql")
    assert server.stack == "cloudos--default--mysql"
    assert server.network == server.stack
    assert server.service == "cloudos--default--mysql_server"
    assert server.host == server.service
    assert server.port == 3306
    assert server.shared


def test_names_of_a_dedicated_server() -> None:
    server = app_server(instance="cloudos", app_id=12, app_name="blog", kind="postgresql")
    assert server.stack == "cloudos--12-blog--postgresql-app"
    assert server.port == 5432
    assert not server.shared


@given(instance=st.sampled_from(["cloudos", "cloudos-1a2b3c4d"]), space=space_names, app=app_names)
def test_no_app_stack_is_ever_a_server_stack(instance: str, space: str, app: str) -> None:
    app_stack = f"{instance}-{space}-{app}"  # apps._manager.stack_name
    for kind in SERVER_KINDS:
        assert space_server(instance=instance, space=space, kind=kind).stack != app_stack
        assert app_server(instance=instance, app_id=1, app_name=app, kind=kind).stack != app_stack
        # Nor the space's own network (spaces.network_name).
        assert space_server(instance=instance, space=space, kind=kind).network != (
            f"{instance}-{space}"
        )


@given(
    first=st.tuples(space_names, kinds),
    second=st.tuples(space_names, kinds),
    app=st.tuples(st.integers(1, 10**6), app_names, kinds),
)
def test_servers_never_share_a_stack(
    first: tuple[str, ServerKind],
    second: tuple[str, ServerKind],
    app: tuple[int, str, ServerKind],
) -> None:
    a = space_server(instance="cloudos", space=first[0], kind=first[1])
    b = space_server(instance="cloudos", space=second[0], kind=second[1])
    c = app_server(instance="cloudos", app_id=app[0], app_name=app[1], kind=app[2])
    assert (a.stack == b.stack) == (first == second)
    assert c.stack not in (a.stack, b.stack)


@given(app_id=st.integers(1, 10**9), app=app_names, kind=kinds)
def test_service_names_fit_in_a_dns_label(app_id: int, app: str, kind: ServerKind) -> None:
    server = app_server(instance="cloudos-1a2b3c4d", app_id=app_id, app_name=app, kind=kind)
    assert len(server.service) <= 63


@pytest.mark.parametrize(
    ("kind", "options", "dedicated"),
    [
        ("mysql", {}, False),
        ("postgresql", {}, False),
        ("redis", {}, True),  # a shared Redis confines keys to a prefix: opt in
        ("redis", {"dedicated": False}, False),
        ("mysql", {"dedicated": True}, True),
        ("mysql", {"dedicated": "yes"}, True),
    ],
)
def test_which_addons_get_a_server_of_their_own(
    kind: ServerKind, options: dict[str, str | int | bool], dedicated: bool
) -> None:
    assert wants_dedicated(kind, options) is dedicated
