"""OpenAI, the premium cloud tier: scripts (chat completions), images (DALL-E / GPT image),
voice (audio/speech) and clips (Sora). One class per stage, sharing one config table."""

from providers.openai.config import OpenAIConfig
from providers.openai.images import OpenAIImageMaker
from providers.openai.script import OpenAIScriptWriter
from providers.openai.speech import OpenAIVoice
from providers.openai.videos import OpenAIClipMaker

__all__ = ["OpenAIConfig", "OpenAIScriptWriter", "OpenAIImageMaker", "OpenAIVoice", "OpenAIClipMaker"]
