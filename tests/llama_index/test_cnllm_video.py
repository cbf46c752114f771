"""CNLLM: LlamaIndex VideoBlocks as video_url parts; ImageBlocks as a frame list with
additional_kwargs["video_fps"]; refused for models without video."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama_index.core.base.llms.types import ImageBlock, TextBlock, VideoBlock
from llama_index.core.llms import ChatMessage

from cn_llm_client import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from llama_index_cn_llm import CNLLM

CLIP = "https://example.com/clip.mp4"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16


def llm(gw: FakeGateway, model: str = "qwen3-vl-plus") -> CNLLM:
    return CNLLM(model=model, provider="dashscope", base_url=gw.base_url, api_key=gw.api_key)


def sent_parts(gw: FakeGateway) -> list[dict]:
    return gw.requests[-1].body["messages"][-1]["content"]  # type: ignore[no-any-return]


def test_video_block_url(dashscope: FakeGateway) -> None:
    message = ChatMessage(role="user", blocks=[TextBlock(text="描述"), VideoBlock(url=CLIP, fps=2)])
    reply = llm(dashscope).chat([message])
    assert sent_parts(dashscope)[1] == {"type": "video_url", "video_url": {"url": CLIP}, "fps": 2}
    assert (reply.message.content or "").startswith("[qwen3-vl-plus]")


def test_video_block_from_a_path_and_bytes(dashscope: FakeGateway, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(MP4)
    blocks = [TextBlock(text="描述"), VideoBlock(path=clip), VideoBlock(video=MP4)]
    llm(dashscope).chat([ChatMessage(role="user", blocks=blocks)])
    urls = [p["video_url"]["url"] for p in sent_parts(dashscope)[1:]]
    assert all(u.startswith("data:video/mp4;base64,") for u in urls) and len(urls) == 2


def test_image_blocks_as_frames(dashscope: FakeGateway) -> None:
    frames = [ImageBlock(url=f"https://example.com/{i}.jpg") for i in range(3)]
    message = ChatMessage(
        role="user", blocks=[TextBlock(text="描述"), *frames], additional_kwargs={"video_fps": 2}
    )
    responses = list(llm(dashscope).stream_chat([message]))
    assert sent_parts(dashscope)[1:] == [
        {"type": "video", "video": [f"https://example.com/{i}.jpg" for i in range(3)], "fps": 2}
    ]
    assert (responses[-1].message.content or "").startswith("[qwen3-vl-plus]")


async def test_achat_with_video(dashscope: FakeGateway) -> None:
    message = ChatMessage(role="user", blocks=[TextBlock(text="描述"), VideoBlock(url=CLIP)])
    reply = await llm(dashscope).achat([message])
    assert (reply.message.content or "").startswith("[qwen3-vl-plus]")


def test_refused_for_a_model_without_video(dashscope: FakeGateway) -> None:
    message = ChatMessage(role="user", blocks=[TextBlock(text="描述"), VideoBlock(url=CLIP)])
    with pytest.raises(InvalidRequestError, match="qwen-plus does not take video"):
        llm(dashscope, "qwen-plus").chat([message])
    assert dashscope.requests == []
