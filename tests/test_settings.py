"""Settings from the environment: the addon wait timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudos.errors import InvalidInput
from cloudos.settings import load_settings


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
