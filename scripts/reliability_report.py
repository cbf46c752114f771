"""Turn reliability test runs into docs/reliability.md: scenarios tried, passed, requests seen.

    CN_LLM_RELIABILITY_JSON=/tmp/rel.json pytest tests/reliability
    CN_LLM_RELIABILITY_JSON=/tmp/rel-load.json pytest -m load tests/reliability
    python scripts/reliability_report.py /tmp/rel.json /tmp/rel-load.json

Each JSON file is what tests/reliability/conftest.py writes at the end of a run: one row per test
(scenario = the first paragraph of its docstring, outcome, duration, and `emulator_requests`, the
requests the offline gateway saw). Rows are grouped per scenario; the Markdown between the
`results:start` / `results:end` markers of the output file is replaced, the rest kept.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
AREAS = {
    "test_fault_suite": "Faults",
    "test_delivery_order": "Delivery order",
    "test_load": "Load and soak",
    "test_bad_input": "Bad input",
    "test_security": "Security",
}


def table(rows: list[dict[str, Any]]) -> str:
    """One Markdown table per area: scenario, tried, passed, failed, requests, seconds."""
    groups: dict[tuple[str, str, bool], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[(row["module"], row["test"], bool(row.get("load")))].append(row)
    lines: list[str] = []
    totals: defaultdict[str, int] = defaultdict(int)
    for area_module, area in AREAS.items():
        keys = [k for k in groups if k[0] == area_module]
        if not keys:
            continue
        lines += [
            f"### {area}",
            "",
            "| Scenario | Tried | Passed | Failed | Requests seen | Seconds |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key in keys:
            runs = groups[key]
            passed = sum(r["outcome"] == "passed" for r in runs)
            failed = sum(r["outcome"] == "failed" for r in runs)
            requests = sum(int(r["properties"].get("emulator_requests", 0)) for r in runs)
            seconds = sum(r["duration"] for r in runs)
            scenario = runs[0]["scenario"].replace("|", "\\|")
            load = " *(load)*" if key[2] else ""
            lines.append(
                f"| {scenario}{load} | {len(runs)} | {passed} | {failed} | {requests} "
                f"| {seconds:.1f} |"
            )
            for name, value in (("tried", len(runs)), ("passed", passed), ("failed", failed)):
                totals[name] += value
            totals["requests"] += requests
        lines.append("")
    summary = (
        f"**{totals['tried']} runs, {totals['passed']} passed, {totals['failed']} failed; "
        f"{totals['requests']} requests seen by the offline gateway.**"
    )
    failing = sorted({r["nodeid"] for r in rows if r["outcome"] == "failed"})
    if failing:
        lines += ["Failing runs (open bugs, see the notes below):", ""]
        lines += [f"- `{nodeid}`" for nodeid in failing] + [""]
    return "\n".join([summary, "", *lines]).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="JSON files written by the run")
    parser.add_argument("--output", type=Path, default=DOC)
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, Any]] = {}
    for path in args.results:
        for row in json.loads(path.read_text()):
            rows[row["nodeid"]] = row  # a later run of the same test wins
    block = f"{START}\n{table(list(rows.values()))}{END}"
    text = args.output.read_text() if args.output.exists() else f"# Reliability\n\n{START}\n{END}\n"
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    args.output.write_text(head + block + tail)
    print(f"wrote {args.output} ({len(rows)} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
