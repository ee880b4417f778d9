"""Every registered voice provider says which voice names it accepts (agent.engine.voices relies on it)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from providers.base import ProviderDeps, Stage, VoiceCatalog, VoiceMaker
from providers.coqui import CoquiConfig, CoquiVoice
from providers.openai import OpenAIConfig, OpenAIVoice
from providers.registry import classes_for
from providers.streamelements import StreamElementsConfig, StreamElementsVoice

DEPS = ProviderDeps(None, time.monotonic, Path("."))


@pytest.mark.parametrize("cls", sorted(classes_for(Stage.VOICE).values(), key=lambda c: c.name))
async def test_each_voice_provider_lists_what_it_accepts(cls: type) -> None:
    provider = cls(cls.config_class(), DEPS)
    try:
        assert isinstance(provider, VoiceMaker)
        catalog = await provider.voices()
        assert isinstance(catalog, VoiceCatalog)
        assert all(catalog.offers(example) for example in catalog.examples)
        for poison in ("!v/m1", "+" * 64, "en+" + "a" * 37):
            assert not catalog.offers(poison)
    finally:
        close = getattr(provider, "aclose", None)
        if close is not None:
            await close()


async def test_the_fixed_and_configured_lists() -> None:
    openai = await OpenAIVoice(OpenAIConfig(voice="nova"), DEPS).voices()
    assert openai.offers("Alloy") and openai.offers("cedar") and not openai.offers("en-us")
    assert openai.examples == ("nova", "alloy")
    se = await StreamElementsVoice(StreamElementsConfig(), DEPS).voices()
    assert se.offers("brian") and se.offers("Geraint") and not se.offers("alloy")
    coqui = await CoquiVoice(CoquiConfig(url="http://127.0.0.1:1", speaker="p225", voices=("Ana Florence",)),
                             DEPS).voices()
    assert coqui.offers("p225") and coqui.offers("ana florence") and not coqui.offers("p226")
    assert not (await CoquiVoice(CoquiConfig(), DEPS).voices()).names  # no list: no name can be picked
