"""One model scoring pandas DataFrames, loaded exactly as ``kernel serve`` loads it.

``kernel batch`` runs this inside every Spark task (``mapInPandas``): the model folder is read
with the repository scanner, its runtime resolved through the plugin registry and loaded by
the same code as the server's (typed runtimes get the same adapter), and each frame becomes
one V2 request, so a row scores as it would over REST or gRPC. Nothing here imports Spark:
only pandas, which every Spark task has.

Which columns are features: ``features`` when given, else the model's input names when the
frame has them all. Named inputs get one 1-d tensor per column; a model with one input whose
name is not a column gets the feature columns stacked as one ``[rows, features]`` tensor.
Every other column is kept as is, beside one column per output.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kernel.codecs.registry import CodecRegistry
from kernel.codecs.wire import check_content_types
from kernel.errors import BadRequest, KernelError, SettingsError
from kernel.executor import Executor
from kernel.models import ModelState, ModelVersion
from kernel.registry import RuntimeRegistry
from kernel.repository import ModelSource, scan
from kernel.runtime import Runtime
from protocol.datatypes import get_datatype
from protocol.messages import InferenceRequest, InferenceResponse, RequestOutput
from protocol.tensors import input_from_numpy

__all__ = ["Scorer", "find_model", "output_columns"]


def find_model(model_dir: str | Path) -> ModelSource:
    """The one model in ``model_dir`` (its newest version); ``SettingsError`` otherwise."""
    sources = scan(model_dir)
    names = sorted({s.name for s in sources})
    if not names:
        raise SettingsError(f"{str(model_dir)!r} holds no model-settings.json")
    if len(names) > 1:
        raise SettingsError(
            f"{str(model_dir)!r} holds several models ({', '.join(names)}); give one model's folder"
        )
    source = sources[-1]  # scan sorts versions; the newest is last
    if source.settings is None:
        raise SettingsError(source.error or f"{str(source.folder)!r}: unusable model settings")
    return source


class Scorer:
    """A loaded model version and how the frames' columns feed it."""

    def __init__(
        self, model_dir: str | Path, features: Sequence[str] = (), outputs: Sequence[str] = ()
    ) -> None:
        from kernel.plugins import load_plugins

        self.source = find_model(model_dir)
        self.features = list(features)
        self.outputs = list(outputs)
        plugins = load_plugins()
        self.registry = RuntimeRegistry()
        plugins.register_runtimes(self.registry)
        # Filled as the kernel fills its own: the built-in codecs come from a built-in plugin.
        self.codecs = CodecRegistry()
        plugins.register_codecs(self.codecs)
        self._loop = asyncio.new_event_loop()
        self._executor = Executor(1)
        self._executor.start()
        self.version = ModelVersion(self.source)
        from kernel._loading import load_version

        self._run(load_version(self.version, self.registry, self._executor, self.codecs))
        if self.version.state is not ModelState.READY:
            self.close()
            raise KernelError(f"{self.version.label()} failed to load: {self.version.reason}")

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    @property
    def runtime(self) -> Runtime:
        runtime = self.version.runtime
        if runtime is None:
            raise RuntimeError(f"{self.version.label()} is not loaded")
        return runtime

    def input_names(self) -> list[str]:
        """The model's input names, as its metadata lists them."""
        runtime = self.runtime
        declared = list(runtime.inputs())
        typed = self.version.typed
        if not declared and typed is not None:
            declared = typed.inputs()
        return [t.name for t in declared]

    def feature_columns(self, columns: Sequence[str]) -> list[str]:
        """The columns of a frame with ``columns`` that feed the model."""
        if self.features:
            missing = [c for c in self.features if c not in columns]
            if missing:
                raise SettingsError(f"the dataset has no feature column(s) {', '.join(missing)}")
            return list(self.features)
        names = self.input_names()
        if names and all(n in columns for n in names):
            return names
        raise SettingsError(
            f"{self.version.label()} takes input(s) {', '.join(names) or '(undeclared)'},"
            f" which the dataset (columns {', '.join(columns)}) does not all have;"
            " name the feature columns with --features"
        )

    def request(self, frame: Any) -> InferenceRequest:
        """One V2 request for every row of ``frame`` (a pandas DataFrame)."""
        columns = self.feature_columns(list(frame.columns))
        declared = {t.name: t for t in self.runtime.inputs()}
        named = self.input_names()
        if all(c in named for c in columns):
            inputs = [input_from_numpy(c, _column(frame[c], declared.get(c), c)) for c in columns]
        else:  # one tensor: the feature columns side by side
            name = named[0] if len(named) == 1 else "input-0"
            matrix = np.column_stack([_column(frame[c], None, c) for c in columns])
            spec = declared.get(name)
            if spec is not None and spec.datatype != "BYTES":
                matrix = matrix.astype(get_datatype(spec.datatype).dtype, copy=False)
            inputs = [input_from_numpy(name, matrix)]
        wanted = [RequestOutput(name=o) for o in self.outputs] or None
        return (
            InferenceRequest(inputs=inputs, outputs=wanted)
            if wanted
            else InferenceRequest(inputs=inputs)
        )

    def predict(self, request: InferenceRequest) -> InferenceResponse:
        """Answer one request as the server would (typed adapter or ``predict``)."""
        typed = self.version.typed
        if typed is None:
            check_content_types(request, self.codecs)
            response = self._run(self._executor.run(self.runtime.predict, request))
        else:
            response = self._run(self._executor.run(typed, request))
        if not isinstance(response, InferenceResponse):
            raise KernelError(f"{self.version.label()} returned {type(response).__name__}")
        return response

    def score(self, frame: Any) -> Any:
        """``frame`` without its feature columns, plus one column per output."""
        import pandas as pd

        features = set(self.feature_columns(list(frame.columns)))
        kept = frame[[c for c in frame.columns if c not in features]].reset_index(drop=True)
        if len(frame) == 0:
            return kept
        response = self.predict(self.request(frame))
        scored = output_columns(response, len(frame))
        return pd.concat([kept, pd.DataFrame(scored)], axis=1)

    def close(self) -> None:
        """Unload the model and stop the executor and loop."""
        runtime, self.version.runtime = self.version.runtime, None
        if runtime is not None:
            self._run(self._executor.run(runtime.unload))
        self._executor.shutdown()
        self._loop.close()


def _column(series: Any, spec: Any, name: str) -> np.ndarray[Any, Any]:
    """A pandas column as the array a client would send: text as UTF-8 ``bytes``, arrays
    stacked, numbers in the model's declared datatype."""
    values: np.ndarray[Any, Any] = np.asarray(series.to_numpy())
    if values.dtype == object:
        present = [v for v in values if v is not None]
        if present and isinstance(present[0], np.ndarray | list):
            return np.stack([np.asarray(v) for v in values])
        if present and isinstance(present[0], str):
            return np.asarray(
                [b"" if v is None else v.encode("utf-8") for v in values], dtype=object
            )
        if present and not isinstance(present[0], bytes):
            raise BadRequest(f"column {name!r}: values of type {type(present[0]).__name__}")
        return values
    if spec is not None and spec.datatype != "BYTES" and values.dtype.kind in "biuf":
        return values.astype(get_datatype(spec.datatype).dtype, copy=False)
    return np.asarray(values)


def output_columns(response: InferenceResponse, rows: int) -> dict[str, Any]:
    """One column per output: 1-d outputs as values, wider ones as one array per row, BYTES
    as text."""
    columns: dict[str, Any] = {}
    for output in response.outputs:
        data = np.asarray(output.data)
        if data.ndim == 0 or data.shape[0] != rows:
            raise KernelError(
                f"output {output.name!r} has shape {list(data.shape)}; batch scoring needs one"
                f" value or array per row ({rows} rows)"
            )
        if data.dtype == object:
            flat = [v.decode("utf-8") if isinstance(v, bytes) else v for v in data.reshape(-1)]
            data = np.asarray(flat, dtype=object).reshape(data.shape)
        columns[output.name] = list(data) if data.ndim > 1 else data
    return columns
