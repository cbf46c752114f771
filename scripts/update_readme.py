"""Regenerate the model table in README.md and README.zh-CN.md from the catalog.

    python scripts/update_readme.py           # rewrite the tables in place
    python scripts/update_readme.py --check   # exit 1 if a table is out of date (CI, tests)

The table sits between ``<!-- models:start -->`` and ``<!-- models:end -->``; everything else in
the files is left as it is. The rows come from ``cn_llm_client.catalog.model_table_markdown()``,
so adding a model to ``models.json`` and running this script is all a README update needs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cn_llm_client.catalog import model_table_markdown, retrieval_table_markdown

ROOT = Path(__file__).resolve().parent.parent
READMES = (ROOT / "README.md", ROOT / "README.zh-CN.md")
# block name -> the table between <!-- name:start --> and <!-- name:end -->
TABLES = {"models": model_table_markdown, "retrieval-models": retrieval_table_markdown}


def with_model_table(text: str) -> str:
    """`text` with each generated block replaced by the current catalog table."""
    for name, table in TABLES.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        block = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        if len(block.findall(text)) != 1:
            raise ValueError(f"expected exactly one {start} ... {end} block")
        replacement = f"{start}\n{table()}{end}"
        text = block.sub(lambda _, r=replacement: r, text)
    return text


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path in READMES:
        text = path.read_text(encoding="utf-8")
        updated = with_model_table(text)
        if updated != text:
            stale.append(path.name)
            if not check:
                path.write_text(updated, encoding="utf-8")
    if check and stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/update_readme.py")
        return 1
    print(("checked: " if check else "updated: ") + ", ".join(p.name for p in READMES))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
