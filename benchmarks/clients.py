"""The clients under test, each behind the same four calls.

Every client is a `Bench` built from a base URL: `call()` returns the answer text of one
non-stream chat call, `stream()` returns the text of one streamed answer (pieces joined once),
and `acall()` / `astream()` are the async twins. `make_client(name, gateway)` builds one;
`CLIENTS` lists them in table order with the import statement timed for each.

    bench = make_client("openai SDK", Gateway("http://127.0.0.1:8000/v1", "sk-bench", "deepseek-v3"))
    text = bench.call("你好")
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import itertools
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["CLIENTS", "Bench", "ClientSpec", "Gateway", "installed", "make_client", "one_loop"]

T = TypeVar("T")


@contextlib.contextmanager
def one_loop() -> Iterator[Callable[[Awaitable[T]], T]]:
    """Yield `run(awaitable)`, which runs it on one event loop kept until the block ends.

    A warm-up and the timed part share that loop, as in an application: an async pool's
    connections belong to the loop that opened them, and langchain-openai keeps one
    httpx.AsyncClient per base URL for the whole process, so after a second `asyncio.run` it
    meets connections of a closed loop (OpenAIConnectionError, or a silent retry).
    (asyncio.Runner does this from Python 3.11; we support 3.10.)
    """
    loop = asyncio.new_event_loop()

    async def awaited(awaitable: Awaitable[T]) -> T:
        return await awaitable

    try:
        yield lambda awaitable: loop.run_until_complete(awaited(awaitable))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


@dataclass(frozen=True)
class Gateway:
    """Where the clients send their requests."""

    base_url: str  # ends in /v1
    api_key: str
    model: str


@dataclass(frozen=True)
class ClientSpec:
    """One row of the table: its group, the modules it needs and its import statement."""

    name: str
    group: str  # "floor" | "competitor" | "ours" | "reference"
    modules: tuple[str, ...]
    import_stmt: str


CLIENTS: tuple[ClientSpec, ...] = (
    ClientSpec("raw httpx", "floor", ("httpx",), "import httpx"),
    ClientSpec("openai SDK", "competitor", ("openai",), "import openai"),
    ClientSpec(
        "ChatOpenAI", "competitor", ("langchain_openai",), "from langchain_openai import ChatOpenAI"
    ),
    ClientSpec(
        "ChatDeepSeek",
        "competitor",
        ("langchain_deepseek",),
        "from langchain_deepseek import ChatDeepSeek",
    ),
    ClientSpec(
        "OpenAILike",
        "competitor",
        ("llama_index.llms.openai_like",),
        "from llama_index.llms.openai_like import OpenAILike",
    ),
    ClientSpec("CNLLMClient", "ours", ("cn_llm_client",), "import cn_llm_client"),
    ClientSpec(
        "ChatCNLLM", "ours", ("langchain_cn_llm",), "from langchain_cn_llm import ChatCNLLM"
    ),
    ClientSpec("CNLLM", "ours", ("llama_index_cn_llm",), "from llama_index_cn_llm import CNLLM"),
    ClientSpec(
        "LangChain no-I/O model",
        "reference",
        ("langchain_core",),
        "import langchain_core.language_models",
    ),
    ClientSpec(
        "LlamaIndex no-I/O model",
        "reference",
        ("llama_index.core",),
        "from llama_index.core.llms import MockLLM",
    ),
)


def installed(spec: ClientSpec) -> bool:
    """True when every module the client needs can be imported (without importing it)."""
    try:
        return all(importlib.util.find_spec(module) is not None for module in spec.modules)
    except ModuleNotFoundError:  # a missing parent package
        return False


class Bench:
    """The four operations every client offers; async ones may be absent (None)."""

    async_capable = True

    def call(self, prompt: str) -> str:
        raise NotImplementedError

    def stream(self, prompt: str) -> str:
        raise NotImplementedError

    async def acall(self, prompt: str) -> str:
        raise NotImplementedError

    async def astream(self, prompt: str) -> str:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release async resources inside the event loop that used them."""

    def close(self) -> None:
        """Release sync resources."""


def _messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def _sse_text(lines: Iterator[str]) -> str:
    """Content pieces of an OpenAI SSE stream, parsed the plain way (the floor)."""
    pieces = []
    for line in lines:
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        for choice in json.loads(line[6:]).get("choices") or ():
            content = choice["delta"].get("content")
            if content:
                pieces.append(content)
    return "".join(pieces)


class RawHttpx(Bench):
    """The floor: httpx.Client / httpx.AsyncClient with default settings, json.loads per event."""

    def __init__(self, gw: Gateway) -> None:
        import httpx

        self.gw = gw
        self.url = gw.base_url + "/chat/completions"
        self.headers = {"Authorization": f"Bearer {gw.api_key}"}
        self.sync = httpx.Client(timeout=120)
        self.async_: httpx.AsyncClient | None = None

    def _client(self) -> Any:
        import httpx

        if self.async_ is None:
            self.async_ = httpx.AsyncClient(timeout=120)
        return self.async_

    def _body(self, prompt: str, stream: bool) -> dict[str, Any]:
        return {"model": self.gw.model, "messages": _messages(prompt), "stream": stream}

    def call(self, prompt: str) -> str:
        response = self.sync.post(self.url, json=self._body(prompt, False), headers=self.headers)
        response.raise_for_status()
        return response.json()["choices"][0]["message"]["content"]

    def stream(self, prompt: str) -> str:
        body = self._body(prompt, True)
        with self.sync.stream("POST", self.url, json=body, headers=self.headers) as response:
            response.raise_for_status()
            return _sse_text(response.iter_lines())

    async def acall(self, prompt: str) -> str:
        client = self._client()
        response = await client.post(self.url, json=self._body(prompt, False), headers=self.headers)
        response.raise_for_status()
        return response.json()["choices"][0]["message"]["content"]

    async def astream(self, prompt: str) -> str:
        body = self._body(prompt, True)
        async with self._client().stream(
            "POST", self.url, json=body, headers=self.headers
        ) as response:
            response.raise_for_status()
            return _sse_text(iter([line async for line in response.aiter_lines()]))

    async def aclose(self) -> None:
        if self.async_ is not None:
            await self.async_.aclose()

    def close(self) -> None:
        self.sync.close()


class OpenAISDK(Bench):
    def __init__(self, gw: Gateway) -> None:
        import openai

        self.gw = gw
        self.sync = openai.OpenAI(base_url=gw.base_url, api_key=gw.api_key)
        self.async_ = openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.api_key)

    def call(self, prompt: str) -> str:
        result = self.sync.chat.completions.create(model=self.gw.model, messages=_messages(prompt))  # type: ignore[arg-type]
        return result.choices[0].message.content or ""

    def stream(self, prompt: str) -> str:
        chunks = self.sync.chat.completions.create(
            model=self.gw.model,
            messages=_messages(prompt),  # type: ignore[arg-type]
            stream=True,
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    async def acall(self, prompt: str) -> str:
        result = await self.async_.chat.completions.create(
            model=self.gw.model,
            messages=_messages(prompt),  # type: ignore[arg-type]
        )
        return result.choices[0].message.content or ""

    async def astream(self, prompt: str) -> str:
        chunks = await self.async_.chat.completions.create(
            model=self.gw.model,
            messages=_messages(prompt),  # type: ignore[arg-type]
            stream=True,
        )
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

    async def aclose(self) -> None:
        await self.async_.close()

    def close(self) -> None:
        self.sync.close()


class OursSDK(Bench):
    def __init__(self, gw: Gateway) -> None:
        from cn_llm_client import AsyncCNLLMClient, CNLLMClient

        self.gw = gw
        self.sync = CNLLMClient(api_key=gw.api_key, base_url=gw.base_url)
        self.async_ = AsyncCNLLMClient(api_key=gw.api_key, base_url=gw.base_url)

    def call(self, prompt: str) -> str:
        return self.sync.chat(self.gw.model, _messages(prompt))["choices"][0]["message"]["content"]

    def stream(self, prompt: str) -> str:
        with self.sync.stream(self.gw.model, _messages(prompt)) as chunks:
            return "".join(_delta_text(chunk) for chunk in chunks)

    async def acall(self, prompt: str) -> str:
        completion = await self.async_.chat(self.gw.model, _messages(prompt))
        return completion["choices"][0]["message"]["content"]

    async def astream(self, prompt: str) -> str:
        async with self.async_.stream(self.gw.model, _messages(prompt)) as chunks:
            return "".join([_delta_text(chunk) async for chunk in chunks])

    async def aclose(self) -> None:
        await self.async_.aclose()

    def close(self) -> None:
        self.sync.close()


def _delta_text(chunk: dict[str, Any]) -> str:
    choices = chunk.get("choices")
    return (choices[0]["delta"].get("content") or "") if choices else ""


class LangChainBench(Bench):
    """Any LangChain chat model: invoke / stream / ainvoke / astream on one user message."""

    def __init__(self, model: Any, stream_model: Any = None) -> None:
        self.model = model
        self.stream_model = stream_model or model

    def call(self, prompt: str) -> str:
        return self.model.invoke(prompt).text

    def stream(self, prompt: str) -> str:
        return "".join(chunk.text for chunk in self.stream_model.stream(prompt))

    async def acall(self, prompt: str) -> str:
        return (await self.model.ainvoke(prompt)).text

    async def astream(self, prompt: str) -> str:
        return "".join([chunk.text async for chunk in self.stream_model.astream(prompt)])


class LlamaIndexBench(Bench):
    """Any LlamaIndex LLM: chat / stream_chat / achat / astream_chat on one user message."""

    def __init__(self, llm: Any) -> None:
        from llama_index.core.llms import ChatMessage

        self.llm = llm
        self.message = ChatMessage

    def _messages(self, prompt: str) -> list[Any]:
        return [self.message(role="user", content=prompt)]

    def call(self, prompt: str) -> str:
        return self.llm.chat(self._messages(prompt)).message.content or ""

    def stream(self, prompt: str) -> str:
        return "".join(r.delta or "" for r in self.llm.stream_chat(self._messages(prompt)))

    async def acall(self, prompt: str) -> str:
        return (await self.llm.achat(self._messages(prompt))).message.content or ""

    async def astream(self, prompt: str) -> str:
        chunks = await self.llm.astream_chat(self._messages(prompt))
        return "".join([r.delta or "" async for r in chunks])


def _chat_openai(gw: Gateway) -> Bench:
    from langchain_openai import ChatOpenAI

    return LangChainBench(ChatOpenAI(model=gw.model, base_url=gw.base_url, api_key=gw.api_key))  # type: ignore[arg-type]


def _chat_deepseek(gw: Gateway) -> Bench:
    from langchain_deepseek import ChatDeepSeek

    return LangChainBench(ChatDeepSeek(model=gw.model, api_base=gw.base_url, api_key=gw.api_key))  # type: ignore[arg-type]


def _openai_like(gw: Gateway) -> Bench:
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(
        model=gw.model,
        api_base=gw.base_url,
        api_key=gw.api_key,
        is_chat_model=True,
        context_window=128_000,
    )
    return LlamaIndexBench(llm)


def _chat_cnllm(gw: Gateway) -> Bench:
    from langchain_cn_llm import ChatCNLLM

    return LangChainBench(ChatCNLLM(model=gw.model, base_url=gw.base_url, api_key=gw.api_key))  # type: ignore[call-arg,arg-type]


def _cnllm(gw: Gateway) -> Bench:
    from llama_index_cn_llm import CNLLM

    return LlamaIndexBench(CNLLM(model=gw.model, base_url=gw.base_url, api_key=gw.api_key))  # type: ignore[arg-type]


def _langchain_floor(gw: Gateway, stream_chars: int = 200) -> Bench:
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    # GenericFakeChatModel streams one chunk per whitespace-separated piece, so a piece of two
    # characters and a space give the emulator's chunk count (two characters per chunk).
    long_text = "你好 " * (stream_chars // 2)
    call_model = GenericFakeChatModel(messages=itertools.repeat(AIMessage("你好")))
    stream_model = GenericFakeChatModel(messages=itertools.repeat(AIMessage(long_text)))
    bench = LangChainBench(call_model, stream_model)
    bench.async_capable = False
    return bench


def _llama_index_floor(gw: Gateway, stream_chars: int = 200) -> Bench:
    from llama_index.core.llms import MockLLM

    # MockLLM echoes the prompt, one character per streamed chunk (its max_tokens mode is
    # quadratic, so it is not used); the stream prompt is sized to the emulator's chunk count.
    bench = _MockLLMBench(MockLLM(), "你" * (stream_chars // 2))
    bench.async_capable = False
    return bench


class _MockLLMBench(LlamaIndexBench):
    def __init__(self, llm: Any, stream_prompt: str) -> None:
        super().__init__(llm)
        self.stream_prompt = stream_prompt

    def stream(self, prompt: str) -> str:
        return super().stream(self.stream_prompt)


_FACTORIES: dict[str, Callable[..., Bench]] = {
    "raw httpx": RawHttpx,
    "openai SDK": OpenAISDK,
    "ChatOpenAI": _chat_openai,
    "ChatDeepSeek": _chat_deepseek,
    "OpenAILike": _openai_like,
    "CNLLMClient": OursSDK,
    "ChatCNLLM": _chat_cnllm,
    "CNLLM": _cnllm,
    "LangChain no-I/O model": _langchain_floor,
    "LlamaIndex no-I/O model": _llama_index_floor,
}


def make_client(name: str, gw: Gateway, *, stream_chars: int = 200) -> Bench:
    """Build the client called `name` (one of CLIENTS) against `gw`."""
    spec = next(s for s in CLIENTS if s.name == name)
    factory = _FACTORIES[name]
    if spec.group == "reference":
        return factory(gw, stream_chars)
    return factory(gw)
