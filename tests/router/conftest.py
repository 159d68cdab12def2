"""Fixtures for the router's unit tests: plain data, no Docker, no Caddy."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudos.router import UploadedCertificate, Upstream

FIXTURES = Path(__file__).parent / "fixtures"
# From `caddy hash-password --plaintext 'open sesame'` (Caddy 2.6).
OPEN_SESAME = "$2a$14$HUx9g7beoFGDOTEyWFtt.OyQFKXmLxI03zvrSXuZ7wVjy4O.0gY7a"


@pytest.fixture
def web() -> Upstream:
    """The web service of a shop app, on its space's network."""
    return Upstream(service="shop_web", port=8080, network="cloudos-space-shop")


@pytest.fixture
def files_certificate() -> UploadedCertificate:
    """A self-signed certificate for files.example.org and *.files.example.org, with its key."""
    return UploadedCertificate(
        certificate_pem=(FIXTURES / "files.example.org.crt").read_text(),
        key_pem=(FIXTURES / "files.example.org.key").read_text(),
    )
