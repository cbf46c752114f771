"""The Files and Batches endpoints of the client: ``FilesMixin`` / ``AsyncFilesMixin``.

Both clients inherit them. Every method checks the provider preset first (``files`` and ``batch``
in providers.json), so a provider without the endpoint is refused before any I/O, with the names
of the providers that have it; an upload is also checked against the provider's documented size
limit for its purpose before a byte is read. The sync and async twins share ``_upload`` and the
``_*_args`` builders; only the ``transport.request`` call differs.

    >>> from cn_llm_client import CNLLMClient
    >>> from cn_llm_client.testing import FakeGateway
    >>> with FakeGateway(mode="dashscope") as gw:
    ...     client = CNLLMClient(api_key=gw.api_key, base_url=gw.base_url, provider="dashscope")
    ...     uploaded = client.upload_file(b"A long contract...", filename="contract.txt")
    ...     listed = [f["id"] for f in client.list_files()]
    ...     deleted = client.delete_file(uploaded["id"])
    >>> uploaded["id"].startswith("file-fe-"), listed == [uploaded["id"]], deleted["deleted"]
    (True, True, True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .errors import InvalidRequestError
from .providers import Provider, providers_with

if TYPE_CHECKING:
    from ._config import ConnectionSettings
    from ._transport import AsyncTransport, Transport

__all__ = ["AsyncFilesMixin", "FileSource", "FilesMixin"]

FileSource = Union[str, "os.PathLike[str]", bytes, bytearray]
BATCH_ENDPOINTS = ("/v1/chat/completions", "/v1/embeddings")
_DEFAULT_NAMES = {"batch": "batch.jsonl"}


def check_files(provider: Provider, purpose: str | None = None) -> None:
    """Raise InvalidRequestError unless `provider` has a Files API (for `purpose`, if given)."""
    if not provider.files:
        raise InvalidRequestError(
            f"Provider {provider.name!r} has no Files API; providers with one: "
            f"{', '.join(providers_with('files'))} (CNLLMClient(provider=...))."
        )
    if purpose is not None and purpose not in provider.files:
        raise InvalidRequestError(
            f"Provider {provider.name!r} takes files with purpose "
            f"{' or '.join(map(repr, provider.files))}, not {purpose!r}."
        )


def check_batch(provider: Provider) -> None:
    """Raise InvalidRequestError unless `provider` has a Batch API, naming those that have one."""
    if not provider.batch:
        raise InvalidRequestError(
            f"Provider {provider.name!r} has no Batch API; providers with one: "
            f"{', '.join(providers_with('batch'))} (CNLLMClient(provider=...))."
        )


def _upload(
    provider: Provider, file: FileSource, purpose: str, filename: str | None
) -> tuple[str, bytes]:
    """The file's name and bytes, after the provider and size checks (read only once checked)."""
    check_files(provider, purpose)
    limit = provider.files[purpose]
    if isinstance(file, (bytes, bytearray)):
        size, name = len(file), filename or _DEFAULT_NAMES.get(purpose, "document.txt")
    elif isinstance(file, (str, os.PathLike)):
        path = Path(file)
        if not path.is_file():
            raise InvalidRequestError(f"No file at {str(path)!r} to upload.")
        size, name = path.stat().st_size, filename or path.name
    else:
        raise InvalidRequestError(f"upload_file takes a path or bytes, not {type(file).__name__}.")
    if size == 0:
        raise InvalidRequestError(f"{name!r} is empty: there is nothing to upload.")
    if limit is not None and size > limit:
        raise InvalidRequestError(
            f"{name!r} is {size / 2**20:.1f} MB; {provider.name} takes at most "
            f"{limit / 2**20:.0f} MB for purpose {purpose!r}. Split it into smaller files."
        )
    content = bytes(file) if isinstance(file, (bytes, bytearray)) else Path(file).read_bytes()
    return name, content


def _file_path(file_id: str) -> str:
    if not isinstance(file_id, str) or not file_id or "/" in file_id:
        raise InvalidRequestError(f"Not a file id: {file_id!r} (upload_file returns one).")
    return f"/files/{file_id}"


def _batch_path(batch_id: str) -> str:
    if not isinstance(batch_id, str) or not batch_id or "/" in batch_id:
        raise InvalidRequestError(f"Not a batch id: {batch_id!r} (create_batch returns one).")
    return f"/batches/{batch_id}"


def _create_batch_body(
    input_file_id: str, endpoint: str, completion_window: str, metadata: dict[str, str] | None
) -> dict[str, Any]:
    if endpoint not in BATCH_ENDPOINTS:
        raise InvalidRequestError(
            f"A batch runs on {' or '.join(BATCH_ENDPOINTS)}, not {endpoint!r}."
        )
    _file_path(input_file_id)
    body: dict[str, Any] = {
        "input_file_id": input_file_id,
        "endpoint": endpoint,
        "completion_window": completion_window,
    }
    if metadata:
        body["metadata"] = metadata
    return body


def batch_on_file(batches: list[dict], input_file_id: str | None) -> dict | None:
    """The newest job made on `input_file_id` in `batches` (``list_batches``), else None.

    The Batch API takes no idempotency key: a create whose answer was lost (a 5xx after the job
    was made, a dead script) is recovered by finding its job on the input file instead.
    """
    return next((job for job in batches if job.get("input_file_id") == input_file_id), None)


def _list_params(**params: Any) -> dict[str, Any] | None:
    return {k: v for k, v in params.items() if v is not None} or None


class _FilesBase:
    _settings: ConnectionSettings

    @property
    def _preset(self) -> Provider:
        return self._settings.provider

    def _files_for(self, purpose: str | None = None) -> None:
        check_files(self._preset, purpose)

    def _batches(self) -> None:
        check_batch(self._preset)


class FilesMixin(_FilesBase):
    """Files (``upload_file``, ``list_files``, ``file_content``, ``delete_file``) and Batches
    (``create_batch``, ``retrieve_batch``, ``cancel_batch``, ``list_batches``) on CNLLMClient.

    Each returns the server's object as a dict (OpenAI shapes); ``file_content`` returns bytes
    (Kimi: the extracted text as JSON; DashScope batch output: JSONL). The whole batch workflow
    (JSONL, upload, poll, results, resumption) is ``cn_llm_client.batch.run_batch``.
    """

    _transport: Transport

    def upload_file(
        self, file: FileSource, purpose: str = "file-extract", *, filename: str | None = None
    ) -> dict:
        """Upload a path or bytes; returns the file object (``{"id", "bytes", "purpose", ...}``)."""
        name, content = _upload(self._preset, file, purpose, filename)
        files = {"file": (name, content)}
        return self._transport.request(
            "POST", "/files", files=files, data={"purpose": purpose}
        ).data

    def list_files(self, purpose: str | None = None) -> list[dict]:
        """The account's files (those with ``purpose`` only, when given)."""
        self._files_for()
        data = self._transport.request("GET", "/files", params=_list_params(purpose=purpose)).data
        return list(data.get("data") or [])

    def file_content(self, file_id: str) -> bytes:
        """The stored bytes of a file (Kimi: its extracted text; batch output/error files: JSONL)."""
        self._files_for()
        return self._transport.request("GET", f"{_file_path(file_id)}/content", raw=True).content

    def delete_file(self, file_id: str) -> dict:
        """Delete a file; returns ``{"id", "object": "file", "deleted": true}``."""
        self._files_for()
        return self._transport.request("DELETE", _file_path(file_id)).data

    def create_batch(
        self,
        input_file_id: str,
        endpoint: str = "/v1/chat/completions",
        *,
        completion_window: str = "24h",
        metadata: dict[str, str] | None = None,
    ) -> dict:
        """Start a batch job on an uploaded ``purpose="batch"`` JSONL file; returns the batch.

        Before resending a failed create, the job already made on the file is looked up and
        returned (``batch_on_file``), so a lost answer does not start a second job.
        """
        self._batches()
        body = _create_batch_body(input_file_id, endpoint, completion_window, metadata)

        def made_anyway() -> dict | None:
            return batch_on_file(self.list_batches(limit=100), input_file_id)

        return self._transport.request("POST", "/batches", json=body, recover=made_anyway).data

    def retrieve_batch(self, batch_id: str) -> dict:
        """The batch's current state (``status``, ``request_counts``, output/error file ids)."""
        self._batches()
        return self._transport.request("GET", _batch_path(batch_id)).data

    def cancel_batch(self, batch_id: str) -> dict:
        """Ask the server to cancel a batch (``cancelling``, then ``cancelled``)."""
        self._batches()
        return self._transport.request("POST", f"{_batch_path(batch_id)}/cancel").data

    def list_batches(self, *, limit: int | None = None, after: str | None = None) -> list[dict]:
        """The account's batches, newest first."""
        self._batches()
        params = _list_params(limit=limit, after=after)
        return list(
            self._transport.request("GET", "/batches", params=params).data.get("data") or []
        )


class AsyncFilesMixin(_FilesBase):
    """``FilesMixin``'s methods on AsyncCNLLMClient, awaitable."""

    _transport: AsyncTransport

    async def upload_file(
        self, file: FileSource, purpose: str = "file-extract", *, filename: str | None = None
    ) -> dict:
        """Upload a path or bytes, as ``CNLLMClient.upload_file``."""
        name, content = _upload(self._preset, file, purpose, filename)
        files = {"file": (name, content)}
        response = await self._transport.request(
            "POST", "/files", files=files, data={"purpose": purpose}
        )
        return response.data

    async def list_files(self, purpose: str | None = None) -> list[dict]:
        """The account's files, as ``CNLLMClient.list_files``."""
        self._files_for()
        params = _list_params(purpose=purpose)
        response = await self._transport.request("GET", "/files", params=params)
        return list(response.data.get("data") or [])

    async def file_content(self, file_id: str) -> bytes:
        """The stored bytes of a file, as ``CNLLMClient.file_content``."""
        self._files_for()
        path = f"{_file_path(file_id)}/content"
        return (await self._transport.request("GET", path, raw=True)).content

    async def delete_file(self, file_id: str) -> dict:
        """Delete a file, as ``CNLLMClient.delete_file``."""
        self._files_for()
        return (await self._transport.request("DELETE", _file_path(file_id))).data

    async def create_batch(
        self,
        input_file_id: str,
        endpoint: str = "/v1/chat/completions",
        *,
        completion_window: str = "24h",
        metadata: dict[str, str] | None = None,
    ) -> dict:
        """Start a batch job, as ``CNLLMClient.create_batch`` (no second job after a lost answer)."""
        self._batches()
        body = _create_batch_body(input_file_id, endpoint, completion_window, metadata)

        async def made_anyway() -> dict | None:
            return batch_on_file(await self.list_batches(limit=100), input_file_id)

        response = await self._transport.request("POST", "/batches", json=body, recover=made_anyway)
        return response.data

    async def retrieve_batch(self, batch_id: str) -> dict:
        """The batch's current state, as ``CNLLMClient.retrieve_batch``."""
        self._batches()
        return (await self._transport.request("GET", _batch_path(batch_id))).data

    async def cancel_batch(self, batch_id: str) -> dict:
        """Cancel a batch, as ``CNLLMClient.cancel_batch``."""
        self._batches()
        return (await self._transport.request("POST", f"{_batch_path(batch_id)}/cancel")).data

    async def list_batches(
        self, *, limit: int | None = None, after: str | None = None
    ) -> list[dict]:
        """The account's batches, as ``CNLLMClient.list_batches``."""
        self._batches()
        params = _list_params(limit=limit, after=after)
        response = await self._transport.request("GET", "/batches", params=params)
        return list(response.data.get("data") or [])
