"""Embeddings and reranking: validation, batching plan, request bodies and response folding.

Both clients share all of it; only how the batches are sent differs (a thread pool or
asyncio.gather, each bounded by the same concurrency). A plan is built before any I/O, so every
bad input is refused before a request goes out:

    >>> from cn_llm_client.providers import get_provider
    >>> plan = plan_embed(get_provider("dashscope"), "text-embedding-v4", ["a"] * 25)
    >>> [batch.rows for batch in plan.batches], plan.path
    ([10, 10, 5], '/embeddings')

What comes back is one OpenAI-shaped body whatever the provider and the number of batches:
``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}``
for embeddings; ``{"object": "list", "results": [{"index", "relevance_score", "document"}],
"model", "usage"}`` for rerank (highest score first; ``document`` is the text that was sent).
Usage is ``{"prompt_tokens", "total_tokens"}`` summed over the batches, plus ``"cost"`` (USD)
when the catalog prices the model.

Hand-written rather than a library's: no maintained package normalises these provider shapes
(langchain-community's DashScope/Zhipu classes, the nearest, are being sunset), and the logic
is a few list operations on top of the transport.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .catalog import ModelInfo, cost_of, get_model, list_models, providers_serving
from .errors import ConfigurationError, InvalidRequestError, ProtocolError
from .providers import Provider, provider_names

__all__ = [
    "Batch",
    "EmbedPlan",
    "InputType",
    "Progress",
    "RerankPlan",
    "plan_embed",
    "plan_rerank",
    "query_text",
]

InputType = Literal["query", "document"]
Progress = Callable[[int, int], object]  # on_progress(rows done, rows in all)


@dataclass(frozen=True)
class Batch:
    """One request: `rows` inputs (or documents) starting at `start` in the caller's list."""

    start: int
    rows: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class _Plan:
    model: str
    provider: str
    path: str
    batches: list[Batch]
    concurrency: int

    @property
    def total(self) -> int:
        return sum(batch.rows for batch in self.batches)

    def batch_usage(self, body: dict[str, Any]) -> dict[str, Any]:
        """One reply's usage, with "cost" when known (the server's, else the catalog's prices)."""
        usage = _batch_usage(body)
        cost = cost_of(self.model, usage, self.provider)
        if cost is not None:
            usage["cost"] = cost
        return usage

    def _usage(self, bodies: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Summed tokens; cost when every batch's cost is known."""
        batches = [self.batch_usage(body) for body in bodies]
        usage: dict[str, Any] = {
            "prompt_tokens": sum(u["prompt_tokens"] for u in batches),
            "total_tokens": sum(u["total_tokens"] for u in batches),
        }
        if batches and all("cost" in u for u in batches):
            usage["cost"] = sum(u["cost"] for u in batches)
        return usage


@dataclass(frozen=True)
class EmbedPlan(_Plan):
    """The requests of one `embed` call and how their answers fold into one body."""

    def merge(self, bodies: Sequence[dict[str, Any]]) -> dict[str, Any]:
        data: list[dict[str, Any]] = []
        for batch, body in zip(self.batches, bodies, strict=True):
            rows = body.get("data")
            if not isinstance(rows, list) or len(rows) != batch.rows:
                raise ProtocolError(
                    f"The embeddings reply holds {len(rows) if isinstance(rows, list) else 'no'} "
                    f"vectors for {batch.rows} inputs; check that base_url serves /embeddings."
                )
            ordered = sorted(
                rows, key=lambda row: row.get("index", 0) if isinstance(row, dict) else 0
            )
            for offset, row in enumerate(ordered):
                vector = row.get("embedding") if isinstance(row, dict) else None
                if not isinstance(vector, list):
                    raise ProtocolError(
                        "An embedding in the reply is not a list of floats "
                        "(encoding_format other than 'float'?)."
                    )
                data.append(
                    {"object": "embedding", "index": batch.start + offset, "embedding": vector}
                )
        model = next((b["model"] for b in bodies if isinstance(b.get("model"), str)), self.model)
        return {"object": "list", "data": data, "model": model, "usage": self._usage(bodies)}


@dataclass(frozen=True)
class RerankPlan(_Plan):
    """The requests of one `rerank` call; `merge` sorts every batch's scores together."""

    documents: list[str] = field(default_factory=list)
    top_n: int | None = None

    def merge(self, bodies: Sequence[dict[str, Any]]) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        for batch, body in zip(self.batches, bodies, strict=True):
            for item in _rerank_items(body):
                local = item.get("index")
                score = item.get("relevance_score", item.get("score"))
                if not isinstance(local, int) or not 0 <= local < batch.rows:
                    raise ProtocolError(f"A rerank result has no valid index: {item!r:.200}")
                if not isinstance(score, (int, float)) or isinstance(score, bool):
                    raise ProtocolError(f"A rerank result has no relevance_score: {item!r:.200}")
                index = batch.start + local
                results.append(
                    {
                        "index": index,
                        "relevance_score": float(score),
                        "document": self.documents[index],
                    }
                )
        results.sort(key=lambda r: (-r["relevance_score"], r["index"]))
        if self.top_n is not None:
            results = results[: self.top_n]
        model = next((b["model"] for b in bodies if isinstance(b.get("model"), str)), self.model)
        return {"object": "list", "results": results, "model": model, "usage": self._usage(bodies)}


def _batch_usage(body: dict[str, Any]) -> dict[str, Any]:
    """One reply's usage as {"prompt_tokens", "total_tokens"} (+ the server's "cost"), whichever
    way the provider counts: OpenAI `usage`, DashScope native `usage.total_tokens`, SiliconFlow
    rerank `meta.tokens` (en docs) or a top-level `tokens` (cn docs)."""
    usage = body.get("usage")
    if isinstance(usage, dict):
        total = _int(usage.get("total_tokens")) or _int(usage.get("input_tokens"))
        prompt = _int(usage.get("prompt_tokens")) or _int(usage.get("input_tokens")) or total
        found: dict[str, Any] = {"prompt_tokens": prompt, "total_tokens": total or prompt}
        cost = usage.get("cost")
        if isinstance(cost, (int, float)) and not isinstance(cost, bool):
            found["cost"] = float(cost)
        return found
    meta = body.get("meta")
    tokens = (meta.get("tokens") if isinstance(meta, dict) else None) or body.get("tokens")
    if isinstance(tokens, dict):
        prompt = _int(tokens.get("input_tokens"))
        return {"prompt_tokens": prompt, "total_tokens": prompt + _int(tokens.get("output_tokens"))}
    return {"prompt_tokens": 0, "total_tokens": 0}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _rerank_items(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`results` (compatible APIs, SiliconFlow, vLLM) or `output.results` (DashScope native)."""
    items = body.get("results")
    if items is None and isinstance(body.get("output"), dict):
        items = body["output"].get("results")
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ProtocolError(
            "The rerank reply has no results list; check that the provider serves this rerank path."
        )
    return items


# -- building plans ---------------------------------------------------------------------------


def plan_embed(
    provider: Provider,
    model: str,
    input: str | Sequence[str],
    *,
    dimensions: int | None = None,
    input_type: InputType | None = None,
    max_concurrency: int | None = None,
    params: dict[str, Any] | None = None,
) -> EmbedPlan:
    """Validate an `embed` call and split it into requests of at most the model's row cap.

    >>> from cn_llm_client.providers import get_provider
    >>> plan_embed(get_provider("dashscope"), "text-embedding-v4", "你好", dimensions=100)
    Traceback (most recent call last):
    cn_llm_client.errors.InvalidRequestError: text-embedding-v4 accepts dimensions ...
    """
    _check_model(model)
    path = _served(provider, model, "embedding", provider.embeddings_path)
    info = _entry(model, provider.name, "embedding")
    texts = _texts(input, "input")
    if input_type not in (None, "query", "document"):
        raise InvalidRequestError(
            f"input_type must be 'query', 'document' or None, not {input_type!r}."
        )
    if input_type == "query":
        texts = [query_text(model, text) for text in texts]
    body = _extra_params(params)
    fmt = body.get("encoding_format")
    if fmt not in (None, "float"):
        raise InvalidRequestError(
            f"encoding_format={fmt!r} is not supported: embed returns lists of floats; drop it."
        )
    if dimensions is not None:
        _check_dimensions(model, info, dimensions)
        if info is None or len(info.dimensions) != 1:  # a fixed size is not sent (not honoured)
            body["dimensions"] = dimensions
    cap = info.max_rows if info is not None and info.max_rows else provider.embedding_rows
    batches = [
        Batch(start, len(chunk), {"model": model, "input": chunk, **body})
        for start in range(0, len(texts), cap)
        for chunk in [texts[start : start + cap]]
    ]
    return EmbedPlan(model, provider.name, path, batches, _concurrency(provider, max_concurrency))


def plan_rerank(
    provider: Provider,
    model: str,
    query: str,
    documents: Sequence[str],
    *,
    top_n: int | None = None,
    max_concurrency: int | None = None,
    params: dict[str, Any] | None = None,
) -> RerankPlan:
    """Validate a `rerank` call; more documents than one request takes go in several requests,
    whose scores are merged (a reranker scores each query-document pair on its own).

    >>> from cn_llm_client.providers import get_provider
    >>> plan_rerank(get_provider("siliconflow"), "BAAI/bge-reranker-v2-m3", "问题", [])
    Traceback (most recent call last):
    cn_llm_client.errors.InvalidRequestError: rerank needs at least one document: ...
    """
    _check_model(model)
    path = _served(provider, model, "rerank", provider.rerank_path)
    info = _entry(model, provider.name, "rerank")
    if not isinstance(query, str) or not query:
        raise InvalidRequestError(f"query must be a non-empty string, not {query!r:.60}.")
    if isinstance(documents, (list, tuple)) and not documents:
        raise InvalidRequestError(
            "rerank needs at least one document: pass documents=['...', ...]."
        )
    docs = _texts(documents, "documents")
    if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
        raise InvalidRequestError(
            f"top_n must be an integer >= 1 (or None for all), not {top_n!r}."
        )
    spans = _rerank_spans(query, docs, info)
    body = _extra_params(params)
    if top_n is not None and len(spans) == 1:
        body["top_n"] = top_n  # one request: the server cuts; several: cut after the merge
    batches = [
        Batch(
            start,
            end - start,
            {"model": model, "query": query, "documents": docs[start:end], **body},
        )
        for start, end in spans
    ]
    concurrency = _concurrency(provider, max_concurrency)
    return RerankPlan(model, provider.name, path, batches, concurrency, docs, top_n)


def _rerank_spans(query: str, docs: list[str], info: ModelInfo | None) -> list[tuple[int, int]]:
    """[start, end) ranges of at most `max_rows` documents whose estimated tokens (the query
    counts once per document, as DashScope bills it) stay within `max_request_tokens`."""
    max_rows = info.max_rows if info is not None and info.max_rows else len(docs)
    if info is None or info.max_request_tokens is None:
        return [
            (start, min(start + max_rows, len(docs))) for start in range(0, len(docs), max_rows)
        ]
    budget, per_query = info.max_request_tokens, _estimated_tokens(query)
    spans: list[tuple[int, int]] = []
    start, used = 0, 0
    for i, doc in enumerate(docs):
        cost = per_query + min(_estimated_tokens(doc), info.max_row_tokens or budget)
        if i > start and (used + cost > budget or i - start >= max_rows):
            spans.append((start, i))
            start, used = i, 0
        used += cost
    spans.append((start, len(docs)))
    return spans


def _estimated_tokens(text: str) -> int:
    """An upper estimate of a text's tokens: a CJK character (3 UTF-8 bytes) counts one, other
    text one per 3 characters (real tokenizers: about 1.4 CJK characters or 4 letters a token)."""
    return len(text.encode("utf-8")) // 3 + 1


def query_text(model: str, text: str, *, task: str | None = None) -> str:
    """`text` written the way `model` wants a search query (unchanged for most models).

    Qwen3-Embedding models want an instruction before queries, not before documents:

    >>> query_text("Qwen/Qwen3-Embedding-8B", "什么是RAG？")
    'Instruct: Given a web search query, retrieve relevant passages that answer the query\\nQuery:什么是RAG？'
    >>> query_text("text-embedding-v4", "什么是RAG？")
    '什么是RAG？'
    """
    info = get_model(model)
    if info is None or not info.query_template:
        return text
    return info.query_template.format(task=task or info.query_task or "", text=text)


def _extra_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """The caller's extra body fields (sent as given), minus what belongs to the client."""
    if params and "provider" in params:
        raise InvalidRequestError(
            "provider is set per client: CNLLMClient(provider=...), not per call."
        )
    return dict(params or {})


def _check_model(model: Any) -> None:
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(f"model must be a non-empty model id string, not {model!r:.60}.")


def _served(provider: Provider, model: str, kind: str, path: str | None) -> str:
    """The provider's path for `kind`, or a ConfigurationError naming providers that serve it."""
    if path is not None:
        return path
    noun = "embeddings" if kind == "embedding" else "rerank"
    serving = [p for p in providers_serving(model) if _serves(p, kind)]
    which = "Providers that serve it"
    if not serving:  # a model the catalog does not list
        serving = [p for p in provider_names() if _serves(p, kind)]
        which = f"Providers with a {noun} endpoint"
    first = serving[0] if serving else "openai-compatible"
    raise ConfigurationError(
        f"The {provider.name} provider documents no {noun} endpoint, so {model!r} cannot be "
        f"reached through it. {which}: {', '.join(serving)}; e.g. "
        f"CNLLMClient(provider={first!r}).{'embed' if kind == 'embedding' else 'rerank'}(...)."
    )


def _serves(provider_name: str, kind: str) -> bool:
    from .providers import get_provider

    preset = get_provider(provider_name)
    return (preset.embeddings_path if kind == "embedding" else preset.rerank_path) is not None


def _entry(model: str, provider: str, kind: str) -> ModelInfo | None:
    """The catalog entry of `model` (None when unknown); refuses a model of another kind."""
    info = get_model(model, provider)
    if info is not None and info.kind != kind:
        others = [m.id for m in list_models(provider, kind=kind)][:4]  # type: ignore[arg-type]
        hint = f" {kind} models of {provider}: {', '.join(others)}." if others else ""
        raise InvalidRequestError(f"{model!r} is a {info.kind} model, not a {kind} model.{hint}")
    return info


def _texts(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise InvalidRequestError(
            f"{name} must be a string or a list of strings, not {type(value).__name__}."
        )
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise InvalidRequestError(
                f"{name}[{i}] is a {type(text).__name__}; every item must be a string."
            )
        if not text:
            raise InvalidRequestError(
                f"{name}[{i}] is an empty string, which servers refuse; drop empty texts first."
            )
    return list(value)


def _check_dimensions(model: str, info: ModelInfo | None, dimensions: Any) -> None:
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
        raise InvalidRequestError(f"dimensions must be a positive integer, not {dimensions!r}.")
    if info is not None and info.dimensions and dimensions not in info.dimensions:
        allowed = ", ".join(map(str, info.dimensions))
        raise InvalidRequestError(
            f"{model} accepts dimensions {allowed} (default {info.default_dimensions}), "
            f"not {dimensions}."
        )


def _concurrency(provider: Provider, max_concurrency: int | None) -> int:
    if max_concurrency is None:
        return provider.max_in_flight
    if (
        not isinstance(max_concurrency, int)
        or isinstance(max_concurrency, bool)
        or max_concurrency < 1
    ):
        raise InvalidRequestError(
            f"max_concurrency must be an integer >= 1, not {max_concurrency!r}."
        )
    return max_concurrency
