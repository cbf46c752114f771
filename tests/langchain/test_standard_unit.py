"""langchain-tests' ChatModelUnitTests for ChatCNLLM (no network)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from langchain_core.load import load
from langchain_tests.unit_tests import ChatModelUnitTests

from langchain_cn_llm import ChatCNLLM


@pytest.fixture(autouse=True)
def _trust_chat_cn_llm_in_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """test_serdes round-trips through ``load(..., allowed_objects="all")``.

    "all" only admits the classes in langchain-core's own mapping, so a partner class is refused.
    langchain-core's documented way to trust a class is ``allowed_objects=[ThatClass]``: the
    suite's ``load`` is given exactly that, and nothing else changes.
    """
    from langchain_tests.unit_tests import chat_models

    def trusting_load(obj: Any, **kwargs: Any) -> Any:
        return load(obj, **{**kwargs, "allowed_objects": [ChatCNLLM]})

    monkeypatch.setattr(chat_models, "load", functools.wraps(load)(trusting_load))


class TestChatCNLLMUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatCNLLM]:
        return ChatCNLLM

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "qwen3-max", "api_key": "sk-unit-test-key"}

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return (
            {"AISA_API_KEY": "sk-from-env"},
            {"model": "deepseek-v3"},
            {"api_key": "sk-from-env"},
        )
