"""Subtitle chunking and timing."""

from __future__ import annotations

import itertools

import pytest

from agent.engine.render.subtitles import MAX_LINE_CHARS, balance_lines, chunk_words, scene_cues
from providers.base import WordTiming

TEXT = (
    "The life cycle of a star begins in a vast cloud of gas and dust, collapsing under its own "
    "gravity. Over millions of years the core heats up until hydrogen fusion ignites, and a new "
    "star is born to shine for billions of years."
)


def test_cues_have_at_most_two_lines_of_about_42_chars_and_lose_no_word():
    cues = scene_cues(TEXT, 12.0)
    assert all(1 <= len(c.lines) <= 2 for c in cues)
    assert all(len(line) <= MAX_LINE_CHARS for c in cues for line in c.lines)
    assert " ".join(c.text for c in cues).split() == TEXT.split()


def test_proportional_timing_covers_the_audio_in_order():
    cues = scene_cues(TEXT, 12.0)
    assert cues[0].start_s == 0.0
    assert cues[-1].end_s == pytest.approx(12.0)
    for a, b in itertools.pairwise(cues):
        assert a.end_s == pytest.approx(b.start_s)
    # longer text gets longer on screen
    spans = [(len(c.text), c.end_s - c.start_s) for c in cues]
    longest = max(spans)
    shortest = min(spans)
    assert longest[1] > shortest[1]


def test_word_timings_are_honoured():
    words = TEXT.split()
    timings = [WordTiming(w.strip(".,"), 0.5 + i * 0.3, 0.5 + i * 0.3 + 0.25) for i, w in enumerate(words)]
    cues = scene_cues(TEXT, timings[-1].end_s + 0.4, timings)
    assert " ".join(c.text for c in cues).split() == words  # narration punctuation kept
    index = 0
    for k, cue in enumerate(cues):
        n = len(cue.text.split())
        if k > 0:
            assert cue.start_s == pytest.approx(timings[index].start_s)
        assert cue.end_s >= timings[index + n - 1].end_s - 1e-9  # on screen until its last word ends
        index += n


def test_pause_after_a_cue_does_not_keep_it_on_screen():
    timings = [WordTiming("Hello", 0.0, 0.4), WordTiming("there.", 0.4, 0.8),
               WordTiming("Much", 5.0, 5.3), WordTiming("later.", 5.3, 5.8)]
    cues = scene_cues("Hello there. Much later.", 6.0, timings, max_chars=12, max_lines=1)
    assert cues[0].end_s < 2.0
    assert cues[1].start_s == pytest.approx(5.0)


def test_mismatched_word_timings_show_the_spoken_words():
    timings = [WordTiming("one", 0, 0.2), WordTiming("two", 0.2, 0.4)]
    cues = scene_cues("one two three", 1.0, timings)
    assert [c.text for c in cues] == ["one two"]


def test_overlong_word_gets_its_own_cue_and_is_not_lost():
    word = "x" * 60
    chunks = chunk_words(["a", "b", word, "c"])
    assert [word] in chunks
    assert sum(chunks, []) == ["a", "b", word, "c"]


def test_balance_prefers_even_lines():
    lines = balance_lines("one two three four five six seven eight nine ten eleven twelve".split())
    assert len(lines) == 2
    assert abs(len(lines[0]) - len(lines[1])) <= 8


def test_empty_narration_has_no_cues():
    assert scene_cues("   ", 3.0) == []
