"""The offline classes honour the provider contract and the registry finds them."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

import providers.offline
from providers.base import ImageMaker, ScriptWriter, Stage, Tier, VoiceMaker, ProviderDeps
from providers.config import ProviderConfig
from providers.offline import OfflineConfig, OfflineImageMaker, OfflineScriptWriter, OfflineVoice
from providers.registry import classes_for, config_classes

CLASSES = [(OfflineScriptWriter, Stage.SCRIPT, ScriptWriter), (OfflineImageMaker, Stage.IMAGE, ImageMaker),
           (OfflineVoice, Stage.VOICE, VoiceMaker)]


def test_exports() -> None:
    assert set(providers.offline.__all__) >= {
        "OfflineConfig", "OfflineScriptWriter", "OfflineImageMaker", "OfflineVoice"}
    for name in providers.offline.__all__:
        assert getattr(providers.offline, name)


@pytest.mark.parametrize(("cls", "stage", "protocol"), CLASSES)
def test_class_attributes_and_protocol(cls: type, stage: Stage, protocol: type) -> None:
    assert cls.name == "offline" and cls.tier is Tier.OFFLINE
    assert cls.stages == frozenset({stage}) and cls.config_class is OfflineConfig
    provider = cls(OfflineConfig(), ProviderDeps(None, time.monotonic, Path(".")))
    assert isinstance(provider, protocol)
    assert provider.secrets() == ()
    assert classes_for(stage)["offline"] is cls


def test_config_is_frozen_with_defaults_and_always_configured() -> None:
    config = OfflineConfig()
    assert issubclass(OfflineConfig, ProviderConfig)
    assert config.configured() and config.secrets() == ()
    assert all(f.default is not dataclasses.MISSING for f in dataclasses.fields(OfflineConfig))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.voice = "x"  # type: ignore[misc]
    assert config_classes()["offline"] is OfflineConfig
