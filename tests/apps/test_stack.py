"""build_stack(): a revision -> the YAML that is deployed, deterministic and masked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from cloudos.addons import Credentials
from cloudos.apps import APP_LABEL, MASK, SPEC_LABEL, STATE_LABEL, StackInputs, build_stack
from cloudos.apps._stack import AddonLink
from cloudos.templates import TemplateError, builtin_modifiers
from tests.apps.conftest import HELLO

LIBRARY = builtin_modifiers()
STATIC = (
    Path(__file__).parents[2] / "catalog" / "templates" / "static-website" / "template.yaml"
).read_text()
PASSWORD = "s3cr3t-Pa$$word"


def inputs(**values: object) -> StackInputs:
    return StackInputs(
        app_id=42,
        app_name="hello",
        space_name="default",
        space_domain="default.localhost",
        stack="t-default-hello",
        space_network="t-default",
        template_text=HELLO,
        template_source="hello.yaml",
        values={"http_port": 8080, "password": PASSWORD, **values},
        modifiers=[
            {"id": "org.cloudos.ownership", "values": {}},
            {"id": "org.cloudos.endpoint-mode", "values": {"mode": "dnsrr"}},
        ],
    )


def test_same_inputs_give_the_same_yaml_and_spec_hash() -> None:
    first = build_stack(inputs(), library=LIBRARY)
    second = build_stack(replace(inputs(), values=dict(reversed(list(inputs().values.items())))),
                         library=LIBRARY)  # fmt: skip
    assert first.yaml == second.yaml
    assert first.spec_hash == second.spec_hash


def test_a_changed_value_changes_the_spec_hash() -> None:
    assert (
        build_stack(inputs(message="a"), library=LIBRARY).spec_hash
        != build_stack(inputs(message="b"), library=LIBRARY).spec_hash
    )


def test_secrets_become_docker_secrets_named_by_content_hash() -> None:
    built = build_stack(inputs(), library=LIBRARY)
    stack = yaml.safe_load(built.yaml)
    [(name, value)] = built.secrets.items()
    assert value == PASSWORD
    assert name.startswith("t-default-hello_password_")
    assert stack["secrets"] == {"param-password": {"external": True, "name": name}}
    assert {"source": "param-password", "target": "password"} in stack["services"]["web"]["secrets"]
    other = build_stack(inputs(password="another-password"), library=LIBRARY)
    assert set(other.secrets) != set(built.secrets), "a new value needs a new (immutable) secret"
    assert other.spec_hash != built.spec_hash


def test_secret_values_are_masked_in_what_users_see() -> None:
    # The password is also used in the environment, where Compose doubles its '$'.
    built = build_stack(inputs(message=PASSWORD), library=LIBRARY)
    assert PASSWORD.replace("$", "$$") in built.yaml
    assert PASSWORD not in built.masked_yaml
    assert PASSWORD.replace("$", "$$") not in built.masked_yaml
    assert yaml.safe_load(built.masked_yaml)["services"]["web"]["environment"]["MESSAGE"] == MASK


def test_generated_secrets_are_generated_once_and_kept_in_values() -> None:
    built = build_stack(replace(inputs(), values={"http_port": 8080}), library=LIBRARY)
    generated = built.values["password"]
    assert isinstance(generated, str)
    assert len(generated) >= 16
    assert list(built.secrets.values()) == [generated]


def test_routed_services_join_the_space_network() -> None:
    stack = yaml.safe_load(build_stack(inputs(), library=LIBRARY).yaml)
    assert "t-default" in stack["services"]["web"]["networks"]
    assert stack["networks"]["t-default"] == {"external": True, "name": "t-default"}


def test_labels_carry_app_id_spec_and_state() -> None:
    built = build_stack(inputs(), library=LIBRARY)
    labels = yaml.safe_load(built.yaml)["services"]["web"]["deploy"]["labels"]
    assert labels[APP_LABEL] == "42"
    assert labels[SPEC_LABEL] == built.spec_hash
    assert labels[STATE_LABEL] == "running"


def test_stopped_sets_replicas_to_zero_with_the_same_spec_hash() -> None:
    running = build_stack(inputs(), library=LIBRARY)
    stopped = build_stack(inputs(), library=LIBRARY, stopped=True)
    deploy = yaml.safe_load(stopped.yaml)["services"]["web"]["deploy"]
    assert deploy["replicas"] == 0
    assert deploy["labels"][STATE_LABEL] == "stopped"
    assert stopped.spec_hash == running.spec_hash, "stop/start must not look like a new revision"
    assert "replicas" not in yaml.safe_load(running.yaml)["services"]["web"]["deploy"]


@pytest.mark.parametrize("stopped", [False, True])
def test_global_services_keep_their_mode_when_stopped(stopped: bool) -> None:
    text = HELLO.replace('    user: "0"\n', '    user: "0"\n    deploy: {mode: global}\n')
    assert "mode: global" in text
    built = build_stack(replace(inputs(), template_text=text), library=LIBRARY, stopped=stopped)
    deploy = yaml.safe_load(built.yaml)["services"]["web"]["deploy"]
    assert deploy["mode"] == "global"
    assert "replicas" not in deploy


def test_a_template_without_secrets_has_no_docker_secrets() -> None:
    built = build_stack(
        replace(inputs(), template_text=STATIC, template_source="static.yaml", values={}),
        library=LIBRARY,
    )
    assert built.secrets == {}
    assert "secrets" not in yaml.safe_load(built.yaml)
    assert built.masked_yaml == built.yaml


PHP_MYSQL = (Path(__file__).parents[1] / "e2e" / "apps" / "php-mysql.yaml").read_text()
ADDON_PASSWORD = "addon-Pa55word"


def with_mysql(template_text: str) -> StackInputs:
    credentials = Credentials(
        kind="mysql",
        host="t--default--mysql_server",
        port=3306,
        database="app_db",
        user="app_user",
        password=ADDON_PASSWORD,
    )
    return replace(
        inputs(),
        template_text=template_text,
        template_source="php-mysql.yaml",
        values={},
        addons={"mysql": AddonLink(credentials=credentials, network="t--default--mysql")},
    )


def test_addon_passwords_are_only_files_unless_the_template_says_env() -> None:
    assert "credentials:" not in PHP_MYSQL, "the default is what is tested here"
    built = build_stack(with_mysql(PHP_MYSQL), library=LIBRARY)
    web = yaml.safe_load(built.yaml)["services"]["web"]
    env = web["environment"]
    assert env["MYSQL_HOST"] == "t--default--mysql_server"
    assert env["MYSQL_USER"] == "app_user"
    assert env["MYSQL_PASSWORD_FILE"] == "/run/secrets/MYSQL_PASSWORD"
    assert env["MYSQL_URL_FILE"] == "/run/secrets/MYSQL_URL"
    assert "MYSQL_PASSWORD" not in env
    assert "MYSQL_URL" not in env
    assert ADDON_PASSWORD not in built.yaml, "what docker inspect shows holds no password"
    assert ADDON_PASSWORD in built.secrets.values()
    assert {"source": "addon-mysql_password", "target": "MYSQL_PASSWORD"} in web["secrets"]


def test_a_template_that_says_env_also_gets_plain_variables() -> None:
    text = PHP_MYSQL.replace("addons:\n", "credentials: env\naddons:\n")
    built = build_stack(with_mysql(text), library=LIBRARY)
    env = yaml.safe_load(built.yaml)["services"]["web"]["environment"]
    assert env["MYSQL_PASSWORD"] == ADDON_PASSWORD
    assert (
        env["MYSQL_URL"]
        == f"mysql://app_user:{ADDON_PASSWORD}@t--default--mysql_server:3306/app_db"
    )
    assert env["MYSQL_PASSWORD_FILE"] == "/run/secrets/MYSQL_PASSWORD"
    shown = yaml.safe_load(built.masked_yaml)["services"]["web"]["environment"]
    assert shown["MYSQL_PASSWORD"] == MASK


def test_an_unknown_credentials_mode_is_refused_where_it_is_written() -> None:
    text = PHP_MYSQL.replace("addons:\n", "credentials: plain\naddons:\n")
    with pytest.raises(TemplateError) as caught:
        build_stack(replace(with_mysql(text), template_source="mine.yaml"), library=LIBRARY)
    message = str(caught.value)
    assert message.startswith("mine.yaml:7:")
    assert "credentials" in message
    assert "'files' or 'env'" in message
