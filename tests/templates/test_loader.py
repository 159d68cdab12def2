"""Loading: every bad document is one TemplateError naming file, line, column, path."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudos.errors import InvalidInput
from cloudos.templates import (
    TemplateError,
    load_document,
    load_template,
    template_from_dict,
    template_from_text,
)
from tests.templates.conftest import template_doc

GOOD = """\
format: cloudos.template/v1
id: org.example.app
version: 1.0.0
name: App
parameters:
  port:
    type: port
    default: 8080
services:
  web:
    image: example/web:1
    ports:
      - target: ${port}
        published: 80
"""


def error_of(text: str, source: str = "t.yaml") -> str:
    with pytest.raises(TemplateError) as caught:
        template_from_text(text, source=source)
    assert isinstance(caught.value, InvalidInput)
    return str(caught.value)


def test_a_good_template_loads_with_its_parameters() -> None:
    template = template_from_text(GOOD)
    assert template.id == "org.example.app"
    assert template.parameters["port"].type == "port"


def test_an_unknown_key_points_at_the_key() -> None:
    text = GOOD.replace("name: App\n", "name: App\nnmae: typo\n")
    assert error_of(text).startswith("t.yaml:5:1: nmae: unknown key")


def test_a_bad_parameter_type_names_the_path() -> None:
    text = GOOD.replace("type: port", "type: number")
    message = error_of(text)
    assert message.startswith("t.yaml:7:5: parameters.port.type: Input should be")


def test_a_bad_default_is_reported_at_the_default() -> None:
    text = GOOD.replace("default: 8080", "default: 99999")
    assert error_of(text).startswith("t.yaml:8:5: parameters.port.default: bad default:")


def test_a_missing_required_key_names_it() -> None:
    text = GOOD.replace("name: App\n", "")
    assert error_of(text) == "t.yaml:1:1: missing required key 'name'"


def test_an_unknown_placeholder_points_into_services() -> None:
    text = GOOD.replace("target: ${port}", "target: ${prot}")
    message = error_of(text)
    assert message.startswith("t.yaml:13:9: services.web.ports[0].target: ${prot}")


def test_a_malformed_placeholder_is_an_error() -> None:
    text = GOOD.replace("image: example/web:1", "image: example/${web")
    assert "services.web.image: malformed placeholder" in error_of(text)


def test_addon_values_need_the_addon_declared() -> None:
    text = GOOD.replace("image: example/web:1", "image: ${addons.mysql.host}")
    assert "declare the addon" in error_of(text)
    declared = text.replace("services:", "addons:\n  mysql: {}\nservices:")
    assert template_from_text(declared).addons["mysql"].options == {}


def test_yaml_syntax_errors_have_a_position() -> None:
    message = error_of("format: [unclosed\nid: x\n")
    assert message.startswith("t.yaml:")
    assert "not valid YAML" in message


def test_duplicate_keys_are_refused() -> None:
    assert "not valid YAML" in error_of(GOOD + "name: Again\n")


def test_a_wrong_format_version_says_which_formats_exist() -> None:
    assert "cloudos.template/v1" in error_of(GOOD.replace("template/v1", "template/v9"))


def test_non_mapping_documents_are_refused() -> None:
    assert "Input should be a valid dictionary" in error_of("- a\n- b\n")


def test_a_route_must_name_a_service() -> None:
    doc = template_doc(routes=[{"service": "nope", "port": 80}])
    with pytest.raises(TemplateError, match="route names service 'nope'"):
        template_from_dict(doc)


def test_dict_errors_name_the_path_without_a_line() -> None:
    doc = template_doc(id="Not DNS")
    with pytest.raises(TemplateError) as caught:
        template_from_dict(doc, source="import:app")
    assert str(caught.value).startswith("import:app: id: String should match pattern")


def test_a_missing_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read the file"):
        load_template(tmp_path / "nope.yaml")


def test_load_document_tells_modifiers_from_templates(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "format: cloudos.modifier/v1\nid: org.example.m\nversion: 1.0.0\n"
        "operations:\n  - {op: set, path: services.*.init, value: true}\n"
    )
    assert load_document(path).id == "org.example.m"


def test_modifier_errors_point_into_operations(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "format: cloudos.modifier/v1\nid: org.example.m\nversion: 1.0.0\n"
        "operations:\n  - {op: set, path: services.*.init, value: '${nope}'}\n"
    )
    with pytest.raises(TemplateError) as caught:
        load_document(path)
    assert str(caught.value).startswith(f"{path}:5:")
    assert "operations[0].value: ${nope}" in str(caught.value)


def test_non_string_keys_in_dicts_are_refused() -> None:
    doc = template_doc(services={"web": {"image": "x:1", "environment": {1: "one"}}})
    with pytest.raises(TemplateError, match=r"services\.web\.environment: key 1 is not a string"):
        template_from_dict(doc)
