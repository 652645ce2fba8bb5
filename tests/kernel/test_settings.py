from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kernel.errors import SettingsError
from kernel.settings import DEFAULT_MAX_REQUEST_SIZE, ServerSettings, load_settings


def test_defaults() -> None:
    settings = ServerSettings()
    assert (settings.host, settings.http_port, settings.grpc_port) == ("0.0.0.0", 8080, 8081)
    assert settings.strict_readiness
    assert settings.max_request_size >= 100 * 1024 * 1024 + 1024
    assert settings.max_request_size == DEFAULT_MAX_REQUEST_SIZE


def test_precedence_file_then_env_then_flags(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text(
        json.dumps({"http_port": 1000, "grpc_port": 2000, "host": "127.0.0.1", "workers": 3})
    )
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({"workers": 4, "graceful_timeout": 5}))
    settings = load_settings(
        tmp_path,
        settings_file=extra,
        environ={"KERNEL_HTTP_PORT": "1001", "KERNEL_GRPC_PORT": "2001", "PATH": "/bin"},
        overrides={"http_port": 1002, "host": None},
    )
    assert settings.http_port == 1002  # flag beats env
    assert settings.grpc_port == 2001  # env beats file
    assert settings.host == "127.0.0.1"  # a flag left out changes nothing
    assert settings.workers == 4  # --settings file beats MODELS_DIR/settings.json
    assert settings.graceful_timeout == 5.0
    assert settings.model_repository_root == str(tmp_path)


def test_env_values_are_parsed(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path, environ={"KERNEL_STRICT_READINESS": "false", "KERNEL_GRACEFUL_TIMEOUT": "2.5"}
    )
    assert settings.strict_readiness is False
    assert settings.graceful_timeout == 2.5


def test_unknown_field_names_field_and_file(tmp_path: Path) -> None:
    file = tmp_path / "settings.json"
    file.write_text(json.dumps({"http_prot": 9000}))
    with pytest.raises(SettingsError, match="http_prot") as info:
        load_settings(tmp_path, environ={})
    assert str(file) in str(info.value)


def test_bad_value_names_its_source(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="KERNEL_HTTP_PORT"):
        load_settings(tmp_path, environ={"KERNEL_HTTP_PORT": "eighty"})
    with pytest.raises(SettingsError, match="command line"):
        load_settings(tmp_path, environ={}, overrides={"grpc_port": 70000})


def test_mlserver_settings_json_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "settings.json").write_text(
        json.dumps(
            {
                "debug": True,
                "http_port": 9080,
                "grpc_port": 9081,
                "model_repository_root": "/models",
                "grpc_max_message_length": 1000,
                "parallel_workers": 0,
                "metrics_port": 8082,
                "server_name": "mlserver",
            }
        )
    )
    with caplog.at_level(logging.INFO, "kernel.settings"):
        settings = load_settings(tmp_path, environ={})
    assert (settings.http_port, settings.grpc_port) == (9080, 9081)
    assert settings.model_repository_root == "/models"
    assert settings.max_request_size == 1000
    assert settings.server_name == "mlserver"
    ignored = [r.getMessage() for r in caplog.records if "does not use" in r.getMessage()]
    assert len(ignored) == 1
    assert "debug" in ignored[0]
    assert "parallel_workers" in ignored[0]


def test_invalid_json_and_non_object(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text("{")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_settings(tmp_path, environ={})
    (tmp_path / "settings.json").write_text("[]")
    with pytest.raises(SettingsError, match="JSON object"):
        load_settings(tmp_path, environ={})


def test_port_zero_is_allowed(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={}, overrides={"grpc_port": 0})
    assert settings.grpc_port == 0


def test_unknown_kernel_env_var_is_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "kernel.settings"):
        settings = load_settings(
            tmp_path, environ={"KERNEL_HTTP_PROT": "1", "KERNEL_PLUGINS": "sklearn"}
        )
    assert settings.http_port == 8080
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "KERNEL_HTTP_PROT" in messages[0]
