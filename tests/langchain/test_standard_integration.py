"""langchain-tests' ChatModelIntegrationTests for ChatCNLLM against the offline gateway.

Two suites, so every feature flag that any model has is on somewhere:
- qwen3-vl-plus on the AIsa emulator with thinking on: tools, forced tool_choice, structured
  output (json_schema falls back to function calling, as documented), JSON mode, images,
  reasoning tokens;
- deepseek-reasoner on the DeepSeek emulator: a reasoning model that rejects forced tool_choice
  (the core sends "auto"), prompt-cache usage (cache_read) and reasoning tokens.
"""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, SystemMessage
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.integration_tests import chat_models as standard_chat_models

from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM

RED_CIRCLE = (Path(__file__).parents[2] / "examples" / "data" / "red_circle.png").read_bytes()


class _BundledImage:
    """Stands in for the ``httpx`` module inside langchain-tests' chat model suite: its one
    ``httpx.get`` there fetches the test picture, which is served from examples/data instead."""

    url = (
        "https://raw.githubusercontent.com/langchain-ai/docs/4d11d08b6b0e210bd456943f7a22febbd168b"
        "543/src/images/agentic-rag-output.png"
    )

    def get(self, url: str, **kwargs: Any) -> SimpleNamespace:
        assert url == self.url, f"an unexpected download in the standard suite: {url}"
        return SimpleNamespace(content=RED_CIRCLE)


LONG_SYSTEM_PROMPT = "你是一位精通中国古典诗词的助手，回答要简洁准确。" * 20  # > 64 cached tokens


class _GatewaySuite(ChatModelIntegrationTests):
    """What both suites share: tool_choice, JSON mode and the usage-detail hooks."""

    gateway: FakeGateway

    @property
    def chat_model_class(self) -> type[ChatCNLLM]:
        return ChatCNLLM

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    def _call(self, messages: list[BaseMessage] | str, *, stream: bool) -> AIMessage:
        model = ChatCNLLM(**self.chat_model_params)
        if not stream:
            return model.invoke(messages)
        full: AIMessageChunk | None = None
        for chunk in model.stream(messages):
            full = chunk if full is None else full + chunk
        assert full is not None
        return full

    @pytest.fixture(autouse=True)
    def _bundled_image(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The standard image tests download a picture from GitHub; offline they get ours."""
        monkeypatch.setattr(standard_chat_models, "httpx", _BundledImage())

    def test_image_inputs_reach_the_gateway(self, model: Any) -> None:
        """What the standard test_image_inputs sends (it asserts nothing about it) arrives."""
        if not self.supports_image_inputs:
            pytest.skip("Model does not support image message.")
        self.gateway.reset()
        ChatModelIntegrationTests.test_image_inputs(self, model)
        sent = [
            part["image_url"]["url"]
            for request in self.gateway.requests
            for part in request.body["messages"][0]["content"]
            if part["type"] == "image_url"
        ]
        data_url = "data:image/png;base64," + base64.b64encode(RED_CIRCLE).decode()
        assert sent[:2] == [data_url, data_url]  # OpenAI-style and standard base64 blocks
        assert sent[2:] == [_BundledImage.url] * self.supports_image_urls

    def invoke_with_reasoning_output(self, *, stream: bool = False) -> AIMessage:
        message = self._call("9.9 和 9.11 哪个大？", stream=stream)
        assert message.additional_kwargs["reasoning_content"]
        return message

    def invoke_with_cache_read_input(self, *, stream: bool = False) -> AIMessage:
        return self._call([SystemMessage(LONG_SYSTEM_PROMPT), ("human", "写一首诗")], stream=stream)


class TestQwenVisionOnAIsa(_GatewaySuite):
    @pytest.fixture(autouse=True)
    def _gateway(self, fake_gateway_session: FakeGateway) -> None:
        self.gateway = fake_gateway_session

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "model": "qwen3-vl-plus",
            "base_url": self.gateway.base_url,
            "api_key": self.gateway.api_key,
            "reasoning": True,
        }

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "qwen3-vl-flash"

    @property
    def supported_usage_metadata_details(self) -> dict[str, list[Any]]:
        return {"invoke": ["reasoning_output"], "stream": ["reasoning_output"]}


class TestDeepSeekReasonerOnDeepSeek(_GatewaySuite):
    @pytest.fixture(autouse=True)
    def _gateway(self, deepseek_gateway: FakeGateway) -> None:
        self.gateway = deepseek_gateway

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "model": "deepseek-reasoner",
            "provider": "deepseek",
            "base_url": self.gateway.base_url,
            "api_key": self.gateway.api_key,
        }

    @property
    def model_override_value(self) -> str:
        return "deepseek-chat"

    @property
    def supported_usage_metadata_details(self) -> dict[str, list[Any]]:
        details = ["reasoning_output", "cache_read_input"]
        return {"invoke": details, "stream": details}
