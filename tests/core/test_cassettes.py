"""Replay the seed's request examples from vcrpy cassettes (tests/cassettes/*.yaml).

The cassettes are authored by hand from the documented shapes (see the comment atop each);
``scripts/record_cassettes.py`` re-records them with a real key. ``record_mode="none"``: a request
that does not match a cassette fails instead of reaching the network. The matcher also compares
the payload (model, messages, sampling params, stream flag), so these tests check what the client
sends as well as how it reads the answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import vcr

from cn_llm_client import (
    AsyncCNLLMClient,
    AuthenticationError,
    CNLLMClient,
    InsufficientBalanceError,
    ModelNotFoundError,
    RateLimitError,
    ServerError,
)

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
GATEWAY = "https://api.aisa.one/v1"
TEST_KEY = "sk-cassette-replay-0000"
SENT_FIELDS = ("model", "messages", "temperature", "max_tokens", "stream")


def _same_payload(r1: Any, r2: Any) -> None:
    sent, recorded = json.loads(r1.body or b"{}"), json.loads(r2.body or b"{}")
    for field in SENT_FIELDS:
        assert sent.get(field) == recorded.get(field), field


replay = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    match_on=["method", "scheme", "host", "path", "payload"],
    filter_headers=["authorization"],
)
replay.register_matcher("payload", _same_payload)


@pytest.fixture
def client() -> Any:
    with CNLLMClient(api_key=TEST_KEY, base_url=GATEWAY, max_retries=0) as c:
        yield c


def _answer(response: dict) -> str:
    return str(response["choices"][0]["message"]["content"])


def test_qwen_chat(client: CNLLMClient) -> None:
    with replay.use_cassette("qwen3_max_chat.yaml") as cassette:
        response = client.chat(
            model="qwen3-max",
            messages=[
                {"role": "system", "content": "You are a professional Chinese assistant."},
                {"role": "user", "content": "Please explain what a large language model is?"},
            ],
            temperature=0.7,
            max_tokens=1000,
        )
    assert cassette.play_count == 1
    assert _answer(response).startswith("A large language model (LLM)")
    assert response["usage"]["cost"] == 0.001  # the gateway's own figure wins
    assert response["usage"]["credits_remaining"] == 9.999
    assert response["request_id"] == "req_qwen3max001"


def test_deepseek_v3_chat_cost_from_catalog(client: CNLLMClient) -> None:
    with replay.use_cassette("deepseek_v3_chat.yaml"):
        response = client.chat(
            model="deepseek-v3",
            messages=[{"role": "user", "content": "Write a quicksort algorithm in Python"}],
            temperature=0.3,
        )
    assert "def quicksort" in _answer(response)
    # No usage.cost in this response: 12 in x $1/M + 88 out x $4/M from the catalog.
    assert response["usage"]["cost"] == pytest.approx((12 * 1.0 + 88 * 4.0) / 1e6)


def test_deepseek_r1_reasoning(client: CNLLMClient) -> None:
    question = "A farmer needs to cross a river with a wolf, a sheep, and a cabbage. The boat can only carry the farmer and one item at a time. If the farmer is not present, the wolf will eat the sheep, and the sheep will eat the cabbage. How can the farmer safely cross?"
    with replay.use_cassette("deepseek_r1_reasoning.yaml"):
        response = client.chat(
            model="deepseek-r1", messages=[{"role": "user", "content": question}]
        )
    message = response["choices"][0]["message"]
    assert message["reasoning_content"].startswith("The sheep cannot be left")
    assert message["content"].startswith("Take the sheep over")
    assert response["usage"]["completion_tokens_details"]["reasoning_tokens"] == 150


@pytest.mark.parametrize(
    ("cassette", "model", "prompt", "expected"),
    [
        (
            "qwen3_coder_plus_chat.yaml",
            "qwen3-coder-plus",
            "Implement a thread-safe Map in Go",
            "sync.RWMutex",
        ),
        (
            "deepseek_v3_1_chat.yaml",
            "deepseek-v3.1",
            "Implement an LRU cache with get and put operations",
            "class LRUCache",
        ),
    ],
)
def test_code_models(
    client: CNLLMClient, cassette: str, model: str, prompt: str, expected: str
) -> None:
    with replay.use_cassette(cassette):
        response = client.chat(model=model, messages=[{"role": "user", "content": prompt}])
    assert expected in _answer(response)
    assert response["usage"]["cost"] > 0


def test_vision(client: CNLLMClient) -> None:
    content = [
        {"type": "text", "text": "Describe the content of this image"},
        {"type": "image_url", "image_url": {"url": "https://example.com/image.jpg"}},
    ]
    with replay.use_cassette("qwen3_vl_plus_vision.yaml"):
        response = client.chat(
            model="qwen3-vl-plus", messages=[{"role": "user", "content": content}]
        )
    assert "red lantern" in _answer(response)


STORY = [{"role": "user", "content": "Tell a Chinese folk story"}]


def test_chat_stream_yields_text(client: CNLLMClient) -> None:
    with replay.use_cassette("qwen_plus_stream.yaml"):
        pieces = list(client.chat_stream(model="qwen-plus", messages=STORY))
    assert pieces == ["从前，", "有一位", "老人", "在山脚下种竹子。"]


def test_stream_folds_with_usage(client: CNLLMClient) -> None:
    with replay.use_cassette("qwen_plus_stream.yaml"), client.stream("qwen-plus", STORY) as stream:
        chunks = list(stream)
    completion = stream.completion()
    assert len(chunks) == 7  # role, four pieces, finish, usage
    assert _answer(completion) == "从前，有一位老人在山脚下种竹子。"
    assert completion["usage"]["cost"] == 0.000128
    assert completion["request_id"] == "req_stream001"


@pytest.mark.parametrize(
    ("cassette", "model", "error", "status", "code"),
    [
        ("error_401.yaml", "qwen3-max", AuthenticationError, 401, "invalid_api_key"),
        ("error_402.yaml", "qwen3-max", InsufficientBalanceError, 402, "insufficient_balance"),
        ("error_404.yaml", "qwen-maxx", ModelNotFoundError, 404, "model_not_found"),
        ("error_429.yaml", "qwen3-max", RateLimitError, 429, "rate_limit_exceeded"),
        ("error_500.yaml", "qwen3-max", ServerError, 500, "server_error"),
    ],
)
def test_error_codes(
    client: CNLLMClient, cassette: str, model: str, error: type, status: int, code: str
) -> None:
    with replay.use_cassette(cassette), pytest.raises(error) as info:
        client.chat(model=model, messages=[{"role": "user", "content": "Hello!"}])
    exc = info.value
    assert exc.status_code == status and exc.code == code
    assert exc.request_id == f"req_err{status}"
    assert TEST_KEY not in str(exc) and TEST_KEY not in repr(exc)
    if isinstance(exc, RateLimitError):
        assert exc.retry_after == 7.0
    if isinstance(exc, ModelNotFoundError):
        assert "qwen3-max" in exc.suggestions


async def _async_chat(http_client: httpx.AsyncClient | None) -> dict:
    async with AsyncCNLLMClient(
        api_key=TEST_KEY, base_url=GATEWAY, max_retries=0, http_client=http_client
    ) as aclient:
        return await aclient.chat(
            model="qwen3-coder-plus",
            messages=[{"role": "user", "content": "Implement a thread-safe Map in Go"}],
        )


async def test_async_replay_through_default_aiohttp_transport() -> None:
    # vcrpy patches aiohttp too, so the default httpx-aiohttp transport replays as it is.
    with replay.use_cassette("qwen3_coder_plus_chat.yaml") as cassette:
        response = await _async_chat(None)
    assert cassette.play_count == 1
    assert "sync.RWMutex" in _answer(response)


async def test_async_stream_replay_through_default_aiohttp_transport() -> None:
    async with AsyncCNLLMClient(api_key=TEST_KEY, base_url=GATEWAY, max_retries=0) as aclient:
        assert type(aclient._transport._client._transport).__name__ == "AiohttpTransport"
        with replay.use_cassette("qwen_plus_stream.yaml"):
            pieces = [p async for p in aclient.chat_stream("qwen-plus", STORY)]
    assert "".join(pieces) == "从前，有一位老人在山脚下种竹子。"


async def test_async_replay_through_plain_httpx() -> None:
    with replay.use_cassette("qwen3_coder_plus_chat.yaml"):
        response = await _async_chat(httpx.AsyncClient())
    assert "sync.RWMutex" in _answer(response)


async def test_async_stream_replay_through_plain_httpx() -> None:
    async with AsyncCNLLMClient(
        api_key=TEST_KEY, base_url=GATEWAY, max_retries=0, http_client=httpx.AsyncClient()
    ) as aclient:
        with replay.use_cassette("qwen_plus_stream.yaml"):
            pieces = [p async for p in aclient.chat_stream("qwen-plus", STORY)]
    assert "".join(pieces) == "从前，有一位老人在山脚下种竹子。"


KEY_LIKE = re.compile(
    r"(?i)(bearer\s+\S+|\bsk-[a-z0-9_-]{8,}|authorization|api[_-]?key\s*[:=]\s*\S{8,})"
)


@pytest.mark.parametrize("path", sorted(CASSETTES.glob("*.yaml")), ids=lambda p: p.name)
def test_cassette_holds_no_key(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not KEY_LIKE.search(text.split("interactions:", 1)[1])
    assert text.startswith("# Authored by hand") or text.startswith("# Recorded")


def test_every_seed_example_has_a_cassette() -> None:
    names = {p.stem for p in CASSETTES.glob("*.yaml")}
    expected = {
        "qwen3_max_chat", "deepseek_v3_chat", "deepseek_r1_reasoning", "qwen3_coder_plus_chat",
        "deepseek_v3_1_chat", "qwen_plus_stream", "qwen3_vl_plus_vision",
        "error_401", "error_402", "error_404", "error_429", "error_500",
    }  # fmt: skip
    assert expected <= names


def _recorder_script() -> Any:
    import importlib.util

    path = CASSETTES.parents[1] / "scripts" / "record_cassettes.py"
    spec = importlib.util.spec_from_file_location("record_cassettes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recorder_refuses_without_key(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    assert _recorder_script().main([]) == 2
    assert "AISA_API_KEY" in capsys.readouterr().err


def test_recorder_filters_the_key(tmp_path: Path) -> None:
    from cn_llm_client.testing import FakeGateway

    script = _recorder_script()
    secret = "sk-record-secret-987654321"
    with FakeGateway(api_key=secret) as gw, CNLLMClient(api_key=secret, base_url=gw.base_url) as c:
        for name in ("qwen3_max_chat", "qwen_plus_stream", "error_404"):
            script.record(name, script.EXAMPLES[name], c, script.make_recorder(tmp_path), secret)
    for name in ("qwen3_max_chat", "qwen_plus_stream", "error_404"):
        text = (tmp_path / f"{name}.yaml").read_text(encoding="utf-8")
        assert text.startswith("# Recorded from http://127.0.0.1")
        assert "uri: http://127.0.0.1" in text  # something was recorded
        assert secret not in text and not KEY_LIKE.search(text.split("interactions:", 1)[1])
