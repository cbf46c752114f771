"""The ways a user can call a model: one table, so every reliability test runs through all of them.

    @pytest.mark.parametrize("surface", SURFACES, ids=str)
    def test_something(gw, surface):
        reply = surface.call(gw.base_url, "Hello", api_key=gw.api_key)
        assert reply.text == "[qwen3-max] Hello"

A surface is (framework, sync or async, stream or not): the SDK (CNLLMClient / AsyncCNLLMClient),
LangChain's ChatCNLLM and LlamaIndex's CNLLM. `call` always runs to completion in the calling
thread (async surfaces get their own event loop) and closes what it opened, and returns the text
that arrived, piece by piece for streams. Errors propagate unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FRAMEWORKS",
    "STREAM_SURFACES",
    "SURFACES",
    "Reply",
    "Surface",
    "connections_to",
    "count_requests",
    "open_fds",
    "rss_bytes",
]

FRAMEWORKS = ("sdk", "langchain", "llama_index")

Message = dict[str, Any]


@dataclass
class Reply:
    text: str
    pieces: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Surface:
    framework: str
    is_async: bool
    stream: bool

    def __str__(self) -> str:
        return f"{self.framework}-{'async' if self.is_async else 'sync'}-" + (
            "stream" if self.stream else "call"
        )

    def call(
        self,
        base_url: str | None,
        prompt: str | list[Message] = "Hello",
        *,
        api_key: str | None = None,
        model: str = "qwen3-max",
        max_retries: int = 2,
        timeout: float | None = None,
        pieces: list[str] | None = None,
        **params: Any,
    ) -> Reply:
        """Send `prompt` (text, or OpenAI-shaped messages) and return what came back.

        Pass `pieces` to see what arrived when the call raises: each text piece is appended as it
        reaches the caller.
        """
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        options: dict[str, Any] = {"api_key": api_key, "base_url": base_url}
        options["max_retries"] = max_retries
        if timeout is not None:
            options["timeout"] = timeout
        run = _RUNNERS[(self.framework, self.is_async)]
        into = [] if pieces is None else pieces
        if self.is_async:
            asyncio.run(run(model, messages, options, params, self.stream, into))
        else:
            run(model, messages, options, params, self.stream, into)
        return Reply("".join(into), into)


# -- the SDK ------------------------------------------------------------------------------------


Pieces = list[str]


def _sdk(
    model: str, messages: list[Message], options: dict, params: dict, stream: bool, into: Pieces
) -> None:
    from cn_llm_client import CNLLMClient

    with CNLLMClient(**options) as client:
        if not stream:
            into.append(client.chat(model, messages, **params)["choices"][0]["message"]["content"])
            return
        for piece in client.chat_stream(model, messages, **params):
            into.append(piece)


async def _sdk_async(
    model: str, messages: list[Message], options: dict, params: dict, stream: bool, into: Pieces
) -> None:
    from cn_llm_client import AsyncCNLLMClient

    async with AsyncCNLLMClient(**options) as client:
        if not stream:
            completion = await client.chat(model, messages, **params)
            into.append(completion["choices"][0]["message"]["content"])
            return
        async for piece in client.chat_stream(model, messages, **params):
            into.append(piece)


# -- LangChain ------------------------------------------------------------------------------------


def langchain_messages(messages: list[Message]) -> list[Any]:
    """OpenAI dicts as LangChain messages; unknown roles become a generic ChatMessage."""
    from langchain_core.messages import ChatMessage, convert_to_messages

    known = {"user", "assistant", "system", "tool", "developer"}
    out: list[Any] = []
    for message in messages:
        if isinstance(message, dict) and message.get("role") not in known and "role" in message:
            out.append(ChatMessage(role=str(message["role"]), content=message.get("content", "")))
        else:
            out.extend(convert_to_messages([message]))
    return out


def _chat_cnllm(model: str, options: dict) -> Any:
    from langchain_cn_llm import ChatCNLLM

    return ChatCNLLM(model=model, **options)  # type: ignore[call-arg]


def _langchain(
    model: str, messages: list[Message], options: dict, params: dict, stream: bool, into: Pieces
) -> None:
    llm = _chat_cnllm(model, options)
    try:
        if not stream:
            into.append(str(llm.invoke(langchain_messages(messages), **params).content))
            return
        for chunk in llm.stream(langchain_messages(messages), **params):
            into.append(str(chunk.content))
    finally:
        llm.close()


async def _langchain_async(
    model: str, messages: list[Message], options: dict, params: dict, stream: bool, into: Pieces
) -> None:
    llm = _chat_cnllm(model, options)
    try:
        lc_messages = langchain_messages(messages)
        if not stream:
            into.append(str((await llm.ainvoke(lc_messages, **params)).content))
            return
        async for chunk in llm.astream(lc_messages, **params):
            into.append(str(chunk.content))
    finally:
        await llm.aclose()


# -- LlamaIndex -----------------------------------------------------------------------------------


def llama_index_messages(messages: list[Message]) -> list[Any]:
    """OpenAI dicts as LlamaIndex ChatMessages (role validated by LlamaIndex's MessageRole)."""
    from llama_index.core.llms import ChatMessage, ImageBlock, TextBlock

    def block(part: dict[str, Any]) -> Any:
        if part["type"] == "text":
            return TextBlock(text=part["text"])
        url = part["image_url"]["url"]
        return ImageBlock(url=url) if url.startswith("http") else ImageBlock(path=url)

    return [
        ChatMessage(role=m["role"], blocks=[block(p) for p in m["content"]])
        if isinstance(m.get("content"), list)
        else ChatMessage(role=m["role"], content=m.get("content"))
        for m in messages
    ]


def _cnllm(model: str, options: dict) -> Any:
    from llama_index_cn_llm import CNLLM

    return CNLLM(model=model, **options)


def _llama_index(
    model: str, messages: list[Message], options: dict, params: dict, stream: bool, into: Pieces
) -> None:
    llm = _cnllm(model, options)
    try:
        li_messages = llama_index_messages(messages)
        if not stream:
            into.append(llm.chat(li_messages, **params).message.content or "")
            return
        for response in llm.stream_chat(li_messages, **params):
            into.append(response.delta or "")
    finally:
        llm.close()


async def _llama_index_async(
    model: str, messages: list[Message], options: dict, params: dict, stream: bool, into: Pieces
) -> None:
    llm = _cnllm(model, options)
    try:
        li_messages = llama_index_messages(messages)
        if not stream:
            into.append((await llm.achat(li_messages, **params)).message.content or "")
            return
        async for response in await llm.astream_chat(li_messages, **params):
            into.append(response.delta or "")
    finally:
        await llm.aclose()


_RUNNERS: dict[tuple[str, bool], Callable[..., Any]] = {
    ("sdk", False): _sdk,
    ("sdk", True): _sdk_async,
    ("langchain", False): _langchain,
    ("langchain", True): _langchain_async,
    ("llama_index", False): _llama_index,
    ("llama_index", True): _llama_index_async,
}

SURFACES = [
    Surface(framework, is_async, stream)
    for framework in FRAMEWORKS
    for is_async in (False, True)
    for stream in (False, True)
]
STREAM_SURFACES = [s for s in SURFACES if s.stream]


# -- what the process holds (Linux /proc; the suite runs on Linux CI) ----------------------------


def open_fds() -> int:
    """File descriptors this process holds open."""
    import os

    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    """Resident memory of this process."""
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def connections_to(port: int) -> int:
    """Established TCP connections from this machine to 127.0.0.1:`port` (client side)."""
    count = 0
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[3] == "01":  # 01 = ESTABLISHED
                count += 1
    return count


def count_requests(request: Any, gateway: Any) -> None:
    """Record the requests a gateway saw as the test's `emulator_requests` property (the report)."""
    request.node.user_properties.append(("emulator_requests", len(gateway.requests)))
