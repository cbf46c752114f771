"""Which async transport for the core: httpx's own pool or httpx-aiohttp's AiohttpTransport.

    python benchmarks/transport.py [--calls 200] [--latency 0.1] [--rounds 3]

Against the offline gateway in its own process, times `--calls` concurrent non-stream calls
through httpx.AsyncClient with each transport, at httpx's default pool (100 connections) and at
the openai SDK's (1,000), alternating transports between rounds. Prints the best and all rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx
from httpx_aiohttp import AiohttpTransport

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import API_KEY, MODEL, gateway  # noqa: E402

__all__ = ["main", "time_calls"]


async def time_calls(
    base_url: str, transport: str, calls: int, pool: int, rounds: int
) -> list[float]:
    """Seconds for each round of `calls` concurrent calls through one client (after a warm-up)."""
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    kwargs: dict = {"timeout": 120, "limits": limits}
    if transport == "aiohttp":
        kwargs = {"timeout": 120, "transport": AiohttpTransport(limits=limits)}
    body = {"model": MODEL, "messages": [{"role": "user", "content": "你好"}]}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    url = base_url + "/chat/completions"
    async with httpx.AsyncClient(**kwargs) as client:

        async def one() -> None:
            response = await client.post(url, json=body, headers=headers)
            response.raise_for_status()
            response.json()

        await asyncio.gather(*(one() for _ in range(10)))
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(calls)))
            times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{args.calls} concurrent calls at {args.latency * 1000:g} ms server latency")
    print("| transport | pool | best | rounds |\n|---|---|---|---|")
    with gateway(args.latency) as base_url:
        for pool in (100, 1000):
            for index in range(2):
                order = ("httpx", "aiohttp") if index == 0 else ("aiohttp", "httpx")
                for transport in order:
                    times = asyncio.run(
                        time_calls(base_url, transport, args.calls, pool, args.rounds)
                    )
                    rounds = ", ".join(f"{t:.3f}" for t in times)
                    print(f"| {transport} | {pool} | {min(times):.3f} s | {rounds} |", flush=True)


if __name__ == "__main__":
    main()
