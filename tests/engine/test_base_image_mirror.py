"""scripts/make-base-image.sh takes its Debian mirror from the machine's apt sources.

An offline site points apt at its own mirror; debootstrap must use that one, not
deb.debian.org. Each case runs the real script (``--print-mirror``, which stops
before Docker) against fake apt sources in a temporary ``CLOUDOS_APT_DIR``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make-base-image.sh"
DEFAULT = "http://deb.debian.org/debian"

DEBIAN_12_SOURCES = """\
Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://sources.example/debian
Suites: bookworm
Components: main

Types: deb
# URIs: http://commented.example/debian
uris: http://mirror.example/debian
  http://second.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def mirror(apt_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the script's mirror detection against ``apt_dir``."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBIAN_MIRROR", "CLOUDOS_APT_DIR")}
    return subprocess.run(
        ["bash", str(SCRIPT), "--print-mirror"],
        env=clean | {"CLOUDOS_APT_DIR": str(apt_dir)} | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )


@pytest.fixture
def apt_dir(tmp_path: Path) -> Path:
    """An empty /etc/apt."""
    (tmp_path / "sources.list.d").mkdir()
    return tmp_path


def test_a_deb822_source_for_bookworm_is_the_mirror(apt_dir: Path) -> None:
    (apt_dir / "sources.list.d" / "debian.sources").write_text(DEBIAN_12_SOURCES)
    found = mirror(apt_dir)
    assert found.stdout == "http://mirror.example/debian\n"
    assert "debian.sources" in found.stderr, "says where the mirror came from"


def test_a_disabled_deb822_stanza_is_not_the_mirror(apt_dir: Path) -> None:
    (apt_dir / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb\nURIs: http://on.example/debian\nSuites: bookworm\n"
    )
    assert mirror(apt_dir).stdout == "http://on.example/debian\n"


def test_a_one_line_source_for_bookworm_is_the_mirror(apt_dir: Path) -> None:
    (apt_dir / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://sources.example/debian bookworm main\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [ arch=amd64 signed-by=/etc/apt/keyrings/site.gpg ] "
        "http://mirror.site.internal/debian bookworm main contrib\n"
        "deb http://later.example/debian bookworm main\n"
    )
    assert mirror(apt_dir).stdout == "http://mirror.site.internal/debian\n"


def test_sources_are_read_in_apts_order(apt_dir: Path) -> None:
    # sources.list first, then sources.list.d in name order, .list and .sources alike.
    listing = apt_dir / "sources.list.d"
    (listing / "a-nodesource.list").write_text(
        "deb https://deb.nodesource.com/node nodistro main\n"
    )
    (listing / "b-site.sources").write_text(
        "Types: deb\nURIs: http://b.example/debian\nSuites: bookworm\n"
    )
    (listing / "c-site.list").write_text("deb http://c.example/debian bookworm main\n")
    assert mirror(apt_dir).stdout == "http://b.example/debian\n"
    (apt_dir / "sources.list").write_text(
        "deb [arch=amd64] http://first.example/debian bookworm main\n"
    )
    assert mirror(apt_dir).stdout == "http://first.example/debian\n"


def test_debian_mirror_overrides_the_apt_sources(apt_dir: Path) -> None:
    (apt_dir / "sources.list").write_text("deb http://mirror.example/debian bookworm main\n")
    found = mirror(apt_dir, DEBIAN_MIRROR="http://override.example/debian")
    assert found.stdout == "http://override.example/debian\n"


def test_without_a_bookworm_source_the_default_mirror_is_used(apt_dir: Path) -> None:
    (apt_dir / "sources.list").write_text("deb http://archive.ubuntu.com/ubuntu jammy main\n")
    (apt_dir / "sources.list.d" / "ubuntu.sources").write_text(
        "Types: deb\nURIs: http://archive.ubuntu.com/ubuntu\nSuites: noble\n"
    )
    found = mirror(apt_dir)
    assert found.stdout == f"{DEFAULT}\n"
    assert "default" in found.stderr
