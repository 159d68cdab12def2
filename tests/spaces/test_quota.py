"""Quotas: apps, CPU and memory limits per space, enforced at install, update, rollback
and adoption with a message that says what would be used of what."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from cloudos.apps import AppManager, TemplateRef
from cloudos.errors import Forbidden, InvalidInput
from cloudos.spaces import (
    Quota,
    create_space,
    format_size,
    parse_size,
    set_quota,
    stack_usage,
)
from cloudos.statuses import DesiredState
from cloudos.store.models import App, AppRevision

GIB = 1 << 30


def sized(
    cpus: str | None = "0.5", memory: str | None = "256M", replicas: int = 1, **extra: Any
) -> TemplateRef:
    """A one-service template whose limits and replicas are parameters."""
    parameters: dict[str, Any] = {"replicas": {"type": "int", "default": replicas}}
    limits: dict[str, Any] = {}
    if cpus is not None:
        parameters["cpus"] = {"type": "string", "default": cpus}
        limits["cpus"] = "${cpus}"
    if memory is not None:
        parameters["memory"] = {"type": "size", "default": memory}
        limits["memory"] = "${memory}"
    deploy: dict[str, Any] = {"replicas": "${replicas}"}
    if limits:
        deploy["resources"] = {"limits": limits}
    document = {
        "format": "cloudos.template/v1",
        "id": "org.example.sized",
        "version": "1.0.0",
        "name": "Sized",
        "parameters": parameters,
        "services": {"web": {"image": "nginx:1", "deploy": deploy, **extra}},
    }
    return TemplateRef(text=yaml.safe_dump(document), source="sized.yaml")


@pytest.fixture
def acme(manager: AppManager) -> AppManager:
    with manager.database.session() as session:
        create_space(session, name="acme")
    return manager


def quota(manager: AppManager, **limits: Any) -> None:
    with manager.database.session() as session:
        set_quota(session, name="acme", quota=Quota(**limits))


def stored(manager: AppManager) -> tuple[int, int]:
    with manager.database.session() as session:
        apps = session.scalar(select(func.count()).select_from(App))
        revisions = session.scalar(select(func.count()).select_from(AppRevision))
    return int(apps or 0), int(revisions or 0)


def install(manager: AppManager, name: str, template: TemplateRef, **values: Any) -> None:
    manager.install(space="acme", name=name, template=template, values=values)


def test_the_number_of_apps_is_bounded(acme: AppManager) -> None:
    quota(acme, max_apps=2)
    install(acme, "a", sized())
    install(acme, "b", sized())
    with pytest.raises(Forbidden, match="space 'acme' has 2 of its 2 apps: app c would be one"):
        install(acme, "c", sized())
    assert stored(acme) == (2, 2)
    acme.remove(space="acme", name="a")  # a removed app frees its place
    install(acme, "c", sized())


def test_cpus_are_limits_times_replicas_across_the_space(acme: AppManager) -> None:
    quota(acme, max_cpus=2)
    install(acme, "web", sized(cpus="1", replicas=2))
    with pytest.raises(Forbidden) as refused:
        install(acme, "blog", sized(cpus="1.5"))
    assert str(refused.value) == "space 'acme' would use 3.5 of its 2 CPUs (app blog asks for 1.5)"
    assert stored(acme) == (1, 1)
    acme.set_state(
        space="acme", name="web", state=DesiredState.STOPPED
    )  # stopped apps keep their share
    with pytest.raises(Forbidden, match=r"would use 3\.5 of its 2 CPUs"):
        install(acme, "blog", sized(cpus="1.5"))
    quota(acme, max_cpus=3.5)
    install(acme, "blog", sized(cpus="1.5"))


def test_memory_accepts_compose_units(acme: AppManager) -> None:
    quota(acme, max_memory=GIB)
    install(acme, "web", sized(memory="512m"))
    with pytest.raises(Forbidden) as refused:
        install(acme, "blog", sized(memory="0.75g", replicas=1))
    assert str(refused.value) == (
        "space 'acme' would use 1.25G of its 1G of memory (app blog asks for 768M)"
    )
    install(acme, "blog", sized(memory="512MiB"))


def test_an_update_counts_the_new_stack_instead_of_the_current_one(acme: AppManager) -> None:
    quota(acme, max_cpus=2, max_memory=GIB)
    install(acme, "web", sized(cpus="1", memory="512M"))
    install(acme, "blog", sized(cpus="0.5", memory="256M"))
    # 1 -> 1.5 CPUs for web: 2 of 2 in all, allowed.
    assert acme.update(space="acme", name="web", values={"cpus": "1.5"})
    with pytest.raises(Forbidden, match=r"would use 2\.5 of its 2 CPUs \(app web asks for 2\)"):
        acme.update(space="acme", name="web", values={"replicas": 2, "cpus": "1"})
    with pytest.raises(Forbidden, match=r"would use 1\.25G of its 1G of memory"):
        acme.update(space="acme", name="blog", values={"memory": "768M"})
    assert stored(acme) == (2, 3)  # the refused updates stored nothing


def test_a_space_over_a_lowered_quota_may_shrink_but_not_grow(acme: AppManager) -> None:
    install(acme, "web", sized(cpus="2"))
    quota(acme, max_cpus=1)
    assert acme.update(space="acme", name="web", values={"cpus": "1.5"})  # less than before
    with pytest.raises(Forbidden, match=r"would use 1\.75 of its 1 CPUs"):
        acme.update(space="acme", name="web", values={"cpus": "1.75"})
    # A rollback deploys the old stack anew: 2 CPUs is more than the app uses now.
    with pytest.raises(Forbidden, match="would use 2 of its 1 CPUs"):
        acme.rollback(space="acme", name="web")


def test_a_resource_quota_needs_every_service_to_have_a_limit(acme: AppManager) -> None:
    install(acme, "old", sized(cpus=None, memory=None))  # before the quota: kept
    quota(acme, max_cpus=4, max_memory=4 * GIB)
    with pytest.raises(Forbidden) as refused:
        install(acme, "web", sized(cpus=None, memory="1G"))
    assert str(refused.value) == (
        "space 'acme' has a CPU quota, so every service needs a CPU limit "
        "(deploy.resources.limits.cpus, e.g. with the modifier org.cloudos.resources; "
        "global services cannot be bounded): web/web has none"
    )
    with pytest.raises(Forbidden, match="every service needs a memory limit"):
        install(acme, "web", sized(cpus="1", memory=None))
    with pytest.raises(Forbidden, match="global services cannot be bounded"):
        install(acme, "web", _global())
    # The app from before the quota may still change, as long as it adds no unlimited service.
    assert acme.update(space="acme", name="old", values={"replicas": 2})
    assert stored(acme) == (1, 2)


def _global() -> TemplateRef:
    text = sized(cpus="1", memory="1G").text
    assert text is not None
    document = yaml.safe_load(text)
    document["services"]["web"]["deploy"] = {
        "mode": "global",
        "resources": {"limits": {"cpus": "1", "memory": "1G"}},
    }
    return TemplateRef(text=yaml.safe_dump(document), source="global.yaml")


def test_adoption_counts_as_an_install(acme: AppManager) -> None:
    quota(acme, max_apps=1)
    install(acme, "web", sized())
    document = {
        "format": "cloudos.template/v1",
        "id": "local.adopted.x",
        "version": "1.0.0",
        "name": "x",
        "services": {"web": {"image": "nginx:1"}},
    }
    with pytest.raises(Forbidden, match="has 1 of its 1 apps"):
        acme.adopt(space="acme", name="x", stack="x", document=document)
    assert stored(acme) == (1, 1)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512M", 512 << 20),
        ("512m", 512 << 20),
        ("1g", GIB),
        ("1.5G", 3 * GIB // 2),
        ("1GiB", GIB),
        ("2gb", 2 * GIB),
        ("100k", 102400),
        ("1048576", 1 << 20),
        ("123b", 123),
        (4096, 4096),
    ],
)
def test_sizes_follow_docker(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "1X", "-1G", "1 G B", "lots"])
def test_bad_sizes_say_what_a_size_looks_like(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a size like 512M or 2G"):
        parse_size(text)


def test_sizes_print_short() -> None:
    assert [format_size(n) for n in (GIB, 3 * GIB // 2, 5 * GIB // 4, 768 << 20, 1000, 0)] == [
        "1G",
        "1.5G",
        "1.25G",
        "768M",
        "1000B",
        "0B",
    ]


def test_usage_of_a_stack_names_services_without_limits() -> None:
    stack = {
        "services": {
            "web": {"deploy": {"replicas": 3, "resources": {"limits": {"cpus": 0.5}}}},
            "db": {"deploy": {"resources": {"limits": {"cpus": "1", "memory": "1G"}}}},
            "off": {"deploy": {"replicas": 0, "resources": {"limits": {"cpus": "4"}}}},
        }
    }
    usage = stack_usage(stack, app="blog")
    assert (usage.apps, usage.cpus, usage.memory) == (1, 2.5, GIB)
    assert usage.unlimited_memory == ("blog/web", "blog/off")
    assert usage.unlimited_cpus == ()


def test_negative_quotas_are_refused(acme: AppManager) -> None:
    with pytest.raises(InvalidInput, match="max_apps -1"):
        quota(acme, max_apps=-1)
    with pytest.raises(InvalidInput, match="max_cpus"):
        quota(acme, max_cpus=float("nan"))
