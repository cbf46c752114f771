"""Bad input gets a clear error before any request, through every surface; property tests and
fuzzing show that random input only ever raises our documented errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from _surfaces import SURFACES, Surface
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cn_llm_client._payload import build_payload
from cn_llm_client._transport import Timeouts, Transport
from cn_llm_client.errors import CNLLMError, ConfigurationError, InvalidRequestError
from cn_llm_client.testing import FakeGateway

ALL = pytest.mark.parametrize("surface", SURFACES, ids=str)
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
NOT_A_SCHEMA = [{"type": "function", "function": {"name": "lookup", "parameters": "a string"}}]


def image(source: str) -> list[dict[str, Any]]:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": source}},
    ]
    return [{"role": "user", "content": parts}]


@pytest.fixture
def oversize_image(tmp_path: Path) -> str:
    path = tmp_path / "huge.png"
    path.write_bytes(PNG + b"\0" * (8 * 2**20))  # 8 MiB: over 10 MiB as a data URL
    return str(path)


# name -> (prompt or messages, call options, the error a user sees, words the message must hold)
CASES: dict[str, tuple[Any, dict[str, Any], type[Exception], str]] = {
    "empty messages": ([], {}, InvalidRequestError, "non-empty"),
    "unknown role": ([{"role": "wizard", "content": "hi"}], {}, InvalidRequestError, "role"),
    "temperature 3": ("hi", {"temperature": 3.0}, InvalidRequestError, "temperature"),
    "top_p -1": ("hi", {"top_p": -1}, InvalidRequestError, "top_p"),
    "max_tokens 0": ("hi", {"max_tokens": 0}, InvalidRequestError, "max_tokens"),
    "image to a text model": (
        image("https://example.com/cat.png"),
        {},
        InvalidRequestError,
        "vision",
    ),
    "missing image file": (
        image("/nonexistent/cat.png"),
        {"model": "qwen3-vl-plus"},
        InvalidRequestError,
        "not found",
    ),
    "tool schema not JSON schema": ("hi", {"tools": NOT_A_SCHEMA}, InvalidRequestError, "schema"),
}
# Where the framework refuses first, while the user builds the message (also before any I/O).
# LlamaIndex's role enum refuses an unknown role; every role it has maps to an OpenAI one.
FRAMEWORK_REFUSES = {
    ("missing image file", "llama_index"): (ValueError, "does not point to a file"),
    ("unknown role", "llama_index"): (ValueError, "Input should be 'system'"),
}


@ALL
@pytest.mark.parametrize("case", list(CASES))
def test_bad_request_is_refused_before_any_request(
    gw: FakeGateway, surface: Surface, case: str
) -> None:
    """Each bad request raises a clear InvalidRequestError and the gateway sees nothing."""
    prompt, options, cls, words = CASES[case]
    cls, words = FRAMEWORK_REFUSES.get((case, surface.framework), (cls, words))
    with pytest.raises(cls) as info:
        surface.call(gw.base_url, prompt, api_key=gw.api_key, max_retries=0, **options)
    assert words in str(info.value)
    assert gw.requests == []


@ALL
def test_oversize_image_is_refused_before_any_request(
    gw: FakeGateway, surface: Surface, oversize_image: str
) -> None:
    """An 8 MiB image file (over 10 MiB as a data URL): InvalidRequestError naming the limit."""
    with pytest.raises(InvalidRequestError, match="10 MiB"):
        surface.call(gw.base_url, image(oversize_image), api_key=gw.api_key, model="qwen3-vl-plus")
    assert gw.requests == []


@ALL
@pytest.mark.parametrize(
    ("base_url", "api_key", "words"),
    [
        ("ftp://example.com/v1", "sk-test", "http(s)"),
        ("not a url", "sk-test", "http(s)"),
        ("https://api.example.com/v1", None, "AISA_API_KEY"),  # no key for a remote server
    ],
    ids=["ftp", "garbage", "missing-key"],
)
def test_bad_configuration_is_refused(
    surface: Surface,
    base_url: str,
    api_key: str | None,
    words: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An invalid base_url or a missing key: ConfigurationError saying what to set (no I/O can
    happen: there is no server behind these URLs)."""
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    monkeypatch.delenv("AISA_BASE_URL", raising=False)
    with pytest.raises(ConfigurationError) as info:
        surface.call(base_url, "hi", api_key=api_key)
    assert words in str(info.value)


@pytest.mark.parametrize("adapter", ["ChatCNLLM", "CNLLM"])
@pytest.mark.parametrize(
    ("settings", "error", "words"),
    [
        ({"temperature": 5}, InvalidRequestError, "temperature must be"),
        ({"top_p": 1.5}, InvalidRequestError, "top_p must be"),
        ({"max_tokens": 0}, InvalidRequestError, "max_tokens must be"),
        ({"provider": "nope"}, ConfigurationError, "nope"),
        ({}, ConfigurationError, "AISA_API_KEY"),
    ],
    ids=["temperature", "top_p", "max_tokens", "provider", "missing-key"],
)
def test_bad_adapter_settings_are_refused_at_construction(
    adapter: str, settings: dict[str, Any], error: type, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ChatCNLLM(...) / CNLLM(...) given an out-of-range setting, an unknown provider or no key
    raises in the constructor (as ChatOpenAI does for a missing key), with our error class, not
    at the first call."""
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    if adapter == "ChatCNLLM":
        from langchain_cn_llm import ChatCNLLM as cls
    else:
        from llama_index_cn_llm import CNLLM as cls
    key = {} if words == "AISA_API_KEY" else {"api_key": "sk-test"}
    with pytest.raises(error, match=words):
        cls(model="qwen3-max", **key, **settings)


# -- property tests ---------------------------------------------------------------------------------

json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
roles = st.sampled_from(["system", "user", "assistant", "tool", "developer", "wizard", "", None])
content = (
    st.none()
    | st.text(max_size=20)
    | st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["text", "image_url", "image", "audio"])},
            optional={"text": json_value, "image_url": json_value, "image": json_value},
        ),
        max_size=3,
    )
)
message = st.fixed_dictionaries(
    {"role": roles},
    optional={"content": content, "tool_call_id": json_value, "tool_calls": json_value},
)
params = st.fixed_dictionaries(
    {},
    optional={
        "temperature": json_value,
        "top_p": json_value,
        "max_tokens": json_value,
        "tools": json_value,
        "tool_choice": json_value,
        "reasoning": json_value,
        "stop": json_value,
    },
)
models = st.sampled_from(
    ["qwen3-max", "deepseek-r1", "qwen3-vl-plus", "glm-4.6", "qwen-mt-flash", "some-new-model"]
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=models,
    messages=st.lists(message, max_size=4) | json_value,
    params=params,
    stream=st.booleans(),
)
@example(model="qwen3-max", messages=[{"role": "user", "content": "hi"}], params={}, stream=True)
def test_random_requests_build_or_raise_invalid_request(
    model: str, messages: Any, params: dict[str, Any], stream: bool
) -> None:
    """Random messages and parameters either build a JSON-ready payload or raise
    InvalidRequestError, never anything else."""
    try:
        payload = build_payload(model, messages, stream=stream, **params)
    except InvalidRequestError as exc:
        assert str(exc)
        return
    assert payload["model"] == model and isinstance(payload["messages"], list)
    assert all(
        m["role"] in {"system", "user", "assistant", "tool", "developer"}
        for m in payload["messages"]
    )


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_random_stream_bytes_raise_only_our_errors(body: bytes, cuts: list[int]) -> None:
    """Random bytes, split at random places, as a streamed response: the stream yields dicts
    or raises a CNLLMError (StreamInterruptedError / ProtocolError / ...), nothing else."""
    self_check_stream(body, cuts)


@settings(max_examples=100, deadline=None)
@given(
    events=st.lists(json_value.map(lambda v: b"data: " + _json(v) + b"\n\n"), max_size=6),
    cuts=st.lists(st.integers(0, 600), max_size=8),
    done=st.booleans(),
)
def test_random_json_events_fold_or_raise_only_our_errors(
    events: list[bytes], cuts: list[int], done: bool
) -> None:
    """Random JSON values as SSE events (chunks of the wrong shape): the fold copes or raises a
    CNLLMError; a stream with [DONE] and only object events completes."""
    body = b"".join(events) + (b"data: [DONE]\n\n" if done else b"")
    self_check_stream(body, cuts)


def _json(value: Any) -> bytes:
    import orjson

    try:
        return orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits
        return b"null"


def self_check_stream(body: bytes, cuts: list[int]) -> None:
    points = sorted({c for c in cuts if 0 < c < len(body)})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"content-type": "text/event-stream"}, stream=_Pieces(pieces)
        )

    client = httpx.Client(transport=httpx.MockTransport(handler))
    transport = Transport(
        "http://127.0.0.1:9/v1", "k", timeout=Timeouts(), max_retries=0, http_client=client
    )
    try:
        with transport.stream("/chat/completions", {"model": "m", "stream": True}) as stream:
            for chunk in stream:
                assert isinstance(chunk, dict)
            completion = stream.completion()
        assert isinstance(completion, dict)
    except CNLLMError as exc:
        assert str(exc)
    finally:
        client.close()


class _Pieces(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from self.pieces
