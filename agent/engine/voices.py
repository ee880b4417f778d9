"""Which voice a job may ask for: one that a provider of its route's voice cascade offers.

Each voice provider says what it accepts (`VoiceMaker.voices()`): the offline tier eSpeak's own
voices and variants (listed by the library, in its child process), OpenAI its documented list,
Coqui and StreamElements the lists in their config. A name that no provider of the route offers is
refused at the door, with a few names that work: the API answers 400 `invalid_input` (field
`voice`), `reelbot make` exits 2, and the chat bots show the message. "" means each provider's
default voice and is always accepted.

A provider that cannot say (its list is unavailable right now, or it has no `voices()`) offers
nothing: a voice it alone would have taken is refused rather than let through unchecked.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence

from agent.engine.backends import Backends
from agent.engine.routes import RoutePlan
from agent.engine.validation import InvalidInput
from providers.base import Stage, VoiceCatalog, VoiceMaker
from providers.errors import ProviderError

__all__ = ["MAX_VOICE_CHARS", "check_voice", "check_route_voice", "route_voice_providers", "route_voice_examples"]

log = logging.getLogger(__name__)

MAX_VOICE_CHARS = 64  # agent.service.api refuses longer options.voice before this check
MAX_EXAMPLES = 8  # voices named in a refusal, at most
EXAMPLES_PER_PROVIDER = 3  # so each provider of the route gets a word in
MAX_SHOWN_CHARS = 40  # of a refused name, quoted back in the message


def route_voice_providers(plan: RoutePlan, backends: Backends) -> list[VoiceMaker]:
    """The configured voice providers of `plan`, in cascade order."""
    return backends.for_stage(Stage.VOICE, plan.orders.get(Stage.VOICE))


async def _catalog(provider: object) -> VoiceCatalog | None:
    voices = getattr(provider, "voices", None)
    if voices is None:
        return None
    try:
        catalog = await voices()
    except ProviderError as exc:
        log.warning("voice check: %s cannot list its voices: %s", getattr(provider, "name", "?"), exc)
        return None
    return catalog if isinstance(catalog, VoiceCatalog) else None


def _shown(voice: str) -> str:
    clean = "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else "?" for ch in voice)
    return clean if len(clean) <= MAX_SHOWN_CHARS else clean[: MAX_SHOWN_CHARS - 1] + "…"


async def check_voice(voice: str, providers: Sequence[object]) -> str:
    """`voice`, trimmed, when a provider of `providers` offers it ("" always passes); else
    InvalidInput(field="voice") whose message names a few voices that would work."""
    voice = voice.strip()
    if not voice:
        return ""
    examples: list[str] = []
    if len(voice) <= MAX_VOICE_CHARS:
        for provider in providers:
            catalog = await _catalog(provider)
            if catalog is None:
                continue
            if catalog.offers(voice):
                return voice
            examples.extend(e for e in catalog.examples[:EXAMPLES_PER_PROVIDER] if e not in examples)
    examples = examples[:MAX_EXAMPLES]
    if not examples:
        raise InvalidInput(f"there is no voice called '{_shown(voice)}' here, and this model has no voices "
                           "to pick from (leave the voice out for the default one)", field="voice")
    raise InvalidInput(f"there is no voice called '{_shown(voice)}' here; voices you can pick include "
                       f"{', '.join(examples)} (or leave the voice out for the default one)", field="voice")


async def check_route_voice(voice: str, plan: RoutePlan, backends: Backends) -> str:
    """`check_voice` against the voice cascade of `plan`."""
    return await check_voice(voice, route_voice_providers(plan, backends))


async def route_voice_examples(plan: RoutePlan, backends: Backends, limit: int = 6) -> list[str]:
    """A few voices the voice cascade of `plan` offers (each provider's examples, in cascade order):
    what a person may pick for "Other voice"."""
    names: list[str] = []
    for provider in route_voice_providers(plan, backends):
        catalog = await _catalog(provider)
        if catalog is not None:
            names.extend(e for e in catalog.examples if e not in names)
    return names[:limit]
