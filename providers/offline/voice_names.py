"""eSpeak NG's voice names: the strict allow-list between a requested voice and native code.

`espeak_SetVoiceByName` copies the name it is given into `static char buf[60]`, and a "+variant"
into `static char variant_name[40]` after a "!v/" prefix (with sprintf: the overflow glibc aborts
on). Some names crash it outright ("!v/m1": a variant file loaded as a voice). So no requested name
is ever handed to it. `VoiceAllowList` is built from the library's own lists and maps a request,
case-insensitively, to the identifier the library listed:

    "en-us", "EN-GB", "en", "zh"     a language a voice serves (the lowest priority number wins)
    "gmw/en-US"                      a voice's identifier
    "English (America)"              a voice's name
    any of those + "+f3", "+Annie"   one of its variants, by file name or name ("+Mr_Serious")

and refuses everything else, and anything that would not fit those buffers. Pure Python: the
lists come from `espeak.Espeak` (in the child process).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["VoiceInfo", "VoiceLists", "VoiceAllowList", "MAX_VOICE_CHARS", "VARIANT_PREFIX"]

VARIANT_PREFIX = "!v/"
NAME_BUFFER_BYTES = 60  # espeak_ng_SetVoiceByName: static char buf[60]
VARIANT_BUFFER_BYTES = 40 - len(VARIANT_PREFIX)  # ExtractVoiceVariantName: static char variant_name[40]
MAX_VOICE_CHARS = 64  # longer requests are refused before any lookup (the API's limit too)


@dataclass(frozen=True)
class VoiceInfo:
    name: str  # "English (America)"
    language: str  # "en-us": its first language
    identifier: str  # "gmw/en-US"; a variant's is "!v/f3"
    languages: tuple[tuple[int, str], ...] = ()  # every (priority, language) it serves; lower wins


@dataclass(frozen=True)
class VoiceLists:
    """What a caller may ask for, lower-cased: voices (by language, identifier or name), variants
    (by file name or name, after a "+")."""

    voices: frozenset[str]
    variants: frozenset[str]


def _fits(spec: str, limit: int = NAME_BUFFER_BYTES) -> bool:
    """Shorter than eSpeak's buffer (room for the NUL), and no NUL of its own."""
    data = spec.encode("utf-8")
    return 0 < len(data) < limit and b"\0" not in data


class VoiceAllowList:
    def __init__(self, voices: Iterable[VoiceInfo], variants: Iterable[VoiceInfo]) -> None:
        best: dict[str, tuple[int, int, str]] = {}  # alias -> (priority, order, identifier)
        for order, info in enumerate(voices):
            if info.identifier.startswith("mb/") or not _fits(info.identifier):  # MBROLA needs a binary
                continue
            for priority, alias in ((0, info.identifier), (0, info.name), *info.languages):
                key = alias.strip().lower()
                if key and (key not in best or (priority, order) < best[key][:2]):
                    best[key] = (priority, order, info.identifier)
        self._voices = {key: identifier for key, (_, _, identifier) in best.items()}
        self._variants: dict[str, str] = {}
        for info in variants:
            file_name = info.identifier.removeprefix(VARIANT_PREFIX)
            if info.identifier.startswith(VARIANT_PREFIX) and _fits(file_name, VARIANT_BUFFER_BYTES):
                for alias in (file_name, info.name):
                    if alias.strip():
                        self._variants.setdefault(alias.strip().lower(), file_name)

    def resolve(self, name: str) -> str | None:
        """The exact string to give `espeak_SetVoiceByName` for `name`, built only from what the
        library listed; None when `name` is not one of its voices (optionally + a variant)."""
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_VOICE_CHARS:
            return None
        base, plus, variant = name.strip().lower().partition("+")
        identifier = self._voices.get(base)
        if identifier is None:
            return None
        if not plus:
            return identifier
        file_name = self._variants.get(variant)
        if file_name is None:
            return None
        spec = f"{identifier}+{file_name}"
        return spec if _fits(spec) else None

    def lists(self) -> VoiceLists:
        return VoiceLists(frozenset(self._voices), frozenset(self._variants))
