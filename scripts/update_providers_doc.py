"""Regenerate the provider table in docs/providers.md from providers.json (and the catalog).

    python scripts/update_providers_doc.py           # rewrite the table in place
    python scripts/update_providers_doc.py --check   # exit 1 if the table is out of date

The tables sit between ``<!-- providers:start -->`` / ``<!-- providers:end -->`` and
``<!-- features:start -->`` / ``<!-- features:end -->``; the prose around them is written by hand. Adding a preset to providers.json and running this script is all
the page needs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from cn_llm_client.catalog import list_models
from cn_llm_client.providers import Provider, get_provider, provider_names

DOC = Path(__file__).resolve().parent.parent / "docs" / "providers.md"

_SWITCH = {
    "enable_thinking": "`enable_thinking: true` (budget: `thinking_budget`)",
    "thinking_type": '`thinking: {"type": "enabled"}`',
    "chat_template_kwargs": '`chat_template_kwargs: {"enable_thinking": true}`',
    "reasoning_effort": '`reasoning_effort: "medium"` (off: `"none"`)',
}
_HEADER = (
    "Provider",
    "Base URL",
    "Key",
    "`reasoning=True` is sent as",
    "tool_choice",
    "JSON output",
    "Thinking needs streaming",
    "Usage in streams",
    "Catalog models",
)


def _row(p: Provider) -> list[str]:
    url = f"`{p.base_url}`" if p.base_url else "pass `base_url=`"
    others = [f"{name}: `{u}`" for name, u in p.regions.items() if u != p.base_url]
    if others:
        url += " (" + "; ".join(others) + ")"
    if p.api_key_env:
        key = f"`{p.api_key_env}`"
    else:
        key = "optional" if not p.key_required else "required"
    switch = _SWITCH.get(p.reasoning_switch or "", "per model (catalog)")
    choice = (
        "`auto`, `none`, `required`, a tool name"
        if p.forced_tool_choice
        else "`auto` only (forced → `auto`, warned)"
    )
    json = "`json_object`, `json_schema`" if p.json_schema else "`json_object` only"
    stream = "open Qwen3: streamed and folded for you" if p.thinking_requires_stream else "no"
    usage = "yes" if p.stream_usage else "no (cost unknown)"
    models = [m.id for m in list_models(p.name)]
    shown = ", ".join(f"`{m}`" for m in models[:3]) + (
        f" +{len(models) - 3}" if len(models) > 3 else ""
    )
    return [
        f"`{p.name}`",
        url,
        key,
        switch,
        choice,
        json,
        stream,
        usage,
        "any name (the loaded model answers)"
        if p.serves_any_model
        else shown or "any (your server's ids)",
    ]


def _web_search(p: Provider) -> str:
    return {
        "enable_search": "`enable_search` + `search_options` (no sources returned)",
        "web_search_tool": "`web_search` tool; sources in the reply",
        "builtin_function": "`$web_search`, echo round run by the client; thinking off",
    }.get(p.web_search or "", "—")


def _documents(p: Provider) -> str:
    how = {
        "fileid": "uploaded once, `fileid://` system message",
        "file_content": "uploaded once, extracted text in a system message",
    }.get(p.documents or "")
    return f"{_models_with(p, 'documents')}: {how}" if how else "—"


def _models_with(p: Provider, capability: str) -> str:
    models = [f"`{m.id}`" for m in list_models(p.name) if getattr(m, capability)]
    return ", ".join(models) or "—"


def _cache_read(p: Provider) -> str:
    return f"`usage.{p.cache_usage}`" if p.cache_usage else "—"


def _cache_markers(p: Provider) -> str:
    return "passed through (≤ 4 per request)" if p.cache_markers else "—"


def _retrieval(p: Provider, kind: Literal["embedding", "rerank"]) -> str:
    """`embed` / `rerank` on the preset: the catalog's models, or any the server serves."""
    if (p.embeddings_path if kind == "embedding" else p.rerank_path) is None:
        return "—"
    models = [f"`{m.id}`" for m in list_models(p.name, kind=kind)]
    return ", ".join(models) or "any model the server serves"


def _fim(p: Provider) -> str:
    if not p.fim:
        return "—"
    where = f"`{p.beta_path}/completions`" if p.beta_path else "`/completions`"
    cap = p.fim.get("max_tokens")
    return where + (f", max_tokens ≤ {cap}" if cap else "")


def _assistant_prefix(p: Provider) -> str:
    if p.assistant_prefix == "prefix":
        return f"last assistant message `prefix: true`, on `{p.beta_path}`"
    if p.assistant_prefix == "partial":
        thinking = " (non-thinking models only)" if p.prefix_without_thinking else ""
        return f"last assistant message `partial: true`{thinking}"
    return "—"


# One column per feature of issue 14 (what `web_search=`, video parts, ... become on each preset).
FEATURES: tuple[tuple[str, Callable[[Provider], str]], ...] = (
    ("`web_search=`", _web_search),
    ("Video input (catalog models)", lambda p: _models_with(p, "video")),
    ("cached tokens read from (→ `cache_read_tokens`)", _cache_read),
    ("`cache_control` markers", _cache_markers),
    ("`embed` (issue 11)", lambda p: _retrieval(p, "embedding")),
    ("`rerank` (issue 11)", lambda p: _retrieval(p, "rerank")),
    ("FIM (`fim`, `complete(suffix=)`)", _fim),
    ("`assistant_prefix=`", _assistant_prefix),
    ("Long documents by file", _documents),
)


def features_markdown() -> str:
    """The feature x provider table: how each preset takes each feature ("—": refused)."""
    presets = [get_provider(name) for name in provider_names()]
    header = ["Provider", *(title for title, _ in FEATURES)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for p in presets:
        lines.append("| " + " | ".join([f"`{p.name}`", *(cell(p) for _, cell in FEATURES)]) + " |")
    return "\n".join(lines) + "\n"


def providers_markdown() -> str:
    """The provider table, one row per preset, then each preset's notes."""
    presets = [get_provider(name) for name in provider_names()]
    lines = ["| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
    lines += ["| " + " | ".join(_row(p)) + " |" for p in presets]
    lines += ["", "Notes:", ""]
    lines += [f"- `{p.name}`: {p.notes}" for p in presets]
    return "\n".join(lines) + "\n"


def _replace(text: str, name: str, table: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if len(block.findall(text)) != 1:
        raise ValueError(f"expected exactly one {start} ... {end} block")
    return block.sub(lambda _: f"{start}\n{table}{end}", text)


def with_providers_table(text: str) -> str:
    """`text` with the generated blocks (providers, features) replaced by the current tables."""
    return _replace(
        _replace(text, "providers", providers_markdown()), "features", features_markdown()
    )


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    updated = with_providers_table(text)
    if "--check" in argv:
        if updated != text:
            print("out of date: docs/providers.md; run python scripts/update_providers_doc.py")
            return 1
        print("checked: docs/providers.md")
        return 0
    DOC.write_text(updated, encoding="utf-8")
    print("updated: docs/providers.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
