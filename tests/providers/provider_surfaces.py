"""The provider contract tables: presets (`CASES`) and public ways in (`SURFACES`).

A surface turns each way in (the sync and async SDK, ChatCNLLM, CNLLM) into the same small
`Reply`, so a contract is written once and checked everywhere. Fixtures live in conftest.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------ the presets


@dataclass(frozen=True)
class Case:
    """One provider preset and how the emulator in its mode is driven."""

    provider: str
    mode: str  # the emulator mode that speaks like this provider
    chat_model: str  # a model with tools, answering without reasoning unless asked
    think_model: str  # a model with a thinking switch
    switch: tuple[str, ...]  # where `reasoning=` lands in the request body; () for no switch
    on: Any  # the value there for reasoning=True
    off: Any  # ... and for reasoning=False
    key_env: str | None  # None: a keyless local server
    local: bool = False  # no key check
    stream_usage: bool = True  # False: the server's streams carry no usage (llama.cpp, LM Studio)
    serves_any_model: bool = False  # True: the loaded model answers under any name (no 404)

    def __str__(self) -> str:
        return self.provider


_THINKING = ("thinking", "type")
CASES = (
    Case("aisa", "aisa", "qwen3-max", "qwen3-max", ("enable_thinking",), True, False, "AISA_API_KEY"),
    Case("dashscope", "dashscope", "qwen-plus", "qwen-plus", ("enable_thinking",), True, False,
         "DASHSCOPE_API_KEY"),
    Case("deepseek", "deepseek", "deepseek-chat", "deepseek-chat", _THINKING, "enabled", "disabled",
         "DEEPSEEK_API_KEY"),
    Case("zhipu", "zhipu", "glm-4.6", "glm-4.6", _THINKING, "enabled", "disabled", "ZHIPUAI_API_KEY"),
    Case("moonshot", "moonshot", "kimi-k2", "kimi-k2.5", _THINKING, "enabled", "disabled",
         "MOONSHOT_API_KEY"),
    Case("siliconflow", "siliconflow", "deepseek-ai/DeepSeek-V3", "Qwen/Qwen3-8B",
         ("enable_thinking",), True, False, "SILICONFLOW_API_KEY"),
    Case("ollama", "ollama", "qwen3:8b", "qwen3:8b", ("reasoning_effort",), "medium", "none", None,
         local=True),
    Case("vllm", "vllm", "Qwen/Qwen3-8B", "Qwen/Qwen3-8B", ("chat_template_kwargs", "enable_thinking"),
         True, False, None, local=True),
    Case("llamacpp", "llamacpp", "qwen2.5-0.5b-instruct", "Qwen3-8B-Q4_K_M.gguf",
         ("chat_template_kwargs", "enable_thinking"), True, False, None, local=True,
         stream_usage=False, serves_any_model=True),
    Case("lmstudio", "lmstudio", "qwen2.5-7b-instruct", "qwen2.5-7b-instruct", (), None, None, None,
         local=True, stream_usage=False, serves_any_model=True),
    # Any OpenAI-compatible gateway: the AIsa-mode emulator stands in (it accepts every spelling).
    Case("openai-compatible", "aisa", "qwen3-max", "qwen3-max", ("enable_thinking",), True, False,
         None),
)  # fmt: skip
CASE = {c.provider: c for c in CASES}
SWITCHED = [c for c in CASES if c.switch]  # presets with a thinking switch
NAMED_MODELS = [c for c in CASES if not c.serves_any_model]  # an unknown model id is a 404


def dig(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    """`body[path[0]][path[1]]...`, None when any step is missing (or the path is empty)."""
    if not path:
        return None
    value: Any = body
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


# ------------------------------------------------------------------------------ the surfaces


@dataclass
class Call:
    id: str
    name: str
    args: dict[str, Any]


@dataclass
class Reply:
    """What any surface answered, reduced to what the contract checks."""

    text: str = ""
    reasoning: str = ""
    calls: list[Call] = field(default_factory=list)
    usage: tuple[int, int, int] | None = None  # prompt, completion, total tokens


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Local time of a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TOOLS = [WEATHER, TIME]
BOTH_TOOLS = "Use get_weather and get_time for Beijing"


def tool_result(call: Call) -> str:
    return f"{call.name}-result"


def _completion_reply(completion: dict[str, Any]) -> Reply:
    message = completion["choices"][0]["message"]
    from cn_llm_client._stream import parse_tool_arguments

    calls = [
        Call(c["id"], c["function"]["name"], parse_tool_arguments(c["function"]["arguments"]) or {})
        for c in message.get("tool_calls") or []
    ]
    usage = completion.get("usage")
    return Reply(
        text=message.get("content") or "",
        reasoning=message.get("reasoning_content") or "",
        calls=calls,
        usage=_openai_usage(usage),
    )


def _openai_usage(usage: dict[str, Any] | None) -> tuple[int, int, int] | None:
    if not usage:
        return None
    return (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])


def _tool_history(question: str, first: dict[str, Any], calls: list[Call]) -> list[dict[str, Any]]:
    """The OpenAI messages of a tool round: question, the tool-call turn, one result per call."""
    results = [{"role": "tool", "tool_call_id": c.id, "content": tool_result(c)} for c in calls]
    return [{"role": "user", "content": question}, first, *results]


class Surface:
    """One public way in. Messages go in as OpenAI dicts; everything comes back as a Reply."""

    name = ""

    def __init__(self, connection: dict[str, Any]) -> None:
        self.connection = connection

    def __str__(self) -> str:
        return self.name

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        raise NotImplementedError

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        raise NotImplementedError

    async def tool_round(
        self, model: str, question: str, *, stream: bool, tool_choice: Any = None
    ) -> tuple[Reply, Reply]:
        """Ask with TOOLS, answer every call with `tool_result`, ask again: (first, final)."""
        raise NotImplementedError


class SyncSDK(Surface):
    name = "CNLLMClient"

    def _client(self) -> Any:
        from cn_llm_client import CNLLMClient

        return CNLLMClient(**self.connection)

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        with self._client() as client:
            return _completion_reply(client.chat(model, messages, **params))

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        reply = Reply()
        with self._client() as client, client.stream(model, messages, **params) as stream:
            for chunk in stream:
                _add_chunk(reply, chunk)
            reply.calls = _completion_reply(stream.completion()).calls
        return reply

    async def tool_round(
        self, model: str, question: str, *, stream: bool, tool_choice: Any = None
    ) -> tuple[Reply, Reply]:
        messages = [{"role": "user", "content": question}]
        with self._client() as client:
            if stream:
                with client.stream(model, messages, tools=TOOLS, tool_choice=tool_choice) as s:
                    for _ in s:
                        pass
                    completion = s.completion()
            else:
                completion = client.chat(model, messages, tools=TOOLS, tool_choice=tool_choice)
            first = _completion_reply(completion)
            history = _tool_history(question, completion["choices"][0]["message"], first.calls)
            return first, _completion_reply(client.chat(model, history, tools=TOOLS))


def _add_chunk(reply: Reply, chunk: dict[str, Any]) -> None:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        reply.text += delta.get("content") or ""
        reply.reasoning += delta.get("reasoning_content") or ""
    if chunk.get("usage"):
        reply.usage = _openai_usage(chunk["usage"])


class AsyncSDK(Surface):
    name = "AsyncCNLLMClient"

    def _client(self) -> Any:
        from cn_llm_client import AsyncCNLLMClient

        return AsyncCNLLMClient(**self.connection)

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        async with self._client() as client:
            return _completion_reply(await client.chat(model, messages, **params))

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        reply = Reply()
        async with self._client() as client, client.stream(model, messages, **params) as stream:
            async for chunk in stream:
                _add_chunk(reply, chunk)
            reply.calls = _completion_reply(stream.completion()).calls
        return reply

    async def tool_round(
        self, model: str, question: str, *, stream: bool, tool_choice: Any = None
    ) -> tuple[Reply, Reply]:
        messages = [{"role": "user", "content": question}]
        async with self._client() as client:
            if stream:
                async with client.stream(
                    model, messages, tools=TOOLS, tool_choice=tool_choice
                ) as s:
                    async for _ in s:
                        pass
                    completion = s.completion()
            else:
                completion = await client.chat(
                    model, messages, tools=TOOLS, tool_choice=tool_choice
                )
            first = _completion_reply(completion)
            history = _tool_history(question, completion["choices"][0]["message"], first.calls)
            return first, _completion_reply(await client.chat(model, history, tools=TOOLS))


class LangChain(Surface):
    name = "ChatCNLLM"

    def _llm(self, model: str) -> Any:
        from langchain_cn_llm import ChatCNLLM

        return ChatCNLLM(model=model, **self.connection)

    @staticmethod
    def _messages(messages: list[dict[str, Any]]) -> list[Any]:
        from langchain_core.messages import convert_to_messages

        return convert_to_messages(messages)

    @staticmethod
    def _reply(message: Any) -> Reply:
        usage = message.usage_metadata
        return Reply(
            text=message.content if isinstance(message.content, str) else message.text,
            reasoning=message.additional_kwargs.get("reasoning_content") or "",
            calls=[Call(c["id"], c["name"], c["args"]) for c in message.tool_calls],
            usage=(usage["input_tokens"], usage["output_tokens"], usage["total_tokens"])
            if usage
            else None,
        )

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        llm = self._llm(model)
        try:
            return self._reply(llm.invoke(self._messages(messages), **params))
        finally:
            llm.close()

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        llm = self._llm(model)
        try:
            total = None
            for chunk in llm.stream(self._messages(messages), **params):
                total = chunk if total is None else total + chunk
            return self._reply(total)
        finally:
            llm.close()

    async def tool_round(
        self, model: str, question: str, *, stream: bool, tool_choice: Any = None
    ) -> tuple[Reply, Reply]:
        from langchain_core.messages import HumanMessage, ToolMessage

        llm = self._llm(model)
        try:
            bound = llm.bind_tools(TOOLS, tool_choice=tool_choice)
            history: list[Any] = [HumanMessage(question)]
            if stream:
                ai = None
                for chunk in bound.stream(history):
                    ai = chunk if ai is None else ai + chunk
            else:
                ai = bound.invoke(history)
            first = self._reply(ai)
            history += [ai] + [ToolMessage(tool_result(c), tool_call_id=c.id) for c in first.calls]
            return first, self._reply(bound.invoke(history))
        finally:
            llm.close()


class LlamaIndex(Surface):
    name = "CNLLM"

    def _llm(self, model: str) -> Any:
        from llama_index_cn_llm import CNLLM

        return CNLLM(model=model, **self.connection)

    @staticmethod
    def _messages(messages: list[dict[str, Any]]) -> list[Any]:
        from llama_index.core.llms import ChatMessage

        return [ChatMessage(role=m["role"], content=m["content"]) for m in messages]

    @staticmethod
    def _reply(llm: Any, response: Any, usage: dict[str, Any] | None = None) -> Reply:
        from llama_index.core.base.llms.types import ThinkingBlock

        message = response.message
        calls = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
        usage = usage if usage is not None else response.additional_kwargs
        return Reply(
            text=message.content or "",
            reasoning="".join(
                b.content or "" for b in message.blocks if isinstance(b, ThinkingBlock)
            ),
            calls=[Call(c.tool_id, c.tool_name, c.tool_kwargs) for c in calls],
            usage=_openai_usage(usage) if usage.get("total_tokens") is not None else None,
        )

    async def chat(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        llm = self._llm(model)
        try:
            return self._reply(llm, llm.chat(self._messages(messages), **params))
        finally:
            llm.close()

    async def stream(self, model: str, messages: list[dict[str, Any]], **params: Any) -> Reply:
        llm = self._llm(model)
        try:
            responses = list(llm.stream_chat(self._messages(messages), **params))
            streamed = "".join(r.delta or "" for r in responses)
            reply = self._reply(llm, responses[-1])
            assert streamed == reply.text, "the deltas must add up to the final message"
            return reply
        finally:
            llm.close()

    async def tool_round(
        self, model: str, question: str, *, stream: bool, tool_choice: Any = None
    ) -> tuple[Reply, Reply]:
        from llama_index.core.llms import ChatMessage
        from llama_index.core.tools import FunctionTool

        def get_weather(city: str) -> str:
            """Weather of a city."""
            return city

        def get_time(city: str) -> str:
            """Local time of a city."""
            return city

        tools = [
            FunctionTool.from_defaults(fn=get_weather),
            FunctionTool.from_defaults(fn=get_time),
        ]
        llm = self._llm(model)
        try:
            options = {"allow_parallel_tool_calls": True, "tool_choice": tool_choice}
            if stream:
                *_, response = llm.stream_chat_with_tools(tools, user_msg=question, **options)
            else:
                response = llm.chat_with_tools(tools, user_msg=question, **options)
            first = self._reply(llm, response)
            history = [ChatMessage(role="user", content=question), response.message] + [
                ChatMessage(
                    role="tool", content=tool_result(c), additional_kwargs={"tool_call_id": c.id}
                )
                for c in first.calls
            ]
            return first, self._reply(llm, llm.chat(history, tools=TOOLS))
        finally:
            llm.close()


SURFACES = (SyncSDK, AsyncSDK, LangChain, LlamaIndex)
