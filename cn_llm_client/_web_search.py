"""Web search grounding: one `web_search=` option, written the way each provider takes it.

`web_search=True`, or a dict of the provider's search options; False / None: no search.
The spelling comes from the preset's `web_search` field (providers.json):

- `enable_search` (DashScope Qwen): `"enable_search": true`, and the dict as `search_options`
  (search_strategy "turbo" | "max" | "agent" | "agent_max", forced_search, freshness
  7 | 30 | 180 | 365, assigned_site_list of at most 25 sites, enable_search_extension, ...).
  The compatible API returns no sources. Multimodal models search only in streaming calls:
  the client streams and folds those (`_payload.needs_stream`);
- `web_search_tool` (Zhipu GLM): a `{"type": "web_search", "web_search": {...}}` tool (the dict
  is merged into it); the sources come back as the completion's top-level `web_search` list;
- `builtin_function` (Kimi): the `$web_search` builtin tool, with thinking off. The model calls
  it, the client sends the call's arguments back unchanged as the tool result and asks again
  (`SearchRounds`), so the caller writes one call. The completion's usage is summed over the
  rounds, with `searches` (how many) and `search_tokens` (the `usage.total_tokens` the search
  arguments report; Kimi bills them as prompt tokens of the next round).

    >>> body = {"model": "qwen-plus", "messages": []}
    >>> apply_web_search(body, "qwen-plus", None, get_provider("dashscope"), {"forced_search": True})
    >>> body["enable_search"], body["search_options"]
    (True, {'forced_search': True})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cn_llm_client.catalog import ModelInfo
from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.providers import Provider, get_provider, provider_names

__all__ = [
    "LABELS",
    "MAX_SEARCH_ROUNDS",
    "SEARCH_TOOL",
    "SearchRounds",
    "apply_web_search",
    "wants_echo",
]

SEARCH_TOOL = "$web_search"
MAX_SEARCH_ROUNDS = 4  # echo rounds before the client gives the model's last reply back as is

LABELS = {
    "enable_search": "Qwen enable_search",
    "web_search_tool": "GLM web_search tool",
    "builtin_function": "Kimi $web_search",
}
_STRATEGIES = ("turbo", "max", "agent", "agent_max")
_FRESHNESS = (7, 30, 180, 365)
_MAX_SITES = 25


def apply_web_search(
    payload: dict[str, Any],
    model: str,
    info: ModelInfo | None,
    preset: Provider,
    option: Any,
) -> None:
    """Add the provider's search fields to `payload`; InvalidRequestError where there are none."""
    if option is None or option is False:
        return
    if option is not True and not isinstance(option, Mapping):
        raise InvalidRequestError(
            f"web_search must be True, False or a dict of search options, got {option!r}"
        )
    options = {} if option is True else dict(option)
    if preset.web_search is None:
        raise InvalidRequestError(
            f"{preset.name} has no web search; it is available on {_providers_with_search()} "
            "(pass provider=... with that provider's key)"
        )
    if info is not None and not info.web_search:
        raise InvalidRequestError(
            f"{model} cannot search the web; use a general chat model (e.g. "
            f"{preset.default_model}) for web_search="
        )
    if preset.web_search == "enable_search":
        _check_search_options(options)
        payload["enable_search"] = True
        if options:
            payload["search_options"] = options
    elif preset.web_search == "web_search_tool":
        tool = {"enable": True, "search_engine": "search_std", "search_result": True, **options}
        payload["tools"] = [*payload.get("tools", ()), {"type": "web_search", "web_search": tool}]
    else:  # builtin_function
        if options:
            raise InvalidRequestError(
                f"Kimi's {SEARCH_TOOL} takes no options ({', '.join(options)}); use web_search=True"
            )
        _thinking_off(payload, model, info)
        builtin = {"type": "builtin_function", "function": {"name": SEARCH_TOOL}}
        payload["tools"] = [*payload.get("tools", ()), builtin]


def wants_echo(option: Any, provider: str | None) -> bool:
    """Whether the client runs Kimi's search echo rounds for this `web_search=` option."""
    return bool(option) and get_provider(provider).web_search == "builtin_function"


def _providers_with_search() -> str:
    presets = (get_provider(name) for name in provider_names())
    return ", ".join(f"{p.name} ({LABELS[p.web_search]})" for p in presets if p.web_search)


def _check_search_options(options: Mapping[str, Any]) -> None:
    strategy = options.get("search_strategy")
    if strategy is not None and strategy not in _STRATEGIES:
        raise InvalidRequestError(
            f"search_strategy must be one of {', '.join(_STRATEGIES)}, got {strategy!r}"
        )
    freshness = options.get("freshness")
    if freshness is not None and freshness not in _FRESHNESS:
        raise InvalidRequestError(
            f"freshness is a number of days: one of 7, 30, 180, 365, got {freshness!r}"
        )
    sites = options.get("assigned_site_list")
    if sites is not None and (
        not isinstance(sites, (list, tuple)) or len(sites) > _MAX_SITES or isinstance(sites, str)
    ):
        raise InvalidRequestError(
            f"assigned_site_list must be a list of at most {_MAX_SITES} sites, e.g. ['baidu.com']"
        )


def _thinking_off(payload: dict[str, Any], model: str, info: ModelInfo | None) -> None:
    """Kimi searches only with thinking disabled."""
    if info is None or not info.reasoning:
        return
    if info.reasoning_switch is None:
        raise InvalidRequestError(
            f"{model} always thinks, and Kimi's {SEARCH_TOOL} needs thinking off; "
            "use kimi-k2 or kimi-k2.5 for web_search="
        )
    thinking = payload.setdefault("thinking", {"type": "disabled"})
    if isinstance(thinking, Mapping) and thinking.get("type") != "disabled":
        raise InvalidRequestError(
            f"Kimi's {SEARCH_TOOL} needs thinking off; drop reasoning=True for web_search="
        )


class SearchRounds:
    """The echo loop of Kimi's `$web_search`, shared by the sync and async clients.

    `messages` grows by one assistant turn and its tool results per round; `next(completion)`
    says whether to ask again, `finish(completion)` sums the usage of every round into the last
    completion.

    >>> rounds = SearchRounds([{"role": "user", "content": "今天的新闻"}])
    >>> call = {"id": "c1", "type": "function",
    ...         "function": {"name": "$web_search", "arguments": '{"usage": {"total_tokens": 900}}'}}
    >>> first = {"choices": [{"message": {"role": "assistant", "content": "", "tool_calls": [call]},
    ...                       "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 10}}
    >>> rounds.next(first), rounds.messages[-1]["content"]
    (True, '{"usage": {"total_tokens": 900}}')
    >>> final = {"choices": [{"message": {"role": "assistant", "content": "答"}}],
    ...          "usage": {"prompt_tokens": 920, "completion_tokens": 5}}
    >>> usage = rounds.finish(final)["usage"]
    >>> usage["prompt_tokens"], usage["searches"], usage["search_tokens"]
    (930, 1, 900)
    """

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = list(messages)
        self._usages: list[dict[str, Any]] = []
        self._searches = 0
        self._search_tokens = 0

    def next(self, completion: dict[str, Any]) -> bool:
        """Append the echo of `completion`'s `$web_search` calls; False when it is the answer."""
        choices = completion.get("choices") or [{}]
        message = choices[0].get("message") or {}
        calls = message.get("tool_calls") or []
        searches = [c for c in calls if (c.get("function") or {}).get("name") == SEARCH_TOOL]
        # Calls of the caller's own functions mixed in: the turn is the caller's to answer.
        if not searches or len(searches) != len(calls) or len(self._usages) >= MAX_SEARCH_ROUNDS:
            return False
        self._usages.append(completion.get("usage") or {})
        turn = {"role": "assistant", "content": message.get("content") or "", "tool_calls": calls}
        self.messages.append(turn)
        for call in searches:
            arguments = call["function"].get("arguments") or "{}"
            self.messages.append(
                {
                    "role": "tool",
                    "tool_call_id": call.get("id"),
                    "name": SEARCH_TOOL,
                    "content": arguments,  # unchanged, as Kimi documents
                }
            )
            self._searches += 1
            self._search_tokens += _search_tokens(arguments)
        return True

    def finish(self, completion: dict[str, Any]) -> dict[str, Any]:
        """`completion` with usage summed over the rounds, plus `searches` / `search_tokens`."""
        if not self._usages:
            return completion
        completion["usage"] = self.usage(completion.get("usage"))
        return completion

    def usage(self, last: dict[str, Any] | None) -> dict[str, Any]:
        """The usage of every round so far plus `last`: every top-level count summed (cache
        figures too), the cost when every round has one."""
        rounds = [*self._usages, last or {}]
        total: dict[str, Any] = {}
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            total[name] = sum(u.get(name) or 0 for u in rounds)
        for name in {k for u in rounds for k, v in u.items() if _count(v)} - set(total):
            total[name] = sum(u.get(name) or 0 for u in rounds if _count(u.get(name)))
        costs = [u.get("cost") for u in rounds]
        if all(isinstance(c, (int, float)) for c in costs):
            total["cost"] = sum(costs)  # type: ignore[arg-type]
        total["searches"] = self._searches
        total["search_tokens"] = self._search_tokens
        return total


def _count(value: Any) -> bool:
    """A token count (nested details and the cost are not summed as counts)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _search_tokens(arguments: str) -> int:
    from cn_llm_client._stream import parse_tool_arguments

    parsed = parse_tool_arguments(arguments) or {}
    usage = parsed.get("usage")
    tokens = usage.get("total_tokens") if isinstance(usage, Mapping) else None
    return tokens if isinstance(tokens, int) and not isinstance(tokens, bool) else 0
