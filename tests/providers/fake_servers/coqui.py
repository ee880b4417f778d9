"""Fake Coqui tts-server: reads text/speaker_id/language_id from headers, query or form (never
JSON), answers audio/wav; fork mode errors are JSON 400/500, legacy mode an HTML 500 page."""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from collections import deque
from typing import Any

from aiohttp import web

LEGACY_500 = (b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n"
              b"<h1>Internal Server Error</h1>\n<p>The server encountered an internal error.</p>\n")


def wav_bytes(seconds: float, rate: int = 22050, sample_format: str = "pcm16", channels: int = 1) -> bytes:
    n = int(seconds * rate)
    values = [0.5 * math.sin(2 * math.pi * 180 * i / rate) for i in range(n)]
    if sample_format == "pcm16":
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(b"".join(struct.pack("<h", int(v * 32767)) * channels for v in values))
        return buf.getvalue()
    # IEEE float32, as soundfile writes when asked for FLOAT
    data = b"".join(struct.pack("<f", v) * channels for v in values)
    fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * 4 * channels, 4 * channels, 32)
    return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt))
            + fmt + b"data" + struct.pack("<I", len(data)) + data)


class FakeCoqui:
    def __init__(self, legacy: bool = False) -> None:
        self.legacy = legacy
        self.multi_speaker = False
        self.sample_format = "pcm16"
        self.behaviour: deque[str] = deque()  # per call: ok | fail | silent | slow | drop
        self.requests: list[dict[str, Any]] = []
        self.hang_probes = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/tts", self.tts)
        app.router.add_get("/", self.root)
        if not self.legacy:
            app.router.add_get("/details", self.details)
        return app

    async def root(self, request: web.Request) -> web.Response:
        if self.hang_probes:
            await asyncio.sleep(3600)
        return web.Response(text="<html><title>TTS engine</title></html>", content_type="text/html")

    async def details(self, request: web.Request) -> web.Response:
        return web.Response(text="<html>model details</html>", content_type="text/html")

    async def tts(self, request: web.Request) -> web.StreamResponse:
        form = await request.post() if request.method == "POST" else {}
        def param(name: str, header: str) -> str:
            return request.headers.get(header) or str(form.get(name, "")) or request.query.get(name, "")
        params = {"text": param("text", "text"), "speaker_id": param("speaker_id", "speaker-id"),
                  "language_id": param("language_id", "language-id"), "content_type": request.content_type}
        self.requests.append(params)
        behaviour = self.behaviour.popleft() if self.behaviour else "ok"
        text = params["text"]
        failing = behaviour == "fail" or not text.strip() or (self.multi_speaker and not params["speaker_id"])
        if failing:
            if self.legacy:
                return web.Response(body=LEGACY_500, status=500, content_type="text/html")
            if not text.strip():
                return web.json_response({"error": "Text parameter is required"}, status=400)
            if self.multi_speaker and not params["speaker_id"]:
                return web.json_response({"error": "TTS synthesis failed:  [!] Looks like you are using a multi-speaker "
                                          "model. You need to define either a `speaker_idx` or a `speaker_wav` to use "
                                          "a multi-speaker model."}, status=500)
            return web.json_response({"error": "TTS synthesis failed: Kernel size can't be greater than actual input size"}, status=500)
        if behaviour == "slow":
            await asyncio.sleep(3600)
        if behaviour == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        seconds = max(0.6, 0.33 * len(text.split()))
        if behaviour == "silent":
            body = wav_bytes(seconds)
            header_len = len(body) - int(seconds * 22050) * 2
            body = body[:header_len] + b"\x00" * (len(body) - header_len)
        else:
            body = wav_bytes(seconds, sample_format=self.sample_format)
        return web.Response(body=body, content_type="audio/wav")
