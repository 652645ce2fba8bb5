"""The ``workers`` setting: the cores available by default, overridable everywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kernel.errors import SettingsError
from kernel.settings import load_settings


def test_default_is_the_cores_this_process_may_use(tmp_path: Path) -> None:
    assert load_settings(tmp_path).workers == len(os.sched_getaffinity(0))


def test_flag_environment_and_file_set_it(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text('{"workers": 3}')
    assert load_settings(tmp_path).workers == 3
    assert load_settings(tmp_path, environ={"KERNEL_WORKERS": "5"}).workers == 5
    assert load_settings(tmp_path, overrides={"workers": 1}).workers == 1


def test_zero_workers_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="workers"):
        load_settings(tmp_path, overrides={"workers": 0})
