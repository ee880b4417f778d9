"""The soundtrack: scene narrations placed at their scene starts, plus optional ducked music.

Mixing is plain numpy at 48 kHz stereo: the narration goes where the timeline says, the music is
looped/trimmed by ffmpeg's decoder, faded at both ends, and ducked by a gain envelope computed from
the voice (attack fast, release slow) so it sits under the speech and swells in the gaps.
"""

from __future__ import annotations

import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.engine.render.errors import InputError
from agent.engine.render.ffmpeg import ProcessSet

__all__ = ["RATE", "read_audio", "narration_track", "duck_envelope", "mix_music", "write_wav"]

RATE = 48_000
DUCK_DB = 10.0  # how far the music dips while the voice speaks
VOICE_GATE_DB = -40.0  # voice frames above this RMS count as speech
MUSIC_FADE_S = 1.5


def _wave_mono(path: Path) -> tuple[np.ndarray, int] | None:
    """PCM WAV via the stdlib (fast path); None when it is not plain PCM."""
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate, n = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError):
        return None
    if width == 2:
        data = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        data = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    elif width == 1:
        data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        return None
    return data.reshape(-1, channels).mean(axis=1), rate


def _ffmpeg_decode(path: Path, procs: ProcessSet, channels: int, max_s: float | None, loop: bool) -> np.ndarray:
    args = ["-v", "error", *(["-stream_loop", "-1"] if loop else []), "-i", str(path), "-vn",
            *(["-t", f"{max_s:.3f}"] if max_s else []),
            "-f", "f32le", "-ac", str(channels), "-ar", str(RATE), "pipe:1"]
    proc = procs.popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        procs.release(proc)
    if proc.returncode != 0 or not out:
        raise InputError(f"cannot decode audio {path}: {err.decode('utf-8', 'replace')[-300:]}")
    return np.frombuffer(out, np.float32).reshape(-1, channels)


def read_audio(path: Path, procs: ProcessSet) -> np.ndarray:
    """Mono float32 at RATE from any audio file (stdlib for PCM WAV, ffmpeg otherwise)."""
    if not Path(path).is_file():
        raise InputError(f"no such audio file: {path}")
    got = _wave_mono(path)
    if got is None:
        return _ffmpeg_decode(path, procs, 1, None, loop=False)[:, 0].copy()
    data, rate = got
    if rate != RATE and len(data):
        t_out = np.arange(round(len(data) * RATE / rate)) / RATE
        data = np.interp(t_out, np.arange(len(data)) / rate, data).astype(np.float32)
    return data


def narration_track(voices: Sequence[np.ndarray], starts_s: Sequence[float], total_s: float) -> np.ndarray:
    """Mono track of `total_s` with voice i starting at starts_s[i] (cut where the video ends)."""
    track = np.zeros(round(total_s * RATE), np.float32)
    for voice, start in zip(voices, starts_s, strict=True):
        i = round(start * RATE)
        n = max(0, min(len(voice), len(track) - i))
        track[i : i + n] += voice[:n]
    return track


def duck_envelope(voice: np.ndarray, *, window_s: float = 0.02, attack_s: float = 0.08,
                  release_s: float = 0.6) -> np.ndarray:
    """Per-sample 0..1 'voice is speaking' envelope: gated RMS, fast attack, slow release."""
    hop = max(1, round(window_s * RATE))
    n = len(voice) // hop + 1
    padded = np.zeros(n * hop, np.float32)
    padded[: len(voice)] = voice
    rms = np.sqrt(np.mean(padded.reshape(n, hop) ** 2, axis=1) + 1e-12)
    active = (20 * np.log10(rms) > VOICE_GATE_DB).astype(np.float32)
    up, down = window_s / attack_s, window_s / release_s
    env = np.empty(n, np.float32)
    level = 0.0
    for i, a in enumerate(active):  # one step per 20 ms window: a few thousand iterations
        level += (up if a > level else -down) if a != level else 0.0
        level = min(1.0, max(0.0, level))
        env[i] = level
    return np.interp(np.arange(len(voice)), np.arange(n) * hop, env).astype(np.float32)


def mix_music(voice: np.ndarray, music_path: Path, gain_db: float, procs: ProcessSet) -> np.ndarray:
    """Stereo mix: voice centred, music looped/trimmed to length, faded, ducked under the voice."""
    total_s = len(voice) / RATE
    music = _ffmpeg_decode(music_path, procs, 2, total_s, loop=True)
    bed = np.zeros((len(voice), 2), np.float32)
    bed[: len(music)] = music[: len(voice)]
    gain_db_curve = gain_db - DUCK_DB * duck_envelope(voice)
    gain = (10.0 ** (gain_db_curve / 20.0))[:, None]
    fade = min(round(MUSIC_FADE_S * RATE), len(voice) // 3)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)[:, None]
        bed[:fade] *= ramp
        bed[len(bed) - fade :] *= ramp[::-1]
    return bed * gain + voice[:, None]


def write_wav(path: Path, samples: np.ndarray) -> None:
    """16-bit PCM WAV at RATE, mono or stereo, soft-limited so nothing wraps."""
    data = samples if samples.ndim == 2 else samples[:, None]
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if peak > 0.99:
        data = data * (0.99 / peak)
    pcm = (np.clip(data, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
