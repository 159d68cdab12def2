"""Reading certificates from Caddy's storage, and certificate errors from its log."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
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


# Caddy 2.6.2's own log (see the file's header): run 1 fails for both names, run 2
# gets shop.refused-by-pebble.com a certificate and fails again for the other.
RECORDED = (FIXTURES / "caddy-acme.log").read_text().splitlines()
RUN_1 = RECORDED[: RECORDED.index("# run 2: PEBBLE_VA_ALWAYS_VALID=1, fresh storage")]


def test_the_issuers_error_is_the_last_error_of_each_failing_name() -> None:
    errors = certificate_errors(RUN_1)
    assert sorted(errors) == ["down.unreachable-ca.com", "shop.refused-by-pebble.com"]
    refused = errors["shop.refused-by-pebble.com"]
    # Pebble's answer, not the retry or lock bookkeeping that follows it.
    assert refused.message.startswith("HTTP 400 urn:ietf:params:acme:error:malformed")
    assert "no such host" in refused.message
    assert refused.at == datetime.fromtimestamp(1795323716.0911424, tz=UTC)
    assert errors["down.unreachable-ca.com"].message.endswith(
        'Get "https://127.0.0.1:1/dir": dial tcp 127.0.0.1:1: connect: connection refused'
    )


def test_a_later_success_clears_the_error() -> None:
    errors = certificate_errors(RECORDED)
    assert list(errors) == ["down.unreachable-ca.com"]
    assert errors["down.unreachable-ca.com"].at == datetime.fromtimestamp(
        1795323763.4185202, tz=UTC
    )


def test_docker_service_logs_prefixes_and_foreign_lines_are_skipped() -> None:
    prefixed = [
        f"2026-11-22T10:00:00.000000000Z e2e-router_caddy.1.abc@node    | {line}" for line in RUN_1
    ]
    lines = ["not json at all", "{broken", '{"logger":"tls.obtain","msg":"x"}', *prefixed]
    assert certificate_errors(lines) == certificate_errors(RUN_1)
