"""The offline gateway refuses what the real servers refuse about size: a prompt over the model's
context window and max_tokens over its output limit, with each server's own error body."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cn_llm_client import CNLLMClient
from cn_llm_client.errors import BadRequestError
from cn_llm_client.testing import FakeGateway

AUTH = {"Authorization": "Bearer test-key"}


def post(gw: FakeGateway, model: str, content: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return httpx.post(f"{gw.base_url}/chat/completions", json=body, headers=AUTH, timeout=60)


def test_deepseek_context_and_max_tokens_errors() -> None:
    with FakeGateway(mode="deepseek") as gw:
        over = post(gw, "deepseek-chat", "x" * (4 * 131_072), max_tokens=100)
        assert over.status_code == 400
        error = over.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request_error"
        assert error["message"].startswith("This model's maximum context length is 131072 tokens.")
        assert "in the messages, 100 in the completion)" in error["message"]
        too_long = post(gw, "deepseek-chat", "hi", max_tokens=10**7)
        assert too_long.status_code == 400
        assert too_long.json()["error"]["message"] == (
            "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]"
        )
        assert post(gw, "deepseek-chat", "hi", max_tokens=8192).status_code == 200


def test_dashscope_input_length_and_max_tokens_errors() -> None:
    with FakeGateway(mode="dashscope") as gw:
        over = post(gw, "qwen-plus", "中" * 140_000)
        error = over.json()["error"]
        assert over.status_code == 400 and error["code"] == "InvalidParameter"
        assert error["message"].endswith("Range of input length should be [1, 131072]")
        too_long = post(gw, "qwen-plus", "hi", max_tokens=16_385)
        assert too_long.json()["error"]["message"].endswith(
            "Range of max_tokens should be [1, 16384]"
        )
        # DashScope measures the input alone: a long prompt with a big max_tokens still fits.
        assert post(gw, "qwen-plus", "x" * 480_000, max_tokens=16_384).status_code == 200


def test_aisa_refusals_reach_the_client_as_bad_request() -> None:
    with (
        FakeGateway() as gw,
        CNLLMClient(api_key=gw.api_key, base_url=gw.base_url, max_retries=0) as client,
    ):
        raw = post(gw, "qwen3-max", "hi", max_tokens=10**7)
        assert raw.status_code == 422 and raw.json()["error"]["code"] == "max_tokens_exceeded"
        # 1.2M characters: under the client's conservative bound, over the emulated tokenizer's.
        prompt = [{"role": "user", "content": "x" * 1_200_000}]
        with pytest.raises(BadRequestError, match="maximum context length is 262144 tokens"):
            client.chat("qwen3-max", prompt)
        assert len(gw.requests) == 2  # the server refused; the client let it through


def test_ollama_cuts_instead_of_refusing() -> None:
    with FakeGateway(mode="ollama") as gw:
        assert post(gw, "qwen3:8b", "x" * 400_000).status_code == 200
