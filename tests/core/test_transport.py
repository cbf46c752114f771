"""The transport: headers, retries, error mapping, streams — in memory and over real sockets."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from cn_llm_client import _transport
from cn_llm_client._transport import AsyncTransport, Timeouts, Transport
from cn_llm_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CNLLMError,
    ConfigurationError,
    InsufficientBalanceError,
    InvalidRequestError,
    ModelNotFoundError,
    ProtocolError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from cn_llm_client.testing import FakeGateway, Fault

KEY = "sk-secret-123"
PAYLOAD = {"model": "qwen3-max", "messages": [{"role": "user", "content": "你好"}]}
STREAM = {**PAYLOAD, "stream": True, "stream_options": {"include_usage": True}}
COMPLETION = {
    "id": "c1",
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
}


def sse(*payloads: Any, done: bool = True) -> bytes:
    lines = [
        b"data: " + (p if isinstance(p, bytes) else orjson.dumps(p)) + b"\n\n" for p in payloads
    ]
    return b"".join(lines) + (b"data: [DONE]\n\n" if done else b"")


def chunk(content: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "m",
        "created": 1,
        "choices": [{"index": 0, "delta": {"content": content}, **extra}],
    }


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the retry waits the transport decides on, and skip the waiting."""
    seen: list[float] = []
    decide = _transport._Core.retry_delay

    def record(self: Any, *args: Any) -> float | None:
        delay = decide(self, *args)
        if delay is not None:
            seen.append(delay)
            return 0.0
        return None

    monkeypatch.setattr(_transport._Core, "retry_delay", record)
    return seen


def mock(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Transport:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return Transport("https://api.example.com/v1", KEY, http_client=client, **kwargs)


def scripted(
    *responses: httpx.Response,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return handler, seen


# -- in memory ------------------------------------------------------------------------------


def test_headers_and_body(caplog: pytest.LogCaptureFixture) -> None:
    handler, seen = scripted(
        httpx.Response(
            200,
            json=COMPLETION,
            headers={"x-request-id": "r1", "x-ratelimit-remaining-requests": "59"},
        )
    )
    with caplog.at_level(logging.DEBUG, logger="cn_llm_client"):
        result = mock(handler, default_headers={"X-Trace": "t"}).post("/chat/completions", PAYLOAD)
    assert result.data == COMPLETION and result.request_id == "r1"
    assert result.headers["x-ratelimit-remaining-requests"] == "59"
    request = seen[0]
    assert str(request.url) == "https://api.example.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"].startswith("cn-llm/")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-trace"] == "t"
    assert orjson.loads(request.content) == PAYLOAD
    assert "200" in caplog.text and "request_id=r1" in caplog.text
    assert KEY not in caplog.text and KEY not in repr(mock(handler))


def test_no_authorization_without_key() -> None:
    handler, seen = scripted(httpx.Response(200, json=COMPLETION))
    client = httpx.Client(transport=httpx.MockTransport(handler))
    Transport("http://127.0.0.1:9/v1", None, http_client=client).post("/chat/completions", PAYLOAD)
    assert "authorization" not in seen[0].headers


def test_bad_base_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        Transport("api.aisa.one/v1", KEY)


def test_deepseek_blank_lines_before_json() -> None:
    handler, _ = scripted(httpx.Response(200, content=b"\n\n\n" + orjson.dumps(COMPLETION)))
    assert mock(handler).post("/chat/completions", PAYLOAD).data == COMPLETION


@pytest.mark.parametrize("body", [b"<html>Welcome</html>", b"", b'{"id": "x", "cho', b"[1]"])
def test_non_json_2xx_is_a_protocol_error(body: bytes) -> None:
    handler, seen = scripted(httpx.Response(200, content=body))
    with pytest.raises(ProtocolError):
        mock(handler).post("/chat/completions", PAYLOAD)
    assert len(seen) == 1  # never retried


def test_retries_then_succeeds_honouring_retry_after(delays: list[float]) -> None:
    handler, seen = scripted(
        httpx.Response(
            429,
            json={"error": {"code": "rate_limit_exceeded", "message": "slow"}},
            headers={"Retry-After": "3"},
        ),
        httpx.Response(503, text="<html>busy</html>"),
        httpx.Response(200, json=COMPLETION),
    )
    assert mock(handler).post("/chat/completions", PAYLOAD).data == COMPLETION
    assert len(seen) == 3
    assert delays[0] == 3.0 and 0.5 <= delays[1] <= 1.0  # Retry-After, then backoff with jitter


def test_retries_exhausted_raise_the_last_error(delays: list[float]) -> None:
    handler, seen = scripted(*[httpx.Response(502, text="<h1>502 Bad Gateway</h1>")] * 3)
    with pytest.raises(ServerError, match="502 Bad Gateway") as info:
        mock(handler, max_retries=2).post("/chat/completions", PAYLOAD)
    assert len(seen) == 3 and len(delays) == 2
    assert info.value.status_code == 502


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, Exception),
        (401, AuthenticationError),
        (402, InsufficientBalanceError),
        (404, ModelNotFoundError),
        (422, Exception),
    ],
)
def test_client_errors_are_never_retried(status: int, cls: type, delays: list[float]) -> None:
    handler, seen = scripted(httpx.Response(status, json={"error": {"message": "no"}}))
    with pytest.raises(cls) as info:
        mock(handler).post("/chat/completions", PAYLOAD)
    assert len(seen) == 1 and delays == []
    assert KEY not in str(info.value)


def test_long_retry_after_is_not_waited(delays: list[float]) -> None:
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitError) as info:
        mock(handler).post("/chat/completions", PAYLOAD)
    assert info.value.retry_after == 3600 and len(seen) == 1


def test_connect_errors_are_retried_and_mapped(delays: list[float]) -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("Connection refused", request=request)

    with pytest.raises(APIConnectionError) as info:
        mock(refuse).post("/chat/completions", PAYLOAD)
    assert len(calls) == 3
    assert info.value.host == "api.example.com" and "api.example.com" in str(info.value)
    assert KEY not in str(info.value)


def test_read_timeout_is_not_retried(delays: list[float]) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(APITimeoutError):
        mock(slow).post("/chat/completions", PAYLOAD)
    assert delays == []


# -- request(): any method, multipart, query args, raw bodies -------------------------------


def test_request_get_with_params_and_json_reply() -> None:
    listing = {"object": "list", "data": [{"id": "file-1"}]}
    handler, seen = scripted(httpx.Response(200, json=listing, headers={"x-request-id": "r9"}))
    result = mock(handler).request("GET", "/files", params={"purpose": "batch", "limit": 2})
    assert result.data == listing and result.request_id == "r9" and result.content == b""
    request = seen[0]
    assert request.method == "GET" and request.url.params["purpose"] == "batch"
    assert request.url.params["limit"] == "2" and request.content == b""
    assert "content-type" not in request.headers  # no body, no body type
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_request_raw_returns_the_body_bytes() -> None:
    jsonl = b'{"custom_id": "a"}\n{"custom_id": "b"}\n'
    handler, seen = scripted(httpx.Response(200, content=jsonl))
    result = mock(handler).request("GET", "/files/file-1/content", raw=True)
    assert result.content == jsonl and result.data == {}
    assert seen[0].url.path == "/v1/files/file-1/content"


def test_request_raw_error_status_is_still_mapped() -> None:
    handler, _ = scripted(httpx.Response(404, json={"error": {"message": "No such file"}}))
    with pytest.raises(APIStatusError, match="No such file"):
        mock(handler).request("GET", "/files/nope/content", raw=True)


def test_request_multipart_upload() -> None:
    handler, seen = scripted(httpx.Response(200, json={"id": "file-1", "object": "file"}))
    result = mock(handler).request(
        "POST",
        "/files",
        files={"file": ("batch.jsonl", b'{"custom_id": "a"}\n', "application/jsonl")},
        data={"purpose": "batch"},
    )
    assert result.data["id"] == "file-1"
    request = seen[0]
    kind = request.headers["content-type"]
    assert kind.startswith("multipart/form-data; boundary=")  # httpx's, not our JSON type
    body = request.read()
    assert b'name="purpose"' in body and b"batch" in body
    assert b'filename="batch.jsonl"' in body and b'{"custom_id": "a"}' in body


def test_request_upload_is_sent_whole_again_on_retry(delays: list[float]) -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.read())
        if len(bodies) == 1:
            return httpx.Response(503, json={"error": {"message": "busy"}})
        return httpx.Response(200, json={"id": "file-1"})

    upload = io.BytesIO(b"line one\n")
    mock(handler).request("POST", "/files", files={"file": ("a.jsonl", upload)})
    assert len(bodies) == 2  # each attempt has its own boundary; both carry the whole file
    assert all(b"\r\n\r\nline one\n\r\n--" in body for body in bodies)


def test_request_json_and_files_together_is_refused_before_sending() -> None:
    handler, seen = scripted()
    with pytest.raises(InvalidRequestError, match="not both"):
        mock(handler).request("POST", "/files", json={"a": 1}, files={"file": b"x"})
    assert seen == []


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_idempotent_methods_retry_any_transport_failure(method: str, delays: list[float]) -> None:
    handler_calls: list[httpx.Request] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        handler_calls.append(request)
        if len(handler_calls) == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"id": "file-1", "deleted": True})

    result = mock(flaky).request(method, "/files/file-1")
    assert result.data["id"] == "file-1" and len(handler_calls) == 2 and len(delays) == 1
    assert handler_calls[0].method == method


def test_post_read_timeout_is_retried_only_when_declared_idempotent(delays: list[float]) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(APITimeoutError):
        mock(slow).request("POST", "/x", json={})
    assert delays == []
    with pytest.raises(APITimeoutError):
        mock(slow).request("POST", "/x", json={}, idempotent=True)
    assert len(delays) == 2


async def test_async_request_get_raw_and_multipart() -> None:
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, content=b"a\nb\n")
        if request.method == "DELETE":
            return httpx.Response(200, json={"deleted": True})
        return httpx.Response(200, json={"id": "file-2"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    transport = AsyncTransport("https://api.example.com/v1", KEY, http_client=client)
    got = await transport.request("GET", "/files/f/content", raw=True, params={"x": "1"})
    assert got.content == b"a\nb\n" and got.data == {}
    assert (await transport.request("DELETE", "/files/f")).data == {"deleted": True}
    up = await transport.request("POST", "/files", files={"file": ("f.jsonl", b"{}\n")})
    assert up.data == {"id": "file-2"}
    assert [r.method for r in seen] == ["GET", "DELETE", "POST"]
    assert seen[0].url.params["x"] == "1"
    assert seen[2].headers["content-type"].startswith("multipart/form-data")
    await client.aclose()


def test_model_not_found_gets_suggestions_from_the_transports_provider() -> None:
    unknown = {"error": {"code": "unknown_model", "message": "no such model"}}
    handler, _ = scripted(httpx.Response(404, json=unknown))
    with pytest.raises(ModelNotFoundError) as info:
        mock(handler, provider="aisa").post("/chat/completions", {**PAYLOAD, "model": "qwen-max3"})
    assert info.value.suggestions[0] == "qwen3-max"
    assert "Did you mean: qwen3-max" in str(info.value)
    # the same inside a stream, and for a proxy's wording (LiteLLM)
    litellm = {"error": {"message": "Invalid model name passed in model=qwen-max3", "code": "400"}}
    handler, _ = scripted(httpx.Response(200, content=sse(chunk("x"), litellm, done=False)))
    with pytest.raises(ModelNotFoundError) as streamed:
        list(
            mock(handler, provider="aisa").stream(
                "/chat/completions", {**STREAM, "model": "qwen-max3"}
            )
        )
    assert streamed.value.suggestions[0] == "qwen3-max"


def test_401_names_the_key_variable_of_the_transports_provider() -> None:
    handler, _ = scripted(httpx.Response(401, json={"error": {"message": "bad key"}}))
    with pytest.raises(AuthenticationError) as info:
        mock(handler, provider="deepseek").post("/chat/completions", PAYLOAD)
    assert "Check DEEPSEEK_API_KEY" in str(info.value) and "AISA" not in str(info.value)


@pytest.mark.parametrize(("model", "unknown"), [("qwen-max3", True), ("qwen3-max", False)])
def test_no_available_channels_for_an_unknown_model_is_model_not_found(
    model: str, unknown: bool, delays: list[float]
) -> None:
    """One-api style gateways answer a wrong model id with 503 "No available channels"."""
    busy = {"error": {"message": "No available channels for model", "type": "upstream_error"}}
    handler, seen = scripted(*[httpx.Response(503, json=busy)] * 3)
    with pytest.raises(APIStatusError) as info:
        mock(handler, provider="aisa").post("/chat/completions", {**PAYLOAD, "model": model})
    assert isinstance(info.value, ModelNotFoundError) is unknown
    assert len(seen) == (1 if unknown else 3)  # a known model's 503 is an outage: retried
    if unknown:
        assert "qwen3-max" in info.value.suggestions


def test_stream_yields_chunks_and_folds() -> None:
    body = sse(
        chunk("你"),
        chunk("好", finish_reason="stop"),
        {"id": "c1", "choices": [], "usage": {"total_tokens": 9}},
    )
    handler, seen = scripted(httpx.Response(200, content=body, headers={"x-request-id": "r2"}))
    with mock(handler).stream("/chat/completions", STREAM) as stream:
        chunks = list(stream)
    assert len(chunks) == 3 and stream.request_id == "r2"
    assert seen[0].headers["accept"] == "text/event-stream"
    done = stream.completion()
    assert done["choices"][0]["message"]["content"] == "你好"
    assert done["choices"][0]["finish_reason"] == "stop" and done["usage"] == {"total_tokens": 9}


def test_stream_without_done_keeps_partial() -> None:
    handler, _ = scripted(httpx.Response(200, content=sse(chunk("半"), done=False)))
    stream = mock(handler, max_retries=0).stream("/chat/completions", STREAM)
    received: list[dict[str, Any]] = []
    with pytest.raises(StreamInterruptedError) as info:
        received.extend(stream)
    assert len(received) == 1
    assert info.value.partial is not None
    assert info.value.partial["choices"][0]["message"]["content"] == "半"


def test_stream_error_event_raises_matching_class_with_partial() -> None:
    error = {
        "error": {"type": "rate_limit_error", "code": "rate_limit_exceeded", "message": "slow down"}
    }
    handler, _ = scripted(httpx.Response(200, content=sse(chunk("a"), error)))
    with pytest.raises(RateLimitError, match="slow down") as info:
        list(mock(handler).stream("/chat/completions", STREAM))
    assert info.value.partial["choices"][0]["message"]["content"] == "a"  # type: ignore[index]


def test_stream_malformed_event_is_a_protocol_error_with_partial() -> None:
    handler, _ = scripted(httpx.Response(200, content=sse(chunk("a"), b'{"choices": [')))
    with pytest.raises(ProtocolError) as info:
        list(mock(handler).stream("/chat/completions", STREAM))
    assert info.value.partial["choices"][0]["message"]["content"] == "a"  # type: ignore[index]


def test_reasoning_field_is_normalised_in_bodies_and_chunks() -> None:
    message = {"role": "assistant", "content": "4", "reasoning": "2+2=4"}
    body = {**COMPLETION, "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    handler, _ = scripted(httpx.Response(200, json=body))
    got = mock(handler).post("/chat/completions", PAYLOAD).data["choices"][0]["message"]
    assert got == {"role": "assistant", "content": "4", "reasoning_content": "2+2=4"}
    think = {"id": "c1", "choices": [{"index": 0, "delta": {"reasoning": "嗯"}}]}
    handler, _ = scripted(httpx.Response(200, content=sse(think, chunk("好"))))
    with mock(handler).stream("/chat/completions", STREAM) as stream:
        deltas = [c["choices"][0]["delta"] for c in stream]
    assert deltas == [{"reasoning_content": "嗯"}, {"content": "好"}]
    assert stream.completion()["choices"][0]["message"]["reasoning_content"] == "嗯"


@pytest.mark.parametrize(
    ("raw", "cls"),
    [
        ({"code": 20012, "message": "Model does not exist", "data": None}, ModelNotFoundError),
        ({"object": "error", "message": "bad", "type": "x", "code": 400}, BadRequestError),
        ({"error": "model 'x' not found"}, ServerError),
    ],
)
def test_error_shapes_in_2xx_bodies_and_streams(raw: dict[str, Any], cls: type[CNLLMError]) -> None:
    handler, _ = scripted(httpx.Response(200, json=raw))
    with pytest.raises(cls):
        mock(handler).post("/chat/completions", PAYLOAD)
    handler, _ = scripted(httpx.Response(200, content=sse(chunk("a"), raw)))
    with pytest.raises(cls) as info:
        list(mock(handler).stream("/chat/completions", STREAM))
    assert info.value.partial is not None
    assert info.value.partial["choices"][0]["message"]["content"] == "a"


def test_named_error_event_and_split_reads() -> None:
    raw = b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"\xe4\xbd\xa0"}}]}\n\n'
    raw += b'event: error\ndata: {"message": "overloaded", "code": 503}\n\n'
    reads = [raw[i : i + 7] for i in range(0, len(raw), 7)]  # cuts inside the UTF-8 character

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Reads(reads))

    with pytest.raises(ServerError, match="overloaded") as info:
        list(mock(handler, max_retries=0).stream("/chat/completions", STREAM))
    assert info.value.status_code == 503
    assert info.value.partial["choices"][0]["message"]["content"] == "你"  # type: ignore[index]


class _Reads(httpx.SyncByteStream):
    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.reads)


def test_stream_retried_only_before_first_event(delays: list[float]) -> None:
    handler, seen = scripted(
        httpx.Response(503, json={"error": {"message": "busy"}}),
        httpx.Response(200, content=sse(chunk("ok"))),
    )
    assert [
        c["choices"][0]["delta"]["content"]
        for c in mock(handler).stream("/chat/completions", STREAM)
    ] == ["ok"]
    assert len(seen) == 2
    handler, seen = scripted(*[httpx.Response(200, content=sse(chunk("x"), done=False))] * 3)
    with pytest.raises(StreamInterruptedError):
        list(mock(handler).stream("/chat/completions", STREAM))
    assert len(seen) == 1  # a chunk had arrived: never sent again


class _Breaks(httpx.SyncByteStream):
    """A response body that fails with `error` after `reads`."""

    def __init__(self, reads: list[bytes], error: Exception) -> None:
        self.reads, self.error = reads, error

    def __iter__(self) -> Iterator[bytes]:
        yield from self.reads
        raise self.error


@pytest.mark.parametrize("how", ["eof", "dropped"])
def test_a_stream_closed_before_its_first_event_says_so(how: str, delays: list[float]) -> None:
    """llama.cpp closes an over-long prompt's stream before any event: say so, not "partial"."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"content-type": "text/event-stream"}
        if how == "eof":
            return httpx.Response(200, headers=headers, content=b": ping\n\n")
        dropped = httpx.RemoteProtocolError("peer closed connection without sending complete body")
        return httpx.Response(200, headers=headers, stream=_Breaks([], dropped))

    with pytest.raises(StreamInterruptedError) as info:
        list(mock(handler).stream("/chat/completions", STREAM))
    text = str(info.value)
    assert "closed the stream before sending anything" in text
    assert "context length" in text and "\n" not in text
    assert "without [DONE]" not in text and ".partial" not in text
    assert len(seen) == 3  # nothing had arrived, so it was safe to send again (and it was)
    assert info.value.arrived is False
    assert info.value.partial["choices"][0]["message"]["content"] is None  # type: ignore[index]


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (httpx.Response(200, html="<html>Welcome to the portal</html>"), ProtocolError),
        (httpx.Response(200, json=COMPLETION), ProtocolError),
        (httpx.Response(200, json={"error": {"code": "invalid_api_key", "message": "no"}}), None),
    ],
)
def test_stream_answered_with_a_whole_body(
    response: httpx.Response, cls: type[CNLLMError] | None, delays: list[float]
) -> None:
    """A 2xx JSON/HTML body to a stream request: its error or ProtocolError, never retried."""
    handler, seen = scripted(response, response)
    with pytest.raises(CNLLMError) as caught:
        list(mock(handler).stream("/chat/completions", STREAM))
    assert not isinstance(caught.value, StreamInterruptedError)
    if cls is not None:
        assert isinstance(caught.value, cls)
    else:
        assert caught.value.code == "invalid_api_key"
    assert len(seen) == 1 and delays == []


def test_caller_client_is_not_closed() -> None:
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=COMPLETION))
    )
    Transport("https://x.test/v1", KEY, http_client=client).close()
    assert not client.is_closed
    own = Transport("https://x.test/v1", KEY)
    own.close()
    assert own._client.is_closed


async def test_async_mock_stream_and_post() -> None:
    async def body() -> AsyncIterator[bytes]:
        raw = sse(chunk("你好"))
        yield raw[:30]
        yield raw[30:]

    def handler(request: httpx.Request) -> httpx.Response:
        if orjson.loads(request.content).get("stream"):
            return httpx.Response(200, content=body())
        return httpx.Response(200, json=COMPLETION)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    transport = AsyncTransport("https://api.example.com/v1", KEY, http_client=client)
    assert (await transport.post("/chat/completions", PAYLOAD)).data == COMPLETION
    async with transport.stream("/chat/completions", STREAM) as stream:
        assert [c async for c in stream][0]["choices"][0]["delta"]["content"] == "你好"
    await transport.aclose()
    assert not client.is_closed
    await client.aclose()


# -- over real sockets, against the offline gateway ------------------------------------------


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as gw:
        yield gw


@pytest.fixture
def gw(gateway: FakeGateway) -> FakeGateway:
    gateway.reset()
    return gateway


def real(gw: FakeGateway, **kwargs: Any) -> Transport:
    return Transport(gw.base_url, gw.api_key, **kwargs)


def real_async(gw: FakeGateway, **kwargs: Any) -> AsyncTransport:
    return AsyncTransport(gw.base_url, gw.api_key, **kwargs)


def test_real_keep_alive_comments_count_as_activity(gw: FakeGateway) -> None:
    gw.push(Fault.keepalive(4, interval=0.15))
    with (
        real(gw, timeout=Timeouts(read=0.4)) as transport,
        transport.stream("/chat/completions", STREAM) as stream,
    ):
        chunks = list(stream)
    assert chunks and stream.completion()["choices"][0]["message"]["content"]
    assert stream.completion()["usage"]["total_tokens"] > 0


def test_real_blank_lines_before_json(gw: FakeGateway) -> None:
    gw.push(Fault.keepalive(3, interval=0.1))
    with real(gw, timeout=Timeouts(read=0.3)) as transport:
        data = transport.post("/chat/completions", PAYLOAD).data
    assert data["choices"][0]["message"]["content"]


def test_real_stall_past_read_timeout_keeps_partial(gw: FakeGateway) -> None:
    gw.push(Fault.stall(2.0, after_events=2))
    with real(gw, timeout=Timeouts(read=0.3)) as transport, pytest.raises(APITimeoutError) as info:
        list(transport.stream("/chat/completions", STREAM))
    assert info.value.partial is not None
    assert info.value.partial["choices"][0]["message"]["content"]


def test_real_total_deadline(gw: FakeGateway) -> None:
    gw.push(Fault.keepalive(30, interval=0.05))
    with (
        real(gw, timeout=Timeouts(read=5, total=0.4)) as transport,
        pytest.raises(APITimeoutError, match="deadline"),
    ):
        list(transport.stream("/chat/completions", STREAM))


def test_real_cut_stream_keeps_partial(gw: FakeGateway) -> None:
    gw.push(Fault.cut_stream(2))
    with real(gw) as transport, pytest.raises(StreamInterruptedError) as info:
        list(transport.stream("/chat/completions", STREAM))
    assert info.value.partial["choices"][0]["message"]["content"]  # type: ignore[index]
    assert len(gw.requests) == 1


def test_real_mapped_errors_keep_the_http_library_error_as_cause(
    gw: FakeGateway, delays: list[float]
) -> None:
    gw.push(Fault.cut_stream(2))
    with real(gw) as transport, pytest.raises(StreamInterruptedError) as cut:
        list(transport.stream("/chat/completions", STREAM))
    assert isinstance(cut.value.__cause__, httpx.HTTPError)
    with (
        Transport("http://127.0.0.1:9/v1", None) as transport,
        pytest.raises(APIConnectionError) as refused,
    ):
        transport.post("/chat/completions", PAYLOAD)
    assert isinstance(refused.value.__cause__, httpx.ConnectError)


async def test_real_async_mapped_errors_keep_the_aiohttp_error_as_cause(
    gw: FakeGateway, delays: list[float]
) -> None:
    gw.push(Fault.cut_stream(2))
    async with real_async(gw) as transport:
        with pytest.raises(StreamInterruptedError) as cut:
            async for _ in transport.stream("/chat/completions", STREAM):
                pass
    assert isinstance(cut.value.__cause__, httpx.HTTPError)
    async with AsyncTransport("http://127.0.0.1:9/v1", None) as transport:
        with pytest.raises(APIConnectionError) as refused:
            await transport.post("/chat/completions", PAYLOAD)
    cause = refused.value.__cause__
    assert isinstance(cause, httpx.HTTPError)
    assert type(cause.__cause__).__module__.startswith("aiohttp")  # the whole chain is kept


def test_real_request_get_and_raw(gw: FakeGateway) -> None:
    with real(gw) as transport:
        listed = transport.request("GET", "/models")
        raw = transport.request("GET", "/models", raw=True)
    assert isinstance(listed.data.get("data"), list)
    assert orjson.loads(raw.content) == listed.data and raw.data == {}


def test_real_html_502_retried_then_ok(gw: FakeGateway, delays: list[float]) -> None:
    gw.push(Fault.status(502, html=True))
    with real(gw) as transport:
        assert transport.post("/chat/completions", PAYLOAD).data["choices"]
    assert len(gw.requests) == 2 and len(delays) == 1


def test_real_html_502_error_is_brief(gw: FakeGateway) -> None:
    gw.push(Fault.status(502, html=True, times=3))
    with real(gw, max_retries=0) as transport, pytest.raises(ServerError) as info:
        transport.post("/chat/completions", PAYLOAD)
    assert "<" not in str(info.value) and "502 Bad Gateway" in str(info.value)


def test_real_retry_after_and_counting(gw: FakeGateway, delays: list[float]) -> None:
    gw.push(Fault.status(429, retry_after=2, times=3))
    with real(gw) as transport, pytest.raises(RateLimitError) as info:
        transport.post("/chat/completions", PAYLOAD)
    assert info.value.retry_after == 2.0
    assert delays == [2.0, 2.0] and len(gw.requests) == 3


def test_real_wrong_key(gw: FakeGateway) -> None:
    with (
        Transport(gw.base_url, "sk-wrong") as transport,
        pytest.raises(AuthenticationError) as info,
    ):
        transport.post("/chat/completions", PAYLOAD)
    assert "sk-wrong" not in str(info.value) and "AISA_API_KEY" in str(info.value)
    assert len(gw.requests) == 1


@pytest.mark.parametrize(
    ("provider", "variable"), [("deepseek", "DEEPSEEK_API_KEY"), ("zhipu", "ZHIPUAI_API_KEY")]
)
def test_real_client_401_names_its_providers_key_variable(
    gw: FakeGateway, provider: str, variable: str
) -> None:
    from cn_llm_client import CNLLMClient

    with (
        CNLLMClient("sk-wrong", gw.base_url, provider=provider) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.chat("qwen3-max", [{"role": "user", "content": "hi"}])
    assert f"Check {variable}" in str(info.value) and "AISA_API_KEY" not in str(info.value)


def test_real_connection_refused(delays: list[float]) -> None:
    with (
        Transport("http://127.0.0.1:9/v1", None, timeout=Timeouts(connect=1)) as transport,
        pytest.raises(APIConnectionError) as info,
    ):
        transport.post("/chat/completions", PAYLOAD)
    assert not isinstance(info.value, APITimeoutError)
    assert len(delays) == 2


async def test_real_async_aiohttp_stream_and_timeouts(gw: FakeGateway) -> None:
    async with real_async(gw, timeout=Timeouts(read=0.4)) as transport:
        assert (await transport.post("/chat/completions", PAYLOAD)).data["choices"]
        gw.push(Fault.keepalive(4, interval=0.15))
        async with transport.stream("/chat/completions", STREAM) as stream:
            assert [c async for c in stream]
        gw.push(Fault.stall(2.0, after_events=2))
        with pytest.raises(APITimeoutError) as info:
            async with transport.stream("/chat/completions", STREAM) as stream:
                async for _ in stream:
                    pass
        assert info.value.partial["choices"][0]["message"]["content"]  # type: ignore[index]
        gw.push(Fault.cut_stream(1))
        with pytest.raises(StreamInterruptedError):
            async with transport.stream("/chat/completions", STREAM) as stream:
                async for _ in stream:
                    pass


async def test_real_async_connection_refused_is_not_a_timeout(delays: list[float]) -> None:
    async with AsyncTransport("http://127.0.0.1:9/v1", None) as transport:
        with pytest.raises(APIConnectionError) as info:
            await transport.post("/chat/completions", PAYLOAD)
    assert not isinstance(info.value, APITimeoutError)
    assert len(delays) == 2


async def test_real_async_cancel_mid_stream_leaves_pool_usable(gw: FakeGateway) -> None:
    gw.push(Fault.stall(5.0, after_events=1))
    async with real_async(gw) as transport:
        first = asyncio.Event()

        async def consume() -> None:
            async with transport.stream("/chat/completions", STREAM) as stream:
                async for _ in stream:
                    first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        results = await asyncio.gather(
            *[transport.post("/chat/completions", PAYLOAD) for _ in range(5)]
        )
        assert all(r.data["choices"] for r in results)


# -- the default async pool lives and dies with its event loop ---------------------------------


def _unclosed(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "nclosed" in str(w.message)]


def test_one_default_pool_per_loop_closed_when_the_loop_ends(gw: FakeGateway) -> None:
    transport = real_async(gw)
    pools: list[httpx.AsyncClient] = []

    async def main() -> str:
        answer = (await transport.post("/chat/completions", PAYLOAD)).data
        async with transport.stream("/chat/completions", STREAM) as stream:
            chunks = [c async for c in stream]
        pools.append(transport._client)
        assert not transport._client.is_closed
        return str(answer["choices"][0]["message"]["content"]) + str(len(chunks))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert asyncio.run(main()) and asyncio.run(main())  # the same transport, a new loop
        loop = asyncio.new_event_loop()  # a loop run by hand, shut down as asyncio.run does
        try:
            assert loop.run_until_complete(main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
        gc.collect()
    assert len({id(p) for p in pools}) == 3
    assert all(p.is_closed for p in pools)
    assert not transport._pools  # nothing kept for loops that are gone
    assert _unclosed(caught) == []


def test_a_dropped_transport_closes_its_pool_on_the_running_loop(gw: FakeGateway) -> None:
    async def main() -> httpx.AsyncClient:
        transport = real_async(gw)
        await transport.post("/chat/completions", PAYLOAD)
        pool = transport._client
        del transport
        gc.collect()  # the loop's async-generator finalizer schedules the close
        for _ in range(20):
            if pool.is_closed:
                break
            await asyncio.sleep(0.01)
        return pool

    assert asyncio.run(main()).is_closed


async def test_aclose_closes_the_loop_pool_and_the_next_request_reopens(gw: FakeGateway) -> None:
    transport = real_async(gw)
    await transport.post("/chat/completions", PAYLOAD)
    first = transport._client
    await transport.aclose()
    assert first.is_closed and not transport._pools
    assert (await transport.post("/chat/completions", PAYLOAD)).data["choices"]
    assert transport._client is not first
    await transport.aclose()


async def test_default_pool_holds_more_than_aiohttp_s_100_connections(gw: FakeGateway) -> None:
    # aiohttp's default pool (100) would serve 150 concurrent calls in two waves.
    gw.latency = 0.5
    try:
        async with real_async(gw) as transport:
            calls = (transport.post("/chat/completions", PAYLOAD) for _ in range(150))
            assert all(r.data["choices"] for r in await asyncio.gather(*calls))
    finally:
        gw.latency = 0.0
    assert gw.max_in_flight > 100


def test_a_caller_client_is_used_on_every_loop_and_never_closed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=COMPLETION)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    transport = AsyncTransport("https://api.example.com/v1", KEY, http_client=client)

    async def main() -> None:
        assert transport._client is client
        assert (await transport.post("/chat/completions", PAYLOAD)).data == COMPLETION
        await transport.aclose()

    asyncio.run(main())
    asyncio.run(main())
    assert not client.is_closed and not transport._pools


DROPPED_POOLS_SCRIPT = """
import asyncio, gc, weakref
from cn_llm_client import AsyncCNLLMClient
from cn_llm_client._transport import AsyncTransport
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM

HI = [{"role": "user", "content": "hi"}]
BODY = {"model": "qwen3-max", "messages": HI}

with FakeGateway() as gw:
    async def per_request():  # a client per request, dropped without aclose()
        for _ in range(3):
            client = AsyncCNLLMClient(gw.api_key, gw.base_url)
            await client.chat("qwen3-max", HI)
            del client
            llm = ChatCNLLM(model="qwen3-max", base_url=gw.base_url, api_key=gw.api_key)
            await llm.ainvoke("hi")
            del llm
            gc.collect()
        await asyncio.sleep(0.2)

    asyncio.run(per_request())
    print("per-request clients done", flush=True)
    transport = AsyncTransport(gw.base_url, gw.api_key)
    loops = []
    for _ in range(2):  # loops closed without shutdown_asyncgens()
        loop = asyncio.new_event_loop()
        loop.run_until_complete(transport.post("/chat/completions", BODY))
        loop.close()
        loops.append(weakref.ref(loop))
        del loop
    gc.collect()
    print("after another loop, the first is alive:", loops[0]() is not None, flush=True)
    del transport
    gc.collect()
    print("after the transport went, loops alive:", sum(r() is not None for r in loops), flush=True)
"""


def test_dropped_clients_and_abandoned_loops_leave_no_unclosed_pool(tmp_path: Any) -> None:
    """Issue 12.4: no "Unclosed connector", and no loop kept alive by the transport.

    A loop closed without shutdown_asyncgens() cannot run a close any more: its pool is released
    and its aiohttp session marked closed, and asyncio leaves its sockets to the garbage collector
    (its own "unclosed transport" ResourceWarning, as for any transport open when a loop closes).
    """
    script = tmp_path / "dropped.py"
    script.write_text(DROPPED_POOLS_SCRIPT)
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "always", str(script)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )  # fmt: skip
    output = done.stdout
    assert done.returncode == 0, output
    per_request, abandoned = output.split("per-request clients done", 1)
    assert "nclosed" not in per_request, per_request  # not even a socket left to the GC
    assert "after another loop, the first is alive: False" in abandoned, output
    assert "after the transport went, loops alive: 0" in abandoned, output
    assert "Unclosed" not in output and "Task was destroyed" not in output, output
    assert "Exception ignored" not in output, output


PYTEST_ASYNCIO_FILE = """
import pytest
from cn_llm_client._transport import AsyncTransport

PAYLOAD = {"model": "qwen3-max", "messages": [{"role": "user", "content": "hi"}]}
SHARED = {}
POOLS = []


@pytest.fixture(scope="module")
def transport(fake_gateway_session):
    return AsyncTransport(fake_gateway_session.base_url, fake_gateway_session.api_key)


@pytest.mark.parametrize("run", range(3))
async def test_each_test_loop_gets_a_pool(transport, run):
    assert (await transport.post("/chat/completions", PAYLOAD)).data["choices"]
    assert all(pool.is_closed for pool in POOLS)  # earlier tests' loops closed theirs
    POOLS.append(transport._client)
"""


def test_pytest_asyncio_loops_close_their_pools(tmp_path: Any) -> None:
    (tmp_path / "test_loops.py").write_text(PYTEST_ASYNCIO_FILE)
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "-o", "asyncio_mode=auto", "-W", "error::ResourceWarning", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert "3 passed" in done.stdout, done.stdout + done.stderr
    assert "nclosed" not in done.stdout + done.stderr


def test_stream_without_ids_is_not_sent_again_after_its_first_chunk(delays: list[float]) -> None:
    # Minimal servers omit `id` on chunks: a chunk that reached the caller must still end retries,
    # or the caller would see the same text twice.
    no_id = {"choices": [{"index": 0, "delta": {"content": "x"}}]}
    handler, seen = scripted(*[httpx.Response(200, content=sse(no_id, done=False))] * 3)
    got: list[dict[str, Any]] = []
    with pytest.raises(StreamInterruptedError) as info:
        for c in mock(handler).stream("/chat/completions", STREAM):
            got.append(c)
    assert len(seen) == 1 and len(got) == 1
    assert info.value.partial["choices"][0]["message"]["content"] == "x"  # type: ignore[index]


async def test_async_stream_without_ids_is_not_sent_again(delays: list[float]) -> None:
    no_id = {"choices": [{"index": 0, "delta": {"content": "x"}}]}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=sse(no_id, done=False))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    transport = AsyncTransport("https://api.example.com/v1", KEY, http_client=client)
    got = []
    with pytest.raises(StreamInterruptedError):
        async for c in transport.stream("/chat/completions", STREAM):
            got.append(c)
    assert len(seen) == 1 and len(got) == 1
    await client.aclose()


@pytest.mark.parametrize("key", ["sk-secret-123\n", "sk-secret-123 x", "sk-secret-123\u79d8"])
def test_a_key_no_header_can_carry_is_refused_without_showing_it(key: str) -> None:
    # Sent as is, h11 would quote "Bearer <key>" in its error, and non-ASCII raises
    # UnicodeEncodeError: both before any cn-llm error could say what is wrong.
    with pytest.raises(ConfigurationError) as info:
        Transport("https://api.example.com/v1", key)
    assert "sk-secret" not in str(info.value) and "sk-secret" not in repr(info.value)
    assert "API key" in str(info.value)


def test_a_key_quoted_in_an_http_library_error_is_redacted(delays: list[float]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"refused header {request.headers['authorization']}")

    with pytest.raises(APIConnectionError) as info:
        mock(handler, max_retries=0).post("/chat/completions", PAYLOAD)
    assert KEY not in str(info.value) and "refused header Bearer <api key>" in str(info.value)
