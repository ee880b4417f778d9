"""Programming errors inside a provider: told apart from a provider misbehaving, logged as bugs.

A provider that misbehaves raises the error tree (`providers.errors`), times out, or returns
something validation refuses; the cascade cools it down and moves on. A provider that raises one of
`PROGRAMMING_ERRORS` has a bug in *our* code: a missing method or attribute, a wrong call, a name
that does not exist, a shape it indexed without checking. The provider edge is where a backend's
answers become the error tree (STYLE.md, habit 4), so even when an odd answer from the backend
triggered it, a `KeyError` or `TypeError` escaping a provider means a check is missing there.

The set, and why each is in it:

    AttributeError, NameError      a missing method/attribute or an undefined name: a typo or a
                                   class that does not implement what it declares
    TypeError                      a wrong call (arity, keyword, None where a value was expected)
    KeyError, IndexError           a dict or list read without checking the shape first
    AssertionError                 an invariant of ours that does not hold
    NotImplementedError            a stage method left as a stub
    ImportError                    a module or name we ship and should be able to import
    ZeroDivisionError              arithmetic on an unchecked zero (an empty file, a zero rate)

Not in it, because the data or the environment raise them routinely and the cascade's answer
(bad output, move on) is the right one: `ValueError` (and `UnicodeError`, `json.JSONDecodeError`),
`OSError` (disk full, a broken pipe), `RuntimeError`, library-specific errors.

A bug is logged once, at ERROR, on the `reelbot.bugs` logger with `extra={"reelbot_bug": True, ...}`
and the traceback, the job id, provider and stage. In production the job goes on (the cascade tries
the next provider); in the test suite a fixture fails any test during which one was logged.
"""

from __future__ import annotations

import logging

__all__ = ["PROGRAMMING_ERRORS", "BUG_LOGGER", "is_bug", "log_bug"]

PROGRAMMING_ERRORS: tuple[type[Exception], ...] = (
    AttributeError,
    NameError,
    TypeError,
    KeyError,
    IndexError,
    AssertionError,
    NotImplementedError,
    ImportError,
    ZeroDivisionError,
)

BUG_LOGGER = "reelbot.bugs"
_log = logging.getLogger(BUG_LOGGER)


def is_bug(exc: BaseException) -> bool:
    """True when `exc` is a programming error (see the module docstring for the set)."""
    return isinstance(exc, PROGRAMMING_ERRORS)


def log_bug(exc: BaseException, *, job_id: str, provider: str, stage: str, where: str) -> None:
    """Log `exc` as a bug in `provider`, with its traceback and the ids an operator needs."""
    _log.error(
        "BUG: job %s: provider %s (%s stage) raised %s in %s: %s",
        job_id or "-", provider, stage, type(exc).__name__, where, exc,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"reelbot_bug": True, "job_id": job_id, "provider": provider, "stage": stage},
    )
