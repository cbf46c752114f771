"""CNLLM copies (model_copy, copy, deepcopy) and settings resolved at construction."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator

import pytest
from llama_index.core.base.llms.types import ChatMessage

from cn_llm_client.errors import ConfigurationError, InvalidRequestError
from cn_llm_client.testing import FakeGateway
from llama_index_cn_llm import CNLLM

HELLO = [ChatMessage(role="user", content="你好")]


@pytest.fixture
def other_gateway() -> Iterator[FakeGateway]:
    with FakeGateway(api_key="other-key") as gateway:
        yield gateway


def test_model_copy_with_new_settings_uses_them(
    fake_gateway: FakeGateway, other_gateway: FakeGateway
) -> None:
    original = CNLLM(base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    original.chat(HELLO)  # opens the original's client
    moved = original.model_copy(
        update={"base_url": other_gateway.base_url, "api_key": other_gateway.api_key}
    )
    assert other_gateway.api_key not in repr(moved)
    moved.chat(HELLO)
    assert len(other_gateway.requests) == 1  # the other gateway accepted its own key
    original.chat(HELLO)
    assert len(fake_gateway.requests) == 2 and len(other_gateway.requests) == 1


@pytest.mark.parametrize("make_copy", [copy.copy, copy.deepcopy, CNLLM.model_copy])
async def test_copies_of_a_used_model_have_their_own_clients(
    fake_gateway: FakeGateway, make_copy
) -> None:
    original = CNLLM(base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    original.chat(HELLO)
    await original.achat(HELLO)
    twin = make_copy(original)
    assert (await twin.achat(HELLO)).message.content == "[qwen3-max] 收到：你好"
    assert twin.chat(HELLO).message.content == "[qwen3-max] 收到：你好"
    assert twin._sync_client() is not original._sync_client()
    assert twin._async_client() is not original._async_client()
    for llm in (twin, original):
        await llm.aclose()
        llm.close()


def test_base_url_is_resolved_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISA_BASE_URL", raising=False)
    assert CNLLM(api_key="k").base_url == "https://api.aisa.one/v1"
    assert CNLLM(api_key="k", provider="deepseek").base_url == "https://api.deepseek.com"
    monkeypatch.setenv("AISA_BASE_URL", "https://proxy.example.com/v1/")
    assert CNLLM(api_key="k").base_url == "https://proxy.example.com/v1"


def test_missing_key_is_refused_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="AISA_API_KEY"):
        CNLLM(model="qwen3-max")
    with pytest.raises(ConfigurationError, match="DEEPSEEK_API_KEY"):
        CNLLM(model="deepseek-chat", provider="deepseek")
    # loopback servers and keyless providers need no key, as in the core
    assert CNLLM(base_url="http://localhost:8000/v1").base_url == "http://localhost:8000/v1"
    assert CNLLM(model="qwen3:8b", provider="ollama").api_key is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", 5), ("top_p", 1.5), ("max_tokens", 0), ("additional_kwargs", {"n": 0})],
)
def test_out_of_range_settings_are_refused_at_construction(field: str, value: object) -> None:
    with pytest.raises(
        InvalidRequestError, match="n must be" if field == "additional_kwargs" else field
    ):
        CNLLM(api_key="k", **{field: value})


def test_unpickled_copy_still_loads_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = pickle.dumps(CNLLM(api_key="sk-secret-value"))
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    keyless = pickle.loads(blob)
    assert keyless.base_url == "https://api.aisa.one/v1"
    with pytest.raises(ConfigurationError, match="AISA_API_KEY"):
        keyless.chat(HELLO)
