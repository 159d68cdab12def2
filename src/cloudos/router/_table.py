"""The route table: every route, redirect and domain the router serves, kept consistent.

Three rules hold after every change, and a change that would break one raises before
anything is touched:

- the platform's names (:class:`Platform`: ``localhost``, the platform host, the
  reserved names, and every name under the last two) belong to no space;
- a host name belongs to one space: a space's own domain and every name under it are
  that space's, any other name is whoever routes it, redirects it or claims it as a
  domain first;
- a host name and path prefix are claimed by one route or redirect only.

Names are compared normalized (``Route``, ``Redirect`` and ``Domain`` normalize them
when built: case, trailing dot, IDNA forms), so however a request spells a name, it
meets the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cloudos.errors import Conflict, InvalidInput, NotFound
from cloudos.router._model import (
    Domain,
    Redirect,
    Route,
    TlsMode,
    Upstream,
    default_tls_mode,
    normalize_domain,
    normalize_path,
)
from cloudos.router._platform import PLATFORM_SPACE, Platform, is_within

Claim = Route | Redirect


class RouteTable:
    """The routes, redirects and domains of the whole cloud, with the rules that keep them apart."""

    def __init__(
        self,
        *,
        routes: Iterable[Route] = (),
        redirects: Iterable[Redirect] = (),
        domains: Iterable[Domain] = (),
        spaces: Mapping[str, str] | None = None,
        platform: Platform | None = None,
    ) -> None:
        self.platform = platform or Platform()
        self._claims: dict[tuple[str, str], Claim] = {}
        self._domains: dict[str, Domain] = {}
        self._bases: dict[str, str] = {}  # space -> its own domain
        for space, base in (spaces or {}).items():
            self.add_space(space, base)
        for domain in domains:
            self.set_domain(domain)
        for route in routes:
            self.add_route(route)
        for redirect in redirects:
            self.add_redirect(redirect)

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every route, by domain then path."""
        found = {id(c): c for c in self._claims.values() if isinstance(c, Route)}
        return tuple(sorted(found.values(), key=lambda r: (r.domain, r.path)))

    @property
    def redirects(self) -> tuple[Redirect, ...]:
        """Every redirect, by domain then path."""
        found = [c for c in self._claims.values() if isinstance(c, Redirect)]
        return tuple(sorted(found, key=lambda r: (r.domain, r.path)))

    @property
    def domains(self) -> tuple[Domain, ...]:
        """Every explicitly claimed domain, by name."""
        return tuple(self._domains[name] for name in sorted(self._domains))

    def hostnames(self) -> tuple[str, ...]:
        """Every host name the router answers for (routes, aliases, redirects), sorted."""
        return tuple(sorted({host for host, _ in self._claims}))

    def claims(self, host: str) -> tuple[tuple[str, Claim], ...]:
        """What answers for ``host``: (path, route or redirect), longest path first."""
        found = [(path, claim) for (name, path), claim in self._claims.items() if name == host]
        return tuple(sorted(found, key=lambda item: (-len(item[0]), item[0])))

    def space_of(self, host: str) -> str | None:
        """The space ``host`` belongs to (``PLATFORM_SPACE`` for the platform's names),
        or None if it is free."""
        name = normalize_domain(host)
        if self.platform.reserves(name):
            return PLATFORM_SPACE
        under = [(len(base), space) for space, base in self._bases.items() if is_within(name, base)]
        if under:
            return max(under)[1]  # the closest space domain (nested ones are refused)
        if name in self._domains:
            return self._domains[name].space
        for (claimed, _), claim in self._claims.items():
            if claimed == name:
                return claim.space
        return None

    def tls_mode(self, host: str) -> TlsMode:
        """Where ``host``'s certificate comes from (its Domain's mode, else by its name)."""
        domain = self._domains.get(host)
        return domain.tls_mode if domain else default_tls_mode(host)

    def domain(self, host: str) -> Domain | None:
        """The explicit Domain record of ``host``, if any."""
        return self._domains.get(normalize_domain(host))

    def add_space(self, space: str, domain: str) -> None:
        """Give ``space`` its own domain and every name under it; Conflict if that
        overlaps the platform's names or what another space holds."""
        base = normalize_domain(domain)
        if self.platform.overlaps(base):
            raise Conflict(f"domain {base} overlaps the platform's own names")
        for other, held in self._bases.items():
            if other != space and (is_within(base, held) or is_within(held, base)):
                raise Conflict(f"domain {base} overlaps the domain of another space")
        taken = {host for host, _ in self._claims} | set(self._domains)
        for host in sorted(taken):
            owner = self.space_of(host)
            if is_within(host, base) and owner not in (None, space):
                raise Conflict(f"domain {base} holds {host}, which belongs to another space")
        self._bases[space] = base

    def serve_platform(self, route: Route) -> None:
        """Serve the platform host (all paths) with ``route``: the control plane."""
        if route.domain != self.platform.host or route.aliases or route.path != "/":
            raise InvalidInput(f"the platform is served at {self.platform.host}/ only")
        self._claims[(route.domain, "/")] = route

    def add_route(self, route: Route) -> None:
        """Add ``route``; Conflict if one of its hosts or host+path is taken."""
        self._check_free(route, route.hosts, route.path)
        for host in route.hosts:
            self._claims[(host, route.path)] = route

    def replace_route(self, route: Route) -> Route:
        """Put ``route`` in place of the one at its domain and path; returns the old one."""
        old = self._claims.get((route.domain, route.path))
        if not isinstance(old, Route):
            raise NotFound(f"no route for {route.domain}{_shown(route.path)}")
        self._drop(old)
        try:
            self.add_route(route)
        except Conflict:
            self.add_route(old)
            raise
        return old

    def remove_route(self, domain: str, path: str = "/") -> Route:
        """Remove the route at ``domain`` and ``path`` (by its main domain); returns it."""
        key = (normalize_domain(domain), normalize_path(path))
        route = self._claims.get(key)
        if not isinstance(route, Route) or route.domain != key[0]:
            raise NotFound(f"no route for {key[0]}{_shown(key[1])}")
        self._drop(route)
        return route

    def add_redirect(self, redirect: Redirect) -> None:
        """Add ``redirect``; Conflict if its host or host+path is taken."""
        target = redirect.to.partition("://")[2].partition("/")[0].partition(":")[0]
        if target == redirect.domain and redirect.to.startswith("https://"):
            raise InvalidInput(f"redirect {redirect.domain} to itself would loop")
        self._check_free(redirect, (redirect.domain,), redirect.path)
        self._claims[(redirect.domain, redirect.path)] = redirect

    def remove_redirect(self, domain: str, path: str = "/") -> Redirect:
        """Remove the redirect at ``domain`` and ``path``; returns it."""
        key = (normalize_domain(domain), normalize_path(path))
        redirect = self._claims.get(key)
        if not isinstance(redirect, Redirect):
            raise NotFound(f"no redirect for {key[0]}{_shown(key[1])}")
        del self._claims[key]
        return redirect

    def set_domain(self, domain: Domain) -> None:
        """Claim ``domain`` for its space (or change its TLS); Conflict if another space has it."""
        _check_owner(domain.name, self.space_of(domain.name), domain.space)
        self._domains[domain.name] = domain

    def remove_domain(self, name: str) -> Domain:
        """Give up a domain; Conflict while routes or redirects still use it."""
        host = normalize_domain(name)
        if host not in self._domains:
            raise NotFound(f"no domain {host}")
        if any(claimed == host for claimed, _ in self._claims):
            raise Conflict(f"domain {host} still has routes or redirects; remove them first")
        return self._domains.pop(host)

    def _check_free(self, claim: Claim, hosts: Iterable[str], path: str) -> None:
        for host in hosts:
            _check_owner(host, self.space_of(host), claim.space)
            taken = self._claims.get((host, path))
            if taken is not None:
                raise Conflict(f"{host}{_shown(path)} is already taken by {_describe(taken)}")

    def _drop(self, route: Route) -> None:
        for host in route.hosts:
            if self._claims.get((host, route.path)) is route:
                del self._claims[(host, route.path)]


def _check_owner(host: str, owner: str | None, space: str) -> None:
    """Conflict unless ``host`` is free or ``space``'s (the owner is never named)."""
    if owner == PLATFORM_SPACE:
        raise Conflict(f"domain {host} is reserved for the platform")
    if owner is not None and owner != space:
        raise Conflict(f"domain {host} belongs to another space")


def _shown(path: str) -> str:
    return "" if path == "/" else path


def _describe(claim: Claim) -> str:
    if isinstance(claim, Redirect):
        return f"a redirect to {claim.to}"
    if claim.app:
        owner = f"app {claim.app}"
    elif isinstance(claim.upstream, Upstream):
        owner = f"service {claim.upstream.service}"
    else:
        owner = "the platform"
    return f"a route to {owner}"


__all__ = ["Claim", "RouteTable"]
