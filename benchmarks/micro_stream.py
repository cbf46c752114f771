"""Micro-benchmark of the stream hot path: SSE decode, JSON parse, fold, our three clients end to end.

    python benchmarks/micro_stream.py            # 10,000 chunks, best of 5 runs
    python benchmarks/micro_stream.py --chunks 50000 --runs 3
    python benchmarks/micro_stream.py --chunks 100000 --runs 1 --read 16384 --only CNLLM ChatCNLLM

Everything runs in memory (httpx.MockTransport): no sockets, so it measures only our own code.
Each stage is timed over the same realistic stream (a role chunk, 10,000 one-character Chinese
content deltas, a finish chunk, a usage chunk, [DONE]) cut into reads of a given size:
`--read 16384` is what a fast local server delivers, `--read 0` gives one event per read (a slow
server, the worst case for per-read overhead).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator

import httpx
import orjson

from cn_llm_client import CNLLMClient
from cn_llm_client._sse import SSEDecoder
from cn_llm_client._transport import Timeouts, _Call, _Core, _Events


def sse_stream(chunks: int) -> list[bytes]:
    """The events of a stream of `chunks` content deltas, one bytes object per event."""
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "qwen3-max"}

    def event(choices: list[dict], **extra: object) -> bytes:
        return b"data: " + orjson.dumps({**head, "choices": choices, **extra}) + b"\n\n"

    events = [event([{"index": 0, "delta": {"role": "assistant", "content": ""}}])]
    piece = event([{"index": 0, "delta": {"content": "你"}, "finish_reason": None}])
    events += [piece] * chunks
    events.append(event([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    usage = {"prompt_tokens": 5, "completion_tokens": chunks, "total_tokens": chunks + 5}
    events.append(event([], usage=usage))
    events.append(b"data: [DONE]\n\n")
    return events


def reads_of(events: list[bytes], size: int) -> list[bytes]:
    if size <= 0:
        return events
    raw = b"".join(events)
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def best_of(runs: int, work: Callable[[], int], expected: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        count = work()
        best = min(best, time.perf_counter() - started)
        assert count == expected, (count, expected)
    return best


def decode_only(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = 0
    for read in reads:
        count += len(decoder.feed(read))
    return count + len(decoder.flush())


def decode_raw(reads: list[bytes]) -> int:
    decoder = SSEDecoder()
    if not hasattr(decoder, "feed_raw"):  # the decoder before feed_raw existed
        return decode_only(reads)
    count = 0
    for read in reads:
        count += len(decoder.feed_raw(read))
    return count + len(decoder.flush_raw())


def decode_parse_fold(reads: list[bytes]) -> int:
    core = _Core("https://bench.test/v1", None, Timeouts(), 0, None, None)  # no HTTP client
    events = _Events(core, _Call("POST", "/chat/completions", {"stream": True}), None)
    count = 0
    for read in reads:
        count += sum(1 for _ in events.feed(read))
        if events.done:
            break
    assert events.accumulator.completion()["usage"]["total_tokens"] > 0
    return count


def through_client(reads: list[bytes]) -> int:
    http = _mock_http(reads)
    with CNLLMClient(api_key="bench", base_url="https://bench.test/v1", http_client=http) as client:
        messages = [{"role": "user", "content": "hi"}]
        with client.stream("qwen3-max", messages) as stream:
            count = sum(1 for _ in stream)
            assert stream.completion()["choices"][0]["finish_reason"] == "stop"
    return count


def _mock_http(reads: list[bytes]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Body(reads), headers={"x-request-id": "r1"})

    return httpx.Client(transport=httpx.MockTransport(handler))


def through_chat_cnllm(reads: list[bytes]) -> int:
    from langchain_cn_llm import ChatCNLLM

    llm = ChatCNLLM(model="qwen3-max", api_key="bench", http_client=_mock_http(reads))
    count = sum(1 for _ in llm.stream("hi"))
    return count


def through_cnllm(reads: list[bytes]) -> int:
    from llama_index.core.llms import ChatMessage

    from llama_index_cn_llm import CNLLM

    llm = CNLLM(model="qwen3-max", api_key="bench")
    llm._client = CNLLMClient(
        api_key="bench", base_url="https://bench.test/v1", http_client=_mock_http(reads)
    )
    responses = llm.stream_chat([ChatMessage(role="user", content="hi")])
    count = 0
    for count, _ in enumerate(responses, 1):  # noqa: B007
        pass
    return count


class _Body(httpx.SyncByteStream):
    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._reads)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", nargs="+", help="stages by first word: CNLLMClient ChatCNLLM ...")
    parser.add_argument("--read", type=int, nargs="+", default=[16384, 0], help="read sizes")
    args = parser.parse_args(argv)
    events = sse_stream(args.chunks)
    total = len(events)
    print(f"{args.chunks} content chunks ({total} events), best of {args.runs} runs")
    print(f"{'stage':<28}{'read size':>12}{'total ms':>10}{'µs/chunk':>10}")
    stages: list[tuple[str, Callable[[list[bytes]], int], int]] = [
        ("SSE decode (str events)", decode_only, total),
        ("SSE decode (raw bytes)", decode_raw, total),
        ("decode + parse + fold", decode_parse_fold, total - 1),  # [DONE] is no chunk
        ("CNLLMClient.stream", through_client, total - 1),
        ("ChatCNLLM.stream", through_chat_cnllm, args.chunks + 1),  # + the usage chunk
        ("CNLLM.stream_chat", through_cnllm, args.chunks + 1),
    ]
    stages = [stage for stage in stages if not args.only or stage[0].split(".")[0] in args.only]
    for size in args.read:
        reads = reads_of(events, size)
        label = str(size) if size else "1 event"
        for name, stage, expected in stages:
            seconds = best_of(args.runs, lambda: stage(reads), expected)  # noqa: B023
            print(f"{name:<28}{label:>12}{seconds * 1e3:>10.1f}{seconds / total * 1e6:>10.2f}")


if __name__ == "__main__":
    main()
