"""Reading certificates from Caddy's storage, and certificate errors from its log."""

from __future__ import annotations

import shutil
from pathlib import Path

from cloudos.router import certificate_errors, read_certificates
from tests.router.conftest import FIXTURES


def test_certificates_are_read_from_caddys_storage_layout(tmp_path: Path) -> None:
    folder = tmp_path / "certificates" / "local" / "files.example.org"
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "files.example.org.crt", folder / "files.example.org.crt")
    shutil.copy(FIXTURES / "files.example.org.key", folder / "files.example.org.key")
    broken = tmp_path / "certificates" / "local" / "half.example.org"
    broken.mkdir()
    (broken / "half.example.org.crt").write_text("-----BEGIN CERTIFICATE-----\n")

    [info] = read_certificates(tmp_path)
    assert info.names == ("files.example.org", "*.files.example.org")
    assert info.issuer == "files.example.org"
    assert info.serial == 4242
    assert info.source == "local"
    assert info.not_after.year == 2035
    assert len(info.fingerprint_sha256) == 64


def test_no_storage_yet_means_no_certificates(tmp_path: Path) -> None:
    assert read_certificates(tmp_path / "missing") == []


# Lines as Caddy 2.6 logs them (docker service logs prefixes each with the task name).
LOG = [
    'router.1.x@node | {"level":"info","ts":1.0,"logger":"tls.obtain","msg":"acquiring lock",'
    '"identifier":"shop.example.com"}',
    '{"level":"error","ts":2.0,"logger":"tls.obtain","msg":"could not get certificate from '
    'issuer","identifier":"shop.example.com","issuer":"acme-v02.api.letsencrypt.org-directory",'
    '"error":"HTTP 429 urn:ietf:params:acme:error:rateLimited - too many certificates"}',
    '{"level":"error","ts":3.0,"logger":"tls.obtain","msg":"will retry",'
    '"error":"[blog.example.com] Obtain: no solvers available","identifier":"blog.example.com"}',
    '{"level":"info","ts":4.0,"logger":"tls.obtain","msg":"certificate obtained successfully",'
    '"identifier":"blog.example.com"}',
    '{"level":"error","ts":5.0,"logger":"http.log.error","msg":"dial tcp: lookup web",'
    '"identifier":"x"}',
    "not json at all",
]


def test_the_last_certificate_error_per_name_and_a_success_clears_it() -> None:
    errors = certificate_errors(LOG)
    assert list(errors) == ["shop.example.com"]
    assert errors["shop.example.com"].startswith("HTTP 429 urn:ietf:params:acme:error:rateLimited")
