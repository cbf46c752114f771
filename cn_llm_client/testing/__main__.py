"""Run the offline gateway in its own process until killed.

    python -m cn_llm_client.testing --port 8765 --latency 0.1 [--mode deepseek] [--answer-chars 20000]
        [--max-concurrency 5]

It prints its base URL on the first line of stdout. `cn-llm serve-fake` calls `main()`.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Sequence

from ._modes import MODES

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, start the gateway, print its base URL and wait."""
    parser = argparse.ArgumentParser(
        prog="python -m cn_llm_client.testing", description="Offline OpenAI-compatible gateway."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each response")
    parser.add_argument("--mode", choices=MODES, default="aisa")
    parser.add_argument("--api-key", default="test-key", help='the key it expects; "" accepts any')
    parser.add_argument("--answer-chars", type=int, default=None, help="long Chinese answers")
    parser.add_argument(
        "--max-concurrency", type=int, default=None, help="429 past N open requests per key"
    )
    args = parser.parse_args(argv)

    from .gateway import FakeGateway

    gateway = FakeGateway(
        latency=args.latency,
        mode=args.mode,
        api_key=args.api_key or None,
        port=args.port,
        host=args.host,
        answer_chars=args.answer_chars,
        max_concurrency=args.max_concurrency,
    )
    with gateway:
        print(gateway.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
