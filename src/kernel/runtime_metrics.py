"""The metrics API of a runtime: ``self.metrics`` and the handles it gives.

A runtime declares a metric through ``self.metrics`` (a ``ModelMetrics`` bound to its model
name and version) and records into the handle it gets back, from any thread::

    drift = self.metrics.counter("drift_detected_total", "Batches found drifting.")
    drift.inc()
    p_value = self.metrics.gauge("drift_p_value", "Last p-value.", labels=("feature",))
    p_value.set(0.03, feature="age")

Every series carries ``model`` and ``version`` first, then the declared labels; the exposed
name is ``kernel_runtime_<name>`` (see ``kernel.metrics_store`` for where values live and how
they cross processes). Recording is one dict update under the metric's lock.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Mapping, Sequence

from kernel.metrics_store import (
    DEFAULT_BUCKETS,
    PREFIX,
    CustomMetrics,
    MetricError,
    _Family,
    _Key,
    custom_metrics,
)

__all__ = ["Counter", "Gauge", "Histogram", "MetricError", "ModelMetrics"]


class _Handle:
    __slots__ = ("_base", "_family")

    def __init__(self, family: _Family, base: _Key) -> None:
        self._family = family
        self._base = base

    @property
    def name(self) -> str:
        """The exposed name (``PREFIX`` and the declared name)."""
        return PREFIX + self._family.name

    def _key(self, labels: Mapping[str, object]) -> _Key:
        if not labels and not self._family.labels:
            return self._base
        return self._family.key(self._base, labels)


class Counter(_Handle):
    """A count that only goes up."""

    __slots__ = ()

    def inc(self, value: float = 1.0, /, **labels: object) -> None:
        """Add ``value`` (default 1, never negative) to the series of these label values."""
        amount = float(value)
        if not amount >= 0:  # also false for NaN
            raise MetricError(f"counter {self._family.name!r} cannot add {value!r}")
        self._family.add(self._key(labels), amount)


class Gauge(_Handle):
    """A value that is set, e.g. the last p-value; across processes the value set last wins."""

    __slots__ = ()

    def set(self, value: float, /, **labels: object) -> None:
        """Set the series of these label values to ``value``."""
        self._family.put(self._key(labels), float(value), time.time())


class Histogram(_Handle):
    """Observations counted in buckets, with their sum and count."""

    __slots__ = ()

    def observe(self, value: float, /, **labels: object) -> None:
        """Count ``value`` (not NaN) in its bucket of the series of these label values."""
        amount = float(value)
        if math.isnan(amount):
            raise MetricError(f"histogram {self._family.name!r} cannot observe NaN")
        family = self._family
        key = self._key(labels)
        index = bisect_left(family.buckets, amount)
        with family.lock:
            counts = family.counts.get(key)
            if counts is None:
                counts = family.counts[key] = [0] * (len(family.buckets) + 1)
            counts[index] += 1
            family.values[key] = family.values.get(key, 0.0) + amount


class ModelMetrics:
    """A runtime's ``self.metrics``: declares metrics whose series carry its model's name and
    version. ``store`` defaults to the process's ``custom_metrics()``."""

    __slots__ = ("_base", "_store")

    def __init__(self, model: str, version: str, store: CustomMetrics | None = None) -> None:
        self._base: _Key = (model, version)
        self._store = store if store is not None else custom_metrics()

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        """A counter ``PREFIX + name`` with these extra label names."""
        return Counter(self._store.declare(name, "counter", help, labels), self._base)

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        """A gauge ``PREFIX + name`` with these extra label names."""
        return Gauge(self._store.declare(name, "gauge", help, labels), self._base)

    def histogram(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        """A histogram ``PREFIX + name`` with these extra label names and bucket bounds."""
        family = self._store.declare(name, "histogram", help, labels, buckets)
        return Histogram(family, self._base)
