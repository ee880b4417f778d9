"""Logging, configured once in the entry point. A filter scrubs secrets from every record."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from providers.scrub import scrub

__all__ = ["configure_logging", "SecretFilter"]


class SecretFilter(logging.Filter):
    """Scrub a record's final message and traceback before any handler sees it: the known secrets,
    and URL user-info and credentials even when no secret is known (`providers.scrub`)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message, self._secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text, self._secrets)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text, self._secrets)
        return True


def configure_logging(level: int = logging.INFO, secrets: Sequence[str] = ()) -> None:
    root = logging.getLogger()
    for old in list(root.handlers):  # ours from an earlier call; a host's (pytest's capture) stay
        if getattr(old, "reelbot_handler", False):
            root.removeHandler(old)
    handler = logging.StreamHandler()
    handler.reelbot_handler = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter stays at warning unless asked for.
    for noisy in ("aiohttp.access", "discord", "telegram", "httpx", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
