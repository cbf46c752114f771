"""ChatCNLLM: Chinese LLMs (Qwen, DeepSeek, GLM, Kimi, MiniMax) as a LangChain chat model.

This module only translates: LangChain messages → OpenAI-shaped dicts → ``cn_llm_client`` (which
owns HTTP, retries, validation, per-model policies and errors) → AIMessage / AIMessageChunk.
"""

from __future__ import annotations

import functools
import json
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any, Literal

import httpx
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.language_models.chat_models import agenerate_from_stream, generate_from_stream
from langchain_core.language_models.model_profile import ModelProfile
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    InputTokenDetails,
    OutputTokenDetails,
    UsageMetadata,
)
from langchain_core.messages.tool import (
    ToolCallChunk,
    invalid_tool_call,
    tool_call,
    tool_call_chunk,
)
from langchain_core.messages.utils import convert_to_openai_messages
from langchain_core.output_parsers import (
    JsonOutputKeyToolsParser,
    JsonOutputParser,
    PydanticOutputParser,
    PydanticToolsParser,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import (
    Runnable,
    RunnableGenerator,
    RunnableLambda,
    RunnableMap,
    RunnablePassthrough,
)
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from cn_llm_client import (
    ToolCallFragment,
    ToolCallSlots,
    catalog,
    check_params,
    forced_tool_choice_allowed,
    parse_tool_arguments,
    video_part,
)
from cn_llm_client.budget import CostMeter
from cn_llm_client.errors import InvalidRequestError
from langchain_cn_llm._connection import CoreConnection

__all__ = ["ChatCNLLM"]

StructuredMethod = Literal["function_calling", "json_mode", "json_schema"]


class ChatCNLLM(CoreConnection, BaseChatModel):
    """Chinese LLMs through the AIsa gateway (or any OpenAI-compatible server) in LangChain.

    Setup: ``pip install "cn-llm[langchain]"`` and ``export AISA_API_KEY=...``.

    Example:
        ```python
        from langchain_cn_llm import ChatCNLLM

        llm = ChatCNLLM(model="qwen3-max", temperature=0.3)
        print(llm.invoke("用一句话介绍长城").content)

        thinker = ChatCNLLM(model="deepseek-r1")
        msg = thinker.invoke("9.9 和 9.11 哪个大？")
        print(msg.additional_kwargs["reasoning_content"], msg.content)

        for chunk in llm.stream("讲一个成语故事"):
            print(chunk.content, end="", flush=True)
        ```

    Tools, structured output and images follow LangChain's standard interfaces:
    ``llm.bind_tools([...], tool_choice="any")``, ``llm.with_structured_output(Schema)``, and
    ``HumanMessage(content=[{"type": "text", ...}, {"type": "image", "url": ...}])``; video blocks
    (``{"type": "video", "url": ...}``) for Qwen-VL; for qwen-long and Kimi, documents as file
    blocks or ``invoke(x, documents=["contract.pdf"])`` (uploaded once, referenced per provider).

    Capabilities come from the catalog (``llm.profile``). Where a model cannot honour a request,
    the documented fallback applies instead of a server 400:

    - a forced ``tool_choice`` on a model that rejects it is sent as ``"auto"`` (with a warning);
      ``with_structured_output`` on such a model raises ``OutputParserException`` when the answer
      comes back as plain text instead of the tool call;
    - ``with_structured_output(method="json_schema")`` on a model without JSON-schema output uses
      ``function_calling`` when the model has tools, else ``json_mode``;
    - JSON output (json_mode / json_schema) on a Qwen model is sent with thinking off (also where
      thinking is the model's default), because DashScope refuses JSON mode while thinking;
    - an answer cut by the length limit (``finish_reason="length"``) never becomes a structured
      result: ``with_structured_output`` raises ``OutputParserException`` naming max_tokens;
    - reasoning sent back in a multi-turn conversation follows the model's echo policy (stripped
      for deepseek-r1, kept on tool-call turns where the model requires it).

    Errors are ``cn_llm_client.errors`` classes, unchanged. ``budget_usd`` makes this instance
    refuse calls (``BudgetExceededError``) once that much has been spent; ``get_cn_llm_callback()``
    totals tokens and cost across instances.

    Settings are resolved at construction, as the core client resolves them: ``llm.base_url`` is
    the URL calls go to (``AISA_BASE_URL`` or the provider preset when not given), a missing key
    raises ``ConfigurationError`` (not for loopback servers and keyless providers) and
    ``temperature=5`` raises ``InvalidRequestError``.

    Copies (``model_copy(update=...)``, ``copy.copy``, ``copy.deepcopy``) use their own settings
    and open their own connections; a copy starts a meter of its own (same ``budget_usd``, totals
    at zero), so it never adds to or spends the original's budget.

    Pickling drops the API key (it is read again from the environment on unpickle), and
    ``dumpd`` stores only a reference to the key's environment variable.
    """

    model_config = ConfigDict(populate_by_name=True)

    model: str = Field(default="qwen3-max", alias="model_name")
    """Model id, exactly as the gateway names it (``cn-llm models`` lists them)."""
    temperature: float | None = None
    max_tokens: int | None = Field(
        default=None, validation_alias=AliasChoices("max_tokens", "max_completion_tokens")
    )
    """Cap on generated tokens (``max_completion_tokens``, ChatOpenAI's name, is accepted too)."""
    top_p: float | None = None
    stop: list[str] | str | None = Field(default=None, alias="stop_sequences")
    streaming: bool = False
    """Make ``invoke`` stream under the hood (callbacks then see every token)."""
    stream_usage: bool = True
    """Attach ``usage_metadata`` to a stream's last chunk; per call: ``stream(x, stream_usage=False)``."""
    reasoning: bool | int | None = None
    """Thinking switch: True/False, or a thinking budget in tokens; mapped per model family."""
    web_search: bool | dict[str, Any] | None = None
    """Ground answers in a web search: True, or the provider's search options (Qwen
    ``{"search_strategy": "max", "forced_search": True}``; per call: ``invoke(x, web_search=True)``).
    DashScope, Zhipu and Kimi (the client runs Kimi's ``$web_search`` round); sources, when the
    provider returns them (Zhipu), are in ``response_metadata["web_search"]``."""
    assistant_prefix: str | None = None
    """The answer continues this text (DeepSeek prefix completion, Kimi / Qwen partial mode);
    the message holds the continuation only. Per call: ``invoke(x, assistant_prefix="...")``."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Extra request body parameters (e.g. ``{"response_format": ...}``). Unknown constructor
    arguments land here too, with a warning (``ChatCNLLM(enable_thinking=True)``)."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Provider-specific body parameters (e.g. ``{"translation_options": {...}}``)."""
    budget_usd: float | None = None
    """Refuse calls on this instance once this many USD were spent."""
    http_client: httpx.Client | None = Field(default=None, exclude=True)
    http_async_client: httpx.AsyncClient | None = Field(default=None, exclude=True)

    _caller_owned = ("http_client", "http_async_client")
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _meter: CostMeter | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _collect_model_kwargs(cls, values: Any) -> Any:
        """Unknown arguments go to ``model_kwargs`` with a warning (as in ChatOpenAI), instead of
        pydantic dropping them; a field set inside ``model_kwargs`` / ``extra_body`` is refused,
        since it would silently override the field."""
        if not isinstance(values, dict):
            return values
        names = _argument_names(cls)
        extra = {key: value for key, value in values.items() if key not in names}
        if extra:
            warnings.warn(
                f"{', '.join(sorted(extra))}: not ChatCNLLM fields; sent in the request body "
                "(model_kwargs).",
                UserWarning,
                stacklevel=2,
            )
            values = {key: value for key, value in values.items() if key in names}
            values["model_kwargs"] = {**(values.get("model_kwargs") or {}), **extra}
        for where in ("model_kwargs", "extra_body"):
            for key, value in (values.get(where) or {}).items():
                if key in names:
                    raise ValueError(
                        f"{where} sets {key}={value!r}, which is a ChatCNLLM field: "
                        f"pass ChatCNLLM({key}={value!r}) instead."
                    )
        return values

    def _check_fields(self) -> None:
        check_params(self._default_params)  # temperature=5 fails here, not at the first call

    # --- LangChain plumbing -------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "cn-llm-chat"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider or "aisa",
            "base_url": self.base_url,
            **self._default_params,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider=self.provider or "aisa",
            ls_model_name=kwargs.get("model", self.model),
            ls_model_type="chat",
        )
        if self.temperature is not None:
            params["ls_temperature"] = self.temperature
        if self.max_tokens is not None:
            params["ls_max_tokens"] = self.max_tokens
        if ls_stop := stop or self._stop_list:
            params["ls_stop"] = ls_stop
        return params

    def _resolve_model_profile(self) -> ModelProfile | None:
        info = catalog.get_model(self.model, self.provider)
        if info is None:
            return None
        profile = ModelProfile(
            text_inputs=True,
            text_outputs=True,
            image_inputs=info.vision,
            image_url_inputs=info.vision,
            video_inputs=info.video,
            tool_calling=info.tools,
            tool_choice=info.tools and info.forced_tool_choice,
            tool_call_streaming=info.tools,
            reasoning_output=info.reasoning,
            structured_output=info.json_schema,
            temperature=info.temperature_fixed is None,
        )
        if info.context_window:
            profile["max_input_tokens"] = info.context_window
        if info.max_output:
            profile["max_output_tokens"] = info.max_output
        return profile

    # --- the core clients ------------------------------------------------------------------------

    @property
    def meter(self) -> CostMeter:
        """This instance's running totals (calls, tokens, cost) and ``budget_usd`` limit."""
        with self._lock:
            if self._meter is None:
                self._meter = CostMeter(limit_usd=self.budget_usd)
            return self._meter

    def _client_settings(self, *, asynchronous: bool) -> dict[str, Any]:
        http_client = self.http_async_client if asynchronous else self.http_client
        return {
            **super()._client_settings(asynchronous=asynchronous),
            "meter": self.meter,
            "http_client": http_client,
        }

    # --- request building ------------------------------------------------------------------------

    @property
    def _stop_list(self) -> list[str] | None:
        return [self.stop] if isinstance(self.stop, str) else self.stop

    @property
    def _default_params(self) -> dict[str, Any]:
        params = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "reasoning": self.reasoning,
            "web_search": self.web_search,
            "assistant_prefix": self.assistant_prefix,
        }
        return {k: v for k, v in params.items() if v is not None}

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        """(model, OpenAI messages, build_payload params) for one call."""
        params = {**self._default_params, **self.model_kwargs, **self.extra_body, **kwargs}
        params.pop("ls_structured_output_format", None)
        model = params.pop("model", None) or self.model
        if stop := stop or self._stop_list:
            params["stop"] = stop
        return model, [_to_openai_message(m) for m in messages], params

    # --- invoke ----------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))
        model, openai_messages, params = self._request(messages, stop, kwargs)
        completion = self._sync_client().chat(model, openai_messages, **params)
        return self._chat_result(completion, model)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.streaming:
            return await agenerate_from_stream(self._astream(messages, stop, run_manager, **kwargs))
        model, openai_messages, params = self._request(messages, stop, kwargs)
        completion = await self._async_client().chat(model, openai_messages, **params)
        return self._chat_result(completion, model)

    def _chat_result(self, completion: Mapping[str, Any], model: str) -> ChatResult:
        choice = (completion.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        calls, invalid = [], []
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            raw = function.get("arguments")
            args = parse_tool_arguments(raw)
            if args is None:
                invalid.append(
                    invalid_tool_call(
                        name=function.get("name"),
                        args=raw,
                        id=call.get("id"),
                        error="arguments are not a JSON object",
                    )
                )
            else:
                calls.append(tool_call(name=function.get("name", ""), args=args, id=call.get("id")))
        reasoning = message.get("reasoning_content")
        usage = completion.get("usage")
        ai_message = AIMessage(
            content=message.get("content") or "",
            additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
            tool_calls=calls,
            invalid_tool_calls=invalid,
            usage_metadata=_usage_metadata(usage) if usage else None,
            response_metadata=self._response_metadata(
                completion, model, choice.get("finish_reason"), completion.get("request_id")
            ),
            id=completion.get("id"),
        )
        return ChatResult(generations=[ChatGeneration(message=ai_message)])

    def _response_metadata(
        self,
        completion: Mapping[str, Any],
        model: str,
        finish_reason: str | None,
        request_id: str | None,
    ) -> dict[str, Any]:
        usage = completion.get("usage") or {}
        metadata: dict[str, Any] = {
            "model_name": completion.get("model") or model,
            "model_provider": self.provider or "aisa",
            "finish_reason": finish_reason,
            "id": completion.get("id"),
            "token_usage": usage,
            "cost": usage.get("cost"),  # the core's: the server's figure or the catalog's prices
            "request_id": request_id,
        }
        if "credits_remaining" in usage:
            metadata["credits_remaining"] = usage["credits_remaining"]
        if completion.get("web_search"):  # search sources (Zhipu)
            metadata["web_search"] = completion["web_search"]
        return metadata

    # --- streaming -------------------------------------------------------------------------------

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        stream_usage = kwargs.pop("stream_usage", self.stream_usage)  # ChatOpenAI's per-call flag
        model, openai_messages, params = self._request(messages, stop, kwargs)
        slots = ToolCallSlots()
        with self._sync_client().stream(model, openai_messages, **params) as stream:
            for raw in stream:
                if chunk := _message_chunk(raw, slots, v1=self.output_version == "v1"):
                    if run_manager:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
            yield self._last_chunk(stream.completion(), model, stream.request_id, stream_usage)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        stream_usage = kwargs.pop("stream_usage", self.stream_usage)  # ChatOpenAI's per-call flag
        model, openai_messages, params = self._request(messages, stop, kwargs)
        slots = ToolCallSlots()
        async with self._async_client().stream(model, openai_messages, **params) as stream:
            async for raw in stream:
                if chunk := _message_chunk(raw, slots, v1=self.output_version == "v1"):
                    if run_manager:
                        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk
            yield self._last_chunk(stream.completion(), model, stream.request_id, stream_usage)

    def _last_chunk(
        self, completion: Mapping[str, Any], model: str, request_id: str | None, stream_usage: bool
    ) -> ChatGenerationChunk:
        """Closes a stream: finish reason, usage and metadata, ``chunk_position="last"``."""
        choice = (completion.get("choices") or [{}])[0]
        usage = completion.get("usage")
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                chunk_position="last",
                usage_metadata=_usage_metadata(usage) if usage and stream_usage else None,
                response_metadata=self._response_metadata(
                    completion, model, choice.get("finish_reason"), request_id
                ),
            )
        )

    # --- tools and structured output -------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (functions, pydantic models, TypedDicts, BaseTools or OpenAI tool dicts).

        ``tool_choice``: "auto", "none", "any" / "required" / True (must call a tool), or a
        tool name (must call that tool). Models that reject a forced choice get "auto".
        """
        formatted = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        if tool_choice not in (None, False):  # the core maps True / "any" to "required"
            kwargs["tool_choice"] = tool_choice
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: StructuredMethod = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Return a runnable whose output matches ``schema`` (pydantic class, TypedDict, JSON schema).

        ``method``: "function_calling" (default; a forced tool call), "json_mode"
        (``response_format={"type": "json_object"}``; say "JSON" in your prompt), or
        "json_schema" (falls back as described in the class docstring). Works on reasoning
        models: the answer is parsed from content / tool calls, never from the reasoning.
        """
        if kwargs:
            raise ValueError(f"Unexpected arguments: {sorted(kwargs)}")
        if schema is None and method != "json_mode":
            raise ValueError(f"method={method!r} needs a schema; pass one or use 'json_mode'.")
        method = self._supported_method(method)
        is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        trace_format = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
        llm: Runnable[LanguageModelInput, Any]
        parser: Runnable[Any, Any]
        if method == "function_calling":
            assert schema is not None
            tool = convert_to_openai_tool(schema, strict=strict)
            name = tool["function"]["name"]
            llm = self.bind_tools(
                [tool], tool_choice=name, ls_structured_output_format=trace_format
            )
            parser = (
                PydanticToolsParser(tools=[schema], first_tool_only=True)  # type: ignore[list-item]
                if is_pydantic
                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
            )
            if not forced_tool_choice_allowed(self.model, self.provider):
                # tool_choice went out as "auto": an answer in plain text is an error, not None.
                parser = parser | RunnableLambda(functools.partial(_tool_called, name, self.model))
        else:
            response_format: dict[str, Any] = {"type": "json_object"}
            if method == "json_schema":
                assert schema is not None
                json_schema = convert_to_json_schema(schema, strict=strict)
                response_format = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": json_schema.get("title", "output"),
                        "schema": json_schema,
                        **({"strict": strict} if strict is not None else {}),
                    },
                }
            llm = self.bind(
                response_format=response_format,
                ls_structured_output_format=trace_format,
                **self._json_output_thinking(),
            )
            parser = (
                PydanticOutputParser(pydantic_object=schema)  # type: ignore[arg-type]
                if is_pydantic
                else JsonOutputParser()
            )
        parser = _refuse_cut_output(self.model, self.max_tokens) | parser
        if not include_raw:
            return llm | parser
        parsed = RunnablePassthrough.assign(
            parsed=itemgetter("raw") | parser, parsing_error=lambda _: None
        )
        unparsed = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=llm) | parsed.with_fallbacks(
            [unparsed], exception_key="parsing_error"
        )

    def _json_output_thinking(self) -> dict[str, Any]:
        """Qwen (enable_thinking) refuses JSON output while thinking: turn thinking off for it,
        unless the caller turned it off already (open Qwen3 models think by default)."""
        info = catalog.get_model(self.model, self.provider)
        if (
            self.reasoning is not False
            and info is not None
            and info.reasoning_switch == "enable_thinking"
        ):
            return {"reasoning": False}
        return {}

    def _supported_method(self, method: StructuredMethod) -> StructuredMethod:
        """The json_schema fallback: function_calling if the model has tools, else json_mode."""
        info = catalog.get_model(self.model, self.provider)
        if method != "json_schema" or info is None or info.json_schema:
            return method
        return "function_calling" if info.tools else "json_mode"


def _refuse_cut_output(model: str, max_tokens: int | None) -> Runnable[Any, Any]:
    """Passes messages (or stream chunks) on unchanged, and raises once one says the answer was
    cut by the length limit: a parse of truncated JSON is not a result (ChatOpenAI raises
    LengthFinishReasonError)."""

    def check(message: BaseMessage) -> BaseMessage:
        if message.response_metadata.get("finish_reason") == "length":
            limit = f"max_tokens={max_tokens}" if max_tokens else "the server's max_tokens"
            raise OutputParserException(
                f"{model}'s answer was cut at {limit} (finish_reason 'length'), so its JSON is "
                "incomplete and no structured result was built. Raise max_tokens or ask for a "
                "shorter answer, and retry.",
                llm_output=message.text or None,
            )
        return message

    def transform(messages: Iterator[BaseMessage]) -> Iterator[BaseMessage]:
        for message in messages:
            yield check(message)

    async def atransform(messages: AsyncIterator[BaseMessage]) -> AsyncIterator[BaseMessage]:
        async for message in messages:
            yield check(message)

    return RunnableGenerator(transform, atransform, name="refuse_cut_output")


def _tool_called(tool: str, model: str, parsed: Any) -> Any:
    if parsed is None:
        raise OutputParserException(
            f"{model} answered without calling {tool!r}: it cannot be forced to call a tool. "
            "Ask for the fields explicitly in the prompt and retry."
        )
    return parsed


@functools.cache
def _argument_names(cls: type[BaseModel]) -> frozenset[str]:
    """Every name a field can be given by: its own, its alias, its validation aliases."""
    names = set(cls.model_fields)
    for field in cls.model_fields.values():
        if field.alias:
            names.add(field.alias)
        if isinstance(field.validation_alias, AliasChoices):
            names.update(a for a in field.validation_alias.choices if isinstance(a, str))
    return frozenset(names)


# --- message translation ---------------------------------------------------------------------


def _to_openai_message(message: BaseMessage) -> dict[str, Any]:
    """One LangChain message as an OpenAI chat message.

    langchain-core's ``convert_to_openai_messages`` already maps every standard content block
    (``image`` url/base64, legacy ``source_type``, ``image_url``) and tool messages, so we use it.
    Assistant turns are built here: text only, tool calls (invalid ones too, so every tool reply
    keeps its call), and the reasoning the core's echo policy may send back.
    """
    if not isinstance(message, AIMessage):
        message = _with_video_parts(message)
        return _with_cache_markers(message, convert_to_openai_messages(message))
    reasoning = message.additional_kwargs.get("reasoning_content") or "".join(
        block.get("reasoning", "")
        for block in message.content_blocks
        if block["type"] == "reasoning"
    )
    result: dict[str, Any] = {"role": "assistant", "content": _assistant_content(message)}
    if message.name:
        result["name"] = message.name
    calls = [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": args}}
        for c, args in [(c, json.dumps(c["args"], ensure_ascii=False)) for c in message.tool_calls]
        + [(c, c.get("args") or "") for c in message.invalid_tool_calls]
    ]
    if calls:
        result["tool_calls"] = calls
    if reasoning:
        result["reasoning_content"] = reasoning
    return result


def _assistant_content(message: AIMessage) -> str | list[dict[str, Any]]:
    """The assistant's text; as text parts when a text block carries a ``cache_control``."""
    blocks = message.content if isinstance(message.content, list) else []
    texts = [b for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
    if not any(_cache_marker(b) for b in texts):
        return message.text
    parts = []
    for block in texts:
        part = {"type": "text", "text": block.get("text", "")}
        if marker := _cache_marker(block):
            part["cache_control"] = marker
        parts.append(part)
    return parts


_MARKER_PLACES = (
    "cache_control can mark text and image blocks of a system, human or tool message (text "
    "blocks of an AI message), e.g. "
    '{"type": "text", "text": "...", "cache_control": {"type": "ephemeral"}}'
)


def _cache_marker(block: Any) -> Any:
    """A content block's ``cache_control`` (ChatAnthropic style, or in a v1 block's extras)."""
    if not isinstance(block, dict):
        return None
    return block.get("cache_control") or (block.get("extras") or {}).get("cache_control")


def _with_cache_markers(message: BaseMessage, converted: dict[str, Any]) -> dict[str, Any]:
    """Put the ``cache_control`` of the message's content blocks on the converted parts.

    ``convert_to_openai_messages`` drops the key (and turns text-only content into one string),
    so the markers go back on by position: one text part per text block, or the same parts.
    """
    blocks = message.content if isinstance(message.content, list) else []
    if not any(_cache_marker(b) for b in blocks):
        return converted
    content = converted.get("content")
    if isinstance(content, str):
        texts = [b["text"] for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        if len(texts) != len(blocks):
            raise InvalidRequestError(_MARKER_PLACES)
        parts = [{"type": "text", "text": text} for text in texts]
    elif isinstance(content, list) and len(content) == len(blocks):
        parts = [dict(part) for part in content]
    else:
        raise InvalidRequestError(_MARKER_PLACES)
    for part, block in zip(parts, blocks, strict=True):
        if marker := _cache_marker(block):
            part["cache_control"] = marker
    return {**converted, "content": parts}


def _with_video_parts(message: BaseMessage) -> BaseMessage:
    """LangChain v1 video blocks (``{"type": "video", "url" | "base64", "mime_type"}``) as the
    core's ``video_url`` parts: langchain-core's converter refuses them ("Block of type video is
    not supported"). DashScope's own parts (``video_url``, a ``video`` frame list) pass as they are.
    """
    content = message.content
    if not isinstance(content, list) or not any(map(_is_video_block, content)):
        return message
    parts = [_video_block_part(b) if _is_video_block(b) else b for b in content]
    return message.model_copy(update={"content": parts})


def _is_video_block(block: Any) -> bool:
    return (
        isinstance(block, dict)
        and block.get("type") == "video"
        and any(key in block for key in ("url", "base64", "file_id"))
    )


def _video_block_part(block: Any) -> dict[str, Any]:
    if block.get("url"):
        source = block["url"]
    elif block.get("base64"):
        source = f"data:{block.get('mime_type') or 'video/mp4'};base64,{block['base64']}"
    else:
        raise InvalidRequestError(
            "a video block with a file_id cannot be sent to a chat model; give its url or base64"
        )
    fps = block.get("fps") or (block.get("extras") or {}).get("fps")
    return video_part(source, fps=fps)


def _message_chunk(
    raw: Mapping[str, Any], slots: ToolCallSlots, *, v1: bool
) -> ChatGenerationChunk | None:
    """One ``chat.completion.chunk`` as a ChatGenerationChunk (None when it carries nothing).

    Tool-call fragments are placed by the core's rule (``ToolCallSlots``): each call gets an
    index of its own and sends its id and name once, since LangChain merges tool_call_chunks by
    index and concatenates their names.

    With ``v1`` the text and reasoning go out as content blocks with "lc_" string indices:
    LangChain would number them 0, 1, ... and merge them into tool-call blocks of the same index.
    """
    choices = raw.get("choices") or []
    if not choices:
        return None
    delta = choices[0].get("delta") or {}
    content = delta.get("content") or ""
    reasoning = delta.get("reasoning_content") or ""
    calls = [_tool_call_chunk(slots.place(call)) for call in delta.get("tool_calls") or []]
    if not (content or reasoning or calls):
        return None
    blocks: list[str | dict[str, Any]] = []
    if v1 and reasoning:
        blocks.append({"type": "reasoning", "reasoning": reasoning, "index": "lc_reasoning"})
    if v1 and content:
        blocks.append({"type": "text", "text": content, "index": "lc_text"})
    # Only the fields this delta has: each one passed costs pydantic work on every chunk
    # (figures: benchmarks/README.md, "In memory").
    fields: dict[str, Any] = {"content": blocks if v1 else content}
    if reasoning:
        fields["additional_kwargs"] = {"reasoning_content": reasoning}
    if calls:
        fields["tool_call_chunks"] = calls
    return ChatGenerationChunk(message=AIMessageChunk(**fields))


def _tool_call_chunk(fragment: ToolCallFragment) -> ToolCallChunk:
    return tool_call_chunk(
        name=fragment.name, args=fragment.arguments, id=fragment.id, index=fragment.index
    )


def _usage_metadata(usage: dict[str, Any]) -> UsageMetadata:
    """The core's usage → LangChain UsageMetadata (the core already put every provider's cache
    figure under ``cache_read_tokens`` / ``cache_write_tokens``)."""
    input_tokens = usage.get("prompt_tokens") or 0
    output_tokens = usage.get("completion_tokens") or 0
    input_details = InputTokenDetails()
    if (cache_read := usage.get("cache_read_tokens")) is not None:
        input_details["cache_read"] = cache_read
    if (cache_write := usage.get("cache_write_tokens")) is not None:
        input_details["cache_creation"] = cache_write
    output_details = OutputTokenDetails()
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    if reasoning is not None:
        output_details["reasoning"] = reasoning
    return UsageMetadata(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=usage.get("total_tokens") or input_tokens + output_tokens,
        input_token_details=input_details,
        output_token_details=output_details,
    )
