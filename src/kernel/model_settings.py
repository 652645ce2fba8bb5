"""``model-settings.json``: what a model folder says about the model in it.

The layout is MLServer's, so an MLServer model repository loads unchanged. Fields that MLServer
has and kernel does not use are accepted (the loader logs them once); anything else is an error
that names the field, because a typo must not pass silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from msgspec import Struct

from protocol.messages import MetadataTensor

__all__ = ["ModelParameters", "ModelSettings"]


class ModelParameters(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``model-settings.json`` ``parameters``.

    ``uri`` is relative to the model folder. ``extra`` holds runtime options; each runtime
    documents the keys it reads.
    """

    uri: str | None = None
    version: str | None = None
    content_type: str | None = None
    format: str | None = None
    environment_path: str | None = None
    environment_tarball: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class ModelSettings(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One model version's settings, resolved against its folder.

    ``path`` is the absolute folder the settings were read from (for Triton-style numbered
    version folders, the version folder). ``implementation`` is what the file said; the kernel
    resolves it through the plugin registry.
    """

    name: str
    implementation: str
    path: str
    parameters: ModelParameters = msgspec.field(default_factory=ModelParameters)
    inputs: list[MetadataTensor] = msgspec.field(default_factory=list)
    outputs: list[MetadataTensor] = msgspec.field(default_factory=list)
    platform: str = ""
    versions: list[str] = msgspec.field(default_factory=list)
    max_batch_size: int = 0
    max_batch_time: float = 0.0
    parallel_workers: int | None = None
    #: Seconds a request to this model may take before the caller gets a timeout error
    #: (0: no limit). Enforced for models in worker processes (``kernel.workers``).
    request_timeout: float = 0.0

    @property
    def version(self) -> str | None:
        return self.parameters.version

    @property
    def extra(self) -> dict[str, Any]:
        return self.parameters.extra

    def resolve_uri(self, *default_names: str, search_folder: bool = False) -> Path:
        """The model artefact: ``parameters.uri`` (relative to the folder), else the first of
        ``default_names`` that exists in the folder, else the folder itself.

        With ``search_folder=True`` the artefact is a file: when that path is a folder (a
        ``uri`` naming a folder of model files), the first of ``default_names`` that is a file
        inside it. Without, a folder is returned as it is (for models saved as folders).

        Raises ``FileNotFoundError`` naming what was looked for when nothing exists.
        """
        path = self._resolve(default_names)
        if search_folder and default_names and path.is_dir():
            for name in default_names:
                if (path / name).is_file():
                    return path / name
            raise FileNotFoundError(
                f"model {self.name!r}: no model file in {str(path)!r}"
                f" (looked for {', '.join(default_names)})"
            )
        return path

    def _resolve(self, default_names: tuple[str, ...]) -> Path:
        folder = Path(self.path)
        if self.parameters.uri:
            candidate = Path(self.parameters.uri)
            if not candidate.is_absolute():
                candidate = folder / candidate
            if not candidate.exists():
                raise FileNotFoundError(
                    f"model {self.name!r}: uri {str(candidate)!r} does not exist"
                )
            return candidate
        for name in default_names:
            candidate = folder / name
            if candidate.exists():
                return candidate
        if default_names:
            looked = ", ".join(default_names)
            raise FileNotFoundError(
                f"model {self.name!r}: no model file in {str(folder)!r} (looked for {looked};"
                " set parameters.uri to name another)"
            )
        return folder
