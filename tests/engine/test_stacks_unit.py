"""Ownership labels and IPVS detection, without an engine."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import yaml

from cloudos.engine import INSTANCE_LABEL, detect_ipvs, label_stack
from cloudos.errors import InvalidInput

STACK = """
version: "3.8"
services:
  web:
    image: cloudos/static:0.1
    labels: ["keep=me"]
    deploy:
      labels: {tier: front}
  worker:
    image: cloudos/static:0.1
networks:
  back: {}
  shared: {external: true}
volumes:
  data: {}
secrets:
  key: {file: ./key}
"""


def test_every_object_is_labelled_as_ours() -> None:
    document = yaml.safe_load(label_stack(STACK, instance="acme"))
    web = document["services"]["web"]
    assert web["labels"] == {"keep": "me", INSTANCE_LABEL: "acme"}
    assert web["deploy"]["labels"] == {"tier": "front", INSTANCE_LABEL: "acme"}
    assert document["services"]["worker"]["deploy"]["labels"] == {INSTANCE_LABEL: "acme"}
    assert document["networks"]["back"]["labels"] == {INSTANCE_LABEL: "acme"}
    assert document["volumes"]["data"]["labels"] == {INSTANCE_LABEL: "acme"}
    assert document["secrets"]["key"]["labels"] == {INSTANCE_LABEL: "acme"}
    # External objects are someone else's: never labelled as ours.
    assert "labels" not in document["networks"]["shared"]


def test_a_label_in_the_yaml_cannot_claim_another_owner() -> None:
    forged = STACK.replace("{tier: front}", "{io.cloudos.instance: other}")
    document = yaml.safe_load(label_stack(forged, instance="acme"))
    assert document["services"]["web"]["deploy"]["labels"][INSTANCE_LABEL] == "acme"


@pytest.mark.parametrize("text", ["", "- a list", "services: [1]", "services: {web: 3}", "a: [b"])
def test_malformed_stacks_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        label_stack(text, instance="acme")


def test_ipvs_loaded(tmp_path: Path) -> None:
    (tmp_path / "sys" / "module" / "ip_vs").mkdir(parents=True)
    support = detect_ipvs(sys_root=tmp_path / "sys", modules_root=tmp_path / "lib")
    assert support.available
    assert "loaded" in support.reason


def test_ipvs_loadable_module(tmp_path: Path) -> None:
    release = tmp_path / "lib" / platform.release()
    release.mkdir(parents=True)
    (release / "modules.dep").write_text("kernel/net/netfilter/ipvs/ip_vs.ko: kernel/x.ko\n")
    support = detect_ipvs(sys_root=tmp_path / "sys", modules_root=tmp_path / "lib")
    assert support.available
    assert "loadable" in support.reason


def test_ipvs_missing_means_dnsrr(tmp_path: Path) -> None:
    support = detect_ipvs(sys_root=tmp_path / "sys", modules_root=tmp_path / "lib")
    assert not support.available
    assert "dnsrr" in support.reason
