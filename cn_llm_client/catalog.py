"""The model catalog: prices, context windows and capabilities, kept as data in `models.json`.

    >>> from cn_llm_client.catalog import get_model, cost_of, suggest_models
    >>> get_model("deepseek-r1").reasoning_echo
    'strip'
    >>> cost_of("qwen3-max", {"prompt_tokens": 1_000_000, "completion_tokens": 0})
    1.37
    >>> suggest_models("qwen3-mx")[0]
    'qwen3-max'
    >>> get_model("some-new-model") is None   # unknown ids still pass through to the server
    True

The same model id may be listed under several providers (presets of `providers.py`); a lookup
prefers the entry of the given provider and falls back to any entry with that id. Prices are
USD per 1M tokens; `None` means the price is not documented.
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any, Literal

__all__ = [
    "ModelInfo",
    "ModelKind",
    "ReasoningEcho",
    "ReasoningSwitch",
    "cost_of",
    "format_price",
    "get_model",
    "list_models",
    "model_table_markdown",
    "retrieval_table_markdown",
    "providers_serving",
    "suggest_models",
]

ReasoningEcho = Literal["none", "strip", "keep-with-tool-calls"]
ReasoningSwitch = Literal[
    "enable_thinking", "thinking_type", "chat_template_kwargs", "reasoning_effort"
]
ModelKind = Literal["chat", "embedding", "rerank"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One catalog entry. Capabilities drive the request policies of `_payload.py`.

    `family` is the vendor's model family (qwen, deepseek, kimi, glm, minimax), or family-line
    for a specialised line (qwen-coder, qwen-vl, qwen-mt, qwen-omni, glm-vl), whoever serves it.

    >>> info = get_model("deepseek-r1")
    >>> info.family, info.context_window, info.input_price, info.output_price, info.features
    ('deepseek', 65536, 2.0, 8.0, ['tools', 'reasoning', 'json mode'])
    """

    id: str
    provider: str
    family: str
    description: str
    input_price: float | None
    output_price: float | None
    context_window: int | None
    max_output: int | None
    tools: bool
    vision: bool
    reasoning: bool
    json_mode: bool
    json_schema: bool
    forced_tool_choice: bool
    reasoning_echo: ReasoningEcho
    reasoning_switch: ReasoningSwitch | None
    temperature_fixed: float | None
    single_user_message: bool
    thinking_requires_stream: bool
    cache_hit_price: float | None = None  # USD per 1M prompt tokens read from the context cache
    web_search: bool = True  # searches where the provider offers it (providers.json web_search)
    video: bool = False  # video input: video_url parts and frame lists
    documents: bool = False  # reads uploaded files (providers.json documents says how)
    source: str = ""
    note: str = ""
    # Embedding and rerank models (kind != "chat"); None = not documented.
    kind: ModelKind = "chat"
    dimensions: tuple[int, ...] = ()  # the allowed output sizes; () = whatever the server does
    default_dimensions: int | None = None
    max_rows: int | None = None  # inputs (embedding) or documents (rerank) per request
    max_row_tokens: int | None = None
    max_request_tokens: int | None = None
    query_template: str | None = None  # "{task}" and "{text}": how a search query is written
    query_task: str | None = None  # the default {task}

    @property
    def features(self) -> list[str]:
        """Short capability labels, as shown by `cn-llm models` and the README table."""
        flags = ("tools", "vision", "reasoning", "json_mode", "json_schema")
        return [name.replace("_", " ") for name in flags if getattr(self, name)]


_FIELDS = frozenset(f.name for f in fields(ModelInfo))


@functools.cache
def _catalog() -> tuple[ModelInfo, ...]:
    text = resources.files(__package__).joinpath("models.json").read_text(encoding="utf-8")
    data = json.loads(text)
    defaults = data["defaults"]
    return tuple(_entry({**defaults, **entry}) for entry in data["models"])


def _entry(merged: dict[str, Any]) -> ModelInfo:
    fields_ = {k: v for k, v in merged.items() if k in _FIELDS}
    fields_["dimensions"] = tuple(fields_.get("dimensions") or ())
    return ModelInfo(**fields_)


@functools.cache
def _index() -> dict[tuple[str | None, str], ModelInfo]:
    index: dict[tuple[str | None, str], ModelInfo] = {}
    for info in _catalog():
        index.setdefault((info.provider, info.id), info)
        index.setdefault((None, info.id), info)  # first listed wins: AIsa entries come first
    return index


def get_model(model_id: str, provider: str | None = None) -> ModelInfo | None:
    """The catalog entry for `model_id` (preferring `provider`'s entry), or None when unknown.

    >>> get_model("qwen3-vl-plus").vision, get_model("deepseek-chat", "deepseek").provider
    (True, 'deepseek')
    """
    index = _index()
    return index.get((provider, model_id)) or index.get((None, model_id))


def list_models(provider: str | None = None, kind: ModelKind | None = "chat") -> list[ModelInfo]:
    """The entries of `kind` ("chat" unless told; None: every kind), in catalog order; only
    `provider`'s when given.

    >>> [m.id for m in list_models("deepseek")]
    ['deepseek-chat', 'deepseek-reasoner']
    >>> [m.id for m in list_models("dashscope", kind="rerank")]
    ['qwen3-rerank', 'gte-rerank-v2']
    """
    return [
        m
        for m in _catalog()
        if (provider is None or m.provider == provider) and (kind is None or m.kind == kind)
    ]


def providers_serving(model_id: str) -> list[str]:
    """The providers the catalog lists `model_id` under, in catalog order.

    >>> providers_serving("BAAI/bge-m3")
    ['siliconflow']
    """
    return list(dict.fromkeys(m.provider for m in _catalog() if m.id == model_id))


def suggest_models(model_id: str, n: int = 3, *, provider: str | None = None) -> list[str]:
    """Up to `n` catalog ids close to `model_id` ("did you mean"), best first; never `model_id`.

    With `provider`, only ids listed for that provider (what its server can be asked for):

    >>> suggest_models("deepseek-v4")
    ['deepseek-v3', 'deepseek-v3.2', 'deepseek-v3.1']
    >>> suggest_models("deepseek-chat", provider="aisa")  # DeepSeek's own id is not AIsa's
    ['deepseek-v3', 'deepseek-r1', 'deepseek-v3.2']
    """
    ids = [i for i in dict.fromkeys(m.id for m in list_models(provider)) if i != model_id]
    by_lower = {i.lower(): i for i in ids}
    close = difflib.get_close_matches(model_id.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[c] for c in close]


def cost_of(model_id: str, usage: dict[str, Any], provider: str | None = None) -> float | None:
    """USD cost of one call: the gateway's `usage["cost"]` when present, else catalog prices
    (`provider`'s entry for the model when it has one, as in `get_model`).

    Prompt tokens read from the provider's context cache (`usage["cache_read_tokens"]`, which the
    core fills from each provider's own field) are priced at the model's `cache_hit_price` when
    the catalog has one, the rest at `input_price`.

    None when neither is known (an unknown model, or a model whose price is not documented).

    >>> cost_of("deepseek-v3", {"prompt_tokens": 1000, "completion_tokens": 500})
    0.003
    >>> cost_of("deepseek-chat", {"prompt_tokens": 1_000_000, "cache_read_tokens": 1_000_000})
    0.028
    >>> cost_of("my-local-model", {"prompt_tokens": 1000}) is None
    True
    """
    cost = usage.get("cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        return float(cost)
    info = get_model(model_id, provider)
    if info is not None and info.kind != "chat" and info.input_price is not None:
        # Embedding and rerank models bill the input only (usage may hold total_tokens alone).
        tokens = usage.get("total_tokens") or usage.get("prompt_tokens") or 0
        return tokens * info.input_price / 1_000_000
    if info is None or info.input_price is None or info.output_price is None:
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    cached = min(usage.get("cache_read_tokens") or 0, prompt) if info.cache_hit_price else 0
    prompt_cost = (prompt - cached) * info.input_price + cached * (info.cache_hit_price or 0.0)
    return (prompt_cost + completion * info.output_price) / 1_000_000


def format_price(value: float | None) -> str:
    """A price as the seed writes it; "—" when undocumented.

    >>> format_price(28.6), format_price(0.168), format_price(None)
    ('$28.60', '$0.168', '—')
    """
    if value is None:
        return "—"
    return f"${value:.2f}" if round(value, 2) == value else f"${value:g}"


def model_table_markdown(provider: str | None = None) -> str:
    """The catalog as a Markdown table (the README's model table is generated from this).

    >>> print(model_table_markdown("deepseek"))
    | Model | Provider | Input $/M | Output $/M | Context | Features |
    |---|---|---|---|---|---|
    | `deepseek-chat` | deepseek | $0.28 | $0.42 | 131K | tools, reasoning, json mode |
    | `deepseek-reasoner` | deepseek | $0.28 | $0.42 | 131K | tools, reasoning, json mode |
    <BLANKLINE>
    """

    def tokens(value: int | None) -> str:
        if value is None:
            return "—"
        return f"{value // 1000}K" if value < 1_000_000 else f"{value / 1_000_000:g}M"

    rows = [
        "| Model | Provider | Input $/M | Output $/M | Context | Features |",
        "|---|---|---|---|---|---|",
    ]
    for m in list_models(provider):
        cells = (
            f"`{m.id}`",
            m.provider,
            format_price(m.input_price),
            format_price(m.output_price),
            tokens(m.context_window),
            ", ".join(m.features) or "chat",
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def retrieval_table_markdown(provider: str | None = None) -> str:
    """The embedding and rerank models as a Markdown table (the README's second table).

    >>> print(retrieval_table_markdown("zhipu"))
    | Model | Provider | Kind | Input $/M | Dimensions (default) | Rows/request | Query form |
    |---|---|---|---|---|---|---|
    | `embedding-3` | zhipu | embedding | — | 256/512/1024/2048 (2048) | 64 | — |
    <BLANKLINE>
    """

    def sizes(m: ModelInfo) -> str:
        if not m.dimensions:
            return "—"
        if len(m.dimensions) == 1:
            return f"{m.dimensions[0]} (fixed)"
        return "/".join(map(str, sorted(m.dimensions))) + f" ({m.default_dimensions})"

    rows = [
        "| Model | Provider | Kind | Input $/M | Dimensions (default) | Rows/request | Query form |",
        "|---|---|---|---|---|---|---|",
    ]
    entries = list_models(provider, kind="embedding") + list_models(provider, kind="rerank")
    for m in entries:
        cells = (
            f"`{m.id}`",
            m.provider,
            m.kind,
            format_price(m.input_price),
            sizes(m),
            str(m.max_rows) if m.max_rows else "—",
            "instruction" if m.query_template else "—",
        )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
