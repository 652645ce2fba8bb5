"""The ``workers`` setting: the cores available by default, overridable everywhere."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from kernel.affinity import cpu_quota
from kernel.errors import SettingsError
from kernel.settings import load_settings


def test_default_is_the_cores_this_process_may_use(tmp_path: Path) -> None:
    # Its affinity mask, within a container's CPU limit (test_cpu_affinity.py has the limit).
    quota = cpu_quota()
    cores = len(os.sched_getaffinity(0))
    expected = cores if quota is None else min(cores, max(1, math.ceil(quota)))
    assert load_settings(tmp_path).workers == expected


def test_flag_environment_and_file_set_it(tmp_path: Path) -> None:
    (tmp_path / "settings.json").write_text('{"workers": 3}')
    assert load_settings(tmp_path).workers == 3
    assert load_settings(tmp_path, environ={"KERNEL_WORKERS": "5"}).workers == 5
    assert load_settings(tmp_path, overrides={"workers": 1}).workers == 1


def test_zero_workers_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="workers"):
        load_settings(tmp_path, overrides={"workers": 0})
