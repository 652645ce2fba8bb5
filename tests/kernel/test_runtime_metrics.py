"""Runtime metrics: declaring, recording from threads, the text exposition, and the relay of a
worker process's recordings (drain, msgpack, apply) with a real second interpreter."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import msgspec
import pytest

from kernel.metrics import Metrics, MetricsSnapshot, merge_snapshots
from kernel.metrics_store import CustomMetrics, MetricsDelta, custom_metrics
from kernel.model_settings import ModelParameters, ModelSettings
from kernel.runtime import Runtime
from kernel.runtime_metrics import MetricError, ModelMetrics


def lines_of(store: CustomMetrics) -> list[str]:
    out: list[str] = []
    store.render(out)
    return out


def value(lines: list[str], series: str) -> float:
    found = [line for line in lines if line.startswith(series + " ")]
    assert len(found) == 1, (series, lines)
    return float(found[0].rsplit(" ", 1)[1])


def test_each_kind_renders_with_help_type_and_model_labels() -> None:
    store = CustomMetrics()
    metrics = ModelMetrics("cd", "2", store)
    drifts = metrics.counter("drift_total", "Batches found\ndrifting.", labels=("kind",))
    drifts.inc(kind="feature")
    drifts.inc(2, kind="feature")
    drifts.inc(0.5, kind='we"ird')
    p_value = metrics.gauge("p_value", "Last p-value.")
    p_value.set(0.25)
    p_value.set(0.03)
    scores = metrics.histogram("score", "Outlier scores.", buckets=(0.5, 1.0))
    for x in (0.1, 0.5, 0.7, 3.0):
        scores.observe(x)
    assert drifts.name == "kernel_runtime_drift_total"
    out = lines_of(store)
    assert "# HELP kernel_runtime_drift_total Batches found\\ndrifting." in out
    assert "# TYPE kernel_runtime_drift_total counter" in out
    assert value(out, 'kernel_runtime_drift_total{model="cd",version="2",kind="feature"}') == 3
    assert value(out, 'kernel_runtime_drift_total{model="cd",version="2",kind="we\\"ird"}') == 0.5
    assert "# TYPE kernel_runtime_p_value gauge" in out
    assert value(out, 'kernel_runtime_p_value{model="cd",version="2"}') == 0.03
    assert "# TYPE kernel_runtime_score histogram" in out
    bucket = 'kernel_runtime_score_bucket{model="cd",version="2",le='
    assert value(out, bucket + '"0.5"}') == 2  # le: 0.5 counts in the 0.5 bucket
    assert value(out, bucket + '"1"}') == 3
    assert value(out, bucket + '"+Inf"}') == 4
    assert value(out, 'kernel_runtime_score_count{model="cd",version="2"}') == 4
    assert value(out, 'kernel_runtime_score_sum{model="cd",version="2"}') == pytest.approx(4.3)
    # HELP and TYPE come once, right before their metric's samples.
    assert out.index("# TYPE kernel_runtime_score histogram") + 1 == out.index(bucket + '"0.5"} 2')


def test_a_metric_without_series_is_not_rendered() -> None:
    store = CustomMetrics()
    ModelMetrics("m", "", store).counter("unused_total", "Never counted.")
    assert lines_of(store) == []
    assert store.drain() is None


def test_declaring_again_gives_the_same_metric_and_differently_is_an_error() -> None:
    store = CustomMetrics()
    one, two = ModelMetrics("a", "", store), ModelMetrics("b", "1", store)
    one.counter("seen_total", "Seen.", labels=("kind",)).inc(kind="x")
    two.counter("seen_total", "Seen.", labels=("kind",)).inc(3, kind="x")
    out = lines_of(store)
    assert value(out, 'kernel_runtime_seen_total{model="a",version="",kind="x"}') == 1
    assert value(out, 'kernel_runtime_seen_total{model="b",version="1",kind="x"}') == 3
    with pytest.raises(MetricError, match="'seen_total' is already declared as a counter"):
        one.gauge("seen_total", "Seen.", labels=("kind",))
    with pytest.raises(MetricError, match=r"'seen_total'.*labels"):
        one.counter("seen_total", "Seen.", labels=("kind", "other"))
    one.histogram("lat", "Latency.", buckets=(1.0, 2.0))
    with pytest.raises(MetricError, match=r"'lat'.*buckets"):
        one.histogram("lat", "Latency.", buckets=(1.0, 3.0))
    with pytest.raises(MetricError, match="'lat_count' clashes with the series of the histogram"):
        one.counter("lat_count", "Count.")
    one.gauge("size_sum", "A sum.")
    with pytest.raises(MetricError, match="histogram 'size' would write 'size_sum'"):
        one.histogram("size", "Sizes.")


@pytest.mark.parametrize("name", ["", "1abc", "drift-total", "__private", "a:b", "é"])
def test_names_follow_the_prometheus_grammar(name: str) -> None:
    with pytest.raises(MetricError, match="not a valid Prometheus name"):
        ModelMetrics("m", "", CustomMetrics()).counter(name, "Help.")


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (("model",), "the label 'model' is reserved"),
        (("version",), "the label 'version' is reserved"),
        (("le",), "the label 'le' is reserved"),
        (("a", "a"), "a label is repeated"),
        (("bad-label",), "label 'bad-label' is not a valid"),
        ("kind", "labels must be a sequence of names, not a str"),
    ],
)
def test_label_names_are_checked(labels: tuple[str, ...], message: str) -> None:
    with pytest.raises(MetricError, match=message):
        ModelMetrics("m", "", CustomMetrics()).gauge("g", "Gauge.", labels=labels)


def test_bad_buckets_and_bad_values_name_the_metric() -> None:
    metrics = ModelMetrics("m", "", CustomMetrics())
    with pytest.raises(MetricError, match="histogram 'h': buckets must increase"):
        metrics.histogram("h", "H.", buckets=(1.0, 1.0))
    with pytest.raises(MetricError, match="histogram 'h': buckets must be finite"):
        metrics.histogram("h", "H.", buckets=())
    hist = metrics.histogram("h", "H.", buckets=(1.0, float("inf")))  # +Inf is implied
    with pytest.raises(MetricError, match="histogram 'h' cannot observe NaN"):
        hist.observe(float("nan"))
    counter = metrics.counter("c_total", "C.", labels=("kind",))
    with pytest.raises(MetricError, match="counter 'c_total' cannot add -1"):
        counter.inc(-1, kind="x")
    with pytest.raises(MetricError, match=r"'c_total' takes the labels \(kind\), not \(none\)"):
        counter.inc()
    with pytest.raises(MetricError, match=r"'c_total' takes the labels \(kind\), not \(colour\)"):
        counter.inc(colour="red")
    # A label may be called "value": the value itself is positional-only.
    metrics.gauge("g", "G.", labels=("value",)).set(1.5, value="x")


def test_gauges_render_special_values() -> None:
    store = CustomMetrics()
    gauge = ModelMetrics("m", "", store).gauge("g", "G.", labels=("k",))
    gauge.set(float("nan"), k="nan")
    gauge.set(float("inf"), k="inf")
    gauge.set(-2.5e20, k="big")
    out = lines_of(store)
    assert 'kernel_runtime_g{model="m",version="",k="nan"} NaN' in out
    assert 'kernel_runtime_g{model="m",version="",k="inf"} +Inf' in out
    assert 'kernel_runtime_g{model="m",version="",k="big"} -2.5e+20' in out


def test_recording_from_many_threads_loses_nothing() -> None:
    store = CustomMetrics()
    metrics = ModelMetrics("m", "", store)
    counter = metrics.counter("calls_total", "Calls.", labels=("thread",))
    hist = metrics.histogram("seconds", "Seconds.")
    stop = threading.Event()

    def record(index: int) -> None:
        for _ in range(5000):
            counter.inc(thread=index % 2)
            hist.observe(0.01)

    def scrape() -> None:  # rendering meanwhile must neither fail nor block recording
        while not stop.is_set():
            lines_of(store)

    scraper = threading.Thread(target=scrape)
    scraper.start()
    threads = [threading.Thread(target=record, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    scraper.join()
    out = lines_of(store)
    assert value(out, 'kernel_runtime_calls_total{model="m",version="",thread="0"}') == 20000
    assert value(out, 'kernel_runtime_calls_total{model="m",version="",thread="1"}') == 20000
    assert value(out, 'kernel_runtime_seconds_count{model="m",version=""}') == 40000


def test_drain_hands_over_each_recording_once() -> None:
    worker, server = CustomMetrics(), CustomMetrics()
    metrics = ModelMetrics("m", "1", worker)
    counter = metrics.counter("rows_total", "Rows.")
    hist = metrics.histogram("score", "Scores.", buckets=(1.0,))
    counter.inc(3)
    hist.observe(0.5)
    encoded = msgspec.msgpack.encode(worker.drain())  # as a worker's reply carries it
    server.apply(msgspec.msgpack.decode(encoded, type=MetricsDelta))
    assert worker.drain() is None  # nothing new since
    counter.inc(2)
    hist.observe(5.0)
    delta = worker.drain()
    assert delta is not None
    server.apply(delta)
    out = lines_of(server)
    assert value(out, 'kernel_runtime_rows_total{model="m",version="1"}') == 5
    assert value(out, 'kernel_runtime_score_bucket{model="m",version="1",le="1"}') == 1
    assert value(out, 'kernel_runtime_score_bucket{model="m",version="1",le="+Inf"}') == 2
    assert value(out, 'kernel_runtime_score_sum{model="m",version="1"}') == 5.5
    assert lines_of(worker) == []


def test_gauges_keep_the_value_set_last_whichever_process_set_it() -> None:
    first, second, server = CustomMetrics(), CustomMetrics(), CustomMetrics()
    ModelMetrics("m", "", first).gauge("p", "P.").set(0.9)
    time.sleep(0.01)
    ModelMetrics("m", "", second).gauge("p", "P.").set(0.1)
    later, earlier = second.drain(), first.drain()
    assert later is not None
    assert earlier is not None
    server.apply(later)
    server.apply(earlier)  # arrives after, but was set before: it does not win
    assert value(lines_of(server), 'kernel_runtime_p{model="m",version=""}') == 0.1


def test_apply_skips_a_metric_declared_differently_and_keeps_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    worker, server = CustomMetrics(), CustomMetrics()
    ModelMetrics("m", "", server).gauge("shared", "Declared as a gauge here.").set(7)
    theirs = ModelMetrics("m", "", worker)
    theirs.counter("shared", "A counter in another plugin version.").inc()
    theirs.counter("other_total", "Other.").inc(4)
    delta = worker.drain()
    assert delta is not None
    server.apply(delta)
    out = lines_of(server)
    assert value(out, 'kernel_runtime_shared{model="m",version=""}') == 7
    assert value(out, 'kernel_runtime_other_total{model="m",version=""}') == 4
    assert "'shared' is already declared as a gauge" in caplog.text


WORKER_SCRIPT = """
import sys
import msgspec
from kernel.metrics_store import drain_delta
from kernel.model_settings import ModelParameters, ModelSettings
from kernel.runtime import Runtime

settings = ModelSettings(
    name="cd", implementation="x", path=".", parameters=ModelParameters(version="3")
)
runtime = Runtime(settings)
drift = runtime.metrics.counter("relay_drift_total", "Drift.", labels=("test",))
p_value = runtime.metrics.gauge("relay_p_value", "P-value.")
for p in (0.2, 0.01):
    drift.inc(test="ks")
    p_value.set(p)
first = drain_delta()
drift.inc(test="ks")
second = drain_delta()
assert drain_delta() is None
sys.stdout.buffer.write(msgspec.msgpack.encode([first, second]))
"""


def test_a_worker_process_relays_its_runtime_metrics_to_the_server() -> None:
    """A real second interpreter records through ``Runtime.metrics`` and drains; this process
    applies what arrives, as a worker pool does with each reply."""
    done = subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT], capture_output=True, check=True, timeout=60
    )
    deltas = msgspec.msgpack.decode(done.stdout, type=list[MetricsDelta | None])
    server = Metrics(CustomMetrics())
    for delta in deltas:
        assert delta is not None
        server.custom.apply(delta)
    text = server.render().decode().splitlines()
    assert value(text, 'kernel_runtime_relay_drift_total{model="cd",version="3",test="ks"}') == 3
    assert value(text, 'kernel_runtime_relay_p_value{model="cd",version="3"}') == 0.01
    assert "# TYPE kernel_runtime_relay_p_value gauge" in text


def test_snapshots_carry_runtime_metrics_and_merge_them() -> None:
    first, second = Metrics(CustomMetrics()), Metrics(CustomMetrics())
    for process, rows, p in ((first, 2, 0.5), (second, 5, 0.04)):
        metrics = ModelMetrics("cd", "", process.custom)
        metrics.counter("rows_total", "Rows.").inc(rows)
        metrics.histogram("p", "P.", buckets=(0.05,)).observe(p)
        metrics.gauge("last_p", "Last p.").set(p)  # the second process sets it last
    snapshots = [
        msgspec.msgpack.decode(msgspec.msgpack.encode(m.snapshot()), type=MetricsSnapshot)
        for m in (first, second)
    ]
    text = merge_snapshots(snapshots).decode().splitlines()
    assert value(text, 'kernel_runtime_rows_total{model="cd",version=""}') == 7
    assert value(text, 'kernel_runtime_p_bucket{model="cd",version="",le="0.05"}') == 1
    assert value(text, 'kernel_runtime_p_count{model="cd",version=""}') == 2
    assert value(text, 'kernel_runtime_last_p{model="cd",version=""}') == 0.04
    # Scraping does not consume: the processes still hold their values.
    assert (
        value(
            first.render().decode().splitlines(), 'kernel_runtime_rows_total{model="cd",version=""}'
        )
        == 2
    )


def test_a_snapshot_of_the_previous_shape_still_decodes() -> None:
    old = msgspec.msgpack.encode([[], [], [], [["m", "", "READY", 0.5]]])
    snapshot = msgspec.msgpack.decode(old, type=MetricsSnapshot)
    assert snapshot.custom == []
    assert b'kernel_model_state{model="m",version="",state="READY"} 1' in merge_snapshots(
        [snapshot]
    )


def test_runtime_metrics_are_labelled_with_the_model_and_stay_overridable() -> None:
    settings = ModelSettings(
        name="iris", implementation="x", path=".", parameters=ModelParameters(version="7")
    )
    runtime = Runtime(settings)
    assert runtime.metrics is runtime.metrics  # made once, on first use
    runtime.metrics.counter("labelled_total", "L.").inc()
    family = next(f for f in custom_metrics().snapshot() if f.name == "labelled_total")
    assert [s.labels for s in family.series] == [("iris", "7")]
    unversioned = Runtime(ModelSettings(name="plain", implementation="x", path="."))
    unversioned.metrics.counter("labelled_total", "L.").inc()
    family = next(f for f in custom_metrics().snapshot() if f.name == "labelled_total")
    assert ("plain", "") in [s.labels for s in family.series]

    class OwnMetrics(Runtime):
        """A runtime written before ``self.metrics`` existed, using the name itself."""

        def __init__(self, settings: ModelSettings) -> None:
            super().__init__(settings)
            self.metrics = {"calls": 0}  # type: ignore[assignment]

    assert OwnMetrics(settings).metrics == {"calls": 0}  # type: ignore[comparison-overlap]
