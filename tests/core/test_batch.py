"""The batch workflow (cn_llm_client.batch) against the emulator's Files and Batch endpoints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cn_llm_client import AsyncCNLLMClient, CNLLMClient, CostMeter
from cn_llm_client.batch import (
    EMBEDDINGS,
    AsyncBatchJob,
    BatchJob,
    arun_batch,
    chat_requests,
    run_batch,
)
from cn_llm_client.catalog import cost_of
from cn_llm_client.errors import (
    APITimeoutError,
    BadRequestError,
    CNLLMError,
    InvalidRequestError,
    ModelNotFoundError,
)
from cn_llm_client.testing import FakeGateway, Fault

FAST = {"poll_interval": 0.005, "max_poll_interval": 0.02}
PROMPTS = [f"第{n}篇文章" for n in range(5)]


@pytest.fixture
def gw(batch_gateway: FakeGateway) -> FakeGateway:
    return batch_gateway


@pytest.fixture
def client(gw: FakeGateway) -> Iterator[CNLLMClient]:
    with CNLLMClient(api_key=gw.api_key, base_url=gw.base_url, provider="dashscope") as c:
        yield c


def _posts(gw: FakeGateway, path: str) -> int:
    return sum(1 for r in gw.requests if r.method == "POST" and r.path == path)


def test_round_trip_in_input_order_with_usage_and_half_price(
    gw: FakeGateway, client: CNLLMClient
) -> None:
    requests = chat_requests("qwen-plus", PROMPTS, system="你是编辑。", temperature=0.3)
    for request, custom_id in zip(requests, "edcba", strict=True):
        request["custom_id"] = custom_id  # not sorted: the order must be the input's
    results = run_batch(client, requests, **FAST)
    assert [row.custom_id for row in results] == list("edcba")
    assert [row.text for row in results] == [f"[qwen-plus] 收到：{p}" for p in PROMPTS]
    assert results["c"].text == "[qwen-plus] 收到：第2篇文章" and not results.failed
    row = results[0]
    assert row.usage and row.usage["prompt_tokens"] > 0 and row.response["request_id"]
    full = cost_of("qwen-plus", row.usage, "dashscope")
    assert full is not None and row.sync_cost == pytest.approx(full)
    assert row.cost == pytest.approx(full * 0.5)  # providers.json: dashscope batch_discount 0.5
    assert results.saved == pytest.approx(results.cost) and results.cost > 0
    assert [j["status"] for j in results.jobs] == ["completed"]
    line = gw.batches.files[results.jobs[0]["input_file_id"]].content.splitlines()[0]
    sent = json.loads(line)
    assert sent["url"] == "/v1/chat/completions" and sent["method"] == "POST"
    assert sent["body"]["messages"][0] == {"role": "system", "content": "你是编辑。"}
    assert sent["body"]["temperature"] == 0.3 and "stream" not in sent["body"]
    create = next(r for r in gw.requests if r.path == "/v1/batches" and r.method == "POST")
    assert create.body["completion_window"] == "24h"
    assert create.body["endpoint"] == "/v1/chat/completions"


def test_async_twin(gw: FakeGateway) -> None:
    async def main() -> Any:
        async with AsyncCNLLMClient(
            api_key=gw.api_key, base_url=gw.base_url, provider="dashscope"
        ) as client:
            return await arun_batch(client, chat_requests("qwen-plus", PROMPTS), **FAST)

    results = asyncio.run(main())
    assert [row.text for row in results] == [f"[qwen-plus] 收到：{p}" for p in PROMPTS]
    assert results.cost is not None and results.cost > 0


def test_the_meter_is_charged_the_batch_price(gw: FakeGateway) -> None:
    meter = CostMeter()
    with CNLLMClient(
        api_key=gw.api_key, base_url=gw.base_url, provider="dashscope", meter=meter
    ) as client:
        results = run_batch(client, chat_requests("qwen-plus", PROMPTS), **FAST)
    assert meter.snapshot()["cost_usd"] == pytest.approx(results.cost)


def test_resumes_after_an_interrupt_without_a_second_job(
    gw: FakeGateway, client: CNLLMClient, tmp_path: Path
) -> None:
    state = tmp_path / "jobs" / "state.json"
    requests = chat_requests("qwen-plus", PROMPTS)
    BatchJob(client, requests, state_file=state).submit()  # the script dies right after this
    saved = json.loads(state.read_text())
    assert saved["requests"] == 5 and saved["jobs"][0]["batch_id"].startswith("batch_")

    def interrupt(counts: dict, jobs: list) -> None:
        raise KeyboardInterrupt  # and again while waiting

    with pytest.raises(KeyboardInterrupt):
        run_batch(client, requests, state_file=state, on_progress=interrupt, **FAST)
    results = run_batch(client, requests, state_file=state, **FAST)
    assert [row.text for row in results] == [f"[qwen-plus] 收到：{p}" for p in PROMPTS]
    assert _posts(gw, "/v1/batches") == 1 and _posts(gw, "/v1/files") == 1
    assert json.loads(state.read_text())["jobs"] == saved["jobs"]
    assert gw.api_key and gw.api_key not in state.read_text()  # the state file holds no key


def test_an_interrupt_between_upload_and_create_reuses_the_upload(
    gw: FakeGateway, client: CNLLMClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    requests = chat_requests("qwen-plus", PROMPTS)

    def killed(*args: Any, **kwargs: Any) -> dict:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(CNLLMClient, "create_batch", killed)
        with pytest.raises(KeyboardInterrupt):
            run_batch(client, requests, state_file=state, **FAST)
    assert json.loads(state.read_text())["jobs"][0]["batch_id"] is None
    assert run_batch(client, requests, state_file=state, **FAST)[4].ok
    assert _posts(gw, "/v1/files") == 1 and _posts(gw, "/v1/batches") == 1


def test_a_state_file_of_other_inputs_is_refused(client: CNLLMClient, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    BatchJob(client, chat_requests("qwen-plus", PROMPTS), state_file=state).submit()
    with pytest.raises(InvalidRequestError, match="belongs to other batch inputs"):
        BatchJob(client, chat_requests("qwen-plus", PROMPTS[:4]), state_file=state)
    state.write_text("{broken")
    with pytest.raises(InvalidRequestError, match="not readable JSON"):
        BatchJob(client, chat_requests("qwen-plus", PROMPTS), state_file=state)


def test_reopened_from_the_state_file_alone(client: CNLLMClient, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    BatchJob(client, chat_requests("qwen-plus", PROMPTS, system="s"), state_file=state).submit()
    job = BatchJob(client, state_file=state)
    job.wait(**FAST)
    assert [row.custom_id for row in job.results()] == ["0", "1", "2", "3", "4"]
    with pytest.raises(InvalidRequestError, match="state_file of a job submitted before"):
        BatchJob(client, state_file=tmp_path / "none.json")


def test_split_at_the_limits_and_joined(gw: FakeGateway, client: CNLLMClient) -> None:
    gw.batches.max_lines = (
        2  # the emulator now refuses files over 2 lines, as DashScope over 50,000
    )
    requests = chat_requests("qwen-plus", PROMPTS)
    unsplit = run_batch(client, requests, **FAST)
    assert len(unsplit.failed) == 5 and "at most 2" in str(unsplit[0].error)
    results = run_batch(client, requests, limits={"lines": 2}, **FAST)
    assert [row.text for row in results] == [f"[qwen-plus] 收到：{p}" for p in PROMPTS]
    assert len(results.jobs) == 3 and [j["request_counts"]["total"] for j in results.jobs] == [
        2,
        2,
        1,
    ]
    line = len(gw.batches.files[results.jobs[0]["input_file_id"]].content) // 2
    by_bytes = run_batch(client, requests, limits={"bytes": 2 * line + 10}, **FAST)
    assert len(by_bytes.jobs) == 3 and not by_bytes.failed


def test_one_model_per_file(client: CNLLMClient) -> None:
    requests = chat_requests("qwen-plus", ["a", "b"]) + [
        {"custom_id": "m", "model": "qwen-max", "messages": [{"role": "user", "content": "c"}]}
    ]
    requests[1]["custom_id"] = "p1"
    results = run_batch(client, requests, **FAST)
    assert [row.custom_id for row in results] == ["0", "p1", "m"]
    assert results["m"].text == "[qwen-max] c"
    assert [j["request_counts"]["total"] for j in results.jobs] == [2, 1]  # one file per model


def test_failures_are_kept_per_row(client: CNLLMClient) -> None:
    requests = chat_requests("qwen-plus", ["fine"]) + [
        {
            "custom_id": "nope",
            "model": "qwen-nonexistent",
            "messages": [{"role": "user", "content": "x"}],
        }
    ]
    results = run_batch(client, requests, **FAST)
    assert results["0"].ok and results["0"].text == "[qwen-plus] fine"
    failed = results["nope"]
    assert not failed.ok and failed.response is None and failed.cost is None
    assert isinstance(failed.error, ModelNotFoundError) and "qwen-nonexistent" in str(failed.error)
    assert results.failed == [failed]


def test_an_expired_job_keeps_its_partial_output(gw: FakeGateway, client: CNLLMClient) -> None:
    gw.batches.expire_next()
    results = run_batch(client, chat_requests("qwen-plus", PROMPTS), **FAST)
    assert results.jobs[0]["status"] == "expired"
    assert [row.ok for row in results] == [True, True, False, False, False]
    assert results[1].text == "[qwen-plus] 收到：第1篇文章"
    assert "batch is expired" in str(results[4].error) and results[4].error.code == "batch_expired"


def test_a_failed_job_is_an_error_on_every_row(gw: FakeGateway, client: CNLLMClient) -> None:
    gw.batches.fail_next()
    results = run_batch(client, chat_requests("qwen-plus", PROMPTS[:2]), **FAST)
    assert all(isinstance(row.error, BadRequestError) for row in results)
    assert "Emulated batch failure" in str(results[0].error) and results.cost is None


def test_cancel(gw: FakeGateway, client: CNLLMClient) -> None:
    gw.batches.phase_seconds = 0.5
    job = BatchJob(client, chat_requests("qwen-plus", PROMPTS))
    job.submit()
    assert [j["status"] for j in job.cancel()] == ["cancelling"]
    job.wait(**FAST)
    results = job.results()
    assert results.jobs[0]["status"] == "cancelled" and len(results.failed) == 5
    assert results[0].error is not None and results[0].error.code == "batch_cancelled"
    assert job.cancel()[0]["status"] == "cancelled"  # nothing left to cancel: no request sent
    assert _posts(gw, f"/v1/batches/{results.jobs[0]['id']}/cancel") == 1


def test_async_job_steps_and_cancel(gw: FakeGateway) -> None:
    gw.batches.phase_seconds = 0.5

    async def main() -> Any:
        async with AsyncCNLLMClient(
            api_key=gw.api_key, base_url=gw.base_url, provider="dashscope"
        ) as client:
            job = AsyncBatchJob(client, chat_requests("qwen-plus", PROMPTS))
            await job.submit()
            await job.cancel()
            await job.wait(**FAST)
            return await job.results()

    results = asyncio.run(main())
    assert results.jobs[0]["status"] == "cancelled" and len(results.failed) == 5


def test_poll_backs_off_and_times_out_with_a_resume_hint(
    gw: FakeGateway, client: CNLLMClient, tmp_path: Path
) -> None:
    gw.batches.phase_seconds = 60
    waits: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    job = BatchJob(client, chat_requests("qwen-plus", PROMPTS), state_file=tmp_path / "s.json")
    job.submit()
    with pytest.raises(APITimeoutError, match="still running after 30 s.*same state_file"):
        job.wait(
            poll_interval=2, max_poll_interval=5, timeout=30, sleep=sleep, clock=lambda: now[0]
        )
    assert waits[:4] == [2, 3, 4.5, 5] and set(waits[3:]) == {5}
    with pytest.raises(InvalidRequestError, match="still running"):
        job.results()


def test_progress_reports_request_counts(gw: FakeGateway, client: CNLLMClient) -> None:
    seen: list[dict] = []
    run_batch(
        client, chat_requests("qwen-plus", PROMPTS), on_progress=lambda c, j: seen.append(c), **FAST
    )
    assert seen[-1] == {"total": 5, "completed": 5, "failed": 0}
    assert all(c["total"] == 5 for c in seen)


def test_embeddings_batch(gw: FakeGateway, client: CNLLMClient) -> None:
    requests = [
        {
            "custom_id": "a",
            "model": "text-embedding-v4",
            "input": ["春天", "夏天"],
            "dimensions": 64,
        },
        {"custom_id": "b", "model": "text-embedding-v4", "input": "秋天", "dimensions": 64},
    ]
    results = run_batch(client, requests, endpoint=EMBEDDINGS, **FAST)
    assert [len(row.response["data"]) for row in results] == [2, 1]
    assert len(results["b"].response["data"][0]["embedding"]) == 64 and results["b"].text is None
    create = next(r for r in gw.requests if r.path == "/v1/batches" and r.method == "POST")
    assert create.body["endpoint"] == "/v1/embeddings"


@pytest.mark.parametrize(
    ("requests", "match"),
    [
        ([{"model": "qwen-plus", "messages": [{"role": "robot", "content": "x"}]}], "request '0'"),
        ([{"messages": [{"role": "user", "content": "x"}]}], "needs a model"),
        ([{"model": "qwen-plus"}], "needs messages"),
        (chat_requests("qwen-plus", ["a"], stream=True), "cannot stream"),
        (chat_requests("qwen-plus", ["a", "b"]) + chat_requests("qwen-plus", ["c"]), "used twice"),
        ([], "at least one request"),
        (["just a prompt"], "not a dict"),
        ([{"custom_id": "1", "url": "/v1/embeddings", "body": {"model": "qwen-plus"}}], "its url"),
    ],
)
def test_bad_requests_are_refused_before_any_upload(
    gw: FakeGateway, client: CNLLMClient, requests: list, match: str
) -> None:
    with pytest.raises(InvalidRequestError, match=match):
        run_batch(client, requests)
    assert gw.requests == []


def test_a_line_over_the_cap_is_refused_before_upload(gw: FakeGateway, client: CNLLMClient) -> None:
    with pytest.raises(InvalidRequestError, match="'0' is .* bytes as a line; dashscope takes"):
        run_batch(client, chat_requests("qwen-plus", ["x" * 200]), limits={"line_bytes": 100})
    assert gw.requests == []


@pytest.mark.parametrize("provider", ["aisa", "deepseek", "zhipu", "moonshot", "ollama"])
def test_providers_without_a_batch_api_are_refused_before_upload(provider: str) -> None:
    with (
        FakeGateway(mode="deepseek") as gw,
        CNLLMClient(api_key=gw.api_key, base_url=gw.base_url, provider=provider) as client,
    ):
        with pytest.raises(
            InvalidRequestError, match="no Batch API; providers with one: dashscope"
        ):
            run_batch(client, chat_requests("deepseek-chat", ["a"]))
        assert gw.requests == []


def test_ready_jsonl_lines_are_accepted_and_validated(gw: FakeGateway, client: CNLLMClient) -> None:
    lines = [
        {
            "custom_id": "x1",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "qwen-plus", "messages": [{"role": "user", "content": "hi"}]},
        }
    ]
    assert run_batch(client, lines, **FAST)["x1"].text == "[qwen-plus] hi"
    lines[0]["body"]["temperature"] = 9
    with pytest.raises(InvalidRequestError, match="'x1'.*temperature"):
        run_batch(client, lines)


def test_errors_are_cnllm_errors(gw: FakeGateway, client: CNLLMClient) -> None:
    gw.batches.expire_next()
    results = run_batch(client, chat_requests("qwen-plus", PROMPTS[:2]), **FAST)
    assert isinstance(results[1].error, CNLLMError)


def test_wait_and_results_before_submit_are_refused(gw: FakeGateway, client: CNLLMClient) -> None:
    job = BatchJob(client, chat_requests("qwen-plus", PROMPTS))
    for step in (lambda: job.wait(**FAST), job.results):
        with pytest.raises(InvalidRequestError, match="submit"):
            step()
    assert gw.requests == []


def test_a_job_made_by_a_create_whose_answer_was_lost_is_adopted(
    gw: FakeGateway, client: CNLLMClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state.json"
    requests = chat_requests("qwen-plus", PROMPTS)
    create = CNLLMClient.create_batch

    def lost(self: CNLLMClient, *args: Any, **kwargs: Any) -> dict:
        create(self, *args, **kwargs)  # the server makes the job...
        raise KeyboardInterrupt  # ...and the script dies before reading the answer

    with monkeypatch.context() as patch:
        patch.setattr(CNLLMClient, "create_batch", lost)
        with pytest.raises(KeyboardInterrupt):
            run_batch(client, requests, state_file=state, **FAST)
    assert run_batch(client, requests, state_file=state, **FAST)[0].ok
    assert _posts(gw, "/v1/batches") == 1
    assert json.loads(state.read_text())["jobs"][0]["batch_id"] == next(iter(gw.batches.jobs))


def _batch_file(client: CNLLMClient) -> str:
    line = {"custom_id": "1", "method": "POST", "url": "/v1/chat/completions"}
    line["body"] = {"model": "qwen-plus", "messages": [{"role": "user", "content": "hi"}]}
    return str(client.upload_file(json.dumps(line).encode(), purpose="batch")["id"])


def test_a_create_answered_500_after_making_the_job_does_not_make_a_second(
    gw: FakeGateway, client: CNLLMClient
) -> None:
    file_id = _batch_file(client)
    gw.batches.lose_next_answer()
    job = client.create_batch(file_id)
    assert list(gw.batches.jobs) == [job["id"]] and job["input_file_id"] == file_id
    assert _posts(gw, "/v1/batches") == 1


def test_a_create_answered_500_before_making_the_job_is_sent_again(
    gw: FakeGateway, client: CNLLMClient
) -> None:
    file_id = _batch_file(client)
    gw.push(Fault.status(500))  # refused before the emulator made anything
    job = client.create_batch(file_id)
    assert list(gw.batches.jobs) == [job["id"]]
    assert _posts(gw, "/v1/batches") == 2


def test_async_create_adopts_the_job_its_lost_answer_made(gw: FakeGateway) -> None:
    async def main() -> dict:
        async with AsyncCNLLMClient(
            api_key=gw.api_key, base_url=gw.base_url, provider="dashscope"
        ) as aclient:
            uploaded = await aclient.upload_file(
                (
                    b'{"custom_id": "1", "method": "POST", "url": "/v1/chat/completions", '
                    b'"body": {"model": "qwen-plus", "messages": []}}'
                ),
                purpose="batch",
            )
            gw.batches.lose_next_answer()
            return await aclient.create_batch(uploaded["id"])

    job = asyncio.run(main())
    assert list(gw.batches.jobs) == [job["id"]] and _posts(gw, "/v1/batches") == 1


def test_run_batch_survives_a_lost_create_answer_with_one_job(
    gw: FakeGateway, client: CNLLMClient
) -> None:
    gw.batches.lose_next_answer()
    assert run_batch(client, chat_requests("qwen-plus", PROMPTS), **FAST)[0].ok
    assert len(gw.batches.jobs) == 1


def test_siliconflow_queue_status_is_waited_through() -> None:
    with (
        FakeGateway(mode="siliconflow") as gw,
        CNLLMClient(api_key=gw.api_key, base_url=gw.base_url, provider="siliconflow") as client,
    ):
        gw.batches.phase_seconds = 0.05
        seen: list[str] = []
        model = "deepseek-ai/DeepSeek-V3"
        results = run_batch(
            client,
            chat_requests(model, ["你好"]),
            on_progress=lambda counts, jobs: seen.extend(j["status"] for j in jobs),
            **FAST,
        )
    assert seen[0] == "in_queue" and seen[-1] == "completed"
    assert results[0].text == f"[{model}] 收到：你好"
    assert results.cost is None  # SiliconFlow documents no batch discount: no figure is made up
