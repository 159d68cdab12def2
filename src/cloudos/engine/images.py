"""The platform's own images: where their Dockerfiles are, whether they are built, building them.

Every image is ``cloudos/<name>:<major.minor>`` built FROM ``debian:bookworm-slim``.
An image is *up to date* when its label ``io.cloudos.context-hash`` equals the hash of
the files its build context holds now (for ``control``, the repo root filtered by
``.dockerignore``, exactly what the SDK sends). So ``build_images`` is cheap to call on
every ``cloudos up``: it builds only what changed, and the engine's layer cache makes
the rebuilds it does run quick.

Builds go through the Engine API (classic builder, ``network_mode=host`` so ``apt-get``
works without a bridge). Library errors become :class:`ImageBuildFailed` (an
:class:`EnvironmentProblem`) carrying the failing step and the last lines of its log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import docker
import requests
from docker.errors import DockerException, ImageNotFound
from docker.utils.build import exclude_paths

import cloudos
from cloudos.errors import CloudOSError, EnvironmentProblem, NotFound

log = logging.getLogger(__name__)

BASE_IMAGE = "debian:bookworm-slim"
REPOSITORY_PREFIX = "cloudos/"
IMAGE_LABEL = "io.cloudos.image"
CONTEXT_HASH_LABEL = "io.cloudos.context-hash"
VERSION_LABEL = "org.opencontainers.image.version"

# Build order: the control plane last, it is the slowest and needs the others least.
IMAGE_NAMES: tuple[str, ...] = (
    "router",
    "mariadb",
    "postgresql",
    "redis",
    "php",
    "static",
    "control",
)

# Bump to force every image to rebuild when the way images are built changes.
_HASH_SCHEME = b"cloudos-context-hash/1\n"
_LOG_TAIL_LINES = 15
_BUILD_TIMEOUT_SECONDS = 1800
_STEP = re.compile(r"^Step \d+/\d+ : ")
# Where Debian and Ubuntu keep the CA certificates an administrator adds.
_HOST_EXTRA_CA_DIR = Path("/usr/local/share/ca-certificates")


@dataclass(frozen=True)
class PlatformImage:
    """One image of the platform: its name, where its build context and Dockerfile are."""

    name: str
    context: Path
    dockerfile: str  # relative to ``context``, forward slashes
    tag: str
    uses_pypi: bool = False  # its build downloads from PyPI (gets the host's extra CAs)

    @property
    def ref(self) -> str:
        """The full reference, ``cloudos/<name>:<tag>``."""
        return f"{REPOSITORY_PREFIX}{self.name}:{self.tag}"


@dataclass(frozen=True)
class ImageStatus:
    """Whether an image is present in the engine and built from the current sources."""

    name: str
    ref: str
    present: bool
    up_to_date: bool
    context_hash: str
    image_id: str | None = None
    created: str | None = None
    size: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``cloudos images ls --json``, ``cloudos doctor``)."""
        return {
            "name": self.name,
            "ref": self.ref,
            "present": self.present,
            "up_to_date": self.up_to_date,
            "context_hash": self.context_hash,
            "image_id": self.image_id,
            "created": self.created,
            "size": self.size,
        }


Outcome = Literal["built", "up-to-date", "failed"]


@dataclass(frozen=True)
class BuildResult:
    """What happened to one image in :func:`build_images`."""

    name: str
    ref: str
    outcome: Outcome
    seconds: float
    image_id: str | None = None


@dataclass(frozen=True)
class BuildEvent:
    """Progress of :func:`build_images`: an image started, a log line, an image finished."""

    image: str
    kind: Literal["started", "log", "finished"]
    line: str = ""
    result: BuildResult | None = None


ProgressCallback = Callable[[BuildEvent], None]


class ImageBuildFailed(EnvironmentProblem):
    """Building a platform image failed; the message names the step and its last output."""

    def __init__(self, message: str, *, image: str, log_tail: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.image = image
        self.log_tail = tuple(log_tail)


# --------------------------------------------------------------------------- locations


def images_dir() -> Path:
    """The folder holding the platform's Dockerfiles (``images/`` in the repo or the wheel)."""
    package = Path(cloudos.__file__).resolve().parent
    for candidate in (package / "_data" / "images", package.parents[1] / "images"):
        if candidate.is_dir():
            return candidate
    raise EnvironmentProblem(
        f"the platform images' Dockerfiles are missing: looked in {package / '_data' / 'images'} "
        f"and {package.parents[1] / 'images'}; reinstall Cloud OS"
    )


def image_tag(version: str | None = None) -> str:
    """The tag of every platform image: major.minor of the package version (``0.1``)."""
    parts = (version or cloudos.__version__).split(".")
    return ".".join(parts[:2])


def image_ref(name: str, *, version: str | None = None) -> str:
    """``cloudos/<name>:<tag>`` for a platform image name (for stacks and services)."""
    if name not in IMAGE_NAMES:
        raise NotFound(f"no platform image named {name!r}; known: {', '.join(IMAGE_NAMES)}")
    return f"{REPOSITORY_PREFIX}{name}:{image_tag(version)}"


def platform_images(
    *, root: Path | None = None, version: str | None = None
) -> tuple[PlatformImage, ...]:
    """The registry of platform images, in build order.

    ``root`` is the folder holding ``images/`` (a checkout or the wheel's ``_data``);
    ``control`` is built from it, with ``images/control/Dockerfile``.
    """
    images_root = root / "images" if root is not None else images_dir()
    tag = image_tag(version)
    registry = [
        PlatformImage(name=name, context=images_root / name, dockerfile="Dockerfile", tag=tag)
        for name in IMAGE_NAMES
        if name != "control"
    ]
    registry.append(
        PlatformImage(
            name="control",
            context=images_root.parent,
            dockerfile="images/control/Dockerfile",
            tag=tag,
            uses_pypi=True,
        )
    )
    return tuple(registry)


def select_images(
    registry: Sequence[PlatformImage], names: Iterable[str] | None
) -> list[PlatformImage]:
    """The images named (all when ``names`` is empty), in build order; unknown names fail."""
    wanted = list(dict.fromkeys(names or ()))
    known = {image.name for image in registry}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise NotFound(f"no platform image named {unknown[0]!r}; known: {', '.join(sorted(known))}")
    if not wanted:
        return list(registry)
    return [image for image in registry if image.name in wanted]


# --------------------------------------------------------------------------- hashing


def read_dockerignore(context: Path) -> list[str]:
    """The patterns of ``<context>/.dockerignore`` (none when it does not exist)."""
    path = context / ".dockerignore"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def context_files(context: Path, *, dockerfile: str = "Dockerfile") -> list[str]:
    """The files the build context sends, as sorted relative paths (``.dockerignore`` applied)."""
    if not context.is_dir():
        raise EnvironmentProblem(f"build context {context} does not exist")
    patterns = read_dockerignore(context)
    # The SDK's own matcher, so the hash covers exactly what a build sends.
    included = exclude_paths(str(context), patterns, dockerfile=dockerfile)
    files = [
        path for path in included if (context / path).is_file() or (context / path).is_symlink()
    ]
    return sorted(path.replace(os.sep, "/") for path in files)


def context_hash(context: Path, *, dockerfile: str = "Dockerfile") -> str:
    """A sha256 of the build context: every file's path, executable bit and content."""
    digest = hashlib.sha256(_HASH_SCHEME)
    for relative in context_files(context, dockerfile=dockerfile):
        path = context / relative
        digest.update(relative.encode("utf-8") + b"\0")
        if path.is_symlink():
            digest.update(b"link\0" + str(path.readlink()).encode("utf-8") + b"\0")
            continue
        executable = os.access(path, os.X_OK)
        digest.update(b"x\0" if executable else b"-\0")
        file_digest = hashlib.sha256(path.read_bytes()).digest()
        digest.update(file_digest)
    return digest.hexdigest()


def image_context_hash(image: PlatformImage) -> str:
    """The context hash of one platform image."""
    return context_hash(image.context, dockerfile=image.dockerfile)


def is_up_to_date(labels: Mapping[str, str] | None, expected_hash: str) -> bool:
    """Whether an image's labels say it was built from a context with this hash."""
    return bool(labels) and (labels or {}).get(CONTEXT_HASH_LABEL) == expected_hash


# --------------------------------------------------------------------------- engine


def image_status(
    client: docker.DockerClient,
    *,
    names: Iterable[str] | None = None,
    registry: Sequence[PlatformImage] | None = None,
) -> list[ImageStatus]:
    """Present? Up to date? For each platform image (all by default)."""
    selected = select_images(registry or platform_images(), names)
    statuses = []
    for image in selected:
        expected = _buildable_hash(image)
        try:
            found = client.images.get(image.ref)
        except ImageNotFound:
            statuses.append(
                ImageStatus(
                    name=image.name,
                    ref=image.ref,
                    present=False,
                    up_to_date=False,
                    context_hash=expected,
                )
            )
            continue
        except (DockerException, requests.RequestException) as err:
            raise EnvironmentProblem(f"cannot inspect image {image.ref}: {err}") from err
        attrs = found.attrs
        labels = (attrs.get("Config") or {}).get("Labels") or {}
        statuses.append(
            ImageStatus(
                name=image.name,
                ref=image.ref,
                present=True,
                up_to_date=bool(expected) and is_up_to_date(labels, expected),
                context_hash=expected,
                image_id=found.id,
                created=attrs.get("Created"),
                size=attrs.get("Size"),
            )
        )
    return statuses


def ensure_base_image(client: docker.DockerClient) -> None:
    """Make sure ``debian:bookworm-slim`` exists: pull it, or debootstrap it with the script."""
    try:
        client.images.get(BASE_IMAGE)
        return
    except ImageNotFound:
        pass
    except (DockerException, requests.RequestException) as err:
        raise EnvironmentProblem(f"cannot inspect image {BASE_IMAGE}: {err}") from err
    script = images_dir().parent / "scripts" / "make-base-image.sh"
    if not script.is_file():
        raise EnvironmentProblem(
            f"the base image {BASE_IMAGE} is missing and {script} does not exist: "
            f"pull or import {BASE_IMAGE} first (see docs: debootstrap + docker import)"
        )
    log.info("base image %s is missing; running %s", BASE_IMAGE, script)
    completed = subprocess.run(
        ["bash", str(script), BASE_IMAGE], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        raise EnvironmentProblem(
            f"cannot provide the base image {BASE_IMAGE}: {script} failed "
            f"(exit {completed.returncode}): {' / '.join(detail) or 'no output'}"
        )


def build_images(
    client: docker.DockerClient,
    *,
    names: Iterable[str] | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    registry: Sequence[PlatformImage] | None = None,
) -> list[BuildResult]:
    """Build the platform images that are missing or out of date (all of them with ``force``).

    Stops at the first failure with :class:`ImageBuildFailed`, after reporting it to
    ``progress`` as a ``finished`` event whose outcome is ``failed``.
    """
    selected = select_images(registry or platform_images(), names)
    notify = progress or _ignore
    statuses = {
        status.name: status
        for status in image_status(client, names=[i.name for i in selected], registry=selected)
    }
    to_build = [image for image in selected if force or not statuses[image.name].up_to_date]
    if to_build:
        ensure_base_image(client)
    results = []
    for image in selected:
        status = statuses[image.name]
        notify(BuildEvent(image=image.name, kind="started"))
        started = time.monotonic()
        if image not in to_build:
            result = BuildResult(
                name=image.name,
                ref=image.ref,
                outcome="up-to-date",
                seconds=time.monotonic() - started,
                image_id=status.image_id,
            )
        else:
            try:
                image_id = _build_one(client, image, notify)
            except CloudOSError:
                failed = BuildResult(
                    name=image.name,
                    ref=image.ref,
                    outcome="failed",
                    seconds=time.monotonic() - started,
                )
                notify(BuildEvent(image=image.name, kind="finished", result=failed))
                raise
            result = BuildResult(
                name=image.name,
                ref=image.ref,
                outcome="built",
                seconds=time.monotonic() - started,
                image_id=image_id,
            )
        notify(BuildEvent(image=image.name, kind="finished", result=result))
        results.append(result)
    return results


@dataclass
class _BuildLog:
    """The tail of a build's output and the step it was in, for error messages."""

    step: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_LOG_TAIL_LINES))

    def add(self, line: str) -> None:
        if _STEP.match(line):
            self.step = _STEP.sub("", line, count=1)
            self.tail.clear()
        self.tail.append(line)


def _build_one(client: docker.DockerClient, image: PlatformImage, notify: ProgressCallback) -> str:
    """Build one image through the Engine API, streaming its log; return the image id."""
    expected = _buildable_hash(image)
    if not expected:
        raise ImageBuildFailed(
            f"cannot build {image.ref}: its build context {image.context} is not a Cloud OS "
            "source checkout (the control image is built from the repository)",
            image=image.name,
        )
    labels = {
        CONTEXT_HASH_LABEL: expected,
        IMAGE_LABEL: image.name,
        VERSION_LABEL: cloudos.__version__,
    }
    buildargs = {}
    extra_ca = host_extra_ca_certs() if image.uses_pypi else ""
    if extra_ca:
        buildargs["EXTRA_CA_CERTS"] = extra_ca
    build_log = _BuildLog()
    image_id: str | None = None
    log.info("building %s from %s", image.ref, image.context)
    try:
        stream = client.api.build(
            path=str(image.context),
            dockerfile=image.dockerfile,
            tag=image.ref,
            labels=labels,
            buildargs=buildargs,
            network_mode="host",
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            timeout=_BUILD_TIMEOUT_SECONDS,
        )
        for chunk in stream:
            for line in _chunk_lines(chunk):
                build_log.add(line)
                notify(BuildEvent(image=image.name, kind="log", line=line))
            if "error" in chunk:
                raise ImageBuildFailed(
                    _failure_message(image, str(chunk["error"]).strip(), build_log),
                    image=image.name,
                    log_tail=list(build_log.tail),
                )
            aux = chunk.get("aux")
            if isinstance(aux, dict) and "ID" in aux:
                image_id = str(aux["ID"])
    except (DockerException, requests.RequestException, OSError) as err:
        raise ImageBuildFailed(
            _failure_message(image, _short(err), build_log),
            image=image.name,
            log_tail=list(build_log.tail),
        ) from err
    if image_id is None:
        try:
            image_id = str(client.images.get(image.ref).id)
        except (DockerException, requests.RequestException) as err:
            raise ImageBuildFailed(
                _failure_message(image, "the engine did not report a built image", build_log),
                image=image.name,
                log_tail=list(build_log.tail),
            ) from err
    return image_id


def host_extra_ca_certs(directory: Path = _HOST_EXTRA_CA_DIR) -> str:
    """The PEM certificates this host adds to the public CAs ("" when none).

    A build that downloads from PyPI through a TLS-inspecting proxy needs them; the
    control image trusts them in its discarded build stage only.
    """
    if not directory.is_dir():
        return ""
    pems = []
    for path in sorted(directory.rglob("*.crt")):
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            log.warning("skipping unreadable CA certificate %s", path)
            continue
        if "-----BEGIN CERTIFICATE-----" in text:
            pems.append(text)
    return "\n".join(pems)


def _chunk_lines(chunk: Mapping[str, Any]) -> Iterator[str]:
    text = chunk.get("stream")
    if not isinstance(text, str):
        return
    for line in text.splitlines():
        if line.strip():
            yield line.rstrip()


def _failure_message(image: PlatformImage, error: str, build_log: _BuildLog) -> str:
    where = f" at step {build_log.step!r}" if build_log.step else ""
    lines = [line for line in build_log.tail if not _STEP.match(line)]
    tail = "\n".join(f"  | {line}" for line in lines[-10:])
    message = f"building {image.ref} failed{where}: {error}"
    return f"{message}\n{tail}" if tail else message


def _short(err: Exception) -> str:
    explanation = getattr(err, "explanation", None)
    return str(explanation or err).strip() or type(err).__name__


def _buildable_hash(image: PlatformImage) -> str:
    """The context hash, or "" when the context cannot be built (control outside a checkout)."""
    if image.name == "control" and not (image.context / "pyproject.toml").is_file():
        return ""
    return image_context_hash(image)


def _ignore(event: BuildEvent) -> None:
    del event


__all__ = [
    "BASE_IMAGE",
    "CONTEXT_HASH_LABEL",
    "IMAGE_LABEL",
    "IMAGE_NAMES",
    "BuildEvent",
    "BuildResult",
    "ImageBuildFailed",
    "ImageStatus",
    "PlatformImage",
    "ProgressCallback",
    "build_images",
    "context_files",
    "context_hash",
    "ensure_base_image",
    "host_extra_ca_certs",
    "image_context_hash",
    "image_ref",
    "image_status",
    "image_tag",
    "images_dir",
    "is_up_to_date",
    "platform_images",
    "select_images",
]
