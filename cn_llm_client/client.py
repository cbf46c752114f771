"""The SDK of the seed: ``CNLLMClient`` and ``AsyncCNLLMClient``.

    from cn_llm_client import CNLLMClient

    client = CNLLMClient()                     # AISA_API_KEY from the environment
    response = client.chat(model="qwen3-max", messages=[{"role": "user", "content": "Hello!"}])
    print(response["choices"][0]["message"]["content"], response["usage"]["cost"])

    for piece in client.chat_stream(model="deepseek-v3", messages=[...]):
        print(piece, end="", flush=True)

    results = client.compare_models(["qwen3-max", "deepseek-v3"], "What is quantum computing?")
    client.route("code", "Write a binary search")     # MODEL_MAP picks qwen3-coder-plus

    async with AsyncCNLLMClient() as aclient:          # the same names, awaitable
        response = await aclient.chat("qwen3-max", [...])

The examples of each class and method run against the offline gateway (tests/test_docstrings.py
sets AISA_BASE_URL to it), which answers ``"[<model>] <your text>"``; real models answer better.

Both clients share everything but I/O: payloads come from ``_payload.build_payload`` and every
completion passes through ``_ClientBase._finish`` (cost from the catalog when the gateway did not
send one, ``request_id`` added, the meter charged).

Pickling: a client pickles as its constructor settings, never its key. Unpickling re-reads the
key from the provider's environment variable (``AISA_API_KEY``...), so a client built with an
explicit ``api_key=`` needs that variable in the receiving process, or unpickling raises
ConfigurationError. A caller-supplied ``http_client`` is not pickled: the copy makes its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ._config import ConnectionSettings, resolve_settings
from ._embeddings import EmbedPlan, InputType, Progress, RerankPlan, plan_embed, plan_rerank
from ._files import AsyncFilesMixin, FilesMixin
from .budget import CostMeter
from .errors import CNLLMError, InvalidRequestError

if TYPE_CHECKING:
    import httpx

    from ._documents import DocumentCache, DocumentPlan
    from ._transport import AsyncChatStream, ChatStream
    from ._web_search import SearchRounds
    from .types import ChatCompletion, ChatCompletionChunk, EmbeddingResponse, RerankResponse

__all__ = ["MODEL_MAP", "AsyncCNLLMClient", "CNLLMClient"]

MODEL_MAP: Mapping[str, str] = {
    "chat": "qwen3-max",  # general chat
    "code": "qwen3-coder-plus",  # code generation
    "reasoning": "deepseek-r1",  # complex reasoning
    "vision": "qwen3-vl-plus",  # visual understanding
    "fast": "qwen3-coder-flash",  # fast response
    "translate": "qwen-mt-flash",  # machine translation
}
"""The seed's task router table; ``model_map=`` overrides entries per client.

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


class CNLLMClient(FilesMixin, _ClientBase):
    """Synchronous client; one connection pool per client. See the module docstring.

    >>> with CNLLMClient() as client:  # AISA_API_KEY (and AISA_BASE_URL, if set) from the env
    ...     response = client.chat("qwen3-max", [{"role": "user", "content": "Hello!"}])
    >>> response["choices"][0]["message"]["content"]
    '[qwen3-max] Hello!'
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        http_client: httpx.Client | None = None,
        **options: Any,
    ) -> None:
        super().__init__(api_key, base_url, **options)
        from ._transport import Transport

        self._transport = Transport(**self._transport_args(), http_client=http_client)

    def chat(self, model: str, messages: Messages, **params: Any) -> ChatCompletion:
        """One completion (the seed's response dict, with usage["cost"] and "request_id").

        >>> client = CNLLMClient()
        >>> response = client.chat("qwen3-max", [{"role": "user", "content": "Hello!"}])
        >>> response["choices"][0]["message"]["content"], response["request_id"]
        ('[qwen3-max] Hello!', 'req_...')
        >>> response["usage"]["cost"] > 0  # USD: the gateway's figure, else the catalog's prices
        True
        """
        messages = self._with_documents(model, messages, params)
        rounds = self._search_rounds(messages, params)
        if rounds is None:
            return self._chat_once(model, messages, params)
        while True:
            completion = self._chat_once(model, rounds.messages, params)
            if not rounds.next(completion):
                return cast("ChatCompletion", rounds.finish(completion))

    def _chat_once(self, model: str, messages: Messages, params: dict[str, Any]) -> Any:
        if self._folds_stream(model, params):
            with self._stream_once(model, messages, params) as stream:
                for _ in stream:
                    pass
                return stream.completion()
        payload = self._payload(model, messages, False, params)
        response = self._transport.post(self._chat_path(params), payload)
        return self._finish(model, response.data, response.request_id)

    def stream(self, model: str, messages: Messages, **params: Any) -> MeteredStream | SearchStream:
        """A stream of chunk dicts; ``.completion()`` is the fold (cost filled once complete).

        >>> client = CNLLMClient()
        >>> with client.stream("deepseek-r1", [{"role": "user", "content": "Why?"}]) as stream:
        ...     chunks = list(stream)
        >>> message = stream.completion()["choices"][0]["message"]
        >>> message["reasoning_content"], message["content"]
        ('Thinking about: Why?', '[deepseek-r1] Why?')
        """
        messages = self._with_documents(model, messages, params)  # uploads happen here
        rounds = self._search_rounds(messages, params)
        if rounds is not None:
            return SearchStream(lambda m: self._stream_once(model, m, params), rounds)
        return self._stream_once(model, messages, params)

    def _with_documents(self, model: str, messages: Messages, params: dict[str, Any]) -> Messages:
        """`messages` referencing the call's documents, uploaded first (once per client)."""
        planned = self._document_plan(model, messages, params)
        if planned is None:
            return messages
        plan, cache = planned
        for doc in plan.pending(cache):
            cache.remember(doc.digest, self.upload_file(doc.content, filename=doc.name)["id"])
        for file_id in plan.texts_missing(cache):
            cache.remember_text(file_id, self.file_content(file_id).decode("utf-8", "replace"))
        return plan.final_messages(cache)

    def _stream_once(self, model: str, messages: Messages, params: dict[str, Any]) -> MeteredStream:
        payload = self._payload(model, messages, True, params)
        chunks = self._transport.stream(self._chat_path(params), payload)
        return MeteredStream(chunks, model, self)

    def chat_stream(self, model: str, messages: Messages, **params: Any) -> Iterator[str]:
        """Text pieces as they arrive (the seed's streaming call).

        >>> client = CNLLMClient()
        >>> pieces = client.chat_stream("deepseek-v3", [{"role": "user", "content": "你好"}])
        >>> "".join(pieces)
        '[deepseek-v3] 收到：你好'
        """
        with self.stream(model, messages, **params) as stream:
            for chunk in stream:
                yield from _text_pieces(chunk)

    def fim(self, model: str, prompt: str, *, suffix: str | None = None, **params: Any) -> dict:
        """Fill in the middle (DeepSeek): the text between ``prompt`` and ``suffix``, in
        ``choices[0]["text"]`` (usage["cost"] and "request_id" added as for ``chat``).

        ``params``: max_tokens (at most 4096 on DeepSeek), temperature, stop, echo, logprobs...
        Other providers are refused before any request.

        >>> from cn_llm_client.testing import FakeGateway
        >>> with FakeGateway(mode="deepseek") as gw:
        ...     client = CNLLMClient(provider="deepseek", base_url=gw.base_url, api_key=gw.api_key)
        ...     body = client.fim("deepseek-chat", "def fib(n):\\n", suffix="    return a\\n")
        ...     path = gw.requests[-1].path
        >>> path, body["choices"][0]["text"]
        ('/beta/completions', "    # [deepseek-chat] fills 'def fib(n):' ... 'return a'\\n")
        """
        url, payload = self._fim(model, prompt, suffix, False, params)
        response = self._transport.post(url, payload)
        return self._finish(model, response.data, response.request_id)

    def fim_stream(
        self, model: str, prompt: str, *, suffix: str | None = None, **params: Any
    ) -> Iterator[str]:
        """``fim`` streamed: text pieces as they arrive (the meter is charged at the end)."""
        url, payload = self._fim(model, prompt, suffix, True, params)
        with MeteredStream(self._transport.stream(url, payload), model, self) as stream:
            for chunk in stream:
                yield from _text_pieces(chunk)

    def compare_models(
        self,
        models: list[str],
        message: str,
        *,
        on_result: Callable[[str, dict], None] | None = None,
        **params: Any,
    ) -> dict[str, dict]:
        """Ask every model the same question at once; a failing model records its error.

        ``on_result(model, result)`` is called as each model finishes (from its worker thread),
        e.g. to draw progress.

        >>> client = CNLLMClient()
        >>> results = client.compare_models(["qwen3-max", "nope"], "What is 2+2?")
        >>> results["qwen3-max"]["response"], sorted(results["qwen3-max"])
        ('[qwen3-max] What is 2+2?', ['cost', 'error', 'latency_s', 'response', 'usage'])
        >>> results["nope"]["error"]
        "HTTP 404 [unknown_model] Model 'nope' is not available. ..."
        """
        models = _check_models(models)

        def one(model: str) -> dict:
            start = time.perf_counter()
            try:
                completion = self.chat(model, _user(message), **params)
            except CNLLMError as exc:
                return _comparison(model, None, exc, start, on_result)
            return _comparison(model, completion, None, start, on_result)

        with ThreadPoolExecutor(max_workers=len(models)) as pool:
            return dict(zip(models, pool.map(one, models), strict=True))

    def embed(
        self,
        model: str,
        input: str | list[str],
        *,
        dimensions: int | None = None,
        input_type: InputType | None = None,
        max_concurrency: int | None = None,
        on_progress: Progress | None = None,
        **params: Any,
    ) -> EmbeddingResponse:
        """Embedding vectors for ``input`` (a text or a list), in the OpenAI embeddings shape.

        Long lists go in batches of the model's row cap (DashScope: 10), at most
        ``max_concurrency`` at once (default: the provider preset's), in input order;
        ``input_type="query"`` writes each text the way the model wants a search query
        (``query_text``); ``on_progress(done, total)`` is called after each batch.

        The AIsa gateway documents no embeddings endpoint: use a provider that serves the model
        (the error names them). Here the emulator plays DashScope:

        >>> CNLLMClient().embed("text-embedding-v4", "你好")
        Traceback (most recent call last):
        cn_llm_client.errors.ConfigurationError: The aisa provider documents no embeddings ...
        >>> from cn_llm_client.testing import FakeGateway
        >>> with FakeGateway(mode="dashscope") as gw:
        ...     client = CNLLMClient(gw.api_key, gw.base_url, provider="dashscope")
        ...     result = client.embed("text-embedding-v4", ["你好", "世界"], dimensions=64)
        >>> [(row["index"], len(row["embedding"])) for row in result["data"]]
        [(0, 64), (1, 64)]
        >>> result["usage"]["total_tokens"], result["usage"]["cost"] > 0
        (4, True)
        """
        plan = self._plan(
            plan_embed,
            model,
            input,
            dimensions=dimensions,
            input_type=input_type,
            max_concurrency=max_concurrency,
            params=params,
        )
        return cast("EmbeddingResponse", plan.merge(self._send_batches(plan, on_progress)))

    def rerank(
        self,
        model: str,
        query: str,
        documents: list[str],
        *,
        top_n: int | None = None,
        max_concurrency: int | None = None,
        on_progress: Progress | None = None,
        **params: Any,
    ) -> RerankResponse:
        """``documents`` scored against ``query``: ``results`` sorted by score, highest first.

        ``document`` is the text sent; ``usage`` as in ``embed``. More documents than the
        model's cap go in several requests whose scores are merged, then cut to ``top_n``.

        >>> from cn_llm_client.testing import FakeGateway
        >>> docs = ["长城在北京附近。", "熊猫吃竹子。"]
        >>> with FakeGateway(mode="dashscope") as gw:
        ...     client = CNLLMClient(gw.api_key, gw.base_url, provider="dashscope")
        ...     result = client.rerank("qwen3-rerank", "熊猫吃什么？", docs, top_n=1)
        >>> [(r["index"], r["document"]) for r in result["results"]]
        [(1, '熊猫吃竹子。')]
        """
        plan = self._plan(
            plan_rerank,
            model,
            query,
            documents,
            top_n=top_n,
            max_concurrency=max_concurrency,
            params=params,
        )
        return cast("RerankResponse", plan.merge(self._send_batches(plan, on_progress)))

    def _send_batches(
        self, plan: EmbedPlan | RerankPlan, on_progress: Progress | None
    ) -> list[dict]:
        """Every batch's reply, in batch order; at most ``plan.concurrency`` requests at once."""

        def send(index: int) -> dict:
            if self.meter is not None:
                self.meter.check()
            response = self._transport.post(plan.path, plan.batches[index].payload)
            return self._batch_done(plan, response.data)

        bodies: list[dict] = [{}] * len(plan.batches)
        if len(plan.batches) == 1:  # no thread for a single request
            bodies[0] = send(0)
            if on_progress is not None:
                on_progress(plan.total, plan.total)
        if len(plan.batches) <= 1:
            return bodies
        done = 0
        with ThreadPoolExecutor(max_workers=min(plan.concurrency, len(plan.batches))) as pool:
            futures = {pool.submit(send, i): i for i in range(len(plan.batches))}
            try:
                for future in as_completed(futures):
                    index = futures[future]
                    bodies[index] = future.result()
                    done += plan.batches[index].rows
                    if on_progress is not None:
                        on_progress(done, plan.total)
            except BaseException:
                for future in futures:  # a failed batch fails the call: send no more
                    future.cancel()
                raise
        return bodies

    def list_remote_models(self) -> list[str]:
        """The model ids the server itself lists (``GET /models``), in its order; compare with
        the catalog (``cn-llm models --remote``) when an id it should serve is refused.

        >>> from cn_llm_client.testing import FakeGateway
        >>> with FakeGateway(mode="deepseek") as gw:
        ...     client = CNLLMClient(provider="deepseek", api_key=gw.api_key, base_url=gw.base_url)
        ...     client.list_remote_models()
        ['deepseek-chat', 'deepseek-reasoner']
        """
        return _model_ids(self._transport.request("GET", MODELS_PATH).data)

    def route(self, task: str, message: str, **params: Any) -> ChatCompletion:
        """Send ``message`` to the model ``model_map`` names for ``task`` (unknown: "chat").

        >>> CNLLMClient().route("code", "Write a binary search")["model"]
        'qwen3-coder-plus'
        """
        return self.chat(self._route_model(task), _user(message), **params)

    def close(self) -> None:
        """Close the connection pool (``with CNLLMClient() as client:`` does it for you)."""
        self._transport.close()

    def __enter__(self) -> CNLLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncCNLLMClient(AsyncFilesMixin, _ClientBase):
    """Asynchronous client (aiohttp-backed httpx pool by default): CNLLMClient's methods, awaitable.

    >>> import asyncio
    >>> async def main() -> str:
    ...     async with AsyncCNLLMClient() as client:
    ...         response = await client.chat("qwen3-max", [{"role": "user", "content": "Hi"}])
    ...     return response["choices"][0]["message"]["content"]
    >>> asyncio.run(main())
    '[qwen3-max] Hi'
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        super().__init__(api_key, base_url, **options)
        from ._transport import AsyncTransport

        self._transport = AsyncTransport(**self._transport_args(), http_client=http_client)

    async def chat(self, model: str, messages: Messages, **params: Any) -> ChatCompletion:
        """One completion, as ``CNLLMClient.chat`` (example: the class docstring)."""
        messages = await self._with_documents(model, messages, params)
        rounds = self._search_rounds(messages, params)
        if rounds is None:
            return await self._chat_once(model, messages, params)
        while True:
            completion = await self._chat_once(model, rounds.messages, params)
            if not rounds.next(completion):
                return cast("ChatCompletion", rounds.finish(completion))

    async def _chat_once(self, model: str, messages: Messages, params: dict[str, Any]) -> Any:
        if self._folds_stream(model, params):
            async with self._stream_once(model, messages, params) as stream:
                async for _ in stream:
                    pass
                return stream.completion()
        payload = self._payload(model, messages, False, params)
        response = await self._transport.post(self._chat_path(params), payload)
        return self._finish(model, response.data, response.request_id)

    def stream(
        self, model: str, messages: Messages, **params: Any
    ) -> AsyncMeteredStream | AsyncSearchStream | AsyncPreparedStream:
        """Chunk dicts for ``async with`` / ``async for``; see ``CNLLMClient.stream``.

        With documents, they are uploaded when the stream is entered or first iterated."""
        planned = self._document_plan(model, messages, params)
        if planned is not None:

            async def prepare() -> AsyncMeteredStream | AsyncSearchStream:
                return self._stream_ready(model, await self._upload_documents(*planned), params)

            return AsyncPreparedStream(prepare)
        return self._stream_ready(model, messages, params)

    def _stream_ready(
        self, model: str, messages: Messages, params: dict[str, Any]
    ) -> AsyncMeteredStream | AsyncSearchStream:
        rounds = self._search_rounds(messages, params)
        if rounds is not None:
            return AsyncSearchStream(lambda m: self._stream_once(model, m, params), rounds)
        return self._stream_once(model, messages, params)

    async def _with_documents(
        self, model: str, messages: Messages, params: dict[str, Any]
    ) -> Messages:
        planned = self._document_plan(model, messages, params)
        return messages if planned is None else await self._upload_documents(*planned)

    async def _upload_documents(self, plan: DocumentPlan, cache: DocumentCache) -> Messages:
        """As ``CNLLMClient._with_documents``: upload once, fetch Kimi's texts once."""
        for doc in plan.pending(cache):
            uploaded = await self.upload_file(doc.content, filename=doc.name)
            cache.remember(doc.digest, uploaded["id"])
        for file_id in plan.texts_missing(cache):
            text = (await self.file_content(file_id)).decode("utf-8", "replace")
            cache.remember_text(file_id, text)
        return plan.final_messages(cache)

    def _stream_once(
        self, model: str, messages: Messages, params: dict[str, Any]
    ) -> AsyncMeteredStream:
        payload = self._payload(model, messages, True, params)
        chunks = self._transport.stream(self._chat_path(params), payload)
        return AsyncMeteredStream(chunks, model, self)

    async def chat_stream(
        self, model: str, messages: Messages, **params: Any
    ) -> AsyncIterator[str]:
        """Text pieces as they arrive.

        >>> import asyncio
        >>> async def main() -> list[str]:
        ...     async with AsyncCNLLMClient() as client:
        ...         messages = [{"role": "user", "content": "Hi"}]
        ...         return [piece async for piece in client.chat_stream("qwen3-max", messages)]
        >>> "".join(asyncio.run(main()))
        '[qwen3-max] Hi'
        """
        async with self.stream(model, messages, **params) as stream:
            async for chunk in stream:
                for piece in _text_pieces(chunk):
                    yield piece

    async def fim(
        self, model: str, prompt: str, *, suffix: str | None = None, **params: Any
    ) -> dict:
        """Fill in the middle, as ``CNLLMClient.fim``."""
        url, payload = self._fim(model, prompt, suffix, False, params)
        response = await self._transport.post(url, payload)
        return self._finish(model, response.data, response.request_id)

    async def fim_stream(
        self, model: str, prompt: str, *, suffix: str | None = None, **params: Any
    ) -> AsyncIterator[str]:
        """``fim`` streamed: text pieces as they arrive."""
        url, payload = self._fim(model, prompt, suffix, True, params)
        chunks = self._transport.stream(url, payload)
        async with AsyncMeteredStream(chunks, model, self) as stream:
            async for chunk in stream:
                for piece in _text_pieces(chunk):
                    yield piece

    async def compare_models(
        self,
        models: list[str],
        message: str,
        *,
        on_result: Callable[[str, dict], None] | None = None,
        **params: Any,
    ) -> dict[str, dict]:
        """Ask every model at once, as ``CNLLMClient.compare_models``."""
        models = _check_models(models)

        async def one(model: str) -> dict:
            start = time.perf_counter()
            try:
                completion = await self.chat(model, _user(message), **params)
            except CNLLMError as exc:
                return _comparison(model, None, exc, start, on_result)
            return _comparison(model, completion, None, start, on_result)

        return dict(zip(models, await asyncio.gather(*(one(m) for m in models)), strict=True))

    async def embed(
        self,
        model: str,
        input: str | list[str],
        *,
        dimensions: int | None = None,
        input_type: InputType | None = None,
        max_concurrency: int | None = None,
        on_progress: Progress | None = None,
        **params: Any,
    ) -> EmbeddingResponse:
        """Embedding vectors, as ``CNLLMClient.embed`` (batches sent concurrently, bounded).

        >>> import asyncio
        >>> from cn_llm_client.testing import FakeGateway
        >>> async def main(gw: FakeGateway) -> list[int]:
        ...     async with AsyncCNLLMClient(gw.api_key, gw.base_url, provider="dashscope") as c:
        ...         result = await c.embed("text-embedding-v4", ["你好"] * 12)  # 2 requests
        ...     return [row["index"] for row in result["data"]]
        >>> with FakeGateway(mode="dashscope") as gw:
        ...     asyncio.run(main(gw)) == list(range(12)), len(gw.requests)
        (True, 2)
        """
        plan = self._plan(
            plan_embed,
            model,
            input,
            dimensions=dimensions,
            input_type=input_type,
            max_concurrency=max_concurrency,
            params=params,
        )
        return cast("EmbeddingResponse", plan.merge(await self._send_batches(plan, on_progress)))

    async def rerank(
        self,
        model: str,
        query: str,
        documents: list[str],
        *,
        top_n: int | None = None,
        max_concurrency: int | None = None,
        on_progress: Progress | None = None,
        **params: Any,
    ) -> RerankResponse:
        """Documents scored against the query, as ``CNLLMClient.rerank``."""
        plan = self._plan(
            plan_rerank,
            model,
            query,
            documents,
            top_n=top_n,
            max_concurrency=max_concurrency,
            params=params,
        )
        return cast("RerankResponse", plan.merge(await self._send_batches(plan, on_progress)))

    async def _send_batches(
        self, plan: EmbedPlan | RerankPlan, on_progress: Progress | None
    ) -> list[dict]:
        limit = asyncio.Semaphore(plan.concurrency)
        done = 0

        async def send(index: int) -> dict:
            nonlocal done
            async with limit:
                if self.meter is not None:
                    self.meter.check()
                response = await self._transport.post(plan.path, plan.batches[index].payload)
            body = self._batch_done(plan, response.data)
            done += plan.batches[index].rows
            if on_progress is not None:
                on_progress(done, plan.total)
            return body

        tasks = [asyncio.ensure_future(send(i)) for i in range(len(plan.batches))]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:  # a failed batch fails the call: send no more
                task.cancel()
            raise

    async def list_remote_models(self) -> list[str]:
        """The model ids the server lists (``GET /models``), as ``CNLLMClient.list_remote_models``."""
        return _model_ids((await self._transport.request("GET", MODELS_PATH)).data)

    async def route(self, task: str, message: str, **params: Any) -> ChatCompletion:
        """Send ``message`` to the model for ``task``, as ``CNLLMClient.route``."""
        return await self.chat(self._route_model(task), _user(message), **params)

    async def aclose(self) -> None:
        """Close the connection pool (``async with AsyncCNLLMClient() as client:`` does it)."""
        await self._transport.aclose()

    close = aclose  # the openai SDK's AsyncOpenAI name, for code moving over from it

    async def __aenter__(self) -> AsyncCNLLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _MeteredBase:
    """Delegates to the transport's stream; prices the usage chunk as it passes (so readers of
    the chunks see usage["cost"]) and post-processes the fold once it completes."""

    def __init__(self, inner: Any, model: str, client: _ClientBase) -> None:
        self._inner = inner
        self._model = model
        self._client = client
        self._final: ChatCompletion | None = None

    @property
    def request_id(self) -> str | None:
        return self._inner.request_id  # type: ignore[no-any-return]

    @property
    def headers(self) -> dict[str, str]:
        return self._inner.headers  # type: ignore[no-any-return]

    def completion(self) -> ChatCompletion:
        """The fold so far; after the stream completed, with usage["cost"] and request_id."""
        return self._final if self._final is not None else self._inner.completion()  # type: ignore[no-any-return]

    def _priced(self, chunk: Any) -> Any:
        usage = chunk.get("usage")
        if usage:
            self._client._fill_cost(self._model, usage)
        return chunk

    def _complete(self) -> None:
        if self._final is None:
            completion = self._inner.completion()
            self._final = self._client._finish(self._model, completion, self.request_id)


class MeteredStream(_MeteredBase):
    """The client's view of a ``ChatStream``: iterate chunk dicts; use as a context manager."""

    _inner: ChatStream

    def __init__(self, inner: ChatStream, model: str, client: _ClientBase) -> None:
        super().__init__(inner, model, client)
        self._chunks: Iterator[dict] | None = None

    def __iter__(self) -> MeteredStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        # Not a generator: an abandoned iterator must not close the underlying stream.
        if self._chunks is None:
            self._chunks = iter(self._inner)  # opens the stream
        try:
            return self._priced(next(self._chunks))
        except StopIteration:
            self._complete()
            raise

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> MeteredStream:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._inner.__exit__(*exc)


class AsyncMeteredStream(_MeteredBase):
    """The async client's view of an ``AsyncChatStream``."""

    _inner: AsyncChatStream

    def __init__(self, inner: AsyncChatStream, model: str, client: _ClientBase) -> None:
        super().__init__(inner, model, client)
        self._chunks: AsyncIterator[dict] | None = None

    def __aiter__(self) -> AsyncMeteredStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._chunks is None:
            self._chunks = aiter(self._inner)
        try:
            return self._priced(await anext(self._chunks))
        except StopAsyncIteration:
            self._complete()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> AsyncMeteredStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._inner.__aexit__(*exc)


def _held(chunk: dict) -> bool:
    """A chunk a search round holds back until it is known to be the answer's: tool-call
    fragments (the `$web_search` call), the finish reason and usage."""
    if chunk.get("usage"):
        return True
    return any(
        choice.get("finish_reason") or (choice.get("delta") or {}).get("tool_calls")
        for choice in chunk.get("choices") or ()
    )


def _with_usage(chunk: dict, usage: Any) -> dict:
    return {**chunk, "usage": usage} if chunk.get("usage") else chunk


class _SearchBase:
    """Kimi's search rounds as one stream (`_web_search.SearchRounds`).

    Each round streams; its text goes out as it arrives, while tool-call fragments, the finish
    reason and usage are held until the round ends: a round that only calls `$web_search` is
    echoed (its held chunks dropped) and the next round starts; the answer's are sent, the
    usage chunk carrying the usage summed over every round (as ``.completion()`` does).
    """

    def __init__(self, open_round: Callable[[Messages], Any], rounds: SearchRounds) -> None:
        self._open = open_round
        self._rounds = rounds
        self._current: Any = None
        self._final: dict | None = None

    @property
    def request_id(self) -> str | None:
        return None if self._current is None else self._current.request_id  # type: ignore[no-any-return]

    @property
    def headers(self) -> dict[str, str]:
        return {} if self._current is None else self._current.headers  # type: ignore[no-any-return]

    def completion(self) -> dict:
        """The answer (usage summed over the rounds) once complete; else the round so far."""
        if self._final is not None:
            return self._final
        return {} if self._current is None else self._current.completion()  # type: ignore[no-any-return]

    def _end_round(self, completion: dict) -> bool:
        """True when another round follows; else the answer is final."""
        if self._rounds.next(completion):
            return True
        self._final = self._rounds.finish(completion)
        return False


class SearchStream(_SearchBase):
    """`CNLLMClient.stream` with Kimi's `$web_search`: the interface of ``MeteredStream``."""

    def __init__(
        self, open_round: Callable[[Messages], MeteredStream], rounds: SearchRounds
    ) -> None:
        super().__init__(open_round, rounds)
        self._chunks: Iterator[dict] | None = None

    def __iter__(self) -> SearchStream:
        return self

    def __next__(self) -> dict:
        if self._chunks is None:
            self._chunks = self._run()
        return next(self._chunks)

    def _run(self) -> Iterator[dict]:
        while True:
            held = []
            with self._open(self._rounds.messages) as stream:
                self._current = stream
                for chunk in stream:
                    if _held(chunk):
                        held.append(chunk)
                    else:
                        yield chunk
            if not self._end_round(stream.completion()):
                break
        assert self._final is not None
        for chunk in held:
            yield _with_usage(chunk, self._final.get("usage"))

    def close(self) -> None:
        if self._chunks is not None:
            self._chunks.close()  # type: ignore[attr-defined]

    def __enter__(self) -> SearchStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncSearchStream(_SearchBase):
    """`AsyncCNLLMClient.stream` with Kimi's `$web_search`: ``AsyncMeteredStream``'s interface."""

    def __init__(
        self, open_round: Callable[[Messages], AsyncMeteredStream], rounds: SearchRounds
    ) -> None:
        super().__init__(open_round, rounds)
        self._chunks: AsyncIterator[dict] | None = None

    def __aiter__(self) -> AsyncSearchStream:
        return self

    async def __anext__(self) -> dict:
        if self._chunks is None:
            self._chunks = self._run()
        return await anext(self._chunks)

    async def _run(self) -> AsyncIterator[dict]:
        while True:
            held = []
            async with self._open(self._rounds.messages) as stream:
                self._current = stream
                async for chunk in stream:
                    if _held(chunk):
                        held.append(chunk)
                    else:
                        yield chunk
            if not self._end_round(stream.completion()):
                break
        assert self._final is not None
        for chunk in held:
            yield _with_usage(chunk, self._final.get("usage"))

    async def aclose(self) -> None:
        if self._chunks is not None:
            await self._chunks.aclose()  # type: ignore[attr-defined]

    async def __aenter__(self) -> AsyncSearchStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class AsyncPreparedStream:
    """An async stream that needs an await before it opens (the call's documents to upload):
    ``prepare()`` runs on ``async with`` or the first ``async for`` step."""

    def __init__(self, prepare: Callable[[], Awaitable[Any]]) -> None:
        self._prepare = prepare
        self._inner: Any = None

    async def _opened(self) -> Any:
        if self._inner is None:
            self._inner = await self._prepare()
            await self._inner.__aenter__()
        return self._inner

    @property
    def request_id(self) -> str | None:
        return None if self._inner is None else self._inner.request_id  # type: ignore[no-any-return]

    @property
    def headers(self) -> dict[str, str]:
        return {} if self._inner is None else self._inner.headers  # type: ignore[no-any-return]

    def completion(self) -> dict:
        return {} if self._inner is None else self._inner.completion()  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncPreparedStream:
        return self

    async def __anext__(self) -> dict:
        return await (await self._opened()).__anext__()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()

    async def __aenter__(self) -> AsyncPreparedStream:
        await self._opened()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._inner is not None:
            await self._inner.__aexit__(*exc)
