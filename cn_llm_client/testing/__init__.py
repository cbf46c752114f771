"""The offline gateway: an OpenAI-compatible emulator on loopback for tests, examples and demos.

    >>> from cn_llm_client import CNLLMClient
    >>> from cn_llm_client.testing import FakeGateway, Fault
    >>> with FakeGateway(mode="aisa", latency=0.0) as gw:  # real aiohttp server, own thread
    ...     client = CNLLMClient(api_key=gw.api_key, base_url=gw.base_url)
    ...     gw.push(Fault.status(429, retry_after=0.1))  # the next request gets a 429
    ...     response = client.chat("qwen3-max", [{"role": "user", "content": "Hello"}])
    ...     len(gw.requests)  # the 429 and the retry
    2
    >>> response["choices"][0]["message"]["content"]
    '[qwen3-max] Hello'

From another process: `cn-llm serve-fake` or `python -m cn_llm_client.testing --port 0` (prints its
base URL, then the AISA_BASE_URL / AISA_API_KEY lines to export), scripted with `POST /_emulator/faults` (see `Fault`), `GET /_emulator/requests`,
`GET /_emulator/stats`, `POST /_emulator/reset`. pytest gets the fixtures `fake_gateway` and
`fake_gateway_session`.

Concurrency, for load tests: every recorded request has `arrived` and `completed`
(`time.monotonic()` in the gateway's process; `completed` is None until its last byte is written);
`gw.in_flight` is the number of API requests being handled now and `gw.max_in_flight` the peak
(a stream counts until its last byte); `gw.reset()` sets the peak back to the current count.
`GET /_emulator/stats` returns `{"in_flight", "max_in_flight", "requests", "max_concurrency"}`.
`max_concurrency=N` (`--max-concurrency N`; off by default) emulates AIsa's per-key concurrency
limit (5 / 20 / 50 by plan): a request arriving while N requests with the same Authorization
header are open is answered 429 `rate_limit_exceeded` with `Retry-After: 1`.
`stop()` cancels and awaits the handlers still open (stalled streams) before closing its loop.

Endpoints: `POST /v1/chat/completions` (stream and not), `GET /v1/models` (the catalog's models
for the mode), `POST /v1/embeddings` and the rerank paths of dashscope, siliconflow and vllm
(meaningful vectors and scores from hashed character n-grams: see `_embeddings.py`).
`Authorization: Bearer <api_key>` is required unless `api_key=None` or the mode is
local (ollama, vllm, llamacpp, lmstudio); otherwise 401 `missing_api_key` / `invalid_api_key`. A model the catalog does
not list for the mode is a 404 (`unknown_model`; `ModelNotFound` in dashscope mode); the
`models=` argument adds ids. The 404 message names up to three valid ids, closest first (in
deepseek mode `deepseek-v3` is unknown, as on the real DeepSeek API: "... Valid model ids
include: deepseek-chat, deepseek-reasoner."). The single-model servers (llamacpp, lmstudio)
answer any model name and name their loaded model in the response's `model`; their streams
never carry usage, every tool-call fragment repeats the call's name, and they refuse a forced
`tool_choice` (their presets in providers.json say so).

How the emulated models answer (the same request always gets the same answer):
- Text: `"[<model>] <last user text>"`, or `"[<model>] 收到：<text>"` when the text has Chinese.
  A RAG prompt (a context marker such as "Context information is below", "Context:", "上下文" or
  "资料" in the last user message or a system message, and a question: after "Query:" /
  "Question:" / "问题：", else the last user message) is answered `"[<model>] <sentence>"` with
  the context sentence sharing the most words / CJK character pairs with the question
  (`_model.rag_answer`).
  A message's text is its string content, or its text parts joined by one space (image parts
  add nothing).
  `answer_chars=N` (gateway argument, `--answer-chars`, or the request field
  `emulator_answer_chars`) answers N Chinese characters instead, streamed two per chunk.
- Tokens: one per CJK character, one per four other characters; `prompt_tokens` counts every
  message (+4 each) and the tool definitions. An answer over `max_tokens` is cut,
  `finish_reason="length"`: its text, its JSON (json_object / json_schema) or its tool-call
  arguments (the call where the limit falls is the last one), as real servers cut them.
- Reasoning (`reasoning_content`, before the answer; `completion_tokens_details.reasoning_tokens`;
  modes ollama and vllm name it `reasoning` in messages and deltas, as newer servers do):
  models that always think (catalog `reasoning` without a switch, or ids with r1 / reasoner /
  thinking), models whose switch is on as the mode spells it (`enable_thinking`,
  `thinking: {"type": "enabled"}`, `chat_template_kwargs.enable_thinking`, ollama
  `reasoning_effort` (`"none"` is off) or `think`; aisa accepts all), and open Qwen3 models unless
  switched off.
- Tools (`tools` given, `tool_choice` not "none"). A user turn is the last user message and
  what follows it. A tool is *named* when its name appears in the last user text as a whole
  identifier (not inside a longer `[A-Za-z0-9_]` name). Each named tool is called once per user
  turn, in the order the text names them: when the last message is from the user or a tool,
  the named tools not yet called in this turn are called (`finish_reason="tool_calls"`), all in
  one assistant turn, or only the next one with `parallel_tool_calls: false`. When no tool is
  named, the first tool is called once, on the user message. A `tool_choice` naming a function
  calls it once, on the user message. Otherwise, after tool results (last message role "tool")
  the answer is `"[<model>] Tool results: <name> -> <content>; ..."`, every result of this user
  turn in order. So "First get_time, then get_weather" with `parallel_tool_calls: false` takes
  two tool rounds, then answers. Arguments are an instance of the tool's JSON schema (strings
  named like an entity (city, location, name, origin, destination...): the prompt's entities in
  order (quoted spans, Capitalised names, Chinese place names: "What is the weather in Beijing?"
  gives `{"city": "Beijing"}`); expression / formula: its arithmetic; other strings: the user
  text; numbers: its numbers in order; enums: the first value; booleans: true; arrays: one
  item; rules in `_schema.py`).
- `response_format` json_object: when the user text names keys in quotes or backticks
  (`'setup'`, `"name"`, `` `punchline` ``: identifiers), an object with exactly those keys, in
  order, each value `"<key>: <user text>"`; otherwise `{"model", "answer"}`. json_schema: an
  instance of the schema.
- Video (`video_url` parts, frame lists `{"type": "video", "video": [...], "fps": N}`): only
  for video models (catalog `video`; unlisted ids: qwen...vl / omni), else 400; URLs http(s)
  or `data:video/...;base64,` (frames: image URLs), fps in (0, 60].
- Documents: OpenAI `file` content parts are refused (400); dashscope: a system message
  `fileid://id[,fileid://id2]` only for qwen-long and only with ids uploaded here; the answer then
  reads `"[<model>] (files: <filenames>) <text>"`, as it does in moonshot mode when a system
  message holds Kimi's file-content JSON (`GET /files/{id}/content`).
- Images (`image_url` parts): only for vision models, else 400; data URLs must be
  `data:image/...;base64,` with valid base64 and at most 10485760 bytes.
- Web search (wire-facts-2 section 3): dashscope `enable_search` (with `search_options`
  checked: strategy, freshness, at most 25 sites; multimodal models only when streaming),
  zhipu's `web_search` tool (the completion gets a top-level `web_search` list of two sources;
  non-stream), moonshot's `$web_search` builtin (the first reply calls it, arguments
  `{"search_result": {...}, "usage": {"total_tokens": N}}`; after the echoed tool result, N is
  added to prompt_tokens; refused while thinking, or when a later request no longer declares
  it). A searched answer reads `"[<model>] (web) <text>"`. Other modes refuse tool types other
  than `function`.
- usage on every answer; aisa mode adds `cost` (catalog prices, else $1/$4 per 1M tokens) and
  `credits_remaining` (counting down from `credits`, 402 once spent). Context cache: the
  longest message prefix (tools included) an earlier request sent is "cached" (`reset()`
  forgets it): deepseek mode reports it in `prompt_cache_hit_tokens` (64-token units) /
  `prompt_cache_miss_tokens`, moonshot in `cached_tokens` (in streams inside `choices[0]` of the
  last chunk, as Kimi sends it), dashscope in `prompt_tokens_details.cached_tokens` (from 256
  tokens); a dashscope `cache_control` marker (at least 1,024 tokens up to the marked message)
  creates a cache first (`cache_creation_input_tokens`, `cache_type: "ephemeral"`) and is read on
  the next request; more than 4 markers are refused. Every response carries `x-request-id` and
  the `X-RateLimit-*` headers.
- Completion modes (deepseek mode): `POST /beta/completions` is FIM (prompt + suffix,
  max_tokens at most 4096, streamed as `choices[0].text` pieces), answering
  `"    # [<model>] fills '<last line of prompt>' ... '<first line of suffix>'\n"`; the chat is
  served at `/beta/chat/completions` too, where a last assistant message with `prefix: true`
  is continued; off the beta base `prefix` is refused as DeepSeek refuses it. moonshot and
  dashscope continue a last assistant message with `partial: true` (dashscope refuses it while
  thinking). A continued answer reads `"[<model>] (after '<prefix>') <text>"` (the
  continuation only).
- Streams: role first, reasoning and content deltas (deepseek mode, when it reasons: both
  fields in each, the idle one null, as DeepSeek sends them), tool-call deltas (id and name only in the
  first delta of a call, arguments in 16-character fragments; ollama/vllm reuse index 0), the
  finish_reason chunk, the usage chunk (`choices: []`) when `stream_options.include_usage`, then
  `data: [DONE]`. Every event with non-ASCII text is written in two TCP writes that split its
  first multi-byte character.

Refusals, as the real servers do: size first (catalog `max_output` and `context_window`, tokens
as counted above): `max_tokens` over the output limit (deepseek: 400 "Invalid max_tokens value, the
valid range of max_tokens is [1, N]"; dashscope: 400 InvalidParameter "Range of max_tokens should be
[1, N]"; aisa: 422 `max_tokens_exceeded`), a prompt over the window (dashscope: the input alone,
"Range of input length should be [1, N]"; the others: prompt + max_tokens, "This model's maximum
context length is N tokens. However, you requested T tokens (P in the messages, C in the
completion)..."; ollama cuts instead of refusing); temperature outside 0..2, top_p outside 0..1, max_tokens < 1
(booleans are not numbers), a bad role (400); `stream_options` without `stream`; tool-call
`arguments` that are not JSON text; a tool message that answers no call of the assistant message
before it, or an assistant `tool_calls` turn not followed at once by one tool message per call id
(not in local modes); JSON mode (`json_object`) when no message says "json" (aisa, deepseek,
dashscope); deepseek-r1 given `reasoning_content` back (aisa, deepseek); a DeepSeek / Kimi
thinking request whose assistant tool-call turn lacks `reasoning_content` ("Missing
`reasoning_content` field in the assistant message at message index N"; aisa, deepseek, moonshot);
forced `tool_choice` on models that reject it and a temperature other than the fixed one (Kimi
K2.5) (not in local modes); a single-user-message model (qwen-mt) given anything else; dashscope:
thinking on a non-stream call of a model that needs streaming ("parameter.enable_thinking must be
set to false for non-streaming calls") or with JSON mode; zhipu: a tool_choice other than auto, or
json_schema. Each mode answers in its own error shape (`_modes.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._faults import Fault
    from .gateway import FakeGateway, RecordedRequest

__all__ = ["FakeGateway", "Fault", "RecordedRequest"]


def __getattr__(name: str) -> Any:
    """Import the server (and aiohttp.web) only when it is asked for."""
    if name in ("FakeGateway", "RecordedRequest"):
        from . import gateway

        return getattr(gateway, name)
    if name == "Fault":
        from ._faults import Fault

        return Fault
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
