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


def test_secret_filter_scrubs_passwords_of_configured_urls_and_user_info_anywhere():
    import base64

    from agent.settings import settings_from_mapping

    settings = settings_from_mapping({}, {"LOCAL_AI_SERVER": "http://admin:hunter2pass@gpu-box:11434"})
    basic = base64.b64encode(b"admin:hunter2pass").decode()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter(settings.secrets()))
    log = logging.getLogger("test.secrets.urls")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("Ollama at %s is down", "http://admin:hunter2pass@gpu-box:11434")
        log.warning("the proxy said: bad password hunter2pass")
        log.warning("echoed header %s", f"Authorization: Basic {basic}")
        log.warning("no secret known for %s", "https://bob:pw@other-host/x")  # user-info: always removed
        try:
            raise OSError("connect to http://admin:hunter2pass@gpu-box:11434/api/chat failed")
        except OSError:
            log.exception("request failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "hunter2" not in text and basic not in text and "bob:pw" not in text, text
    assert "Ollama at http://***@gpu-box:11434 is down" in text
    assert "https://***@other-host/x" in text and "bad password ***" in text
