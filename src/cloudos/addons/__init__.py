"""Database and cache provisioning per app: MariaDB (``mysql``), PostgreSQL, Redis.

Pure core: server identities and names (``_model``, ``_names``), the commands run in
a server (``_commands``), what an app is told (``_credentials``) and a server's stack
(``_stack``). Edges, through ``engine`` only: servers on the swarm (``_servers``) and
databases in them (``_provision``). See docs/addons.md.
"""

from cloudos.addons._commands import Command
from cloudos.addons._credentials import (
    SECRET_VARIABLES,
    Credentials,
    context_values,
    credential_files,
    credentials_env,
    credentials_for,
    secret_spellings,
)
from cloudos.addons._model import (
    ADDON_LABEL,
    SERVER_KINDS,
    SERVER_LABEL,
    AddonNames,
    AddonServer,
    ServerKind,
    ServerStatus,
    app_server,
    space_server,
    wants_dedicated,
)
from cloudos.addons._names import addon_names, generate_password
from cloudos.addons._provision import AddonCommandFailed, deprovision, dump, provision, restore
from cloudos.addons._servers import deploy_server, remove_server, server_stack_spec, server_status
from cloudos.addons._stack import ServerStackSpec, render_server_stack

__all__ = [
    "ADDON_LABEL",
    "SECRET_VARIABLES",
    "SERVER_KINDS",
    "SERVER_LABEL",
    "AddonCommandFailed",
    "AddonNames",
    "AddonServer",
    "Command",
    "Credentials",
    "ServerKind",
    "ServerStackSpec",
    "ServerStatus",
    "addon_names",
    "app_server",
    "context_values",
    "credential_files",
    "credentials_env",
    "credentials_for",
    "deploy_server",
    "deprovision",
    "dump",
    "generate_password",
    "provision",
    "remove_server",
    "render_server_stack",
    "restore",
    "secret_spellings",
    "server_stack_spec",
    "server_status",
    "space_server",
    "wants_dedicated",
]
