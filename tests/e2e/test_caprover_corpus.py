"""The CapRover corpus: import -> render --sample -> ``docker stack config`` for every app.

At least 95% must pass, and the apps that fail must be exactly those documented in
docs/importers.md (so a regression, or a newly passing app, shows up here).
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cloudos.cli.template import docker_stack_config
from cloudos.templates import SAMPLE_CONTEXT, TemplateError, check_with_docker, render
from cloudos.templates.importers import import_caprover_file

CORPUS = Path(
    os.environ.get(
        "CLOUDOS_CAPROVER_CORPUS",
        Path(__file__).parents[1] / "corpus" / "caprover-one-click-apps",
    )
)
DOCS = Path(__file__).parents[2] / "docs" / "importers.md"


def _check(path: Path) -> tuple[str, str | None]:
    result = import_caprover_file(path)
    if result.template is None:
        return path.stem, result.errors[0]
    try:
        stack = render(result.template, context=SAMPLE_CONTEXT, sample=True)
        check_with_docker(stack.yaml, run=docker_stack_config)
    except TemplateError as err:
        return path.stem, str(err)
    return path.stem, None


def _documented_failures() -> set[str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## CapRover apps that do not convert", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE))


@pytest.mark.docker
@pytest.mark.slow
def test_caprover_corpus(docker_client: object) -> None:
    files = sorted(CORPUS.glob("*.yml"))
    assert len(files) >= 350, f"the CapRover corpus is not at {CORPUS}"
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = dict(pool.map(_check, files))
    failures = {name: reason for name, reason in outcomes.items() if reason is not None}
    passed = len(files) - len(failures)
    assert passed / len(files) >= 0.95, failures
    assert set(failures) == _documented_failures(), failures
