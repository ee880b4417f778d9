"""The offline provider's settings: the `[providers.offline]` table of config.toml.

Every field has a default, and the offline provider is always configured: it is the floor of
every cascade, so it must work on a fresh machine with no table at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from providers.config import ProviderConfig

__all__ = ["OfflineConfig"]


@dataclass(frozen=True)
class OfflineConfig(ProviderConfig):
    voice: str = "en-us"  # eSpeak NG voice name, optionally with a variant: "en-us+f3"
    words_per_minute: int = 165  # eSpeak rate, 80..450
    pitch: int = 45  # base pitch, 0..100 (50 is eSpeak's normal)
    pitch_range: int = 60  # intonation range, 0..100 (0 is monotone)
    volume: int = 100  # 0..200; above 100 may clip
    grain: float = 0.035  # film grain strength on offline art, 0 disables it
    synth_timeout_s: float = 30.0  # one scene's synthesis in the eSpeak child; it is killed after this
