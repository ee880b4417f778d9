"""The provider contract, over every registered class and every stage it declares.

For each (class, stage): the class implements the stage's protocol (method names, async-ness,
parameters); it has `name`, `tier`, `stages` and `config_class`; its config builds from defaults;
`secrets()` and `probe()` exist as the base requires; built from its default config it is an
instance of the protocol. And a class that declares a stage it does not implement is refused when
it is registered (the registry, `Backends`), with an error naming the class, stage and method.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from agent.engine.backends import Backends
from providers.base import (
    STAGE_PROTOCOLS,
    ImageRequest,
    Provider,
    ProviderDeps,
    Stage,
    StageContext,
    Tier,
    VoiceCatalog,
    VoiceRequest,
    VoiceResult,
)
from providers.config import ProviderConfig
from providers.contract import ContractError, check_provider_class, contract_problems, protocol_methods
from providers.registry import PROVIDER_CLASSES, classes_for, config_classes, registered
from tests.fakes import FakeConfig

CASES = [
    pytest.param(cls, stage, id=f"{cls.__name__}-{stage.value}")
    for cls in PROVIDER_CLASSES
    for stage in sorted(cls.stages, key=list(Stage).index)
]


def _deps(tmp_path: Path) -> ProviderDeps:
    return ProviderDeps(session=None, clock=time.monotonic, data_dir=tmp_path)


def test_every_stage_a_provider_can_serve_has_a_protocol_and_a_provider() -> None:
    assert set(STAGE_PROTOCOLS) == set(Stage) - {Stage.RENDER}
    for stage in STAGE_PROTOCOLS:
        assert classes_for(stage), f"no registered provider serves {stage.value}"


@pytest.mark.parametrize(("cls", "stage"), CASES)
def test_implements_the_protocol_of_each_declared_stage(cls: type[Provider], stage: Stage) -> None:
    protocol = STAGE_PROTOCOLS[stage]
    methods = protocol_methods(protocol)
    assert {"secrets", "probe"} <= set(methods)  # the base's, on every stage's protocol
    for name, expected in methods.items():
        impl = getattr(cls, name, None)
        assert impl is not None and inspect.isfunction(impl), f"{cls.__name__} lacks {name}()"
        assert inspect.iscoroutinefunction(impl) == inspect.iscoroutinefunction(expected), name
        want = list(inspect.signature(expected).parameters)
        have = list(inspect.signature(impl).parameters)
        assert have[: len(want)] == want, f"{cls.__name__}.{name}{inspect.signature(impl)}"
        extra = list(inspect.signature(impl).parameters.values())[len(want):]
        assert all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in extra)
    assert contract_problems(cls) == []


@pytest.mark.parametrize(("cls", "stage"), CASES)
def test_class_attributes(cls: type[Provider], stage: Stage) -> None:
    assert isinstance(cls.name, str) and cls.name.isidentifier()
    assert isinstance(cls.tier, Tier)
    assert isinstance(cls.stages, frozenset) and stage in cls.stages and Stage.RENDER not in cls.stages
    assert issubclass(cls.config_class, ProviderConfig) and dataclasses.is_dataclass(cls.config_class)
    assert config_classes()[cls.name] is cls.config_class
    assert classes_for(stage)[cls.name] is cls


@pytest.mark.parametrize(("cls", "stage"), CASES)
async def test_builds_from_its_default_config(cls: type[Provider], stage: Stage, tmp_path: Path) -> None:
    config = cls.config_class()  # every field has a default: an empty [providers.NAME] table works
    assert all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
               for f in dataclasses.fields(config))
    assert cls.config_class.__dataclass_params__.frozen  # type: ignore[attr-defined]
    provider = cls(config, _deps(tmp_path))
    assert isinstance(provider, STAGE_PROTOCOLS[stage])
    secrets = provider.secrets()
    assert isinstance(secrets, tuple) and all(isinstance(s, str) for s in secrets)
    assert inspect.iscoroutinefunction(provider.probe)


# ---------------------------------------------------------------------------- refused at registration


class _Declared:
    """Attributes and base methods right; what each subclass gets wrong is in its stage method."""

    name: ClassVar[str] = "broken"
    tier: ClassVar[Tier] = Tier.CLOUD_FREE
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VOICE})
    config_class: ClassVar[type] = FakeConfig

    def __init__(self, config: Any, deps: ProviderDeps) -> None:
        self.config = config

    def secrets(self) -> tuple[str, ...]:
        return ()

    async def voices(self) -> VoiceCatalog:
        raise AssertionError

    async def probe(self) -> dict[str, Any]:
        return {}


class VoiceWithoutSpeak(_Declared):
    """The issue's case: declares the voice stage, has no speak()."""


class SyncSpeak(_Declared):
    def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:  # not async
        raise AssertionError


class SpeakMissingContext(_Declared):
    async def speak(self, request: VoiceRequest) -> VoiceResult:
        raise AssertionError


class SpeakRenamedArgument(_Declared):
    async def speak(self, req: VoiceRequest, ctx: StageContext) -> VoiceResult:
        raise AssertionError


class SpeakTakesAnImageRequest(_Declared):
    async def speak(self, request: ImageRequest, ctx: StageContext) -> VoiceResult:
        raise AssertionError


class SpeakWithARequiredExtra(_Declared):
    async def speak(self, request: VoiceRequest, ctx: StageContext, speed: float) -> VoiceResult:
        raise AssertionError


BROKEN = [
    (VoiceWithoutSpeak, "lacks speak()"),
    (SyncSpeak, "speak() must be an async method"),
    (SpeakMissingContext, "cannot be called by position"),
    (SpeakRenamedArgument, "cannot be called by name"),
    (SpeakTakesAnImageRequest, "takes request: ImageRequest, the protocol passes VoiceRequest"),
    (SpeakWithARequiredExtra, "missing a required argument: 'speed'"),
]


@pytest.mark.parametrize(("cls", "problem"), BROKEN, ids=[c.__name__ for c, _ in BROKEN])
def test_a_broken_provider_is_refused_at_registration(cls: type, problem: str, tmp_path: Path) -> None:
    with pytest.raises(ContractError) as info:
        registered(*PROVIDER_CLASSES, cls)  # type: ignore[arg-type]
    message = str(info.value)
    assert isinstance(info.value, TypeError)
    assert cls.__qualname__ in message and "voice stage" in message and problem in message, message
    # Backends (built at start-up from instances) refuses it too, rather than skipping it later.
    with pytest.raises(ContractError, match="voice stage"):
        Backends([cls(FakeConfig(), _deps(tmp_path))], {Stage.VOICE: ("broken",)})


def test_bad_class_attributes_are_refused() -> None:
    class Nameless(_Declared):
        name = ""
        tier = 3  # type: ignore[assignment]
        stages = frozenset({Stage.RENDER})
        config_class = dict

        def __init__(self) -> None:  # the registry builds cls(config, deps)
            pass

        async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
            raise AssertionError

    with pytest.raises(ContractError) as info:
        check_provider_class(Nameless)
    for fragment in ("`name`", "`tier`", "`stages`", "`config_class`", "constructor must take (config, deps)"):
        assert fragment in str(info.value)


def test_a_good_class_passes_and_keyword_friendly_extras_are_allowed() -> None:
    class Fine(_Declared):
        async def speak(self, request: VoiceRequest, ctx: StageContext, *, speed: float = 1.0) -> VoiceResult:
            raise AssertionError

    check_provider_class(Fine)
    assert registered(Fine) == (Fine,)
