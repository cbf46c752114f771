"""The shapes of what the clients return, as TypedDicts: editors complete the keys, mypy checks them.

Typing only: at run time every response is the plain ``dict`` the server sent (OpenAI-shaped),
with the core's additions (``usage["cost"]``, ``"request_id"``, ``reasoning_content`` under one
spelling). Keys a server may leave out are optional (``total=False``); read them with ``.get``.

    >>> from cn_llm_client import CNLLMClient
    >>> from cn_llm_client.types import ChatCompletion
    >>> response: ChatCompletion = CNLLMClient().chat("qwen3-max", [{"role": "user", "content": "Hi"}])
    >>> response["choices"][0]["message"]["content"], type(response).__name__
    ('[qwen3-max] Hi', 'dict')
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

# Optional keys are declared in a `total=False` subclass (NotRequired is Python 3.11+, and the
# core adds no typing_extensions dependency for it).

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "Delta",
    "Embedding",
    "EmbeddingResponse",
    "FunctionCall",
    "Message",
    "RerankResponse",
    "RerankResult",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]


class FunctionCall(TypedDict):
    name: str
    arguments: str
    """JSON text (``cn_llm_client.parse_tool_arguments`` reads it)."""


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class _MessageKeys(TypedDict):
    role: Literal["assistant"]
    content: str | None


class Message(_MessageKeys, total=False):
    """An assistant message: ``choices[0]["message"]``."""

    reasoning_content: str
    """The model's thinking (DeepSeek-R1, Qwen3 thinking, Kimi...), under this one name."""
    tool_calls: list[ToolCall]


class Usage(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float
    """USD: the gateway's figure, else the catalog's prices (absent when neither is known)."""
    credits_remaining: float
    cache_read_tokens: int
    cache_write_tokens: int
    prompt_tokens_details: dict[str, Any]
    completion_tokens_details: dict[str, Any]


class Choice(TypedDict):
    index: int
    message: Message
    finish_reason: str | None
    """"stop", "length" (cut at max_tokens), "tool_calls", ..."""


class _ChatCompletionKeys(TypedDict):
    id: str | None
    object: str
    created: int | None
    model: str | None
    choices: list[Choice]


class ChatCompletion(_ChatCompletionKeys, total=False):
    """What ``chat`` returns and a stream's ``completion()`` folds to."""

    usage: Usage
    request_id: str
    """The server's request id (for support tickets), when it sent one."""


class ToolCallDelta(TypedDict, total=False):
    index: int
    id: str
    type: Literal["function"]
    function: dict[str, Any]
    """``{"name": ..., "arguments": <a piece of JSON text>}``; either may be missing."""


class Delta(TypedDict, total=False):
    role: str
    content: str | None
    reasoning_content: str | None
    tool_calls: list[ToolCallDelta]


class ChunkChoice(TypedDict, total=False):
    index: int
    delta: Delta
    finish_reason: str | None


class ChatCompletionChunk(TypedDict, total=False):
    """One streamed ``chat.completion.chunk``; the usage chunk has ``choices == []``."""

    id: str
    object: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None


class Embedding(TypedDict):
    object: str
    index: int
    embedding: list[float]


class EmbeddingResponse(TypedDict):
    """What ``embed`` returns: one vector per input, in input order."""

    object: str
    data: list[Embedding]
    model: str
    usage: Usage


class RerankResult(TypedDict):
    index: int
    relevance_score: float
    document: str
    """The text that was sent."""


class RerankResponse(TypedDict):
    """What ``rerank`` returns: ``results`` sorted by score, highest first."""

    object: str
    results: list[RerankResult]
    model: str
    usage: Usage
