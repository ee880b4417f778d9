"""One scriptable fake HTTP server on 127.0.0.1 for every cloud service, plus media makers.

Routes are `(METHOD, path)`; `enqueue()` adds the next answers for a route (a `web.Response`, or a
function of the request returning one, sync or async); `default()` answers once the queue is empty.
Every request is recorded (method, path, query, headers, body, multipart form) in `history`.
Bodies mirror the real services' shapes; most come verbatim from the dossier's fixtures (a copy of
`shared/api/fixtures` lives beside this file so the suite runs from a clean clone).
"""

from __future__ import annotations

import inspect
import io
import json
import math
import struct
import subprocess
import wave
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from PIL import Image, ImageDraw

from tests.support.servers import LocalServer, start_server

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


# a valid four-scene script, as an OpenAI-compatible chat model would send it
SCRIPT = {"title": "Cats in Space", "scenes": [
    {"narration": f"Scene {i} narration about cats.", "visual": f"a cat floating {i}", "key_phrase": "cats float"}
    for i in range(4)]}


def chat_answer(content: str, **message: Any) -> web.Response:
    """An OpenAI chat completion whose message says `content` (plus any extra message fields)."""
    body = fixture("openai_chat_completion.json")
    body["choices"][0]["message"]["content"] = content
    body["choices"][0]["message"].update(message)
    return json_response(body)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


class FakeCloud:
    def __init__(self) -> None:
        self.queues: dict[tuple[str, str], deque[Any]] = defaultdict(deque)
        self.defaults: dict[tuple[str, str], Any] = {}
        self.prefixed: list[tuple[str, str, deque[Any]]] = []  # (method, path prefix, answers)
        self.history: list[Seen] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self.base = ""
        self._server: LocalServer | None = None

    def enqueue(self, method: str, path: str, *answers: Any) -> FakeCloud:
        self.queues[(method, path)].extend(answers)
        return self

    def enqueue_prefix(self, method: str, prefix: str, *answers: Any) -> FakeCloud:
        """Answers for any path under `prefix` (Pollinations puts the prompt in the path)."""
        self.prefixed.append((method, prefix, deque(answers)))
        return self

    def default(self, method: str, path: str, answer: Any) -> FakeCloud:
        self.defaults[(method, path)] = answer
        return self

    def calls(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        return [s for s in self.history if (method is None or s.method == method)
                and (path is None or s.path == path)]

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    async def start(self) -> None:
        self._server = await start_server(self.app, shutdown_timeout_s=0.2)
        self.base = self._server.url

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form: dict[str, str] = {}
        body = b""
        if request.content_type.startswith("multipart/"):
            form = {k: str(v) for k, v in (await request.post()).items()}
        else:
            body = await request.read()
        seen = Seen(request.method, request.path, dict(request.query), dict(request.headers), body, form)
        self.history.append(seen)
        key = (request.method, request.path)
        if self.queues[key]:
            answer = self.queues[key].popleft()
        elif key in self.defaults:
            answer = self.defaults[key]
        elif queue := next((q for m, p, q in self.prefixed if m == request.method
                            and request.path.startswith(p) and q), None):
            answer = queue.popleft()
        else:
            return json_response({"error": {"message": f"no fake route {key}", "code": "fake"}}, 404)
        if callable(answer):
            answer = answer(seen)
            if inspect.isawaitable(answer):
                answer = await answer
        if isinstance(answer, web.Response):  # a Response can be sent once: answer with a copy
            answer = web.Response(body=answer.body, status=answer.status,
                                  headers={k: v for k, v in answer.headers.items() if k.lower() != "content-length"})
        return answer


# ---------------------------------------------------------------------------- media


def png_bytes(width: int = 256, height: int = 448, hue: int = 0) -> bytes:
    img = Image.new("RGB", (width, height), (20 + hue % 200, 40, 90))
    draw = ImageDraw.Draw(img)
    for k in range(0, width, 12):
        draw.line([(k, 0), (width - k, height)], fill=(200, (120 + k + hue) % 255, 60), width=3)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def wav_bytes(seconds: float = 1.5, rate: int = 24000, *, streamed_header: bool = False) -> bytes:
    """A 16-bit mono tone; `streamed_header` sets the RIFF/data sizes to 0xFFFFFFFF as a streamed
    WAV does (its length is unknown when the header is sent)."""
    frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * n / rate)))
                      for n in range(int(seconds * rate)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    data = bytearray(buf.getvalue())
    if streamed_header:
        data[4:8] = b"\xff\xff\xff\xff"
        data[40:44] = b"\xff\xff\xff\xff"
    return bytes(data)


def mp3_bytes(seconds: float = 1.5) -> bytes:
    """A real MP3 (a tone), encoded by the ffmpeg that imageio-ffmpeg ships."""
    from providers.ffmpeg import ffmpeg_exe

    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
         f"sine=frequency=330:duration={seconds}", "-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3", "-"],
        capture_output=True, check=True, timeout=30,
    )
    return proc.stdout


def mp4_bytes(size: int = 4096) -> bytes:
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * (size - 24)


_REAL_MP4: dict[tuple[int, int, float], bytes] = {}


def real_mp4_bytes(width: int = 320, height: int = 568, seconds: float = 1.0) -> bytes:
    """A real H.264 MP4 (a test pattern) made by the shipped ffmpeg: clip makers measure what they get."""
    key = (width, height, seconds)
    if key not in _REAL_MP4:
        import tempfile

        from providers.ffmpeg import ffmpeg_exe

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "clip.mp4"
            subprocess.run(
                [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                 f"testsrc=size={width}x{height}:rate=8:duration={seconds}", "-c:v", "libx264", "-preset",
                 "ultrafast", "-pix_fmt", "yuv420p", str(out)],
                capture_output=True, check=True, timeout=60,
            )
            _REAL_MP4[key] = out.read_bytes()
    return _REAL_MP4[key]
