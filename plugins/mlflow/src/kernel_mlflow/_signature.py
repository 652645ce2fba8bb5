"""The model signature as V2 metadata, and V2 requests as the input the signature asks for.

MLflow schemas come in two kinds: column-based (``ColSpec``: a DataFrame, one V2 input per
column) and tensor-based (``TensorSpec``: one array, or a dict of named arrays). The request's
own ``content_type`` wins; without one, the schema picks the codec and the decoded values are
cast to the schema's dtypes where numpy calls the cast safe or same-kind (a client sending FP64
for a ``float`` column gets an answer, not MLflow's "incompatible input types"). Anything else
is left for MLflow's own schema enforcement to judge.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel.codecs import decode_request
from protocol.datatypes import datatype_for_dtype
from protocol.messages import UNSET, InferenceRequest, MetadataTensor

__all__ = ["DEFAULT_OUTPUT", "decode_input", "input_metadata", "output_metadata"]

#: The one output of a model that returns an array, as every kernel runtime names it.
DEFAULT_OUTPUT = "predict"

_DATATYPES = {
    "boolean": "BOOL",
    "integer": "INT32",
    "long": "INT64",
    "float": "FP32",
    "double": "FP64",
    "string": "BYTES",
    "binary": "BYTES",
    "datetime": "BYTES",
}
_CONTENT_TYPES = {"string": "str", "binary": "base64", "datetime": "datetime"}


def _col_tensor(name: str, spec: Any) -> MetadataTensor:
    kind = getattr(getattr(spec, "type", None), "name", "")
    datatype = _DATATYPES.get(kind, "BYTES")  # Array/Object/Map columns travel as BYTES
    content_type = _CONTENT_TYPES.get(kind, "np" if kind in _DATATYPES else None)
    return MetadataTensor(
        name=name,
        datatype=datatype,
        shape=[-1],
        parameters={"content_type": content_type} if content_type else UNSET,
    )


def _tensor_tensor(name: str, spec: Any) -> MetadataTensor:
    dtype = np.dtype(spec.type)
    datatype = "BYTES" if dtype.kind in "OSU" else datatype_for_dtype(dtype).name
    return MetadataTensor(name=name, datatype=datatype, shape=[int(d) for d in spec.shape])


def _tensors(schema: Any, unnamed: str) -> list[MetadataTensor]:
    if schema is None:
        return []
    tensor_based = schema.is_tensor_spec()
    named = schema.has_input_names()
    result = []
    for index, spec in enumerate(schema.inputs):
        name = str(spec.name) if named else (unnamed if index == 0 else f"{unnamed}-{index}")
        result.append(_tensor_tensor(name, spec) if tensor_based else _col_tensor(name, spec))
    return result


def input_metadata(schema: Any) -> list[MetadataTensor]:
    """V2 inputs for an MLflow input ``Schema`` (``None``: no signature, no metadata)."""
    return _tensors(schema, "input-0")


def output_metadata(schema: Any) -> list[MetadataTensor]:
    """V2 outputs for an MLflow output ``Schema``: named columns or tensors keep their names,
    an unnamed one is ``predict``."""
    return _tensors(schema, DEFAULT_OUTPUT)


def _cast(values: Any, target: np.dtype[Any]) -> Any:
    dtype = getattr(values, "dtype", None)
    if dtype is None or dtype == target or target.kind in "OSUM":
        return values
    if np.can_cast(dtype, target, casting="same_kind"):
        return values.astype(target)
    return values  # MLflow's enforcement explains what is wrong


def _frame(request: InferenceRequest, schema: Any) -> Any:
    frame = decode_request(request, default="pd")
    if not hasattr(frame, "columns"):
        return frame
    for spec in schema.inputs:
        kind = getattr(getattr(spec, "type", None), "name", "")
        if spec.name in frame.columns and kind in _DATATYPES and kind not in _CONTENT_TYPES:
            frame[spec.name] = _cast(frame[spec.name], np.dtype(spec.type.to_numpy()))
    return frame


def decode_input(request: InferenceRequest, schema: Any) -> Any:
    """The request as the value the model's pyfunc ``predict`` takes.

    With ``parameters.content_type`` on the request, that codec decides (and nothing is cast).
    Else a column-based schema gives a DataFrame, named tensors a dict of arrays, one unnamed
    tensor an array. Without a schema: one input is its array, several a dict of arrays.
    """
    if schema is None or (request.parameters and request.parameters.get("content_type")):
        return decode_request(request)
    if not schema.is_tensor_spec():
        return _frame(request, schema)
    if schema.has_input_names():
        values = decode_request(request, default="dict")
        if isinstance(values, dict):
            specs = {str(spec.name): spec for spec in schema.inputs}
            return {
                key: _cast(value, np.dtype(specs[key].type)) if key in specs else value
                for key, value in values.items()
            }
        return values
    value = decode_request(request)
    return _cast(value, np.dtype(schema.inputs[0].type))
