"""Untrusted parts of an HTTP request, parsed strictly: the JSON body, `Last-Event-ID`, `Range`.

Each parser returns a plain value or raises `BadInput` (a message a client can act on), so a
handler never meets a `RecursionError`, a lone surrogate or an integer too large for the database:

- JSON: Python's `json` recurses per nesting level (8000 `[` raise `RecursionError`) and decodes
  `"\\ud800"` into a lone surrogate that no UTF-8 encoder (SQLite, the response, the log) accepts;
  `NaN` and `Infinity` are not JSON at all. The body is checked once, as a whole, not per field.
- `Last-Event-ID`: the SSE position, a sequence number stored as a 64-bit integer.
- `Range`: aiohttp's `FileResponse` serves `bytes=-0` (a zero-length suffix, unsatisfiable by
  RFC 9110 §14.1.2) as the whole file with 206, and answers the ranges it refuses with an empty
  416; deciding here lets the agent answer every unsatisfiable range the same way, as JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

__all__ = ["BadInput", "MAX_JSON_DEPTH", "MAX_EVENT_ID", "parse_json_body", "parse_event_id",
           "range_satisfiable"]

MAX_JSON_DEPTH = 16  # the deepest real body (a submission's user or options) is 2
MAX_EVENT_ID = 2**63 - 1  # event sequence numbers are stored in a signed 64-bit column

_SURROGATE = re.compile("[\ud800-\udfff]")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.ASCII | re.IGNORECASE)


class BadInput(ValueError):
    """Client input that cannot be accepted; the message says why."""


def _not_a_number(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_json_body(raw: bytes) -> Any:
    """The body as JSON (an empty body is `null`), nested at most MAX_JSON_DEPTH deep, with every
    string (keys too) valid Unicode."""
    try:
        value = json.loads(raw or b"null", parse_constant=_not_a_number)
    except RecursionError:  # the C decoder recurses per level; this body is far past the limit anyway
        raise BadInput(f"the JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity, an integer of 4300+ digits
        raise BadInput("the body is not valid JSON") from None
    if _may_offend(raw):
        _check_tree(value)
    return value


def _may_offend(raw: bytes) -> bool:
    """Whether the body could hold a lone surrogate or nest too deeply; most bodies cannot, and
    need no walk. In UTF-8 a surrogate comes from a `\\u` escape or from bytes starting with 0xED;
    a body in UTF-16 or UTF-32 (which `json.loads` also takes) has NUL bytes, which UTF-8 JSON never
    has; nesting needs that many brackets."""
    return (b"\\u" in raw or b"\xed" in raw or b"\x00" in raw
            or raw.count(b"[") + raw.count(b"{") >= MAX_JSON_DEPTH)


def _check_tree(value: Any) -> None:
    stack: list[tuple[Any, int]] = [(value, 0)]  # iterative: a deep body must not recurse here either
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise BadInput("the body contains a lone surrogate (such as \\ud800): every string must be "
                               "valid Unicode text")
        elif isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise BadInput(f"the JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
            if isinstance(item, dict):
                stack.extend((key, depth + 1) for key in item)
                stack.extend((child, depth + 1) for child in item.values())
            else:
                stack.extend((child, depth + 1) for child in item)


def parse_event_id(raw: str | None) -> int:
    """The SSE `Last-Event-ID` (or `?last_event_id=`): 0 when absent, else 0..MAX_EVENT_ID."""
    text = (raw or "").strip()
    if not text:
        return 0
    # isdigit() alone accepts other scripts' digits; int() also takes "1_0", "+1" and " -1"
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_EVENT_ID)) or int(text) > MAX_EVENT_ID:
        raise BadInput(f"Last-Event-ID must be the id of an event received, a whole number from 0 to {MAX_EVENT_ID}")
    return int(text)


def range_satisfiable(header: str, size: int) -> bool:
    """Whether a `Range` header names bytes a file of `size` bytes has (RFC 9110 §14.1.2), in the
    one form aiohttp's FileResponse serves (a single `bytes=` range); a multi-range or malformed
    header counts as unsatisfiable, as FileResponse would answer it."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or size <= 0:
        return False
    first, last = match.groups()
    try:
        if not first:  # a suffix: the last N bytes, N > 0
            return bool(last) and int(last) > 0
        start = int(first)
        return start < size and (not last or int(last) >= start)
    except ValueError:  # more digits than int() converts: far past any file
        return False
