"""The one scrubber: known secrets, URL user-info and echoed credentials, removed before any cut."""

from __future__ import annotations

import base64

from agent.settings import settings_from_mapping
from providers.http import classify_status, error_message
from providers.scrub import clip, redact_url, scrub, scrub_json, url_secrets

PASSWORD = "hunter2pass"
URL = f"http://admin:{PASSWORD}@gpu-box:11434"
BASIC = base64.b64encode(f"admin:{PASSWORD}".encode()).decode()


def test_url_user_info_is_removed_wherever_the_url_appears() -> None:
    assert scrub(f"cannot connect to {URL}/api/chat") == "cannot connect to http://***@gpu-box:11434/api/chat"
    assert scrub(f"failed: URL('{URL}/api/tags')") == "failed: URL('http://***@gpu-box:11434/api/tags')"
    # a password with an unencoded "@": the host starts after the last one
    assert scrub("see https://u:p@ss@h:1/x now") == "see https://***@h:1/x now"
    # an "@" after the path is not user-info
    assert scrub("http://h:1/a?mail=a@b.c") == "http://h:1/a?mail=a@b.c"


def test_credentials_echoed_in_bodies_are_removed() -> None:
    assert scrub(f'{{"headers": {{"Authorization": "Basic {BASIC}"}}}}') == '{"headers": {"Authorization": "Basic ***"}}'
    assert scrub(f"got Basic {BASIC} back") == "got Basic *** back"
    assert scrub("Authorization: Bearer sk-live-123456789 rest") == "Authorization: Bearer *** rest"
    assert scrub("proxy-authorization=Token abc123;x") == "proxy-authorization=Token ***;x"
    assert scrub("send Bearer eyJhbGciOi.J9.x1") == "send Bearer ***"
    # ordinary words are left alone
    for text in ("Basic information about stars", "Bearer authentication is missing", "Basic auth failed"):
        assert scrub(text) == text


def test_passwords_in_configured_urls_are_secrets_even_bare() -> None:
    assert set(url_secrets(URL)) == {PASSWORD, BASIC}
    assert "p@ss" in url_secrets("http://admin:p%40ss@h") and "p%40ss" in url_secrets("http://admin:p%40ss@h")
    assert url_secrets("http://gpu-box:11434") == () and url_secrets("gpu-box:11434") == ()
    settings = settings_from_mapping(
        {"agent": {"database_url": "postgresql+asyncpg://reel:dbsecret99@db/reel"}},
        {"LOCAL_AI_SERVER": URL, "COQUI_SERVER": "admin:coquipass1@gpu-box:5002"},
    )
    secrets = settings.secrets()
    assert {PASSWORD, BASIC, "dbsecret99", "coquipass1"} <= set(secrets)
    assert scrub(f"the server said {PASSWORD} is wrong", secrets) == "the server said *** is wrong"


def test_scrub_comes_before_the_cut() -> None:
    text = "x" * 295 + PASSWORD + " tail"
    assert clip(text, 300, [PASSWORD]) == "x" * 295 + "*** t"
    body = ('{"error": "' + "y" * 290 + f" token {PASSWORD} rejected" + '"}').encode()
    message, _ = error_message(body, secrets=[PASSWORD])
    assert "hunter" not in message and len(message) <= 300
    err = classify_status("ollama", 500, {}, body, [PASSWORD])
    assert "hunter" not in err.message


def test_an_error_body_cut_before_reading_leaves_no_secret_prefix() -> None:
    # the body is read to 64 KiB; a secret across that boundary must not leave its beginning
    body = b" " * (65536 - 6) + PASSWORD.encode() + b" was refused"
    message, _ = error_message(body, secrets=[PASSWORD])
    assert "hunt" not in message and message == "***"


def test_display_url_and_json() -> None:
    assert redact_url(URL + "/v1") == "http://gpu-box:11434/v1"
    assert redact_url("http://gpu-box:11434") == "http://gpu-box:11434"
    data = {"problem": f"401 from {URL}", "list": [f"Basic {BASIC}"], "n": 3}
    assert scrub_json(data, [PASSWORD]) == {"problem": "401 from http://***@gpu-box:11434", "list": ["Basic ***"],
                                            "n": 3}


def test_scrubbing_a_hostile_64k_body_takes_linear_time() -> None:
    import time

    body = "see http://x " + "a." * 16000 + " " + "A" * 16000 + " Basic " + "Q" * 16000 + "@"
    started = time.perf_counter()
    scrub(body, [PASSWORD])
    assert time.perf_counter() - started < 1.0
