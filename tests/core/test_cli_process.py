"""The real ``cn-llm`` console script in a subprocess, as a user runs it: serve-fake, stdin and
files, exit statuses, terminal-only output."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cn_llm_client.testing import FakeGateway
from cn_llm_client.testing.__main__ import DEFAULT_PORT

ROOT = Path(__file__).resolve().parents[2]


def entry_point() -> list[str]:
    """The installed `cn-llm` script beside this interpreter (else on PATH)."""
    script = Path(sys.executable).with_name("cn-llm")
    found = str(script) if script.exists() else shutil.which("cn-llm")
    assert found, "the cn-llm console script is not installed (pip install -e .)"
    return [found]


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISA_")}
    env.update(PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8", **extra)
    return env


def cn_llm(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*entry_point(), *args],
        input=input,
        env=env or environment(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


@contextlib.contextmanager
def serve_fake(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`cn-llm serve-fake ARGS` running; yields the process and its first three stdout lines."""
    process = subprocess.Popen(
        [*entry_point(), "serve-fake", *args],
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(3)]
        yield process, lines
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_fake_prints_the_exports_and_honours_api_key() -> None:
    with serve_fake("--port", "0", "--api-key", "mykey") as (_, lines):
        base_url, export_url, export_key = lines
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert int(base_url.split(":")[2].split("/")[0]) > 0  # --port 0 picked a free port
        assert export_url == f"export AISA_BASE_URL={base_url}"
        assert export_key == "export AISA_API_KEY=mykey"
        body = {"model": "qwen3-max", "messages": [{"role": "user", "content": "hi"}]}
        url = f"{base_url}/chat/completions"
        ok = httpx.post(url, json=body, headers={"Authorization": "Bearer mykey"})
        refused = httpx.post(url, json=body, headers={"Authorization": "Bearer test-key"})
        assert ok.status_code == 200 and refused.status_code == 401
        # The exported pair is all a client needs: the chat command against it.
        done = cn_llm(
            "chat", "--model", "qwen3-max", "--message", "hello",
            env=environment(AISA_BASE_URL=base_url, AISA_API_KEY="mykey"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "hello" in done.stdout


def test_serve_fake_on_a_busy_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cn_llm("serve-fake", "--port", str(port))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert f"port {port}" in done.stderr and "--port 0" in done.stderr
    assert done.stdout == ""


def test_serve_fake_default_port_is_no_common_servers() -> None:
    common = {8000, 8080, 8888, 11434, 1234, 3000, 4000, 5000, 7860, 8501, 8765, 9000}
    assert DEFAULT_PORT not in common
    done = cn_llm("serve-fake", "--help")
    assert done.returncode == 0 and f"default {DEFAULT_PORT}" in done.stdout


# -- the message: --message -, --file, long texts ----------------------------------------------


@pytest.fixture
def gateway_env(fake_gateway: FakeGateway) -> dict[str, str]:
    return environment(AISA_BASE_URL=fake_gateway.base_url, AISA_API_KEY=fake_gateway.api_key)


def sent_text(gateway: FakeGateway) -> str:
    return gateway.requests[-1].body["messages"][-1]["content"]


def test_message_dash_reads_standard_input(
    fake_gateway: FakeGateway, gateway_env: dict[str, str]
) -> None:
    done = cn_llm(
        "chat",
        "--model",
        "qwen3-max",
        "--message",
        "-",
        input="hello from stdin\n",
        env=gateway_env,
    )
    assert done.returncode == 0, done.stderr
    assert sent_text(fake_gateway) == "hello from stdin"
    assert "[qwen3-max] hello from stdin" in done.stdout


def test_a_300k_character_message_goes_through_file_and_stdin(
    fake_gateway: FakeGateway, gateway_env: dict[str, str], tmp_path: Path
) -> None:
    long_text = "lorem ipsum " * 25_000  # 300,000 characters: over the OS limit for one argument
    document = tmp_path / "report.txt"
    document.write_text(long_text, encoding="utf-8")
    by_file = cn_llm("chat", "--model", "qwen3-max", "--file", str(document), env=gateway_env)
    assert by_file.returncode == 0, by_file.stderr
    assert sent_text(fake_gateway) == long_text
    by_stdin = cn_llm(
        "chat", "--model", "qwen3-max", "--message", "-", input=long_text, env=gateway_env
    )
    assert by_stdin.returncode == 0, by_stdin.stderr
    assert sent_text(fake_gateway) == long_text
    # --message and --file together: the question, then the document.
    both = cn_llm(
        "compare", "--models", "qwen3-max", "--message", "Summarise:", "--file", str(document),
        env=gateway_env,
    )  # fmt: skip
    assert both.returncode == 0, both.stderr
    assert sent_text(fake_gateway) == "Summarise:\n\n" + long_text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "--message TEXT, --message - (standard input) or --file PATH"),
        (["--file", "/no/such/file.txt"], "--file /no/such/file.txt: No such file"),
    ],
    ids=["no message", "missing file"],
)
def test_a_missing_message_is_one_line_and_exit_2(
    fake_gateway: FakeGateway, gateway_env: dict[str, str], args: list[str], says: str
) -> None:
    done = cn_llm("chat", "--model", "qwen3-max", *args, env=gateway_env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr
    assert fake_gateway.requests == []


# -- waiting and progress: drawn on a terminal only ----------------------------------------------


def on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run with stderr on a pseudo-terminal (what a user sees); returns status, stdout, stderr."""
    import pty
    import select

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*entry_point(), *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=slave,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        seen += data
    os.close(master)
    assert process.stdout is not None
    out = process.stdout.read().decode("utf-8")
    return process.wait(timeout=60), out, seen.decode("utf-8", errors="replace")


def test_a_waiting_call_shows_a_spinner_with_elapsed_time_on_a_terminal_only() -> None:
    with FakeGateway(latency=1.0) as gw:
        env = environment(AISA_BASE_URL=gw.base_url, AISA_API_KEY=gw.api_key or "")
        args = ["chat", "--model", "qwen3-max", "--message", "hi"]
        status, out, terminal = on_a_terminal(args, env)
        assert status == 0 and "[qwen3-max] hi" in out
        assert "Waiting for qwen3-max" in terminal and "0:00:0" in terminal  # elapsed time
        piped = cn_llm(*args, env=env)
        assert piped.returncode == 0
        assert piped.stderr.count("\n") == 1 and "Waiting" not in piped.stderr  # the footer only


def test_compare_shows_progress_on_a_terminal_and_exits_1_when_a_model_failed() -> None:
    with FakeGateway(latency=0.5) as gw:
        env = environment(AISA_BASE_URL=gw.base_url, AISA_API_KEY=gw.api_key or "")
        args = ["compare", "--models", "qwen3-max,deepseek-v3,nope-model", "--message", "hi"]
        status, out, terminal = on_a_terminal(args, env)
        assert status == 1  # nope-model failed
        assert "[qwen3-max] hi" in out and "[deepseek-v3] hi" in out and "ERROR" in out
        assert "Asking 3 models" in terminal
        piped = cn_llm(*args, env=env)
        assert piped.returncode == 1 and piped.stderr == ""
        models = [line.split()[0] for line in piped.stdout.splitlines()[2:]]
        assert models == ["qwen3-max", "deepseek-v3", "nope-model"]  # the same table


# -- models --remote, demo without network ---------------------------------------------------------


def test_models_remote_lists_the_servers_models_beside_the_catalog() -> None:
    with FakeGateway(mode="deepseek", models=["deepseek-v4-preview"]) as gw:
        env = environment(AISA_BASE_URL=gw.base_url, AISA_API_KEY=gw.api_key or "")
        env["DEEPSEEK_API_KEY"] = gw.api_key or ""
        common = ["--provider", "deepseek", "--base-url", gw.base_url, "models", "--remote"]
        done = cn_llm(*common, env=env)
        assert done.returncode == 0, done.stderr
        rows = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[2:]}
        assert rows["deepseek-chat"][:2] == ["yes", "catalog"]
        assert rows["deepseek-v4-preview"][:2] == ["yes", "server"]
        listing = json.loads(cn_llm(*common, "--json", env=env).stdout)
        assert {"id": "deepseek-reasoner", "served": True} in listing["catalog"]
        assert listing["not_in_catalog"] == ["deepseek-v4-preview"]
        assert gw.requests[-1].method == "GET" and gw.requests[-1].path == "/v1/models"


def test_demo_with_a_key_but_no_network_says_how_to_run_offline() -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = environment(
        AISA_API_KEY="sk-real-looking-key", AISA_BASE_URL=f"http://127.0.0.1:{port}/v1"
    )
    done = cn_llm("demo", env=env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "cn-llm demo --offline" in done.stderr and "sk-real-looking-key" not in done.stderr
    offline = cn_llm("demo", "--offline", env=env)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout.startswith("--offline: running against the offline gateway")
    assert "[tool call] get_weather(" in offline.stdout


def test_embedding_many_texts_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(f"第{i}段文字" for i in range(25)), encoding="utf-8")
    with FakeGateway(mode="dashscope", latency=0.2) as gw:
        env = environment(DASHSCOPE_API_KEY=gw.api_key or "")
        args = ["--provider", "dashscope", "--base-url", gw.base_url, "embed"]
        args += ["--model", "text-embedding-v4", "--file", str(texts)]
        status, out, terminal = on_a_terminal(args, env)
        assert status == 0 and out.count("\n") == 27  # header, rule, 25 rows
        assert "Embedding 25 texts" in terminal  # 10 rows a request: three requests
        piped = cn_llm(*args, env=env)
        assert piped.returncode == 0 and piped.stderr.count("\n") == 1  # the usage line only
