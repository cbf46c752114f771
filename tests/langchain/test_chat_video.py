"""ChatCNLLM: LangChain v1 video blocks reach Qwen-VL as video_url parts (langchain-core's own
converter refuses them), frame lists pass through; models without video are refused."""

from __future__ import annotations

import base64

import pytest
from langchain_core.messages import HumanMessage

from cn_llm_client import InvalidRequestError
from cn_llm_client.testing import FakeGateway
from langchain_cn_llm import ChatCNLLM

CLIP = "https://example.com/clip.mp4"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16


def llm(gw: FakeGateway, model: str = "qwen3-vl-plus") -> ChatCNLLM:
    return ChatCNLLM(model=model, provider="dashscope", base_url=gw.base_url, api_key=gw.api_key)


def sent_parts(gw: FakeGateway) -> list[dict]:
    return gw.requests[-1].body["messages"][-1]["content"]  # type: ignore[no-any-return]


def test_v1_video_url_block(dashscope: FakeGateway) -> None:
    message = HumanMessage(
        content=[{"type": "text", "text": "视频里有什么？"}, {"type": "video", "url": CLIP}]
    )
    reply = llm(dashscope).invoke([message])
    assert sent_parts(dashscope)[1] == {"type": "video_url", "video_url": {"url": CLIP}}
    assert reply.text.startswith("[qwen3-vl-plus]")


def test_v1_base64_video_block_becomes_a_data_url(dashscope: FakeGateway) -> None:
    data = base64.b64encode(MP4).decode()
    block = {"type": "video", "base64": data, "mime_type": "video/mp4"}
    llm(dashscope).invoke([HumanMessage(content=[{"type": "text", "text": "描述"}, block])])
    url = sent_parts(dashscope)[1]["video_url"]["url"]
    assert url == f"data:video/mp4;base64,{data}"


def test_frame_list_passes_through_and_streams(dashscope: FakeGateway) -> None:
    frames = {"type": "video", "video": ["https://e.com/1.jpg", "https://e.com/2.jpg"], "fps": 2}
    message = HumanMessage(content=[{"type": "text", "text": "描述"}, frames])
    text = "".join(chunk.text for chunk in llm(dashscope).stream([message]))
    assert sent_parts(dashscope)[1] == frames
    assert text.startswith("[qwen3-vl-plus]")


async def test_ainvoke_with_video(dashscope: FakeGateway) -> None:
    message = HumanMessage(
        content=[{"type": "text", "text": "描述"}, {"type": "video", "url": CLIP}]
    )
    reply = await llm(dashscope).ainvoke([message])
    assert reply.text.startswith("[qwen3-vl-plus]")


def test_refused_for_a_model_without_video(dashscope: FakeGateway) -> None:
    message = HumanMessage(
        content=[{"type": "text", "text": "描述"}, {"type": "video", "url": CLIP}]
    )
    with pytest.raises(InvalidRequestError, match="qwen-plus does not take video"):
        llm(dashscope, "qwen-plus").invoke([message])
    with pytest.raises(InvalidRequestError, match="file_id"):
        llm(dashscope).invoke([HumanMessage(content=[{"type": "video", "file_id": "f-1"}])])
    assert dashscope.requests == []


def test_profile_says_which_models_take_video() -> None:
    assert ChatCNLLM(model="qwen3-vl-plus", api_key="k").profile["video_inputs"] is True
    assert ChatCNLLM(model="qwen3-max", api_key="k").profile["video_inputs"] is False
