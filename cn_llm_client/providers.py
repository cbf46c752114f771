"""Provider presets, kept as data in `providers.json`: where each server lives and what it rejects.

>>> from cn_llm_client.providers import get_provider
>>> p = get_provider("dashscope")
>>> p.api_key_env, p.reasoning_switch
('DASHSCOPE_API_KEY', 'enable_thinking')
>>> p.url("intl")
'https://dashscope-intl.aliyuncs.com/compatible-mode/v1'
>>> get_provider("zhipu").forced_tool_choice     # GLM accepts only tool_choice="auto"
False
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field, fields
from importlib import resources
from typing import Literal

from cn_llm_client.catalog import ReasoningSwitch
from cn_llm_client.errors import ConfigurationError

__all__ = ["DEFAULT_PROVIDER", "Provider", "get_provider", "provider_names", "providers_with"]

DEFAULT_PROVIDER = "aisa"

WebSearchStyle = Literal["enable_search", "web_search_tool", "builtin_function"]
DocumentStyle = Literal["fileid", "file_content"]


@dataclass(frozen=True, slots=True)
class Provider:
    """One preset. `reasoning_switch` None: the model's own switch (catalog) applies.

    >>> deepseek = get_provider("deepseek")
    >>> deepseek.base_url, deepseek.api_key_env, deepseek.reasoning_switch
    ('https://api.deepseek.com', 'DEEPSEEK_API_KEY', 'thinking_type')
    """

    name: str
    base_url: str  # "" for openai-compatible: the caller must pass base_url
    regions: dict[str, str] = field(default_factory=dict, hash=False)
    api_key_env: str | None = None
    base_url_env: str | None = None
    key_required: bool = True
    reasoning_switch: ReasoningSwitch | None = None
    thinking_requires_stream: bool = False  # enforced for the catalog models flagged so
    forced_tool_choice: bool = True
    json_schema: bool = True
    error_shape: str = "openai"
    default_model: str | None = None
    web_search: WebSearchStyle | None = None  # how web_search= is sent (_web_search.py); None: none
    documents: DocumentStyle | None = None  # how a model reads an uploaded file (_documents.py)
    notes: str = ""
    # Quirks of local servers (llama.cpp, LM Studio): the docs table and the emulator read them.
    stream_usage: bool = True  # False: streams end without a usage chunk, whatever was asked
    serves_any_model: bool = False  # True: the loaded model answers under any model name
    repeats_tool_names: bool = False  # True: every tool-call fragment repeats the call's name
    # Embeddings and rerank: paths appended to the base URL (None: not served), the rows per
    # request for models the catalog does not list, and the requests sent at once by default.
    embeddings_path: str | None = "/embeddings"
    rerank_path: str | None = None
    embedding_rows: int = 32
    max_in_flight: int = 16
    files: dict[str, int | None] = field(default_factory=dict, hash=False)  # purpose -> max bytes
    batch: bool = False  # the OpenAI-style Batch API (/batches)
    batch_discount: float | None = None  # batch price / synchronous price; None: undocumented
    # the caps of one batch input file: lines, bytes, line_bytes
    batch_limits: dict[str, int] = field(default_factory=dict, hash=False)
    # Context caching: where usage reports cached prompt tokens (docs), explicit markers allowed.
    cache_usage: str | None = None
    cache_markers: bool = False  # `cache_control: {"type": "ephemeral"}` on content parts
    # Completion modes: a chat continuing an assistant prefix ("prefix": DeepSeek, on the beta
    # base; "partial": Kimi, Qwen), fill-in-the-middle ({"max_tokens": cap}; empty: none), and
    # where the beta base sits under the base URL's root (DeepSeek: "/beta").
    assistant_prefix: str | None = None
    prefix_without_thinking: bool = False  # Qwen: partial mode only with thinking off
    fim: dict[str, int] = field(default_factory=dict, hash=False)
    beta_path: str | None = None

    def beta_url(self, base_url: str) -> str:
        """The beta base for `base_url`: its root (a trailing /v1 dropped) plus `beta_path`.

        >>> get_provider("deepseek").beta_url("https://api.deepseek.com")
        'https://api.deepseek.com/beta'
        >>> get_provider("deepseek").beta_url("http://127.0.0.1:8000/v1")
        'http://127.0.0.1:8000/beta'
        >>> get_provider("deepseek").beta_url("https://api.deepseek.com/beta")  # already there
        'https://api.deepseek.com/beta'
        """
        if self.beta_path is None:
            raise ConfigurationError(f"Provider {self.name!r} has no beta base URL.")
        root = base_url.rstrip("/").removesuffix("/v1")
        return root if root.endswith(self.beta_path) else root + self.beta_path

    def url(self, region: str | None = None) -> str:
        """The base URL of `region` (default region when None); ConfigurationError if unknown.

        >>> get_provider("dashscope").url("cn")
        'https://dashscope.aliyuncs.com/compatible-mode/v1'
        """
        if region is None:
            return self.base_url
        try:
            return self.regions[region]
        except KeyError:
            valid = ", ".join(self.regions) or "none (this provider has one base URL)"
            raise ConfigurationError(
                f"Unknown region {region!r} for provider {self.name!r}; valid regions: {valid}"
            ) from None


_FIELDS = frozenset(f.name for f in fields(Provider))


@functools.cache
def _presets() -> dict[str, Provider]:
    text = resources.files(__package__).joinpath("providers.json").read_text(encoding="utf-8")
    data = json.loads(text)
    defaults = data["defaults"]
    presets = {}
    for entry in data["providers"]:
        merged = {k: v for k, v in {**defaults, **entry}.items() if k in _FIELDS}
        presets[entry["name"]] = Provider(**merged)
    return presets


def provider_names() -> list[str]:
    """The preset names, default first.

    >>> provider_names()[:3]
    ['aisa', 'dashscope', 'deepseek']
    """
    return list(_presets())


def providers_with(feature: str) -> list[str]:
    """The presets that have `feature` ("files" or "batch"), for refusals that name them.

    >>> providers_with("batch")
    ['dashscope', 'siliconflow', 'openai-compatible']
    >>> providers_with("files")
    ['dashscope', 'moonshot', 'siliconflow', 'openai-compatible']
    """
    return [name for name, preset in _presets().items() if getattr(preset, feature)]


def get_provider(name: str | None = None) -> Provider:
    """The preset called `name` (the default, "aisa", when None).

    Raises ConfigurationError listing the valid names when `name` is unknown.

    >>> get_provider().name, get_provider("Ollama").key_required
    ('aisa', False)
    >>> get_provider("openai")
    Traceback (most recent call last):
    cn_llm_client.errors.ConfigurationError: Unknown provider 'openai'; choose one of: aisa, ...
    """
    key = DEFAULT_PROVIDER if name is None else name.strip().lower()
    try:
        return _presets()[key]
    except KeyError:
        raise ConfigurationError(
            f"Unknown provider {name!r}; choose one of: {', '.join(provider_names())}"
        ) from None
