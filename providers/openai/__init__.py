"""OpenAI, the premium cloud tier: scripts (chat completions), images (GPT Image) and voice
(audio/speech). One class per stage, sharing one config table. (The Videos API, Sora, was shut
down on 2026-09-24: the `sora` route says so and nothing calls it.)"""

from providers.openai.config import OpenAIConfig
from providers.openai.images import OpenAIImageMaker
from providers.openai.script import OpenAIScriptWriter
from providers.openai.speech import OpenAIVoice

__all__ = ["OpenAIConfig", "OpenAIScriptWriter", "OpenAIImageMaker", "OpenAIVoice"]
