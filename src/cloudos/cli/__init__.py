"""The ``cloudos`` command line.

Each capability contributes one Typer sub-app (``cloudos template ...``,
``cloudos images ...``); this module assembles them and owns the one place where the
project's errors become a one-line message and an exit code.
"""

from __future__ import annotations

import sys

import typer

from cloudos.cli import (
    _template_import,
    account,
    addon,
    admin,
    audit,
    health,
    images,
    member,
    route,
    space,
    system,
    template,
    token,
    user,
)
from cloudos.cli import app as app_cli
from cloudos.cli._output import err_console
from cloudos.errors import CloudOSError

app = typer.Typer(
    name="cloudos",
    help="Cloud OS: your own cloud on Docker Swarm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
system.register(app)
health.register(app)
app.add_typer(images.app, name="images")
app.add_typer(admin.app, name="admin")
_template_import.register(template.app)
app.add_typer(template.app, name="template")
app.add_typer(space.app, name="space")
app.add_typer(app_cli.app, name="app")
app.add_typer(route.route_app, name="route")
app.add_typer(route.domain_app, name="domain")
app.add_typer(route.cert_app, name="cert")
app.add_typer(route.redirect_app, name="redirect")
app.add_typer(addon.app, name="addon")
account.register(app)
app.add_typer(user.app, name="user")
app.add_typer(member.app, name="member")
app.add_typer(token.app, name="token")
app.add_typer(audit.app, name="audit")


def main() -> None:
    """Entry point of the ``cloudos`` script."""
    try:
        app(standalone_mode=True)
    except CloudOSError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


__all__ = ["app", "main"]
