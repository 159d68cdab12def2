"""Portainer app templates (versions 2 and 3) as templates."""

from __future__ import annotations

from cloudos.templates.importers import import_portainer, import_portainer_file
from tests.templates.importers.conftest import FIXTURES


def test_container_template() -> None:
    nginx, stack = import_portainer_file(FIXTURES / "portainer" / "v2.json")
    assert nginx.converted, nginx.errors
    doc = nginx.document
    assert doc is not None
    assert doc["id"] == "local.portainer.nginx"
    assert doc["version"] == "1.25.3"
    assert doc["icon"] == "https://example.com/nginx.png"
    assert any(w.startswith("logo: kept as 'icon' but never loaded") for w in nginx.warnings)
    assert doc["parameters"] == {
        "mode": {"type": "enum", "label": "Mode", "choices": ["prod", "dev"], "default": "prod"},
        "admin_password": {
            "type": "password",
            "label": "Admin password",
            "generate": {"length": 24},
        },
    }
    service = doc["services"]["nginx"]
    assert service["environment"] == {
        "FIXED": "1",
        "MODE": "${mode}",
        "ADMIN_PASSWORD": "${admin_password}",
    }
    assert service["ports"] == ["8080:80/tcp", "443/tcp"]
    assert service["volumes"] == [
        "usr-share-nginx-html:/usr/share/nginx/html",
        "/srv/nginx:/etc/nginx/conf.d:ro",
    ]
    assert service["deploy"] == {"restart_policy": {"condition": "any"}}
    assert "services.nginx.privileged: dropped: Swarm services cannot run privileged" in (
        nginx.warnings
    )
    assert not stack.converted
    assert "is not fetched" in stack.errors[0]


def test_v3_inline_stack_and_a_broken_entry() -> None:
    inline, broken = import_portainer_file(FIXTURES / "portainer" / "v3.json")
    assert inline.converted, inline.errors
    doc = inline.document
    assert doc is not None
    assert doc["services"]["web"]["image"] == "example/web:${tag}"
    assert doc["parameters"]["tag"] == {"type": "string", "label": "Image tag", "default": "1.2.3"}
    assert doc["version"] == "1.2.3"
    assert broken.errors == ("image: a container template needs an image",)


def test_bad_files() -> None:
    (result,) = import_portainer("{", source="t.json")
    assert result.errors[0].startswith("not valid JSON")
    (result,) = import_portainer('{"version": "1", "templates": []}', source="t.json")
    assert result.errors == ("version: format version '1': only versions 2 and 3",)
