"""The real ``cn-llm`` console script in a subprocess, as a user runs it: serve-fake, stdin and
files, exit statuses, terminal-only output."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

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
