"""The platform image registry, context hashing and build bookkeeping, without Docker."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from docker.errors import APIError, ImageNotFound

from cloudos.engine import images
from cloudos.engine.images import (
    CONTEXT_HASH_LABEL,
    IMAGE_NAMES,
    BuildEvent,
    ImageBuildFailed,
    PlatformImage,
    build_images,
    context_files,
    context_hash,
    host_extra_ca_certs,
    image_ref,
    image_status,
    image_tag,
    images_dir,
    platform_images,
    select_images,
)
from cloudos.errors import EnvironmentProblem, NotFound

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_images_dir_is_the_repos_images_folder() -> None:
    assert images_dir() == REPO_ROOT / "images"


def test_tag_is_major_minor_of_the_version() -> None:
    assert image_tag("0.1.0") == "0.1"
    assert image_tag("2.13.7rc1") == "2.13"
    assert image_ref("router", version="1.4.2") == "cloudos/router:1.4"


def test_unknown_image_name_is_not_found() -> None:
    with pytest.raises(NotFound, match="no platform image named 'nginx'"):
        image_ref("nginx")
    with pytest.raises(NotFound, match="'nginx'"):
        select_images(platform_images(), ["router", "nginx"])


def test_registry_has_every_image_with_a_dockerfile_in_build_order() -> None:
    registry = platform_images()
    assert tuple(image.name for image in registry) == IMAGE_NAMES
    assert registry[-1].name == "control"
    for image in registry:
        assert (image.context / image.dockerfile).is_file(), image.name
        dockerfile = (image.context / image.dockerfile).read_text()
        assert f'io.cloudos.image="{image.name}"' in dockerfile
        assert "HEALTHCHECK" in dockerfile
        assert "STOPSIGNAL" in dockerfile


def test_control_is_built_from_the_repo_root() -> None:
    control = next(image for image in platform_images() if image.name == "control")
    assert control.context == REPO_ROOT
    assert control.dockerfile == "images/control/Dockerfile"
    assert control.uses_pypi


def test_select_keeps_build_order_and_drops_repeats() -> None:
    chosen = select_images(platform_images(), ["static", "router", "static"])
    assert [image.name for image in chosen] == ["router", "static"]
    assert len(select_images(platform_images(), None)) == len(IMAGE_NAMES)


def _context(tmp_path: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_hash_changes_with_content_names_and_executable_bit(tmp_path: Path) -> None:
    context = _context(tmp_path, {"Dockerfile": "FROM x\n", "run.sh": "echo hi\n"})
    first = context_hash(context)
    assert context_hash(context) == first

    (context / "run.sh").write_text("echo bye\n")
    changed = context_hash(context)
    assert changed != first

    (context / "run.sh").chmod(0o755)
    executable = context_hash(context)
    assert executable != changed

    (context / "run.sh").rename(context / "start.sh")
    assert context_hash(context) != executable


def test_hash_ignores_what_dockerignore_excludes(tmp_path: Path) -> None:
    context = _context(
        tmp_path,
        {
            ".dockerignore": "*\n!Dockerfile\n!src\n**/__pycache__\n",
            "Dockerfile": "FROM x\n",
            "src/app.py": "print(1)\n",
            "notes.txt": "scratch\n",
        },
    )
    assert context_files(context) == [".dockerignore", "Dockerfile", "src/app.py"]
    before = context_hash(context)

    (context / "notes.txt").write_text("more scratch\n")
    (context / "src" / "__pycache__").mkdir()
    (context / "src" / "__pycache__" / "app.pyc").write_bytes(b"\0")
    assert context_hash(context) == before

    (context / "src" / "app.py").write_text("print(2)\n")
    assert context_hash(context) != before


def test_repo_dockerignore_keeps_the_control_context_to_what_it_installs() -> None:
    files = context_files(REPO_ROOT, dockerfile="images/control/Dockerfile")
    tops = {path.split("/", 1)[0] for path in files}
    allowed = {".dockerignore", "pyproject.toml", "uv.lock", "README.md", "src", "images"}
    assert tops <= allowed | {"catalog", "scripts"}
    assert [path for path in files if path.startswith("scripts/")] == ["scripts/make-base-image.sh"]
    assert "src/cloudos/engine/images.py" in files
    assert not any("__pycache__" in path or path.startswith(".venv") for path in files)


def test_host_extra_ca_certs_reads_pem_files(tmp_path: Path) -> None:
    assert host_extra_ca_certs(tmp_path / "missing") == ""
    (tmp_path / "a.crt").write_text("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
    (tmp_path / "b.crt").write_text("not a certificate")
    (tmp_path / "c.pem").write_text("-----BEGIN CERTIFICATE-----\nCCC\n-----END CERTIFICATE-----\n")
    assert host_extra_ca_certs(tmp_path) == (
        "-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----"
    )


# --------------------------------------------------------------------------- a fake engine


class _FakeImage:
    def __init__(self, labels: dict[str, str]) -> None:
        self.id = "sha256:old"
        self.attrs: dict[str, Any] = {
            "Config": {"Labels": labels},
            "Created": "2024-01-01T00:00:00Z",
            "Size": 1000,
        }


class _FakeImages:
    def __init__(self, present: dict[str, dict[str, str]]) -> None:
        self.present = present

    def get(self, ref: str) -> _FakeImage:
        if ref not in self.present:
            raise ImageNotFound(f"no such image: {ref}")
        return _FakeImage(self.present[ref])


class _FakeAPI:
    def __init__(self, chunks: list[dict[str, Any]] | Exception) -> None:
        self.chunks = chunks
        self.calls: list[dict[str, Any]] = []

    def build(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.calls.append(kwargs)
        if isinstance(self.chunks, Exception):
            raise self.chunks
        return iter(self.chunks)


class _FakeClient:
    def __init__(
        self, present: dict[str, dict[str, str]], chunks: list[dict[str, Any]] | Exception
    ) -> None:
        self.images = _FakeImages(present)
        self.api = _FakeAPI(chunks)


@pytest.fixture
def tiny_registry(tmp_path: Path) -> list[PlatformImage]:
    registry = []
    for name in ("router", "static"):
        context = _context(tmp_path / name, {"Dockerfile": f"FROM debian:bookworm-slim # {name}\n"})
        registry.append(
            PlatformImage(name=name, context=context, dockerfile="Dockerfile", tag="9.9")
        )
    return registry


_OK_BUILD: list[dict[str, Any]] = [
    {"stream": "Step 1/2 : FROM debian:bookworm-slim\n"},
    {"stream": " ---> abc\n"},
    {"aux": {"ID": "sha256:new"}},
    {"stream": "Successfully built new\n"},
]


def test_status_tells_missing_stale_and_current(tiny_registry: list[PlatformImage]) -> None:
    router = tiny_registry[0]
    present = {
        "debian:bookworm-slim": {},
        router.ref: {CONTEXT_HASH_LABEL: images.image_context_hash(router)},
    }
    statuses = image_status(_FakeClient(present, []), registry=tiny_registry)  # type: ignore[arg-type]
    assert [(s.name, s.present, s.up_to_date) for s in statuses] == [
        ("router", True, True),
        ("static", False, False),
    ]
    assert statuses[0].as_dict()["size"] == 1000

    present[router.ref] = {CONTEXT_HASH_LABEL: "something-else"}
    statuses = image_status(_FakeClient(present, []), registry=tiny_registry)  # type: ignore[arg-type]
    assert statuses[0].present
    assert not statuses[0].up_to_date


def test_build_skips_current_images_and_labels_new_ones(
    tiny_registry: list[PlatformImage],
) -> None:
    router, static = tiny_registry
    present = {
        "debian:bookworm-slim": {},
        router.ref: {CONTEXT_HASH_LABEL: images.image_context_hash(router)},
    }
    client = _FakeClient(present, _OK_BUILD)
    events: list[BuildEvent] = []
    results = build_images(client, registry=tiny_registry, progress=events.append)  # type: ignore[arg-type]

    assert [(r.name, r.outcome) for r in results] == [("router", "up-to-date"), ("static", "built")]
    assert results[1].image_id == "sha256:new"
    (call,) = client.api.calls
    assert call["tag"] == static.ref
    assert call["network_mode"] == "host"
    assert call["labels"][CONTEXT_HASH_LABEL] == images.image_context_hash(static)
    assert call["labels"]["io.cloudos.image"] == "static"
    assert "EXTRA_CA_CERTS" not in call["buildargs"]
    logs = [e.line for e in events if e.kind == "log" and e.image == "static"]
    assert logs[0] == "Step 1/2 : FROM debian:bookworm-slim"
    assert [e.kind for e in events if e.image == "router"] == ["started", "finished"]


def test_force_rebuilds_current_images(tiny_registry: list[PlatformImage]) -> None:
    router, _ = tiny_registry
    present = {
        "debian:bookworm-slim": {},
        router.ref: {CONTEXT_HASH_LABEL: images.image_context_hash(router)},
    }
    client = _FakeClient(present, _OK_BUILD)
    results = build_images(client, names=["router"], force=True, registry=tiny_registry)  # type: ignore[arg-type]
    assert [(r.name, r.outcome) for r in results] == [("router", "built")]


def test_failed_step_is_in_the_error(tiny_registry: list[PlatformImage]) -> None:
    chunks: list[dict[str, Any]] = [
        {"stream": "Step 1/3 : FROM debian:bookworm-slim\n"},
        {"stream": "Step 2/3 : RUN apt-get install -y nope\n"},
        {"stream": "E: Unable to locate package nope\n"},
        {"error": "The command '/bin/sh -c apt-get install -y nope' returned a non-zero code: 100"},
    ]
    client = _FakeClient({"debian:bookworm-slim": {}}, chunks)
    events: list[BuildEvent] = []
    with pytest.raises(ImageBuildFailed) as caught:
        build_images(client, registry=tiny_registry, progress=events.append)  # type: ignore[arg-type]

    message = str(caught.value)
    assert "building cloudos/router:9.9 failed at step 'RUN apt-get install -y nope'" in message
    assert "returned a non-zero code: 100" in message
    assert "E: Unable to locate package nope" in message
    assert caught.value.exit_code == 2
    assert caught.value.image == "router"
    finished = [e for e in events if e.kind == "finished"]
    assert finished[-1].result is not None
    assert finished[-1].result.outcome == "failed"
    assert len(client.api.calls) == 1, "stops at the first failure"


def test_api_error_becomes_environment_problem(tiny_registry: list[PlatformImage]) -> None:
    client = _FakeClient({"debian:bookworm-slim": {}}, APIError("500 Server Error: boom"))
    with pytest.raises(EnvironmentProblem, match=r"building cloudos/router:9\.9 failed: .*boom"):
        build_images(client, names=["router"], registry=tiny_registry)  # type: ignore[arg-type]


def test_missing_base_image_runs_the_script(
    tiny_registry: list[PlatformImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: list[list[str]] = []

    class _Done:
        returncode = 2
        stdout = ""
        stderr = "base-image: cannot pull debian:bookworm-slim and building it needs root\n"

    def fake_run(command: list[str], **kwargs: Any) -> _Done:
        ran.append(command)
        return _Done()

    monkeypatch.setattr("cloudos.engine.images.subprocess.run", fake_run)
    client = _FakeClient({}, _OK_BUILD)
    with pytest.raises(EnvironmentProblem, match=r"cannot provide the base image.*needs root"):
        build_images(client, registry=tiny_registry)  # type: ignore[arg-type]
    assert ran[0][-2:] == [
        str(REPO_ROOT / "scripts" / "make-base-image.sh"),
        "debian:bookworm-slim",
    ]
    assert client.api.calls == []
