"""The route table's rules: one space per domain, one claim per domain and path."""

from __future__ import annotations

import pytest

from cloudos.errors import Conflict, InvalidInput, NotFound
from cloudos.router import (
    Domain,
    Platform,
    Redirect,
    Route,
    RouteTable,
    TlsMode,
    Upstream,
    redirect_www,
)


def route(domain: str, web: Upstream, *, space: str = "shop", **options: object) -> Route:
    return Route(domain=domain, space=space, upstream=web, **options)  # type: ignore[arg-type]


def test_a_domain_belongs_to_one_space(web: Upstream) -> None:
    table = RouteTable(routes=[route("shop.example.com", web)])
    with pytest.raises(Conflict, match=r"shop\.example\.com belongs to another space"):
        table.add_route(route("shop.example.com", web, space="blog", path="/blog"))
    with pytest.raises(Conflict, match="belongs to another space"):
        table.add_route(route("blog.example.com", web, space="blog", aliases=("shop.example.com",)))
    with pytest.raises(Conflict, match="belongs to another space"):
        table.set_domain(Domain("shop.example.com", space="blog"))
    with pytest.raises(Conflict, match="belongs to another space"):
        table.add_redirect(Redirect(domain="shop.example.com", space="blog", to="https://x.org"))
    assert table.hostnames() == ("shop.example.com",)  # nothing changed


def test_a_claimed_domain_keeps_other_spaces_out_before_any_route(web: Upstream) -> None:
    table = RouteTable(domains=[Domain("shop.example.com", space="shop")])
    with pytest.raises(Conflict, match="another space"):
        table.add_route(route("shop.example.com", web, space="blog"))
    table.add_route(route("shop.example.com", web))
    assert table.space_of("SHOP.example.com") == "shop"


def test_two_routes_never_claim_the_same_domain_and_path(web: Upstream) -> None:
    table = RouteTable(routes=[route("shop.example.com", web, app="shop")])
    table.add_route(route("shop.example.com", web, path="/api"))
    with pytest.raises(Conflict, match=r"shop.example.com is already taken by a route to app shop"):
        table.add_route(route("shop.example.com", web))
    with pytest.raises(Conflict, match=r"shop\.example\.com/api is already taken"):
        table.add_route(
            route("other.example.com", web, path="/api/", aliases=("shop.example.com",))
        )
    assert table.space_of("other.example.com") is None  # the failed add left no alias behind
    with pytest.raises(Conflict, match="already taken by a route to service shop_web"):
        table.add_redirect(
            Redirect(domain="shop.example.com", space="shop", to="https://x.org", path="/api")
        )


def test_routes_come_out_by_domain_then_path_and_claims_longest_path_first(web: Upstream) -> None:
    table = RouteTable(
        routes=[
            route("b.example.com", web),
            route("a.example.com", web, path="/x"),
            route("a.example.com", web, path="/x/y", aliases=("c.example.com",)),
            route("a.example.com", web),
        ]
    )
    assert [(r.domain, r.path) for r in table.routes] == [
        ("a.example.com", "/"),
        ("a.example.com", "/x"),
        ("a.example.com", "/x/y"),
        ("b.example.com", "/"),
    ]
    assert [path for path, _ in table.claims("a.example.com")] == ["/x/y", "/x", "/"]
    assert table.hostnames() == ("a.example.com", "b.example.com", "c.example.com")


def test_remove_and_replace(web: Upstream) -> None:
    table = RouteTable(routes=[route("shop.example.com", web, aliases=("www.shop.example.com",))])
    old = table.replace_route(route("shop.example.com", web, maintenance=True))
    assert not old.maintenance
    assert table.routes[0].maintenance
    assert table.hostnames() == ("shop.example.com",)  # the old alias went with the old route
    with pytest.raises(NotFound, match=r"no route for shop\.example\.com/api"):
        table.remove_route("shop.example.com", "/api")
    assert table.remove_route("Shop.Example.com").maintenance
    assert table.routes == ()
    with pytest.raises(NotFound):
        table.replace_route(route("shop.example.com", web))


def test_a_failed_replace_puts_the_old_route_back(web: Upstream) -> None:
    table = RouteTable(routes=[route("a.example.com", web), route("b.example.com", web, space="b")])
    with pytest.raises(Conflict):
        table.replace_route(route("a.example.com", web, aliases=("b.example.com",)))
    assert [r.domain for r in table.routes] == ["a.example.com", "b.example.com"]


def test_aliases_cannot_be_removed_as_routes(web: Upstream) -> None:
    table = RouteTable(routes=[route("a.example.com", web, aliases=("b.example.com",))])
    with pytest.raises(NotFound):
        table.remove_route("b.example.com")


def test_redirects_and_domains(web: Upstream) -> None:
    table = RouteTable(
        routes=[route("example.com", web)],
        redirects=[redirect_www("www.example.com", space="shop")],
        domains=[Domain("example.com", space="shop", tls=TlsMode.INTERNAL)],
    )
    assert table.tls_mode("example.com") == TlsMode.INTERNAL
    assert table.tls_mode("www.example.com") == TlsMode.ACME
    with pytest.raises(InvalidInput, match="loop"):
        table.add_redirect(
            Redirect(domain="a.example.com", space="shop", to="https://a.example.com")
        )
    with pytest.raises(Conflict, match="still has routes"):
        table.remove_domain("example.com")
    assert table.remove_redirect("www.example.com").to == "https://example.com"
    table.remove_route("example.com")
    assert table.remove_domain("example.com").tls == TlsMode.INTERNAL
    with pytest.raises(NotFound):
        table.remove_domain("example.com")
    assert table.space_of("example.com") is None


# How a tenant might spell another space's domain, or a name under it: every one of them
# is the same host once normalized.
SPELLINGS_OF_A = (
    "a.localhost",
    "A.LOCALHOST",
    "a.localhost.",
    "x.a.localhost",
    "deep.x.A.localhost.",
    "ａ.localhost",  # full-width letters, folded by UTS 46
    "xn--bcher-kva.a.localhost",
    "bücher.a.localhost",
)


@pytest.mark.parametrize("name", SPELLINGS_OF_A)
def test_a_spaces_domain_and_every_name_under_it_are_that_spaces_only(
    web: Upstream, name: str
) -> None:
    table = RouteTable(spaces={"a": "a.localhost", "b": "b.localhost"})
    with pytest.raises(Conflict, match=r"belongs to another space$") as refused:
        table.add_route(route(name, web, space="b"))
    assert "'a'" not in str(refused.value)  # the owner is never named
    with pytest.raises(Conflict, match="belongs to another space"):
        table.add_route(route("ok.b.localhost", web, space="b", aliases=(name,)))
    with pytest.raises(Conflict, match="belongs to another space"):
        table.add_redirect(Redirect(domain=name, space="b", to="https://b.localhost"))
    with pytest.raises(Conflict, match="belongs to another space"):
        table.set_domain(Domain(name, space="b"))
    assert table.hostnames() == ()  # nothing half-done
    table.add_route(route(name, web, space="a"))  # its own space may
    assert table.space_of(name) == "a"


@pytest.mark.parametrize("name", ["*.a.localhost", "a.localhost:443", "x.a.localhost:8443"])
def test_wildcards_and_ports_are_no_way_around_it(web: Upstream, name: str) -> None:
    with pytest.raises(InvalidInput, match="domain"):
        RouteTable(spaces={"a": "a.localhost"}).add_route(route(name, web, space="b"))


@pytest.mark.parametrize(
    "name",
    [
        "localhost",
        "LOCALHOST.",
        "cloud.localhost",
        "x.cloud.localhost",
        "auth.localhost",
        "registry.localhost",
        "v2.registry.localhost",
    ],
)
def test_the_platforms_names_belong_to_no_space(web: Upstream, name: str) -> None:
    table = RouteTable(spaces={"a": "a.localhost"})
    with pytest.raises(Conflict, match=r"is reserved for the platform$"):
        table.add_route(route(name, web, space="a"))
    with pytest.raises(Conflict, match="reserved for the platform"):
        table.add_redirect(Redirect(domain=name, space="a", to="https://a.localhost"))
    with pytest.raises(Conflict, match="reserved for the platform"):
        table.set_domain(Domain(name, space="a"))
    assert table.hostnames() == ()


def test_the_platform_host_is_a_setting_and_its_neighbours_are_kept_with_it(
    web: Upstream,
) -> None:
    platform = Platform(host="Cloud.Example.COM.", https_port=8443)
    assert platform.names == ("cloud.example.com", "auth.example.com", "registry.example.com")
    assert platform.url("/portal/a") == "https://cloud.example.com:8443/portal/a"
    table = RouteTable(platform=platform)
    for name in ("cloud.example.com", "auth.example.com", "localhost"):
        with pytest.raises(Conflict, match="reserved for the platform"):
            table.add_route(route(name, web))
    table.add_route(route("cloud.localhost", web))  # no longer the platform's
    table.add_route(route("shop.example.com", web))
    with pytest.raises(InvalidInput, match="platform_host 'localhost'"):
        Platform(host="localhost")


def test_a_space_domain_may_not_overlap_the_platform_another_space_or_its_names(
    web: Upstream,
) -> None:
    table = RouteTable(spaces={"a": "a.localhost"}, routes=[route("shop.example.com", web)])
    for domain in ("cloud.localhost", "x.auth.localhost", "localhost"):
        with pytest.raises(Conflict, match=rf"domain {domain} overlaps the platform's own names"):
            table.add_space("new", domain)
    with pytest.raises(Conflict, match="overlaps the platform"):
        RouteTable(platform=Platform(host="cloud.example.com")).add_space("new", "example.com")
    for domain in ("a.localhost", "x.a.localhost"):
        with pytest.raises(Conflict, match="overlaps the domain of another space"):
            table.add_space("new", domain)
    with pytest.raises(Conflict, match=r"holds shop\.example\.com, which belongs to another space"):
        table.add_space("new", "example.com")
    table.add_space("shop", "example.com")  # the space that routes it may
    assert table.space_of("www.example.com") == "shop"
