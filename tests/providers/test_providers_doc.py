"""docs/providers.md: the generated table is current and the offline example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from cn_llm_client.providers import get_provider, provider_names

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "providers.md"
SCRIPT = ROOT / "scripts" / "update_providers_doc.py"


def _table_rows(name: str = "providers") -> dict[str, list[str]]:
    block = DOC.read_text(encoding="utf-8").split(f"<!-- {name}:start -->")[1]
    block = block.split(f"<!-- {name}:end -->")[0]
    rows = [line for line in block.splitlines() if line.startswith("| `")]
    return {row.split("`")[1]: [c.strip() for c in row.strip("|").split(" | ")] for row in rows}


def test_table_is_generated_from_providers_json() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_preset_has_a_row_with_its_url_key_and_switch() -> None:
    rows = _table_rows()
    assert list(rows) == provider_names()
    for name, cells in rows.items():
        preset = get_provider(name)
        assert (preset.base_url or "base_url=") in cells[1]
        assert all(url in cells[1] for url in preset.regions.values())
        assert (preset.api_key_env or "optional") in cells[2]
    assert '`thinking: {"type": "enabled"}`' in rows["zhipu"][3]
    assert "`auto` only" in rows["zhipu"][4]
    assert "`json_object` only" in rows["deepseek"][5]
    assert "folded" in rows["dashscope"][6]


def test_offline_example_runs() -> None:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Testing against a provider offline")[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert code is not None
    exec(compile(code.group(1), str(DOC), "exec"), {})  # asserts the zhipu spelling itself


def _feature_column(title: str) -> int:
    block = DOC.read_text(encoding="utf-8").split("<!-- features:start -->\n")[1]
    header = [c.strip() for c in block.splitlines()[0].strip("|").split(" | ")]
    return header.index(title)


def test_feature_table_has_every_preset_and_its_web_search() -> None:
    rows = _table_rows("features")
    assert list(rows) == provider_names()
    for name, cells in rows.items():
        has_search = get_provider(name).web_search is not None
        assert (cells[1] != "—") == has_search, name
    assert "`enable_search`" in rows["dashscope"][1]
    assert "`$web_search`" in rows["moonshot"][1]
    assert "`qwen3-vl-plus`" in rows["dashscope"][2] and rows["deepseek"][2] == "—"
    docs = _feature_column("Long documents by file")
    assert "`qwen-long`" in rows["dashscope"][docs] and "`fileid://`" in rows["dashscope"][docs]
    assert "extracted text" in rows["moonshot"][docs] and rows["aisa"][docs] == "—"


def test_feature_table_says_who_caches_where() -> None:
    rows = _table_rows("features")
    read, markers = _column("cached tokens"), _column("`cache_control`")
    assert rows["deepseek"][read] == "`usage.prompt_cache_hit_tokens`"
    assert rows["moonshot"][read] == "`usage.cached_tokens`"
    assert rows["dashscope"][read] == "`usage.prompt_tokens_details.cached_tokens`"
    assert rows["dashscope"][markers].startswith("passed through")
    assert rows["deepseek"][markers] == "—"


def test_feature_table_says_who_fills_in_the_middle_and_continues_a_prefix() -> None:
    rows = _table_rows("features")
    fim, prefix = _column("FIM"), _column("`assistant_prefix=`")
    assert rows["deepseek"][fim] == "`/beta/completions`, max_tokens ≤ 4096"
    assert [name for name, cells in rows.items() if cells[fim] != "—"] == ["deepseek"]
    assert "`prefix: true`, on `/beta`" in rows["deepseek"][prefix]
    assert "`partial: true`" in rows["moonshot"][prefix]
    assert "non-thinking" in rows["dashscope"][prefix]
    assert rows["zhipu"][prefix] == rows["aisa"][prefix] == "—"


def _column(title_start: str) -> int:
    """The index of the feature table's column whose title starts with `title_start`."""
    text = DOC.read_text(encoding="utf-8")
    header = text.split("<!-- features:start -->\n")[1].splitlines()[0]
    titles = [c.strip() for c in header.strip("|").split(" | ")]
    return next(i for i, title in enumerate(titles) if title.startswith(title_start))
