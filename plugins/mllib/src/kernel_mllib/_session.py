"""The one local SparkSession a server process shares between all its Spark models.

The first Spark model to load starts it (several seconds, during load, never on a request) from
its ``parameters.extra.spark``: ``master`` (default ``local[*]``) and ``conf``, a map of Spark
properties. Every later model reuses it; a model asking for another ``master`` is refused,
since one JVM runs one SparkContext. Each load takes a reference and each unload gives it back;
the last one stops the session. A session that was already running when the first model
loaded (``kernel batch`` starts its own) belongs to whoever started it and is never stopped
here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kernel.errors import SettingsError

__all__ = ["SessionConfig", "acquire", "release", "running", "stop"]

logger = logging.getLogger("kernel.mllib")

DEFAULT_MASTER = "local[*]"

#: Properties set unless the model's ``conf`` says otherwise: a server needs no web UI (and
#: its port), and Arrow makes pandas <-> Spark conversions columnar instead of row by row.
DEFAULT_CONF: Mapping[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
}


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """What ``parameters.extra.spark`` asks of the session."""

    master: str = DEFAULT_MASTER
    conf: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], model: str) -> SessionConfig:
        """Read ``extra["spark"]``; ``SettingsError`` naming the model for a malformed one."""
        spark = extra.get("spark", {})
        if not isinstance(spark, dict):
            raise SettingsError(
                f"model {model!r}: parameters.extra.spark must be an object with 'master'"
                f" and 'conf', got {type(spark).__name__}"
            )
        unknown = sorted(set(spark) - {"master", "conf"})
        if unknown:
            raise SettingsError(
                f"model {model!r}: parameters.extra.spark has unknown key(s)"
                f" {', '.join(map(repr, unknown))}; it takes 'master' and 'conf'"
            )
        master = spark.get("master", DEFAULT_MASTER)
        conf = spark.get("conf", {})
        if not isinstance(master, str) or not master:
            raise SettingsError(f"model {model!r}: parameters.extra.spark.master must be a URL")
        if not isinstance(conf, dict):
            raise SettingsError(
                f"model {model!r}: parameters.extra.spark.conf must be a map of Spark properties"
            )
        return cls(master, {str(k): _conf_value(v) for k, v in conf.items()})


def _conf_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _Shared:
    """The process's session, its reference count and whether this module started it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.session: Any = None
        self.master = ""
        self.refs = 0
        self.owned = False


_shared = _Shared()


def acquire(config: SessionConfig, model: str) -> Any:
    """The shared SparkSession, started with ``config`` if none runs; takes a reference."""
    from pyspark.sql import SparkSession

    with _shared.lock:
        if _shared.session is None:
            # getActiveSession is per JVM thread and loads run in executor threads, so also
            # look for the session the process instantiated (kernel batch's, a notebook's).
            active = SparkSession.getActiveSession() or getattr(
                SparkSession, "_instantiatedSession", None
            )
            if active is not None:
                # Someone else's session (kernel batch, a notebook): use it, never stop it.
                _shared.session, _shared.owned = active, False
                _shared.master = str(active.sparkContext.master)
            else:
                builder = SparkSession.builder.master(config.master).appName("kernel-mllib")
                for key, value in {**DEFAULT_CONF, **config.conf}.items():
                    builder = builder.config(key, value)
                logger.info("starting the SparkSession (master %s) for %r", config.master, model)
                _shared.session, _shared.owned = builder.getOrCreate(), True
                _shared.master = config.master
        elif _shared.owned and config.master != _shared.master:
            raise SettingsError(
                f"model {model!r}: parameters.extra.spark.master is {config.master!r}, but this"
                f" server's SparkSession already runs on {_shared.master!r} (one per process)"
            )
        elif config.conf:
            logger.warning(
                "model %r: parameters.extra.spark.conf ignored: the SparkSession is already"
                " running (the first Spark model to load configures it)",
                model,
            )
        _shared.refs += 1
        return _shared.session


def release() -> None:
    """Give back one reference; the last one stops a session this module started."""
    with _shared.lock:
        _shared.refs = max(0, _shared.refs - 1)
        if _shared.refs == 0:
            _stop_locked()


def stop() -> None:
    """Stop the session now whatever the references (process shut-down)."""
    with _shared.lock:
        _shared.refs = 0
        _stop_locked()


def running() -> bool:
    """Whether this process holds a session for its Spark models."""
    return _shared.session is not None


def _stop_locked() -> None:
    session, owned = _shared.session, _shared.owned
    _shared.session, _shared.owned, _shared.master = None, False, ""
    if session is not None and owned:
        logger.info("stopping the SparkSession")
        session.stop()
