"""Long documents by file: uploaded once per client (by content hash) and referenced as each
provider documents it: fileid:// for DashScope qwen-long, the extracted text for Kimi."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from cn_llm_client import AsyncCNLLMClient, CNLLMClient, InvalidRequestError
from cn_llm_client.testing import FakeGateway

CONTRACT = "第一条 甲方向乙方提供服务。第二条 乙方按月付款。".encode()
ASK = [
    {"role": "system", "content": "你是合同助理。"},
    {"role": "user", "content": "总结这份合同"},
]


@pytest.fixture(params=[("dashscope", "qwen-long"), ("moonshot", "kimi-k2")], ids=lambda p: p[0])
def setup(request: pytest.FixtureRequest) -> Iterator[tuple[FakeGateway, CNLLMClient, str]]:
    mode, model = request.param
    with FakeGateway(mode=mode) as gw:
        yield gw, CNLLMClient(provider=mode, base_url=gw.base_url, api_key=gw.api_key), model


def paths(gw: FakeGateway) -> list[tuple[str, str]]:
    return [
        (r.method, r.path.split("/files/")[0] + ("/files/…" if "/files/" in r.path else ""))
        for r in gw.requests
    ]


def test_referenced_as_the_provider_documents(setup: tuple) -> None:
    gw, client, model = setup
    completion = client.chat(model, ASK, documents=[("contract.txt", CONTRACT)])
    messages = gw.requests[-1].body["messages"]
    assert messages[0] == ASK[0] and messages[-1] == ASK[-1]  # the system prompt stays first
    assert len(messages) == 3
    stored = list(gw.batches.files.values())
    assert [f.filename for f in stored] == ["contract.txt"] and stored[0].purpose == "file-extract"
    if gw.mode == "dashscope":
        assert messages[1] == {"role": "system", "content": f"fileid://{stored[0].id}"}
        assert paths(gw) == [("POST", "/v1/files"), ("POST", "/v1/chat/completions")]
    else:  # Kimi: GET /files/{id}/content, the extracted text in a system message
        assert '"content":"第一条' in messages[1]["content"] and messages[1]["role"] == "system"
        assert paths(gw) == [
            ("POST", "/v1/files"),
            ("GET", "/v1/files/…"),
            ("POST", "/v1/chat/completions"),
        ]
    content = completion["choices"][0]["message"]["content"]
    assert content == f"[{model}] (files: contract.txt) 收到：总结这份合同"


def test_uploaded_once_per_client_by_content_hash(setup: tuple, tmp_path: Path) -> None:
    gw, client, model = setup
    path = tmp_path / "contract.txt"
    path.write_bytes(CONTRACT)
    client.chat(model, ASK, documents=[path])
    client.chat(model, ASK, documents=[("renamed.txt", CONTRACT)])  # same bytes: same file
    list(client.chat_stream(model, ASK, documents=[str(path)]))
    assert len(gw.batches.files) == 1
    uploads = [r for r in gw.requests if r.method == "POST" and r.path == "/v1/files"]
    contents = [r for r in gw.requests if r.path.endswith("/content")]
    assert len(uploads) == 1 and len(contents) == (1 if gw.mode == "moonshot" else 0)
    client.chat(model, ASK, documents=[b"another document"])
    assert len(gw.batches.files) == 2
    other = CNLLMClient(provider=gw.mode, base_url=gw.base_url, api_key=gw.api_key)
    other.chat(model, ASK, documents=[path])  # the cache is per client
    assert len(gw.batches.files) == 3


def test_several_documents_in_one_dashscope_message(dashscope: FakeGateway) -> None:
    client = CNLLMClient(
        provider="dashscope", base_url=dashscope.base_url, api_key=dashscope.api_key
    )
    client.chat("qwen-long", ASK, documents=[("a.txt", b"A"), ("b.txt", b"B")])
    ids = list(dashscope.batches.files)
    assert dashscope.requests[-1].body["messages"][1]["content"] == ",".join(
        f"fileid://{i}" for i in ids
    )


def test_file_parts_in_messages_are_uploaded_and_taken_out(dashscope: FakeGateway) -> None:
    client = CNLLMClient(
        provider="dashscope", base_url=dashscope.base_url, api_key=dashscope.api_key
    )
    data = base64.b64encode(CONTRACT).decode()
    part = {
        "type": "file",
        "file": {"file_data": f"data:text/plain;base64,{data}", "filename": "c.txt"},
    }
    ask = [{"role": "user", "content": [{"type": "text", "text": "总结"}, part]}]
    client.chat("qwen-long", ask)
    (stored,) = dashscope.batches.files.values()
    assert stored.content == CONTRACT and stored.filename == "c.txt"
    body = dashscope.requests[-1].body
    assert body["messages"] == [
        {"role": "system", "content": f"fileid://{stored.id}"},
        {"role": "user", "content": [{"type": "text", "text": "总结"}]},
    ]
    by_id = {"type": "file", "file": {"file_id": stored.id}}  # uploaded already: referenced
    client.chat(
        "qwen-long", [{"role": "user", "content": [{"type": "text", "text": "再看"}, by_id]}]
    )
    assert dashscope.requests[-1].body["messages"][0]["content"] == f"fileid://{stored.id}"
    assert len(dashscope.batches.files) == 1


def test_async_chat_and_stream(setup: tuple) -> None:
    gw, _, model = setup

    async def main() -> tuple[dict, str]:
        async with AsyncCNLLMClient(
            provider=gw.mode, base_url=gw.base_url, api_key=gw.api_key
        ) as c:
            completion = await c.chat(model, ASK, documents=[("contract.txt", CONTRACT)])
            async with c.stream(model, ASK, documents=[("contract.txt", CONTRACT)]) as stream:
                text = "".join(
                    [
                        ch["choices"][0]["delta"].get("content") or ""
                        async for ch in stream
                        if ch.get("choices")
                    ]
                )
            assert stream.completion()["choices"][0]["message"]["content"] == text
            return completion, text

    completion, text = asyncio.run(main())
    assert "(files: contract.txt)" in completion["choices"][0]["message"]["content"]
    assert "(files: contract.txt)" in text
    assert len(gw.batches.files) == 1  # the async client uploaded once too


@pytest.mark.parametrize(
    ("provider", "model", "message"),
    [
        ("aisa", "qwen3-max", "aisa reads no uploaded documents; use qwen-long"),
        ("deepseek", "deepseek-chat", "providers: dashscope, moonshot"),
        (
            "dashscope",
            "qwen-plus",
            "qwen-plus does not read uploaded documents; on dashscope use qwen-long",
        ),
    ],
)
def test_refused_before_any_request(provider: str, model: str, message: str) -> None:
    with FakeGateway(mode=provider) as gw:
        client = CNLLMClient(provider=provider, base_url=gw.base_url, api_key=gw.api_key)
        with pytest.raises(InvalidRequestError, match=message):
            client.chat(model, ASK, documents=[("a.txt", b"A")])
        assert gw.requests == []


def test_bad_documents_are_refused(dashscope: FakeGateway) -> None:
    client = CNLLMClient(
        provider="dashscope", base_url=dashscope.base_url, api_key=dashscope.api_key
    )
    for documents, message in [
        (["/no/such/file.pdf"], "document not found"),
        ([b""], "is empty"),
        ([42], "a document is a path, bytes or"),
    ]:
        with pytest.raises(InvalidRequestError, match=message):
            client.chat("qwen-long", ASK, documents=documents)
    assert dashscope.requests == []


def test_emulator_refuses_unknown_ids_and_other_models(dashscope: FakeGateway) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {dashscope.api_key}"}
    ref = [{"role": "system", "content": "fileid://file-fe-nope"}, *ASK[1:]]
    reply = httpx.post(
        f"{dashscope.base_url}/chat/completions",
        json={"model": "qwen-long", "messages": ref},
        headers=headers,
    )
    assert reply.status_code == 400 and "not found" in reply.text
    client = CNLLMClient(
        provider="dashscope", base_url=dashscope.base_url, api_key=dashscope.api_key
    )
    file_id = client.upload_file(b"A", filename="a.txt")["id"]
    ref = [{"role": "system", "content": f"fileid://{file_id}"}, *ASK[1:]]
    reply = httpx.post(
        f"{dashscope.base_url}/chat/completions",
        json={"model": "qwen-plus", "messages": ref},
        headers=headers,
    )
    assert reply.status_code == 400 and "only supported by qwen-long" in reply.text
