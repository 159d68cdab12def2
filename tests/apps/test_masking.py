"""Secrets never show in the stack YAML users see, however YAML spells them.

The property: for arbitrary secret values (password parameters and addon passwords,
with quotes, backslashes, tabs, newlines, ``#``, ``:``, ``$``, unicode, one character
long...) used in many places of a template, the deployed stack holds every one of
them (so the check is not empty), and the shown YAML holds none: not in any scalar
it parses to (keys included, and with Compose's ``$$`` read back as ``$``), not as a
raw substring of its text, not percent-encoded as in a URL.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import quote

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloudos.addons import Credentials
from cloudos.apps import MASK, StackInputs, build_stack
from cloudos.apps._stack import AddonLink
from cloudos.templates import builtin_modifiers
from tests.apps.test_stack import inputs as stack_inputs

LIBRARY = builtin_modifiers()

TEMPLATE = """\
format: cloudos.template/v1
id: org.cloudos.test.masking
version: 1.0.0
name: Masking
parameters:
  password: {type: password, required: true}
  token: {type: secret, required: true}
addons:
  mysql: {}
  postgresql: {}
credentials: env  # the URLs, percent-encoded passwords in them, in the environment too
services:
  web:
    image: cloudos/static:0.1
    entrypoint: "start --db mysql://app:${addons.mysql.password}@db/app"
    command: ["sh", "-c", "echo ${password} && run --token=${token}"]
    environment:
      PASSWORD: ${password}
      DSN: "postgresql://app:${addons.postgresql.password}@pg:5432/app?token=${token}"
      "KEY_${token}": "in a key"
    labels:
      - "io.example.token=${token}"
    deploy:
      labels:
        io.example.password: "pre-${password}-post"
    healthcheck:
      test: ["CMD", "check", "--password=${password}", "${addons.postgresql.password}"]
  worker:
    image: cloudos/static:0.1
    command: ["sh", "-c", "echo $$HOME"]
    environment:
      - "SECRET=${password}"
      - "MYSQL=${addons.mysql.password}"
"""

# Surrogates (category Cs) are not text; spelled as the Literal Hypothesis expects.
SURROGATES: tuple[Literal["Cs"]] = ("Cs",)
# What password parameters accept: tab, newline and carriage return, but no other
# control characters. Characters YAML quotes or escapes are drawn often.
TRICKY = "'\"\\\t\n\r#:$%@&*!|>-{}[], ?=/é€ü\u00a0\u2028💥"
SECRET = st.one_of(
    st.text(alphabet=st.sampled_from(TRICKY + "ab0"), min_size=1, max_size=12),
    st.text(
        alphabet=st.characters(
            blacklist_categories=SURROGATES,
            blacklist_characters="\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c"
            "\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
            "\x7f\ufeff",
        ),
        min_size=1,
        max_size=16,
    ),
).filter(lambda s: s.strip("*") != "")  # '*', '**'...: the mask itself holds them


def addon(kind: str, password: str) -> AddonLink:
    host = f"t--default--{kind}_server"
    port = {"mysql": 3306, "postgresql": 5432}[kind]
    credentials = Credentials(kind=kind, host=host, port=port, database="app_db",  # type: ignore[arg-type]
                              user="app_user", password=password)  # fmt: skip
    return AddonLink(credentials=credentials, network=f"t--default--{kind}")


def inputs(password: str, token: str, mysql: str, postgresql: str) -> StackInputs:
    return replace(
        stack_inputs(),
        template_text=TEMPLATE,
        template_source="masking.yaml",
        values={"password": password, "token": token},
        modifiers=[],
        addons={"mysql": addon("mysql", mysql), "postgresql": addon("postgresql", postgresql)},
    )


def scalars(node: Any) -> Iterator[str]:
    """Every key and every string or number a YAML document holds, as text."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from scalars(key)
            yield from scalars(value)
    elif isinstance(node, list):
        for item in node:
            yield from scalars(item)
    elif isinstance(node, str | int | float) and not isinstance(node, bool):
        yield str(node)


def shown_texts(shown_yaml: str) -> list[str]:
    """The scalars of shown stack YAML, as written and as Compose reads them ($$ -> $)."""
    found = list(scalars(yaml.safe_load(shown_yaml)))
    return found + [text.replace("$$", "$") for text in found]


def assert_hidden(shown_yaml: str, secrets: dict[str, str], *, baseline: str) -> None:
    texts = shown_texts(shown_yaml)
    for where, secret in secrets.items():
        leaks = [text for text in texts if secret in text]
        assert not leaks, f"{where} secret {secret!r} shown in {leaks[0]!r}"
        # Raw text: long enough to mean something, and not a piece of the template's
        # own text (indentation, key names), which shows whatever the secrets are.
        if len(secret) >= 4 and secret not in baseline:
            assert secret not in shown_yaml, f"{where} secret {secret!r} in the YAML text"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(password=SECRET, token=SECRET, mysql=SECRET, postgresql=SECRET)
@example(password="tab\tpass", token="it's: a #secret", mysql="p@ss:w/rd", postgresql="$$")
@example(password="a", token="é", mysql="💥", postgresql="x$y")
@example(password="line\nbreak", token='"', mysql="\\", postgresql="%40")
@example(password="$$H", token="tk", mysql="my", postgresql="pg")  # '$HOME' is written '$$HOME'
@example(password="pw", token=":*", mysql="p", postgresql="pg")  # ':' + the mask of 'p'
def test_no_secret_shows_in_the_stack_users_see(
    password: str, token: str, mysql: str, postgresql: str
) -> None:
    built = build_stack(inputs(password, token, mysql, postgresql), library=LIBRARY)
    secrets = {"password": password, "token": token, "mysql": mysql, "postgresql": postgresql}
    deployed = shown_texts(built.yaml)
    for where, secret in secrets.items():  # the property is about something
        assert any(secret in text for text in deployed), f"{where} secret not in the stack"
    baseline = build_stack(inputs("pw-0", "tk-0", "my-0", "pg-0"), library=LIBRARY).masked_yaml
    encoded = {
        f"{kind} (in a URL)": quote(secrets[kind], safe="") for kind in ("mysql", "postgresql")
    }
    assert_hidden(built.masked_yaml, {**secrets, **encoded}, baseline=baseline)
    assert MASK in built.masked_yaml


def test_a_value_around_a_secret_keeps_its_shape() -> None:
    """Masking replaces the secret inside a longer string, not the whole string."""
    built = build_stack(inputs("pw-secret", "tk", "my-secret", "pg-secret"), library=LIBRARY)
    shown = yaml.safe_load(built.masked_yaml)
    web = shown["services"]["web"]
    assert web["entrypoint"] == f"start --db mysql://app:{MASK}@db/app"
    assert web["deploy"]["labels"]["io.example.password"] == f"pre-{MASK}-post"
    assert web["environment"]["PASSWORD"] == MASK
    assert web["environment"][f"KEY_{MASK}"] == "in a key"
    assert web["image"] == "cloudos/static:0.1"


def test_a_diff_of_two_revisions_shows_no_secret() -> None:
    """Revisions store the shown YAML; their diff (the revisions page) is made of it."""
    # Short ones too, none a piece of the template's own text (which the diff shows).
    old = build_stack(inputs("q7", "it's: a #x", "tab\tpass", "$"), library=LIBRARY)
    new = build_stack(inputs("Zx", "ü", "new\\pass", "x$$y"), library=LIBRARY)
    diff = "\n".join(difflib.unified_diff(old.masked_yaml.splitlines(),
                                          new.masked_yaml.splitlines(), lineterm=""))  # fmt: skip
    assert diff, "new secrets mean new Docker secret names: the diff is not empty"
    for secret in ("q7", "it's: a #x", "tab\tpass", "Zx", "ü", "new\\pass", "x$$y"):
        assert secret not in diff
        assert secret.replace("$", "$$") not in diff
    assert "tab\\tpass" not in diff  # YAML's escaped spelling
