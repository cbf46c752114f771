"""CI smoke run of the benchmarks: tiny sizes, a complete table, no timing assertions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from clients import CLIENTS, installed  # noqa: E402
from report import ROWS  # noqa: E402
from run import IMPORT_PAIRS  # noqa: E402

OURS = ("raw httpx", "CNLLMClient", "ChatCNLLM", "CNLLM")
IO_BENCHMARKS = ("sequential", "stream", "concurrent", "concurrent_streams", "memory", "import")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text()


def test_every_client_has_a_row(quick_run: tuple[dict, str]) -> None:
    data, _ = quick_run
    assert set(data["results"]) == {spec.name for spec in CLIENTS}
    for spec in CLIENTS:
        row = data["results"][spec.name]
        assert row.get("not_installed", False) == (not installed(spec)), spec.name


@pytest.mark.parametrize("client", OURS)
def test_ours_and_the_floor_measure_every_benchmark(
    quick_run: tuple[dict, str], client: str
) -> None:
    """Our clients and raw httpx are always installed: each figure is a positive number."""
    row = quick_run[0]["results"][client]
    for bench in IO_BENCHMARKS:
        cell = row[bench]
        assert "error" not in cell, f"{client} {bench}: {cell.get('error')}"
        assert cell["value"] > 0, f"{client} {bench}"


def test_table_is_complete(quick_run: tuple[dict, str]) -> None:
    data, table = quick_run
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    header, rows = lines[0], lines[1:]
    for spec in CLIENTS:
        assert spec.name in header
    assert len(rows) == len(ROWS)
    columns = len(CLIENTS) + 3  # row title, clients, goal, result
    for row in rows:
        cells = row.strip("|").split(" | ")
        assert len(cells) == columns, row
        assert all(cell.strip() for cell in cells), row
        assert "error" not in row, row
    assert "× raw httpx / × best competitor" in table
    for row in rows:  # every goal gets a verdict (which one is timing, so not asserted)
        result = row.strip("|").split(" | ")[-1]
        for verdict in result.split("; "):
            assert re.search(
                r": (met|missed|n/a at these sizes|no figure|no reference)", verdict
            ) or (verdict.strip() == "—"), row


def test_every_import_pair_is_timed_and_judged(quick_run: tuple[dict, str]) -> None:
    data, table = quick_run
    pairs = data["import_pairs"]
    assert [(p["ours"]["statement"], p["reference"]["statement"]) for p in pairs] == [
        (ours, reference) for ours, reference, _ in IMPORT_PAIRS
    ]
    for pair, (ours, reference, goal) in zip(pairs, IMPORT_PAIRS, strict=True):
        assert pair["ours"]["value"] > 0 and pair["reference"]["value"] > 0, pair
        line = next(line for line in table.splitlines() if line.startswith(f"- `{ours}` "))
        assert f"`{reference}`" in line
        assert bool(re.search(r"goal ≤ [\d.]+×: (met|missed)\)$", line)) == (goal is not None), line


def test_embeddings_benchmark_runs_and_checks_every_row(tmp_path: Path) -> None:
    """benchmarks/embeddings.py --quick: every client gets a row; ours embed every text within the
    caps (rows a request, requests in flight) and match each other's vectors; no timing judged."""
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "embeddings.py"),
            "--quick",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    from embeddings import CASES, CONCURRENCY, ROWS_PER_REQUEST, installed

    data = json.loads((tmp_path / "embeddings.json").read_text())
    rows = data["results"]
    assert [(r["client"], r["call"]) for r in rows] == [(c.name, c.call) for c in CASES]
    for case, row in zip(CASES, rows, strict=True):
        if not installed(case):
            assert row == {"client": case.name, "call": case.call, "not_installed": True}
            continue
        if case.ours:
            assert "error" not in row, row
            assert row["requests"] == data["requests"]
            assert row["max_rows"] == ROWS_PER_REQUEST and 1 <= row["max_in_flight"] <= CONCURRENCY
    table = (tmp_path / "embeddings.md").read_text()
    assert table.count("\n| ") == len(CASES) + 1  # header and one row a client (separator aside)
    assert "n/a at these sizes (--quick)" in table
