"""agent.engine.voices: a voice is accepted when a provider of the route's voice cascade offers it."""

from __future__ import annotations

import pytest

from agent.engine.validation import InvalidInput
from agent.engine.voices import check_voice
from providers.base import Tier, VoiceCatalog
from providers.errors import Unavailable
from tests.fakes import FakeProvider


class Unlisted(FakeProvider):
    """A voice provider whose list is unavailable right now."""

    async def voices(self) -> VoiceCatalog:
        raise Unavailable("cannot list", provider=self.name)


def _fake(name: str, *voices: str) -> FakeProvider:
    provider = FakeProvider(name, Tier.SELF_HOSTED)
    provider.voice_names = voices
    return provider


async def test_any_provider_of_the_cascade_may_offer_it() -> None:
    cascade = [_fake("coqui", "Ana Florence"), _fake("openai", "alloy", "nova")]
    assert await check_voice("  NOVA ", cascade) == "NOVA"
    assert await check_voice("ana florence", cascade) == "ana florence"
    assert await check_voice("", cascade) == "" and await check_voice("   ", []) == ""


async def test_a_refusal_names_a_few_voices_from_each_provider() -> None:
    cascade = [_fake("a", "v1", "v2", "v3", "v4"), Unlisted("b"), object(), _fake("c", "w1")]
    with pytest.raises(InvalidInput) as info:
        await check_voice("!v/m1", cascade)
    assert info.value.field == "voice"
    assert str(info.value) == ("there is no voice called '!v/m1' here; voices you can pick include v1, v2, v3, w1 "
                               "(or leave the voice out for the default one)")


async def test_long_or_strange_names_are_refused_and_quoted_safely() -> None:
    cascade = [_fake("a", "x" * 65)]
    with pytest.raises(InvalidInput) as info:
        await check_voice("x" * 65, cascade)  # over the limit: not even looked up
    assert "x" * 39 + "…'" in str(info.value)
    with pytest.raises(InvalidInput) as info:
        await check_voice("a\u202eb\nc", cascade)
    assert "'a?b?c'" in str(info.value)
    with pytest.raises(InvalidInput) as info:
        await check_voice("alloy", [Unlisted("b")])
    assert "no voices to pick from" in str(info.value)


def test_catalog_variants_follow_a_name() -> None:
    catalog = VoiceCatalog(frozenset({"en-us", "gmw/en-us"}), ("en-us",), frozenset({"f3", "mr serious"}))
    assert catalog.offers("EN-US+F3") and catalog.offers("en-us+Mr Serious") and catalog.offers("gmw/en-US")
    for name in ("en-us+", "+f3", "f3", "en-us+f3+f3", "en-us+m1", ""):
        assert not catalog.offers(name), name
    assert VoiceCatalog.of(["Brian", " ", "Amy", "brian"]).examples == ("Brian", "Amy")
