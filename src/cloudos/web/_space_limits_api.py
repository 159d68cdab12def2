"""REST API of a space's template policy and quotas (``/api/v1/spaces/{space}/...``).

Anyone who may see the space reads them (with the space's current use); only a cluster
admin changes them. What each grant allows is in docs/security.md.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from cloudos.spaces import (
    GRANTS,
    PortRange,
    Quota,
    get_space,
    parse_size,
    set_policy,
    set_ports,
    set_quota,
    space_policy,
    space_ports,
    space_quota,
)
from cloudos.web._auth import CurrentPrincipal
from cloudos.web._models import RequestBody
from cloudos.web._state import app_state

router = APIRouter(prefix="/api/v1", tags=["spaces"])


class PolicyIn(RequestBody):
    """The grants a space allows and the host ports it may publish (replaces both;
    [] and null allow none)."""

    allow: list[str]
    ports: str | None = Field(default=None, description="host ports, FROM-TO (null: none)")


class PolicyOut(BaseModel):
    """What a space's apps may ask for beyond the safe default."""

    space: str
    allow: list[str]
    ports: str | None = Field(description="the host ports its apps may publish (null: none)")
    grants: dict[str, str] = Field(description="every grant there is, with what it allows")


class QuotaIn(RequestBody):
    """A space's quotas (replaces the current ones); null: no limit."""

    max_apps: int | None = None
    max_cpus: float | None = None
    max_memory: int | str | None = Field(
        default=None, description="bytes, or a size like 512M or 2G"
    )


class UsageOut(BaseModel):
    """What the space's apps (stopped ones too) ask for now."""

    apps: int
    cpus: float
    memory: int
    unlimited_cpus: list[str] = Field(description="app/service without a CPU limit")
    unlimited_memory: list[str] = Field(description="app/service without a memory limit")


class QuotaOut(BaseModel):
    """A space's quotas and how much of them its apps use."""

    space: str
    max_apps: int | None
    max_cpus: float | None
    max_memory: int | None
    usage: UsageOut


@router.get("/spaces/{space}/policy", response_model=PolicyOut)
def policy(space: str, request: Request, principal: CurrentPrincipal) -> PolicyOut:
    """The grants the space allows."""
    with app_state(request).database.session() as session:
        found = get_space(session, space)
        return _policy_out(found.name, space_policy(found), space_ports(found))


@router.put("/spaces/{space}/policy", response_model=PolicyOut)
def policy_set(
    space: str, body: PolicyIn, request: Request, principal: CurrentPrincipal
) -> PolicyOut:
    """Replace the grants the space allows (cluster admins only); applies to the next
    change of each app, running apps are left as they are."""
    with app_state(request).database.session() as session:
        allowed = set_policy(session, name=space, allow=body.allow)
        ports = set_ports(session, name=space, ports=body.ports)
    return _policy_out(space, allowed, ports)


def _policy_out(space: str, allowed: list[str], ports: PortRange | None) -> PolicyOut:
    return PolicyOut(
        space=space, allow=allowed, ports=None if ports is None else str(ports), grants=GRANTS
    )


@router.get("/spaces/{space}/quota", response_model=QuotaOut)
def quota(space: str, request: Request, principal: CurrentPrincipal) -> QuotaOut:
    """The space's quotas and current use."""
    return _quota_out(request, space)


@router.put("/spaces/{space}/quota", response_model=QuotaOut)
def quota_set(space: str, body: QuotaIn, request: Request, principal: CurrentPrincipal) -> QuotaOut:
    """Replace the space's quotas (cluster admins only); they apply to the next install
    or update, apps already over them keep running."""
    memory = body.max_memory
    limits = Quota(
        max_apps=body.max_apps,
        max_cpus=body.max_cpus,
        max_memory=None if memory is None else parse_size(memory, what="max_memory"),
    )
    with app_state(request).database.session() as session:
        set_quota(session, name=space, quota=limits)
    return _quota_out(request, space)


def _quota_out(request: Request, space: str) -> QuotaOut:
    state = app_state(request)
    with state.database.session() as session:
        found = get_space(session, space)
        limits = space_quota(found)
        used = state.apps.space_usage(session, found)
        return QuotaOut(
            space=found.name,
            max_apps=limits.max_apps,
            max_cpus=limits.max_cpus,
            max_memory=limits.max_memory,
            usage=UsageOut(
                apps=used.apps,
                cpus=used.cpus,
                memory=used.memory,
                unlimited_cpus=list(used.unlimited_cpus),
                unlimited_memory=list(used.unlimited_memory),
            ),
        )


__all__ = ["router"]
