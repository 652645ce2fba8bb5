"""The runtime API: the one class a plugin author subclasses.

A runtime wraps one model version. The kernel creates it with the model's settings, awaits
``load()`` once, then ``predict()`` for every request, and ``unload()`` when the model goes away.
These methods may block (read files, run the framework): the kernel always runs them off the
event loop, in its executor, so a runtime never has to think about threads.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from kernel.model_settings import ModelSettings
from kernel.runtime_metrics import ModelMetrics
from protocol.messages import MetadataTensor

__all__ = ["Runtime"]


class Runtime:
    """Base class for model runtimes.

    Subclasses implement ``load`` and ``predict``; ``unload``, ``inputs`` and ``outputs`` are
    optional. ``self.settings`` is the model's ``ModelSettings``.

    ``framework`` names the framework for messages and metadata (``platform``) and
    ``framework_modules`` lists modules the kernel imports once, in one thread, before any model
    of this runtime loads: first imports of some frameworks are not safe to run concurrently.
    ``load_imports`` is for the imports a runtime cannot list in advance.
    """

    framework: ClassVar[str] = ""
    framework_modules: ClassVar[tuple[str, ...]] = ()
    #: True when ``load`` imports modules only the model file names (classes in a pickle, an
    #: MLflow flavour's framework). Such loads then run one at a time, and never beside another
    #: runtime's first import: two threads importing the same packages for the first time can
    #: fail (one sees the other's half-initialised package as missing) or dead-lock.
    load_imports: ClassVar[bool] = False

    def __init__(self, settings: ModelSettings) -> None:
        self.settings = settings

    @classmethod
    def keeps_state(cls, settings: ModelSettings) -> bool:
        """Whether the model's answers depend on the requests before them (a window that
        fills across requests, a detector updated online). The kernel then serves one copy of
        it for the whole server: under ``--workers N`` it runs in the server's one worker
        pool (one worker unless ``parallel_workers`` asks for more) instead of in each server
        process. A repository reload of such a model hands it over: the serving copy drains
        and unloads (where a runtime saves its state) before the new copy loads (where it
        restores it), and requests in between get ``ModelNotReady`` (503 / UNAVAILABLE); other
        models reload with no gap. Decided from the settings, before the model loads (also for
        a model in worker processes, whose class the server then resolves itself, unless it
        runs in its own ``environment_path``). By default no."""
        return False

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def version(self) -> str | None:
        return self.settings.version

    @cached_property
    def metrics(self) -> ModelMetrics:
        """Declare this model's own Prometheus metrics, shown in ``/metrics`` beside the
        kernel's: ``self.metrics.counter(name, help, labels=(...))`` (also ``gauge``,
        ``histogram``) returns a handle to ``inc`` / ``set`` / ``observe`` from any thread.
        Every series is labelled with this model's ``model`` and ``version``; the exposed
        name is ``kernel_runtime_<name>``. See docs/plugins.md, "Metrics"."""
        return ModelMetrics(self.settings.name, self.settings.version or "")

    async def load(self) -> None:
        """Load the model. Raise to fail the load; the message becomes the model's reason."""

    async def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Answer one request. Subclasses define it in one of two forms:

        - ``predict(self, request: InferenceRequest) -> InferenceResponse``: the decoded
          request (inputs carry numpy arrays) and the response;
        - typed: parameters named after the inputs and annotated with the value each wants
          (``np.ndarray``, ``list[str]``, ``pandas.DataFrame``, ...), returning values; the
          kernel decodes and encodes (see docs/plugins.md, "Typed runtimes").

        The base signature takes anything so that both forms are valid overrides for mypy.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement predict()")

    async def unload(self) -> None:
        """Release what ``load`` took."""

    def inputs(self) -> list[MetadataTensor]:
        """Input metadata; by default what ``model-settings.json`` declares."""
        return list(self.settings.inputs)

    def outputs(self) -> list[MetadataTensor]:
        """Output metadata; by default what ``model-settings.json`` declares."""
        return list(self.settings.outputs)

    def metadata_parameters(self) -> dict[str, Any]:
        """Extra ``parameters`` for the model's metadata (``GET /v2/models/{name}``), e.g. what
        kind of model the loaded file turned out to be; JSON values only. Merged under the
        kernel's own (``content_type``). By default none."""
        return {}
