"""The emulated models: what they know, what they refuse, and what they answer.

All of it is deterministic (see `cn_llm_client.testing` for the rules). The server in
`gateway.py` only moves the results on the wire.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from ._modes import LOCAL_MODES
from ._schema import schema_instance, words

__all__ = [
    "Answer",
    "Rejection",
    "Traits",
    "answer",
    "assistant_prefix_of",
    "check_assistant_prefix",
    "check_request",
    "fim_answer",
    "count_tokens",
    "known_models",
    "prompt_tokens",
    "referenced_files",
    "searched",
    "thinking_on",
]

MAX_DATA_URL = 10 * 1024 * 1024  # DashScope: a data URI may be at most 10485760 bytes
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
_REASONING_NAME = re.compile(r"(^|[-_/:])r1([-_.:]|$)|reasoner|thinking|qwq", re.IGNORECASE)
# Open Qwen3 ids (qwen3-8b, Qwen3-8B-Q4_K_M.gguf): a thinking switch; the 2507 lines have none.
_HYBRID_NAME = re.compile(r"qwen3(?![-_.]?(coder|vl|omni|max|embedding|reranker))(?!.*2507)", re.I)
_LONG_TEXT = "模拟网关正在生成一段很长的中文回答，用于测试流式输出。"
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_QUOTED_KEY = re.compile(r"""(['"`])([A-Za-z_][\w-]*)\1""")  # 'setup', "name", `punchline`


@dataclass(frozen=True)
class Traits:
    """What the emulator needs to know about one model (a view of its catalog entry)."""

    id: str
    family: str = ""
    vision: bool = False
    video: bool = False
    documents: bool = False
    reasoning: bool = False
    reasoning_switch: str | None = None
    reasoning_echo: str = "keep-with-tool-calls"
    thinking_requires_stream: bool = False
    forced_tool_choice: bool = True
    json_schema: bool = True
    temperature_fixed: float | None = None
    single_user_message: bool = False
    input_price: float | None = None
    output_price: float | None = None
    context_window: int | None = None
    max_output: int | None = None

    @classmethod
    def from_name(cls, model_id: str) -> Traits:
        """Traits guessed from the id alone, for models the catalog does not list."""
        name = model_id.lower()
        reasoning = bool(_REASONING_NAME.search(name))
        strip = bool(re.search(r"(^|[-_/:])r1([-_.:]|$)", name))
        hybrid = bool(_HYBRID_NAME.search(name)) and not reasoning  # open Qwen3: a switch
        return cls(
            id=model_id,
            family=name.split("-")[0].split("/")[-1],
            vision=bool(re.search(r"vl|omni|vision|4v|[0-9]v($|-)", name)),
            video=bool(re.search(r"qwen.*(vl|omni)", name)),
            reasoning=reasoning or hybrid,
            reasoning_switch="chat_template_kwargs" if hybrid else None,
            reasoning_echo="strip" if strip else "keep-with-tool-calls",
            forced_tool_choice=not reasoning,
            single_user_message="qwen-mt" in name,
        )


def known_models(mode: str) -> dict[str, Traits]:
    """The models the gateway in `mode` serves, from the catalog (empty if there is none)."""
    try:
        from cn_llm_client.catalog import list_models
    except ImportError:  # the catalog is optional for the emulator
        return {}
    names = Traits.__dataclass_fields__
    return {
        info.id: Traits(**{name: getattr(info, name) for name in names if hasattr(info, name)})
        for info in list_models(mode)
    }


def count_tokens(text: str) -> int:
    """Emulated token count: one per CJK (multi-byte) character, one per 4 other characters."""
    wide = (len(text.encode()) - len(text)) // 2
    return wide + -(-(len(text) - wide) // 4)


def prompt_tokens(body: dict[str, Any]) -> int:
    """Emulated prompt tokens: each message's text plus 4, the tools' JSON, and the search text
    a Kimi `$web_search` result stands for."""
    messages = body.get("messages") or []
    tokens = sum(
        4 + count_tokens(message_text(m)) + search_tokens(m)
        for m in messages
        if isinstance(m, dict)
    )
    if body.get("tools"):
        tokens += count_tokens(orjson.dumps(body["tools"]).decode())
    return tokens


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = (p.get("text") for p in content if isinstance(p, dict))
        return " ".join(text for text in texts if isinstance(text, str))
    return ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def _switch(body: dict[str, Any], mode: str) -> bool | None:
    """The thinking switch as `mode` spells it (the gateway accepts every spelling)."""
    spellings: dict[str, Any] = {
        "enable_thinking": body.get("enable_thinking"),
        "thinking": (body.get("thinking") or {}).get("type")
        if isinstance(body.get("thinking"), dict)
        else None,
        "chat_template_kwargs": (body.get("chat_template_kwargs") or {}).get("enable_thinking"),
        "think": body.get("think"),
        "reasoning_effort": body.get("reasoning_effort"),
    }
    accepted = {
        "aisa": spellings,
        "dashscope": ("enable_thinking",),
        "siliconflow": ("enable_thinking",),
        "deepseek": ("thinking",),
        "zhipu": ("thinking",),
        "moonshot": ("thinking",),
        "vllm": ("chat_template_kwargs",),
        "llamacpp": ("chat_template_kwargs",),
        "lmstudio": (),  # no switch in the request: set per model in LM Studio
        "ollama": ("reasoning_effort", "think"),  # /v1 takes reasoning_effort; "none" is off
    }[mode]
    for name in accepted:
        value = spellings[name]
        if value is None:
            continue
        if name == "thinking":
            return value in (True, "enabled")
        if name == "reasoning_effort":
            return value != "none"
        return bool(value)
    return None


def thinking_on(body: dict[str, Any], traits: Traits, mode: str) -> bool:
    """Whether the answer carries reasoning: always-thinking models, else the switch or default."""
    if traits.reasoning and traits.reasoning_switch is None:
        return True
    switch = _switch(body, mode)
    if switch is not None:
        return switch and (traits.reasoning or traits.reasoning_switch is not None)
    return traits.thinking_requires_stream  # open Qwen3 models think unless told not to


@dataclass(frozen=True)
class Rejection:
    """A request the real server would refuse."""

    status: int
    message: str
    code: str | None = None


def check_request(body: dict[str, Any], traits: Traits, mode: str) -> Rejection | None:
    """The first rule of `mode` that `body` breaks, or None."""
    messages = body["messages"]
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            return Rejection(400, f"messages[{index}]: invalid or missing role")
    for name, low, high in (("temperature", 0, 2), ("top_p", 0, 1)):
        value = body.get(name)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is not None and not (number and low <= value <= high):
            return Rejection(400, f"{name} must be between {low} and {high}", "invalid_parameter")
    max_tokens = body.get("max_tokens")
    whole = isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
    if max_tokens is not None and not (whole and max_tokens > 0):
        return Rejection(400, "max_tokens must be a positive integer", "invalid_parameter")
    if "stream_options" in body and not body.get("stream"):
        text = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        return Rejection(400, text, "invalid_parameter")
    for index, message in enumerate(messages):
        for call in message.get("tool_calls") or []:
            if not isinstance((call.get("function") or {}).get("arguments"), str):
                text = (
                    f"Invalid type for 'messages[{index}].tool_calls[].function.arguments': "
                    "expected a string (JSON text), but got another type instead."
                )
                return Rejection(400, text, "invalid_parameter_type")
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        names = [(t.get("function") or {}).get("name") for t in body.get("tools") or []]
        if wanted not in names:
            return Rejection(400, f"tool_choice names {wanted!r}, which is not in tools")
    return (
        _check_limits(body, traits, mode)
        or _check_tool_turns(messages, mode)
        or _check_web_search(body, traits, mode)
        or _check_json_word(body, mode)
        or _check_images(messages, traits)
        or _check_provider(body, traits, mode)
        or _check_reasoning_echo(messages, traits, mode, thinking_on(body, traits, mode))
    )


def _check_limits(body: dict[str, Any], traits: Traits, mode: str) -> Rejection | None:
    """`max_tokens` over the model's output limit, a prompt over its context window, refused as
    each server words it (DeepSeek's and DashScope's texts from their public error reports; AIsa
    answers 422 max_tokens_exceeded). Ollama cuts a long prompt to its num_ctx instead."""
    if mode == "ollama":
        return None
    requested = body.get("max_tokens", body.get("max_completion_tokens"))
    completion = requested if isinstance(requested, int) else 0
    limit = traits.max_output
    if limit and completion > limit:
        if mode == "dashscope":
            text = f"<400> InternalError.Algo.InvalidParameter: Range of max_tokens should be [1, {limit}]"
            return Rejection(400, text, "InvalidParameter")
        if mode == "aisa":
            text = f"max_tokens={completion} is over the output limit of {traits.id} ({limit})."
            return Rejection(422, text, "max_tokens_exceeded")
        text = f"Invalid max_tokens value, the valid range of max_tokens is [1, {limit}]"
        return Rejection(400, text, "invalid_request_error" if mode == "deepseek" else None)
    window = traits.context_window
    prompt = prompt_tokens(body)
    if not window:
        return None
    if mode == "dashscope":  # the input alone is measured
        if prompt <= window:
            return None
        text = f"<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, {window}]"
        return Rejection(400, text, "InvalidParameter")
    if prompt + completion <= window:
        return None
    text = (
        f"This model's maximum context length is {window} tokens. However, you requested "
        f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the "
        "completion). Please reduce the length of the messages or completion."
    )
    code = {"deepseek": "invalid_request_error", "aisa": "invalid_request"}.get(mode)
    return Rejection(400, text, code)


def _check_tool_turns(messages: list[dict[str, Any]], mode: str) -> Rejection | None:
    """OpenAI-style servers (DeepSeek, DashScope, ...) pair every tool call with its result:
    an assistant's `tool_calls` must be followed at once by one tool message per call id, and a
    tool message must answer a call of the assistant message before it."""
    if mode in LOCAL_MODES:  # a chat template takes whatever it is given
        return None
    waiting: set[str] = set()  # call ids of the last tool-call turn not yet answered
    for index, message in enumerate([*messages, {"role": "end"}]):
        role = message.get("role")
        if role == "tool" and message.get("tool_call_id") in waiting:
            waiting.discard(message["tool_call_id"])
        elif role == "tool":
            text = (
                f"messages[{index}]: Messages with role 'tool' must be a response to a "
                "preceding message with 'tool_calls'"
            )
            return Rejection(400, text)
        elif waiting:
            text = (
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. (insufficient tool messages following "
                "tool_calls message) The following tool_call_ids did not have response "
                f"messages: {', '.join(sorted(waiting))}"
            )
            return Rejection(400, text)
        else:
            calls = message.get("tool_calls") if role == "assistant" else None
            waiting = {str(c.get("id")) for c in calls or [] if isinstance(c, dict)}
    return None


SEARCH_TOOL = "$web_search"
_SEARCH_STRATEGIES = ("turbo", "max", "agent", "agent_max")
# The tool types each mode takes besides "function": Kimi's builtin $web_search, Zhipu's web_search.
_TOOL_TYPES = {"moonshot": "builtin_function", "zhipu": "web_search"}


def _search_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The request's web-search tool (Kimi's `$web_search` builtin or Zhipu's), if any."""
    for tool in body.get("tools") or ():
        if isinstance(tool, dict) and tool.get("type") in ("builtin_function", "web_search"):
            return tool
    return None


def _check_web_search(body: dict[str, Any], traits: Traits, mode: str) -> Rejection | None:
    """Search as each provider takes it (wire-facts-2 section 3)."""
    for tool in body.get("tools") or ():
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind not in ("function", _TOOL_TYPES.get(mode)):
            return Rejection(400, f"Invalid tool type {kind!r}: only 'function' is supported")
        if kind == "builtin_function" and (tool.get("function") or {}).get("name") != SEARCH_TOOL:
            return Rejection(400, "Unknown builtin function; the only one is $web_search")
    searching = _search_tool(body) is not None
    if mode == "moonshot" and searching and thinking_on(body, traits, mode):
        return Rejection(400, "$web_search is not supported in thinking mode; disable thinking")
    echoed = any(m.get("name") == SEARCH_TOOL for m in body["messages"] if m.get("role") == "tool")
    if mode == "moonshot" and echoed and not searching:
        return Rejection(
            400, "tool $web_search is not declared in tools (declare it on every request)"
        )
    if mode != "dashscope" or not body.get("enable_search"):
        return None
    options = body.get("search_options") or {}
    strategy = options.get("search_strategy")
    if strategy is not None and strategy not in _SEARCH_STRATEGIES:
        return Rejection(
            400, f"search_options.search_strategy {strategy!r} is invalid", "InvalidParameter"
        )
    if options.get("freshness") not in (None, 7, 30, 180, 365):
        return Rejection(
            400, "search_options.freshness must be 7, 30, 180 or 365", "InvalidParameter"
        )
    if len(options.get("assigned_site_list") or ()) > 25:
        return Rejection(
            400, "search_options.assigned_site_list takes at most 25 sites", "InvalidParameter"
        )
    if traits.vision and not body.get("stream"):
        return Rejection(400, "Non-streaming mode does not support Web Search", "InvalidParameter")
    return None


def referenced_files(body: dict[str, Any], mode: str) -> list[str]:
    """The documents a request points at: DashScope `fileid://` ids in system messages, or
    (moonshot) the filenames of Kimi file-content JSON put in system messages."""
    found: list[str] = []
    for message in body["messages"]:
        content = message.get("content") if message.get("role") == "system" else None
        if not isinstance(content, str):
            continue
        if mode == "dashscope" and content.startswith("fileid://"):
            found += [ref.strip().removeprefix("fileid://") for ref in content.split(",")]
        elif mode == "moonshot" and content.startswith("{"):
            try:
                extracted = orjson.loads(content)
            except orjson.JSONDecodeError:
                continue
            if isinstance(extracted, dict) and extracted.get("type") == "file":
                found.append(str(extracted.get("filename")))
    return found


def searched(body: dict[str, Any], mode: str) -> bool:
    """Whether the answer is grounded by a web search (Kimi: after the echo round)."""
    if mode == "dashscope":
        return bool(body.get("enable_search"))
    if mode == "zhipu":
        return _search_tool(body) is not None
    last = body["messages"][-1]
    return mode == "moonshot" and last.get("role") == "tool" and last.get("name") == SEARCH_TOOL


def search_tokens(message: dict[str, Any]) -> int:
    """The tokens a `$web_search` tool result says its search text costs (0 for other messages)."""
    if message.get("role") != "tool" or message.get("name") != SEARCH_TOOL:
        return 0
    try:
        usage = orjson.loads(message.get("content") or "{}").get("usage") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return 0
    tokens = usage.get("total_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) else 0


def _check_json_word(body: dict[str, Any], mode: str) -> Rejection | None:
    """DeepSeek and DashScope (and AIsa in front of them) refuse JSON mode unless the prompt
    says "json" somewhere."""
    if mode not in ("aisa", "deepseek", "dashscope"):
        return None
    if (body.get("response_format") or {}).get("type") != "json_object":
        return None
    texts = (message_text(m) for m in body["messages"])
    if any("json" in text.lower() for text in texts):
        return None
    message = (
        "Prompt must contain the word 'json' in some form to use 'response_format' of type "
        "'json_object'."
    )
    return Rejection(400, message)


def _check_images(messages: list[dict[str, Any]], traits: Traits) -> Rejection | None:
    for message in messages:
        content = message.get("content")
        parts = content if isinstance(content, list) else []
        for part in parts:
            if isinstance(part, dict) and part.get("type") == "file":
                return Rejection(400, "Unsupported content type 'file': upload it to /files")
            if isinstance(part, dict) and part.get("type") in ("video", "video_url"):
                problem = _video_problem(part, traits)
                if problem:
                    return Rejection(400, problem, "invalid_parameter")
            if not isinstance(part, dict) or part.get("type") != "image_url":
                continue
            if not traits.vision:
                return Rejection(400, f"Model {traits.id} does not support image input.")
            url = str((part.get("image_url") or {}).get("url", ""))
            problem = _image_problem(url)
            if problem:
                return Rejection(400, problem, "invalid_parameter")
    return None


def _video_problem(part: dict[str, Any], traits: Traits) -> str | None:
    """DashScope's video parts (wire-facts-2 section 7): a video file or a list of frames."""
    if not traits.video:
        return f"Model {traits.id} does not support video input."
    fps = part.get("fps")
    if fps is not None and not (isinstance(fps, (int, float)) and 0 < fps <= 60):
        return "fps must be a number in (0, 60]"
    if part["type"] == "video":
        frames = part.get("video")
        if not isinstance(frames, list) or not frames:
            return "video must be a non-empty list of image URLs"
        for frame in frames:
            problem = _image_problem(str(frame))
            if problem:
                return f"video frame: {problem}"
        return None
    url = str((part.get("video_url") or {}).get("url", ""))
    if url.startswith(("http://", "https://")):
        return None
    if not url.startswith("data:video/") or ";base64," not in url:
        return "video_url.url must be an http(s) URL or a data:video/...;base64 URL"
    if len(url) > MAX_DATA_URL:
        return f"The data URI is too large ({len(url)} bytes); the limit is {MAX_DATA_URL} bytes."
    try:
        base64.b64decode(url.partition(",")[2], validate=True)
    except (binascii.Error, ValueError):
        return "The video data URL is not valid base64."
    return None


def _image_problem(url: str) -> str | None:
    if url.startswith(("http://", "https://")):
        return None
    if not url.startswith("data:"):
        return "image_url.url must be an http(s) URL or a data: URL"
    if len(url) > MAX_DATA_URL:
        return f"The data URI is too large ({len(url)} bytes); the limit is {MAX_DATA_URL} bytes."
    header, _, data = url.partition(",")
    mime = header[5:].split(";")[0]
    if not mime.startswith("image/") or not header.endswith(";base64"):
        return f"Unsupported image data URL type {header[:40]!r}; expected data:image/...;base64"
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return "The image data URL is not valid base64."
    return None


def _check_provider(body: dict[str, Any], traits: Traits, mode: str) -> Rejection | None:
    choice = body.get("tool_choice")
    forced = choice == "required" or isinstance(choice, dict)
    response_type = (body.get("response_format") or {}).get("type")
    if mode == "zhipu" and choice is not None and choice != "auto":
        return Rejection(400, "tool_choice only supports auto", "1214")
    if mode == "zhipu" and response_type == "json_schema":
        return Rejection(400, "response_format only supports json_object", "1214")
    if mode in ("llamacpp", "lmstudio") and forced:
        return Rejection(400, f"tool_choice {choice!r} is not supported; use 'auto' or 'none'")
    if mode in LOCAL_MODES:
        return None
    if forced and not traits.forced_tool_choice:
        return Rejection(400, f"{traits.id} does not support this tool_choice", "invalid_parameter")
    temperature = body.get("temperature")
    fixed = traits.temperature_fixed
    if fixed is not None and temperature is not None and temperature != fixed:
        message = f"invalid temperature: only {fixed:g} is allowed for this model"
        return Rejection(400, message, "invalid_parameter")
    if traits.single_user_message:
        roles = [m.get("role") for m in body["messages"]]
        if roles != ["user"]:
            return Rejection(400, f"{traits.id} accepts exactly one user message and no other")
    if mode == "dashscope" and _cache_markers(body["messages"]) > 4:
        return Rejection(400, "At most 4 cache_control markers are allowed", "InvalidParameter")
    if mode == "dashscope" and thinking_on(body, traits, mode):
        if not body.get("stream"):
            message = "parameter.enable_thinking must be set to false for non-streaming calls"
            return Rejection(400, message, "InvalidParameter")
        if response_type in ("json_object", "json_schema"):
            message = "Json mode response is not supported when enable_thinking is true"
            return Rejection(400, message, "InvalidParameter")
    return None


def _check_reasoning_echo(
    messages: list[dict[str, Any]], traits: Traits, mode: str, thinking: bool
) -> Rejection | None:
    if mode not in ("aisa", "deepseek", "moonshot"):
        return None
    deepseek_or_kimi = traits.family.lower().startswith(("deepseek", "kimi"))
    strip = traits.reasoning_echo == "strip" and traits.reasoning and deepseek_or_kimi
    if strip and any("reasoning_content" in m for m in messages):
        notice = (
            "The reasoning_content is an intermediate result for display purposes only and "
            "will not be included in the context for inference. Please remove the "
            "reasoning_content from your message to reduce network traffic."
        )
        return Rejection(400, notice)
    needs_echo = deepseek_or_kimi and traits.reasoning_echo == "keep-with-tool-calls"
    if needs_echo and thinking:
        for index, message in enumerate(messages):
            if message.get("tool_calls") and "reasoning_content" not in message:
                text = (
                    "Missing `reasoning_content` field in the assistant message at message "
                    f"index {index}"
                )
                return Rejection(400, text)
    return None


def _cache_markers(messages: list[dict[str, Any]]) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if isinstance(p, dict) and "cache_control" in p
    )


@dataclass
class Answer:
    """What the model says: text, reasoning, tool calls and why it stopped."""

    content: str | None
    reasoning: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"
    sources: list[dict[str, Any]] | None = None  # Zhipu's top-level `web_search` list


def answer(
    body: dict[str, Any],
    traits: Traits,
    *,
    thinking: bool,
    answer_chars: int | None,
    call_id: str,
    mode: str = "aisa",
    continues: str | None = None,
) -> Answer:
    """The deterministic answer to `body` (rules in the `cn_llm_client.testing` docstring);
    `continues`: the assistant prefix the answer goes on from (prefix / partial mode)."""
    messages = body["messages"]
    text = last_user_text(messages)
    chinese = bool(_CJK.search(text))
    reasoning = None
    if thinking:
        reasoning = f"思考：用户说「{text}」，我来复述。" if chinese else f"Thinking about: {text}"
    last_role = messages[-1].get("role")
    turn = _current_turn(messages)
    search_tool = _search_tool(body)
    if searched(body, mode):  # answer as without search, marked "(web)"
        functions = [t for t in body.get("tools") or () if t is not search_tool]
        unsearched = {**body, "tools": functions, "enable_search": None}
        if mode == "moonshot":  # the search turn ends the conversation: answer the question
            unsearched["messages"] = messages[: len(messages) - len(turn)]
        reply = answer(
            unsearched, traits, thinking=thinking, answer_chars=answer_chars, call_id=call_id
        )
        head = f"[{traits.id}] "
        if reply.content is not None and reply.content.startswith(head):
            reply.content = f"{head}(web) {reply.content[len(head) :]}"
        if mode == "zhipu":
            reply.sources = _sources(text)
        return reply
    if mode == "moonshot" and search_tool is not None and last_role == "user":
        arguments = {
            "search_result": {"search_id": f"search-{call_id}"},
            "usage": {"total_tokens": 100 + count_tokens(text)},
        }
        call = {
            "id": f"{call_id}_search",
            "type": "builtin_function",
            "function": {"name": SEARCH_TOOL, "arguments": orjson.dumps(arguments).decode()},
        }
        return Answer("", reasoning, [call], "tool_calls")
    tools = [
        t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"
    ]
    max_tokens = body.get("max_tokens")
    if tools and body.get("tool_choice") != "none" and last_role in ("user", "tool"):
        calls = _tool_calls(tools, body, text, turn, call_id)
        if calls and isinstance(max_tokens, int) and _cut_arguments(calls, max_tokens):
            return Answer(None, reasoning, calls, "length")
        if calls:
            return Answer(None, reasoning, calls, "tool_calls")
    if last_role == "tool":
        content = f"[{traits.id}] Tool results: " + "; ".join(_tool_results(turn))
    elif continues is not None:  # only the continuation: the caller holds the prefix
        content = f"[{traits.id}] (after {continues!r}) {text}"
    elif answer_chars is not None:
        repeats = answer_chars // len(_LONG_TEXT) + 1
        content = (_LONG_TEXT * repeats)[:answer_chars]
    else:
        structured = _structured(body, traits, text)  # cut at max_tokens like any text
        grounded = rag_answer(messages)  # a RAG prompt: a sentence of the retrieved context
        if grounded is not None:
            plain = f"[{traits.id}] {grounded}"
        else:
            plain = f"[{traits.id}] 收到：{text}" if chinese else f"[{traits.id}] {text}"
        content = plain if structured is None else structured
    if isinstance(max_tokens, int) and count_tokens(content) > max_tokens:
        return Answer(_truncate(content, max_tokens), reasoning, [], "length")
    return Answer(content, reasoning)


def rag_answer(messages: list[dict[str, Any]]) -> str | None:
    """The sentence of the retrieved context that best answers the question, or None when the
    prompt is not a RAG prompt (no context marker such as "Context information is below",
    "Context:", "上下文", "资料" in the last user message or a system message).

    The question follows a "Query:" / "Question:" / "问题：" label, else it is the last user
    message. The best sentence shares the most words (Latin) and character pairs (CJK) with it;
    ties go to the earliest, no overlap to the first sentence.
    """
    text = last_user_text(messages)
    labelled = list(_QUESTION_LABEL.finditer(text))
    if labelled:
        source, question = text[: labelled[-1].start()], text[labelled[-1].end() :]
        question = _ANSWER_LABEL.split(question, 1)[0]
    else:
        system = [message_text(m) for m in messages if m.get("role") in ("system", "developer")]
        source, question = "\n".join(system), text
    marker = _CONTEXT_MARK.search(source)
    if marker is None or not question.strip():
        return None
    context = source[marker.end() :]
    if not marker[0].rstrip().endswith((":", "：")):
        context = context.split("\n", 1)[1] if "\n" in context else ""
    context = _CONTEXT_END.split(context.strip(" \n-"), 1)[0]
    sentences = [s.strip() for s in _CONTEXT_SENTENCE.split(context) if s.strip(" -\n")]
    if not sentences:
        return None
    wanted = _terms(question)
    return max(sentences, key=lambda s: (len(wanted & _terms(s)), -sentences.index(s)))


_CONTEXT_MARK = re.compile(
    r"context information is below\.?|(?:context|documents?|sources?)\s*[:：]|上下文[^\n]*|"
    r"(?:参考|以下)?资料[^\n]*|参考文档[^\n]*",
    re.IGNORECASE,
)
_QUESTION_LABEL = re.compile(r"^\s*(?:query|question|问题|查询)\s*[:：]", re.I | re.M)
_ANSWER_LABEL = re.compile(r"^\s*(?:answer|回答|答案)\s*[:：]", re.I | re.M)
_CONTEXT_END = re.compile(r"^-{3,}\s*$|^\s*(?:given the context|instruction\s*:)", re.I | re.M)
_CONTEXT_SENTENCE = re.compile(r"(?<=[。！？!?])|(?<=[.;])\s+|\n+")
_WORD = re.compile(r"[A-Za-z0-9]{2,}")
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")
_FUNCTION_WORDS = words(
    "a an and are as at be by did do does for from how in is it of on or that the this to "
    "was were what when where which who why with"
)


def _terms(text: str) -> set[str]:
    """Latin words (lower case, not function words) and CJK character pairs: what a question and
    a sentence share."""
    terms = {word.lower() for word in _WORD.findall(text)} - _FUNCTION_WORDS
    for run in _CJK_RUN.findall(text):
        terms.update(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    return terms


def _sources(text: str) -> list[dict[str, Any]]:
    """Two emulated search results, in Zhipu's `web_search` shape."""
    return [
        {
            "refer": f"ref_{n}",
            "title": f"{text[:20]} ({n})",
            "link": f"https://example.com/search/{n}",
            "media": "emulator",
            "icon": "",
            "content": f"Search result {n} for: {text[:100]}",
            "publish_date": "2026-01-01",
        }
        for n in (1, 2)
    ]


def assistant_prefix_of(messages: list[dict[str, Any]], flag: str | None) -> str | None:
    """The text the answer continues: a last assistant message flagged the provider's way."""
    last = messages[-1] if messages else {}
    if flag is None or last.get("role") != "assistant" or last.get(flag) is not True:
        return None
    return message_text(last)


def check_assistant_prefix(
    body: dict[str, Any], traits: Traits, mode: str, flag: str | None, *, beta: bool
) -> Rejection | None:
    """Prefix / partial mode as each server takes it (only the provider's own spelling counts;
    another one is an unknown field, ignored)."""
    messages = body["messages"]
    flagged = [i for i, m in enumerate(messages) if flag and m.get(flag) is True]
    for index in flagged:
        if index != len(messages) - 1 or messages[index].get("role") != "assistant":
            text = f"messages[{index}]: only the last message, an assistant one, may set {flag}"
            return Rejection(400, text, "invalid_request_error")
    if mode == "deepseek" and flagged and not beta:  # QuantumNous/new-api#999
        text = (
            "prefix is only available when using beta api "
            '(set base_url="https://api.deepseek.com/beta")'
        )
        return Rejection(400, text, "invalid_request_error")
    reasoner_last = traits.id == "deepseek-reasoner" and messages[-1].get("role") == "assistant"
    if mode == "deepseek" and not flagged and reasoner_last:  # gptme/gptme#467
        text = (
            "The last message of deepseek-reasoner must be a user message, or an assistant "
            "message with prefix mode on (refer to "
            "https://api-docs.deepseek.com/guides/chat_prefix_completion)."
        )
        return Rejection(400, text, "invalid_request_error")
    if mode == "dashscope" and flagged and thinking_on(body, traits, mode):
        text = "Partial mode is not supported when enable_thinking is true"  # wording: UNSURE
        return Rejection(400, text, "InvalidParameter")
    return None


def fim_answer(body: dict[str, Any], traits: Traits) -> Answer:
    """The text between `prompt` and `suffix`: a comment naming both ends, cut at max_tokens."""
    prompt = body.get("prompt") or ""
    suffix = body.get("suffix") or ""
    before = prompt.rstrip().splitlines()[-1].strip() if prompt.strip() else ""
    after = suffix.strip().splitlines()[0].strip() if suffix.strip() else ""
    text = f"    # [{traits.id}] fills {before!r} ... {after!r}\n"
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, int) and count_tokens(text) > max_tokens:
        return Answer(_truncate(text, max_tokens), finish_reason="length")
    return Answer(text)


def _structured(body: dict[str, Any], traits: Traits, text: str) -> str | None:
    response_format = body.get("response_format") or {}
    kind = response_format.get("type")
    if kind == "json_object":
        keys = dict.fromkeys(match[2] for match in _QUOTED_KEY.finditer(text))
        data = {key: f"{key}: {text}" for key in keys} or {"model": traits.id, "answer": text}
        return orjson.dumps(data).decode()
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        return orjson.dumps(schema_instance(schema, text)).decode()
    return None


def _current_turn(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages after the last user message: this user turn's tool calls and results."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return messages[index + 1 :]
    return messages


def _named_tools(names: list[str], text: str) -> list[str]:
    """The tool names that appear in `text` as whole identifiers, in the order they appear."""
    positions = {}
    for name in names:
        found = re.search(rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])", text)
        if found:
            positions[name] = found.start()
    return sorted(positions, key=positions.__getitem__)


def _tool_calls(
    tools: list[dict[str, Any]],
    body: dict[str, Any],
    text: str,
    turn: list[dict[str, Any]],
    call_id: str,
) -> list[dict[str, Any]]:
    """This round's calls: each named tool once per user turn (else the first tool, once)."""
    functions: dict[Any, dict[str, Any]] = {
        t.get("function", {}).get("name"): t.get("function", {}) for t in tools
    }
    called = {
        (call.get("function") or {}).get("name")
        for message in turn
        for call in message.get("tool_calls") or []
    }
    choice = body.get("tool_choice")
    named = _named_tools([name for name in functions if name], text)
    pending = [name for name in named if name not in called]
    chosen: list[Any]
    if isinstance(choice, dict):
        chosen = [] if turn else [(choice.get("function") or {}).get("name")]
    elif not named:
        chosen = [] if turn else list(functions)[:1]
    elif body.get("parallel_tool_calls") is False:
        chosen = pending[:1]
    else:
        chosen = pending
    calls = []
    for index, name in enumerate(chosen):
        schema = functions.get(name, {}).get("parameters") or {"type": "object"}
        arguments = orjson.dumps(schema_instance(schema, text)).decode()
        calls.append(
            {
                "id": f"{call_id}_{index}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
        )
    return calls


def _tool_results(turn: list[dict[str, Any]]) -> list[str]:
    names = {
        call.get("id"): (call.get("function") or {}).get("name", "tool")
        for m in turn
        for call in m.get("tool_calls") or []
    }
    results = [m for m in turn if m.get("role") == "tool"]
    return [f"{names.get(m.get('tool_call_id'), 'tool')} -> {message_text(m)}" for m in results]


def _cut_arguments(calls: list[dict[str, Any]], max_tokens: int) -> bool:
    """Cut the calls' arguments (in place) where they pass `max_tokens`; True when cut."""
    for index, call in enumerate(calls):
        function = call["function"]
        if count_tokens(function["arguments"]) > max_tokens:
            function["arguments"] = _truncate(function["arguments"], max_tokens)
            del calls[index + 1 :]
            return True
        max_tokens -= count_tokens(function["arguments"])
    return False


def _truncate(text: str, max_tokens: int) -> str:
    budget = max_tokens * 4
    for index, char in enumerate(text):
        budget -= 4 if ord(char) > 0x7F else 1
        if budget < 0:
            return text[:index]
    return text
