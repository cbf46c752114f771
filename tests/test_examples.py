"""Every example runs against the offline gateway, so none can rot.

Each script runs as a user would (`python examples/NAME.py`) in a subprocess whose environment has
no AISA_API_KEY, and must say so in its first line, exit 0 and print its own result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# example -> text its output must contain (beyond the "offline gateway" first line).
EXPECTED = {
    "chinese_content.py": "文案:",
    "code_generation.py": "qwen3-coder-plus:",
    "reasoning.py": "characters of thinking",
    "vision.py": "image: red_circle.png",
    "translation.py": "English:",
    "long_document.py": "files uploaded: 3 for 3 chapters, two questions",
    "compare_models.py": "deepseek-r1",
    "task_routing.py": "qwen3-coder-flash",
    "cost_budget.py": "stopped: Budget spent",
    "langchain_lcel_stream.py": "streamed",
    # The right passage first: retrieval and reranking are real against the emulator.
    "langchain_rag.py": "best passage: [tea.txt] 乌龙茶属于半发酵茶",
    "langchain_agent.py": "tool result:",
    "llamaindex_rag.py": "best passage: [panda.txt] 虽然大熊猫属于食肉目",
    "llamaindex_agent.py": "tool call:",
    "llamaindex_multimodal.py": "qwen3-vl-plus:",
    "ray_batch.py": "rows classified by",
    "web_search.py": "kimi searches: 1, search tokens:",
    "batch_jobs.py": "saved $",
    "video_input.py": "refused before sending: qwen-plus does not take video",
    "context_cache.py": "dashscope: cache_creation=0, cache_read=",
    "code_completion.py": "llamaindex fim:",
}


def run_example(name: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    unset = ("AISA_API_KEY", "AISA_BASE_URL", "DASHSCOPE_API_KEY", "MOONSHOT_API_KEY")
    unset += ("FORCE_COLOR", "TTY_COMPATIBLE")  # rich: piped output must stay plain
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(PYTHONIOENCODING="utf-8", **extra_env)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        env=env,
        cwd=EXAMPLES.parent,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


def test_every_example_is_tested() -> None:
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_offline(name: str) -> None:
    result = run_example(name)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    first_line = result.stdout.splitlines()[0]
    assert "offline gateway" in first_line
    assert EXPECTED[name] in result.stdout, result.stdout
    assert "Unclosed" not in result.stderr, f"{name} leaks connections:\n{result.stderr}"
    assert "\x1b[" not in result.stdout, f"{name} writes ANSI codes into a pipe"


def test_reasoning_example_dims_the_thinking_only_on_a_terminal() -> None:
    # FORCE_COLOR makes rich treat the pipe as a terminal; without it (above) the text is plain.
    result = run_example("reasoning.py", FORCE_COLOR="1")
    assert result.returncode == 0, result.stderr
    assert "\x1b[2m" in result.stdout and "characters of thinking" in result.stdout


def test_gateway_helper_uses_the_real_gateway_when_a_key_is_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AISA_API_KEY", "sk-example-not-real")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from _gateway import gateway

    with gateway() as settings:
        # Empty: the clients read AISA_API_KEY / AISA_BASE_URL themselves; no emulator started.
        assert settings == {}
    assert capsys.readouterr().out.startswith("Using the real AIsa gateway")
