"""The emulated embedding and rerank models: meaningful, deterministic, as strict as the servers.

Vectors are hashed character n-grams (each CJK character and CJK bigram, each ASCII word),
signed, L2-normalised, in the dimensions asked (else the model's default, else 1024); texts
sharing words and characters get close vectors, so offline retrieval finds the right passage.
A rerank score is the share of the query's n-grams found in the document (0..1).

    >>> a, b, c = (vector(t, 256) for t in ("熊猫吃竹子", "大熊猫爱吃竹子", "长城很长"))
    >>> dot(a, b) > dot(a, c)
    True
    >>> relevance("熊猫吃什么", "熊猫吃竹子") > relevance("熊猫吃什么", "长城在北京")
    True

The gateway (`gateway.py`) only moves these bodies on the wire; `embeddings_reply` and
`rerank_reply` return `(status, body)`, errors already in the mode's shape.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from ._model import count_tokens
from ._modes import LOCAL_MODES, error_body

__all__ = [
    "EMBEDDING_MODES",
    "RERANK_PATHS",
    "dot",
    "embeddings_reply",
    "relevance",
    "rerank_reply",
    "vector",
]

EMBEDDING_MODES = frozenset(
    {"dashscope", "zhipu", "siliconflow", "ollama", "vllm", "llamacpp", "lmstudio"}
)
# The rerank paths each mode serves -> the reply shape of that path.
RERANK_PATHS: dict[str, dict[str, str]] = {
    "dashscope": {
        "/compatible-api/v1/reranks": "dashscope",
        "/api/v1/services/rerank/text-rerank/text-rerank": "dashscope-native",
    },
    "siliconflow": {"/v1/rerank": "siliconflow"},
    "vllm": {"/v1/rerank": "vllm", "/rerank": "vllm", "/v2/rerank": "vllm"},
}
_DEFAULT_DIMENSIONS = 1024
_FEATURES = re.compile(r"[\u3400-\u9fff]|[a-z0-9]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
# DashScope's answer to more than 10 rows, byte for byte (wire-facts-2 §1).
_DASHSCOPE_BATCH = (
    "<400> InternalError.Algo.InvalidParameter: Value error, batch size is invalid, "
    "it should not be larger than {cap}.: input.contents"
)

Reply = tuple[int, dict[str, Any]]


def _features(text: str) -> list[str]:
    tokens = _FEATURES.findall(text.lower())
    bigrams = [
        a + b for a, b in zip(tokens, tokens[1:], strict=False) if _CJK.match(a) and _CJK.match(b)
    ]
    return tokens + bigrams


def _hash(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")


def vector(text: str, dimensions: int) -> list[float]:
    """The emulated embedding of `text`: unit length, `dimensions` floats."""
    weights: dict[int, float] = {}
    for feature in _features(text):
        h = _hash(feature)
        slot = h % dimensions
        weights[slot] = weights.get(slot, 0.0) + (1.0 if (h >> 40) & 1 else -1.0)
    weights = {slot: w for slot, w in weights.items() if w} or {_hash(text) % dimensions: 1.0}
    norm = math.sqrt(sum(w * w for w in weights.values()))
    values = [0.0] * dimensions  # sparse: cheap enough for a 10,000-text benchmark
    for slot, w in weights.items():
        values[slot] = w / norm
    return values


def dot(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two unit vectors."""
    return sum(x * y for x, y in zip(a, b, strict=True))


def relevance(query: str, document: str) -> float:
    """The share of the query's n-grams that the document holds, rounded to 6 places."""
    wanted = set(_features(query))
    if not wanted:
        return 0.0
    return round(len(wanted & set(_features(document))) / len(wanted), 6)


def _error(mode: str, status: int, message: str, rid: str, code: str | None = None) -> Reply:
    return status, error_body(mode, status, message, code=code, request_id=rid)


def _catalog(mode: str, kind: str) -> dict[str, Any]:
    try:
        from cn_llm_client.catalog import list_models
    except ImportError:  # pragma: no cover - the catalog is optional for the emulator
        return {}
    return {m.id: m for m in list_models(mode, kind=kind)}  # type: ignore[arg-type]


def _model(mode: str, kind: str, body: dict[str, Any], extra: frozenset[str], rid: str) -> Any:
    """(catalog entry or None, error reply or None) for the body's model."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return None, _error(mode, 400, "Missing required parameter: model", rid)
    known = _catalog(mode, kind)
    if model in known:
        return known[model], None
    if mode in LOCAL_MODES or model in extra or not known:
        return None, None
    if mode == "dashscope":
        message = f"The model `{model}` does not exist or you do not have access to it."
    else:
        message = f"Model '{model}' is not available for {kind}"
    return None, _error(mode, 404, f"{message}. Valid model ids include: {', '.join(known)}.", rid)


def _texts(mode: str, value: Any, name: str, rid: str) -> tuple[list[str], Reply | None]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        return [], _error(mode, 400, f"{name} must be a non-empty string or list of strings", rid)
    for i, text in enumerate(value):
        if not isinstance(text, str) or not text:
            return [], _error(mode, 400, f"{name}[{i}] must be a non-empty string", rid)
    return value, None


def _too_many(mode: str, rows: int, cap: int | None, rid: str) -> Reply | None:
    if cap is None or rows <= cap:
        return None
    if mode == "dashscope":
        body = {
            "error": {
                "message": _DASHSCOPE_BATCH.format(cap=cap),
                "type": "InvalidParameter",
                "param": None,
                "code": "InvalidParameter",
            },
            "id": rid,
            "request_id": rid,
        }
        return 400, body
    status = 413 if mode == "siliconflow" else 400  # SiliconFlow: 413 (third-party report)
    return _error(mode, status, f"Too many inputs: {rows} in one request, at most {cap}", rid)


def embeddings_reply(mode: str, body: Any, extra: frozenset[str], rid: str) -> Reply:
    """The answer of `POST /v1/embeddings` in `mode` (`extra`: model ids also accepted)."""
    if mode not in EMBEDDING_MODES:
        return _error(mode, 404, "Unknown endpoint POST /v1/embeddings", rid, "unknown_endpoint")
    if not isinstance(body, dict):
        return _error(mode, 400, "Request body is not valid JSON.", rid)
    info, refused = _model(mode, "embedding", body, extra, rid)
    if refused is not None:
        return refused  # type: ignore[no-any-return]
    texts, refused = _texts(mode, body.get("input"), "input", rid)
    if refused is not None:
        return refused
    cap = info.max_rows if info is not None else None
    refused = _too_many(mode, len(texts), cap, rid)
    if refused is not None:
        return refused
    limit = info.max_row_tokens if info is not None else None
    for i, text in enumerate(texts):
        if limit is not None and count_tokens(text) > limit:
            message = f"input[{i}] has {count_tokens(text)} tokens, more than {limit} per text"
            return _error(mode, 400, message, rid)
    dimensions = body.get("dimensions")
    allowed = info.dimensions if info is not None else ()
    if dimensions is None:
        dimensions = (info.default_dimensions if info else None) or _DEFAULT_DIMENSIONS
    elif (
        not isinstance(dimensions, int)
        or isinstance(dimensions, bool)
        or dimensions < 1
        or (allowed and dimensions not in allowed)
    ):
        valid = ", ".join(map(str, allowed)) or "a positive integer"
        return _error(mode, 400, f"dimensions must be one of {valid}, got {dimensions!r}", rid)
    fmt = body.get("encoding_format", "float")
    if fmt != "float":
        return _error(mode, 400, f"encoding_format {fmt!r} is not supported by the emulator", rid)
    data = [
        {"object": "embedding", "index": i, "embedding": vector(text, dimensions)}
        for i, text in enumerate(texts)
    ]
    tokens = sum(count_tokens(text) for text in texts)
    usage: dict[str, Any] = {"prompt_tokens": tokens, "total_tokens": tokens}
    if mode == "zhipu":
        usage["completion_tokens"] = 0
    reply = {"object": "list", "data": data, "model": body["model"], "usage": usage}
    if mode == "dashscope":
        reply["id"] = rid
    return 200, reply


def rerank_reply(mode: str, path: str, body: Any, extra: frozenset[str], rid: str) -> Reply:
    """The answer of the rerank `path` in `mode` (each path has its provider's reply shape)."""
    shape = RERANK_PATHS.get(mode, {}).get(path)
    if shape is None:
        return _error(mode, 404, f"Unknown endpoint POST {path}", rid, "unknown_endpoint")
    if not isinstance(body, dict):
        return _error(mode, 400, "Request body is not valid JSON.", rid)
    info, refused = _model(mode, "rerank", body, extra, rid)
    if refused is not None:
        return refused  # type: ignore[no-any-return]
    native = shape == "dashscope-native"
    source = body.get("input") if native else body
    parameters = body.get("parameters") if native else body
    if not isinstance(source, dict) or not isinstance(parameters, dict):
        return _error(mode, 400, "input and parameters must be objects", rid)
    query = source.get("query")
    if not isinstance(query, str) or not query:
        return _error(mode, 400, "query must be a non-empty string", rid)
    documents, refused = _texts(mode, source.get("documents"), "documents", rid)
    if refused is not None:
        return refused
    refused = _too_many(mode, len(documents), info.max_rows if info else None, rid)
    if refused is not None:
        return refused
    tokens = count_tokens(query) * len(documents) + sum(count_tokens(d) for d in documents)
    budget = info.max_request_tokens if info is not None else None
    if budget is not None and tokens > budget:
        message = f"Input tokens {tokens} exceed the limit of {budget} per request (query x documents + documents)"
        return _error(mode, 400, message, rid)
    top_n = parameters.get("top_n")
    if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 1):
        return _error(mode, 400, f"top_n must be a positive integer, got {top_n!r}", rid)
    scored = sorted(
        ((relevance(query, doc), i) for i, doc in enumerate(documents)),
        key=lambda pair: (-pair[0], pair[1]),
    )[: top_n or None]
    with_text = native or shape == "vllm" or bool(parameters.get("return_documents"))
    results = []
    for score, i in scored:
        item: dict[str, Any] = {"index": i, "relevance_score": score}
        if with_text:
            item["document"] = {"text": documents[i]}
        results.append(item)
    if native:
        return 200, {
            "output": {"results": results},
            "usage": {"total_tokens": tokens},
            "request_id": rid,
        }
    if shape == "siliconflow":
        units = {
            "input_tokens": tokens,
            "output_tokens": 0,
            "search_units": 0,
            "classifications": 0,
        }
        meta = {"tokens": {"input_tokens": tokens, "output_tokens": 0}, "billed_units": units}
        return 200, {"id": f"rerank-{rid}", "results": results, "meta": meta}
    usage = {"total_tokens": tokens}
    return 200, {"id": rid, "model": body["model"], "results": results, "usage": usage}
