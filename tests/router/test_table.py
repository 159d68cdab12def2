"""The route table's rules: one space per domain, one claim per domain and path."""

from __future__ import annotations

import pytest

from cloudos.errors import Conflict, InvalidInput, NotFound
from cloudos.router import Domain, Redirect, Route, RouteTable, TlsMode, Upstream, redirect_www


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
