"""One client, one process: runs the benchmarks asked for and prints one JSON object.

Run by `run.py`; by hand:

    python benchmarks/worker.py --client "openai SDK" --config '{"fast": "http://127.0.0.1:8001/v1", ...}'

Each benchmark warms up first, checks that every answer arrived whole (a wrong or short answer
is an error, not a fast figure), and reports seconds (or KiB for memory). A benchmark that
fails reports {"error": "..."} and the others still run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import CLIENTS, Bench, Gateway, make_client, one_loop  # noqa: E402

__all__ = ["main"]

PROMPT = "你好"


def _check(text: str, expected: int | None, what: str) -> None:
    if expected is not None and len(text) != expected:
        raise AssertionError(f"{what}: got {len(text)} characters, expected {expected}")
    if not text:
        raise AssertionError(f"{what}: empty answer")


def sequential(bench: Bench, cfg: dict[str, Any]) -> float:
    """Mean seconds per non-stream call, calls made one after another."""
    for _ in range(cfg["warmup_calls"]):
        _check(bench.call(PROMPT), None, "warm-up call")
    start = time.perf_counter()
    for _ in range(cfg["calls"]):
        bench.call(PROMPT)
    elapsed = time.perf_counter() - start
    _check(bench.call(PROMPT), None, "call")
    return elapsed / cfg["calls"]


def long_stream(bench: Bench, cfg: dict[str, Any], expected: int | None) -> float:
    """Seconds to read one long streamed answer (best of `stream_runs`, after one warm-up)."""
    _check(bench.stream(PROMPT), expected, "warm-up stream")
    best = float("inf")
    for _ in range(cfg["stream_runs"]):
        start = time.perf_counter()
        text = bench.stream(PROMPT)
        best = min(best, time.perf_counter() - start)
        _check(text, expected, "stream")
    return best


def _concurrent(
    run_on_loop: Callable[[Any], float], bench: Bench, n: int, warmup: int, op: str
) -> float:
    """Seconds for `n` concurrent calls (or streams) on `run_on_loop`'s loop, after a warm-up."""

    async def run() -> float:
        call = bench.acall if op == "call" else bench.astream
        try:
            for text in await asyncio.gather(*(call(PROMPT) for _ in range(warmup))):
                _check(text, None, f"warm-up concurrent {op}")
            start = time.perf_counter()
            texts = await asyncio.gather(*(call(PROMPT) for _ in range(n)))
            elapsed = time.perf_counter() - start
            for text in texts:
                _check(text, None, f"concurrent {op}")
            return elapsed
        finally:
            await bench.aclose()

    return run_on_loop(run())


def peak_memory(bench: Bench, expected: int | None) -> float:
    """Peak KiB traced by tracemalloc while one long stream is read (after a warm-up)."""
    _check(bench.stream(PROMPT), expected, "warm-up stream")
    tracemalloc.start()
    try:
        _check(bench.stream(PROMPT), expected, "stream")
        return tracemalloc.get_traced_memory()[1] / 1024
    finally:
        tracemalloc.stop()


def _run(what: Callable[[], float | dict[str, float]]) -> dict[str, Any]:
    try:
        value = what()
        return value if isinstance(value, dict) else {"value": value}
    except Exception as exc:  # a failing client is a table cell, not a crash
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", required=True, choices=[s.name for s in CLIENTS])
    parser.add_argument("--config", required=True, help="JSON: gateways, sizes, benchmarks")
    args = parser.parse_args(argv)
    cfg = json.loads(args.config)
    spec = next(s for s in CLIENTS if s.name == args.client)
    reference = spec.group == "reference"
    expected = None if reference else cfg["stream_chars"]
    key, model = cfg["api_key"], cfg["model"]

    def client(url: str, stream_chars: int) -> Bench:
        return make_client(args.client, Gateway(url, key, model), stream_chars=stream_chars)

    results: dict[str, Any] = {}
    fast = client(cfg["fast"], cfg["stream_chars"])
    wanted = set(cfg["benchmarks"])
    if "sequential" in wanted:
        results["sequential"] = _run(lambda: sequential(fast, cfg))
    fast.close()
    long = client(cfg["long"], cfg["stream_chars"])
    if "stream" in wanted:
        results["stream"] = _run(lambda: long_stream(long, cfg, expected))
    if not reference:
        with one_loop() as on_loop:  # both on one loop: see one_loop
            for name, op in (("concurrent", "call"), ("concurrent_streams", "stream")):
                if name in wanted:
                    slow = client(cfg["slow"], cfg["stream_chars"])
                    n, warm = cfg[name], cfg["warmup_concurrent"]
                    results[name] = _run(functools.partial(_concurrent, on_loop, slow, n, warm, op))
    if "memory" in wanted:
        quarter = client(cfg["quarter"], cfg["stream_chars"] // 4)
        quarter_expected = None if reference else cfg["stream_chars"] // 4

        def memory() -> dict[str, float]:
            return {
                "value": peak_memory(long, expected),
                "quarter": peak_memory(quarter, quarter_expected),
            }

        results["memory"] = _run(memory)
        quarter.close()
    long.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
