"""`reelbot make`: bad input exits 2 with one line; a real offline render end to end."""

from __future__ import annotations

import pytest

from reelbot.cli import main


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["make", ""], "empty"),
        (["make", "   \u3000 "], "empty"),
        (["make", "x" * 301], "301 characters"),
        (["make", "cats\nin space"], "control characters"),
        (["make", "cats\x07"], "control characters"),
        (["make", "\u200b\u2060"], "no visible characters"),
        (["make", "Cats \u202egnp.exe"], "U+202E"),
        (["make", "cats \udcff"], "not valid text"),  # an undecodable byte in argv
        (["make", "cats", "--aspect", "4:3"], "--aspect must be one of 9:16, 16:9, 1:1 (got '4:3')"),
        (["make", "cats", "--length", "epic"], "--length must be one of short, medium, long (got 'epic')"),
        (["make", "cats", "--mode", "3d"], "--mode must be one of slideshow, video (got '3d')"),
        (["make", "cats", "--size", "361x640"], "--size"),
        (["make", "cats", "--max-bytes", "10"], "--max-bytes"),
        (["make", "cats", "--language", "english please"], "--language 'english please': give a language code"),
        (["make", "cats", "--language", "ja;rm"], "such as en, fr, ja or pt-BR"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, needle, capsys, tmp_path):
    code = main([*argv, "--out", str(tmp_path / "v.mp4")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and needle in err, err


@pytest.mark.parametrize("voice", ["!v/m1", "+" * 64, "en+" + "a" * 37, "no-such-voice"])
def test_a_voice_no_provider_offers_exits_2_with_one_line(voice, capsys, tmp_path):
    """Issue 9: these names crashed `reelbot make` with exit 139 inside eSpeak."""
    code = main(["make", "cats", "--voice", voice, "--out", str(tmp_path / "v.mp4")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("reelbot: error: --voice: there is no voice called"), err
    assert "en-us" in err and not (tmp_path / "v.mp4").exists()


def test_unwritable_out_exits_2(capsys, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    code = main(["make", "cats", "--out", str(blocker / "sub" / "v.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write --out" in err and err.count("\n") == 1


def test_out_is_a_directory_exits_2(capsys, tmp_path):
    code = main(["make", "cats", "--out", str(tmp_path)])
    assert code == 2 and "is a directory" in capsys.readouterr().err


def test_bad_config_exits_2_naming_the_key(capsys, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[video]\nfsp = 30\n")
    code = main(["make", "cats", "--config", str(cfg), "--out", str(tmp_path / "v.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and "video.fsp" in err


def test_make_renders_offline_video_end_to_end(capsys, tmp_path, monkeypatch):
    from agent.engine.render.probe import probe

    monkeypatch.chdir(tmp_path)  # no config.toml here: the offline tier on a bare machine
    out = tmp_path / "star.mp4"
    code = main(["make", "the life cycle of a star", "--size", "360x640", "--voice", "en-us+f3", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip().splitlines()[-1] == str(out)
    assert out.is_file()
    for stage in ("script", "image", "voice", "render"):
        assert stage in captured.err
    assert "offline" in captured.err
    info = probe(out)
    assert info.video is not None and info.video.codec == "h264"
    assert (info.video.width, info.video.height) == (360, 640)
    assert info.audio is not None and info.audio.codec == "aac"
    assert 10 < info.duration_s < 60
    assert not list(tmp_path.glob(".reelbot-work-*")), "work directory cleaned up on success"
    assert "language en" in captured.err
    # the overlapped order: the render's share after the last picture, not a stage of its own
    assert "of the render came after the last picture" in captured.err and "render_tail" not in captured.err


def test_make_summary_names_each_scenes_maker_and_the_stills(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the offline tier has no clip maker: every scene of a video is a still
    cfg = tmp_path / "video.toml"
    cfg.write_text('[video]\nmode = "video"\n')  # no --mode: the config's mode applies
    out = tmp_path / "clips.mp4"
    code = main(["make", "the life cycle of a star", "--size", "160x284", "--config", str(cfg), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = err.splitlines()
    clip = next(line for line in lines if line.strip().startswith("clip "))
    assert "nobody: no scene got one" in clip  # was a bare "clip 22.8 s" with no maker
    image = next(line for line in lines if line.strip().startswith("image "))
    assert "offline" in image
    scenes = next(line for line in lines if line.strip().startswith("scenes "))
    assert "1: still by offline" in scenes
    assert any(line.strip().endswith("scenes are stills: no clip maker is configured") for line in lines)


def test_the_default_file_name_keeps_every_script() -> None:
    from reelbot.commands.make import _slug

    assert _slug("猫と宇宙 🐱🚀 — 星の旅 ✨") == "猫と宇宙-星の旅"
    assert _slug("Crème brûlée à Zürich") == "crème-brûlée-à-zürich"
    assert _slug("🐱🚀") == "video"
