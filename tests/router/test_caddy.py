"""Rendering: snapshots of whole configs, determinism, and what each option turns into."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path
from typing import Any, TypedDict

import pytest

from cloudos.errors import InvalidInput
from cloudos.router import (
    PLATFORM_SPACE,
    BasicAuthUser,
    Domain,
    ForwardAuth,
    HstsPolicy,
    Redirect,
    Route,
    RouteTable,
    SocketUpstream,
    TlsMode,
    UploadedCertificate,
    Upstream,
    dump_caddy_config,
    redirect_www,
    render_caddy_config,
)
from cloudos.router._caddy import greater_than_pattern
from tests.router.conftest import OPEN_SESAME

SNAPSHOTS = Path(__file__).parent / "snapshots"


class _Acme(TypedDict):
    acme_directory: str
    acme_email: str
    acme_ca_root: str


ACME: _Acme = {
    "acme_directory": "https://pebble:14000/dir",
    "acme_email": "ops@example.com",
    "acme_ca_root": "/etc/cloudos-router/pebble.pem",
}


def apps_table(web: Upstream) -> RouteTable:
    """A typical cloud: a public shop with www redirect, a private wiki, an API on a path."""
    api = Upstream(service="shop_api", port=8000, network="cloudos-space-shop")
    wiki = Upstream(service="wiki_app", port=3000, network="cloudos-space-team")
    return RouteTable(
        routes=[
            Route(domain="shop.example.com", space="shop", upstream=web, app="shop"),
            Route(
                domain="shop.example.com",
                space="shop",
                upstream=api,
                path="/api",
                strip_prefix=True,
                app="shop",
            ),
            Route(
                domain="wiki.team.localhost",
                space="team",
                upstream=wiki,
                aliases=("docs.team.localhost",),
                app="wiki",
            ),
        ],
        redirects=[redirect_www("www.shop.example.com", space="shop")],
    )


def features_table(web: Upstream, certificate: UploadedCertificate) -> RouteTable:
    """Every option a route has, once."""
    return RouteTable(
        routes=[
            Route(
                domain="files.example.org",
                space="ops",
                upstream=web,
                max_body_bytes=10_000_000,
                basic_auth=(BasicAuthUser("ann", OPEN_SESAME),),
                response_headers=(("X-Frame-Options", "DENY"),),
                hsts=False,
            ),
            Route(
                domain="admin.example.org",
                space="ops",
                upstream=web,
                forward_auth=ForwardAuth("cloudos_control:8080"),
            ),
            Route(
                domain="status.example.org",
                space="ops",
                upstream=web,
                path="/old",
                maintenance=True,
                app="status <beta>",
            ),
            Route(domain="plain.example.org", space="ops", upstream=web, https_redirect=False),
        ],
        redirects=[
            Redirect(
                domain="legacy.example.org",
                space="ops",
                to="https://files.example.org/archive",
                status=302,
                keep_path=False,
            )
        ],
        domains=[
            Domain("files.example.org", space="ops", tls=TlsMode.UPLOADED, certificate=certificate),
            Domain("admin.example.org", space="ops", tls=TlsMode.INTERNAL),
        ],
    )


def check_snapshot(name: str, config: dict[str, Any]) -> None:
    """Compare with tests/router/snapshots/<name>.json; UPDATE_GOLDEN=1 rewrites it."""
    path = SNAPSHOTS / f"{name}.json"
    text = json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"no snapshot {path.name}: run with UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{path.name} differs: review, then UPDATE_GOLDEN=1"


def test_snapshot_empty_table() -> None:
    check_snapshot("empty", render_caddy_config(RouteTable(), endpoint_mode="dnsrr"))


def test_snapshot_apps_dnsrr(web: Upstream) -> None:
    config = render_caddy_config(apps_table(web), endpoint_mode="dnsrr", **ACME)
    check_snapshot("apps-dnsrr", config)


def test_snapshot_apps_vip_on_other_ports(web: Upstream) -> None:
    config = render_caddy_config(
        apps_table(web),
        endpoint_mode="vip",
        http_port=8080,
        https_port=8443,
        admin_socket="/run/router/admin.sock",
    )
    check_snapshot("apps-vip-ports", config)


def test_snapshot_every_feature(web: Upstream, files_certificate: UploadedCertificate) -> None:
    config = render_caddy_config(features_table(web, files_certificate), endpoint_mode="dnsrr")
    check_snapshot("features", config)


def test_the_same_table_in_any_order_gives_byte_identical_json(web: Upstream) -> None:
    table = apps_table(web)
    items = [*table.routes]
    random.Random(7).shuffle(items)
    shuffled = RouteTable(routes=items, redirects=table.redirects)
    first = dump_caddy_config(render_caddy_config(table, endpoint_mode="dnsrr", **ACME))
    second = dump_caddy_config(render_caddy_config(shuffled, endpoint_mode="dnsrr", **ACME))
    assert first == second


def handlers(config: dict[str, Any], server: str, host: str) -> list[list[dict[str, Any]]]:
    """The handler chains, in order, that ``server`` runs for ``host``."""
    for entry in config["apps"]["http"]["servers"][server]["routes"]:
        if host in entry.get("match", [{}])[0].get("host", []):
            return [route["handle"] for route in entry["handle"][0]["routes"]]
    raise AssertionError(f"{host} not served by {server}")


def test_the_admin_socket_and_storage_are_always_kept(web: Upstream) -> None:
    config = render_caddy_config(apps_table(web), endpoint_mode="vip", admin_socket="/x/a.sock")
    assert config["admin"] == {"listen": "unix//x/a.sock"}
    assert config["storage"] == {"module": "file_system", "root": "/data/caddy"}


def test_upstreams_are_resolved_per_endpoint_mode(web: Upstream) -> None:
    table = RouteTable(routes=[Route(domain="a.example.com", space="s", upstream=web)])
    dnsrr = handlers(render_caddy_config(table, endpoint_mode="dnsrr"), "https", "a.example.com")
    vip = handlers(render_caddy_config(table, endpoint_mode="vip"), "https", "a.example.com")
    assert dnsrr[0][-1]["dynamic_upstreams"] == {
        "source": "a",
        "name": "shop_web",
        "port": "8080",
        "refresh": "1s",
    }
    assert vip[0][-1]["upstreams"] == [{"dial": "shop_web:8080"}]


def test_the_control_plane_is_dialed_on_its_socket_in_either_mode(web: Upstream) -> None:
    portal = Route(domain="team.example.com", space="team", upstream=SocketUpstream())
    guarded = Route(
        domain="wiki.team.example.com",
        space="team",
        upstream=web,
        forward_auth=ForwardAuth(SocketUpstream().dial, uri="/api/v1/auth/verify?space=team"),
    )
    table = RouteTable(routes=[portal, guarded])
    for mode in ("dnsrr", "vip"):
        config = render_caddy_config(table, endpoint_mode=mode)
        [[*_, proxy]] = handlers(config, "https", "team.example.com")
        assert proxy["upstreams"] == [{"dial": "unix//run/cloudos-router/control.sock"}]
        assert "dynamic_upstreams" not in proxy
        [[*_, auth, _]] = handlers(config, "https", "wiki.team.example.com")
        assert auth["upstreams"] == [{"dial": "unix//run/cloudos-router/control.sock"}]
        assert auth["rewrite"] == {"method": "GET", "uri": "/api/v1/auth/verify?space=team"}


def test_http_redirects_to_https_with_the_port_unless_the_route_says_not(web: Upstream) -> None:
    table = RouteTable(
        routes=[
            Route(domain="a.example.com", space="s", upstream=web),
            Route(domain="b.example.com", space="s", upstream=web, https_redirect=False),
        ]
    )
    config = render_caddy_config(table, endpoint_mode="vip", https_port=8443)
    redirect = handlers(config, "http", "a.example.com")[0][0]
    assert redirect["status_code"] == 308
    assert redirect["headers"]["Location"] == ["https://{http.request.host}:8443{http.request.uri}"]
    served = handlers(config, "http", "b.example.com")[0]
    assert served[-1]["handler"] == "reverse_proxy"
    assert all(h.get("handler") != "headers" for h in served)  # no HSTS over plain HTTP
    assert config["apps"]["http"]["servers"]["https"]["automatic_https"] == {
        "disable_redirects": True
    }


def test_unknown_hosts_and_unrouted_paths_get_404(web: Upstream) -> None:
    table = RouteTable(routes=[Route(domain="a.example.com", space="s", upstream=web, path="/x")])
    config = render_caddy_config(table, endpoint_mode="vip")
    for server in ("http", "https"):
        last = config["apps"]["http"]["servers"][server]["routes"][-1]
        assert "match" not in last
        assert last["handle"][0]["status_code"] == 404
    assert handlers(config, "https", "a.example.com")[-1][0]["status_code"] == 404


def test_maintenance_answers_503_with_an_escaped_page(web: Upstream) -> None:
    table = RouteTable(
        routes=[Route(domain="a.test", space="s", upstream=web, maintenance=True, app="<b>")]
    )
    page = handlers(render_caddy_config(table, endpoint_mode="vip"), "https", "a.test")[0][-1]
    assert page["status_code"] == 503
    assert "&lt;b&gt; is stopped" in page["body"]
    assert page["headers"]["Retry-After"] == ["30"]


def test_a_user_hsts_header_wins_over_the_default(web: Upstream) -> None:
    table = RouteTable(
        routes=[
            Route(
                domain="a.example.com",
                space="s",
                upstream=web,
                response_headers=(("Strict-Transport-Security", "max-age=60"),),
            )
        ]
    )
    chain = handlers(render_caddy_config(table, endpoint_mode="vip"), "https", "a.example.com")[0]
    assert chain[0]["response"]["set"] == {"Strict-Transport-Security": ["max-age=60"]}


def hsts_table(web: Upstream) -> RouteTable:
    """A private name, a public one, routes that say yes or no, and the platform host."""
    table = RouteTable(
        routes=[
            Route(domain="wiki.team.localhost", space="team", upstream=web),
            Route(domain="shop.example.com", space="shop", upstream=web),
            Route(domain="no.example.com", space="shop", upstream=web, hsts=False),
            Route(domain="yes.team.localhost", space="team", upstream=web, hsts=True),
        ]
    )
    table.serve_platform(
        Route(domain="cloud.localhost", space=PLATFORM_SPACE, upstream=SocketUpstream())
    )
    return table


def hsts_of(config: dict[str, Any], server: str, host: str) -> str | None:
    """The Strict-Transport-Security value ``server`` sets for ``host``, if any."""
    [chain] = handlers(config, server, host)
    sets = [h["response"]["set"] for h in chain if h["handler"] == "headers" and "response" in h]
    values = [value for found in sets for value in found.get("Strict-Transport-Security", [])]
    return values[0] if values else None


@pytest.mark.parametrize(
    ("policy", "carry"),
    [
        (
            "all",
            {"wiki.team.localhost", "shop.example.com", "yes.team.localhost", "cloud.localhost"},
        ),
        ("public", {"shop.example.com", "yes.team.localhost", "cloud.localhost"}),
        ("off", {"yes.team.localhost"}),
    ],
)
def test_https_answers_carry_hsts_as_the_setting_says_unless_the_route_does(
    web: Upstream, policy: HstsPolicy, carry: set[str]
) -> None:
    config = render_caddy_config(hsts_table(web), endpoint_mode="vip", hsts=policy)
    hosts = ("wiki.team.localhost", "shop.example.com", "no.example.com", "yes.team.localhost",
             "cloud.localhost")  # fmt: skip
    sent = {host for host in hosts if hsts_of(config, "https", host) is not None}
    assert sent == carry
    assert {hsts_of(config, "https", host) for host in sent} == {"max-age=31536000"}


def test_hsts_is_on_by_default_and_never_over_plain_http(web: Upstream) -> None:
    table = hsts_table(web)
    table.add_route(Route(domain="plain.localhost", space="p", upstream=web, https_redirect=False))
    config = render_caddy_config(table, endpoint_mode="vip")
    assert hsts_of(config, "https", "wiki.team.localhost") == "max-age=31536000"
    assert hsts_of(config, "https", "cloud.localhost") == "max-age=31536000"
    assert hsts_of(config, "https", "plain.localhost") == "max-age=31536000"
    for host in ("wiki.team.localhost", "cloud.localhost", "yes.team.localhost", "plain.localhost"):
        assert hsts_of(config, "http", host) is None
    [[redirect]] = handlers(config, "http", "cloud.localhost")
    assert redirect["status_code"] == 308
    assert set(redirect["headers"]) == {"Location"}  # the redirect to HTTPS: no HSTS


def test_an_unknown_hsts_policy_is_refused(web: Upstream) -> None:
    with pytest.raises(InvalidInput, match="hsts 'some' must be one of all, public, off"):
        render_caddy_config(hsts_table(web), endpoint_mode="vip", hsts="some")  # type: ignore[arg-type]


def test_tls_policies_per_mode(web: Upstream, files_certificate: UploadedCertificate) -> None:
    config = render_caddy_config(
        features_table(web, files_certificate), endpoint_mode="vip", **ACME
    )
    policies = config["apps"]["tls"]["automation"]["policies"]
    assert policies[0]["issuers"] == [
        {
            "module": "acme",
            "ca": "https://pebble:14000/dir",
            "email": "ops@example.com",
            "trusted_roots_pem_files": ["/etc/cloudos-router/pebble.pem"],
        }
    ]
    assert "files.example.org" not in policies[0]["subjects"]
    assert policies[1] == {"subjects": ["admin.example.org"], "issuers": [{"module": "internal"}]}
    assert config["apps"]["tls"]["certificates"]["load_pem"][0]["tags"] == [
        "cloudos:files.example.org"
    ]
    https = config["apps"]["http"]["servers"]["https"]
    assert https["automatic_https"]["skip_certificates"] == ["files.example.org"]


def test_lets_encrypt_is_the_default_acme_directory(web: Upstream) -> None:
    table = RouteTable(routes=[Route(domain="a.example.com", space="s", upstream=web)])
    issuer = render_caddy_config(table, endpoint_mode="vip")["apps"]["tls"]["automation"][
        "policies"
    ][0]["issuers"][0]
    assert issuer == {"module": "acme", "ca": "https://acme-v02.api.letsencrypt.org/directory"}


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"endpoint_mode": "auto"}, "endpoint mode"),
        ({"http_port": 0}, "between 1 and 65535"),
        ({"http_port": 443}, "must differ"),
        ({"admin_socket": "admin.sock"}, "absolute"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        render_caddy_config(RouteTable(), **({"endpoint_mode": "vip"} | settings))


@pytest.mark.parametrize("limit", [1, 9, 10, 99, 1000, 1024, 1999, 10_000_000])
def test_the_content_length_pattern_matches_exactly_the_numbers_above_the_limit(
    limit: int,
) -> None:
    pattern = re.compile(greater_than_pattern(limit))
    candidates = [*range(0, 2100), limit - 1, limit, limit + 1, limit * 10, 10**9]
    for number in candidates:
        assert bool(pattern.match(str(number))) == (number > limit), number
    assert pattern.match(f"00{limit + 1}")
    assert not pattern.match(f"00{limit}")
    assert not pattern.match("")


def test_a_body_limit_answers_413_for_announced_and_streamed_bodies(web: Upstream) -> None:
    # A size with a unit is accepted and parsed to bytes (the field holds the parsed int).
    route = Route(domain="up.example.com", space="s", upstream=web, max_body_bytes="1KiB")  # type: ignore[arg-type]
    config = render_caddy_config(RouteTable(routes=[route]), endpoint_mode="dnsrr")
    handlers = config["apps"]["http"]["servers"]["https"]["routes"][0]["handle"][0]["routes"][0][
        "handle"
    ]
    guard, body, *_ = (h for h in handlers if h["handler"] in ("subroute", "request_body"))
    [too_large] = guard["routes"]
    assert too_large["match"] == [
        {"header_regexp": {"Content-Length": {"pattern": greater_than_pattern(1024)}}}
    ]
    assert too_large["handle"][0]["status_code"] == 413
    assert body == {"handler": "request_body", "max_size": 1024}
