"""The results of `run.py` as one Markdown table, with the goals of issue 6 checked.

from report import render
print(render(json.loads(Path("benchmarks/results.json").read_text())))
"""

from __future__ import annotations

from typing import Any

from clients import CLIENTS

__all__ = ["GOAL_STREAM_CHARS", "GOALS", "ROWS", "import_pair_line", "render", "verdicts"]

# (benchmark key, row title, unit) in table order.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("sequential", "per call, sequential", "ms"),
    ("stream", "long stream ({chunks:,} chunks)", "s"),
    ("concurrent", "{concurrent} concurrent calls at {latency_ms:g} ms", "s"),
    ("concurrent_streams", "{concurrent_streams:,} concurrent streams at {latency_ms:g} ms", "s"),
    ("import", "import time (best of {import_runs})", "ms"),
    ("memory", "peak traced memory, long stream", "KiB"),
)

# Issue 6's goals: benchmark -> [(client, limit)]. A float is an absolute limit in the row's
# base unit (seconds); ("×", client) is relative to another row's import time; "linear" is the
# memory check. Absolute limits hold for the full sizes only.
GOALS: dict[str, list[tuple[str, Any]]] = {
    "sequential": [("CNLLMClient", 1.1e-3), ("ChatCNLLM", 1.4e-3), ("CNLLM", 1.3e-3)],
    "stream": [("CNLLMClient", 0.5), ("ChatCNLLM", 1.2), ("CNLLM", 1.0)],
    "concurrent": [("CNLLMClient", 0.35), ("ChatCNLLM", 0.35), ("CNLLM", 0.35)],
    # The adapters' import goals are checked on the pairs below the table (IMPORT_PAIRS in run.py).
    "import": [("CNLLMClient", (1.3, "raw httpx"))],
    "memory": [("CNLLMClient", "linear"), ("ChatCNLLM", "linear"), ("CNLLM", "linear")],
}
GOAL_STREAM_CHARS = 20_000  # the absolute goals are set for the full sizes
_SHORT = {"CNLLMClient": "SDK", "ChatCNLLM": "ChatCNLLM", "CNLLM": "CNLLM"}
_SCALE = {"ms": 1e3, "s": 1.0, "KiB": 1.0}


def _fmt(value: float, unit: str) -> str:
    scaled = value * _SCALE[unit]
    return f"{scaled:,.0f} {unit}" if scaled >= 100 else f"{scaled:.3g} {unit}"


def _value(results: dict[str, Any], client: str, bench: str) -> float | None:
    cell = results.get(client, {}).get(bench)
    return cell.get("value") if isinstance(cell, dict) else None


def _cell(results: dict[str, Any], client: str, bench: str, unit: str) -> str:
    row = results.get(client, {})
    if row.get("not_installed"):
        return "not installed"
    cell = row.get(bench)
    if cell is None:
        return "—"
    if "error" in cell:
        return f"error: {cell['error'][:40]}"
    text = _fmt(cell["value"], unit)
    floor = _value(results, "raw httpx", bench)
    best = _best_competitor(results, bench)
    ratios = [f"{cell['value'] / ref:.2g}×" if ref else "–" for ref in (floor, best)]
    return f"{text} ({' / '.join(ratios)})"


def _best_competitor(results: dict[str, Any], bench: str) -> float | None:
    values = [_value(results, s.name, bench) for s in CLIENTS if s.group == "competitor"]
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _memory_linear(cell: dict[str, Any], chunks: int) -> tuple[bool, str]:
    """Constant memory per chunk: the growth per chunk from N/4 to N chunks is no larger than
    the cost per chunk at N/4 (a quadratic fold makes it several times larger)."""
    growth = (cell["value"] - cell["quarter"]) * 1024 / (chunks * 3 / 4)
    base = cell["quarter"] * 1024 / (chunks / 4)
    return growth <= 1.5 * base, f"{growth:.0f} B/chunk"


def verdicts(data: dict[str, Any], bench: str) -> str:
    """'met' / 'missed' per goal of `bench`, with the figure and the margin."""
    results, cfg = data["results"], data["config"]
    out = []
    for client, limit in GOALS.get(bench, []):
        name = _SHORT[client]
        cell = results.get(client, {}).get(bench) or {}
        if results.get(client, {}).get("not_installed") or "value" not in cell:
            out.append(f"{name}: no figure")
            continue
        if limit == "linear":
            ok, note = _memory_linear(cell, cfg["stream_chars"] // 2)
            out.append(f"{name}: {'met' if ok else 'missed'} ({note})")
            continue
        if isinstance(limit, tuple):
            factor, reference = limit
            base = _value(results, reference, bench)
            if base is None:
                out.append(f"{name}: no reference")
                continue
            ratio = cell["value"] / base
            verdict = "met" if ratio <= factor else "missed"
            out.append(f"{name}: {verdict} ({ratio:.2f}× vs ≤ {factor}×)")
            continue
        if cfg.get("quick") or cfg["stream_chars"] != GOAL_STREAM_CHARS:
            out.append(f"{name}: n/a at these sizes")
            continue
        unit = "ms" if bench == "sequential" else "s"
        verdict = "met" if cell["value"] <= limit else "missed"
        miss = "" if verdict == "met" else f", +{cell['value'] / limit - 1:.0%}"
        out.append(f"{name}: {verdict} ({_fmt(cell['value'], unit)}{miss})")
    return "; ".join(out) or "—"


def import_pair_line(pair: dict[str, Any]) -> str:
    """`ours` 12 ms vs `reference` 200 ms: 0.06× (goal ≤ 1.2×: met)."""
    ours, ref, goal = pair["ours"], pair["reference"], pair["goal"]
    if "value" not in ours or "value" not in ref:
        error = ours.get("error") or ref.get("error")
        return f"`{ours['statement']}` vs `{ref['statement']}`: error: {error}"
    ratio = ours["value"] / ref["value"]
    text = (
        f"`{ours['statement']}` {_fmt(ours['value'], 'ms')} vs "
        f"`{ref['statement']}` {_fmt(ref['value'], 'ms')}: {ratio:.2f}×"
    )
    if goal is None:
        return text
    return f"{text} (goal ≤ {goal}×: {'met' if ratio <= goal else 'missed'})"


def _goal_text(bench: str) -> str:
    parts = []
    for client, limit in GOALS.get(bench, []):
        name = _SHORT[client]
        if limit == "linear":
            parts.append(f"{name} constant per chunk")
        elif isinstance(limit, tuple):
            parts.append(f"{name} ≤ {limit[0]}× {limit[1]}")
        else:
            parts.append(f"{name} ≤ {_fmt(limit, 'ms' if bench == 'sequential' else 's')}")
    return "; ".join(parts) or "—"


def render(data: dict[str, Any]) -> str:
    """The Markdown report: header, one table, notes."""
    cfg, results = data["config"], data["results"]
    names = [s.name for s in CLIENTS if s.name in results]
    sizes = {
        **cfg,
        "chunks": cfg["stream_chars"] // 2,
        "latency_ms": cfg["latency"] * 1000,
    }
    lines = [
        f"# cn-llm benchmarks{' (quick sizes: not for comparison)' if cfg.get('quick') else ''}",
        "",
        f"{data['date']}; {data['machine']}; model `{data['model']}` on the offline gateway.",
        "Each cell: figure (× raw httpx / × best competitor). Lower is better.",
        "",
        "| | " + " | ".join(names) + " | goal | result |",
        "|---" * (len(names) + 3) + "|",
    ]
    for bench, title, unit in ROWS:
        cells = [_cell(results, name, bench, unit) for name in names]
        row = [title.format(**sizes), *cells, _goal_text(bench), verdicts(data, bench)]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        f"Sizes: {cfg['calls']} sequential calls after {cfg['warmup_calls']} warm-ups; a "
        f"{cfg['stream_chars']:,}-character answer streamed; best of {cfg['repetitions']} "
        "repetition(s), clients alternating. The no-I/O rows answer without the gateway "
        "(the frameworks' own cost); they have no concurrency figures.",
        "",
    ]
    pairs = data.get("import_pairs") or []
    if pairs:
        lines += [
            f"Imports, ours against the framework's own (best of {cfg['import_runs']} each, "
            "alternating, fresh interpreters):",
            "",
            *(f"- {import_pair_line(pair)}" for pair in pairs),
            "",
        ]
    return "\n".join(lines)
