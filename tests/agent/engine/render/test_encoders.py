"""The in-process encoder (PyAV) and the choice between the GPU's NVENC and x264.

This machine has no GPU, so NVENC's failures are produced for real where they can be (an NVENC
encoder asked for a GPU that does not exist fails to open, as on a box without a driver) and with a
stream that fails after some frames for the mid-stream case."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import av
import pytest

from agent.choices import Encoder
from agent.engine.render import RenderScene, RenderSpec, render
from agent.engine.render import avencode, job
from agent.engine.render.avencode import Codec, EncoderUnavailable, encode_in_process, x264_codec
from agent.engine.render.probe import decoded_duration, probe
from agent.engine.render.yuv import Yuv420

W, H = 320, 576


def _spec(media, tmp_path: Path, **kw) -> RenderSpec:
    scenes = (
        RenderScene("A cold cloud of gas drifts between the stars.", media("wav", "a0.wav", 1.2), 1.2,
                    image=media("still", "s0.png", (640, 1024), 0)),
        RenderScene("Gravity pulls it together until a star is born.", media("wav", "a1.wav", 1.0), 1.0,
                    image=media("still", "s1.png", (800, 800), 1)),
    )
    defaults = dict(title="Stars", scenes=scenes, out=tmp_path / "out" / "video.mp4", width=W, height=H,
                    title_card_s=0.5, timeout_s=120)
    return RenderSpec(**{**defaults, **kw})


def _missing_gpu(crf: int, maxrate_kbps: float | None) -> Codec:
    """NVENC asked for a GPU no machine has: fails to open everywhere, as on a box without one."""
    return Codec(Encoder.NVENC, "h264_nvenc", {**avencode.nvenc_codec(crf, maxrate_kbps).options, "gpu": "97"})


@pytest.mark.parametrize(("choice", "level"), [(Encoder.NVENC, logging.WARNING), (Encoder.AUTO, logging.INFO)])
async def test_an_nvenc_that_does_not_open_hands_the_job_to_x264(media, tmp_path, monkeypatch, caplog, choice, level):
    monkeypatch.setattr(job, "nvenc_codec", _missing_gpu)
    monkeypatch.setattr(job, "_nvenc_unavailable_logged", False)
    caplog.set_level(logging.INFO, logger=job.__name__)
    spec = _spec(media, tmp_path, encoder=choice)

    result = await render(spec)

    assert result.encoder is Encoder.X264
    info = probe(result.path)
    assert info.video and info.video.codec == "h264" and info.audio
    said = [r for r in caplog.records if "h264_nvenc does not open" in r.getMessage()]
    assert said and said[0].levelno == level and "libx264 instead" in said[0].getMessage()


async def test_auto_says_once_per_process_that_nvenc_does_not_open(media, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(job, "nvenc_codec", _missing_gpu)
    monkeypatch.setattr(job, "_nvenc_unavailable_logged", False)
    caplog.set_level(logging.INFO, logger=job.__name__)
    for name in ("one", "two"):
        await render(_spec(media, tmp_path / name, encoder=Encoder.AUTO))
    assert len([r for r in caplog.records if "does not open" in r.getMessage()]) == 1


async def test_an_encoder_failing_mid_stream_is_replaced_by_x264_for_the_whole_video(media, tmp_path, monkeypatch,
                                                                                   caplog):
    """The GPU encoder dies after 12 frames (driver reset, session lost): the video is encoded again
    from the first frame with x264, complete, and progress never goes back."""
    real_open = avencode._open_video

    class Dying:
        def __init__(self, stream):
            self._stream, self._n = stream, 0

        def encode(self, frame=None):
            self._n += 1
            if frame is not None and self._n > 12:
                raise av.error.ExternalError(-542398533, "nvenc: device lost")
            return self._stream.encode(frame)

    def open_video(container, codec, width, height, fps):
        stream = real_open(container, codec, width, height, fps)
        return Dying(stream) if codec.kind is Encoder.NVENC else stream

    def stand_in(crf, maxrate_kbps):  # x264 standing in for the GPU encoder, which this machine lacks
        return Codec(Encoder.NVENC, "libx264", {"preset": "veryfast", "crf": str(crf)})

    monkeypatch.setattr(avencode, "_open_video", open_video)
    monkeypatch.setattr(job, "nvenc_codec", stand_in)
    caplog.set_level(logging.INFO, logger=job.__name__)
    spec = _spec(media, tmp_path, encoder=Encoder.NVENC)
    seen: list[float] = []

    result = await render(spec, seen.append)

    assert result.encoder is Encoder.X264
    expected = spec.title_card_s + sum(s.audio_s + spec.scene_pad_s for s in spec.scenes)
    assert abs(decoded_duration(result.path) - expected) < 0.15
    assert seen == sorted(seen)
    assert any("failed at frame 12" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_x264_alone_never_tries_the_gpu(tmp_path) -> None:
    rj = job.RenderJob(RenderSpec(title="t", scenes=(), out=tmp_path / "v.mp4", encoder=Encoder.X264), tmp_path)
    assert [c.name for c in rj.codecs(None)] == ["libx264"]
    rj = job.RenderJob(RenderSpec(title="t", scenes=(), out=tmp_path / "v.mp4", encoder=Encoder.AUTO), tmp_path)
    assert [c.name for c in rj.codecs(None)] == ["h264_nvenc", "libx264"]


def _solid_frames(levels: list[int]):
    """One buffer, redrawn for every frame, as the renderer's producer does."""
    frame = Yuv420(W, H)
    for level in levels:
        frame.y[...] = level
        frame.u[...] = 128
        frame.v[...] = 128
        yield frame


def test_frames_handed_over_without_a_copy_are_each_encoded_as_drawn(tmp_path) -> None:
    """The encoder gets a view of the producer's one buffer: each frame must be taken before the next
    is drawn over it, or every frame would come out as the last."""
    levels = [20, 60, 100, 140, 180, 220] * 3
    out = tmp_path / "v.mp4"
    encode_in_process(_solid_frames(levels), width=W, height=H, fps=30, out=out, codec=x264_codec("veryfast", 18, None),
                      audio=None, audio_kbps=128, aborted=threading.Event())
    with av.open(str(out)) as container:
        means = [float(f.to_ndarray()[:H].mean()) for f in container.decode(video=0)]  # the Y plane
    assert len(means) == len(levels)
    assert all(abs(m - lv) < 4 for m, lv in zip(means, levels, strict=True))


def test_an_encoder_that_does_not_open_leaves_no_file(tmp_path) -> None:
    out = tmp_path / "v.mp4"
    with pytest.raises(EncoderUnavailable):
        encode_in_process(_solid_frames([50]), width=W, height=H, fps=30, out=out,
                          codec=Codec(Encoder.NVENC, "h264_nvenc", {"gpu": "97"}), audio=None, audio_kbps=128,
                          aborted=threading.Event())
    assert not out.exists()


def test_x264_encodes_with_frame_threads_as_the_ffmpeg_cli_does(tmp_path) -> None:
    """PyAV opens every codec with slice threading, which makes libx264 use sliced threads: each
    encode call then blocks until its frame is coded and drawing never overlaps encoding. x264 writes
    the settings it ran with into the stream (an SEI), so the file says which threading it used."""
    out = tmp_path / "v.mp4"
    encode_in_process(_solid_frames([40, 80, 120]), width=W, height=H, fps=30, out=out,
                      codec=x264_codec("veryfast", 23, None), audio=None, audio_kbps=128,
                      aborted=threading.Event())
    data = out.read_bytes()
    assert b"x264 - core" in data
    assert b"sliced_threads=0" in data
    assert avencode.nvenc_codec(23, None).thread_type is None  # NVENC has no x264 threads to choose
