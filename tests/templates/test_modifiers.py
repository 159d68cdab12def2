"""Modifiers: operations, paths, conditions, and order independence."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from cloudos.templates import (
    SAMPLE_CONTEXT,
    AttachedModifier,
    Modifier,
    TemplateError,
    builtin_modifiers,
    render,
)
from cloudos.templates.paths import PathError, parse_path
from tests.templates.conftest import make_modifier, make_template


def two_services() -> Any:
    return make_template(
        services={
            "web": {"image": "nginx:1.25", "environment": ["A=1"], "networks": ["front"]},
            "db": {"image": "registry.example.com/db:2", "deploy": {"mode": "global"}},
        },
        networks={"front": {}},
    )


def stack_with(*modifiers: Modifier | AttachedModifier, **kwargs: Any) -> dict[str, Any]:
    attached = [m if isinstance(m, AttachedModifier) else AttachedModifier(m) for m in modifiers]
    result = render(two_services(), context=SAMPLE_CONTEXT, modifiers=attached, **kwargs)
    stack: dict[str, Any] = result.stack
    return stack


def test_paths_parse() -> None:
    assert parse_path("services.*.deploy") == ("services", "*", "deploy")
    assert parse_path("services.web.ports[0]") == ("services", "web", "ports", 0)
    assert parse_path('labels["cloudos.app"]') == ("labels", "cloudos.app")
    assert parse_path("a[*].b") == ("a", "*", "b")
    for bad in ("", ".a", "a..b", "a[", 'a["x]'):
        with pytest.raises(PathError):
            parse_path(bad)


def test_set_creates_missing_mappings_and_respects_only_if_missing() -> None:
    stack = stack_with(
        make_modifier(
            [
                {"op": "set", "path": "services.*.deploy.resources.limits.memory", "value": "1G"},
                {
                    "op": "set",
                    "path": "services.*.deploy.mode",
                    "value": "replicated",
                    "only_if_missing": True,
                },
            ]
        )
    )
    web, db = stack["services"]["web"], stack["services"]["db"]
    assert web["deploy"] == {"resources": {"limits": {"memory": "1G"}}, "mode": "replicated"}
    assert db["deploy"]["mode"] == "global"


def test_merge_keeps_existing_keys_when_asked() -> None:
    mod = make_modifier(
        [{"op": "merge", "path": "services.*.deploy", "value": {"mode": "replicated", "x": {}}}]
    )
    keep = make_modifier(
        [
            {
                "op": "merge",
                "path": "services.*.deploy",
                "value": {"mode": "replicated"},
                "only_if_missing": True,
            }
        ],
        id="org.example.keep",
    )
    with pytest.raises(TemplateError, match="Compose schema"):
        stack_with(mod)  # "x" is not a deploy key: the schema check catches it
    assert stack_with(keep)["services"]["db"]["deploy"]["mode"] == "global"
    assert stack_with(keep)["services"]["web"]["deploy"]["mode"] == "replicated"


def test_add_to_lists_and_mappings() -> None:
    stack = stack_with(
        make_modifier(
            [
                {"op": "add", "path": "services.web.environment", "value": {"B": "2"}},
                {"op": "add", "path": "services.*.networks", "value": ["front", "space"]},
                {"op": "add", "path": "networks", "value": {"space": {"external": True}}},
                {
                    "op": "add",
                    "path": "services.*.deploy.placement.constraints",
                    "value": ["node.role == worker"],
                    "only_if_missing": True,
                },
            ]
        )
    )
    web = stack["services"]["web"]
    assert web["environment"] == {"A": "1", "B": "2"}
    assert web["networks"] == {"front": None, "space": None}
    assert stack["networks"]["space"] == {"external": True}
    assert web["deploy"]["placement"]["constraints"] == ["node.role == worker"]


def test_remove_nodes_items_and_keys() -> None:
    stack = stack_with(
        make_modifier(
            [
                {"op": "remove", "path": "services.db.deploy"},
                {"op": "remove", "path": "services.web.environment", "value": ["A"]},
            ]
        )
    )
    assert "deploy" not in stack["services"]["db"]
    assert stack["services"]["web"]["environment"] == {}


def test_conditions() -> None:
    mod = make_modifier(
        [
            {
                "op": "set",
                "path": "services.*.deploy.replicas",
                "value": "${n}",
                "when": {"param": "n"},
            },
            {
                "op": "set",
                "path": "services.*.image",
                "value": "mirror.local/library/${current}",
                "when": {"matches": "^[^/]+$"},
            },
            {
                "op": "set",
                "path": "services.*.deploy.endpoint_mode",
                "value": "dnsrr",
                "when": {"param": "mode", "equals": "dnsrr"},
            },
        ],
        parameters={
            "n": {"type": "int"},
            "mode": {"type": "enum", "choices": ["vip", "dnsrr"], "default": "vip"},
        },
    )
    stack = stack_with(mod)
    assert stack["services"]["web"]["image"] == "mirror.local/library/nginx:1.25"
    assert stack["services"]["db"]["image"] == "registry.example.com/db:2"
    assert "deploy" not in stack["services"]["web"]
    stack = stack_with(AttachedModifier(mod, {"n": "3", "mode": "dnsrr"}))
    assert stack["services"]["web"]["deploy"] == {"replicas": 3, "endpoint_mode": "dnsrr"}


def test_exists_and_missing_conditions_look_below_the_target() -> None:
    mod = make_modifier(
        [
            {
                "op": "merge",
                "path": "services.*.deploy",
                "value": {"replicas": 2},
                "when": {"missing": "mode"},
            },
            {
                "op": "merge",
                "path": "services.*.deploy",
                "value": {"labels": {"global": "yes"}},
                "when": {"exists": "mode"},
            },
        ]
    )
    stack = stack_with(mod)
    assert stack["services"]["web"]["deploy"] == {"replicas": 2}
    assert stack["services"]["db"]["deploy"]["labels"] == {"global": "yes"}


def test_the_result_does_not_depend_on_attach_order() -> None:
    library = builtin_modifiers()
    mixed: list[AttachedModifier | Modifier] = [
        AttachedModifier(library["org.cloudos.space-network"], {"network": "space-net"}),
        AttachedModifier(library["org.cloudos.ownership"]),
        AttachedModifier(library["org.cloudos.replicas"], {"replicas": "2"}),
        AttachedModifier(library["org.cloudos.registry-mirror"], {"mirror": "m.example.com"}),
        make_modifier(
            [{"op": "set", "path": "services.*.deploy.replicas", "value": 5}],
            id="org.example.same-priority",
            priority=60,
        ),
        make_modifier(
            [{"op": "remove", "path": "services.*.networks.front"}],
            id="org.example.last",
            priority=99,
        ),
    ]
    attached = [a if isinstance(a, AttachedModifier) else AttachedModifier(a) for a in mixed]
    outputs = set()
    for order in itertools.permutations(attached):
        result = render(two_services(), context=SAMPLE_CONTEXT, modifiers=list(order))
        outputs.add(result.yaml)
    assert len(outputs) == 1
    web = result.stack["services"]["web"]
    # Same priority (60): ties break by id, so org.example.same-priority runs last.
    assert web["deploy"]["replicas"] == 5
    assert web["networks"] == {"space-net": None}
    assert web["image"] == "m.example.com/library/nginx:1.25"


def test_explain_names_modifier_and_path() -> None:
    library = builtin_modifiers()
    result = render(
        two_services(),
        context=SAMPLE_CONTEXT,
        modifiers=[AttachedModifier(library["org.cloudos.endpoint-mode"], {"mode": "dnsrr"})],
        overrides={"services": {"web": {"environment": {"A": None, "C": "3"}}}},
    )
    assert result.explain() == [
        "services.web.deploy.endpoint_mode: set by modifier org.cloudos.endpoint-mode@1.0.0 #1",
        "services.db.deploy.endpoint_mode: set by modifier org.cloudos.endpoint-mode@1.0.0 #1",
        "services.web.environment.A: remove by override",
        "services.web.environment.C: set by override",
    ]


def test_an_operation_that_cannot_apply_says_where() -> None:
    mod = make_modifier([{"op": "merge", "path": "services.web.image", "value": {"a": 1}}])
    with pytest.raises(
        TemplateError, match=r"services.web.image: cannot merge a mapping into a str"
    ):
        stack_with(mod)


def test_default_modifiers_need_the_library_and_take_values() -> None:
    template = make_template(modifiers=[{"id": "org.cloudos.replicas", "values": {"replicas": 3}}])
    with pytest.raises(TemplateError, match=r"default modifier 'org\.cloudos\.replicas'"):
        render(template, context=SAMPLE_CONTEXT)
    result = render(template, context=SAMPLE_CONTEXT, library=builtin_modifiers())
    assert result.stack["services"]["web"]["deploy"]["replicas"] == 3


def test_modifier_parameters_are_checked() -> None:
    library = builtin_modifiers()
    bad = AttachedModifier(library["org.cloudos.replicas"], {"replicas": "many"})
    with pytest.raises(TemplateError, match=r"org\.cloudos\.replicas: parameter 'replicas'"):
        stack_with(bad)


def test_default_modifier_values_may_use_template_values() -> None:
    template = make_template(
        parameters={"copies": {"type": "int", "default": 4}},
        modifiers=[{"id": "org.cloudos.replicas", "values": {"replicas": "${copies}"}}],
    )
    result = render(template, context=SAMPLE_CONTEXT, library=builtin_modifiers())
    assert result.stack["services"]["web"]["deploy"]["replicas"] == 4
