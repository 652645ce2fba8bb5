"""Typed runtimes: a ``predict`` that takes and returns Python values instead of messages.

The kernel inspects ``predict``'s signature once, when the model loads (``typed_predict``).
``predict(self, request: InferenceRequest) -> InferenceResponse`` (or an unannotated single
parameter) is the plain message API and is called as it is. Anything else is typed:

- one parameter annotated with a whole-request type (``pandas.DataFrame``, ``dict[...]``)
  receives the whole request through that request-level codec;
- otherwise each parameter is an input of the same name, decoded with its codec
  (``np.ndarray``/``npt.NDArray[...]`` -> ``np``, ``list[str]`` -> ``str``, ``list[bytes]`` ->
  ``base64``, ``list[datetime]`` -> ``datetime``, or a plugin codec's ``python_types``);
  parameters with defaults are optional inputs;
- the return value is encoded by its type; a tuple gives one output per element.

``TypedPredict.__call__`` decodes, predicts and encodes in one go; the kernel runs it in its
executor, so decoding never runs on the event loop.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from kernel.codecs.api import decode_request, encode_response, settings_content_types
from kernel.codecs.base import CodecError, Tensor
from kernel.codecs.registry import CodecRegistry
from kernel.codecs.wire import (
    content_type_of,
    read_schema,
    tensors_from,
    tensors_to_params,
    to_outputs,
)
from kernel.errors import InferenceError, SettingsError
from protocol.datatypes import datatype_for_dtype
from protocol.messages import InferenceRequest, InferenceResponse, MetadataTensor

if TYPE_CHECKING:
    from kernel.runtime import Runtime

__all__ = ["TypedPredict", "is_typed", "typed_predict"]


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    content_type: str
    datatype: str
    required: bool


def _is_dataframe(annotation: Any) -> bool:
    return getattr(annotation, "__module__", "").startswith("pandas") and (
        getattr(annotation, "__name__", "") == "DataFrame"
    )


def _strip_optional(annotation: Any) -> Any:
    """``X | None`` (or ``Optional[X]``) as ``X``: an optional input has the input's type."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _whole_request_type(annotation: Any) -> str | None:
    if _is_dataframe(annotation):
        return "pd"
    if annotation is dict or typing.get_origin(annotation) is dict:
        return "dict"
    return None


def _ndarray_datatype(annotation: Any) -> str | None:
    if annotation is np.ndarray:
        return "FP64"
    if typing.get_origin(annotation) is not np.ndarray:
        return None
    args = typing.get_args(annotation)
    dtype_arg = args[1] if len(args) == 2 else None
    scalar = typing.get_args(dtype_arg)[0] if typing.get_origin(dtype_arg) is np.dtype else None
    try:
        return datatype_for_dtype(np.dtype(scalar)).name if scalar not in (None, Any) else "FP64"
    except Exception:
        return "FP64"


def _tensor_type(annotation: Any, registry: CodecRegistry) -> tuple[str, str] | None:
    """(content type, metadata datatype) for a per-input annotation."""
    datatype = _ndarray_datatype(annotation)
    if datatype is not None:
        return "np", datatype
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    key = (origin, args[0]) if origin is not None and len(args) == 1 else annotation
    for codec in registry.tensor_codecs():
        if key in codec.python_types or annotation in codec.python_types:
            return codec.content_type, "BYTES" if origin is list else "FP64"
    return None


def is_typed(runtime_class: type[Runtime]) -> bool:
    """Whether ``predict`` takes values (typed) rather than ``InferenceRequest`` messages."""
    from kernel.runtime import Runtime

    fn = runtime_class.predict
    if fn is Runtime.predict:
        return False  # not implemented: predict raises, as it always did
    params = list(inspect.signature(fn).parameters.values())[1:]
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:
        raise SettingsError(
            f"{runtime_class.__qualname__}.predict: its annotations cannot be resolved: {exc}"
        ) from None
    if len(params) == 1 and params[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        arg = hints.get(params[0].name, InferenceRequest)
        ret = hints.get("return", InferenceResponse)
        return not (arg is InferenceRequest and ret is InferenceResponse)
    return True


class TypedPredict:
    """Calls a typed runtime's ``predict`` with decoded inputs and encodes what it returns."""

    def __init__(self, runtime: Runtime, registry: CodecRegistry) -> None:
        self.runtime = runtime
        self.registry = registry
        cls = type(runtime)
        where = f"{cls.__qualname__}.predict"
        hints = typing.get_type_hints(cls.predict)
        signature = inspect.signature(cls.predict)
        self._params: list[_Param] = []
        self._whole: tuple[str, str] | None = None
        params = list(signature.parameters.values())[1:]
        for p in params:
            if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise SettingsError(f"{where}: *args/**kwargs cannot be matched to inputs")
            annotation = _strip_optional(hints.get(p.name))
            if annotation is None:
                raise SettingsError(f"{where}: parameter {p.name!r} needs a type annotation")
            whole = _whole_request_type(annotation)
            if whole is not None:
                if len(params) != 1:
                    raise SettingsError(
                        f"{where}: parameter {p.name!r} takes the whole request, so it must be"
                        " the only parameter"
                    )
                self._whole = (p.name, whole)
                continue
            found = _tensor_type(annotation, registry)
            if found is None:
                raise SettingsError(
                    f"{where}: parameter {p.name!r} is {annotation!r}, which no codec decodes"
                    " (use np.ndarray, list[str], list[bytes], list[datetime], a DataFrame or a"
                    " dict)"
                )
            self._params.append(
                _Param(p.name, found[0], found[1], p.default is inspect.Parameter.empty)
            )
        self._return = hints.get("return")
        self._by_name = {p.name: p for p in self._params}

    # --- metadata ------------------------------------------------------------------------------

    def inputs(self) -> list[MetadataTensor]:
        """Input metadata from the parameters (none for a whole-request parameter)."""
        return [
            MetadataTensor(p.name, p.datatype, [-1], {"content_type": p.content_type})
            for p in self._params
        ]

    def outputs(self) -> list[MetadataTensor]:
        """Output metadata from the return annotation, when it names arrays or lists."""
        ret = self._return
        parts = typing.get_args(ret) if typing.get_origin(ret) is tuple else (ret,)
        parts = tuple(_strip_optional(p) for p in parts)
        out = []
        names = self._output_names(len(parts))
        for name, part in zip(names, parts, strict=True):
            found = _tensor_type(part, self.registry) if part is not None else None
            if found is None:
                return []
            out.append(MetadataTensor(name, found[1], [-1], {"content_type": found[0]}))
        return out

    def _output_names(self, count: int) -> list[str]:
        declared = [t.name for t in self.runtime.settings.outputs]
        if len(declared) == count:
            return declared
        return [f"output-{i}" for i in range(count)]

    # --- calls ---------------------------------------------------------------------------------

    async def __call__(self, request: InferenceRequest) -> InferenceResponse:
        """Decode ``request`` for ``predict``, call it, encode its value (in the executor)."""
        settings = self.runtime.settings
        if self._whole is not None:
            name, default = self._whole
            asked = content_type_of(request.parameters) or settings.parameters.content_type
            if asked is not None and asked != default:
                self.registry.check(asked, "the request parameters")
                raise CodecError(
                    f"content type {asked!r} does not apply: the model's predict takes its"
                    f" whole request as {default!r}"
                )
            value = decode_request(
                request, default=default, settings=settings, registry=self.registry
            )
            result = await self.runtime.predict(**{name: value})
        else:
            result = await self.runtime.predict(**self._decode(request))
        try:
            return self._encode(result)
        except CodecError as exc:
            raise InferenceError(
                f"predict returned a value that cannot be encoded: {exc}"
            ) from None

    def _decode(self, request: InferenceRequest) -> dict[str, Any]:
        registry = self.registry
        model_ct, per_input = settings_content_types(self.runtime.settings)
        request_ct = self._per_input_default(content_type_of(request.parameters), "request")
        model_ct = self._per_input_default(model_ct, "model settings")
        tensors = tensors_from(request.inputs, read_schema(request.parameters), registry)
        names = [t.name for t in tensors]
        extra = [n for n in names if n not in self._by_name]
        missing = [p.name for p in self._params if p.required and p.name not in names]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if extra or missing or dupes:
            problems = []
            if missing:
                problems.append(f"missing input(s) {', '.join(map(repr, missing))}")
            if extra:
                problems.append(f"unexpected input(s) {', '.join(map(repr, extra))}")
            if dupes:
                problems.append(f"input(s) sent twice: {', '.join(map(repr, dupes))}")
            expected = ", ".join(repr(p.name) for p in self._params) or "none"
            raise CodecError(f"{'; '.join(problems)} (the model takes {expected})")
        kwargs: dict[str, Any] = {}
        for t in tensors:
            ct = request_ct or t.content_type or model_ct or per_input.get(t.name)
            ct = ct or self._by_name[t.name].content_type
            kwargs[t.name] = registry.tensor(ct, f" (input {t.name!r})").decode(t)
        return kwargs

    def _per_input_default(self, content_type: Any, where: str) -> str | None:
        """A request-level content type as the default for each input: ``dict`` (inputs by
        name) means none; a tensor-level one (``np``, ``str``) applies to every input."""
        if content_type is None:
            return None
        name = self.registry.check(content_type, f"the {where} parameters")
        if name == "dict":
            return None
        if name not in self.registry.tensor_names():
            expected = ", ".join(repr(p.name) for p in self._params) or "none"
            raise CodecError(
                f"content type {name!r} in the {where} parameters does not apply: the"
                f" model's predict takes inputs by name ({expected})"
            )
        return name

    def _encode(self, result: Any) -> InferenceResponse:
        name = self.runtime.name
        if isinstance(result, InferenceResponse):
            return result
        if isinstance(result, tuple):
            names = self._output_names(len(result))
            tensors: list[Tensor] = [
                self.registry.encoder_for(v, n).encode(n, v)
                for n, v in zip(names, result, strict=True)
            ]
            return InferenceResponse(
                model_name=name,
                outputs=to_outputs(tensors),
                parameters=tensors_to_params(tensors, None),
            )
        return encode_response(
            result, model_name=name, names=self._output_names(1), registry=self.registry
        )


def typed_predict(runtime: Runtime, registry: CodecRegistry) -> TypedPredict | None:
    """The typed adapter for ``runtime``, or ``None`` for a plain message ``predict``."""
    if not is_typed(type(runtime)):
        return None
    return TypedPredict(runtime, registry)
