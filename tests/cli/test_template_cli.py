"""``cloudos template``: stack on stdout, one-line errors with file:line:col, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cloudos.cli.template import app
from cloudos.errors import InvalidInput
from tests.helpers import Runner, assert_one_line_error

ROOT = Path(__file__).resolve().parents[2]
MARIADB = ROOT / "catalog" / "templates" / "mariadb" / "template.yaml"

BROKEN = """\
format: cloudos.template/v1
id: org.example.app
version: 1.0.0
name: App
services:
  web:
    image: example/web:1
    ports:
      - "${port}"
"""


def run(*args: str) -> tuple[int, str, str]:
    """Run ``cloudos template ARGS`` in this process (fast); errors propagate."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_render_prints_only_the_stack() -> None:
    code, stdout, stderr = run(
        "render", str(MARIADB), "--sample", "--set", "database=shop",
        "--modifier", "org.cloudos.replicas", "--set", "org.cloudos.replicas:replicas=1",
        "--explain",
    )  # fmt: skip
    assert code == 0, stderr
    stack = yaml.safe_load(stdout)
    db = stack["services"]["db"]
    assert db["environment"]["MARIADB_DATABASE"] == "shop"
    assert db["deploy"]["replicas"] == 1
    assert "services.db.deploy: merge by modifier org.cloudos.replicas@1.0.0 #1" in stderr


def test_render_errors_are_one_line_with_a_position(cloudos: Runner, tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_text(BROKEN)
    result = cloudos("template", "render", str(path))
    assert_one_line_error(result, 1, f"{path}:9:9: services.web.ports[0]: ${{port}}")
    assert result.stdout == ""


def test_bad_values_name_the_parameter(cloudos: Runner) -> None:
    result = cloudos("template", "render", str(MARIADB), "--set", "database=drop table")
    assert_one_line_error(result, 1, "parameters.database:", "does not match the pattern")
    assert result.stdout == ""


def test_validate_accepts_templates_and_modifiers() -> None:
    for path in (MARIADB, ROOT / "catalog" / "modifiers" / "logging.yaml"):
        code, _, stderr = run("validate", str(path))
        assert code == 0, stderr
        assert stderr.startswith("valid ")


def test_validate_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"nope\.yaml: cannot read the file"):
        run("validate", str(tmp_path / "nope.yaml"))


def test_set_needs_key_and_value() -> None:
    with pytest.raises(InvalidInput, match="expected KEY=VALUE"):
        run("render", str(MARIADB), "--set", "database")


def test_unknown_modifiers_are_named() -> None:
    with pytest.raises(InvalidInput, match="no such file or built-in modifier"):
        run("render", str(MARIADB), "--modifier", "org.example.nope")


def test_schema_is_json_schema_of_the_format() -> None:
    code, stdout, stderr = run("schema")
    assert code == 0, stderr
    schema = json.loads(stdout)
    assert schema["title"] == "Template"
    assert "parameters" in schema["properties"]
    modifier = json.loads(run("schema", "--modifier")[1])
    assert "operations" in modifier["properties"]
