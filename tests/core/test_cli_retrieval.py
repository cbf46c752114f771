"""``cn-llm embed`` and ``cn-llm rerank`` against the emulator, through the real entry points."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cn_llm_client.cli import main
from cn_llm_client.testing import FakeGateway

SECRET = "sk-cli-retrieval-secret-42"


@pytest.fixture
def dashscope(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGateway]:
    with FakeGateway(mode="dashscope", api_key=SECRET) as gw:
        monkeypatch.setenv("DASHSCOPE_API_KEY", SECRET)
        yield gw


def run(capsys: Any, gw: FakeGateway, *argv: str) -> tuple[int, str, str]:
    status = main(["--provider", gw.mode, "--base-url", gw.base_url, *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_embed_prints_a_table_and_the_usage(dashscope: FakeGateway, capsys: Any) -> None:
    status, out, err = run(
        capsys,
        dashscope,
        "embed",
        "--model",
        "text-embedding-v4",
        "--text",
        "你好",
        "--text",
        "世界",
        "--dimensions",
        "256",
    )
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["#", "dims", "vector", "text"]
    assert lines[2].split()[:2] == ["0", "256"] and lines[2].endswith("你好")
    assert lines[3].split()[:2] == ["1", "256"] and lines[3].endswith("世界")
    assert "text-embedding-v4 · 4 tokens · $" in err
    assert dashscope.requests[0].body["dimensions"] == 256


def test_embed_json_from_a_file_in_batches(
    dashscope: FakeGateway, capsys: Any, tmp_path: Path
) -> None:
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(f"第{i}句" for i in range(23)) + "\n\n", encoding="utf-8")
    status, out, err = run(
        capsys, dashscope, "embed", "--model", "text-embedding-v4", "--file", str(source), "--json"
    )
    assert status == 0, err
    result = json.loads(out)
    assert [row["index"] for row in result["data"]] == list(range(23))
    assert sorted(len(r.body["input"]) for r in dashscope.requests) == [3, 10, 10]


def test_rerank_table_puts_the_best_document_first(dashscope: FakeGateway, capsys: Any) -> None:
    docs = ["长城在北京附近。", "大熊猫吃竹子。", "上海是港口城市。"]
    argv = ["rerank", "--model", "qwen3-rerank", "--query", "熊猫吃什么？", "--top-n", "2"]
    status, out, err = run(capsys, dashscope, *argv, *(x for d in docs for x in ("--doc", d)))
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["rank", "#", "score", "document"]
    assert lines[2].split()[:2] == ["1", "1"] and lines[2].endswith("大熊猫吃竹子。")
    assert len(lines) == 4  # header, rule, two rows


def test_bad_input_is_a_usage_error_and_sends_nothing(dashscope: FakeGateway, capsys: Any) -> None:
    status, _, err = run(capsys, dashscope, "embed", "--model", "text-embedding-v4")
    assert status == 2 and "give --text" in err
    status, _, err = run(
        capsys,
        dashscope,
        "embed",
        "--model",
        "text-embedding-v4",
        "--text",
        "x",
        "--dimensions",
        "7",
    )
    assert status == 2 and "accepts dimensions" in err
    status, _, err = run(
        capsys, dashscope, "rerank", "--model", "qwen3-rerank", "--query", "q", "--doc", "a",
        "--top-n", "0",
    )  # fmt: skip
    assert status == 2 and "top_n" in err
    assert dashscope.requests == []


def test_the_aisa_default_names_the_providers(
    fake_gateway: FakeGateway, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISA_API_KEY", str(fake_gateway.api_key))
    monkeypatch.setenv("AISA_BASE_URL", fake_gateway.base_url)
    status = main(["embed", "--model", "text-embedding-v4", "--text", "你好"])
    _, err = capsys.readouterr()
    assert status == 2 and "provider='dashscope'" in err
    assert fake_gateway.requests == []


def test_the_console_entry_point(dashscope: FakeGateway) -> None:
    argv = [sys.executable, "-m", "cn_llm_client", "--provider", "dashscope"]
    argv += ["--base-url", dashscope.base_url, "rerank", "--model", "gte-rerank-v2"]
    argv += ["--query", "熊猫", "--doc", "熊猫吃竹子", "--doc", "长城", "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["results"][0]["document"] == "熊猫吃竹子"
    assert SECRET not in done.stdout + done.stderr
