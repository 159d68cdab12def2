"""Settings: one pydantic-settings class, built at the entry point and passed in.

Sources, strongest first: explicit arguments (command-line flags), environment
variables ``CLOUDOS_*``, the config file (``CLOUDOS_CONFIG`` or
``<data_dir>/cloudos.toml``), then defaults.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloudos.errors import InvalidInput
from cloudos.router._caddy import HstsPolicy
from cloudos.router._platform import DEFAULT_PLATFORM_HOST, Platform

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

DEFAULT_DATA_DIR = Path("/var/lib/cloudos")


class Settings(BaseSettings):
    """Everything an operator can set; every field is also ``CLOUDOS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CLOUDOS_", extra="forbid")

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Where the cloud keeps its state.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: SQLite in the data directory.",
    )
    host: str = Field(default="127.0.0.1", description="Address the control plane listens on.")
    port: int = Field(
        default=8080, ge=1, le=65535, description="Port of the web interface and API."
    )
    http_port: int = Field(default=80, ge=1, le=65535, description="Router's HTTP port.")
    https_port: int = Field(default=443, ge=1, le=65535, description="Router's HTTPS port.")
    docker_host: str | None = Field(
        default=None, description="Docker engine address; default: DOCKER_HOST or the local socket."
    )
    instance: str | None = Field(
        default=None,
        description="Name of this cloud; stacks it owns carry it. Default: 'cloudos', or "
        "derived from the data directory when that is not the default one.",
    )
    advertise_addr: str | None = Field(
        default=None, description="Address to advertise when this command initializes a swarm."
    )
    endpoint_mode: Literal["auto", "vip", "dnsrr"] = Field(
        default="auto",
        description="How services reach each other: auto detects whether the kernel has IPVS.",
    )
    reconcile_interval: float = Field(
        default=2.0, gt=0, le=300, description="Seconds between reconcile passes."
    )
    addon_timeout: float = Field(
        default=180.0,
        gt=0,
        le=86400,
        description="Seconds an app waits for its addon servers to become healthy before it fails.",
    )
    router: bool = Field(default=True, description="Run the HTTP router (Caddy) for apps.")
    platform_host: str = Field(
        default=DEFAULT_PLATFORM_HOST,
        description="The one host name where the router serves the control plane (sign-in, "
        "API, pages); no space may use it, nor localhost, nor the reserved names next to it.",
    )
    hsts: HstsPolicy = Field(
        default="all",
        description="Which HTTPS answers of the router carry Strict-Transport-Security "
        "(max-age one year) when a route does not say: all, public (public names and the "
        "platform host only, for users who do not trust the internal CA), or off.",
    )
    acme_directory: str = Field(
        default="https://acme-v02.api.letsencrypt.org/directory",
        description="ACME directory for certificates of public domains.",
    )
    acme_email: str | None = Field(default=None, description="Account e-mail for ACME.")
    acme_ca_root: Path | None = Field(
        default=None,
        description="PEM file of an extra CA root the router trusts for the ACME server "
        "(a private ACME CA).",
    )
    host_data_dir: Path | None = Field(
        default=None,
        description="The data directory as the engine's host sees it, when the control "
        "plane runs in a container (set by `cloudos up`).",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body the control plane reads (uploads excepted).",
    )
    max_upload_bytes: int = Field(
        default=64 * 1024**3,
        ge=1024,
        description="Largest upload (an addon dump to restore), streamed, never held whole.",
    )
    control_memory: str = Field(
        default="1G",
        pattern=r"^[1-9][0-9]*[KMGkmg]?$",
        description="Memory limit of the control plane's swarm service (`cloudos up`), "
        "as Docker reads it: bytes or 512M, 2G.",
    )
    log_level: LogLevel = "INFO"

    @field_validator("platform_host")
    @classmethod
    def _platform_host(cls, value: str) -> str:
        try:
            return Platform(host=value).host
        except InvalidInput as err:
            raise ValueError(str(err)) from err

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @property
    def instance_name(self) -> str:
        """The name that marks this cloud's stacks, so clouds side by side never mix."""
        if self.instance:
            return self.instance
        if self.data_dir.resolve() == DEFAULT_DATA_DIR:
            return "cloudos"
        digest = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:8]
        return f"cloudos-{digest}"

    @property
    def platform(self) -> Platform:
        """The platform host and the names it keeps, as the router serves them."""
        return Platform(host=self.platform_host, https_port=self.https_port)

    @property
    def effective_database_url(self) -> str:
        """The database URL in use: the setting, or SQLite in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'cloudos.db'}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from overrides, the environment and the config file."""
    given = {key: value for key, value in overrides.items() if value is not None}
    file_values = _read_config_file(given)
    merged_env = {
        key: value
        for key, value in file_values.items()
        if f"CLOUDOS_{key.upper()}" not in os.environ and key not in given
    }
    try:
        return Settings(**merged_env, **given)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        variable = f"CLOUDOS_{where.upper()}"
        source = f" (from {variable})" if variable in os.environ and where not in given else ""
        raise InvalidInput(f"setting {where}: {first['msg']}{source}") from err


def _read_config_file(given: dict[str, Any]) -> dict[str, Any]:
    explicit = os.environ.get("CLOUDOS_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise InvalidInput(f"config file {path} (from CLOUDOS_CONFIG) does not exist")
    else:
        data_dir = Path(
            given.get("data_dir") or os.environ.get("CLOUDOS_DATA_DIR") or DEFAULT_DATA_DIR
        )
        path = data_dir / "cloudos.toml"
        if not path.is_file():
            return {}
    try:
        with path.open("rb") as handle:
            values = tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise InvalidInput(f"{path}: {err}") from err
    except OSError as err:
        raise InvalidInput(f"{path}: cannot read: {err.strerror}") from err
    unknown = sorted(set(values) - set(Settings.model_fields))
    if unknown:
        raise InvalidInput(f"{path}: unknown setting {unknown[0]!r}")
    return values


__all__ = ["DEFAULT_DATA_DIR", "LogLevel", "Settings", "load_settings"]
