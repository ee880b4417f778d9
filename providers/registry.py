"""The flat list of provider classes, and lookups over it.

Every provider class has class attributes `name` (its config key, shared by the classes of one
backend), `tier`, `stages` and `config_class`, and is built as `cls(config, deps)`. Adding a
backend means adding its classes here; nothing else branches on a backend's name.

Every class listed is checked against the contract of each stage it declares when this module is
imported (`providers.contract`): a class that forgot a method stops the process at start-up with a
`ContractError` naming it, instead of failing every item of its stage at run time.
"""

from __future__ import annotations

from providers.base import Provider, Stage
from providers.config import ProviderConfig
from providers.contract import check_provider_class
from providers.offline import OfflineImageMaker, OfflineScriptWriter, OfflineVoice
from providers.comfyui import ComfyClipMaker, ComfyImageMaker
from providers.coqui import CoquiVoice
from providers.ollama import OllamaScriptWriter
from providers.groq import GroqScriptWriter
from providers.huggingface import HuggingFaceClipMaker, HuggingFaceImageMaker
from providers.compatible import CompatibleScriptWriter
from providers.elevenlabs import ElevenLabsVoice
from providers.fal import FalClipMaker
from providers.luma import LumaClipMaker
from providers.openai import OpenAIImageMaker, OpenAIScriptWriter, OpenAIVoice
from providers.runway import RunwayClipMaker
from providers.pollinations import PollinationsImageMaker, PollinationsScriptWriter
from providers.streamelements import StreamElementsVoice

__all__ = ["PROVIDER_CLASSES", "registered", "classes_for", "config_classes"]


def registered(*classes: type[Provider]) -> tuple[type[Provider], ...]:
    """`classes`, each checked against the contract of every stage it declares (ContractError)."""
    for cls in classes:
        check_provider_class(cls)
    return classes


PROVIDER_CLASSES: tuple[type[Provider], ...] = registered(
    OfflineScriptWriter,
    OfflineImageMaker,
    OfflineVoice,
    # self-hosted
    OllamaScriptWriter,
    ComfyImageMaker,
    ComfyClipMaker,
    CoquiVoice,
    # any OpenAI-compatible server: its tier is the operator's setting
    CompatibleScriptWriter,
    # cloud premium
    OpenAIScriptWriter,
    OpenAIImageMaker,
    OpenAIVoice,
    RunwayClipMaker,
    LumaClipMaker,
    FalClipMaker,
    ElevenLabsVoice,
    # cloud free
    GroqScriptWriter,
    HuggingFaceImageMaker,
    HuggingFaceClipMaker,
    PollinationsScriptWriter,
    PollinationsImageMaker,
    StreamElementsVoice,
)


def classes_for(stage: Stage) -> dict[str, type[Provider]]:
    """name -> the class that serves `stage` under that name."""
    return {cls.name: cls for cls in PROVIDER_CLASSES if stage in cls.stages}


def config_classes() -> dict[str, type[ProviderConfig]]:
    """name -> the config dataclass of that backend (one per name)."""
    out: dict[str, type[ProviderConfig]] = {}
    for cls in PROVIDER_CLASSES:
        existing = out.setdefault(cls.name, cls.config_class)
        if existing is not cls.config_class:
            raise TypeError(f"provider {cls.name!r} has two config classes")
    return out
