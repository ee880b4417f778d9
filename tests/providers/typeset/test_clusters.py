"""The layout's grapheme clusters: its shortcut for characters that always stand alone gives exactly
uniseg's clusters, on text in every script the renderer supports and on the cases UAX #29 treats
specially (CR LF, Hangul jamo, combining marks, spacing marks, prepended marks, Indic conjuncts,
emoji modifiers and ZWJ sequences, flags)."""

from __future__ import annotations

import pytest
from uniseg.graphemecluster import grapheme_clusters

from providers.typeset import layout

CORPUS = [
    "The life cycle of a star, in 45 seconds!",
    "Crème brûlée à Zürich — l’été d’un café",  # precomposed accents
    "Cre\u0300me bru\u0302le\u0301e",  # decomposed: combining marks extend the letter
    "Żółć gęślą jaźń: źródła łąk",
    "Кошки в космосе: путешествие к звёздам",
    "Γάτες στο διάστημα: ταξίδι στα αστέρια",
    "猫と宇宙 🐱🚀 — 星の旅 ✨「星の旅」が始まります。",
    "关于猫和宇宙，有一件事大多数人从未注意到。",
    "고양이와 우주: 별로 가는 여행",  # precomposed syllables
    "\u1100\u1161\u11a8\u1100\u1161 \uac00\u11a8",  # conjoining jamo, and a syllable + trailing jamo
    "القطط في الفضاء: رحلة إلى النجوم، إليك شيئًا",  # with a tanween mark
    "\u0600\u0661\u0662 \u06dd\u0663",  # Arabic number signs: Prepend
    "חתולים בחלל: מסע אל הכוכבים",
    "अंतरिक्ष में बिल्लियाँ: सितारों की यात्रा क्षत्रिय",  # matras, virama conjuncts
    "แมวในอวกาศ: การเดินทางสู่ดวงดาว น้ำ ทำ",  # above/below marks, SARA AM (a SpacingMark)
    "ລາວ ຄຳ",  # Lao AM
    "தமிழ் நி",
    "Cats 🐱 👩‍🚀 👍🏽 ✨ 🇯🇵🇫🇷 🇺 ❤️ 1️⃣ 🏴󠁧󠁢󠁳󠁣󠁴󠁿",  # ZWJ, skin tone, flags, a lone RI, VS16, keycap, tags
    "line one\r\nline two\nthree\r four\tfive",
    "zero\u200bwidth\u200cnon\u200djoiner\u2060glue",
    "",
    " ",
]


@pytest.mark.parametrize("text", CORPUS)
def test_clusters_are_uniseg_clusters(text: str) -> None:
    # every window, so that each kind of character also starts and ends a string
    for start in range(len(text)):
        for end in range(start + 1, min(len(text), start + 12) + 1):
            piece = text[start:end]
            assert layout.clusters(piece) == list(grapheme_clusters(piece)), repr(piece)
    assert layout.clusters(text) == list(grapheme_clusters(text))


def test_the_shortcut_is_taken_only_where_every_character_stands_alone() -> None:
    assert layout._alone("a") and layout._alone("猫") and layout._alone("ق") and layout._alone("\n")
    for ch in ("\r", "\u0301", "\u200d", "\U0001f3fd", "\U0001f1ef", "\u0e33", "\u0600", "\u1100", "\uac00"):
        assert not layout._alone(ch), f"U+{ord(ch):04X}"
