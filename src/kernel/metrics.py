"""Prometheus metrics in the text exposition format (version 0.0.4), kept per kernel.

Small on purpose: counters, one histogram and gauges keyed by label tuples, rendered on
demand. Label names are the same everywhere: ``model``, ``version``, and ``protocol`` /
``code`` / ``state`` where they apply. Recording is a dict update and a bisect, cheap enough
for every request. The metrics runtimes declare themselves (``kernel.runtime_metrics``) are
rendered after the kernel's own and travel in the same snapshot.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Final

import msgspec

from kernel.metrics_store import CustomMetrics, Family, custom_metrics

__all__ = ["DURATION_BUCKETS", "Metrics", "MetricsSnapshot", "merge_snapshots"]

#: Seconds; a 1-row model answers in well under a millisecond, a large batch in seconds.
DURATION_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

STATES: Final = ("LOADING", "READY", "UNAVAILABLE", "UNLOADING")

#: When server processes disagree on a model version's state, the one reported: the first of
#: these any process is in (so READY only when every process is READY).
_STATE_PRECEDENCE: Final = ("UNAVAILABLE", "LOADING", "UNLOADING", "READY")

_Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: _Labels, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class _Histogram:
    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(DURATION_BUCKETS, value)] += 1
        self.sum += value


class MetricsSnapshot(msgspec.Struct, array_like=True, frozen=True):
    """One process's metrics as plain data, for the multi-process server to merge.

    ``requests`` / ``errors``: ``(labels, count)``; ``durations``: ``(labels, bucket counts,
    sum)``; ``models``: ``(model, version, state, load_seconds)``; ``custom``: the runtimes'
    own metrics (last, with a default, so a 4-field snapshot still decodes).
    """

    requests: list[tuple[tuple[str, ...], int]]
    errors: list[tuple[tuple[str, ...], int]]
    durations: list[tuple[tuple[str, ...], list[int], float]]
    models: list[tuple[str, str, str, float | None]]
    custom: list[Family] = []


def merge_snapshots(snapshots: Sequence[MetricsSnapshot]) -> bytes:
    """The text exposition of the whole server from each process's snapshot.

    Counters and histogram buckets (and sums) are added. Gauges: a model version's
    ``kernel_model_load_seconds`` is the slowest process's; its ``kernel_model_state`` is READY
    only when every process that holds it is READY, otherwise the first state of
    UNAVAILABLE, LOADING, UNLOADING any process is in. Runtime metrics: counters and
    histograms add up; a gauge series takes the value set last in any process (each set
    carries its wall-clock time).
    """
    merged = Metrics(CustomMetrics())
    for snap in snapshots:
        merged.custom.apply(snap.custom)
        for key, count in snap.requests:
            merged._requests[key] = merged._requests.get(key, 0) + count
        for key, count in snap.errors:
            merged._errors[key] = merged._errors.get(key, 0) + count
        for key, counts, total in snap.durations:
            hist = merged._durations.get(key)
            if hist is None:
                hist = merged._durations[key] = _Histogram()
            hist.counts = [a + b for a, b in zip(hist.counts, counts, strict=True)]
            hist.sum += total
    states: dict[tuple[str, str], list[str]] = {}
    loads: dict[tuple[str, str], float | None] = {}
    for snap in snapshots:
        for model, version, state, seconds in snap.models:
            states.setdefault((model, version), []).append(state)
            before = loads.get((model, version))
            if seconds is not None and (before is None or seconds > before):
                loads[(model, version)] = seconds
            else:
                loads.setdefault((model, version), before)
    models = [
        (m, v, next((s for s in _STATE_PRECEDENCE if s in seen), seen[0]), loads.get((m, v)))
        for (m, v), seen in states.items()
    ]
    return merged.render(models)


class Metrics:
    """The kernel's request metrics; ``render()`` writes them with the models' gauges and the
    runtimes' own metrics from ``custom`` (this process's ``custom_metrics()`` by default)."""

    _INFER_LABELS: Final = ("model", "version", "protocol", "code")
    _DURATION_LABELS: Final = ("model", "version", "protocol")
    _MODEL_LABELS: Final = ("model", "version")

    def __init__(self, custom: CustomMetrics | None = None) -> None:
        self.custom = custom if custom is not None else custom_metrics()
        self._requests: dict[_Labels, int] = {}
        self._errors: dict[_Labels, int] = {}
        self._durations: dict[_Labels, _Histogram] = {}

    def record_infer(
        self, model: str, version: str, protocol: str, code: int, seconds: float
    ) -> None:
        """One inference answered with ``code`` (HTTP-style: 200, 400, 500, 503)."""
        key = (model, version, protocol, str(code))
        self._requests[key] = self._requests.get(key, 0) + 1
        if code >= 400:
            self._errors[key] = self._errors.get(key, 0) + 1
        hkey = (model, version, protocol)
        histogram = self._durations.get(hkey)
        if histogram is None:
            histogram = self._durations[hkey] = _Histogram()
        histogram.observe(seconds)

    def snapshot(
        self, models: Iterable[tuple[str, str, str, float | None]] = ()
    ) -> MetricsSnapshot:
        """These metrics as plain data (see ``merge_snapshots``); ``models`` as for ``render``."""
        return MetricsSnapshot(
            requests=list(self._requests.items()),
            errors=list(self._errors.items()),
            durations=[(k, list(h.counts), h.sum) for k, h in self._durations.items()],
            models=list(models),
            custom=self.custom.snapshot(),
        )

    def render(self, models: Iterable[tuple[str, str, str, float | None]] = ()) -> bytes:
        """The text exposition of every metric.

        ``models`` is ``(model, version, state, load_seconds)`` for every model version the
        server holds now: gauges are read when scraped rather than kept in step.
        """
        models = sorted(models)
        lines: list[str] = []
        self._counter(
            lines,
            "kernel_infer_requests_total",
            "Inference requests answered, by status code.",
            self._requests.items(),
        )
        self._counter(
            lines,
            "kernel_infer_errors_total",
            "Inference requests answered with an error, by status code.",
            self._errors.items(),
        )
        name = "kernel_infer_duration_seconds"
        lines.append(f"# HELP {name} Time from request decoded to response built.")
        lines.append(f"# TYPE {name} histogram")
        for key, hist in sorted(self._durations.items()):
            cumulative = 0
            bounds = [*(_number(b) for b in DURATION_BUCKETS), "+Inf"]
            for bound, count in zip(bounds, hist.counts, strict=True):
                cumulative += count
                labels = _labels(self._DURATION_LABELS, key, f'le="{bound}"')
                lines.append(f"{name}_bucket{labels} {cumulative}")
            labels = _labels(self._DURATION_LABELS, key)
            lines.append(f"{name}_sum{labels} {hist.sum!r}")
            lines.append(f"{name}_count{labels} {cumulative}")
        name = "kernel_model_load_seconds"
        lines.append(f"# HELP {name} Seconds the last load of the model version took.")
        lines.append(f"# TYPE {name} gauge")
        for model, version, _, seconds in models:
            if seconds is not None:
                labels = _labels(self._MODEL_LABELS, (model, version))
                lines.append(f"{name}{labels} {seconds!r}")
        name = "kernel_model_state"
        lines.append(f"# HELP {name} 1 for the state the model version is in, 0 for the others.")
        lines.append(f"# TYPE {name} gauge")
        for model, version, current, _ in models:
            for state in STATES:
                labels = _labels(self._MODEL_LABELS, (model, version), f'state="{state}"')
                lines.append(f"{name}{labels} {int(state == current)}")
        self.custom.render(lines)
        return ("\n".join(lines) + "\n").encode()

    def _counter(
        self, lines: list[str], name: str, help_: str, items: Iterable[tuple[_Labels, int]]
    ) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} counter")
        for key, value in sorted(items):
            lines.append(f"{name}{_labels(self._INFER_LABELS, key)} {value}")
