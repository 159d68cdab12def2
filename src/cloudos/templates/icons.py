"""Template icons: a small image shipped in the template's own folder.

Cloud OS must work with no internet once installed, so an icon is never fetched
from elsewhere: a template names a file beside its ``template.yaml``
(``icon: icon.svg``) and the control plane serves it. The value is checked twice:
its shape when the document is validated (:func:`icon_path_problem`, no file
access, so text-only templates get the same rules), and the file itself when the
template is loaded from its folder (:func:`read_icon`). An ``http(s)`` URL is still
accepted, because importers carry one over from other formats, but nothing loads it:
the interface shows the app's initial instead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ICON_MEDIA_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}
MAX_ICON_BYTES = 256 * 1024
_MAX_PATH = 255
_ALLOWED = ", ".join(ICON_MEDIA_TYPES)


@dataclass(frozen=True)
class Icon:
    """The bytes of a template's icon, its media type and a hash of its content."""

    data: bytes
    media_type: str

    @property
    def digest(self) -> str:
        """A short content hash: it changes whenever the file does (URLs, ETags)."""
        return hashlib.sha256(self.data).hexdigest()[:20]


def is_remote_icon(value: str) -> bool:
    """Whether ``value`` is a URL (accepted from importers, never loaded)."""
    return value.lower().startswith(("https://", "http://"))


def icon_path_problem(value: str) -> str | None:
    """What is wrong with ``value`` as an icon file name, or ``None``."""
    if is_remote_icon(value):
        return None
    if not value or len(value) > _MAX_PATH:
        return f"give a file name of 1 to {_MAX_PATH} characters, e.g. icon.svg"
    if value.startswith("/") or "\\" in value or ":" in value:
        return (
            f"{value!r} is not a relative path: name a file in the template's folder, "
            "e.g. icon.svg (no absolute paths, drive letters, backslashes or URL schemes)"
        )
    if any(ord(char) < 32 for char in value):
        return "the file name holds control characters"
    parts = value.split("/")
    if ".." in parts:
        return f"{value!r} leaves the template's folder: '..' is not allowed"
    if any(part in ("", ".") for part in parts):
        return f"{value!r} has an empty or '.' part: write it as a plain relative path"
    if PurePosixPath(value).suffix.lower() not in ICON_MEDIA_TYPES:
        return f"{value!r} is not an allowed image type (use {_ALLOWED})"
    return None


def read_icon(folder: Path, name: str) -> Icon:
    """Read the icon file ``name`` of the template in ``folder``.

    Raises ``ValueError`` with a message for the template's author when the file is
    missing, outside the folder (through a link), too large, or not the image its
    extension says.
    """
    problem = icon_path_problem(name)
    if problem is not None or is_remote_icon(name):
        raise ValueError(problem or "an icon URL is not a file")
    base = folder.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"{name!r} points outside the template's folder (through a link)")
    if not path.is_file():
        raise ValueError(f"there is no file {name!r} beside the template")
    try:
        with path.open("rb") as file:
            data = file.read(MAX_ICON_BYTES + 1)
    except OSError as err:
        raise ValueError(f"cannot read {name!r}: {err.strerror}") from err
    if len(data) > MAX_ICON_BYTES:
        raise ValueError(f"{name!r} is larger than {MAX_ICON_BYTES // 1024} KiB, the most allowed")
    media_type = ICON_MEDIA_TYPES[path.suffix.lower()]
    if not _looks_like(data, media_type):
        raise ValueError(f"{name!r} is not a {media_type} image (its content does not match)")
    return Icon(data=data, media_type=media_type)


def _looks_like(data: bytes, media_type: str) -> bool:
    """Whether the first bytes fit the media type (no image decoding, just the signature)."""
    if media_type == "image/png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if media_type == "image/jpeg":
        return data.startswith(b"\xff\xd8\xff")
    if media_type == "image/webp":
        return data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "<svg" in text


__all__ = [
    "ICON_MEDIA_TYPES",
    "MAX_ICON_BYTES",
    "Icon",
    "icon_path_problem",
    "is_remote_icon",
    "read_icon",
]
