"""Profile one client on the sequential or stream benchmark with pyinstrument.

    pip install pyinstrument
    python benchmarks/profile.py CNLLMClient stream          # one 20,000-character stream
    python benchmarks/profile.py ChatCNLLM call --calls 2000 # 2,000 sequential calls

Prints pyinstrument's call tree (time per function, with file names) for the timed part only;
the gateway runs in its own process, so none of its time is counted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyinstrument import Profiler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import CLIENTS, Gateway, make_client  # noqa: E402
from run import API_KEY, MODEL, gateway  # noqa: E402

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("client", choices=[s.name for s in CLIENTS])
    parser.add_argument("op", choices=["call", "stream"])
    parser.add_argument("--calls", type=int, default=1000, help="sequential calls to profile")
    parser.add_argument("--chars", type=int, default=20_000, help="length of the streamed answer")
    args = parser.parse_args(argv)
    chars = args.chars if args.op == "stream" else None
    with gateway(0.0, chars) as base_url:
        bench = make_client(args.client, Gateway(base_url, API_KEY, MODEL), stream_chars=args.chars)
        run = bench.stream if args.op == "stream" else bench.call
        for _ in range(3 if args.op == "stream" else 20):  # warm-up: connections, lazy imports
            run("你好")
        profiler = Profiler(interval=0.0005)
        with profiler:
            for _ in range(1 if args.op == "stream" else args.calls):
                run("你好")
        bench.close()
    print(profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False))


if __name__ == "__main__":
    main()
