"""Run the offline gateway in its own process until killed.

    python -m cn_llm_client.testing --port 18765 --latency 0.1 [--mode deepseek] [--api-key KEY]
        [--answer-chars 20000] [--max-concurrency 5]

The first line of stdout is its base URL (scripts read it); the next two are the `export` lines
that point a client at it (AISA_BASE_URL, AISA_API_KEY). A busy port is one line on stderr and
exit status 2. `cn-llm serve-fake` calls `main()`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
import threading
from collections.abc import Sequence

from ._modes import MODES

__all__ = ["DEFAULT_PORT", "add_options", "main", "serve"]

# Not 8000 (vLLM, Django), 8080, 8888 (Jupyter), 11434 (Ollama), 1234 (LM Studio), 3000, 4000
# (LiteLLM), 5000 (Flask), 7860 (Gradio), 8501 (Streamlit); below Linux's ephemeral range.
DEFAULT_PORT = 18765
DEFAULT_KEY = "test-key"


def main(argv: Sequence[str] | None = None, prog: str = "python -m cn_llm_client.testing") -> int:
    """Parse the options, start the gateway, print its base URL and exports, and wait."""
    parser = argparse.ArgumentParser(prog=prog, description="Offline OpenAI-compatible gateway.")
    add_options(parser)
    return serve(parser.parse_args(argv), prog)


def serve(args: argparse.Namespace, prog: str) -> int:
    """Serve with the options of `add_options` until Ctrl-C; 2 when the port cannot be bound.

    `args.api_key` None means the default key, "" any key."""
    from .gateway import FakeGateway

    if args.api_key is None:
        args.api_key = DEFAULT_KEY

    gateway = FakeGateway(
        latency=args.latency,
        mode=args.mode,
        api_key=args.api_key or None,
        port=args.port,
        host=args.host,
        answer_chars=args.answer_chars,
        max_concurrency=args.max_concurrency,
    )
    try:
        gateway.start()
    except RuntimeError as exc:
        sys.stderr.write(f"{prog}: error: {_start_failure(exc, args.host, args.port)}\n")
        return 2
    try:
        key = args.api_key or "any-key"
        print(gateway.base_url, flush=True)
        print(f"export AISA_BASE_URL={gateway.base_url}", flush=True)
        print(f"export AISA_API_KEY={key}", flush=True)
        accepts = "any key" if not args.api_key else "only this key"
        sys.stderr.write(
            f"Offline gateway ({args.mode} mode, emulated answers; {accepts}) listening on "
            f"{gateway.base_url}. Run the export lines in the shell of your program. Ctrl-C stops it.\n"
        )
        sys.stderr.flush()
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    finally:
        gateway.stop()
    return 0


def add_options(parser: argparse.ArgumentParser, *, api_key: bool = True) -> None:
    """The gateway's options (`cn-llm serve-fake` takes --api-key from its connection options)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}); 0 picks a free one and prints it",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each response")
    parser.add_argument(
        "--mode", choices=MODES, default="aisa", help="which server it speaks like (default aisa)"
    )
    if api_key:
        parser.add_argument(
            "--api-key",
            default=DEFAULT_KEY,
            help=f'the key it expects (default {DEFAULT_KEY}); "" accepts any',
        )
    parser.add_argument("--answer-chars", type=int, default=None, help="long Chinese answers")
    parser.add_argument(
        "--max-concurrency", type=int, default=None, help="429 past N open requests per key"
    )


def _start_failure(exc: RuntimeError, host: str, port: int) -> str:
    cause = exc.__cause__
    if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use; pick another with --port N, "
            "or --port 0 for a free one"
        )
    reason = cause if cause is not None else exc
    return f"cannot listen on {host}:{port}: {' '.join(str(reason).split())}"


if __name__ == "__main__":
    raise SystemExit(main())
