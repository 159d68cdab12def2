"""CapRover's ``dockerfileLines``: the part a stack can express without building.

A Dockerfile made only of ``FROM`` and runtime settings (``CMD``, ``ENTRYPOINT``,
``ENV``, ``USER``, ``WORKDIR``, ``LABEL``, ``STOPSIGNAL``, ``EXPOSE``) describes the
base image run differently: that maps onto Compose keys. Anything that changes the
image's files (``RUN``, ``COPY``, ``ADD``, several stages, several stages) needs a build,
which a stack cannot do: the caller reports those as failures. ``ARG`` only names a
value: CapRover passes the service's environment as build arguments, so ``$NAME`` in
``FROM``/``ENV``/... is replaced by that value (or the ``ARG`` default).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_RUNTIME_ONLY = frozenset({"EXPOSE", "VOLUME", "MAINTAINER", "HEALTHCHECK"})
_NEEDS_BUILD = frozenset({"RUN", "COPY", "ADD", "ONBUILD", "SHELL"})
_EXPANDED = frozenset({"FROM", "ENV", "USER", "WORKDIR", "LABEL", "STOPSIGNAL"})
_ARG_REF = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass
class DockerfileService:
    """Compose keys equivalent to a Dockerfile, or why there are none."""

    keys: dict[str, Any] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    needs_build: list[str] = field(default_factory=list)


def _instructions(lines: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in lines:
        line = str(raw).rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    if pending.strip():
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _argv(text: str) -> list[str]:
    """Exec form (a JSON array) as is; shell form run by ``/bin/sh -c``."""
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
            return parsed
    return ["/bin/sh", "-c", text]


def _env_pairs(text: str) -> dict[str, str]:
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        words = text.split()
    if words and "=" not in words[0]:
        return {words[0]: text.partition(" ")[2].strip()}  # legacy `ENV KEY value`
    return dict(word.partition("=")[::2] for word in words)


def _expand(text: str, args: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return args[name] if name in args else match.group(0)

    return _ARG_REF.sub(value, text)


def convert_dockerfile(
    lines: list[str], *, build_args: Mapping[str, str] | None = None
) -> DockerfileService:
    """The Compose keys (image, command, entrypoint, ...) a runtime-only Dockerfile gives."""
    result = DockerfileService()
    keys = result.keys
    given = build_args or {}
    args: dict[str, str] = {}
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    for word, raw_rest in _instructions(lines):
        rest = _expand(raw_rest, args) if word in _EXPANDED else raw_rest
        if word == "ARG":
            name, _, default = _expand(raw_rest, args).partition("=")
            name = name.strip()
            args[name] = given.get(name, default.strip().strip('"'))
        elif word == "FROM":
            if "image" in keys:
                result.needs_build.append("several FROM stages")
                continue
            parts = rest.split()
            parts = [part for part in parts if not part.startswith("--platform")]
            if len(parts) > 1:
                result.needs_build.append(f"FROM {rest} (a named build stage)")
            keys["image"] = parts[0] if parts else rest
        elif word == "CMD":
            command = _argv(rest)
        elif word == "ENTRYPOINT":
            entrypoint = _argv(rest)
            command = None  # a Dockerfile ENTRYPOINT resets the inherited CMD
        elif word == "ENV":
            keys.setdefault("environment", {}).update(_env_pairs(rest))
        elif word == "USER":
            keys["user"] = rest
        elif word == "WORKDIR":
            keys["working_dir"] = rest
        elif word == "LABEL":
            keys.setdefault("labels", {}).update(_env_pairs(rest))
        elif word == "STOPSIGNAL":
            keys["stop_signal"] = rest
        elif word in _RUNTIME_ONLY:
            if word != "EXPOSE":
                result.ignored.append(f"{word} {rest}")
        elif word in _NEEDS_BUILD:
            result.needs_build.append(f"{word} {rest}"[:80])
        else:
            result.needs_build.append(f"unknown instruction {word}")
    if "image" not in keys:
        result.needs_build.append("no FROM")
    if entrypoint is not None:
        if entrypoint:
            keys["entrypoint"] = entrypoint
            if command is not None:
                keys["command"] = command
        elif command is not None:  # `ENTRYPOINT []` then CMD: the CMD alone runs
            keys["entrypoint"] = command
    elif command is not None:
        keys["command"] = command
    return result


__all__ = ["DockerfileService", "convert_dockerfile"]
