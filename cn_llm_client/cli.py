"""``cn-llm``: the seed's command line (also ``python -m cn_llm_client``).

    cn-llm chat --model qwen3-max --message "Hello, please introduce yourself"
    cn-llm chat --model deepseek-r1 --message "Which is larger, 9.9 or 9.11?" --stream
    cn-llm chat --model qwen-long --message "Summarise:" --file report.txt   # or --message - (stdin)
    cn-llm compare --models qwen3-max,deepseek-v3 --message "What is quantum computing?"
    cn-llm models --json
    cn-llm models --remote           # the catalog beside the server's own GET /models
    cn-llm --provider dashscope embed --model text-embedding-v4 --text "你好" --dimensions 256
    cn-llm --provider dashscope rerank --model qwen3-rerank --query "熊猫吃什么" --doc "…" --doc "…"
    cn-llm demo                      # offline, emulated answers, when AISA_API_KEY is not set
    cn-llm serve-fake --port 0       # the offline gateway as a server; prints what to export

Connection: ``--base-url``, ``--api-key``, ``--provider`` (before or after the subcommand), else
``AISA_BASE_URL`` / ``AISA_API_KEY``. Errors print one line on stderr; exit status 2 for usage
and configuration errors, 1 for API errors (and for ``compare`` when any model failed).
argparse (standard library) parses; rich draws what only a terminal sees (the spinner while a call
waits, compare's progress bar, dimmed reasoning) and writes plain text when piped.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import Console

    from .client import CNLLMClient

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (also the console script ``cn-llm``)."""
    from .errors import CNLLMError, ConfigurationError, InvalidRequestError

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except (ConfigurationError, InvalidRequestError) as exc:
        return _fail(str(exc), 2)
    except CNLLMError as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130


def _fail(message: str, status: int) -> int:
    message = " ".join(message.split()) or "failed"
    sys.stderr.write(f"cn-llm: error: {message}\n")
    return status


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cn-llm",
        description="Chinese LLMs (Qwen, DeepSeek, GLM, Kimi, MiniMax) through one OpenAI-compatible gateway.",
        epilog='example: cn-llm chat --model qwen3-max --message "Hello"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"cn-llm {_version()}")
    _connection_options(parser, None)
    # The same options after the subcommand; SUPPRESS keeps a value given before it.
    shared = argparse.ArgumentParser(add_help=False)
    _connection_options(shared, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, example: str, run: Callable[[Any], int]) -> Any:
        p = sub.add_parser(
            name,
            help=help,
            description=help,
            parents=[shared],
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(run=run)
        return p

    chat = command(
        "chat",
        "Chat with one model.",
        'cn-llm chat --model deepseek-r1 --message "Which is larger, 9.9 or 9.11?" --stream',
        _chat,
    )
    chat.add_argument("--model", required=True, help="model id, e.g. qwen3-max")
    _message_options(chat)
    chat.add_argument("--system", help="a system prompt")
    chat.add_argument("--stream", action="store_true", help="print the answer as it arrives")
    _sampling_options(chat)
    chat.add_argument("--image", help="an image path or URL (vision models)")
    chat.add_argument(
        "--json", action="store_true", help="print the raw JSON (JSON lines with --stream)"
    )
    chat.add_argument("--no-reasoning", action="store_true", help="hide the model's reasoning")

    compare = command(
        "compare",
        "Ask several models the same question at once.",
        'cn-llm compare --models "qwen3-max,deepseek-v3" --message "What is quantum computing?"',
        _compare,
    )
    compare.add_argument("--models", required=True, help="comma-separated model ids")
    _message_options(compare)
    _sampling_options(compare)
    compare.add_argument("--json", action="store_true", help="print the results as JSON")

    models = command(
        "models",
        "List the model catalog with prices and features.",
        "cn-llm models --json",
        _models,
    )
    models.add_argument("--json", action="store_true", help="print the catalog as JSON")
    models.add_argument(
        "--remote",
        action="store_true",
        help="also ask the server (GET /models) and show which catalog ids it serves",
    )
    _retrieval_commands(command)
    from ._batch_cli import add_batch_command

    add_batch_command(command, shared)

    demo = command(
        "demo",
        "A short tour: chat, streaming, reasoning, tools, vision, compare (offline without a key).",
        "cn-llm demo --offline",
        _demo,
    )
    demo.add_argument(
        "--offline",
        action="store_true",
        help="use the offline gateway even when AISA_API_KEY is set (no network needed)",
    )

    serve = command(
        "serve-fake",
        "Run the offline gateway emulator on loopback (emulated answers, for your own tests). "
        "It prints the AISA_BASE_URL and AISA_API_KEY to export; --api-key sets the key it "
        'accepts (default test-key, "" accepts any).',
        "cn-llm serve-fake --port 0 --api-key mykey --mode deepseek",
        _serve_fake,
    )
    from .testing.__main__ import add_options

    add_options(serve, api_key=False)  # --api-key is the connection option, read by _serve_fake
    return parser


def _connection_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--base-url", default=default, help="server URL (env AISA_BASE_URL)")
    parser.add_argument("--api-key", default=default, help="API key (env AISA_API_KEY)")
    parser.add_argument(
        "--provider",
        default=default,
        help="provider preset: aisa (default), dashscope, deepseek, ...",
    )


def _message_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--message", help='the user message; "-" reads it from standard input')
    parser.add_argument(
        "--file",
        type=Path,
        help="send this UTF-8 text file's content (after --message when both are given)",
    )


def _user_text(args: argparse.Namespace) -> str:
    """The message from --message (``-``: standard input) and --file; long texts never go
    through the argument list, whose size the OS limits ("Argument list too long")."""
    if args.message is None and args.file is None:
        raise _usage(
            "give the message: --message TEXT, --message - (standard input) or --file PATH"
        )
    parts = []
    if args.message is not None:
        parts.append(sys.stdin.read() if args.message == "-" else args.message)
    if args.file is not None:
        try:
            parts.append(args.file.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise _usage(f"--file {args.file}: not UTF-8 text; send a text file") from None
        except OSError as exc:
            raise _usage(f"--file {args.file}: {exc.strerror}") from None
    text = "\n\n".join(part.strip("\n") for part in parts)
    if not text.strip():
        raise _usage("the message is empty (--message, standard input or --file)")
    return text


def _usage(message: str) -> Exception:
    from .errors import InvalidRequestError

    return InvalidRequestError(message)


def _sampling_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temperature", type=float, help="0..2")
    parser.add_argument("--max-tokens", type=int, help="maximum tokens to generate")


def _version() -> str:
    from . import __version__

    return __version__


def _client(args: argparse.Namespace) -> CNLLMClient:
    from .client import CNLLMClient

    return CNLLMClient(api_key=args.api_key, base_url=args.base_url, provider=args.provider)


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params = {"temperature": args.temperature, "max_tokens": args.max_tokens}
    return {k: v for k, v in params.items() if v is not None}


# ---------------------------------------------------------------- output


def _console(stream: TextIO) -> Console:
    """A rich console on `stream`: styles only on a terminal that takes them (not TERM=dumb)."""
    from rich.console import Console

    return Console(file=stream, highlight=False, markup=False, emoji=False, soft_wrap=True)


class ReasoningPrinter:
    """Reasoning apart from the answer: dimmed on a terminal, ``[reasoning] `` lines otherwise."""

    def __init__(self, out: TextIO, show: bool = True) -> None:
        self.out, self.show = out, show
        self._terminal = _console(out) if _is_tty(out) else None
        self.dim = self._terminal is not None
        self._pending = ""
        self._wrote = False

    def write(self, text: str) -> None:
        if not self.show or not text:
            return
        self._wrote = True
        if self._terminal is not None:
            self._terminal.print(text, style="dim", end="")
            self.out.flush()
            return
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self.out.write(f"[reasoning] {line}\n")

    def end(self) -> None:
        """Close the reasoning block (before the answer starts)."""
        if not self._wrote:
            return
        if self._pending:
            self.out.write(f"[reasoning] {self._pending}\n")
        elif self.dim:
            self.out.write("\n")
        self.out.write("\n")
        self._pending, self._wrote = "", False


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _footer(model: str, completion: Mapping[str, Any]) -> str:
    usage = completion.get("usage") or {}
    parts = [model]
    if usage:
        parts.append(
            f"{usage.get('prompt_tokens', 0)} in + {usage.get('completion_tokens', 0)} out tokens"
        )
    if usage.get("cost") is not None:
        parts.append(f"${usage['cost']:.6f}")
    if completion.get("request_id"):
        parts.append(f"request {completion['request_id']}")
    return " · ".join(parts)


def _message_of(completion: Mapping[str, Any]) -> Mapping[str, Any]:
    return (completion.get("choices") or [{}])[0].get("message") or {}


def _print_message(message: Mapping[str, Any], reasoning: ReasoningPrinter, out: TextIO) -> None:
    reasoning.write(message.get("reasoning_content") or "")
    reasoning.end()
    if message.get("content"):
        out.write(message["content"].rstrip("\n") + "\n")
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        out.write(f"[tool call] {fn.get('name')}({fn.get('arguments') or ''})\n")


def _stream_to(stream: Any, reasoning: ReasoningPrinter, out: TextIO) -> dict:
    """Print a stream's reasoning and text as they arrive; returns the final completion."""
    answered = False
    with stream:
        for chunk in stream:
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                reasoning.write(delta.get("reasoning_content") or "")
                if delta.get("content"):
                    if not answered:
                        reasoning.end()
                        answered = True
                    out.write(delta["content"])
                    out.flush()
    reasoning.end()
    completion: dict = stream.completion()
    message = (completion.get("choices") or [{}])[0].get("message") or {}
    if answered:
        out.write("\n")
    for call in message.get("tool_calls") or ():
        fn = call.get("function") or {}
        out.write(f"[tool call] {fn.get('name')}({fn.get('arguments') or ''})\n")
    return completion


def _table(rows: Iterable[list[str]], header: list[str]) -> str:
    rows = [header, *rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)] + [r[-1]]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    return "\n".join(lines) + "\n"


def _one_line(text: str, width: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _comparison_table(results: dict[str, dict]) -> str:
    rows = []
    for model, r in results.items():
        usage = r.get("usage") or {}
        tokens = usage.get("total_tokens")
        rows.append(
            [
                model,
                f"{r['latency_s']:.2f}s",
                "-" if tokens is None else str(tokens),
                "-" if r.get("cost") is None else f"${r['cost']:.6f}",
                f"ERROR: {_one_line(r['error'])}" if r.get("error") else _one_line(r["response"]),
            ]
        )
    return _table(rows, ["model", "latency", "tokens", "cost", "answer"])


# ---------------------------------------------------------------- commands


def _chat(args: argparse.Namespace) -> int:
    out = sys.stdout
    text = _user_text(args)
    content: Any = text
    if args.image:
        from ._payload import image_part

        content = [{"type": "text", "text": text}, image_part(args.image)]
    messages = [{"role": "user", "content": content}]
    if args.system:
        messages.insert(0, {"role": "system", "content": args.system})
    reasoning = ReasoningPrinter(out, show=not args.no_reasoning)
    with _client(args) as client:
        if args.json and args.stream:
            with client.stream(args.model, messages, **_params(args)) as stream:
                for chunk in stream:
                    out.write(json.dumps(chunk, ensure_ascii=False) + "\n")
            return 0
        completion: Mapping[str, Any]
        if args.json:
            with _waiting(f"Waiting for {args.model}"):
                completion = client.chat(args.model, messages, **_params(args))
            out.write(json.dumps(completion, ensure_ascii=False, indent=2) + "\n")
            return 0
        if args.stream:
            completion = _stream_to(
                client.stream(args.model, messages, **_params(args)), reasoning, out
            )
        else:
            with _waiting(f"Waiting for {args.model}"):
                completion = client.chat(args.model, messages, **_params(args))
            _print_message(_message_of(completion), reasoning, out)
    sys.stderr.write(_footer(args.model, completion) + "\n")
    return 0


def _compare(args: argparse.Namespace) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    text = _user_text(args)
    finished = itertools.count(1)
    with _client(args) as client, _progress(f"Asking {len(models)} models") as report:
        results = client.compare_models(
            models, text, on_result=lambda *_: report(next(finished), len(models)), **_params(args)
        )
    if args.json:
        sys.stdout.write(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(_comparison_table(results))
    return 1 if any(r.get("error") for r in results.values()) else 0


@contextlib.contextmanager
def _waiting(label: str) -> Iterator[None]:
    """A spinner with the elapsed time on stderr while a call waits; nothing when piped."""
    if not _is_tty(sys.stderr):
        yield
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn(label), TimeElapsedColumn())
    with Progress(*columns, console=_console(sys.stderr), transient=True) as progress:
        progress.add_task(label, total=None)
        yield


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, moved by the `report(done, total)` it yields (thread-safe);
    nothing when piped."""
    if not _is_tty(sys.stderr):
        yield lambda done, total: None
        return
    from rich.progress import Progress

    with Progress(console=_console(sys.stderr), transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def _models(args: argparse.Namespace) -> int:
    import dataclasses

    from .catalog import format_price, list_models

    if args.remote:
        return _remote_models(args)
    models = list_models(args.provider)
    if args.json:
        entries = [dataclasses.asdict(m) for m in models]
        sys.stdout.write(json.dumps(entries, ensure_ascii=False, indent=2) + "\n")
        return 0

    rows = [
        [
            m.id,
            m.provider,
            format_price(m.input_price),
            format_price(m.output_price),
            f"{m.context_window:,}" if m.context_window else "—",
            ", ".join(m.features) or "chat",
        ]
        for m in models
    ]
    header = ["model", "provider", "input/M", "output/M", "context", "features"]
    sys.stdout.write(_table(rows, header))
    return 0


def _remote_models(args: argparse.Namespace) -> int:
    """The provider's catalog beside what its server lists: served or not, and ids it serves
    that the catalog does not know."""
    from .catalog import list_models

    with _client(args) as client:
        with _waiting(f"GET {client.base_url}/models"):
            served = client.list_remote_models()
        catalog = [m.id for m in list_models(client.provider)]
    unknown = [m for m in served if m not in catalog]
    if args.json:
        listing = {
            "server": client.base_url,
            "catalog": [{"id": m, "served": m in served} for m in catalog],
            "not_in_catalog": unknown,
        }
        sys.stdout.write(json.dumps(listing, ensure_ascii=False, indent=2) + "\n")
        return 0
    rows = [[m, "yes" if m in served else "no", "catalog"] for m in catalog]
    rows += [[m, "yes", "server only (not in the catalog)"] for m in unknown]
    sys.stdout.write(_table(rows, ["model", "served", "listed by"]))
    sys.stderr.write(
        f"{client.base_url}/models lists {len(served)} ids; the {client.provider} catalog "
        f"{len(catalog)}, {sum(m in served for m in catalog)} of them served.\n"
    )
    return 0


def _retrieval_commands(command: Callable[..., Any]) -> None:
    """`embed` and `rerank`: quick checks of embedding and rerank models."""
    embed = command(
        "embed",
        "Embed texts with an embedding model (a provider that serves it: --provider dashscope, "
        "siliconflow, zhipu, vllm, ollama).",
        'cn-llm --provider dashscope embed --model text-embedding-v4 --text "你好" --json',
        _embed,
    )
    embed.add_argument("--model", required=True, help="embedding model id, e.g. text-embedding-v4")
    embed.add_argument("--text", action="append", default=[], help="a text (repeat for more)")
    embed.add_argument("--file", help="a UTF-8 file with one text per line (blank lines skipped)")
    embed.add_argument("--dimensions", type=int, help="vector size, if the model offers several")
    embed.add_argument("--query", action="store_true", help="embed the texts as search queries")
    embed.add_argument("--json", action="store_true", help="print the full JSON with the vectors")

    rerank = command(
        "rerank",
        "Score documents against a query with a rerank model.",
        'cn-llm --provider dashscope rerank --model qwen3-rerank --query "熊猫吃什么？" '
        '--doc "熊猫吃竹子。" --doc "长城在北京。"',
        _rerank,
    )
    rerank.add_argument("--model", required=True, help="rerank model id, e.g. qwen3-rerank")
    rerank.add_argument("--query", required=True, help="the query")
    rerank.add_argument("--doc", action="append", default=[], help="a document (repeat)")
    rerank.add_argument("--file", help="a UTF-8 file with one document per line")
    rerank.add_argument("--top-n", type=int, help="keep the best N")
    rerank.add_argument("--json", action="store_true", help="print the result as JSON")


def _lines(texts: list[str], path: str | None) -> list[str]:
    from .errors import InvalidRequestError

    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                texts = texts + [line.strip() for line in f if line.strip()]
        except OSError as exc:
            raise InvalidRequestError(f"Cannot read {path}: {exc.strerror}") from None
    if not texts:
        raise InvalidRequestError("Nothing to send: give --text/--doc (repeatable) or --file.")
    return texts


def _usage_line(model: str, result: Mapping[str, Any]) -> str:
    usage = result.get("usage") or {}
    cost = usage.get("cost")
    money = "" if cost is None else f" · ${cost:.6f}"
    return f"{model} · {usage.get('total_tokens', 0)} tokens{money}"


def _embed(args: argparse.Namespace) -> int:
    texts = _lines(args.text, args.file)
    with _client(args) as client, _progress(f"Embedding {len(texts)} texts") as report:
        result = client.embed(
            args.model,
            texts,
            dimensions=args.dimensions,
            input_type="query" if args.query else None,
            on_progress=report,
        )
    if args.json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        return 0
    rows = []
    for row in result["data"]:
        vector = row["embedding"]
        head = ", ".join(f"{v:.4f}" for v in vector[:4])
        rows.append(
            [
                str(row["index"]),
                str(len(vector)),
                f"[{head}, …]",
                _one_line(texts[row["index"]], 40),
            ]
        )
    sys.stdout.write(_table(rows, ["#", "dims", "vector", "text"]))
    sys.stderr.write(_usage_line(result["model"], result) + "\n")
    return 0


def _rerank(args: argparse.Namespace) -> int:
    documents = _lines(args.doc, args.file)
    with _client(args) as client:
        result = client.rerank(args.model, args.query, documents, top_n=args.top_n)
    if args.json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        return 0
    rows = [
        [str(rank), str(r["index"]), f"{r['relevance_score']:.4f}", _one_line(r["document"], 60)]
        for rank, r in enumerate(result["results"], 1)
    ]
    sys.stdout.write(_table(rows, ["rank", "#", "score", "document"]))
    sys.stderr.write(_usage_line(result["model"], result) + "\n")
    return 0


def _serve_fake(args: argparse.Namespace) -> int:
    from .testing.__main__ import serve

    return serve(args, "cn-llm serve-fake")


# ---------------------------------------------------------------- demo

DEMO_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "city name, e.g. Beijing"}},
            "required": ["city"],
        },
    },
}


def _demo(args: argparse.Namespace) -> int:
    """The tour against the real gateway when a key is set, else against the offline gateway."""
    from .client import CNLLMClient
    from .errors import APIConnectionError

    online = args.base_url or args.api_key or os.environ.get("AISA_API_KEY")
    if online and not args.offline:
        with _client(args) as client:
            try:
                return _tour(client)
            except APIConnectionError as exc:
                offline = "To run it offline (emulated answers): cn-llm demo --offline"
                return _fail(f"{exc} {offline}, or unset AISA_API_KEY.", 1)
    from .testing import FakeGateway

    reason = "--offline" if online else "No AISA_API_KEY set"
    sys.stdout.write(
        f"{reason}: running against the offline gateway on 127.0.0.1.\n"
        "The answers below are EMULATED (deterministic, made from the prompt), not written by a "
        "real model.\n"
        "Set AISA_API_KEY to run the same tour against https://api.aisa.one/v1.\n"
    )
    with (
        FakeGateway(latency=0.02) as gateway,
        CNLLMClient(api_key=gateway.api_key, base_url=gateway.base_url) as client,
    ):
        return _tour(client)


def _tour(client: CNLLMClient) -> int:
    out = sys.stdout

    def step(title: str) -> None:
        out.write(f"\n== {title}\n")

    step("Chat (qwen3-max)")
    reply = client.chat("qwen3-max", [{"role": "user", "content": "用一句话介绍你自己"}])
    _print_message(reply["choices"][0]["message"], ReasoningPrinter(out), out)
    out.write(_footer("qwen3-max", reply) + "\n")

    step("Streaming (deepseek-v3)")
    for piece in client.chat_stream("deepseek-v3", [{"role": "user", "content": "讲一个成语故事"}]):
        out.write(piece)
        out.flush()
    out.write("\n")

    step("Reasoning, shown apart from the answer (deepseek-r1)")
    question = [{"role": "user", "content": "Which is larger, 9.9 or 9.11?"}]
    _stream_to(client.stream("deepseek-r1", question), ReasoningPrinter(out), out)

    step("Tool call (qwen3-max)")
    ask = [{"role": "user", "content": "What is the weather in Beijing?"}]
    reply = client.chat("qwen3-max", ask, tools=[DEMO_TOOL])
    _print_message(reply["choices"][0]["message"], ReasoningPrinter(out), out)

    step("Vision (qwen3-vl-plus, a generated 8x8 PNG)")
    from ._payload import image_part

    content = [{"type": "text", "text": "What colour is this image?"}, image_part(_tiny_png())]
    reply = client.chat("qwen3-vl-plus", [{"role": "user", "content": content}])
    _print_message(reply["choices"][0]["message"], ReasoningPrinter(out), out)

    step("Compare (qwen3-max, deepseek-v3, deepseek-r1)")
    results = client.compare_models(["qwen3-max", "deepseek-v3", "deepseek-r1"], "What is AI?")
    out.write(_comparison_table(results))

    step("LangChain (langchain_cn_llm.ChatCNLLM)")
    _langchain_step(client, out)
    step("LlamaIndex query engine (llama_index_cn_llm.CNLLM)")
    _llama_index_step(client, out)
    step("Retrieval (text-embedding-v4 and qwen3-rerank, on DashScope)")
    _retrieval_step(out)
    return 0


RETRIEVAL_PASSAGES = (
    "大熊猫的食物百分之九十九都是竹子。",
    "乌龙茶属于半发酵茶，铁观音和武夷岩茶都属此类。",
    "二十四节气在二〇一六年列入非物质文化遗产名录。",
)


def _retrieval_step(out: TextIO) -> None:
    """Embed a question and three passages, take the nearest, then rerank the passages.

    DashScope serves both models (the AIsa gateway has no embeddings endpoint): the real one
    with DASHSCOPE_API_KEY set, else the emulator in DashScope mode, whose vectors and scores
    come from the text (hashed character n-grams), so even offline the right passage wins.
    """
    import contextlib

    from .client import CNLLMClient

    question = "乌龙茶是什么茶？"
    with contextlib.ExitStack() as stack:
        settings: dict[str, Any] = {"provider": "dashscope"}
        if not os.environ.get("DASHSCOPE_API_KEY"):
            from .testing import FakeGateway

            gateway = stack.enter_context(FakeGateway(mode="dashscope", latency=0.02))
            settings.update(base_url=gateway.base_url, api_key=gateway.api_key)
            out.write("(DASHSCOPE_API_KEY not set: the offline gateway in DashScope mode)\n")
        client = stack.enter_context(CNLLMClient(**settings))
        rows = client.embed("text-embedding-v4", [question, *RETRIEVAL_PASSAGES])["data"]
        query, *passages = (row["embedding"] for row in rows)
        similarity = [sum(a * b for a, b in zip(query, p, strict=True)) for p in passages]
        nearest = max(range(len(passages)), key=similarity.__getitem__)
        best = client.rerank("qwen3-rerank", question, list(RETRIEVAL_PASSAGES), top_n=1)
    top = best["results"][0]
    out.write(f"question: {question}\n")
    out.write(f"nearest by embedding: {RETRIEVAL_PASSAGES[nearest]}\n")
    out.write(f"reranked first: {top['document']} (score {top['relevance_score']:.2f})\n")


def _langchain_step(client: CNLLMClient, out: TextIO) -> None:
    try:
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        from langchain_cn_llm import ChatCNLLM  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        out.write(f"skipped: the LangChain extra is not importable ({exc}).\n")
        return
    llm = ChatCNLLM(model_name="qwen3-max", **_adapter_args(client))
    chain = (
        ChatPromptTemplate.from_template("Translate to English: {text}") | llm | StrOutputParser()
    )
    out.write(chain.invoke({"text": "你好，世界"}) + "\n")


def _llama_index_step(client: CNLLMClient, out: TextIO) -> None:
    """A query engine over two tiny documents (MockEmbedding: the demo needs no embedding API)."""
    try:
        from llama_index.core import Document, VectorStoreIndex
        from llama_index.core.embeddings import MockEmbedding

        from llama_index_cn_llm import CNLLM  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        out.write(f"skipped: the LlamaIndex extra is not importable ({exc}).\n")
        return
    docs = [
        Document(text="龙井茶产自杭州西湖，是中国十大名茶之一。"),
        Document(text="大熊猫主要生活在四川、陕西和甘肃的山区。"),
    ]
    index = VectorStoreIndex.from_documents(docs, embed_model=MockEmbedding(embed_dim=8))
    llm = CNLLM(model="deepseek-v3", **_adapter_args(client))
    engine = index.as_query_engine(llm=llm, similarity_top_k=1)
    out.write(str(engine.query("龙井茶产自哪里？")) + "\n")


def _adapter_args(client: CNLLMClient) -> dict[str, Any]:
    """The demo client's connection, for the adapters (which build their own core client)."""
    return {"base_url": client.base_url, "api_key": client._settings.api_key}


def _tiny_png(size: int = 8, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A solid-colour PNG built with the standard library (zlib + struct), for the vision step."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
