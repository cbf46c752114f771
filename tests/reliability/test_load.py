"""Load and soak on loopback: many concurrent streams and a large LangChain batch.

The full sizes are marked `load` (run them with `pytest -m load tests/reliability`); the same
tests at a small size run in the default command. Every test is bounded and stops by itself.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
from _surfaces import count_requests, open_fds, rss_bytes

from cn_llm_client.testing import FakeGateway

load = pytest.mark.load

STREAMS = [pytest.param(100, 2, id="100x2"), pytest.param(1000, 10, id="1000x10", marks=load)]
BATCH = [pytest.param(500, id="500"), pytest.param(10_000, id="10000", marks=load)]
MEMORY_GROWTH_LIMIT = 64 * 2**20  # bytes over rounds 2..N; a leak of 1 KiB per stream is 10 MB


@pytest.fixture(scope="module")
def slow_gw() -> Iterator[FakeGateway]:
    """A gateway that waits 50 ms before every answer, like a real one under load."""
    with FakeGateway(latency=0.05) as gateway:
        yield gateway


def _langchain_streamer(gw: FakeGateway) -> tuple[Callable[[str], Awaitable[str]], object]:
    from langchain_cn_llm import ChatCNLLM

    llm = ChatCNLLM(model="qwen3-max", api_key=gw.api_key, base_url=gw.base_url)

    async def one(prompt: str) -> str:
        return "".join([str(chunk.content) async for chunk in llm.astream(prompt)])

    return one, llm


def _llama_index_streamer(gw: FakeGateway) -> tuple[Callable[[str], Awaitable[str]], object]:
    from llama_index.core.llms import ChatMessage

    from llama_index_cn_llm import CNLLM

    llm = CNLLM(model="qwen3-max", api_key=gw.api_key, base_url=gw.base_url)

    async def one(prompt: str) -> str:
        responses = await llm.astream_chat([ChatMessage(role="user", content=prompt)])
        return "".join([r.delta or "" async for r in responses])

    return one, llm


async def _settle(baseline: int, seconds: float = 10.0) -> int:
    """Open fds once closed connections are gone (or after `seconds`)."""
    deadline = time.monotonic() + seconds
    while open_fds() > baseline and time.monotonic() < deadline:
        gc.collect()
        await asyncio.sleep(0.1)
    return open_fds()


@pytest.mark.parametrize(
    "streamer", [_langchain_streamer, _llama_index_streamer], ids=["langchain", "llama_index"]
)
@pytest.mark.parametrize(("streams", "rounds"), STREAMS)
def test_concurrent_streams_complete_and_release_everything(
    slow_gw: FakeGateway,
    request: pytest.FixtureRequest,
    streamer: Callable[[FakeGateway], tuple[Callable[[str], Awaitable[str]], object]],
    streams: int,
    rounds: int,
) -> None:
    """N concurrent async streams per round through the adapter: every text right, no errors,
    file descriptors back to the baseline, memory flat from round 2 on."""
    slow_gw.reset()
    memory: list[int] = []

    async def soak() -> None:
        baseline_fds = open_fds()  # inside the loop: it holds fds of its own
        one, llm = streamer(slow_gw)
        for r in range(rounds):
            prompts = [f"round {r} stream {i}" for i in range(streams)]
            texts = await asyncio.gather(*(one(p) for p in prompts), return_exceptions=True)
            errors = [t for t in texts if isinstance(t, BaseException)]
            assert not errors, f"{len(errors)} streams failed, first: {errors[0]!r}"
            assert texts == [f"[qwen3-max] {p}" for p in prompts]
            gc.collect()
            memory.append(rss_bytes())
        await llm.aclose()  # type: ignore[attr-defined]
        assert await _settle(baseline_fds) <= baseline_fds

    asyncio.run(soak())
    count_requests(request, slow_gw)
    assert len(slow_gw.requests) == streams * rounds
    if rounds > 2:
        growth = max(memory[1:]) - memory[1]
        assert growth < MEMORY_GROWTH_LIMIT, f"RSS per round: {[m >> 20 for m in memory]} MiB"


@pytest.mark.parametrize("calls", BATCH)
def test_langchain_batch_keeps_every_result_in_order(
    request: pytest.FixtureRequest, calls: int
) -> None:
    """ChatCNLLM.batch over N short calls with max_concurrency: none lost, none duplicated, in order."""
    from langchain_cn_llm import ChatCNLLM

    with FakeGateway() as gw:
        llm = ChatCNLLM(model="qwen3-max", api_key=gw.api_key, base_url=gw.base_url)
        prompts = [f"item {i}" for i in range(calls)]
        replies = llm.batch(prompts, config={"max_concurrency": 16})
        llm.close()
        count_requests(request, gw)
        bodies = [r.body["messages"][-1]["content"] for r in gw.requests]
    assert [m.content for m in replies] == [f"[qwen3-max] {p}" for p in prompts]
    assert sorted(bodies) == sorted(prompts)  # each sent exactly once
