"""Timeline, Ken Burns, probe parsing and audio ducking: the pure parts."""

from __future__ import annotations

import numpy as np
import pytest

from agent.engine.render.audio import RATE, duck_envelope, narration_track
from agent.engine.render.clips import MAX_PUSH, push_zoom
from agent.engine.render.encode import x264_args
from agent.engine.render.motion import StillSource, ken_burns_for
from agent.engine.render.probe import parse_probe
from agent.engine.render.timeline import build_timeline
from agent.engine.render.yuv import Yuv420, cover_fit


def test_timeline_lays_scenes_after_the_title_and_crossfades():
    tl = build_timeline(2.0, [3.0, 4.0], 0.5, 30)
    assert [(s.scene, s.start_s, s.end_s) for s in tl.segments] == [(None, 0, 2), (0, 2, 5), (1, 5, 9)]
    assert tl.frame_count == 270
    assert tl.layers(10) == (0, None, 1.0)
    under, over, alpha = tl.layers(61)  # 2.05 s: scene 0 fading in over the title
    assert (under, over) == (0, 1) and 0 < alpha < 0.2
    assert tl.layers(200)[1] is None


def test_timeline_without_title_starts_with_scene_zero():
    tl = build_timeline(0.0, [1.0], 2.0, 30)
    assert tl.segments[0].scene == 0 and tl.crossfade_s == 0.5


def test_ken_burns_varies_per_scene_and_is_deterministic():
    motions = [ken_burns_for(i) for i in range(8)]
    assert motions == [ken_burns_for(i) for i in range(8)]
    assert len({(m.pan_from, m.pan_to) for m in motions}) == 8
    assert {m.zoom_from < m.zoom_to for m in motions} == {True, False}


def test_ken_burns_moves_smoothly_in_sub_pixel_steps():
    src = StillSource(np.zeros((1024, 1024, 3), np.uint8), 360, 640, ken_burns_for(0), 5.0)
    steps = [src.transform(n / 30) for n in range(151)]
    dx = np.diff([cx for _, cx, _ in steps])
    ds = np.diff([s for s, _, _ in steps])
    assert np.all(np.abs(dx) < 1.0) and np.all(dx != 0)  # always moving, never a pixel jump
    assert np.all(ds < 0)  # zooming in: fewer source px per output px, monotonically


def test_still_frames_change_a_little_each_frame():
    rng = np.random.default_rng(1)
    rgb = (rng.random((300, 200, 3)) * 255).astype(np.uint8)
    src = StillSource(rgb, 120, 200, ken_burns_for(3), 2.0)
    a, b = Yuv420(120, 200), Yuv420(120, 200)
    src.draw(1.0, 30, a)
    src.draw(1.0 + 1 / 30, 31, b)
    diff = np.abs(a.y.astype(int) - b.y).mean()
    assert 0 < diff < 40


@pytest.mark.parametrize("size", [(832, 1472), (1024, 1024), (1920, 1080), (30, 30)])
def test_cover_fit_any_aspect(size):
    out = cover_fit(np.zeros((size[1], size[0], 3), np.uint8), 108, 192)
    assert out.shape == (192, 108, 3)


def test_probe_parses_ffmpeg_stream_lines():
    text = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':
  Duration: 00:00:09.05, start: 0.000000, bitrate: 253 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, smpte170m/bt709/bt709, progressive), 360x640, 118 kb/s, 30 fps, 30 tbr, 15360 tbn (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, mono, fltp, 130 kb/s (default)
"""
    info = parse_probe(text)
    assert info.duration_s == pytest.approx(9.05)
    v, a = info.video, info.audio
    assert v and (v.codec, v.pix_fmt, v.width, v.height, v.fps) == ("h264", "yuv420p", 360, 640, 30.0)
    assert a and (a.codec, a.sample_rate) == ("aac", 48000)


def test_ducking_envelope_follows_the_voice():
    t = np.arange(3 * RATE) / RATE
    voice = np.where(t < 1.5, 0.3 * np.sin(2 * np.pi * 200 * t), 0.0).astype(np.float32)
    env = duck_envelope(voice)
    assert env[int(1.0 * RATE)] == pytest.approx(1.0)  # speaking: fully ducked
    assert env[int(2.9 * RATE)] == pytest.approx(0.0)  # silence: music back up
    assert 0 < env[int(1.7 * RATE)] < 1  # released slowly, not switched


def test_narration_track_places_voices_at_scene_starts():
    track = narration_track([np.ones(RATE, np.float32)], [2.0], 4.0)
    assert len(track) == 4 * RATE
    assert track[: 2 * RATE].max() == 0 and track[2 * RATE] == 1


def test_push_in_starts_at_rest_and_stays_slow():
    assert push_zoom(0.0) == 1.0 and push_zoom(1 / 30) < 1.0005  # no lurch when the clip's frames end
    steps = [push_zoom(i / 30) for i in range(30 * 20)]
    assert all(b >= a for a, b in zip(steps, steps[1:], strict=False))  # only ever in
    assert max(b - a for a, b in zip(steps, steps[1:], strict=False)) < 0.001  # < 0.1 % per frame at 30 fps
    assert push_zoom(1e6) == MAX_PUSH


def test_ultrafast_is_refused():
    with pytest.raises(ValueError):
        x264_args("ultrafast", 23, None)
    assert "-maxrate" in x264_args("veryfast", 23, 900)
