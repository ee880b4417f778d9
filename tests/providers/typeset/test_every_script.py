"""Title cards, scene text and subtitles in thirteen scripts: no missing-glyph box, right-to-left
lines shaped and ordered, nothing outside the safe area.

Coverage is checked with fontTools against each face's own cmap (independently of the layout's
cache), for every character the layout draws; and no character of these strings may be dropped.
Pixels back it up: each title card is compared with the same card without its title, and the
difference must lie inside the safe area.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from agent.engine.render.subtitles import scene_cues
from agent.engine.render.text import safe_area, subtitle_patch, subtitle_style, title_card, title_lines
from providers.offline.typography import _layout
from providers.typeset import draw_line, drawable, font_chain, line_width, runs, visual_runs
from providers.typeset.fonts import BOLD, IGNORABLE, Face, pil_font

SAMPLES = {  # language -> (a title, a narration for subtitles)
    "fr": ("Crème brûlée à Zürich — l’été d’un café",
           "Voici ce que presque personne ne remarque : la crème brûlée naît d’un geste très précis, à la flamme."),
    "de": ("Straße, Größe und Übermaß: Äpfel für Öl",
           "Hier ist etwas, das fast niemand bemerkt: Die größten Äpfel wachsen nicht immer an den höchsten Ästen."),
    "pl": ("Żółć gęślą jaźń: źródła łąk",
           "Oto coś, czego prawie nikt nie zauważa: źródła rzek zaczynają się często na łąkach wysoko w górach."),
    "ru": ("Кошки в космосе: путешествие к звёздам",
           "Вот то, чего почти никто не замечает: кошки в невесомости учатся двигаться за несколько дней."),
    "el": ("Γάτες στο διάστημα: ταξίδι στα αστέρια",
           "Να κάτι που σχεδόν κανείς δεν προσέχει: οι γάτες μαθαίνουν να κινούνται χωρίς βαρύτητα μέσα σε λίγες μέρες."),
    "ja": ("猫と宇宙 🐱🚀 — 星の旅 ✨",
           "猫と宇宙について、ほとんどの人が気づかないことがあります。最後まで見てください。「星の旅」が始まります。"),
    "zh": ("猫和宇宙：星星之旅",
           "关于猫和宇宙，有一件事大多数人从未注意到。请看下去，它会改变你的看法，星星之旅马上开始。"),
    "ko": ("고양이와 우주: 별로 가는 여행",
           "대부분의 사람들이 알아차리지 못하는 것이 있습니다. 고양이는 무중력 상태에서 며칠 만에 움직이는 법을 배웁니다."),
    "ar": ("القطط في الفضاء: رحلة إلى النجوم",
           "إليك شيئًا لا يلاحظه معظم الناس عن القطط في الفضاء. إنها تتعلم الحركة بلا جاذبية خلال أيام قليلة."),
    "he": ("חתולים בחלל: מסע אל הכוכבים",
           "הנה משהו שכמעט אף אחד לא שם לב אליו: חתולים לומדים לנוע בלי כוח משיכה תוך ימים ספורים."),
    "hi": ("अंतरिक्ष में बिल्लियाँ: सितारों की यात्रा",
           "यहाँ कुछ ऐसा है जिस पर लगभग कोई ध्यान नहीं देता: बिल्लियाँ कुछ ही दिनों में बिना गुरुत्वाकर्षण के चलना सीख जाती हैं।"),
    "th": ("แมวในอวกาศ: การเดินทางสู่ดวงดาว",
           "นี่คือสิ่งที่แทบไม่มีใครสังเกต แมวเรียนรู้ที่จะเคลื่อนไหวโดยไม่มีแรงโน้มถ่วงได้ภายในไม่กี่วัน"),
    "en": ("Cats in space 🐱🚀👩‍🚀 ✨ 🇯🇵",
           "Cats learn to float 🐱 in a few days 🚀, and they seem to love it ✨ more than we thought 👩‍🚀."),
}
W, H = 360, 640  # a portrait frame, small for speed


@functools.cache
def _cmap(face: Face) -> frozenset[int]:
    font = TTFont(face.path, fontNumber=face.index, lazy=True)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


def _assert_covered(text: str, language: str) -> None:
    chain = font_chain(language)
    assert drawable(text, chain) == text, f"{language}: characters would be left out"
    for run in runs(text, chain):
        missing = [f"U+{ord(c):04X}" for c in run.text
                   if ord(c) not in IGNORABLE and not c.isspace() and ord(c) not in _cmap(run.face)]
        assert not missing, f"{language}: {run.face.name} has no glyph for {missing} in {run.text!r}"


@pytest.mark.parametrize("language", SAMPLES)
def test_title_scene_text_and_subtitles_have_a_glyph_for_every_character(language: str) -> None:
    title, narration = SAMPLES[language]
    lines, _ = title_lines(title, W, H, language)
    assert "".join(lines).replace(" ", "") == title.replace(" ", "")  # nothing lost in the breaks
    for line in lines:
        _assert_covered(line, language)
    scene_lines, _ = _layout(title.upper(), font_chain(language), W * 0.82, int(W * 0.13), int(W * 0.045))
    for line in scene_lines:
        _assert_covered(line, language)
    for cue in scene_cues(narration, 8.0):
        for line in cue.lines:
            _assert_covered(line, language)


def _text_columns(with_text: np.ndarray, without: np.ndarray) -> tuple[int, int]:
    diff = np.abs(with_text.astype(np.int16) - without.astype(np.int16)).max(axis=2) > 24
    cols = np.flatnonzero(diff.any(axis=0))
    return int(cols.min()), int(cols.max())


@pytest.mark.parametrize("language", SAMPLES)
def test_nothing_leaves_the_safe_area(language: str) -> None:
    title, narration = SAMPLES[language]
    area = safe_area(W, H)
    # the title card, measured in pixels against the same card without its words
    background = np.full((H, W, 3), 90, np.uint8)
    left, right = _text_columns(title_card(title, W, H, background, language),
                                title_card(" ", W, H, background, language))
    assert area.left - 2 <= left and right <= W - area.right + 2, (left, right)
    # subtitles: the widest line of the video fits the box, the box fits the safe area
    cues = scene_cues(narration, 8.0)
    style = subtitle_style(W, H, [ln for c in cues for ln in c.lines], language)
    for cue in cues:
        patch = subtitle_patch(cue.lines, style, W)
        width = patch.planes[0].shape[1]
        assert area.left - 2 <= patch.x and patch.x + width <= W - area.right + 2, (patch.x, width)
    # the offline art's phrase: within the 82 % the layout is given
    lines, size = _layout(title.upper(), font_chain(language), W * 0.82, int(W * 0.13), int(W * 0.045))
    assert max(line_width(ln, font_chain(language), size, BOLD) for ln in lines) <= W * 0.82 + 1


def _ink(draw_fn) -> np.ndarray:  # type: ignore[no-untyped-def]
    img = Image.new("L", (400, 80), 0)
    draw_fn(ImageDraw.Draw(img))
    return np.asarray(img)


def test_arabic_is_shaped_and_right_to_left() -> None:
    chain = font_chain("ar")
    word = "سلام"
    shaped = _ink(lambda d: draw_line(d, (200, 10), word, chain, 40))
    # the same letters kept from joining (zero-width non-joiners): isolated forms
    unjoined = _ink(lambda d: draw_line(d, (200, 10), "\u200c".join(word), chain, 40))
    assert np.abs(shaped.astype(int) - unjoined).sum() > 0.1 * shaped.sum()
    # a left-to-right word inside an Arabic line sits at its left, the Arabic at its right
    order = [r.text.strip() for r in visual_runs("مرحبا hello", chain)]
    assert order == ["hello", "مرحبا"]


def test_hebrew_reads_right_to_left() -> None:
    chain = font_chain("he")
    ours = _ink(lambda d: draw_line(d, (200, 10), "אבג", chain, 40))
    # Hebrew letters do not join: drawn right to left they are the reversed string drawn left to right
    font = ImageFont.truetype(chain.faces[0].path, 40, layout_engine=ImageFont.Layout.BASIC)
    width = font.getlength("גבא")
    basic = _ink(lambda d: d.text((200 - width / 2, 10 + 40), "גבא", font=font, anchor="ls", fill=255))
    assert np.abs(ours.astype(int) - basic).mean() < 2.0


def test_cjk_and_thai_break_between_characters_never_inside_a_cluster() -> None:
    from providers.typeset import wrap

    ja = wrap("猫と宇宙について、ほとんどの人が気づかないことがあります。", font_chain("ja"), 30, 200)
    assert len(ja) > 1 and all(line_width(ln, font_chain("ja"), 30) <= 200 for ln in ja)
    assert not any(ln.startswith(("、", "。")) for ln in ja)  # kinsoku: no line starts with a stop
    thai = "การเดินทางที่ยาวนานมากในอวกาศอันกว้างใหญ่ไพศาล"
    lines = wrap(thai, font_chain("th"), 30, 150)
    assert "".join(lines) == thai and len(lines) > 1
    for line in lines[1:]:  # a Thai vowel or tone mark never starts a line: it belongs to the letter before
        assert not (0x0E31 <= ord(line[0]) <= 0x0E3A or 0x0E47 <= ord(line[0]) <= 0x0E4E)


def test_emoji_are_drawn_not_spelled() -> None:
    chain = font_chain("en")
    faces = {r.text.strip(): r.face.name for r in runs("Cats 🐱🚀", chain)}
    assert faces == {"Cats": "NotoSans", "🐱🚀": "NotoEmoji"}
    assert pil_font(chain.faces[-1], 20).getlength("🐱") > 0
