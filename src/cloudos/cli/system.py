"""Top-level commands: version, doctor, up, down, serve."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from cloudos import __version__
from cloudos.cli._output import console, err_console, print_json
from cloudos.settings import Settings, load_settings

# Heavier modules (the web stack, the database, the Docker SDK) are imported inside
# the commands that use them, so `cloudos version` and `--help` start fast.

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the cloud keeps its state [env CLOUDOS_DATA_DIR]."),
]
HttpPortOption = Annotated[
    int | None, typer.Option("--http-port", help="Router's HTTP port [env CLOUDOS_HTTP_PORT].")
]
HttpsPortOption = Annotated[
    int | None, typer.Option("--https-port", help="Router's HTTPS port [env CLOUDOS_HTTPS_PORT].")
]
PortOption = Annotated[
    int | None,
    typer.Option("--port", help="Port of the web interface and API [env CLOUDOS_PORT]."),
]
HostOption = Annotated[
    str | None,
    typer.Option(
        help="Address the control plane's plain-HTTP port listens on: 127.0.0.1 (only this "
        "machine; others use the router's HTTPS) unless you choose another [env CLOUDOS_HOST]."
    ),
]


def register(app: typer.Typer) -> None:
    """Add the top-level commands to ``app``."""
    app.command()(version)
    app.command()(doctor)
    app.command()(up)
    app.command()(down)
    app.command()(serve)


def version() -> None:
    """Print the version of Cloud OS."""
    print(__version__)


def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Check whether a cloud can run on this machine; exit 1 with reasons when not."""
    from cloudos.system._doctor import run_doctor

    report = run_doctor(load_settings(data_dir=data_dir))
    if json_output:
        print_json(report)
    else:
        _print_doctor(report)
    raise typer.Exit(0 if report["can_run"] else 1)


def _print_doctor(report: dict[str, object]) -> None:
    engine = report["engine"]
    assert isinstance(engine, dict)
    if engine.get("reachable"):
        console.print(
            f"engine      Docker {engine['version']} (API {engine['api_version']})"
            f" at {engine['address']}"
        )
        console.print(
            f"swarm       {engine['swarm_state']}, role {engine['role']},"
            f" {engine['node_count']} node(s)"
        )
        ipvs = engine["ipvs"]
        assert isinstance(ipvs, dict)
        console.print(f"service VIP {'yes' if ipvs['available'] else 'no'} ({ipvs['reason']})")
    else:
        console.print(f"engine      not reachable at {engine['address']}")
    disk = report["disk"]
    assert isinstance(disk, dict)
    console.print(f"disk        {disk['free_bytes'] // 1024**3} GiB free at {disk['path']}")
    for image in report.get("images", []):  # type: ignore[attr-defined]
        state = (
            "up to date" if image["up_to_date"] else ("stale" if image["present"] else "missing")
        )
        console.print(f"image       {image['ref']}: {state}")
    if report["hsts"] == "off":
        console.print("hsts        off: HTTPS answers carry no Strict-Transport-Security")
    else:
        console.print(f"hsts        {report['hsts']}")
    if report["can_run"]:
        console.print("[green]ok:[/] a cloud can run here (`cloudos up`)")
    for reason in report["reasons"]:  # type: ignore[attr-defined]
        console.print(f"[red]problem:[/] {reason}", highlight=False)
    for warning in report["warnings"]:  # type: ignore[attr-defined]
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def up(
    data_dir: DataDirOption = None,
    port: PortOption = None,
    http_port: HttpPortOption = None,
    https_port: HttpsPortOption = None,
    instance: Annotated[
        str | None, typer.Option(help="Name of this cloud [env CLOUDOS_INSTANCE].")
    ] = None,
    host: HostOption = None,
) -> None:
    """Start the cloud on this machine's engine (idempotent)."""
    from cloudos.system import bring_up

    settings = load_settings(
        data_dir=data_dir,
        port=port,
        instance=instance,
        http_port=http_port,
        https_port=https_port,
        host=host,
    )
    _configure_logging(settings)
    _warn_plain_http(settings)
    with err_console.status("starting") as status:
        result = bring_up(settings, progress=lambda message: _step(status, message))
    # Plain prints: these lines are read by people and scripts, and must never wrap.
    print(f"Cloud OS is up: {result.url} (instance {result.instance})")
    if result.router_url is not None:
        print(f"From other machines, over HTTPS through the router: {result.router_url}")
    if result.credentials_file is not None:
        print(f"First admin's credentials: {result.credentials_file}")
    print(f"API token: cloudos admin create-token --data-dir {settings.data_dir}")


def _warn_plain_http(settings: Settings) -> None:
    from cloudos.system import plain_http_warning

    warning = plain_http_warning(settings)
    if warning is not None:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _step(status: object, message: str) -> None:
    err_console.print(f"[dim]•[/] {message}", highlight=False)
    update = getattr(status, "update", None)
    if update is not None:
        update(message)


def down(
    data_dir: DataDirOption = None,
    instance: Annotated[
        str | None, typer.Option(help="Name of this cloud [env CLOUDOS_INSTANCE].")
    ] = None,
) -> None:
    """Stop the cloud's control plane; all data is kept."""
    from cloudos.system import bring_down

    settings = load_settings(data_dir=data_dir, instance=instance)
    if bring_down(settings):
        console.print(
            f"Cloud OS {settings.instance_name!r} is down; data kept in {settings.data_dir}"
        )
    else:
        console.print(f"Cloud OS {settings.instance_name!r} was not running")


def serve(
    data_dir: DataDirOption = None,
    port: PortOption = None,
    http_port: HttpPortOption = None,
    https_port: HttpsPortOption = None,
    host: HostOption = None,
) -> None:
    """Run the control plane in the foreground on this host (for development)."""
    settings = load_settings(
        data_dir=data_dir, port=port, host=host, http_port=http_port, https_port=https_port
    )
    _configure_logging(settings)
    _warn_plain_http(settings)
    run_server(settings)


def run_server(settings: Settings) -> None:
    """Prepare state, then serve the ASGI app until interrupted."""
    import uvicorn

    from cloudos.engine import connect_engine
    from cloudos.identity import ensure_first_admin
    from cloudos.store import open_database
    from cloudos.system import check_port_free, prepare_data_dir
    from cloudos.ui import warm_up
    from cloudos.web import create_app, tune_garbage_collector
    from cloudos.web._listen import listen_sockets

    data = prepare_data_dir(settings.data_dir)
    check_port_free(settings.host, settings.port)
    database = open_database(settings.effective_database_url)
    with database.session() as session:
        created = ensure_first_admin(session, data)
    if created is not None:
        err_console.print(f"First admin's credentials: {created}")
    app = create_app(
        settings=settings,
        database=database,
        connect_engine=lambda: connect_engine(settings.docker_host),
    )
    sockets = listen_sockets(settings)
    warm_up()
    tune_garbage_collector()
    err_console.print(f"Cloud OS {__version__} serving on http://{settings.host}:{settings.port}")
    try:
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
        )
        uvicorn.Server(config).run(sockets=sockets)
    finally:
        for listener in sockets:
            listener.close()
        database.close()


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Every health poll would be a log line, and Alembic announces its plugins on import:
    # only their warnings are worth a line.
    quiet = max(logging.WARNING, logging.getLevelName(settings.log_level))
    for name in ("httpx", "alembic"):
        logging.getLogger(name).setLevel(quiet)


__all__ = ["register"]
