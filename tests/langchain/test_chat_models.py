"""ChatCNLLM in real pipelines against the offline gateway, and the behaviour the suites miss."""

from __future__ import annotations

import base64
import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.load import dumpd
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.tools import tool
from langchain_core.vectorstores import InMemoryVectorStore
from pydantic import BaseModel

from cn_llm_client.errors import BudgetExceededError, InvalidRequestError
from cn_llm_client.testing import FakeGateway, Fault
from langchain_cn_llm import ChatCNLLM, get_cn_llm_callback

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def llm(gw: FakeGateway, model: str = "qwen3-max", **kwargs: object) -> ChatCNLLM:
    return ChatCNLLM(model=model, base_url=gw.base_url, api_key=gw.api_key, **kwargs)


def test_lcel_chain_and_streaming_chain(fake_gateway: FakeGateway) -> None:
    prompt = ChatPromptTemplate.from_messages([("system", "你是文案"), ("human", "{topic}")])
    chain = prompt | llm(fake_gateway) | StrOutputParser()
    assert chain.invoke({"topic": "智能手表"}) == "[qwen3-max] 收到：智能手表"
    pieces = list(chain.stream({"topic": "讲一个成语故事"}))
    assert len(pieces) > 1 and "".join(pieces) == "[qwen3-max] 收到：讲一个成语故事"


def test_rag_chain_with_in_memory_store(fake_gateway: FakeGateway) -> None:
    store = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
    store.add_documents([Document("长城位于中国北方"), Document("西湖位于杭州")])
    retriever = store.as_retriever(search_kwargs={"k": 1})
    prompt = ChatPromptTemplate.from_template("资料：{context}\n问题：{question}")
    chain = (
        {
            "context": retriever | (lambda docs: docs[0].page_content),
            "question": RunnablePassthrough(),
        }
        | prompt
        | llm(fake_gateway)
        | StrOutputParser()
    )
    answer = chain.invoke("西湖位于杭州")
    assert answer.startswith("[qwen3-max] 收到：资料：西湖位于杭州")
    sent = fake_gateway.requests[-1].body["messages"][0]["content"]
    assert "西湖位于杭州" in sent


@tool
def get_weather(city: str) -> str:
    """Weather of a city."""
    return f"{city}: 晴"


@tool
def get_time(city: str) -> str:
    """Local time of a city."""
    return f"{city}: 12:00"


def test_agent_two_tool_rounds_in_one_question_on_deepseek_r1(fake_gateway: FakeGateway) -> None:
    from langchain.agents import create_agent

    one_call_per_turn = {"parallel_tool_calls": False}
    model = llm(fake_gateway, "deepseek-r1", model_kwargs=one_call_per_turn)
    agent = create_agent(model, [get_weather, get_time])
    result = agent.invoke({"messages": [("user", "先 get_weather 北京，再 get_time 上海")]})
    messages = result["messages"]
    assert [m.type for m in messages] == ["human", "ai", "tool", "ai", "tool", "ai"]
    assert [m.tool_calls[0]["name"] for m in messages if m.type == "ai" and m.tool_calls] == [
        "get_weather",
        "get_time",
    ]
    assert all(m.additional_kwargs.get("reasoning_content") for m in messages if m.type == "ai")
    assert messages[-1].content.startswith("[deepseek-r1] Tool results:")
    assert len(fake_gateway.requests) == 3
    for request in fake_gateway.requests:
        assert request.body["parallel_tool_calls"] is False
        assert not any("reasoning_content" in m for m in request.body["messages"])


def test_agent_tool_rounds_over_two_turns_on_deepseek_r1(fake_gateway: FakeGateway) -> None:
    from langchain.agents import create_agent
    from langgraph.checkpoint.memory import InMemorySaver

    agent = create_agent(
        llm(fake_gateway, "deepseek-r1"), [get_weather, get_time], checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "t1"}}
    agent.invoke({"messages": [("user", "get_weather 北京")]}, config)
    result = agent.invoke({"messages": [("user", "get_time 上海")]}, config)
    messages = result["messages"]
    assert [m.type for m in messages] == ["human", "ai", "tool", "ai"] * 2
    assert [m.tool_calls[0]["name"] for m in messages if m.type == "ai" and m.tool_calls] == [
        "get_weather",
        "get_time",
    ]
    assert messages[-1].content.startswith("[deepseek-r1] Tool results: get_time")
    assert messages[1].additional_kwargs["reasoning_content"]
    # deepseek-r1 rejects echoed reasoning: the core's "strip" policy removed it every time.
    for request in fake_gateway.requests:
        assert not any("reasoning_content" in m for m in request.body["messages"])


def test_batch_with_max_concurrency_and_cost_callback(fake_gateway: FakeGateway) -> None:
    model = llm(fake_gateway)
    with get_cn_llm_callback() as cb:
        answers = model.batch(["一", "二", "三", "四"], config={"max_concurrency": 2})
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(model.invoke, ["五", "六"]))
        list(model.stream("七"))
    assert [a.content for a in answers] == [f"[qwen3-max] 收到：{n}" for n in "一二三四"]
    assert cb.successful_requests == 5  # threads outside LangChain's context are not counted
    assert cb.total_cost > 0 and cb.total_tokens == cb.prompt_tokens + cb.completion_tokens
    assert model.meter.snapshot()["calls"] == 7


async def test_async_cost_callback_and_native_async(fake_gateway: FakeGateway) -> None:
    model = llm(fake_gateway, "deepseek-r1")
    with get_cn_llm_callback() as cb:
        message = await model.ainvoke("9.9 和 9.11 哪个大？")
        chunks = [c async for c in model.astream("证明 n³-n 能被 6 整除")]
    await model.aclose()
    assert message.additional_kwargs["reasoning_content"].startswith("思考")
    assert any(c.additional_kwargs.get("reasoning_content") for c in chunks)
    assert chunks[-1].chunk_position == "last" and chunks[-1].usage_metadata
    assert cb.successful_requests == 2 and cb.reasoning_tokens > 0
    assert cb.total_cost == pytest.approx(model.meter.snapshot()["cost_usd"])


def test_budget_refuses_before_the_request(fake_gateway: FakeGateway) -> None:
    model = llm(fake_gateway, budget_usd=1e-9)
    model.invoke("你好")
    sent = len(fake_gateway.requests)
    with pytest.raises(BudgetExceededError, match="Budget spent"):
        model.invoke("再来一次")
    assert len(fake_gateway.requests) == sent


@pytest.mark.parametrize(
    "block",
    [
        {"type": "image", "url": "https://example.com/a.png"},
        {"type": "image", "base64": PNG, "mime_type": "image/png"},
        {"type": "image", "source_type": "base64", "data": PNG, "mime_type": "image/png"},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}},
    ],
)
def test_vision_blocks_become_image_url_parts(fake_gateway: FakeGateway, block: dict) -> None:
    message = HumanMessage(content=[{"type": "text", "text": "描述这张图片"}, block])
    reply = llm(fake_gateway, "qwen3-vl-plus").invoke([message])
    assert reply.content.startswith("[qwen3-vl-plus] 收到：描述这张图片")
    part = fake_gateway.requests[-1].body["messages"][0]["content"][1]
    assert part["type"] == "image_url" and part["image_url"]["url"].startswith(("https:", "data:"))


def test_non_vision_model_refuses_images_before_the_request(fake_gateway: FakeGateway) -> None:
    image = {"type": "image", "url": "https://example.com/a.png"}
    with pytest.raises(InvalidRequestError):
        llm(fake_gateway).invoke([HumanMessage(content=[{"type": "text", "text": "x"}, image])])
    assert fake_gateway.requests == []


def test_invalid_and_empty_tool_arguments() -> None:
    model = ChatCNLLM(api_key="k")
    completion = {
        "choices": [
            {
                "message": {
                    "content": None,
                    "tool_calls": [
                        {"id": "a", "function": {"name": "f", "arguments": "{not json"}},
                        {"id": "b", "function": {"name": "g", "arguments": ""}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ]
    }
    message = model._chat_result(completion, "qwen3-max").generations[0].message
    assert isinstance(message, AIMessage)
    assert message.tool_calls == [{"name": "g", "args": {}, "id": "b", "type": "tool_call"}]
    assert message.invalid_tool_calls[0]["args"] == "{not json"


class Poem(BaseModel):
    title: str
    lines: list[str]


@pytest.mark.parametrize("method", ["function_calling", "json_schema"])
def test_structured_output_on_reasoning_model(fake_gateway: FakeGateway, method: str) -> None:
    runnable = llm(fake_gateway, "deepseek-r1").with_structured_output(
        Poem, method=method, include_raw=True
    )
    result = runnable.invoke("写一首关于梅花的诗")
    assert isinstance(result["parsed"], Poem) and result["parsing_error"] is None
    assert result["raw"].additional_kwargs["reasoning_content"]


@pytest.mark.parametrize("method", ["json_mode", "json_schema"])
def test_json_output_on_a_model_that_thinks_by_default(method: str) -> None:
    # Open Qwen3 on DashScope thinks unless told not to, and refuses JSON mode while thinking.
    with FakeGateway(mode="dashscope") as gateway:
        model = llm(gateway, "qwen3-235b-a22b", provider="dashscope")
        schema = Poem if method == "json_schema" else None  # json_mode: any JSON object
        answer = model.with_structured_output(schema, method=method).invoke(
            "写一首诗，用 JSON 回答"
        )
        assert isinstance(answer, Poem if schema else dict)
        assert gateway.requests[-1].body["enable_thinking"] is False


def test_seed_use_cases_and_routing(fake_gateway: FakeGateway) -> None:
    routes = {"chat": "qwen3-max", "code": "qwen3-coder-plus", "reasoning": "deepseek-r1"}
    for task, model in routes.items():
        reply = llm(fake_gateway, model).invoke(f"{task} task")
        assert reply.response_metadata["model_name"] == model
        assert reply.response_metadata["cost"] > 0
        assert reply.response_metadata["credits_remaining"] is not None


def test_pickle_and_dumpd_hold_no_key() -> None:
    model = ChatCNLLM(model="qwen3-max", api_key="sk-secret-value")
    assert "sk-secret-value" not in str(dumpd(model))
    assert b"sk-secret-value" not in pickle.dumps(model)
    assert "sk-secret-value" not in repr(model)
    assert pickle.loads(pickle.dumps(model)).model == "qwen3-max"
    assert model._get_ls_params()["ls_provider"] == "aisa"
    assert ChatCNLLM(model="deepseek-r1", api_key="k").profile["reasoning_output"] is True


def test_stream_cost_uses_the_providers_prices() -> None:
    """DashScope publishes no qwen3-max price here: no AIsa price may stand in for it."""
    with FakeGateway(mode="dashscope") as gw:
        direct = ChatCNLLM(
            model="qwen3-max", provider="dashscope", base_url=gw.base_url, api_key=gw.api_key
        )
        last = list(direct.stream("你好"))[-1]
        via_aisa = list(llm(gw, "qwen3-max").stream("你好"))[-1]
    assert last.response_metadata["token_usage"]["prompt_tokens"] > 0
    assert last.response_metadata["cost"] is None
    assert via_aisa.response_metadata["cost"] > 0


def test_structured_output_on_a_model_that_cannot_be_forced_raises_on_plain_text(
    fake_gateway: FakeGateway,
) -> None:
    """deepseek-r1 gets tool_choice "auto": a text answer must not come back as None."""
    from langchain_core.exceptions import OutputParserException
    from pydantic import BaseModel

    class City(BaseModel):
        name: str

    plain = {
        "id": "c1",
        "object": "chat.completion",
        "model": "deepseek-r1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hangzhou"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    structured = llm(fake_gateway, "deepseek-r1").with_structured_output(City)
    assert structured.invoke("Which city is West Lake in?") == City(name="West Lake")
    assert fake_gateway.requests[-1].body["tool_choice"] == "auto"
    fake_gateway.push(Fault.status(200, body=plain))
    with pytest.raises(OutputParserException, match="without calling 'City'"):
        structured.invoke("Which city is West Lake in?")
    forced = llm(fake_gateway, "qwen3-max").with_structured_output(City)
    fake_gateway.push(Fault.status(200, body=plain))
    assert forced.invoke("Which city?") is None  # forced models keep LangChain's usual behaviour


@pytest.mark.parametrize("method", ["json_mode", "json_schema", "function_calling"])
def test_structured_output_cut_by_max_tokens_is_an_error(
    fake_gateway: FakeGateway, method: str
) -> None:
    """The emulator cuts the JSON at max_tokens: a parse of '{"title": "写' is no result."""
    from langchain_core.exceptions import OutputParserException

    model = llm(fake_gateway, max_tokens=3)
    schema = None if method == "json_mode" else Poem
    prompt = "写一首诗，用 JSON 回答"
    with pytest.raises(OutputParserException, match="max_tokens"):
        model.with_structured_output(schema, method=method).invoke(prompt)
    assert fake_gateway.requests[-1].body["max_tokens"] == 3
    raw = model.with_structured_output(schema, method=method, include_raw=True).invoke(prompt)
    assert raw["parsed"] is None and isinstance(raw["parsing_error"], OutputParserException)
    assert raw["raw"].response_metadata["finish_reason"] == "length"
    with pytest.raises(OutputParserException, match="max_tokens"):
        list(model.with_structured_output(schema, method=method).stream(prompt))
    whole = llm(fake_gateway).with_structured_output(schema, method=method).invoke(prompt)
    assert whole  # the same request without the limit parses


async def test_structured_output_cut_by_max_tokens_is_an_error_async(
    fake_gateway: FakeGateway,
) -> None:
    from langchain_core.exceptions import OutputParserException

    structured = llm(fake_gateway, max_tokens=3).with_structured_output(Poem, method="json_schema")
    with pytest.raises(OutputParserException, match="max_tokens"):
        await structured.ainvoke("写一首诗，用 JSON 回答")
    with pytest.raises(OutputParserException, match="max_tokens"):
        [chunk async for chunk in structured.astream("写一首诗，用 JSON 回答")]
