"""App instances, revisions, lifecycle, and the reconciler."""

from cloudos.apps._faults import Fault, FaultLog
from cloudos.apps._manager import APP_NAME, AppManager, TemplateRef, catalog_templates, stack_name
from cloudos.apps._passes import PassMetrics, PassReport
from cloudos.apps._plan import (
    Action,
    Deploy,
    DesiredApp,
    Remove,
    RemoveOrphan,
    Status,
    derive_status,
    plan,
)
from cloudos.apps._reconciler import ReconcileLoop, Reconciler
from cloudos.apps._stack import (
    APP_LABEL,
    MASK,
    SPEC_LABEL,
    STATE_LABEL,
    BuiltStack,
    StackInputs,
    build_stack,
)
from cloudos.statuses import TROUBLE, AppStatus, DesiredState

__all__ = [
    "APP_LABEL",
    "APP_NAME",
    "MASK",
    "SPEC_LABEL",
    "STATE_LABEL",
    "TROUBLE",
    "Action",
    "AppManager",
    "AppStatus",
    "BuiltStack",
    "Deploy",
    "DesiredApp",
    "DesiredState",
    "Fault",
    "FaultLog",
    "PassMetrics",
    "PassReport",
    "ReconcileLoop",
    "Reconciler",
    "Remove",
    "RemoveOrphan",
    "StackInputs",
    "Status",
    "TemplateRef",
    "build_stack",
    "catalog_templates",
    "derive_status",
    "plan",
    "stack_name",
]
