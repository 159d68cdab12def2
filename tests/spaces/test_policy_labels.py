"""Labels in the platform's namespaces (``io.cloudos.*``, ``cloudos.*``) are the
platform's: a template, a modifier or a value that sets one is refused (not silently
dropped), in every space, wherever and however the label is written; the platform's
own labels still go on every service."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cloudos.apps import AppManager
from cloudos.errors import Forbidden
from cloudos.templates import modifier_from_dict
from tests.spaces.test_policy import _template, count

# Where a label can be set: (service fields, top-level fields, the reported path).
PLACES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "service-mapping": ({"labels": {"io.cloudos.space": "shop"}}, {}, "services.web.labels"),
    "service-list": ({"labels": ["io.cloudos.space=shop"]}, {}, "services.web.labels"),
    "deploy-mapping": (
        {"deploy": {"labels": {"io.cloudos.space": "shop"}}},
        {},
        "services.web.deploy.labels",
    ),
    "deploy-list": (
        {"deploy": {"labels": ["io.cloudos.space=shop"]}},
        {},
        "services.web.deploy.labels",
    ),
    "deploy-instance": (
        {"deploy": {"labels": {"io.cloudos.instance": "other"}}},
        {},
        "services.web.deploy.labels",
    ),
    "deploy-app": (
        {"deploy": {"labels": {"io.cloudos.app": "7"}}}, {}, "services.web.deploy.labels",
    ),
    "short-namespace": (
        {"deploy": {"labels": {"cloudos.space": "shop"}}},
        {},
        "services.web.deploy.labels",
    ),
    "upper-case": ({"labels": {"IO.CloudOS.Space": "shop"}}, {}, "services.web.labels"),
    "network": (
        {"networks": ["back"]},
        {"networks": {"back": {"labels": {"io.cloudos.space": "shop"}}}},
        "networks.back.labels",
    ),
    "volume": (
        {"volumes": ["data:/data"]},
        {"volumes": {"data": {"labels": {"cloudos.app": "blog"}}}},
        "volumes.data.labels",
    ),
    "secret": (
        {"secrets": ["pw"]},
        {"secrets": {"pw": {"name": "t-acme-app_pw", "labels": {"io.cloudos.x": ""}}}},
        "secrets.pw.labels",
    ),
    "config": (
        {"configs": ["site"]},
        {"configs": {"site": {"name": "t-acme-app_s", "labels": ["io.cloudos.x"]}}},
        "configs.site.labels",
    ),
}  # fmt: skip


@pytest.mark.parametrize("place", PLACES, ids=list(PLACES))
def test_a_platform_label_set_by_the_template_is_refused(
    every_grant: AppManager, place: str
) -> None:
    service, top, path = PLACES[place]
    with pytest.raises(Forbidden) as refused:
        every_grant.install(space="acme", name="app", template=_template(service, top), values={})
    message = str(refused.value)
    assert f"which is reserved for the platform ({path}) is refused in every space" in message
    assert count(every_grant) == (0, 0)


def test_a_label_through_a_value_is_refused(every_grant: AppManager) -> None:
    template = _template(
        {"deploy": {"labels": ["${label}"]}},
        {},
        parameters={"label": {"type": "string", "default": "tier=web"}},
    )
    every_grant.install(space="acme", name="app", template=template, values={})
    with pytest.raises(Forbidden, match=r"the label io\.cloudos\.space, which is reserved"):
        every_grant.update(space="acme", name="app", values={"label": "io.cloudos.space=shop"})
    assert count(every_grant) == (1, 1)


def test_a_modifier_cannot_relabel_the_app_into_another_space(every_grant: AppManager) -> None:
    every_grant.library = {
        **every_grant.library,
        "org.example.relabel": modifier_from_dict(
            {
                "format": "cloudos.modifier/v1",
                "id": "org.example.relabel",
                "version": "1.0.0",
                "priority": 90,  # after the platform's ownership labels
                "operations": [
                    {
                        "op": "merge",
                        "path": "services.*.deploy.labels",
                        "value": {"cloudos.space": "shop"},
                    }
                ],
            }
        ),
    }
    template = _template({}, {}, modifiers=[{"id": "org.example.relabel"}])
    with pytest.raises(Forbidden, match=r"the label cloudos\.space, which is reserved"):
        every_grant.install(space="acme", name="app", template=template, values={})
    assert count(every_grant) == (0, 0)


def test_other_labels_pass_and_the_platforms_own_are_set(every_grant: AppManager) -> None:
    template = _template(
        {"labels": {"tier": "web"}, "deploy": {"labels": ["com.example.team=blue"]}},
        {"volumes": {"data": {"labels": {"backup": "daily"}}}},
    )
    every_grant.install(space="acme", name="app", template=template, values={})
    with every_grant.database.session() as session:
        stack = yaml.safe_load(
            every_grant._current(session, every_grant.get(session, "acme", "app")).yaml
        )
    labels = stack["services"]["web"]["deploy"]["labels"]
    assert labels["com.example.team"] == "blue"
    assert labels["cloudos.space"] == "acme"
    assert labels["io.cloudos.state"] == "running"
