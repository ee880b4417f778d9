"""The HTTP edge of every network provider: where an answer or a failure becomes the error tree.

Self-hosted clients (Ollama, ComfyUI, Coqui) and cloud clients (OpenAI, Groq, Hugging Face,
Pollinations, StreamElements) share the same pieces: a transport-error context manager, a bounded
body reader, one error-body reader, one Retry-After parser and one status classifier. The two
families of backend mean different things by some answers; each difference is a field of `Edge`
(`SELF_HOSTED`, `CLOUD`), passed explicitly, never a second function.

Classification of a non-2xx answer (`classify_status`), first match wins:

    answer                                  error            SELF_HOSTED           CLOUD
    content-policy words in the body        BadOutput        (body not read)       yes
    402, or payment words (insufficient_    PaymentRequired  402 only              402 or words
      quota, credits exceeded, ...)
    model_decommissioned / "decommissioned" ModelRetired     (body not read)       yes
      / "no longer supported" in the body
    401 / 403                               AuthFailed       yes                   yes
    429 (Groq's 498 too on CLOUD)           RateLimited      retry_after_s         retry_after_s
    404 (model_not_found / "does not        Misconfigured    hint: the url         hint: the model
      exist" too on CLOUD)                                   (wrong server/path)   name and base URL
    5xx (408 / 409 too on CLOUD)            Unavailable      yes                   yes
    any other 4xx                           BadOutput        yes                   yes

Messages read "HTTP <status>: <message>". A self-hosted server's own words for 401/402/403/429 are
kept bare (`Edge.quote_status`); a content-policy refusal reads "refused by the content policy: ...".
The message comes from the body (`error_message`: `{"error": {...}}` envelopes, `{"error": "..."}`,
`{"message"}`, `{"detail"}`, an HTML page's title, or the first characters of the text), scrubbed
(`providers.scrub`: known secrets, URL user-info, echoed credentials) before it is cut to length.
`retry_after_s` comes from `retry-after-ms`, then `Retry-After` (seconds or an HTTP
date), then, on CLOUD, the "try again in 5.289s" sentence OpenAI and Groq put in the message.

Transport failures (`transport_errors`) are `Unavailable`: refused, reset, DNS, dropped mid-body,
timed out. On SELF_HOSTED an unusable URL is `Misconfigured` (the url setting is wrong) and each
message names the call; CLOUD messages say "cannot reach the service" / "timed out after Ns".
`asyncio.CancelledError` is never caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import aiohttp

from providers.errors import (
    AuthFailed,
    BadOutput,
    Misconfigured,
    ModelRetired,
    PaymentRequired,
    ProviderError,
    RateLimited,
    Unavailable,
)
from providers.lifecycle import RetiredModels
from providers.scrub import clip, drop_partial_tail, scrub

__all__ = [
    "Edge",
    "SELF_HOSTED",
    "CLOUD",
    "CloudHTTP",
    "HTTPReply",
    "base_url",
    "host_of",
    "transport_errors",
    "read_bounded",
    "read_bounded_to_file",
    "error_message",
    "parse_retry_after",
    "classify_status",
    "DEFAULT_MAX_JSON_BYTES",
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_MAX_AUDIO_BYTES",
    "DEFAULT_MAX_MEDIA_BYTES",
]

# Every body is read under a limit (`read_bounded`, `read_bounded_to_file`); these are the defaults
# per kind of answer, and a call may pass its own.
DEFAULT_MAX_JSON_BYTES = 8 * 1024 * 1024  # a chat completion, a status answer
DEFAULT_MAX_IMAGE_BYTES = 32 * 1024 * 1024  # one still, raw or base64 in JSON (a 4K PNG is ~20 MB)
DEFAULT_MAX_AUDIO_BYTES = 32 * 1024 * 1024  # one scene's narration (6 min of 48 kHz 16-bit stereo WAV)
DEFAULT_MAX_MEDIA_BYTES = 200 * 1024 * 1024  # a video clip
_CHUNK_BYTES = 1 << 16
_FILE_BUFFER_BYTES = 1 << 20  # media is written to disk in pieces of about this size
_SNIPPET_CHARS = 300
_MAX_ERROR_BODY = 65536  # an error body is read this far for its message
_POLICY_MARKERS = ("content_policy_violation", "moderation_blocked", "safety system", "content_filter",
                   "content policy")
_PAYMENT_MARKERS = ("insufficient_quota", "exceeded your monthly included credits", "credits exceeded",
                    "payment_required", "insufficient pollen",
                    "quota_exceeded",  # ElevenLabs: 401 {"detail": {"status": "quota_exceeded"}}
                    "exhausted balance",  # fal.ai: 403 "User is locked. Reason: Exhausted balance"
                    "not have enough credits", "insufficient credits")  # Runway, Luma
# A model the service has shut down for good (Groq's 400/404 code "model_decommissioned", "... has been
# decommissioned and is no longer supported"): a configuration error, never retried with that model.
_RETIRED_MARKERS = ("model_decommissioned", "model_deprecated", "decommissioned", "no longer supported",
                    "has been shut down")
_MODEL_MISSING_MARKERS = ("model_not_found", "does not exist")
_TRY_AGAIN = re.compile(r"try again in\s+(?:(\d+(?:\.\d+)?)m(?!s))?\s*(?:(\d+(?:\.\d+)?)(ms|s))?", re.I)


@dataclass(frozen=True)
class Edge:
    """What one family of backends means by its HTTP answers: every field is a deliberate difference."""

    not_found_hint: str  # the hint of a 404; {provider} and {model} (" 'name'" or "") are filled in
    reads_envelope: bool  # a hosted API's error body overrules its status: policy, payment, missing
    #                       model words, and the "try again in Ns" sentence
    quote_status: bool  # "HTTP <status>:" before 401/402/403/429 messages too, not only the others
    rate_limited: frozenset[int]  # statuses that mean "slow down"
    unavailable_4xx: frozenset[int]  # 4xx statuses that mean "try later", like a 5xx
    transport: Mapping[str, str]  # message per transport failure: connect, dropped, timeout, failed
    invalid_url_hint: str = ""  # "" = an invalid URL is a failure like any other, else Misconfigured
    classify_protocol_errors: bool = False  # aiohttp's ClientResponseError classified by its status


SELF_HOSTED = Edge(
    not_found_hint="check the {provider} url: the path was not found",
    reads_envelope=False,
    quote_status=False,
    rate_limited=frozenset({429}),
    unavailable_4xx=frozenset(),
    transport={
        "invalid_url": "invalid URL for {what}: {exc}",
        "connect": "cannot connect to {what}: {reason}",
        "dropped": "{what} dropped the connection: {exc}",
        "timeout": "{what} timed out",
        "failed": "{what} failed: {kind}: {exc}",
    },
    invalid_url_hint="check the {provider} url setting",
)

_UNREACHABLE = "cannot reach the service: {kind}: {exc}"
CLOUD = Edge(
    not_found_hint="check the model name{model} and the base URL in [providers.{provider}]",
    reads_envelope=True,
    quote_status=True,
    rate_limited=frozenset({429, 498}),
    unavailable_4xx=frozenset({408, 409}),
    transport={
        "invalid_url": _UNREACHABLE,
        "connect": _UNREACHABLE,
        "dropped": _UNREACHABLE,
        "timeout": "timed out after {timeout_s:.0f}s",
        "failed": _UNREACHABLE,
    },
    classify_protocol_errors=True,
)


# ---------------------------------------------------------------------------- URLs


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


# ---------------------------------------------------------------------------- transport


@contextlib.contextmanager
def transport_errors(provider: str, what: str, *, edge: Edge = SELF_HOSTED, secrets: Iterable[str] = (),
                     timeout_s: float | None = None) -> Iterator[None]:
    """Turn aiohttp transport failures inside the block into the error tree (see the module docstring)."""
    try:
        yield
    except aiohttp.InvalidURL as exc:
        if edge.invalid_url_hint:
            raise Misconfigured(_transport_text(edge, "invalid_url", what, exc, timeout_s, secrets),
                                provider=provider, hint=edge.invalid_url_hint.format(provider=provider)) from None
        raise Unavailable(_transport_text(edge, "invalid_url", what, exc, timeout_s, secrets),
                          provider=provider) from None
    except aiohttp.ClientConnectorError as exc:
        raise Unavailable(_transport_text(edge, "connect", what, exc, timeout_s, secrets), provider=provider) from None
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise Unavailable(_transport_text(edge, "dropped", what, exc, timeout_s, secrets), provider=provider) from None
    except TimeoutError as exc:
        raise Unavailable(_transport_text(edge, "timeout", what, exc, timeout_s, secrets), provider=provider) from None
    except aiohttp.ClientResponseError as exc:
        if edge.classify_protocol_errors:
            raise classify_status(provider, exc.status, {}, str(exc.message).encode(), secrets, edge=edge) from None
        raise Unavailable(_transport_text(edge, "failed", what, exc, timeout_s, secrets), provider=provider) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise Unavailable(_transport_text(edge, "failed", what, exc, timeout_s, secrets), provider=provider) from None


def _transport_text(edge: Edge, situation: str, what: str, exc: BaseException, timeout_s: float | None,
                    secrets: Iterable[str]) -> str:
    os_error = getattr(exc, "os_error", None)
    reason = getattr(os_error, "strerror", None) or str(os_error or exc)
    text = edge.transport[situation].format(what=what, exc=exc, kind=type(exc).__name__, reason=reason,
                                            timeout_s=timeout_s or 0.0)
    return scrub(text, tuple(secrets))


async def read_bounded(resp: aiohttp.ClientResponse, max_bytes: int, provider: str, what: str = "answer") -> bytes:
    """Read a response body, refusing one larger than `max_bytes` (declared or streamed) as BadOutput.

    The limit is checked while reading, chunk by chunk, so a backend streaming an endless body costs
    at most `max_bytes` of memory; raising inside the response's `async with` closes the connection
    (a half-read body is never put back in the pool)."""
    _check_declared(resp, max_bytes, provider, what)
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
        total += len(chunk)
        if total > max_bytes:
            raise BadOutput(f"{what} is over the {max_bytes}-byte limit", provider=provider)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_bounded_to_file(resp: aiohttp.ClientResponse, dest: Path, max_bytes: int, provider: str,
                               what: str = "answer") -> int:
    """Stream a response body into `dest` (a hidden temp file beside it, renamed when complete) and
    return its size; over `max_bytes` is BadOutput and leaves no file. For media: memory stays at
    one buffer whatever the limit, and the disk writes run off the event loop."""
    _check_declared(resp, max_bytes, provider, what)
    tmp = dest.with_name(f".{dest.stem}.{uuid.uuid4().hex[:12]}.part")
    fh = await asyncio.to_thread(_open_new, tmp)
    total = 0
    try:
        buffer = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK_BYTES):
            total += len(chunk)
            if total > max_bytes:
                raise BadOutput(f"{what} is over the {max_bytes}-byte limit", provider=provider)
            buffer += chunk
            if len(buffer) >= _FILE_BUFFER_BYTES:
                data, buffer = bytes(buffer), bytearray()
                await asyncio.to_thread(fh.write, data)
        await asyncio.to_thread(_finish_file, fh, bytes(buffer), tmp, dest)
    except BaseException:
        # shielded: a second cancellation must not leave the temp file behind
        await asyncio.shield(asyncio.to_thread(_discard_file, fh, tmp))
        raise
    return total


def _check_declared(resp: aiohttp.ClientResponse, max_bytes: int, provider: str, what: str) -> None:
    declared = resp.content_length
    if declared is not None and declared > max_bytes:
        raise BadOutput(f"{what} of {declared} bytes is over the {max_bytes}-byte limit", provider=provider)


def _open_new(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "xb")


def _finish_file(fh: BinaryIO, tail: bytes, tmp: Path, dest: Path) -> None:
    with fh:
        fh.write(tail)
    os.replace(tmp, dest)


def _discard_file(fh: BinaryIO, tmp: Path) -> None:
    fh.close()
    tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- error bodies


def error_message(body: bytes, content_type: str = "", secrets: Iterable[str] = ()) -> tuple[str, str]:
    """(message, code) from an error body: OpenAI/Groq `{"error": {...}}`, Ollama/HF `{"error": "..."}`,
    StreamElements/Pollinations `{"error", "message"}`, FastAPI `{"detail"}`, an HTML page's title,
    or the first characters of the text. The message is scrubbed of `secrets`, URL user-info and
    credentials BEFORE it is cut to its length, so a secret across the cut leaves nothing behind."""
    known = tuple(secrets)
    text = body[:_MAX_ERROR_BODY].decode("utf-8", "replace")
    if len(body) > _MAX_ERROR_BODY:  # cut before scrubbing: drop a secret's beginning at the end
        text = drop_partial_tail(text, known)
    message, code = _error_fields(text, content_type)
    return clip(message, _SNIPPET_CHARS, known), code


def _error_fields(text: str, content_type: str) -> tuple[str, str]:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            message = err.get("message") or err.get("code") or err.get("type") or json.dumps(err)
            return str(message), str(err.get("code") or err.get("type") or "")
        message = data.get("message")
        if isinstance(err, str) and isinstance(message, str):
            return f"{err}: {message}", str(data.get("code", ""))
        if isinstance(err, str):
            return err, ""
        if isinstance(message, str):
            return message, str(data.get("code", ""))
        detail = data.get("detail")
        if isinstance(detail, str):
            return detail, ""
        if isinstance(detail, dict):  # ElevenLabs: {"detail": {"status": "quota_exceeded", "message"}}
            return str(detail.get("message") or detail.get("status") or json.dumps(detail)), str(
                detail.get("status") or detail.get("code") or "")
        if isinstance(detail, list) and detail and all(isinstance(d, dict) for d in detail):
            # fal.ai / FastAPI validation: [{"loc", "msg", "type": "content_policy_violation"}]
            return "; ".join(str(d.get("msg") or d.get("type")) for d in detail), str(detail[0].get("type") or "")
    return (_page_text(text) or f"empty {content_type or 'body'}"), ""


def _page_text(text: str) -> str:
    """An HTML error page reduced to its <title> (or its text without tags), on one line."""
    lowered = text.lower()
    start = lowered.find("<title>")
    if start >= 0:
        end = lowered.find("</title>", start)
        if end > start:
            return " ".join(text[start + 7:end].split())
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


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


def classify_status(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Iterable[str] = (),
    *,
    model: str = "",
    edge: Edge = CLOUD,
    message: str | None = None,
) -> ProviderError:
    """The error for a non-2xx answer (the table in the module docstring). Never raises; the caller
    raises what it returns. `message` replaces the body's words when the caller knows better."""
    code = ""
    known = tuple(secrets)
    if message is None:
        message, code = error_message(body, headers.get("content-type", ""), known)
    message = scrub(message, known)
    quoted = f"HTTP {status}: {message}"
    plain = quoted if edge.quote_status else message
    words = f"{code} {message}".lower() if edge.reads_envelope else ""
    if any(m in words for m in _POLICY_MARKERS):
        return BadOutput(f"refused by the content policy: {message}", provider=provider, status=status)
    if status == 402 or any(m in words for m in _PAYMENT_MARKERS):
        return PaymentRequired(plain, provider=provider, status=status)
    if any(m in words for m in _RETIRED_MARKERS):
        return ModelRetired(quoted, provider=provider, status=status, model=model,
                            hint=f"the model{f' {model!r}' if model else ''} is retired: set another model in "
                                 f"[providers.{provider}]")
    if status in (401, 403):
        return AuthFailed(plain, provider=provider, status=status)
    if status in edge.rate_limited:
        retry = parse_retry_after(headers, message if edge.reads_envelope else "")
        return RateLimited(plain, provider=provider, status=status, retry_after_s=retry)
    if status == 404 or any(m in words for m in _MODEL_MISSING_MARKERS):
        hint = edge.not_found_hint.format(provider=provider, model=f" {model!r}" if model else "")
        return Misconfigured(quoted, provider=provider, status=status, hint=hint)
    if status in edge.unavailable_4xx or status >= 500:
        return Unavailable(quoted, provider=provider, status=status)
    return BadOutput(quoted, provider=provider, status=status)


# ---------------------------------------------------------------------------- cloud requests


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


class CloudHTTP:
    """Requests for one cloud provider over the process's shared session, bounded and classified."""

    def __init__(self, provider: str, session: aiohttp.ClientSession | None, secrets: Iterable[str] = (),
                 *, timeout_s: float = 120.0, retired: RetiredModels | None = None) -> None:
        self.provider = provider
        self._session = session
        self._secrets = tuple(s for s in secrets if s)
        self._timeout_s = timeout_s
        self.retired = retired  # models the service called dead: refused here without a call

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
        """Send one request; return the reply, or raise the classified error (2xx only unless told).
        A request for a `model` the service has called retired is refused without being sent."""
        if model and self.retired is not None:
            await self.retired.refuse_if_retired(self.provider, model)
        if self._session is None:
            raise Unavailable("no HTTP session (provider built without one)", provider=self.provider)
        timeout = aiohttp.ClientTimeout(total=timeout_s or self._timeout_s, sock_connect=10)
        with transport_errors(self.provider, "the service", edge=CLOUD, secrets=self._secrets,
                              timeout_s=timeout.total):
            async with self._session.request(
                method, url, headers=headers, params=params, json=json_body, data=data, timeout=timeout,
                allow_redirects=True,
            ) as resp:
                body = await read_bounded(resp, max_bytes, self.provider)
                reply = HTTPReply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body,
                                  resp.headers.get("content-type", "").split(";")[0].strip().lower())
        if raise_for_status and not 200 <= reply.status < 300:
            error = classify_status(self.provider, reply.status, reply.headers, reply.body, self._secrets, model=model)
            if isinstance(error, ModelRetired) and model and self.retired is not None:
                await self.retired.record(self.provider, model, error.message)
            raise error
        return reply
