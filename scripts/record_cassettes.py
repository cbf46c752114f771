"""Re-record tests/cassettes/*.yaml against the real AIsa gateway.

    AISA_API_KEY=sk-... python scripts/record_cassettes.py            # every example
    AISA_API_KEY=sk-... python scripts/record_cassettes.py qwen3_max_chat error_401

Refuses to run without AISA_API_KEY. Each example makes one real, billed request (a few cents in
all). The Authorization header is filtered out before anything is written, and every cassette is
checked afterwards for the key. The cassettes hold real answers afterwards, so the replay tests'
content assertions (tests/core/test_cassettes.py) must be updated to match.

Only 401 (a deliberately invalid key) and 404 (an unknown model) can be provoked on demand; 402,
429 and 500 cannot, so those cassettes stay hand-authored and are skipped here.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import vcr

from cn_llm_client import CNLLMClient, CNLLMError

CASSETTES = Path(__file__).resolve().parents[1] / "tests" / "cassettes"
HEADER = (
    "# Recorded from {url} on {date} by scripts/record_cassettes.py.\n"
    "# The Authorization header is filtered out (filter_headers).\n"
)

Call = Callable[[CNLLMClient], Any]


def _chat(model: str, *messages: dict[str, Any], **params: Any) -> Call:
    return lambda client: client.chat(model=model, messages=list(messages), **params)


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


RIVER = "A farmer needs to cross a river with a wolf, a sheep, and a cabbage. The boat can only carry the farmer and one item at a time. If the farmer is not present, the wolf will eat the sheep, and the sheep will eat the cabbage. How can the farmer safely cross?"
IMAGE = [
    {"type": "text", "text": "Describe the content of this image"},
    {"type": "image_url", "image_url": {"url": "https://example.com/image.jpg"}},
]

EXAMPLES: dict[str, Call] = {
    "qwen3_max_chat": _chat(
        "qwen3-max",
        {"role": "system", "content": "You are a professional Chinese assistant."},
        _user("Please explain what a large language model is?"),
        temperature=0.7,
        max_tokens=1000,
    ),
    "deepseek_v3_chat": _chat(
        "deepseek-v3", _user("Write a quicksort algorithm in Python"), temperature=0.3
    ),
    "deepseek_r1_reasoning": _chat("deepseek-r1", _user(RIVER)),
    "qwen3_coder_plus_chat": _chat("qwen3-coder-plus", _user("Implement a thread-safe Map in Go")),
    "deepseek_v3_1_chat": _chat(
        "deepseek-v3.1", _user("Implement an LRU cache with get and put operations")
    ),
    "qwen3_vl_plus_vision": _chat("qwen3-vl-plus", {"role": "user", "content": IMAGE}),
    "qwen_plus_stream": lambda client: list(
        client.chat_stream("qwen-plus", [_user("Tell a Chinese folk story")])
    ),
    "error_401": _chat("qwen3-max", _user("Hello!")),  # sent with an invalid key, below
    "error_404": _chat("qwen-maxx", _user("Hello!")),
}


def make_recorder(directory: Path = CASSETTES) -> vcr.VCR:
    """The vcrpy configuration used for recording: overwrite, never store the key."""
    return vcr.VCR(
        cassette_library_dir=str(directory),
        record_mode="all",
        filter_headers=["authorization", "cookie", "set-cookie"],
        decode_compressed_response=True,
    )


def record(name: str, call: Call, client: CNLLMClient, recorder: vcr.VCR, secret: str) -> None:
    """Record one example into `<name>.yaml`, mark it, and check it holds no key."""
    path = Path(recorder.cassette_library_dir or ".") / f"{name}.yaml"
    with recorder.use_cassette(path.name):
        try:
            call(client)
        except CNLLMError as exc:  # the error cassettes are recorded on purpose
            print(f"  {name}: {type(exc).__name__}: {exc}")
    date = datetime.date.today().isoformat()
    text = path.read_text(encoding="utf-8")
    if secret in text:
        path.unlink()
        raise SystemExit(f"refusing to keep {path.name}: it contains the API key")
    path.write_text(HEADER.format(url=client.base_url, date=date) + text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    names = argv if argv is not None else sys.argv[1:]
    secret = os.environ.get("AISA_API_KEY")
    if not secret:
        print(
            "record_cassettes: set AISA_API_KEY to re-record (export AISA_API_KEY=...).",
            file=sys.stderr,
        )
        return 2
    unknown = sorted(set(names) - set(EXAMPLES))
    if unknown:
        print(
            f"record_cassettes: unknown example(s) {unknown}; choose from {sorted(EXAMPLES)}",
            file=sys.stderr,
        )
        return 2
    recorder = make_recorder()
    with (
        CNLLMClient(max_retries=0) as client,
        CNLLMClient(api_key="invalid-key-for-401", max_retries=0) as bad,
    ):
        for name in names or list(EXAMPLES):
            print(f"recording {name}")
            record(name, EXAMPLES[name], bad if name == "error_401" else client, recorder, secret)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
