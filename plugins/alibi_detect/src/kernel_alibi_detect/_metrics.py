"""Prometheus metrics for what a detector finds, per model (``kernel_runtime_alibi_detect_*``).

Declared through the runtime's ``self.metrics``, so every series carries the model's ``model``
and ``version`` labels beside the kernel's own request metrics. Per-feature gauges are kept for
up to ``MAX_FEATURE_SERIES`` features (one series each); wider results (images) record only the
extreme value (``feature="min"`` for p-values, ``"max"`` for distances) to bound the series count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from kernel.runtime_metrics import ModelMetrics

__all__ = ["MAX_FEATURE_SERIES", "DetectorMetrics"]

MAX_FEATURE_SERIES = 64

_P = "alibi_detect_"


def _numbers(value: Any) -> np.ndarray[Any, Any] | None:
    if value is None:
        return None
    array = np.asarray(value)
    return array if array.dtype.kind in "biuf" else None


class DetectorMetrics:
    """The metrics of one model's detector; ``record`` is called once per test or update."""

    def __init__(self, metrics: ModelMetrics) -> None:
        self.instances = metrics.counter(
            _P + "instances_total", "Instances the detector was given."
        )
        self.tests = metrics.counter(
            _P + "tests_total", "Tests run (drift: a batch, a window or an online update)."
        )
        self.drift_detected = metrics.counter(
            _P + "drift_detected_total", "Tests that found drift (is_drift set)."
        )
        self.drift = metrics.gauge(_P + "drift", "The latest test's is_drift: 1 drift, 0 none.")
        self.outliers = metrics.counter(
            _P + "outliers_total", "Instances (or features) flagged as outliers."
        )
        self.p_value = metrics.gauge(
            _P + "p_value", "The latest test's p-value, per feature.", labels=("feature",)
        )
        self.distance = metrics.gauge(
            _P + "distance", "The latest test's distance, per feature.", labels=("feature",)
        )
        self.window_count = metrics.gauge(
            _P + "window_count", "Instances in the current, unfinished drift window."
        )

    def record(self, data: Mapping[str, Any]) -> None:
        """Record one result's ``data``: a drift test, or one batch of outlier scores."""
        if "is_outlier" in data:
            flags = _numbers(data["is_outlier"])
            if flags is not None:
                self.outliers.inc(float(np.count_nonzero(flags)))
            return
        self.tests.inc()
        drift = _numbers(data.get("is_drift"))
        if drift is not None:
            found = bool(np.any(drift))
            self.drift.set(1.0 if found else 0.0)
            if found:
                self.drift_detected.inc()
        self._per_feature(self.p_value, _numbers(data.get("p_val")), "min")
        self._per_feature(self.distance, _numbers(data.get("distance")), "max")

    @staticmethod
    def _per_feature(gauge: Any, values: np.ndarray[Any, Any] | None, extreme: str) -> None:
        if values is None or values.size == 0:
            return
        flat = values.reshape(-1).astype(np.float64)
        if flat.size == 1:
            gauge.set(float(flat[0]), feature="all")
        elif flat.size <= MAX_FEATURE_SERIES:
            for index, value in enumerate(flat):
                gauge.set(float(value), feature=str(index))
        else:
            pick = np.nanmin if extreme == "min" else np.nanmax
            gauge.set(float(pick(flat)), feature=extreme)
