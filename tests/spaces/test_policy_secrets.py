"""A template reads only its app's own secrets and configs: another app's, another
space's or an addon server's, however the YAML names them, needs the grant
``foreign_secrets``; a service's reference to one the stack does not declare is
refused in every space.

Through the app manager (real rendering, real SQLite, no Docker): the stack checked is
the one that would be deployed, with the platform's own secrets attached.
"""

from __future__ import annotations

from typing import Any

import pytest

from cloudos.apps import AppManager
from cloudos.errors import Forbidden
from cloudos.spaces import GRANTS, set_policy
from tests.spaces.test_policy import _template, count

# What space "shop"'s app "blog" has on the engine (its password parameter's secret).
OTHER = "t-shop-blog_db_password_0123456789ab"
ADDON_ROOT = "t-addon-mysql-default_root_password_0123456789ab"

# How a template can name a secret or config it does not own: (top-level, service use).
SPELLINGS: dict[str, tuple[dict[str, Any], list[Any]]] = {
    "external-key-as-name": ({OTHER: {"external": True}}, [OTHER]),
    "external-and-name": ({"pw": {"external": True, "name": OTHER}}, ["pw"]),
    "external-name-mapping": ({"pw": {"external": {"name": OTHER}}}, ["pw"]),
    "name-only": ({"pw": {"name": OTHER}}, ["pw"]),
    "long-service-syntax": (
        {"pw": {"external": True, "name": OTHER}},
        [{"source": "pw", "target": "db_password", "mode": 0o400}],
    ),
    "an-addon-servers-root-password": ({"root": {"external": True, "name": ADDON_ROOT}}, ["root"]),
}


@pytest.mark.parametrize("kind", ["secrets", "configs"])
@pytest.mark.parametrize("spelling", SPELLINGS, ids=list(SPELLINGS))
def test_another_apps_secret_is_refused_until_foreign_secrets_is_allowed(
    acme: AppManager, kind: str, spelling: str
) -> None:
    top, uses = SPELLINGS[spelling]
    template = _template({kind: uses}, {kind: top})
    with acme.database.session() as session:  # every other grant does not help
        set_policy(session, name="acme", allow=[g for g in GRANTS if g != "foreign_secrets"])
    with pytest.raises(Forbidden) as refused:
        acme.install(space="acme", name="app", template=template, values={})
    name = ADDON_ROOT if "addon" in spelling else OTHER
    key = next(iter(top))
    assert str(refused.value) == (
        f"{kind[:-1]} {key}: the {kind[:-1]} {name}, which is not the app's own "
        f"({kind}.{key}) is not allowed in space 'acme' (a cluster admin can allow it: "
        "cloudos space policy acme --allow foreign_secrets)"
    )
    assert count(acme) == (0, 0)
    with acme.database.session() as session:
        set_policy(session, name="acme", allow=["foreign_secrets"])
    acme.install(space="acme", name="app", template=template, values={})
    assert count(acme) == (1, 1)


def test_a_secrets_name_given_through_a_value_is_refused(acme: AppManager) -> None:
    template = _template(
        {"secrets": ["pw"]},
        {"secrets": {"pw": {"external": True, "name": "${which}"}}},
        parameters={"which": {"type": "string", "default": "t-acme-app_mine"}},
    )
    acme.install(space="acme", name="app", template=template, values={})  # its own name
    with pytest.raises(Forbidden, match=f"the secret {OTHER}, which is not the app's own"):
        acme.update(space="acme", name="app", values={"which": OTHER})
    assert count(acme) == (1, 1)


@pytest.mark.parametrize("kind", ["secrets", "configs"])
@pytest.mark.parametrize("use", [OTHER, {"source": OTHER, "target": "pw"}], ids=["short", "long"])
def test_a_reference_the_stack_does_not_declare_is_refused_in_every_space(
    acme: AppManager, kind: str, use: Any
) -> None:
    with acme.database.session() as session:
        set_policy(session, name="acme", allow=list(GRANTS))
    template = _template({kind: [use]}, {})
    with pytest.raises(Forbidden) as refused:
        acme.install(space="acme", name="app", template=template, values={})
    assert str(refused.value) == (
        f"service web: the {kind[:-1]} {OTHER}, which the stack does not declare "
        f"(services.web.{kind}[0]) is refused in every space"
    )
    assert count(acme) == (0, 0)


def test_the_apps_own_and_the_platforms_attached_secrets_need_no_grant(
    acme: AppManager,
) -> None:
    template = _template(
        {"secrets": ["own", "named"], "configs": [{"source": "site", "target": "/site"}]},
        {
            "secrets": {"own": {"external": True, "name": "t-acme-app_own"}, "named": {}},
            "configs": {"site": {"name": "t-acme-app_site", "external": True}},
        },
        parameters={"db_password": {"type": "password", "required": True}},
    )
    acme.install(space="acme", name="app", template=template, values={"db_password": "s3cret!"})
    with acme.database.session() as session:
        built = acme._current(session, acme.get(session, "acme", "app"))
    assert [name for name in built.secrets if name.startswith("t-acme-app_db_password_")]


def test_a_stack_whose_name_only_starts_alike_is_not_the_apps_own(acme: AppManager) -> None:
    # app "app" has stack t-acme-app; t-acme-app2_... is another app's.
    template = _template({"secrets": ["pw"]}, {"secrets": {"pw": {"name": "t-acme-app2_pw_1"}}})
    with pytest.raises(Forbidden, match="the secret t-acme-app2_pw_1, which is not the app's own"):
        acme.install(space="acme", name="app", template=template, values={})
