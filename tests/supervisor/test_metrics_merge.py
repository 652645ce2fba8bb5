"""Merging the metrics of several server processes into the whole server's exposition."""

from __future__ import annotations

from kernel.metrics import Metrics, merge_snapshots


def _value(text: str, prefix: str) -> float:
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, lines
    return float(lines[0].rsplit(" ", 1)[1])


def test_counters_and_histograms_add_up_and_gauges_take_the_worst() -> None:
    first, second = Metrics(), Metrics()
    for seconds in (0.0001, 0.002, 0.3):
        first.record_infer("iris", "", "rest", 200, seconds)
    second.record_infer("iris", "", "rest", 200, 0.002)
    second.record_infer("iris", "", "grpc", 400, 0.0001)
    text = merge_snapshots(
        [
            first.snapshot([("iris", "", "READY", 0.5)]),
            second.snapshot([("iris", "", "LOADING", 1.25)]),
        ]
    ).decode()
    requests = 'kernel_infer_requests_total{model="iris",version="",protocol='
    assert _value(text, requests + '"rest",code="200"}') == 4
    assert _value(text, requests + '"grpc",code="400"}') == 1
    assert _value(text, 'kernel_infer_errors_total{model="iris",version="",protocol="grpc"') == 1
    bucket = 'kernel_infer_duration_seconds_bucket{model="iris",version="",protocol="rest",'
    assert _value(text, bucket + 'le="0.0005"}') == 1
    assert _value(text, bucket + 'le="0.0025"}') == 3
    assert _value(text, bucket + 'le="+Inf"}') == 4
    count = 'kernel_infer_duration_seconds_count{model="iris",version="",protocol="rest"}'
    assert _value(text, count) == 4
    total = 'kernel_infer_duration_seconds_sum{model="iris",version="",protocol="rest"}'
    assert abs(_value(text, total) - (0.0001 + 0.002 + 0.3 + 0.002)) < 1e-12
    # One process still loading: the server's model is LOADING, not READY.
    state = 'kernel_model_state{model="iris",version="",state='
    assert _value(text, state + '"LOADING"}') == 1
    assert _value(text, state + '"READY"}') == 0
    assert _value(text, 'kernel_model_load_seconds{model="iris",version=""}') == 1.25


def test_one_snapshot_renders_as_that_process_does() -> None:
    metrics = Metrics()
    metrics.record_infer("m", "1", "rest", 200, 0.01)
    models = [("m", "1", "READY", 0.1)]
    assert merge_snapshots([metrics.snapshot(models)]) == metrics.render(models)
