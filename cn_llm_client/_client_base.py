"""What both clients share but I/O: settings, payload building, completion post-processing.

``CNLLMClient`` and ``AsyncCNLLMClient`` (``client.py``) add the I/O on top of ``_ClientBase``:
payloads come from ``_payload.build_payload`` and every completion passes through
``_ClientBase._finish`` (cost from the catalog when the gateway did not send one, ``request_id``
added, the meter charged). The module-level helpers are the clients' pure steps (argument
checks, compare_models rows, text pieces of a chunk).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._config import ConnectionSettings, resolve_settings
from ._embeddings import EmbedPlan, InputType, RerankPlan, plan_embed, plan_rerank
from .budget import CostMeter
from .errors import InvalidRequestError

if TYPE_CHECKING:
    from ._documents import DocumentCache, DocumentPlan
    from ._web_search import SearchRounds

MODEL_MAP: Mapping[str, str] = {
    "chat": "qwen3-max",  # general chat
    "code": "qwen3-coder-plus",  # code generation
    "reasoning": "deepseek-r1",  # complex reasoning
    "vision": "qwen3-vl-plus",  # visual understanding
    "fast": "qwen3-coder-flash",  # fast response
    "translate": "qwen-mt-flash",  # machine translation
}
"""The seed's task router table; ``model_map=`` overrides entries per client.

    >>> from cn_llm_client import CNLLMClient
    >>> MODEL_MAP["code"]
    'qwen3-coder-plus'
    >>> CNLLMClient(model_map={"code": "deepseek-v3"}).model_map["code"]
    'deepseek-v3'
"""

CHAT_PATH = "/chat/completions"
MODELS_PATH = "/models"
COMPLETIONS_PATH = "/completions"  # text completions: FIM (fill in the middle)

Messages = list[dict[str, Any]]
_P = TypeVar("_P", EmbedPlan, RerankPlan)


class _ClientBase:
    """Settings, payload building and completion post-processing shared by both clients."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        provider: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        deadline: float | None = None,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        model_map: Mapping[str, str] | None = None,
        meter: CostMeter | None = None,
    ) -> None:
        self._settings: ConnectionSettings = resolve_settings(api_key, base_url, provider)
        # Everything needed to rebuild the client except the key and the http client (pickling).
        self._options: dict[str, Any] = {
            "base_url": self._settings.base_url,
            "provider": self._settings.provider.name,
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "deadline": deadline,
            "max_retries": max_retries,
            "default_headers": dict(default_headers or {}),
            "model_map": dict(model_map or {}),
            "meter": meter,
        }
        self.model_map: dict[str, str] = {**MODEL_MAP, **(model_map or {})}
        self.meter = meter
        self._document_cache: DocumentCache | None = None  # uploads by content hash

    @property
    def base_url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return self._settings.base_url

    @property
    def provider(self) -> str:
        """The provider preset's name ("aisa" unless ``provider=`` said otherwise)."""
        return self._settings.provider.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, provider={self.provider!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self._options))

    def _transport_args(self) -> dict[str, Any]:
        from ._transport import Timeouts

        o = self._options
        return {
            "base_url": self._settings.base_url,
            "api_key": self._settings.api_key,
            "timeout": Timeouts(
                connect=o["connect_timeout"], read=o["timeout"], total=o["deadline"]
            ),
            "max_retries": o["max_retries"],
            "default_headers": o["default_headers"] or None,
            "provider": self._settings.provider.name,
        }

    def _payload(
        self, model: str, messages: Messages, stream: bool, params: dict[str, Any]
    ) -> dict:
        """Check the budget, then validate and build the request body (raises before any I/O)."""
        from ._payload import build_payload

        _check_reserved(params)
        if self.meter is not None:
            self.meter.check()
        return build_payload(model, messages, stream=stream, provider=self.provider, **params)

    def _chat_path(self, params: Mapping[str, Any]) -> str:
        """CHAT_PATH, or the whole chat URL on the beta base for DeepSeek's prefix completion."""
        preset = self._settings.provider
        if params.get("assistant_prefix") is not None and preset.assistant_prefix == "prefix":
            return preset.beta_url(self.base_url) + CHAT_PATH
        return CHAT_PATH

    def _fim(
        self, model: str, prompt: str, suffix: str | None, stream: bool, params: dict[str, Any]
    ) -> tuple[str, dict]:
        """(URL, body) of a fill-in-the-middle request: ``<beta base>/completions`` on DeepSeek."""
        from ._payload import build_fim_payload

        _check_reserved(params)
        if self.meter is not None:
            self.meter.check()
        payload = build_fim_payload(
            model, prompt, suffix=suffix, stream=stream, provider=self.provider, **params
        )
        preset = self._settings.provider
        base = preset.beta_url(self.base_url) if preset.beta_path else self.base_url
        return base + COMPLETIONS_PATH, payload

    def _folds_stream(self, model: str, params: dict[str, Any]) -> bool:
        """Whether a non-stream call streams and folds underneath (``_payload.needs_stream``)."""
        from ._payload import needs_stream

        _check_reserved(params)
        return needs_stream(model, provider=self.provider, **params)

    def _document_plan(
        self, model: str, messages: Messages, params: dict[str, Any]
    ) -> tuple[DocumentPlan, DocumentCache] | None:
        """The call's documents (``documents=``, file parts), popped from `params`; None: none."""
        from ._documents import DocumentCache, plan_documents

        plan = plan_documents(model, self.provider, messages, params.pop("documents", None))
        if plan is None:
            return None
        if self._document_cache is None:
            self._document_cache = DocumentCache()
        return plan, self._document_cache

    def _search_rounds(self, messages: Messages, params: dict[str, Any]) -> SearchRounds | None:
        """Kimi's `$web_search` echo loop when `web_search=` asks for it here, else None."""
        from ._web_search import SearchRounds, wants_echo

        if wants_echo(params.get("web_search"), self.provider):
            return SearchRounds(messages)
        return None

    def _finish(self, model: str, completion: Any, request_id: str | None) -> Any:
        """Fill usage["cost"] from the catalog when missing, add request_id, charge the meter."""
        usage = completion.get("usage")
        if isinstance(usage, dict):
            self._fill_cost(model, usage)
        if request_id:
            completion["request_id"] = request_id
        if self.meter is not None:
            self.meter.charge(usage, usage.get("cost") if isinstance(usage, dict) else None)
        return completion

    def _fill_cost(self, model: str, usage: dict) -> None:
        """usage["cost"] in USD: the server's figure, else the catalog's prices (if it has any)."""
        from .catalog import cost_of

        if usage.get("cost") is None:
            cost = cost_of(model, usage, self.provider)
            if cost is not None:
                usage["cost"] = cost

    def _route_model(self, task: str) -> str:
        return self.model_map.get(task, self.model_map["chat"])

    def _plan(self, build: Callable[..., _P], *args: Any, **kwargs: Any) -> _P:
        """Check the budget, then validate and split a retrieval call (``_embeddings``)."""
        if self.meter is not None:
            self.meter.check()
        return build(self._settings.provider, *args, **kwargs)

    def _embed_plan(
        self,
        model: str,
        input: str | list[str],
        dimensions: int | None,
        input_type: InputType | None,
        max_concurrency: int | None,
        params: dict[str, Any],
    ) -> EmbedPlan:
        """``embed``'s arguments checked and split into batches (both clients)."""
        return self._plan(
            plan_embed,
            model,
            input,
            dimensions=dimensions,
            input_type=input_type,
            max_concurrency=max_concurrency,
            params=params,
        )

    def _rerank_plan(
        self,
        model: str,
        query: str,
        documents: list[str],
        top_n: int | None,
        max_concurrency: int | None,
        params: dict[str, Any],
    ) -> RerankPlan:
        """``rerank``'s arguments checked and split into batches (both clients)."""
        return self._plan(
            plan_rerank,
            model,
            query,
            documents,
            top_n=top_n,
            max_concurrency=max_concurrency,
            params=params,
        )

    def _batch_done(self, plan: EmbedPlan | RerankPlan, body: dict) -> dict:
        """Charge the meter for one batch's reply."""
        if self.meter is not None:
            usage = plan.batch_usage(body)
            self.meter.charge(usage, usage.get("cost"))
        return body


def _rebuild(cls: type[_ClientBase], options: dict[str, Any]) -> _ClientBase:
    return cls(**options)


def _check_reserved(params: Mapping[str, Any]) -> None:
    """`stream` and `provider` are the client's to set; per call they would clash in build_payload."""
    if "stream" in params:
        raise InvalidRequestError(
            "stream= is not a call parameter: use client.stream(...) for chunk dicts or "
            "client.chat_stream(...) for text pieces."
        )
    if "provider" in params:
        raise InvalidRequestError(
            "provider is set per client: CNLLMClient(provider=...), not per call."
        )


def _user(message: str) -> Messages:
    return [{"role": "user", "content": message}]


def _check_models(models: list[str]) -> list[str]:
    if isinstance(models, str) or not models or not all(isinstance(m, str) and m for m in models):
        raise InvalidRequestError(
            "compare_models needs a non-empty list of model ids, e.g. ['qwen3-max', 'deepseek-v3']."
        )
    return list(dict.fromkeys(models))


def _comparison(
    model: str,
    completion: Mapping[str, Any] | None,
    error: Exception | None,
    started: float,
    on_result: Callable[[str, dict], None] | None,
) -> dict:
    """One model's row of compare_models, handed to `on_result` as soon as it is known."""
    usage = (completion or {}).get("usage") or {}
    choices = (completion or {}).get("choices") or [{}]
    result = {
        "response": (choices[0].get("message") or {}).get("content") or "",
        "usage": None if completion is None else usage,
        "cost": usage.get("cost"),
        "latency_s": time.perf_counter() - started,
        "error": None if error is None else str(error),
    }
    if on_result is not None:
        on_result(model, result)
    return result


def _model_ids(listing: dict) -> list[str]:
    """The ids of an OpenAI-style model list, ``{"data": [{"id": ...}, ...]}``."""
    rows = listing.get("data") if isinstance(listing, dict) else None
    return [r["id"] for r in rows or () if isinstance(r, dict) and isinstance(r.get("id"), str)]


def _text_pieces(chunk: Mapping[str, Any]) -> Iterator[str]:
    """The text of a chat chunk (``delta.content``) or a text-completion chunk (``text``)."""
    for choice in chunk.get("choices") or ():
        content = (choice.get("delta") or {}).get("content") or choice.get("text")
        if content:
            yield content
