"""The emulator's Files and Batch endpoints (DashScope-style; ../shared/docs/wire-facts-2.md §4-5).

Served in the modes whose provider preset has them (``files`` / ``batch`` in providers.json:
dashscope, moonshot files only, siliconflow); the other modes answer 404 like the real servers.

    POST   /v1/files                multipart ``file`` + ``purpose``; size limit per purpose
    GET    /v1/files[?purpose=]     GET/DELETE /v1/files/{id}     GET /v1/files/{id}/content
    POST   /v1/batches              {"input_file_id", "endpoint", "completion_window", "metadata"?}
    GET    /v1/batches[?limit=&after=]   GET /v1/batches/{id}   POST /v1/batches/{id}/cancel

A batch walks validating (SiliconFlow: in_queue) → in_progress → finalizing → completed, one phase per
``gw.batches.phase_seconds`` (time compressed: 0.05 s by default, 0 finishes at once); its
``request_counts`` grow while in progress. Each input line is answered as ``POST /chat/completions``
would answer it (the same refusals): answers go to the output file, refused lines to the error
file. Faults for the next job created: ``gw.batches.fail_next()`` (validation fails),
``gw.batches.expire_next()`` (expires half way, with the answered half in the output file) and
``gw.batches.lose_next_answer()`` (the job is made, but the create is answered 500).
The job is ``failed`` when DashScope would refuse the file: a line whose ``url`` is not the job's
endpoint, more than one model, more than ``max_lines`` lines or a line over ``max_line_bytes``,
a line that is not JSON or lacks a ``custom_id``, a repeated ``custom_id``.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from aiohttp import web

from cn_llm_client.providers import get_provider

from ._embeddings import embeddings_reply
from ._model import Rejection
from ._modes import error_body

if TYPE_CHECKING:
    from .gateway import FakeGateway, _Visit

__all__ = ["BatchEmulator"]

_T = TypeVar("_T")
_Handler = Callable[[web.Request, "_Visit"], Awaitable[web.StreamResponse]]
_WINDOW = re.compile(r"(\d+)([hd])")
_CHAT_URLS = ("/v1/chat/completions", "/v1/chat/ds-test")
_QUEUED = {"siliconflow": "in_queue"}  # SiliconFlow's name for a job not started yet
_DEFAULT_LIMITS = {"lines": 50_000, "line_bytes": 6 * 2**20}


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def object(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class _Line:
    custom_id: str
    status: int
    body: dict[str, Any]  # a completion, or the error body the server would send
    request_id: str


@dataclass
class _Job:
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, Any] | None
    started: float  # time.monotonic()
    created_at: int
    lines: list[_Line] = field(default_factory=list)
    errors: list[dict[str, Any]] | None = None  # validation errors: the job fails
    expires: bool = False
    cancelled_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    finished: str | None = None  # the final status, once the output files exist


class BatchEmulator:
    """Files and batch jobs of one FakeGateway; settings are plain attributes (``gw.batches``).

    ``phase_seconds``: how long each batch phase lasts; ``max_file_bytes`` (purpose -> bytes),
    ``max_lines``, ``max_line_bytes``: the provider's limits, lower them to test splitting.
    """

    def __init__(self, gateway: FakeGateway) -> None:
        preset = get_provider(gateway.mode)
        limits = {**_DEFAULT_LIMITS, **preset.batch_limits}
        self.gateway = gateway
        self.serves_files = bool(preset.files)
        self.serves_batches = preset.batch
        self.phase_seconds = 0.05
        self.max_file_bytes: dict[str, int | None] = dict(preset.files)
        self.max_lines: int = limits["lines"]
        self.max_line_bytes: int = limits["line_bytes"]
        self.files: dict[str, StoredFile] = {}
        self.jobs: dict[str, _Job] = {}
        self._outcomes: deque[str] = deque()
        self._lost_answers = 0
        self._ids = itertools.count(1)

    def fail_next(self) -> None:
        """The next batch created fails validation (status ``failed``, ``errors`` filled)."""
        self._outcomes.append("failed")

    def expire_next(self) -> None:
        """The next batch created expires half way: half its lines answered, the rest errors."""
        self._outcomes.append("expired")

    def lose_next_answer(self) -> None:
        """The next batch create makes its job, then answers 500 (as if the reply were lost):
        a client that simply resends it makes a second job."""
        self._lost_answers += 1

    def reset(self) -> None:
        self.files.clear()
        self.jobs.clear()
        self._outcomes.clear()
        self._lost_answers = 0

    def routes(self) -> list[tuple[str, str, _Handler]]:
        routes: list[tuple[str, str, _Handler]] = []
        if self.serves_files:
            routes += [
                ("POST", "/v1/files", self._upload),
                ("GET", "/v1/files", self._list_files),
                ("GET", "/v1/files/{id}", self._get_file),
                ("DELETE", "/v1/files/{id}", self._delete_file),
                ("GET", "/v1/files/{id}/content", self._file_content),
            ]
        if self.serves_batches:
            routes += [
                ("POST", "/v1/batches", self._create),
                ("GET", "/v1/batches", self._list_batches),
                ("GET", "/v1/batches/{id}", self._get_batch),
                ("POST", "/v1/batches/{id}/cancel", self._cancel),
            ]
        return routes

    # -- files ------------------------------------------------------------------------------

    def _new_id(self, kind: str, purpose: str = "") -> str:
        digest = hashlib.sha1(f"{kind}{next(self._ids)}{time.time()}".encode()).hexdigest()
        mode = self.gateway.mode
        if kind == "batch":
            return f"batch_{digest[:24]}"
        if mode == "dashscope":
            return f"file-{'fe' if purpose == 'file-extract' else 'batch'}-{digest[:24]}"
        if mode == "moonshot":
            return digest[:20]
        return f"file-{digest[:24]}"

    def _store(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        stored = StoredFile(self._new_id("file", purpose), filename, purpose, content, _now())
        self.files[stored.id] = stored
        return stored

    async def _upload(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        gw = self.gateway
        form = await request.post() if request.content_type == "multipart/form-data" else {}
        upload = form.get("file")
        purpose = form.get("purpose")
        content = upload.file.read() if isinstance(upload, web.FileField) else None
        filename = upload.filename if isinstance(upload, web.FileField) else None
        record = {"purpose": purpose, "filename": filename, "bytes": len(content or b"")}
        rid, _, early = await gw._begin(request, record, visit)
        if early is not None:
            return early
        if content is None or not isinstance(purpose, str):
            message = "Send multipart/form-data with a 'file' part and a 'purpose' field."
            return gw._error(400, message, rid)
        if purpose not in self.max_file_bytes:
            allowed = ", ".join(self.max_file_bytes)
            return gw._error(400, f"Invalid purpose {purpose!r}; use one of: {allowed}.", rid)
        limit = self.max_file_bytes[purpose]
        if limit is not None and len(content) > limit:
            message = f"File size {len(content)} exceeds the limit of {limit} bytes for {purpose}."
            return gw._error(400, message, rid)
        if not content:
            return gw._error(400, "The file is empty.", rid)
        return gw._json(200, self._store(filename or "file", purpose, content).object(), rid)

    async def _list_files(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        rid, _, early = await self.gateway._begin(request, None, visit)
        if early is not None:
            return early
        purpose = request.query.get("purpose")
        data = [f.object() for f in self.files.values() if purpose in (None, f.purpose)]
        return self.gateway._json(200, {"object": "list", "data": data, "has_more": False}, rid)

    async def _found(
        self, request: web.Request, visit: _Visit, table: Mapping[str, _T], noun: str
    ) -> tuple[str, _T | web.StreamResponse]:
        """The item named in the path, or the response to send instead (refusal or 404)."""
        rid, _, early = await self.gateway._begin(request, None, visit)
        if early is not None:
            return rid, early
        item = table.get(request.match_info["id"])
        if item is None:
            message = f"No such {noun}: {request.match_info['id']}"
            return rid, self.gateway._error(404, message, rid, code="not_found")
        return rid, item

    async def _get_file(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        rid, stored = await self._found(request, visit, self.files, "file")
        if isinstance(stored, web.StreamResponse):
            return stored
        return self.gateway._json(200, stored.object(), rid)

    async def _delete_file(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        rid, stored = await self._found(request, visit, self.files, "file")
        if isinstance(stored, web.StreamResponse):
            return stored
        del self.files[stored.id]
        return self.gateway._json(200, {"id": stored.id, "object": "file", "deleted": True}, rid)

    async def _file_content(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        rid, stored = await self._found(request, visit, self.files, "file")
        if isinstance(stored, web.StreamResponse):
            return stored
        if self.gateway.mode == "moonshot":  # Kimi answers the extracted text, as JSON
            text = stored.content.decode("utf-8", "replace")
            extracted = {
                "content": text,
                "file_type": "text/plain",
                "filename": stored.filename,
                "title": "",
                "type": "file",
            }
            return self.gateway._json(200, extracted, rid)
        kind = "application/jsonl" if stored.filename.endswith(".jsonl") else "text/plain"
        return self.gateway._raw(200, stored.content, kind, rid)

    # -- batches ----------------------------------------------------------------------------

    async def _create(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        gw = self.gateway
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        rid, _, early = await gw._begin(request, body, visit)
        if early is not None:
            return early
        if not isinstance(body, dict):
            return gw._error(400, "Request body is not valid JSON.", rid, code="json_parse_error")
        endpoint = body.get("endpoint")
        endpoints = ("/v1/embeddings", *_CHAT_URLS)
        if endpoint not in endpoints:
            return gw._error(400, f"endpoint must be one of {', '.join(endpoints)}", rid)
        window = body.get("completion_window")
        if not _window_ok(window):
            message = "completion_window must be between 24h and 336h (e.g. '24h', '7d')."
            return gw._error(400, message, rid)
        stored = self.files.get(str(body.get("input_file_id")))
        if stored is None:
            return gw._error(404, f"No such file: {body.get('input_file_id')}", rid)
        if stored.purpose != "batch":
            message = f"File {stored.id} has purpose {stored.purpose!r}; a batch needs 'batch'."
            return gw._error(400, message, rid)
        job = _Job(
            self._new_id("batch"),
            endpoint,
            stored.id,
            str(window),
            body.get("metadata"),
            time.monotonic(),
            _now(),
        )
        outcome = self._outcomes.popleft() if self._outcomes else None
        job.errors = self._validate(stored.content, endpoint)
        if outcome == "failed" and not job.errors:
            job.errors = [
                {"code": "InternalError", "message": "Emulated batch failure", "line": None}
            ]
        if not job.errors:
            job.lines = [self._answer(line) for line in _lines(stored.content)]
        job.expires = outcome == "expired"
        self.jobs[job.id] = job
        if self._lost_answers:
            self._lost_answers -= 1
            return gw._error(500, "Internal error (emulated: the job was made).", rid)
        return gw._json(200, self._object(job), rid)

    def _validate(self, content: bytes, endpoint: str) -> list[dict[str, Any]] | None:
        """Why DashScope refuses the whole file (each reason with its line number), or None."""
        errors: list[dict[str, Any]] = []
        models: set[str] = set()
        seen: set[str] = set()
        raw_lines = [line for line in content.splitlines() if line.strip()]
        if len(raw_lines) > self.max_lines:
            message = f"The file has {len(raw_lines)} lines; at most {self.max_lines} are allowed."
            return [{"code": "TooManyLines", "message": message, "line": None}]
        for number, raw in enumerate(raw_lines, 1):

            def error(message: str, code: str = "InvalidParameter", at: int = number) -> None:
                errors.append({"code": code, "message": message, "line": at})

            if len(raw) > self.max_line_bytes:
                error(f"Line is {len(raw)} bytes; at most {self.max_line_bytes}.", "LineTooLarge")
                continue
            try:
                line = orjson.loads(raw)
            except orjson.JSONDecodeError:
                error("Line is not valid JSON.")
                continue
            if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
                error("Each line needs a string custom_id.")
                continue
            if line["custom_id"] in seen:
                error(f"custom_id {line['custom_id']!r} is repeated.")
            seen.add(line["custom_id"])
            if line.get("url") != endpoint:
                error(f"Line url {line.get('url')!r} is not the batch endpoint {endpoint!r}.")
            if line.get("method", "POST") != "POST":
                error("method must be POST.")
            body = line.get("body")
            if not isinstance(body, dict) or not isinstance(body.get("model"), str):
                error("Each line needs a body with a model.")
                continue
            models.add(body["model"])
        if len(models) > 1:
            message = f"One model per file; this one has {', '.join(sorted(models))}."
            errors.append({"code": "MultipleModels", "message": message, "line": None})
        return errors or None

    def _answer(self, line: dict[str, Any]) -> _Line:
        """One line answered as its endpoint answers it (refusals included)."""
        gw = self.gateway
        rid = gw._request_id()
        body, custom_id = line["body"], line["custom_id"]
        if line["url"] == "/v1/embeddings":
            return _Line(custom_id, *embeddings_reply(gw.mode, body, gw._extra_models, rid), rid)
        rejection = gw._chat_refusal(body)
        if rejection is None and body.get("stream"):
            rejection = Rejection(400, "stream is not supported in a batch")
        if rejection is not None:
            error = _error_body(gw, rejection.status, rejection.message, rejection.code, rid)
            return _Line(custom_id, rejection.status, error, rid)
        traits, reply = gw._chat_answer(body, rid)
        usage = gw._usage(body, traits, reply)
        return _Line(custom_id, 200, gw._completion(reply, body["model"], rid, usage), rid)

    def _status(self, job: _Job) -> tuple[str, int]:
        """The job's status now and how many of its lines are done."""
        if job.finished is not None:
            return job.finished, self._done(job, job.finished)
        step = self.phase_seconds
        elapsed = time.monotonic() - job.started
        if job.errors:
            return ("validating", 0) if elapsed < step else self._finish(job, "failed", 0)
        total = len(job.lines)
        if job.cancelled_at is not None:
            cancelled_after = job.cancelled_at - job.started
            done = _progress(cancelled_after, step, total)
            if time.monotonic() - job.cancelled_at < step:
                return "cancelling", done
            return self._finish(job, "cancelled", done)
        if job.expires and elapsed >= 2 * step:
            return self._finish(job, "expired", total // 2)
        if elapsed < step:
            return "validating", 0
        if elapsed < 3 * step:
            return "in_progress", _progress(elapsed, step, total)
        if elapsed < 4 * step:
            return "finalizing", total
        return self._finish(job, "completed", total)

    def _done(self, job: _Job, status: str) -> int:
        if status == "failed":
            return 0
        if status == "expired":
            return len(job.lines) // 2
        if status == "cancelled":
            assert job.cancelled_at is not None
            return _progress(job.cancelled_at - job.started, self.phase_seconds, len(job.lines))
        return len(job.lines)

    def _finish(self, job: _Job, status: str, done: int) -> tuple[str, int]:
        """Write the output and error files once, when the job reaches its final status."""
        job.finished = status
        if status != "failed":
            output, failed = [], []
            for number, line in enumerate(job.lines):
                if number >= done:
                    unanswered = "batch_expired" if status == "expired" else "batch_cancelled"
                    message = f"The request was not processed: the batch is {status}."
                    body = _error_body(self.gateway, 400, message, unanswered, line.request_id)
                    failed.append(
                        _output_line(line.custom_id, 400, body, line.request_id, unanswered)
                    )
                elif line.status == 200:
                    output.append(_output_line(line.custom_id, 200, line.body, line.request_id))
                else:
                    code = _code_of(line.body)
                    failed.append(
                        _output_line(line.custom_id, line.status, line.body, line.request_id, code)
                    )
            if output:
                job.output_file_id = self._store(
                    f"{job.id}_output.jsonl", "batch_output", _jsonl(output)
                ).id
            if failed:
                job.error_file_id = self._store(
                    f"{job.id}_error.jsonl", "batch_output", _jsonl(failed)
                ).id
        return status, done

    def _object(self, job: _Job) -> dict[str, Any]:
        status, done = self._status(job)
        answered = job.lines[:done]
        completed = sum(1 for line in answered if line.status == 200)
        failed = done - completed
        if status in ("expired", "cancelled"):
            failed = len(job.lines) - completed
        now = _now()
        return {
            "id": job.id,
            "object": "batch",
            "endpoint": job.endpoint,
            "errors": {"object": "list", "data": job.errors} if job.errors else None,
            "input_file_id": job.input_file_id,
            "completion_window": job.completion_window,
            "status": _QUEUED.get(self.gateway.mode, status) if status == "validating" else status,
            "output_file_id": job.output_file_id,
            "error_file_id": job.error_file_id,
            "created_at": job.created_at,
            "in_progress_at": job.created_at if status not in ("validating", "failed") else None,
            "expires_at": job.created_at + _window_seconds(job.completion_window),
            "finalizing_at": now if status in ("finalizing", "completed") else None,
            "completed_at": now if status == "completed" else None,
            "failed_at": now if status == "failed" else None,
            "expired_at": now if status == "expired" else None,
            "cancelling_at": now if job.cancelled_at is not None else None,
            "cancelled_at": now if status == "cancelled" else None,
            "request_counts": {"total": len(job.lines), "completed": completed, "failed": failed},
            "metadata": job.metadata,
        }

    async def _get_batch(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        rid, job = await self._found(request, visit, self.jobs, "batch")
        if isinstance(job, web.StreamResponse):
            return job
        return self.gateway._json(200, self._object(job), rid)

    async def _cancel(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        rid, job = await self._found(request, visit, self.jobs, "batch")
        if isinstance(job, web.StreamResponse):
            return job
        status, _ = self._status(job)
        if status not in ("validating", "in_progress"):
            message = f"Batch {job.id} is {status}; only a validating or in-progress batch can be cancelled."
            return self.gateway._error(400, message, rid)
        job.cancelled_at = time.monotonic()
        return self.gateway._json(200, self._object(job), rid)

    async def _list_batches(self, request: web.Request, visit: _Visit) -> web.StreamResponse:
        rid, _, early = await self.gateway._begin(request, None, visit)
        if early is not None:
            return early
        jobs = list(reversed(self.jobs.values()))  # newest first
        after = request.query.get("after")
        if after in self.jobs:
            jobs = jobs[[j.id for j in jobs].index(after) + 1 :]
        limit = int(request.query.get("limit") or 20)
        data = [self._object(j) for j in jobs[:limit]]
        page = {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(jobs) > limit,
        }
        return self.gateway._json(200, page, rid)


def _now() -> int:
    return int(time.time())


def _lines(content: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in content.splitlines() if line.strip()]


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def _progress(elapsed: float, step: float, total: int) -> int:
    """Lines done `elapsed` seconds after creation: none while validating, all after 3 steps."""
    if step <= 0:
        return total
    return max(0, min(total, int(total * (elapsed - step) / (2 * step))))


def _window_ok(window: Any) -> bool:
    return isinstance(window, str) and 24 * 3600 <= _window_seconds(window) <= 336 * 3600


def _window_seconds(window: str) -> int:
    match = _WINDOW.fullmatch(window)
    if match is None:
        return 0
    return int(match[1]) * (3600 if match[2] == "h" else 86400)


def _error_body(
    gw: FakeGateway, status: int, message: str, code: str | None, rid: str
) -> dict[str, Any]:
    return error_body(gw.mode, status, message, code=code, request_id=rid)


def _code_of(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    return str(error.get("code")) if isinstance(error, dict) and error.get("code") else None


def _output_line(
    custom_id: str, status: int, body: dict[str, Any], rid: str, code: str | None = None
) -> dict[str, Any]:
    error = None
    if status != 200:
        inner = body["error"] if isinstance(body.get("error"), dict) else body
        error = {"code": code or str(status), "message": inner.get("message", "")}
    return {
        "id": f"batch_req_{rid}",
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": rid, "body": body},
        "error": error,
    }
