"""`cn-llm batch submit | status | results | cancel` against the emulator (DashScope mode)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cn_llm_client import _batch_cli, cli
from cn_llm_client.testing import FakeGateway


@pytest.fixture
def gw(batch_gateway: FakeGateway) -> FakeGateway:
    return batch_gateway


def run(gw: FakeGateway, *argv: str, provider: str = "dashscope") -> int:
    connection = ["--base-url", gw.base_url, "--api-key", gw.api_key or "", "--provider", provider]
    return cli.main([*connection, "batch", *argv])


def _prompts(tmp_path: Path) -> Path:
    path = tmp_path / "titles.txt"
    path.write_text("第一条新闻\n\n第二条新闻\n第三条新闻\n", encoding="utf-8")
    return path


def test_submit_prompts_wait_and_results(
    gw: FakeGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = _prompts(tmp_path)
    state = f"{prompts}.batch.json"
    assert run(gw, "submit", "--prompts", str(prompts), "--model", "qwen-plus", "--wait",
               "--poll-interval", "0.01") == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "1 job(s) for 3 requests: batch_" in out and f"state file: {state}" in out
    assert "estimated saving against synchronous calls: at least $" in out
    assert "finished: 3 completed, 0 failed, 3 requests" in out
    assert "3 answered, 0 failed" in out and "saved against synchronous calls" in out
    output = tmp_path / "out.jsonl"
    assert run(gw, "results", "--state", state, "--output", str(output)) == 0
    rows = [json.loads(line) for line in output.read_text("utf-8").splitlines()]
    assert [r["custom_id"] for r in rows] == ["0", "1", "2"]
    content = rows[1]["response"]["choices"][0]["message"]["content"]
    assert content == "[qwen-plus] 收到：第二条新闻" and rows[1]["cost"] > 0
    # Submitting the same input again resumes the job: still one POST /batches.
    assert run(gw, "submit", "--prompts", str(prompts), "--model", "qwen-plus") == 0
    assert sum(1 for r in gw.requests if r.method == "POST" and r.path == "/v1/batches") == 1


def test_submit_a_jsonl_file_then_status_and_cancel(
    gw: FakeGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gw.batches.phase_seconds = 5
    lines = tmp_path / "requests.jsonl"
    body = {"model": "qwen-plus", "messages": [{"role": "user", "content": "hi"}]}
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": body}
    lines.write_text(json.dumps(line) + "\n", encoding="utf-8")
    assert run(gw, "submit", str(lines)) == 0
    state = f"{lines}.batch.json"
    capsys.readouterr()
    assert run(gw, "status", "--state", state) == 0
    status = capsys.readouterr().out
    assert ": validating (0 completed, 0 failed of 1)" in status and "running:" in status
    assert run(gw, "cancel", "--state", state) == 0
    assert ": cancelling" in capsys.readouterr().out
    assert run(gw, "results", "--state", state) == 2
    assert "still running" in capsys.readouterr().err


def test_usage_errors_exit_2(
    gw: FakeGateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = _prompts(tmp_path)
    assert run(gw, "submit", "--prompts", str(prompts)) == 2
    assert "--prompts needs --model" in capsys.readouterr().err
    assert run(gw, "submit") == 2
    assert run(gw, "submit", "--prompts", str(prompts), "--model", "deepseek-chat",
               provider="deepseek") == 2  # fmt: skip
    assert "no Batch API; providers with one: dashscope" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n", encoding="utf-8")
    assert run(gw, "submit", str(bad)) == 2
    assert "bad.jsonl:1 is not JSON" in capsys.readouterr().err
    assert run(gw) == 2
    assert gw.requests == []


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    with _batch_cli._progress_bar(False) as update:
        assert update is None
    seen: list[tuple] = []

    class Recorder:
        def __init__(self, *columns: object, **options: object) -> None:
            pass

        def __enter__(self) -> Recorder:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def add_task(self, *args: object, **fields: object) -> int:
            return 7

        def update(self, task: int, **fields: object) -> None:
            seen.append((task, fields))

    import rich.progress

    monkeypatch.setattr(rich.progress, "Progress", Recorder)
    with _batch_cli._progress_bar(True) as update:
        assert update is not None
        update({"total": 10, "completed": 4, "failed": 1}, [])
    assert seen == [(7, {"total": 10, "completed": 5, "failed": 1})]
