"""Small HTTP helpers shared by the self-hosted clients: classify transport failures, bound bodies.

Transport failures become `Unavailable` (refused, reset, dropped mid-body, timed out); an unusable
URL becomes `Misconfigured`. `asyncio.CancelledError` is never caught.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from providers.errors import (
    AuthFailed,
    BadOutput,
    Misconfigured,
    PaymentRequired,
    ProviderError,
    RateLimited,
    Unavailable,
)

__all__ = ["transport_errors", "error_for_status", "read_bounded", "json_error_text", "host_of", "base_url"]


def base_url(url: str) -> str:
    """The configured URL without a trailing slash; a bare host:port gets http://."""
    url = url.strip().rstrip("/")
    if url and "://" not in url:
        url = "http://" + url
    return url


def host_of(url: str) -> str:
    """The host name of a URL, lower-cased, loopback spellings folded ('' when unparsable)."""
    try:
        host = (urlsplit(base_url(url)).hostname or "").lower()
    except ValueError:
        return ""
    return "localhost" if host in ("127.0.0.1", "::1", "localhost") else host


@contextlib.contextmanager
def transport_errors(provider: str, what: str) -> Iterator[None]:
    """Turn aiohttp transport failures inside the block into the error tree."""
    try:
        yield
    except aiohttp.InvalidURL as exc:
        raise Misconfigured(f"invalid URL for {what}: {exc}", provider=provider,
                            hint=f"check the {provider} url setting") from None
    except aiohttp.ClientConnectorError as exc:
        reason = getattr(exc.os_error, "strerror", None) or str(exc.os_error or exc)
        raise Unavailable(f"cannot connect to {what}: {reason}", provider=provider) from None
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise Unavailable(f"{what} dropped the connection: {exc or type(exc).__name__}", provider=provider) from None
    except TimeoutError:
        raise Unavailable(f"{what} timed out", provider=provider) from None
    except aiohttp.ClientError as exc:
        raise Unavailable(f"{what} failed: {type(exc).__name__}: {exc}", provider=provider) from None


def json_error_text(body: bytes) -> str:
    """The message of a `{"error": "..."}` / `{"error": {"message": ...}}` body, else a short excerpt."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return _excerpt(text)
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("type") or json.dumps(err)[:200]
        if err:
            return str(err)
    return _excerpt(text)


def _excerpt(text: str) -> str:
    """A one-line excerpt; HTML error pages reduced to their <title> or first text."""
    lowered = text.lower()
    start = lowered.find("<title>")
    if start >= 0:
        end = lowered.find("</title>", start)
        if end > start:
            return text[start + 7:end].strip()
    return " ".join(text.split())[:200]


def error_for_status(status: int, message: str, provider: str, headers: Any = None) -> ProviderError:
    """The generic mapping of an HTTP error status; clients special-case before calling this."""
    if status == 402:
        return PaymentRequired(message, provider=provider, status=status)
    if status in (401, 403):
        return AuthFailed(message, provider=provider, status=status)
    if status == 429:
        retry = None
        if headers is not None:
            with contextlib.suppress(TypeError, ValueError):
                retry = float(headers.get("Retry-After", ""))
        return RateLimited(message, provider=provider, status=status, retry_after_s=retry)
    if status >= 500:
        return Unavailable(f"HTTP {status}: {message}", provider=provider, status=status)
    if status == 404:
        return Misconfigured(f"HTTP 404: {message}", provider=provider, status=status,
                             hint=f"check the {provider} url: the path was not found")
    return BadOutput(f"HTTP {status}: {message}", provider=provider, status=status)


async def read_bounded(resp: aiohttp.ClientResponse, max_bytes: int, provider: str, what: str) -> bytes:
    """Read a response body, refusing one larger than `max_bytes`."""
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise BadOutput(f"{what} is {resp.content_length} bytes; the limit is {max_bytes}", provider=provider)
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > max_bytes:
            raise BadOutput(f"{what} is larger than {max_bytes} bytes", provider=provider)
        chunks.append(chunk)
    return b"".join(chunks)
