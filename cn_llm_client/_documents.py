"""Long documents by file: qwen-long (DashScope) and Kimi read uploaded files.

A chat call takes documents two ways, both only on models with catalog `documents`:

- `documents=[...]`: paths, bytes, or `(filename, bytes)` pairs;
- `file` content parts in the messages, as LangChain's converter writes its file blocks:
  `{"type": "file", "file": {"file_data": "data:<mime>;base64,...", "filename": "a.pdf"}}`, or
  `{"type": "file", "file": {"file_id": "file-fe-..."}}` for a file uploaded already. The parts
  are taken out of the message (the rest of it stays).

Each document is uploaded once per client (`purpose="file-extract"`), cached by the SHA-256 of
its bytes, and referenced as the provider's preset `documents` says:

- `fileid` (DashScope): one system message `"fileid://file-fe-a,fileid://file-fe-b"` (at most 100
  ids) after the caller's leading system messages (DashScope wants a normal system prompt first);
- `file_content` (Kimi): the file's extracted text (`GET /files/{id}/content`, fetched once per
  file and cached too) as one system message per document, in the same place.

Concurrent first calls with the same new document may each upload it (the cache is filled
after the upload); later calls reuse the id.

    >>> plan = plan_documents("qwen-long", "dashscope", [{"role": "user", "content": "Sum up"}],
    ...                       [("contract.txt", b"...")])
    >>> [doc.name for doc in plan.uploads], plan.style
    (['contract.txt'], 'fileid')
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cn_llm_client.catalog import get_model, list_models
from cn_llm_client.errors import InvalidRequestError
from cn_llm_client.providers import DocumentStyle, get_provider, providers_with

__all__ = ["DocumentCache", "DocumentPlan", "plan_documents"]

MAX_FILE_IDS = 100  # DashScope: at most 100 fileid:// references in one system message


@dataclass(frozen=True)
class Document:
    """One document to upload: its name, bytes and their SHA-256 (the cache key)."""

    name: str
    content: bytes
    digest: str


@dataclass
class DocumentCache:
    """Per client: SHA-256 -> uploaded file id, and file id -> extracted text (Kimi)."""

    ids: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def remember(self, digest: str, file_id: str) -> None:
        with self.lock:
            self.ids.setdefault(digest, file_id)

    def remember_text(self, file_id: str, text: str) -> None:
        with self.lock:
            self.texts.setdefault(file_id, text)


@dataclass
class DocumentPlan:
    """What a call needs before it can be sent: uploads, then (Kimi) the files' texts."""

    style: DocumentStyle
    messages: list[dict[str, Any]]  # the caller's, without the file parts
    uploads: list[Document]
    file_ids: list[str]  # referenced directly (file parts with a file_id)

    def pending(self, cache: DocumentCache) -> list[Document]:
        """The documents not uploaded by this client yet."""
        return [doc for doc in self.uploads if doc.digest not in cache.ids]

    def all_ids(self, cache: DocumentCache) -> list[str]:
        ids = [cache.ids[doc.digest] for doc in self.uploads] + self.file_ids
        return list(dict.fromkeys(ids))

    def texts_missing(self, cache: DocumentCache) -> list[str]:
        """Kimi: the file ids whose extracted text is not cached yet."""
        if self.style != "file_content":
            return []
        return [i for i in self.all_ids(cache) if i not in cache.texts]

    def final_messages(self, cache: DocumentCache) -> list[dict[str, Any]]:
        """The messages with the documents referenced after the leading system messages."""
        ids = self.all_ids(cache)
        if self.style == "fileid":
            if len(ids) > MAX_FILE_IDS:
                raise InvalidRequestError(
                    f"{len(ids)} documents in one call; DashScope takes at most {MAX_FILE_IDS}"
                )
            added = [{"role": "system", "content": ",".join(f"fileid://{i}" for i in ids)}]
        else:
            added = [{"role": "system", "content": cache.texts[i]} for i in ids]
        lead = 0
        while lead < len(self.messages) and self.messages[lead].get("role") == "system":
            lead += 1
        return [*self.messages[:lead], *added, *self.messages[lead:]]


def plan_documents(
    model: str, provider: str | None, messages: Sequence[Any], documents: Any
) -> DocumentPlan | None:
    """The documents of one call (None when it has none); InvalidRequestError before any I/O
    for a provider or model that reads no files, or a document that cannot be read."""
    preset = get_provider(provider)
    if documents is None and not _has_file_parts(messages):
        return None
    if preset.documents is None:
        raise InvalidRequestError(
            f"{preset.name} reads no uploaded documents; use {_where_documents_are_read()}"
        )
    info = get_model(model, preset.name)
    if info is not None and not info.documents:
        readers = [m.id for m in list_models(preset.name) if m.documents]
        raise InvalidRequestError(
            f"{model} does not read uploaded documents; on {preset.name} use "
            f"{', '.join(readers) or 'another provider'} for documents"
        )
    if documents is not None and (
        isinstance(documents, (str, bytes, os.PathLike)) or not isinstance(documents, Sequence)
    ):
        documents = [documents]
    uploads = [_document(d) for d in documents or ()]
    file_ids: list[str] = []
    cleaned = [_without_file_parts(i, m, uploads, file_ids) for i, m in enumerate(messages)]
    if not uploads and not file_ids:
        return None  # documents=[]: nothing to read
    return DocumentPlan(preset.documents, cleaned, uploads, file_ids)


def _where_documents_are_read() -> str:
    names = providers_with("documents")
    models = [m.id for m in list_models() if m.documents and m.provider in names]
    return f"{', '.join(models)} (providers: {', '.join(names)})"


def _has_file_parts(messages: Sequence[Any]) -> bool:
    return any(
        isinstance(part, Mapping) and part.get("type") == "file"
        for message in messages
        if isinstance(message, Mapping) and isinstance(message.get("content"), list)
        for part in message["content"]
    )


def _document(source: Any) -> Document:
    if isinstance(source, tuple) and len(source) == 2:
        name, content = source
        if not isinstance(name, str) or not isinstance(content, (bytes, bytearray)):
            raise InvalidRequestError("a document pair is (filename, bytes)")
        return _made(name, bytes(content))
    if isinstance(source, (bytes, bytearray)):
        return _made("document.txt", bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise InvalidRequestError(
                f"document not found: {str(path)[:200]!r}; pass an existing path, bytes or "
                "(filename, bytes)"
            )
        return _made(path.name, path.read_bytes())
    raise InvalidRequestError(
        f"a document is a path, bytes or (filename, bytes), got {type(source).__name__}"
    )


def _made(name: str, content: bytes) -> Document:
    if not content:
        raise InvalidRequestError(f"document {name!r} is empty")
    return Document(name, content, hashlib.sha256(content).hexdigest())


def _without_file_parts(
    index: int, message: Any, uploads: list[Document], file_ids: list[str]
) -> Any:
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, list) or not _has_file_parts([message]):
        return message
    kept = []
    for part in content:
        if not (isinstance(part, Mapping) and part.get("type") == "file"):
            kept.append(part)
            continue
        spec = part.get("file")
        spec = spec if isinstance(spec, Mapping) else {}
        if isinstance(spec.get("file_id"), str) and spec["file_id"]:
            file_ids.append(spec["file_id"])
        elif isinstance(spec.get("file_data"), str):
            uploads.append(_from_data_url(index, spec["file_data"], spec.get("filename")))
        else:
            raise InvalidRequestError(
                f'messages[{index}] has a file part without "file_data" (a data: URL) or "file_id"'
            )
    if not kept:
        kept = [{"type": "text", "text": ""}]
    return {**message, "content": kept}


def _from_data_url(index: int, url: str, filename: Any) -> Document:
    header, _, data = url.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise InvalidRequestError(f"messages[{index}]: file_data must be a base64 data: URL")
    try:
        content = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(f"messages[{index}]: file_data is not valid base64") from None
    name = filename if isinstance(filename, str) and filename else "document"
    if name == "LC_AUTOGENERATED":  # langchain-core's placeholder when the block had no name
        name = "document"
    return _made(name, content)
