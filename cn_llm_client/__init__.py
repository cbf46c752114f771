"""cn-llm core: one OpenAI-compatible client for Chinese LLMs (Qwen, DeepSeek, GLM, Kimi, MiniMax).

    from cn_llm_client import CNLLMClient

    client = CNLLMClient()  # AISA_API_KEY from the environment; base_url= for any compatible server
    response = client.chat(model="qwen3-max", messages=[{"role": "user", "content": "Hello!"}])
    print(response["choices"][0]["message"]["content"])

Names are imported on first use, so ``import cn_llm_client`` stays fast (no httpx, no catalog).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._config import ConnectionSettings, resolve_settings
    from ._payload import check_params, forced_tool_choice_allowed, image_part
    from ._stream import ToolCallFragment, ToolCallSlots, parse_tool_arguments
    from ._video import video_part
    from .budget import CostMeter
    from .catalog import ModelInfo, cost_of, get_model, list_models, suggest_models
    from .client import MODEL_MAP, AsyncCNLLMClient, CNLLMClient
    from .concurrency import AISA_TIERS, concurrency_limit, split_limit
    from .errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        CNLLMError,
        ConfigurationError,
        InsufficientBalanceError,
        InvalidRequestError,
        ModelNotFoundError,
        PermissionDeniedError,
        ProtocolError,
        RateLimitError,
        ServerError,
        StreamInterruptedError,
    )
    from .providers import Provider, get_provider

# Where each public name lives; every other name in __all__ comes from .errors.
_HOMES: dict[str, str] = {
    "CNLLMClient": "client",
    "AsyncCNLLMClient": "client",
    "MODEL_MAP": "client",
    "CostMeter": "budget",
    "AISA_TIERS": "concurrency",
    "concurrency_limit": "concurrency",
    "split_limit": "concurrency",
    "image_part": "_payload",
    "video_part": "_video",
    "forced_tool_choice_allowed": "_payload",
    "check_params": "_payload",
    "resolve_settings": "_config",
    "ToolCallSlots": "_stream",
    "ToolCallFragment": "_stream",
    "parse_tool_arguments": "_stream",
    "ConnectionSettings": "_config",
    "ModelInfo": "catalog",
    "get_model": "catalog",
    "list_models": "catalog",
    "suggest_models": "catalog",
    "cost_of": "catalog",
    "Provider": "providers",
    "get_provider": "providers",
}

__all__ = [
    "__version__",
    "CNLLMClient",
    "AsyncCNLLMClient",
    "MODEL_MAP",
    "CostMeter",
    "AISA_TIERS",
    "concurrency_limit",
    "split_limit",
    "image_part",
    "video_part",
    "forced_tool_choice_allowed",
    "check_params",
    "resolve_settings",
    "ConnectionSettings",
    "ToolCallSlots",
    "ToolCallFragment",
    "parse_tool_arguments",
    "ModelInfo",
    "get_model",
    "list_models",
    "suggest_models",
    "cost_of",
    "Provider",
    "get_provider",
    "CNLLMError",
    "ConfigurationError",
    "InvalidRequestError",
    "BudgetExceededError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamInterruptedError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "InsufficientBalanceError",
    "PermissionDeniedError",
    "ModelNotFoundError",
    "RateLimitError",
    "ServerError",
    "ProtocolError",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name) or ("errors" if name in __all__ and name != "__version__" else None)
    if home is None:
        raise AttributeError(f"module 'cn_llm_client' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
