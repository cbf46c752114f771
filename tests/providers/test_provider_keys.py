"""Keys: each preset reads its own environment variable; local servers need none."""

from __future__ import annotations

import pytest
from provider_surfaces import CASES, Case, Surface

from cn_llm_client import CNLLMClient
from cn_llm_client.errors import AuthenticationError, ConfigurationError
from cn_llm_client.testing import FakeGateway

HELLO = [{"role": "user", "content": "hi"}]
KEY_VARS = sorted({c.key_env for c in CASES if c.key_env})
KEYED = [c for c in CASES if c.key_env]
KEYLESS = [c for c in CASES if c.local]


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [*KEY_VARS, "AISA_BASE_URL"]:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("case", KEYED, ids=str)
async def test_key_from_the_providers_env_var(
    case: Case, surface: Surface, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert case.key_env is not None
    for name in KEY_VARS:  # every other provider's variable holds a wrong key
        monkeypatch.setenv(name, "sk-wrong")
    monkeypatch.setenv(case.key_env, gateway.api_key or "")
    surface.connection["api_key"] = None

    reply = await surface.chat(case.chat_model, HELLO)

    assert reply.text == f"[{case.chat_model}] hi"  # the gateway accepted the key


@pytest.mark.parametrize("case", KEYED, ids=str)
async def test_wrong_key_is_the_providers_401(
    case: Case, surface: Surface, gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert case.key_env is not None
    monkeypatch.setenv(case.key_env, "sk-wrong-key-123")
    surface.connection["api_key"] = None

    with pytest.raises(AuthenticationError) as caught:
        await surface.chat(case.chat_model, HELLO)

    assert caught.value.status_code == 401
    assert "Invalid API key" in caught.value.message
    assert "sk-wrong-key-123" not in str(caught.value)


@pytest.mark.parametrize("case", KEYED, ids=str)
async def test_missing_key_names_the_variable(case: Case, surface: Surface) -> None:
    surface.connection.update(api_key=None, base_url=None)  # the real, remote preset URL

    with pytest.raises(ConfigurationError, match=f"export {case.key_env}="):
        await surface.chat(case.chat_model, HELLO)


@pytest.mark.parametrize("case", KEYLESS, ids=str)
async def test_local_servers_need_no_key(
    case: Case, surface: Surface, gateway: FakeGateway
) -> None:
    surface.connection["api_key"] = None

    reply = await surface.chat(case.chat_model, HELLO)

    assert reply.text == f"[{case.chat_model}] hi"
    assert "authorization" not in gateway.requests[0].headers


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("ollama", "http://localhost:11434/v1"),
        ("vllm", "http://localhost:8000/v1"),
        ("llamacpp", "http://localhost:8080/v1"),
        ("lmstudio", "http://localhost:1234/v1"),
    ],
)
def test_local_presets_default_to_their_local_port(provider: str, url: str) -> None:
    with CNLLMClient(provider=provider) as client:  # no key anywhere, no request made
        assert client.base_url == url
        assert client.provider == provider


def test_openai_compatible_needs_a_base_url_but_no_key() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        CNLLMClient(provider="openai-compatible")
    with CNLLMClient(provider="openai-compatible", base_url="https://llm.example.com/v1") as c:
        assert c.base_url == "https://llm.example.com/v1"


def test_unknown_provider_lists_the_presets() -> None:
    with pytest.raises(ConfigurationError, match="dashscope, deepseek, zhipu"):
        CNLLMClient(provider="openai", base_url="http://127.0.0.1:1/v1")
