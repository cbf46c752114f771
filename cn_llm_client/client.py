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
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any, cast

from ._client_base import (
    MODEL_MAP,
    MODELS_PATH,
    Messages,
    _check_models,
    _ClientBase,
    _comparison,
    _model_ids,
    _text_pieces,
    _user,
)
from ._client_streams import (
    AsyncMeteredStream,
    AsyncPreparedStream,
    AsyncSearchStream,
    MeteredStream,
    SearchStream,
)
from ._embeddings import EmbedPlan, InputType, Progress, RerankPlan
from ._files import AsyncFilesMixin, FilesMixin
from .errors import CNLLMError

if TYPE_CHECKING:
    import httpx

    from ._documents import DocumentCache, DocumentPlan
    from .types import ChatCompletion, EmbeddingResponse, RerankResponse

__all__ = ["MODEL_MAP", "AsyncCNLLMClient", "CNLLMClient"]


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
        plan = self._embed_plan(model, input, dimensions, input_type, max_concurrency, params)
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
        plan = self._rerank_plan(model, query, documents, top_n, max_concurrency, params)
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
        plan = self._embed_plan(model, input, dimensions, input_type, max_concurrency, params)
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
        plan = self._rerank_plan(model, query, documents, top_n, max_concurrency, params)
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
