"""Routes, redirects and domains: normalized on construction, bad input named clearly."""

from __future__ import annotations

import bcrypt
import pytest

from cloudos.errors import InvalidInput
from cloudos.router import (
    BasicAuthUser,
    Domain,
    ForwardAuth,
    Redirect,
    Route,
    TlsMode,
    UploadedCertificate,
    Upstream,
    default_tls_mode,
    normalize_domain,
    normalize_path,
    parse_size,
    redirect_www,
    sends_hsts,
)
from tests.router.conftest import FIXTURES, OPEN_SESAME


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Shop.Example.COM", "shop.example.com"),
        ("shop.example.com.", "shop.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("localhost", "localhost"),
        ("app.test.localhost", "app.test.localhost"),
    ],
)
def test_domains_become_lower_case_ascii(given: str, expected: str) -> None:
    assert normalize_domain(given) == expected


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ("", "required"),
        ("shop", "two labels"),
        ("127.0.0.1", "IP address"),
        ("*.example.com", "wildcard"),
        ("shop_1.example.com", "not a valid domain"),
        ("-shop.example.com", "not a valid domain"),
        ("a" * 64 + ".example.com", "not a valid domain"),
        ("shop..example.com", "not a valid domain"),
        ("shop example.com", "not a valid domain"),
    ],
)
def test_malformed_domains_are_refused_with_the_reason(given: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        normalize_domain(given)


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/", "/"), ("/api/", "/api"), ("/api/v1", "/api/v1"), ("/a-b_c.d", "/a-b_c.d")],
)
def test_paths_lose_their_trailing_slash(path: str, expected: str) -> None:
    assert normalize_path(path) == expected


@pytest.mark.parametrize("path", ["api", "/api/*", "/a?b", "/a//b", "/a/../b", "/a b", ""])
def test_malformed_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput, match="path"):
        normalize_path(path)


def test_private_names_get_the_internal_ca_and_hsts_public_ones_acme_and_hsts(
    web: Upstream,
) -> None:
    for name in ("app.localhost", "nas.home.arpa", "wiki.lan", "x.internal", "a.test"):
        assert default_tls_mode(name) == TlsMode.INTERNAL
        assert sends_hsts(Route(domain=name, space="s", upstream=web), "all")
        assert not sends_hsts(Route(domain=name, space="s", upstream=web), "public")
    assert default_tls_mode("shop.example.com") == TlsMode.ACME
    assert sends_hsts(Route(domain="shop.example.com", space="s", upstream=web), "all")
    assert sends_hsts(Route(domain="shop.example.com", space="s", upstream=web), "public")
    no = Route(domain="shop.example.com", space="s", upstream=web, hsts=False)
    assert not sends_hsts(no, "all")


def test_a_route_normalizes_aliases_headers_and_users(web: Upstream) -> None:
    route = Route(
        domain="Shop.Example.com",
        space="shop",
        upstream=web,
        aliases=("WWW.shop.example.com", "store.example.com", "store.example.com"),
        # A mapping is accepted and normalized to sorted pairs (what the field holds).
        response_headers={"X-Frame-Options": "DENY", "Cache-Control": "no-store"},  # type: ignore[arg-type]
        basic_auth=(BasicAuthUser("zoe", OPEN_SESAME), BasicAuthUser("ann", OPEN_SESAME)),
    )
    assert route.hosts == ("shop.example.com", "store.example.com", "www.shop.example.com")
    assert route.response_headers == (("Cache-Control", "no-store"), ("X-Frame-Options", "DENY"))
    assert [user.username for user in route.basic_auth] == ["ann", "zoe"]
    assert OPEN_SESAME not in repr(route.basic_auth[0])


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"aliases": ("shop.example.com",)}, "route's own domain"),
        ({"strip_prefix": True}, "strip_prefix needs a path"),
        ({"max_body_bytes": 0}, "at least 1 byte"),
        ({"max_body_bytes": "10XB"}, "max_body_bytes '10XB' is not a size"),
        ({"response_headers": {"Bad Header": "x"}}, "not a header name"),
        ({"response_headers": {"X-A": "a\r\nSet-Cookie: x"}}, "line break"),
        ({"response_headers": (("X-A", "1"), ("x-a", "2"))}, "given twice"),
        ({"basic_auth": (BasicAuthUser("a", OPEN_SESAME),) * 2}, "appears twice"),
        ({"space": ""}, "space"),
    ],
)
def test_a_bad_route_says_what_is_wrong(
    web: Upstream, options: dict[str, object], reason: str
) -> None:
    fields: dict[str, object] = {"domain": "shop.example.com", "space": "shop", "upstream": web}
    with pytest.raises(InvalidInput, match=reason):
        Route(**(fields | options))  # type: ignore[arg-type]


def test_basic_auth_takes_only_bcrypt_hashes() -> None:
    with pytest.raises(InvalidInput, match="bcrypt hash"):
        BasicAuthUser("bob", "open sesame")
    with pytest.raises(InvalidInput, match="no ':'"):
        BasicAuthUser("bo:b", OPEN_SESAME)


def test_a_plain_password_is_hashed_with_bcrypt_and_never_kept() -> None:
    user = BasicAuthUser.from_password("ann", "open sesame")
    assert user.password_hash.startswith("$2b$12$")
    assert bcrypt.checkpw(b"open sesame", user.password_hash.encode())
    assert "open sesame" not in repr(user)
    with pytest.raises(InvalidInput, match="a password is required"):
        BasicAuthUser.from_password("ann", "")
    with pytest.raises(InvalidInput, match="longer than 72 bytes") as refused:
        BasicAuthUser.from_password("ann", "x" * 73)
    assert "xxx" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (1048576, 1048576),
        ("512", 512),
        ("10MB", 10_000_000),
        ("10mb", 10_000_000),
        ("1 KiB", 1024),
        ("2MiB", 2 * 1024**2),
        ("1G", 1_000_000_000),
        ("3k", 3000),
    ],
)
def test_sizes_are_bytes_or_numbers_with_a_unit(text: int | str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["10XB", "MB", "-1", "1.5MB", "", True])
def test_a_bad_size_names_the_field_and_the_value(text: object) -> None:
    with pytest.raises(InvalidInput, match=r"--max-body .* is not a size") as refused:
        parse_size(text, field_name="--max-body")  # type: ignore[arg-type]
    assert repr(text) in str(refused.value)


def test_upstreams_and_forward_auth_are_checked() -> None:
    with pytest.raises(InvalidInput, match="between 1 and 65535"):
        Upstream(service="web", port=0, network="n")
    with pytest.raises(InvalidInput, match="not a service name"):
        Upstream(service="web/1", port=80, network="n")
    with pytest.raises(InvalidInput, match="host:port"):
        ForwardAuth(upstream="http://control")
    assert ForwardAuth("cloudos_control:8080", copy_headers=("X-B", "X-A")).copy_headers == (
        "X-A",
        "X-B",
    )


def test_redirects_normalize_their_target_and_refuse_nonsense() -> None:
    redirect = Redirect(domain="Old.Example.com", space="s", to="https://New.Example.com/")
    assert (redirect.domain, redirect.to, redirect.status) == (
        "old.example.com",
        "https://new.example.com",
        301,
    )
    with pytest.raises(InvalidInput, match="301, 302, 307 or 308"):
        Redirect(domain="a.example.com", space="s", to="https://b.example.com", status=303)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="http"):
        Redirect(domain="a.example.com", space="s", to="ftp://b.example.com")
    with pytest.raises(InvalidInput, match="braces"):
        Redirect(domain="a.example.com", space="s", to="https://b.example.com/{x}")


def test_www_redirects_go_both_ways() -> None:
    assert redirect_www("www.example.com", space="s").to == "https://example.com"
    assert redirect_www("example.com", space="s", status=302).to == "https://www.example.com"


def test_an_uploaded_certificate_must_match_its_key_and_its_domain(
    files_certificate: UploadedCertificate,
) -> None:
    assert files_certificate.covers("files.example.org")
    assert files_certificate.covers("eu.files.example.org")
    assert not files_certificate.covers("a.b.files.example.org")
    domain = Domain(
        "Files.Example.org", space="s", tls=TlsMode.UPLOADED, certificate=files_certificate
    )
    assert domain.tls_mode == TlsMode.UPLOADED
    assert "PRIVATE" not in repr(files_certificate)

    with pytest.raises(InvalidInput, match=r"for files.example.org, \*.files.example.org, not"):
        Domain("shop.example.org", space="s", tls=TlsMode.UPLOADED, certificate=files_certificate)
    with pytest.raises(InvalidInput, match="needs a certificate"):
        Domain("files.example.org", space="s", tls=TlsMode.UPLOADED)
    with pytest.raises(InvalidInput, match="only for tls 'uploaded'"):
        Domain("files.example.org", space="s", certificate=files_certificate)
    with pytest.raises(InvalidInput, match="tls must be one of acme, internal, uploaded"):
        Domain("files.example.org", space="s", tls="self-signed")  # type: ignore[arg-type]


def test_a_certificate_with_the_wrong_key_or_no_pem_is_refused() -> None:
    pem = (FIXTURES / "files.example.org.crt").read_text()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidInput, match="does not belong"):
        UploadedCertificate(pem, other.decode())
    with pytest.raises(InvalidInput, match="not a PEM certificate"):
        UploadedCertificate("hello", other.decode())
    with pytest.raises(InvalidInput, match="unencrypted PEM private key"):
        UploadedCertificate(pem, "hello")
