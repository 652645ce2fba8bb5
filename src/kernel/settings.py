"""Server settings: one frozen Struct, read from a file, the environment and the command line.

Sources, lowest precedence first: ``MODELS_DIR/settings.json``, the file given with
``--settings``, environment variables ``KERNEL_<FIELD>`` (``KERNEL_HTTP_PORT=9000``), then
command-line flags. An MLServer ``settings.json`` loads unchanged: fields with the same meaning
map onto kernel's, fields kernel does not use are accepted and logged once, and any other field
is a ``SettingsError`` that names it and the file, because a typo must not pass silently.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta, Struct

from kernel import affinity
from kernel.errors import SettingsError

__all__ = ["ENV_PREFIX", "ServerSettings", "available_cores", "load_settings"]

logger = logging.getLogger("kernel.settings")

ENV_PREFIX: Final = "KERNEL_"

#: Room for a 100 MB tensor plus the JSON header and framing.
DEFAULT_MAX_REQUEST_SIZE: Final = 128 * 1024 * 1024

Port = Annotated[int, Meta(ge=0, le=65535)]


def available_cores() -> int:
    """The cores' worth of CPU this process may use: its affinity mask (not the machine's
    count), bounded by a container's CPU limit (a cgroup quota, rounded up)."""
    return affinity.usable_cores()


class ServerSettings(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Server-wide settings.

    A port of 0 turns that transport off. ``strict_readiness`` makes ``/v2/health/ready`` wait
    for every model to be READY (Triton's rule); when false, it waits only until every model has
    finished loading, successfully or not.
    """

    host: str = "0.0.0.0"
    http_port: Port = 8080
    grpc_port: Port = 8081
    #: Largest request body (REST) or message (gRPC) accepted, in bytes.
    max_request_size: Annotated[int, Meta(gt=0)] = DEFAULT_MAX_REQUEST_SIZE
    #: Seconds to let requests in flight finish on shutdown (and before an old model version
    #: is unloaded after a reload or unload).
    graceful_timeout: Annotated[float, Meta(ge=0)] = 30.0
    strict_readiness: bool = True
    #: Server processes sharing the ports, each with its own copy of the models (default:
    #: the cores this process may run on, within a container's CPU limit); 1 serves from the
    #: ``kernel serve`` process alone.
    workers: Annotated[int, Meta(ge=1)] = msgspec.field(default_factory=available_cores)
    #: Threads running runtime load/predict/unload; 0 picks a default from the CPU count.
    executor_threads: Annotated[int, Meta(ge=0)] = 0
    model_repository_root: str = "."
    log_level: str = "INFO"
    server_name: str = "kernel"
    server_version: str = ""
    metrics: bool = True
    #: The server running the REST app: hypercorn (default; HTTP/1.1 and HTTP/2), or uvicorn
    #: with httptools (the ``kernel[uvicorn]`` extra; HTTP/1.1 only, several times less CPU
    #: per request). See docs/serving.md.
    http_server: Literal["hypercorn", "uvicorn"] = "hypercorn"
    #: Which core each server process runs on: ``auto`` gives each its own core when there are
    #: exactly as many processes as cores, ``on`` always pins (round robin), ``off`` never.
    #: See ``kernel.affinity`` and docs/serving.md.
    cpu_affinity: Literal["auto", "on", "off"] = "auto"


_FIELDS: Final = frozenset(ServerSettings.__struct_fields__)

#: The allowed values of each field typed as a ``Literal``, for error messages (msgspec's says
#: only "Invalid enum value").
_CHOICES: Final = {
    name: get_args(hint)
    for name, hint in get_type_hints(ServerSettings).items()
    if get_origin(hint) is Literal
}

#: MLServer settings.json fields whose meaning kernel shares, under kernel's name.
MLSERVER_ALIASES: Final[Mapping[str, str]] = {
    "grpc_max_message_length": "max_request_size",
}

#: MLServer settings.json fields kernel accepts and does not use.
MLSERVER_IGNORED: Final = frozenset(
    {
        "debug",
        "parallel_workers",
        "parallel_workers_timeout",
        "environments_dir",
        "model_repository_implementation",
        "model_repository_implementation_args",
        "load_models_at_startup",
        "extensions",
        "root_path",
        "cors_settings",
        "metrics_endpoint",
        "metrics_port",
        "metrics_rest_server_prefix",
        "metrics_dir",
        "use_structured_logging",
        "logging_settings",
        "kafka_enabled",
        "kafka_servers",
        "kafka_topic_input",
        "kafka_topic_output",
        "tracing_server",
        "cache_enabled",
        "cache_size",
        "gzip_enabled",
    }
)

#: KERNEL_* variables that are not settings fields (read by the plugin loader).
_OTHER_ENV: Final = frozenset({"PLUGINS", "BLOCK_PLUGINS", "DISABLE_PLUGIN_AUTOLOAD"})


def _validate(layer: dict[str, Any], source: str) -> None:
    """Check one source's values on their own, so an error names the source it came from."""
    try:
        msgspec.convert(layer, ServerSettings, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        for name, choices in _CHOICES.items():
            if message.endswith(f"`$.{name}`"):
                message += f" (expected one of: {', '.join(map(str, choices))})"
        raise SettingsError(f"{source}: {message}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = msgspec.json.decode(path.read_bytes())
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read settings file: {exc.strerror}") from None
    except msgspec.DecodeError as exc:
        raise SettingsError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: settings must be a JSON object")
    layer: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in raw.items():
        if key in _FIELDS:
            layer[key] = value
        elif key in MLSERVER_ALIASES:
            if value is not None:
                layer[MLSERVER_ALIASES[key]] = value
        elif key in MLSERVER_IGNORED:
            ignored.append(key)
        else:
            known = ", ".join(sorted(_FIELDS))
            raise SettingsError(f"{path}: unknown field {key!r} (kernel's fields: {known})")
    if ignored:
        logger.info(
            "%s: MLServer settings kernel does not use, ignored: %s", path, ", ".join(ignored)
        )
    _validate(layer, str(path))
    return layer


def _read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        field = key[len(ENV_PREFIX) :].lower()
        if field in _FIELDS:
            layer[field] = value
            _validate({field: value}, f"environment variable {key}")
        elif field.upper() not in _OTHER_ENV:
            # Other tools may use the prefix too; say so rather than fail.
            logger.warning("environment variable %s is not a kernel setting; ignored", key)
    return layer


def load_settings(
    models_dir: str | Path | None = None,
    *,
    settings_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServerSettings:
    """Build the server settings from every source, lowest precedence first.

    ``models_dir`` also becomes ``model_repository_root`` unless a later source sets it.
    ``overrides`` are command-line values (``None`` values are skipped). Raises
    ``SettingsError`` naming the file, variable or flag that was wrong.
    """
    merged: dict[str, Any] = {}
    if models_dir is not None:
        merged["model_repository_root"] = str(models_dir)
        default_file = Path(models_dir) / "settings.json"
        if default_file.is_file():
            merged.update(_read_file(default_file))
    if settings_file is not None:
        merged.update(_read_file(Path(settings_file)))
    if environ is not None:
        merged.update(_read_env(environ))
    if overrides:
        flags = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(flags) - _FIELDS)
        if unknown:
            raise SettingsError(f"unknown setting(s) {', '.join(unknown)}")
        _validate(flags, "command line")
        merged.update(flags)
    try:
        return msgspec.convert(merged, ServerSettings, strict=False)
    except msgspec.ValidationError as exc:  # pragma: no cover - every layer was checked
        raise SettingsError(str(exc)) from None
