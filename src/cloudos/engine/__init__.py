"""Docker Engine and Swarm: the only package that talks to Docker."""

from cloudos.engine._client import connect_engine, engine_address
from cloudos.engine._detect import (
    EndpointMode,
    EngineInfo,
    IpvsSupport,
    detect_engine,
    detect_ipvs,
    ensure_swarm_manager,
)
from cloudos.engine._stacks import (
    INSTANCE_LABEL,
    NAMESPACE_LABEL,
    ServiceState,
    StackInfo,
    deploy_stack,
    find_stack,
    label_stack,
    list_stacks,
    remove_stack,
    service_states,
    validate_stack,
)

__all__ = [
    "INSTANCE_LABEL",
    "NAMESPACE_LABEL",
    "EndpointMode",
    "EngineInfo",
    "IpvsSupport",
    "ServiceState",
    "StackInfo",
    "connect_engine",
    "deploy_stack",
    "detect_engine",
    "detect_ipvs",
    "engine_address",
    "ensure_swarm_manager",
    "find_stack",
    "label_stack",
    "list_stacks",
    "remove_stack",
    "service_states",
    "validate_stack",
]
