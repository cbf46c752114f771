"""Faults of a real gateway, through every way to call (SDK, ChatCNLLM, CNLLM; sync/async; stream/not).

Each test scripts the offline gateway (`Fault`), calls through one surface and checks what the
caller gets and how many requests the gateway saw (retries are counted, never guessed).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from _surfaces import FRAMEWORKS, STREAM_SURFACES, SURFACES, Surface, connections_to

from cn_llm_client import AsyncCNLLMClient, CNLLMClient
from cn_llm_client._stream import StreamAccumulator
from cn_llm_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CNLLMError,
    InsufficientBalanceError,
    ModelNotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    ServerError,
    StreamInterruptedError,
)
from cn_llm_client.testing import FakeGateway, Fault

ALL = pytest.mark.parametrize("surface", SURFACES, ids=str)
STREAMS = pytest.mark.parametrize("surface", STREAM_SURFACES, ids=str)
NON_STREAMS = pytest.mark.parametrize("surface", [s for s in SURFACES if not s.stream], ids=str)

WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def call(surface: Surface, gw: FakeGateway, prompt: str = "Hello", **kwargs: Any) -> str:
    return surface.call(gw.base_url, prompt, api_key=gw.api_key, **kwargs).text


def failure(surface: Surface, gw: FakeGateway, prompt: str = "Hello", **kwargs: Any) -> Any:
    with pytest.raises(CNLLMError) as info:
        call(surface, gw, prompt, **kwargs)
    return info.value


# -- retries that recover ----------------------------------------------------------------------


@ALL
def test_429_with_retry_after_recovers_after_the_wait(gw: FakeGateway, surface: Surface) -> None:
    """429 with Retry-After: 1 then success: the call succeeds after waiting at least 1 s."""
    gw.push(Fault.status(429, retry_after=1, code="rate_limit_exceeded"))
    started = time.monotonic()
    assert call(surface, gw) == "[qwen3-max] Hello"
    assert time.monotonic() - started >= 0.95
    assert len(gw.requests) == 2


@ALL
def test_503_burst_recovers_within_max_retries(gw: FakeGateway, surface: Surface) -> None:
    """Two 503s then success, max_retries=2: the call succeeds on the third request."""
    gw.push(Fault.status(503, retry_after=0.05, times=2))
    assert call(surface, gw, max_retries=2) == "[qwen3-max] Hello"
    assert len(gw.requests) == 3


# -- retries that run out --------------------------------------------------------------------------


@ALL
@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [(429, "rate_limit_exceeded", RateLimitError), (503, "service_unavailable", ServerError)],
)
def test_beyond_max_retries_raises_with_status_code_and_request_id(
    gw: FakeGateway, surface: Surface, status: int, code: str, cls: type
) -> None:
    """429 / 503 on every attempt: RateLimitError / ServerError with status, code, request_id."""
    gw.push(Fault.status(status, retry_after=0.05, code=code, times=3))
    error = failure(surface, gw, max_retries=2)
    assert type(error) is cls
    assert (error.status_code, error.code) == (status, code)
    assert error.request_id.startswith("req_emu_")  # the last response's x-request-id
    assert error.request_id in str(error)
    assert len(gw.requests) == 3
    if cls is RateLimitError:
        assert error.retry_after == pytest.approx(0.05)


@ALL
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientBalanceError),
        (403, PermissionDeniedError),
        (404, ModelNotFoundError),
        (422, BadRequestError),
    ],
)
def test_client_errors_raise_at_once_without_retry(
    gw: FakeGateway, surface: Surface, status: int, cls: type
) -> None:
    """400/401/402/403/404/422: the matching error at once, exactly one request."""
    gw.push(Fault.status(status, retry_after=0, times=3))
    error = failure(surface, gw, max_retries=2)
    assert isinstance(error, cls) and error.status_code == status
    assert error.request_id is not None
    assert len(gw.requests) == 1


# -- bodies that are not the JSON we expect --------------------------------------------------------


@ALL
@pytest.mark.parametrize("body", ["html", "empty"])
def test_html_or_empty_error_body_is_a_server_error(
    gw: FakeGateway, surface: Surface, body: str
) -> None:
    """A 502 with an HTML page or an empty body: ServerError with a short message, not a JSON error."""
    gw.push(Fault.status(502, html=body == "html", empty=body == "empty"))
    error = failure(surface, gw, max_retries=0)
    assert type(error) is ServerError and error.status_code == 502
    assert "<html" not in str(error) and len(str(error)) < 400
    if body == "html":
        assert "502 Bad Gateway" in str(error)
    assert len(gw.requests) == 1


@ALL
def test_non_json_200_is_a_protocol_error(gw: FakeGateway, surface: Surface) -> None:
    """A 200 whose body is an HTML page (a captive portal, a wrong base_url): ProtocolError."""
    gw.push(Fault.non_json_200(times=3))
    error = failure(surface, gw, max_retries=2)
    assert isinstance(error, ProtocolError), repr(error)
    assert "Welcome" in str(error)


@NON_STREAMS
def test_truncated_json_is_a_protocol_error(gw: FakeGateway, surface: Surface) -> None:
    """A 200 whose JSON stops halfway: ProtocolError, never json/orjson's JSONDecodeError."""
    gw.push(Fault.truncated_json())
    error = failure(surface, gw, max_retries=0)
    assert isinstance(error, ProtocolError) and error.status_code == 200
    assert len(gw.requests) == 1


# -- streams that break ------------------------------------------------------------------------------


def stream_chunks(gw: FakeGateway, model: str, prompt: str, **params: Any) -> list[dict]:
    """The chunks the gateway sends for this request (it answers deterministically)."""
    with CNLLMClient(api_key=gw.api_key, base_url=gw.base_url) as client:
        chunks = list(client.stream(model, [{"role": "user", "content": prompt}], **params))
    gw.reset()
    return chunks


def fold(chunks: list[dict]) -> dict:
    """The assistant message the chunks add up to."""
    accumulator = StreamAccumulator()
    for chunk in chunks:
        accumulator.add(chunk)
    message: dict = accumulator.completion()["choices"][0]["message"]
    return message


def without_call_ids(message: dict) -> dict:
    """The message with its tool-call ids blanked (the gateway derives them from request ids)."""
    calls = [{**c, "id": "call"} for c in message.get("tool_calls") or []]
    return {**message, "tool_calls": calls} if calls else message


def expected_partial(gw: FakeGateway, events: int, model: str, prompt: str, **params: Any) -> dict:
    """The fold of the first `events` chunks the gateway sends for this request."""
    return fold(stream_chunks(gw, model, prompt, **params)[:events])


@STREAMS
@pytest.mark.parametrize(
    ("model", "params"),
    [("deepseek-r1", {}), ("qwen3-max", {"tools": WEATHER, "reasoning": True})],
    ids=["reasoning+text", "reasoning+tool-call"],
)
def test_cut_stream_keeps_partial_text_reasoning_and_tool_calls(
    gw: FakeGateway, surface: Surface, model: str, params: dict
) -> None:
    """The connection drops after K events: StreamInterruptedError whose .partial holds them all."""
    prompt = "weather in Paris, please explain step by step"
    chunks = stream_chunks(gw, model, prompt, **params)
    answer_starts = next(
        i
        for i, c in enumerate(chunks)
        if c["choices"] and ({"content", "tool_calls"} & c["choices"][0]["delta"].keys()) and i
    )
    # The reasoning, then the first piece of the answer or tool call (the emulator now sends a
    # short call's arguments in one piece, so one more event would complete it).
    events = answer_starts + 1
    expected = fold(chunks[:events])
    assert expected.get("reasoning_content")
    assert expected.get("content") or expected.get("tool_calls")
    assert expected != fold(chunks)
    gw.push(Fault.cut_stream(after_events=events))
    error = failure(surface, gw, prompt, model=model, **params)
    assert isinstance(error, StreamInterruptedError), repr(error)
    assert without_call_ids(error.partial["choices"][0]["message"]) == without_call_ids(expected)
    assert len(gw.requests) == 1  # a stream that has started is never sent again


@STREAMS
@pytest.mark.parametrize(
    ("fault", "cls"),
    [
        (Fault.error_event(3, code="server_error", status=500), ServerError),
        (Fault.malformed_line(3), ProtocolError),
    ],
    ids=["error-event", "malformed-line"],
)
def test_bad_event_mid_stream_raises_with_partial(
    gw: FakeGateway, surface: Surface, fault: Fault, cls: type
) -> None:
    """An error event or a non-JSON data line after 3 events: ServerError / ProtocolError with
    the request id and the partial text."""
    expected = expected_partial(gw, 3, "qwen3-max", "one two three four five")
    gw.push(fault)
    error = failure(surface, gw, "one two three four five")
    assert type(error) is cls, repr(error)
    assert error.request_id is not None
    assert error.partial["choices"][0]["message"] == expected
    assert len(gw.requests) == 1


@STREAMS
def test_stream_without_done_is_interrupted_with_everything_kept(
    gw: FakeGateway, surface: Surface
) -> None:
    """A stream that ends cleanly but never sends [DONE]: StreamInterruptedError, full .partial."""
    gw.push(Fault.no_done())
    error = failure(surface, gw, "one two three")
    assert isinstance(error, StreamInterruptedError), repr(error)
    assert error.partial["choices"][0]["message"]["content"] == "[qwen3-max] one two three"
    assert len(gw.requests) == 1


@ALL
def test_keepalives_longer_than_the_read_timeout_in_total_do_not_time_out(
    gw: FakeGateway, surface: Surface
) -> None:
    """6 keep-alives 0.12 s apart (0.72 s) with a 0.3 s read timeout: the call succeeds."""
    gw.push(Fault.keepalive(6, interval=0.12))
    started = time.monotonic()
    assert call(surface, gw, timeout=0.3) == "[qwen3-max] Hello"
    assert time.monotonic() - started >= 0.6  # the keep-alives really were sent
    assert len(gw.requests) == 1


@ALL
def test_stall_longer_than_the_read_timeout_is_a_timeout(gw: FakeGateway, surface: Surface) -> None:
    """1.5 s of silence after 2 events with a 0.3 s read timeout: APITimeoutError, not retried."""
    gw.push(Fault.stall(1.5, after_events=2))
    error = failure(surface, gw, "one two three", timeout=0.3)
    assert isinstance(error, APITimeoutError), repr(error)
    assert error.host == gw.base_url.split("/")[2]
    if surface.stream:
        expected = "[qwen3-max]"  # the role chunk and the first piece arrived
        assert error.partial["choices"][0]["message"]["content"] == expected
    assert len(gw.requests) == 1


# -- the network fails -----------------------------------------------------------------------------


def attempts(caplog: pytest.LogCaptureFixture) -> int:
    """Attempts the transport logged (one DEBUG line each)."""
    return sum("attempt=" in r.getMessage() for r in caplog.records if r.name == "cn_llm_client")


@pytest.fixture
def refused_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(scope="module")
def bad_tls_server() -> Iterator[tuple[str, list[int]]]:
    """A loopback TLS server whose certificate no client trusts; counts the connections."""
    import trustme  # in the test extra

    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            accepted[0] += 1
            conn.settimeout(2)
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.getsockname()[1]}/v1", accepted
    stop.set()
    thread.join(timeout=5)
    server.close()


@ALL
@pytest.mark.parametrize("kind", ["refused", "dns", "tls"])
def test_connection_failures_name_the_host_and_are_retried(
    surface: Surface,
    kind: str,
    refused_url: str,
    bad_tls_server: tuple[str, list[int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refused, DNS failure (.invalid) and a bad TLS certificate: APIConnectionError naming the
    host, after 1 + max_retries attempts (connect errors are safe to retry)."""
    caplog.set_level(logging.DEBUG, logger="cn_llm_client")
    tls_url, tls_accepted = bad_tls_server
    url = {"refused": refused_url, "dns": "https://cn-llm-nowhere.invalid/v1", "tls": tls_url}[kind]
    before = tls_accepted[0]
    with pytest.raises(APIConnectionError) as info:
        surface.call(url, "Hello", api_key="sk-test", max_retries=1)
    error = info.value
    assert not isinstance(error, APITimeoutError), repr(error)
    host = url.split("/")[2]
    assert error.host == host and host in str(error)
    assert attempts(caplog) == 2
    if kind == "tls":
        assert tls_accepted[0] - before == 2
    assert isinstance(error.__cause__, httpx.HTTPError)  # the underlying error is kept


# -- cancellation --------------------------------------------------------------------------------


def _async_streamer(framework: str, gw: FakeGateway) -> tuple[Any, Any]:
    """(long-lived client, async function yielding text pieces) for one framework."""
    options = {"api_key": gw.api_key, "base_url": gw.base_url}
    if framework == "sdk":
        client = AsyncCNLLMClient(**options)

        def pieces(prompt: str) -> Any:
            return client.chat_stream("qwen3-max", [{"role": "user", "content": prompt}])

        return client, pieces
    if framework == "langchain":
        from langchain_cn_llm import ChatCNLLM

        llm = ChatCNLLM(model="qwen3-max", **options)

        async def lc_pieces(prompt: str) -> Any:
            async for chunk in llm.astream(prompt):
                yield chunk.content

        return llm, lc_pieces
    from llama_index.core.llms import ChatMessage

    from llama_index_cn_llm import CNLLM

    li = CNLLM(model="qwen3-max", **options)

    async def li_pieces(prompt: str) -> Any:
        async for response in await li.astream_chat([ChatMessage(role="user", content=prompt)]):
            yield response.delta

    return li, li_pieces


async def _close(client: Any) -> None:
    await (client.close() if isinstance(client, AsyncCNLLMClient) else client.aclose())


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_cancelled_stream_closes_its_connection_and_the_pool_stays_usable(
    gw: FakeGateway, framework: str
) -> None:
    """A task cancelled mid-stream: its connection closes, and the same client's next call works."""
    port = int(gw.base_url.split(":")[2].split("/")[0])
    baseline = connections_to(port)

    async def scenario() -> None:
        client, pieces = _async_streamer(framework, gw)
        first = asyncio.Event()

        async def consume() -> None:
            async for _ in pieces("one two three"):
                first.set()

        gw.push(Fault.stall(10, after_events=2))
        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        assert connections_to(port) == baseline + 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        deadline = time.monotonic() + 5
        while connections_to(port) > baseline and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert connections_to(port) == baseline, "the cancelled stream's connection stayed open"
        texts = []
        for i in range(3):
            texts.append("".join([piece async for piece in pieces(f"again {i}")]))
        assert texts == [f"[qwen3-max] again {i}" for i in range(3)]
        await _close(client)

    asyncio.run(scenario())
    assert len(gw.requests) == 4


@pytest.mark.parametrize("surface", [s for s in SURFACES if s.framework == "sdk"], ids=str)
def test_status_error_body_and_class_match_the_server(gw: FakeGateway, surface: Surface) -> None:
    """A 404 for an unknown model comes back as ModelNotFoundError with suggestions, once."""
    error = failure(surface, gw, model="qwen3-maxx")
    assert isinstance(error, ModelNotFoundError) and isinstance(error, APIStatusError)
    assert "qwen3-max" in error.suggestions
    assert len(gw.requests) == 1


LITELLM_UNKNOWN_MODEL = {
    "error": {
        "message": "/chat/completions: Invalid model name passed in model=qwen3-maxx. "
        "Call `/v1/models` to view available models for your key.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "400",
    }
}
ONE_API_NO_CHANNEL = {
    "error": {
        "message": "当前分组 default 下对于模型 qwen3-maxx 无可用渠道",
        "type": "one_api_error",
    }
}


@ALL
@pytest.mark.parametrize(
    ("status", "body"),
    [(400, LITELLM_UNKNOWN_MODEL), (503, ONE_API_NO_CHANNEL)],
    ids=["litellm", "one-api"],
)
def test_a_proxys_unknown_model_answer_is_model_not_found(
    gw: FakeGateway, surface: Surface, status: int, body: dict[str, Any]
) -> None:
    """A proxy's unknown-model answer (LiteLLM's 400, one-api's 503 "无可用渠道") is
    ModelNotFoundError with suggestions, never retried."""
    gw.push(Fault.status(status, body=body, times=3))
    error = failure(surface, gw, model="qwen3-maxx")
    assert isinstance(error, ModelNotFoundError) and error.status_code == status
    assert error.suggestions[0] == "qwen3-max" and "Did you mean: qwen3-max" in str(error)
    assert len(gw.requests) == 1


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/srv/app.py", line 88, in completions\n'
    "    tokens = model.tokenize(prompt)\n"
    "ValueError: Requested tokens (9000) exceed context window of 4096\n" + "  at frame\n" * 30
)


@ALL
def test_a_server_message_holding_a_traceback_is_one_short_line(
    gw: FakeGateway, surface: Surface
) -> None:
    """A JSON error message holding a multi-line traceback: str(error) is one short line, and
    .message keeps the whole text."""
    gw.push(Fault.status(500, body={"error": {"message": TRACEBACK, "type": "server_error"}}))
    error = failure(surface, gw, max_retries=0)
    assert isinstance(error, ServerError)
    assert "\n" not in str(error) and len(str(error)) <= 300
    assert "Traceback (most recent call last): File" in str(error)
    assert error.message == TRACEBACK
