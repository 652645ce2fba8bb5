"""Where the runtimes' own metrics live in a process, and how they cross processes.

Declarations and values live in one store per process (``custom_metrics()``), as a Prometheus
target is one process. A metric is declared once by name: declaring it again with the same
kind, labels (and buckets) gives the same metric, anything else is a ``MetricError`` naming
it. Its exposed name is the declared one behind ``PREFIX``, which none of the kernel's own
metrics uses, so no runtime can clobber them.

Across processes (``kernel serve --workers N``, worker pools) a store travels as ``Family``
data: ``apply`` adds counters and histograms and keeps, per gauge series, the value set last
(by its wall-clock stamp). A worker process hands over what it recorded with ``drain()``.
The handles runtimes record through are in ``kernel.runtime_metrics``.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Final, Literal

import msgspec

__all__ = [
    "DEFAULT_BUCKETS",
    "PREFIX",
    "CustomMetrics",
    "Family",
    "MetricError",
    "MetricsDelta",
    "Series",
    "apply_delta",
    "custom_metrics",
    "drain_delta",
]

logger = logging.getLogger("kernel")

#: Put before every declared name: the kernel's own metrics are ``kernel_infer_*`` and
#: ``kernel_model_*``, so no runtime metric can take one of their names.
PREFIX: Final = "kernel_runtime_"

#: Upper bounds of a histogram declared without ``buckets`` (``+Inf`` is always added).
DEFAULT_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Kind = Literal["counter", "gauge", "histogram"]

_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
#: ``model``/``version`` are added to every series; ``le``/``quantile`` mean something else.
_RESERVED_LABELS: Final = frozenset({"model", "version", "le", "quantile"})
_HISTOGRAM_SUFFIXES: Final = ("_bucket", "_sum", "_count")

_Key = tuple[str, ...]


class MetricError(ValueError):
    """A metric declared or recorded wrongly; the message names the metric."""


class Series(msgspec.Struct, array_like=True, frozen=True):
    """One series as data. ``labels``: values of ``model``, ``version``, then the declared
    labels; ``value``: a counter's total, a gauge's value or a histogram's sum; ``stamp``: when
    a gauge was set (``time.time()``); ``counts``: a histogram's per-bucket (not cumulative)
    counts, ``+Inf`` last."""

    labels: tuple[str, ...]
    value: float = 0.0
    stamp: float = 0.0
    counts: tuple[int, ...] = ()


class Family(msgspec.Struct, array_like=True, frozen=True):
    """One declared metric and its series, as data (``name`` without ``PREFIX``)."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()
    series: list[Series] = []


class MetricsDelta(msgspec.Struct, array_like=True, frozen=True):
    """What a worker process recorded since its last ``drain()``, for the server to ``apply``."""

    families: list[Family]


def _check_name(what: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name.startswith("__"):
        raise MetricError(
            f"{what} {name!r} is not a valid Prometheus name"
            " (letters, digits and underscores, not starting with a digit or '__')"
        )
    return name


class _Family:
    """A declared metric and its values; ``lock`` guards the value dicts."""

    __slots__ = ("buckets", "counts", "help", "kind", "labels", "lock", "name", "stamps", "values")

    def __init__(
        self, name: str, kind: Kind, help_: str, labels: _Key, buckets: tuple[float, ...]
    ) -> None:
        self.name, self.kind, self.help, self.labels, self.buckets = (
            name,
            kind,
            help_,
            labels,
            buckets,
        )
        self.lock = threading.Lock()
        self.values: dict[_Key, float] = {}
        self.stamps: dict[_Key, float] = {}
        self.counts: dict[_Key, list[int]] = {}

    def shape(self) -> tuple[str, _Key, tuple[float, ...]]:
        return self.kind, self.labels, self.buckets

    def key(self, base: _Key, labels: Mapping[str, object]) -> _Key:
        names = self.labels
        if len(labels) == len(names):
            try:
                return base + tuple(str(labels[n]) for n in names)
            except KeyError:
                pass
        want = ", ".join(names) or "none"
        got = ", ".join(sorted(labels)) or "none"
        raise MetricError(f"metric {self.name!r} takes the labels ({want}), not ({got})")

    def add(self, key: _Key, value: float) -> None:
        with self.lock:
            self.values[key] = self.values.get(key, 0.0) + value

    def put(self, key: _Key, value: float, stamp: float) -> None:
        with self.lock:
            if stamp >= self.stamps.get(key, -math.inf):
                self.values[key] = value
                self.stamps[key] = stamp

    def add_counts(self, key: _Key, counts: Sequence[int], total: float) -> None:
        with self.lock:
            have = self.counts.get(key)
            if have is None:
                self.counts[key] = list(counts)
            else:
                for i, count in enumerate(counts):
                    have[i] += count
            self.values[key] = self.values.get(key, 0.0) + total

    def data(self, clear: bool) -> Family:
        with self.lock:
            values, stamps, counts = self.values, self.stamps, self.counts
            if clear:
                self.values, self.stamps, self.counts = {}, {}, {}
            else:
                values, stamps = dict(values), dict(stamps)
                counts = {k: list(c) for k, c in counts.items()}
        series = [
            Series(k, v, stamps.get(k, 0.0), tuple(counts.get(k, ()))) for k, v in values.items()
        ]
        return Family(self.name, self.kind, self.help, self.labels, self.buckets, series)


class CustomMetrics:
    """The declared runtime metrics of one process and their values. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}

    def declare(
        self,
        name: str,
        kind: Kind,
        help_: str,
        labels: Iterable[str] = (),
        buckets: Iterable[float] = (),
    ) -> _Family:
        """The metric ``name``, declared now unless it already is with the same kind, labels
        and buckets; raises ``MetricError`` when it is declared differently or is malformed."""
        _check_name("metric name", name)
        if isinstance(labels, str):
            raise MetricError(f"metric {name!r}: labels must be a sequence of names, not a str")
        names = tuple(_check_name(f"metric {name!r}: label", n) for n in labels)
        for label in names:
            if label in _RESERVED_LABELS:
                raise MetricError(f"metric {name!r}: the label {label!r} is reserved")
        if len(set(names)) != len(names):
            raise MetricError(f"metric {name!r}: a label is repeated in {names}")
        bounds = _check_buckets(name, buckets) if kind == "histogram" else ()
        if not isinstance(help_, str):
            raise MetricError(f"metric {name!r}: help must be a str")
        with self._lock:
            family = self._families.get(name)
            if family is not None:
                if family.shape() != (kind, names, bounds):
                    raise MetricError(
                        f"metric {name!r} is already declared as a {family.kind} with labels"
                        f" {family.labels}{_buckets_note(family.buckets)}; now as a {kind}"
                        f" with labels {names}{_buckets_note(bounds)}"
                    )
                return family
            self._check_clash(name, kind)
            family = self._families[name] = _Family(name, kind, help_, names, bounds)
            return family

    def _check_clash(self, name: str, kind: Kind) -> None:
        """A histogram ``h`` also writes ``h_bucket``, ``h_sum`` and ``h_count``."""
        for suffix in _HISTOGRAM_SUFFIXES:
            base = name.removesuffix(suffix)
            other = self._families.get(base)
            if base != name and other is not None and other.kind == "histogram":
                raise MetricError(
                    f"metric {name!r} clashes with the series of the histogram {base!r}"
                )
            if kind == "histogram" and name + suffix in self._families:
                raise MetricError(
                    f"histogram {name!r} would write {name + suffix!r}, already a metric"
                )

    def snapshot(self) -> list[Family]:
        """Every metric with series, as data (the values stay)."""
        return [f for f in (fam.data(False) for fam in self._list()) if f.series]

    def drain(self) -> MetricsDelta | None:
        """Hand over what was recorded since the last drain and forget it: a worker process's
        side of the relay (``None``: nothing new). Never call it on a store that is scraped."""
        families = [f for f in (fam.data(True) for fam in self._list()) if f.series]
        return MetricsDelta(families) if families else None

    def apply(self, data: MetricsDelta | Iterable[Family]) -> None:
        """Add another process's data: counters and histograms add up, a gauge series takes
        the value stamped last. A metric the other process declared differently is skipped
        with a warning (its runtime may be another version of the plugin)."""
        families = data.families if isinstance(data, MetricsDelta) else data
        for item in families:
            try:
                kind: Kind = _kind(item.kind)
                family = self.declare(item.name, kind, item.help, item.labels, item.buckets)
            except MetricError as exc:
                logger.warning("runtime metrics from another process skipped: %s", exc)
                continue
            width = len(family.buckets) + 1
            for s in item.series:
                if len(s.labels) != len(family.labels) + 2:
                    continue
                if kind == "counter":
                    family.add(s.labels, s.value)
                elif kind == "gauge":
                    family.put(s.labels, s.value, s.stamp)
                elif len(s.counts) == width:
                    family.add_counts(s.labels, s.counts, s.value)

    def render(self, lines: list[str]) -> None:
        """Append the text exposition of every metric that has series."""
        for family in sorted(self.snapshot(), key=lambda f: f.name):
            _render_family(lines, family)

    def _list(self) -> list[_Family]:
        with self._lock:
            return list(self._families.values())


_KINDS: Final[dict[str, Kind]] = {"counter": "counter", "gauge": "gauge", "histogram": "histogram"}


def _kind(kind: str) -> Kind:
    try:
        return _KINDS[kind]
    except KeyError:
        raise MetricError(f"unknown metric kind {kind!r}") from None


def _check_buckets(name: str, buckets: Iterable[float]) -> tuple[float, ...]:
    bounds = tuple(float(b) for b in buckets)
    if bounds and bounds[-1] == math.inf:
        bounds = bounds[:-1]  # +Inf is always there
    if not bounds or any(not math.isfinite(b) for b in bounds):
        raise MetricError(f"histogram {name!r}: buckets must be finite numbers, at least one")
    if any(a >= b for a, b in pairwise(bounds)):
        raise MetricError(f"histogram {name!r}: buckets must increase, got {bounds}")
    return bounds


def _buckets_note(buckets: tuple[float, ...]) -> str:
    return f" and buckets {buckets}" if buckets else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _render_family(lines: list[str], family: Family) -> None:
    name = PREFIX + family.name
    help_ = family.help.replace("\\", "\\\\").replace("\n", "\\n")
    lines.append(f"# HELP {name} {help_}")
    lines.append(f"# TYPE {name} {family.kind}")
    names = ("model", "version", *family.labels)
    bounds = [*(_number(b) for b in family.buckets), "+Inf"]
    for s in sorted(family.series, key=lambda s: s.labels):
        pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, s.labels, strict=True)]
        labels = "{" + ",".join(pairs) + "}"
        if family.kind != "histogram":
            lines.append(f"{name}{labels} {_number(s.value)}")
            continue
        cumulative = 0
        for bound, count in zip(bounds, s.counts, strict=True):
            cumulative += count
            le = ",".join([*pairs, f'le="{bound}"'])
            lines.append(f"{name}_bucket{{{le}}} {cumulative}")
        lines.append(f"{name}_sum{labels} {_number(s.value)}")
        lines.append(f"{name}_count{labels} {cumulative}")


_default = CustomMetrics()


def custom_metrics() -> CustomMetrics:
    """This process's store: what ``Runtime.metrics`` records into and ``/metrics`` renders."""
    return _default


def drain_delta() -> MetricsDelta | None:
    """In a worker process: what its runtime recorded since the last call (see ``drain``)."""
    return _default.drain()


def apply_delta(delta: MetricsDelta | None) -> None:
    """In the server process: add what a worker process recorded (``None``: nothing)."""
    if delta is not None:
        _default.apply(delta)
