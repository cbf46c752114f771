"""The READMEs tell the truth: their snippets run, their model table is the catalog's, and the
English and Chinese versions have the same structure and the same code.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cn_llm_client.catalog import model_table_markdown
from cn_llm_client.providers import provider_names
from cn_llm_client.testing import FakeGateway

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_ZH = ROOT / "README.zh-CN.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
# Keys for the provider presets the Providers snippet builds (no request is sent to them).
PLACEHOLDER_KEYS = {"DEEPSEEK_API_KEY": "sk-placeholder-deepseek"}


def code_blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text("utf-8")) if lang == language]


def headings(path: Path) -> list[str]:
    return re.findall(r"^## .*$", path.read_text("utf-8"), re.MULTILINE)


def section(path: Path, title: str) -> str:
    text = path.read_text("utf-8")
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def code_shape(source: str) -> str:
    """The code with every string constant blanked: translations may differ, code may not."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
    return ast.dump(tree)


@pytest.fixture(scope="module")
def gateway() -> Iterator[FakeGateway]:
    with FakeGateway() as gw:
        yield gw


def run_with_gateway(
    args: list[str], gw: FakeGateway, cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run `args` as a user would, with the environment pointing at the offline gateway."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISA_")}
    env.update(PLACEHOLDER_KEYS, AISA_API_KEY=gw.api_key or "", AISA_BASE_URL=gw.base_url)
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=120
    )


@pytest.mark.parametrize("readme", [README, README_ZH], ids=["en", "zh"])
def test_model_table_is_generated_from_the_catalog(readme: Path) -> None:
    text = readme.read_text("utf-8")
    table = text.split("<!-- models:start -->\n", 1)[1].split("<!-- models:end -->", 1)[0]
    assert table == model_table_markdown(), "run: python scripts/update_readme.py"


def test_update_script_check_passes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "update_readme.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_setup_and_test_commands_are_the_ones_ci_runs() -> None:
    bash = code_blocks(README, "bash")
    main_job, tests = bash[0].strip(), bash[1].strip()
    # The main job installs only what the demo needs; the test command adds the test extra.
    assert main_job == 'pip install -e ".[all]" && cn-llm demo'
    assert tests == 'pip install -e ".[all,test]" && pytest'
    ci_lines = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    assert tests in ci_lines  # CI runs the README's test command exactly


def test_the_main_job_needs_no_test_extra() -> None:
    """Everything the demo and the CLI import comes with `.[all]`: the core dependencies and
    the two framework extras, never a package that only the `test` extra brings."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    main = " ".join(project["dependencies"] + project["optional-dependencies"]["langchain"])
    main += " " + " ".join(project["optional-dependencies"]["llama-index"])
    for needed in ("httpx", "orjson", "aiohttp", "rich", "langchain-core", "llama-index-core"):
        assert needed in main, needed
    probe = (
        "import sys, cn_llm_client.cli as cli, cn_llm_client.testing.gateway;"
        "cli.build_parser();"
        "import langchain_cn_llm, llama_index_cn_llm;"
        "langchain_cn_llm.ChatCNLLM; llama_index_cn_llm.CNLLM;"
        "extra = {'pytest', 'ray', 'hypothesis', 'vcr', 'langgraph', 'mypy', 'ruff', 'syrupy'};"
        "print(sorted(m for m in extra if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("readme", [README, README_ZH], ids=["en", "zh"])
def test_the_offline_section_names_every_emulator_mode(readme: Path) -> None:
    from cn_llm_client.testing._modes import MODES

    title = headings(readme)[headings(README).index("## Test your own code offline")][3:]
    offline = section(readme, title)
    assert "cn-llm serve-fake" in offline and "fake_gateway" in offline
    for mode in MODES[1:]:  # aisa is the default
        assert mode in offline, mode


def test_both_readmes_have_the_same_structure() -> None:
    assert len(headings(README)) == len(headings(README_ZH))
    assert code_blocks(README, "bash") == code_blocks(README_ZH, "bash")
    en, zh = code_blocks(README, "python"), code_blocks(README_ZH, "python")
    assert [code_shape(s) for s in en] == [code_shape(s) for s in zh]
    for marker in ("models:start", "models:end", "bench:start", "bench:end"):
        assert marker in README_ZH.read_text("utf-8")


@pytest.mark.parametrize("readme", [README, README_ZH], ids=["en", "zh"])
def test_every_provider_is_documented(readme: Path) -> None:
    # The Chinese README has the same sections in the same order.
    title = headings(readme)[headings(README).index("## Providers")][3:]
    providers = section(readme, title)
    for name in provider_names():
        assert f"`{name}`" in providers, name


@pytest.mark.parametrize("index", range(len(code_blocks(README, "python"))))
@pytest.mark.parametrize("readme", [README, README_ZH], ids=["en", "zh"])
def test_python_snippet_runs_against_the_offline_gateway(
    readme: Path, index: int, gateway: FakeGateway, tmp_path: Path
) -> None:
    source = code_blocks(readme, "python")[index]
    if re.search(r"^def test_\w+\(", source, re.MULTILINE):  # a pytest file: run it with pytest
        (tmp_path / "test_snippet.py").write_text(source, "utf-8")
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "test_snippet.py",
        ]
        result = run_with_gateway(command, gateway, tmp_path)
        assert result.returncode == 0, f"snippet {index}:\n{source}\n{result.stdout}"
        assert "1 passed" in result.stdout
        return
    result = run_with_gateway([sys.executable, "-c", source], gateway, tmp_path)
    assert result.returncode == 0, f"snippet {index}:\n{source}\n{result.stderr}"
    if "use_cassette" in source:  # the vcrpy recipe really records
        assert list(tmp_path.rglob("*.yaml")), "no cassette written"
    # Anything a snippet wrote (a vcrpy cassette, say) holds no key.
    key = gateway.api_key
    assert key
    for written in tmp_path.rglob("*"):
        if written.is_file():
            assert key not in written.read_text("utf-8", errors="replace")


def cli_lines() -> list[str]:
    lines = [line for block in code_blocks(README, "bash") for line in block.splitlines()]
    # The demo is the main job (tested by the core); serve-fake runs until stopped.
    return [
        ln
        for ln in lines
        if ln.startswith("cn-llm ") and ln.split()[1] not in ("demo", "serve-fake")
    ]


@pytest.mark.parametrize("line", cli_lines())
def test_cli_line_runs_against_the_offline_gateway(line: str, gateway: FakeGateway) -> None:
    args = [sys.executable, "-m", "cn_llm_client", *shlex.split(line)[1:]]
    result = run_with_gateway(args, gateway, ROOT)
    assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip()
