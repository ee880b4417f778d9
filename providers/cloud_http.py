"""HTTP plumbing shared by the cloud providers (OpenAI, Groq, Hugging Face, Pollinations,
StreamElements): one request helper that bounds what a backend may send back and turns every
failure shape into the `providers.errors` tree, with secrets scrubbed from the message.

Classification, by HTTP status (the body's error code can refine it):

    connection refused/reset, DNS, timeout, 408/409/5xx   -> Unavailable
    429 (and Groq's 498 capacity_exceeded)                  -> RateLimited(retry_after_s)
        ... unless the code says the account is out of money (OpenAI `insufficient_quota`)
                                                            -> PaymentRequired
    401 / 403                                               -> AuthFailed
    402, "credits exceeded"                                 -> PaymentRequired
    404, model_not_found                                    -> Misconfigured (hint: the model name)
    content-policy refusal (any status)                     -> BadOutput (this item only)
    any other 4xx                                           -> BadOutput

`retry_after_s` comes from `retry-after-ms`, then `Retry-After` (seconds or an HTTP date), then the
"try again in 5.289s" sentence OpenAI and Groq put in the message.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from providers.errors import (
    AuthFailed,
    BadOutput,
    Misconfigured,
    PaymentRequired,
    ProviderError,
    RateLimited,
    Unavailable,
    scrub,
)

if TYPE_CHECKING:
    from multidict import CIMultiDictProxy

__all__ = [
    "CloudHTTP",
    "HTTPReply",
    "classify_status",
    "error_message",
    "parse_retry_after",
    "DEFAULT_MAX_JSON_BYTES",
    "DEFAULT_MAX_MEDIA_BYTES",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_JSON_BYTES = 8 * 1024 * 1024  # a chat completion or an image as base64
DEFAULT_MAX_MEDIA_BYTES = 200 * 1024 * 1024  # a video clip
_SNIPPET_CHARS = 300
_POLICY_MARKERS = (
    "content_policy_violation",
    "moderation_blocked",
    "safety system",
    "content_filter",
    "content policy",
)
_PAYMENT_MARKERS = ("insufficient_quota", "exceeded your monthly included credits", "credits exceeded",
                    "payment_required", "insufficient pollen")
_TRY_AGAIN = re.compile(r"try again in\s+(?:(\d+(?:\.\d+)?)m(?!s))?\s*(?:(\d+(?:\.\d+)?)(ms|s))?", re.I)


@dataclass(frozen=True)
class HTTPReply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    content_type: str

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise BadOutput(f"expected JSON, got {self.content_type or 'no content type'}") from None


def parse_retry_after(headers: Mapping[str, str], message: str = "", *, now: float | None = None) -> float | None:
    """Seconds the backend asked us to wait, or None when it did not say."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
            if parsed is not None:
                wall = time.time() if now is None else now
                return max(0.0, parsed.timestamp() - wall)
    match = _TRY_AGAIN.search(message or "")
    if match and (match.group(1) or match.group(2)):
        minutes = float(match.group(1) or 0)
        amount = float(match.group(2) or 0)
        seconds = amount / 1000.0 if match.group(3) == "ms" else amount
        return minutes * 60 + seconds
    return None


def error_message(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(message, code) from an error body: OpenAI/Groq `{"error": {...}}`, HF `{"error": "..."}`,
    StreamElements/Pollinations shapes, or the first characters of a text/HTML page."""
    text = body[:65536].decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or err)[:_SNIPPET_CHARS], str(
                err.get("code") or err.get("type") or ""
            )
        message = data.get("message")
        if isinstance(err, str) and isinstance(message, str):
            return f"{err}: {message}"[:_SNIPPET_CHARS], str(data.get("code", ""))
        if isinstance(err, str):
            return err[:_SNIPPET_CHARS], ""
        if isinstance(message, str):
            return message[:_SNIPPET_CHARS], str(data.get("code", ""))
    snippet = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return (snippet[:_SNIPPET_CHARS] or f"empty {content_type or 'body'}"), ""


def classify_status(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Iterable[str] = (),
    *,
    model: str = "",
) -> ProviderError:
    """The error for a non-2xx answer. Never raises; the caller raises what it returns."""
    message, code = error_message(body, headers.get("content-type", ""))
    message = scrub(message, tuple(secrets))
    text = f"HTTP {status}: {message}"
    lowered = f"{code} {message}".lower()
    if any(m in lowered for m in _POLICY_MARKERS):
        return BadOutput(f"refused by the content policy: {message}", provider=provider, status=status)
    if status == 402 or any(m in lowered for m in _PAYMENT_MARKERS):
        return PaymentRequired(text, provider=provider, status=status)
    if status in (401, 403):
        return AuthFailed(text, provider=provider, status=status)
    if status in (429, 498):
        return RateLimited(text, provider=provider, status=status,
                           retry_after_s=parse_retry_after(headers, message))
    if status == 404 or "model_not_found" in lowered or "does not exist" in lowered:
        return Misconfigured(text, provider=provider, status=status,
                             hint=f"check the model name{f' {model!r}' if model else ''} and the base URL "
                                  f"in [providers.{provider}]")
    if status in (408, 409) or status >= 500:
        return Unavailable(text, provider=provider, status=status)
    return BadOutput(text, provider=provider, status=status)


class CloudHTTP:
    """Requests for one provider over the process's shared session, bounded and classified."""

    def __init__(self, provider: str, session: aiohttp.ClientSession | None, secrets: Iterable[str] = (),
                 *, timeout_s: float = 120.0) -> None:
        self.provider = provider
        self._session = session
        self._secrets = tuple(s for s in secrets if s)
        self._timeout_s = timeout_s

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: Any = None,
        max_bytes: int = DEFAULT_MAX_JSON_BYTES,
        timeout_s: float | None = None,
        model: str = "",
        raise_for_status: bool = True,
    ) -> HTTPReply:
        """Send one request; return the reply, or raise the classified error (2xx only unless told)."""
        if self._session is None:
            raise Unavailable("no HTTP session (provider built without one)", provider=self.provider)
        timeout = aiohttp.ClientTimeout(total=timeout_s or self._timeout_s, sock_connect=10)
        try:
            async with self._session.request(
                method, url, headers=headers, params=params, json=json_body, data=data, timeout=timeout,
                allow_redirects=True,
            ) as resp:
                body = await _read_bounded(resp, max_bytes, self.provider)
                reply = HTTPReply(resp.status, _plain_headers(resp.headers), body,
                                  resp.headers.get("content-type", "").split(";")[0].strip().lower())
        except ProviderError:
            raise
        except (TimeoutError, asyncio.TimeoutError):
            raise Unavailable(f"timed out after {timeout.total:.0f}s", provider=self.provider) from None
        except aiohttp.ClientResponseError as exc:
            raise classify_status(self.provider, exc.status, {}, str(exc.message).encode(), self._secrets) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise Unavailable(self.scrub(f"cannot reach the service: {type(exc).__name__}: {exc}"),
                              provider=self.provider) from None
        if raise_for_status and not 200 <= reply.status < 300:
            raise classify_status(self.provider, reply.status, reply.headers, reply.body, self._secrets, model=model)
        return reply


async def _read_bounded(resp: aiohttp.ClientResponse, max_bytes: int, provider: str) -> bytes:
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        raise BadOutput(f"answer of {declared} bytes is over the {max_bytes}-byte limit", provider=provider)
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(65536):
        total += len(chunk)
        if total > max_bytes:
            raise BadOutput(f"answer is over the {max_bytes}-byte limit", provider=provider)
        chunks.append(chunk)
    return b"".join(chunks)


def _plain_headers(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
