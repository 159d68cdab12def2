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
from cloudos.engine._exec import ExecResult, exec_in_service, exec_stream, service_health
from cloudos.engine._observe import ObservedService, ObservedStack, observe_stacks
from cloudos.engine._resources import (
    ensure_network,
    ensure_secret,
    force_update,
    prune_secrets,
    remove_network,
    service_logs,
    service_stats,
)
from cloudos.engine._stacks import (
    INSTANCE_LABEL,
    NAMESPACE_LABEL,
    ServiceState,
    StackInfo,
    deploy_stack,
    find_stack,
    inspect_stack,
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
    "ExecResult",
    "IpvsSupport",
    "ObservedService",
    "ObservedStack",
    "ServiceState",
    "StackInfo",
    "connect_engine",
    "deploy_stack",
    "detect_engine",
    "detect_ipvs",
    "engine_address",
    "ensure_network",
    "ensure_secret",
    "ensure_swarm_manager",
    "exec_in_service",
    "exec_stream",
    "find_stack",
    "force_update",
    "inspect_stack",
    "label_stack",
    "list_stacks",
    "observe_stacks",
    "prune_secrets",
    "remove_network",
    "remove_stack",
    "service_health",
    "service_logs",
    "service_states",
    "service_stats",
    "validate_stack",
]
