"""Encoding in-process with PyAV: frames go from the producer's buffer to the encoder with no copy.

The `av` wheel ships FFmpeg's libraries with libx264, the native AAC encoder and `h264_nvenc`. Each
I420 frame the producer yields is wrapped as an `av.VideoFrame` over the same numpy buffer
(`from_numpy_buffer`, no copy) and sent to the encoder, which copies it into its own picture before
`send` returns (x264's lookahead and NVENC's input surface both do); the producer then draws the next
frame into the same buffer. x264 encodes on its own threads while this thread draws; PyAV releases
the GIL around every libavcodec call, so the event loop is not starved.

Audio: the soundtrack WAV is read in blocks and encoded as AAC, interleaved with the video a little
ahead of it so the muxer never buffers more than a second of either.

What goes in is only what the renderer drew itself and the soundtrack it wrote: untrusted media
(provider clips) is decoded in an ffmpeg child process (agent.engine.render.clips), never here.

Encoders: `x264` (libx264, CRF capped by VBV for the size budget) and `nvenc` (the GPU's H.264
encoder, constant quality capped the same way). `EncoderUnavailable` when one does not open (no GPU,
no driver, out of sessions), `EncoderFailed` when it fails mid-stream: the render job then encodes
the job again with x264 (agent.engine.render.job).
"""

from __future__ import annotations

import contextlib
import threading
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from agent.choices import Encoder
from agent.engine.render.errors import EncodeError
from agent.engine.render.ffmpeg import Aborted
from agent.engine.render.yuv import Yuv420

__all__ = ["Codec", "x264_codec", "nvenc_codec", "encode_in_process", "EncoderUnavailable", "EncoderFailed"]

AUDIO_BLOCK = 4096  # samples per block read from the WAV
AUDIO_LEAD_S = 0.5  # audio is encoded this far ahead of the video frames

# BT.601 limited range, as cv2's RGB->I420 produces; tagged with BT.709 primaries and transfer (what
# the subprocess path tags too, so players show the same colours either way)
_AVCOL_RANGE_MPEG = 1
_AVCOL_SPC_SMPTE170M = 6
_AVCOL_PRI_BT709 = 1
_AVCOL_TRC_BT709 = 1


class EncoderUnavailable(EncodeError):
    """The encoder would not open (for NVENC: no GPU, no driver, no free session)."""


class EncoderFailed(EncodeError):
    """The encoder opened but failed while encoding."""


@dataclass(frozen=True)
class Codec:
    """One video encoder and its private options (strings, as libavcodec takes them)."""

    kind: Encoder
    name: str  # libavcodec's encoder name
    options: dict[str, str] = field(default_factory=dict)
    thread_type: str | None = None  # libavcodec's thread_type ("FRAME", "SLICE"); None: PyAV's default


def _vbv(maxrate_kbps: float | None) -> dict[str, str]:
    if maxrate_kbps is None:
        return {}
    rate = max(1, int(maxrate_kbps))
    return {"maxrate": f"{rate}k", "bufsize": f"{2 * rate}k"}


def x264_codec(preset: str, crf: int, maxrate_kbps: float | None) -> Codec:
    """libx264 at `preset`/`crf`, capped by VBV when a size budget applies."""
    if preset == "ultrafast":
        raise ValueError("ultrafast makes files 5-6x larger; use veryfast or slower")
    # Frame threads, as the ffmpeg CLI uses: PyAV defaults every codec to SLICE, which libavcodec's
    # libx264 wrapper turns into x264's sliced threads, where each encode call blocks until its frame
    # is coded, so drawing and encoding take turns instead of overlapping (20 s bench: wall 1.42 ->
    # 1.18 x the floor, the same bytes). Costs a few frames in flight (x264's frame threads).
    options = {"preset": preset, "crf": str(crf), **_vbv(maxrate_kbps)}
    return Codec(Encoder.X264, "libx264", options, thread_type="FRAME")


def nvenc_codec(crf: int, maxrate_kbps: float | None) -> Codec:
    """h264_nvenc, constant quality near x264's `crf`, capped by the same VBV when a budget applies.

    p5 is NVENC's "slow" preset: on any NVENC GPU it still runs several times faster than real time
    at 1080x1920, and its quality per bit is close to x264 veryfast."""
    options = {"preset": "p5", "tune": "hq", "rc": "vbr", "cq": str(crf), "b": "0", **_vbv(maxrate_kbps)}
    return Codec(Encoder.NVENC, "h264_nvenc", options)


def _open_video(container: Any, codec: Codec, width: int, height: int, fps: int) -> Any:
    stream = container.add_stream(codec.name, rate=fps, options=dict(codec.options))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    ctx = stream.codec_context
    ctx.time_base = Fraction(1, fps)
    ctx.color_range, ctx.colorspace = _AVCOL_RANGE_MPEG, _AVCOL_SPC_SMPTE170M
    ctx.color_primaries, ctx.color_trc = _AVCOL_PRI_BT709, _AVCOL_TRC_BT709
    if codec.thread_type is not None:
        ctx.thread_type = codec.thread_type
    try:
        ctx.open()  # here, not at the first frame, so "does not open" is told apart from "failed"
    except (av.FFmpegError, ValueError) as exc:
        raise EncoderUnavailable(f"{codec.name} does not open: {exc}") from exc
    return stream


class _Soundtrack:
    """The soundtrack WAV, encoded as AAC block by block as the video advances."""

    def __init__(self, container: Any, wav: Path, kbps: int) -> None:
        self._wav = wave.open(str(wav), "rb")
        if self._wav.getsampwidth() != 2:
            raise EncodeError(f"{wav.name}: the soundtrack must be 16-bit PCM")
        self.rate, self.channels = self._wav.getframerate(), self._wav.getnchannels()
        self.stream = container.add_stream("aac", rate=self.rate, layout="stereo" if self.channels == 2 else "mono")
        self.stream.bit_rate = kbps * 1000
        self._layout = "stereo" if self.channels == 2 else "mono"
        self._pts = 0
        self.done = False

    def packets_until(self, t_s: float) -> list[Any]:
        """Encode the audio up to `t_s` seconds; the packets to mux."""
        packets: list[Any] = []
        while not self.done and self._pts < t_s * self.rate:
            data = self._wav.readframes(AUDIO_BLOCK)
            if not data:
                self.done = True
                packets += self.stream.encode(None)
                break
            pcm = np.frombuffer(data, "<i2").reshape(1, -1)  # packed s16: one row of interleaved samples
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=self._layout)
            frame.sample_rate, frame.pts, frame.time_base = self.rate, self._pts, Fraction(1, self.rate)
            self._pts += pcm.shape[1] // self.channels
            packets += self.stream.encode(frame)
        return packets

    def close(self) -> None:
        self._wav.close()


def encode_in_process(
    frames: Iterable[Yuv420],
    *,
    width: int,
    height: int,
    fps: int,
    out: Path,
    codec: Codec,
    audio: Path | None,
    audio_kbps: int,
    aborted: threading.Event,
    on_frame: Callable[[int], None] = lambda n: None,
) -> None:
    """Encode every frame (+ `audio`) into the MP4 `out` (faststart).

    Raises EncoderUnavailable (did not open), EncoderFailed (failed mid-stream), Aborted (`aborted`
    was set), EncodeError (anything else the muxer refuses). A failed or aborted encode removes `out`.
    """
    ok = False
    try:
        with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            video = _open_video(container, codec, width, height, fps)
            sound = _Soundtrack(container, audio, audio_kbps) if audio is not None else None
            try:
                n = 0
                for frame in frames:
                    if aborted.is_set():
                        raise Aborted()
                    picture = av.VideoFrame.from_numpy_buffer(frame.buf, format="yuv420p")
                    picture.pts = n
                    try:
                        container.mux(video.encode(picture))
                    except av.FFmpegError as exc:
                        raise EncoderFailed(f"{codec.name} failed at frame {n}: {exc}") from exc
                    n += 1
                    if sound is not None:
                        container.mux(sound.packets_until(n / fps + AUDIO_LEAD_S))
                    on_frame(n)
                try:
                    container.mux(video.encode(None))
                except av.FFmpegError as exc:
                    raise EncoderFailed(f"{codec.name} failed at the end: {exc}") from exc
                if sound is not None:
                    container.mux(sound.packets_until(float("inf")))
            finally:
                if sound is not None:
                    sound.close()
        ok = True
    except (EncodeError, Aborted):
        raise
    except (av.FFmpegError, OSError) as exc:
        raise EncodeError(f"writing {out.name} failed: {exc}") from exc
    finally:
        if not ok:
            with contextlib.suppress(FileNotFoundError):
                out.unlink()
