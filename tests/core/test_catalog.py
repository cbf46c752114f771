"""The model catalog: data completeness, lookups, suggestions, cost, and the Markdown table."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from cn_llm_client._payload import build_payload
from cn_llm_client.catalog import (
    ModelInfo,
    cost_of,
    get_model,
    list_models,
    model_table_markdown,
    suggest_models,
)

SEED = Path("/work/shared/seed/cn-llm-skill.md")

# The seed's "Supported Models" tables, copied here so the test does not depend on the seed file.
SEED_PRICES = {
    "qwen3-max": (1.37, 5.48),
    "qwen3-max-2026-01-23": (1.37, 5.48),
    "qwen3-coder-plus": (2.86, 28.60),
    "qwen3-coder-flash": (0.72, 3.60),
    "qwen3-coder-480b-a35b-instruct": (2.15, 8.60),
    "qwen3-vl-plus": (0.43, 4.30),
    "qwen3-vl-flash": (0.86, 0.86),
    "qwen3-omni-flash": (4.00, 16.00),
    "qwen-vl-max": (0.23, 0.57),
    "qwen-plus-2025-12-01": (1.26, 12.60),
    "qwen-mt-flash": (0.168, 0.514),
    "qwen-mt-lite": (0.13, 0.39),
    "deepseek-r1": (2.00, 8.00),
    "deepseek-v3": (1.00, 4.00),
    "deepseek-v3-0324": (1.20, 4.80),
    "deepseek-v3.1": (4.00, 12.00),
}
WIRE_FACTS_IDS = ["deepseek-v3.2", "kimi-k2.5", "kimi-k2-thinking", "glm-5", "minimax-m2.1"]
PROVIDER_IDS = {
    "dashscope": ["qwen-plus", "qwen-max", "qwen-turbo", "qwen3-235b-a22b", "qwen-long"],
    "deepseek": ["deepseek-chat", "deepseek-reasoner"],
    "zhipu": ["glm-4.6"],
    "moonshot": ["kimi-k2"],
    "siliconflow": ["deepseek-ai/DeepSeek-V3", "Qwen/Qwen3-235B-A22B"],
    "ollama": ["qwen3:8b"],
}


@pytest.mark.parametrize(("model_id", "prices"), SEED_PRICES.items())
def test_every_seed_model_has_its_seed_price(model_id: str, prices: tuple[float, float]) -> None:
    info = get_model(model_id)
    assert info is not None
    assert info.provider == "aisa"
    assert (info.input_price, info.output_price) == prices


@pytest.mark.skipif(not SEED.exists(), reason="seed page not on this machine")
def test_seed_tables_are_all_in_the_catalog() -> None:
    rows = re.findall(
        r"^\| ([a-z0-9.\-]+) \| \$([\d.]+)/M \| \$([\d.]+)/M \|", SEED.read_text(), re.M
    )
    assert len(rows) == 16
    for model_id, inp, out in rows:
        info = get_model(model_id)
        assert info is not None, model_id
        assert (info.input_price, info.output_price) == (float(inp), float(out))


@pytest.mark.parametrize("model_id", WIRE_FACTS_IDS)
def test_wire_facts_models_are_listed_without_guessed_prices(model_id: str) -> None:
    info = get_model(model_id)
    assert info is not None and info.reasoning
    assert info.input_price is None and info.output_price is None


@pytest.mark.parametrize(
    ("provider", "model_id"), [(p, m) for p, ids in PROVIDER_IDS.items() for m in ids]
)
def test_provider_entries(provider: str, model_id: str) -> None:
    info = get_model(model_id, provider)
    assert info is not None and info.provider == provider
    assert model_id in [m.id for m in list_models(provider)]


def test_entries_are_well_formed() -> None:
    models = list_models()
    assert len(models) >= 40
    keys = [(m.provider, m.id) for m in models]
    assert len(keys) == len(set(keys)), "duplicate (provider, id)"
    for m in models:
        assert m.description, m.id
        assert m.reasoning_echo in ("none", "strip", "keep-with-tool-calls")
        assert m.reasoning_switch in (
            None,
            "enable_thinking",
            "thinking_type",
            "chat_template_kwargs",
            "reasoning_effort",
        )
        for price in (m.input_price, m.output_price):
            assert price is None or price > 0
        assert m.context_window is None or m.context_window >= 4096
        assert m.max_output is None or m.context_window is None or m.max_output <= m.context_window
        if m.reasoning_switch:
            assert m.reasoning, f"{m.id} has a switch but is not a reasoning model"


def test_json_keys_are_all_known_fields() -> None:
    data = json.loads(resources.files("cn_llm_client").joinpath("models.json").read_text())
    known = set(ModelInfo.__dataclass_fields__)
    assert set(data["defaults"]) <= known
    for entry in data["models"]:
        assert set(entry) <= known, set(entry) - known
        assert {"id", "provider", "family", "description"} <= set(entry)


FAMILIES = {"qwen", "deepseek", "kimi", "glm", "minimax"}
LINES = {"coder", "vl", "mt", "omni"}  # specialised lines keep the family as prefix: "qwen-vl"


def test_family_is_the_vendor_family_or_one_of_its_lines() -> None:
    for m in list_models():
        base, _, line = m.family.partition("-")
        assert base in FAMILIES and (not line or line in LINES), (m.provider, m.id, m.family)
        assert base in m.id.lower().replace("moonshot", "kimi"), (m.id, m.family)
    # general models are plain families, whoever serves them
    for provider, mid, family in [
        ("aisa", "deepseek-r1", "deepseek"),
        ("siliconflow", "deepseek-ai/DeepSeek-R1", "deepseek"),
        ("ollama", "deepseek-r1:8b", "deepseek"),
        ("dashscope", "qwen3-235b-a22b", "qwen"),
        ("vllm", "Qwen/Qwen3-8B", "qwen"),
    ]:
        info = get_model(mid, provider)
        assert info is not None and info.family == family
    assert get_model("qwen3-vl-plus").family == "qwen-vl"
    assert get_model("glm-4.5v").family == "glm-vl"


def test_policies_the_payload_relies_on() -> None:
    assert get_model("deepseek-r1").reasoning_echo == "strip"
    for mid in ("deepseek-v3.2", "kimi-k2.5", "kimi-k2-thinking", "glm-5"):
        assert get_model(mid).reasoning_echo == "keep-with-tool-calls"
    assert get_model("kimi-k2.5").temperature_fixed == 1.0
    assert get_model("qwen-mt-flash").single_user_message
    assert get_model("qwen3-235b-a22b", "dashscope").thinking_requires_stream
    assert get_model("qwen3-235b-a22b").reasoning_switch == "enable_thinking"
    assert get_model("deepseek-v3.2").reasoning_switch == "thinking_type"
    assert get_model("glm-4.6").forced_tool_choice is False
    vision = {m.id for m in list_models("aisa") if m.vision}
    assert {"qwen3-vl-plus", "qwen3-vl-flash", "qwen-vl-max", "qwen3-omni-flash"} <= vision
    assert "qwen3-max" not in vision and "deepseek-v3" not in vision


def test_ollama_thinking_models_switch_by_reasoning_effort() -> None:
    # Ollama's /v1 turns thinking off only with reasoning_effort="none"; a null switch made
    # reasoning=False impossible wherever the preset does not name a switch itself.
    thinking = [m for m in list_models("ollama") if m.reasoning]
    assert thinking
    assert {m.reasoning_switch for m in thinking} == {"reasoning_effort"}
    body = build_payload("qwen3:8b", [{"role": "user", "content": "hi"}], reasoning=False,
                         provider="openai-compatible")  # fmt: skip
    assert body["reasoning_effort"] == "none"


def test_lookup_prefers_the_provider_and_falls_back() -> None:
    assert get_model("qwen3-max").provider == "aisa"
    assert get_model("qwen3-max", "dashscope").provider == "dashscope"
    assert get_model("qwen3-coder-plus", "dashscope").provider == "aisa"  # fallback by id
    assert get_model("Qwen/Qwen3-8B", "vllm").reasoning_switch == "chat_template_kwargs"


def test_unknown_models_pass_through() -> None:
    assert get_model("brand-new-model-2030") is None
    assert list_models("no-such-provider") == []


def test_model_info_is_frozen_with_slots() -> None:
    info = get_model("qwen3-max")
    with pytest.raises(AttributeError):
        info.input_price = 0.0  # type: ignore[misc]
    assert not hasattr(info, "__dict__")


def test_suggestions() -> None:
    assert suggest_models("qwen3-mx")[0] == "qwen3-max"
    assert suggest_models("DeepSeek-R1")[0] == "deepseek-r1"
    assert "deepseek-v3.1" in suggest_models("deepseek-v3.l")
    assert len(suggest_models("qwen", n=2)) <= 2
    assert suggest_models("zzzzzzzz") == []


def test_cost_prefers_the_gateway_figure() -> None:
    assert (
        cost_of("qwen3-max", {"prompt_tokens": 30, "completion_tokens": 150, "cost": 0.001})
        == 0.001
    )
    assert cost_of("unknown-model", {"cost": 0}) == 0.0


def test_cost_from_catalog_prices() -> None:
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 500_000}
    assert cost_of("deepseek-r1", usage) == pytest.approx(2.0 + 4.0)
    assert cost_of("qwen3-max", {"prompt_tokens": 30, "completion_tokens": 150}) == pytest.approx(
        (30 * 1.37 + 150 * 5.48) / 1e6
    )
    assert cost_of("qwen3-max", {}) == 0.0


def test_cost_unknown() -> None:
    assert cost_of("unknown-model", {"prompt_tokens": 10, "completion_tokens": 10}) is None
    assert cost_of("kimi-k2.5", {"prompt_tokens": 10, "completion_tokens": 10}) is None  # no price
    # a boolean is not a cost: fall back to prices
    assert cost_of("qwen3-max", {"prompt_tokens": 1, "cost": True}) == pytest.approx(1.37e-6)


def test_markdown_table() -> None:
    table = model_table_markdown()
    lines = table.strip().splitlines()
    assert lines[0] == "| Model | Provider | Input $/M | Output $/M | Context | Features |"
    assert len(lines) == 2 + len(list_models())
    assert "| `qwen3-coder-plus` | aisa | $2.86 | $28.60 | 1M |" in table
    assert "| `qwen-mt-flash` | aisa | $0.168 | $0.514 | 16K |" in table
    assert "| `kimi-k2.5` | aisa | — | — | 262K | tools, vision, reasoning, json mode |" in table
    only = model_table_markdown("deepseek")
    assert only.count("\n") == 2 + 2


def test_loading_is_lazy() -> None:
    code = (
        "import cn_llm_client.catalog as c\n"
        "assert c._catalog.cache_info().currsize == 0\n"
        "c.get_model('qwen3-max')\n"
        "assert c._catalog.cache_info().currsize == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cost_uses_the_providers_prices() -> None:
    # qwen3-max is priced on AIsa; DashScope's entry has no documented price: AIsa's resale
    # price is not what a DashScope key pays.
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 0}
    assert cost_of("qwen3-max", usage) == pytest.approx(1.37)
    assert cost_of("qwen3-max", usage, provider="aisa") == pytest.approx(1.37)
    assert cost_of("qwen3-max", usage, provider="dashscope") is None
    assert cost_of("qwen3-max", {**usage, "cost": 0.5}, provider="dashscope") == 0.5
