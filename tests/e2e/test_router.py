"""The router for real: Caddy as a swarm service, configs rendered from route tables.

One router service (host-mode ports on free host ports, its admin socket and ``/data``
bind-mounted from a temporary folder) and one upstream (``cloudos/static``, two
``dnsrr`` tasks) share an overlay network for the whole module. Pebble, Let's
Encrypt's ACME test server, runs as a service on the same network under the alias
``pebble`` (the name in the TLS certificate it listens with), in an image built here
from Debian's ``pebble`` package. Tests run in file order; the restart test is last.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import re
import shutil
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from docker.types import EndpointSpec, Mount, NetworkAttachmentConfig, ServiceMode

from cloudos.engine.images import build_images, image_ref
from cloudos.errors import EnvironmentProblem, InvalidInput
from cloudos.router import (
    ROUTER_SYSCTLS,
    Domain,
    Route,
    RouterAdmin,
    RouteTable,
    TlsMode,
    Upstream,
    dump_caddy_config,
    read_certificates,
    render_caddy_config,
    served_certificate,
)
from tests.conftest import unavailable
from tests.helpers import free_port, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LABELS = {"io.cloudos.test": "router"}
ADMIN_DIR = "/run/cloudos-router"
TRUST_DIR = "/etc/cloudos-test/trust"
PEBBLE_IMAGE = "cloudos-test/pebble:latest"
PEBBLE_DOCKERFILE = b"""FROM debian:bookworm-slim
RUN apt-get update \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends pebble \\
    && rm -rf /var/lib/apt/lists/*
ENTRYPOINT ["/usr/bin/pebble", "-config", "/etc/pebble/pebble-config.json"]
"""
ACME_HOST = "shop.cloudos-e2e.net"  # a public-looking name: ACME by default


@dataclass
class Rig:
    """The router, its upstream and the means to configure and reach them."""

    client: docker.DockerClient
    prefix: str
    root: Path
    network: str = ""
    http_port: int = field(default_factory=free_port)
    https_port: int = field(default_factory=free_port)
    services: list[str] = field(default_factory=list)

    @property
    def router(self) -> str:
        return f"{self.prefix}-router"

    @property
    def upstream(self) -> Upstream:
        return Upstream(service=f"{self.prefix}-web", port=8080, network=self.network)

    @property
    def admin_socket(self) -> Path:
        return self.root / "admin" / "admin.sock"

    @property
    def storage(self) -> Path:
        return self.root / "data" / "caddy"

    def admin(self) -> RouterAdmin:
        return RouterAdmin(self.admin_socket, timeout=30)

    def render(self, table: RouteTable, **settings: Any) -> dict[str, Any]:
        return render_caddy_config(
            table,
            endpoint_mode="dnsrr",
            http_port=self.http_port,
            https_port=self.https_port,
            admin_socket=f"{ADMIN_DIR}/admin.sock",
            **settings,
        )

    def load(self, table: RouteTable, **settings: Any) -> None:
        with self.admin() as admin:
            admin.load(self.render(table, **settings))

    def route(self, host: str, **options: Any) -> Route:
        return Route(domain=host, space="e2e", upstream=self.upstream, **options)

    def local_root(self) -> ssl.SSLContext:
        """A TLS context trusting only Caddy's internal CA."""
        root = self.storage / "pki" / "authorities" / "local" / "root.crt"
        wait_until(root.exists, timeout=30, what="Caddy's internal root certificate")
        return ssl.create_default_context(cadata=root.read_text())

    def get(
        self, host: str, path: str = "/", *, https: bool = False, verify: Any = False
    ) -> httpx.Response:
        """GET through the router at 127.0.0.1 with ``host`` as Host and SNI."""
        scheme, port = ("https", self.https_port) if https else ("http", self.http_port)
        with httpx.Client(verify=verify, timeout=10) as client:
            return client.get(
                f"{scheme}://127.0.0.1:{port}{path}",
                headers={"Host": host},
                extensions={"sni_hostname": host} if https else {},
            )

    def create_service(self, name: str, image: str, **kwargs: Any) -> None:
        self.services.append(name)
        self.client.services.create(image, name=name, labels=LABELS, **kwargs)  # type: ignore[no-untyped-call]

    def running_container(self, service: str) -> str | None:
        tasks = self.client.services.get(service).tasks(filters={"desired-state": "running"})  # type: ignore[no-untyped-call]
        for task in tasks:
            status = task.get("Status", {})
            if status.get("State") == "running":
                return str(status.get("ContainerStatus", {}).get("ContainerID"))
        return None


def _tasks_gone(client: docker.DockerClient, prefix: str) -> bool:
    # The low-level list: it inspects nothing, so a container going away meanwhile is fine.
    return not client.api.containers(all=True, filters={"name": f"{prefix}-"})


@pytest.fixture(scope="module")
def rig(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rig]:
    """The router and a two-task dnsrr upstream on their own overlay network."""
    build_images(docker_client, names=["router", "static"])
    rig = Rig(docker_client, f"rt{uuid.uuid4().hex[:6]}", tmp_path_factory.mktemp("router"))
    for folder in ("admin", "data", "trust"):
        (rig.root / folder).mkdir()
        (rig.root / folder).chmod(0o755)  # the caddy user must reach in
    rig.network = f"{rig.prefix}-net"
    docker_client.networks.create(rig.network, driver="overlay", attachable=True, labels=LABELS)
    try:
        rig.create_service(
            rig.upstream.service,
            image_ref("static"),
            networks=[rig.network],
            endpoint_spec=EndpointSpec(mode="dnsrr"),
            mode=ServiceMode("replicated", replicas=2),
        )
        rig.create_service(
            rig.router,
            image_ref("router"),
            networks=[rig.network],
            endpoint_spec=EndpointSpec(
                mode="dnsrr",
                # docker's stubs key ports by str; the SDK takes published port numbers.
                ports={
                    rig.http_port: (rig.http_port, "tcp", "host"),  # type: ignore[dict-item]
                    rig.https_port: (rig.https_port, "tcp", "host"),  # type: ignore[dict-item]
                },
            ),
            mounts=[
                Mount(ADMIN_DIR, str(rig.root / "admin"), type="bind"),
                Mount("/data", str(rig.root / "data"), type="bind"),
                Mount(TRUST_DIR, str(rig.root / "trust"), type="bind", read_only=True),
            ],
            sysctls=ROUTER_SYSCTLS,
        )
        wait_until(_admin_answers(rig), timeout=90, what="the router's admin socket")
        yield rig
    finally:
        for name in rig.services:
            with contextlib.suppress(docker.errors.NotFound):
                docker_client.services.get(name).remove()  # type: ignore[no-untyped-call]
        wait_until(lambda: _tasks_gone(docker_client, rig.prefix), timeout=60, what="tasks gone")
        wait_until(lambda: _network_removed(docker_client, rig.network), timeout=30, what="network")
        # Caddy's files belong to the container's caddy user; root on the host can remove them.
        shutil.rmtree(rig.root, ignore_errors=True)


def _network_removed(client: docker.DockerClient, name: str) -> bool:
    """Try to remove the network; True once it is gone (endpoints may linger a moment)."""
    try:
        client.networks.get(name).remove()
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return False
    return True


def _admin_answers(rig: Rig) -> Any:
    def check() -> bool:
        if not rig.admin_socket.exists():
            return False
        with rig.admin() as admin:
            return admin.answers()

    return check


def _upstream_ready(rig: Rig, host: str) -> Any:
    def check() -> bool:
        try:
            return rig.get(host).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def test_an_app_answers_by_host_name_http_redirects_then_https_with_the_internal_ca(
    rig: Rig,
) -> None:
    table = RouteTable(
        routes=[
            rig.route("app.test.localhost"),
            rig.route("plain.test.localhost", https_redirect=False),
        ]
    )
    rig.load(table)
    wait_until(_upstream_ready(rig, "plain.test.localhost"), timeout=60, what="upstream tasks")

    redirect = rig.get("app.test.localhost", "/index.html?x=1")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == (
        f"https://app.test.localhost:{rig.https_port}/index.html?x=1"
    )

    page = rig.get("app.test.localhost", https=True, verify=rig.local_root())
    assert page.status_code == 200
    assert "Cloud OS static site" in page.text
    assert page.headers["strict-transport-security"] == "max-age=31536000"  # by default
    assert "strict-transport-security" not in redirect.headers  # never over plain HTTP

    # A host nobody routes gets a 404, not an empty 200.
    assert rig.get("nobody.test.localhost").status_code == 404
    certs = {name: info for info in read_certificates(rig.storage) for name in info.names}
    assert certs["app.test.localhost"].source == "local"
    assert certs["app.test.localhost"].not_after > datetime.datetime.now(datetime.UTC)


def _pebble_tls(trust: Path, pebble_dir: Path) -> None:
    """A CA and a certificate for the name ``pebble`` for Pebble to listen with."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cloudos e2e pebble TLS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("pebble")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (trust / "pebble-tls-ca.pem").write_bytes(ca.public_bytes(pem))
    (pebble_dir / "cert.pem").write_bytes(cert.public_bytes(pem))
    (pebble_dir / "key.pem").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    config = {
        "pebble": {
            "listenAddress": "0.0.0.0:14000",
            "managementListenAddress": "0.0.0.0:15000",
            "certificate": "/etc/pebble/cert.pem",
            "privateKey": "/etc/pebble/key.pem",
            "httpPort": 80,
            "tlsPort": 443,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
    }
    (pebble_dir / "pebble-config.json").write_text(json.dumps(config))
    for path in pebble_dir.iterdir():
        path.chmod(0o644)


@pytest.fixture(scope="module")
def pebble(rig: Rig) -> int:
    """Pebble on the router's network as ``pebble``; its management port on 127.0.0.1."""
    rig.client.images.build(
        fileobj=io.BytesIO(PEBBLE_DOCKERFILE), tag=PEBBLE_IMAGE, network_mode="host", rm=True
    )
    pebble_dir = rig.root / "pebble"
    pebble_dir.mkdir()
    _pebble_tls(rig.root / "trust", pebble_dir)
    management = free_port()
    rig.create_service(
        f"{rig.prefix}-pebble",
        PEBBLE_IMAGE,
        networks=[NetworkAttachmentConfig(rig.network, aliases=["pebble"])],
        # docker's stubs key ports by str; the SDK takes published port numbers.
        endpoint_spec=EndpointSpec(mode="dnsrr", ports={management: (15000, "tcp", "host")}),  # type: ignore[dict-item]
        mounts=[Mount("/etc/pebble", str(pebble_dir), type="bind", read_only=True)],
        env=["PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"],
    )

    def answers() -> bool:
        try:
            return _pebble_get(rig, management, "/roots/0").is_success
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout=90, what="Pebble's management interface")
    return management


def _pebble_get(rig: Rig, port: int, path: str) -> httpx.Response:
    """GET from Pebble's management interface, trusting the CA of its TLS certificate."""
    trust = ssl.create_default_context(cafile=str(rig.root / "trust" / "pebble-tls-ca.pem"))
    with httpx.Client(verify=trust, timeout=5) as client:
        return client.get(f"https://127.0.0.1:{port}{path}", extensions={"sni_hostname": "pebble"})


def _acme_settings() -> dict[str, Any]:
    return {
        "acme_directory": "https://pebble:14000/dir",
        "acme_email": "ops@cloudos-e2e.net",
        "acme_ca_root": f"{TRUST_DIR}/pebble-tls-ca.pem",
    }


def _acme_table(rig: Rig) -> RouteTable:
    return RouteTable(
        routes=[rig.route("app.test.localhost"), rig.route(ACME_HOST)],
        domains=[Domain(ACME_HOST, space="e2e", tls=TlsMode.ACME)],
    )


def test_a_public_domain_gets_a_real_acme_certificate_that_chains_to_pebble(
    rig: Rig, pebble: int
) -> None:
    rig.load(_acme_table(rig), **_acme_settings())
    root = _pebble_get(rig, pebble, "/roots/0").text
    trusting_pebble = ssl.create_default_context(cadata=root)

    def issued() -> bool:
        try:
            return rig.get(ACME_HOST, https=True, verify=trusting_pebble).status_code == 200
        except httpx.HTTPError:
            return False

    # The handshake verifies the served chain against Pebble's root, and the name.
    wait_until(issued, timeout=60, what=f"a certificate for {ACME_HOST} from Pebble")
    page = rig.get(ACME_HOST, https=True, verify=trusting_pebble)
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    served = served_certificate(host="127.0.0.1", port=rig.https_port, server_name=ACME_HOST)
    assert served.names == (ACME_HOST,)
    assert served.issuer.startswith("Pebble Intermediate CA")
    stored = [info for info in read_certificates(rig.storage) if ACME_HOST in info.names]
    assert [info.serial for info in stored] == [served.serial]
    assert stored[0].source.startswith("pebble-14000")


def _wrk(rig: Rig, host: str, seconds: int) -> subprocess.Popen[str]:
    """wrk through the router, a new connection for every request (see docs/router.md).

    A reload makes Caddy 2.6 shut its old servers down gracefully: requests in flight
    finish, but idle keep-alive connections are closed at once (Go's
    ``http.Server.Shutdown``). A client that already sent its next request on such a
    connection sees it closed; browsers retry that (RFC 9112 9.3.1), wrk counts an
    error. Fresh connections are what the router itself must never drop.
    """
    if shutil.which("wrk") is None:
        unavailable("wrk is not installed (apt-get install -y wrk)")
    return subprocess.Popen(
        [
            "wrk",
            "-t2",
            "-c16",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-H",
            f"Host: {host}",
            "-H",
            "Connection: close",
            f"http://127.0.0.1:{rig.http_port}/",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wrk_failures(output: str) -> tuple[int, int, int]:
    """(requests, non-2xx/3xx responses, socket errors) from wrk's report."""
    total = re.search(r"(\d+) requests in", output)
    assert total, output
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = sum(int(n) for n in socket.groups()) if socket else 0
    return int(total.group(1)), int(non_2xx.group(1)) if non_2xx else 0, errors


def test_twenty_route_changes_under_load_fail_no_request_and_are_live_within_a_second(
    rig: Rig,
) -> None:
    steady = rig.route("steady.test.localhost", https_redirect=False)
    table = RouteTable(routes=[steady])
    rig.load(table)
    wait_until(_upstream_ready(rig, "steady.test.localhost"), timeout=60, what="steady route")

    load = _wrk(rig, "steady.test.localhost", seconds=25)
    time.sleep(2)
    delays = []
    try:
        for change in range(20):
            host = f"change{change}.test.localhost"
            table.add_route(
                rig.route(host, https_redirect=False, path=f"/v{change}", strip_prefix=True)
            )
            assert rig.get(host, f"/v{change}/").status_code == 404  # not routed yet
            rig.load(table)
            loaded = time.monotonic()
            while rig.get(host, f"/v{change}/").status_code != 200:
                assert time.monotonic() - loaded < 5, f"change {change} not live"
                time.sleep(0.01)
            delays.append(time.monotonic() - loaded)
            if change % 2:
                table.remove_route(f"change{change - 1}.test.localhost", f"/v{change - 1}")
            time.sleep(0.5)
    finally:
        output, _ = load.communicate(timeout=60)
    requests, bad_status, socket_errors = _wrk_failures(output)
    assert requests > 1000, output
    assert (bad_status, socket_errors) == (0, 0), output
    assert max(delays) < 1.0, delays


def test_a_rejected_config_leaves_the_old_one_serving(rig: Rig) -> None:
    table = RouteTable(routes=[rig.route("steady.test.localhost", https_redirect=False)])
    rig.load(table)
    with rig.admin() as admin:
        before = admin.config()
        broken = rig.render(table)
        broken["apps"]["http"]["servers"]["http"]["routes"][0]["handle"] = [
            {"handler": "no_such_handler"}
        ]
        failures: list[object] = []
        stop = threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                try:
                    status = rig.get("steady.test.localhost").status_code
                except httpx.HTTPError as err:
                    failures.append(err)
                else:
                    if status != 200:
                        failures.append(status)

        worker = threading.Thread(target=traffic)
        worker.start()
        try:
            with pytest.raises(InvalidInput, match=r"rejected the configuration.*no_such_handler"):
                admin.load(broken)
            time.sleep(1)
        finally:
            stop.set()
            worker.join()
        assert failures == []
        assert admin.config() == before
    assert rig.get("steady.test.localhost").status_code == 200


def test_an_admin_socket_that_does_not_answer_is_an_environment_problem(rig: Rig) -> None:
    with (
        RouterAdmin(rig.root / "admin" / "missing.sock", timeout=2) as admin,
        pytest.raises(EnvironmentProblem, match="does not answer"),
    ):
        admin.load({})


def test_a_restarted_router_gets_its_config_back_and_keeps_its_certificates(
    rig: Rig, pebble: int
) -> None:
    table = _acme_table(rig)
    rig.load(table, **_acme_settings())
    wait_until(
        lambda: any(ACME_HOST in c.names for c in read_certificates(rig.storage)),
        timeout=60,
        what="the ACME certificate",
    )
    rig.get("app.test.localhost", https=True, verify=rig.local_root())
    before = {
        host: served_certificate(host="127.0.0.1", port=rig.https_port, server_name=host).serial
        for host in ("app.test.localhost", ACME_HOST)
    }
    old_container = rig.running_container(rig.router)

    rig.client.services.get(rig.router).force_update()  # type: ignore[no-untyped-call]
    wait_until(
        lambda: rig.running_container(rig.router) not in (None, old_container),
        timeout=90,
        what="a new router task",
    )
    wait_until(_admin_answers(rig), timeout=60, what="the new router's admin socket")
    with rig.admin() as admin:
        assert admin.config() == {"admin": {"listen": f"unix/{ADMIN_DIR}/admin.sock"}}
        config = rig.render(table, **_acme_settings())
        admin.load(config)
        assert dump_caddy_config(admin.config()) == dump_caddy_config(config)

    after = {
        host: served_certificate(host="127.0.0.1", port=rig.https_port, server_name=host).serial
        for host in ("app.test.localhost", ACME_HOST)
    }
    assert after == before  # the same certificates: nothing was requested again
