"""Every package the project declares is one it uses.

A dependency nothing imports or runs is weight at best and, when its name looks like
a real package's, a supply-chain risk: each one here is imported, run as a command, a
type stub, or loaded on the project's behalf by a package it uses, with what needs it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Dev tools run as commands (Makefile, .ci/run), not imported; stubs read by mypy.
COMMANDS = {"ruff": "ruff", "mypy": "mypy", "import-linter": "lint-imports", "pytest": "pytest"}
# Loaded by another package on the project's behalf: what in src/ or tests/ needs it.
LOADED = {
    "psycopg": r"postgresql\+psycopg",  # SQLAlchemy's PostgreSQL driver
    "python-multipart": r"request\.form\(\)",  # Starlette parses the sign-in form with it
    "httpx2": r"from fastapi\.testclient import TestClient",  # Starlette's test client's HTTP
}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = project["project"]["dependencies"]
    dev = project["dependency-groups"]["dev"]
    return {_name(requirement) for requirement in [*runtime, *dev]}


def _imported_distributions() -> set[str]:
    modules: set[str] = set()
    for folder in ("src", "tests", "bench", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules.add(node.module.split(".")[0])
    providers = packages_distributions()
    return {
        distribution.lower().replace("_", "-")
        for module in modules
        for distribution in providers.get(module, [])
    }


def test_every_declared_dependency_is_imported_run_or_a_stub_of_one() -> None:
    declared = _declared()
    used = _imported_distributions()
    makefile = (ROOT / "Makefile").read_text() + (ROOT / ".ci" / "run").read_text()
    run = {name for name, command in COMMANDS.items() if re.search(rf"\b{command}\b", makefile)}
    stubs = {name for name in declared if name.removeprefix("types-") in used | declared}
    stubs = {name for name in stubs if name.startswith("types-")}
    source = "".join(
        path.read_text() for folder in ("src", "tests") for path in (ROOT / folder).rglob("*.py")
    )
    loaded = {name for name, needs in LOADED.items() if re.search(needs, source)}
    unused = declared - used - run - stubs - loaded
    assert not unused, f"declared in pyproject.toml but neither imported nor run: {unused}"
