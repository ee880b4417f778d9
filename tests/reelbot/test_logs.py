"""The entry points' log handler never prints a secret, even one a library put in a message."""

from __future__ import annotations

import io
import logging

from reelbot.logs import SecretFilter


def test_secret_filter_scrubs_messages_args_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter(["sk-live-abcdef123456", "x"]))
    log = logging.getLogger("test.secrets")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("calling %s with key %s", "https://api", "sk-live-abcdef123456")
        try:
            raise RuntimeError("401 for Bearer sk-live-abcdef123456")
        except RuntimeError:
            log.exception("request failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "sk-live" not in text
    assert "with key ***" in text and "Bearer ***" in text and "calling https://api" in text
