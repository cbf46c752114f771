"""Our clients against the competitors, in one run, on the same offline gateway.

    python benchmarks/run.py            # full sizes (several minutes on 2 cores)
    python benchmarks/run.py --quick    # tiny sizes, for CI: checks the bench works, not speed

Starts the offline gateway (`python -m cn_llm_client.testing`) in its own processes on loopback,
runs each client in its own subprocess (`worker.py`), alternating the client order between
repetitions, times imports in fresh interpreters, then prints one Markdown table and writes it to
`results.md` and the raw figures to `results.json` (in `--out`, default this folder).
Columns and method: see README.md next to this file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clients import CLIENTS, ClientSpec, installed  # noqa: E402
from report import render  # noqa: E402

__all__ = ["FULL", "IMPORT_PAIRS", "QUICK", "main", "run"]

HERE = Path(__file__).resolve().parent
API_KEY = "sk-bench-not-a-secret"
MODEL = "deepseek-v3"  # a catalog model without reasoning: the answer is content only

FULL: dict[str, Any] = {
    "warmup_calls": 20,
    "calls": 300,
    "stream_chars": 20_000,  # about 10,000 chunks of two characters
    "stream_runs": 2,
    "latency": 0.1,
    "concurrent": 200,
    "concurrent_streams": 1_000,
    "warmup_concurrent": 20,
    "repetitions": 3,
    "import_runs": 5,
    "worker_timeout": 900,
}
QUICK: dict[str, Any] = {
    "warmup_calls": 2,
    "calls": 5,
    "stream_chars": 200,
    "stream_runs": 1,
    "latency": 0.01,
    "concurrent": 5,
    "concurrent_streams": 5,
    "warmup_concurrent": 2,
    "repetitions": 1,
    "import_runs": 1,
    "worker_timeout": 300,
}
# Import pairs shown below the table, each timed alternately in fresh interpreters: (ours, the
# framework's own, goal as a ratio or None). The first is issue 6's goal; it is cheap on both
# sides because both packages are lazy (PEP 562). The second of each framework is the honest
# one: what a chat model costs against the base class every integration must subclass.
IMPORT_PAIRS: tuple[tuple[str, str, float | None], ...] = (
    ("import langchain_cn_llm", "import langchain_core.language_models", 1.2),
    (
        "from langchain_cn_llm import ChatCNLLM",
        "from langchain_core.language_models import BaseChatModel",
        1.2,
    ),
    ("import llama_index_cn_llm", "import llama_index.core", None),
    ("from llama_index_cn_llm import CNLLM", "from llama_index.core.llms import CustomLLM", 1.2),
)
BENCHMARKS = ("sequential", "stream", "concurrent", "concurrent_streams", "memory", "import")


@contextlib.contextmanager
def gateway(
    latency: float,
    answer_chars: int | None = None,
    *,
    mode: str = "aisa",
    max_concurrency: int | None = None,
) -> Iterator[str]:
    """Run the offline gateway in its own process on a free loopback port; yield its base URL."""
    command = [sys.executable, "-m", "cn_llm_client.testing", "--port", "0"]
    command += ["--latency", str(latency), "--api-key", API_KEY, "--mode", mode]
    if answer_chars is not None:
        command += ["--answer-chars", str(answer_chars)]
    if max_concurrency is not None:
        command += ["--max-concurrency", str(max_concurrency)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()  # the gateway prints it once it listens
        if not base_url.startswith("http://127.0.0.1"):
            raise RuntimeError(f"the offline gateway did not start (printed {base_url!r})")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_worker(spec: ClientSpec, cfg: dict[str, Any]) -> dict[str, Any]:
    """One client's benchmarks in a fresh process; errors become cells, never a crash."""
    command = [sys.executable, str(HERE / "worker.py"), "--client", spec.name]
    command += ["--config", json.dumps(cfg)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=cfg["worker_timeout"], check=False
        )
    except subprocess.TimeoutExpired:
        return {b: {"error": f"timeout after {cfg['worker_timeout']} s"} for b in cfg["benchmarks"]}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return {b: {"error": reason} for b in cfg["benchmarks"]}
    return json.loads(lines[-1])


def import_time(statement: str, runs: int) -> dict[str, Any]:
    """Best of `runs` fresh interpreters: seconds to run `statement` (startup excluded)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:200]}
        times.append(float(done.stdout.strip()))
    return {"value": min(times), "samples": times}


def import_pair(ours: str, reference: str, goal: float | None, runs: int) -> dict[str, Any]:
    """Both statements timed alternately (best of `runs` each), so machine load hits both alike."""
    statements = {"ours": ours, "reference": reference}
    samples: dict[str, list[dict[str, Any]]] = {"ours": [], "reference": []}
    for _ in range(runs):
        for side, statement in statements.items():
            samples[side].append(import_time(statement, 1))
    pair: dict[str, Any] = {"goal": goal}
    for side, statement in statements.items():
        pair[side] = {"statement": statement, **_best(samples[side])}
    return pair


def _best(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest repetition (least disturbed by other load); keeps every sample."""
    good = [s for s in samples if "value" in s]
    if not good:
        return samples[0] if samples else {"error": "not run"}
    best = dict(min(good, key=lambda s: s["value"]))
    best["samples"] = [s["value"] for s in good]
    return best


def run(
    cfg: dict[str, Any], only: list[str] | None = None, log: Any = sys.stderr
) -> dict[str, Any]:
    """Run every benchmark for every installed client (or those in `only`); return the results."""
    machine = _machine()  # the load average before the bench adds its own
    chosen = [s for s in CLIENTS if only is None or s.name in only]
    specs = [s for s in chosen if installed(s)]
    results: dict[str, dict[str, Any]] = {
        s.name: {"not_installed": True} for s in chosen if not installed(s)
    }
    n = cfg["stream_chars"]
    with (
        gateway(0.0) as fast,
        gateway(0.0, n) as long,
        gateway(0.0, n // 4) as quarter,
        gateway(cfg["latency"]) as slow,
    ):
        worker_cfg = {
            **cfg,
            "fast": fast,
            "long": long,
            "quarter": quarter,
            "slow": slow,
            "api_key": API_KEY,
            "model": MODEL,
            "benchmarks": [b for b in BENCHMARKS if b != "import"],
        }
        samples: dict[str, list[dict[str, Any]]] = {s.name: [] for s in specs}
        for rep in range(cfg["repetitions"]):
            order = specs if rep % 2 == 0 else specs[::-1]
            for spec in order:
                start = time.perf_counter()
                samples[spec.name].append(run_worker(spec, worker_cfg))
                print(f"rep {rep + 1}: {spec.name} ({time.perf_counter() - start:.0f} s)", file=log)
    for spec in specs:
        row = {
            b: _best([s[b] for s in samples[spec.name] if b in s])
            for b in worker_cfg["benchmarks"]
            if any(b in s for s in samples[spec.name])
        }
        row["import"] = import_time(spec.import_stmt, cfg["import_runs"])
        results[spec.name] = row
    pairs = [import_pair(*pair, cfg["import_runs"]) for pair in IMPORT_PAIRS]
    return {
        "machine": machine,
        "import_pairs": pairs,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "config": cfg,
        "model": MODEL,
        "results": results,
    }


def _machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {load:.1f} at start"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke run)")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.md/.json go")
    parser.add_argument("--repetitions", type=int, help="override the number of repetitions")
    parser.add_argument("--stream-chars", type=int, help="long answer length (200000: 100k chunks)")
    parser.add_argument(
        "--clients", nargs="+", choices=[s.name for s in CLIENTS], help="only these rows"
    )
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL, quick=args.quick)
    if args.repetitions:
        cfg["repetitions"] = args.repetitions
    if args.stream_chars:
        cfg["stream_chars"] = args.stream_chars
    data = run(cfg, args.clients)
    table = render(data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    (args.out / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
