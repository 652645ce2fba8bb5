from __future__ import annotations

import logging
from pathlib import Path

import pytest
from core_helpers import write_model

from kernel.repository import scan, version_key


def test_name_defaults_to_folder_and_path_is_absolute(tmp_path: Path) -> None:
    write_model(tmp_path / "iris", {"implementation": "sklearn"})
    (source,) = scan(tmp_path)
    assert source.name == "iris"
    assert source.version == ""
    assert source.settings is not None
    assert source.settings.path == str(tmp_path / "iris")
    assert Path(source.settings.path).is_absolute()


def test_mlserver_layout_shares_name(tmp_path: Path) -> None:
    for folder, version in (("iris-a", "v1"), ("iris-b", "v2")):
        write_model(
            tmp_path / folder,
            {"name": "iris", "implementation": "x", "parameters": {"version": version}},
        )
    sources = scan(tmp_path)
    assert [(s.name, s.version, s.folder.name) for s in sources] == [
        ("iris", "v1", "iris-a"),
        ("iris", "v2", "iris-b"),
    ]


def test_triton_layout_inherits_and_overrides(tmp_path: Path) -> None:
    root = write_model(
        tmp_path / "iris",
        {"implementation": "sklearn", "parameters": {"uri": "model.joblib", "extra": {"a": 1}}},
    )
    for v in ("1", "2", "10"):
        (root / v).mkdir()
    write_model(root / "2", {"parameters": {"extra": {"a": 2}}, "max_batch_size": 8})
    (root / "notes").mkdir()  # not a version folder
    sources = scan(tmp_path)
    assert [s.version for s in sources] == ["1", "2", "10"]
    by_version = {s.version: s for s in sources}
    v2 = by_version["2"].settings
    assert v2 is not None
    assert v2.name == "iris"
    assert v2.path == str(root / "2")
    assert v2.parameters.uri == "model.joblib"  # inherited
    assert v2.extra == {"a": 2}  # overridden
    assert v2.max_batch_size == 8
    v10 = by_version["10"].settings
    assert v10 is not None
    assert v10.extra == {"a": 1}
    assert v10.version == "10"
    # uri is relative to the version folder
    (root / "10" / "model.joblib").write_bytes(b"")
    assert v10.resolve_uri() == root / "10" / "model.joblib"


def test_version_order_is_numeric() -> None:
    versions = ["10", "2", "1", "v10", "v2", ""]
    assert sorted(versions, key=version_key) == ["", "v2", "v10", "1", "2", "10"]
    assert version_key("10") > version_key("9")


def test_unknown_field_fails_only_that_model(tmp_path: Path) -> None:
    write_model(tmp_path / "good", {"implementation": "x"})
    write_model(tmp_path / "typo", {"implementation": "x", "paramters": {}})
    write_model(tmp_path / "typo2", {"implementation": "x", "parameters": {"ur": "m"}})
    write_model(tmp_path / "noimpl", {"name": "noimpl"})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model-settings.json").write_text("{not json")
    sources = {s.name: s for s in scan(tmp_path)}
    assert sources["good"].error is None
    assert "unknown field 'paramters'" in (sources["typo"].error or "")
    assert "unknown field 'parameters.ur'" in (sources["typo2"].error or "")
    assert "implementation" in (sources["noimpl"].error or "")
    assert "not valid JSON" in (sources["broken"].error or "")
    assert all(sources[n].settings is None for n in ("typo", "typo2", "noimpl", "broken"))


def test_mlserver_fields_accepted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("a", "b"):
        write_model(
            tmp_path / name,
            {
                "implementation": "mlserver_sklearn.SKLearnModel",
                "warm_workers": True,
                "parallel_workers": 2,
                "parameters": {"inference_pool_gid": "g", "extra": None},
            },
        )
    with caplog.at_level(logging.INFO, "kernel.repository"):
        sources = scan(tmp_path)
    assert all(s.error is None for s in sources), [s.error for s in sources]
    assert sources[0].settings is not None
    assert sources[0].settings.parallel_workers == 2
    messages = [r.getMessage() for r in caplog.records]
    assert sum("'warm_workers'" in m for m in messages) == 1
    assert sum("inference_pool_gid" in m for m in messages) == 1


def test_same_name_and_version_twice_is_an_error(tmp_path: Path) -> None:
    for folder in ("one", "two"):
        write_model(tmp_path / folder, {"name": "m", "implementation": "x"})
    (source,) = scan(tmp_path)
    assert source.error is not None
    assert "defined twice" in source.error
    assert "one" in source.error
    assert "two" in source.error


def test_nested_folders_and_hidden_skipped(tmp_path: Path) -> None:
    write_model(tmp_path / "team" / "fraud", {"implementation": "x"})
    write_model(tmp_path / "..data" / "fraud", {"implementation": "x"})
    assert [s.name for s in scan(tmp_path)] == ["fraud"]


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan(tmp_path / "nope")
