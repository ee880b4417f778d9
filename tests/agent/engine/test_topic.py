"""clean_topic: what a topic may hold. Shared by the API (and so the bots) and the CLI."""

from __future__ import annotations

import pytest

from agent.engine.validation import BIDI_CONTROLS, InvalidInput, clean_topic


@pytest.mark.parametrize("topic, needle", [
    ("\u200b", "no visible characters"),
    ("\u200b \u200b\u2060\ufeff", "no visible characters"),
    ("\u200d\u200c", "no visible characters"),  # joiners with nothing to join
    ("\u0301\u0308", "no visible characters"),  # combining marks alone
    ("\u3164\u115f \u2800", "no visible characters"),  # Hangul fillers, blank braille
    ("\u00a0\u2003\u3000", "empty"),
    ("Cats \u202egnp.exe", "U+202E"),  # shows as "Cats exe.png"
    ("\u2066cats\u2069", "U+2066"),
    ("cats\u200f", "U+200F"),
    ("\u061ccats", "U+061C"),
    ("cats \udcff", "not valid text"),  # an undecodable byte on the command line (surrogateescape)
    ("cats \ud800", "not valid text"),
    ("cats\tdogs", "control characters"),
])
def test_refused_topics_say_why(topic, needle):
    with pytest.raises(InvalidInput) as info:
        clean_topic(topic)
    assert needle in str(info.value)


def test_every_bidi_control_is_refused():
    for ch in BIDI_CONTROLS:
        with pytest.raises(InvalidInput, match=f"U\\+{ord(ch):04X}"):
            clean_topic(f"cats {ch}and dogs")


@pytest.mark.parametrize("topic", [
    "cats in space",
    "\U0001f469\u200d\U0001f4bb coding",  # an emoji ZWJ sequence
    "\u0915\u094d\u200d\u0937",  # Devanagari with a ZWJ
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with a ZWNJ
    "\u05e9\u05dc\u05d5\u05dd \u0639\u0627\u0644\u0645",  # right-to-left text needs no controls
    "caf\u0065\u0301",  # a combining accent on a letter
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # a flag tag sequence
    "a\u200bb",  # a stray zero-width space beside visible text is harmless
])
def test_real_text_is_accepted(topic):
    assert clean_topic(topic) == topic
