"""The language report: a contact sheet (a title card and a subtitle frame per language) and the
length of a "short" offline video per language.

    .venv/bin/python bench/languages.py sheet docs/languages.png
    .venv/bin/python bench/languages.py durations        # a Markdown table on stdout

The sheet draws with the renderer's own functions (title card, subtitle patch) over the offline
art; the durations come from real offline-tier jobs (storyboard, art, eSpeak, render; small and at 10 fps).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from agent.engine.render.subtitles import scene_cues
from agent.engine.render.text import subtitle_patch, subtitle_style, title_card
from agent.engine.render.yuv import Yuv420, rgb_to_yuv
from providers.base import ImageRequest
from providers.offline.art import render_scene_art
from providers.typeset import draw_line, font_chain

SAMPLES = {  # language -> (title, topic for the art, a subtitle line)
    "en": ("Cats in Space 🐱🚀", "cats in space", "Cats learn to float 🐱 in just a few days."),
    "fr": ("Crème brûlée à Zürich — l’été", "crème brûlée",
           "Voici ce que presque personne ne remarque à propos du café."),
    "de": ("Straße, Größe und Übermaß", "streets", "Hier ist etwas, das fast niemand bemerkt: große Äpfel."),
    "pl": ("Żółć gęślą jaźń: źródła łąk", "meadows", "Oto coś, czego prawie nikt nie zauważa na łąkach."),
    "ru": ("Кошки в космосе", "cats in space", "Вот то, чего почти никто не замечает в невесомости."),
    "el": ("Γάτες στο διάστημα", "cats in space", "Να κάτι που σχεδόν κανείς δεν προσέχει στο διάστημα."),
    "ja": ("猫と宇宙 🐱🚀 — 星の旅 ✨", "cats in space",
           "「猫と宇宙」には、ほとんどのひとがきづかないひみつがあります。"),
    "zh": ("猫和宇宙：星星之旅", "cats in space", "关于猫和宇宙，有一件事大多数人从未注意到。"),
    "ko": ("고양이와 우주: 별로 가는 여행", "cats in space", "대부분의 사람들이 알아차리지 못하는 것이 있습니다."),
    "ar": ("القطط في الفضاء: رحلة إلى النجوم", "cats in space", "إليك شيئًا لا يلاحظه معظم الناس عن القطط في الفضاء."),
    "he": ("חתולים בחלל: מסע אל הכוכבים", "cats in space", "הנה משהו שכמעט אף אחד לא שם לב אליו בחלל."),
    "hi": ("अंतरिक्ष में बिल्लियाँ", "cats in space", "यहाँ कुछ ऐसा है जिस पर लगभग कोई ध्यान नहीं देता।"),
    "th": ("แมวในอวกาศ: การเดินทางสู่ดวงดาว", "cats in space", "นี่คือสิ่งที่แทบไม่มีใครสังเกตเกี่ยวกับแมวในอวกาศ"),
}
W, H = 270, 480
DURATION_TOPICS = {
    "en": "the life of a star", "fr": "la vie d'une étoile", "de": "das Leben eines Sterns",
    "es": "la vida de una estrella", "ja": "星の一生", "zh": "恒星的一生", "ar": "حياة نجم",
    "pt": "a vida de uma estrela", "ko": "별의 일생", "ru": "жизнь звезды", "hi": "एक तारे का जीवन",
    "he": "חייו של כוכב", "th": "ชีวิตของดาวฤกษ์",
}


def _yuv_to_rgb(frame: Yuv420) -> np.ndarray:
    import cv2

    return cv2.cvtColor(frame.buf.reshape(frame.height * 3 // 2, frame.width), cv2.COLOR_YUV2RGB_I420)


def _frames(language: str) -> tuple[Image.Image, Image.Image]:
    title, topic, line = SAMPLES[language]
    art = render_scene_art(ImageRequest(
        prompt=topic, style="", negative="", width=W, height=H, seed=3, scene_index=1, scene_count=4,
        out_dir=Path("."), title=title, key_phrase=title, topic=topic, language=language), 0.0)
    card = Image.fromarray(title_card(title, W, H, np.asarray(art), language))
    cues = scene_cues(line, 4.0)
    style = subtitle_style(W, H, [ln for c in cues for ln in c.lines], language)
    frame = rgb_to_yuv(np.asarray(art))
    subtitle_patch(cues[0].lines, style, W).blend_onto(frame)
    return card, Image.fromarray(_yuv_to_rgb(frame))


def sheet(out: Path) -> None:
    pad, label = 6, 22
    cols = len(SAMPLES)
    img = Image.new("RGB", (cols * (W + pad) + pad, 2 * (H + pad) + label + pad), (24, 24, 28))
    draw = ImageDraw.Draw(img)
    for i, language in enumerate(SAMPLES):
        card, sub = _frames(language)
        x = pad + i * (W + pad)
        draw_line(draw, (x + W / 2, 2), language, font_chain("en"), 16, fill=(230, 230, 230))
        img.paste(card, (x, label))
        img.paste(sub, (x, label + H + pad))
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} kB)")


async def _duration(language: str, topic: str, workdir: Path) -> tuple[float, str, str, int]:
    from agent.engine.pipeline import JobSpec
    from agent.engine.runtime import open_runtime
    from agent.settings import settings_from_mapping
    from providers.base import Stage

    settings = settings_from_mapping({"stages": {"script": ["offline"], "image": ["offline"], "clip": [],
                                                 "voice": ["offline"]}, "video": {"fps": 10},
                                      "agent": {"data_dir": str(workdir / "data")}})
    async with open_runtime(settings) as rt:  # the real renderer: the MP4's own length
        job = JobSpec(job_id=f"d-{language}", topic=topic, size=(144, 256), language=language)
        result = await rt.pipeline.run(job, workdir / language, orders={Stage.CLIP: ()})
    return result.duration_s, result.languages["script"], result.languages["voice"], len(result.script.scenes)


async def durations() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for language, topic in DURATION_TOPICS.items():
            rows.append((language, topic, *await _duration(language, topic, Path(tmp))))
    english = rows[0][2]
    print("| language | topic | script | voice | scenes | short video (s) | vs English |")
    print("|---|---|---|---|---|---|---|")
    for language, topic, seconds, script, voice, scenes in rows:
        print(f"| {language} | {topic} | {script} | {voice} | {scenes} | {seconds:.1f} | {seconds / english:.2f}x |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["sheet"]:
        sheet(Path(sys.argv[2] if len(sys.argv) > 2 else "docs/languages.png"))
    elif sys.argv[1:2] == ["durations"]:
        asyncio.run(durations())
    else:
        sys.exit(__doc__)
