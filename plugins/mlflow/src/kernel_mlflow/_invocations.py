"""MLflow's scoring protocol inside a V2 request.

``POST /invocations`` bodies travel to the model as one BYTES input, with the request
parameter ``mlflow_invocations`` holding the body's content type; the runtime parses them with
MLflow's own scoring-server functions (so ``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``, ``params``, CSV and Parquet mean exactly what they mean to
``mlflow models serve``) and answers MLflow's JSON as one BYTES output of the same name. Going
through the kernel's ``infer`` keeps metrics, draining and worker processes in the path.
"""

from __future__ import annotations

import importlib
import io
from typing import Any

import numpy as np

from kernel import BadRequest
from protocol.messages import InferenceRequest, RequestInput

__all__ = ["INVOCATIONS", "SUPPORTED", "forward_request", "parse_body", "predictions_json"]

#: The request parameter (and the input and output name) carrying an ``/invocations`` call.
INVOCATIONS = "mlflow_invocations"
#: The body content types MLflow's scoring server accepts.
SUPPORTED = ("application/json", "text/csv", "application/vnd.apache.parquet")


def forward_request(body: bytes, mime_type: str) -> InferenceRequest:
    """The V2 request that carries an ``/invocations`` body to the model."""
    data = np.empty(1, dtype=object)
    data[0] = body
    return InferenceRequest(
        inputs=[RequestInput(INVOCATIONS, [1], "BYTES", data=data)],
        parameters={INVOCATIONS: mime_type},
    )


def _body(request: InferenceRequest) -> bytes:
    if len(request.inputs) != 1 or request.inputs[0].datatype != "BYTES":
        raise BadRequest(f"an {INVOCATIONS} request carries exactly one BYTES input")
    value = np.asarray(request.inputs[0].data).reshape(-1)
    if value.size != 1:
        raise BadRequest(f"an {INVOCATIONS} request carries exactly one body")
    item = value[0]
    return bytes(item) if not isinstance(item, str) else item.encode()


def _scoring_server() -> Any:
    # Its functions are untyped; the module as ``Any`` keeps mypy --strict quiet about that.
    return importlib.import_module("mlflow.pyfunc.scoring_server")


def parse_body(request: InferenceRequest, metadata: Any, schema: Any) -> tuple[Any, Any, bool]:
    """``(data, params, unwrapped)`` as MLflow's scoring server parses the body; ``unwrapped``
    is true for the unified LLM format, whose answer has no ``predictions`` wrapper."""
    from mlflow.exceptions import MlflowException

    scoring_server = _scoring_server()

    mime_type = str(request.parameters[INVOCATIONS]) if request.parameters else ""
    body = _body(request)
    try:
        if mime_type == "text/csv":
            text = body.decode("utf-8")
            return scoring_server.parse_csv_input(io.StringIO(text), schema=schema), None, False
        if mime_type == "application/vnd.apache.parquet":
            return scoring_server.parse_parquet_input(io.BytesIO(body)), None, False
        if mime_type == "application/json":
            parsed = scoring_server._parse_json_data(body, metadata, schema)
            return parsed.data, parsed.params, bool(parsed.is_unified_llm_input)
    except MlflowException as exc:
        raise BadRequest(exc.message) from None
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not valid UTF-8: {exc}") from None
    raise BadRequest(
        f"content type {mime_type!r} is not one MLflow's scoring protocol takes"
        f" ({', '.join(SUPPORTED)})"
    )


def predictions_json(value: Any, unwrapped: bool) -> bytes:
    """The prediction as MLflow's scoring server writes it."""
    scoring_server = _scoring_server()

    out = io.StringIO()
    if unwrapped:
        scoring_server.unwrapped_predictions_to_json(value, out)
    else:
        scoring_server.predictions_to_json(value, out)
    return out.getvalue().encode()
