"""The data directory (database, keys, audit log, first admin's password) is private."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudos.errors import EnvironmentProblem
from cloudos.system import prepare_data_dir


def test_a_new_data_directory_is_made_0700(tmp_path: Path) -> None:
    made = prepare_data_dir(tmp_path / "new" / "data")
    assert oct(made.stat().st_mode & 0o777) == "0o700"


def test_an_existing_open_data_directory_is_made_private_keeping_its_files(
    tmp_path: Path,
) -> None:
    # Issue 16: data directories were 0755, so any user of the host could read them.
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "kept").write_text("x")
    prepare_data_dir(data)
    assert oct(data.stat().st_mode & 0o777) == "0o700"
    assert (data / "kept").read_text() == "x"


def test_a_data_directory_that_cannot_be_made_private_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o755)

    def refuse(self: Path, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(Path, "chmod", refuse)
    with pytest.raises(EnvironmentProblem, match=r"open to other users \(mode 0755\).*chmod 700"):
        prepare_data_dir(data)
