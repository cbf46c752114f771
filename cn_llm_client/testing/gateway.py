"""`FakeGateway`: the emulator's HTTP server (aiohttp.web on loopback, in its own thread).

    >>> import httpx
    >>> body = {"model": "deepseek-chat", "messages": [{"role": "user", "content": "Hi"}]}
    >>> with FakeGateway(mode="deepseek", latency=0.05) as gw:
    ...     headers = {"Authorization": f"Bearer {gw.api_key}"}
    ...     reply = httpx.post(f"{gw.base_url}/chat/completions", json=body, headers=headers)
    ...     reply.json()["choices"][0]["message"]["content"], gw.requests[-1].body["model"]
    ('[deepseek-chat] Hi', 'deepseek-chat')

aiohttp.web rather than a hand-made asyncio server: it already speaks HTTP/1.1 keep-alive and
chunked streaming, and holds a thousand concurrent streams on two cores.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import itertools
import re
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from cn_llm_client.providers import get_provider

from ._embeddings import RERANK_PATHS, embeddings_reply, rerank_reply
from ._faults import Fault, FaultQueue
from ._files import BatchEmulator
from ._model import (
    Answer,
    Rejection,
    Traits,
    answer,
    assistant_prefix_of,
    check_assistant_prefix,
    check_request,
    count_tokens,
    fim_answer,
    known_models,
    prompt_tokens,
    referenced_files,
    thinking_on,
)
from ._modes import LOADED_MODEL, LOCAL_MODES, MODES, error_body

__all__ = ["FakeGateway", "RecordedRequest"]

_PIECES = re.compile(r"[\u3000-\u9fff\uff00-\uffef]{1,2}|\s*[^\s\u3000-\u9fff\uff00-\uffef]+|\s+")
_LEAD_BYTE = re.compile(rb"[\xc0-\xff]")
_HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)
_FLAT_PRICES = (1.0, 4.0)  # USD per 1M tokens when the catalog has no price
_NEWER_LOCAL = frozenset({"ollama", "vllm"})  # `reasoning` field; parallel calls on index 0
_REQUESTS_PER_MINUTE = 600
_TOKENS_PER_MINUTE = 600_000


@dataclass
class RecordedRequest:
    """One request as the gateway saw it; the Authorization header reads "REDACTED".

    `arrived` and `completed` are `time.monotonic()` readings in the gateway's process: when the
    request came in and when its last byte was written (None while it is still being answered).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    arrived: float = field(default=0.0, compare=False)
    completed: float | None = field(default=None, compare=False)


@dataclass
class _Visit:
    """One API request while it is being handled."""

    arrived: float
    key: str | None = None  # the API key holding a concurrency slot for this request
    over_limit: bool = False
    record: RecordedRequest | None = None


_Handler = Callable[[web.Request, _Visit], Awaitable[web.StreamResponse]]


class FakeGateway:
    """An OpenAI-compatible gateway on 127.0.0.1 that answers deterministically.

    `mode` picks the provider it speaks like (error shapes, thinking switches, quirks);
    `api_key=None` (and the local modes ollama / vllm) accept any request; `latency` is waited
    before every response; `answer_chars` makes every plain answer that many Chinese characters;
    `credits` is the balance `usage.credits_remaining` counts down (402 once spent);
    `models` adds ids to the ones the catalog lists for `mode` (chat, embedding and rerank
    alike); `max_concurrency=N` answers 429 `rate_limit_exceeded` (Retry-After: 1) to a key's
    request while N of its requests are open.

    `in_flight` / `max_in_flight` count the API requests being handled now / at the peak
    (a stream counts until its last byte); `reset()` sets the peak back to the current count.

    >>> from cn_llm_client import CNLLMClient
    >>> with FakeGateway(mode="dashscope") as gw:
    ...     client = CNLLMClient(api_key=gw.api_key, base_url=gw.base_url)
    ...     response = client.chat("qwen-plus", [{"role": "user", "content": "你好"}])
    ...     gw.requests[-1].headers["authorization"]  # the key is never recorded
    'REDACTED'
    >>> response["choices"][0]["message"]["content"]
    '[qwen-plus] 收到：你好'
    """

    def __init__(
        self,
        latency: float = 0.0,
        mode: str = "aisa",
        api_key: str | None = "test-key",
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        answer_chars: int | None = None,
        credits: float = 100.0,
        models: Iterable[str] = (),
        max_concurrency: int | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1 (or None for no limit)")
        self.latency = latency
        self.mode = mode
        self.api_key = api_key
        self.host = host
        self.port = port
        self.answer_chars = answer_chars
        self.initial_credits = credits
        self.max_concurrency = max_concurrency
        self._preset = get_provider(mode)  # the quirks of local servers are preset data
        self._models = known_models(mode)
        self._extra_models = frozenset(models)
        self._models.update({m: Traits.from_name(m) for m in models if m not in self._models})
        self._faults = FaultQueue()
        self._requests: list[RecordedRequest] = []
        self._sequence = itertools.count(1)
        self._credits = credits
        self._window = (0, 0, 0)  # minute, requests, tokens
        self._in_flight = 0
        self.max_in_flight = 0  # the peak of `in_flight`; reset() (or assigning 0) restarts it
        self._open_per_key: Counter[str] = Counter()
        self._prefixes: set[bytes] = set()  # digests of every message prefix sent (context cache)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.batches = BatchEmulator(self)  # files and batch jobs, where the mode serves them

    # -- public face ------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL clients use, ``http://127.0.0.1:<port>/v1`` (the port is known once started)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests seen so far (control endpoints excluded), oldest first."""
        return list(self._requests)

    @property
    def in_flight(self) -> int:
        """API requests being handled right now (streams until their last byte)."""
        return self._in_flight

    def stats(self) -> dict[str, Any]:
        """Concurrency figures, as `GET /_emulator/stats` reports them to other processes."""
        return {
            "in_flight": self._in_flight,
            "max_in_flight": self.max_in_flight,
            "requests": len(self._requests),
            "max_concurrency": self.max_concurrency,
        }

    def push(self, *faults: Fault) -> None:
        """Queue faults for the next requests (see `Fault`)."""
        self._faults.push(*faults)

    def reset(self) -> None:
        """Forget requests (and their timings), queued faults, files and batches; refill the
        credits; set `max_in_flight` back to the requests open now."""
        self._requests.clear()
        self._faults.clear()
        self.batches.reset()
        self._prefixes.clear()
        self._credits = self.initial_credits
        self.max_in_flight = self._in_flight

    def start(self) -> FakeGateway:
        """Serve in a daemon thread; returns once the port is bound (``with`` calls it)."""
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name="FakeGateway", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise RuntimeError(f"FakeGateway could not start: {failure[0]}") from failure[0]
        return self

    def stop(self) -> None:
        """Close the server and its thread, cancelling open handlers (``with`` calls it)."""
        if self._thread is None or self._loop is None or self._runner is None:
            return
        shutdown = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        shutdown.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> FakeGateway:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeGateway(mode={self.mode!r}, base_url={self.base_url!r})"

    # -- server life ------------------------------------------------------------------------

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            self._runner = web.AppRunner(
                self._app(), access_log=None, handle_signals=False, shutdown_timeout=0.2
            )
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(
                self._runner,
                self.host,
                self.port,
                backlog=4096,
                reuse_address=True,
            )
            loop.run_until_complete(site.start())
            self.port = self._runner.addresses[0][1]
        except BaseException as exc:  # reported to start() in the caller's thread
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        """Close the server, then cancel and await the handlers still open (stalled streams),
        so that no task is left pending when the loop closes."""
        assert self._runner is not None
        await self._runner.cleanup()
        current = asyncio.current_task()
        open_tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in open_tasks:
            task.cancel()
        await asyncio.gather(*open_tasks, return_exceptions=True)

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._observed(self._chat))
        app.router.add_get("/v1/models", self._observed(self._list_models))
        app.router.add_post("/v1/embeddings", self._observed(self._retrieval))
        for path in sorted({p for paths in RERANK_PATHS.values() for p in paths}):
            app.router.add_post(path, self._observed(self._retrieval))
        for method, path, handler in self.batches.routes():
            app.router.add_route(method, path, self._observed(handler))
        beta = self._preset.beta_path  # DeepSeek: prefix completion and FIM under /beta
        if beta:
            app.router.add_post(f"{beta}/chat/completions", self._observed(self._chat))
        if beta and self._preset.fim:
            app.router.add_post(f"{beta}/completions", self._observed(self._fim))
        app.router.add_post("/_emulator/faults", self._control_push)
        app.router.add_delete("/_emulator/faults", self._control_clear)
        app.router.add_get("/_emulator/requests", self._control_requests)
        app.router.add_post("/_emulator/reset", self._control_reset)
        app.router.add_get("/_emulator/stats", self._control_stats)
        app.router.add_route("*", "/{tail:.*}", self._unknown_endpoint)
        return app

    # -- control endpoints ------------------------------------------------------------------

    async def _control_push(self, request: web.Request) -> web.Response:
        try:
            data = orjson.loads(await request.read())
            items = data if isinstance(data, list) else [data]
            self.push(*(Fault.from_dict(item) for item in items))
        except (orjson.JSONDecodeError, TypeError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"queued": len(self._faults)})

    async def _control_clear(self, request: web.Request) -> web.Response:
        self._faults.clear()
        return web.json_response({"queued": 0})

    async def _control_requests(self, request: web.Request) -> web.Response:
        rows = [r.__dict__ for r in self._requests]
        return web.Response(body=orjson.dumps(rows), content_type="application/json")

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    async def _control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    # -- concurrency ------------------------------------------------------------------------

    def _observed(
        self, handler: _Handler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """`handler` with its request counted in flight until the response's last byte."""

        async def observed(request: web.Request) -> web.StreamResponse:
            visit = _Visit(arrived=time.monotonic())
            self._admit(request, visit)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                response = await handler(request, visit)
                if not response.prepared:  # send it here, so that completion is the last byte
                    await response.prepare(request)
                    await response.write_eof()
                return response
            finally:
                self._in_flight -= 1
                if visit.key is not None:
                    self._open_per_key[visit.key] -= 1
                if visit.record is not None:
                    visit.record.completed = time.monotonic()

        return observed

    def _admit(self, request: web.Request, visit: _Visit) -> None:
        """Take one of the key's `max_concurrency` slots, or mark the request over the limit."""
        if self.max_concurrency is None:
            return
        key = request.headers.get("Authorization", "")
        if self._open_per_key[key] >= self.max_concurrency:
            visit.over_limit = True
            return
        self._open_per_key[key] += 1
        visit.key = key

    # -- the API ----------------------------------------------------------------------------

    async def _list_models(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        rid, fault, early = await self._begin(request, None, visit)
        if early is not None:
            return early
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": t.family or self.mode}
            for m, t in self._models.items()
        ]
        return self._json(200, {"object": "list", "data": data}, rid)

    async def _unknown_endpoint(self, request: web.Request) -> web.StreamResponse:
        rid = self._request_id()
        message = f"Unknown endpoint {request.method} {request.path}"
        return self._error(404, message, rid, code="unknown_endpoint")

    async def _retrieval(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        """Embeddings and rerank paths: the bodies come from `_embeddings.py`."""
        body = await _json_body(request)
        rid, fault, early = await self._begin(request, body, visit)
        if early is not None:
            return early
        if request.path == "/v1/embeddings":
            status, data = embeddings_reply(self.mode, body, self._extra_models, rid)
        else:
            status, data = rerank_reply(self.mode, request.path, body, self._extra_models, rid)
        if status != 200:
            return self._json(status, data, rid)
        return await self._respond(request, data, rid, fault)

    async def _chat(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        body = await _json_body(request)
        rid, fault, early = await self._begin(request, body, visit)
        if early is not None:
            return early
        beta = bool(self._preset.beta_path) and request.path.startswith(
            f"{self._preset.beta_path}/"
        )
        rejection = self._chat_refusal(body, beta=beta)
        if rejection is not None:
            return self._error(rejection.status, rejection.message, rid, code=rejection.code)
        traits, reply = self._chat_answer(body, rid)
        usage = self._usage(body, traits, reply)
        if body.get("stream"):
            asked = bool((body.get("stream_options") or {}).get("include_usage"))
            include_usage = asked and self._preset.stream_usage
            events = self._chunks(reply, self._served(body), rid, usage if include_usage else None)
            return await self._stream(request, events, rid, fault)
        return await self._respond(
            request, self._completion(reply, self._served(body), rid, usage), rid, fault
        )

    def _chat_refusal(self, body: Any, *, beta: bool = False) -> Rejection | None:
        """Why the server refuses a chat body (None: it answers). Batch lines use it too;
        `beta`: it came on the beta base (DeepSeek's prefix completion needs it)."""
        if not isinstance(body, dict):
            return Rejection(400, "Request body is not valid JSON.", "json_parse_error")
        for name in ("model", "messages"):
            if not body.get(name):
                return Rejection(400, f"Missing required parameter: {name}", "missing_parameter")
        if not isinstance(body["messages"], list) or not isinstance(body["model"], str):
            return Rejection(400, "messages must be a list and model a string")
        traits = self._traits(body["model"])
        if traits is None:
            return Rejection(404, self._unknown_model_message(body["model"]))
        flag = self._preset.assistant_prefix
        rejection = (
            check_request(body, traits, self.mode)
            or check_assistant_prefix(body, traits, self.mode, flag, beta=beta)
            or self._document_refusal(body, traits)
        )
        if rejection is not None:
            return rejection
        if self.mode == "aisa" and self._credits <= 0:
            return Rejection(402, "Insufficient balance. Please top up your account.")
        return None

    def _document_refusal(self, body: dict[str, Any], traits: Traits) -> Rejection | None:
        """DashScope: `fileid://` ids only for qwen-long, and only of files uploaded here."""
        if self.mode != "dashscope":
            return None
        ids = referenced_files(body, self.mode)
        if ids and not traits.documents:
            return Rejection(400, f"fileid is only supported by qwen-long, not {traits.id}")
        missing = [i for i in ids if i not in self.batches.files]
        if missing:
            return Rejection(400, f"File {missing[0]} not found or not accessible", "InvalidFile")
        return None

    def _chat_answer(self, body: dict[str, Any], rid: str) -> tuple[Traits, Answer]:
        """The answer to a chat body that `_chat_refusal` let through."""
        traits = self._traits(body["model"])
        assert traits is not None
        reply = answer(
            body,
            traits,
            thinking=thinking_on(body, traits, self.mode),
            answer_chars=body.get("emulator_answer_chars", self.answer_chars),
            call_id=f"call_{rid[-8:]}",
            mode=self.mode,
            continues=assistant_prefix_of(body["messages"], self._preset.assistant_prefix),
        )
        files = referenced_files(body, self.mode)
        head = f"[{traits.id}] "
        if files and reply.content and reply.content.startswith(head):
            stored = self.batches.files
            names = [stored[f].filename if f in stored else f for f in files]
            reply.content = f"{head}(files: {', '.join(names)}) {reply.content[len(head) :]}"
        return traits, reply

    async def _fim(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        """DeepSeek's `POST /beta/completions`: prompt + suffix in, `choices[].text` out."""
        body = await _json_body(request)
        rid, fault, early = await self._begin(request, body, visit)
        if early is not None:
            return early
        rejection = self._fim_refusal(body)
        if rejection is not None:
            return self._error(rejection.status, rejection.message, rid, code=rejection.code)
        traits = self._traits(body["model"])
        assert traits is not None
        reply = fim_answer(body, traits)
        prompt = count_tokens(body["prompt"]) + count_tokens(body.get("suffix") or "")
        completion = count_tokens(reply.content or "")
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_cache_hit_tokens": 0,
            "prompt_cache_miss_tokens": prompt,
        }
        head = {
            "id": f"cmpl-{rid}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body["model"],
        }
        if not body.get("stream"):
            choice = {"index": 0, "text": reply.content, "logprobs": None}
            data = {**head, "choices": [{**choice, "finish_reason": reply.finish_reason}]}
            return await self._respond(request, {**data, "usage": usage}, rid, fault)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await self._stream(
            request, _fim_chunks(head, reply, usage if include_usage else None), rid, fault
        )

    def _fim_refusal(self, body: Any) -> Rejection | None:
        if not isinstance(body, dict):
            return Rejection(400, "Request body is not valid JSON.", "json_parse_error")
        for name in ("model", "prompt"):
            if not isinstance(body.get(name), str) or not body[name]:
                return Rejection(400, f"Missing required parameter: {name}", "missing_parameter")
        if "suffix" in body and not isinstance(body["suffix"], (str, type(None))):
            return Rejection(400, "suffix must be a string", "invalid_parameter_type")
        if self._traits(body["model"]) is None:
            return Rejection(404, self._unknown_model_message(body["model"]))
        cap = self._preset.fim.get("max_tokens")
        max_tokens = body.get("max_tokens")
        whole = isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
        if max_tokens is not None and not (whole and 0 < max_tokens <= (cap or max_tokens)):
            text = f"Invalid max_tokens value, the valid range of max_tokens is [1, {cap}]"
            return Rejection(400, text, "invalid_request_error")
        if "stream_options" in body and not body.get("stream"):
            text = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
            return Rejection(400, text, "invalid_parameter")
        return None

    async def _begin(
        self, request: web.Request, body: Any, visit: _Visit
    ) -> tuple[str, Fault | None, web.StreamResponse | None]:
        """Record the request, refuse it over the concurrency limit, wait, apply an early fault,
        check the key."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        if "authorization" in headers:
            headers["authorization"] = "REDACTED"
        visit.record = RecordedRequest(request.method, request.path, headers, body, visit.arrived)
        self._requests.append(visit.record)
        rid = self._request_id()
        if visit.over_limit:
            message = f"Too many concurrent requests for this key (limit {self.max_concurrency})."
            body_429 = error_body(self.mode, 429, message, request_id=rid)
            extra = {"Retry-After": "1"}
            return rid, None, self._raw(429, orjson.dumps(body_429), "application/json", rid, extra)
        fault = self._faults.take()
        delay = self.latency + (fault.seconds if fault and fault.kind == "slow" else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault and fault.kind == "status":
            return rid, fault, self._status_fault(fault, rid)
        if fault and fault.kind == "non_json_200":
            page = b"<html><body><h1>Welcome</h1></body></html>"
            return rid, fault, self._raw(200, page, "text/html", rid)
        return rid, fault, self._authorize(request, rid)

    def _authorize(self, request: web.Request, rid: str) -> web.Response | None:
        if self.api_key is None or self.mode in LOCAL_MODES:
            return None
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if not key or scheme.lower() != "bearer":
            message = "Missing API key. Pass it as 'Authorization: Bearer <key>'."
            return self._error(401, message, rid, code=self._auth_code("missing_api_key"))
        if key != self.api_key:
            message = "Invalid API key provided."
            return self._error(401, message, rid, code=self._auth_code("invalid_api_key"))
        return None

    def _auth_code(self, aisa_code: str) -> str | None:
        return aisa_code if self.mode in ("aisa", "deepseek", "ollama") else None

    def _traits(self, model: str) -> Traits | None:
        if model in self._models:
            return self._models[model]
        serves = not self._models or self._preset.serves_any_model
        return Traits.from_name(model) if serves else None

    def _served(self, body: dict[str, Any]) -> str:
        """The model named in the response: single-model servers name the one they loaded."""
        return LOADED_MODEL.get(self.mode, body["model"])

    def _unknown_model_message(self, model: str) -> str:
        if self.mode == "dashscope":
            message = f"The model `{model}` does not exist or you do not have access to it."
        else:
            message = f"Model '{model}' is not available"
        closest = difflib.get_close_matches(model, list(self._models), n=3, cutoff=0.0)
        return f"{message}. Valid model ids include: {', '.join(closest)}."

    # -- building responses -----------------------------------------------------------------

    @property
    def _reasoning_field(self) -> str:
        """Newer vLLM and Ollama name it `reasoning`; DeepSeek and the rest `reasoning_content`."""
        return "reasoning" if self.mode in _NEWER_LOCAL else "reasoning_content"

    def _request_id(self) -> str:
        return f"req_emu_{next(self._sequence):08d}"

    def _headers(self, rid: str, tokens: int = 0) -> dict[str, str]:
        now = time.time()
        minute = int(now // 60)
        seen_minute, requests, used = self._window
        if seen_minute != minute:
            requests, used = 0, 0
        self._window = (minute, requests + 1, used + tokens)
        reset = str((minute + 1) * 60)
        return {
            "x-request-id": rid,
            "X-RateLimit-Limit-Requests": str(_REQUESTS_PER_MINUTE),
            "X-RateLimit-Remaining-Requests": str(max(0, _REQUESTS_PER_MINUTE - requests - 1)),
            "X-RateLimit-Limit-Tokens": str(_TOKENS_PER_MINUTE),
            "X-RateLimit-Remaining-Tokens": str(max(0, _TOKENS_PER_MINUTE - used - tokens)),
            "X-RateLimit-Reset-Requests": reset,
            "X-RateLimit-Reset-Tokens": reset,
        }

    def _raw(
        self,
        status: int,
        body: bytes,
        content_type: str,
        rid: str,
        extra: dict[str, str] | None = None,
    ) -> web.Response:
        headers = {**self._headers(rid), **(extra or {})}
        return web.Response(status=status, body=body, content_type=content_type, headers=headers)

    def _json(self, status: int, data: Any, rid: str) -> web.Response:
        return self._raw(status, orjson.dumps(data), "application/json", rid)

    def _error(
        self, status: int, message: str, rid: str, *, code: str | None = None
    ) -> web.Response:
        return self._json(
            status, error_body(self.mode, status, message, code=code, request_id=rid), rid
        )

    def _status_fault(self, fault: Fault, rid: str) -> web.Response:
        extra = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        if fault.empty:
            return self._raw(fault.http_status, b"", "text/plain", rid, extra)
        if fault.html:
            return self._raw(fault.http_status, _HTML_502, "text/html", rid, extra)
        if isinstance(fault.body, str):
            return self._raw(fault.http_status, fault.body.encode(), "text/plain", rid, extra)
        data = fault.body or error_body(
            self.mode,
            fault.http_status,
            f"Emulated error {fault.http_status}",
            code=fault.code,
            request_id=rid,
        )
        return self._raw(fault.http_status, orjson.dumps(data), "application/json", rid, extra)

    def _usage(self, body: dict[str, Any], traits: Traits, reply: Answer) -> dict[str, Any]:
        prompt = prompt_tokens(body)
        reasoning = count_tokens(reply.reasoning or "")
        arguments = "".join(c["function"]["arguments"] for c in reply.tool_calls)
        completion = count_tokens(reply.content or "") + reasoning + count_tokens(arguments)
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if reasoning:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        if self.mode in ("deepseek", "dashscope", "moonshot"):
            usage.update(self._cache_usage(body))
        if self.mode == "aisa":
            price_in = traits.input_price if traits.input_price is not None else _FLAT_PRICES[0]
            price_out = traits.output_price if traits.output_price is not None else _FLAT_PRICES[1]
            cost = (prompt * price_in + completion * price_out) / 1_000_000
            self._credits -= cost
            usage["cost"] = round(cost, 10)
            usage["credits_remaining"] = round(self._credits, 6)
        return usage

    def _cache_usage(self, body: dict[str, Any]) -> dict[str, Any]:
        """The context-cache fields of the mode, for the longest message prefix (tools included)
        that an earlier request sent already; DashScope's explicit `cache_control` markers
        cache up to the last marked message.
        """
        digest = hashlib.sha256(orjson.dumps(body.get("tools") or []))
        tokens, seen, marked, marked_seen = prompt_tokens({"tools": body.get("tools")}), 0, 0, False
        prefixes = []
        for message in body["messages"]:
            digest.update(orjson.dumps(message, option=orjson.OPT_SORT_KEYS))
            tokens += prompt_tokens({"messages": [message]})
            prefix = digest.digest()
            prefixes.append(prefix)
            if prefix in self._prefixes:
                seen = tokens
            if _marked(message):
                marked, marked_seen = tokens, prefix in self._prefixes
        self._prefixes.update(prefixes)
        if self.mode == "deepseek":  # automatic, in 64-token units
            hit = seen // 64 * 64
            return {"prompt_cache_hit_tokens": hit, "prompt_cache_miss_tokens": tokens - hit}
        if self.mode == "moonshot":  # automatic
            return {"cached_tokens": seen}
        # DashScope: explicit markers (>= 1024 tokens, created then hit), else implicit (>= 256).
        if marked >= 1024:
            if marked_seen:
                details = {"cached_tokens": marked, "cache_type": "ephemeral"}
            else:
                details = {
                    "cached_tokens": 0,
                    "cache_creation_input_tokens": marked,
                    "cache_type": "ephemeral",
                    "cache_creation": {"ephemeral_5m_input_tokens": marked},
                }
            return {"prompt_tokens_details": details}
        return {"prompt_tokens_details": {"cached_tokens": seen if seen >= 256 else 0}}

    def _completion(
        self, reply: Answer, model: str, rid: str, usage: dict[str, Any]
    ) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.reasoning is not None:
            message[self._reasoning_field] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        choice = {
            "index": 0,
            "message": message,
            "finish_reason": reply.finish_reason,
            "logprobs": None,
        }
        completion = {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [choice],
            "usage": usage,
        }
        if reply.sources is not None:
            completion["web_search"] = reply.sources
        return completion

    def _chunks(
        self, reply: Answer, model: str, rid: str, usage: dict[str, Any] | None
    ) -> Iterator[bytes]:
        head = {
            "id": f"chatcmpl-{rid}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n"

        reasoning_key = self._reasoning_field
        if self.mode == "deepseek" and reply.reasoning is not None:
            # DeepSeek sends both fields in every text delta, the idle one as null.
            yield event({"role": "assistant", "content": None, reasoning_key: ""})
            idle_content: dict[str, Any] = {"content": None}
            idle_reasoning: dict[str, Any] = {reasoning_key: None}
        else:
            yield event({"role": "assistant", "content": ""})
            idle_content = idle_reasoning = {}
        for piece in _PIECES.findall(reply.reasoning or ""):
            yield event({reasoning_key: piece, **idle_content})
        for piece in _PIECES.findall(reply.content or ""):
            yield event({"content": piece, **idle_reasoning})
        for number, call in enumerate(reply.tool_calls):
            index = 0 if self.mode in _NEWER_LOCAL else number  # these reuse index 0
            function = call["function"]
            first = {"index": index, "id": call["id"], "type": call.get("type", "function")}
            yield event(
                {"tool_calls": [{**first, "function": {"name": function["name"], "arguments": ""}}]}
            )
            arguments = function["arguments"]
            for start in range(0, len(arguments), 16):
                part: dict[str, Any] = {"arguments": arguments[start : start + 16]}
                if self._preset.repeats_tool_names:  # llama.cpp, LM Studio
                    part = {"name": function["name"], **part}
                fragment = {"index": index, "function": part}
                yield event({"tool_calls": [fragment]})
        if usage is not None and self.mode == "moonshot":  # Kimi: usage inside the last choice
            choice = {"index": 0, "delta": {}, "finish_reason": reply.finish_reason, "usage": usage}
            yield b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n"
            return
        yield event({}, reply.finish_reason)
        if usage is not None:
            yield b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n"

    # -- writing to the wire ----------------------------------------------------------------

    async def _respond(
        self, request: web.Request, data: dict[str, Any], rid: str, fault: Fault | None
    ) -> web.StreamResponse:
        body = orjson.dumps(data)
        kind = fault.kind if fault else None
        if kind == "truncated_json":
            return self._raw(200, body[: len(body) // 2], "application/json", rid)
        if kind not in ("keepalive", "stall"):
            return self._raw(200, body, "application/json", rid)
        assert fault is not None
        response = web.StreamResponse(headers=self._headers(rid))
        response.content_type = "application/json"
        await response.prepare(request)
        for _ in range(fault.count):  # DeepSeek sends blank lines while a request is queued
            await response.write(b"\n")
            await asyncio.sleep(fault.interval)
        await asyncio.sleep(fault.seconds)
        await response.write(body)
        await response.write_eof()
        return response

    async def _stream(
        self, request: web.Request, events: Iterator[bytes], rid: str, fault: Fault | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={**self._headers(rid), "Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        try:
            if fault and fault.kind == "keepalive":
                for _ in range(fault.count):
                    await response.write(b": keep-alive\n\n")
                    await asyncio.sleep(fault.interval)
            sent = 0
            for data in events:
                if (
                    fault
                    and sent == fault.after_events
                    and await self._interrupt(request, response, fault, rid)
                ):
                    return response
                await _write_split(response, data)
                sent += 1
            if (
                fault
                and fault.after_events >= sent
                and await self._interrupt(request, response, fault, rid)
            ):
                return response
            if not (fault and fault.kind == "no_done"):
                await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except ConnectionResetError:  # the client went away; nothing left to send
            pass
        return response

    async def _interrupt(
        self, request: web.Request, response: web.StreamResponse, fault: Fault, rid: str
    ) -> bool:
        """Apply a mid-stream fault; True when the stream ends here."""
        if fault.kind == "cut_stream":
            if request.transport is not None:
                request.transport.close()  # no final chunk: the body is visibly incomplete
            return True
        if fault.kind == "error_event":
            message = "Emulated error during the stream"
            payload = error_body(
                self.mode, fault.http_status, message, code=fault.code, request_id=rid
            )
            if "error" not in payload:  # streamed errors always sit under an "error" key
                payload = error_body("deepseek", fault.http_status, message, code=fault.code)
            await response.write(b"data: " + orjson.dumps(payload) + b"\n\n")
            await response.write_eof()
            return True
        if fault.kind == "malformed_line":
            await response.write(b'data: {"id": "chatcmpl-broken", "choices": [\n\n')
        elif fault.kind == "stall":
            await asyncio.sleep(fault.seconds)
        return False


async def _json_body(request: web.Request) -> Any:
    """The request's JSON body; None when it is not JSON (the handler refuses that)."""
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None


def _fim_chunks(
    head: dict[str, Any], reply: Answer, usage: dict[str, Any] | None
) -> Iterator[bytes]:
    """A text-completion stream: `choices[0].text` pieces, the finish chunk, usage if asked."""

    def event(text: str, finish: str | None = None) -> bytes:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n"

    for piece in _PIECES.findall(reply.content or ""):
        yield event(piece)
    yield event("", reply.finish_reason)
    if usage is not None:
        yield b"data: " + orjson.dumps({**head, "choices": [], "usage": usage}) + b"\n\n"


def _marked(message: Any) -> bool:
    """Whether a content part of `message` carries a `cache_control` marker (DashScope)."""
    content = message.get("content") if isinstance(message, dict) else None
    parts = content if isinstance(content, list) else []
    return any(isinstance(p, dict) and p.get("cache_control") for p in parts)


async def _write_split(response: web.StreamResponse, data: bytes) -> None:
    """Write `data`, cutting it inside its first multi-byte UTF-8 character, if it has one."""
    lead = _LEAD_BYTE.search(data)
    if lead is None:
        await response.write(data)
        return
    await response.write(data[: lead.end()])
    await response.write(data[lead.end() :])
