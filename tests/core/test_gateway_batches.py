"""The emulator's Files and Batch endpoints, spoken to with plain httpx (wire-facts-2 §4-5)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest

from cn_llm_client.testing import FakeGateway


def _http(gw: FakeGateway) -> httpx.Client:
    return httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {gw.api_key}"})


def _line(custom_id: str, text: str, model: str = "qwen-plus", **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def _upload(http: httpx.Client, content: bytes, purpose: str = "batch") -> dict[str, Any]:
    reply = http.post("/files", files={"file": ("in.jsonl", content)}, data={"purpose": purpose})
    assert reply.status_code == 200, reply.text
    return reply.json()


def _create(http: httpx.Client, file_id: str, **overrides: Any) -> httpx.Response:
    body = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    return http.post("/batches", json={**body, **overrides})


def _wait(http: httpx.Client, batch_id: str, final: str, seconds: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        batch = http.get(f"/batches/{batch_id}").json()
        seen.append(batch["status"])
        if batch["status"] == final:
            batch["seen"] = seen
            return batch
        time.sleep(0.01)
    raise AssertionError(f"batch never reached {final}: {seen[-5:]}")


def _rows(http: httpx.Client, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    reply = http.get(f"/files/{file_id}/content")
    assert reply.status_code == 200
    return [orjson.loads(line) for line in reply.content.splitlines()]


def test_dashscope_files_round_trip_with_documented_shapes() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        uploaded = _upload(http, "合同全文".encode(), purpose="file-extract")
        assert uploaded["id"].startswith("file-fe-")
        assert {k: uploaded[k] for k in ("object", "bytes", "purpose", "status")} == {
            "object": "file",
            "bytes": len("合同全文".encode()),
            "purpose": "file-extract",
            "status": "processed",
        }
        assert gw.requests[-1].body == {
            "purpose": "file-extract",
            "filename": "in.jsonl",
            "bytes": 12,
        }
        assert http.get(f"/files/{uploaded['id']}").json()["id"] == uploaded["id"]
        assert [f["id"] for f in http.get("/files").json()["data"]] == [uploaded["id"]]
        assert http.get("/files", params={"purpose": "batch"}).json()["data"] == []
        assert http.get(f"/files/{uploaded['id']}/content").content == "合同全文".encode()
        deleted = http.delete(f"/files/{uploaded['id']}").json()
        assert deleted == {"id": uploaded["id"], "object": "file", "deleted": True}
        assert http.get(f"/files/{uploaded['id']}").status_code == 404


def test_kimi_file_content_is_the_extracted_text_as_json() -> None:
    with FakeGateway(mode="moonshot") as gw, _http(gw) as http:
        uploaded = _upload(http, b"Chapter one.", purpose="file-extract")
        content = http.get(f"/files/{uploaded['id']}/content").json()
        assert content["content"] == "Chapter one." and content["type"] == "file"
        assert http.post("/batches", json={}).status_code == 404  # Kimi: files, no batches


@pytest.mark.parametrize("mode", ["aisa", "deepseek", "zhipu", "ollama"])
def test_modes_without_a_files_api_answer_404(mode: str) -> None:
    with FakeGateway(mode=mode) as gw, _http(gw) as http:
        reply = http.post("/files", files={"file": ("a.txt", b"x")}, data={"purpose": "batch"})
        assert reply.status_code == 404


def test_upload_refusals_purpose_size_and_shape() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        gw.batches.max_file_bytes["batch"] = 10
        too_big = http.post(
            "/files", files={"file": ("a.jsonl", b"x" * 11)}, data={"purpose": "batch"}
        )
        assert too_big.status_code == 400 and "exceeds" in too_big.text
        bad_purpose = http.post(
            "/files", files={"file": ("a", b"x")}, data={"purpose": "fine-tune!"}
        )
        assert bad_purpose.status_code == 400 and "purpose" in bad_purpose.text
        assert http.post("/files", json={"purpose": "batch"}).status_code == 400


def test_batch_walks_its_states_and_answers_every_line() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        gw.batches.phase_seconds = 0.05
        lines = [_line(str(n), f"问题{n}") for n in range(6)]
        created = _create(http, _upload(http, _jsonl(lines))["id"], metadata={"ds_name": "t"})
        assert created.status_code == 200
        batch = created.json()
        assert batch["status"] == "validating" and batch["metadata"] == {"ds_name": "t"}
        done = _wait(http, batch["id"], "completed")
        order = list(dict.fromkeys(done["seen"]))
        assert order == sorted(
            order, key=["validating", "in_progress", "finalizing", "completed"].index
        )
        assert "in_progress" in order
        assert done["request_counts"] == {"total": 6, "completed": 6, "failed": 0}
        rows = _rows(http, done["output_file_id"])
        assert [r["custom_id"] for r in rows] == [str(n) for n in range(6)]
        answer = rows[2]["response"]["body"]["choices"][0]["message"]["content"]
        assert answer == "[qwen-plus] 收到：问题2" and rows[2]["error"] is None
        assert rows[2]["response"]["status_code"] == 200 and rows[2]["response"]["body"]["usage"]
        assert done["error_file_id"] is None


def test_a_bad_line_goes_to_the_error_file_with_the_chat_refusal() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        gw.batches.phase_seconds = 0
        lines = [_line("ok", "hi"), _line("hot", "hi", temperature=5)]
        batch = _create(http, _upload(http, _jsonl(lines))["id"]).json()
        done = _wait(http, batch["id"], "completed")
        assert done["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
        assert [r["custom_id"] for r in _rows(http, done["output_file_id"])] == ["ok"]
        (error,) = _rows(http, done["error_file_id"])
        assert error["custom_id"] == "hot" and error["response"]["status_code"] == 400
        assert "temperature" in error["error"]["message"]


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([_line("1", "a"), _line("2", "b", model="qwen-max")], "One model per file"),
        ([{**_line("1", "a"), "url": "/v1/embeddings"}], "is not the batch endpoint"),
        ([_line("1", "a"), _line("1", "b")], "repeated"),
        ([{"method": "POST", "url": "/v1/chat/completions", "body": {}}], "custom_id"),
    ],
)
def test_dashscope_refuses_bad_files_by_failing_the_job(lines: list[dict], reason: str) -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        gw.batches.phase_seconds = 0
        batch = _create(http, _upload(http, _jsonl(lines))["id"]).json()
        failed = _wait(http, batch["id"], "failed")
        assert any(reason in e["message"] for e in failed["errors"]["data"])
        assert failed["output_file_id"] is None


def test_line_limits_fail_the_job() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        gw.batches.phase_seconds = 0
        gw.batches.max_lines = 2
        many = _create(http, _upload(http, _jsonl([_line(str(n), "x") for n in range(3)]))["id"])
        assert (
            "at most 2" in _wait(http, many.json()["id"], "failed")["errors"]["data"][0]["message"]
        )
        gw.batches.max_line_bytes = 50
        wide = _create(http, _upload(http, _jsonl([_line("1", "x" * 60)]))["id"])
        assert (
            _wait(http, wide.json()["id"], "failed")["errors"]["data"][0]["code"] == "LineTooLarge"
        )


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"endpoint": "/v1/completions"}, 400),
        ({"completion_window": "12h"}, 400),
        ({"completion_window": "15d"}, 400),
        ({"completion_window": "soon"}, 400),
        ({"input_file_id": "file-batch-missing"}, 404),
    ],
)
def test_create_refusals(overrides: dict[str, Any], status: int) -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        file_id = _upload(http, _jsonl([_line("1", "a")]))["id"]
        assert _create(http, file_id, **overrides).status_code == status
        assert _create(http, file_id, completion_window="7d").status_code == 200


def test_a_file_extract_upload_cannot_feed_a_batch() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        file_id = _upload(http, _jsonl([_line("1", "a")]), purpose="file-extract")["id"]
        assert _create(http, file_id).status_code == 400


def test_fail_next_and_expire_next() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        gw.batches.phase_seconds = 0.02
        file_id = _upload(http, _jsonl([_line(str(n), "x") for n in range(4)]))["id"]
        gw.batches.fail_next()
        gw.batches.expire_next()
        failed = _wait(http, _create(http, file_id).json()["id"], "failed")
        assert failed["errors"]["data"][0]["message"] == "Emulated batch failure"
        expired = _wait(http, _create(http, file_id).json()["id"], "expired")
        assert expired["request_counts"] == {"total": 4, "completed": 2, "failed": 2}
        assert [r["custom_id"] for r in _rows(http, expired["output_file_id"])] == ["0", "1"]
        errors = _rows(http, expired["error_file_id"])
        assert [(r["custom_id"], r["error"]["code"]) for r in errors] == [
            ("2", "batch_expired"),
            ("3", "batch_expired"),
        ]


def test_lose_next_answer_makes_the_job_then_answers_500() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        file_id = _upload(http, _jsonl([_line("1", "x")]))["id"]
        gw.batches.lose_next_answer()
        assert _create(http, file_id).status_code == 500
        assert [job.input_file_id for job in gw.batches.jobs.values()] == [file_id]
        assert _create(http, file_id).status_code == 200  # only the next create
        assert len(gw.batches.jobs) == 2


def test_cancel_keeps_what_was_done() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        gw.batches.phase_seconds = 0.1
        file_id = _upload(http, _jsonl([_line(str(n), "x") for n in range(10)]))["id"]
        batch = _create(http, file_id).json()
        cancelling = http.post(f"/batches/{batch['id']}/cancel").json()
        assert cancelling["status"] == "cancelling"
        cancelled = _wait(http, batch["id"], "cancelled")
        assert cancelled["request_counts"]["failed"] == 10  # cancelled while validating
        assert http.post(f"/batches/{batch['id']}/cancel").status_code == 400
        listed = http.get("/batches", params={"limit": 1}).json()
        assert [b["id"] for b in listed["data"]] == [batch["id"]] and listed["has_more"] is False


def test_reset_forgets_files_and_batches() -> None:
    with FakeGateway(mode="dashscope") as gw, _http(gw) as http:
        _upload(http, b"x", purpose="file-extract")
        gw.reset()
        assert http.get("/files").json()["data"] == []
