"""Batch jobs at half price: the provider's Batch API, with progress and resumption.

    from cn_llm_client import CNLLMClient
    from cn_llm_client.batch import chat_requests, run_batch

    client = CNLLMClient(provider="dashscope")             # DASHSCOPE_API_KEY
    requests = chat_requests("qwen-plus", ["总结：……", "翻译：……"], system="你是编辑。")
    results = run_batch(client, requests, state_file="summaries.batch.json")
    for row in results:                                     # input order, keyed by custom_id
        print(row.custom_id, row.text if row.ok else row.error)
    print(results.cost, results.saved)                      # USD at batch price; saved vs chat()

What happens: every request is validated as ``client.chat`` validates it (``_payload.build_payload``;
embeddings as ``client.embed``) before anything is uploaded; the JSONL lines are grouped by model
(one model per file) and split at the provider's documented caps (DashScope: 50,000 lines, 500 MB,
6 MB a line); each part is uploaded (purpose "batch") and started (``POST /batches``); the jobs are
polled with backoff until each is completed, failed, expired or cancelled; the output and error
files are downloaded and joined, one ``BatchResult`` per request in input order, a refused or
unanswered request carrying its error (never a lost job). Cost: the catalog's price times the
preset's ``batch_discount`` (DashScope 0.5).

Resumption: with ``state_file=``, the file ids, batch ids, request count and a hash of the inputs
are written (atomically) after every upload and job creation, so a script stopped at any point
and run again with the same inputs and state file resumes the same jobs: never a second job for
the same lines. Other inputs with the same state file are refused (delete the file to start over).

``BatchJob`` / ``AsyncBatchJob`` are the steps one by one (``submit``, ``poll``, ``wait``,
``results``, ``cancel``), as the ``cn-llm batch`` command uses them; ``run_batch`` /
``arun_batch`` do them all.

    >>> from cn_llm_client import CNLLMClient
    >>> from cn_llm_client.testing import FakeGateway
    >>> with FakeGateway(mode="dashscope") as gw:
    ...     client = CNLLMClient(api_key=gw.api_key, base_url=gw.base_url, provider="dashscope")
    ...     results = run_batch(client, chat_requests("qwen-plus", ["你好", "再见"]), poll_interval=0.01)
    >>> [(row.custom_id, row.text) for row in results]
    [('0', '[qwen-plus] 收到：你好'), ('1', '[qwen-plus] 收到：再见')]
    >>> round(results.saved, 12) == round(results.cost, 12)  # half price: as much saved as spent
    True
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ._files import BATCH_ENDPOINTS, batch_on_file, check_batch
from .errors import APIStatusError, APITimeoutError, CNLLMError, InvalidRequestError, status_error

if TYPE_CHECKING:
    from .client import AsyncCNLLMClient, CNLLMClient
    from .providers import Provider

__all__ = [
    "AsyncBatchJob",
    "BatchJob",
    "BatchResult",
    "BatchResults",
    "arun_batch",
    "chat_requests",
    "run_batch",
]

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
FINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_STATE_VERSION = 1


def chat_requests(
    model: str, prompts: Iterable[str], *, system: str | None = None, **params: Any
) -> list[dict[str, Any]]:
    """One chat request per prompt, ``custom_id`` its position ("0", "1", ...).

    >>> chat_requests("qwen-plus", ["Hi"], system="Be brief.", temperature=0.2)[0]["messages"]
    [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}]
    """
    head = [{"role": "system", "content": system}] if system else []
    return [
        {
            "custom_id": str(i),
            "model": model,
            "messages": [*head, {"role": "user", "content": p}],
            **params,
        }
        for i, p in enumerate(prompts)
    ]


# -- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchResult:
    """One request's outcome: ``response`` (the completion or embeddings body) or ``error``."""

    custom_id: str
    response: dict[str, Any] | None = None
    error: CNLLMError | None = None
    cost: float | None = None  # USD at batch price (None: price unknown)
    sync_cost: float | None = None  # what the same call would cost through chat()

    @property
    def ok(self) -> bool:
        return self.error is None and self.response is not None

    @property
    def usage(self) -> dict[str, Any] | None:
        return (self.response or {}).get("usage")

    @property
    def text(self) -> str | None:
        """A chat answer's text (None for an error or an embeddings row)."""
        choices = (self.response or {}).get("choices") or [{}]
        return (choices[0].get("message") or {}).get("content")


@dataclass
class BatchResults(Sequence[BatchResult]):
    """Every request's ``BatchResult`` in input order; ``results["id"]`` looks one up by custom_id."""

    rows: list[BatchResult]
    jobs: list[dict[str, Any]] = field(default_factory=list)  # the final batch objects

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[BatchResult]:
        return iter(self.rows)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            for row in self.rows:
                if row.custom_id == key:
                    return row
            raise KeyError(key)
        return self.rows[key]

    @property
    def failed(self) -> list[BatchResult]:
        return [row for row in self.rows if not row.ok]

    @property
    def cost(self) -> float | None:
        """USD at batch price, summed (None when no row's price is known)."""
        return _sum(row.cost for row in self.rows)

    @property
    def sync_cost(self) -> float | None:
        """What the answered requests would have cost as synchronous calls."""
        return _sum(row.sync_cost for row in self.rows)

    @property
    def saved(self) -> float | None:
        """USD saved against synchronous calls (None when a price is unknown)."""
        cost, sync = self.cost, self.sync_cost
        return None if cost is None or sync is None else sync - cost


def _sum(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


# -- planning: validation, JSONL, splitting -------------------------------------------------


@dataclass
class _Part:
    """One input file / one job: its lines, and once sent, its file and batch ids."""

    model: str
    custom_ids: list[str]
    lines: list[bytes]
    input_file_id: str | None = None
    batch_id: str | None = None

    @property
    def content(self) -> bytes:
        return b"".join(self.lines)

    def state(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "requests": len(self.custom_ids),
            "custom_ids": self.custom_ids,
            "sha256": hashlib.sha256(self.content).hexdigest(),
            "input_file_id": self.input_file_id,
            "batch_id": self.batch_id,
        }


def _validated_body(provider: Provider, endpoint: str, request: Mapping[str, Any]) -> dict:
    """The request body a line carries, validated as the synchronous call validates it."""
    params = dict(request)
    params.pop("custom_id", None)
    model = params.pop("model", None)
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("Each batch request needs a model, e.g. 'qwen-plus'.")
    if params.pop("stream", False):
        raise InvalidRequestError("A batch request cannot stream; drop stream=True.")
    if endpoint == EMBEDDINGS:
        from ._embeddings import plan_embed

        dimensions = params.pop("dimensions", None)
        plan = plan_embed(
            provider, model, params.pop("input", None), dimensions=dimensions, params=params
        )
        if len(plan.batches) != 1:
            raise InvalidRequestError(
                f"One embeddings batch line takes at most {plan.batches[0].rows} inputs for "
                f"{model}; split the input into more requests."
            )
        return plan.batches[0].payload
    from ._payload import build_payload

    messages = params.pop("messages", None)
    if not isinstance(messages, list):
        raise InvalidRequestError("Each chat batch request needs messages (a list of dicts).")
    return build_payload(model, messages, provider=provider.name, **params)


def plan_parts(
    provider: Provider,
    requests: Iterable[Mapping[str, Any]],
    endpoint: str = CHAT,
    limits: Mapping[str, int] | None = None,
) -> list[_Part]:
    """Validate every request, build its JSONL line, group by model and split at the caps.

    A request is a chat request (``model``, ``messages``, params), an embeddings request
    (``model``, ``input``) or a ready JSONL line (``custom_id``, ``method``, ``url``, ``body``);
    ``custom_id`` defaults to the request's position.
    """
    check_batch(provider)
    if endpoint not in BATCH_ENDPOINTS:
        raise InvalidRequestError(
            f"A batch runs on {' or '.join(BATCH_ENDPOINTS)}, not {endpoint!r}."
        )
    caps = {**provider.batch_limits, **(limits or {})}
    max_lines, max_bytes = caps.get("lines"), caps.get("bytes")
    max_line = caps.get("line_bytes")
    groups: dict[str, list[tuple[str, bytes]]] = {}
    seen: set[str] = set()
    for index, request in enumerate(requests):
        if not isinstance(request, Mapping):
            raise InvalidRequestError(f"Request {index} is a {type(request).__name__}, not a dict.")
        custom_id = str(request.get("custom_id", index))
        if custom_id in seen:
            raise InvalidRequestError(
                f"custom_id {custom_id!r} is used twice; each must be unique."
            )
        seen.add(custom_id)
        try:
            if "body" in request:  # a ready line (cn-llm batch submit FILE.jsonl)
                if request.get("url", endpoint) != endpoint:
                    raise InvalidRequestError(
                        f"its url {request.get('url')!r} is not the batch endpoint {endpoint!r}"
                    )
                request = request["body"]
            body = _validated_body(provider, endpoint, request)
        except InvalidRequestError as exc:
            raise InvalidRequestError(f"Batch request {custom_id!r}: {exc.message}") from exc
        line = {"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body}
        raw = orjson.dumps(line) + b"\n"
        if max_line is not None and len(raw) > max_line:
            raise InvalidRequestError(
                f"Batch request {custom_id!r} is {len(raw)} bytes as a line; "
                f"{provider.name} takes at most {max_line}. Shorten it."
            )
        groups.setdefault(body["model"], []).append((custom_id, raw))
    if not seen:
        raise InvalidRequestError("A batch needs at least one request.")
    parts: list[_Part] = []
    for model, lines in groups.items():
        part = _Part(model, [], [])
        for custom_id, raw in lines:
            full = (max_lines is not None and len(part.lines) >= max_lines) or (
                max_bytes is not None and sum(map(len, part.lines)) + len(raw) > max_bytes
            )
            if full:
                parts.append(part)
                part = _Part(model, [], [])
            part.custom_ids.append(custom_id)
            part.lines.append(raw)
        parts.append(part)
    return parts


# -- state file -----------------------------------------------------------------------------


def _inputs_hash(parts: Sequence[_Part], endpoint: str) -> str:
    digest = hashlib.sha256(endpoint.encode())
    for part in parts:
        digest.update(part.content)
    return digest.hexdigest()


def _load_state(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"State file {str(path)!r} is not readable JSON: {exc}") from exc
    if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
        raise InvalidRequestError(f"{str(path)!r} is not a cn-llm batch state file.")
    return state


def _save_state(path: Path, state: dict[str, Any]) -> None:
    """Write the whole state to a temporary file, then rename: never half a state file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state, indent=1), "utf-8")
    os.replace(temporary, path)


# -- parsing results --------------------------------------------------------------------------


def _jsonl(content: bytes) -> list[dict[str, Any]]:
    rows = []
    for raw in content.splitlines():
        if raw.strip():
            row = orjson.loads(raw)
            if isinstance(row, dict) and "custom_id" in row:
                rows.append(row)
    return rows


def _row_error(row: dict[str, Any]) -> APIStatusError:
    response = row.get("response") or {}
    status = int(response.get("status_code") or 500)
    body = response.get("body")
    if not isinstance(body, dict) or not body.get("error"):
        body = {"error": row.get("error") or {"message": "no answer in the error file"}}
    return status_error(status if status >= 400 else 500, orjson.dumps(body), {})


def _job_error(job: dict[str, Any]) -> CNLLMError:
    status = job.get("status")
    errors = ((job.get("errors") or {}).get("data")) or []
    reasons = "; ".join(
        f"{e.get('message')}" + (f" (line {e['line']})" if e.get("line") else "") for e in errors
    )
    message = f"Batch {job.get('id')} {status}" + (f": {reasons}" if reasons else "")
    if status == "failed":
        return status_error(
            400, orjson.dumps({"error": {"message": message, "code": "batch_failed"}}), {}
        )
    return CNLLMError(f"{message}: the request was not answered.")


# -- the job --------------------------------------------------------------------------------


class _JobBase:
    """Everything but I/O: the plan, the state file, progress and the results' assembly."""

    def __init__(
        self,
        client: CNLLMClient | AsyncCNLLMClient,
        requests: Iterable[Mapping[str, Any]] | None = None,
        *,
        endpoint: str = CHAT,
        state_file: str | os.PathLike[str] | None = None,
        completion_window: str = "24h",
        metadata: dict[str, str] | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> None:
        from .providers import get_provider

        self.client = client
        self.provider = get_provider(client.provider)
        self.endpoint = endpoint
        self.completion_window = completion_window
        self.metadata = metadata
        self.state_file = Path(state_file) if state_file is not None else None
        saved = _load_state(self.state_file) if self.state_file else None
        if requests is None:
            if saved is None:
                raise InvalidRequestError(
                    "Pass the requests, or the state_file of a job submitted before."
                )
            self.endpoint = saved["endpoint"]
            self.parts = [
                _Part(p["model"], list(p["custom_ids"]), [], p["input_file_id"], p["batch_id"])
                for p in saved["jobs"]
            ]
            self.inputs = saved["inputs"]
        else:
            self.parts = plan_parts(self.provider, requests, endpoint, limits)
            self.inputs = _inputs_hash(self.parts, endpoint)
            if saved is not None:
                self._resume(saved)
        self.jobs: dict[str, dict[str, Any]] = {}  # batch id -> the latest batch object
        self._results: BatchResults | None = None

    def _resume(self, saved: dict[str, Any]) -> None:
        if saved.get("inputs") != self.inputs:
            raise InvalidRequestError(
                f"State file {str(self.state_file)!r} belongs to other batch inputs; delete it to "
                "start a new job, or pass another state_file."
            )
        for part, stored in zip(self.parts, saved["jobs"], strict=True):
            part.input_file_id, part.batch_id = stored["input_file_id"], stored["batch_id"]

    def _save(self) -> None:
        if self.state_file is not None:
            state = {
                "version": _STATE_VERSION,
                "provider": self.provider.name,
                "endpoint": self.endpoint,
                "inputs": self.inputs,
                "requests": sum(len(p.custom_ids) for p in self.parts),
                "jobs": [part.state() for part in self.parts],
            }
            _save_state(self.state_file, state)

    def _upload_args(self, part: _Part) -> dict[str, Any]:
        name = f"batch-{part.model.replace('/', '_')}.jsonl"
        return {"file": part.content, "purpose": "batch", "filename": name}

    def _create_args(self, part: _Part) -> dict[str, Any]:
        return {
            "input_file_id": part.input_file_id,
            "endpoint": self.endpoint,
            "completion_window": self.completion_window,
            "metadata": self.metadata,
        }

    @property
    def batch_ids(self) -> list[str]:
        return [p.batch_id for p in self.parts if p.batch_id]

    @property
    def done(self) -> bool:
        """Every job has reached a final status."""
        return bool(self.parts) and all(
            p.batch_id and self.jobs.get(p.batch_id, {}).get("status") in FINAL for p in self.parts
        )

    def counts(self) -> dict[str, int]:
        """``{"total", "completed", "failed"}`` over every job, from the last poll."""
        total = sum(len(p.custom_ids) for p in self.parts)
        counts = {"total": total, "completed": 0, "failed": 0}
        for job in self.jobs.values():
            for key in ("completed", "failed"):
                counts[key] += int((job.get("request_counts") or {}).get(key) or 0)
        return counts

    def estimated_saving(self) -> float | None:
        """A floor on the USD saved against synchronous calls, from the prompts alone (a lower
        bound on their tokens, the catalog's input price); None when a price is unknown or the
        job was reopened from its state file (its lines are not kept there)."""
        from ._payload import _message_text, _min_tokens
        from .catalog import get_model

        discount, total = self.provider.batch_discount, 0.0
        for part in self.parts:
            info = get_model(part.model, self.provider.name)
            if discount is None or info is None or info.input_price is None or not part.lines:
                return None
            for raw in part.lines:
                body = orjson.loads(raw)["body"]
                texts = [_message_text(m) for m in body.get("messages") or []]
                inputs = body.get("input")
                texts += [inputs] if isinstance(inputs, str) else list(inputs or [])
                tokens = sum(_min_tokens(text) for text in texts)
                total += tokens * info.input_price / 1_000_000 * (1 - discount)
        return total

    def _adopt(self, part: _Part, batches: list[dict[str, Any]]) -> None:
        """Take the job already made from this part's upload (its create's answer was lost)."""
        job = batch_on_file(batches, part.input_file_id)
        if job is not None:
            part.batch_id = job["id"]
            self.jobs[job["id"]] = job
            self._save()

    def _check_submitted(self) -> None:
        if not all(part.batch_id for part in self.parts):
            raise InvalidRequestError("The batch is not started yet: submit() it first.")

    def _pending(self) -> list[str]:
        return [
            p.batch_id
            for p in self.parts
            if p.batch_id and self.jobs.get(p.batch_id, {}).get("status") not in FINAL
        ]

    def _assemble(self, files: dict[str, bytes]) -> BatchResults:
        """The results in input order from the downloaded output and error files."""
        discount = self.provider.batch_discount
        from .catalog import cost_of

        rows: list[BatchResult] = []
        for part in self.parts:
            job = self.jobs[part.batch_id or ""]
            lines: dict[str, dict[str, Any]] = {}
            for key in ("error_file_id", "output_file_id"):  # an answer wins over an error
                if job.get(key):
                    lines.update((row["custom_id"], row) for row in _jsonl(files[job[key]]))
            for custom_id in part.custom_ids:
                row = lines.get(custom_id)
                response = (row or {}).get("response") or {}
                if row is None:
                    rows.append(BatchResult(custom_id, error=_job_error(job)))
                elif response.get("status_code") == 200 and not row.get("error"):
                    body = response.get("body") or {}
                    sync = cost_of(part.model, body.get("usage") or {}, self.provider.name)
                    cost = None if sync is None or discount is None else sync * discount
                    if response.get("request_id"):
                        body.setdefault("request_id", response["request_id"])
                    rows.append(BatchResult(custom_id, body, None, cost, sync))
                else:
                    rows.append(BatchResult(custom_id, error=_row_error(row)))
        results = BatchResults(rows, [self.jobs[i] for i in self.batch_ids])
        meter = self.client.meter
        if meter is not None:
            for answered in results:
                if answered.ok:
                    meter.charge(answered.usage, answered.cost)
        return results

    def _files_to_fetch(self) -> list[str]:
        return [
            job[key]
            for job in (self.jobs[i] for i in self.batch_ids)
            for key in ("output_file_id", "error_file_id")
            if job.get(key)
        ]

    def _timed_out(self, started: float, timeout: float | None, clock: Callable[[], float]) -> None:
        if timeout is not None and clock() - started > timeout:
            statuses = ", ".join(
                f"{i}: {self.jobs.get(i, {}).get('status')}" for i in self._pending()
            )
            hint = " Run again with the same state_file to resume." if self.state_file else ""
            raise APITimeoutError(
                f"Batch jobs still running after {timeout:g} s ({statuses}).{hint}"
            )


Progress = Callable[[dict[str, int], list[dict[str, Any]]], None]


class BatchJob(_JobBase):
    """The batch workflow step by step on a CNLLMClient (see the module docstring).

    ``BatchJob(client, requests, state_file=...)`` validates and plans (no I/O);
    ``BatchJob(client, state_file=...)`` reopens a submitted job from its state file alone.
    """

    client: CNLLMClient

    def submit(self) -> list[str]:
        """Upload and start every part not started yet (resumes); returns the batch ids."""
        if self.client.meter is not None:
            self.client.meter.check()
        for part in self.parts:
            if part.input_file_id is None:
                uploaded = self.client.upload_file(**self._upload_args(part))
                part.input_file_id = uploaded["id"]
                self._save()
            elif part.batch_id is None:  # a run stopped during create: was the job made?
                self._adopt(part, self.client.list_batches(limit=100))
            if part.batch_id is None:
                job = self.client.create_batch(**self._create_args(part))
                part.batch_id = job["id"]
                self.jobs[job["id"]] = job
                self._save()
        return self.batch_ids

    def poll(self) -> dict[str, int]:
        """Refresh every unfinished job; returns the request counts over all of them."""
        for batch_id in self._pending():
            self.jobs[batch_id] = self.client.retrieve_batch(batch_id)
        return self.counts()

    def wait(
        self,
        *,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        timeout: float | None = None,
        on_progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Poll with backoff (x1.5 up to ``max_poll_interval``) until every job is final."""
        self._check_submitted()
        started, interval = clock(), poll_interval
        while True:
            counts = self.poll()
            if on_progress is not None:
                on_progress(counts, list(self.jobs.values()))
            if self.done:
                return
            self._timed_out(started, timeout, clock)
            sleep(interval)
            interval = min(interval * 1.5, max_poll_interval)

    def results(self) -> BatchResults:
        """Download the output and error files and join them (jobs must be final: ``wait``)."""
        if self._results is None:
            self._check_submitted()
            self.poll()
            if not self.done:
                raise InvalidRequestError("The batch jobs are still running: wait() first.")
            files = {f: self.client.file_content(f) for f in self._files_to_fetch()}
            self._results = self._assemble(files)
        return self._results

    def cancel(self) -> list[dict[str, Any]]:
        """Cancel every unfinished job; returns their batch objects."""
        self.poll()
        for batch_id in self._pending():
            self.jobs[batch_id] = self.client.cancel_batch(batch_id)
        return [self.jobs[i] for i in self.batch_ids]

    def run(self, **wait_options: Any) -> BatchResults:
        """``submit``, ``wait`` (its options), ``results``."""
        self.submit()
        self.wait(**wait_options)
        return self.results()


class AsyncBatchJob(_JobBase):
    """``BatchJob`` on an AsyncCNLLMClient: the same steps, awaitable."""

    client: AsyncCNLLMClient

    async def submit(self) -> list[str]:
        """Upload and start every part not started yet, as ``BatchJob.submit``."""
        if self.client.meter is not None:
            self.client.meter.check()
        for part in self.parts:
            if part.input_file_id is None:
                uploaded = await self.client.upload_file(**self._upload_args(part))
                part.input_file_id = uploaded["id"]
                self._save()
            elif part.batch_id is None:  # a run stopped during create: was the job made?
                self._adopt(part, await self.client.list_batches(limit=100))
            if part.batch_id is None:
                job = await self.client.create_batch(**self._create_args(part))
                part.batch_id = job["id"]
                self.jobs[job["id"]] = job
                self._save()
        return self.batch_ids

    async def poll(self) -> dict[str, int]:
        """Refresh every unfinished job, as ``BatchJob.poll``."""
        for batch_id in self._pending():
            self.jobs[batch_id] = await self.client.retrieve_batch(batch_id)
        return self.counts()

    async def wait(
        self,
        *,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        timeout: float | None = None,
        on_progress: Progress | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Poll with backoff until every job is final, as ``BatchJob.wait``."""
        self._check_submitted()
        started, interval = clock(), poll_interval
        while True:
            counts = await self.poll()
            if on_progress is not None:
                on_progress(counts, list(self.jobs.values()))
            if self.done:
                return
            self._timed_out(started, timeout, clock)
            await sleep(interval)
            interval = min(interval * 1.5, max_poll_interval)

    async def results(self) -> BatchResults:
        """Download and join the output and error files, as ``BatchJob.results``."""
        if self._results is None:
            self._check_submitted()
            await self.poll()
            if not self.done:
                raise InvalidRequestError("The batch jobs are still running: await wait() first.")
            files = {f: await self.client.file_content(f) for f in self._files_to_fetch()}
            self._results = self._assemble(files)
        return self._results

    async def cancel(self) -> list[dict[str, Any]]:
        """Cancel every unfinished job, as ``BatchJob.cancel``."""
        await self.poll()
        for batch_id in self._pending():
            self.jobs[batch_id] = await self.client.cancel_batch(batch_id)
        return [self.jobs[i] for i in self.batch_ids]

    async def run(self, **wait_options: Any) -> BatchResults:
        """``submit``, ``wait``, ``results``."""
        await self.submit()
        await self.wait(**wait_options)
        return await self.results()


_WAIT_OPTIONS = ("poll_interval", "max_poll_interval", "timeout", "on_progress", "sleep", "clock")


def _split(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    wait = {k: options.pop(k) for k in _WAIT_OPTIONS if k in options}
    return options, wait


def run_batch(
    client: CNLLMClient, requests: Iterable[Mapping[str, Any]], **options: Any
) -> BatchResults:
    """Submit, wait and collect in one call: ``BatchJob(client, requests, **options).run(...)``.

    Options: ``endpoint``, ``state_file``, ``completion_window``, ``metadata``, ``limits``
    (``{"lines", "bytes", "line_bytes"}`` below the provider's caps) and ``wait``'s
    ``poll_interval``, ``max_poll_interval``, ``timeout``, ``on_progress``, ``sleep``, ``clock``.
    """
    job_options, wait_options = _split(dict(options))
    return BatchJob(client, requests, **job_options).run(**wait_options)


async def arun_batch(
    client: AsyncCNLLMClient, requests: Iterable[Mapping[str, Any]], **options: Any
) -> BatchResults:
    """``run_batch`` on an AsyncCNLLMClient."""
    job_options, wait_options = _split(dict(options))
    return await AsyncBatchJob(client, requests, **job_options).run(**wait_options)
