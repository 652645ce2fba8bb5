"""Where the model is: a local folder holding ``MLmodel``, or an MLflow URI downloaded to one;
and whether the packages the model recorded match the ones installed here."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import SettingsError
from kernel.model_settings import ModelSettings

__all__ = ["ModelSource", "locate", "remove_download", "requirement_mismatches"]

logger = logging.getLogger("kernel_mlflow")

#: URIs MLflow resolves through a tracking server or registry.
_TRACKED = ("runs:/", "models:/")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


@dataclass(frozen=True, slots=True)
class ModelSource:
    """The local model folder and, when it was downloaded, the temporary folder to remove."""

    path: Path
    download: Path | None = None


def _tracking_uri(settings: ModelSettings) -> str | None:
    value = settings.extra.get("tracking_uri")
    if value is not None and not isinstance(value, str):
        raise SettingsError(
            f"model {settings.name!r}: parameters.extra.tracking_uri must be a string"
        )
    return value or os.environ.get("MLFLOW_TRACKING_URI") or None


#: Serialises the swaps of MLflow's process-wide tracking and registry URIs.
_URI_LOCK = threading.Lock()
_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextlib.contextmanager
def _mlflow_uris(tracking: str | None, registry: str | None) -> Iterator[None]:
    """Point MLflow's process-wide URIs at ``tracking`` and ``registry`` for one download.

    ``download_artifacts(tracking_uri=..., registry_uri=...)`` does not reach every lookup:
    MLflow resolves ``models:/name@alias`` and ``models:/name/version`` with the global
    registry URI. So the globals are swapped under a lock and restored afterwards, with the
    environment variables ``set_tracking_uri`` rewrites.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils

    # ``set_tracking_uri`` takes None (back to the default) though its annotation says not.
    tracking_utils: Any = importlib.import_module("mlflow.tracking._tracking_service.utils")

    with _URI_LOCK:
        old_tracking = tracking_utils._tracking_uri
        old_registry = registry_utils._registry_uri
        old_environ = {name: os.environ.get(name) for name in _URI_VARIABLES}
        tracking_utils.set_tracking_uri(tracking)
        mlflow.set_registry_uri(registry or tracking or "")
        try:
            yield
        finally:
            tracking_utils.set_tracking_uri(old_tracking)
            registry_utils._registry_uri = old_registry
            for name, value in old_environ.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _download(settings: ModelSettings, uri: str) -> ModelSource:
    import mlflow.artifacts

    tracking = _tracking_uri(settings)
    if uri.startswith(_TRACKED) and tracking is None:
        raise SettingsError(
            f"model {settings.name!r}: {uri!r} needs a tracking URI: set"
            " parameters.extra.tracking_uri or MLFLOW_TRACKING_URI"
        )
    registry = settings.extra.get("registry_uri") or tracking
    target = Path(tempfile.mkdtemp(prefix="kernel-mlflow-"))
    try:
        with _mlflow_uris(tracking, registry):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, dst_path=str(target), tracking_uri=tracking, registry_uri=registry
            )
    except Exception:
        _remove(target)
        raise
    return ModelSource(Path(local), target)


def locate(settings: ModelSettings) -> ModelSource:
    """The folder holding the model's ``MLmodel``: ``parameters.uri`` when it is an MLflow URI
    (``runs:/``, ``models:/``, ``s3://``, ...) downloaded to a temporary folder, else the local
    folder ``parameters.uri`` names (relative to the model folder), else the model folder."""
    uri = settings.parameters.uri
    if uri and uri.startswith("file:"):
        from urllib.parse import urlparse

        return _checked(settings, ModelSource(Path(urlparse(uri).path)))
    if uri and _SCHEME.match(uri):
        return _checked(settings, _download(settings, uri))
    return _checked(settings, ModelSource(settings.resolve_uri()))


def _checked(settings: ModelSettings, source: ModelSource) -> ModelSource:
    if not (source.path / "MLmodel").is_file():
        if source.download is not None:
            _remove(source.download)
        raise SettingsError(
            f"model {settings.name!r}: no MLmodel file in {str(source.path)!r}; point"
            " parameters.uri at the folder MLflow saved (the one holding MLmodel)"
        )
    return source


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def remove_download(source: ModelSource) -> None:
    """Delete what ``locate`` downloaded (nothing for a local folder)."""
    if source.download is not None:
        _remove(source.download)


def _installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or of the one that provides the module
    of that name (``xgboost`` is also shipped as ``xgboost-cpu``)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pass
    module = name.replace("-", "_").lower()
    for dist in importlib.metadata.packages_distributions().get(module, []):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def requirement_mismatches(folder: Path) -> list[str]:
    """``"name==wanted (installed X)"`` for each line of the model's ``requirements.txt`` the
    installed packages do not satisfy (``not installed`` for missing ones)."""
    from packaging.requirements import InvalidRequirement, Requirement

    path = folder / "requirements.txt"
    if not path.is_file():
        return []
    problems = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if not text or text.startswith("-"):
            continue  # blank, comment, or a pip option (-r, -c, --index-url)
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        installed = _installed_version(requirement.name)
        if installed is None:
            problems.append(f"{text} (not installed)")
            continue
        if requirement.specifier and not requirement.specifier.contains(
            installed, prereleases=True
        ):
            problems.append(f"{text} (installed {installed})")
    return problems
