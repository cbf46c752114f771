"""Connection settings: precedence, missing keys, URL validation, plain-http warning."""

from __future__ import annotations

import warnings

import pytest

from cn_llm_client import _config
from cn_llm_client._config import is_loopback, resolve_settings
from cn_llm_client.errors import ConfigurationError

SECRET = "sk-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AISA_API_KEY", "AISA_BASE_URL", "DASHSCOPE_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(_config, "_warned_plain_http", set())


def test_defaults_to_aisa_with_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISA_API_KEY", SECRET)
    s = resolve_settings()
    assert s.base_url == "https://api.aisa.one/v1"
    assert s.provider.name == "aisa"
    assert s.api_key == SECRET and s.key_from_env


def test_argument_beats_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISA_API_KEY", "sk-from-env")
    monkeypatch.setenv("AISA_BASE_URL", "https://env.example/v1")
    s = resolve_settings(api_key=SECRET, base_url="https://arg.example/v1/")
    assert s.api_key == SECRET and not s.key_from_env
    assert s.base_url == "https://arg.example/v1"  # trailing slash dropped


def test_aisa_base_url_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISA_BASE_URL", "https://proxy.example/v1")
    assert resolve_settings(api_key=SECRET).base_url == "https://proxy.example/v1"


def test_aisa_base_url_env_ignored_by_other_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISA_BASE_URL", "https://proxy.example/v1")
    monkeypatch.setenv("DEEPSEEK_API_KEY", SECRET)
    s = resolve_settings(provider="deepseek")
    assert "deepseek.com" in s.base_url
    assert s.api_key == SECRET


def test_missing_key_says_how_to_set_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        resolve_settings()
    assert "export AISA_API_KEY=" in str(info.value)
    assert "api_key=" in str(info.value)


def test_missing_key_names_the_providers_variable() -> None:
    with pytest.raises(ConfigurationError, match="DASHSCOPE_API_KEY"):
        resolve_settings(provider="dashscope")


def test_empty_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISA_API_KEY", "")
    with pytest.raises(ConfigurationError):
        resolve_settings(api_key="")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1", "http://localhost:11434/v1", "http://[::1]:9000/v1"]
)
def test_loopback_needs_no_key(url: str) -> None:
    s = resolve_settings(base_url=url)
    assert s.api_key is None and s.base_url == url


def test_keyless_provider_needs_no_key() -> None:
    s = resolve_settings(provider="ollama")
    assert s.api_key is None
    assert "11434" in s.base_url


def test_unknown_provider() -> None:
    with pytest.raises(ConfigurationError, match="aisa"):
        resolve_settings(api_key=SECRET, provider="nope")


def test_provider_without_url_asks_for_one() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        resolve_settings(api_key=SECRET, provider="openai-compatible")


@pytest.mark.parametrize("url", ["api.aisa.one/v1", "ftp://api.aisa.one", "http://", "not a url"])
def test_invalid_base_url(url: str) -> None:
    with pytest.raises(ConfigurationError, match="Invalid base_url"):
        resolve_settings(api_key=SECRET, base_url=url)


def test_plain_http_with_key_warns_once() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resolve_settings(api_key=SECRET, base_url="http://gateway.example/v1")
        resolve_settings(api_key=SECRET, base_url="http://gateway.example/v1")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1
    assert "plain http" in messages[0] and SECRET not in messages[0]


def test_no_warning_for_https_or_loopback() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_settings(api_key=SECRET, base_url="https://gateway.example/v1")
        resolve_settings(api_key=SECRET, base_url="http://127.0.0.1:8000/v1")


def test_repr_hides_the_key() -> None:
    assert SECRET not in repr(resolve_settings(api_key=SECRET))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("127.0.0.5", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("aisa.one", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_key_whitespace_around_it_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    # `export AISA_API_KEY=$(cat key.txt)` keeps no newline, but .env files and pasted keys often
    # do; sent as is, the header is illegal.
    monkeypatch.setenv("AISA_API_KEY", f"{SECRET}\n")
    assert resolve_settings().api_key == SECRET
    assert resolve_settings(api_key=f"  {SECRET} ").api_key == SECRET
    monkeypatch.setenv("AISA_API_KEY", " \n")
    with pytest.raises(ConfigurationError, match="AISA_API_KEY"):
        resolve_settings()
