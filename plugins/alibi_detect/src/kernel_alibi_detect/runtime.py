"""``AlibiDetectRuntime``: serves a drift or outlier detector saved by alibi-detect."""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kernel import BadRequest, InferenceError, ModelSettings, Runtime, int_setting
from kernel.errors import SettingsError
from kernel_alibi_detect._inputs import instances
from kernel_alibi_detect._loading import (
    DetectorInfo,
    describe,
    load_detector,
    may_keep_state,
    plain_meta,
)
from kernel_alibi_detect._metrics import DetectorMetrics
from kernel_alibi_detect._params import accepted_keys, request_parameters, settings_parameters
from kernel_alibi_detect._results import Arrays, listing, offline_arrays, stacked_arrays
from kernel_alibi_detect._state import StateStore
from kernel_alibi_detect._window import Window
from protocol.datatypes import datatype_for_dtype
from protocol.messages import UNSET, InferenceRequest, InferenceResponse, MetadataTensor
from protocol.tensors import output_from_numpy

__all__ = ["AlibiDetectRuntime"]

logger = logging.getLogger("kernel_alibi_detect")

#: The name metadata gives the single input when ``model-settings.json`` declares none.
INPUT_NAME = "input-0"
WINDOW_COUNT = "window_count"
#: MLServer's default for ``state_save_freq``.
DEFAULT_STATE_SAVE_FREQ = 100
DEFAULT_STATE_DIR = "detector-state"

Array = np.ndarray[Any, Any]


def _window_size(extra: dict[str, Any], model: str) -> int:
    """``window_size`` or MLServer's ``batch_size`` (instances per test); 0: no window."""
    sizes = {key: extra[key] for key in ("window_size", "batch_size") if extra.get(key) is not None}
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SettingsError(
                f"model {model!r}: parameters.extra.{key} must be a whole number >= 1"
                f" (instances per drift test), not {value!r}"
            )
    if len(set(sizes.values())) > 1:
        raise SettingsError(
            f"model {model!r}: parameters.extra.window_size and batch_size (its MLServer alias)"
            f" disagree ({sizes['window_size']} and {sizes['batch_size']}); set one"
        )
    return next(iter(sizes.values()), 0)


def _time_as_int(detector: Any) -> None:
    """A restored ``t`` (alibi-detect's own ``state/`` too) is a 0-d array, which the detector
    then increments in place, changing every result that returned it; built fresh it is an
    int. MMD/LSDD online wrappers expose ``t`` read-only: their backend detector owns it."""
    inner = getattr(detector, "_detector", None)
    owner = inner if inner is not None and hasattr(inner, "t") else detector
    t = owner.t
    if isinstance(t, np.ndarray | np.generic):
        owner.t = int(t.item())


def _metadata_parameters(meta: dict[str, Any]) -> dict[str, Any]:
    renamed = {"name": "detector", "version": "alibi_detect_version"}
    return {renamed.get(key, key): value for key, value in meta.items()}


class AlibiDetectRuntime(Runtime):
    """A detector saved by ``alibi_detect.saving.save_detector``; see docs/runtimes/alibi-detect.md.

    ``parameters.uri``: the folder ``save_detector`` wrote (relative to the model folder; the
    model folder itself by default). ``parameters.extra``: ``predict_parameters`` (keyword
    arguments of the detector's ``predict``), ``window_size`` (alias ``batch_size``: instances
    per drift test, accumulated across requests), ``state_save_freq`` (online detectors: save
    the state every N updates, default 100), ``state_dir`` (where, default
    ``detector-state`` in the model folder) and ``seed`` (online detectors simulate their
    thresholds at load: a fixed seed draws the same ones at every load).
    """

    framework: ClassVar[str] = "alibi-detect"
    framework_modules: ClassVar[tuple[str, ...]] = ("kernel_alibi_detect._framework",)
    # A detector's load imports its own modules (and its backend's), and unpickles (dill).
    load_imports: ClassVar[bool] = True

    _detector: Any = None
    _info: DetectorInfo | None = None
    _accepted: tuple[str, ...] = ()
    _defaults: dict[str, Any]
    _window: Window | None = None
    _state: StateStore | None = None
    _save_every: int = DEFAULT_STATE_SAVE_FREQ
    _since_save: int = 0
    _listing: tuple[MetadataTensor, ...] = ()
    _known: frozenset[str] = frozenset()
    _metrics: DetectorMetrics | None = None

    @classmethod
    def keeps_state(cls, settings: ModelSettings) -> bool:
        """Windows and online or stateful detectors answer from what came before: the kernel
        keeps one copy of them for the whole server (see ``Runtime.keeps_state``)."""
        if _window_size(settings.extra, settings.name):
            return True
        return may_keep_state(settings.resolve_uri())

    async def load(self) -> None:
        extra = self.settings.extra
        path = self.settings.resolve_uri()
        seed = extra.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise SettingsError(
                f"model {self.name!r}: parameters.extra.seed must be a whole number >= 0, not"
                f" {seed!r}"
            )
        detector = load_detector(path, self.name, seed)
        info = describe(detector)
        accepted = accepted_keys(detector.predict)
        defaults = settings_parameters(extra, accepted, self.name)
        window = _window_size(extra, self.name)
        if window and info.online:
            raise SettingsError(
                f"model {self.name!r}: parameters.extra.window_size / batch_size is for offline"
                f" detectors; {info.meta.get('name', 'this detector')} is online (each instance"
                " is one update of its own sliding window)"
            )
        if info.online:
            self._save_every = int_setting(
                self.settings, "state_save_freq", DEFAULT_STATE_SAVE_FREQ, minimum=1
            )
            self._state = StateStore(self._state_path())
            try:
                if self._state.restore(detector):
                    logger.info("model %r: restored its state at t=%s", self.name, detector.t)
            except Exception as err:
                raise ValueError(
                    f"model {self.name!r}: cannot restore the detector's state from"
                    f" {str(self._state.path)!r}: {type(err).__name__}: {err}"
                ) from err
            _time_as_int(detector)
        self._lock = threading.Lock()
        self._listing = tuple(self._probe(detector, info, defaults, window))
        self._known = frozenset(t.name for t in self._listing)
        self._metrics = DetectorMetrics(self.metrics)
        self._window = Window(window) if window else None
        self._defaults = defaults
        self._accepted = accepted
        self._info = info
        self._detector = detector

    def _state_path(self) -> Path:
        value = self.settings.extra.get("state_dir", DEFAULT_STATE_DIR)
        if not isinstance(value, str) or not value:
            raise SettingsError(
                f"model {self.name!r}: parameters.extra.state_dir must be a folder path"
                f" (relative to the model folder), not {value!r}"
            )
        path = Path(value)
        return path if path.is_absolute() else Path(self.settings.path) / path

    @staticmethod
    def _probe(
        detector: Any, info: DetectorInfo, kwargs: dict[str, Any], window: int
    ) -> list[MetadataTensor]:
        """Output metadata, read off the detector's answers for a few reference instances
        (on a copy when predicting changes it); none when it has no usable reference data."""
        x_ref = info.x_ref
        if x_ref is None or len(x_ref) < 3:
            return []
        k = min(len(x_ref), 8)
        try:
            if info.online:
                one, two = copy.deepcopy(detector), copy.deepcopy(detector)
                first = stacked_arrays([one.predict(x_ref[0], **kwargs)["data"]])
                second = stacked_arrays([two.predict(row, **kwargs)["data"] for row in x_ref[:2]])
            else:
                target = copy.deepcopy(detector) if info.stateful else detector
                first = offline_arrays(target.predict(x_ref[:k], **kwargs)["data"])
                second = offline_arrays(target.predict(x_ref[: k - 1], **kwargs)["data"])
        except Exception as err:  # metadata is a courtesy: never fail a load over it
            logger.info("no output metadata for this detector (%s: %s)", type(err).__name__, err)
            return []
        tensors = listing(first, second)
        if window:
            tensors.append(MetadataTensor(name=WINDOW_COUNT, datatype="INT64", shape=[1]))
        return tensors

    async def unload(self) -> None:
        detector, self._detector = self._detector, None
        if detector is not None and self._state is not None:
            with self._lock:
                if self._since_save:
                    self._save(detector)

    def _save(self, detector: Any) -> None:
        """Save the online state (under ``self._lock``); a failure is logged, never raised:
        the detector keeps serving and the next save tries again."""
        assert self._state is not None
        try:
            self._state.save(detector)
            self._since_save = 0
        except Exception:
            logger.exception(
                "model %r: could not save the detector's state to %s", self.name, self._state.path
            )

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        detector, info, metrics = self._detector, self._info, self._metrics
        if detector is None or info is None or metrics is None:
            raise RuntimeError(f"model {self.name!r} is not loaded")
        given = request.parameters if request.parameters is not UNSET else {}
        asked = request_parameters(given, self._accepted, self.name)
        if asked and self._window is not None:
            raise BadRequest(
                f"model {self.name!r} tests windows of {self._window.size} instances gathered"
                f" from several requests; request parameters {', '.join(sorted(asked))} cannot"
                " apply to one window (set parameters.extra.predict_parameters instead)"
            )
        kwargs = {**self._defaults, **asked}
        wanted = self._wanted(request)
        x = instances(request, self.name, info.instance_shape)
        metrics.instances.inc(float(len(x)))
        parameters: dict[str, Any] = dict(info.meta)
        if info.online:
            arrays = self._online(detector, x, kwargs, metrics)
        elif self._window is not None:
            state = self._window.add(x, lambda rows: self._test(detector, rows, kwargs, metrics))
            metrics.window_count.set(float(state.count))
            arrays = {} if state.latest is None else offline_arrays(state.latest["data"])
            arrays[WINDOW_COUNT] = np.array([state.count], dtype=np.int64)
            if state.latest is not None:
                parameters.update(plain_meta(state.latest.get("meta")))
            parameters.update(window_size=self._window.size, window_tests=state.tests)
        elif info.stateful:
            with self._lock:
                result = self._test(detector, x, kwargs, metrics)
            arrays = offline_arrays(result["data"])
            parameters.update(plain_meta(result.get("meta")))
        else:
            result = self._test(detector, x, kwargs, metrics)
            arrays = offline_arrays(result["data"])
            parameters.update(plain_meta(result.get("meta")))
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version if self.version is not None else UNSET,
            id=request.id,
            outputs=self._outputs(arrays, wanted),
            parameters=parameters,
        )

    def _wanted(self, request: InferenceRequest) -> list[str] | None:
        """The outputs the request names (``None``: every field), checked against the fields
        this detector is known to produce before any instance is used."""
        if request.outputs is UNSET or not request.outputs:
            return None
        wanted = [output.name for output in request.outputs]
        known = self._known | ({WINDOW_COUNT} if self._window is not None else set())
        unknown = [name for name in wanted if name not in known]
        if unknown and self._known:
            raise BadRequest(
                f"model {self.name!r} cannot produce output {', '.join(map(repr, unknown))};"
                f" it can produce: {', '.join(sorted(known))}"
            )
        return wanted

    def _outputs(self, arrays: Arrays, wanted: list[str] | None) -> list[Any]:
        if arrays:
            self._known = self._known | arrays.keys()
        names = list(arrays) if wanted is None else [name for name in wanted if name in arrays]
        return [output_from_numpy(name, arrays[name]) for name in names]

    def _test(
        self, detector: Any, x: Array, kwargs: dict[str, Any], metrics: DetectorMetrics
    ) -> dict[str, Any]:
        """One offline test (a request's batch or a full window)."""
        try:
            result: dict[str, Any] = detector.predict(x, **kwargs)
        except Exception as err:
            raise InferenceError(
                f"model {self.name!r}: the detector failed on {len(x)} instances:"
                f" {type(err).__name__}: {err}"
            ) from err
        metrics.record(result["data"])
        return result

    def _online(
        self, detector: Any, x: Array, kwargs: dict[str, Any], metrics: DetectorMetrics
    ) -> Arrays:
        """One update per instance, in order, under the lock; the state is saved every
        ``state_save_freq`` updates."""
        results: list[dict[str, Any]] = []
        with self._lock:
            for row in x:
                try:
                    data = detector.predict(row, **kwargs)["data"]
                except Exception as err:
                    raise InferenceError(
                        f"model {self.name!r}: the detector failed on instance {len(results)}"
                        f" (t={detector.t}): {type(err).__name__}: {err}"
                    ) from err
                # Copies: alibi-detect returns its own ``t`` (a 0-d array after a state
                # restore), which the next update changes in place.
                data = {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in data.items()}
                results.append(data)
                metrics.record(data)
                self._since_save += 1
                if self._since_save >= self._save_every:
                    self._save(detector)
        return stacked_arrays(results)

    def inputs(self) -> list[MetadataTensor]:
        if self.settings.inputs:
            return list(self.settings.inputs)
        info = self._info
        if info is None or info.x_ref is None:
            return []
        return [
            MetadataTensor(
                name=INPUT_NAME,
                datatype=datatype_for_dtype(info.x_ref.dtype).name,
                shape=[-1, *info.x_ref.shape[1:]],
                parameters=_metadata_parameters(info.meta),
            )
        ]

    def outputs(self) -> list[MetadataTensor]:
        if self.settings.outputs:
            return list(self.settings.outputs)
        return list(self._listing)

    def metadata_parameters(self) -> dict[str, Any]:
        """The detector's meta for model metadata (``detector``, ``detector_type``, ``online``,
        ``data_type``, ``alibi_detect_version``, ...); empty before load."""
        return {} if self._info is None else _metadata_parameters(self._info.meta)

    @property
    def detector(self) -> Any:
        """The loaded alibi-detect detector (``None`` before load and after unload)."""
        return self._detector

    @property
    def info(self) -> DetectorInfo | None:
        """What the loaded detector is; ``None`` before load."""
        return self._info
