"""Emulated answers that look like a model's: tool-call arguments taken from the entities of the
prompt, a RAG prompt answered from its retrieved context. Deterministic: same request, same answer."""

from __future__ import annotations

import orjson
import pytest

from cn_llm_client import CNLLMClient
from cn_llm_client.testing import FakeGateway
from cn_llm_client.testing._schema import entities

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
FLIGHT = {
    "type": "function",
    "function": {
        "name": "book_flight",
        "parameters": {
            "type": "object",
            "properties": {
                "origin": {"type": "string"},
                "destination": {"type": "string"},
                "note": {"type": "string"},
            },
        },
    },
}
CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculate",
        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def client() -> CNLLMClient:
    with FakeGateway() as gw, CNLLMClient(api_key=gw.api_key, base_url=gw.base_url) as client:
        yield client


def arguments(client: CNLLMClient, text: str, tool: dict) -> dict:
    reply = client.chat("qwen3-max", [{"role": "user", "content": text}], tools=[tool])
    (call,) = reply["choices"][0]["message"]["tool_calls"]
    return orjson.loads(call["function"]["arguments"])


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("What is the weather in Beijing?", "Beijing"),
        ("Weather in Paris for 3 days?", "Paris"),
        ("Is it raining in New York today?", "New York"),
        ("北京天气怎么样", "北京"),
        ("请查一下「苏州工业园区」的天气", "苏州工业园区"),
    ],
)
def test_the_city_argument_is_the_city_the_prompt_names(
    client: CNLLMClient, text: str, city: str
) -> None:
    assert arguments(client, text, WEATHER) == {"city": city}


def test_several_entities_fill_several_arguments_in_order(client: CNLLMClient) -> None:
    text = "Book a flight from London to Tokyo"
    args = arguments(client, text, FLIGHT)
    # A string that is not entity-like (note) still takes the user text.
    assert args == {"origin": "London", "destination": "Tokyo", "note": text}


def test_an_expression_argument_is_the_arithmetic_of_the_prompt(client: CNLLMClient) -> None:
    assert arguments(client, "What is 12 * (3 + 4)?", CALCULATOR) == {"expression": "12 * (3 + 4)"}


def test_no_entity_falls_back_to_the_user_text(client: CNLLMClient) -> None:
    assert arguments(client, "how warm is it outside", WEATHER) == {
        "city": "how warm is it outside"
    }


def test_entities_skip_question_words_and_an_opening_verb() -> None:
    assert entities("Tell me about cats") == []
    assert entities("Compare New York and San Francisco") == ["New York", "San Francisco"]
    assert entities("Use get_weather and get_time for Beijing") == ["Beijing"]
    assert entities("Beijing weather today") == ["Beijing"]  # alone in its sentence: kept


LLAMA_INDEX_PROMPT = """Context information is below.
---------------------
龙井茶产自杭州西湖，是中国十大名茶之一。

大熊猫主要生活在四川、陕西和甘肃的山区。
---------------------
Given the context information and not prior knowledge, answer the query.
Query: 龙井茶产自哪里？
Answer: """


def test_a_rag_prompt_is_answered_from_its_context(client: CNLLMClient) -> None:
    reply = client.chat("deepseek-v3", [{"role": "user", "content": LLAMA_INDEX_PROMPT}])
    content = reply["choices"][0]["message"]["content"]
    assert content == "[deepseek-v3] 龙井茶产自杭州西湖，是中国十大名茶之一。"
    again = client.chat("deepseek-v3", [{"role": "user", "content": LLAMA_INDEX_PROMPT}])
    assert again["choices"][0]["message"]["content"] == content  # deterministic


def test_context_in_the_system_message_and_the_question_as_the_user(client: CNLLMClient) -> None:
    messages = [
        {
            "role": "system",
            "content": "只根据以下资料回答问题，并注明出处。\n\n[1] 绿茶不发酵，代表有龙井。\n"
            "[2] 乌龙茶属于半发酵茶，代表有铁观音。",
        },
        {"role": "user", "content": "乌龙茶属于哪一类茶？"},
    ]
    reply = client.chat("qwen3-max", messages)
    assert (
        reply["choices"][0]["message"]["content"]
        == "[qwen3-max] [2] 乌龙茶属于半发酵茶，代表有铁观音。"
    )
    english = [
        {
            "role": "user",
            "content": "Context: Paris is the capital of France. Berlin is in Germany.\n"
            "Question: Where is Berlin?",
        }
    ]
    reply = client.chat("qwen3-max", english)
    assert reply["choices"][0]["message"]["content"] == "[qwen3-max] Berlin is in Germany."


def test_a_system_prompt_without_context_still_gets_the_echo(client: CNLLMClient) -> None:
    messages = [
        {"role": "system", "content": "You are a classical poetry expert"},
        {"role": "user", "content": "Write a poem about plum blossoms"},
    ]
    reply = client.chat("qwen3-max", messages)
    assert (
        reply["choices"][0]["message"]["content"] == "[qwen3-max] Write a poem about plum blossoms"
    )
