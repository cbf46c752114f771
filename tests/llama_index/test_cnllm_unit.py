"""CNLLM without traffic: fields, metadata, serialization, message translation, tool parsing."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import (
    AudioBlock,
    ChatMessage,
    ChatResponse,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.custom import CustomLLM
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.tools import FunctionTool

from cn_llm_client.errors import InvalidRequestError
from llama_index_cn_llm import CNLLM, UNKNOWN_MODEL_CONTEXT_WINDOW
from llama_index_cn_llm.base import _from_openai_message, _to_openai_message

SECRET = "sk-test-" + "x" * 24
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def weather(city: str) -> str:
    """Current weather in a city."""
    return f"{city}: sunny"


def test_bases_and_class_name() -> None:
    llm = CNLLM(api_key=SECRET)
    assert isinstance(llm, CustomLLM) and isinstance(llm, FunctionCallingLLM)
    assert CNLLM.class_name() == "CNLLM"
    assert llm.to_dict()["class_name"] == "CNLLM"


def test_metadata_comes_from_the_catalog() -> None:
    meta = CNLLM(model="deepseek-r1", api_key=SECRET).metadata
    assert (meta.context_window, meta.num_output) == (65536, 8192)
    assert meta.is_chat_model and meta.is_function_calling_model
    assert meta.model_name == "deepseek-r1"
    qwen = CNLLM(model="qwen3-max", api_key=SECRET).metadata
    assert qwen.context_window == 262144


def test_metadata_of_models_without_tools_and_unknown_models() -> None:
    assert not CNLLM(model="qwen-mt-flash", api_key=SECRET).metadata.is_function_calling_model
    unknown = CNLLM(model="my-local-model", api_key=SECRET).metadata
    assert unknown.is_function_calling_model
    assert unknown.context_window == UNKNOWN_MODEL_CONTEXT_WINDOW
    overridden = CNLLM(model="my-local-model", api_key=SECRET, context_window=8192, max_tokens=512)
    assert (overridden.metadata.context_window, overridden.metadata.num_output) == (8192, 512)


def test_num_output_leaves_most_of_the_window_for_the_prompt() -> None:
    meta = CNLLM(model="glm-5", api_key=SECRET).metadata  # max_output 131072 of 200000
    assert meta.num_output <= meta.context_window // 4


def test_key_never_leaves_in_repr_dict_json_or_pickle() -> None:
    llm = CNLLM(api_key=SECRET, temperature=0.3)
    assert SECRET not in repr(llm) and SECRET not in str(llm)
    data = llm.to_dict()
    assert "api_key" not in data and data["temperature"] == 0.3
    assert SECRET not in llm.to_json()
    blob = pickle.dumps(llm)
    assert SECRET.encode() not in blob
    copy = pickle.loads(blob)
    assert copy.temperature == 0.3 and copy.model == llm.model


def test_pickled_copy_reads_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AISA_API_KEY", SECRET)
    blob = pickle.dumps(CNLLM())
    assert SECRET.encode() not in blob
    copy = pickle.loads(blob)
    assert copy.api_key is not None and copy.api_key.get_secret_value() == SECRET
    assert copy._sync_client().base_url.startswith("https://")


def test_round_trip_through_to_dict() -> None:
    llm = CNLLM(model="deepseek-v3.2", api_key=SECRET, reasoning=True, max_tokens=100)
    again = CNLLM.from_dict(llm.to_dict(), api_key=SECRET)
    assert (again.model, again.reasoning, again.max_tokens) == ("deepseek-v3.2", True, 100)


# -- messages out ---------------------------------------------------------------------------------


def test_text_message() -> None:
    assert _to_openai_message(ChatMessage(role="user", content="你好")) == {
        "role": "user",
        "content": "你好",
    }


@pytest.mark.parametrize("kind", ["url", "path", "bytes", "base64"])
def test_image_blocks_become_image_url_parts(kind: str, tmp_path: Path) -> None:
    file = tmp_path / "dot.png"
    file.write_bytes(PNG)
    block = {
        "url": ImageBlock(url="https://example.com/cat.png"),
        "path": ImageBlock(path=file),
        "bytes": ImageBlock(image=PNG),
        "base64": ImageBlock(image=base64.b64encode(PNG), image_mimetype="image/png"),
    }[kind]
    message = ChatMessage(role="user", blocks=[TextBlock(text="what is this?"), block])
    content = _to_openai_message(message)["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    url = content[1]["image_url"]["url"]
    if kind == "url":
        assert url == "https://example.com/cat.png"
    else:
        assert url == "data:image/png;base64," + base64.b64encode(PNG).decode()


def test_unsupported_block_is_refused_clearly() -> None:
    message = ChatMessage(role="user", blocks=[AudioBlock(audio=b"RIFF....", format="wav")])
    with pytest.raises(InvalidRequestError, match="AudioBlock"):
        _to_openai_message(message)


def test_assistant_tool_calls_and_thinking_go_back_in_openai_shape() -> None:
    message = ChatMessage(
        role="assistant",
        blocks=[
            ThinkingBlock(content="need the weather"),
            ToolCallBlock(tool_call_id="call_1", tool_name="weather", tool_kwargs={"city": "北京"}),
        ],
    )
    assert _to_openai_message(message) == {
        "role": "assistant",
        "content": None,
        "reasoning_content": "need the weather",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "北京"}'},
            }
        ],
    }
    tool = ChatMessage(role="tool", content="sunny", additional_kwargs={"tool_call_id": "call_1"})
    assert _to_openai_message(tool) == {
        "role": "tool",
        "content": "sunny",
        "tool_call_id": "call_1",
    }


# -- messages in ----------------------------------------------------------------------------------


def test_completion_message_becomes_blocks() -> None:
    message = _from_openai_message(
        {
            "role": "assistant",
            "content": "查一下",
            "reasoning_content": "think",
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "weather", "arguments": None}},
                {"id": "b", "type": "function", "function": {"name": "weather", "arguments": "{"}},
            ],
        }
    )
    kinds = [type(block).__name__ for block in message.blocks]
    assert kinds == ["ThinkingBlock", "TextBlock", "ToolCallBlock", "ToolCallBlock"]
    assert message.role == MessageRole.ASSISTANT and message.content == "查一下"
    assert message.blocks[2].tool_kwargs == {}  # type: ignore[union-attr]
    assert message.blocks[3].tool_kwargs == "{"  # type: ignore[union-attr]  kept verbatim


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (None, {}),
        ("", {}),
        ("null", {}),
        ('{"city": "上海"}', {"city": "上海"}),
        ('{"city": "上海", "un', {"city": "上海"}),  # still streaming in
        ("[1, 2]", {}),
    ],
)
def test_get_tool_calls_tolerates_null_empty_and_partial_arguments(
    arguments: str | None, expected: dict[str, str]
) -> None:
    llm = CNLLM(api_key=SECRET)
    message = _from_openai_message(
        {"tool_calls": [{"id": "c", "function": {"name": "weather", "arguments": arguments}}]}
    )
    (selection,) = llm.get_tool_calls_from_response(ChatResponse(message=message))
    assert (selection.tool_id, selection.tool_name, selection.tool_kwargs) == (
        "c",
        "weather",
        expected,
    )


def test_get_tool_calls_honours_error_on_no_tool_call() -> None:
    llm = CNLLM(api_key=SECRET)
    response = ChatResponse(message=ChatMessage(role="assistant", content="no tools needed"))
    assert llm.get_tool_calls_from_response(response, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="tool call"):
        llm.get_tool_calls_from_response(response)


def test_prepare_chat_with_tools() -> None:
    llm = CNLLM(api_key=SECRET)
    history = [ChatMessage(role="system", content="be brief")]
    tool = FunctionTool.from_defaults(fn=weather)
    args = llm._prepare_chat_with_tools([tool], user_msg="北京天气", chat_history=history)
    assert len(history) == 1, "the caller's history must not be mutated"
    assert [m.role.value for m in args["messages"]] == ["system", "user"]
    assert args["tools"][0]["function"]["name"] == "weather"
    assert args["tool_choice"] is None  # the server's default: auto
    required = llm._prepare_chat_with_tools([tool], user_msg="x", tool_required=True)
    assert required["tool_choice"] == "required"
    named = llm._prepare_chat_with_tools([tool], user_msg="x", tool_choice="weather")
    assert named["tool_choice"] == "weather"


def test_parallel_calls_kept_only_when_allowed() -> None:
    llm = CNLLM(api_key=SECRET)

    def response() -> ChatResponse:
        calls = [
            {"id": str(i), "function": {"name": "weather", "arguments": "{}"}} for i in range(2)
        ]
        return ChatResponse(message=_from_openai_message({"tool_calls": calls}))

    both = llm._validate_chat_with_tools_response(response(), [], allow_parallel_tool_calls=True)
    assert len(llm.get_tool_calls_from_response(both)) == 2
    one = llm._validate_chat_with_tools_response(response(), [], allow_parallel_tool_calls=False)
    assert [c.tool_id for c in llm.get_tool_calls_from_response(one)] == ["0"]


def test_a_repeated_tool_call_keeps_its_first_copy() -> None:
    # Qwen3 streams sometimes repeat a call verbatim (langchain #31511): keep one, not none.
    call = {"id": "c1", "function": {"name": "weather", "arguments": "{}"}}
    response = ChatResponse(message=_from_openai_message({"tool_calls": [call, call]}))
    llm = CNLLM(api_key=SECRET)
    one = llm._validate_chat_with_tools_response(response, [], allow_parallel_tool_calls=False)
    assert [c.tool_id for c in llm.get_tool_calls_from_response(one)] == ["c1"]


def test_docstring_examples_run() -> None:
    import doctest

    import llama_index_cn_llm
    import llama_index_cn_llm.base

    for module in (llama_index_cn_llm, llama_index_cn_llm.base):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__
