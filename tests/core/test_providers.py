"""Provider presets: every preset of issue 8, its URLs, key variables and what it rejects."""

from __future__ import annotations

import pytest

from cn_llm_client.errors import ConfigurationError
from cn_llm_client.providers import DEFAULT_PROVIDER, Provider, get_provider, provider_names

EXPECTED = {
    "aisa": ("https://api.aisa.one/v1", "AISA_API_KEY", True),
    "dashscope": ("https://dashscope.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY", True),
    "deepseek": ("https://api.deepseek.com", "DEEPSEEK_API_KEY", True),
    "zhipu": ("https://open.bigmodel.cn/api/paas/v4", "ZHIPUAI_API_KEY", True),
    "moonshot": ("https://api.moonshot.cn/v1", "MOONSHOT_API_KEY", True),
    "siliconflow": ("https://api.siliconflow.cn/v1", "SILICONFLOW_API_KEY", True),
    "ollama": ("http://localhost:11434/v1", None, False),
    "vllm": ("http://localhost:8000/v1", None, False),
    "llamacpp": ("http://localhost:8080/v1", None, False),
    "lmstudio": ("http://localhost:1234/v1", None, False),
    "openai-compatible": ("", None, False),
}


def test_names_default_first() -> None:
    assert provider_names() == list(EXPECTED)
    assert DEFAULT_PROVIDER == "aisa"
    assert get_provider().name == "aisa"
    assert get_provider(None) is get_provider("aisa")


@pytest.mark.parametrize(("name", "expected"), EXPECTED.items())
def test_preset(name: str, expected: tuple[str, str | None, bool]) -> None:
    p = get_provider(name)
    assert isinstance(p, Provider)
    assert (p.base_url, p.api_key_env, p.key_required) == expected
    assert p.url() == p.base_url
    assert p.notes
    hash(p)  # usable as a dict key / cache key


def test_aisa_base_url_env() -> None:
    assert get_provider("aisa").base_url_env == "AISA_BASE_URL"
    assert all(get_provider(n).base_url_env is None for n in provider_names() if n != "aisa")


def test_regions() -> None:
    ds = get_provider("dashscope")
    assert set(ds.regions) == {"cn", "intl", "us", "hk"}
    assert ds.url("intl") == "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
    assert ds.url("cn") == ds.base_url
    assert get_provider("zhipu").url("intl") == "https://api.z.ai/api/paas/v4"
    assert get_provider("moonshot").url("intl") == "https://api.moonshot.ai/v1"
    with pytest.raises(ConfigurationError, match="cn, intl, us, hk"):
        ds.url("mars")
    with pytest.raises(ConfigurationError, match="one base URL"):
        get_provider("deepseek").url("intl")


def test_reasoning_switches() -> None:
    switch = {n: get_provider(n).reasoning_switch for n in provider_names()}
    assert switch == {
        "aisa": None,  # per model, from the catalog
        "dashscope": "enable_thinking",
        "deepseek": "thinking_type",
        "zhipu": "thinking_type",
        "moonshot": "thinking_type",
        "siliconflow": "enable_thinking",
        "ollama": "reasoning_effort",
        "vllm": "chat_template_kwargs",
        "llamacpp": "chat_template_kwargs",
        "lmstudio": None,  # set per model in LM Studio
        "openai-compatible": None,
    }


def test_single_model_local_servers_carry_their_quirks() -> None:
    for name in ("llamacpp", "lmstudio"):
        p = get_provider(name)
        assert not p.key_required and not p.forced_tool_choice  # "required" -> auto, warned
        assert (p.stream_usage, p.serves_any_model, p.repeats_tool_names) == (False, True, True)
    assert all(get_provider(n).stream_usage for n in ("aisa", "deepseek", "ollama", "vllm"))


def test_what_providers_reject() -> None:
    zhipu = get_provider("zhipu")
    assert zhipu.forced_tool_choice is False and zhipu.json_schema is False
    assert get_provider("dashscope").thinking_requires_stream
    assert not get_provider("vllm").thinking_requires_stream
    assert get_provider("dashscope").error_shape == "dashscope"
    assert get_provider("aisa").error_shape == "aisa"


def test_name_is_forgiving_about_case_and_spaces() -> None:
    assert get_provider(" DashScope ").name == "dashscope"


def test_unknown_provider_lists_the_valid_names() -> None:
    with pytest.raises(ConfigurationError) as info:
        get_provider("openai")
    message = str(info.value)
    assert "'openai'" in message
    for name in EXPECTED:
        assert name in message
    assert isinstance(info.value, ValueError)


def test_default_models_are_in_the_catalog() -> None:
    from cn_llm_client.catalog import get_model

    for name in provider_names():
        model = get_provider(name).default_model
        if model is not None:
            assert get_model(model, name) is not None, name
