"""CNLLM: Chinese LLMs (Qwen, DeepSeek, GLM, Kimi, MiniMax) as a LlamaIndex function-calling LLM.

All HTTP, retries, validation and per-model policy live in the shared core
(:mod:`cn_llm_client`); this module only translates LlamaIndex messages to OpenAI-shaped dicts and
completions / chunks back to :class:`ChatResponse`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    DocumentBlock,
    ImageBlock,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)
from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json

from cn_llm_client import (
    check_params,
    forced_tool_choice_allowed,
    image_part,
    parse_tool_arguments,
    video_part,
)
from cn_llm_client.catalog import get_model
from cn_llm_client.errors import InvalidRequestError
from llama_index_cn_llm._connection import CoreConnection

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["CNLLM", "UNKNOWN_MODEL_CONTEXT_WINDOW", "UNKNOWN_MODEL_NUM_OUTPUT"]

# Models missing from the catalog (a new gateway model, a local vLLM/Ollama server) are assumed to
# take tools and to hold 32k tokens: every current Chinese chat model does, and LlamaIndex's own
# default (3,900) makes synthesizers cut documents into needlessly small pieces.
# Pass context_window= / max_tokens= to state the real numbers.
UNKNOWN_MODEL_CONTEXT_WINDOW = 32_768
UNKNOWN_MODEL_NUM_OUTPUT = 4_096


# LlamaIndex roles with no OpenAI name of their own.
_OPENAI_ROLES = {"model": "assistant", "chatbot": "assistant", "function": "tool"}


class CNLLM(CoreConnection, CustomLLM, FunctionCallingLLM):
    """A Chinese LLM behind the AIsa gateway (or any OpenAI-compatible server) for LlamaIndex.

    Works everywhere LlamaIndex takes an LLM: query and chat engines, response synthesizers,
    ``FunctionAgent`` / ``AgentWorkflow`` / ``ReActAgent``, ``structured_predict``.

    The key comes from ``api_key`` or the provider's environment variable (``AISA_API_KEY``); the
    server from ``base_url`` or ``AISA_BASE_URL``. Offline, against the bundled gateway emulator:

        >>> from cn_llm_client.testing import FakeGateway
        >>> from llama_index.core.llms import ChatMessage
        >>> from llama_index_cn_llm import CNLLM
        >>> with FakeGateway() as gw:
        ...     llm = CNLLM(model="qwen3-max", base_url=gw.base_url, api_key=gw.api_key)
        ...     reply = llm.chat([ChatMessage(role="user", content="你好")])
        ...     meta = llm.metadata
        >>> reply.message.role.value, bool(reply.message.content)
        ('assistant', True)
        >>> sorted(k for k in reply.additional_kwargs if k.endswith("tokens"))
        ['completion_tokens', 'prompt_tokens', 'total_tokens']
        >>> meta.is_function_calling_model, meta.context_window > 100_000
        (True, True)

    Settings are resolved at construction (``llm.base_url`` is the URL calls go to; a missing key
    raises ``ConfigurationError``, ``temperature=5`` ``InvalidRequestError``). Copies
    (``model_copy(update=...)``, ``copy.copy``, ``copy.deepcopy``) use their own settings and
    connections. Pickles hold no key: the copy reads it from the environment.

    With a key in ``AISA_API_KEY``, ``Settings.llm = CNLLM(model="qwen3-max")`` is all it takes.
    Reasoning models (``deepseek-r1``) return a ``ThinkingBlock`` and stream
    ``additional_kwargs["thinking_delta"]``; sending history back follows the model's echo policy
    in the catalog, so tool loops never get DeepSeek's HTTP 400.

    Provider features (docs/providers.md, "Features by provider"): ``web_search=True`` (field or
    per call; Zhipu's sources in ``additional_kwargs["web_search"]``, Kimi's search tokens in
    ``additional_kwargs["search_tokens"]``), ``VideoBlock`` for Qwen-VL (ImageBlocks as frames
    with ``additional_kwargs={"video_fps": 2}`` on the message), and ``DocumentBlock`` or
    ``chat(..., documents=[path])`` for qwen-long and Kimi (uploaded once per instance).
    """

    model_config = ConfigDict(extra="ignore")  # as LlamaIndex LLMs do (CoreConnection forbids)

    model: str = Field(default="qwen3-max", description="Model id exactly as the gateway names it.")
    temperature: float | None = Field(default=None, description="Sampling temperature.")
    max_tokens: int | None = Field(default=None, description="Cap on generated tokens.")
    top_p: float | None = Field(default=None, description="Nucleus sampling.")
    reasoning: bool | int | None = Field(
        default=None,
        description="Thinking switch: True/False, or a thinking budget in tokens; None = default.",
    )
    web_search: bool | dict[str, Any] | None = Field(
        default=None,
        description=(
            "Ground answers in a web search: True or the provider's search options (DashScope, "
            "Zhipu, Kimi); sources, when returned, in additional_kwargs['web_search']."
        ),
    )
    assistant_prefix: str | None = Field(
        default=None,
        description="The answer continues this text (DeepSeek prefix, Kimi / Qwen partial mode).",
    )
    context_window: int | None = Field(
        default=None, description="Override the catalog's context window (unknown models)."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra request parameters sent on every call."
    )

    def _check_fields(self) -> None:
        check_params(self._params({}))  # temperature=5 fails at construction

    @classmethod
    def class_name(cls) -> str:
        return "CNLLM"

    @property
    def metadata(self) -> LLMMetadata:
        """Catalog numbers; ``num_output`` (the room LlamaIndex keeps free for the answer) is
        ``max_tokens`` when set, else the model's max output capped at a quarter of the window,
        so retrieval keeps at least three quarters of it for context."""
        info = get_model(self.model, self.provider)
        context_window = (
            self.context_window or (info and info.context_window) or UNKNOWN_MODEL_CONTEXT_WINDOW
        )
        num_output = self.max_tokens or min(
            (info and info.max_output) or UNKNOWN_MODEL_NUM_OUTPUT, context_window // 4
        )
        return LLMMetadata(
            context_window=context_window,
            num_output=num_output,
            is_chat_model=True,
            is_function_calling_model=info.tools if info else True,
            model_name=self.model,
        )

    # -- request and response translation -------------------------------------------------

    def _params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        params = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "reasoning": self.reasoning,
            "web_search": self.web_search,
            "assistant_prefix": self.assistant_prefix,
            **self.additional_kwargs,
            **kwargs,
        }
        return {key: value for key, value in params.items() if value is not None}

    def _usage(self, usage: dict[str, Any] | None) -> dict[str, Any]:
        if not usage:
            return {}
        counts = {
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "total_tokens": usage.get("total_tokens"),
            "cost": usage.get("cost"),  # the core's: the server's figure or the catalog's prices
        }
        # Context-cache figures, which the core reads from each provider's own field, and Kimi's
        # $web_search rounds (summed by the core).
        for name in ("cache_read_tokens", "cache_write_tokens", "searches", "search_tokens"):
            if usage.get(name) is not None:
                counts[name] = usage[name]
        return counts

    def _chat_response(self, completion: Mapping[str, Any], params: dict[str, Any]) -> ChatResponse:
        message = completion["choices"][0]["message"] if completion.get("choices") else {}
        extra = self._usage(completion.get("usage"))
        if _forces_a_tool(params):  # kept for get_tool_calls_from_response's error message
            extra["tool_choice"] = params["tool_choice"]
        if completion.get("web_search"):  # search sources (Zhipu)
            extra["web_search"] = completion["web_search"]
        return ChatResponse(
            message=_from_openai_message(message), raw=completion, additional_kwargs=extra
        )

    def _stream_response(
        self, chunk: Mapping[str, Any], so_far: _MessageSoFar
    ) -> ChatResponse | None:
        """One streamed step: the message so far, this chunk's text, thinking and usage."""
        delta = (chunk.get("choices") or [{}])[0].get("delta") or {}
        text = delta.get("content") or ""
        thinking = delta.get("reasoning_content") or ""  # the core renamed "reasoning"
        usage = self._usage(chunk.get("usage"))
        if not (text or thinking or delta.get("tool_calls") or usage):
            return None  # role-only or finish-only chunk: nothing new to report
        extra = {"thinking_delta": thinking, **usage} if thinking else usage
        return ChatResponse(
            message=so_far.add(text, thinking, bool(delta.get("tool_calls"))),
            delta=text,
            raw=chunk,
            additional_kwargs=extra,
        )

    # -- chat ---------------------------------------------------------------------------------

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        params = self._params(kwargs)
        completion = self._sync_client().chat(self.model, _to_openai_messages(messages), **params)
        return self._chat_response(completion, params)

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        openai_messages = _to_openai_messages(messages)  # bad input fails here, not mid-iteration
        params = self._params(kwargs)

        def gen() -> ChatResponseGen:
            with self._sync_client().stream(self.model, openai_messages, **params) as stream:
                so_far = _MessageSoFar(stream)
                for chunk in stream:
                    response = self._stream_response(chunk, so_far)
                    if response is not None:
                        yield response
                self._check_not_cut(stream, params)

        return gen()

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        params = self._params(kwargs)
        completion = await self._async_client().chat(
            self.model, _to_openai_messages(messages), **params
        )
        return self._chat_response(completion, params)

    def _astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        openai_messages = _to_openai_messages(messages)
        params = self._params(kwargs)

        async def gen() -> ChatResponseAsyncGen:
            client = self._async_client()
            async with client.stream(self.model, openai_messages, **params) as stream:
                so_far = _MessageSoFar(stream)
                async for chunk in stream:
                    response = self._stream_response(chunk, so_far)
                    if response is not None:
                        yield response
                self._check_not_cut(stream, params)

        return gen()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream_chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return self._astream_chat(messages, **kwargs)

    # -- completion: through the chat endpoint, or fill-in-the-middle with suffix= --------------
    # ``complete(prompt, suffix=...)`` is DeepSeek's FIM (``client.fim``): the text between
    # prompt and suffix; other providers refuse it before any request, naming DeepSeek.

    def _fim_params(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        params = self._params(kwargs)
        for chat_only in ("reasoning", "assistant_prefix"):
            params.pop(chat_only, None)
        return params

    def _fim_response(self, body: dict[str, Any]) -> CompletionResponse:
        choice = (body.get("choices") or [{}])[0]
        text = choice.get("text") or ""
        return CompletionResponse(
            text=text, raw=body, additional_kwargs=self._usage(body.get("usage"))
        )

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        if "suffix" in kwargs:
            body = self._sync_client().fim(self.model, prompt, **self._fim_params(kwargs))
            return self._fim_response(body)
        return _to_completion(self._chat(_prompt_messages(prompt), **kwargs))

    @llm_completion_callback()
    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        if "suffix" in kwargs:
            pieces = self._sync_client().fim_stream(self.model, prompt, **self._fim_params(kwargs))
            return _fim_completions(pieces)
        responses = self._stream_chat(_prompt_messages(prompt), **kwargs)
        return (_to_completion(response) for response in responses)

    @llm_completion_callback()
    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        if "suffix" in kwargs:
            client = self._async_client()
            body = await client.fim(self.model, prompt, **self._fim_params(kwargs))
            return self._fim_response(body)
        return _to_completion(await self._achat(_prompt_messages(prompt), **kwargs))

    @llm_completion_callback()
    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        if "suffix" in kwargs:
            client = self._async_client()
            return _afim_completions(
                client.fim_stream(self.model, prompt, **self._fim_params(kwargs))
            )
        responses = self._astream_chat(_prompt_messages(prompt), **kwargs)

        async def gen() -> CompletionResponseAsyncGen:
            async for response in responses:
                yield _to_completion(response)

        return gen()

    # -- function calling ----------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: str | dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Chat arguments with the tools as OpenAI specs.

        ``tool_required`` asks for ``tool_choice="required"``; the core turns that into "auto"
        (with a warning) for models whose catalog entry says they reject a forced choice.
        """
        messages = list(chat_history or [])
        if isinstance(user_msg, str):
            user_msg = ChatMessage(role=MessageRole.USER, content=user_msg)
        if user_msg is not None:
            messages.append(user_msg)
        if tools:
            kwargs["tools"] = [
                tool.metadata.to_openai_tool(skip_length_check=True) for tool in tools
            ]
            if tool_choice is None and tool_required:
                tool_choice = "required"
            kwargs["tool_choice"] = tool_choice
        return {"messages": messages, **kwargs}

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Keep only the first tool call unless parallel calls were allowed."""
        if not allow_parallel_tool_calls:
            first = next((b for b in response.message.blocks if isinstance(b, ToolCallBlock)), None)
            response.message.blocks = [
                b for b in response.message.blocks if b is first or not isinstance(b, ToolCallBlock)
            ]
        return response

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """The tool calls of a response (or of a partial streamed one) as ToolSelections.

        Empty or null arguments become ``{}``; arguments still streaming in are parsed as far
        as they go.
        """
        calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if calls and _finish_reason(response.raw) == "length":
            raise self._cut_tool_call()
        if not calls and error_on_no_tool_call:
            raise ValueError(self._no_tool_call(response.additional_kwargs.get("tool_choice")))
        return [
            ToolSelection(
                tool_id=call.tool_call_id or "",
                tool_name=call.tool_name,
                tool_kwargs=_tool_kwargs(call.tool_kwargs),
            )
            for call in calls
        ]

    def _cut_tool_call(self) -> ValueError:
        limit = f"max_tokens={self.max_tokens}" if self.max_tokens else "the server's max_tokens"
        return ValueError(
            f"{self.model}'s tool call was cut at {limit} (finish_reason 'length'): its arguments "
            "are incomplete, so no call (and no structured result) is built from them. Raise "
            "max_tokens or ask for a shorter answer, and retry."
        )

    def _check_not_cut(self, stream: Any, params: dict[str, Any]) -> None:
        """At a stream's end: a tool call cut by the length limit is an error, not a call."""
        completion = stream.completion()
        cut = _finish_reason(completion) == "length" and params.get("tools")
        if cut and completion["choices"][0]["message"].get("tool_calls"):
            raise self._cut_tool_call()

    def _no_tool_call(self, forced: str | dict[str, Any] | None) -> str:
        """Why a response that should hold a tool call has none, and what to do about it."""
        expected = f"Expected a tool call from {self.model}, but it answered in plain text"
        if forced is None:
            return (
                f"{expected}. Pass tool_required=True, or error_on_no_tool_call=False to accept "
                "plain answers."
            )
        if not forced_tool_choice_allowed(self.model, self.provider):
            return (
                f"{expected}: {self.model} cannot be forced to call a tool (the request went out "
                "with tool_choice='auto'). Ask for the fields explicitly in the prompt, or use a "
                "model that accepts a forced tool choice."
            )
        return (
            f"{expected}: the request forced the call (tool_choice={forced!r}) but the server "
            "ignored the forced tool choice. Some servers do not support it; ask for the tool "
            "call explicitly in the prompt, or use a server that honours tool_choice."
        )


def _finish_reason(completion: Any) -> str | None:
    choices = completion.get("choices") if isinstance(completion, dict) else None
    return choices[0].get("finish_reason") if choices else None


def _forces_a_tool(params: dict[str, Any]) -> bool:
    return bool(params.get("tools")) and params.get("tool_choice") not in (None, "auto", "none")


class _MessageSoFar:
    """The assistant message a stream has built so far, handed to LlamaIndex on every chunk.

    LlamaIndex streams carry the whole text so far in every ``ChatResponse.message`` (and the
    piece in ``delta``), so each chunk needs a new str of the text so far: one append per chunk,
    which copies the text (a str cannot grow while an earlier response still holds it; OpenAILike
    pays the same). Nothing else re-reads the whole message per chunk: asking the core's fold for
    it on every chunk re-joined every piece (benchmarks/README.md, "In memory"), and tool calls
    are parsed into blocks only when a chunk carries tool-call fragments.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._content = ""
        self._reasoning = ""
        self._tool_calls: list[ToolCallBlock] = []

    def add(self, text: str, thinking: str, has_tool_calls: bool) -> ChatMessage:
        self._content += text
        self._reasoning += thinking
        if has_tool_calls:  # the core's fold knows the servers' tool-call index quirks
            folded = self._stream.completion()["choices"][0]["message"]
            self._tool_calls = _tool_call_blocks(folded.get("tool_calls"))
        return _assistant_message(self._reasoning, self._content, self._tool_calls)


# -- LlamaIndex messages -> OpenAI dicts ----------------------------------------------------------


def _prompt_messages(prompt: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=prompt)]


def _to_openai_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    return [_to_openai_message(message) for message in messages]


def _to_openai_message(message: ChatMessage) -> dict[str, Any]:
    texts: list[str] = []
    parts: list[dict[str, Any]] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    marked = False  # a CachePoint put cache_control on a part: the parts must go as a list
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append(_image_part(block))
        elif isinstance(block, VideoBlock):
            parts.append(_video_part(block))
        elif isinstance(block, DocumentBlock):
            parts.append(_file_part(block))
        elif isinstance(block, ThinkingBlock):
            if block.content:
                thinking.append(block.content)
        elif isinstance(block, ToolCallBlock):
            tool_calls.append(_tool_call_dict(block))
        elif isinstance(block, CachePoint):
            if not parts:
                raise InvalidRequestError(
                    "A CachePoint marks the block before it; put it after a TextBlock or ImageBlock."
                )
            parts[-1] = {**parts[-1], "cache_control": {"type": block.cache_control.type}}
            marked = True
        else:
            raise InvalidRequestError(
                f"CNLLM cannot send a {type(block).__name__} in a chat message; "
                "use TextBlock, ImageBlock, VideoBlock, DocumentBlock, ThinkingBlock or ToolCallBlock."
            )
    if message.additional_kwargs.get("video_fps") is not None:
        parts = _as_frames(parts, message.additional_kwargs["video_fps"])

    role = _OPENAI_ROLES.get(message.role.value, message.role.value)
    result: dict[str, Any] = {"role": role}
    has_images = len(parts) > len(texts)
    result["content"] = parts if has_images or marked else "\n".join(texts)
    tool_calls = tool_calls or _legacy_tool_calls(message.additional_kwargs)
    if role == MessageRole.ASSISTANT.value:
        if tool_calls:
            result["tool_calls"] = tool_calls
            result["content"] = result["content"] or None
        if thinking:
            # Sent back as the server returned it; the core's catalog policy strips or keeps it.
            result["reasoning_content"] = "".join(thinking)
    if role == MessageRole.TOOL.value and "tool_call_id" in message.additional_kwargs:
        result["tool_call_id"] = message.additional_kwargs["tool_call_id"]
    return result


def _image_part(block: ImageBlock) -> dict[str, Any]:
    return image_part(_media_source(block), mime=block.image_mimetype, detail=block.detail)


def _video_part(block: VideoBlock) -> dict[str, Any]:
    return video_part(_media_source(block), mime=block.video_mimetype, fps=block.fps)


def _file_part(block: DocumentBlock) -> dict[str, Any]:
    """A DocumentBlock as an OpenAI file part; the core uploads it for models that read files
    (qwen-long, Kimi) and references it as the provider expects."""
    if block.data is None and block.path is None:
        raise InvalidRequestError(
            "DocumentBlock needs data or a path (a url is not fetched: download it first)."
        )
    content = block.resolve_document().read()
    mime = block.document_mimetype or "application/octet-stream"
    default = Path(block.path).name if block.path else "document"
    name = block.title if block.title not in (None, "", "input_document") else default
    data = base64.b64encode(content).decode("ascii")
    return {"type": "file", "file": {"file_data": f"data:{mime};base64,{data}", "filename": name}}


def _media_source(block: ImageBlock | VideoBlock) -> Any:
    """The block's url, path or raw bytes (LlamaIndex stores the bytes base64)."""
    if block.url is not None:
        return str(block.url)
    if block.path is not None:
        return block.path
    if isinstance(block, ImageBlock) and block.image is not None:
        return block.resolve_image().read()
    if isinstance(block, VideoBlock) and block.video is not None:
        return block.resolve_video().read()
    name = type(block).__name__
    raise InvalidRequestError(f"{name} has no url, path or data; set one of them.")


def _as_frames(parts: list[dict[str, Any]], fps: Any) -> list[dict[str, Any]]:
    """A message's ImageBlocks as one list of video frames (``additional_kwargs["video_fps"]``),
    where the first image was."""
    images = [p for p in parts if p.get("type") == "image_url"]
    if not images:
        raise InvalidRequestError('additional_kwargs["video_fps"] needs ImageBlocks as the frames')
    frames = video_part([p["image_url"]["url"] for p in images], fps=fps)
    first = parts.index(images[0])
    rest = [p for p in parts if p.get("type") != "image_url"]
    return [*rest[:first], frames, *rest[first:]]


def _tool_call_dict(block: ToolCallBlock) -> dict[str, Any]:
    arguments = block.tool_kwargs
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {
        "id": block.tool_call_id,
        "type": "function",
        "function": {"name": block.tool_name, "arguments": arguments},
    }


def _legacy_tool_calls(additional_kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """Tool calls kept in additional_kwargs by older integrations (dicts or SDK objects)."""
    calls = additional_kwargs.get("tool_calls") or []
    return [call if isinstance(call, dict) else call.model_dump() for call in calls]


# -- OpenAI dicts -> LlamaIndex -------------------------------------------------------------------


def _from_openai_message(message: dict[str, Any]) -> ChatMessage:
    reasoning = message.get("reasoning_content")  # the core renamed "reasoning"
    tool_calls = _tool_call_blocks(message.get("tool_calls"))
    return _assistant_message(reasoning, message.get("content"), tool_calls)


def _assistant_message(
    reasoning: str | None, content: str | None, tool_calls: list[ToolCallBlock]
) -> ChatMessage:
    blocks: list[Any] = []
    if reasoning:
        blocks.append(ThinkingBlock(content=reasoning))
    if content:
        blocks.append(TextBlock(text=content))
    blocks += tool_calls
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks)


def _tool_call_blocks(calls: list[dict[str, Any]] | None) -> list[ToolCallBlock]:
    blocks = []
    for call in calls or ():
        function = call.get("function") or {}
        raw_arguments = function.get("arguments")
        parsed = parse_tool_arguments(raw_arguments)
        blocks.append(
            ToolCallBlock(
                tool_call_id=call.get("id"),
                tool_name=function.get("name") or "",
                # invalid or still-streaming JSON is kept verbatim, to be sent back unchanged
                tool_kwargs=parsed if parsed is not None else str(raw_arguments),
            )
        )
    return blocks


def _tool_kwargs(arguments: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    parsed = parse_tool_arguments(arguments)
    if parsed is not None:
        return parsed
    try:  # arguments still streaming in: take what is there so far
        partial = parse_partial_json(arguments)
    except (ValueError, TypeError):
        return {}
    return partial if isinstance(partial, dict) else {}


# LlamaIndex wants the whole text in every response; a FIM answer is at most 4K tokens, so
# growing one string stays cheap (chat streams avoid it: they can be long).
def _fim_completions(pieces: Iterator[str]) -> CompletionResponseGen:
    text = ""
    for piece in pieces:
        text += piece
        yield CompletionResponse(text=text, delta=piece)


async def _afim_completions(pieces: AsyncIterator[str]) -> CompletionResponseAsyncGen:
    text = ""
    async for piece in pieces:
        text += piece
        yield CompletionResponse(text=text, delta=piece)


def _to_completion(response: ChatResponse) -> CompletionResponse:
    return CompletionResponse(
        text=response.message.content or "",
        delta=response.delta,
        raw=response.raw,
        additional_kwargs=response.additional_kwargs,
    )
