"""Turn whatever audio a cloud voice sends (MP3, OGG, a streamed WAV with a bogus header) into the
16-bit mono PCM WAV the pipeline accepts.

A WAV that is already clean (16-bit, mono, a header whose sizes match the bytes) is written as is;
anything else goes through the ffmpeg binary shipped by imageio-ffmpeg, in a subprocess with a
timeout, so the event loop never blocks. Files are written atomically (temp file + rename).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import wave
from pathlib import Path

from providers.errors import BadOutput

__all__ = ["save_as_pcm_wav", "wav_duration_s", "ffmpeg_path"]

MAX_FFMPEG_S = 60.0


@functools.cache
def ffmpeg_path() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _clean_wav(data: bytes) -> bool:
    """True when `data` is a 16-bit mono PCM WAV whose header agrees with its length."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getcomptype() != "NONE":
                return False
            frames = w.getnframes()
            return frames > 0 and len(w.readframes(frames)) == frames * 2
    except (wave.Error, EOFError):
        return False


def wav_duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def save_as_pcm_wav(data: bytes, out: Path, *, provider: str, sample_rate: int = 24000,
                          timeout_s: float = MAX_FFMPEG_S) -> float:
    """Write `data` (any audio ffmpeg reads) to `out` as 16-bit mono WAV; return its duration."""
    if not data:
        raise BadOutput("the service sent no audio", provider=provider)
    out.parent.mkdir(parents=True, exist_ok=True)
    if await asyncio.to_thread(_clean_wav, data):
        await asyncio.to_thread(_write_atomic, out, data)
        return await asyncio.to_thread(wav_duration_s, out)
    src = out.with_name(f".{out.name}.src")
    tmp = out.with_name(f".{out.name}.tmp.wav")
    await asyncio.to_thread(src.write_bytes, data)
    try:
        proc = await asyncio.create_subprocess_exec(
            ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
            "-vn", "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le", "-f", "wav", str(tmp),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(timeout_s):
                _, stderr = await proc.communicate()
        except BaseException:  # timeout or cancellation: never leave ffmpeg running
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        if proc.returncode != 0:
            tail = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise BadOutput(f"audio could not be decoded: {tail[0][:200]}", provider=provider)
        os.replace(tmp, out)
    except TimeoutError:
        raise BadOutput(f"audio conversion took longer than {timeout_s:.0f}s", provider=provider) from None
    finally:
        for leftover in (src, tmp):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return await asyncio.to_thread(wav_duration_s, out)
