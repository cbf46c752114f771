"""The Files API on both clients, against the emulator (wire-facts-2 §4)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from cn_llm_client import AsyncCNLLMClient, CNLLMClient
from cn_llm_client.errors import APIStatusError, InvalidRequestError
from cn_llm_client.testing import FakeGateway


def _client(gw: FakeGateway, provider: str) -> CNLLMClient:
    return CNLLMClient(api_key=gw.api_key, base_url=gw.base_url, provider=provider)


def test_upload_list_content_delete_on_dashscope(tmp_path: Path) -> None:
    document = tmp_path / "合同.txt"
    document.write_text("第一条 ……", encoding="utf-8")
    with FakeGateway(mode="dashscope") as gw, _client(gw, "dashscope") as client:
        uploaded = client.upload_file(document)
        assert uploaded["id"].startswith("file-fe-") and uploaded["filename"] == "合同.txt"
        assert (
            uploaded["bytes"] == document.stat().st_size and uploaded["purpose"] == "file-extract"
        )
        batch_file = client.upload_file(b'{"custom_id": "1"}\n', purpose="batch")
        assert batch_file["filename"] == "batch.jsonl" and batch_file["id"].startswith(
            "file-batch-"
        )
        assert [f["id"] for f in client.list_files()] == [uploaded["id"], batch_file["id"]]
        assert [f["id"] for f in client.list_files(purpose="batch")] == [batch_file["id"]]
        assert client.file_content(uploaded["id"]) == document.read_bytes()
        assert client.delete_file(uploaded["id"])["deleted"] is True
        assert [f["id"] for f in client.list_files()] == [batch_file["id"]]
        with pytest.raises(APIStatusError, match="No such file") as missing:
            client.file_content(uploaded["id"])
        assert missing.value.status_code == 404
        upload = next(r for r in gw.requests if r.method == "POST")
        assert upload.path == "/v1/files" and upload.body["purpose"] == "file-extract"


def test_kimi_file_content_is_its_extracted_text() -> None:
    with FakeGateway(mode="moonshot") as gw, _client(gw, "moonshot") as client:
        uploaded = client.upload_file(b"Kimi reads this.", filename="notes.txt")
        extracted = orjson.loads(client.file_content(uploaded["id"]))
        assert extracted["content"] == "Kimi reads this." and extracted["filename"] == "notes.txt"
        picture = client.upload_file(b"\x89PNG...", purpose="image", filename="a.png")
        assert picture["purpose"] == "image"  # Kimi's purposes: file-extract, image, video


def test_async_twins() -> None:
    async def main(gw: FakeGateway) -> tuple[dict, list[dict], bytes, dict]:
        async with AsyncCNLLMClient(
            api_key=gw.api_key, base_url=gw.base_url, provider="dashscope"
        ) as client:
            uploaded = await client.upload_file(b"async text", filename="a.txt")
            listed = await client.list_files()
            content = await client.file_content(uploaded["id"])
            return uploaded, listed, content, await client.delete_file(uploaded["id"])

    with FakeGateway(mode="dashscope") as gw:
        uploaded, listed, content, deleted = asyncio.run(main(gw))
    assert [f["id"] for f in listed] == [uploaded["id"]]
    assert content == b"async text" and deleted["id"] == uploaded["id"]


@pytest.mark.parametrize("provider", ["aisa", "deepseek", "zhipu"])
def test_providers_without_files_are_refused_before_io(provider: str) -> None:
    with FakeGateway(mode="deepseek") as gw, _client(gw, provider) as client:
        for call in (
            lambda: client.upload_file(b"x"),
            client.list_files,
            lambda: client.file_content("file-1"),
            lambda: client.delete_file("file-1"),
        ):
            with pytest.raises(InvalidRequestError, match="no Files API.*dashscope, moonshot"):
                call()
        assert gw.requests == []


def test_size_limits_are_checked_before_reading_or_sending(tmp_path: Path) -> None:
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as sparse:  # a sparse file: 101 MB on paper, nothing on disk
        sparse.truncate(101 * 2**20)
    with FakeGateway(mode="moonshot") as gw, _client(gw, "moonshot") as client:
        with pytest.raises(InvalidRequestError, match=r"101\.0 MB; moonshot takes at most 100 MB"):
            client.upload_file(huge)
        assert gw.requests == []
    with huge.open("wb") as sparse:
        sparse.truncate(151 * 2**20)
    with FakeGateway(mode="dashscope") as gw, _client(gw, "dashscope") as client:
        with pytest.raises(InvalidRequestError, match="at most 150 MB for purpose 'file-extract'"):
            client.upload_file(huge)
        assert gw.requests == []


def test_bad_uploads_are_refused_before_io(tmp_path: Path) -> None:
    with FakeGateway(mode="moonshot") as gw, _client(gw, "moonshot") as client:
        with pytest.raises(
            InvalidRequestError, match="purpose 'file-extract' or 'image' or 'video', not 'batch'"
        ):
            client.upload_file(b"x", purpose="batch")
        with pytest.raises(InvalidRequestError, match="No file at"):
            client.upload_file(tmp_path / "missing.txt")
        with pytest.raises(InvalidRequestError, match="empty"):
            client.upload_file(b"")
        with pytest.raises(InvalidRequestError, match="a path or bytes, not int"):
            client.upload_file(42)  # type: ignore[arg-type]
        with pytest.raises(InvalidRequestError, match="Not a file id"):
            client.delete_file("../batches")
        assert gw.requests == []
