"""Untrusted voice names never reach libespeak-ng, and native code runs in a child process.

Issue 9, defect 1: `!v/m1`, 64 "+" or "en+" and 37 characters given to `espeak_SetVoiceByName`
crashed the agent. The binding now hands the library only identifiers from its own lists, and the
offline voice runs the library in a child: a crash there costs one scene, not the process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from providers.base import ProviderDeps, StageContext, VoiceRequest
from providers.errors import BadOutput, Misconfigured, Unavailable
from providers.offline import OfflineConfig, OfflineVoice
from providers.offline.voice_names import VoiceAllowList, VoiceInfo
from providers.offline.worker import NativeWorker, WorkerCrashed
from tests.providers.offline import child_faults

POISON = ("!v/m1", "+" * 64, "en+" + "a" * 37)
UNKNOWN = ("alloy", "zz-top", "../../etc/passwd", "en-us+", "+f3", "en+!v/m1", "gmw/../en", "en-us+f3+f4")


class CrashingVoice(OfflineVoice):
    """The real offline voice whose child crashes (SIGABRT in native code) on a marked narration."""

    synthesize_in_child = staticmethod(child_faults.crash_on_marker)


class HangingVoice(OfflineVoice):
    synthesize_in_child = staticmethod(child_faults.hang)


@pytest.fixture
async def worker() -> AsyncIterator[NativeWorker]:
    w = NativeWorker("test-espeak")
    yield w
    w.close()


def _voice(cls: type[OfflineVoice] = OfflineVoice, **config: object) -> OfflineVoice:
    return cls(OfflineConfig(**config), ProviderDeps(None, time.monotonic, Path(".")))  # type: ignore[arg-type]


async def _speak(voice: OfflineVoice, out: Path, text: str, index: int = 0, name: str = ""):  # type: ignore[no-untyped-def]
    return await voice.speak(VoiceRequest(text=text, voice=name, scene_index=index, out_dir=out),
                             StageContext("job-iso"))


def test_poison_names_never_reach_native_code(worker: NativeWorker) -> None:
    """Only identifiers the library listed are handed to espeak_SetVoiceByName; the poison names
    fall back to the next voice. (Before the fix the first one crashed the child: WorkerCrashed.)"""
    calls = worker.call(child_faults.set_voice_calls, [*POISON, *UNKNOWN], timeout_s=60)
    for name, native, used in calls:
        assert native == [b"gmw/en-US"], (name, native)  # only the fallback's listed identifier
        assert used == "en-us"
    good = worker.call(child_faults.set_voice_calls, ["en-us", "EN-GB", "en-us+f3", "fr+m1", "en+Mr serious"],
                       timeout_s=60)
    assert [(name, native) for name, native, _ in good] == [
        ("en-us", [b"gmw/en-US"]), ("EN-GB", [b"gmw/en"]), ("en-us+f3", [b"gmw/en-US+f3"]),
        ("fr+m1", [b"roa/fr+m1"]), ("en+Mr serious", [b"gmw/en+Mr serious"])]
    assert all(used == name for name, _, used in good)
    assert worker.started == 1, "the child never crashed"


def test_the_allow_list_maps_requests_to_listed_identifiers_only() -> None:
    """Pure Python, no library: what may be handed to espeak_SetVoiceByName, and what never is."""
    voices = [VoiceInfo("English (Great Britain)", "en-gb", "gmw/en", ((2, "en-gb"), (2, "en"))),
              VoiceInfo("English (America)", "en-us", "gmw/en-US", ((2, "en-us"), (3, "en"))),
              VoiceInfo("Too long", "xx", "x/" + "y" * 60, ((1, "xx"),)),
              VoiceInfo("Mbrola", "de", "mb/mb-de1", ((1, "de"),))]
    variants = [VoiceInfo("Mr_Serious", "variant", "!v/Mr serious"), VoiceInfo("f3", "variant", "!v/f3"),
                VoiceInfo("long", "variant", "!v/" + "v" * 37)]
    allow = VoiceAllowList(voices, variants)
    assert allow.resolve("EN") == "gmw/en" and allow.resolve("en-US") == "gmw/en-US"
    assert allow.resolve("english (america)+F3") == "gmw/en-US+f3"
    assert allow.resolve("en+mr_serious") == allow.resolve("en+Mr Serious") == "gmw/en+Mr serious"
    for name in [*POISON, *UNKNOWN, "xx", "de", "en+long", "en+" + "v" * 37, "en\x00", "", " ", "en" * 40]:
        assert allow.resolve(name) is None, name
    assert allow.lists().voices == {"gmw/en", "english (great britain)", "en-gb", "en", "gmw/en-us",
                                    "english (america)", "en-us"}


def test_resolve_is_a_strict_length_checked_allow_list(worker: NativeWorker) -> None:
    names = [*POISON, *UNKNOWN, "x" * 65, "en-us\x00", "en-us", " en-us ", "zh"]
    resolved = worker.call(child_faults.resolve_all, names, timeout_s=60)
    assert resolved[: len(POISON) + len(UNKNOWN) + 2] == [None] * (len(POISON) + len(UNKNOWN) + 2)
    assert resolved[-3:] == ["gmw/en-US", "gmw/en-US", "sit/cmn"]


def test_a_child_error_keeps_its_type_and_hint(worker: NativeWorker) -> None:
    with pytest.raises(Misconfigured) as info:
        worker.call(child_faults.misconfigured, timeout_s=30)
    assert info.value.provider == "offline" and "voice" in info.value.hint
    assert worker.started == 1  # an exception is an answer, not a crash


async def test_a_crash_in_the_child_costs_one_scene(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    voice = _voice(CrashingVoice)
    try:
        first = await _speak(voice, tmp_path, "The first scene is fine.", 0)
        pid = voice._worker.pid
        assert first.duration_s > 0.5 and pid is not None and pid != os.getpid()
        with caplog.at_level(logging.ERROR, logger="providers.offline"), pytest.raises(BadOutput) as info:
            await _speak(voice, tmp_path, f"This one {child_faults.CRASH_MARKER} kills eSpeak.", 1)
        assert "crashed" in str(info.value) and "SIGABRT" in str(info.value)
        assert "job-iso" in caplog.text and "scene 2" in caplog.text
        # this process is alive (the test goes on) and the next scene gets a fresh child
        again = await _speak(voice, tmp_path, "The third scene is fine too.", 2)
        assert again.duration_s > 0.5 and voice._worker.started == 2 and voice._worker.pid not in (None, pid)
        # and the child is reused from then on, not started per scene
        await _speak(voice, tmp_path, "And a fourth.", 3)
        assert voice._worker.started == 2
    finally:
        await voice.aclose()


async def test_a_hung_call_is_killed_after_the_timeout(tmp_path: Path) -> None:
    voice = _voice(HangingVoice, synth_timeout_s=1.0)
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable) as info:
            await _speak(voice, tmp_path, "Never answered.")
        assert time.monotonic() - started < 10 and "no answer" in str(info.value)
        assert voice._worker.pid is None  # killed
        assert (await voice.voices()).offers("en-us")  # a fresh child serves what comes next
    finally:
        await voice.aclose()


async def test_aclose_ends_the_child_and_refuses_more_work(tmp_path: Path) -> None:
    voice = _voice()
    await _speak(voice, tmp_path, "Hello.")
    pid = voice._worker.pid
    assert pid is not None
    await voice.aclose()
    assert voice._worker.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone and reaped
    with pytest.raises(Unavailable):
        await _speak(voice, tmp_path, "Too late.")


def test_worker_crash_reports_the_signal(worker: NativeWorker) -> None:
    with pytest.raises(WorkerCrashed) as info:
        worker.call(os.abort, timeout_s=30)
    assert info.value.exitcode == -6 and "SIGABRT" in str(info.value)
    assert worker.call(os.getpid, timeout_s=30) != os.getpid()
    assert worker.started == 2
