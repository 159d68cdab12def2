"""Tests that restart shared parts (the engine): collected last, after every other folder."""

from tests.e2e.conftest import built_images, control_plane

__all__ = ["built_images", "control_plane"]
