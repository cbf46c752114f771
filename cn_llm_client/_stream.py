"""Fold `chat.completion.chunk` dicts into the `chat.completion` they add up to.

    >>> acc = StreamAccumulator()
    >>> acc.add({"id": "c1", "model": "qwen3-max", "created": 1,
    ...          "choices": [{"index": 0, "delta": {"role": "assistant", "content": "你"}}]})
    >>> acc.add({"choices": [{"index": 0, "delta": {"content": "好"}, "finish_reason": "stop"}]})
    >>> acc.completion()["choices"][0]["message"]["content"]
    '你好'

Linear: pieces are kept in lists and joined in `completion()`, which keeps the joined text
as the list's only piece, so asking for the fold again (even after every chunk) re-joins nothing. Only choice 0 is folded.
Reasoning sent as `reasoning` (newer vLLM, Ollama, OpenRouter) is renamed to `reasoning_content` in
the chunk itself, so whoever reads the chunks sees one spelling; `normalize_reasoning` does the
same for a non-stream completion.

Usage gets one spelling too (`normalize_usage`, in every usage chunk and, through
`normalize_completion`, in every body): the prompt tokens read from a provider's context cache
become `usage["cache_read_tokens"]` (and tokens written to it `cache_write_tokens`), and a usage
sent inside `choices[0]` (Kimi streams) is lifted to the chunk's top level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "StreamAccumulator",
    "ToolCallFragment",
    "ToolCallSlots",
    "delta_of",
    "normalize_completion",
    "normalize_reasoning",
    "normalize_usage",
    "parse_tool_arguments",
]


@dataclass(frozen=True, slots=True)
class ToolCallFragment:
    """One streamed tool-call fragment, placed: ``index`` is its call's number (0, 1, ... in the
    order the calls start); ``id`` and ``name`` only where the call first shows them.

    >>> ToolCallSlots().place({"index": 3, "id": "call_1", "function": {"name": "f"}})
    ToolCallFragment(index=0, id='call_1', name='f', arguments='')
    """

    index: int
    id: str | None
    name: str | None
    arguments: str


class ToolCallSlots:
    """Which call each streamed tool-call fragment belongs to: the fold's rule, one fragment at a
    time, for adapters that pass fragments on (LangChain merges ``tool_call_chunks`` by index
    and concatenates their names).

    A fragment joins the call last seen at its server index, unless it brings another id
    (Qwen3 and vLLM reuse index 0 for parallel calls and tell them apart only by id). The id and
    name are given once (MiniMax repeats both on every fragment); arguments sent as an object
    (a few servers) come as JSON text.

    >>> slots = ToolCallSlots()
    >>> slots.place({"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}})
    ToolCallFragment(index=0, id='a', name='f', arguments='{')
    >>> slots.place({"index": 0, "id": "a", "function": {"name": "f", "arguments": "}"}})
    ToolCallFragment(index=0, id=None, name=None, arguments='}')
    >>> slots.place({"index": 0, "id": "b", "function": {"name": "g"}}).index
    1
    """

    __slots__ = ("_by_index", "_ids", "_named")

    def __init__(self) -> None:
        self._by_index: dict[int, int] = {}  # server index -> call number
        self._ids: list[str | None] = []  # per call
        self._named: list[bool] = []  # per call: its name went out

    def place(self, fragment: Mapping[str, Any]) -> ToolCallFragment:
        call_id = fragment.get("id") or None
        server_index = fragment.get("index", 0)
        number = self._by_index.get(server_index)
        if number is None or (call_id and self._ids[number] and call_id != self._ids[number]):
            number = len(self._ids)
            self._ids.append(None)
            self._named.append(False)
            self._by_index[server_index] = number
        if call_id and not self._ids[number]:
            self._ids[number] = call_id
        else:
            call_id = None
        function = fragment.get("function") or {}
        name = function.get("name") or None
        if name and self._named[number]:
            name = None
        elif name:
            self._named[number] = True
        arguments = function.get("arguments") or ""
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments).decode()
        return ToolCallFragment(number, call_id, name, arguments)


class _ToolCall:
    __slots__ = ("arguments", "id", "name", "type")

    def __init__(self, id: str | None) -> None:
        self.id = id
        self.type = "function"
        self.name: str | None = None
        self.arguments: list[str] = []

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "function": {"name": self.name, "arguments": _joined(self.arguments)},
        }


class StreamAccumulator:
    """Collects content, reasoning, tool-call fragments, finish_reason and usage."""

    __slots__ = (
        "_calls",
        "_content",
        "_reasoning",
        "_saw_content",
        "_slots",
        "created",
        "finish_reason",
        "id",
        "model",
        "usage",
    )

    def __init__(self) -> None:
        self.id: str | None = None
        self.model: str | None = None
        self.created: int | None = None
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self._content: list[str] = []
        self._saw_content = False
        self._reasoning: list[str] = []
        self._calls: list[_ToolCall] = []
        self._slots = ToolCallSlots()

    def add(self, chunk: Mapping[str, Any]) -> None:
        if self.id is None:
            self.id = chunk.get("id")
            self.model = chunk.get("model")
            self.created = chunk.get("created")
        usage = chunk.get("usage")
        if usage:
            self.usage = normalize_usage(usage)
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            # Inlined: this runs once per chunk of every stream.
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
                if not usage and choice.get("usage"):  # Kimi: usage inside the last choice
                    self.usage = normalize_usage(_lift_choice_usage(chunk, choice))
            delta = choice.get("delta")
            if not delta:
                text = choice.get("text")  # a text completion chunk (FIM): its text is content
                if text:
                    self._saw_content = True
                    self._content.append(text)
                continue
            content = delta.get("content")
            if content is not None:
                self._saw_content = True
                if content:
                    self._content.append(content)
            reasoning = delta.get("reasoning_content")
            if reasoning is None and "reasoning" in delta:
                reasoning = _rename_reasoning(delta)
            if reasoning:
                self._reasoning.append(reasoning)
            tool_calls = delta.get("tool_calls")
            if tool_calls:
                for fragment in tool_calls:
                    self._add_tool_fragment(fragment)

    def _add_tool_fragment(self, fragment: Mapping[str, Any]) -> None:
        placed = self._slots.place(fragment)
        if placed.index == len(self._calls):
            self._calls.append(_ToolCall(None))
        call = self._calls[placed.index]
        if placed.id:
            call.id = placed.id
        if fragment.get("type"):
            call.type = fragment["type"]
        if placed.name:
            call.name = placed.name
        if placed.arguments:
            call.arguments.append(placed.arguments)

    @property
    def text(self) -> str:
        return _joined(self._content)

    def completion(self) -> dict[str, Any]:
        """The completion-shaped dict folded so far (safe to call at any time)."""
        message: dict[str, Any] = {
            "role": "assistant",
            "content": _joined(self._content) if self._saw_content else None,
        }
        if self._reasoning:
            message["reasoning_content"] = _joined(self._reasoning)
        if self._calls:
            message["tool_calls"] = [call.as_dict() for call in self._calls]
        result: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
        }
        if self.usage is not None:
            result["usage"] = self.usage
        return result


def _joined(parts: list[str]) -> str:
    """The pieces as one string, kept as the list's only item: asking again costs nothing new,
    and the next join starts from it (an adapter may ask for the fold on every chunk)."""
    if len(parts) > 1:
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""


def _rename_reasoning(obj: dict[str, Any]) -> str | None:
    """Move a text `reasoning` to `reasoning_content` in place; returns the text."""
    value = obj["reasoning"]
    if value is not None and not isinstance(value, str):
        return None  # not the plain-text field we know: leave it alone
    del obj["reasoning"]
    if value is not None:
        obj["reasoning_content"] = value
    return value


def normalize_reasoning(completion: dict[str, Any]) -> dict[str, Any]:
    """Rename each message's `reasoning` to `reasoning_content` (in place) and return `completion`.

    >>> normalize_reasoning({"choices": [{"message": {"content": "4", "reasoning": "2+2"}}]})
    {'choices': [{'message': {'content': '4', 'reasoning_content': '2+2'}}]}
    """
    for choice in completion.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if (
            isinstance(message, dict)
            and "reasoning" in message
            and message.get("reasoning_content") is None
        ):
            _rename_reasoning(message)
    return completion


def normalize_completion(completion: dict[str, Any]) -> dict[str, Any]:
    """`normalize_reasoning` and `normalize_usage` on a whole body (in place); returns it."""
    usage = completion.get("usage")
    if isinstance(usage, dict):
        normalize_usage(usage)
    return normalize_reasoning(completion)


def normalize_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Add the provider's cache figures under one name (in place) and return `usage`.

    DeepSeek `prompt_cache_hit_tokens`, DashScope / OpenAI `prompt_tokens_details.cached_tokens`
    and Kimi `cached_tokens` become `cache_read_tokens`; DashScope's
    `prompt_tokens_details.cache_creation_input_tokens` becomes `cache_write_tokens`.

    >>> normalize_usage({"prompt_tokens": 900, "prompt_cache_hit_tokens": 640})["cache_read_tokens"]
    640
    >>> normalize_usage({"prompt_tokens": 9, "cached_tokens": 0})["cache_read_tokens"]
    0
    """
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, dict) else {}
    for spelling in (
        usage.get("prompt_cache_hit_tokens"),
        details.get("cached_tokens"),
        usage.get("cached_tokens"),
    ):
        if isinstance(spelling, int) and not isinstance(spelling, bool):
            usage["cache_read_tokens"] = spelling
            break
    written = details.get("cache_creation_input_tokens")
    if isinstance(written, int) and not isinstance(written, bool):
        usage["cache_write_tokens"] = written
    return usage


def _lift_choice_usage(chunk: Mapping[str, Any], choice: Mapping[str, Any]) -> dict[str, Any]:
    """The usage Kimi sends inside the last choice, also set at the chunk's top level (where
    every reader looks) when the chunk is a dict."""
    usage: dict[str, Any] = choice["usage"]
    if isinstance(chunk, dict):
        chunk["usage"] = usage
    return usage


def delta_of(chunk: Mapping[str, Any]) -> dict[str, Any] | None:
    """The `delta` of choice 0, or None for chunks without one (the final usage chunk)."""
    choices = chunk.get("choices")
    if not choices:
        return None
    delta: dict[str, Any] | None = choices[0].get("delta")
    return delta


def parse_tool_arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Tool-call arguments as a dict: `{}` for None/""/"null", None when not a JSON object.

    >>> parse_tool_arguments('{"city": "北京"}'), parse_tool_arguments(""), parse_tool_arguments("[1")
    ({'city': '北京'}, {}, None)
    """
    if isinstance(raw, Mapping):  # a few servers send an object instead of a JSON string
        return dict(raw)
    if raw is None or not raw.strip() or raw.strip() == "null":
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
