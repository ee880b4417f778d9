"""The one secret scrubber: every text that leaves the process (logs, stored attempts, events, the
status JSON, CLI output) goes through `scrub()` first.

It removes, in this order:

* every known secret (API keys, tokens, and what `url_secrets` derives from configured URLs: the
  password as written and percent-decoded, and the Basic credential aiohttp would send for it),
  longest first, so one secret inside another cannot leave a tail;
* the user-info of any URL (`scheme://user:pass@host` -> `scheme://***@host`), also inside longer
  messages such as `URL('http://admin:pw@host/api')` in an aiohttp exception;
* the value of an `Authorization:` / `Proxy-Authorization:` header, a `Bearer` token, and a
  `Basic` credential (base64 of `user:password`) that a backend echoes back in its body.

Text is scrubbed BEFORE it is cut to a length (`clip`): a secret straddling the cut would otherwise
leave most of itself in the kept part. Secrets shorter than `MIN_SECRET_CHARS` are not replaced
bare (they would blank out ordinary words); the patterns above still apply.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["REDACTED", "MIN_SECRET_CHARS", "scrub", "clip", "scrub_json", "url_secrets", "redact_url",
           "drop_partial_tail"]

REDACTED = "***"
MIN_SECRET_CHARS = 4

# scheme://<user-info>@ : user-info is everything up to the LAST "@" before the host, which may
# itself contain "@" (an unencoded password); it never contains a path, query, fragment or space
_USERINFO = re.compile(r"""(?i)\b([a-z][a-z0-9+.\-]{0,31}://)[^\s/?#"'<>\\]*@""")
# an Authorization header as text, JSON or a Python dict repr; the value up to the line's end or
# a closing quote, keeping its scheme word for the reader
_AUTH_HEADER = re.compile(
    r"""(?i)\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:(basic|bearer|token|digest|apikey)\s+)?"""
    r"""([^\s"',;}\]]+)""")
_BEARER = re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9._~+/\-]{8,}=*)")
_BASIC = re.compile(r"(?i)\b(basic\s+)([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])")


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every secret, URL user-info and credential replaced by `REDACTED`."""
    known = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "://" in text:
        text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    lowered = text.lower()
    if "authorization" in lowered:
        text = _AUTH_HEADER.sub(_auth_header, text)
    if "bearer" in lowered:
        text = _BEARER.sub(_bearer, text)
    if "basic" in lowered:
        text = _BASIC.sub(_basic, text)
    return text


def clip(text: str, limit: int, secrets: Iterable[str | None] = ()) -> str:
    """`text` scrubbed, then cut to `limit` characters (in that order: see the module docstring)."""
    return scrub(text, secrets)[:limit]


def drop_partial_tail(text: str, secrets: Iterable[str | None]) -> str:
    """`text` (already cut by someone else) without a trailing beginning of a secret, so a secret
    that straddled that earlier cut leaves at most a few characters of itself."""
    for secret in secrets:
        if not secret or len(secret) < MIN_SECRET_CHARS:
            continue
        for n in range(min(len(secret) - 1, len(text)), MIN_SECRET_CHARS - 1, -1):
            if text.endswith(secret[:n]):
                text = text[:-n] + REDACTED
                break
    return text


def scrub_json(value: Any, secrets: Iterable[str | None] = ()) -> Any:
    """A JSON-like value (dicts, lists, strings, numbers) with every string scrubbed."""
    known = tuple(secrets)
    if isinstance(value, str):
        return scrub(value, known)
    if isinstance(value, Mapping):
        return {scrub(str(k), known) if isinstance(k, str) else k: scrub_json(v, known) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_json(v, known) for v in value]
    return value


def url_secrets(url: str) -> tuple[str, ...]:
    """The secrets a configured URL carries: its password as written and percent-decoded, and the
    `Basic` credential (base64 of user:password) an HTTP client sends for it. () when it has none."""
    text = url.strip()
    if "@" not in text:
        return ()
    try:
        parts = urlsplit(text if "://" in text else "http://" + text)
        password = parts.password
        username = parts.username or ""
    except ValueError:
        return ()
    if not password:
        return ()
    found = [password, unquote(password)]
    pair = f"{unquote(username)}:{unquote(password)}"
    for encoding in ("latin-1", "utf-8"):  # aiohttp encodes BasicAuth as latin-1; others as UTF-8
        try:
            found.append(base64.b64encode(pair.encode(encoding)).decode("ascii"))
        except UnicodeEncodeError:
            continue
    return tuple(dict.fromkeys(s for s in found if s))


def redact_url(url: str) -> str:
    """`url` without its user-info (`http://user:pass@host:1/x` -> `http://host:1/x`), for display."""
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        return scrub(text)
    if "@" not in parts.netloc:
        return text
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _auth_header(m: re.Match[str]) -> str:
    if m.group(3) == REDACTED:  # a known secret already replaced the value
        return m.group(0)
    scheme = f"{m.group(2)} " if m.group(2) else ""
    return f"{m.group(1)}{scheme}{REDACTED}"


def _bearer(m: re.Match[str]) -> str:
    token = m.group(2)
    # a token, not an English word ("Bearer authentication"): has a digit or a symbol, or is long
    if any(c.isdigit() or c in "._~+/-=" for c in token) or len(token) >= 24:
        return f"{m.group(1)}{REDACTED}"
    return m.group(0)


def _basic(m: re.Match[str]) -> str:
    """A Basic credential decodes to "user:password"; "Basic information" does not."""
    token = m.group(2)
    if len(token) % 4:
        return m.group(0)
    try:
        decoded = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return m.group(0)
    if b":" in decoded:
        return f"{m.group(1)}{REDACTED}"
    return m.group(0)
