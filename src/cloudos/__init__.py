"""Cloud OS: a self-hosted cloud operating system on Docker Swarm."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cloudos")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
