"""CapRover one-click apps as templates (fixtures copied from the corpus)."""

from __future__ import annotations

from cloudos.templates.importers import import_caprover, import_caprover_file
from cloudos.templates.importers._dockerfile import convert_dockerfile
from cloudos.templates.importers.caprover import js_pattern
from tests.templates.importers.conftest import FIXTURES


def test_wordpress_services_volumes_routes_and_parameters() -> None:
    result = import_caprover_file(FIXTURES / "caprover" / "wordpress.yml")
    assert result.converted, result.errors
    doc = result.document
    assert doc is not None
    assert doc["id"] == "org.caprover.oneclick.wordpress"
    assert doc["version"] == "6.9.4"
    assert set(doc["services"]) == {"db", "wordpress"}
    assert doc["routes"] == [{"service": "wordpress", "port": 80}]
    wp = doc["services"]["wordpress"]
    assert wp["environment"]["WORDPRESS_DB_HOST"] == "db:3306"
    assert wp["environment"]["WORDPRESS_DB_PASSWORD"] == "${db_pass}"
    assert wp["depends_on"] == ["db"]
    assert wp["volumes"] == ["wp-data:/var/www/html"]
    assert doc["volumes"] == {"db-data": None, "wp-data": None}
    assert doc["parameters"]["db_pass"] == {
        "type": "password",
        "label": "Database password",
        "generate": {"length": 16, "alphabet": "0123456789abcdef"},
    }
    assert doc["parameters"]["db_type"]["pattern"] == "^(mysql|mariadb)$"


def test_http_port_and_host_paths() -> None:
    result = import_caprover_file(FIXTURES / "caprover" / "Home-Assistant.yml")
    assert result.converted, result.errors
    assert result.document["routes"] == [{"service": "app", "port": 8123}]  # type: ignore[index]
    assert any("'/etc/localtime'" in w for w in result.warnings)


def test_dockerfile_lines_that_build_fail_with_the_reason() -> None:
    result = import_caprover_file(FIXTURES / "caprover" / "linkace.yml")
    assert not result.converted
    assert result.errors == (
        "services.app.caproverExtra.dockerfileLines: builds a custom image "
        "(RUN chmod 666 /app/.env): a stack cannot build images",
    )


def test_runtime_only_dockerfile_becomes_compose_keys() -> None:
    built = convert_dockerfile(
        ["ARG V", "FROM redis:$V", "ENV A=1", 'CMD ["redis-server", "--save", ""]'],
        build_args={"V": "7"},
    )
    assert built.needs_build == []
    assert built.keys == {
        "image": "redis:7",
        "environment": {"A": "1"},
        "command": ["redis-server", "--save", ""],
    }
    reset = convert_dockerfile(["FROM x", "ENTRYPOINT []", "CMD run me"])
    assert reset.keys == {"image": "x", "entrypoint": ["/bin/sh", "-c", "run me"]}


def test_builtins_hostnames_and_generated_values() -> None:
    text = """
captainVersion: 4
services:
    $$cap_appname:
        image: example/app:2.0
        environment:
            URL: https://$$cap_appname.$$cap_root_domain
            API: https://$$cap_appname-api.$$cap_root_domain
            DB: srv-captain--$$cap_appname-db
            NAME: $$cap_appname
            KEY: base64:$$cap_gen_random_hex(32)=
            PRICE: cost $$5
        caproverExtra:
            containerHttpPort: '3000'
    $$cap_appname-api:
        image: example/api:2.0
    $$cap_appname-db:
        image: postgres:16
        caproverExtra:
            notExposeAsWebApp: 'true'
caproverOneClickApp:
    variables:
        - id: $$cap_key
          label: Key
          defaultValue: x-$$cap_gen_random_hex(10)
    displayName: Example
    description: An example
"""
    result = import_caprover(text, source="example.yml", slug="example")
    assert result.converted, result.errors
    doc = result.document
    assert doc is not None
    env = doc["services"]["app"]["environment"]
    assert env == {
        "URL": "https://${app.hostname}",
        "API": "https://api.${app.hostname}",
        "DB": "db",
        "NAME": "${app.name}",
        "KEY": "base64:${random_hex_1}=",
        "PRICE": "cost $$5",
    }
    assert doc["routes"] == [
        {"service": "app", "port": 3000},
        {"service": "api", "port": 80, "subdomain": "api"},
    ]
    assert doc["parameters"]["random_hex_1"]["generate"] == {
        "length": 32,
        "alphabet": "0123456789abcdef",
    }


def test_js_regex_literals() -> None:
    assert js_pattern("/^([a-z])+$/") == ("^([a-z])+$", None)
    assert js_pattern("/.{1,}/") == ("(?s:.*?)(?:.{1,})(?s:.*)", None)
    assert js_pattern("/^abc$/i") == ("(?i)^abc$", None)
    pattern, problem = js_pattern("/[/")
    assert pattern is None
    assert problem is not None


def test_not_a_caprover_app() -> None:
    result = import_caprover("services: {}\n", source="x.yml", slug="x")
    assert result.errors == (
        "captainVersion: only CapRover one-click apps of version 4",
        "services: expected a non-empty mapping of services",
    )
