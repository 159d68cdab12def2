"""Icons: a file beside template.yaml, checked when the template loads; URLs never loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudos.templates import (
    TemplateError,
    icon_of,
    load_document,
    load_template,
    template_from_text,
)
from cloudos.templates.catalog import template_paths
from cloudos.templates.icons import MAX_ICON_BYTES
from tests.templates.test_loader import GOOD, error_of

SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>'
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


def with_icon(value: str) -> str:
    return GOOD.replace("name: App\n", f"name: App\nicon: {value}\n")


def folder_with(tmp_path: Path, icon: str, files: dict[str, bytes]) -> Path:
    """A template folder whose template names ``icon``, holding ``files``."""
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    path = tmp_path / "template.yaml"
    path.write_text(with_icon(icon), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(TemplateError) as caught:
        load_template(path)
    return str(caught.value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("/etc/cloudos/icon.svg", "is not a relative path"),
        ("../other/icon.svg", "'..' is not allowed"),
        ("img/../../icon.svg", "'..' is not allowed"),
        ("C:/icons/icon.svg", "is not a relative path"),
        ('"img\\\\icon.svg"', "is not a relative path"),
        ("file:///etc/passwd", "is not a relative path"),
        ("img//icon.svg", "empty or '.' part"),
        ("icon.gif", "is not an allowed image type (use .svg, .png, .webp, .jpg, .jpeg)"),
        ("icon", "is not an allowed image type"),
        ('""', "give a file name"),
    ],
)
def test_a_bad_icon_path_is_refused_naming_the_field(value: str, problem: str) -> None:
    message = error_of(with_icon(value))
    assert message.startswith("t.yaml:5:1: icon: "), message
    assert problem in message


def test_a_url_is_accepted_but_has_no_icon_file(tmp_path: Path) -> None:
    path = folder_with(tmp_path, "https://example.com/logo.png", {})
    template = load_template(path)
    assert template.icon == "https://example.com/logo.png"
    assert icon_of(template) is None


def test_an_icon_file_beside_the_template_is_read(tmp_path: Path) -> None:
    template = load_template(folder_with(tmp_path, "img/Icon.PNG", {"img/Icon.PNG": PNG}))
    icon = icon_of(template)
    assert icon is not None
    assert (icon.data, icon.media_type) == (PNG, "image/png")
    other = load_template(folder_with(tmp_path / "b", "icon.png", {"icon.png": PNG + b"\1"}))
    assert icon_of(other).digest != icon.digest  # type: ignore[union-attr]


def test_a_template_read_as_text_has_no_icon_file() -> None:
    assert icon_of(template_from_text(with_icon("icon.svg"))) is None


def test_a_missing_icon_file_points_at_the_icon_line(tmp_path: Path) -> None:
    path = folder_with(tmp_path, "icon.svg", {})
    assert load_error(path) == (
        f"{path}:5:1: icon: there is no file 'icon.svg' beside the template"
    )
    with pytest.raises(TemplateError, match=r"no file 'icon\.svg'"):
        load_document(path)


def test_an_icon_too_large_is_refused(tmp_path: Path) -> None:
    big = PNG + b"\0" * MAX_ICON_BYTES
    message = load_error(folder_with(tmp_path, "icon.png", {"icon.png": big}))
    assert "icon: 'icon.png' is larger than 256 KiB" in message


def test_an_icon_whose_content_is_not_its_type_is_refused(tmp_path: Path) -> None:
    message = load_error(folder_with(tmp_path, "icon.png", {"icon.png": SVG}))
    assert "icon: 'icon.png' is not a image/png image" in message
    message = load_error(folder_with(tmp_path / "b", "icon.svg", {"icon.svg": PNG}))
    assert "is not a image/svg+xml image" in message


def test_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret.svg"
    outside.write_bytes(SVG)
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "icon.svg").symlink_to(outside)
    path = folder_with(folder, "icon.svg", {})
    assert "points outside the template's folder" in load_error(path)


def test_every_built_in_template_ships_a_local_svg_icon() -> None:
    for path in template_paths():
        template = load_template(path)
        icon = icon_of(template)
        assert icon is not None, path
        assert icon.media_type == "image/svg+xml"
        assert b"<script" not in icon.data
