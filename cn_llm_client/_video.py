"""Video input for Qwen-VL / Qwen-Omni models, as DashScope's compatible API takes it.

Two part shapes (wire-facts-2 section 7), both only for catalog models with `video`:

- a video file: `{"type": "video_url", "video_url": {"url": "https://….mp4"}}`;
- a list of frames: `{"type": "video", "video": ["https://1.jpg", …], "fps": 2}`.

`video_part` builds either one; in messages, a `video` part whose `video` is one source (not a
list) is shorthand for a file. Local paths and bytes become `data:` URLs under the same 10 MiB
cap as images (DashScope takes base64 video as a data URL; its exact video cap is not in our
wire facts, so the image cap is applied). `min_pixels` / `max_pixels` and other keys of a part
pass through unchanged.

    >>> video_part("https://example.com/clip.mp4")
    {'type': 'video_url', 'video_url': {'url': 'https://example.com/clip.mp4'}}
    >>> video_part(["https://example.com/1.jpg", "https://example.com/2.jpg"], fps=2)
    {'type': 'video', 'video': ['https://example.com/1.jpg', 'https://example.com/2.jpg'], 'fps': 2}
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cn_llm_client.catalog import ModelInfo, list_models
from cn_llm_client.errors import InvalidRequestError

__all__ = ["VIDEO_PARTS", "check_video_model", "video_part", "video_part_of"]

VIDEO_PARTS = frozenset({"video", "video_url"})

Source = str | os.PathLike[str] | bytes


def video_part(
    source: Source | Sequence[Source], *, mime: str | None = None, fps: float | None = None
) -> dict[str, Any]:
    """A video content part: a file (URL, data URL, path, bytes) or a list of frame images.

    `fps`: frames per second the list stands for (or the file's sampling rate).

    >>> video_part(b"\x00\x00\x00\x18ftypmp42")["video_url"]["url"][:22]
    'data:video/mp4;base64,'
    >>> video_part(["https://example.com/1.jpg"], fps=0)
    Traceback (most recent call last):
    cn_llm_client.errors.InvalidRequestError: fps must be a number above 0 and at most 60, got 0.
    """
    if isinstance(source, (list, tuple)):
        if not source:
            raise InvalidRequestError("a video frame list needs at least one image")
        from cn_llm_client._payload import _image_url

        part: dict[str, Any] = {"type": "video", "video": [_image_url(f, None) for f in source]}
    else:
        part = {"type": "video_url", "video_url": {"url": _video_url(source, mime)}}
    if fps is not None:
        part["fps"] = _fps(fps)
    return part


def video_part_of(where: str, part: Mapping[str, Any]) -> Mapping[str, Any]:
    """A message's `video` / `video_url` part, checked and with local sources as data URLs;
    the same object when nothing changes."""
    extra = {k: v for k, v in part.items() if k not in ("type", "video", "video_url", "fps")}
    if part["type"] == "video":
        source = part.get("video")
        if source is None or isinstance(source, Mapping):
            raise InvalidRequestError(
                f'{where} is a video part without "video" (a list of frame images, or one '
                "video URL / path)"
            )
        new = video_part(source, mime=part.get("mime"), fps=part.get("fps"))
        extra.pop("mime", None)
    else:
        spec = part.get("video_url")
        url = spec.get("url") if isinstance(spec, Mapping) else spec
        if not isinstance(url, (str, os.PathLike, bytes)):
            raise InvalidRequestError(f'{where} needs "video_url": {{"url": "https://....mp4"}}')
        new = video_part(url, fps=part.get("fps"))
        if isinstance(spec, Mapping):  # min_pixels / max_pixels kept
            new["video_url"] = {**spec, "url": new["video_url"]["url"]}
    result = {**new, **extra}
    return part if result == part else result


def check_video_model(info: ModelInfo | None) -> None:
    """Refuse video for a catalog model without it (unknown models pass: the server decides)."""
    if info is None or info.video:
        return
    video = [m for m in list_models() if m.video]
    models = list(dict.fromkeys(m.id for m in video))[:4]
    providers = ", ".join(dict.fromkeys(m.provider for m in video))
    raise InvalidRequestError(
        f"{info.id} does not take video; use a video model such as {', '.join(models)} "
        f"(providers: {providers})"
    )


def _fps(value: Any) -> float:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not 0 < value <= 60:
        raise InvalidRequestError(f"fps must be a number above 0 and at most 60, got {value!r}")
    return value  # type: ignore[no-any-return]


def _video_url(source: Any, mime: str | None) -> str:
    from cn_llm_client._payload import _base64_len, _check_size, _data_url

    if isinstance(source, str) and source.startswith(("http://", "https://")):
        return source
    if isinstance(source, str) and source.startswith("data:"):
        if not source.startswith("data:video/"):
            raise InvalidRequestError("a video data URL must start with data:video/...")
        _check_size(len(source), "the video data URL")
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        mime = mime or ("video/mp4" if data[4:8] == b"ftyp" else None)
        if mime is None:
            raise InvalidRequestError(
                "cannot tell the video type of the bytes; pass mime='video/mp4'"
            )
        return _data_url(data, mime)
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidRequestError(
            f"a video must be a URL, a data URL, a local path or bytes, got {type(source).__name__}"
        )
    path = Path(source).expanduser()
    if not path.is_file():
        raise InvalidRequestError(
            f"video file not found: {str(path)[:200]!r}; pass an existing path or an http(s) URL"
        )
    _check_size(_base64_len(path.stat().st_size), f"video file {str(path)!r}")
    guessed = mime or mimetypes.guess_type(path.name)[0]
    if not guessed or not guessed.startswith("video/"):
        raise InvalidRequestError(
            f"cannot tell the video type of {str(path)!r}; pass mime='video/mp4'"
        )
    return _data_url(path.read_bytes(), guessed)
