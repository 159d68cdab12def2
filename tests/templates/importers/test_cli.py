"""``cloudos template import`` as a user runs it."""

from __future__ import annotations

from pathlib import Path

from cloudos.templates import load_template
from tests.helpers import Runner
from tests.templates.importers.conftest import FIXTURES


def test_import_a_folder_writes_templates_and_a_summary(cloudos: Runner, tmp_path: Path) -> None:
    result = cloudos(
        "template", "import", "--from", "caprover", str(FIXTURES / "caprover"), "-o", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "adminer.yaml",
        "home-assistant.yaml",
        "wordpress.yaml",
    ]
    assert load_template(tmp_path / "wordpress.yaml").id == "org.caprover.oneclick.wordpress"
    assert "3 converted (1 with warnings), 1 failed" in result.stdout
    assert "builds a custom image (RUN chmod 666 /app/.env)" in result.stdout


def test_nothing_converted_fails(cloudos: Runner, tmp_path: Path) -> None:
    result = cloudos(
        "template",
        "import",
        "--from",
        "caprover",
        str(FIXTURES / "caprover" / "linkace.yml"),
        "-o",
        str(tmp_path),
    )
    assert result.returncode == 1
    assert "nothing could be converted" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_missing_path_is_one_clear_line(cloudos: Runner, tmp_path: Path) -> None:
    result = cloudos("template", "import", "--from", "compose", str(tmp_path / "nope.yml"))
    assert result.returncode == 1
    assert "nope.yml: no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr
