"""ChatCNLLM copies (model_copy, copy, deepcopy) and settings resolved at construction."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Iterator

import pytest

from cn_llm_client.errors import ConfigurationError, InvalidRequestError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM


@pytest.fixture
def other_gateway() -> Iterator[FakeGateway]:
    with FakeGateway(api_key="other-key") as gateway:
        yield gateway


def test_model_copy_with_new_settings_uses_them(
    fake_gateway: FakeGateway, other_gateway: FakeGateway
) -> None:
    original = ChatCNLLM(base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    original.invoke("你好")  # opens the original's client
    moved = original.model_copy(
        update={"base_url": other_gateway.base_url, "api_key": other_gateway.api_key}
    )
    moved.invoke("你好")
    assert len(other_gateway.requests) == 1  # the other gateway accepted its own key
    assert len(fake_gateway.requests) == 1
    original.invoke("再来")
    assert len(fake_gateway.requests) == 2 and len(other_gateway.requests) == 1


@pytest.mark.parametrize("make_copy", [copy.copy, copy.deepcopy, ChatCNLLM.model_copy])
def test_a_copy_never_shares_the_meter_totals(fake_gateway: FakeGateway, make_copy) -> None:
    original = ChatCNLLM(
        base_url=fake_gateway.base_url, api_key=fake_gateway.api_key, budget_usd=1.0
    )
    original.invoke("你好")
    twin = make_copy(original)
    assert twin.meter is not original.meter
    assert twin.meter.snapshot()["calls"] == 0 and twin.meter.limit_usd == 1.0
    twin.invoke("你好")
    assert original.meter.snapshot()["calls"] == 1 and twin.meter.snapshot()["calls"] == 1


async def test_deepcopy_of_a_used_model_works_sync_and_async(fake_gateway: FakeGateway) -> None:
    original = ChatCNLLM(base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    original.invoke("你好")
    await original.ainvoke("你好")
    twin = copy.deepcopy(original)
    assert (await twin.ainvoke("你好")).content == "[qwen3-max] 收到：你好"
    assert twin.invoke("你好").content == "[qwen3-max] 收到：你好"
    assert twin.api_key is not None
    assert twin.api_key.get_secret_value() == fake_gateway.api_key
    await twin.aclose()
    await original.aclose()


def test_budget_of_a_copy_comes_from_its_own_fields(fake_gateway: FakeGateway) -> None:
    original = ChatCNLLM(base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    tight = original.model_copy(update={"budget_usd": 1e-9})
    tight.invoke("你好")
    with pytest.raises(Exception, match="Budget spent"):
        tight.invoke("你好")
    original.invoke("你好")  # no budget on the original


def test_base_url_is_resolved_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISA_BASE_URL", raising=False)
    assert ChatCNLLM(api_key="k").base_url == "https://api.aisa.one/v1"
    assert ChatCNLLM(api_key="k", provider="deepseek").base_url == "https://api.deepseek.com"
    monkeypatch.setenv("AISA_BASE_URL", "https://proxy.example.com/v1/")
    assert ChatCNLLM(api_key="k").base_url == "https://proxy.example.com/v1"
    assert ChatCNLLM(api_key="k", base_url="http://127.0.0.1:9/v1").base_url == (
        "http://127.0.0.1:9/v1"
    )


def test_missing_key_is_refused_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="AISA_API_KEY"):
        ChatCNLLM(model="qwen3-max")
    with pytest.raises(ConfigurationError, match="DEEPSEEK_API_KEY"):
        ChatCNLLM(model="deepseek-chat", provider="deepseek")
    # loopback servers and keyless providers need no key, as in the core
    assert ChatCNLLM(base_url="http://localhost:8000/v1").api_key is None
    assert ChatCNLLM(model="qwen3:8b", provider="ollama").api_key is None
    monkeypatch.setenv("AISA_API_KEY", "sk-from-env")
    assert ChatCNLLM().api_key.get_secret_value() == "sk-from-env"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("field", "value"), [("temperature", 5), ("top_p", 1.5), ("max_tokens", 0)]
)
def test_out_of_range_settings_are_refused_at_construction(field: str, value: object) -> None:
    with pytest.raises(InvalidRequestError, match=field):
        ChatCNLLM(api_key="k", **{field: value})


def test_unpickled_copy_reads_its_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blob = pickle.dumps(ChatCNLLM(model="qwen3-max", api_key="sk-secret-value"))
    assert b"sk-secret-value" not in blob
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    keyless = pickle.loads(blob)  # still loads: the first call says which variable to set
    assert keyless.api_key is None and keyless.base_url == "https://api.aisa.one/v1"
    with pytest.raises(ConfigurationError, match="AISA_API_KEY"):
        keyless.invoke("你好")
    monkeypatch.setenv("AISA_API_KEY", "sk-worker-key")
    assert pickle.loads(blob).api_key.get_secret_value() == "sk-worker-key"
