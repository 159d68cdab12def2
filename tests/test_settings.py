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
