"""The built-in offline provider: the floor of every cascade.

No network, no model weights: a templated storyboard (`storyboard`), Pillow-drawn title art
(`art`) and eSpeak NG narration through ctypes (`espeak`, `voice`), in a child process (`worker`)
so native code can never take the agent down. For valid input it always succeeds, so a job can
finish when every other backend is down.

The classes are imported on first use (PEP 562): the eSpeak child process imports
`providers.offline.espeak` alone, without Pillow and numpy, so it starts quickly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from providers.offline.images import OfflineImageMaker
    from providers.offline.config import OfflineConfig
    from providers.offline.storyboard import OfflineScriptWriter
    from providers.offline.voice import OfflineVoice

__all__ = [
    "OfflineConfig",
    "OfflineScriptWriter",
    "OfflineImageMaker",
    "OfflineVoice",
]

_WHERE = {
    "OfflineConfig": "providers.offline.config",
    "OfflineScriptWriter": "providers.offline.storyboard",
    "OfflineImageMaker": "providers.offline.images",
    "OfflineVoice": "providers.offline.voice",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
