"""Embedding 10,000 short Chinese texts: ours against LangChain's and LlamaIndex's OpenAI classes.

    python benchmarks/embeddings.py                  # 10,000 texts, 50 ms a request (~6 minutes)
    python benchmarks/embeddings.py --quick          # 100 texts, 2 ms: checks the bench works (CI)
    python benchmarks/embeddings.py --update-readme  # also writes the table into both READMEs

One run, one server: the offline gateway in DashScope mode in a process of its own, answering
each request after `--latency` (50 ms) and refusing with 429 what passes `--max-concurrency`
(the DashScope preset's in-flight limit, 16), with DashScope's cap of 10 rows per request for
text-embedding-v4. Each client embeds the same texts once after a warm-up call (connections,
lazy imports); every result is checked (one vector per text, the same vectors as the first
client's, in order), so a fast wrong answer is an error cell, never a figure.

Competitors, configured as their docs say for a 10-row server: LangChain
`OpenAIEmbeddings(base_url=..., check_embedding_ctx_length=False, chunk_size=10)` and LlamaIndex
`OpenAILikeEmbedding(api_base=..., embed_batch_size=10)` (async: `num_workers=16`, the same
in-flight limit ours keeps; without it LlamaIndex sends every request at once and gets 429s),
both with `encoding_format="float"` (the openai SDK asks for base64 by default, which DashScope's
compatible mode is not documented to serve and the emulator refuses; langchain-openai's docs
recommend "float" for such servers).
`ideal` = requests ÷ allowed concurrency × latency. Writes embeddings.md and embeddings.json
to `--out` (default: this folder). Timings are never asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import math
import re
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import one_loop  # noqa: E402
from run import API_KEY, _machine, gateway  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODEL = "text-embedding-v4"
ROWS_PER_REQUEST = 10  # DashScope's cap for text-embedding-v4 (the catalog's max_rows)
CONCURRENCY = 16  # the DashScope preset's max_in_flight: the emulator refuses more
FULL = {"texts": 10_000, "latency": 0.05}
QUICK = {"texts": 100, "latency": 0.002}
DIMENSIONS: dict[str, int] = {}  # {"dimensions": N} for every client with --dimensions N
MARKERS = ("<!-- embed-bench:start -->\n", "<!-- embed-bench:end -->")

Embed = Callable[[list[str]], Any]  # returns the vectors, or an awaitable of them


@dataclass(frozen=True)
class Case:
    name: str
    ours: bool
    framework: str  # "LangChain" | "LlamaIndex": whom a competitor row is compared with
    call: str
    make: Callable[[str], Embed]
    needs: str  # the module it imports (a row of "not installed" when missing)


def _raw_httpx(base_url: str) -> Embed:
    """The floor: httpx.AsyncClient, 16 requests at a time, orjson; no library in between."""
    import httpx
    import orjson

    async def embed(inputs: list[str]) -> list[list[float]]:
        limit = asyncio.Semaphore(CONCURRENCY)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:

            async def one(start: int) -> list[list[float]]:
                body = {"model": MODEL, "input": inputs[start : start + ROWS_PER_REQUEST]}
                body.update(DIMENSIONS)
                async with limit:
                    response = await client.post("/embeddings", json=body)
                response.raise_for_status()
                return [row["embedding"] for row in orjson.loads(response.content)["data"]]

            parts = await asyncio.gather(*map(one, range(0, len(inputs), ROWS_PER_REQUEST)))
        return [vector for part in parts for vector in part]

    return embed


def _cn_llm_embeddings(base_url: str, method: str) -> Embed:
    from langchain_cn_llm import CNLLMEmbeddings

    embeddings = CNLLMEmbeddings(
        model=MODEL, provider="dashscope", base_url=base_url, api_key=API_KEY, **DIMENSIONS
    )
    return getattr(embeddings, method)  # type: ignore[no-any-return]


def _cn_llm_embedding(base_url: str, method: str) -> Embed:
    from llama_index_cn_llm import CNLLMEmbedding

    embed_model = CNLLMEmbedding(
        model=MODEL, provider="dashscope", base_url=base_url, api_key=API_KEY, **DIMENSIONS
    )
    return getattr(embed_model, method)  # type: ignore[no-any-return]


def _openai_embeddings(base_url: str, method: str) -> Embed:
    from langchain_openai import OpenAIEmbeddings

    embeddings = OpenAIEmbeddings(
        model=MODEL,
        base_url=base_url,
        api_key=API_KEY,  # type: ignore[arg-type]
        check_embedding_ctx_length=False,
        chunk_size=ROWS_PER_REQUEST,
        model_kwargs={"encoding_format": "float"},
        **DIMENSIONS,
    )
    return getattr(embeddings, method)  # type: ignore[no-any-return]


def _openai_like(base_url: str, method: str, num_workers: int | None = None) -> Embed:
    from llama_index.embeddings.openai_like import OpenAILikeEmbedding

    embed_model = OpenAILikeEmbedding(
        model_name=MODEL,
        api_base=base_url,
        api_key=API_KEY,
        embed_batch_size=ROWS_PER_REQUEST,
        num_workers=num_workers,
        additional_kwargs={"encoding_format": "float", **DIMENSIONS},
    )
    return getattr(embed_model, method)  # type: ignore[no-any-return]


CASES = (
    Case("raw httpx", False, "floor", "16 at a time", _raw_httpx, "httpx"),
    Case(
        "CNLLMEmbeddings",
        True,
        "LangChain",
        "embed_documents",
        lambda url: _cn_llm_embeddings(url, "embed_documents"),
        "langchain_core",
    ),
    Case(
        "CNLLMEmbeddings",
        True,
        "LangChain",
        "aembed_documents",
        lambda url: _cn_llm_embeddings(url, "aembed_documents"),
        "langchain_core",
    ),
    Case(
        "OpenAIEmbeddings",
        False,
        "LangChain",
        "embed_documents",
        lambda url: _openai_embeddings(url, "embed_documents"),
        "langchain_openai",
    ),
    Case(
        "OpenAIEmbeddings",
        False,
        "LangChain",
        "aembed_documents",
        lambda url: _openai_embeddings(url, "aembed_documents"),
        "langchain_openai",
    ),
    Case(
        "CNLLMEmbedding",
        True,
        "LlamaIndex",
        "get_text_embedding_batch",
        lambda url: _cn_llm_embedding(url, "get_text_embedding_batch"),
        "llama_index.core",
    ),
    Case(
        "CNLLMEmbedding",
        True,
        "LlamaIndex",
        "aget_text_embedding_batch",
        lambda url: _cn_llm_embedding(url, "aget_text_embedding_batch"),
        "llama_index.core",
    ),
    Case(
        "OpenAILikeEmbedding",
        False,
        "LlamaIndex",
        "get_text_embedding_batch",
        lambda url: _openai_like(url, "get_text_embedding_batch"),
        "llama_index.embeddings.openai_like",
    ),
    Case(
        "OpenAILikeEmbedding",
        False,
        "LlamaIndex",
        f"aget_text_embedding_batch (num_workers={CONCURRENCY})",
        lambda url: _openai_like(url, "aget_text_embedding_batch", CONCURRENCY),
        "llama_index.embeddings.openai_like",
    ),
)


def texts(n: int) -> list[str]:
    """Short Chinese texts, all different (a cache could not help anyone)."""
    topics = ("龙井茶产自杭州西湖", "大熊猫主要吃竹子", "二十四节气列入非遗", "长城总长两万多公里")
    return [f"第{i}条：{topics[i % len(topics)]}。" for i in range(n)]


def installed(case: Case) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(case.needs) is not None
    except ModuleNotFoundError:
        return False


def call(on_loop: Callable[[Any], Any], embed: Embed, batch: list[str]) -> list[list[float]]:
    """`embed(batch)`; an async one on the loop of `on_loop` (see clients.one_loop)."""
    result = embed(batch)
    if inspect.isawaitable(result):
        result = on_loop(result)
    return result  # type: ignore[no-any-return]


def emulator(base_url: str, what: str, method: str = "GET") -> Any:
    root = base_url.rsplit("/v1", 1)[0]
    request = urllib.request.Request(f"{root}/_emulator/{what}", method=method)
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def measure(case: Case, base_url: str, inputs: list[str], reference: list[Any] | None) -> dict:
    """One client's run: a warm-up call, then every text once; checked, then timed."""
    if not installed(case):
        return {"not_installed": True}
    try:
        with one_loop() as on_loop:  # the warm-up's connections serve the timed call
            embed = case.make(base_url)
            call(on_loop, embed, inputs[:ROWS_PER_REQUEST])  # warm-up: connections, lazy imports
            emulator(base_url, "reset", "POST")
            gc.collect()
            start = time.perf_counter()
            vectors = call(on_loop, embed, inputs)
            seconds = time.perf_counter() - start
        stats = emulator(base_url, "stats")
        rows = [
            len(r["body"]["input"])
            for r in emulator(base_url, "requests")
            if r["path"].endswith("/embeddings")
        ]
    except Exception as exc:  # a failing client is a cell, not a crash
        return {"error": f"{type(exc).__name__}: {str(exc)[:160]}"}
    if len(vectors) != len(inputs):
        return {"error": f"{len(vectors)} vectors for {len(inputs)} texts"}
    probes = (0, len(inputs) // 2, len(inputs) - 1)
    if reference is not None and any(list(vectors[i]) != reference[i] for i in probes):
        return {"error": "vectors differ from the first client's (order or content)"}
    return {
        "seconds": seconds,
        "requests": len(rows),
        "max_rows": max(rows, default=0),
        "max_in_flight": stats["max_in_flight"],
        "probe": {i: list(vectors[i]) for i in probes},
    }


def run(cfg: dict[str, Any]) -> dict[str, Any]:
    inputs = texts(cfg["texts"])
    requests = math.ceil(len(inputs) / ROWS_PER_REQUEST)
    ideal = requests / CONCURRENCY * cfg["latency"]
    results: list[dict[str, Any]] = []
    reference: dict[int, Any] | None = None
    with gateway(cfg["latency"], mode="dashscope", max_concurrency=CONCURRENCY) as base_url:
        for case in CASES:
            print(f"{case.name}.{case.call} ...", file=sys.stderr, flush=True)
            result = measure(case, base_url, inputs, reference)
            if reference is None and "probe" in result:
                reference = result["probe"]
            result.pop("probe", None)
            results.append({"client": case.name, "call": case.call, **result})
    return {
        "machine": _machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "config": {**cfg, "rows_per_request": ROWS_PER_REQUEST, "concurrency": CONCURRENCY},
        "requests": requests,
        "ideal_seconds": ideal,
        "results": results,
    }


def render(data: dict[str, Any]) -> str:
    cfg, ideal = data["config"], data["ideal_seconds"]
    best = _best_competitor(data)
    lines = [
        f"{cfg['texts']:,} short Chinese texts, `{MODEL}` ({cfg.get('dimensions', 1024)} dimensions) "
        "on the offline gateway in DashScope mode: "
        f"{cfg['latency'] * 1000:g} ms a request, at most {cfg['rows_per_request']} rows a "
        f"request and {cfg['concurrency']} requests in flight (429 past that). "
        f"Ideal: {data['requests']:,} requests ÷ {cfg['concurrency']} × "
        f"{cfg['latency'] * 1000:g} ms = {ideal:.2f} s. {data['machine']}; {data['date']}.",
        "",
        "| client | call | requests | rows a request (max) | peak in flight | time "
        "| × ideal | × faster than the framework's OpenAI class |",
        "|---|---|---|---|---|---|---|---|",
    ]
    frameworks = {c.name: c.framework for c in CASES}
    for row in data["results"]:
        head = f"| {row['client']} | `{row['call']}` |"
        if row.get("not_installed"):
            lines.append(head + " not installed | — | — | — | — | — |")
            continue
        if "error" in row:
            lines.append(head + f" error: {row['error']} | — | — | — | — | — |")
            continue
        competitor = best.get(frameworks[row["client"]])
        speedup = f"{competitor / row['seconds']:.1f}×" if competitor and _ours(row) else "—"
        lines.append(
            head + f" {row['requests']:,} | {row['max_rows']} | {row['max_in_flight']} | "
            f"{row['seconds']:.2f} s | {row['seconds'] / ideal:.2f}× | {speedup} |"
        )
    lines += ["", _verdict(data, best)]
    return "\n".join(lines) + "\n"


def _ours(row: dict[str, Any]) -> bool:
    return any(c.ours and c.name == row["client"] and c.call == row["call"] for c in CASES)


def _best_competitor(data: dict[str, Any]) -> dict[str, float]:
    """Per framework, the fastest competitor row: the speed-ups are against the best of them."""
    best: dict[str, float] = {}
    for case, row in zip(CASES, data["results"], strict=True):
        if not case.ours and case.framework != "floor" and "seconds" in row:
            best[case.framework] = min(best.get(case.framework, math.inf), row["seconds"])
    return best


def _verdict(data: dict[str, Any], best: dict[str, float]) -> str:
    """Per framework: our slowest row against that framework's fastest competitor row."""
    if data["config"].get("quick"):
        return "Goals (≥ 10× faster than both, ≤ 1.5× ideal): n/a at these sizes (--quick)."
    ideal = data["ideal_seconds"]
    rows = list(zip(CASES, data["results"], strict=True))
    ours = [r for c, r in rows if c.ours]
    if len(best) < 2 or any("seconds" not in r for r in ours):
        return (
            "Goals (≥ 10× faster than both, ≤ 1.5× ideal): no figure (a row failed or is missing)."
        )
    speedups = {
        framework: competitor
        / max(r["seconds"] for c, r in rows if c.ours and c.framework == framework)
        for framework, competitor in best.items()
    }
    slowest = max(r["seconds"] for r in ours) / ideal
    floor = next((r for c, r in rows if c.framework == "floor"), {})
    floor_note = (
        f" The floor (raw httpx, {CONCURRENCY} at a time) took {floor['seconds']:.2f} s "
        f"({floor['seconds'] / ideal:.2f}× ideal) in this run."
        if "seconds" in floor
        else ""
    )
    faster = "; ".join(f"{name} {value:.1f}×" for name, value in speedups.items())
    return (
        f"Goals: ≥ 10× faster than both competitors: "
        f"{'met' if min(speedups.values()) >= 10 else 'missed'} (our slowest row against the "
        f"framework's fastest competitor row: {faster}); ≤ 1.5× ideal: "
        f"{'met' if slowest <= 1.5 else 'missed'} (our slowest row: {slowest:.2f}× ideal)."
        f"{floor_note}"
    )


def update_readmes(table: str) -> None:
    start, end = MARKERS
    for readme in (ROOT / "README.md", ROOT / "README.zh-CN.md"):
        text = readme.read_text("utf-8")
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
        readme.write_text(pattern.sub(lambda _: start + table + end, text), "utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke run)")
    parser.add_argument("--out", type=Path, default=HERE, help="where embeddings.md/.json go")
    parser.add_argument("--texts", type=int, help="how many texts (default 10,000)")
    parser.add_argument(
        "--dimensions", type=int, help="vector size for every client (default 1024)"
    )
    parser.add_argument(
        "--update-readme", action="store_true", help="write the table into both READMEs"
    )
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL, quick=args.quick)
    if args.texts:
        cfg["texts"] = args.texts
    if args.dimensions:
        DIMENSIONS["dimensions"] = cfg["dimensions"] = args.dimensions
    data = run(cfg)
    table = render(data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "embeddings.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    (args.out / "embeddings.md").write_text(table)
    if args.update_readme:
        update_readmes(table)
    print(table)


if __name__ == "__main__":
    main()
