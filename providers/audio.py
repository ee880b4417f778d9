"""Audio as the pipeline accepts it: 16-bit mono PCM WAV, whatever a voice backend sent.

One WAV reader (`to_pcm16_mono`) decodes any common RIFF sample format (8/16/24/32-bit integer,
32/64-bit float, stereo, WAVE_FORMAT_EXTENSIBLE, a streamed header whose sizes are bogus) with numpy;
one writer (`write_pcm16_wav`) stores the samples atomically. `save_as_pcm_wav` is the whole path for
a voice that may send anything: a WAV that is already clean (16-bit, mono, sizes that match) is kept
byte for byte, another WAV at the target rate (say, a streamed WAV's bogus header) goes through the
reader, and anything else (MP3, OGG, a WAV to resample) through the ffmpeg binary shipped by
imageio-ffmpeg, in a subprocess with a timeout, so the event loop never blocks.
A backend whose wire format is WAV (Coqui) uses the reader and writer directly: no ffmpeg involved.
numpy is imported by the reader when it runs (in a worker thread), not with this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from providers.children import child_options
from providers.errors import BadOutput
from providers.ffmpeg import ffmpeg_exe
from providers.media import atomic_file, write_atomic

if TYPE_CHECKING:
    import numpy as np

__all__ = ["to_pcm16_mono", "write_pcm16_wav", "save_as_pcm_wav", "wav_duration_s"]

MAX_FFMPEG_S = 60.0


@dataclass(frozen=True)
class _Wav:
    tag: int  # 1 = integer PCM, 3 = IEEE float (the sub-format of WAVE_FORMAT_EXTENSIBLE)
    channels: int
    rate: int
    bits: int
    payload: bytes  # the sample bytes that are there
    complete: bool  # the data chunk holds as many bytes as its header says


def _parse_wav(data: bytes) -> _Wav:
    """The format and samples of a RIFF WAV; ValueError when it is not one."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    fmt = None
    payload = None
    complete = False
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if cid == b"fmt ":
            fmt = body
        elif cid == b"data":
            payload = body  # a streamed WAV may claim a larger size than it has: take what is there
            complete = len(body) == size
            break
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None or len(fmt) < 16:
        raise ValueError("no fmt or data chunk")
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
    if tag == 0xFFFE and len(fmt) >= 26:
        tag = struct.unpack("<H", fmt[24:26])[0]  # WAVE_FORMAT_EXTENSIBLE: the sub-format
    return _Wav(tag, channels, rate, bits, payload, complete)


def _is_clean(wav: _Wav) -> bool:
    return (wav.tag == 1 and wav.bits == 16 and wav.channels == 1 and wav.complete
            and len(wav.payload) >= 2 and len(wav.payload) % 2 == 0)


def to_pcm16_mono(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a RIFF WAV of any common sample format into int16 mono samples and the rate."""
    import numpy as np

    wav = _parse_wav(data)
    tag, channels, rate, bits, payload = wav.tag, wav.channels, wav.rate, wav.bits, wav.payload
    if channels < 1 or rate < 1000:
        raise ValueError(f"{channels} channels at {rate} Hz")
    width = bits // 8
    usable = len(payload) - len(payload) % (width * channels) if width else 0
    payload = payload[:usable]
    if tag == 1 and bits == 16 and channels == 1:
        if not payload:
            raise ValueError("no audio samples")
        return np.frombuffer(payload, dtype="<i2").copy(), rate  # already right: keep it lossless
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


def write_pcm16_wav(path: Path, pcm: np.ndarray | bytes, rate: int) -> float:
    """Write 16-bit mono samples (an int16 array or little-endian bytes) as a WAV, atomically
    (blocking); return the duration in seconds."""
    frames = bytes(pcm) if isinstance(pcm, bytes | bytearray | memoryview) else pcm.astype("<i2").tobytes()
    with atomic_file(path) as fh, wave.open(fh, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return len(frames) // 2 / float(rate)


def wav_duration_s(path: Path) -> float:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())


def _save_wav(data: bytes, out: Path, sample_rate: int) -> float | None:
    """Store a WAV the reader understands: as is when already clean, else converted when it is at
    `sample_rate` already (resampling is ffmpeg's job). None when ffmpeg must do it."""
    try:
        wav = _parse_wav(data)
        if _is_clean(wav):
            write_atomic(out, data)
            return wav_duration_s(out)
        if wav.rate != sample_rate:
            return None
        return write_pcm16_wav(out, *to_pcm16_mono(data))
    except ValueError:
        return None


async def save_as_pcm_wav(data: bytes, out: Path, *, provider: str, sample_rate: int = 24000,
                          timeout_s: float = MAX_FFMPEG_S) -> float:
    """Write `data` (a WAV, or any audio ffmpeg reads) to `out` as 16-bit mono WAV; return its duration."""
    if not data:
        raise BadOutput("the service sent no audio", provider=provider)
    duration = await asyncio.to_thread(_save_wav, data, out, sample_rate)
    if duration is None:
        await _transcode(data, out, provider=provider, sample_rate=sample_rate, timeout_s=timeout_s)
        duration = await asyncio.to_thread(wav_duration_s, out)
    return duration


async def _transcode(data: bytes, out: Path, *, provider: str, sample_rate: int, timeout_s: float) -> None:
    """ffmpeg in a subprocess: any audio to 16-bit mono WAV at `sample_rate`, killed on timeout or cancel."""
    exe = await asyncio.to_thread(ffmpeg_exe)  # the first lookup runs `ffmpeg -version`
    await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
    src = out.with_name(f".{out.name}.src")
    tmp = out.with_name(f".{out.name}.tmp.wav")
    await asyncio.to_thread(src.write_bytes, data)
    try:
        proc = await asyncio.create_subprocess_exec(
            exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
            "-vn", "-ac", "1", "-ar", str(sample_rate), "-c:a", "pcm_s16le", "-f", "wav", str(tmp),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, **child_options(),  # dies with us, even on a kill -9
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
        await asyncio.to_thread(os.replace, tmp, out)
    except TimeoutError:
        raise BadOutput(f"audio conversion took longer than {timeout_s:.0f}s", provider=provider) from None
    finally:
        await asyncio.to_thread(_remove, src, tmp)


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
