"""A job's language over the API: the user's choice, else the topic's, else the chat client's locale,
else the configured default; a bad code is a 400 that costs nothing; the script writer is asked for
it and a script in another language is refused."""

from __future__ import annotations

from tests.support.agent_app import AUTH, Agent


async def _language(a: Agent, topic: str, request_id: str, **options: str) -> str:
    job = await a.submit(topic, request_id=request_id, options=dict(options))
    return str(job["options"]["language"])


async def test_the_language_is_chosen_detected_or_taken_from_the_locale(agent_factory) -> None:
    async with agent_factory() as a:
        assert await _language(a, "cats in space", "chosen", language="pt_BR") == "pt-br"
        assert await _language(a, "猫と宇宙 🐱🚀 — 星の旅 ✨", "topic") == "ja"
        assert await _language(a, "les chats dans l'espace", "topic-fr") == "fr"
        assert await _language(a, "cats in space", "locale", locale="de-DE") == "de-de"  # short topic: no signal
        assert await _language(a, "кошки в космосе", "script-wins", locale="en-US") == "ru"
        assert await _language(a, "cats in space", "default") == "en"


async def test_a_bad_language_code_is_a_400_that_costs_nothing(agent_factory) -> None:
    async with agent_factory() as a:
        for bad in ("english please", "ja;rm -rf", "x" * 40, "\u202eja"):
            resp = await a.client.post("/v1/jobs", json={
                "request_id": "bad", "user": {"platform": "discord", "id": "42"}, "topic": "cats",
                "options": {"language": bad}}, headers=AUTH)
            data = await resp.json()
            assert resp.status == 400, data
            assert data["error"]["field"] in ("language", "options.language"), data
        assert (await a.quota())["balance"] == 100
        assert a.provider.history == []


async def test_the_writer_is_asked_for_the_language_and_a_script_in_another_is_refused(agent_factory) -> None:
    async with agent_factory() as a:
        job = await a.submit("猫と宇宙", request_id="ja")
        final = await a.wait_status(job["id"], "failed", "done")
        requests = [req for kind, req in a.provider.history if kind == "script"]
        assert requests and requests[0].language == "ja"
        # the fake writer answers in English: not Japanese, so the cascade refuses it
        assert final["status"] == "failed"
        assert (await a.quota())["balance"] == 100  # refunded
