"""Settings from the environment: the addon wait timeout, memory limit and HSTS."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudos.errors import InvalidInput
from cloudos.settings import load_settings
from cloudos.system._bootstrap import _passed_settings


def test_addon_timeout_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLOUDOS_CONFIG", raising=False)
    monkeypatch.delenv("CLOUDOS_ADDON_TIMEOUT", raising=False)
    assert load_settings(data_dir=tmp_path).addon_timeout == 180
    monkeypatch.setenv("CLOUDOS_ADDON_TIMEOUT", "15")
    assert load_settings(data_dir=tmp_path).addon_timeout == 15
    monkeypatch.setenv("CLOUDOS_ADDON_TIMEOUT", "0")
    with pytest.raises(InvalidInput, match="setting addon_timeout: Input should be greater"):
        load_settings(data_dir=tmp_path)


def test_the_control_plane_memory_limit_is_a_size(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLOUDOS_CONTROL_MEMORY", raising=False)
    assert load_settings(data_dir=tmp_path).control_memory == "1G"
    monkeypatch.setenv("CLOUDOS_CONTROL_MEMORY", "512M")
    assert load_settings(data_dir=tmp_path).control_memory == "512M"
    monkeypatch.setenv("CLOUDOS_CONTROL_MEMORY", "lots")
    with pytest.raises(InvalidInput, match="setting control_memory: String should match"):
        load_settings(data_dir=tmp_path)


def test_hsts_is_on_for_every_https_answer_unless_the_setting_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLOUDOS_CONFIG", raising=False)
    monkeypatch.delenv("CLOUDOS_HSTS", raising=False)
    assert load_settings(data_dir=tmp_path).hsts == "all"
    monkeypatch.setenv("CLOUDOS_HSTS", "public")
    assert load_settings(data_dir=tmp_path).hsts == "public"
    (tmp_path / "cloudos.toml").write_text('hsts = "off"\n')
    assert load_settings(data_dir=tmp_path).hsts == "public"  # the environment wins
    monkeypatch.delenv("CLOUDOS_HSTS")
    assert load_settings(data_dir=tmp_path).hsts == "off"
    monkeypatch.setenv("CLOUDOS_HSTS", "sometimes")
    with pytest.raises(InvalidInput) as refused:
        load_settings(data_dir=tmp_path)
    assert str(refused.value) == (
        "setting hsts: Input should be 'all', 'public' or 'off' (from CLOUDOS_HSTS)"
    )


def test_up_passes_the_hsts_setting_to_the_control_plane(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLOUDOS_CONFIG", raising=False)
    monkeypatch.setenv("CLOUDOS_HSTS", "public")
    passed = dict(_passed_settings(load_settings(data_dir=tmp_path)))
    assert passed["CLOUDOS_HSTS"] == "public"


def test_up_passes_the_platform_host_and_the_hosts_other_choices_to_the_control_plane(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLOUDOS_CONFIG", raising=False)
    monkeypatch.setenv("CLOUDOS_PLATFORM_HOST", "cloud.example.com")
    monkeypatch.setenv("CLOUDOS_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("CLOUDOS_ROUTER", "false")
    passed = dict(_passed_settings(load_settings(data_dir=tmp_path)))
    assert passed["CLOUDOS_PLATFORM_HOST"] == "cloud.example.com"
    assert passed["CLOUDOS_MAX_BODY_BYTES"] == "2048"
    assert passed["CLOUDOS_ROUTER"] == "false"
    assert "CLOUDOS_ACME_EMAIL" not in passed  # unset stays unset
    # Whatever is passed is read back the same by the control plane's own settings.
    for name, value in passed.items():
        monkeypatch.setenv(name, value)
    again = dict(_passed_settings(load_settings(data_dir=tmp_path)))
    assert again == passed
