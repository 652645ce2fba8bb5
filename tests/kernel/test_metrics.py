from __future__ import annotations

import re
from pathlib import Path

import pytest
from core_helpers import make_kernel, request, write_model

from kernel.errors import InferenceError, ModelNotReady
from kernel.metrics import Metrics

pytestmark = pytest.mark.anyio


def sample(text: str, line_prefix: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_prefix + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {line_prefix!r} in:\n{text}")


async def test_metrics_after_requests(tmp_path: Path) -> None:
    write_model(tmp_path / "ok", {"implementation": "tagged"})
    write_model(tmp_path / "r", {"implementation": "raising"})
    write_model(tmp_path / "bad", {"implementation": "broken"})
    async with make_kernel(tmp_path) as kernel:
        for _ in range(3):
            await kernel.infer("ok", None, request([1, 2, 3, 4]))
        await kernel.infer("ok", None, request([1, 2, 3, 4]), protocol="grpc")
        with pytest.raises(InferenceError):
            await kernel.infer("r", None, request([1, 2, 3, 4]))
        with pytest.raises(ModelNotReady):
            await kernel.infer("bad", None, request([1, 2, 3, 4]))
        text = kernel.metrics().decode()

    labels = 'model="ok",version="",protocol="rest"'
    assert sample(text, f'kernel_infer_requests_total{{{labels},code="200"}}') == 3
    assert (
        sample(
            text, 'kernel_infer_requests_total{model="ok",version="",protocol="grpc",code="200"}'
        )
        == 1
    )
    assert (
        sample(text, 'kernel_infer_errors_total{model="r",version="",protocol="rest",code="500"}')
        == 1
    )
    assert (
        sample(text, 'kernel_infer_errors_total{model="bad",version="",protocol="rest",code="503"}')
        == 1
    )
    assert 'kernel_infer_errors_total{model="ok"' not in text
    assert sample(text, f"kernel_infer_duration_seconds_count{{{labels}}}") == 3
    assert sample(text, f'kernel_infer_duration_seconds_bucket{{{labels},le="+Inf"}}') == 3
    assert sample(text, f"kernel_infer_duration_seconds_sum{{{labels}}}") > 0
    assert sample(text, 'kernel_model_state{model="ok",version="",state="READY"}') == 1
    assert sample(text, 'kernel_model_state{model="bad",version="",state="UNAVAILABLE"}') == 1
    assert sample(text, 'kernel_model_state{model="bad",version="",state="READY"}') == 0
    assert sample(text, 'kernel_model_load_seconds{model="ok",version=""}') >= 0
    assert 'kernel_model_load_seconds{model="bad"' not in text
    for name, kind in (
        ("kernel_infer_requests_total", "counter"),
        ("kernel_infer_errors_total", "counter"),
        ("kernel_infer_duration_seconds", "histogram"),
        ("kernel_model_load_seconds", "gauge"),
        ("kernel_model_state", "gauge"),
    ):
        assert f"# TYPE {name} {kind}" in text


def test_histogram_buckets_are_cumulative_and_labels_escaped() -> None:
    metrics = Metrics()
    for seconds in (0.0001, 0.0005, 0.003, 20.0):
        metrics.record_infer('we"ird\\name', "1", "rest", 200, seconds)
    text = metrics.render().decode()
    labels = 'model="we\\"ird\\\\name",version="1",protocol="rest"'
    assert sample(text, f'kernel_infer_duration_seconds_bucket{{{labels},le="0.0005"}}') == 2
    assert sample(text, f'kernel_infer_duration_seconds_bucket{{{labels},le="0.005"}}') == 3
    assert sample(text, f'kernel_infer_duration_seconds_bucket{{{labels},le="10"}}') == 3
    assert sample(text, f'kernel_infer_duration_seconds_bucket{{{labels},le="+Inf"}}') == 4
    # Every sample line parses as name{labels} value.
    sample_line = re.compile(r"^[a-z_]+(\{.*\})? [0-9.e+-]+$")
    for line in text.splitlines():
        assert line.startswith("#") or sample_line.match(line), line
