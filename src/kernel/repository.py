"""The model repository: every ``model-settings.json`` found below the models folder.

Two layouts of versions, which may be mixed:

- MLServer: separate folders whose settings share a ``name`` and differ in
  ``parameters.version``.
- Triton: numbered subfolders (``iris/1/``, ``iris/2/``) under a folder with a
  ``model-settings.json``; each version inherits that file, and a version folder may hold its
  own ``model-settings.json`` whose fields override the inherited ones.

A model's ``name`` defaults to its folder's name (for Triton versions, the parent's).
``parameters.uri`` is relative to the folder the version lives in. A file that cannot be read,
has an unknown field or lacks ``implementation`` does not stop the scan: that model version
becomes a ``ModelSource`` with an ``error``, so the kernel reports it as UNAVAILABLE with the
reason while the other models serve.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from kernel.model_settings import ModelSettings

__all__ = ["SETTINGS_FILE", "ModelSource", "scan", "version_key"]

logger = logging.getLogger("kernel.repository")

SETTINGS_FILE: Final = "model-settings.json"

_TOP_FIELDS: Final = frozenset(ModelSettings.__struct_fields__) - {"path"}
_PARAM_FIELDS: Final = frozenset(
    {"uri", "version", "content_type", "format", "environment_path", "environment_tarball", "extra"}
)
#: MLServer model-settings fields kernel accepts without using them.
MLSERVER_IGNORED: Final = frozenset({"warm_workers", "cache_enabled", "description", "task"})
MLSERVER_IGNORED_PARAMS: Final = frozenset(
    {"inference_pool_gid", "autogenerate_inference_pool_gid"}
)

_DIGITS: Final = re.compile(r"(\d+)")


def version_key(version: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key for versions: numbers compare as numbers ("10" after "2", "v10" after "v2");
    the empty version (a model without versions) sorts first."""
    parts = _DIGITS.split(version)
    return tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in parts if p)


@dataclass(frozen=True, slots=True)
class ModelSource:
    """One model version as the repository describes it.

    ``settings`` is ``None`` exactly when ``error`` says why the settings are unusable.
    ``version`` is ``""`` for a model without versions.
    """

    name: str
    version: str
    folder: Path
    settings: ModelSettings | None
    error: str | None = None
    ignored_fields: tuple[str, ...] = field(default=())


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = msgspec.json.decode(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return raw


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Triton version folders override the parent's settings; ``parameters`` merges by key."""
    merged = dict(base)
    for key, value in override.items():
        if key == "parameters" and isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    return merged


def _clean(raw: dict[str, Any], file: Path) -> tuple[dict[str, Any], list[str]]:
    """Drop the MLServer fields kernel does not use; raise on any other unknown field."""
    ignored: list[str] = []
    clean: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _TOP_FIELDS:
            clean[key] = value
        elif key in MLSERVER_IGNORED:
            ignored.append(key)
        else:
            raise ValueError(f"{file}: unknown field {key!r}")
    params = clean.get("parameters")
    if params is None:
        clean.pop("parameters", None)
    elif isinstance(params, dict):
        kept: dict[str, Any] = {}
        for key, value in params.items():
            if key in _PARAM_FIELDS:
                kept[key] = value
            elif key in MLSERVER_IGNORED_PARAMS:
                ignored.append(f"parameters.{key}")
            else:
                raise ValueError(f"{file}: unknown field 'parameters.{key}'")
        if kept.get("extra") is None:
            kept.pop("extra", None)
        clean["parameters"] = kept
    return clean, ignored


def _source(raw: dict[str, Any], folder: Path, file: Path, default_name: str) -> ModelSource:
    name = raw.get("name") or default_name
    params = raw.get("parameters")
    version = params.get("version") if isinstance(params, dict) else None
    version = "" if version is None else str(version)
    if not isinstance(name, str):
        name = default_name
    try:
        clean, ignored = _clean(raw, file)
        clean["name"] = name
        clean["path"] = str(folder)
        if "implementation" not in clean:
            raise ValueError(f"{file}: missing required field 'implementation'")
        settings = msgspec.convert(clean, ModelSettings)
    except ValueError as exc:
        return ModelSource(name, version, folder, None, str(exc))
    except msgspec.ValidationError as exc:
        return ModelSource(name, version, folder, None, f"{file}: {exc}")
    return ModelSource(name, version, folder, settings, None, tuple(ignored))


def _model_folders(root: Path) -> Iterator[Path]:
    """Folders holding a model-settings.json, hidden folders skipped (Kubernetes mounts a
    ``..data`` copy of every file), symlinks followed once."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if SETTINGS_FILE in filenames:
            yield Path(dirpath)


def _sources_in(folder: Path) -> list[ModelSource]:
    file = folder / SETTINGS_FILE
    try:
        raw = _read_json(file)
    except ValueError as exc:
        return [ModelSource(folder.name, "", folder, None, str(exc))]
    numbered = sorted(
        (d for d in folder.iterdir() if d.is_dir() and d.name.isdigit()),
        key=lambda d: int(d.name),
    )
    if not numbered:
        return [_source(raw, folder, file, folder.name)]
    sources = []
    for sub in numbered:
        own = sub / SETTINGS_FILE
        overrides: dict[str, Any] = {}
        if own.is_file():
            try:
                overrides = _read_json(own)
            except ValueError as exc:
                name = raw.get("name") or folder.name
                sources.append(ModelSource(str(name), sub.name, sub, None, str(exc)))
                continue
        own_params = overrides.get("parameters")
        # The folder's number is the version unless the folder's own file says otherwise.
        if not (isinstance(own_params, dict) and "version" in own_params):
            overrides = _merge(overrides, {"parameters": {"version": sub.name}})
        merged = _merge(raw, overrides)
        sources.append(_source(merged, sub, own if own.is_file() else file, folder.name))
    return sources


def scan(root: str | Path) -> list[ModelSource]:
    """Every model version below ``root``, sorted by name then version.

    Two folders describing the same name and version yield one source whose ``error`` names
    both folders. MLServer fields kernel does not use are logged once per scan.
    """
    root = Path(root).absolute()
    if not root.is_dir():
        raise FileNotFoundError(f"models folder {str(root)!r} does not exist")
    by_key: dict[tuple[str, str], ModelSource] = {}
    version_folders: set[Path] = set()
    ignored: dict[str, list[str]] = {}
    for folder in _model_folders(root):
        if folder in version_folders:
            continue  # a Triton version folder, read with its parent
        if folder.name.isdigit() and (folder.parent / SETTINGS_FILE).is_file():
            continue
        for source in _sources_in(folder):
            version_folders.add(source.folder)
            key = (source.name, source.version)
            if key in by_key:
                other = by_key[key].folder
                by_key[key] = ModelSource(
                    source.name,
                    source.version,
                    source.folder,
                    None,
                    f"model {source.name!r} version {source.version!r} is defined twice:"
                    f" in {other} and in {source.folder}",
                )
                continue
            by_key[key] = source
            for name in source.ignored_fields:
                ignored.setdefault(name, []).append(source.name)
    for name, models in sorted(ignored.items()):
        logger.info(
            "model-settings field %r is an MLServer field kernel does not use; ignored (in %s)",
            name,
            ", ".join(sorted(set(models))),
        )
    return sorted(by_key.values(), key=lambda s: (s.name, version_key(s.version)))
