"""Coqui TTS `tts-server`: the self-hosted voice (`/api/tts`).

Wire facts (DOSSIER §3): `/api/tts` reads `text`, `speaker_id`, `language_id`, `style_wav` from
headers or from the query string / **form body** — a JSON body is not read. It answers `audio/wav`.
Errors differ by server: the maintained fork (`coqui-tts`) answers 400/500 with `{"error": ...}`;
the archived coqui-ai/TTS 0.22 answers an HTML 500 page for everything. There are no word timings,
so `words` is None and subtitles fall back to proportional timing.

The WAV is rewritten as 16-bit PCM mono (the pipeline's validator and renderer expect that),
whatever sample format the server produced (float32, 24/32-bit, stereo).
"""

from __future__ import annotations

import asyncio
import io
import os
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import numpy as np

from providers._http import base_url, error_for_status, json_error_text, read_bounded, transport_errors
from providers.base import ProviderDeps, Stage, StageContext, Tier, VoiceRequest, VoiceResult
from providers.config import ProviderConfig
from providers.errors import BadOutput, Misconfigured, ProviderError, Unavailable

__all__ = ["CoquiConfig", "CoquiVoice", "to_pcm16_mono"]

MAX_AUDIO_BYTES = 100_000_000


@dataclass(frozen=True)
class CoquiConfig(ProviderConfig):
    """`[providers.coqui]`. Enabled when `url` is set (or COQUI_SERVER)."""

    env: ClassVar[dict[str, str]] = {"url": "COQUI_SERVER"}

    url: str = ""  # e.g. "http://gpu-box:5002"; "" = not used
    speaker: str = ""  # speaker_id for multi-speaker models (e.g. XTTS "Ana Florence"); "" = server default
    voices: tuple[str, ...] = ()  # speaker ids a job may pick with its voice option; others use `speaker`
    language: str = ""  # language_id for multilingual models; "job" = the video's language; "" = not sent
    style_wav: str = ""  # a server-side .wav path or a JSON dict of GST weights; "" = not sent
    timeout_s: float = 120.0  # one synthesis; CPU synthesis of a long line takes a while
    connect_timeout_s: float = 5.0
    probe_timeout_s: float = 2.0

    def configured(self) -> bool:
        return bool(self.url.strip())


class CoquiVoice:
    """Speaks one scene's narration through a Coqui `tts-server`."""

    name: ClassVar[str] = "coqui"
    tier: ClassVar[Tier] = Tier.SELF_HOSTED
    stages: ClassVar[frozenset[Stage]] = frozenset({Stage.VOICE})
    config_class: ClassVar[type] = CoquiConfig
    gpu_heavy: ClassVar[bool] = False  # small next to diffusion; runs alongside the voice concurrency

    def __init__(self, config: CoquiConfig, deps: ProviderDeps) -> None:
        self.config = config
        self.deps = deps
        self.url = base_url(config.url)

    def secrets(self) -> tuple[str, ...]:
        return self.config.secrets()

    @property
    def _session(self) -> aiohttp.ClientSession:
        if self.deps.session is None:
            raise Unavailable("no HTTP session", provider=self.name)
        return self.deps.session

    def _form(self, request: VoiceRequest) -> dict[str, str]:
        c = self.config
        form = {"text": request.text}
        speaker = request.voice if request.voice and request.voice in c.voices else c.speaker
        if speaker:
            form["speaker_id"] = speaker
        language = request.language if c.language == "job" else c.language
        if language:
            form["language_id"] = language
        if c.style_wav:
            form["style_wav"] = c.style_wav
        return form

    async def speak(self, request: VoiceRequest, ctx: StageContext) -> VoiceResult:
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s, sock_connect=self.config.connect_timeout_s)
        # Form-encoded POST: the server reads query or form values, never JSON; a form body has no
        # URL-length limit for long narration.
        with transport_errors(self.name, "Coqui /api/tts"):
            async with self._session.post(f"{self.url}/api/tts", data=self._form(request), timeout=timeout) as resp:
                raw = await read_bounded(resp, MAX_AUDIO_BYTES, self.name, "Coqui's audio")
                status, headers = resp.status, resp.headers
        if status != 200:
            raise self._error(status, raw, headers)
        try:
            pcm, rate = await asyncio.to_thread(to_pcm16_mono, raw)
        except ValueError as exc:
            raise BadOutput(f"Coqui's answer is not usable WAV audio: {exc}", provider=self.name) from None
        request.out_dir.mkdir(parents=True, exist_ok=True)
        path = request.out_dir / f"coqui_{request.scene_index:02d}.wav"
        await asyncio.to_thread(_write_wav, path, pcm, rate)
        return VoiceResult(path=path, duration_s=round(len(pcm) / rate, 3), words=None)

    def _error(self, status: int, raw: bytes, headers: Any) -> ProviderError:
        message = json_error_text(raw)
        is_json = raw.lstrip().startswith(b"{")
        if status == 400 and is_json:  # fork: "Text parameter is required"
            return BadOutput(f"Coqui refused the text: {message}", provider=self.name, status=status)
        if status == 500 and is_json:  # fork: "TTS synthesis failed: ..."
            if "speaker" in message.lower():
                return Misconfigured(message, provider=self.name, status=status,
                                     hint="the model is multi-speaker: set providers.coqui.speaker")
            if "language" in message.lower():
                return Misconfigured(message, provider=self.name, status=status,
                                     hint="the model is multilingual: set providers.coqui.language")
            return BadOutput(message, provider=self.name, status=status)
        if status == 500:  # the archived server's HTML page says nothing; its log has the reason
            return Unavailable(f"HTTP 500 from Coqui ({message or 'Internal Server Error'}); "
                               "see the tts-server log", provider=self.name, status=status)
        return error_for_status(status, message, self.name, headers)

    async def probe(self) -> dict[str, Any]:
        """GET / (the demo page) and /details where the server has it."""
        timeout = aiohttp.ClientTimeout(total=self.config.probe_timeout_s)
        with transport_errors(self.name, "Coqui /"):
            async with self._session.get(f"{self.url}/", timeout=timeout) as resp:
                await read_bounded(resp, 1_000_000, self.name, "/")
                if resp.status != 200:
                    raise error_for_status(resp.status, f"GET / answered {resp.status}", self.name, resp.headers)
        info: dict[str, Any] = {"speaker": self.config.speaker or "(default)"}
        try:
            with transport_errors(self.name, "Coqui /details"):
                async with self._session.get(f"{self.url}/details", timeout=timeout) as resp:
                    await read_bounded(resp, 1_000_000, self.name, "/details")
                    info["details"] = "available" if resp.status == 200 else f"HTTP {resp.status}"
        except ProviderError as exc:
            info["details"] = exc.message
        return info


# ---------------------------------------------------------------------------- WAV


def to_pcm16_mono(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a RIFF WAV of any common sample format into int16 mono samples and the rate."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    fmt = None
    payload = None
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            payload = body  # a streamed WAV may claim a larger size than it has: take what is there
            break
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None or len(fmt) < 16:
        raise ValueError("no fmt or data chunk")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # WAVE_FORMAT_EXTENSIBLE: the sub-format
    if channels < 1 or rate < 1000:
        raise ValueError(f"{channels} channels at {rate} Hz")
    width = bits // 8
    usable = len(payload) - len(payload) % (width * channels) if width else 0
    payload = payload[:usable]
    if tag == 3 and bits in (32, 64):
        samples = np.frombuffer(payload, dtype="<f4" if bits == 32 else "<f8").astype(np.float64)
    elif tag == 1 and bits == 8:
        samples = (np.frombuffer(payload, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif tag == 1 and bits == 16:
        samples = np.frombuffer(payload, dtype="<i2").astype(np.float64) / 32768.0
    elif tag == 1 and bits == 24:
        raw = np.frombuffer(payload, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        ints = raw[:, 0] | (raw[:, 1] << 8) | (raw[:, 2] << 16)
        ints = np.where(ints & 0x800000, ints - 0x1000000, ints)
        samples = ints.astype(np.float64) / 8388608.0
    elif tag == 1 and bits == 32:
        samples = np.frombuffer(payload, dtype="<i4").astype(np.float64) / 2147483648.0
    else:
        raise ValueError(f"unsupported WAV sample format (tag {tag}, {bits}-bit)")
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if samples.size == 0:
        raise ValueError("no audio samples")
    pcm = np.clip(np.nan_to_num(samples) * 32767.0, -32768, 32767).astype("<i2")
    return pcm, rate


def _write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
