"""The request body: validated and shaped by catalog policy before any I/O.

    >>> body = build_payload("deepseek-r1", [{"role": "user", "content": "Hi"}], temperature=0.3)
    >>> body == {"model": "deepseek-r1", "messages": [{"role": "user", "content": "Hi"}],
    ...          "temperature": 0.3}
    True
    >>> build_payload("qwen3-max", [{"role": "user", "content": "Hi"}], stream=True,
    ...               reasoning=2048)["thinking_budget"]
    2048

Every rule raises `InvalidRequestError` with what to do; nothing here touches the network.
The caller's messages are never mutated: a message is copied only when a rule changes it.

Policies (all read from `models.json` / `providers.json`; unknown models pass through):

- images only for vision models; sources may be http(s) URLs, data URLs, local paths or bytes
  (paths and bytes become `data:<mime>;base64,...`; any data URL is at most 10485760 characters);
  the shorthand part `{"type": "image", "image": src}` becomes an `image_url` part;
- video (`video_url` parts, frame lists `{"type": "video", "video": [...], "fps": 2}`) only
  for catalog models with `video` (`_video.py`); local sources become data URLs;
- reasoning echo: `strip` drops `reasoning_content` from outgoing assistant messages,
  `keep-with-tool-calls` keeps it only on assistant messages that carry tool_calls (and gives
  such a message an empty one when it has none, as DeepSeek's thinking mode requires);
- tool_choice: "any"/"required"/True → "required", False → "none", a tool name → that
  function. A forced choice on a model or provider that rejects it (GLM, thinking models)
  falls back to "auto" with a logged warning instead of failing: the model can still call
  the tool, and frameworks that always force a tool (structured output) keep working;
- `reasoning=True | False | budget` is spelled per provider/model: `enable_thinking` (+
  `thinking_budget`), `thinking: {"type": ...}`, vLLM `chat_template_kwargs`, or Ollama
  `reasoning_effort`. Explicit provider parameters given by the caller win;
- a fixed temperature (Kimi K2.5: 1.0 only) replaces any other temperature with a logged
  warning, because LangChain and LlamaIndex send a default temperature the user never chose;
- explicit context-cache markers (`"cache_control": {"type": "ephemeral"}` on a content part)
  only where the provider takes them (DashScope), at most 4 per request;
- qwen-mt takes exactly one user message (no system message); `translation_options`
  defaults to `{"source_lang": "auto", "target_lang": "English"}`;
- `web_search=True | {options}` is spelled per provider (`_web_search.py`: Qwen
  `enable_search` + `search_options`, Zhipu's `web_search` tool, Kimi's `$web_search`), and
  refused on providers and models without search;
- limits, from the catalog: `max_tokens` (or `max_completion_tokens`) above the model's output
  limit (`max_output`) is refused, not clamped, naming the limit (a silent clamp would hide a
  cut answer); a prompt whose conservative token estimate (1 token per 6 characters, per 3
  CJK characters: real tokenizers give more) is over the model's `context_window` is refused
  with both numbers. Unknown models and missing limits are not checked;
- a keyword that is a near miss of a known parameter (`max_token`, `temprature`: difflib,
  `KNOWN_PARAMETERS`) is refused with the right name; other unknown keywords are provider
  extras and pass through unchanged; None-valued ones are dropped; streaming asks for
  usage with `stream_options={"include_usage": True}` unless the caller set stream_options.
"""

from __future__ import annotations

import base64
import difflib
import logging
import math
import mimetypes
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cn_llm_client._video import VIDEO_PARTS, check_video_model, video_part_of
from cn_llm_client._web_search import apply_web_search
from cn_llm_client.catalog import ModelInfo, get_model, list_models
from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.providers import Provider, get_provider, providers_with

__all__ = [
    "KNOWN_PARAMETERS",
    "MAX_IMAGE_BYTES",
    "build_fim_payload",
    "build_payload",
    "check_params",
    "forced_tool_choice_allowed",
    "image_part",
    "needs_stream",
]

logger = logging.getLogger("cn_llm_client")

# DashScope's limit for one data URL: the whole `data:<mime>;base64,...` string, not the raw bytes.
MAX_IMAGE_BYTES = 10 * 1024 * 1024  # 10485760 characters

_ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MT_DEFAULT_OPTIONS = {"source_lang": "auto", "target_lang": "English"}

# The keywords build_payload knows: its own, OpenAI's chat-completions parameters and the
# providers' documented extras. A keyword close to one of them (difflib ratio >= 0.85: one
# letter off in a long name) but not equal is a typo; anything further away is a provider extra.
KNOWN_PARAMETERS = frozenset(
    {
        # build_payload's own
        "stream", "tools", "tool_choice", "reasoning", "provider", "web_search",
        "assistant_prefix",
        # OpenAI chat completions
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
        "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs",
        "response_format", "user", "stream_options", "parallel_tool_calls", "reasoning_effort",
        "service_tier", "metadata", "store", "modalities", "audio", "prediction",
        "prompt_cache_key", "safety_identifier", "verbosity", "web_search_options",
        # DashScope, DeepSeek, Zhipu, Moonshot, SiliconFlow, vLLM, Ollama extras
        "enable_thinking", "thinking_budget", "thinking", "enable_search", "search_options",
        "translation_options", "vl_high_resolution_images", "incremental_output", "top_k",
        "min_p", "repetition_penalty", "chat_template_kwargs", "think", "do_sample",
        "request_id", "extra_body", "extra_headers", "keep_alive", "options", "format",
        # llama.cpp server, vLLM sampling
        "reasoning_format", "cache_prompt", "n_predict", "repeat_penalty", "grammar",
        "json_schema", "min_tokens", "best_of", "length_penalty", "ignore_eos", "stop_token_ids",
        "skip_special_tokens", "guided_json", "guided_choice", "guided_regex",
    }
)  # fmt: skip
_NEAR_MISS = 0.85
# A lower bound on tokens per character: tokenizers of these models give about 1 token per 3-4
# Latin characters and per 1-1.5 CJK characters; the bound stays under them on purpose.
_CHARS_PER_TOKEN, _CJK_CHARS_PER_TOKEN = 6, 3

# Magic bytes of the image types chat servers accept. Written by hand: the stdlib's imghdr is
# gone in 3.13 and `filetype`/`puremagic` would add a core dependency for six prefixes.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def build_payload(
    model: str,
    messages: list[dict[str, Any]],
    *,
    stream: bool = False,
    tools: list[dict[str, Any]] | None = None,
    tool_choice: str | bool | dict[str, Any] | None = None,
    reasoning: bool | int | None = None,
    provider: str | None = None,
    web_search: bool | Mapping[str, Any] | None = None,
    assistant_prefix: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """The chat-completions body for `model`, validated; raises InvalidRequestError.

    `assistant_prefix`: the answer continues this text (DeepSeek prefix completion, Kimi / Qwen
    partial mode), sent as the provider spells it; the reply holds the continuation only.

    A forced `tool_choice` on a model/provider that rejects it becomes "auto" with a
    warning (see the module docstring for every policy).

    >>> build_payload("qwen3-max", [{"role": "user", "content": "Hi"}], reasoning=True)
    {'model': 'qwen3-max', 'messages': [{'role': 'user', 'content': 'Hi'}], 'enable_thinking': True}
    >>> build_payload("qwen3-max", [{"role": "user", "content": "Hi"}], temperature=5)
    Traceback (most recent call last):
    cn_llm_client.errors.InvalidRequestError: temperature must be a number from 0 to 2, got 5.
    """
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError("model must be a non-empty string, e.g. model='qwen3-max'")
    preset = get_provider(provider)
    info = get_model(model, preset.name)

    payload: dict[str, Any] = {"model": model}
    payload["messages"] = _messages(messages, info)
    _check_cache_markers(payload["messages"], preset)
    check_params(params)
    if info is not None:
        _check_limits(model, info, payload["messages"], params)
    payload.update((k, v) for k, v in params.items() if v is not None)
    _apply_tools(payload, model, info, preset, tools, tool_choice)
    _apply_reasoning(payload, model, info, preset, reasoning)
    apply_web_search(payload, model, info, preset, web_search)
    _apply_model_rules(payload, model, info, preset)
    if assistant_prefix is not None:
        _apply_assistant_prefix(payload, model, info, preset, assistant_prefix)
    return _streamed(payload) if stream else payload


def build_fim_payload(
    model: str,
    prompt: str,
    *,
    suffix: str | None = None,
    stream: bool = False,
    provider: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """The fill-in-the-middle body (DeepSeek `POST /beta/completions`): the model writes what goes
    between `prompt` and `suffix`. Refused before any I/O where the provider has no FIM.

    >>> build_fim_payload("deepseek-chat", "def fib(n):", suffix="    return a", provider="deepseek",
    ...                   max_tokens=64)
    {'model': 'deepseek-chat', 'prompt': 'def fib(n):', 'suffix': '    return a', 'max_tokens': 64}
    >>> build_fim_payload("qwen3-max", "def f():")
    Traceback (most recent call last):
    cn_llm_client.errors.InvalidRequestError: aisa has no FIM (fill-in-the-middle) completion; use provider=deepseek.
    """
    preset = get_provider(provider)
    if not preset.fim:
        raise InvalidRequestError(
            f"{preset.name} has no FIM (fill-in-the-middle) completion; use provider="
            + " or ".join(providers_with("fim"))
        )
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError("model must be a non-empty string, e.g. model='deepseek-chat'")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequestError("prompt must be a non-empty string: the text before the gap")
    if suffix is not None and not isinstance(suffix, str):
        raise InvalidRequestError("suffix must be a string (the text after the gap) or None")
    check_params(params)
    cap = preset.fim.get("max_tokens")
    max_tokens = params.get("max_tokens")
    if cap is not None and max_tokens is not None and max_tokens > cap:
        raise InvalidRequestError(
            f"max_tokens={max_tokens} is over {preset.name}'s FIM limit of {cap}; "
            f"use max_tokens <= {cap}"
        )
    payload: dict[str, Any] = {"model": model, "prompt": prompt}
    if suffix is not None:
        payload["suffix"] = suffix
    payload.update((k, v) for k, v in params.items() if v is not None)
    return _streamed(payload) if stream else payload


def _streamed(payload: dict[str, Any]) -> dict[str, Any]:
    """`payload` as a streaming request that asks for the usage chunk (unless told otherwise)."""
    payload["stream"] = True
    payload.setdefault("stream_options", {"include_usage": True})
    return payload


def needs_stream(
    model: str,
    *,
    reasoning: bool | int | None = None,
    provider: str | None = None,
    **params: Any,
) -> bool:
    """True when a non-stream call must stream underneath: the body will carry thinking on a
    provider that allows thinking only in streaming calls (DashScope, and AIsa passing it on).

    `params` are the other `build_payload` keyword arguments; an explicit `enable_thinking`
    wins over `reasoning=`, which wins over the model's default (open Qwen3 think unasked).
    The client streams and folds such calls, so a non-stream caller never sees DashScope's
    "enable_thinking must be set to false for non-streaming calls". Likewise `web_search=` on a
    DashScope multimodal model, which searches only in streaming calls.

    >>> needs_stream("qwen-plus", provider="dashscope", reasoning=True)
    True
    >>> needs_stream("qwen-plus", provider="dashscope")  # thinking is off unless asked for
    False
    >>> needs_stream("qwen-plus", reasoning=True), needs_stream("qwen-plus", provider="vllm")
    (True, False)
    """
    preset = get_provider(provider)
    info = get_model(model, preset.name)
    if params.get("web_search") and preset.web_search == "enable_search" and info and info.vision:
        return True  # DashScope: "Non-streaming mode does not support Web Search" (multimodal)
    if not preset.thinking_requires_stream:
        return False
    thinking = params.get("enable_thinking")
    if thinking is None and reasoning is not None and _switch(info, preset) == "enable_thinking":
        thinking = reasoning is not False  # True or a budget turns it on
    if thinking is None:
        thinking = info is not None and info.thinking_requires_stream
    return bool(thinking)


def image_part(
    source: str | os.PathLike[str] | bytes, *, mime: str | None = None, detail: str | None = None
) -> dict[str, Any]:
    """An `image_url` content part from a URL, data URL, local path or raw bytes.

    >>> image_part("https://example.com/cat.jpg")
    {'type': 'image_url', 'image_url': {'url': 'https://example.com/cat.jpg'}}
    >>> image_part(b"\\x89PNG\\r\\n\\x1a\\n...")["image_url"]["url"][:22]
    'data:image/png;base64,'
    """
    url: dict[str, Any] = {"url": _image_url(source, mime)}
    if detail is not None:
        url["detail"] = detail
    return {"type": "image_url", "image_url": url}


# ---------------------------------------------------------------- messages


def _messages(messages: Any, info: ModelInfo | None) -> list[dict[str, Any]]:
    if not isinstance(messages, (list, tuple)) or not messages:
        raise InvalidRequestError(
            'messages must be a non-empty list, e.g. [{"role": "user", "content": "Hello"}]'
        )
    echo = info.reasoning_echo if info is not None else "keep-with-tool-calls"
    vision = info is None or info.vision
    out = []
    for i, msg in enumerate(messages):
        _check_message(i, msg)
        new = msg
        content = msg.get("content")
        if isinstance(content, list):
            parts = _parts(i, content, vision, info)
            if parts is not content:
                new = {**msg, "content": parts}
        if "reasoning_content" in msg and msg["role"] == "assistant":
            # keep-with-tool-calls is also the default for unknown models: DeepSeek V3.2, Kimi and
            # GLM reject a tool-call follow-up without it, while old R1-style servers that reject
            # it never produce tool calls with reasoning; elsewhere it is dead weight.
            keep = echo == "none" or (
                echo == "keep-with-tool-calls" and bool(msg.get("tool_calls"))
            )
            if not keep:
                new = {k: v for k, v in new.items() if k != "reasoning_content"}
        elif _echo_required(info, msg):
            new = {**new, "reasoning_content": ""}
        out.append(new)
    return out


def _echo_required(info: ModelInfo | None, msg: Mapping[str, Any]) -> bool:
    """A tool-call turn with no reasoning to a model that insists on the field.

    DeepSeek's thinking mode answers 400 "Missing `reasoning_content` field" when a tool-call turn
    lacks it (a history written by hand, or made by a non-thinking model); an empty field passes
    (continuedev/continue#11290, agentjido/req_llm#660). Only catalog models: strict servers
    may reject unknown fields.
    """
    return (
        info is not None
        and info.reasoning_echo == "keep-with-tool-calls"
        and msg["role"] == "assistant"
        and bool(msg.get("tool_calls"))
    )


def _check_message(i: int, msg: Any) -> None:
    where = f"messages[{i}]"
    if not isinstance(msg, Mapping):
        raise InvalidRequestError(
            f'{where} must be a dict like {{"role": "user", "content": "..."}}, got {type(msg).__name__}'
        )
    role = msg.get("role")
    if role not in _ROLES:
        raise InvalidRequestError(
            f"{where} has role {role!r}; use one of: {', '.join(sorted(_ROLES))}"
        )
    content = msg.get("content")
    if content is None:
        if not (role == "assistant" and msg.get("tool_calls")):
            raise InvalidRequestError(
                f"{where} ({role}) has no content; only an assistant message with tool_calls "
                "may have content None"
            )
    elif not isinstance(content, (str, list)):
        raise InvalidRequestError(
            f"{where}.content must be a string or a list of content parts, "
            f"got {type(content).__name__}"
        )
    if role == "tool":
        call_id = msg.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise InvalidRequestError(
                f"{where} is a tool result without tool_call_id; set it to the id of the "
                "assistant's tool call it answers"
            )
    tool_calls = msg.get("tool_calls")
    if tool_calls is not None and not isinstance(tool_calls, list):
        raise InvalidRequestError(f"{where}.tool_calls must be a list of tool-call dicts")


def _parts(i: int, parts: list[Any], vision: bool, info: ModelInfo | None) -> list[dict[str, Any]]:
    """The parts, with images normalised; the same list object when nothing changed."""
    changed: list[Any] | None = None
    for j, part in enumerate(parts):
        where = f"messages[{i}].content[{j}]"
        if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
            raise InvalidRequestError(
                f'{where} must be a content part dict with a "type", e.g. '
                '{"type": "text", "text": "..."}'
            )
        kind = part["type"]
        new = part
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise InvalidRequestError(f'{where} is a text part without a "text" string')
        elif kind in ("image", "image_url"):
            if not vision:
                raise InvalidRequestError(_no_vision(info))
            new = _image_part_of(where, part)
        elif kind in VIDEO_PARTS:
            check_video_model(info)
            new = video_part_of(where, part)
        if new is not part and changed is None:
            changed = list(parts[:j])
        if changed is not None:
            changed.append(new)
    return parts if changed is None else changed


def _image_part_of(where: str, part: Mapping[str, Any]) -> Mapping[str, Any]:
    if part["type"] == "image":
        source = part.get("image")
        if source is None:
            raise InvalidRequestError(
                f'{where} is an image part without "image" (URL, path or bytes)'
            )
        return image_part(source, mime=part.get("mime"), detail=part.get("detail"))
    spec = part.get("image_url")
    if isinstance(spec, (str, os.PathLike, bytes)):  # a bare URL where a dict is expected
        return image_part(spec)
    if not isinstance(spec, Mapping) or not isinstance(spec.get("url"), (str, os.PathLike, bytes)):
        raise InvalidRequestError(f'{where} needs "image_url": {{"url": "https://..."}}')
    url = _image_url(spec["url"], None)
    if url is spec["url"]:
        return part
    return {**part, "image_url": {**spec, "url": url}}


def _no_vision(info: ModelInfo | None) -> str:
    name = info.id if info else "this model"
    vision = [m.id for m in list_models(info.provider if info else None) if m.vision][:4]
    return f"{name} does not accept images; use a vision model such as {', '.join(vision)}"


def _image_url(source: Any, mime: str | None) -> Any:
    """`source` as a URL string: URLs unchanged (the same object), files and bytes as data URLs."""
    if isinstance(source, str):
        if source.startswith(("http://", "https://")):
            return source
        if source.startswith("data:"):
            _check_size(len(source), "the data URL")
            return source
        path = Path(source[7:] if source.startswith("file://") else source)
    elif isinstance(source, os.PathLike):
        path = Path(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return _data_url(data, mime or _sniff(data) or _unknown_type("the bytes"))
    else:
        raise InvalidRequestError(
            f"an image must be a URL, a data URL, a local path or bytes, got {type(source).__name__}"
        )
    shown = str(path)[:200]
    try:
        path = path.expanduser()  # RuntimeError for an unknown ~user (Python < 3.13)
        found = path.is_file()  # OSError for a name too long (base64 without "data:...,")
    except (OSError, RuntimeError):
        found = False
    if not found:
        raise InvalidRequestError(
            f"image file not found: {shown!r}; pass an existing path, an http(s) URL, "
            "a data: URL or bytes"
        )
    try:
        # Refuse a file that cannot fit before reading it; the exact length is checked once encoded.
        _check_size(_base64_len(path.stat().st_size), f"image file {str(path)!r}")
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidRequestError(f"cannot read image file {str(path)!r}: {exc.strerror}") from None
    guessed = mimetypes.guess_type(path.name)[0]
    return _data_url(data, mime or _sniff(data) or guessed or _unknown_type(repr(str(path))))


def _sniff(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "image/heic"
    return None


def _unknown_type(what: str) -> str:
    raise InvalidRequestError(
        f"cannot tell the image type of {what}; pass mime='image/png' (or jpeg, webp, gif)"
    )


def _base64_len(size: int) -> int:
    return 4 * math.ceil(size / 3)


def _check_size(length: int, what: str) -> None:
    if length > MAX_IMAGE_BYTES:
        raise InvalidRequestError(
            f"{what} is {length} characters as a data URL, over the limit of {MAX_IMAGE_BYTES} "
            "characters (10 MiB, counted after base64); resize or compress it, "
            "or pass an http(s) URL instead"
        )


def _data_url(data: bytes, mime: str) -> str:
    prefix = f"data:{mime};base64,"
    _check_size(len(prefix) + _base64_len(len(data)), "the image")
    return prefix + base64.b64encode(data).decode("ascii")


def _apply_assistant_prefix(
    payload: dict[str, Any], model: str, info: ModelInfo | None, preset: Provider, prefix: Any
) -> None:
    """Append the assistant turn the answer continues, flagged the provider's way."""
    flag = preset.assistant_prefix
    if flag is None:
        raise InvalidRequestError(
            f"{preset.name} cannot continue an assistant prefix; assistant_prefix works on "
            f"provider={' or '.join(providers_with('assistant_prefix'))}"
        )
    if not isinstance(prefix, str) or not prefix:
        raise InvalidRequestError(
            "assistant_prefix must be a non-empty string, e.g. '```python\\n'"
        )
    messages = payload["messages"]
    if messages[-1]["role"] == "assistant":
        raise InvalidRequestError(
            "assistant_prefix adds the last assistant message itself; end messages with the "
            "user (or tool) turn it answers"
        )
    if preset.prefix_without_thinking and _thinks(payload, info):
        raise InvalidRequestError(
            f"{model} on {preset.name} continues a prefix only without thinking; "
            "pass reasoning=False or pick a non-thinking Qwen model"
        )
    payload["messages"] = [*messages, {"role": "assistant", "content": prefix, flag: True}]


def _thinks(payload: dict[str, Any], info: ModelInfo | None) -> bool:
    """Whether the request leaves thinking on: switched on, or the model's default."""
    switch = payload.get("enable_thinking")
    if switch is not None:
        return bool(switch)
    if info is None:
        return False
    return info.thinking_requires_stream or (info.reasoning and info.reasoning_switch is None)


MAX_CACHE_MARKERS = 4  # DashScope: at most four cache_control markers per request


def _check_cache_markers(messages: list[dict[str, Any]], preset: Provider) -> None:
    markers = [
        (i, part["cache_control"])
        for i, msg in enumerate(messages)
        if isinstance(msg.get("content"), list)
        for part in msg["content"]
        if "cache_control" in part
    ]
    if not markers:
        return
    if not preset.cache_markers:
        having = providers_with("cache_markers")
        raise InvalidRequestError(
            f"{preset.name} takes no cache_control markers (explicit caching works on "
            f"provider={' or '.join(having)}); remove them. Automatic caching needs none: "
            "usage['cache_read_tokens'] shows its hits."
        )
    for i, marker in markers:
        if marker != {"type": "ephemeral"}:
            raise InvalidRequestError(
                f'messages[{i}]: cache_control must be {{"type": "ephemeral"}}, got {marker!r}'
            )
    if len(markers) > MAX_CACHE_MARKERS:
        raise InvalidRequestError(
            f"{len(markers)} cache_control markers; {preset.name} takes at most "
            f"{MAX_CACHE_MARKERS} per request: keep the ones after the longest stable prefixes"
        )


# ---------------------------------------------------------------- parameters


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_params(params: Mapping[str, Any]) -> None:
    """Refuse near-miss parameter names and out-of-range values (InvalidRequestError), as
    ``build_payload`` does; for settings given ahead of a call (the adapters' constructors).

    >>> check_params({"temperature": 5})
    Traceback (most recent call last):
    cn_llm_client.errors.InvalidRequestError: temperature must be a number from 0 to 2, got 5.
    """
    for name in params:
        if name in KNOWN_PARAMETERS:
            continue
        close = difflib.get_close_matches(name, KNOWN_PARAMETERS, n=1, cutoff=_NEAR_MISS)
        if close:
            raise InvalidRequestError(
                f"unknown parameter {name!r}: did you mean {close[0]!r}? (keywords that are not "
                "near a known parameter are sent to the server as provider extras)"
            )
    for name, (low, high) in (("temperature", (0.0, 2.0)), ("top_p", (0.0, 1.0))):
        value = params.get(name)
        if value is not None and not (_number(value) and low <= value <= high):
            raise InvalidRequestError(
                f"{name} must be a number from {low:g} to {high:g}, got {value!r}"
            )
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = params.get(name)
        if value is not None and (type(value) is not int or value < 1):
            raise InvalidRequestError(f"{name} must be a positive integer, got {value!r}")


def _check_limits(
    model: str, info: ModelInfo, messages: list[dict[str, Any]], params: Mapping[str, Any]
) -> None:
    """Refuse `max_tokens` over the catalog's output limit and a prompt clearly over the window."""
    for name in ("max_tokens", "max_completion_tokens"):
        value = params.get(name)
        if info.max_output and isinstance(value, int) and value > info.max_output:
            raise InvalidRequestError(
                f"{name}={value:,} is over the output limit of {model}: {info.max_output:,} "
                f"tokens (catalog); pass {name}={info.max_output} or less, or leave it out"
            )
    window = info.context_window
    if not window:
        return
    texts = [_message_text(m) for m in messages]
    if sum(map(len, texts)) <= _CJK_CHARS_PER_TOKEN * window:  # cannot be over: skip the count
        return
    estimate = sum(_min_tokens(text) for text in texts)
    if estimate <= window:
        return
    longer = [m.id for m in list_models(info.provider) if (m.context_window or 0) >= 2 * estimate][
        :3
    ]
    hint = f", or a model with a longer context ({', '.join(longer)})" if longer else ""
    raise InvalidRequestError(
        f"the prompt is over the context window of {model}: at least {estimate:,} tokens "
        f"(a conservative estimate, 1 token per {_CHARS_PER_TOKEN} characters and per "
        f"{_CJK_CHARS_PER_TOKEN} CJK characters) for {window:,}; shorten it or split the "
        f"document{hint}"
    )


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else ()
    return "".join(p["text"] for p in parts if p.get("type") == "text")


def _min_tokens(text: str) -> int:
    """A lower bound on the tokens of `text` (see _CHARS_PER_TOKEN)."""
    wide = (len(text.encode()) - len(text)) // 2  # CJK characters: 3 bytes in UTF-8
    return wide // _CJK_CHARS_PER_TOKEN + (len(text) - wide) // _CHARS_PER_TOKEN


def _apply_tools(
    payload: dict[str, Any],
    model: str,
    info: ModelInfo | None,
    preset: Provider,
    tools: Any,
    tool_choice: Any,
) -> None:
    names = _check_tools(tools)
    if names and info is not None and not info.tools:
        raise InvalidRequestError(
            f"{model} does not support tools; remove tools or pick another model"
        )
    if names:
        payload["tools"] = tools
    choice = _tool_choice(tool_choice, names)
    if choice is None:
        return
    if not names:
        if choice in ("auto", "none"):
            return
        raise InvalidRequestError(f"tool_choice={tool_choice!r} needs tools; pass tools=[...]")
    forced = choice == "required" or isinstance(choice, dict)
    if forced and not _forced_choice_allowed(info, preset):
        logger.warning(
            "%s on %s rejects a forced tool_choice; sending tool_choice='auto' instead",
            model,
            preset.name,
        )
        choice = "auto"
    payload["tool_choice"] = choice


def forced_tool_choice_allowed(model: str, provider: str | None = None) -> bool:
    """Whether `model` on `provider` accepts a forced `tool_choice` (else it is sent as "auto").

    >>> forced_tool_choice_allowed("qwen3-max"), forced_tool_choice_allowed("glm-5", "zhipu")
    (True, False)
    """
    preset = get_provider(provider)
    return _forced_choice_allowed(get_model(model, preset.name), preset)


def _forced_choice_allowed(info: ModelInfo | None, preset: Provider) -> bool:
    return preset.forced_tool_choice and (info is None or info.forced_tool_choice)


def _check_tools(tools: Any) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, (list, tuple)):
        raise InvalidRequestError("tools must be a list of OpenAI function tools")
    names: list[str] = []
    for k, tool in enumerate(tools):
        where = f"tools[{k}]"
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if (
            not isinstance(tool, Mapping)
            or tool.get("type") != "function"
            or not isinstance(fn, Mapping)
        ):
            raise InvalidRequestError(
                f'{where} must be {{"type": "function", "function": {{"name": ..., "parameters": '
                '{"type": "object", ...}}}'
            )
        name = fn.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise InvalidRequestError(
                f"{where} has name {name!r}; use 1-64 letters, digits, '_' or '-'"
            )
        if name in names:
            raise InvalidRequestError(
                f"{where}: two tools are named {name!r}; names must be unique"
            )
        schema = fn.get("parameters")
        if schema is not None and not (
            isinstance(schema, Mapping) and schema.get("type") == "object"
        ):
            raise InvalidRequestError(
                f"{where} ({name}): parameters must be a JSON schema object, e.g. "
                '{"type": "object", "properties": {...}}'
            )
        names.append(name)
    return names


def _tool_choice(choice: Any, names: Iterable[str]) -> str | dict[str, Any] | None:
    if choice is None:
        return None
    if choice is True or choice in ("any", "required"):
        return "required"
    if choice is False:
        return "none"
    if choice in ("auto", "none"):
        return str(choice)
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if choice.get("type") != "function" or not isinstance(name, str):
            raise InvalidRequestError(
                'tool_choice dict must be {"type": "function", "function": {"name": "..."}}'
            )
    elif isinstance(choice, str):
        name = choice
    else:
        raise InvalidRequestError(
            f'tool_choice must be "auto", "none", "required"/"any", a tool name or a dict, got {choice!r}'
        )
    if name not in names:
        raise InvalidRequestError(
            f"tool_choice names {name!r}, which is not among the tools ({', '.join(names) or 'none'})"
        )
    return {"type": "function", "function": {"name": name}}


def _switch(info: ModelInfo | None, preset: Provider) -> str | None:
    """How `reasoning=` is spelled: the provider's switch, else the model's."""
    return preset.reasoning_switch or (info.reasoning_switch if info else None)


def _apply_reasoning(
    payload: dict[str, Any],
    model: str,
    info: ModelInfo | None,
    preset: Provider,
    reasoning: Any,
) -> None:
    if reasoning is None:
        return
    budget = None
    if type(reasoning) is int:
        if reasoning < 1:
            raise InvalidRequestError(
                f"reasoning budget must be a positive number of tokens, got {reasoning}; "
                "use reasoning=False to turn thinking off"
            )
        budget, on = reasoning, True
    elif isinstance(reasoning, bool):
        on = reasoning
    else:
        raise InvalidRequestError(
            f"reasoning must be True, False or a token budget (int), got {reasoning!r}"
        )
    switch = _switch(info, preset)
    if info is not None and not info.reasoning:
        if not on:
            return  # nothing to turn off
        raise InvalidRequestError(
            f"{model} is not a reasoning model; drop reasoning= or pick one such as "
            + ", ".join([m.id for m in list_models(info.provider) if m.reasoning_switch][:3])
        )
    if switch is None and info is not None:
        if on and budget is None:
            return  # it always reasons
        raise InvalidRequestError(
            f"{model} always reasons and has no thinking switch on {preset.name}; use "
            "reasoning=True or None, or pick a model with a switch (e.g. deepseek-v3.2)"
        )
    if switch is None:
        raise InvalidRequestError(
            f"no known thinking switch for {model} on {preset.name}; pass the server's own "
            "parameter instead (enable_thinking=..., thinking={'type': ...}, ...)"
        )
    if budget is not None and switch != "enable_thinking":
        raise InvalidRequestError(
            f"{preset.name} has no thinking budget for {model}; use reasoning=True"
        )
    if switch == "enable_thinking":
        payload.setdefault("enable_thinking", on)
        if budget is not None:
            payload.setdefault("thinking_budget", budget)
    elif switch == "thinking_type":
        payload.setdefault("thinking", {"type": "enabled" if on else "disabled"})
    elif switch == "chat_template_kwargs":
        kwargs = dict(payload.get("chat_template_kwargs") or {})
        kwargs.setdefault("enable_thinking", on)
        payload["chat_template_kwargs"] = kwargs
    else:  # reasoning_effort
        payload.setdefault("reasoning_effort", "medium" if on else "none")


def _apply_model_rules(
    payload: dict[str, Any], model: str, info: ModelInfo | None, preset: Provider
) -> None:
    fmt = payload.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "json_schema" and not (preset.json_schema and (info is None or info.json_schema)):
        raise InvalidRequestError(
            f"{model} on {preset.name} does not take response_format json_schema; use "
            '{"type": "json_object"} (and describe the schema in the prompt) or tool calling'
        )
    if kind == "json_object" and info is not None and not info.json_mode:
        raise InvalidRequestError(f"{model} has no JSON mode; remove response_format")
    json_output = kind in ("json_object", "json_schema")
    if json_output and "enable_thinking" not in payload and info and info.thinking_requires_stream:
        # Open Qwen3 models think unasked, and DashScope refuses JSON mode while thinking.
        payload["enable_thinking"] = False
    if json_output and payload.get("enable_thinking") is True:
        raise InvalidRequestError(
            f"{model}: JSON mode cannot be combined with thinking (enable_thinking); "
            "use reasoning=False, or tool calling for structured output"
        )
    if info is None:
        return
    fixed = info.temperature_fixed
    if fixed is not None and payload.get("temperature", fixed) != fixed:
        logger.warning(
            "%s accepts only temperature=%g; sending %g instead of %g",
            model,
            fixed,
            fixed,
            payload["temperature"],
        )
        payload["temperature"] = fixed
    if info.single_user_message:
        msgs = payload["messages"]
        if len(msgs) != 1 or msgs[0]["role"] != "user":
            raise InvalidRequestError(
                f"{model} translates exactly one user message (no system or history); put the "
                "text in one user message and the languages in translation_options"
            )
        payload.setdefault("translation_options", dict(_MT_DEFAULT_OPTIONS))
