"""cn_llm_client.types: the response shapes for editors and mypy, with no run-time cost."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import cn_llm_client.types as types
from cn_llm_client.testing import FakeGateway

ROOT = Path(__file__).resolve().parents[2]

USES = """
from cn_llm_client import AsyncCNLLMClient, CNLLMClient


def sync_uses(client: CNLLMClient) -> str | None:
    response = client.chat("qwen3-max", [{"role": "user", "content": "hi"}])
    reveal_type(response["choices"][0]["message"])
    with client.stream("qwen3-max", []) as stream:
        for chunk in stream:
            reveal_type(chunk)
        reveal_type(stream.completion()["usage"]["cost"])
    reveal_type(client.embed("text-embedding-v4", "hi")["data"][0]["embedding"])
    reveal_type(client.rerank("qwen3-rerank", "q", ["d"])["results"][0]["relevance_score"])
    return response["choises"][0]["message"]["content"]  # misspelt: mypy must say so


async def async_uses(client: AsyncCNLLMClient) -> None:
    response = await client.route("code", "hi")
    reveal_type(response["choices"][0]["finish_reason"])
"""


def test_mypy_completes_and_checks_the_response_keys(tmp_path: Path) -> None:
    from mypy import api

    module = tmp_path / "uses.py"
    module.write_text(textwrap.dedent(USES), encoding="utf-8")
    out, _, _ = api.run(
        [str(module), "--cache-dir", str(tmp_path / ".mypy_cache"), "--no-error-summary",
         "--python-version", "3.10", "--follow-imports", "silent"]
    )  # fmt: skip
    revealed = [
        line.split("Revealed type is ", 1)[1] for line in out.splitlines() if "Revealed" in line
    ]
    assert revealed[0].startswith("\"TypedDict(cn_llm_client.types.Message, {'role'")
    assert "cn_llm_client.types.ChatCompletionChunk" in revealed[1]
    # stream() may be a web-search stream (plain dicts), hence "| Any" on the fold's cost
    assert revealed[2:] == [
        '"float | Any"',
        '"list[float]"',
        '"float"',
        '"str | None"',
    ], out
    errors = [line for line in out.splitlines() if ": error:" in line]
    assert len(errors) == 1 and 'has no key "choises"' in errors[0], out


def test_types_cost_nothing_at_run_time() -> None:
    tree = ast.parse((ROOT / "cn_llm_client" / "types.py").read_text(encoding="utf-8"))
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported <= {"__future__", "typing"}
    with FakeGateway() as gw:
        from cn_llm_client import CNLLMClient

        with CNLLMClient(api_key=gw.api_key, base_url=gw.base_url) as client:
            response = client.chat("qwen3-max", [{"role": "user", "content": "hi"}])
    assert type(response) is dict  # a plain dict: the TypedDicts only describe it
    assert set(types.ChatCompletion.__required_keys__) <= set(response)
    assert set(response["choices"][0]["message"]) <= set(types.Message.__annotations__)
