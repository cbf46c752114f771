"""Video input: video_url parts and frame lists for video models only, refused before I/O."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from cn_llm_client import AsyncCNLLMClient, CNLLMClient, InvalidRequestError, video_part
from cn_llm_client._payload import build_payload
from cn_llm_client.testing import FakeGateway

CLIP = "https://example.com/clip.mp4"
FRAMES = [f"https://example.com/frame{i}.jpg" for i in range(4)]
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16


def ask(*parts: dict) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": "视频里有什么？"}, *parts]}]


def client_for(gw: FakeGateway) -> CNLLMClient:
    return CNLLMClient(provider="dashscope", base_url=gw.base_url, api_key=gw.api_key)


def test_video_file_part_reaches_the_server_as_documented(dashscope: FakeGateway) -> None:
    part = {"type": "video_url", "video_url": {"url": CLIP, "max_pixels": 602112}}
    completion = client_for(dashscope).chat("qwen3-vl-plus", ask(part))
    sent = dashscope.requests[-1].body["messages"][0]["content"][1]
    assert sent == part
    assert completion["choices"][0]["message"]["content"] == "[qwen3-vl-plus] 收到：视频里有什么？"


def test_frame_list_reaches_the_server_with_fps(dashscope: FakeGateway) -> None:
    client_for(dashscope).chat("qwen3-vl-plus", ask(video_part(FRAMES, fps=2)))
    sent = dashscope.requests[-1].body["messages"][0]["content"][1]
    assert sent == {"type": "video", "video": FRAMES, "fps": 2}


def test_local_video_and_frames_become_data_urls(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(MP4)
    frame = tmp_path / "f.png"
    frame.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    body = build_payload(
        "qwen3-vl-plus",
        ask({"type": "video", "video": str(clip)}, {"type": "video", "video": [frame, frame]}),
        provider="dashscope",
    )
    file_part, frames = body["messages"][0]["content"][1:]
    assert file_part["type"] == "video_url"
    assert file_part["video_url"]["url"].startswith("data:video/mp4;base64,")
    assert [f[:22] for f in frames["video"]] == ["data:image/png;base64,"] * 2
    assert video_part(MP4)["video_url"]["url"].startswith("data:video/mp4;base64,")


def test_emulator_accepts_a_data_url_video(dashscope: FakeGateway) -> None:
    client_for(dashscope).chat("qwen3-vl-plus", ask(video_part(MP4, fps=1)))
    url = dashscope.requests[-1].body["messages"][0]["content"][1]["video_url"]["url"]
    assert url.startswith("data:video/mp4;base64,")


@pytest.mark.parametrize(
    ("model", "provider"), [("qwen3-max", "aisa"), ("qwen-plus", "dashscope"), ("glm-4.6", "zhipu")]
)
def test_models_without_video_are_refused_before_io(model: str, provider: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        build_payload(model, ask(video_part(CLIP)), provider=provider)
    message = str(caught.value)
    assert f"{model} does not take video" in message and "qwen3-vl-plus" in message
    assert "dashscope" in message


def test_refusal_sends_nothing(fake_gateway: FakeGateway) -> None:
    client = CNLLMClient(base_url=fake_gateway.base_url, api_key=fake_gateway.api_key)
    with pytest.raises(InvalidRequestError, match="does not take video"):
        client.chat("deepseek-v3", ask(video_part(FRAMES)))
    assert fake_gateway.requests == []


@pytest.mark.parametrize(
    ("part", "message"),
    [
        ({"type": "video", "video": []}, "at least one image"),
        ({"type": "video", "video": FRAMES, "fps": 0}, "fps must be a number above 0"),
        ({"type": "video"}, 'without "video"'),
        ({"type": "video_url", "video_url": {}}, 'needs "video_url"'),
        ({"type": "video_url", "video_url": {"url": "/no/such/clip.mp4"}}, "video file not found"),
        ({"type": "video_url", "video_url": {"url": "data:image/png;base64,AA=="}}, "data:video/"),
    ],
)
def test_bad_video_parts_are_refused(part: dict, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        build_payload("qwen3-vl-plus", ask(part), provider="dashscope")


def test_emulator_refuses_video_for_models_without_it(dashscope: FakeGateway) -> None:
    body = {"model": "qwen-plus", "messages": ask(video_part(CLIP))}
    reply = httpx.post(
        f"{dashscope.base_url}/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {dashscope.api_key}"},
    )
    assert reply.status_code == 400 and "does not support video input" in reply.text


def test_stream_and_async(dashscope: FakeGateway) -> None:
    pieces = client_for(dashscope).chat_stream("qwen3-vl-plus", ask(video_part(CLIP)))
    assert "".join(pieces).startswith("[qwen3-vl-plus]")

    async def main() -> dict:
        async with AsyncCNLLMClient(
            provider="dashscope", base_url=dashscope.base_url, api_key=dashscope.api_key
        ) as client:
            return await client.chat("qwen3-vl-plus", ask(video_part(FRAMES, fps=2)))

    assert asyncio.run(main())["choices"][0]["message"]["content"].startswith("[qwen3-vl-plus]")
    assert dashscope.requests[-1].body["messages"][0]["content"][1]["type"] == "video"
