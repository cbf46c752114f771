"""The API key never leaks: one test per place it could, each searching all output for a marker key.

Also: a key sent over plain http to a remote host warns once, and nothing the package does writes
outside the temp and cache directories.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import subprocess
import sys
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _surfaces import SURFACES, Surface, count_requests

from cn_llm_client import AsyncCNLLMClient, CNLLMClient
from cn_llm_client._config import resolve_settings
from cn_llm_client._transport import AsyncTransport, Transport
from cn_llm_client.errors import AuthenticationError, CNLLMError
from cn_llm_client.testing import FakeGateway

MARKER = "sk-LEAKCANARY-" + uuid.uuid4().hex  # the key the gateway accepts
WRONG = "sk-WRONGCANARY-" + uuid.uuid4().hex  # a key it refuses (401)


@pytest.fixture(scope="module")
def secure_gw() -> Iterator[FakeGateway]:
    with FakeGateway(api_key=MARKER) as gateway:
        yield gateway


@pytest.fixture
def gw(secure_gw: FakeGateway, request: pytest.FixtureRequest) -> Iterator[FakeGateway]:
    secure_gw.reset()
    yield secure_gw
    count_requests(request, secure_gw)


def assert_clean(*texts: Any) -> None:
    for text in texts:
        blob = text if isinstance(text, (str, bytes)) else repr(text)
        for key in (MARKER, WRONG):
            needle = key.encode() if isinstance(blob, bytes) else key
            assert needle not in blob, f"the API key leaked into: {blob[:300]!r}"


def _chat_cnllm(gw: FakeGateway, key: str = MARKER) -> Any:
    from langchain_cn_llm import ChatCNLLM

    return ChatCNLLM(model="qwen3-max", api_key=key, base_url=gw.base_url)


def _cnllm(gw: FakeGateway, key: str = MARKER) -> Any:
    from llama_index_cn_llm import CNLLM

    return CNLLM(model="qwen3-max", api_key=key, base_url=gw.base_url)


def test_repr_and_str_of_every_object(gw: FakeGateway) -> None:
    """repr() and str() of clients, transports, settings, streams and both adapters."""
    objects: list[Any] = [
        CNLLMClient(api_key=MARKER, base_url=gw.base_url),
        Transport(gw.base_url, MARKER),
        resolve_settings(MARKER, gw.base_url),
        _chat_cnllm(gw),
        _cnllm(gw),
    ]
    client = objects[0]
    stream = client.stream("qwen3-max", [{"role": "user", "content": "hi"}])
    objects += [stream, client._transport]

    async def async_objects() -> list[Any]:
        async with AsyncCNLLMClient(api_key=MARKER, base_url=gw.base_url) as aclient:
            return [aclient, AsyncTransport(gw.base_url, MARKER), aclient._transport]

    objects += asyncio.run(async_objects())
    for obj in objects:
        assert_clean(repr(obj), str(obj), format(obj))
    # pydantic models also show themselves field by field
    assert_clean(
        objects[3].model_dump(), objects[4].model_dump(), dict(objects[3]), dict(objects[4])
    )
    client.close()


@pytest.mark.parametrize("surface", SURFACES, ids=str)
def test_exception_messages(gw: FakeGateway, surface: Surface) -> None:
    """A 401 for a wrong key, through every surface: message, repr, args, body, traceback."""
    import traceback

    with pytest.raises(AuthenticationError) as info:
        surface.call(gw.base_url, "hi", api_key=WRONG)
    error = info.value
    assert_clean(
        str(error),
        repr(error),
        error.args,
        error.body,
        error.partial,
        "".join(traceback.format_exception(error)),
    )
    assert len(gw.requests) == 1


def test_debug_logs(gw: FakeGateway, caplog: pytest.LogCaptureFixture) -> None:
    """Every log record at DEBUG (the package's logger and the root: httpx, httpcore, aiohttp)."""
    caplog.set_level(logging.DEBUG)  # root
    caplog.set_level(logging.DEBUG, logger="cn_llm_client")
    for surface in SURFACES:
        surface.call(gw.base_url, "hi", api_key=MARKER)
        with pytest.raises(CNLLMError):
            surface.call(gw.base_url, "hi", api_key=WRONG, max_retries=0)
    assert any(r.name == "cn_llm_client" for r in caplog.records)
    assert_clean(caplog.text, *(r.getMessage() for r in caplog.records))


def test_langchain_serialization_and_tracing_params(gw: FakeGateway) -> None:
    """ChatCNLLM: dumpd / dumps, LangSmith params, invocation params, identifying params."""
    from langchain_core.load import dumpd, dumps

    llm = _chat_cnllm(gw)
    llm.invoke("hi")  # a used model holds clients and a meter
    dumped = dumps(llm)
    assert "AISA_API_KEY" in dumped  # the key is a reference to its variable
    assert_clean(
        dumped,
        dumpd(llm),
        llm._get_ls_params(),
        llm._get_invocation_params(),
        llm._identifying_params,
        llm.model_dump(),
    )


def test_llama_index_serialization(gw: FakeGateway) -> None:
    """CNLLM: to_dict / to_json / dict / json / metadata."""
    llm = _cnllm(gw)
    llm.chat([_li_message("hi")])
    assert_clean(llm.to_dict(), llm.to_json(), llm.model_dump_json(), llm.metadata)


def _li_message(text: str) -> Any:
    from llama_index.core.llms import ChatMessage

    return ChatMessage(role="user", content=text)


def test_pickles(gw: FakeGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pickles of both clients, both adapters and an error carry no key."""
    monkeypatch.setenv("AISA_API_KEY", "sk-from-env")  # unpickling reads the key from here
    client = CNLLMClient(api_key=MARKER, base_url=gw.base_url)
    with pytest.raises(AuthenticationError) as info:
        CNLLMClient(api_key=WRONG, base_url=gw.base_url).chat(
            "qwen3-max", [{"role": "user", "content": "hi"}]
        )
    objects = [
        client,
        AsyncCNLLMClient(api_key=MARKER, base_url=gw.base_url),
        _chat_cnllm(gw),
        _cnllm(gw),
        info.value,
    ]
    for obj in objects:
        assert_clean(pickle.dumps(obj))


def test_vcr_cassette_with_the_documented_filter(gw: FakeGateway, tmp_path: Path) -> None:
    """A cassette recorded with the README's recipe (filter_headers=["authorization"])."""
    import vcr  # in the test extra

    recorder = vcr.VCR(
        cassette_library_dir=str(tmp_path), filter_headers=["authorization"], record_mode="once"
    )
    with (
        recorder.use_cassette("chat.yaml"),
        CNLLMClient(api_key=MARKER, base_url=gw.base_url) as client,
    ):
        client.chat("qwen3-max", [{"role": "user", "content": "你好"}])
        list(client.chat_stream("qwen3-max", [{"role": "user", "content": "hi"}]))
    cassette = (tmp_path / "chat.yaml").read_text()
    assert cassette.count("- request:") == 2  # it really recorded both requests
    assert_clean(cassette)
    assert len(gw.requests) == 2


def test_plain_http_to_a_remote_host_warns_once() -> None:
    """A key over http:// to a non-loopback host: one UserWarning (construct only, no request);
    https and loopback stay silent."""
    host = f"gw-{uuid.uuid4().hex[:8]}.example.com"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            CNLLMClient(api_key=MARKER, base_url=f"http://{host}/v1").close()
        CNLLMClient(api_key=MARKER, base_url=f"https://{host}/v1").close()
        CNLLMClient(api_key=MARKER, base_url="http://127.0.0.1:9/v1").close()
    plain = [w for w in caught if host in str(w.message)]
    assert len(plain) == 1 and issubclass(plain[0].category, UserWarning)
    assert_clean(str(plain[0].message))


WRITE_AUDIT = textwrap.dedent(
    """
    import os, sys, asyncio
    writes = []
    def hook(event, args):
        if event == "open" and args[0] is not None and not isinstance(args[0], int):
            mode, flags = args[1] or "", args[2] or 0
            if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                writes.append(str(args[0]))
        elif event in ("os.mkdir", "os.rename", "os.remove", "os.symlink", "shutil.copyfile"):
            writes.append(str(args[0]))
    sys.addaudithook(hook)

    from cn_llm_client.cli import main
    from cn_llm_client import CNLLMClient, AsyncCNLLMClient
    base, key = sys.argv[1], sys.argv[2]
    common = ["--base-url", base, "--api-key", key]
    assert main(["chat", *common, "--model", "qwen3-max", "--message", "hi"]) == 0
    assert main(["chat", *common, "--model", "deepseek-r1", "--message", "hi", "--stream"]) == 0
    assert main(["models"]) == 0
    with CNLLMClient(api_key=key, base_url=base) as c:
        c.chat("qwen3-max", [{"role": "user", "content": "hi"}])
        list(c.chat_stream("qwen3-max", [{"role": "user", "content": "hi"}]))
    async def run():
        async with AsyncCNLLMClient(api_key=key, base_url=base) as c:
            await c.chat("qwen3-max", [{"role": "user", "content": "hi"}])
    asyncio.run(run())
    from langchain_cn_llm import ChatCNLLM
    from llama_index_cn_llm import CNLLM
    ChatCNLLM(model="qwen3-max", api_key=key, base_url=base).invoke("hi")
    CNLLM(model="qwen3-max", api_key=key, base_url=base).complete("hi")
    import json, tempfile
    tempfile.NamedTemporaryFile(prefix="audit-probe-", delete=False).close()  # the hook sees it
    print("WRITES", json.dumps(writes), file=sys.stderr)
    """
)


def test_nothing_written_outside_temp_and_cache(gw: FakeGateway, tmp_path: Path) -> None:
    """CLI chat + stream + models, both clients and both adapters in a fresh process with HOME
    and cwd in a temp dir: every file opened for writing is under the temp or cache dirs."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(tmp_path / "tmp"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    (tmp_path / "tmp").mkdir()
    env.pop("AISA_API_KEY", None)
    done = subprocess.run(
        [sys.executable, "-c", WRITE_AUDIT, gw.base_url, MARKER],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(x for x in done.stderr.splitlines() if x.startswith("WRITES "))
    writes = json.loads(line[len("WRITES ") :])
    allowed = (str(tmp_path), "/dev/", "/proc/")
    assert any("audit-probe-" in w for w in writes), "the audit hook saw no writes at all"
    outside = [w for w in writes if not w.startswith(allowed)]
    assert outside == [], f"files written outside temp/cache: {outside}"
    assert list(work.iterdir()) == [], "the working directory got files"
    assert_clean(done.stdout, done.stderr)
    assert len(gw.requests) >= 7
