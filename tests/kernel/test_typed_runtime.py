"""Typed runtimes: ``predict`` takes and returns values; the kernel decodes, matches inputs to
parameters by name, and encodes the result. Real kernels, real pandas frames."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from codec_wire import WIRES, request_over, response_over
from core_helpers import Plugin, make_kernel, write_model

from kernel import Runtime
from kernel.codecs import CodecError, decode_response, encode_request
from kernel.errors import InferenceError
from kernel.lifecycle import Kernel
from protocol.messages import InferenceRequest, InferenceResponse, RequestInput

pytestmark = pytest.mark.anyio


class Scale(Runtime):
    """Arrays and text by name, several outputs from a tuple."""

    async def predict(
        self,
        x: npt.NDArray[np.float32],
        words: list[str],
        factor: npt.NDArray[np.float32] | None = None,
    ) -> tuple[npt.NDArray[np.float32], list[str]]:
        scale = 2.0 if factor is None else float(factor.reshape(-1)[0])
        return (x * np.float32(scale)).astype(np.float32), [w.upper() for w in words]


class Frame(Runtime):
    """A whole DataFrame in, a DataFrame out."""

    async def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.copy()
        out["total"] = frame["a"] * 10
        return out


class Named(Runtime):
    """A dict of named arrays in and out."""

    async def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {f"{k}_sum": np.array([v.sum()]) for k, v in inputs.items()}


class Dates(Runtime):
    async def predict(self, when: list[dt.datetime]) -> list[dt.datetime]:
        return [w + dt.timedelta(days=1) for w in when]


class Bad(Runtime):
    async def predict(self, x: np.ndarray) -> np.ndarray:
        return object()  # type: ignore[return-value]


class Plain(Runtime):
    """The message API, untouched by the typed path."""

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        return InferenceResponse(model_name="", outputs=[])


def _plugin() -> Plugin:
    return Plugin(scale=Scale, frame=Frame, named=Named, dates=Dates, bad=Bad, plain=Plain)


def _kernel(tmp_path: Path, **models: dict[str, Any]) -> Kernel:
    for name, settings in models.items():
        write_model(tmp_path / name, settings)
    return make_kernel(tmp_path, _plugin())


def _arrays(**values: Any) -> InferenceRequest:
    return encode_request(values, content_type="dict")


@pytest.mark.parametrize("wire", WIRES)
async def test_inputs_by_name_and_tuple_outputs(tmp_path: Path, wire: str) -> None:
    async with _kernel(tmp_path, s={"implementation": "scale"}) as kernel:
        x = np.array([[1, 2], [3, 4]], dtype=np.float32)
        response = await kernel.infer("s", None, request_over(wire, _arrays(x=x, words=["a", "b"])))
        got = decode_response(response_over(wire, response))
        np.testing.assert_array_equal(got["output-0"], x * 2)
        assert got["output-0"].dtype == np.float32
        assert got["output-1"] == ["A", "B"]
        factor = np.array([3], dtype=np.float32)
        again = await kernel.infer("s", None, _arrays(x=x, words=["c"], factor=factor))
        np.testing.assert_array_equal(again.outputs[0].data, x * 3)


async def test_missing_and_extra_inputs_are_400s_naming_them(tmp_path: Path) -> None:
    async with _kernel(tmp_path, s={"implementation": "scale"}) as kernel:
        x = np.ones((1, 2), dtype=np.float32)
        with pytest.raises(CodecError) as info:
            await kernel.infer("s", None, _arrays(x=x, extra=np.array([1])))
        assert str(info.value) == (
            "missing input(s) 'words'; unexpected input(s) 'extra'"
            " (the model takes 'x', 'words', 'factor')"
        )
        text = kernel.metrics().decode()
        assert 'model="s",version="",protocol="rest",code="400"} 1' in text


async def test_declared_output_names_are_used(tmp_path: Path) -> None:
    settings = {
        "implementation": "scale",
        "outputs": [
            {"name": "scaled", "datatype": "FP32", "shape": [-1, -1]},
            {"name": "upper", "datatype": "BYTES", "shape": [-1]},
        ],
    }
    async with _kernel(tmp_path, s=settings) as kernel:
        response = await kernel.infer("s", None, _arrays(x=np.ones(2, np.float32), words=["q"]))
        assert [o.name for o in response.outputs] == ["scaled", "upper"]


@pytest.mark.parametrize("wire", WIRES)
async def test_dataframe_in_and_out(tmp_path: Path, wire: str) -> None:
    frame = pd.DataFrame(
        {
            "a": pd.array([1, None, 3], dtype="Int64"),
            "name": ["x", None, "z"],
            "kind": pd.Categorical(["p", "q", "p"]),
            "at": pd.to_datetime(["2024-01-01", None, "2024-03-01"]).tz_localize("UTC"),
        }
    )
    async with _kernel(tmp_path, f={"implementation": "frame"}) as kernel:
        response = await kernel.infer("f", None, request_over(wire, encode_request(frame)))
        assert response.parameters["content_type"] == "pd"  # type: ignore[index]
        got = decode_response(response_over(wire, response))
        expected = frame.assign(total=frame["a"] * 10)
        pd.testing.assert_frame_equal(got, expected)


async def test_whole_request_parameter_refuses_another_request_codec(tmp_path: Path) -> None:
    async with _kernel(tmp_path, f={"implementation": "frame"}) as kernel:
        request = encode_request({"a": np.array([1])}, content_type="dict")
        with pytest.raises(CodecError, match="content type 'dict' does not apply"):
            await kernel.infer("f", None, request)


async def test_dict_in_and_out(tmp_path: Path) -> None:
    async with _kernel(tmp_path, n={"implementation": "named"}) as kernel:
        response = await kernel.infer("n", None, _arrays(a=np.arange(4), b=np.ones(3)))
        got = decode_response(response)
        assert {k: v.tolist() for k, v in got.items()} == {"a_sum": [6], "b_sum": [3.0]}


async def test_datetimes_in_and_out(tmp_path: Path) -> None:
    async with _kernel(tmp_path, d={"implementation": "dates"}) as kernel:
        when = [dt.datetime(2024, 2, 28, 12, tzinfo=dt.UTC)]
        request = encode_request({"when": when}, content_type="dict")
        got = decode_response(await kernel.infer("d", None, request))
        assert got == [dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC)]


async def test_content_type_precedence(tmp_path: Path) -> None:
    """The request's content type, then the input's, then the settings', then the type's."""
    text = np.array([b"AAE=", b"/w=="], dtype=object)

    class Echo(Runtime):
        async def predict(self, words: list[str]) -> list[str]:
            return [repr(w) for w in words]

    settings = {
        "implementation": "echoish",
        "inputs": [
            {
                "name": "words",
                "datatype": "BYTES",
                "shape": [-1],
                "parameters": {"content_type": "base64"},
            }
        ],
    }
    write_model(tmp_path / "m", settings)
    async with make_kernel(tmp_path, Plugin(echoish=Echo)) as kernel:

        def req(
            inp: dict[str, Any] | None = None, top: dict[str, Any] | None = None
        ) -> InferenceRequest:
            return InferenceRequest(
                inputs=[RequestInput("words", [2], "BYTES", inp or {}, text)], parameters=top or {}
            )

        async def ask(r: InferenceRequest) -> Any:
            return decode_response(await kernel.infer("m", None, r))

        assert await ask(req()) == ["b'\\x00\\x01'", "b'\\xff'"]  # settings: base64
        assert await ask(req({"content_type": "str"})) == ["'AAE='", "'/w=='"]  # input's own
        both = req({"content_type": "base64"}, {"content_type": "str"})
        assert await ask(both) == ["'AAE='", "'/w=='"]  # the request's wins
        with pytest.raises(CodecError, match="unknown content type 'csv' in input 'words'"):
            await ask(req({"content_type": "csv"}))


async def test_metadata_from_the_signature(tmp_path: Path) -> None:
    async with _kernel(
        tmp_path, s={"implementation": "scale"}, f={"implementation": "frame"}
    ) as kernel:
        meta = kernel.model_metadata("s", None)
        assert [(t.name, t.datatype, t.shape, t.parameters) for t in meta.inputs] == [
            ("x", "FP32", [-1], {"content_type": "np"}),
            ("words", "BYTES", [-1], {"content_type": "str"}),
            ("factor", "FP32", [-1], {"content_type": "np"}),
        ]
        assert [(t.name, t.datatype) for t in meta.outputs] == [
            ("output-0", "FP32"),
            ("output-1", "BYTES"),
        ]
        config = kernel.model_config("s", None)
        assert [i.data_type for i in config.input] == ["TYPE_FP32", "TYPE_STRING", "TYPE_FP32"]
        assert kernel.model_metadata("f", None).inputs == []


async def test_a_result_that_cannot_be_encoded_is_a_500(tmp_path: Path) -> None:
    async with _kernel(tmp_path, b={"implementation": "bad"}) as kernel:
        with pytest.raises(InferenceError, match="predict returned a value that cannot be encoded"):
            await kernel.infer("b", None, _arrays(x=np.ones(1)))


async def test_unusable_signatures_fail_the_load_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "models.py").write_text(
        "from kernel import Runtime\n"
        "class Odd(Runtime):\n"
        "    async def predict(self, x: set[int]) -> list[str]:\n"
        "        return []\n"
        "class Star(Runtime):\n"
        "    async def predict(self, *xs: list[str]) -> list[str]:\n"
        "        return []\n"
    )
    write_model(tmp_path / "m", {"implementation": "models.Odd"})
    write_model(tmp_path / "n", {"implementation": "models.Star"})
    (tmp_path / "n" / "models.py").write_text((tmp_path / "m" / "models.py").read_text())
    async with make_kernel(tmp_path, _plugin()) as kernel:
        index = {e.name: e.reason for e in await kernel.repository_index()}
        assert "parameter 'x' is set[int], which no codec decodes" in index["m"]
        assert "*args/**kwargs cannot be matched to inputs" in index["n"]


async def test_message_runtimes_are_not_typed(tmp_path: Path) -> None:
    async with _kernel(
        tmp_path, p={"implementation": "plain"}, e={"implementation": "echo"}
    ) as kernel:
        for name in ("p", "e"):
            assert kernel._find(name, None).typed is None
        response = await kernel.infer("e", None, _arrays(x=np.arange(3)))
        assert response.outputs[0].data.tolist() == [0, 1, 2]


def test_typed_decoding_runs_in_the_executor(tmp_path: Path) -> None:
    import threading

    seen: list[str] = []

    class Where(Runtime):
        async def predict(self, x: np.ndarray) -> np.ndarray:
            seen.append(threading.current_thread().name)
            return x

    write_model(tmp_path / "w", {"implementation": "where"})

    async def run() -> None:
        async with make_kernel(tmp_path, Plugin(where=Where)) as kernel:
            await kernel.infer("w", None, _arrays(x=np.ones(2)))

    asyncio.run(run())
    assert seen
    assert seen[0] != threading.main_thread().name
