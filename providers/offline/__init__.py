"""The built-in offline provider: the floor of every cascade.

No network, no model weights: a templated storyboard (`storyboard`), Pillow-drawn title art
(`images`, drawn by `art`) and eSpeak NG narration through ctypes (`espeak`, `voice`). For valid
input it always succeeds, so a job can finish when every other backend is down.
"""

from providers.offline.images import OfflineImageMaker
from providers.offline.config import OfflineConfig
from providers.offline.espeak import list_voices
from providers.offline.storyboard import OfflineScriptWriter
from providers.offline.voice import OfflineVoice

__all__ = [
    "OfflineConfig",
    "OfflineScriptWriter",
    "OfflineImageMaker",
    "OfflineVoice",
    "list_voices",
]
