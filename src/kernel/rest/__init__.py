"""The REST transport (starlette, served by hypercorn): ``build_app(data, control, settings)``."""

from __future__ import annotations

from kernel.rest.app import RestSettings, build_app

__all__ = ["RestSettings", "build_app"]
