"""The ``cn-llm`` command: the seed's CLI lines against the offline gateway, errors, help, demo."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cn_llm_client.cli import ReasoningPrinter, _tiny_png, main
from cn_llm_client.testing import FakeGateway


@pytest.fixture
def gateway(fake_gateway: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> FakeGateway:
    """Only the base URL differs from the seed's set-up."""
    monkeypatch.setenv("AISA_API_KEY", fake_gateway.api_key)
    monkeypatch.setenv("AISA_BASE_URL", fake_gateway.base_url)
    return fake_gateway


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


SEED_LINES = [
    (["chat", "--model", "qwen3-max", "--message", "Hello, please introduce yourself"], "[qwen3-max] Hello, please introduce yourself"),
    (["chat", "--model", "qwen3-coder-plus", "--message", "Write a binary search algorithm"], "[qwen3-coder-plus] Write a binary search algorithm"),
    (["chat", "--model", "deepseek-r1", "--message", "Which is larger, 9.9 or 9.11? Please reason in detail"], "[reasoning] "),
    (["chat", "--model", "deepseek-v3", "--message", "Tell a story", "--stream"], "[deepseek-v3] Tell a story"),
    (["chat", "--model", "qwen3-max", "--system", "You are a classical poetry expert", "--message", "Write a poem about plum blossoms"], "[qwen3-max] Write a poem about plum blossoms"),
    (["compare", "--models", "qwen3-max,deepseek-v3", "--message", "What is quantum computing?"], "[deepseek-v3] What is quantum computing?"),
    (["models"], "deepseek-v3.1"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "expected"), SEED_LINES, ids=lambda v: " ".join(v)[:40])
def test_seed_cli_lines(gateway: FakeGateway, capsys: Any, argv: list[str], expected: str) -> None:
    status, out, err = run(capsys, *argv)
    assert status == 0, err
    assert expected in out


def test_system_prompt_is_sent(gateway: FakeGateway, capsys: Any) -> None:
    run(capsys, "chat", "--model", "qwen3-max", "--system", "Be brief", "--message", "hi")
    body = gateway.requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Be brief"}


def test_reasoning_shown_apart_and_hidden_on_request(gateway: FakeGateway, capsys: Any) -> None:
    for extra in ([], ["--stream"]):
        _, out, err = run(
            capsys, "chat", "--model", "deepseek-r1", "--message", "9.9 or 9.11?", *extra
        )
        lines = out.splitlines()
        reasoning = [i for i, line in enumerate(lines) if line.startswith("[reasoning] ")]
        answer = lines.index("[deepseek-r1] 9.9 or 9.11?")
        assert reasoning and max(reasoning) < answer
        assert "deepseek-r1 ·" in err and "$" in err  # the usage footer goes to stderr
        _, out, _ = run(
            capsys, "chat", "--model", "deepseek-r1", "--message", "x", "--no-reasoning", *extra
        )
        assert "[reasoning]" not in out and "[deepseek-r1] x" in out


def test_reasoning_dimmed_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    out = Terminal()
    printer = ReasoningPrinter(out)
    printer.write("thinking")
    printer.end()
    assert out.getvalue().startswith("\x1b[2mthinking\x1b[0m")


def test_chat_json(gateway: FakeGateway, capsys: Any) -> None:
    status, out, _ = run(capsys, "chat", "--model", "qwen3-max", "--message", "hi", "--json")
    data = json.loads(out)
    assert status == 0 and data["usage"]["cost"] > 0 and data["request_id"]


def test_chat_stream_json_lines(gateway: FakeGateway, capsys: Any) -> None:
    _, out, _ = run(capsys, "chat", "--model", "qwen3-max", "--message", "hi", "--stream", "--json")
    chunks = [json.loads(line) for line in out.splitlines()]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]


def test_chat_with_image_file(gateway: FakeGateway, capsys: Any, tmp_path: Path) -> None:
    image = tmp_path / "red.png"
    image.write_bytes(_tiny_png())
    status, _, err = run(
        capsys, "chat", "--model", "qwen3-vl-plus", "--message", "colour?", "--image", str(image)
    )
    assert status == 0, err
    part = gateway.requests[-1].body["messages"][0]["content"][1]
    assert part["image_url"]["url"].startswith("data:image/png;base64,")


def test_sampling_options_are_sent(gateway: FakeGateway, capsys: Any) -> None:
    run(
        capsys,
        "chat",
        "--model",
        "qwen3-max",
        "--message",
        "hi",
        "--temperature",
        "0.2",
        "--max-tokens",
        "50",
    )
    body = gateway.requests[-1].body
    assert body["temperature"] == 0.2 and body["max_tokens"] == 50


def test_compare_table_and_progress(gateway: FakeGateway, capsys: Any) -> None:
    status, out, err = run(
        capsys, "compare", "--models", "qwen3-max, nope-model", "--message", "hi"
    )
    assert status == 1  # one model failed: exit 1, and the table still shows the other
    header, rule, *rows = out.splitlines()
    assert header.split() == ["model", "latency", "tokens", "cost", "answer"]
    assert rows[0].startswith("qwen3-max") and "$" in rows[0] and "[qwen3-max] hi" in rows[0]
    assert rows[1].startswith("nope-model") and "ERROR: HTTP 404" in rows[1]
    assert err == ""  # progress is drawn only on a terminal


def test_compare_all_failing_exits_1(gateway: FakeGateway, capsys: Any) -> None:
    status, _, _ = run(capsys, "compare", "--models", "nope-a,nope-b", "--message", "hi")
    assert status == 1


def test_models_json_and_provider_filter(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISA_API_KEY", raising=False)  # listing needs no key
    status, out, _ = run(capsys, "models", "--json", "--provider", "dashscope")
    models = json.loads(out)
    assert status == 0 and models and {m["provider"] for m in models} == {"dashscope"}
    assert {"input_price", "output_price", "vision", "reasoning"} <= set(models[0])


def test_missing_key_says_how_to_set_it(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    monkeypatch.delenv("AISA_BASE_URL", raising=False)
    status, out, err = run(capsys, "chat", "--model", "qwen3-max", "--message", "hi")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "export AISA_API_KEY=" in err and "Traceback" not in err


def test_api_error_is_one_line_exit_1(gateway: FakeGateway, capsys: Any) -> None:
    status, _, err = run(capsys, "chat", "--model", "qwen3-maxx", "--message", "hi")
    assert status == 1
    assert err.startswith("cn-llm: error: HTTP 404") and err.count("\n") == 1
    assert "qwen3-max" in err  # did you mean


def test_bad_request_option_exits_2(gateway: FakeGateway, capsys: Any) -> None:
    status, _, err = run(
        capsys, "chat", "--model", "qwen3-max", "--message", "hi", "--temperature", "5"
    )
    assert status == 2 and "temperature" in err
    assert gateway.requests == []


def test_key_never_echoed(gateway: FakeGateway, capsys: Any) -> None:
    secret = "sk-never-print-me-12345"
    _, out, err = run(
        capsys, "--api-key", secret, "chat", "--model", "qwen3-max", "--message", "hi"
    )
    assert secret not in out + err  # the gateway rejects it: 401 in one line
    assert "401" in err


def test_connection_options_after_subcommand(
    fake_gateway: FakeGateway, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AISA_API_KEY", raising=False)
    monkeypatch.setenv("AISA_BASE_URL", "https://unused.example/v1")
    status, out, err = run(
        capsys, "chat", "--model", "qwen3-max", "--message", "hi",
        "--base-url", fake_gateway.base_url, "--api-key", fake_gateway.api_key,
    )  # fmt: skip
    assert status == 0, err
    assert "[qwen3-max] hi" in out


def test_invalid_base_url_exits_2(capsys: Any) -> None:
    status, _, err = run(
        capsys, "--base-url", "localhost:8000", "chat", "--model", "m", "--message", "x"
    )
    assert status == 2 and "Invalid base_url" in err


@pytest.mark.parametrize("command", ["chat", "compare", "models", "demo", "serve-fake"])
def test_every_help_has_an_example(command: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "example:\n  cn-llm " in capsys.readouterr().out


def test_usage_error_exits_2(capsys: Any) -> None:
    with pytest.raises(SystemExit) as info:
        main(["chat", "--message", "hi"])  # no --model
    assert info.value.code == 2
    assert main(["chat", "--model", "qwen3-max"]) == 2  # no message (--message, -, --file)
    assert "--message TEXT" in capsys.readouterr().err


def test_demo_offline(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AISA_API_KEY", "AISA_BASE_URL", "DASHSCOPE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    status, out, err = run(capsys, "demo")
    assert status == 0, err
    assert "EMULATED" in out.splitlines()[1]
    for section in (
        "Chat",
        "Streaming",
        "Reasoning",
        "Tool call",
        "Vision",
        "Compare",
        "LangChain",
        "LlamaIndex",
        "Retrieval",
    ):
        assert f"== {section}" in out
    assert "[reasoning] " in out and "[tool call] get_weather(" in out
    # The retrieval step finds the passage that answers, by embedding and by reranking.
    assert "nearest by embedding: 乌龙茶属于半发酵茶" in out
    assert "reranked first: 乌龙茶属于半发酵茶" in out


def test_python_dash_m_and_fast_import() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cn_llm_client", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout.startswith("cn-llm ")
    probe = "import sys, cn_llm_client; print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'aiohttp', 'orjson') or m.startswith('cn_llm_client.')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]"
