"""Limits and names checked before any request: max_tokens over the output limit, a prompt
clearly over the context window, a keyword that is a near miss of a known parameter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cn_llm_client import CNLLMClient
from cn_llm_client._payload import KNOWN_PARAMETERS, _min_tokens, build_payload
from cn_llm_client.catalog import get_model
from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from cn_llm_client.testing._model import count_tokens

USER = [{"role": "user", "content": "Hi"}]


def test_max_tokens_over_the_output_limit_names_the_limit() -> None:
    limit = get_model("qwen3-max").max_output
    assert limit == 65536
    with pytest.raises(InvalidRequestError, match="output limit of qwen3-max: 65,536 tokens"):
        build_payload("qwen3-max", USER, max_tokens=10**7)
    with pytest.raises(InvalidRequestError, match="max_completion_tokens=65,537"):
        build_payload("qwen3-max", USER, max_completion_tokens=limit + 1)
    assert build_payload("qwen3-max", USER, max_tokens=limit)["max_tokens"] == limit
    # deepseek-chat has 8K on DeepSeek itself: the provider's entry is the one checked.
    with pytest.raises(InvalidRequestError, match="8,192"):
        build_payload("deepseek-chat", USER, max_tokens=9000, provider="deepseek")
    assert build_payload("my-own-model", USER, max_tokens=10**7)["max_tokens"] == 10**7


def test_a_prompt_clearly_over_the_window_is_refused_with_the_numbers() -> None:
    huge = [{"role": "user", "content": "x" * 2_000_000}]  # the 2M characters
    with pytest.raises(InvalidRequestError) as info:
        build_payload("qwen3-max", huge)
    message = str(info.value)
    assert "at least 333,333 tokens" in message and "262,144" in message
    assert "conservative estimate" in message
    assert "qwen3-coder-plus" in message  # a model whose window holds it
    chinese = [{"role": "user", "content": [{"type": "text", "text": "中" * 900_000}]}]
    with pytest.raises(InvalidRequestError, match="at least 300,000 tokens"):
        build_payload("qwen3-max", chinese)
    # Under the bound, or an unknown model: sent, the server decides.
    fits = [{"role": "user", "content": "x" * 1_500_000}]
    assert build_payload("qwen3-max", fits)["messages"] == fits
    assert build_payload("my-own-model", huge)["messages"] == huge


@given(st.text(max_size=300))
def test_the_estimate_never_exceeds_the_emulators_count(text: str) -> None:
    # A prompt the client refuses is one the offline gateway (and a real tokenizer) refuses too.
    assert _min_tokens(text) <= count_tokens(text)


@pytest.mark.parametrize(("typo", "right"), [("max_token", "max_tokens"), ("temprature", "temperature"), ("top_pp", "top_p"), ("enable_thinkng", "enable_thinking")])  # fmt: skip
def test_a_near_miss_keyword_is_refused_with_the_right_name(typo: str, right: str) -> None:
    with pytest.raises(InvalidRequestError, match=f"did you mean '{right}'"):
        build_payload("qwen3-max", USER, **{typo: 1})


def test_other_unknown_keywords_pass_through_as_provider_extras() -> None:
    extras = {"top_k": 20, "enable_search": True, "my_gateway_flag": "x", "n_probs": 2}
    extras |= {"reasoning_format": "deepseek", "min_tokens": 4}  # llama.cpp, vLLM
    body = build_payload("qwen3-max", USER, **extras)
    assert {k: body[k] for k in extras} == extras


def test_no_known_parameter_is_mistaken_for_a_typo_of_another() -> None:
    for name in KNOWN_PARAMETERS - {"stream", "tools", "tool_choice", "reasoning", "provider"}:
        build_payload("my-own-model", USER, **{name: None})  # None: dropped, but checked


def test_the_client_refuses_before_any_request(fake_gateway: FakeGateway) -> None:
    with CNLLMClient(api_key=fake_gateway.api_key, base_url=fake_gateway.base_url) as client:
        with pytest.raises(InvalidRequestError, match="did you mean 'max_tokens'"):
            client.chat("qwen3-max", USER, max_token=10)
        with pytest.raises(InvalidRequestError, match="output limit"):
            client.chat("qwen3-max", USER, max_tokens=10**7)
    assert fake_gateway.requests == []
