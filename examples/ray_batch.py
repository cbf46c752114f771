"""Classify a few hundred Chinese news titles on Ray Data, within the API key's concurrency limit.

    pip install "cn-llm[langchain,ray]"
    python examples/ray_batch.py                          # free tier: 5 requests in flight
    python examples/ray_batch.py --tier starter --actors 4
    python examples/ray_batch.py --llm llama-index        # CNLLM; --llm client: CNLLMClient

The model is built once, in the driver, and shipped to every actor by pickling. The pickle holds
no API key: each actor reads ``AISA_API_KEY`` (and ``AISA_BASE_URL``) from its environment, which
Ray sets from ``runtime_env={"env_vars": ...}``. The key's concurrency limit (AIsa: Free 5,
Starter 20, Growth 50) is split between a fixed pool of actors, each running at most its share
of requests at once (``cn_llm_client.concurrency.split_limit``), so together they never exceed
it. Without ``AISA_API_KEY`` the script starts the offline gateway (100 ms per answer, the same
limit, 429 beyond it) and reports the most requests it ever saw in flight. See docs/scale-out.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from cn_llm_client import AISA_TIERS, concurrency_limit, split_limit
from cn_llm_client.errors import CNLLMError

MODEL = "deepseek-v3"
LABELS = ("科技", "体育", "财经", "娱乐")
INSTRUCTION = "把用户给出的新闻标题归入以下类别之一：科技、体育、财经、娱乐。只回答类别名称。"
TEMPLATES = {
    "科技": "第{n}届人工智能大会开幕，国产芯片等科技成果集中亮相",
    "体育": "城市马拉松第{n}站开跑，数万名体育爱好者参赛",
    "财经": "财经观察：第{n}期消费数据回暖，零售额同比增长",
    "娱乐": "娱乐快讯：新片首映礼第{n}场门票一小时售罄",
}
KEY_VARIABLES = ("AISA_API_KEY", "AISA_BASE_URL")

if TYPE_CHECKING:
    from ray.data import Dataset


def news_titles(rows: int) -> list[dict[str, Any]]:
    """``rows`` short titles, cycling through the four topics; ``topic`` is the expected label."""
    return [
        {"id": i, "topic": LABELS[i % 4], "text": TEMPLATES[LABELS[i % 4]].format(n=i)}
        for i in range(rows)
    ]


def build_llm(kind: str, model: str = MODEL) -> Any:
    """ChatCNLLM (``langchain``), CNLLM (``llama-index``) or CNLLMClient (``client``).

    Built in the driver; no key is passed here or pickled: actors read it from the environment.
    """
    if kind == "langchain":
        from langchain_cn_llm import ChatCNLLM

        return ChatCNLLM(model=model, temperature=0)
    if kind == "llama-index":
        from llama_index_cn_llm import CNLLM

        return CNLLM(model=model, temperature=0)
    if kind == "client":
        from cn_llm_client import CNLLMClient

        return CNLLMClient()
    raise ValueError(f"unknown --llm {kind!r}; use langchain, llama-index or client")


def ask(llm: Any, text: str, model: str = MODEL) -> str:
    """One classification request through whichever of the three clients ``llm`` is."""
    kind = type(llm).__name__
    if kind == "ChatCNLLM":
        return str(llm.invoke([("system", INSTRUCTION), ("human", text)]).content)
    if kind == "CNLLM":
        from llama_index.core.llms import ChatMessage

        messages = [ChatMessage(role="system", content=INSTRUCTION), ChatMessage(content=text)]
        return str(llm.chat(messages).message.content)
    messages = [{"role": "system", "content": INSTRUCTION}, {"role": "user", "content": text}]
    return str(llm.chat(model, messages)["choices"][0]["message"]["content"])


def label_of(answer: str) -> str:
    """The first category named in the answer ("其他" if none)."""
    found = [(answer.find(label), label) for label in LABELS if label in answer]
    return min(found)[1] if found else "其他"


class Classifier:
    """A Ray Data actor: labels each batch with at most ``per_actor`` requests in flight.

    The thread pool belongs to the actor, not to a batch, so the bound holds even if Ray runs
    several batches on one actor at once. A failed row keeps its error text instead of failing
    the job (the client has already retried 429s and 5xx).
    """

    def __init__(self, llm: Any, per_actor: int, model: str = MODEL) -> None:
        self.llm = llm  # unpickled here: the key comes from this worker's AISA_API_KEY
        self.model = model
        self.pool = ThreadPoolExecutor(max_workers=per_actor)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        answers, errors = zip(*self.pool.map(self._classify, batch["text"]), strict=True)
        labels = [label_of(a) if not e else "" for a, e in zip(answers, errors, strict=True)]
        return {
            **batch,
            "label": np.array(labels),
            "answer": np.array(answers),
            "error": np.array(errors),
        }

    def _classify(self, text: str) -> tuple[str, str]:
        try:
            return ask(self.llm, str(text), self.model), ""
        except CNLLMError as exc:
            return "", f"{type(exc).__name__}: {exc}"


def classify(ds: Dataset, llm: Any, *, actors: int, per_actor: int, model: str = MODEL) -> Dataset:
    """Add ``label``, ``answer`` and ``error`` columns using ``actors`` × ``per_actor`` requests."""
    from ray.data import ActorPoolStrategy

    return ds.map_batches(
        Classifier,
        fn_constructor_args=(llm, per_actor, model),
        compute=ActorPoolStrategy(size=actors),  # fixed size: the limit is split over it
        batch_size=4 * per_actor,  # a few rounds per batch keep every thread busy
        num_cpus=0.25,  # the actors wait on the network, not the CPU
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tier", choices=AISA_TIERS, default="free", help="AIsa plan of the key")
    parser.add_argument("--max-concurrency", type=int, help="the key's limit, instead of --tier")
    parser.add_argument("--actors", type=int, default=2, help="size of the actor pool")
    parser.add_argument(
        "--per-actor", type=int, help="requests in flight per actor (default: the limit's share)"
    )
    parser.add_argument(
        "--llm", choices=("langchain", "llama-index", "client"), default="langchain"
    )
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.1, help="offline gateway only (seconds)")
    args = parser.parse_args()

    limit = args.max_concurrency or concurrency_limit(args.tier)
    try:
        per_actor = args.per_actor or split_limit(limit, args.actors)
    except ValueError as exc:
        parser.error(str(exc))
    if args.actors * per_actor > limit:
        parser.error(
            f"{args.actors} actors × {per_actor} requests exceed the key's limit of {limit}"
        )

    with _gateway(args.latency, limit) as gateway:
        ray = _start_ray({name: os.environ[name] for name in KEY_VARIABLES if name in os.environ})
        try:
            llm = build_llm(args.llm, args.model)
            started = time.perf_counter()
            ds = ray.data.from_items(news_titles(args.rows))
            rows = classify(
                ds, llm, actors=args.actors, per_actor=per_actor, model=args.model
            ).take_all()
            seconds = time.perf_counter() - started
        finally:
            ray.shutdown()

    labels = Counter(row["label"] for row in rows if not row["error"])
    errors = [row for row in rows if row["error"]]
    print(
        f"{len(rows)} rows classified by {args.actors} actors × {per_actor} requests "
        f"(key limit {limit}) in {seconds:.1f} s: {len(rows) / seconds:.0f} rows/s"
    )
    print("labels:", ", ".join(f"{label} {count}" for label, count in labels.most_common()))
    print(
        f"errors: {len(errors)}",
        *(f"  row {row['id']}: {row['error']}" for row in errors[:3]),
        sep="\n",
    )
    for row in sorted(rows, key=lambda row: row["id"])[:3]:
        print(f"  {row['text']} -> {row['label'] or row['error']}")
    if gateway is not None:
        requests = gateway.requests
        busy = max(r.completed or 0.0 for r in requests) - min(r.arrived for r in requests)
        print(
            f"gateway: at most {gateway.max_in_flight} requests in flight (limit {limit}); "
            f"{len(requests)} requests in {busy:.1f} s from first to last: {len(requests) / busy:.0f}/s"
        )


def _start_ray(env_vars: dict[str, str]) -> Any:
    """A local Ray (or the cluster in RAY_ADDRESS) whose workers get ``env_vars``."""
    # No usage report; a local Ray listens on loopback only (Ray's own switch for that,
    # ray-project/ray#18730), as this example talks to nothing but the gateway.
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if "RAY_ADDRESS" not in os.environ:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray.data

    ray.init(include_dashboard=False, runtime_env={"env_vars": env_vars}, logging_level="warning")
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no progress lines in the output
    return ray


@contextmanager
def _gateway(latency: float, limit: int) -> Iterator[Any]:
    """The real gateway when AISA_API_KEY is set (yields None), else the offline one."""
    if os.environ.get("AISA_API_KEY"):
        print("Using the real AIsa gateway (AISA_API_KEY is set).", flush=True)
        yield None
        return
    print(
        f"Using the offline gateway ({latency * 1000:.0f} ms per answer, at most {limit} requests "
        "in flight per key): answers are emulated (set AISA_API_KEY for real ones).",
        flush=True,
    )
    from cn_llm_client.testing import FakeGateway

    key = f"sk-offline-{secrets.token_hex(8)}"
    with FakeGateway(latency=latency, api_key=key, max_concurrency=limit) as gw:
        os.environ.update(AISA_API_KEY=key, AISA_BASE_URL=gw.base_url)
        try:
            yield gw
        finally:
            for name in KEY_VARIABLES:
                os.environ.pop(name, None)


if __name__ == "__main__":
    main()
